"""Assignments (``assignments.toml``): parsed with one-sentence errors, shown by ``grader``, graded alone by
``grader grade``/``grader report``, by Gradescope's ``run_autograder`` and zipped per assignment; and the
GitHub workflow's verdict per assignment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import pytest

from grader import assignments
from grader.course import load_course

from .conftest import REPO, FakeCourse
from .test_grade import HALF, grade, reports, student_file

AUTOGRADER = REPO / "template" / "autograder"
WORKFLOW = REPO / "template" / ".github" / "workflows" / "grade.yml"

TWO = '''
[[assignment]]
name = "basics"
exercises = ["1", "beta"]
due = 2020-01-10T23:59:00+00:00
points = 100

[[assignment]]
name = "later"
exercises = ["03_gamma"]
due = 2999-06-01
'''


@pytest.fixture
def three(fake_course: FakeCourse) -> FakeCourse:
    for name in ("01_alpha", "02_beta", "03_gamma", "04_delta"):
        fake_course.add(name)
    (fake_course.root / "assignments.toml").write_text(TWO)
    return fake_course


# --- the file -------------------------------------------------------------------------------------------


def test_assignments_are_read_with_exercise_names_due_dates_and_points(three):
    basics, later = assignments.load(load_course(three.root))
    assert basics.name == "basics" and basics.exercises == ("01_alpha", "02_beta")
    assert basics.due == dt.datetime(2020, 1, 10, 23, 59, tzinfo=dt.timezone.utc)
    assert basics.points == Fraction(100) and basics.is_due()
    assert later.exercises == ("03_gamma",) and later.points is None and not later.is_due()
    assert later.due is not None and (later.due.hour, later.due.minute) == (23, 59)  # a date: the end of that day


def test_a_course_without_the_file_has_no_assignments(fake_course):
    fake_course.add("01_alpha")
    assert assignments.load(load_course(fake_course.root)) == []


@pytest.mark.parametrize(
    "text, sentence",
    [
        ('[[assignment]]\nname = "a"\nexercises = ["09"]\n', "assignment 'a' names the exercise '09', which is not in this course"),
        ('[[assignment]]\nname = "a"\nexercises = ["01"]\ndeu = 2026-01-01\n', "unknown key 'deu' (did you mean 'due'?)"),
        ('[[assignment]]\nname = "a"\nexercises = ["01"]\n[[assignment]]\nname = "a"\nexercises = ["02"]\n', "two assignments are named 'a'"),
        ('[[assignment]]\nname = "a"\nexercises = ["01"]\ndue = "friday"\n', "'due' must be a TOML date or date-time"),
        ('[[assignment]]\nname = "a"\nexercises = ["01"]\npoints = 0\n', "'points' must be a positive number"),
        ('[[assignment]]\nname = "a"\nexercises = []\n', "'exercises' must be a non-empty list"),
        ('[[assignment]]\nname = "week 1"\nexercises = ["01"]\n', "'name' must be a word without spaces"),
        ('[[assignment]\n', "assignments.toml is not valid TOML"),
    ],
)
def test_a_wrong_file_is_one_sentence(three, text, sentence):
    with pytest.raises(assignments.AssignmentError) as caught:
        assignments.parse(text, load_course(three.root))
    assert sentence in str(caught.value) and "\n" not in str(caught.value)


def test_an_unknown_assignment_says_did_you_mean(three):
    defined = assignments.load(load_course(three.root))
    with pytest.raises(assignments.AssignmentError, match="no assignment 'basic' — did you mean basics\\?"):
        assignments.find(defined, "basic")
    with pytest.raises(assignments.AssignmentError, match="the assignments are basics, later"):
        assignments.find(defined, "zzz")


# --- grader: the status groups by assignment ------------------------------------------------------------


def test_status_groups_exercises_by_assignment_with_due_dates(three, run_grader):
    three.solve("01_alpha")
    code, out, err = run_grader()
    assert code == 0, err
    lines = out.splitlines()
    basics = next(i for i, line in enumerate(lines) if line.startswith("basics · due 2020-01-10 23:59 UTC"))
    assert "1/2" in lines[basics] and "past due" in lines[basics]
    assert "01 alpha" in lines[basics + 1] and "02 beta" in lines[basics + 2]
    later = next(i for i, line in enumerate(lines) if line.startswith("later · due 2999-06-01 23:59"))
    assert "past due" not in lines[later] and "03 gamma" in lines[later + 1]
    rest = next(i for i, line in enumerate(lines) if line.startswith("Not in an assignment"))
    assert "04 delta" in lines[rest + 1]
    assert "Part I" not in out


def test_status_says_why_when_the_file_is_wrong_and_still_shows_the_parts(three, run_grader):
    (three.root / "assignments.toml").write_text('[[assignment]]\nname = "a"\nexercises = ["42"]\n')
    _, out, err = run_grader()
    assert "names the exercise '42', which is not in this course" in err
    assert "Part I" in out


# --- grader grade --assignment ----------------------------------------------------------------------------


def test_an_assignment_is_graded_alone_with_its_points(three, tmp_path):
    three.solve("01_alpha")
    student_file(three, "02_beta").write_text(HALF)
    three.solve("03_gamma")
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "--assignment", "basics", "--out", str(out))
    assert code == 0, stdout + stderr
    found = reports(out)
    numbers = {t["number"].split(".")[0] for t in found["gradescope"]["tests"]}
    assert numbers == {"1", "2"}, "only the assignment's exercises are graded"
    assert found["gradescope"]["score"] == 75  # 10 + 5 of 20, scaled to the assignment's 100
    assert round(sum(t["max_score"] for t in found["gradescope"]["tests"]), 4) == 100
    points = json.loads((out / "points.json").read_text())
    assert points["assignment"] == "basics" and points["total"] == "75" and points["max_points"] == 100
    assert [e["exercise"] for e in points["exercises"]] == ["01_alpha", "02_beta"]
    assert [e["max_points"] for e in points["exercises"]] == [50, 50]
    assert found["summary"].startswith("**Assignment basics** (due 2020-01-10 23:59 UTC)")
    rows = json.loads((out / "assignments.json").read_text())["assignments"]
    assert [(r["name"], r["status"], r["points"], r["due_passed"]) for r in rows] == [("basics", "failed", 75, True)]
    assert "assignment basics: failed, 75/100 points" in stdout


def test_the_whole_course_has_a_total_per_assignment(three, tmp_path):
    for name in ("01_alpha", "02_beta"):
        three.solve(name)
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "--out", str(out))
    assert code == 0, stdout + stderr
    rows = json.loads((out / "assignments.json").read_text())["assignments"]
    assert [(r["name"], r["status"], r["points"], r["max_points"]) for r in rows] == [
        ("basics", "passed", 100, 100), ("later", "failed", 0, 10),
    ]
    summary = (out / "summary.md").read_text()
    assert "| basics | 2020-01-10 23:59 UTC (passed) | passed | 100/100 |" in summary
    assert "| later | 2999-06-01 23:59 " in summary and "| not passing yet | 0/10 |" in summary
    assert json.loads((out / "points.json").read_text())["assignment"] is None


def test_an_unknown_assignment_exits_2_with_one_sentence(three, tmp_path):
    code, stdout, stderr = grade(three, "--assignment", "basic", "--out", str(tmp_path / "out"))
    assert code == 2
    assert stderr.strip() == "grader: could not grade: no assignment 'basic' — did you mean basics?"
    assert "Traceback" not in stdout + stderr


def test_report_grades_an_assignment_too(three, run_grader):
    three.solve("03_gamma")
    code, out, _ = run_grader("report", "--format", "json", "--assignment", "later")
    assert code == 0
    document = json.loads(out)
    assert document["status"] == "pass" and document["points"] == 10
    assert {t["task_id"] for t in document["tests"]} == {3}
    code, _, err = run_grader("report", "--format", "json", "--assignment", "nope")
    assert code == 2 and "no assignment 'nope'" in err


# --- Gradescope ------------------------------------------------------------------------------------------


def autograder_root(course: FakeCourse, tmp_path: Path, assignment: str | None) -> Path:
    """What Gradescope unpacks: the course (with assignments.toml) in source/, a flat upload in submission/."""
    root = tmp_path / "autograder"
    shutil.copytree(course.root, root / "source")
    (root / "source" / "autograder").mkdir()
    shutil.copy(AUTOGRADER / "run_autograder", root / "source" / "autograder" / "run_autograder")
    if assignment is not None:
        (root / "source" / "autograder" / "assignment").write_text(assignment + "\n")
    (root / "submission").mkdir()
    for name in ("01_alpha", "03_gamma"):
        module = name.split("_", 1)[1]
        shutil.copy(course.root / "solutions" / name / f"{module}.py", root / "submission" / f"{module}.py")
    return root


def run_autograder(root: Path, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("KATA_COURSE_ROOT", "KATA_ASSIGNMENT")}
    environment.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable, **env)
    done = subprocess.run(
        ["bash", str(root / "source" / "autograder" / "run_autograder")],
        capture_output=True, text=True, env=environment, timeout=180, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_grades_the_assignment_baked_into_the_zip(three, tmp_path):
    results = run_autograder(autograder_root(three, tmp_path, "basics"))
    assert {t["number"].split(".")[0] for t in results["tests"]} == {"1", "2"}
    assert results["score"] == 50 and results["extra_data"]["assignment"] == "basics"


def test_run_autograder_takes_the_assignment_from_the_environment_first(three, tmp_path):
    results = run_autograder(autograder_root(three, tmp_path, "basics"), KATA_ASSIGNMENT="later")
    assert {t["number"] for t in results["tests"]} == {"3.1", "3.2"} and results["score"] == 10


def test_run_autograder_says_why_it_could_not_grade_an_unknown_assignment(three, tmp_path):
    results = run_autograder(autograder_root(three, tmp_path, "basic"))
    assert results["score"] == 0 and results["tests"] == []
    assert "no assignment 'basic' — did you mean basics?" in results["output"]


def test_build_zips_makes_one_zip_per_assignment(three, tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    root = three.root
    shutil.copytree(AUTOGRADER, root / "autograder")
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "the course"]):
        subprocess.run(["git", *args], cwd=root, env={**os.environ, **identity}, check=True, capture_output=True)
    zips = tmp_path / "zips"

    def build(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(root / "autograder" / "build_zips.py"), "-o", str(zips), *args],
            capture_output=True, text=True, timeout=120, check=False,
        )

    done = build()
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in zips.iterdir()) == ["autograder-basics.zip", "autograder-later.zip"]
    with zipfile.ZipFile(zips / "autograder-later.zip") as archive:
        names = set(archive.namelist())
        assert {"setup.sh", "run_autograder", "assignments.toml", "exercises/conftest.py"} <= names
        assert archive.read("autograder/assignment").decode().strip() == "later"
    refused = build("--assignment", "basic")
    assert refused.returncode == 2 and "did you mean basics?" in refused.stderr and "Traceback" not in refused.stderr


# --- the GitHub workflow's verdict -------------------------------------------------------------------------


def verdict(tmp_path: Path, rows: list[dict] | None, mode: str, results_status: str = "fail") -> subprocess.CompletedProcess[str]:
    """Run the workflow's Verdict step, as GitHub would, on reports written by hand."""
    import yaml

    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["grade"]["steps"]
    script = next(step for step in steps if step.get("name") == "Verdict")["run"]
    out = tmp_path / "grader-results"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps({"version": 3, "status": results_status, "tests": []}))
    if rows is not None:
        (out / "assignments.json").write_text(json.dumps({"version": 1, "assignments": rows}))
    env = {**os.environ, "GRADE_STATUS": "0", "FAIL_WHEN_TESTS_FAIL": mode}
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


