"""Where the student stands: each exercise's result, from the cheapest source that is still true.

1. Every file the student edits is still the pristine stub → *not started* (it fails by design;
   ``grader verify`` proves that), no test run needed.
2. A cached result whose fingerprint matches the files on disk → that result.
3. Otherwise run the tests (in a child process) and cache what they say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import checksums
from .course import Course, Exercise
from .runner import run_exercise
from .results import PASSED, ExerciseResult, not_started
from .state import State, fingerprint
from .warm import WarmStarter


def results_for(
    course: Course,
    exercises: Iterable[Exercise],
    state: State,
    *,
    run_pristine: bool = False,
    on_run: Callable[[Exercise], None] | None = None,
    starter: WarmStarter | None = None,
) -> list[tuple[Exercise, ExerciseResult]]:
    recorded = checksums.load(course)
    pairs = []
    for exercise in exercises:
        if not run_pristine and checksums.is_pristine(exercise, recorded):
            pairs.append((exercise, not_started(exercise)))
            continue
        key = fingerprint(course, exercise)
        result = state.cached(exercise, key)
        if result is None:
            if on_run is not None:
                on_run(exercise)
            result = run_exercise(course, exercise, starter=starter)
            state.remember(exercise, key, result)
        pairs.append((exercise, result))
    return pairs


def next_exercise(pairs: list[tuple[Exercise, ExerciseResult]]) -> Exercise | None:
    """The first exercise, in course order, that has not passed."""
    return next((exercise for exercise, result in pairs if result.status != PASSED), None)
