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

What the runner believes, and why (tamper evidence; the README says what it does not cover):

- **Which tests count** comes from a collection pass of its own, before any of the student's code runs:
  a separate ``pytest --collect-only`` child in which the plugin replaces every student module of the
  course by a stand-in (any name imports, calls and iterates), so only the course's test files,
  conftests and given modules are executed. Every test it collected that did not report a pass in the
  real run counts as failed: skipped by the student's code, never reported, or never reached because the
  process ended (``os._exit(0)`` halfway). A skip stays a skip only when the course raised it: a skip
  or xfail mark the collection pass saw on that test (a mark the student's code adds at run time is not
  one), or a ``pytest.skip()`` called from a course test file or conftest with no frame of the
  student's files on the way (the plugin reads the traceback). The pass is
  remembered per exercise for as long as its test files do not change (watch mode, ``grader mutants``).
- **Results** come over a pipe the child inherits (``--kata-channel=fd:…``; watch mode's warm process
  gets a FIFO it opens and unlinks at once), read by the runner as they come: nothing written to a file
  can be rewritten after the run. Each line carries a sequence number and an HMAC keyed with a secret
  handed to the plugin on a second pipe and read before any student code is imported; a line that does
  not verify (forged, replayed, out of order) is evidence of tampering.
- **Canaries**: two tests made here at random (names and bodies), one that must pass and one that must
  fail, which the plugin adds among the course's tests. The plugin also checks that pytest's reporting
  functions and its own hooks were not replaced. A canary with the wrong outcome, a line that does not
  verify, or a failed check scores the exercise 0 with :data:`TAMPERED`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import select
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
from .results import (
    CRASHED,
    ERROR,
    FAILED,
    PASSED,
    TIMED_OUT,
    ExerciseResult,
    TestResult,
)
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

NO_TESTS = "no tests were found in this exercise"
TAMPERED = "the grader's checks were tampered with while running your code"
CHANNEL_LIMIT = 64 * 2**20  # bytes of events a run may send: the plugin writes a few kB per test
STOP_EARLY = ("-x", "--exitfirst", "--maxfail", "--sw", "--stepwise")  # options after which tests may not run


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
        # The plugin explains each failure from its exception; pytest's own tracebacks would go
        # unread into the log, and formatting them is most of a failing run's time (1 s of 1.5 on 02).
        "--tb=no",
        "-q",
    ]


# --- the results channel ----------------------------------------------------------------------------


def mac(key: bytes, payload: bytes) -> str:
    """The tag of one line on the results channel: the same function as ``grader.plugin.mac``.

    (Written out twice so that the grader does not import pytest, and the child not the runner.)
    """
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


class _Channel:
    """The runner's end of the results channel: reads as the child writes, and checks every line."""

    def __init__(self, fd: int, key: bytes) -> None:
        self.fd = fd
        self.key = key
        self.buffer = b""
        self.size = 0
        self.seq = 0
        self.events: list[dict] = []
        self.problems: list[str] = []
        self.finish: dict | None = None

    def drain(self) -> bool:
        """Take in whatever the child has written so far (never blocks).

        True while the child holds the channel open and may write more; False at the end of the
        stream (no writer now, or not yet: a FIFO's writer opens it once its run has started).
        """
        while self.fd >= 0:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:  # no writer now (or not yet, for a FIFO): look again later
                return False
            self.size += len(chunk)
            if self.size > CHANNEL_LIMIT:
                self._problem("the results channel received far more than the grader's plugin writes")
                continue
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            for line in lines:
                self._take(line)
        return False

    def _take(self, line: bytes) -> None:
        tag, _, payload = line.partition(b" ")
        if not hmac.compare_digest(tag, mac(self.key, payload).encode()):
            self._problem("a line on the results channel was not written by the grader's plugin")
            return
        try:
            event = json.loads(payload)
        except ValueError:
            self._problem("a line on the results channel was not written by the grader's plugin")
            return
        if not isinstance(event, dict) or event.get("seq") != self.seq + 1:
            self._problem("the grader's plugin's results arrived out of order")
            return
        self.seq += 1
        self.events.append(event)
        if event.get("event") == "finish":
            self.finish = event
        elif event.get("event") == "tampered":
            self._problem(str(event.get("what", "the plugin's checks failed")))

    def _problem(self, what: str) -> None:
        if what not in self.problems:
            self.problems.append(what)

    def close(self) -> None:
        self.drain()  # an incomplete last line (a write cut short by a kill) is dropped
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


