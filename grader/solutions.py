"""Where the reference solutions are: ``solutions/`` in this repository, the ``solutions`` branch in a
course copy (whose ``main`` must never hold them, so students cannot simply read them)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .course import Course, CourseError, Exercise

BRANCH = "solutions"


def is_course_copy(course: Course) -> bool:
    return (course.root / ".copier-answers.yml").is_file() and not course.solutions_dir.is_dir()


@contextlib.contextmanager
def solutions_folder(course: Course) -> Iterator[Path]:
    """A folder laid out like ``solutions/`` (``NN_slug/`` folders), for ``KATA_SOLUTIONS``."""
    if course.solutions_dir.is_dir():
        yield course.solutions_dir
        return
    if not is_course_copy(course):
        raise CourseError(f"no solutions/ folder in {course.root}")
    archive = _git(course, "archive", "--format=tar", BRANCH, "exercises")
    with tempfile.TemporaryDirectory(prefix="grader-solutions-") as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        yield Path(scratch) / "exercises"


def read_solution(course: Course, exercise: Exercise, name: str) -> str:
    """The reference version of one of the exercise's files, as text."""
    if course.solutions_dir.is_dir():
        path = course.solutions_dir / exercise.name / name
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CourseError(f"cannot read the solution {path}: {exc.strerror}") from None
    if not is_course_copy(course):
        raise CourseError(f"no solutions/ folder in {course.root}")
    return _git(course, "show", f"{BRANCH}:exercises/{exercise.name}/{name}").decode("utf-8")


def _git(course: Course, *args: str) -> bytes:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=course.root, capture_output=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise CourseError("git is not installed, and the solutions live on the 'solutions' branch") from None
    except subprocess.TimeoutExpired:
        raise CourseError(f"git {args[0]} took too long") from None
    if completed.returncode != 0 and args[0] in ("archive", "show") and _no_branch(course):
        raise CourseError(
            f"this copy of the course has no '{BRANCH}' branch (course copies publish only main): "
            "ask your instructor for the reference solutions"
        )
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"exit status {completed.returncode}"
        raise CourseError(f"could not read the '{BRANCH}' branch: {reason}")
    return completed.stdout


def _no_branch(course: Course) -> bool:
    completed = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}"],
        cwd=course.root, capture_output=True, timeout=30, check=False,
    )
    return completed.returncode != 0
