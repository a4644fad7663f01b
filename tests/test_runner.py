"""Running an exercise in a child process: results, plain messages, and isolation from broken code."""

from __future__ import annotations

import os
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


# --- reference cases: the student's checks leave them out, verify and grade run them -------------------

PROVEN_TESTS = '''
import os

import pytest
from {module} import add


def peer_add(a, b):
    return a + b


@pytest.mark.parametrize(
    "implementation",
    [pytest.param("peer", marks=pytest.mark.reference, id="peer"), pytest.param("yours", id="yours")],
)
def test_adds(implementation):
    if implementation == "peer":
        with open(os.environ["REFERENCE_LOG"], "a") as log:  # one line per reference case that ran
            log.write("ran\\n")
    got = (peer_add if implementation == "peer" else add)(1, 2)
    assert got == 3, f"expected 3, got {{got!r}}"
'''


@pytest.fixture
def reference_log(tmp_path, monkeypatch):
    log = tmp_path / "reference.log"
    monkeypatch.setenv("REFERENCE_LOG", str(log))
    return lambda: len(log.read_text().splitlines()) if log.exists() else 0


def test_without_references_the_reference_case_is_not_run_and_not_counted(fake_course, reference_log):
    fake_course.add("01_adder", tests=PROVEN_TESTS)
    fake_course.solve("01_adder")
    full = run(fake_course, "01")
    assert reference_log() == 1
    assert [(t.name, t.reference) for t in full.tests] == [("test_adds[peer]", True), ("test_adds[yours]", False)]
    quick = run(fake_course, "01", references=False)
    assert reference_log() == 1  # not run again
    # Deselected, so not expected either: nothing counts as failed, and the verdict is the same.
    assert (quick.status, quick.message) == (PASSED, "")
    assert [t.name for t in quick.tests] == ["test_adds[yours]"]
    assert (quick.passed_count, quick.total_count) == (full.passed_count, full.total_count) == (1, 1)


def test_a_deselected_reference_case_leaves_a_failing_stub_failing(fake_course, reference_log):
    fake_course.add("01_adder", tests=PROVEN_TESTS)
    result = run(fake_course, "01", references=False)
    assert result.status == FAILED and not result.tampered, result.message
    assert [(t.name, t.outcome) for t in result.tests] == [("test_adds[yours]", "failed")]


def test_a_student_check_skips_reference_cases_and_verify_runs_them(fake_course, reference_log, run_grader):
    fake_course.add("01_adder", tests=PROVEN_TESTS)
    fake_course.solve("01_adder")
    code, out, err = run_grader("check", "01")
    assert code == 0, out + err
    assert reference_log() == 0
    run_grader("verify", "01")
    assert reference_log() == 1  # once: the stub's run proves the test on the peer, the solution's leaves it out


def test_a_narrower_marker_selection_keeps_the_callers_words():
    from grader.runner import without_references

    assert without_references(("-x",)) == ("-x", "-m", "not reference")
    assert without_references(("-m", "spec")) == ("-m", "(spec) and not reference")
    assert without_references(("-x", "-m", "not reference")) == ("-x", "-m", "not reference")


def test_the_students_code_runs_only_after_the_collection_pass(fake_course, tmp_path, monkeypatch):
    # The child starts while the collection pass runs, but gets its secret (and so imports the
    # student's module) only once the pass is over. Slowing the pass down makes an early start show.
    import grader.runner as runner

    imported_at = tmp_path / "imported_at"
    fake_course.add("01_adder", stub=f"import time\nopen({str(imported_at)!r}, 'w').write(repr(time.time()))\n"
                    "def add(a, b):\n    return a + b\n")
    collected_at = []
    real_collect = runner._collect

    def slow_collect(*args):
        found = real_collect(*args)
        time.sleep(1.0)  # not synchronisation: a wider window for a child that does not wait
        collected_at.append(time.time())
        return found

    monkeypatch.setattr(runner, "_collect", slow_collect)
    result = run(fake_course, "01")
    assert result.status == PASSED, result.message
    assert collected_at and float(imported_at.read_text()) > collected_at[0]


def test_one_collection_pass_serves_a_run_with_references_and_one_without(fake_course, reference_log, monkeypatch):
    import grader.runner as runner

    fake_course.add("01_adder", tests=PROVEN_TESTS)
    passes = []
    real_collect = runner._collect
    monkeypatch.setattr(runner, "_collect", lambda *args: passes.append(args) or real_collect(*args))
    course = load_course(fake_course.root)
    exercise = course.resolve("01")
    with_references = runner.expected_tests(course, exercise)
    without = runner.expected_tests(course, exercise, references=False)
    assert len(passes) == 1
    assert [n.rsplit("::", 1)[1] for n in with_references] == ["test_adds[peer]", "test_adds[yours]"]
    assert [n.rsplit("::", 1)[1] for n in without] == ["test_adds[yours]"]


def test_the_channel_says_whether_its_writer_may_write_more():
    """The runner sleeps on the channel only while the child holds it open (a full pipe stops the
    child until it is read); at the end of the stream it waits on the process instead."""
    from grader.runner import _Channel, mac

    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    channel = _Channel(read_end, b"key")
    assert channel.drain() is True  # open, nothing written yet
    payload = b'{"seq": 1, "event": "start", "nodeid": "t"}'
    os.write(write_end, mac(b"key", payload).encode() + b" " + payload + b"\n")
    assert channel.drain() is True
    assert [e["event"] for e in channel.events] == ["start"]
    os.close(write_end)
    assert channel.drain() is False  # the child is gone: nothing more can come
    channel.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a warm process forks")
def test_a_collection_pass_forked_warm_finds_what_a_cold_one_finds_and_runs_no_student_code(fake_course, tmp_path):
    import grader.runner as runner
    from grader.warm import WarmStarter

    imported = tmp_path / "imported"
    fake_course.add("01_adder", tests=PROVEN_TESTS, stub=f"open({str(imported)!r}, 'w').close()\ndef add(a, b):\n    return a + b\n")
    course = load_course(fake_course.root)
    exercise = course.resolve("01")
    cold = runner._collect(course, exercise, (), None)
    starter = WarmStarter(cwd=str(course.root))
    try:
        warm = runner._collect(course, exercise, (), None, starter)
    finally:
        starter.close()
    assert warm is not None and warm == cold
    assert not imported.exists()  # the student's module is blocked in the pass, forked or not
