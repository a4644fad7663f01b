"""Terminal rendering: the status table, progress bars, the first failure in plain words, colours.

Colours follow the common conventions: only on a terminal, never when ``NO_COLOR`` is set, always
when ``FORCE_COLOR`` is set. Symbols fall back to ASCII where the terminal cannot print them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from .course import PARTS, BrokenExercise, Course, Exercise
from .results import CRASHED, ERROR, FAILED, NOT_STARTED, PASSED, TIMED_OUT, ExerciseResult

BAR_WIDTH = 24


class Style:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.colour = wants_colour(stream)
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "✓✗·⏱█░—".encode(encoding)
            self.unicode = True
        except (UnicodeEncodeError, LookupError):
            self.unicode = False

    def paint(self, text: str, colour: str) -> str:
        codes = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1", "cyan": "36"}
        return f"\033[{codes[colour]}m{text}\033[0m" if self.colour else text

    def symbol(self, status: str) -> str:
        fancy = {PASSED: "✓", FAILED: "✗", NOT_STARTED: "·", TIMED_OUT: "⏱", CRASHED: "✗", ERROR: "✗"}
        plain = {PASSED: "+", FAILED: "x", NOT_STARTED: ".", TIMED_OUT: "T", CRASHED: "!", ERROR: "x"}
        return (fancy if self.unicode else plain)[status]

    def bar(self, done: int, total: int) -> str:
        filled = round(BAR_WIDTH * done / total) if total else 0
        full, empty = ("█", "░") if self.unicode else ("#", "-")
        return "[" + self.paint(full * filled, "green") + empty * (BAR_WIDTH - filled) + "]"

    def dash(self) -> str:
        return "—" if self.unicode else "-"


def wants_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


STATUS_WORDS = {
    PASSED: ("passed", "green"),
    FAILED: ("failing", "red"),
    NOT_STARTED: ("not started", "dim"),
    TIMED_OUT: ("timed out", "yellow"),
    CRASHED: ("crashed", "red"),
    ERROR: ("does not run", "red"),
}


def describe(result: ExerciseResult) -> str:
    word, _ = STATUS_WORDS[result.status]
    if result.status in (PASSED, FAILED) and result.total_count:
        return f"{word} {result.passed_count}/{result.total_count}"
    return word


def _numbers(numbers: Sequence[int]) -> str:
    names = [f"{n:02d}" for n in numbers]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def builds_on_note(unmet: Sequence[int]) -> str:
    """``builds on 15, which does not pass yet``: why a progressive exercise cannot pass yet."""
    verb = "does" if len(unmet) == 1 else "do"
    return f"builds on {_numbers(unmet)}, which {verb} not pass yet"


def prerequisite_sentence(unmet: Sequence[int]) -> str:
    """The one sentence ``grader check`` adds when an exercise's integration tests need earlier work."""
    them, verb = ("it", "does") if len(unmet) == 1 else ("them", "do")
    return (
        f"The tests that run on your own exercise {_numbers(unmet)} need {them} to pass, which {verb} not yet: "
        f"`grader check {unmet[0]:02d}` first (this exercise's own parts are graded either way)."
    )


def unmet_prerequisites(exercise: Exercise, statuses: dict[int, str]) -> list[int]:
    """The exercises ``exercise`` builds on that do not pass (an exercise not in ``statuses`` counts)."""
    return [n for n in exercise.builds_on if statuses.get(n) != PASSED]


def render_status(course: Course, pairs: Sequence[tuple[Exercise, ExerciseResult]], out: TextIO) -> None:
    style = Style(out)
    statuses = {e.number: r.status for e, r in pairs}
    broken = _broken_by_part(course.broken, pairs)
    everyone = [*(e for e, _ in pairs), *course.broken]
    width = max((len(e.label) for e in everyone), default=10)
    state_width = max([len(describe(r)) for _, r in pairs] + [len(BROKEN_WORD)] * bool(course.broken), default=10)
    for part in sorted({e.part for e, _ in pairs} | set(broken)):
        in_part: list[tuple[Exercise | BrokenExercise, ExerciseResult | None]] = [
            *((e, r) for e, r in pairs if e.part == part),
            *((b, None) for b in broken.get(part, [])),
        ]
        in_part.sort(key=lambda row: row[0].number)
        done = sum(r is not None and r.status == PASSED for _, r in in_part)
        heading = PARTS[part]
        print(f"\n{style.paint(f'{heading:<40}', 'bold')} {style.bar(done, len(in_part))} {done}/{len(in_part)}", file=out)
        for exercise, result in in_part:
            if isinstance(exercise, BrokenExercise) or result is None:
                _render_broken_row(exercise, style, width, state_width, out)  # type: ignore[arg-type]
                continue
            word, colour = STATUS_WORDS[result.status]
            mark = style.paint(style.symbol(result.status), colour)
            # The title goes last: a long one runs on to the right without pushing the states apart.
            state = style.paint(f"{describe(result):<{state_width}}", colour)
            print(f"  {mark} {exercise.label:<{width}}  {state}  {exercise.title}", file=out)
            unmet = unmet_prerequisites(exercise, statuses) if result.status != PASSED else []
            if unmet:
                print(style.paint(f"    {' ' * width}  {builds_on_note(unmet)}", "dim"), file=out)
    done = sum(r.status == PASSED for _, r in pairs)
    total = len(pairs) + len(course.broken)
    print(f"\nProgress {style.bar(done, total)} {done}/{total} exercises", file=out)


