"""Exercises that build on the student's earlier ones (``builds_on``): what the grader says about it.

16's tests run on the student's own 15 server. The grader shows that dependency up front (status),
explains it when a check fails because of it, re-runs 16 when 15 changes, and the test toolkit turns an
unusable 15 into one sentence.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from grader.course import CourseError, load_course
from grader.state import fingerprint

# The later exercise's test imports the earlier one's module through the toolkit, as 16's and 18's do.
LATER_TESTS = '''
from testkit.prerequisites import earlier, finished


def test_own_part():
    import {module}
    assert {module}.add(1, 2) == 3


def test_on_the_earlier_exercise():
    early = earlier("early", "01")
    with finished("early", "01"):
        assert early.add(2, 2) == 4
'''


@pytest.fixture
def chain(fake_course):
    fake_course.add("01_early")
    fake_course.add("02_later", tests=LATER_TESTS, extra_toml='builds_on = ["01"]\n')
    return fake_course


def test_builds_on_is_read_from_exercise_toml(chain):
    course = load_course(chain.root)
    later = course.resolve("02")
    assert later.builds_on == (1,)
    assert [e.name for e in course.prerequisites(later)] == ["01_early"]


@pytest.mark.parametrize(
    ("value", "message"),
    [('["1"]', "two-digit strings"), ("[1]", "two-digit strings"), ('["03"]', "only name earlier exercises")],
)
def test_a_wrong_builds_on_is_named(fake_course, value, message):
    fake_course.add("02_later", extra_toml=f"builds_on = {value}\n")
    with pytest.raises(CourseError, match=message):
        load_course(fake_course.root)


def test_status_says_what_an_exercise_builds_on(chain, run_grader):
    code, out, _ = run_grader()
    assert code == 0
    assert "builds on 01, which does not pass yet" in out
    chain.solve("01_early")
    _, out, _ = run_grader()
    assert "builds on 01" not in out, "once 01 passes, the note goes"


def test_check_grades_its_own_part_and_names_the_earlier_exercise_in_one_sentence(chain, run_grader):
    chain.solve("02_later")  # the student's 02 is right; their 01 is still the stub
    code, out, _ = run_grader("check", "02")
    assert code == 1
    assert "1 of 2 tests pass" in out, out
    assert "The tests that run on your own exercise 01 need it to pass, which does not yet: `grader check 01` first" in out
    assert "this test runs on your exercise 01 (early.py), which is not finished yet" in out, out
    chain.solve("01_early")
    code, out, _ = run_grader("check", "02")
    assert code == 0 and "2 of 2 tests pass" in out, out


def test_an_earlier_module_that_crashes_on_import_is_one_sentence(chain, run_grader):
    chain.solve("02_later")
    (chain.root / "exercises" / "01_early" / "early.py").write_text("raise RuntimeError('half-written')\n")
    code, out, _ = run_grader("check", "02")
    assert code == 1 and "1 of 2 tests pass" in out, out
    assert "which raises RuntimeError: half-written (line 1 of early.py) when it is imported" in out, out
    assert "Traceback" not in out


def test_a_change_in_the_earlier_exercise_invalidates_the_later_ones_cache(chain):
    course = load_course(chain.root)
    later = course.resolve("02")
    before = fingerprint(course, later)
    stub = chain.root / "exercises" / "01_early" / "early.py"
    stub.write_text(stub.read_text() + "\n# the student edits 01\n")
    assert fingerprint(course, later) != before, "02's cached result must not survive a change to 01"


def test_copier_validator_names_the_missing_exercise():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "template"))
    try:
        import update_choices
    finally:
        sys.path.pop(0)
    [line] = update_choices.validator(
        [("15_asgi_server", {"files": ["a.py"]}), ("16_lifespan", {"files": ["b.py"], "builds_on": ["15"]})]
    )
    assert '\\"16_lifespan\\" in exercises and \\"15_asgi_server\\" not in exercises' in line
    assert "16_lifespan builds on the students' own 15_asgi_server" in line
    with pytest.raises(update_choices.GenerateError, match="builds_on names 14"):
        update_choices.validator([("16_lifespan", {"files": ["b.py"], "builds_on": ["14"]})])


def test_the_toolkit_sentence_for_a_missing_module(monkeypatch, tmp_path):
    from testkit.prerequisites import PrerequisiteMissing, earlier

    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PrerequisiteMissing, match=r"your exercise 15 \(no_such_module_15\.py\), which is not in this folder"):
        earlier("no_such_module_15", "15")
    (tmp_path / "imports_missing_15.py").write_text(textwrap.dedent("import gone_missing_15\n"))
    with pytest.raises(PrerequisiteMissing, match="imports 'gone_missing_15', which is not there"):
        earlier("imports_missing_15", "15")
