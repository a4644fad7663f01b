"""The grader as a student and CI use it: status, check, hint, report, exit codes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from grader import checksums
from grader.course import load_course


@pytest.fixture
def two_exercises(fake_course):
    fake_course.add("01_adder")
    fake_course.add("02_subber", part=2)
    checksums.record(load_course(fake_course.root))
    return fake_course


def test_status_of_a_fresh_course_lists_everything_not_started(two_exercises, run_grader):
    code, out, err = run_grader()
    assert code == 0, err
    assert "01 adder" in out and "02 subber" in out
    assert out.count("not started") == 2
    assert "0/2 exercises" in out
    assert "Next: 01 adder" in out and "grader check 01" in out


def test_status_counts_a_solved_exercise(two_exercises, run_grader):
    two_exercises.solve("01_adder")
    code, out, _ = run_grader()
    assert code == 0
    assert "passed 2/2" in out
    assert "1/2 exercises" in out
    assert "Next: 02 subber" in out


def test_status_after_everything_is_solved(two_exercises, run_grader):
    two_exercises.solve("01_adder")
    two_exercises.solve("02_subber")
    code, out, _ = run_grader("status")
    assert "2/2 exercises" in out and "Every exercise passes" in out


def test_status_is_answered_from_the_cache_when_nothing_changed(two_exercises, run_grader, monkeypatch):
    two_exercises.solve("01_adder")
    run_grader()
    import grader.progress

    def no_running(*args, **kwargs):
        raise AssertionError("the tests ran again although nothing changed")

    monkeypatch.setattr(grader.progress, "run_exercise", no_running)
    code, out, _ = run_grader()
    assert code == 0 and "passed 2/2" in out


def test_check_shows_the_first_failure_in_plain_words(two_exercises, run_grader):
    code, out, _ = run_grader("check", "1")
    assert code == 1
    assert "0 of 2 tests pass" in out
    assert "test_adds_small_numbers" in out
    assert "not written yet: write add() in adder.py" in out
    assert "spec:  arithmetic §1" in out
    assert "where: exercises/01_adder/adder.py:4" in out


def test_check_exits_0_when_everything_asked_passes(two_exercises, run_grader):
    two_exercises.solve("01_adder")
    code, out, _ = run_grader("check", "adder")
    assert code == 0
    assert "2 of 2 tests pass" in out


def test_check_without_a_name_checks_the_current_exercise(two_exercises, run_grader):
    two_exercises.solve("01_adder")
    code, out, _ = run_grader("check")
    assert code == 1
    assert "02 subber" in out and "01 adder" not in out


def test_a_wrong_exercise_name_is_a_usage_error(two_exercises, run_grader):
    code, out, err = run_grader("check", "addr")
    assert code == 2
    assert "no exercise 'addr' — did you mean adder?" in err
    assert "Traceback" not in out + err


def test_an_unknown_command_is_a_usage_error(two_exercises, run_grader):
    code, _, err = run_grader("frobnicate")
    assert code == 2
    assert "invalid choice: 'frobnicate'" in err


def test_hints_come_one_more_at_a_time_and_are_remembered(two_exercises, run_grader):
    _, first, _ = run_grader("hint", "1")
    assert "1/2  first hint" in first and "second hint" not in first
    _, second, _ = run_grader("hint", "01")
    assert "1/2  first hint" in second and "2/2  second hint" in second
    assert "That was the last hint" in second


def test_a_corrupt_state_file_is_rebuilt_with_a_notice(two_exercises, run_grader):
    state = two_exercises.root / ".grader" / "state.json"
    state.parent.mkdir()
    state.write_text("{not json")
    code, out, err = run_grader()
    assert code == 0
    assert "was unreadable and has been rebuilt" in err
    assert "0/2 exercises" in out
    run_grader("hint", "1")
    assert json.loads(state.read_text())["hints"] == {"01_adder": 1}


def test_a_broken_metadata_file_is_a_clear_usage_error(two_exercises, run_grader):
    (two_exercises.root / "exercises" / "01_adder" / "exercise.toml").write_text("titel = 'x'\n")
    code, out, err = run_grader()
    assert code == 2
    assert "unknown key 'titel' (did you mean 'title'?)" in err
    assert "Traceback" not in out + err


def test_no_colour_unless_a_terminal_asks_for_it(two_exercises, run_grader, monkeypatch):
    _, plain, _ = run_grader()
    assert "\033[" not in plain
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, coloured, _ = run_grader()
    assert "\033[" in coloured


def test_report_json_is_exercism_v3(two_exercises, run_grader, tmp_path):
    two_exercises.solve("01_adder")
    target = tmp_path / "results.json"
    code, _, _ = run_grader("report", "--format", "json", "--output", str(target))
    assert code == 1
    document = json.loads(target.read_text())
    assert document["version"] == 3 and document["status"] == "fail"
    names = [t["name"] for t in document["tests"]]
    assert names == [
        "01_adder::test_adds_small_numbers",
        "01_adder::test_adds_negative_numbers",
        "02_subber::test_adds_small_numbers",
        "02_subber::test_adds_negative_numbers",
    ]
    for test in document["tests"]:
        assert set(test) == {"name", "status", "message", "output", "test_code", "task_id", "points", "max_points"}
        assert test["status"] in ("pass", "fail", "error")
    assert document["tests"][2]["message"] == "not written yet: write add() in subber.py"


def test_report_gradescope_splits_points_across_tests(two_exercises, run_grader):
    two_exercises.solve("01_adder")
    _, out, _ = run_grader("report", "--format", "gradescope")
    document = json.loads(out)
    assert set(document) >= {"score", "execution_time", "output", "visibility", "tests"}
    assert document["score"] == 10
    assert [t["max_score"] for t in document["tests"]] == [5, 5, 5, 5]
    assert [t["status"] for t in document["tests"]] == ["passed", "passed", "failed", "failed"]
    for test in document["tests"]:
        assert set(test) >= {"score", "max_score", "status", "name", "number", "output", "tags", "visibility"}


def test_report_junit_is_well_formed(two_exercises, run_grader):
    _, out, _ = run_grader("report", "--format", "junit", "1")
    suites = ET.fromstring(out.split("\n", 1)[1])
    suite = suites.find("testsuite")
    assert suite.get("name") == "01_adder" and suite.get("tests") == "2" and suite.get("failures") == "2"
    assert suite.find("testcase/failure").get("message") == "not written yet: write add() in adder.py"


def test_report_summary_is_a_markdown_table(two_exercises, run_grader):
    two_exercises.solve("01_adder")
    _, out, _ = run_grader("report", "--format", "summary")
    assert "| 01 adder | passed | 2/2 | 10/10 |" in out
    assert "| 02 subber | failed | 0/2 | 0/10 |" in out
    assert "**10/20**" in out


def test_status_imports_neither_pytest_nor_httpx(two_exercises):
    probe = (
        "import sys; from grader.cli import main; code = main([]); "
        "assert 'pytest' not in sys.modules and 'httpx' not in sys.modules, sorted(sys.modules); sys.exit(code)"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr


def test_python_dash_m_grader_works(two_exercises):
    completed = subprocess.run([sys.executable, "-m", "grader", "--version"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and completed.stdout.startswith("grader ")


def test_check_shows_the_runners_note_beside_a_pass(fake_course, run_grader):
    leaves_a_thread = (
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(600,)).start()\n"
        "def add(a, b):\n    return a + b\n"
    )
    fake_course.add("01_adder", stub=leaves_a_thread)
    code, out, _ = run_grader("check", "1")
    assert code == 0
    assert "2 of 2 tests pass" in out
    assert "note: your code left a thread running after the tests finished" in out


def test_an_unknown_option_is_a_usage_error(two_exercises, run_grader):
    code, _, err = run_grader("check", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err


def test_a_missing_course_folder_is_a_clear_usage_error(run_grader, monkeypatch, tmp_path):
    monkeypatch.setenv("KATA_COURSE_ROOT", str(tmp_path / "nowhere"))
    code, out, err = run_grader()
    assert code == 2
    assert "has no exercises/ folder" in err and "Traceback" not in out + err


def test_an_exercise_folder_without_metadata_is_named(two_exercises, run_grader):
    (two_exercises.root / "exercises" / "03_half_done").mkdir()
    code, out, err = run_grader("check", "1")  # the other exercises still work (issue 15)
    assert code == 1 and "01 adder" in out and err == ""
    code, _, err = run_grader("check", "3")
    assert code == 2 and "03_half_done/exercise.toml is missing" in err
