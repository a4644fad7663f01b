"""The grader's memory: cached results and hints shown, in one small JSON file written atomically.

Results are keyed by a fingerprint of the exercise's files (and of the grader that produced them), so
``grader`` with nothing changed answers from here without running a single test. A missing file starts
empty; a corrupt one is set aside and rebuilt with a one-line notice — it only ever holds what can be
recomputed, never the student's work.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import __version__
from .course import Course, Exercise
from .results import ExerciseResult

STATE_VERSION = 1
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}


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
    def __init__(self, path: Path) -> None:
        self.path = path
        self.notice = ""
        self.data: dict[str, Any] = {"version": STATE_VERSION, "results": {}, "hints": {}}
        self._load()

    @classmethod
    def for_course(cls, course: Course) -> State:
        return cls(course.root / ".grader" / "state.json")

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            self.notice = f"could not read {self.path} ({exc.strerror}); starting afresh"
            return
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError("unknown layout")
            if not isinstance(data.get("results"), dict) or not isinstance(data.get("hints"), dict):
                raise ValueError("unknown layout")
        except ValueError:
            self.notice = f"{self.path} was unreadable and has been rebuilt (it only holds cached results)"
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_suffix(".corrupt"))
            return
        self.data = data

    def save(self) -> None:
        """Write to a temporary file and rename it over the old one: a crash leaves one or the other."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f)
            os.replace(tmp, self.path)
        except OSError as exc:
            self.notice = f"could not save {self.path} ({exc.strerror}); results will not be cached"

    # --- results ---

    def cached(self, exercise: Exercise, key: str) -> ExerciseResult | None:
        entry = self.data["results"].get(exercise.name)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        try:
            return ExerciseResult.from_dict(entry["result"])
        except (KeyError, TypeError):
            return None

    def remember(self, exercise: Exercise, key: str, result: ExerciseResult) -> None:
        self.data["results"][exercise.name] = {"key": key, "result": result.to_dict()}

    # --- hints ---

    def hints_shown(self, exercise: Exercise) -> int:
        value = self.data["hints"].get(exercise.name, 0)
        return value if isinstance(value, int) and value >= 0 else 0

    def set_hints_shown(self, exercise: Exercise, count: int) -> None:
        self.data["hints"][exercise.name] = count
