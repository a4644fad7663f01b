"""Tamper evidence inside the test process (issue 15, part 3, and the results channel of part 2).

Each hostile stub below is what a determined student could write in their own file, 2–15 lines, and
each runs in a real child process, as grading does. Every one scores 0 or exactly its honest share,
with a plain sentence; an honest half-solution scores exactly its share.
"""

from __future__ import annotations

import pytest

from grader import warm
from grader.course import load_course
from grader.results import CRASHED, ERROR, FAILED, PASSED, points_earned
from grader.runner import TAMPERED, run_exercise
from tests.conftest import TESTS as ADD_TESTS

# The fake course's two add() tests, and two for mul(): a stub that gets half right scores half.
TESTS = ADD_TESTS.replace("import add\n", "import add, mul\n") + '''

def test_multiplies_small_numbers():
    got = mul(2, 3)
    assert got == 6, f"expected 6, got {{got!r}}"


def test_multiplies_by_a_negative_number():
    got = mul(-2, 3)
    assert got == -6, f"expected -6, got {{got!r}}"
'''
SOLUTION = '''
def add(a, b):
    return a + b


def mul(a, b):
    return a * b
'''
HALF = '''
def add(a, b):
    return a + b


def mul(a, b):
    raise NotImplementedError("write mul() in calc.py")
'''
# What a cheat leaves of the exercise: every test fails on it, so every pass it reports is forged.
UNWRITTEN = '''

def add(a, b):
    raise NotImplementedError


def mul(a, b):
    raise NotImplementedError
'''
NAMES = [
    "test_adds_small_numbers",
    "test_adds_negative_numbers",
    "test_multiplies_small_numbers",
    "test_multiplies_by_a_negative_number",
]


def grade(fake_course, stub, *, tests=TESTS, starter=None):
    folder = fake_course.add("01_calc", solution=SOLUTION, tests=tests)
    (folder / "calc.py").write_text(stub)  # as written: the fixture would format() it
    course = load_course(fake_course.root)
    exercise = course.resolve("01")
    result = run_exercise(course, exercise, starter=starter)
    return result, points_earned(exercise, result)


def assert_tampered(result, points):
    assert points == 0
    assert result.tampered
    assert result.status == ERROR
    assert result.message.startswith(TAMPERED), result.message
    assert result.passed_count == 0
    assert [t.name for t in result.tests] == NAMES  # the canaries are never shown


def grade_cheat(fake_course, cheat):
    """Grade ``cheat`` followed by UNWRITTEN: it must be caught, with 0 points. The result, for its message."""
    result, points = grade(fake_course, cheat + UNWRITTEN)
    assert_tampered(result, points)
    return result


# --- honest work scores exactly its share -------------------------------------------------------------


def test_an_honest_half_solution_scores_exactly_half(fake_course):
    result, points = grade(fake_course, HALF)
    assert not result.tampered, result.message
    assert result.status == FAILED
    assert [t.name for t in result.tests] == NAMES  # the canaries ran, and are not in the result
    assert (result.passed_count, result.total_count) == (2, 4)
    assert points == 5.0


def test_a_finished_exercise_scores_everything(fake_course):
    result, points = grade(fake_course, SOLUTION)
    assert not result.tampered, result.message
    assert result.status == PASSED
    assert points == 10.0


def test_the_collection_pass_runs_none_of_the_students_code(fake_course, tmp_path):
    marker = tmp_path / "imports.txt"
    stub = f"open({str(marker)!r}, 'a').write('imported\\n')\n" + SOLUTION
    _, points = grade(fake_course, stub)
    assert points == 10.0
    assert marker.read_text() == "imported\n"  # once: the real run; the collection pass had a stand-in


def test_the_child_finds_no_results_path_in_its_environment(fake_course, tmp_path):
    seen = tmp_path / "environment.txt"
    stub = f"import os\nopen({str(seen)!r}, 'w').write('\\n'.join(os.environ))\n" + SOLUTION
    grade(fake_course, stub)
    assert "KATA_RESULTS" not in seen.read_text().split("\n")


# --- skips: the student's leave no test out; the course's stay skips ----------------------------------


def test_pytest_skip_in_every_function_scores_zero(fake_course):
    stub = '''
import pytest


def add(a, b):
    pytest.skip("not today")


def mul(a, b):
    pytest.skip("not today")
'''
    result, points = grade(fake_course, stub)
    assert points == 0
    assert (result.passed_count, result.total_count) == (0, 4)
    assert result.status == FAILED
    first = result.first_failure()
    assert first.outcome == "failed"
    assert first.message == "your code skipped this test (exercises/01_calc/calc.py:6): a skipped test counts as failed"


