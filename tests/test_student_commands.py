"""`grader reset`, `grader solution` and `grader new`: the student's safety net and the author's start."""

from __future__ import annotations

import subprocess

import pytest

from grader import checksums
from grader.course import load_course


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=30)


@pytest.fixture
def course(fake_course):
    fake_course.add("01_adder")
    checksums.record(load_course(fake_course.root))
    git(fake_course.root, "init", "-q")
    git(fake_course.root, "add", "-A")
    git(fake_course.root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "course")
    return fake_course


def stub(course):
    return course.root / "exercises" / "01_adder" / "adder.py"


def test_reset_restores_the_stub_and_keeps_a_backup(course, run_grader):
    pristine = stub(course).read_text()
    stub(course).write_text("def add(a, b):\n    return 42  # my work\n")
    git(course.root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "my work")
    code, out, err = run_grader("reset", "1", "--yes")
    assert code == 0, err
    assert stub(course).read_text() == pristine
    backups = list((course.root / ".grader" / "backups" / "01_adder").iterdir())
    assert len(backups) == 1 and "42  # my work" in backups[0].read_text()
    assert str(backups[0].relative_to(course.root)) in out


def test_reset_asks_first_and_refuses_without_an_answer(course, run_grader, monkeypatch):
    stub(course).write_text("mine\n")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    code, _, err = run_grader("reset", "1")
    assert code == 2 and "--yes" in err
    assert stub(course).read_text() == "mine\n"


def test_reset_refuses_when_the_pristine_stub_cannot_be_found(course, run_grader):
    import shutil

    shutil.rmtree(course.root / ".git")  # not a clone: no history to take the stub from
    stub(course).write_text("mine\n")
    code, _, err = run_grader("reset", "1", "--yes")
    assert code == 2 and "cannot find the pristine adder.py" in err
    assert stub(course).read_text() == "mine\n"


def test_solution_is_refused_before_a_pass(course, run_grader):
    code, out, err = run_grader("solution", "1")
    assert code == 1 and "does not pass yet" in err and "return a + b" not in out


def test_solution_with_force_shows_the_reference_and_a_diff(course, run_grader):
    code, out, _ = run_grader("solution", "1", "--force")
    assert code == 0
    assert "return a + b" in out
    assert "+    return a + b" in out and '-    raise NotImplementedError("write add() in adder.py")' in out


def test_solution_after_a_pass(course, run_grader):
    course.solve("01_adder")
    code, out, _ = run_grader("solution", "adder")
    assert code == 0 and "Identical." in out


def test_new_scaffolds_an_exercise_that_verify_then_judges(course, run_grader):
    code, out, _ = run_grader("new", "http_caching", "--title", "HTTP caching", "--part", "2")
    assert code == 0
    folder = course.root / "exercises" / "02_http_caching"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "exercise.toml", "http_caching.py", "test_http_caching.py"]
    assert (course.root / "solutions" / "02_http_caching" / "http_caching.py").is_file()
    exercise = load_course(course.root).resolve("http_caching")
    assert (exercise.title, exercise.part) == ("HTTP caching", 2)
    code, out, _ = run_grader("verify", "--record", "2")
    assert code == 1  # as scaffolded, the solution is not written yet
    assert "fails on the solution" in out
    (course.root / "solutions" / "02_http_caching" / "http_caching.py").write_text(
        "def http_caching():\n    return '(what the spec says)'\n"
    )
    code, out, _ = run_grader("verify", "2")
    assert code == 0, out


def test_new_refuses_a_bad_or_taken_slug(course, run_grader):
    assert run_grader("new", "Bad-Slug")[0] == 2
    code, _, err = run_grader("new", "adder")
    assert code == 2 and "already an exercise called adder" in err


