"""`grader grade`: one grading path for CI and Gradescope, in a fresh course tree the submission never wrote.

Every case runs ``python -m grader grade`` in a child, on a fake course (tests/conftest.py), and reads
the four reports it writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import FakeCourse

HALF = '''
def add(a, b):
    return abs(a) + abs(b)  # right for the small numbers, wrong for the negative ones
'''


def grade(course: FakeCourse, *args: str, cwd: Path | None = None, timeout: float = 120) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_SOLUTIONS", "FORCE_COLOR")}
    env["KATA_COURSE_ROOT"] = str(course.root)
    env["NO_COLOR"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "grader", "grade", *args],
        cwd=cwd or course.root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
    )
    return done.returncode, done.stdout, done.stderr


def reports(out: Path) -> dict:
    """The four reports, parsed (each must parse)."""
    found = {
        "gradescope": json.loads((out / "gradescope.json").read_text(encoding="utf-8")),
        "results": json.loads((out / "results.json").read_text(encoding="utf-8")),
        "junit": ET.parse(out / "junit.xml").getroot(),
        "summary": (out / "summary.md").read_text(encoding="utf-8"),
    }
    return found


def scores(gradescope: dict) -> dict[str, float]:
    """Points per exercise number, from gradescope.json."""
    by: dict[str, float] = {}
    for test in gradescope["tests"]:
        number = test["number"].split(".")[0]
        by[number] = round(by.get(number, 0) + test["score"], 4)
    return by


def student_file(course: FakeCourse, name: str) -> Path:
    return course.root / "exercises" / name / f"{name.split('_', 1)[1]}.py"


@pytest.fixture
def three(fake_course: FakeCourse) -> FakeCourse:
    for name in ("01_alpha", "02_beta", "03_gamma"):
        fake_course.add(name)
    return fake_course


# --- an honest submission -------------------------------------------------------------------------------


def test_an_honest_half_solution_scores_exactly_its_share(three, tmp_path):
    three.solve("01_alpha")
    student_file(three, "02_beta").write_text(HALF)
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "--out", str(out))
    assert code == 0, stdout + stderr
    found = reports(out)
    assert scores(found["gradescope"]) == {"1": 10, "2": 5, "3": 0}
    assert found["gradescope"]["score"] == pytest.approx(15)
    assert "**15/30**" in found["summary"]
    assert found["results"]["status"] == "fail"
    suites = {s.get("name"): s for s in found["junit"].iter("testsuite")}
    assert suites["02_beta"].get("failures") == "1" and suites["02_beta"].get("tests") == "2"
    assert "graded   01_alpha/alpha.py: from exercises/01_alpha/alpha.py" in stdout
    assert "total: 15/30 points" in stdout
    assert "Traceback" not in stdout + stderr


def test_named_exercises_only_and_a_fully_solved_course_passes(three, tmp_path):
    for name in ("01_alpha", "02_beta", "03_gamma"):
        three.solve(name)
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "1", "03", "--out", str(out))
    assert code == 0, stdout + stderr
    found = reports(out)
    assert scores(found["gradescope"]) == {"1": 10, "3": 10}
    assert found["results"]["status"] == "pass"


def test_the_default_out_folder_is_grader_results(three):
    three.solve("01_alpha")
    code, stdout, stderr = grade(three, "01")
    assert code == 0, stdout + stderr
    assert scores(reports(three.root / "grader-results")["gradescope"]) == {"1": 10}


# --- nothing of the submission but the student's files is read ------------------------------------------

# Each would change the grade if it were read: a conftest or configuration that breaks or empties the
# run, a test file that always passes, a cache or checksum record that claims a pass.
PLANTED = {
    "exercises/conftest.py": "raise SystemExit('the planted exercises/conftest.py was read')\n",
    "exercises/02_beta/conftest.py": (
        "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"
    ),
    "conftest.py": "raise SystemExit('the planted conftest.py was read')\n",
    "pytest.ini": "[pytest]\naddopts = -p no:grader.plugin --planted-pytest-ini\n",
    "exercises/pytest.ini": "[pytest]\naddopts = --planted-pytest-ini\n",
    "pyproject.toml": "[tool.pytest.ini_options]\naddopts = ['--planted-pyproject']\n",
    "setup.cfg": "[tool:pytest]\naddopts = --planted-setup-cfg\n",
    "tox.ini": "[pytest]\naddopts = --planted-tox-ini\n",
    "exercises/checksums.json": '{"02_beta": {"stubs": {}, "tests": {}}}\n',
    ".grader/state.json": '{"version": 1, "results": {"02_beta": {"status": "passed"}}}\n',
    "exercises/02_beta/test_beta.py": "def test_adds_small_numbers():\n    pass\n\n\ndef test_adds_negative_numbers():\n    pass\n",
    "exercises/02_beta/test_extra.py": "def test_free_points():\n    pass\n",
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_a_planted_file_in_the_submission_changes_nothing(three, tmp_path, planted):
    submission = tmp_path / "submission"
    (submission / "exercises" / "01_alpha").mkdir(parents=True)
    shutil.copy(three.root / "solutions" / "01_alpha" / "alpha.py", submission / "exercises" / "01_alpha" / "alpha.py")
    shutil.copy(student_file(three, "02_beta"), submission / "beta.py")  # the stub, uploaded flat
    target = submission / planted
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(PLANTED[planted])
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "01", "02", "--submission", str(submission), "--out", str(out))
    assert code == 0, stdout + stderr
    found = reports(out)
    assert scores(found["gradescope"]) == {"1": 10, "2": 0}, f"{planted} was read"
    names = {t["name"] for t in found["gradescope"]["tests"]}
    assert "01 alpha: test_adds_small_numbers" in names and not any("free_points" in n for n in names)
    assert "graded   02_beta/beta.py: from beta.py" in stdout


def test_in_a_git_course_the_committed_tests_and_conftest_are_used(three, tmp_path):
    """The CI case: the course folder is both the trusted source (its HEAD) and the submission."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    from grader import checksums
    from grader.course import load_course

    root = three.root
    checksums.record(load_course(root))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "the course")
    # A committed edit to a test file (without its checksum), then uncommitted planted files.
    (root / "exercises/02_beta/test_beta.py").write_text(PLANTED["exercises/02_beta/test_beta.py"])
    git("commit", "-qam", "easier tests")
    (root / "exercises/conftest.py").write_text(PLANTED["exercises/conftest.py"])
    (root / "exercises/02_beta/test_extra.py").write_text(PLANTED["exercises/02_beta/test_extra.py"])
    (root / "pytest.ini").write_text(PLANTED["pytest.ini"])
    three.solve("01_alpha")  # uncommitted student work is graded: it is the submission
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "--out", str(out))
    assert code == 0, stdout + stderr
    assert scores(reports(out)["gradescope"]) == {"1": 10, "2": 0, "3": 0}
    assert "exercises/02_beta/test_beta.py differs from the course's recorded version" in stdout