@dataclass
class _Link:
    """What the child is given: its command-line option, the descriptors it inherits, the parent's end."""

    option: str
    pass_fds: tuple[int, ...]
    channel: _Channel
    secret: bytes = b""  # still to be written to ``secret_fd`` (an inherited pipe): see deliver()
    secret_fd: int = -1

    def started(self) -> None:
        """The child has its ends now: close ours, so that the pipe's only writer is the child."""
        for fd in self.pass_fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def deliver(self) -> None:
        """Hand the child its secret. The plugin waits for it before pytest collects a single test,
        so a child started early does its imports meanwhile and runs no student code until now."""
        if self.secret_fd < 0:
            return
        # A few hundred bytes: a pipe holds 64 kB, so this never waits for the child. A child that
        # died before reading it (a pytest usage error) is reported by the run, not by a BrokenPipeError.
        with contextlib.suppress(OSError):
            os.write(self.secret_fd, self.secret)
        self.close_secret()

    def close_secret(self) -> None:
        if self.secret_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.secret_fd)
            self.secret_fd = -1


def _link(scratch: Path, secret: dict, *, inherited: bool) -> _Link:
    """A results pipe and a secret for one child: inherited descriptors (the secret follows with
    :meth:`_Link.deliver`), or a FIFO and a file in ``scratch`` (the secret is there at once)."""
    key = bytes.fromhex(secret["key"])
    data = json.dumps(secret).encode()
    if inherited:
        events_read, events_write = os.pipe()
        secret_read, secret_write = os.pipe()
        os.set_blocking(events_read, False)
        return _Link(
            f"--kata-channel=fd:{events_write},{secret_read}",
            (events_write, secret_read),
            _Channel(events_read, key),
            secret=data,
            secret_fd=secret_write,
        )
    fifo = scratch / "events"
    os.mkfifo(fifo, 0o600)
    events_read = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    secret_file = scratch / "secret"
    with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(data)
    return _Link(f"--kata-channel=fifo:{scratch}", (), _Channel(events_read, key))


_WORDS = (
    "reads", "sends", "keeps", "answers", "returns", "parses", "rejects", "joins", "closes", "starts",
    "the", "a", "every", "empty", "long", "short", "first", "last", "header", "body", "status", "path",
    "query", "chunk", "line", "request", "response", "message", "value", "name", "stream", "event",
)


def _make_canaries() -> list[dict[str, str]]:
    """One test that must pass and one that must fail, with names and bodies nobody can know in advance."""
    chance = random.SystemRandom()
    canaries = []
    for expect in ("passed", "failed"):
        name = "test_" + "_".join(chance.choice(_WORDS) for _ in range(chance.randint(2, 4))) + f"_{secrets.token_hex(3)}"
        a, b = chance.randint(2, 10**6), chance.randint(2, 10**6)
        variable = chance.choice(("got", "value", "result", "answer", "seen"))
        right = a + b if expect == "passed" else a + b + chance.randint(1, 99)
        token = secrets.token_hex(4)
        source = (
            f"def {name}():\n"
            f"    {variable} = {a} + {b}\n"
            f"    assert {variable} == {right}, f\"expected {right}, got {{{variable}!r}} ({token})\"\n"
        )
        canaries.append({"name": name, "source": source, "expect": expect, "token": token})
    return canaries


# --- which tests run ---------------------------------------------------------------------------------


def without_references(pytest_args: Sequence[str]) -> tuple[str, ...]:
    """``pytest_args`` with the ``reference`` tests deselected (``-m "not reference"``).

    A reference case runs a test against wsgiref, gunicorn or uvicorn to prove the test itself; it is
    not graded, and on a server exercise it is half of the run, so the student's checks leave it out
    (``grader verify`` and ``grader grade`` keep it). The collection pass leaves the same tests out
    (:func:`expected_tests` with ``references=False``), so a deselected test is not one that counts,
    and is never reported as failed. A ``-m`` already in ``pytest_args`` is kept, and narrowed.
    """
    args = list(pytest_args)
    for index, arg in enumerate(args):
        if arg == "-m" and index + 1 < len(args):
            if "not reference" not in args[index + 1]:
                args[index + 1] = f"({args[index + 1]}) and not reference"
            return tuple(args)
    return (*args, "-m", "not reference")


