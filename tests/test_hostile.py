"""Hostile student code: whatever a stub does, the grader says what happened in one plain sentence, grades
the other exercises, leaves no process or port of the student's behind, and keeps to its time limits.

Each case writes a stub for ``01_hostile`` and grades it beside a solved ``02_adder`` in one pass of the
grader's own loop (``results_for``, what ``grader check`` and ``grader report`` run). Stubs that start
processes or servers write their pids and ports to files in the course folder (``note()``), so that
afterwards the test can check, without psutil, that every such process is dead and every port is free.

Linux and macOS only, like the grader's process groups; escaped children (``os.setsid()``) are found
through ``/proc``, so that case needs Linux, which is what CI runs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader import runner
from grader.course import load_course
from grader.progress import results_for
from grader.results import CRASHED, ERROR, FAILED, PASSED, TIMED_OUT
from grader.state import State
from grader.ui import render_check

# Put before a stub's own code. Braces are doubled later: FakeCourse formats stubs with {module}.
PRELUDE = '''\
import os, pathlib, socket, sys, threading, time

_COURSE = pathlib.Path(__file__).resolve().parents[2]


def note(kind, value):
    """Tell the hostile test a pid or a port: one line in a file of the course folder."""
    with open(_COURSE / kind, "a") as f:
        f.write(f"{value}\\n")


'''

FIRST = "test_adds_small_numbers"  # the first test of the fake course's default tests


def grade(fake_course, stub, *, prelude=True, tests=None, time_limit=20, timeout=5):
    """Grade the hostile stub and a solved exercise beside it; return the hostile result and the wall time."""
    code = (PRELUDE if prelude else "") + textwrap.dedent(stub)
    fake_course.add("01_hostile", stub=_braces(code), tests=tests, time_limit=time_limit, timeout=timeout)
    fake_course.add("02_adder")
    fake_course.solve("02_adder")
    course = load_course(fake_course.root)
    started = time.monotonic()
    pairs = results_for(course, course.exercises, State.for_course(course), run_pristine=True)
    elapsed = time.monotonic() - started
    (_, hostile), (_, normal) = pairs
    # The exercise after the hostile one is graded as if nothing had happened.
    assert (normal.status, normal.passed_count, normal.total_count) == (PASSED, 2, 2), normal
    assert_nothing_left(fake_course.root)
    return hostile, elapsed


def _braces(code: str) -> str:
    return code.replace("{", "{{").replace("}", "}}")


def said(result) -> str:
    """The sentence the student reads: the exercise's own message, or its first failure's."""
    if result.status in (TIMED_OUT, CRASHED, ERROR):
        return result.message
    failure = result.first_failure()
    return failure.message if failure else result.message


def assert_one_sentence(text: str, *words: str) -> None:
    assert text, "the grader said nothing"
    assert "\n" not in text and "Traceback" not in text and len(text) < 300, f"not one plain sentence: {text!r}"
    for word in words:
        assert word in text, f"expected {word!r} in {text!r}"


def assert_nothing_left(root: Path) -> None:
    for pid in _noted(root, "pids"):
        assert _gone(pid), f"process {pid} of the student's code is still running after the grader returned"
    for port in _noted(root, "ports"):
        assert port not in _listening_ports(), f"a socket still listens on port {port} after the grader returned"
        with socket.socket() as client:
            client.settimeout(5)
            assert client.connect_ex(("127.0.0.1", port)) != 0, f"something still accepts connections on {port}"


def _listening_ports() -> set[int]:
    """Every TCP port a socket listens on, on any address (Linux's /proc/net/tcp{,6}; state 0A is LISTEN).

    Not a bind() probe: on a busy machine another program's *client* socket may hold the same port
    number as its local end, which makes bind() fail although nothing listens there.
    """
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _noted(root: Path, kind: str) -> list[int]:
    path = root / kind
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie (dead, its fds closed, waiting for its parent to collect it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def line_of(fake_course, text: str) -> str:
    """``exercises/01_hostile/hostile.py:N``, N being the first line of the stub that holds ``text``."""
    lines = (fake_course.root / "exercises" / "01_hostile" / "hostile.py").read_text().splitlines()
    number = next(n for n, line in enumerate(lines, start=1) if text in line)
    return f"exercises/01_hostile/hostile.py:{number}"


# --- code that crashes, exits, cannot be imported, or fails in a way worth a plain word -----------------


@pytest.mark.parametrize(
    ("stub", "prelude", "status", "words"),
    [
        pytest.param(
            "def add(a, b):\n    os._exit(3)\n",
            True, CRASHED, ["exit status 3", f"while running {FIRST}", "os._exit()"], id="os._exit",
        ),
        pytest.param(
            "def add(a, b):\n    sys.exit(1)\n",
            True, FAILED, ["sys.exit(1)"], id="SystemExit",
        ),
        pytest.param(
            "sys.exit(2)\n\ndef add(a, b):\n    return a + b\n",
            True, ERROR, ["sys.exit(2)", "imported"], id="SystemExit-on-import",
        ),
        pytest.param(
            "def add(a, b)\n    return a + b\n",
            False, ERROR, ["hostile.py has a syntax error on line 1"], id="syntax-error",
        ),
        pytest.param(
            "import no_such_module_anywhere\n\ndef add(a, b):\n    return a + b\n",
            False, ERROR, ["could not import", "No module named 'no_such_module_anywhere'"], id="import-fails",
        ),
        pytest.param(
            "def plus(a, b):\n    return a + b\n",
            False, ERROR, ["cannot import name 'add'", "does hostile.py define add?"], id="name-missing",
        ),
        pytest.param(
            "def add(a, b):\n    return add(a, b)\n",
            True, FAILED, ["recursed without end", "RecursionError"], id="endless-recursion",
        ),
        pytest.param(
            # Through a C call (f(*args)) every level takes C stack: past the raised limit, a segfault
            # (on the usual 8 MiB stack; where it is unlimited, the grader's memory limit ends it).
            "import resource\n"
            "resource.setrlimit(resource.RLIMIT_STACK, (8 * 2**20, resource.getrlimit(resource.RLIMIT_STACK)[1]))\n"
            "sys.setrecursionlimit(10**7)\n\ndef add(a, b):\n    return add(*[a, b])\n",
            True, CRASHED, ["SIGSEGV", "recursed so deep", f"while running {FIRST}"], id="recursion-segfault",
        ),
        pytest.param(
            # pytest ends the whole session: the test that was running must not pass by being left out.
            "def add(a, b):\n    raise KeyboardInterrupt\n",
            True, FAILED, [f"stopped while running {FIRST}", "KeyboardInterrupt"], id="KeyboardInterrupt",
        ),
        pytest.param(
            "def add(a, b):\n    return int(input('a number: '))\n",
            True, FAILED, ["read from standard input"], id="reads-stdin",
        ),
    ],
)
def test_each_misdeed_is_one_plain_sentence(fake_course, stub, prelude, status, words):
    result, elapsed = grade(fake_course, stub, prelude=prelude)
    assert result.status == status, result
    assert_one_sentence(said(result), *words)
    assert "/" not in said(result), "no folders in the sentence, only file names"
    # `grader check` shows it, under the failing test's name when a test failed.
    shown = io.StringIO()
    render_check(load_course(fake_course.root).resolve("01"), result, shown)
    assert said(result) in shown.getvalue()
    if status == FAILED:
        assert FIRST in shown.getvalue()
    assert elapsed < 30


def test_a_segfault_names_the_line_of_the_students_code(fake_course):
    result, _ = grade(fake_course, "import ctypes\n\ndef add(a, b):\n    return ctypes.string_at(0)\n")
    assert result.status == CRASHED
    assert_one_sentence(result.message, "SIGSEGV", f"while running {FIRST}")
    assert result.location == line_of(fake_course, "string_at(0)")
    # The tests that never ran are listed after it, as failed (the runner counts every collected test).
    crashed = next(t for t in result.tests if t.name == FIRST)
    assert crashed.outcome == "failed", crashed


def test_a_syntax_error_points_at_its_line(fake_course):
    result, _ = grade(fake_course, "def add(a, b)\n    return a + b\n", prelude=False)
    assert result.location == "exercises/01_hostile/hostile.py:1"


def test_ten_megabytes_of_output_stay_out_of_the_report(fake_course):
    stub = """
        def add(a, b):
            for _ in range(100_000):
                print("x" * 99)  # 10 MB in all
            return 0
    """
    result, elapsed = grade(fake_course, stub)
    assert result.status == FAILED
    assert_one_sentence(said(result), "expected 3, got 0")
    assert len(json.dumps(result.to_dict())) < 20_000, "the result (and the state file) must stay small"
    assert elapsed < 30


def test_output_without_end_fails_the_test_instead_of_filling_the_disk(fake_course, monkeypatch):
    monkeypatch.setattr(runner, "FILE_LIMIT", 20 * 2**20)  # 20 MiB: the mechanism, at a smaller size
    stub = """
        def add(a, b):
            while True:
                print("x" * 999)
    """
    result, elapsed = grade(fake_course, stub)
    assert result.status == FAILED, result
    assert_one_sentence(said(result), "wrote more than the grader allows")
    assert len(json.dumps(result.to_dict())) < 20_000
    assert elapsed < 30


def test_memory_without_end_is_a_memory_error_not_a_swapping_machine(fake_course, monkeypatch):
    monkeypatch.setattr(runner, "MEMORY_LIMIT", 2**30)  # 1 GiB: the mechanism, at a smaller size
    stub = """
        def add(a, b):
            blocks = []
            for _ in range(60):  # 3 GiB at most, should the limit ever fail to apply
                blocks.append(bytearray(50 * 2**20))
            return a + b
    """
    result, elapsed = grade(fake_course, stub)
    assert result.status == FAILED, result
    assert_one_sentence(said(result), "ran out of memory")
    assert result.first_failure().location == line_of(fake_course, "blocks.append")
    assert elapsed < 30


# --- code that never ends --------------------------------------------------------------------------


def test_a_loop_that_swallows_the_per_test_timeout_is_stopped_at_the_time_limit(fake_course):
    stub = """
        note("pids", os.getpid())

        def add(a, b):
            while True:
                try:
                    time.sleep(0.1)
                except BaseException:  # pytest-timeout's failure, Ctrl-C: all swallowed
                    pass
    """
    result, elapsed = grade(fake_course, stub, time_limit=3, timeout=1)
    assert result.status == TIMED_OUT
    assert_one_sentence(said(result), "time limit of 3 s", f"while running {FIRST}")
    assert result.duration < 3 + 3
    assert elapsed < 3 + 20


def test_a_server_started_on_import_is_stopped_at_the_time_limit(fake_course):
    stub = """
        from wsgiref.simple_server import make_server

        note("pids", os.getpid())
        server = make_server("127.0.0.1", 0, lambda environ, start_response: [])
        note("ports", server.server_port)
        server.serve_forever()  # the classic: a server at module level, not under __main__

        def add(a, b):
            return a + b
    """
    result, elapsed = grade(fake_course, stub, time_limit=3)
    assert result.status == TIMED_OUT
    assert_one_sentence(said(result), "time limit of 3 s", "while importing your code")
    assert elapsed < 3 + 20


# --- code that leaves something running ------------------------------------------------------------


def test_a_thread_left_running_is_stopped_and_the_results_kept(fake_course):
    stub = """
        note("pids", os.getpid())

        def add(a, b):
            threading.Thread(target=time.sleep, args=(3600,), name="forever").start()
            return a + b
    """
    result, elapsed = grade(fake_course, stub, time_limit=60)
    assert (result.status, result.passed_count) == (PASSED, 2)  # the tests decide; the note warns
    assert_one_sentence(result.message, "left a thread running", "forever")
    # Stopped after a short grace, not at the 60 s time limit.
    assert result.duration < runner.FINISH_GRACE + 10
    assert elapsed < runner.FINISH_GRACE + 25


def test_a_server_that_never_stops_is_stopped_and_its_port_freed(fake_course):
    stub = """
        import socketserver

        note("pids", os.getpid())

        def add(a, b):
            server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
            note("ports", server.server_address[1])
            threading.Thread(target=server.serve_forever).start()  # not a daemon, never shut down
            return a + b
    """
    result, elapsed = grade(fake_course, stub, time_limit=60)
    assert result.status == PASSED
    assert_one_sentence(result.message, "left a thread running", "serve_forever")
    assert len(_noted(fake_course.root, "ports")) == 2  # grade() checked both are free
    assert elapsed < runner.FINISH_GRACE + 25


def test_a_port_the_test_wants_taken_by_the_students_code(fake_course, monkeypatch):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("HOSTILE_PORT", str(port))
    stub = """
        squatter = socket.socket()  # bound when imported, and never closed
        squatter.bind(("127.0.0.1", int(os.environ["HOSTILE_PORT"])))
        squatter.listen()
        note("ports", squatter.getsockname()[1])

        def add(a, b):
            return a + b
    """
    tests = """
        import os
        import socket

        from {module} import add


        def test_serves_on_its_port():
            with socket.socket() as server:
                server.bind(("127.0.0.1", int(os.environ["HOSTILE_PORT"])))
    """
    result, _ = grade(fake_course, stub, tests=textwrap.dedent(tests))
    assert result.status == FAILED
    assert_one_sentence(said(result), "port the test needs is already in use", "server your code started")
    assert _noted(fake_course.root, "ports") == [port]  # grade() checked it is free again


def test_a_forked_child_that_outlives_the_tests_is_stopped(fake_course):
    stub = """
        def add(a, b):
            child = os.fork()
            if child == 0:
                try:
                    time.sleep(3600)
                finally:
                    os._exit(0)  # never back into pytest
            note("pids", child)
            return a + b
    """
    result, _ = grade(fake_course, stub)
    assert result.status == PASSED
    assert_one_sentence(result.message, "left 2 processes running")
    assert len(_noted(fake_course.root, "pids")) == 2  # grade() checked both are gone


def test_a_child_that_escapes_the_process_group_is_stopped(fake_course):
    stub = """
        def add(a, b):
            ready_r, ready_w = os.pipe()
            child = os.fork()
            if child == 0:
                try:
                    os.setsid()  # a session of its own: killing the grader's process group misses it
                    os.write(ready_w, b"!")
                    time.sleep(3600)
                finally:
                    os._exit(0)
            os.read(ready_r, 1)  # return only once the child has escaped
            assert os.getpgid(child) != os.getpgid(0)
            note("pids", child)
            return a + b
    """
    result, _ = grade(fake_course, stub)
    assert result.status == PASSED, said(result)
    assert_one_sentence(result.message, "left 2 processes running")
    assert len(_noted(fake_course.root, "pids")) == 2  # grade() checked both are gone


# --- Ctrl-C in the grader ------------------------------------------------------------------------------


def test_ctrl_c_during_check_exits_cleanly(fake_course):
    stub = """
        note("pids", os.getpid())

        def add(a, b):
            while True:
                time.sleep(0.1)
    """
    fake_course.add("01_hostile", stub=_braces(PRELUDE + textwrap.dedent(stub)), time_limit=60, timeout=60)
    fake_course.add("02_adder")
    fake_course.solve("02_adder")
    grader = [sys.executable, "-m", "grader", "check"]
    subprocess.run([*grader, "02"], cwd=fake_course.root, capture_output=True, timeout=60, check=True)
    state_file = fake_course.root / ".grader" / "state.json"
    before = json.loads(state_file.read_text())

    check = subprocess.Popen(
        [*grader, "01"], cwd=fake_course.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not _noted(fake_course.root, "pids"):  # the hanging exercise is running
            assert time.monotonic() < deadline, "the hanging exercise never started"
            assert check.poll() is None, check.communicate()
            time.sleep(0.05)
        check.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = check.communicate(timeout=15)
    finally:
        check.kill()
    assert time.monotonic() - started < 10
    assert check.returncode == 130
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "interrupted" in err
    assert json.loads(state_file.read_text()) == before  # intact, and still valid JSON
    assert_nothing_left(fake_course.root)
