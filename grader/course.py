"""Finding the course: its exercises, their metadata, and what a student means by "7" or "wsgi_server".

A course is a folder with ``exercises/NN_slug/`` folders, each holding an ``exercise.toml``. This module
reads them (with the standard library only: the status path must stay light) and resolves the names a
student types into exercises, with a "did you mean …?" when a name matches nothing.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .shortcut import course_root

FOLDER_NAME = re.compile(r"^(?P<number>\d{2})_(?P<slug>[a-z][a-z0-9_]*)$")
PARTS = {
    1: "Part I · What you think you know",
    2: "Part II · WSGI",
    3: "Part III · ASGI",
    4: "Part IV · Patterns",
}
DEFAULT_TIMEOUT = 10.0
DEFAULT_TIME_LIMIT = 120.0


class CourseError(Exception):
    """The course itself is broken (a missing folder, a metadata file with a typo): say what and where."""


class UnknownExercise(CourseError):
    """The student named an exercise that does not exist."""


class BrokenExerciseError(CourseError):
    """The student named an exercise whose ``exercise.toml`` cannot be read: say why, grade nothing of it."""


@dataclass(frozen=True)
class BrokenExercise:
    """An exercise folder whose metadata cannot be read: one sentence says why, the rest of the course works."""

    path: Path
    number: int
    slug: str
    reason: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        return f"{self.number:02d} {self.slug}"

    @property
    def sentence(self) -> str:
        return f"{self.name} cannot be graded: {self.reason}"


@dataclass(frozen=True)
class Exercise:
    """One exercise folder and what its ``exercise.toml`` says about it."""

    path: Path
    number: int
    slug: str
    title: str
    part: int
    chapter: str
    files: tuple[str, ...]
    points: float = 10
    timeout: float = DEFAULT_TIMEOUT
    time_limit: float = DEFAULT_TIME_LIMIT
    hints: tuple[str, ...] = field(default_factory=tuple)
    builds_on: tuple[int, ...] = field(default_factory=tuple)
    """The earlier exercises whose student code this one imports (``builds_on = ["15"]``)."""
    weights: tuple[tuple[str, float], ...] = field(default_factory=tuple)
    """Per-test weights (``weights = { "test_reads" = 3 }``): a test name or a prefix of names, and the
    test's weight in the split of ``points`` (every other test weighs 1). See ``grader.results.weight_of``."""

    @property
    def name(self) -> str:
        """The folder name, ``01_http_client``: the exercise's stable identity."""
        return self.path.name

    @property
    def label(self) -> str:
        return f"{self.number:02d} {self.slug}"

    def student_files(self) -> list[Path]:
        return [self.path / name for name in self.files]

    def test_files(self) -> list[Path]:
        return sorted(self.path.glob("test_*.py"))


