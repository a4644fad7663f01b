"""Running one exercise's tests in a child process, so that nothing the student writes can hurt the grader.

The child is ``python -m pytest`` with :mod:`grader.plugin` loaded. It runs in a process group of its
own with a wall-clock limit: when the limit passes, the whole group is killed and the exercise is
reported as timed out, naming the test that was running. When the child dies on its own (``os._exit``,
a segfault), the events the plugin already wrote tell which test was running, and a segfault's
faulthandler dump tells the line of the student's code. Its output goes to a file, never a pipe, so a
test that prints megabytes cannot block it, and only the file's tail is read back.

What the student's code may leave behind, and how it is stopped:

- a non-daemon thread (a server that never shuts down): pytest writes its results and then hangs at
  exit, waiting for the thread. The plugin names such threads in its ``finish`` event; the runner gives
  the process ``FINISH_GRACE`` seconds to exit, then kills it and keeps the results, with a note in
  ``ExerciseResult.message``. The note is a warning: the status stays what the tests said, because
  the tests decide the grade (an exercise about servers tests the shutdown itself).
- a forked child: it shares the process group and is killed with it.
- a child that left the group (``os.setsid()``): every process of the run carries ``KATA_RUN_ID`` in
  its environment, and on Linux the runner kills every process whose ``/proc/PID/environ`` holds this
  run's id. (Elsewhere only the process group is killed. A child that both leaves the group and clears
  its environment escapes; the course never needs either.)
- output or files without end: the plugin caps the size of any file the child writes at ``FILE_LIMIT``
  (``RLIMIT_FSIZE``), so printing forever fails the test instead of filling the disk before the time
  limit comes; pytest is told not to echo captured output into the run's log (the plugin keeps a tail).
- runaway memory: the plugin caps the child's data size at ``MEMORY_LIMIT`` (``RLIMIT_DATA``), so an
  allocation without end becomes a ``MemoryError`` in the test, not a swapping machine.

Ctrl-C in the grader takes the child and everything it left down before the ``KeyboardInterrupt``
goes on up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course, Exercise
from .results import CRASHED, ERROR, FAILED, PASSED, TIMED_OUT, ExerciseResult, TestResult
from .warm import WarmProcess, WarmStarter

OUTPUT_TAIL = 3000
CRASH_TAIL = 32_000  # enough of the output to hold a faulthandler dump (100 frames at most)
FINISH_GRACE = 3.0  # seconds a finished run with a thread still going gets to exit on its own
MEMORY_LIMIT = 2 * 2**30  # bytes of data the child may allocate (RLIMIT_DATA); see grader.plugin
FILE_LIMIT = 2**30  # bytes any one file the child writes may reach (RLIMIT_FSIZE); see grader.plugin
RUN_ID_VARIABLE = "KATA_RUN_ID"
POLL_INTERVAL = 0.05  # the longest wait between two looks at the child; the first looks come sooner

# How the child process ended, as the runner saw it.
EXITED = "exited"  # on its own, with or without the plugin's finish event
TIMED_OUT_RUN = "timed_out"  # still running at the exercise's time limit, before its tests finished
LINGERED = "lingered"  # the tests finished but the process did not exit: the runner stopped it
CANCELLED_RUN = "cancelled"  # the caller asked the run to stop (Ctrl-C in a pool of runs)


class Cancelled(Exception):
    """The run was stopped because its ``cancel`` event was set; everything it started is dead."""


def pytest_argv(course: Course, exercise: Exercise) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        str(exercise.path),
        "-p",
        "pytest_timeout",
        "-p",
        "grader.plugin",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        f"--rootdir={course.root}",
        "--color=no",
        "--show-capture=no",  # the plugin keeps a tail of it; the whole of it could be gigabytes
        "-q",
    ]


@dataclass
class _Run:
    """What the runner saw of one child process, besides the plugin's events."""

    ending: str
    returncode: int | None
    duration: float
    output: str = ""
    crash_dump: str = ""  # the faulthandler dump at the end of the output, when the child crashed
    survivors: int = 0  # processes of the run still alive after the child exited on its own
    events: list[dict] = field(default_factory=list)