def test_skipping_half_of_a_half_solution_scores_exactly_its_share(fake_course):
    stub = HALF.replace('raise NotImplementedError("write mul() in calc.py")', '__import__("pytest").skip("later")')
    result, points = grade(fake_course, stub)
    assert (result.passed_count, result.total_count) == (2, 4)
    assert points == 5.0


def test_skipping_every_test_at_import_scores_zero(fake_course):
    stub = 'import pytest\npytest.skip("nothing here", allow_module_level=True)\n' + SOLUTION
    result, points = grade(fake_course, stub)
    assert points == 0
    assert (result.passed_count, result.total_count) == (0, 4)
    assert result.first_failure().message == "this test never reported a result, so it counts as failed"


def test_a_skip_the_course_raises_stays_a_skip(fake_course):
    tests = TESTS.replace(
        "def test_adds_negative_numbers():",
        '@pytest.mark.skipif(True, reason="not on this platform")\ndef test_adds_negative_numbers():',
    ).replace(
        "def test_multiplies_small_numbers():\n",
        'def test_multiplies_small_numbers():\n    pytest.skip("the course skips this one")\n',
    )
    result, points = grade(fake_course, SOLUTION, tests=tests)
    assert not result.tampered, result.message
    assert result.status == PASSED
    outcomes = {t.name: t.outcome for t in result.tests}
    assert outcomes["test_adds_negative_numbers"] == "skipped"
    assert outcomes["test_multiplies_small_numbers"] == "skipped"
    assert (result.passed_count, result.total_count) == (2, 2)
    assert points == 10.0


def test_a_skip_mark_added_by_the_students_code_counts_as_failed(fake_course):
    stub = '''
import gc
import pytest


def add(a, b):
    # Skip every test still to come by giving it a skip mark: pytest's own skipping plugin raises it.
    for thing in gc.get_objects():
        if isinstance(thing, pytest.Function):
            thing.add_marker(pytest.mark.skip(reason="later"))
    return a + b


def mul(a, b):
    return 0
'''
    result, points = grade(fake_course, stub)
    assert points < 10.0 / 4 * 2 + 1e-9  # the two add() tests at most: every marked skip failed
    assert all(t.outcome != "skipped" for t in result.tests)


# --- replacing pytest's reporting, or the grader's plugin ---------------------------------------------


def test_patching_function_runtest_scores_zero(fake_course):
    cheat = '''
import _pytest.python

_pytest.python.Function.runtest = lambda self: None
'''
    result = grade_cheat(fake_course, cheat)
    assert "Function.runtest was replaced" in result.message


def test_patching_testreport_scores_zero(fake_course):
    cheat = '''
from _pytest.reports import TestReport

_original = TestReport.from_item_and_call


def _passing(cls, item, call):
    report = _original.__func__(cls, item, call)
    report.outcome, report.longrepr = "passed", None
    return report


TestReport.from_item_and_call = classmethod(_passing)
'''
    grade_cheat(fake_course, cheat)


def test_replacing_the_testreport_class_scores_zero(fake_course):
    cheat = '''
import _pytest.runner
from _pytest.reports import TestReport


class Passing(TestReport):
    @classmethod
    def from_item_and_call(cls, item, call):
        report = TestReport.from_item_and_call(item, call)
        report.outcome, report.longrepr = "passed", None
        return report


_pytest.runner.TestReport = Passing
'''
    grade_cheat(fake_course, cheat)


def test_wrapping_the_plugins_recorder_scores_zero(fake_course):
    cheat = '''
import sys

_recorder = sys.modules["grader.plugin"]._recorder
_write = _recorder.write


def _forge(event):
    if event.get("event") == "test":
        event = {**event, "outcome": "passed", "message": ""}
    _write(event)


_recorder.write = _forge
'''
    result = grade_cheat(fake_course, cheat)
    assert "recorder was wrapped" in result.message


def test_wrapping_the_recorder_class_scores_zero(fake_course):
    cheat = '''
import sys

_Recorder = sys.modules["grader.plugin"]._Recorder
_write = _Recorder.write


def _forge(self, event):
    if event.get("event") == "test":
        event = {**event, "outcome": "passed", "message": ""}
    _write(self, event)


_Recorder.write = _forge
'''
    grade_cheat(fake_course, cheat)