@dataclass(frozen=True)
class Course:
    root: Path
    exercises: tuple[Exercise, ...]
    broken: tuple[BrokenExercise, ...] = ()
    """Exercises whose metadata cannot be read (only with ``load_course(lenient=True)``)."""

    @property
    def exercises_dir(self) -> Path:
        return self.root / "exercises"

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions"

    def prerequisites(self, exercise: Exercise) -> list[Exercise]:
        """The exercises ``exercise`` builds on, directly or through another, that this course has."""
        by_number = {e.number: e for e in self.exercises}
        found: dict[int, Exercise] = {}
        waiting = list(exercise.builds_on)
        while waiting:
            number = waiting.pop()
            if number in found or number not in by_number:
                continue
            found[number] = by_number[number]
            waiting.extend(by_number[number].builds_on)
        return [found[n] for n in sorted(found)]

    def missing_prerequisites(self, exercise: Exercise) -> list[int]:
        """Numbers ``exercise`` builds on that are not in this course (a copy made without them)."""
        have = {e.number for e in self.exercises}
        return [n for n in exercise.builds_on if n not in have]

    def resolve(self, text: str) -> Exercise:
        """Find the exercise a student means: ``7``, ``07``, ``wsgi_server``, ``07_wsgi_server`` or a prefix.

        A broken exercise is found like any other, and raises :class:`BrokenExerciseError` saying why.
        """
        found = self.find(text)
        if isinstance(found, BrokenExercise):
            raise BrokenExerciseError(found.sentence)
        return found

    def find(self, text: str) -> Exercise | BrokenExercise:
        """:meth:`resolve`, but a broken exercise is returned instead of raised."""
        candidates = sorted([*self.exercises, *self.broken], key=lambda e: e.number)
        wanted = text.strip().lower().rstrip("/")
        wanted = wanted.rsplit("/", 1)[-1]  # a path such as exercises/07_wsgi_server works too
        if wanted.isdigit():
            for exercise in candidates:
                if exercise.number == int(wanted):
                    return exercise
        for exercise in candidates:
            if wanted in (exercise.name, exercise.slug):
                return exercise
        matches = [e for e in candidates if e.slug.startswith(wanted) or e.name.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(e.name for e in matches)
            raise UnknownExercise(f"'{text}' could mean several exercises: {names} — say which one")
        import difflib  # only a name that matches nothing needs it

        by_name = {e.name: e for e in candidates} | {e.slug: e for e in candidates}
        close = difflib.get_close_matches(wanted, list(by_name), n=6, cutoff=0.5)
        slugs = list(dict.fromkeys(by_name[c].slug for c in close))[:3]
        suggestion = f" — did you mean {' or '.join(slugs)}?" if slugs else ""
        listing = "" if slugs else " (run `grader` to see the list)"
        raise UnknownExercise(f"no exercise '{text}'{suggestion}{listing}")


def find_root(start: Path | None = None) -> Path:
    """The course root: ``$KATA_COURSE_ROOT``, else the nearest folder upwards with an ``exercises/``
    (the rule is :func:`grader.shortcut.course_root`'s, which the ``grader`` command reads first)."""
    root, problem = course_root(start)
    if root is None:
        raise CourseError(problem)
    return root


def load_course(root: Path | None = None, *, lenient: bool = False) -> Course:
    """The course at ``root``; any exercise whose metadata cannot be read raises :class:`CourseError`.

    ``lenient`` (the student's commands): such an exercise goes to ``Course.broken`` with its reason
    instead, so that one bad ``exercise.toml`` costs that exercise and not the whole course. Authors'
    commands stay strict: ``grader verify`` must not report a course verified that it partly skipped.
    """
    root = root or find_root()
    exercises_dir = root / "exercises"
    try:
        folders = sorted(p for p in exercises_dir.iterdir() if p.is_dir() and FOLDER_NAME.match(p.name))
    except OSError as exc:
        raise CourseError(f"cannot read {exercises_dir}: {exc.strerror}") from exc
    exercises: list[Exercise] = []
    broken: list[BrokenExercise] = []
    for folder in folders:
        try:
            exercises.append(load_exercise(folder))
        except CourseError as exc:
            if not lenient:
                raise
            match = FOLDER_NAME.match(folder.name)
            assert match is not None  # the folders were chosen by this pattern
            broken.append(BrokenExercise(folder, int(match["number"]), match["slug"], str(exc)))
    numbers = [e.number for e in [*exercises, *broken]]
    duplicated = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicated:
        raise CourseError(f"two exercise folders share the number {duplicated[0]:02d} in {exercises_dir}")
    return Course(root=root, exercises=tuple(exercises), broken=tuple(broken))


def load_exercise(folder: Path) -> Exercise:
    match = FOLDER_NAME.match(folder.name)
    if match is None:
        raise CourseError(f"{folder.name}: exercise folders are named NN_slug, like 01_http_client")
    metadata_file = folder / "exercise.toml"
    try:
        with open(metadata_file, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise CourseError(f"{metadata_file} is missing: every exercise needs one") from None
    except OSError as exc:
        raise CourseError(f"cannot read {metadata_file}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{metadata_file} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise CourseError(f"{metadata_file} is not UTF-8 text, as TOML must be") from None
    return _exercise_from(folder, int(match["number"]), match["slug"], data, metadata_file)


_KNOWN_KEYS = {"title", "part", "chapter", "files", "builds_on", "points", "timeout", "time_limit", "hints", "weights"}


def _exercise_from(folder: Path, number: int, slug: str, data: dict, source: Path) -> Exercise:
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(_KNOWN_KEYS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise CourseError(f"{source}: unknown key '{unknown[0]}'{hint}")

    def need(key: str, kind: type | tuple[type, ...], default: object = ...) -> object:
        if key not in data:
            if default is ...:
                raise CourseError(f"{source}: '{key}' is missing")
            return default
        value = data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CourseError(f"{source}: '{key}' has the wrong type ({type(value).__name__})")
        return value

    def seconds(key: str, default: float) -> float:
        value = float(need(key, (int, float), default))  # type: ignore[arg-type]
        if not (math.isfinite(value) and value > 0):  # -1, 0, nan and inf would mean "no limit" or "none at all"
            raise CourseError(f"{source}: '{key}' must be a positive number of seconds, not {data[key]!r}")
        return value

    files = need("files", list)
    hints = need("hints", list, [])
    if not all(isinstance(f, str) for f in files) or not files:
        raise CourseError(f"{source}: 'files' must be a non-empty list of file names")
    for name in files:
        # grader reset writes these: a path could make it write outside the exercise's folder.
        if name in ("", ".", "..") or "/" in name or "\\" in name:
            raise CourseError(f"{source}: 'files' must name files in the exercise's own folder, not '{name}'")
    if not all(isinstance(h, str) for h in hints):
        raise CourseError(f"{source}: 'hints' must be a list of strings")
    builds_on = need("builds_on", list, [])
    if not all(isinstance(b, str) and re.fullmatch(r"[0-9]{2}", b) for b in builds_on):
        raise CourseError(f"{source}: 'builds_on' must list exercise numbers as two-digit strings, like [\"07\"]")
    if any(int(b) >= number for b in builds_on):
        raise CourseError(f"{source}: 'builds_on' may only name earlier exercises than {number:02d}")
    part = need("part", int)
    if part not in PARTS:
        raise CourseError(f"{source}: 'part' must be one of {sorted(PARTS)}, not {part}")
    points = float(need("points", (int, float), 10))  # type: ignore[arg-type]
    if not (math.isfinite(points) and points >= 0):  # 0 is meaningful: an exercise that counts for nothing
        raise CourseError(f"{source}: 'points' must be zero or more, not {data['points']!r}")
    weights = need("weights", dict, {})
    for name, weight in weights.items():  # type: ignore[union-attr]
        if not name.startswith("test") or isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not (math.isfinite(weight) and weight > 0):
            raise CourseError(
                f"{source}: 'weights' maps test names (or their prefixes) to positive numbers, not {name!r} = {weight!r}"
            )
    return Exercise(
        path=folder,
        number=number,
        slug=slug,
        title=str(need("title", str)),
        part=part,
        chapter=str(need("chapter", str, "")),
        files=tuple(files),
        points=points,
        timeout=seconds("timeout", DEFAULT_TIMEOUT),
        time_limit=seconds("time_limit", DEFAULT_TIME_LIMIT),
        hints=tuple(hints),
        builds_on=tuple(sorted({int(b) for b in builds_on})),
        weights=tuple(weights.items()),  # type: ignore[union-attr]
    )
