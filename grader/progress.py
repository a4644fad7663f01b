"""Where the student stands: each exercise's result, from the cheapest source that is still true.

1. Every file the student edits is still the pristine stub → *not started* (it fails by design;
   ``grader verify`` proves that), no test run needed.
2. A cached result whose fingerprint matches the files on disk → that result.
3. Otherwise run the tests (in a child process) and cache what they say.

Ctrl-C while tests run: the first press stops every run at once (each child and all it started is
killed within a poll interval, well under a second) and ``KeyboardInterrupt`` goes on up; the
presses that follow are ignored, so that nothing can cut that clean-up short and leave a test
process running.

Long work (``check --all``, ``verify``, ``mutants``) says how far it has got with a
:class:`ProgressLine`: one line that redraws itself on a terminal, plain lines in a log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO

from . import checksums, resident, ui
from .course import Course, Exercise
from .pristine import keep_graded
from .runner import run_exercise
from .results import PASSED, ExerciseResult, not_started
from .state import State, fingerprint
from .warm import LocalForker, WarmStarter


def results_for(
    course: Course,
    exercises: Iterable[Exercise],
    state: State,
    *,
    run_pristine: bool = False,
    on_run: Callable[[Exercise], None] | None = None,
    starter: WarmStarter | None = None,
    jobs: int = 1,
    progress: ProgressLine | None = None,
) -> list[tuple[Exercise, ExerciseResult]]:
    """Each exercise's result, in the order given; up to ``jobs`` exercises run at once.

    Several at once only pays when several changed (a student who solved a few before asking), and
    it is safe: each run is a process group of its own on ports of its own. The warm ``starter``
    forks one run at a time, so with it there is one job. Without one, a single run is forked from
    the resident warm process (:mod:`grader.resident`), which the next command finds warm; when it
    cannot fork (busy with another command's run, stale, off), the run is cold. ``progress`` hears of
    every run that starts and ends (the cached results cost nothing, so they are not counted).
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
    if progress is not None:
        progress.expect(len(to_run))
    if starter is None and len(to_run) == 1:
        local = _resident_starter(course)
    else:
        local = None

    def run(job: tuple[Exercise, str]) -> None:
        exercise, key = job
        if on_run is not None:
            on_run(exercise)
        if progress is not None:
            progress.started(exercise.label)
        keep_graded(course, exercise)  # the student's code may delete itself: keep what is graded
        # The student's checks leave out the `reference` cases (not graded; grade and verify run them).
        result = None
        if local is not None:
            with contextlib.suppress(OSError):  # it could not fork the run: run it cold
                result = run_exercise(course, exercise, starter=local, cancel=cancel, references=False, kept_in=local.kept_in)
        if result is None:
            result = run_exercise(course, exercise, starter=starter, cancel=cancel, references=False)
        state.remember(exercise, key, result)
        results[exercise.name] = result
        if progress is not None:
            progress.finished(exercise.label)

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


def _resident_starter(course: Course) -> resident.Resident | LocalForker | None:
    kept_in = course.root / ".grader" / "collected"
    here = resident.local_starter(kept_in)  # a command the resident runs forks its run itself
    if here is not None:
        return here
    if not resident.enabled():
        return None
    path = resident.socket_path(course.root)
    return resident.Resident(path, course.root, kept_in=kept_in) if path else None


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


def default_verify_jobs() -> int:
    """Runs ``grader verify`` makes at once: two per core, at most four.

    Its runs wait more than they compute (servers starting and stopping, timeouts sat out): on two
    cores, two at a time left the machine half idle (61 s); four took 37 s with every timing test
    still passing; eight, 30 s, with less room for the course's timing tests (``--jobs 8``).
    """
    return max(1, min(4, 2 * (os.cpu_count() or 1)))


def next_exercise(pairs: list[tuple[Exercise, ExerciseResult]]) -> Exercise | None:
    """The first exercise, in course order, that has not passed."""
    return next((exercise for exercise, result in pairs if result.status != PASSED), None)


class ProgressLine:
    """How far long work has got: ``[██████░░░░░░] 3/22 exercises · checking 05 wsgi_spec``.

    On a terminal it is one line on standard error that redraws itself in place (a carriage return,
    then "erase to the end of the line") and is wiped when the work ends. Anything printed while it
    is up goes through :meth:`above`, which wipes the line, lets the text through, and draws it again
    below. Anywhere else (a pipe, a CI log, a file) nothing is redrawn: one plain line each time
    something new starts, ``checking 05 wsgi_spec (2/22 done)``, so that a log says what ran when.

    Work that writes a line of its own for each item (``grader roster``: one per student graded) passes
    ``announce=False`` and writes it through :meth:`above`; :meth:`note` puts a few words after the
    count (``2/5 · 1 error``), and an empty ``noun`` leaves the count bare.

    The work reports on it from worker threads: every method takes one lock. Use it as a context
    manager, or call :meth:`close`, so that the line never outlives the work::

        with ProgressLine(verb="verifying") as progress:
            progress.expect(len(exercises))
            ...
            progress.started("05 wsgi_spec")  # on a worker thread
            ...
            with progress.above():
                print("✓ 05 wsgi_spec: …")
            progress.finished("05 wsgi_spec")
    """

    def __init__(
        self,
        total: int = 0,
        *,
        noun: str = "exercises",
        verb: str = "checking",
        stream: TextIO | None = None,
        live: bool | None = None,
        announce: bool = True,
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = is_terminal(self.stream) if live is None else live
        self.total = total
        self.done = 0
        self.noun = noun
        self.verb = verb
        self.running: list[str] = []
        self.noted = ""
        self.announce = announce
        self._announced: set[str] = set()
        self._drawn = False
        self._closed = False
        self._lock = threading.RLock()

    def expect(self, count: int) -> None:
        """``count`` more items are on their way (the total can grow as the work finds out)."""
        with self._lock:
            self.total += count
            self._draw()

    def started(self, label: str) -> None:
        with self._lock:
            self.running.append(label)
            self._announce(label)
            self._draw()

    def finished(self, label: str) -> None:
        with self._lock:
            if label in self.running:
                self.running.remove(label)
            self.done += 1
            self._draw()

    def update(self, *, done: int, running: Sequence[str]) -> None:
        """Say where the work stands when it counts by itself (``grader mutants`` counts mutants)."""
        with self._lock:
            self.done = done
            self.running = list(running)
            for label in self.running:
                self._announce(label)
            self._draw()

    def note(self, text: str) -> None:
        """A few words the live line shows after the count (``1 error``); ``""`` for none."""
        with self._lock:
            self.noted = text
            self._draw()

    @contextlib.contextmanager
    def above(self) -> Iterator[None]:
        """Print something while the line is up: it goes above the line, not through it."""
        with self._lock:
            self._erase()
            try:
                yield
            finally:
                self._draw()

    def close(self) -> None:
        with self._lock:
            self._erase()
            self._closed = True  # a worker that reports late draws nothing

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def line(self, width: int) -> str:
        """The live line, at most ``width`` characters on screen (the list of running items is cut)."""
        style = ui.Style(self.stream)
        dot = "·" if style.unicode else "-"
        head = f" {self.done}/{self.total}" + (f" {self.noun}" if self.noun else "")
        if self.noted:
            head += f" {dot} {self.noted}"
        tail = f" {dot} {self.verb} {', '.join(self.running)}" if self.running else ""
        room = max(0, width - (ui.BAR_WIDTH + 2) - len(head))
        if len(tail) > room:
            cut = "…" if style.unicode else "."
            tail = tail[: max(0, room - 1)] + cut if room else ""
        return style.bar(self.done, self.total) + head + tail

    def _announce(self, label: str) -> None:
        if self.announce and not self.live and not self._closed and label not in self._announced:
            self._announced.add(label)
            self._write(f"{self.verb} {label} ({self.done}/{self.total} done)\n")

    def _draw(self) -> None:
        if self.live and self.total and not self._closed:
            self._write("\r\033[K" + self.line(_columns(self.stream) - 1))
            self._drawn = True

    def _erase(self) -> None:
        if self._drawn:
            self._write("\r\033[K")
            self._drawn = False

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed or vanished terminal is no error
            self.stream.write(text)
            self.stream.flush()


def is_terminal(stream: TextIO) -> bool:
    """Whether a line can be redrawn in place on ``stream``: a terminal that understands ``\\r\\033[K``."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80
