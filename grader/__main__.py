"""``python -m grader`` is the same as ``grader``."""

import sys

from .shortcut import main

sys.exit(main())
