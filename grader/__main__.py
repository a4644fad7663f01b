"""``python -m grader`` is the same as ``grader``."""

import sys

from .cli import main

sys.exit(main())