BROKEN_WORD = "broken"


def _broken_by_part(
    broken: Sequence[BrokenExercise], pairs: Sequence[tuple[Exercise, ExerciseResult]]
) -> dict[int, list[BrokenExercise]]:
    """Where a broken exercise goes in the table: its metadata is unread, so the part of the exercise
    before it (exercises are numbered in the order of the parts), or of the first one."""
    by_part: dict[int, list[BrokenExercise]] = {}
    for exercise in broken:
        earlier = [e for e, _ in pairs if e.number < exercise.number]
        part = earlier[-1].part if earlier else pairs[0][0].part if pairs else min(PARTS)
        by_part.setdefault(part, []).append(exercise)
    return by_part


def _render_broken_row(exercise: BrokenExercise, style: Style, width: int, state_width: int, out: TextIO) -> None:
    mark = style.paint(style.symbol(ERROR), "red")
    state = style.paint(f"{BROKEN_WORD:<{state_width}}", "red")
    print(f"  {mark} {exercise.label:<{width}}  {state}  (the grader cannot read it)", file=out)
    print(style.paint(f"    {' ' * width}  {exercise.reason}", "red"), file=out)


def render_edited_tests(course: Course, recorded: dict, out: TextIO) -> None:
    """Tests are the course's, not the student's: say plainly when one was changed."""
    from .checksums import edited_tests

    edited = [f"{e.name}/{name}" for e in course.exercises for name in edited_tests(e, recorded)]
    if edited:
        style = Style(out)
        print(style.paint(f"\nThese test files differ from the course's: {', '.join(edited)}.", "yellow"), file=out)
        print("  Grading restores the originals, so edits there do not count. Change your own files instead.", file=out)


def render_next(exercise: Exercise | None, course: Course, out: TextIO) -> None:
    style = Style(out)
    if exercise is None:
        print(style.paint("\nEvery exercise passes. Well done — you have built the stack from the socket up.", "green"), file=out)
        return
    folder = exercise.path.relative_to(course.root)
    print(f"\nNext: {style.paint(exercise.label, 'bold')} {style.dash()} {exercise.title}", file=out)
    print(f"  read  {folder / 'README.md'}", file=out)
    for name in exercise.files:
        print(f"  edit  {folder / name}", file=out)
    print(f"  run   grader check {exercise.number:02d}", file=out)


def render_check(exercise: Exercise, result: ExerciseResult, out: TextIO, *, unmet: Sequence[int] = ()) -> None:
    """One exercise's verdict, and the first failure in plain words.

    ``unmet``: the exercises it builds on that do not pass yet (its integration tests need them).
    """
    style = Style(out)
    word, colour = STATUS_WORDS[result.status]
    mark = style.paint(style.symbol(result.status), colour)
    summary = describe(result)
    if result.status in (PASSED, FAILED):
        summary = f"{result.passed_count} of {result.total_count} tests pass"
    print(f"{mark} {style.paint(exercise.label, 'bold')} {style.dash()} {exercise.title}: {style.paint(summary, colour)}", file=out)
    if result.status in (PASSED, FAILED) and result.message:
        # A note from the runner: the tests finished, but the code left a thread or process behind.
        print(style.paint(f"  note: {result.message}", "yellow"), file=out)
    if result.status == PASSED:
        return
    if unmet:
        print(style.paint(f"  {prerequisite_sentence(unmet)}", "yellow"), file=out)
    failure = result.first_failure()
    if result.status in (TIMED_OUT, CRASHED, ERROR):
        print(f"  {result.message}", file=out)
        if result.location:
            print(f"  where: {result.location}", file=out)
        if failure is None or failure.message == result.message:
            if result.status == CRASHED and result.output.strip():
                print("  last output:", file=out)
                for line in result.output.strip().splitlines()[-8:]:
                    print(f"    {line}", file=out)
            _render_next_step(exercise, out)
            return
    if failure is None:
        _render_next_step(exercise, out)
        return
    print(f"\n  {style.paint(failure.name, 'bold')}", file=out)
    for line in (failure.message or failure.outcome).splitlines():
        print(f"    {line}", file=out)
    if failure.spec:
        print(f"  spec:  {failure.spec}", file=out)
    if failure.location:
        print(f"  where: {failure.location}", file=out)
    _render_next_step(exercise, out)


def _render_next_step(exercise: Exercise, out: TextIO) -> None:
    print(f"\n  Stuck? `grader hint {exercise.number:02d}` gives a hint.", file=out)


def render_solution(exercise: Exercise, name: str, mine: str, reference: str, out: TextIO) -> None:
    """The reference solution, then how it differs from the student's file (a unified diff)."""
    import difflib

    style = Style(out)
    print(style.paint(f"── the reference {name} for {exercise.label} ──", "bold"), file=out)
    print(reference.rstrip("\n"), file=out)
    diff = list(difflib.unified_diff(
        mine.splitlines(), reference.splitlines(), f"yours/{name}", f"reference/{name}", lineterm=""
    ))
    print(style.paint(f"\n── yours → the reference ({name}) ──", "bold"), file=out)
    if not diff:
        print("Identical.", file=out)
    for line in diff:
        colour = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim" if line.startswith("@") else ""
        print(style.paint(line, colour) if colour else line, file=out)


def error(message: str) -> None:
    style = Style(sys.stderr)
    print(f"{style.paint('grader:', 'red')} {message}", file=sys.stderr)
