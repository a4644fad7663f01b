"""Where the student stands: each exercise's result, from the cheapest source that is still true.

1. Every file the student edits is still the pristine stub → *not started* (it fails by design;
   ``grader verify`` proves that), no test run needed.
2. A cached result whose fingerprint matches the files on disk → that result.
3. Otherwise run the tests (in a child process) and cache what they say.

Ctrl-C while tests run: the first press stops every run at once (each child and all it started is
killed within a poll interval, well under a second) and ``KeyboardInterrupt`` goes on up; the
presses that follow are ignored, so that nothing can cut that clean-up short and leave a test
process running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from . import checksums
from .course import Course, Exercise
from .pristine import keep_graded
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

    cancel = threading.Event()

    def run(job: tuple[Exercise, str]) -> None:
        exercise, key = job
        if on_run is not None:
            on_run(exercise)
        keep_graded(course, exercise)  # the student's code may delete itself: keep what is graded
        result = run_exercise(course, exercise, starter=starter, cancel=cancel)
        state.remember(exercise, key, result)
        results[exercise.name] = result

    if to_run:
        # The runs go to worker threads even one at a time: the main thread only waits, so Ctrl-C
        # lands there and never between starting a child and the code that would stop it.
        workers = 1 if starter is not None else max(1, min(jobs, len(to_run)))
        with first_interrupt_only(), ThreadPoolExecutor(max_workers=workers) as pool:
            futures = []
            try:
                for job in to_run:
                    futures.append(pool.submit(run, job))
                for future in futures:
                    future.result()
            except BaseException:
                cancel.set()  # each running child is killed within a poll interval, and raises Cancelled
                for future in futures:
                    future.cancel()
                raise
    return [(exercise, results[exercise.name]) for exercise in exercises]


@contextlib.contextmanager
def first_interrupt_only() -> Iterator[None]:
    """Let the first Ctrl-C raise ``KeyboardInterrupt``, and ignore the ones after it.

    The clean-up the first one starts (kill every child, wait for the workers) takes well under a
    second; a second ``KeyboardInterrupt`` in the middle of it would leave test processes running.
    Once pressed, the grader is on its way out, so the later presses stay ignored after this returns.
    Only the main thread can set a signal handler; elsewhere, and where SIGINT is already ignored,
    nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        yield
        return
    pressed = False

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal pressed
        if not pressed:
            pressed = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        if not pressed:
            signal.signal(signal.SIGINT, previous)


def default_jobs() -> int:
    """Exercises to run at once: one per core, at most two (the course's own timing tests want room)."""
    return max(1, min(2, os.cpu_count() or 1))


def next_exercise(pairs: list[tuple[Exercise, ExerciseResult]]) -> Exercise | None:
    """The first exercise, in course order, that has not passed."""
    return next((exercise for exercise, result in pairs if result.status != PASSED), None)
