"""The files as shipped, and putting them back without ever losing the student's work.

The pristine files come from git: the course records each stub's and each test file's git blob id in
``exercises/checksums.json``, and any clone holds those blobs, whatever the student committed since.
When a course copy was updated and the recorded stub never entered its history (the student's own
file was kept), the version the copy started with is used instead.

``grader reset`` restores stubs, copying the student's file to ``.grader/backups/`` first;
``grader report --restore-tests`` restores edited test files before grading, so that editing a
test cannot raise a score.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from . import checksums
from .course import Course, CourseError, Exercise


def pristine_stub(course: Course, exercise: Exercise, name: str) -> bytes:
    recorded = checksums.load(course).get(exercise.name, {}).get("stubs", {}).get(name)
    if not recorded:
        raise CourseError(
            f"cannot find the pristine {name}: the course records no checksum for it (exercises/checksums.json)"
        )
    data = _git_blob(course, recorded) or _first_committed_version(course, exercise.path / name)
    if data is None:
        raise CourseError(
            f"cannot find the pristine {name} in this git repository (blob {recorded[:12]}); "
            "is this a clone of the course?"
        )
    return data


def restore_tests(course: Course, exercise: Exercise) -> list[str]:
    """Put back every test file that differs from the recorded one; return the names restored."""
    recorded = checksums.load(course).get(exercise.name, {}).get("tests", {})
    restored = []
    for name in checksums.edited_tests(exercise, checksums.load(course)):
        target = exercise.path / name
        blob = recorded.get(name)
        if blob is None:  # a test file the course never had: it must not take part in grading
            target.unlink(missing_ok=True)
            restored.append(name)
            continue
        data = _git_blob(course, blob)
        if data is None:
            raise CourseError(f"cannot restore {target.relative_to(course.root)}: its recorded version is not in git")
        target.write_bytes(data)
        restored.append(name)
    return restored


def _git(course: Course, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(["git", *args], cwd=course.root, capture_output=True, timeout=30, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None


def _git_blob(course: Course, blob: str) -> bytes | None:
    completed = _git(course, "cat-file", "blob", blob)
    if completed is None or completed.returncode != 0 or checksums.blob_id(completed.stdout) != blob:
        return None
    return completed.stdout


def _first_committed_version(course: Course, path: Path) -> bytes | None:
    relative = path.relative_to(course.root).as_posix()
    commits = _git(course, "rev-list", "--reverse", "HEAD", "--", relative)
    if commits is None or commits.returncode != 0 or not commits.stdout.split():
        return None
    first = commits.stdout.split()[0].decode()
    shown = _git(course, "show", f"{first}:{relative}")
    return shown.stdout if shown is not None and shown.returncode == 0 else None


def backup(course: Course, exercise: Exercise, name: str) -> Path | None:
    """Copy the student's file aside; return where it went (None when there was no file)."""
    source = exercise.path / name
    if not source.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = course.root / ".grader" / "backups" / exercise.name / f"{name}.{stamp}"
    counter = 1
    while target.exists():
        counter += 1
        target = target.with_name(f"{name}.{stamp}-{counter}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target


def reset(course: Course, exercise: Exercise) -> list[tuple[str, Path | None]]:
    """Restore every stub of ``exercise``; return (file, backup) pairs. Nothing changes if any is missing."""
    originals = {name: pristine_stub(course, exercise, name) for name in exercise.files}
    done = []
    for name, data in originals.items():
        target = exercise.path / name
        if target.exists() and target.read_bytes() == data:
            done.append((name, None))
            continue
        saved = backup(course, exercise, name)
        target.write_bytes(data)
        done.append((name, saved))
    return done
