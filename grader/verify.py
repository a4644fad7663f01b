"""``grader verify``: proof, for course authors and CI, that the course is sound.

For every exercise: the statement, metadata, hints and tests exist; every file the student edits has
a reference solution; module names are unique across the course; the test files match their recorded
checksums; **every graded test fails on the stub** and **every test passes on the solution** (tests
marked ``reference`` prove a black-box test against a real server and must pass on the stub: they
never touch the student's code, so they run once, in the stub's run, not again in the solution's). The
exercise's held-back tests (``held_back/NN_slug/``, :mod:`grader.held_back`), where the course has
them, run in both runs like the others.

The runs go longest first, as the last verify measured them (``.grader/durations.json``), so that
two workers finish together. Each worker of the pool forks its runs from a warm process of its own (:mod:`grader.warm`, as watch
mode does), so that the course's forty-odd runs do not each pay for importing pytest, httpx and h11.
Where there is no ``os.fork``, or a warm process will not start, the worker starts cold processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import checksums, held_back, warm
from .course import Course, Exercise
from .results import PASSED, ExerciseResult
from .progress import default_verify_jobs, first_interrupt_only
from .runner import run_exercise
from .warm import WarmStarter


@dataclass
class Verdict:
    exercise: Exercise
    problems: list[str] = field(default_factory=list)
    stub: ExerciseResult | None = None
    solution: ExerciseResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_structure(course: Course, exercise: Exercise, solutions: Path) -> list[str]:
    problems = []
    if not (exercise.path / "README.md").is_file():
        problems.append("no README.md")
    if not exercise.hints:
        problems.append("no hints in exercise.toml")
    if not exercise.test_files():
        problems.append("no test_*.py file")
    for name in exercise.files:
        if not (exercise.path / name).is_file():
            problems.append(f"the stub {name} listed in exercise.toml is missing")
        if not (solutions / exercise.name / name).is_file():
            problems.append(f"no reference solution for {name} (expected {exercise.name}/{name} in the solutions)")
    return problems


def check_module_names(course: Course) -> dict[str, list[str]]:
    """Every exercise folder is on sys.path at once, so two modules with one name would collide."""
    owners: dict[str, list[str]] = {}
    for exercise in course.exercises:
        for path in exercise.path.glob("*.py"):
            if path.name != "conftest.py" and not path.name.startswith("test_"):
                owners.setdefault(path.stem, []).append(exercise.name)
    clashes: dict[str, list[str]] = {}
    for module, folders in owners.items():
        if len(folders) > 1:
            for folder in folders:
                others = ", ".join(f for f in folders if f != folder)
                clashes.setdefault(folder, []).append(f"module name '{module}' is also used by {others}")
    return clashes


def check_checksums(course: Course, exercise: Exercise, recorded: dict) -> list[str]:
    if exercise.name not in recorded:
        return ["no recorded checksums (run `grader verify --record`)"]
    problems = [f"test file {name} differs from its recorded checksum" for name in checksums.edited_tests(exercise, recorded)]
    if not checksums.is_pristine(exercise, recorded):
        problems.append("the stub differs from its recorded checksum (re-record with `grader verify --record`)")
    return problems


def check_runs(verdict: Verdict) -> None:
    stub, solution = verdict.stub, verdict.solution
    assert stub is not None and solution is not None
    if stub.status not in ("failed",):
        reason = stub.message or stub.status.replace("_", " ")
        verdict.problems.append(f"the stub should fail its tests cleanly, but: {reason}")
    for test in stub.graded:
        if test.passed:
            verdict.problems.append(f"{test.name} passes on the stub (every graded test must fail on it)")
    for test in stub.tests:
        if test.reference and not test.passed:
            verdict.problems.append(f"reference test {test.name} fails on the stub run: {test.message}")
    if solution.status == PASSED and solution.message:
        verdict.problems.append(f"the solution passes, but: {solution.message}")
    if solution.status != PASSED:
        reason = solution.message or solution.status.replace("_", " ")
        failing = [t for t in solution.tests if t.outcome in ("failed", "error")]
        if failing:
            for test in failing:
                where = f" ({test.location})" if test.location else ""
                verdict.problems.append(f"{test.name} fails on the solution: {test.message}{where}")
        else:
            verdict.problems.append(f"the solution does not pass: {reason}")
    if not stub.tests and not solution.tests:
        verdict.problems.append("no tests ran")


class WorkerStarters:
    """One warm process per worker thread of the pool, started by the worker's first run.

    A worker whose warm process would not start, or stopped answering, runs cold from then on: the
    verdicts are the same either way, only slower. :meth:`close` ends every warm process; it is called
    once the pool has stopped, on every path out of :func:`verify`, Ctrl-C included.
    """

    def __init__(self, course: Course, cancel: threading.Event) -> None:
        self.course = course
        self.cancel = cancel
        self.mine = threading.local()  # this worker's starter, or False once it has given up on one
        self.started: list[WarmStarter] = []
        self.lock = threading.Lock()

    def for_this_worker(self) -> WarmStarter | None:
        starter = getattr(self.mine, "starter", None)
        if starter is None and warm.available():
            try:
                starter = WarmStarter(cwd=str(self.course.root), cancel=self.cancel)
            except OSError:
                starter = False
            else:
                with self.lock:
                    self.started.append(starter)
            self.mine.starter = starter
        if not starter or not starter.alive():
            return None
        return starter

    def give_up(self) -> None:
        """This worker's warm process failed a run: close it, and start cold processes instead."""
        starter = getattr(self.mine, "starter", None)
        if starter:
            starter.close()
        self.mine.starter = False

    def close(self) -> None:
        with self.lock:
            starters, self.started = self.started, []
        for starter in starters:
            starter.close()