def run_exercise(
    course: Course,
    exercise: Exercise,
    *,
    solutions: Path | None = None,
    starter: WarmStarter | None = None,
    pytest_args: Sequence[str] = (),
    cancel: threading.Event | None = None,
) -> ExerciseResult:
    """Run ``exercise``'s tests against the student's files, or against ``solutions`` when given.

    With a ``starter`` (watch mode), the child is forked from a warm process that has imported
    pytest already; it is a process group of its own all the same, and is treated like any other.
    ``pytest_args`` go on pytest's command line (``grader mutants`` passes ``-x``). When ``cancel`` is
    set while the child runs, the child and all it started are killed and :class:`Cancelled` is raised:
    a thread in a pool cannot be interrupted by Ctrl-C, so the main thread sets the event instead.
    """
    with tempfile.TemporaryDirectory(prefix="grader-") as scratch:
        events_file = Path(scratch) / "events.jsonl"
        output_file = Path(scratch) / "output.txt"
        run_id = uuid.uuid4().hex
        env = {k: v for k, v in os.environ.items() if k != "KATA_SOLUTIONS"}
        env["KATA_RESULTS"] = str(events_file)
        # Only the plugins grading needs: whatever else is installed (hypothesis, say) adds start-up
        # time to every run and may change how tests behave.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        env[RUN_ID_VARIABLE] = run_id
        env["KATA_MEMORY_LIMIT"] = str(MEMORY_LIMIT)
        env["KATA_FILE_LIMIT"] = str(FILE_LIMIT)
        if solutions is not None:
            env["KATA_SOLUTIONS"] = str(solutions)
        started = time.monotonic()
        survivors = 0
        with open(output_file, "wb") as output:
            process: subprocess.Popen[bytes] | WarmProcess
            if starter is not None:
                argv = pytest_argv(course, exercise)[3:] + list(pytest_args)  # what follows `python -m pytest`
                process = starter.launch(argv, env, str(course.root), str(output_file))
            else:
                process = subprocess.Popen(
                    pytest_argv(course, exercise) + list(pytest_args),
                    cwd=course.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                ending = _wait(process, events_file, exercise.time_limit, cancel)
                if ending == EXITED:
                    survivors = (
                        len(_processes_of_run(run_id))
                        or _group_alive(process.pid)
                        or getattr(process, "leftovers", 0)  # a warm run's orphans, already stopped
                    )
            finally:
                # On every path, Ctrl-C included: what the tests left behind goes with the child.
                _kill_everything(process, run_id)
        if ending == CANCELLED_RUN:
            raise Cancelled(exercise.name)
        run = _Run(ending, process.returncode, time.monotonic() - started, survivors=survivors)
        run.events = _read_events(events_file)
        run.output = _tail(output_file, OUTPUT_TAIL)
        if ending == EXITED and not any(e["event"] == "finish" for e in run.events):
            run.crash_dump = _faulthandler_dump(_tail(output_file, CRASH_TAIL))
    return _interpret(course, exercise, run)


# --- waiting for the child, and stopping everything it started --------------------------------------


def _wait(
    process: subprocess.Popen[bytes], events_file: Path, time_limit: float, cancel: threading.Event | None = None
) -> str:
    """Wait for the child to exit, to run out of time, to hang after its tests finished, or to be cancelled."""
    deadline = time.monotonic() + time_limit
    finish: dict | None = None
    finished_at = 0.0
    interval = 0.005  # a short run should not wait out a long poll interval
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=interval)
            return EXITED
        interval = min(interval * 1.5, POLL_INTERVAL)
        if cancel is not None and cancel.is_set():
            return CANCELLED_RUN
        now = time.monotonic()
        if finish is None:
            finish = _finish_event(events_file)
            finished_at = now  # (within a poll interval)
        if finish is not None:
            # Results are in. A process that still runs is held by a thread the student left going
            # (the interpreter waits for non-daemon threads at exit) or by something stranger; the
            # plugin names the threads, and those get a short grace, anything else the time limit.
            grace = deadline - finished_at
            if finish.get("threads"):
                grace = min(grace, FINISH_GRACE)
            if now - finished_at >= grace:
                return LINGERED
        elif now >= deadline:
            return TIMED_OUT_RUN


def _finish_event(events_file: Path) -> dict | None:
    """The plugin's finish event: always the last line it writes."""
    try:
        with open(events_file, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            last = f.read().splitlines()[-1:]
    except OSError:
        return None
    with contextlib.suppress(ValueError):
        event = json.loads(last[0]) if last else None
        if isinstance(event, dict) and event.get("event") == "finish":
            return event
    return None


def _kill_everything(process: subprocess.Popen[bytes], run_id: str) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    # Processes that left the group. Kill, then look again until none is alive: one may have forked
    # while we looked, and a port it holds is only free once it is dead (a zombie holds nothing).
    for _ in range(100):
        pids = _processes_of_run(run_id)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _processes_of_run(run_id: str) -> set[int]:
    """Live processes whose environment holds this run's id (Linux; empty elsewhere)."""
    marker = f"{RUN_ID_VARIABLE}={run_id}".encode() + b"\0"
    found = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            # A zombie's environment reads empty: it is dead and holds no port, so it is not counted.
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker in b"\0" + f.read():
                    found.add(int(entry))
        except OSError:  # gone meanwhile, or another user's
            continue
    found.discard(os.getpid())
    return found


def _group_alive(pgid: int) -> int:
    """1 when a process of the child's group is still there (where there is no /proc to look in)."""
    if os.path.isdir("/proc"):
        return 0
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return 0
    return 1


# --- reading back what happened ---------------------------------------------------------------------


def _read_events(path: Path) -> list[dict]:
    events = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return events
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))
    return events