# --- the collection pass: which tests count, from the course's files alone --------------------------

_expected_cache: dict[tuple, dict[str, dict] | None] = {}
_expected_locks: dict[tuple, threading.Lock] = {}
_locks_lock = threading.Lock()


def _course_files_digest(course: Course, exercise: Exercise) -> str:
    """What the collection pass depends on: every file of the exercise but the student's, and the course conftest."""
    digest = hashlib.sha256()
    paths = [course.exercises_dir / "conftest.py"]
    with contextlib.suppress(OSError):
        paths += sorted(p for p in exercise.path.iterdir() if p.is_file() and p.name not in exercise.files)
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _student_modules(course: Course) -> list[str]:
    """The module names of every file any exercise's student edits: none of them runs in the collection pass."""
    return sorted({Path(name).stem for e in course.exercises for name in e.files if name.endswith(".py")})


def expected_tests(
    course: Course,
    exercise: Exercise,
    pytest_args: Sequence[str] = (),
    cancel: threading.Event | None = None,
    *,
    references: bool = True,
    kept_in: Path | None = None,
    starter: WarmStarter | None = None,
) -> dict[str, dict] | None:
    """The tests of ``exercise`` that count, by node id (in order), collected without the student's code.

    None when the course's own files cannot be collected that way (then only what the run reports
    is counted, as before). ``references=False``: the same pass without the tests marked
    ``reference`` (exactly what ``-m "not reference"`` deselects), so that one pass serves a run with
    them and a run without; two runs of one exercise at once (verify's stub and solution) wait for
    the same pass instead of making two. ``kept_in``: a folder where the pass is also kept between
    commands (the student's own checks, never grading: the student can write there). ``starter``:
    a warm process to fork the pass from (see :func:`_collect`).
    """
    key = (str(exercise.path), tuple(pytest_args), _course_files_digest(course, exercise))
    with _locks_lock:
        lock = _expected_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _expected_cache:
            kept = _kept_collection(kept_in, key, course)
            _expected_cache[key] = kept.load() if kept else None
            if _expected_cache[key] is None:
                _expected_cache[key] = _collect(course, exercise, pytest_args, cancel, starter)
                if kept and _expected_cache[key] is not None:
                    kept.save(_expected_cache[key])
    found = _expected_cache[key]
    if found is None or references:
        return found
    return {nodeid: info for nodeid, info in found.items() if not info.get("reference")} or None


@dataclass
class _KeptCollection:
    """One collection pass kept on disk, under a name that changes with everything the pass read."""

    path: Path

    def load(self) -> dict[str, dict] | None:
        with contextlib.suppress(OSError, ValueError):
            found = json.loads(self.path.read_text())
            if isinstance(found, dict) and all(isinstance(v, dict) for v in found.values()):
                return found
        return None

    def save(self, found: dict[str, dict]) -> None:
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for old in self.path.parent.glob(self.path.name.split("-")[0] + "-*.json"):
                old.unlink()  # one kept pass per exercise: the older ones can never match again
            scratch = self.path.with_suffix(".tmp")
            scratch.write_text(json.dumps(found))
            scratch.replace(self.path)


def _kept_collection(folder: Path | None, key: tuple, course: Course) -> _KeptCollection | None:
    """Besides the exercise's files (in ``key``): the course's testkit, the grader's plugin, the Python."""
    if folder is None:
        return None
    digest = hashlib.sha256(repr(key).encode() + sys.version.encode() + sys.executable.encode())
    for path in [Path(__file__).with_name("plugin.py"), *sorted(course.root.glob("testkit/*.py"))]:
        with contextlib.suppress(OSError):
            digest.update(str(path).encode() + path.read_bytes())
    return _KeptCollection(folder / f"{Path(key[0]).name}-{digest.hexdigest()[:24]}.json")