# --- the order of the runs: longest first --------------------------------------------------------------


def _durations_file(course: Course) -> Path:
    return course.root / ".grader" / "durations.json"


def last_durations(course: Course) -> dict[str, float]:
    """How long each run took the last time (``"15_asgi_server stub"``: seconds); empty when unknown.

    Only the order of the runs depends on it, never a verdict, so a missing or broken file is no error.
    """
    try:
        data = json.loads(_durations_file(course).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, (int, float))}


def remember_durations(course: Course, verdicts: Sequence[Verdict]) -> None:
    """Keep each run's duration for the next verify's order (merged with the runs not made this time)."""
    durations = last_durations(course)
    for verdict in verdicts:
        for kind, result in (("stub", verdict.stub), ("solution", verdict.solution)):
            if result is not None:
                durations[f"{verdict.exercise.name} {kind}"] = round(result.duration, 2)
    path = _durations_file(course)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".durations-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(durations, f, indent=0, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def longest_first(runs: list[tuple[Exercise, bool]], durations: dict[str, float]) -> list[tuple[Exercise, bool]]:
    """The runs in the order that ends soonest on a few workers: the longest first, as last measured.

    A run never measured goes first of all: it may be the longest; among those, the later exercises
    first, whose tests start servers. (In course order, 15 and 18, the course's longest runs, would
    start last and keep one worker busy long after the other was done.)
    """

    def cost(run: tuple[Exercise, bool]) -> tuple[int, float]:
        exercise, on_solution = run
        measured = durations.get(f"{exercise.name} {'solution' if on_solution else 'stub'}")
        return (0, measured) if measured is not None else (1, exercise.number)

    return sorted(runs, key=cost, reverse=True)  # sorted() is stable: ties keep course order


def verify(
    course: Course,
    exercises: Sequence[Exercise],
    solutions: Path,
    *,
    jobs: int | None = None,
    on_done: Callable[[Verdict], None] | None = None,
    on_start: Callable[[Exercise], None] | None = None,
) -> list[Verdict]:
    recorded = checksums.load(course)
    clashes = check_module_names(course)
    verdicts = {e.name: Verdict(e) for e in exercises}
    for exercise in exercises:
        verdict = verdicts[exercise.name]
        verdict.problems += check_structure(course, exercise, solutions)
        verdict.problems += clashes.get(exercise.name, [])
        verdict.problems += check_checksums(course, exercise, recorded)

    cancel = threading.Event()
    starters = WorkerStarters(course, cancel)
    lock = threading.Lock()

    def run_one(exercise: Exercise, on_solution: bool) -> None:
        """One of an exercise's two runs. They are two jobs, so that a long exercise (15, 18) keeps
        both workers busy; whichever ends second judges the pair."""
        verdict = verdicts[exercise.name]
        # The held-back files go on pytest's command line after the exercise's folder, whose conftest
        # (exercises/conftest.py) is loaded first and finds the stub or the solution for them too.
        extra = [str(path) for path in held_back.files(course.root, exercise.name)]
        how = (
            {"solutions": solutions, "pytest_args": extra, "references": False}
            if on_solution
            else {"pytest_args": extra}
        )
        starter = starters.for_this_worker()
        if on_start is not None:
            on_start(exercise)
        try:
            result = run_exercise(course, exercise, cancel=cancel, starter=starter, **how)
        except OSError:
            if starter is None:
                raise
            # The warm process could not start the run (it died, or stopped answering): the run
            # never reached the tests, so it is made again, cold.
            starters.give_up()
            result = run_exercise(course, exercise, cancel=cancel, **how)
        with lock:
            if on_solution:
                verdict.solution = result
            else:
                verdict.stub = result
            both_done = verdict.stub is not None and verdict.solution is not None
        if both_done:
            check_runs(verdict)
            if on_done is not None:
                on_done(verdict)

    workers = jobs or default_verify_jobs()
    # As in `grader check`: the first Ctrl-C stops every run at once (their processes are killed)
    # and KeyboardInterrupt goes on up; later presses cannot cut that clean-up short.
    with first_interrupt_only():
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                runs = [(exercise, on_solution) for exercise in exercises for on_solution in (False, True)]
                futures = [pool.submit(run_one, *run) for run in longest_first(runs, last_durations(course))]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    cancel.set()
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            # The pool has stopped (its runs were cancelled, or are done): no warm process runs a test.
            starters.close()
    remember_durations(course, list(verdicts.values()))
    return [verdicts[exercise.name] for exercise in exercises]
