"""The files as shipped, and putting them back without ever losing the student's work.

The pristine files come from git: the course records each stub's and each test file's git blob id in
``exercises/checksums.json``, and any clone holds those blobs, whatever the student committed since.
When a course copy was updated and the recorded stub never entered its history (the student's own
file was kept), the version the copy started with is used instead.

``grader reset`` restores stubs, copying the student's file to ``.grader/backups/`` first;
``grader report --restore-tests`` restores edited test files before grading, so that editing a
test cannot raise a score, and backs up the student's version there too. Files are put back by
writing a new file and renaming it over the name: a symlinked stub is replaced by the stub, and the
file the link pointed to is left as it was (its contents are in the backup).

Every run of the student's code may also destroy it (a stub that deletes or truncates itself):
before the tests run, the grader keeps a copy of each file it is about to grade in
``.grader/graded/NN_slug/`` (the last version graded, one per file; files over ``KEEP_LIMIT`` bytes
are not kept, so the folder holds at most that much per student file), and ``grader reset --graded``
puts it back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import checksums
from .course import Course, CourseError, Exercise

KEEP_LIMIT = 1 << 20  # bytes: a student file larger than this is not kept in .grader/graded/


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


def restore_tests(course: Course, exercise: Exercise) -> list[tuple[str, Path | None]]:
    """Put back every test file that differs from the recorded one; return (name, backup) pairs.

    The student's version of each file is backed up first (None: there was no file to keep), and
    nothing changes unless every recorded version was found.
    """
    recorded = checksums.load(course).get(exercise.name, {}).get("tests", {})
    plan: dict[str, bytes | None] = {}
    for name in checksums.edited_tests(exercise, checksums.load(course)):
        blob = recorded.get(name)
        if blob is None:  # a test file the course never had: it must not take part in grading
            plan[name] = None
            continue
        data = _git_blob(course, blob)
        if data is None:
            target = exercise.path / name
            raise CourseError(f"cannot restore {target.relative_to(course.root)}: its recorded version is not in git")
        plan[name] = data
    restored = []
    for name, data in plan.items():
        target = exercise.path / name
        saved = backup(course, exercise, name)
        if data is None:
            target.unlink(missing_ok=True)
        else:
            _put(target, data)
        restored.append((name, saved))
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
    """Copy the student's file aside; return where it went (None when there was no file).

    A symlink is followed: what is kept is the contents the student saw under that name.
    """
    source = exercise.path / name
    if not source.is_file():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = course.root / ".grader" / "backups" / exercise.name / f"{name}.{stamp}"
    counter = 1
    while target.exists():
        counter += 1
        target = target.with_name(f"{name}.{stamp}-{counter}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    with contextlib.suppress(OSError):
        shutil.copystat(source, target)
    return target


def _put(target: Path, data: bytes) -> None:
    """Write ``data`` as a new regular file named ``target``, atomically.

    Renaming over the name replaces the name itself: a symlink there is replaced, and the file it
    pointed to (perhaps outside the course) is never written.
    """
    if target.is_dir() and not target.is_symlink():
        raise CourseError(f"cannot restore {target.name}: there is a folder of that name in {target.parent}")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _current(target: Path) -> bytes | None:
    """What the student sees under ``target`` now (None: no such file, or a link to nowhere)."""
    try:
        return target.read_bytes()
    except OSError:
        return None


Restored = tuple[str, "Path | None", bool]  # file name, where the student's version went, whether it changed


def reset(course: Course, exercise: Exercise) -> list[Restored]:
    """Restore every stub of ``exercise``. Nothing changes if any pristine stub is missing."""
    originals = {name: pristine_stub(course, exercise, name) for name in exercise.files}
    return _restore(course, exercise, originals)


def _restore(course: Course, exercise: Exercise, contents: dict[str, bytes]) -> list[Restored]:
    """Write each file's ``contents``, backing up the student's version first (a missing file has none)."""
    done: list[Restored] = []
    for name, data in contents.items():
        target = exercise.path / name
        if not target.is_symlink() and _current(target) == data:
            done.append((name, None, False))
            continue
        saved = backup(course, exercise, name)
        _put(target, data)
        done.append((name, saved, True))
    return done


# --- the last version graded ------------------------------------------------------------------------


def graded_copy(course: Course, exercise: Exercise, name: str) -> Path:
    """Where the last graded version of the student's ``name`` is kept."""
    return course.root / ".grader" / "graded" / exercise.name / name