def _tail(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return ("…" if size > limit else "") + text


def _faulthandler_dump(output: str) -> str:
    """pytest's faulthandler writes the crashed thread's stack to stderr: keep that part."""
    start = output.rfind("Fatal Python error")
    return output[start:] if start >= 0 else ""


_FRAME = re.compile(r'^\s*File "(?P<path>.+)", line (?P<line>\d+) in (?P<function>\S+)', re.MULTILINE)


def _crash_location(course: Course, exercise: Exercise, dump: str) -> tuple[str, int]:
    """The innermost line of the student's code in a faulthandler dump, and how many frames its function has.

    Frames are counted by function, not by line: the innermost call of a recursion may stand on its
    ``def`` line while the others stand on the line that recurses.
    """
    frames = [(Path(m["path"]), m["line"], m["function"]) for m in _FRAME.finditer(dump)]
    for path, line, function in frames:  # most recent call first
        if _is_student_file(exercise, path):
            with contextlib.suppress(ValueError):
                where = f"{path.resolve().relative_to(course.root.resolve())}:{line}"
                return where, sum(1 for p, _, f in frames if p == path and f == function)
    return "", 0


def _is_student_file(exercise: Exercise, path: Path) -> bool:
    """A file of this exercise's folder (the student's or a solutions folder's) that is not a test."""
    if path.parent.name != exercise.name:
        return False
    return not (path.name.startswith("test_") or path.name == "conftest.py")


def _interpret(course: Course, exercise: Exercise, run: _Run) -> ExerciseResult:
    events = run.events
    fields = TestResult.__dataclass_fields__
    tests = [TestResult(**{k: v for k, v in e.items() if k in fields}) for e in events if e["event"] == "test"]
    finished = {t.nodeid for t in tests}
    started = [e["nodeid"] for e in events if e["event"] == "start"]
    running = next((nodeid for nodeid in reversed(started) if nodeid not in finished), None)
    collected = any(e["event"] == "collected" for e in events)
    finish = next((e for e in events if e["event"] == "finish"), None)
    collect_errors = [e for e in events if e["event"] == "collect_error"]
    result = ExerciseResult(exercise=exercise.name, status=FAILED, tests=tests, duration=round(run.duration, 3))

    if running:
        where = f"while running {_short(running)}"
    elif not collected:
        where = "while importing your code"
    else:
        where = "after the tests finished"

    if run.ending == TIMED_OUT_RUN:
        result.status = TIMED_OUT
        if running:
            why = "your code may loop forever or wait for something that never comes"
        elif not collected:
            why = "does your code loop, wait or serve forever when it is imported?"
        else:
            why = "something your code started kept it from ending"
        result.message = (
            f"the tests were stopped after the exercise's time limit of {exercise.time_limit:g} s {where}: {why}"
        )
        if running:
            tests.append(TestResult(nodeid=running, outcome="failed", message=result.message))
        return result

    if finish is None:
        result.status = CRASHED
        result.output = run.output
        result.location, repeats = _crash_location(course, exercise, run.crash_dump)
        result.message = _crash_sentence(run, where, deep_recursion=repeats >= 20)
        if running:
            tests.append(TestResult(nodeid=running, outcome="failed", message=result.message, location=result.location))
        return result

    if running:
        # pytest ended the session in the middle of a test (the student's code raised KeyboardInterrupt
        # or called pytest.exit()): that test has no report, and must not pass by being left out.
        result.message = f"the tests stopped {where}: did your code raise KeyboardInterrupt or call pytest.exit()?"
        tests.append(TestResult(nodeid=running, outcome="failed", message=result.message))
        return result

    if collect_errors:
        first = collect_errors[0]
        result.status = ERROR
        result.message = first["message"]
        result.location = first["location"]
        result.output = run.output
        return result

    if not tests:
        result.status = ERROR
        result.message = "no tests were found in this exercise"
        return result

    result.status = PASSED if all(t.outcome in ("passed", "skipped") for t in result.graded) else FAILED
    # Warnings: the tests' verdict stands, and the message says what had to be cleaned up after them.
    if run.ending == LINGERED:
        threads = finish.get("threads") or []
        if threads:
            names = ", ".join(dict.fromkeys(threads))  # each name once, in order
            result.message = (
                f"your code left a thread running after the tests finished ({names}), so the grader stopped it: "
                "stop and join every thread you start"
            )
        else:
            result.message = "the test process did not exit after the tests finished, so the grader stopped it"
    elif run.survivors:
        count, it = ("a process", "it") if run.survivors == 1 else (f"{run.survivors} processes", "them")
        result.message = (
            f"your code left {count} running after the tests finished, so the grader stopped {it}: "
            "wait for every process you start"
        )
    return result


def _crash_sentence(run: _Run, where: str, *, deep_recursion: bool) -> str:
    code = run.returncode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGSEGV" and deep_recursion:
            return f"the test process crashed (SIGSEGV, a segmentation fault) {where}: your code recursed so deep that Python itself ran out of stack"
        if name == "SIGSEGV":
            return f"the test process crashed (SIGSEGV, a segmentation fault) {where}: your code, or a C library it called, touched memory it must not"
        if name == "SIGKILL":
            return f"the test process was killed (SIGKILL) {where}: did your code run out of memory?"
        return f"the test process was killed by {name} {where}"
    if "MemoryError" in run.output:
        return f"the test process ran out of memory {where}: your code may allocate without end"
    return f"the test process ended with exit status {code} {where}: did your code call os._exit()?"


def _short(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]
