"""The resident warm process: reused by the next check, stopped when idle, stale or asked, never leaking a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import resident, warm

pytestmark = pytest.mark.skipif(not warm.available(), reason="a resident warm process needs os.fork")

# The fake exercise's test says which processes forked it (its parent and grandparent: a command
# handed to the resident forks its run itself), and may hold the run open.
TESTS = """
import os
import time
from {module} import add


def test_adds():
    with open(f"/proc/{{os.getppid()}}/stat") as stat:
        grandparent = stat.read().rsplit(")", 1)[1].split()[1]
    with open(os.environ["KATA_TEST_PARENTS"], "a") as record:
        record.write(f"{{os.getppid()}} {{os.getpid()}} {{grandparent}}\\n")
    time.sleep(float(os.environ.get("KATA_TEST_HOLD", "0")))
    assert add(1, 2) == 3
"""


@pytest.fixture
def course(fake_course, tmp_path, monkeypatch):
    fake_course.add("01_adding", tests=TESTS)
    fake_course.solve("01_adding")
    monkeypatch.setenv("KATA_RESIDENT", "1")
    monkeypatch.setenv("KATA_TEST_PARENTS", str(tmp_path / "parents"))
    yield fake_course
    resident.stop(fake_course.root)
    assert resident_pid(fake_course.root) is None, "the resident is still running after stop()"


def resident_pid(root: Path) -> int | None:
    """The pid of the process serving this course's socket, found by its command line."""
    path = resident.socket_path(root)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if str(path).encode() in command and b"grader.resident" in command and state != "Z":
                return int(entry)
    return None


def start_check(course, hold: float = 0) -> subprocess.Popen[str]:
    (course.root / ".grader" / "state.json").unlink(missing_ok=True)  # a real run, not the cached result
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "check", "01"], env={**os.environ, "KATA_TEST_HOLD": str(hold)},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def check(course) -> subprocess.CompletedProcess[str]:
    process = start_check(course)
    output, _ = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


def parents(tmp_path: Path) -> list[int]:
    return [int(line.split()[0]) for line in (tmp_path / "parents").read_text().splitlines()]


def forked_in(serving: int | None, tmp_path: Path) -> list[bool]:
    """For each run so far: whether it was a fork of the resident, or of a command the resident ran."""
    lines = (tmp_path / "parents").read_text().splitlines()
    return [serving in (int(line.split()[0]), int(line.split()[2])) for line in lines]


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.02)


def test_the_next_check_is_forked_from_the_resident_the_first_started(course, tmp_path):
    first = check(course)
    assert first.returncode == 0, first.stdout
    serving = resident_pid(course.root)
    assert serving is not None, "expected the first check to leave a resident warm process"
    second = check(course)
    assert second.returncode == 0, second.stdout
    assert parents(tmp_path)[0] == serving, f"expected the first run forked from the resident {serving}"
    assert forked_in(serving, tmp_path) == [True, True], "expected the second check handed to the resident, and forked there"
    assert (course.root / ".grader" / "collected").is_dir(), "expected the collection pass kept for the next check"


def test_an_idle_resident_exits_and_removes_its_socket(course, monkeypatch):
    monkeypatch.setenv(resident.IDLE_VARIABLE, "1")
    assert check(course).returncode == 0
    assert resident_pid(course.root) is not None
    wait_until(lambda: resident_pid(course.root) is None, 10, "expected the idle resident to exit")
    assert not resident.socket_path(course.root).exists(), "expected the socket gone with the resident"


def test_a_check_while_the_resident_runs_another_runs_cold(course, tmp_path):
    assert check(course).returncode == 0
    serving = resident_pid(course.root)
    held = start_check(course, hold=3)
    try:
        wait_until(lambda: len(parents(tmp_path)) == 2, 30, "expected the held run to start")
        other = check(course)
        assert other.returncode == 0, other.stdout
        assert not forked_in(serving, tmp_path)[2], "expected the check that came while the resident was busy to run cold"
    finally:
        held.communicate(timeout=60)
    assert held.returncode == 0
    assert forked_in(serving, tmp_path)[1]


def test_a_check_killed_mid_run_takes_its_run_with_it(course, tmp_path):
    assert check(course).returncode == 0
    held = start_check(course, hold=60)
    wait_until(lambda: len(parents(tmp_path)) == 2, 30, "expected the held run to start")
    run = int((tmp_path / "parents").read_text().splitlines()[1].split()[1])
    held.send_signal(signal.SIGKILL)
    held.communicate(timeout=10)
    wait_until(lambda: not Path(f"/proc/{run}").exists() or "Z" in Path(f"/proc/{run}/stat").read_text().split()[2],
               10, f"expected the run {run} stopped once its check was killed")
    assert check(course).returncode == 0, "expected the resident to serve the next check"


def test_a_stale_resident_says_so_and_exits(course, tmp_path):
    assert check(course).returncode == 0
    serving = resident_pid(course.root)
    os.utime(resident.__file__)  # as if the grader had been upgraded since the resident imported it
    assert check(course).returncode == 0
    wait_until(lambda: resident_pid(course.root) != serving, 10, "expected the stale resident to exit")
    assert not forked_in(serving, tmp_path)[1], "expected the check that found it stale to run cold"


