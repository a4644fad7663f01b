"""The callable-katas grader: finds the exercises, runs their tests in isolation, reports in plain words."""

__version__ = "0.1.0"
