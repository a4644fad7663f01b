"""The course's recorded checksums: what each pristine stub and each test file looked like as shipped.

``exercises/checksums.json`` maps every exercise to the git blob ids of its stub files and its test
files. Git blob ids (not plain SHA-256) because git can then hand back the pristine stub itself from
any clone (``git cat-file blob <id>``) for ``grader reset``. With them the grader can tell:

- an exercise whose files are still the pristine stubs is *not started* (no need to run its tests);
- a test file that differs from the recorded one was edited (``grader verify`` says which).

Course authors re-record them with ``grader verify --record`` after changing a stub or a test.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .course import Course, CourseError, Exercise

FILE_NAME = "checksums.json"


def blob_id(data: bytes) -> str:
    """The id git gives a file's contents: SHA-1 of ``b"blob <size>\\0" + data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_id(path: Path) -> str | None:
    try:
        return blob_id(path.read_bytes())
    except OSError:
        return None


def path_for(course: Course) -> Path:
    return course.exercises_dir / FILE_NAME


def load(course: Course) -> dict[str, dict[str, dict[str, str]]]:
    """The recorded checksums, or an empty record when the course has none (yet)."""
    try:
        data = json.loads(path_for(course).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CourseError(f"{path_for(course)} is unreadable ({exc}); re-record it with `grader verify --record`") from None
    if not isinstance(data, dict):
        raise CourseError(f"{path_for(course)} is not a checksum record; re-record it with `grader verify --record`")
    return data


def current(exercise: Exercise) -> dict[str, dict[str, str]]:
    """The checksums of the exercise's files as they are on disk now."""
    return {
        "stubs": {name: file_id(exercise.path / name) or "" for name in exercise.files},
        "tests": {p.name: file_id(p) or "" for p in exercise.test_files()},
    }


def record(course: Course) -> Path:
    import tempfile  # only course authors record: keep it off the status path

    data = {exercise.name: current(exercise) for exercise in course.exercises}
    target = path_for(course)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".checksums-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, target)
    return target


def is_pristine(exercise: Exercise, recorded: dict[str, dict[str, dict[str, str]]]) -> bool:
    """True when every file the student edits is byte for byte the stub as shipped."""
    stubs = recorded.get(exercise.name, {}).get("stubs")
    if not stubs:
        return False
    return all(file_id(exercise.path / name) == stubs.get(name) for name in exercise.files)


def edited_tests(exercise: Exercise, recorded: dict[str, dict[str, dict[str, str]]]) -> list[str]:
    """Test files that differ from the recorded ones (added, removed or changed)."""
    tests = recorded.get(exercise.name, {}).get("tests")
    if tests is None:
        return []
    now = current(exercise)["tests"]
    return sorted(name for name in set(tests) | set(now) if tests.get(name) != now.get(name))
