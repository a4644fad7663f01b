"""Runs forked from the warm process (watch mode) report and clean up exactly like cold runs."""

from __future__ import annotations

import os
import time

import pytest

from grader import warm
from grader.course import load_course
from grader.results import CRASHED, FAILED, PASSED, TIMED_OUT
from grader.runner import run_exercise

pytestmark = pytest.mark.skipif(not warm.available(), reason="the warm start needs os.fork")


@pytest.fixture(scope="module")
def starter():
    started = warm.WarmStarter()
    yield started
    started.close()
    assert not started.alive()


def run(fake_course, name, starter):
    course = load_course(fake_course.root)
    return run_exercise(course, course.resolve(name), starter=starter)


def test_a_warm_run_reports_like_a_cold_one(fake_course, starter):
    fake_course.add("01_adder")
    stub = run(fake_course, "01", starter)
    assert stub.status == FAILED
    assert stub.first_failure().message == "not written yet: write add() in adder.py"
    assert stub.first_failure().location == "exercises/01_adder/adder.py:4"
    fake_course.solve("01_adder")
    assert run(fake_course, "01", starter).status == PASSED


def test_a_warm_run_sees_each_save(fake_course, starter):
    folder = fake_course.add("01_adder")
    for returned, status in (("a - b", FAILED), ("a + b", PASSED), ("a * b", FAILED)):
        (folder / "adder.py").write_text(f"def add(a, b):\n    return {returned}\n")
        assert run(fake_course, "01", starter).status == status, returned


def test_a_hanging_warm_run_is_stopped_and_the_next_one_runs(fake_course, starter):
    fake_course.add("01_adder", stub="def add(a, b):\n    while True:\n        pass\n", time_limit=2, timeout=60)
    fake_course.add("02_subber")
    started = time.monotonic()
    assert run(fake_course, "01", starter).status == TIMED_OUT
    assert time.monotonic() - started < 15
    assert run(fake_course, "02", starter).status == FAILED


def test_a_crashing_warm_run_is_reported(fake_course, starter):
    fake_course.add("01_adder", stub="import os\ndef add(a, b):\n    os._exit(3)\n")
    result = run(fake_course, "01", starter)
    assert result.status == CRASHED and "exit status 3" in result.message
    assert starter.alive()


def test_a_child_that_escapes_the_group_is_stopped_and_noted(fake_course, starter, tmp_path):
    pid_file = tmp_path / "escaped.pid"
    stub = (
        "import os, time\n"
        "def add(a, b):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        f"        open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(600)\n"
        "        os._exit(0)\n"
        "    return a + b\n"
    )
    fake_course.add("01_adder", stub=stub)
    result = run(fake_course, "01", starter)
    assert result.status == PASSED
    assert "left" in result.message and "running after the tests finished" in result.message
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_local_fork_runs_like_a_warm_one_and_keeps_no_private_descriptor(fake_course, tmp_path):
    """A command the resident runs forks its runs itself (warm.LocalForker): same verdicts, and the
    student's code inherits none of the command's own descriptors (the resident's report pipe)."""
    read_end, write_end = os.pipe()
    pipe = os.fstat(write_end).st_ino  # both ends'; the numbers themselves may be reused by files the run opens
    fake_course.add("01_adder", stub=(
        "import os\n"
        "held = False\n"
        "for fd in range(3, 256):\n"
        "    try:\n"
        f"        held = held or os.fstat(fd).st_ino == {pipe}\n"
        "    except OSError:\n"
        "        pass\n"
        f"open({str(tmp_path / 'seen')!r}, 'w').write('held' if held else 'closed')\n"
        "def add(a, b):\n    return a + b\n"
    ))
    try:
        result = run(fake_course, "01", warm.LocalForker(private=(read_end, write_end)))
        assert result.status == PASSED, result.message
        assert (tmp_path / "seen").read_text() == "closed"
    finally:
        os.close(read_end)
        os.close(write_end)
