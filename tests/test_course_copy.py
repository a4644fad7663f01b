"""Course copies (copier.yml + template/): what an instructor gets from `copier copy` and `copier update`.

Every test works on a temporary git copy of this repository (its git-tracked files, plus copier.yml and
template/ as they are in the working tree), tagged with PEP 440 versions like a release, so copier
can copy and update from it. Copies hold exercise 01 (small and fast) and a tiny made-up exercise 99.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

copier = pytest.importorskip("copier", reason="course copies need copier (pip install -e '.[dev]')")

REPO = Path(__file__).resolve().parent.parent
EX01 = "01_http_client"
STUB01 = f"exercises/{EX01}/http_client.py"
TEST01 = f"exercises/{EX01}/test_http_client.py"
SOLUTION01 = f"solutions/{EX01}/http_client.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="course copies are git repositories")

# The test's own commits never depend on the machine's git identity.
IDENTITY = {
    "GIT_AUTHOR_NAME": "course copy tests",
    "GIT_AUTHOR_EMAIL": "tests@callable-katas.invalid",
    "GIT_COMMITTER_NAME": "course copy tests",
    "GIT_COMMITTER_EMAIL": "tests@callable-katas.invalid",
}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **IDENTITY, **(env or {})}
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed in {cwd}: {done.stderr}"
    return done.stdout.strip()


def load_update_choices():
    spec = importlib.util.spec_from_file_location("update_choices", REPO / "template" / "update_choices.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


update_choices = load_update_choices()


def make_template_source(dst: Path) -> Path:
    """This repository's tracked files (and the template's, the grader's and held_back/, tracked or not) in a
    fresh git repo, tagged v0.1.0."""
    listed = subprocess.run(
        # Untracked files too where new parts of the course land before they are committed.
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
         "copier.yml", "template", "grader", "testkit", "held_back", "exercises/held_back.json"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    paths = sorted({p for p in (listed + b"\0" + tracked).decode().split("\0") if p})
    for rel in paths:
        source, target = REPO / rel, dst / rel
        if not (source.exists() or source.is_symlink()):
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    if not (dst / "exercises" / "checksums.json").exists():
        # Stands in for any file the grader keeps beside the exercise folders.
        (dst / "exercises" / "checksums.json").write_text("{}\n")
    git(dst, "init", "--quiet")
    git(dst, "add", "--all")
    # Generate the exercise lists from what this source holds (test_generated_blocks_are_current
    # checks the real copier.yml separately).
    assert update_choices.main(["--root", str(dst)]) == 0
    git(dst, "add", "--all")
    git(dst, "commit", "--quiet", "-m", "template source")
    git(dst, "tag", "v0.1.0")
    return dst


def copy_course(src: Path, dst: Path, exercises: list[str], **data) -> Path:
    copier.run_copy(
        str(src), dst, data={"exercises": exercises, **data}, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True
    )
    return dst


def update_course(course: Path, **kwargs) -> None:
    """`copier update --trust --defaults [--data ...] [--vcs-ref ...]` in COURSE."""
    copier.run_update(course, defaults=True, overwrite=True, unsafe=True, quiet=True, **kwargs)


def add_exercise_99(src: Path) -> None:
    """A tiny new exercise in the template source (what the lead adds between two releases)."""
    folder, solution = src / "exercises" / "99_probe", src / "solutions" / "99_probe"
    folder.mkdir()
    solution.mkdir()
    (folder / "exercise.toml").write_text(
        'title = "A probe"\npart = 4\nchapter = "(beyond the book)"\nfiles = ["probe.py"]\npoints = 2\n'
        'timeout = 5\ntime_limit = 20\nhints = ["one", "two", "three"]\n'
    )
    (folder / "README.md").write_text("# 99 · A probe\n")
    (folder / "probe.py").write_text('def answer():\n    raise NotImplementedError("write answer() in probe.py")\n')
    (folder / "test_probe.py").write_text("import probe\n\n\ndef test_answer():\n    assert probe.answer() == 42\n")
    (solution / "probe.py").write_text("def answer():\n    return 42\n")


def release(src: Path, tag: str) -> None:
    git(src, "add", "--all")
    assert update_choices.main(["--root", str(src)]) == 0
    git(src, "add", "--all")
    git(src, "commit", "--quiet", "-m", f"release {tag}")
    git(src, "tag", tag)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_template_source(tmp_path_factory.mktemp("template") / "callable-katas")


@pytest.fixture(scope="module")
def course(source, tmp_path_factory) -> Path:
    return copy_course(source, tmp_path_factory.mktemp("copy") / "my-course", [EX01], course_name="Web Internals 101")


# --- the generated parts of the template -----------------------------------------------------------------


def test_generated_blocks_are_current():
    diff = update_choices.stale(REPO)
    assert not diff, (
        "copier.yml or template/pyproject.toml.jinja is out of step with exercises/ or pyproject.toml: "
        "run `python template/update_choices.py` and commit the result\n" + diff
    )


def test_choices_offer_every_exercise_and_skip_every_student_file(source):
    found = update_choices.exercises(source)
    config = (source / "copier.yml").read_text()
    for name, meta in found:
        assert f'"{name}"' in config
        for file in meta["files"]:
            assert f"- exercises/{name}/{file}\n" in config
    assert len(found) >= 2, "the source should offer more exercises than the copy takes"


def test_a_choice_without_the_exercises_it_builds_on_is_refused_in_one_sentence(source, tmp_path):
    # 22's capstone runs on the students' own 15 and 18 (builds_on): a copy without 18 could never pass.
    with pytest.raises(copier.errors.UserMessageError, match="22_mini_framework builds on the students' own 18_websocket_server") as info:
        copy_course(source, tmp_path / "course", ["15_asgi_server", "22_mini_framework"])
    assert "choose 18_websocket_server too" in str(info.value)
    assert not (tmp_path / "course").exists(), "a refused choice must not leave a half-made copy"


# --- a fresh copy ---------------------------------------------------------------------------------------------


def test_main_holds_only_the_chosen_exercises_and_the_course_tools(course, source):
    files = set(git(course, "ls-tree", "-r", "--name-only", "main").splitlines())
    exercises = {f.split("/")[1] for f in files if f.startswith("exercises/") and f.count("/") > 1}
    assert exercises == {EX01}
    for wanted in (
        STUB01, TEST01, f"exercises/{EX01}/exercise.toml", f"exercises/{EX01}/README.md", "exercises/conftest.py",
        "grader/__main__.py", "grader/cli.py", "README.md", "pyproject.toml", ".gitignore", ".copier-answers.yml",
        ".github/workflows/grade.yml", "autograder/run_autograder", "autograder/setup.sh",
        "testkit/serving.py", "testkit/prerequisites.py", "bench/__init__.py",
    ):
        assert wanted in files, f"{wanted} missing from the copy's main"
    shared = {f"exercises/{p.name}" for p in (source / "exercises").iterdir() if p.is_file()}
    assert "exercises/conftest.py" in shared and shared <= files, "every file of exercises/ itself belongs in a copy"
    for unwanted in ("solutions/", "template/", "tests/", "copier.yml", "CONTRIBUTING.md", ".ci/"):
        assert not any(f.startswith(unwanted) for f in files), f"{unwanted} must not be in a course copy"
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    for script in ("autograder/run_autograder", "autograder/setup.sh"):
        assert git(course, "ls-files", "-s", script).startswith("100755"), f"{script} must be executable"
    assert git(course, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(course, "status", "--porcelain") == ""


def test_solutions_branch_is_one_commit_ahead_with_the_reference_solutions(course, source):
    assert sorted(git(course, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()) == ["main", "solutions"]
    assert git(course, "rev-parse", "solutions^") == git(course, "rev-parse", "main")
    # The reference solution over the stub, and its mutants.toml (for `grader mutants` in the copy).
    expected = sorted(f"exercises/{EX01}/{p.name}" for p in (source / "solutions" / EX01).iterdir() if p.is_file())
    assert STUB01 in expected
    assert git(course, "diff", "--name-only", "main", "solutions").splitlines() == expected
    assert git(course, "show", f"solutions:{STUB01}") == (source / SOLUTION01).read_text().strip()


def test_no_solution_anywhere_in_mains_history(course, source):
    solution_blob = git(course, "hash-object", str(source / SOLUTION01))
    main_objects = {line.split()[0] for line in git(course, "rev-list", "--objects", "main").splitlines()}
    assert solution_blob not in main_objects, "main's history holds the reference solution"
    all_objects = {line.split()[0] for line in git(course, "rev-list", "--objects", "--all").splitlines()}
    assert solution_blob in all_objects, "the solutions branch should hold it"
    touched = git(course, "log", "main", "--name-only", "--format=").splitlines()
    assert not any(path.startswith("solutions/") for path in touched)


def test_answers_file_records_the_template_and_the_choices(course, source):
    import yaml

    answers = yaml.safe_load((course / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(source)
    assert answers["_commit"] == "v0.1.0"
    assert answers["course_name"] == "Web Internals 101"
    assert answers["exercises"] == [EX01]
    assert set(answers) == {"_src_path", "_commit", "course_name", "exercises"}


def test_students_readme_names_the_course_and_its_exercises(course):
    readme = (course / "README.md").read_text()
    assert readme.startswith("# Web Internals 101\n")
    assert f"[{EX01}](exercises/{EX01}/README.md) | An HTTP client on a bare socket |" in readme
    assert "02_http_parse" not in readme
    assert "pip install -e . && grader" in readme


def test_copy_pyproject_agrees_with_the_project(course):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    copy = tomllib.loads((course / "pyproject.toml").read_text())
    assert copy["project"]["name"] == "web-internals-101"
    assert copy["project"]["dependencies"] == project["project"]["dependencies"]
    for key in ("requires-python", "scripts"):
        assert copy["project"][key] == project["project"][key], f"[project] {key} differs from pyproject.toml"
    assert copy["build-system"] == project["build-system"]
    assert copy["tool"]["setuptools"] == project["tool"]["setuptools"]
    ours, theirs = copy["tool"]["pytest"]["ini_options"], project["tool"]["pytest"]["ini_options"]
    assert ours["addopts"] == theirs["addopts"] and ours["markers"] == theirs["markers"]
    # The one deliberate difference: a bare `pytest` in a copy runs the exercises (the students' grade).
    assert ours["testpaths"] == ["exercises"]


def test_ci_workflow_writes_and_uploads_the_reports_even_when_tests_fail(course):
    import yaml

    workflow = yaml.safe_load((course / ".github/workflows/grade.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    assert "pip install -e ." in scripts
    # One grading path: `grader grade` in a fresh tree, never the cache, and no git history needed.
    assert "grader grade --out grader-results" in scripts
    assert 'cat grader-results/summary.md >> "$GITHUB_STEP_SUMMARY"' in scripts
    assert "grader report" not in scripts and "--restore-tests" not in scripts
    checkout = next(step for step in steps if str(step.get("uses", "")).startswith("actions/checkout"))
    assert "fetch-depth" not in (checkout.get("with") or {}), "grading must not depend on git history"
    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert "grader-results" in upload["with"]["path"]
    for step in steps[steps.index(upload) - 1 :]:
        assert step.get("if") == "always()", f"step {step.get('name')!r} must run after failing tests"


def test_pytest_in_the_copy_collects_the_exercises(course):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=course, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"exercises/{EX01}/test_http_client.py::" in done.stdout


def test_the_copys_grader_lists_its_exercises(course):
    if not (course / "grader" / "__main__.py").is_file():
        pytest.skip("the grader's CLI is not in the template source yet")
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("KATA_COURSE_ROOT", None)
    help_ = subprocess.run([sys.executable, "-m", "grader", "--help"], cwd=course, capture_output=True, text=True, env=env, timeout=60)
    assert help_.returncode == 0, help_.stderr
    status = subprocess.run([sys.executable, "-m", "grader"], cwd=course, capture_output=True, text=True, env=env, timeout=120)
    assert status.returncode in (0, 1), status.stdout + status.stderr
    assert "http_client" in status.stdout
    assert "http_parse" not in status.stdout, "the grader shows an exercise the copy does not have"


def test_gradescope_autograder_grades_a_submission(course, tmp_path):
    if not (course / "grader" / "__main__.py").is_file():
        pytest.skip("the grader's CLI is not in the template source yet")
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    # What Gradescope unpacks: the course's main branch (see "For instructors" in README.md).
    archive = subprocess.run(["git", "archive", "--format=tar", "main"], cwd=course, capture_output=True, check=True).stdout
    subprocess.run(["tar", "xf", "-", "-C", str(root / "source")], input=archive, check=True)
    (root / "submission").mkdir()
    # A loose-file upload of a solved exercise, with files that would break the run if they were read.
    (root / "submission" / "http_client.py").write_text(git(course, "show", f"solutions:{STUB01}") + "\n")
    (root / "submission" / "exercises").mkdir()
    (root / "submission" / "exercises" / "conftest.py").write_text("raise SystemExit('planted')\n")
    (root / "submission" / "pytest.ini").write_text("[pytest]\naddopts = --planted\n")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("KATA_COURSE_ROOT", None)
    done = subprocess.run(
        ["bash", str(root / "source" / "autograder" / "run_autograder")], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["tests"], results
    assert results["score"] == pytest.approx(sum(t["max_score"] for t in results["tests"]))
    assert results["score"] > 0
    assert f"graded   {EX01}/http_client.py: from http_client.py" in results["output"]
    script = (root / "source" / "autograder" / "run_autograder").read_text()
    assert "-m grader grade --submission" in script and "grader report" not in script


# --- held-back tests (grader/held_back.py) ------------------------------------------------------------------

EX02 = "02_http_parse"
HELD02 = f"held_back/{EX02}/test_held_back_http_parse.py"


@pytest.fixture(scope="module")
def course02(source, tmp_path_factory) -> Path:
    """A copy with 02, which holds tests back."""
    return copy_course(source, tmp_path_factory.mktemp("copy02") / "my-course", [EX01, EX02])


def test_held_back_tests_are_on_solutions_and_never_on_main(course02, source):
    on_main = git(course02, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert not any(f.startswith("held_back/") or "/test_held_back" in f for f in on_main)
    blob = git(course02, "hash-object", str(source / HELD02))
    assert blob not in git(course02, "rev-list", "--objects", "main"), "main's history holds a held-back test"
    assert git(course02, "show", f"solutions:{HELD02}") == (source / HELD02).read_text().strip()
    # What main has instead: how many, for `grader check` to tell the students.
    counts = json.loads(git(course02, "show", "main:exercises/held_back.json"))
    assert counts[EX02] == 3


def test_gradescope_zip_from_solutions_grades_the_held_back_tests_and_hides_them(course02, tmp_path):
    # The README's command, run on main, writes the zip outside the copy.
    zip_command = (
        "git archive --format=zip -o ../autograder.zip --add-file=autograder/setup.sh "
        "--add-file=autograder/run_autograder solutions"
    )
    assert zip_command in (REPO / "README.md").read_text(), "the README builds the zip differently"
    subprocess.run(zip_command.split(), cwd=course02, check=True, capture_output=True)
    zip_path = course02.parent / "autograder.zip"
    assert git(course02, "status", "--porcelain") == "", "building the zip left the copy dirty"
    root = tmp_path / "autograder"
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
        names = archive.namelist()
    zip_path.unlink()
    assert "setup.sh" in names and "run_autograder" in names and HELD02 in names
    for script in ("run_autograder", "autograder/run_autograder"):
        (root / "source" / script).chmod(0o755)
    # setup.sh's last step: the reference solutions and held-back tests are root's alone.
    sealed = subprocess.run([sys.executable, "-m", "grader.held_back", "seal", str(root / "source")], capture_output=True, text=True)
    assert sealed.returncode == 0, sealed.stderr
    (root / "submission").mkdir()
    (root / "submission" / "http_parse.py").write_text(git(course02, "show", f"solutions:exercises/{EX02}/http_parse.py") + "\n")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("KATA_COURSE_ROOT", None)
    done = subprocess.run(
        ["bash", str(root / "source" / "autograder" / "run_autograder")], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    held = [t for t in results["tests"] if "test_held_back" in t["name"]]
    assert len(held) == 3 and all(t["status"] == "passed" and t["visibility"] == "after_due_date" for t in held), held
    assert all(t["visibility"] == "visible" for t in results["tests"] if t not in held)
    assert stat.S_IMODE((root / "source" / "exercises" / EX02 / "http_parse.py").stat().st_mode) == 0o600

    # GitHub Classroom: the README's step turns these results into the reporter's runner payload.
    import base64
    import re

    step = re.search(r"run: python -c '(.*)' >> \"\$GITHUB_OUTPUT\"", (REPO / "README.md").read_text())
    assert step, "the README's GitHub Classroom step is missing"
    (tmp_path / "grader-results").mkdir()
    shutil.copy(root / "results" / "results.json", tmp_path / "grader-results" / "gradescope.json")
    made = subprocess.run([sys.executable, "-c", step.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0 and made.stdout.startswith("result="), made.stderr
    payload = json.loads(base64.b64decode(made.stdout.strip().removeprefix("result=")))
    # What the reporter adds up (src/notify-classroom.js): every test's score, every runner's max_score.
    assert payload["version"] == 1 and len(payload["tests"]) == len(results["tests"])
    assert sum(t["score"] for t in payload["tests"]) == pytest.approx(results["score"])
    assert payload["max_score"] == pytest.approx(sum(t["max_score"] for t in results["tests"]))
    assert payload["status"] == ("pass" if all(t["status"] == "passed" for t in results["tests"]) else "fail")
    assert {t["status"] for t in payload["tests"]} <= {"pass", "fail"}


def test_a_zip_built_inside_the_copy_does_not_make_it_dirty(course02):
    subprocess.run(["git", "archive", "--format=zip", "-o", "autograder.zip", "main"], cwd=course02, check=True)
    try:
        assert git(course02, "status", "--porcelain") == "", "copier update would refuse this copy"
    finally:
        (course02 / "autograder.zip").unlink()


def test_students_pull_an_update_into_diverged_work_as_the_readme_says(course02, tmp_path):
    # git >= 2.33 refuses a plain `git pull` of divergent branches unless pull.rebase is configured.
    isolated = {"GIT_CONFIG_GLOBAL": str(tmp_path / "no-gitconfig"), "GIT_CONFIG_NOSYSTEM": "1"}
    remote = tmp_path / "students.git"
    git(tmp_path, "clone", "--quiet", "--bare", "--branch", "main", str(course02), str(remote))
    student = tmp_path / "student"
    git(tmp_path, "clone", "--quiet", str(remote), str(student), env=isolated)
    stub = student / STUB01
    stub.write_text(stub.read_text() + "# my work\n")
    git(student, "commit", "--quiet", "-am", "my work", env=isolated)
    # The instructor's update lands on the students' remote meanwhile.
    instructor = tmp_path / "instructor"
    git(tmp_path, "clone", "--quiet", str(remote), str(instructor), env=isolated)
    with (instructor / TEST01).open("a") as f:
        f.write("\n# a fixed test\n")
    git(instructor, "commit", "--quiet", "-am", "Update the course", env=isolated)
    git(instructor, "push", "--quiet", "origin", "main", env=isolated)

    plain = subprocess.run(["git", "pull"], cwd=student, capture_output=True, text=True, env={**os.environ, **IDENTITY, **isolated})
    command = "git pull --no-rebase"
    assert command in (REPO / "template" / "README.md.jinja").read_text(), "the students' README says otherwise"
    git(student, *command.split()[1:], env=isolated)
    assert (student / STUB01).read_text().endswith("# my work\n"), "the student's work was lost"
    assert (student / TEST01).read_text().endswith("# a fixed test\n"), "the update did not arrive"
    version = tuple(int(n) for n in git(tmp_path, "--version").split()[2].split(".")[:2])
    if version >= (2, 33):  # the reason for --no-rebase: a plain pull stops there
        assert plain.returncode != 0 and "divergent branches" in plain.stderr, plain.stderr


# --- updates --------------------------------------------------------------------------------------------------


def test_update_brings_new_tests_and_exercises_and_keeps_the_students_stub(tmp_path):
    src = make_template_source(tmp_path / "callable-katas")
    course = copy_course(src, tmp_path / "my-course", [EX01])
    stub = course / STUB01
    stub.write_bytes(stub.read_bytes() + b"\n# the student's work\r\n")
    edited = stub.read_bytes()
    git(course, "commit", "--quiet", "-am", "my work")

    # Upstream: a fixed test, a fixed stub and solution, a new exercise, released as v0.2.0.
    with (src / TEST01).open("a") as f:
        f.write("\n# a fixed test\n")
    with (src / STUB01).open("a") as f:
        f.write("\n# a fixed stub\n")
    with (src / SOLUTION01).open("a") as f:
        f.write("\n# a fixed solution\n")
    add_exercise_99(src)
    release(src, "v0.2.0")

    update_course(course, data={"exercises": [EX01, "99_probe"]})
    assert stub.read_bytes() == edited, "copier update touched the student's stub"
    assert (course / TEST01).read_text().endswith("# a fixed test\n")
    for name in ("probe.py", "test_probe.py", "exercise.toml", "README.md"):
        assert (course / "exercises" / "99_probe" / name).is_file()
    assert "NotImplementedError" in (course / "exercises/99_probe/probe.py").read_text(), "main got a solution"
    assert "99_probe" in (course / ".copier-answers.yml").read_text()
    assert "| A probe |" in (course / "README.md").read_text()

    # The instructor's documented steps (README.md, "For instructors"): commit, then rebuild `solutions`.
    git(course, "add", "--all")
    git(course, "commit", "--quiet", "-m", "Update the course to v0.2.0")
    git(course, "checkout", "--quiet", "-B", "solutions", "main")
    update_course(course, vcs_ref=copier.VcsRef.CURRENT)  # --vcs-ref=:current:
    git(course, "add", "--all")
    git(course, "commit", "--quiet", "-m", "Reference solutions")
    git(course, "checkout", "--quiet", "main")
    assert git(course, "rev-parse", "solutions^") == git(course, "rev-parse", "main")
    assert git(course, "show", f"solutions:{STUB01}").endswith("# a fixed solution")
    assert git(course, "show", "solutions:exercises/99_probe/probe.py") == "def answer():\n    return 42"
    assert (course / STUB01).read_bytes() == edited


def test_update_refuses_a_dirty_copy(source, tmp_path):
    course = copy_course(source, tmp_path / "my-course", [EX01])
    stub = course / STUB01
    stub.write_text(stub.read_text() + "# not committed yet\n")
    before = stub.read_bytes()
    with pytest.raises(copier.errors.UserMessageError, match="dirty"):
        update_course(course)
    assert stub.read_bytes() == before


# --- bad input ---------------------------------------------------------------------------------------------------


def test_unknown_exercise_is_refused_before_anything_is_written(source, tmp_path):
    dst = tmp_path / "my-course"
    with pytest.raises(copier.errors.UserMessageError, match="42_nope is not an exercise of this course"):
        copy_course(source, dst, [EX01, "42_nope"])
    assert not dst.exists()


def test_an_empty_choice_is_refused(source, tmp_path):
    dst = tmp_path / "my-course"
    with pytest.raises(copier.errors.UserMessageError, match="choose at least one exercise"):
        copy_course(source, dst, [])
    assert not dst.exists()


def test_a_destination_with_files_is_refused_before_anything_is_written(source, tmp_path):
    dst = tmp_path / "my-course"
    (dst / "notes").mkdir(parents=True)
    (dst / "README.md").write_text("my course notes\n")  # a name the course writes too: copier stopped halfway
    (dst / "notes" / "private.txt").write_text("my private notes\n")
    with pytest.raises(copier.errors.UserMessageError, match=r"already holds files \(notes/private.txt, README.md\); nothing was written"):
        copy_course(source, dst, [EX01])
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == ["README.md", "notes", "notes/private.txt"]
    assert (dst / "README.md").read_text() == "my course notes\n"


def test_copiers_command_line_says_what_is_wrong_in_one_line(source, tmp_path):
    """What an instructor sees: one line and exit status 1, never copier's Python traceback."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "README.md").write_text("mine\n")
    cases = {
        '["01_http_client", "42_nope"]': (tmp_path / "new", "42_nope is not an exercise of this course"),
        '["16_lifespan"]': (tmp_path / "new", "16_lifespan builds on the students' own 15_asgi_server"),
        f'["{EX01}"]': (taken, "already holds files (README.md)"),
    }
    for chosen, (dst, sentence) in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--data", f"exercises={chosen}", str(source), str(dst)],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert sentence in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "new").exists() and [p.name for p in taken.iterdir()] == ["README.md"]


def test_an_empty_cloned_repository_is_a_fine_destination(source, tmp_path):
    dst = tmp_path / "my-course"
    git(tmp_path, "init", "--quiet", str(dst))
    git(dst, "remote", "add", "origin", "https://example.invalid/course.git")
    copy_course(source, dst, [EX01])
    assert git(dst, "rev-parse", "solutions^") == git(dst, "rev-parse", "main")
    assert git(dst, "remote", "get-url", "origin") == "https://example.invalid/course.git"


def test_a_machine_without_a_git_identity_still_gets_a_course(source, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    for name in (*IDENTITY, "EMAIL", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    dst = tmp_path / "my-course"
    # In a child process: copier runs its tasks with the environment it was started with.
    done = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--data", f'exercises=["{EX01}"]', str(source), str(dst)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "git has no user.name/user.email" in done.stderr
    author = subprocess.run(["git", "log", "-1", "--format=%an <%ae>", "solutions"], cwd=dst, capture_output=True, text=True).stdout
    assert author.strip() == "callable-katas course <course@callable-katas.invalid>"
