"""Assignments: the instructor's grouping of a course's exercises, each graded on its own.

An instructor names them in ``assignments.toml`` at the course root::

    [[assignment]]
    name = "servers"                        # what `grader grade --assignment servers` takes
    exercises = ["07", "08"]                # anything `grader check` takes: 7, 07, wsgi_server, 07_wsgi_server
    due = 2026-10-09T23:59:00+02:00         # optional: a TOML date-time (with its offset), or a date
    points = 20                             # optional: the assignment's total; the exercises' points scale to it

A date without a time means the end of that day; a date or date-time without an offset is in the
grader machine's time zone (UTC on GitHub Actions and Gradescope). Without ``points`` the
assignment is worth what its exercises are.

The file is read from the course the grader grades against (the trusted source, never a
submission): in a git repository as committed at HEAD, else from the folder on disk.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .course import Course, CourseError

FILE_NAME = "assignments.toml"
_KEYS = {"name", "exercises", "due", "points"}


class AssignmentError(CourseError):
    """``assignments.toml`` is wrong, or names what does not exist: one sentence says what."""


@dataclass(frozen=True)
class Assignment:
    name: str
    exercises: tuple[str, ...]  # folder names, in course order
    due: dt.datetime | None = None  # always with a time zone
    points: Fraction | None = None  # the assignment's total, when it scales its exercises' points

    def is_due(self, now: dt.datetime | None = None) -> bool:
        """Whether the due date has passed (an assignment without one never is)."""
        return self.due is not None and (now or dt.datetime.now(dt.timezone.utc)) >= self.due

    def due_text(self) -> str:
        """``due 2026-10-09 23:59 +0200``, or nothing when there is no due date."""
        return f"due {when(self.due)}" if self.due else ""


def when(moment: dt.datetime | str) -> str:
    """``2026-10-09 23:59 +0200`` (``UTC`` for UTC): a due date as people read it."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return f"{moment:%Y-%m-%d %H:%M %z}".replace("+0000", "UTC")


def read(root: Path, *, committed: bool = False) -> str | None:
    """The text of ``assignments.toml`` at ``root``, None when there is none. ``committed`` (grading):
    as committed at HEAD when ``root`` is a git repository, so that an uncommitted edit changes no grade."""
    committed_files = None
    if committed:
        from . import pristine  # git, only when grading

        committed_files = pristine.committed_files(root, (FILE_NAME,))
    if committed_files is not None:
        data = committed_files.get(FILE_NAME)
    else:
        try:
            data = (root / FILE_NAME).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AssignmentError(f"cannot read {root / FILE_NAME}: {exc.strerror}") from None
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AssignmentError(f"{FILE_NAME} is not UTF-8 text, as TOML must be") from None


def load(course: Course, root: Path | None = None, *, committed: bool = False) -> list[Assignment]:
    """The assignments of ``course`` (read at ``root``, default the course's own; see :func:`read`), in
    the file's order; an empty list when the course defines none."""
    text = read(root or course.root, committed=committed)
    return [] if text is None else parse(text, course)


def parse(text: str, course: Course) -> list[Assignment]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{FILE_NAME} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"assignment"})
    if unknown:
        raise AssignmentError(f"{FILE_NAME}: unknown key '{unknown[0]}' (each assignment is an [[assignment]] table)")
    tables = data.get("assignment", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise AssignmentError(f"{FILE_NAME}: write each assignment as an [[assignment]] table")
    found: list[Assignment] = []
    for number, table in enumerate(tables, start=1):
        assignment = _assignment(table, number, course)
        if any(a.name == assignment.name for a in found):
            raise AssignmentError(f"{FILE_NAME}: two assignments are named '{assignment.name}'")
        found.append(assignment)
    return found


def _assignment(table: dict, number: int, course: Course) -> Assignment:
    where = f"{FILE_NAME}, assignment {number}"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(_KEYS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise AssignmentError(f"{where}: unknown key '{unknown[0]}'{hint}")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise AssignmentError(f"{where}: 'name' must be a word without spaces, like \"week1\"")
    where = f"{FILE_NAME}, assignment '{name}'"
    listed = table.get("exercises")
    if not isinstance(listed, list) or not listed or not all(isinstance(e, str) for e in listed):
        raise AssignmentError(f"{where}: 'exercises' must be a non-empty list of exercise names, like [\"07\", \"08\"]")
    names: list[str] = []
    for text in listed:
        try:
            found = course.find(text)
        except CourseError:
            raise AssignmentError(f"{where} names the exercise '{text}', which is not in this course") from None
        if found.name not in names:
            names.append(found.name)
    names.sort()
    return Assignment(name=name, exercises=tuple(names), due=_due(table.get("due"), where), points=_points(table, where))


def _due(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.astimezone()  # a local date-time: this machine's zone
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(23, 59, 59)).astimezone()
    raise AssignmentError(f"{where}: 'due' must be a TOML date or date-time, like 2026-10-09T23:59:00+02:00")


def _points(table: dict, where: str) -> Fraction | None:
    value = table.get("points")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise AssignmentError(f"{where}: 'points' must be a positive number, not {value!r}")
    return Fraction(str(value))


def find(assignments: Sequence[Assignment], name: str) -> Assignment:
    """The assignment called ``name``; an unknown name is one sentence with a "did you mean"."""
    for assignment in assignments:
        if assignment.name == name:
            return assignment
    if not assignments:
        raise AssignmentError(f"this course defines no assignments (no {FILE_NAME} at its root), so there is no '{name}'")
    names = [a.name for a in assignments]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    suggestion = f" — did you mean {close[0]}?" if close else f" (the assignments are {', '.join(names)})"
    raise AssignmentError(f"no assignment '{name}'{suggestion}")


# --- a verdict per assignment -----------------------------------------------------------------------


def totals(defined: Sequence[Assignment], pairs: Sequence, now: dt.datetime | None = None) -> list[dict]:
    """One row per assignment whose exercises were all graded in ``pairs``: its status (``passed`` when
    every exercise passes), its points (scaled by its ``points``), its due date and whether it passed.

    ``assignments.json`` holds these rows; the GitHub workflow's verdict reads them.
    """
    from .results import passes, rounded, score

    by_name = {exercise.name: (exercise, result) for exercise, result in pairs}
    rows = []
    for assignment in defined:
        if not all(name in by_name for name in assignment.exercises):
            continue  # graded in part (`grader grade 07`): no verdict on the whole
        mine = [by_name[name] for name in assignment.exercises]
        sheet = score(mine, total=assignment.points, assignment=assignment.name)
        rows.append(
            {
                "name": assignment.name,
                "exercises": list(assignment.exercises),
                "due": assignment.due.isoformat() if assignment.due else None,
                "due_passed": assignment.is_due(now),
                "status": "passed" if all(passes(r) for _, r in mine) else "failed",
                "total": str(sheet.earned),
                "points": rounded(sheet.earned),
                "max_points": rounded(sheet.max),
            }
        )
    return rows


def summary_table(rows: Sequence[dict]) -> str:
    """The Markdown table of :func:`totals` for a CI job summary (empty without assignments)."""
    from .results import show

    if not rows:
        return ""
    lines = ["| assignment | due | status | points |", "|---|---|---|---|"]
    for row in rows:
        due = when(row["due"]) if row["due"] else "–"
        if row["due"] and row["due_passed"]:
            due += " (passed)"
        status = row["status"] if row["status"] == "passed" else ("**failed**" if row["due_passed"] else "not passing yet")
        lines.append(f"| {row['name']} | {due} | {status} | {show(row['points'])}/{show(row['max_points'])} |")
    return "\n".join(lines) + "\n"
