"""Running one exercise's tests in a child process, so that nothing the student writes can hurt the grader.

The child is ``python -m pytest`` with :mod:`grader.plugin` loaded. It runs in a process group of its
own with a wall-clock limit: when the limit passes, the whole group is killed and the exercise is
reported as timed out, naming the test that was running. When the child dies on its own (``os._exit``,
a segfault), the events the plugin already wrote tell which test was running. Its output goes to a
file, never a pipe, so a test that prints megabytes cannot block it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .course import Course, Exercise
from .results import CRASHED, ERROR, FAILED, PASSED, TIMED_OUT, ExerciseResult, TestResult

OUTPUT_TAIL = 3000


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
        "-q",
    ]


def run_exercise(course: Course, exercise: Exercise, *, solutions: Path | None = None) -> ExerciseResult:
    """Run ``exercise``'s tests against the student's files, or against ``solutions`` when given."""
    with tempfile.TemporaryDirectory(prefix="grader-") as scratch:
        events_file = Path(scratch) / "events.jsonl"
        output_file = Path(scratch) / "output.txt"
        env = {k: v for k, v in os.environ.items() if k != "KATA_SOLUTIONS"}
        env["KATA_RESULTS"] = str(events_file)
        # Only the plugins grading needs: whatever else is installed (hypothesis, say) adds start-up
        # time to every run and may change how tests behave.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        if solutions is not None:
            env["KATA_SOLUTIONS"] = str(solutions)
        started = time.monotonic()
        with open(output_file, "wb") as output:
            process = subprocess.Popen(
                pytest_argv(course, exercise),
                cwd=course.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                process.wait(timeout=exercise.time_limit)
            except subprocess.TimeoutExpired:
                timed_out = True
            except BaseException:  # Ctrl-C in the grader: take the child down with us
                _kill_group(process)
                raise
            finally:
                # Whatever the tests left behind (a server, a forked child) goes with the group.
                _kill_group(process)
        duration = time.monotonic() - started
        events = _read_events(events_file)
        output_tail = _tail(output_file)
    return _interpret(exercise, events, process.returncode, timed_out, duration, output_tail)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


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


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - OUTPUT_TAIL))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return ("…" if size > OUTPUT_TAIL else "") + text


def _interpret(
    exercise: Exercise, events: list[dict], returncode: int | None, timed_out: bool, duration: float, output: str
) -> ExerciseResult:
    fields = TestResult.__dataclass_fields__
    tests = [TestResult(**{k: v for k, v in e.items() if k in fields}) for e in events if e["event"] == "test"]
    finished = {t.nodeid for t in tests}
    started = [e["nodeid"] for e in events if e["event"] == "start"]
    running = next((nodeid for nodeid in reversed(started) if nodeid not in finished), None)
    collect_errors = [e for e in events if e["event"] == "collect_error"]
    result = ExerciseResult(exercise=exercise.name, status=FAILED, tests=tests, duration=round(duration, 3))

    if timed_out:
        result.status = TIMED_OUT
        where = f" while running {_short(running)}" if running else ""
        result.message = f"the tests were stopped after the exercise's time limit of {exercise.time_limit:g} s{where}"
        if running:
            tests.append(TestResult(nodeid=running, outcome="failed", message=result.message))
        return result

    if not any(e["event"] == "finish" for e in events):
        result.status = CRASHED
        result.output = output
        how = _how_it_ended(returncode)
        where = f" while running {_short(running)}" if running else ""
        result.message = f"the test process {how}{where}"
        if running:
            tests.append(TestResult(nodeid=running, outcome="failed", message=result.message))
        if not events:
            result.message = f"the test process {how} before any test started"
        return result

    if collect_errors:
        first = collect_errors[0]
        result.status = ERROR
        result.message = first["message"]
        result.location = first["location"]
        result.output = output
        return result

    if not tests:
        result.status = ERROR
        result.message = "no tests were found in this exercise"
        return result

    result.status = PASSED if all(t.outcome in ("passed", "skipped") for t in result.graded) else FAILED
    return result


def _short(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def _how_it_ended(returncode: int | None) -> str:
    if returncode is None:
        return "did not end"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGSEGV":
            return "crashed (SIGSEGV, a segmentation fault)"
        if name == "SIGKILL":
            return "was killed (SIGKILL — out of memory?)"
        return f"was killed by {name}"
    return f"ended abruptly with exit status {returncode} (did your code call os._exit() or sys.exit()?)"