def test_a_plugin_registered_through_gc_scores_zero(fake_course):
    cheat = '''
import gc

import pytest
from _pytest.config import PytestPluginManager


class _Forge:
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        report.outcome, report.longrepr = "passed", None
        return report


next(o for o in gc.get_objects() if isinstance(o, PytestPluginManager)).register(_Forge())
'''
    grade_cheat(fake_course, cheat)


# --- the results channel -------------------------------------------------------------------------------


def test_forged_lines_on_the_channel_then_os_exit_score_zero(fake_course):
    stub = '''
import json
import os

NAMES = ["test_adds_small_numbers", "test_adds_negative_numbers",
         "test_multiplies_small_numbers", "test_multiplies_by_a_negative_number"]


def add(a, b):
    lines = [{"event": "test", "nodeid": f"exercises/01_calc/test_calc.py::{name}", "outcome": "passed"} for name in NAMES]
    lines.append({"event": "finish", "exitstatus": 0, "threads": []})
    data = "".join("0" * 32 + " " + json.dumps(line) + "\\n" for line in lines).encode()
    for fd in range(3, 256):  # every descriptor the process has: one of them is the channel
        try:
            os.write(fd, data)
        except OSError:
            pass
    os._exit(0)


mul = add
'''
    result, points = grade(fake_course, stub)
    assert_tampered(result, points)
    assert "not written by the grader's plugin" in result.message


def test_truncation_scores_exactly_the_tests_that_passed(fake_course):
    stub = '''
import os


def add(a, b):
    return a + b


def mul(a, b):
    os._exit(0)  # end the run before the other tests can fail
'''
    result, points = grade(fake_course, stub)
    assert result.status == CRASHED
    assert not result.tampered
    assert [t.name for t in result.tests] == NAMES
    assert (result.passed_count, result.total_count) == (2, 4)
    assert points == 5.0
    never_ran = result.tests[3]
    assert never_ran.outcome == "failed"
    assert never_ran.message.startswith("this test did not run, so it counts as failed: the test process ended")


@pytest.mark.skipif(not warm.available(), reason="the warm start needs os.fork")
def test_a_warm_run_has_the_same_channel_and_checks(fake_course):
    starter = warm.WarmStarter()
    try:
        result, points = grade(fake_course, HALF, starter=starter)
        assert not result.tampered, result.message
        assert (result.passed_count, result.total_count, points) == (2, 4, 5.0)
        fake_course.root.joinpath("exercises", "01_calc", "calc.py").write_text(
            "import _pytest.python\n_pytest.python.Function.runtest = lambda self: None\n" + HALF
        )
        course = load_course(fake_course.root)
        exercise = course.resolve("01")
        cheat = run_exercise(course, exercise, starter=starter)
        assert_tampered(cheat, points_earned(exercise, cheat))
    finally:
        starter.close()


def test_turning_the_checks_off_leaves_the_canaries_to_catch_it(fake_course):
    cheat = '''
import sys

import _pytest.python

sys.modules["grader.plugin"]._checks.armed = False  # no more identity checks...
_pytest.python.Function.runtest = lambda self: None  # ...so every test "passes", the canary that must fail too
'''
    result = grade_cheat(fake_course, cheat)
    assert "a test the grader added, which must fail, reported passed" in result.message


def test_an_expected_failure_is_the_courses_to_declare(fake_course):
    # The course marks one test xfail (a peer known to break a rule); the student's pytest.xfail() is no mark.
    tests = TESTS.replace(
        "def test_adds_negative_numbers():",
        '@pytest.mark.xfail(reason="a known bug of the peer", strict=True)\ndef test_adds_negative_numbers():',
    ).replace('assert got == -3, f"expected -3', 'assert got == 3, f"expected 3')
    stub = SOLUTION.replace("return a * b", '__import__("pytest").xfail("not mine")')
    result, points = grade(fake_course, stub, tests=tests)
    assert not result.tampered, result.message
    outcomes = {t.name: t.outcome for t in result.tests}
    assert outcomes["test_adds_negative_numbers"] == "skipped"  # the course's xfail: out of the denominator
    assert outcomes["test_multiplies_small_numbers"] == "failed"  # the student's: a failure
    assert (result.passed_count, result.total_count, points) == (1, 3, 10 / 3)