def test_reset_after_an_update_falls_back_to_the_first_committed_stub(course, run_grader):
    pristine = stub(course).read_text()
    # An update recorded a new stub that never entered this copy's history (the student's file was kept).
    record = course.root / "exercises" / "checksums.json"
    record.write_text(record.read_text().replace(checksums.file_id(stub(course)), checksums.blob_id(b"new upstream stub\n")))
    stub(course).write_text("mine\n")
    code, _, err = run_grader("reset", "1", "--yes")
    assert code == 0, err
    assert stub(course).read_text() == pristine


def test_status_names_an_edited_test_file(course, run_grader):
    test_file = course.root / "exercises" / "01_adder" / "test_adder.py"
    test_file.write_text(test_file.read_text().replace("assert got == 3", "assert True or got == 3"))
    _, out, _ = run_grader()
    assert "These test files differ from the course's: 01_adder/test_adder.py." in out


def test_grading_restores_edited_and_added_test_files(course, run_grader):
    folder = course.root / "exercises" / "01_adder"
    original = (folder / "test_adder.py").read_text()
    (folder / "test_adder.py").write_text("def test_adds_small_numbers():\n    pass\n")
    (folder / "test_extra.py").write_text("def test_free_points():\n    pass\n")
    code, out, err = run_grader("report", "--format", "summary", "--restore-tests")
    assert code == 1
    assert "01_adder/test_adder.py differed from the course's test file: restored before grading" in err
    assert (folder / "test_adder.py").read_text() == original
    assert not (folder / "test_extra.py").exists()
    assert "| 01 adder | failed | 0/2 | 0/10 |" in out


def test_a_copy_without_the_solutions_branch_says_so(course, run_grader):
    import shutil

    shutil.rmtree(course.root / "solutions")
    (course.root / ".copier-answers.yml").write_text("_src_path: /somewhere\n")
    code, _, err = run_grader("solution", "1", "--force")
    assert code == 2
    assert "has no 'solutions' branch" in err and "ask your instructor" in err


# --- exit statuses, and the exercise a folder means (issue 17, item 7) ------------------------------------


@pytest.fixture
def two(fake_course):
    fake_course.add("01_adder")
    fake_course.add("02_subber")
    checksums.record(load_course(fake_course.root))
    return fake_course


def test_status_is_a_report_and_exits_0_whatever_it_shows_while_check_is_the_verdict(two, run_grader):
    (two.root / "exercises" / "01_adder" / "adder.py").write_text("def add(a, b):\n    return a - b\n")
    code, out, _ = run_grader()
    assert code == 0 and "failing 0/2" in out  # a failing exercise on screen: still a report that worked
    assert run_grader("check", "1")[0] == 1  # check, report and verify say "something failed" with 1
    two.solve("01_adder")
    two.solve("02_subber")
    assert run_grader()[0] == 0 and run_grader("check", "--all")[0] == 0
    assert run_grader("check", "nope")[0] == 2  # a usage error


def test_check_inside_an_exercise_folder_checks_that_exercise(two, run_grader, monkeypatch):
    folder = two.root / "exercises" / "02_subber"
    monkeypatch.chdir(folder)
    code, out, _ = run_grader("check")
    assert code == 1 and "02 subber" in out and "01 adder" not in out
    (folder / "notes").mkdir()
    monkeypatch.chdir(folder / "notes")  # a subfolder of it means it too
    code, out, _ = run_grader("check")
    assert "02 subber" in out and "01 adder" not in out
    monkeypatch.chdir(two.root / "exercises")  # elsewhere in the course: the next unfinished one
    code, out, _ = run_grader("check")
    assert "01 adder" in out and "02 subber" not in out


def test_check_inside_a_broken_exercise_folder_says_why(two, run_grader, monkeypatch):
    folder = two.root / "exercises" / "02_subber"
    (folder / "exercise.toml").write_text("title = \n")
    monkeypatch.chdir(folder)
    code, out, err = run_grader("check")
    assert code == 2 and out == "" and "02_subber cannot be graded: " in err and "not valid TOML" in err
