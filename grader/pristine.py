"""The stub as shipped, and putting it back (``grader reset``) without ever losing the student's work.

The pristine stub comes from git: the course records each stub's git blob id in
``exercises/checksums.json``, and any clone holds that blob, whatever the student committed since.
Before a stub is restored, the student's file is copied to ``.grader/backups/``.
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
    try:
        completed = subprocess.run(
            ["git", "cat-file", "blob", recorded], cwd=course.root, capture_output=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise CourseError(f"cannot find the pristine {name}: git is not installed") from None
    except subprocess.TimeoutExpired:
        raise CourseError(f"cannot find the pristine {name}: git took too long") from None
    if completed.returncode != 0 or checksums.blob_id(completed.stdout) != recorded:
        raise CourseError(
            f"cannot find the pristine {name} in this git repository (blob {recorded[:12]}); "
            "is this a clone of the course?"
        )
    return completed.stdout


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