@pytest.mark.parametrize("setting", [{"KATA_RESIDENT": "0"}, {"KATA_RESIDENT": None, "CI": "true"}], ids=["off", "in-ci"])
def test_no_resident_when_it_is_turned_off(course, monkeypatch, setting):
    for name, value in setting.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    assert check(course).returncode == 0
    assert resident_pid(course.root) is None


def test_the_kept_collection_follows_the_tests(course):
    assert "1 of 1 tests pass" in check(course).stdout
    tests = course.root / "exercises" / "01_adding" / "test_adding.py"
    tests.write_text(tests.read_text() + "\n\ndef test_adds_again():\n    assert add(2, 2) == 4\n")
    again = check(course)
    assert "2 of 2 tests pass" in again.stdout, again.stdout
    assert len(list((course.root / ".grader" / "collected").iterdir())) == 1, "expected the old pass dropped"


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_the_wait_for_a_run_hears_its_end_and_a_client_hanging_up(pidfd, monkeypatch, tmp_path):
    import socket

    if not pidfd or not hasattr(os, "pidfd_open"):
        monkeypatch.delattr(os, "pidfd_open", raising=False)  # macOS has none
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "s"))
    listener.listen(1)
    ours, theirs = socket.socketpair()
    with listener, ours, theirs:
        quick = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
        assert resident._wait_for_run(quick.pid, ours, listener) == 3
        quick.returncode = 3  # reaped above: keep Popen from waiting for it again
        slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        theirs.close()  # the client hangs up: the run is stopped
        assert resident._wait_for_run(slow.pid, ours, listener) == -signal.SIGKILL
        slow.returncode = -signal.SIGKILL


def test_a_thread_left_running_gets_the_cold_runs_note(course):
    (course.root / "exercises" / "01_adding" / "adding.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n"
        "def add(a, b):\n    return a + b\n"
    )
    first = check(course)  # starts the resident
    second = check(course)  # forked from it
    for run in (first, second):
        assert "your code left a thread running after the tests finished" in run.stdout, run.stdout


# --- the way in: commands handed to the resident (grader.shortcut) ------------------------------------


def run_here(course, *args: str) -> subprocess.CompletedProcess[str]:
    (course.root / ".grader" / "state.json").unlink(missing_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], env={**os.environ, "KATA_RESIDENT": "0"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )


def handed(course, *args: str) -> subprocess.CompletedProcess[str]:
    (course.root / ".grader" / "state.json").unlink(missing_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("solved", [True, False], ids=["passing", "failing"])
def test_a_handed_over_command_says_and_exits_as_it_would_here(course, tmp_path, solved):
    if not solved:
        (course.root / "exercises" / "01_adding" / "adding.py").write_text("def add(a, b):\n    return a - b\n")
    assert check(course).returncode in (0, 1)  # leaves a resident
    serving = resident_pid(course.root)
    for args in (("check", "01"), ()):
        here, there = run_here(course, *args), handed(course, *args)
        assert (there.returncode, there.stdout, there.stderr) == (here.returncode, here.stdout, here.stderr)
        if args:
            assert there.returncode == (0 if solved else 1), there.stdout
    runs = forked_in(serving, tmp_path)
    assert runs[-1] and not runs[-2], "expected the last command handed to the resident, the one before run here"


def test_ctrl_c_reaches_a_handed_over_command_and_stops_its_run(course, tmp_path):
    assert check(course).returncode == 0
    serving = resident_pid(course.root)
    held = start_check(course, hold=60)
    wait_until(lambda: len(parents(tmp_path)) == 2, 30, "expected the held run to start")
    assert forked_in(serving, tmp_path)[1], "expected the held check handed to the resident"
    run = int((tmp_path / "parents").read_text().splitlines()[1].split()[1])
    held.send_signal(signal.SIGINT)
    output, _ = held.communicate(timeout=30)
    assert held.returncode == 130, output
    assert "interrupted" in output, output
    wait_until(lambda: not Path(f"/proc/{run}").exists() or "Z" in Path(f"/proc/{run}/stat").read_text().split()[2],
               10, f"expected the run {run} stopped by the Ctrl-C")
    assert check(course).returncode == 0, "expected the resident to serve the next check"


def test_only_the_repeated_commands_are_handed_over(monkeypatch):
    from grader import cli, shortcut

    monkeypatch.setenv("KATA_RESIDENT", "1")
    asked = []
    monkeypatch.setattr(shortcut, "handed_over", lambda args: asked.append(args) or 0)
    monkeypatch.setattr(cli, "main", lambda args: 7)
    assert shortcut.main([]) == 0 and shortcut.main(["check", "02"]) == 0
    assert shortcut.main(["watch"]) == 7 and shortcut.main(["hint", "02"]) == 7
    assert asked == [[], ["check", "02"]]
    monkeypatch.setenv("KATA_RESIDENT", "0")
    assert shortcut.main(["check"]) == 7