def _collect(
    course: Course,
    exercise: Exercise,
    pytest_args: Sequence[str],
    cancel: threading.Event | None,
    starter: WarmStarter | None = None,
) -> dict[str, dict] | None:
    """Run the collection pass: forked from ``starter`` when there is one (most of a cold pass is
    importing pytest: a fifth of ``grader verify``'s CPU went to 22 of them), else a cold child."""
    secret = {"key": secrets.token_hex(32), "mode": "collect", "block": _student_modules(course)}
    env = {k: v for k, v in os.environ.items() if k != "KATA_SOLUTIONS"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    argv = [*pytest_argv(course, exercise), *pytest_args, "--collect-only"]
    with tempfile.TemporaryDirectory(prefix="grader-collect-") as scratch:
        process: subprocess.Popen[bytes] | WarmProcess | None = None
        if starter is not None:
            link = _link(Path(scratch), secret, inherited=False)
            try:
                process = starter.launch([*argv[3:], link.option], env, str(course.root), os.devnull)
            except OSError:  # it could not fork the pass: make it cold
                link.channel.close()
        if process is None:
            link = _link(Path(scratch), secret, inherited=True)
            try:
                process = subprocess.Popen(
                    [*argv, link.option],
                    cwd=course.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    pass_fds=link.pass_fds,
                )
            finally:
                link.started()
                link.deliver()
        deadline = time.monotonic() + max(exercise.time_limit, 30)
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(exercise.name)
                link.channel.drain()
                time.sleep(0.01)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            link.channel.close()
    channel = link.channel
    if channel.finish is None or channel.problems or any(e["event"] == "collect_error" for e in channel.events):
        return None
    items = {e["nodeid"]: e for e in channel.events if e["event"] == "item"}
    return items or None


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
    problems: list[str] = field(default_factory=list)  # what the channel and the plugin's checks found
    canaries: list[dict[str, str]] = field(default_factory=list)


def run_exercise(
    course: Course,
    exercise: Exercise,
    *,
    solutions: Path | None = None,
    starter: WarmStarter | None = None,
    pytest_args: Sequence[str] = (),
    cancel: threading.Event | None = None,
    references: bool = True,
    kept_in: Path | None = None,
) -> ExerciseResult:
    """Run ``exercise``'s tests against the student's files, or against ``solutions`` when given.

    With a ``starter`` (watch mode), the child is forked from a warm process that has imported
    pytest already; it is a process group of its own all the same, and is treated like any other.
    ``pytest_args`` go on pytest's command line (``grader mutants`` passes ``-x``). When ``cancel`` is
    set while the child runs, the child and all it started are killed and :class:`Cancelled` is raised:
    a thread in a pool cannot be interrupted by Ctrl-C, so the main thread sets the event instead.
    ``references=False`` (the student's own checks) leaves out the tests marked ``reference``: see
    :func:`without_references`. ``kept_in``: where the collection pass is kept between commands
    (see :func:`expected_tests`).

    The student's code runs only after the collection pass (:func:`expected_tests`) has said which
    tests count. A cold child is started first all the same: it imports pytest and the course's
    plugins while the collection pass runs, then waits for its secret, which is handed over only
    once the pass is done (:meth:`_Link.deliver`). Canaries are added when the student's code is
    graded (no ``solutions``) and every test is meant to run (no ``-x``).
    """
    collect_args = tuple(pytest_args)  # the pass collects every test; references=False leaves some out
    if not references:
        pytest_args = without_references(pytest_args)
    expected: dict[str, dict] | None = None
    if starter is not None:  # a warm fork reads its secret from a file at once: collect first
        expected = expected_tests(
            course, exercise, collect_args, cancel, references=references, kept_in=kept_in,
            # A resident that is only now starting would keep the pass waiting: it runs cold meanwhile.
            starter=starter if starter.ready else None,
        )
    if cancel is not None and cancel.is_set():
        raise Cancelled(exercise.name)
    canaries = [] if solutions is not None or any(a.split("=")[0] in STOP_EARLY for a in pytest_args) else _make_canaries()
    secret = {"key": secrets.token_hex(32), "mode": "run", "canaries": canaries}
    with tempfile.TemporaryDirectory(prefix="grader-") as scratch:
        output_file = Path(scratch) / "output.txt"
        run_id = uuid.uuid4().hex
        env = {k: v for k, v in os.environ.items() if k != "KATA_SOLUTIONS"}
        # Only the plugins grading needs: whatever else is installed (hypothesis, say) adds start-up
        # time to every run and may change how tests behave.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        env[RUN_ID_VARIABLE] = run_id
        env["KATA_MEMORY_LIMIT"] = str(MEMORY_LIMIT)
        env["KATA_FILE_LIMIT"] = str(FILE_LIMIT)
        if solutions is not None:
            env["KATA_SOLUTIONS"] = str(solutions)
        link = _link(Path(scratch), secret, inherited=starter is None)
        started = time.monotonic()
        survivors = 0
        with open(output_file, "wb") as output:
            process: subprocess.Popen[bytes] | WarmProcess
            try:
                if starter is not None:
                    argv = pytest_argv(course, exercise)[3:] + list(pytest_args) + [link.option]  # after `python -m pytest`
                    process = starter.launch(argv, env, str(course.root), str(output_file))
                else:
                    process = subprocess.Popen(
                        pytest_argv(course, exercise) + list(pytest_args) + [link.option],
                        cwd=course.root,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        pass_fds=link.pass_fds,
                    )
            except BaseException:
                link.started()
                link.close_secret()
                link.channel.close()
                raise
            link.started()
            try:
                if starter is None:
                    # While the child starts up:
                    expected = expected_tests(course, exercise, collect_args, cancel, references=references, kept_in=kept_in)
                    link.deliver()
                ending = _wait(process, link.channel, exercise.time_limit, cancel)
                if ending == EXITED:
                    survivors = (
                        len(_processes_of_run(run_id))
                        or _group_alive(process.pid)
                        or getattr(process, "leftovers", 0)  # a warm run's orphans, already stopped
                    )
            finally:
                # On every path, Ctrl-C included: what the tests left behind goes with the child.
                _kill_everything(process, run_id)
                link.close_secret()  # (a collection pass that was cancelled never delivered it)
                link.channel.close()  # after the kill: what is read is all the child ever wrote
        if ending == CANCELLED_RUN:
            raise Cancelled(exercise.name)
        channel = link.channel
        run = _Run(ending, process.returncode, time.monotonic() - started, survivors=survivors)
        run.events = channel.events
        run.problems = channel.problems
        run.canaries = canaries
        run.output = _tail(output_file, OUTPUT_TAIL)
        if ending == EXITED and channel.finish is None:
            run.crash_dump = _faulthandler_dump(_tail(output_file, CRASH_TAIL))
    return _interpret(course, exercise, run, expected)


# --- waiting for the child, and stopping everything it started --------------------------------------


def _wait(
    process: subprocess.Popen[bytes], channel: _Channel, time_limit: float, cancel: threading.Event | None = None
) -> str:
    """Wait for the child to exit, to run out of time, to hang after its tests finished, or to be cancelled.

    The channel is read on every look, so that the child never waits on a full pipe.
    """
    deadline = time.monotonic() + time_limit
    finish: dict | None = None
    finished_at = 0.0
    interval = 0.005  # a short run should not wait out a long poll interval
    while True:
        writing = channel.drain()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0 if writing else interval)
            return EXITED
        if writing:
            # Wake as soon as the child writes: it writes a line per test, and a child that fills
            # the pipe (64 kB) stops until it is read. Its exit ends the stream, which wakes us too.
            select.select([channel.fd], [], [], interval)
        interval = min(interval * 1.5, POLL_INTERVAL)
        if cancel is not None and cancel.is_set():
            return CANCELLED_RUN
        now = time.monotonic()
        if finish is None:
            channel.drain()
            finish = channel.finish
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