ROWS = [
    {"name": "basics", "status": "passed", "due_passed": True},
    {"name": "later", "status": "failed", "due_passed": False},
]


def test_the_workflow_is_not_red_for_an_assignment_not_yet_due(tmp_path):
    pytest.importorskip("yaml")
    done = verdict(tmp_path, ROWS, "due")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::notice::later does not pass yet" in done.stdout
    assert verdict(tmp_path, ROWS, "true").returncode == 1
    assert verdict(tmp_path, ROWS, "false").returncode == 0


def test_the_workflow_is_red_for_a_failing_assignment_past_its_due_date(tmp_path):
    pytest.importorskip("yaml")
    done = verdict(tmp_path, [{**ROWS[1], "due_passed": True}], "due")
    assert done.returncode == 1
    assert "::error::later does not pass and its due date has passed" in done.stdout
    assert verdict(tmp_path, [{**ROWS[1], "due_passed": True}], "false").returncode == 0


def test_the_workflow_without_assignments_and_a_wrong_setting(tmp_path):
    pytest.importorskip("yaml")
    assert verdict(tmp_path, None, "due").returncode == 0  # nothing is due: later exercises may be unsolved
    assert verdict(tmp_path, None, "true").returncode == 1
    assert verdict(tmp_path, None, "true", results_status="pass").returncode == 0
    wrong = verdict(tmp_path, None, "yes")
    assert wrong.returncode == 1 and "it must be due, true or false" in wrong.stdout
