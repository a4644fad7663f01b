"""Held-back tests (grader/held_back.py): graded by `grader grade` and `grader verify`, counted for the
students, hidden on Gradescope until the due date, and read only by root in the Gradescope image.

Course copies (held-back tests on `solutions`, never on `main`) are tested in tests/test_course_copy.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from grader import held_back
from grader.course import load_course
from grader.verify import verify

from .conftest import REPO, FakeCourse

HELD_BACK = '''
import pytest
from alpha import add

pytestmark = pytest.mark.held_back


def test_held_back_adds_zero():
    assert add(0, 5) == 5


@pytest.mark.parametrize("a, b", [(10, 20), (-3, 3)])
def test_held_back_adds_more(a, b):
    assert add(a, b) == a + b
'''
# Right for the shipped tests (small and negative numbers), wrong for the held-back ones.
SHIPPED_ONLY = '''
def add(a, b):
    if a == 0 or a >= 10 or a + b == 0:
        return -1
    return a + b
'''


def grade(course: FakeCourse, out: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_SOLUTIONS", "FORCE_COLOR")}
    env.update(KATA_COURSE_ROOT=str(course.root), NO_COLOR="1")
    done = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "--out", str(out), *args],
        cwd=course.root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "gradescope.json").read_text())


@pytest.fixture
def alpha(fake_course: FakeCourse) -> FakeCourse:
    fake_course.add("01_alpha")
    folder = fake_course.root / "held_back" / "01_alpha"
    folder.mkdir(parents=True)
    (folder / "test_held_back_alpha.py").write_text(HELD_BACK)
    return fake_course


# --- counting, and what the students read --------------------------------------------------------------


def test_counts_functions_methods_and_parametrized_cases():
    source = HELD_BACK + "\n\nclass TestMore:\n    def test_one(self):\n        pass\n\n    def helper(self):\n        pass\n"
    assert held_back.count_tests(source) == 1 + 2 + 1


def test_a_parametrize_that_cannot_be_counted_is_refused_in_one_sentence():
    source = "import pytest\nCASES = [1, 2]\n\n@pytest.mark.parametrize('x', CASES)\ndef test_x(x):\n    pass\n"
    with pytest.raises(held_back.HeldBackError, match="test_x's parametrize must be written out as a list"):
        held_back.count_tests(source, "held_back/01_alpha/test_held_back_x.py")


def test_a_held_back_file_without_the_marker_is_refused(alpha):
    path = alpha.root / "held_back" / "01_alpha" / "test_held_back_alpha.py"
    path.write_text(HELD_BACK.replace("pytestmark = pytest.mark.held_back\n", ""))
    with pytest.raises(held_back.HeldBackError, match="must mark its tests held back"):
        held_back.counts(alpha.root)


def test_the_count_file_is_generated_from_held_back(alpha):
    assert json.loads(held_back.counts_text(alpha.root)) == {"01_alpha": 3}
    # This repository's own count file is what its held_back/ holds (update_choices.py writes it).
    assert (REPO / "exercises" / "held_back.json").read_text() == held_back.counts_text(REPO)
    assert held_back.counts(REPO).get("02_http_parse", 0) >= 1, "the course should hold back a test of 02"


def test_check_tells_the_student_how_many_tests_are_held_back(fake_course, run_grader):
    fake_course.add("01_alpha")
    fake_course.add("02_beta")
    fake_course.solve("01_alpha")
    (fake_course.root / "exercises" / "held_back.json").write_text('{"01_alpha": 3, "02_beta": 1}\n')
    code, out, _ = run_grader("check", "01")
    assert code == 0, out
    assert "3 more tests run at grading time" in out
    code, out, _ = run_grader("check", "02")
    assert "1 more test run at grading time" in out
    (fake_course.root / "exercises" / "held_back.json").unlink()
    code, out, _ = run_grader("check", "01")
    assert "at grading time" not in out


# --- graded by `grader grade` --------------------------------------------------------------------------


def test_grade_runs_the_held_back_tests_of_the_trusted_source(alpha, tmp_path):
    alpha.solve("01_alpha")
    found = grade(alpha, tmp_path / "solved")
    hidden = [t for t in found["tests"] if "test_held_back" in t["name"]]
    assert len(hidden) == 3 and len(found["tests"]) == 5, found["tests"]
    assert all(t["visibility"] == "after_due_date" and t["status"] == "passed" for t in hidden)
    assert all(t["visibility"] == "visible" for t in found["tests"] if t not in hidden)

    # A submission that passes every shipped test and fails the held-back ones loses their points.
    (alpha.root / "exercises" / "01_alpha" / "alpha.py").write_text(SHIPPED_ONLY)
    found = grade(alpha, tmp_path / "shipped-only")
    passed = {t["name"].split(": ", 1)[1] for t in found["tests"] if t["status"] == "passed"}
    assert passed == {"test_adds_small_numbers", "test_adds_negative_numbers"}, found["tests"]
    assert found["score"] == pytest.approx(4)  # 2 of 5 tests of a 10-point exercise


def test_grade_without_held_back_tests_grades_the_shipped_ones_only(fake_course, tmp_path):
    fake_course.add("01_alpha")
    fake_course.solve("01_alpha")
    found = grade(fake_course, tmp_path / "out")
    assert len(found["tests"]) == 2 and all(t["visibility"] == "visible" for t in found["tests"])


def test_a_committed_source_grades_the_committed_held_back_tests_only(alpha, tmp_path):
    # Like the other trusted files: an uncommitted edit of the instructor's repository changes nothing.
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x.invalid"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "course"]):
        subprocess.run(["git", *args], cwd=alpha.root, env=env, check=True, capture_output=True)
    (alpha.root / "held_back" / "01_alpha" / "test_held_back_uncommitted.py").write_text(
        "import pytest\npytestmark = pytest.mark.held_back\n\ndef test_held_back_never():\n    assert False\n"
    )
    alpha.solve("01_alpha")
    found = grade(alpha, tmp_path / "out")
    names = [t["name"] for t in found["tests"]]
    assert sum("test_held_back" in n for n in names) == 3 and not any("never" in n for n in names), names


# --- proven by `grader verify` -------------------------------------------------------------------------


def test_verify_runs_the_held_back_tests_on_the_stub_and_the_solution(alpha):
    # One held-back test proves nothing (the stub passes it): a problem like any other test's.
    path = alpha.root / "held_back" / "01_alpha" / "test_held_back_alpha.py"
    path.write_text(path.read_text() + "\n\ndef test_held_back_proves_nothing():\n    pass\n")
    course = load_course(alpha.root)
    [verdict] = verify(course, course.exercises, alpha.root / "solutions", jobs=1)
    assert verdict.solution is not None and verdict.stub is not None
    held = [t for t in verdict.solution.tests if held_back.is_held_back(t.nodeid)]
    assert len(held) == 4 and all(t.passed for t in held), verdict.solution.tests
    on_stub = {t.name: t.passed for t in verdict.stub.tests if held_back.is_held_back(t.nodeid)}
    assert on_stub == {
        "test_held_back_adds_zero": False, "test_held_back_adds_more[10-20]": False,
        "test_held_back_adds_more[-3-3]": False, "test_held_back_proves_nothing": True,
    }
    assert "test_held_back_proves_nothing passes on the stub (every graded test must fail on it)" in verdict.problems


# --- the Gradescope image ----------------------------------------------------------------------------------


def test_seal_leaves_instructor_files_to_their_owner(alpha):
    alpha.solve("01_alpha")  # a zip built from `solutions` holds the reference solution there
    sealed = held_back.seal(alpha.root)
    assert set(sealed) == {"exercises/01_alpha/alpha.py", "held_back/01_alpha/test_held_back_alpha.py", "held_back/01_alpha", "held_back"}
    mode = lambda rel: stat.S_IMODE((alpha.root / rel).stat().st_mode)  # noqa: E731
    assert mode("exercises/01_alpha/alpha.py") == 0o600 and mode("held_back") == 0o700
    assert mode("exercises/01_alpha/test_alpha.py") & 0o004, "the course's own tests stay readable"


def test_seal_refuses_a_folder_that_is_not_a_course(tmp_path, capsys):
    assert held_back.main(["seal", str(tmp_path)]) == 2
    assert "usage: python -m grader.held_back seal COURSE_DIR" in capsys.readouterr().err
