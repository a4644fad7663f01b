"""Running an exercise in a child process: results, plain messages, and isolation from broken code."""

from __future__ import annotations

import time

import pytest

from grader.course import load_course
from grader.results import CRASHED, ERROR, FAILED, PASSED, TIMED_OUT
from grader.runner import run_exercise


def run(fake_course, name, **kwargs):
    course = load_course(fake_course.root)
    return run_exercise(course, course.resolve(name), **kwargs)


def test_a_stub_fails_every_test_with_the_plain_reason(fake_course):
    fake_course.add("01_adder")
    result = run(fake_course, "01")
    assert result.status == FAILED
    assert [t.name for t in result.tests] == ["test_adds_small_numbers", "test_adds_negative_numbers"]
    first = result.first_failure()
    assert first.message == "not written yet: write add() in adder.py"
    assert first.location == "exercises/01_adder/adder.py:4"
    assert first.spec == "arithmetic §1"
    assert "def test_adds_small_numbers" in first.test_code


def test_the_solution_switch_runs_the_reference(fake_course):
    fake_course.add("01_adder")
    result = run(fake_course, "01", solutions=fake_course.root / "solutions")
    assert result.status == PASSED
    assert (result.passed_count, result.total_count) == (2, 2)


def test_an_assertion_message_is_kept_without_pytests_rewrite(fake_course):
    fake_course.add("01_adder", stub="def add(a, b):\n    return a - b\n")
    result = run(fake_course, "01")
    assert result.first_failure().message == "expected 3, got -1"
    assert result.first_failure().location == "exercises/01_adder/test_adder.py:9"


def test_a_hanging_stub_is_reported_as_timed_out_and_the_rest_still_runs(fake_course):
    fake_course.add("01_adder", stub="def add(a, b):\n    while True:\n        pass\n", time_limit=3, timeout=60)
    fake_course.add("02_subber")
    started = time.monotonic()
    hanging = run(fake_course, "01")
    assert time.monotonic() - started < 20
    assert hanging.status == TIMED_OUT
    assert "time limit of 3 s while running test_adds_small_numbers" in hanging.message
    other = run(fake_course, "02")
    assert other.status == FAILED


def test_a_per_test_timeout_fails_that_test_and_moves_on(fake_course):
    fake_course.add("01_adder", stub="import time\ndef add(a, b):\n    time.sleep(30)\n", timeout=1, time_limit=30)
    result = run(fake_course, "01")
    assert result.status == FAILED
    assert len(result.tests) == 2
    assert "ran out of time" in result.first_failure().message
    assert result.first_failure().location == "exercises/01_adder/adder.py:3"


@pytest.mark.parametrize(
    ("stub", "expected"),
    [
        ("import os\ndef add(a, b):\n    os._exit(3)\n", "exit status 3"),
        ("import ctypes\ndef add(a, b):\n    ctypes.string_at(0)\n", "SIGSEGV"),
    ],
    ids=["os._exit", "segfault"],
)
def test_a_crash_is_reported_with_the_running_test(fake_course, stub, expected):
    fake_course.add("01_adder", stub=stub)
    result = run(fake_course, "01")
    assert result.status == CRASHED
    assert expected in result.message
    assert "while running test_adds_small_numbers" in result.message


def test_a_syntax_error_names_the_file_and_line(fake_course):
    fake_course.add("01_adder", stub="def add(a, b)\n    return a + b\n")
    result = run(fake_course, "01")
    assert result.status == ERROR
    assert "syntax error" in result.message
    assert result.location == "exercises/01_adder/adder.py:1"


def test_a_missing_name_is_an_import_error(fake_course):
    fake_course.add("01_adder", stub="def plus(a, b):\n    return a + b\n")
    result = run(fake_course, "01")
    assert result.status == ERROR
    assert "cannot import name 'add'" in result.message


def test_system_exit_in_student_code_fails_the_test_only(fake_course):
    fake_course.add("01_adder", stub="import sys\ndef add(a, b):\n    sys.exit(1)\n")
    result = run(fake_course, "01")
    assert result.status == FAILED
    assert len(result.tests) == 2