def test_code_that_writes_into_the_tree_scores_zero_and_spares_the_next_exercise(three, tmp_path):
    cheat = '''
from pathlib import Path

try:  # as root the read-only tree is still writable: the check after the run catches it
    (Path(__file__).resolve().parent.parent / "conftest.py").write_text("import pytest\\npytest.skip('all', allow_module_level=True)\\n")
except OSError:
    pass


def add(a, b):
    return a + b
'''
    student_file(three, "01_alpha").write_text(cheat)
    three.solve("02_beta")
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "01", "02", "--out", str(out))
    assert code == 0, stdout + stderr
    found = scores(reports(out)["gradescope"])
    assert found["2"] == 10, "the next exercise was graded in a tree the previous one changed"
    if os.geteuid() == 0 and "the tests ran as user" not in stdout:
        assert found["1"] == 0
        assert "your code changed the grader's files while its tests ran (exercises/conftest.py)" in stdout
    else:
        assert found["1"] == 10  # the write failed: the tree is read-only to the tests' user


# --- bad input --------------------------------------------------------------------------------------


def test_missing_misplaced_misnamed_and_binary_files_are_each_explained(three, tmp_path):
    submission = tmp_path / "submission"
    (submission / "mywork").mkdir(parents=True)
    shutil.copy(three.root / "solutions" / "01_alpha" / "alpha.py", submission / "alpha (1).py")
    shutil.copy(three.root / "solutions" / "02_beta" / "beta.py", submission / "mywork" / "beta.py")
    (submission / "gamma.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary junk\xff")
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "--submission", str(submission), "--out", str(out))
    assert code == 0, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert "missing  01_alpha/alpha.py: alpha.py was not found" in stdout
    assert "there is alpha (1).py: rename it to alpha.py" in stdout
    assert "mywork/beta.py is in a subfolder the grader does not look in" in stdout
    assert "gamma.py is not a Python source file (it holds binary data)" in stdout
    found = reports(out)
    assert scores(found["gradescope"]) == {"1": 0, "2": 0, "3": 0}
    assert "rename it to alpha.py" in found["gradescope"]["output"]  # the student sees it on Gradescope
    assert "mywork/beta.py" in found["summary"]


