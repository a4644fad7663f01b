"""Every exercise's tests accept a second, independently written solution (``tests/alternatives/``).

A test that rejects correct code is over-specified: it grades one author's choices, not the spec. Each
alternative is written from the README and the spec alone, structured differently from the reference,
and takes the *other* permitted choice wherever the spec allows one (see CONTRIBUTING.md). When this
fails, fix the test, not the alternative — unless the alternative breaks a rule the README states.

Exercises that build on earlier ones (21 and 22 run on the student's 15 and 18) run here on the
alternatives of those too, so the whole chain is a second student's code.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.course import load_course
from grader.progress import default_jobs
from grader.results import PASSED
from grader.runner import run_exercise

REPO = Path(__file__).resolve().parent.parent
ALTERNATIVES = REPO / "tests" / "alternatives"
COURSE = load_course(REPO)


def test_every_exercise_has_an_alternative_for_every_file_the_student_edits():
    missing = [
        f"{exercise.name}/{name}"
        for exercise in COURSE.exercises
        for name in exercise.files
        if not (ALTERNATIVES / exercise.name / name).is_file()
    ]
    assert not missing, f"no alternative solution for: {', '.join(missing)} (in tests/alternatives/)"


@pytest.fixture(scope="module")
def results():
    """Every exercise run once against the alternatives, two at a time like `grader verify`."""
    with ThreadPoolExecutor(max_workers=default_jobs()) as pool:
        pairs = pool.map(lambda e: (e.name, run_exercise(COURSE, e, solutions=ALTERNATIVES)), COURSE.exercises)
        return dict(pairs)


@pytest.mark.parametrize("name", [e.name for e in COURSE.exercises])
def test_the_alternative_passes_every_test(results, name):
    result = results[name]
    failing = [f"  {t.name}: {t.message} ({t.location})" for t in result.tests if t.outcome in ("failed", "error")]
    why = result.message or result.status
    assert result.status == PASSED and not failing, (
        f"{name}'s tests reject its alternative solution ({why}):\n" + "\n".join(failing)
    )
    assert not result.message, f"{name}'s alternative passes, but: {result.message}"