def _interpret(course: Course, exercise: Exercise, run: _Run, expected: dict[str, dict] | None = None) -> ExerciseResult:
    canary_names = {c["name"] for c in run.canaries}
    canary_reports = {
        e["nodeid"].rsplit("::", 1)[-1]: e
        for e in run.events
        if e.get("event") == "test" and e.get("nodeid", "").rsplit("::", 1)[-1] in canary_names
    }
    run.events = [
        e for e in run.events if not (e.get("event") in ("test", "start") and e.get("nodeid", "").rsplit("::", 1)[-1] in canary_names)
    ]
    result = _verdict(course, exercise, run)
    finish = next((e for e in run.events if e["event"] == "finish"), None)
    normal_end = finish is not None and run.ending != TIMED_OUT_RUN and result.status in (PASSED, FAILED)
    _account(result, expected, normal_end=normal_end)
    problems = list(run.problems)
    # A canary that reported is evidence however the run ended; one that never reported only when the
    # session ran to its end (a crash or a time limit may come before it).
    every_canary_ran = normal_end and not _stopped_early(run)
    possible = expected is None or any(info.get("in_module") for info in expected.values())
    for canary in run.canaries if possible else []:
        report = canary_reports.get(canary["name"], {})
        got = report.get("outcome")
        if got == canary["expect"] or (got is None and not every_canary_ran):
            continue
        if canary["expect"] == "passed" and got in ("failed", "error") and canary["token"] not in report.get("message", ""):
            continue  # it failed, but not its assertion: the student's code broke the process (memory, recursion)
        must = "pass" if canary["expect"] == "passed" else "fail"
        problems.append(f"a test the grader added, which must {must}, reported {got or 'nothing'}")
    if problems:
        result.status = ERROR
        result.tampered = True
        result.message = f"{TAMPERED}: {problems[0]}"
        result.location = ""
        for test in result.tests:
            if not test.reference:
                test.outcome, test.message, test.location = "failed", TAMPERED, ""
    return result


