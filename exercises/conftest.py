"""The one switch between the student's code and the reference solutions.

Every exercise's tests import the student's module by its plain name (``import http_client``).
This file decides where Python finds that name:

- by default in ``exercises/NN_slug/``: your code;
- when the environment variable ``KATA_SOLUTIONS`` names a folder laid out like ``solutions/``
  (``NN_slug/`` folders), in that folder first: this is how ``grader verify`` proves that every
  test passes on the reference solution.

Module names are unique across the course (the stub is named after the exercise's slug), so all
exercise folders can sit on ``sys.path`` at once and several exercises can run in one pytest process.

It also gives every test the per-test time limit from its exercise's ``exercise.toml``, so a plain
``pytest exercises/01_http_client`` can never hang on a stub that loops forever.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest

EXERCISES = Path(__file__).resolve().parent


def _exercise_dirs() -> list[Path]:
    return sorted(p for p in EXERCISES.iterdir() if p.is_dir() and p.name[:2].isdigit())


def _search_path() -> list[Path]:
    exercise_dirs = _exercise_dirs()
    solutions = os.environ.get("KATA_SOLUTIONS")
    if not solutions:
        return exercise_dirs
    solution_root = Path(solutions).resolve()
    solution_dirs = [solution_root / d.name for d in exercise_dirs if (solution_root / d.name).is_dir()]
    # Solutions first; the exercise folder stays behind them for files the student never edits.
    return solution_dirs + exercise_dirs


for _folder in reversed(_search_path()):
    sys.path.insert(0, str(_folder))


def _per_test_timeout(exercise_dir: Path) -> float | None:
    try:
        with open(exercise_dir / "exercise.toml", "rb") as f:
            return float(tomllib.load(f).get("timeout", 10))
    except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError):
        return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    timeouts: dict[Path, float | None] = {}
    for item in items:
        exercise_dir = Path(item.path).resolve().parent
        if exercise_dir.parent != EXERCISES:
            continue
        if exercise_dir not in timeouts:
            timeouts[exercise_dir] = _per_test_timeout(exercise_dir)
        limit = timeouts[exercise_dir]
        if limit and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(limit))
