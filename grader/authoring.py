"""``grader new SLUG``: a new exercise in the house format, for course authors.

It writes the statement, a stub, a first test, the metadata and the solution folder; the author then
fills them in until ``grader verify`` accepts the exercise (its stub must fail, its solution pass).
"""

from __future__ import annotations

import re
from pathlib import Path

from .course import Course, CourseError

SLUG = re.compile(r"^[a-z][a-z0-9_]*$")

README = """# {number:02d} · {title}

**Goal:** (two lines: what the student builds, and why it matters.)
**Book:** Part {part}, "(chapter)".

## Concepts
- (the ideas this exercise teaches)

## What you write (`{slug}.py`)
`{slug}(...)` — (the API, with its types)

## The spec
- (PEP 3333 § / ASGI § / RFC sections)

## Check your work
```
grader check {number:02d}          # or: pytest exercises/{name}
grader hint {number:02d}
```

## Try it by hand
(curl, a browser, `python -m {slug}`)
"""

STUB = '''"""Exercise {number:02d} — {title}.

(Teach the concept here: what the student writes, and the spec section that says how.)
"""

from __future__ import annotations


def {slug}() -> object:
    """(What it returns, and the rule from the spec that it follows.)"""
    raise NotImplementedError("write {slug}() in {slug}.py")
'''

SOLUTION = '''"""Exercise {number:02d} — {title}: the reference solution."""

from __future__ import annotations


def {slug}() -> object:
    raise NotImplementedError("write the reference solution of {slug}() in solutions/{name}/{slug}.py")
'''

TEST = '''"""Exercise {number:02d} is graded against: (the real peer: wsgiref.validate, httpx, uvicorn, …)."""

from __future__ import annotations

import pytest

from {slug} import {slug}


@pytest.mark.spec("(the spec section this test grades)")
def test_first_small_step() -> None:
    got = {slug}()
    expected = "(what the spec says)"
    assert got == expected, f"expected {{expected!r}}, got {{got!r}}"
'''

TOML = '''title = "{title}"
part = {part}
chapter = "(the book's chapter, or (beyond the book))"
files = ["{slug}.py"]
points = 10
timeout = 10
time_limit = 60
hints = [
    "(a first nudge)",
    "(a stronger one)",
    "(almost the answer)",
]
'''


def scaffold(course: Course, slug: str, *, title: str | None = None, part: int = 4) -> Path:
    if not SLUG.match(slug):
        raise CourseError(f"'{slug}' is not a slug: use lower case letters, digits and _, starting with a letter")
    if any(e.slug == slug for e in course.exercises):
        raise CourseError(f"there is already an exercise called {slug}")
    number = max((e.number for e in course.exercises), default=0) + 1
    if number > 99:
        raise CourseError("exercise numbers have two digits; this course is full")
    name = f"{number:02d}_{slug}"
    folder = course.exercises_dir / name
    solution_folder = course.solutions_dir / name
    if folder.exists() or solution_folder.exists():
        raise CourseError(f"{folder} or {solution_folder} exists already")
    values = {"number": number, "slug": slug, "name": name, "title": title or slug.replace("_", " ").capitalize(), "part": part}
    folder.mkdir(parents=True)
    solution_folder.mkdir(parents=True)
    (folder / "README.md").write_text(README.format(**values), encoding="utf-8")
    (folder / f"{slug}.py").write_text(STUB.format(**values), encoding="utf-8")
    (folder / f"test_{slug}.py").write_text(TEST.format(**values), encoding="utf-8")
    (folder / "exercise.toml").write_text(TOML.format(**values), encoding="utf-8")
    (solution_folder / f"{slug}.py").write_text(SOLUTION.format(**values), encoding="utf-8")
    return folder