def test_an_empty_submission_is_graded_as_nothing_and_says_so(three, tmp_path):
    submission = tmp_path / "empty"
    submission.mkdir()
    out = tmp_path / "out"
    code, stdout, stderr = grade(three, "--submission", str(submission), "--out", str(out))
    assert code == 0, stdout + stderr
    assert stdout.count("missing  ") == 3
    assert reports(out)["gradescope"]["score"] == 0


@pytest.mark.parametrize(
    "args, sentence",
    [
        (["--assignment", "week1"], "this course defines no assignments (no assignments.toml at its root)"),
        (["01", "--assignment", "week1"], "name the exercises or an assignment, not both"),
        (["--submission", "/nonexistent/submission"], "is not a folder"),
        (["42"], "no exercise '42'"),
    ],
)
def test_what_cannot_be_graded_exits_2_with_one_sentence(three, tmp_path, args, sentence):
    code, stdout, stderr = grade(three, *args, "--out", str(tmp_path / "out"))
    assert code == 2
    assert sentence in stderr
    assert "Traceback" not in stdout + stderr
    assert len(stderr.strip().splitlines()) == 1


def test_a_trusted_course_without_exercises_cannot_grade(tmp_path):
    empty = FakeCourse(tmp_path / "course")
    (empty.root / "exercises" / "conftest.py").unlink()
    code, _, stderr = grade(empty, "--out", str(tmp_path / "out"))
    assert code == 2
    assert "could not grade" in stderr and "Traceback" not in stderr


def test_grade_is_in_the_command_list(run_grader):
    code, out, _ = run_grader("--help")
    assert code == 0 and "grade" in out


SANDBOXED_TESTS = '''
import os
from pathlib import Path

from {module} import add


def test_runs_as_another_user_in_a_read_only_tree():
    assert os.getuid() != 0, "the tests ran as root"
    try:
        (Path(__file__).parent / "planted.py").write_text("")
    except OSError:
        pass
    else:
        raise AssertionError("the tree was writable")
    home = Path(os.environ["HOME"])
    (home / "scratch.txt").write_text("the private HOME is writable")
    assert add(1, 2) == 3
'''


def test_as_root_the_tests_run_as_an_unprivileged_user(fake_course, tmp_path):
    from grader import sandbox

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("only root can switch to another user")
    notes: list[str] = []
    probe = tmp_path / "probe"
    probe.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(probe, 0o755)
    if sandbox.choose_user(probe, notes) is None:
        pytest.skip(f"no user can run this Python here: {notes}")
    fake_course.add("01_alpha", tests=SANDBOXED_TESTS)
    fake_course.solve("01_alpha")
    out = tmp_path / "out"
    code, stdout, stderr = grade(fake_course, "--out", str(out))
    assert code == 0, stdout + stderr
    assert scores(reports(out)["gradescope"]) == {"1": 10}, stdout
    assert "the tests ran as user nobody" in stdout