def _stopped_early(run: _Run) -> bool:
    """pytest ended the session before the last test (pytest.exit(), KeyboardInterrupt): canaries may not have run."""
    finish = next((e for e in run.events if e["event"] == "finish"), None)
    return finish is None or finish.get("exitstatus") not in (0, 1)


def _account(result: ExerciseResult, expected: dict[str, dict] | None, *, normal_end: bool) -> None:
    """Count every test that counts: the collection pass's, each once, in its order; a skip only when the course skipped.

    A test the collection pass found and the run did not report is failed; a test the run reported
    and the collection pass did not find is left out (the course has no such test).
    """
    for test in result.tests:
        if test.outcome == "skipped" and not _course_skip(test, expected):
            where = f" ({test.location})" if test.location else ""
            if test.skip_origin == "student":
                test.message = f"your code skipped this test{where}: a skipped test counts as failed"
            else:
                test.message = f"this test was skipped, but not by the course{where}: a skipped test counts as failed"
            test.outcome = "failed"
    if expected is None:
        if result.status in (PASSED, FAILED):
            result.status = PASSED if result.graded and all(t.passed for t in result.graded) else FAILED
        return
    if result.status == ERROR and result.message == NO_TESTS and expected:
        # The course has tests, and none of them reported: they were skipped away at import, say.
        result.message = "none of the exercise's tests reported a result: did your code skip them or stop pytest?"
        result.status = FAILED
        normal_end = True
    reported = {}
    for test in result.tests:
        reported.setdefault(test.nodeid, test)  # the first report stands (a second one is no grader's)
    if normal_end:
        missing = "this test never reported a result, so it counts as failed"
    else:
        missing = f"this test did not run, so it counts as failed: {result.message}" if result.message else "this test did not run"
    tests = []
    for nodeid, info in expected.items():
        test = reported.get(nodeid)
        if test is None:
            test = TestResult(nodeid=nodeid, outcome="failed", message=missing)
        test.spec = info.get("spec", test.spec)
        test.reference = bool(info.get("reference", False))
        test.test_code = info.get("test_code", test.test_code) or test.test_code
        tests.append(test)
    result.tests = tests
    if result.status in (PASSED, FAILED):
        result.status = PASSED if result.graded and all(t.passed for t in result.graded) else FAILED


def _course_skip(test: TestResult, expected: dict[str, dict] | None) -> bool:
    """A skip the course raised: a skip or xfail mark on the test (as collected without the student's code),
    or ``pytest.skip()`` in a course file."""
    if test.skip_origin == "course":
        return True
    if test.skip_origin in ("mark", "xfail"):  # pytest's skipping plugin, on a mark the course may not have put
        mark = "skip_mark" if test.skip_origin == "mark" else "xfail_mark"
        return expected is None or bool(expected.get(test.nodeid, {}).get(mark))
    return False


def _verdict(course: Course, exercise: Exercise, run: _Run) -> ExerciseResult:
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
        result.message = NO_TESTS
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
