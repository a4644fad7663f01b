"""``python -m bench KIND WHICH DIR MODULE FACTORY``: one bench server in a process of its own (internal)."""

from bench import main

main()
