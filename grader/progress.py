"""Where the student stands: each exercise's result, from the cheapest source that is still true.

1. Every file the student edits is still the pristine stub → *not started* (it fails by design;
   ``grader verify`` proves that), no test run needed.
2. A cached result whose fingerprint matches the files on disk → that result.
3. Otherwise run the tests (in a child process) and cache what they say.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

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
    jobs: int = 1,
) -> list[tuple[Exercise, ExerciseResult]]:
    """Each exercise's result, in the order given; up to ``jobs`` exercises run at once.

    Several at once only pays when several changed (a student who solved a few before asking), and
    it is safe: each run is a process group of its own on ports of its own. The warm ``starter``
    forks one run at a time, so with it there is one job.
    """
    exercises = list(exercises)
    recorded = checksums.load(course)
    results: dict[str, ExerciseResult] = {}
    to_run: list[tuple[Exercise, str]] = []
    for exercise in exercises:
        if not run_pristine and checksums.is_pristine(exercise, recorded):
            results[exercise.name] = not_started(exercise)
            continue
        key = fingerprint(course, exercise)
        cached = state.cached(exercise, key)
        if cached is not None:
            results[exercise.name] = cached
        else:
            to_run.append((exercise, key))

    def run(job: tuple[Exercise, str]) -> None:
        exercise, key = job
        if on_run is not None:
            on_run(exercise)
        result = run_exercise(course, exercise, starter=starter)
        state.remember(exercise, key, result)
        results[exercise.name] = result

    workers = 1 if starter is not None else max(1, min(jobs, len(to_run)))
    if workers == 1:
        for job in to_run:
            run(job)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, to_run))
    return [(exercise, results[exercise.name]) for exercise in exercises]


def default_jobs() -> int:
    """Exercises to run at once: one per core, at most two (the course's own timing tests want room)."""
    return max(1, min(2, os.cpu_count() or 1))


def next_exercise(pairs: list[tuple[Exercise, ExerciseResult]]) -> Exercise | None:
    """The first exercise, in course order, that has not passed."""
    return next((exercise for exercise, result in pairs if result.status != PASSED), None)