def keep_graded(course: Course, exercise: Exercise) -> None:
    """Keep a copy of each of the student's files as it is now, just before its tests run.

    Best effort and silent: a missing, empty or oversized file keeps the copy that is already
    there, and a ``.grader/`` that cannot be written is reported by the state, not here.
    """
    for name in exercise.files:
        source = exercise.path / name
        with contextlib.suppress(OSError):
            if not source.is_file() or not 0 < source.stat().st_size <= KEEP_LIMIT:
                continue
            data = source.read_bytes()
            kept = graded_copy(course, exercise, name)
            if _current(kept) == data:
                continue
            kept.parent.mkdir(parents=True, exist_ok=True)
            _put(kept, data)


def graded_versions(course: Course, exercise: Exercise) -> dict[str, bytes]:
    """The kept versions that differ from the student's files now, by file name."""
    found = {}
    for name in exercise.files:
        kept = _current(graded_copy(course, exercise, name))
        if kept and kept != _current(exercise.path / name):
            found[name] = kept
    return found


def restore_graded(course: Course, exercise: Exercise) -> list[Restored]:
    """Put back the last graded version of each file that has one and differs from the file now."""
    return _restore(course, exercise, graded_versions(course, exercise))


# --- the course as committed, for `grader grade` ----------------------------------------------------


def _git_at(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, input=stdin, capture_output=True, timeout=60, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired, OSError):
        return None


def is_repository_root(root: Path) -> bool:
    """True when ``root`` is the top of a git work tree that has a commit (not a folder inside another one)."""
    top = _git_at(root, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        return False
    with contextlib.suppress(OSError):
        if Path(top.stdout.decode().strip()).resolve() != root.resolve():
            return False
        head = _git_at(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        return head is not None and head.returncode == 0
    return False


def committed_files(root: Path, folders: tuple[str, ...]) -> dict[str, bytes] | None:
    """Every regular file under ``folders`` as committed at HEAD in the repository at ``root``.

    Keys are paths relative to ``root`` with ``/``. None when ``root`` is not the top of a git work
    tree with a commit, or git cannot be run: the caller then decides what else it trusts. Symbolic
    links and submodules are left out: a committed link could point anywhere.
    """
    if not is_repository_root(root):
        return None
    listed = _git_at(root, "ls-tree", "-r", "-z", "HEAD", "--", *folders)
    if listed is None or listed.returncode != 0:
        return None
    entries: list[tuple[str, str]] = []
    for record in listed.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, blob = meta.split()
        if kind == b"blob" and mode in (b"100644", b"100755"):
            entries.append((path.decode("utf-8", errors="surrogateescape"), blob.decode()))
    blobs = committed_blobs(root, [blob for _, blob in entries])
    if blobs is None:
        return None
    return {path: blobs[blob] for path, blob in entries if blob in blobs}


def committed_blobs(root: Path, ids: list[str]) -> dict[str, bytes] | None:
    """The contents of the git blobs ``ids`` in the repository at ``root`` (missing ones are left out).

    One ``git cat-file --batch`` for all of them; each is checked against its id.
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    done = _git_at(root, "cat-file", "--batch", stdin=("\n".join(wanted) + "\n").encode())
    if done is None or done.returncode != 0:
        return None
    found: dict[str, bytes] = {}
    data, position = done.stdout, 0
    for blob in wanted:
        end = data.find(b"\n", position)
        if end < 0:
            break
        header = data[position:end].split()
        position = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<id> missing", or not a blob
        size = int(header[2])
        content = data[position : position + size]
        position += size + 1  # the contents, then a newline
        if checksums.blob_id(content) == blob:
            found[blob] = content
    return found
