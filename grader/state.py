"""The grader's memory: cached results and hints shown, in one small JSON file written atomically.

Results are keyed by a fingerprint of the exercise's files (and of the grader that produced them), so
``grader`` with nothing changed answers from here without running a single test. A missing file starts
empty; a corrupt one (not JSON, not UTF-8, not this layout) is set aside and rebuilt with a one-line
notice — it only ever holds what can be recomputed, never the student's work. A state that cannot be
written (a read-only ``.grader/``) is said once per command, and the command still answers.

Several commands may run at once (``grader check 01`` in one terminal, ``grader check 02`` or
``grader hint 03`` in another). Each remembers what it changed, and saving merges those changes into
the file as it is on disk at that moment, under a lock: ``fcntl.flock`` where there is one, else a
lock file created exclusively. No command's result or hint count is lost to another's save.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: the portable lock file below
    fcntl = None  # type: ignore[assignment]

from . import __version__
from .course import Course, Exercise
from .results import ExerciseResult

STATE_VERSION = 1
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
STALE_LOCK = 10.0  # seconds: a lock file older than this was left by a process that died holding it


@functools.cache
def _grader_digest() -> bytes:
    """The grader's own code and the tests' toolkit: a new one may judge the same files differently."""
    digest = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for path in sorted([*here.glob("*.py"), *(here.parent / "testkit").glob("*.py")]):
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.digest()


def fingerprint(course: Course, exercise: Exercise) -> str:
    """A hash of everything that decides an exercise's result: its folder and the folders of the
    exercises it builds on (16's tests run on the student's 15), the switch, the grader."""
    digest = hashlib.sha256(_grader_digest())
    inputs = [course.exercises_dir / "conftest.py"]
    for folder in [exercise.path, *(e.path for e in course.prerequisites(exercise))]:
        inputs += sorted(p for p in folder.rglob("*") if p.is_file() and not _SKIPPED_PARTS & set(p.parts))
    for path in inputs:
        digest.update(str(path.relative_to(path.anchor)).encode())
        with contextlib.suppress(OSError):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class State:
    def __init__(self, path: Path, *, on_notice: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.notice = ""  # the last thing worth telling the student about the state, if any
        self.on_notice = on_notice  # called once with each different notice (the CLI prints it)
        self.data: dict[str, Any] = _empty()
        self._told: set[str] = set()
        self._changed_results: set[str] = set()
        self._changed_hints: set[str] = set()
        self._load()

    @classmethod
    def for_course(cls, course: Course, *, on_notice: Callable[[str], None] | None = None) -> State:
        return cls(course.root / ".grader" / "state.json", on_notice=on_notice)

    def _tell(self, notice: str) -> None:
        self.notice = notice
        if notice not in self._told:
            self._told.add(notice)
            if self.on_notice is not None:
                self.on_notice(notice)

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._tell(f"could not read {self.path} ({exc.strerror}); starting afresh")
            return
        data = _parse(raw)
        if data is None:
            self._tell(f"{self.path} was unreadable and has been rebuilt (it only holds cached results)")
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_suffix(".corrupt"))
            return
        self.data = data

    def save(self) -> None:
        """Merge this command's changes into the file on disk, under the lock, and write it atomically.

        The new file is written to a temporary one and renamed over the old: a crash leaves one or
        the other. What another command saved meanwhile stays, except where this one changed it.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path):
                merged = self._merged_with(self._on_disk())
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        f.write(json.dumps(merged))  # dumps() has the C encoder; dump() to a file has not
                    os.replace(tmp, self.path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
        except OSError as exc:
            self._tell(f"could not save {self.path} ({exc.strerror or exc}); results will not be cached")
            return
        self.data = merged
        self._changed_results.clear()
        self._changed_hints.clear()

    def _on_disk(self) -> dict[str, Any] | None:
        try:
            return _parse(self.path.read_bytes())
        except OSError:
            return None

    def _merged_with(self, on_disk: dict[str, Any] | None) -> dict[str, Any]:
        """The file as another command may have left it, with this command's changes on top."""
        if on_disk is None:  # none yet, or unreadable: what this command knows is the best there is
            return json.loads(json.dumps(self.data))
        for name in self._changed_results:
            on_disk["results"][name] = self.data["results"][name]
        for name in self._changed_hints:
            # Hints are only ever shown, never unshown: the larger count is the true one.
            theirs = on_disk["hints"].get(name, 0)
            ours = self.data["hints"][name]
            on_disk["hints"][name] = max(ours, theirs) if isinstance(theirs, int) else ours
        return on_disk

    # --- results ---

    def cached(self, exercise: Exercise, key: str) -> ExerciseResult | None:
        entry = self.data["results"].get(exercise.name)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        try:
            return ExerciseResult.from_dict(entry["result"])
        except (KeyError, TypeError, AttributeError, ValueError):  # an entry of another shape: run again
            return None

    def remember(self, exercise: Exercise, key: str, result: ExerciseResult) -> None:
        self.data["results"][exercise.name] = {"key": key, "result": result.to_dict()}
        self._changed_results.add(exercise.name)

    # --- hints ---

    def hints_shown(self, exercise: Exercise) -> int:
        value = self.data["hints"].get(exercise.name, 0)
        return value if isinstance(value, int) and value >= 0 else 0

    def set_hints_shown(self, exercise: Exercise, count: int) -> None:
        self.data["hints"][exercise.name] = count
        self._changed_hints.add(exercise.name)


def _empty() -> dict[str, Any]:
    return {"version": STATE_VERSION, "results": {}, "hints": {}}


def _parse(raw: bytes) -> dict[str, Any] | None:
    """The state in ``raw``, or None when it is not a state this grader wrote (any corruption at all)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8 (UnicodeDecodeError is a ValueError), not JSON, too deep
        return None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return None
    if not isinstance(data.get("results"), dict) or not isinstance(data.get("hints"), dict):
        return None
    return data


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the state's lock while it is read, merged and written (milliseconds)."""
    if fcntl is not None:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed, even by a killed process
            except OSError:  # a file system without flock (some network drives): the portable lock
                with _lock_file(path.with_name(path.name + ".lock-held")):
                    yield
                return
            yield
        finally:
            os.close(fd)
        return
    with _lock_file(path.with_name(path.name + ".lock-held")):
        yield


@contextlib.contextmanager
def _lock_file(lock: Path) -> Iterator[None]:
    """The portable lock: whoever creates ``lock`` (O_EXCL: one creator wins) holds it until it is removed.

    A process killed while holding it leaves the file behind; one older than ``STALE_LOCK`` seconds
    is taken to be such a leftover and removed (a holder keeps it for milliseconds).
    """
    deadline = time.monotonic() + 2 * STALE_LOCK  # a stale lock that cannot be removed must not hang us
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - os.stat(lock).st_mtime > STALE_LOCK:
                    os.unlink(lock)
                    continue
            if time.monotonic() > deadline:
                raise TimeoutError(errno.ETIMEDOUT, f"{lock.name} stays locked") from None
            time.sleep(0.005)
    try:
        yield
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(lock)
