"""Terminal rendering: the status table, progress bars, the first failure in plain words, colours.

Colours follow the common conventions: only on a terminal, never when ``NO_COLOR`` is set, always
when ``FORCE_COLOR`` is set. Symbols fall back to ASCII where the terminal cannot print them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from . import held_back
from .course import PARTS, BrokenExercise, Course, Exercise
from .results import CRASHED, ERROR, FAILED, NOT_STARTED, PASSED, TIMED_OUT, ExerciseResult, TestResult

if TYPE_CHECKING:
    from .assignments import Assignment

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


def render_status(
    course: Course,
    pairs: Sequence[tuple[Exercise, ExerciseResult]],
    out: TextIO,
    *,
    assignments: Sequence[Assignment] = (),
) -> None:
    """The progress table: a heading with a bar per group, a row per exercise. The groups are the
    book's parts, or, when the course has ``assignments.toml``, its assignments (with due dates) and
    then the exercises in none of them."""
    style = Style(out)
    statuses = {e.number: r.status for e, r in pairs}
    everyone = [*(e for e, _ in pairs), *course.broken]
    width = max((len(e.label) for e in everyone), default=10)
    state_width = max([len(describe(r)) for _, r in pairs] + [len(BROKEN_WORD)] * bool(course.broken), default=10)
    groups = _by_assignment(course, pairs, assignments) if assignments else _by_part(course, pairs)
    for heading, rows, late in groups:
        done = sum(r is not None and r.status == PASSED for _, r in rows)
        title = style.paint(f"{heading:<40}", "bold")
        overdue = style.paint("  past due", "red") if late and done < len(rows) else ""
        print(f"\n{title} {style.bar(done, len(rows))} {done}/{len(rows)}{overdue}", file=out)
        for exercise, result in rows:
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


_Row = tuple[Exercise | BrokenExercise, ExerciseResult | None]
_Group = tuple[str, list[_Row], bool]  # heading, rows in course order, whether its due date has passed


def _by_part(course: Course, pairs: Sequence[tuple[Exercise, ExerciseResult]]) -> list[_Group]:
    broken = _broken_by_part(course.broken, pairs)
    groups: list[_Group] = []
    for part in sorted({e.part for e, _ in pairs} | set(broken)):
        rows: list[_Row] = [*((e, r) for e, r in pairs if e.part == part), *((b, None) for b in broken.get(part, []))]
        rows.sort(key=lambda row: row[0].number)
        groups.append((PARTS[part], rows, False))
    return groups


def _by_assignment(
    course: Course, pairs: Sequence[tuple[Exercise, ExerciseResult]], assignments: Sequence[Assignment]
) -> list[_Group]:
    rows: dict[str, _Row] = {e.name: (e, r) for e, r in pairs} | {b.name: (b, None) for b in course.broken}
    groups: list[_Group] = []
    for assignment in assignments:
        heading = f"{assignment.name} · {assignment.due_text()}" if assignment.due else assignment.name
        mine = [rows[name] for name in assignment.exercises if name in rows]
        groups.append((heading, mine, assignment.is_due()))
    listed = {name for a in assignments for name in a.exercises}
    rest = sorted((row for name, row in rows.items() if name not in listed), key=lambda row: row[0].number)
    if rest:
        groups.append(("Not in an assignment", rest, False))
    return groups


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


def render_check(
    exercise: Exercise,
    result: ExerciseResult,
    out: TextIO,
    *,
    unmet: Sequence[int] = (),
    verbose: bool = False,
    stuck: str | None = None,
) -> None:
    """One exercise's verdict, the first failure in plain words, then one line per other failure.

    ``unmet``: the exercises it builds on that do not pass yet (its integration tests need them).
    ``verbose`` (``grader check -v``): every failure in full, as the first one.
    ``stuck``: the last line's advice instead of "`grader hint NN`" (watch says which key to press).
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
    hidden = held_back.announced(exercise.path.parent, exercise.name)
    if hidden:  # the instructor's held-back tests: the student learns how many, never which
        print(style.paint(f"  {held_back.sentence(hidden)}", "dim"), file=out)
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
            _render_next_step(exercise, out, stuck)
            return
    if failure is None:
        _render_next_step(exercise, out, stuck)
        return
    _render_failure(failure, style, out)
    others = [t for t in result.graded if t.outcome in ("failed", "error") and t is not failure]
    if verbose:
        for other in others:
            _render_failure(other, style, out)
    elif others:
        _render_other_failures(exercise, others, style, out)
    _render_next_step(exercise, out, stuck)


def _render_failure(failure: TestResult, style: Style, out: TextIO) -> None:
    """One failure in full: the test, what went wrong, the spec, where, and the server's side."""
    print(f"\n  {style.paint(failure.name, 'bold')}", file=out)
    for line in (failure.message or failure.outcome).splitlines():
        print(f"    {line}", file=out)
    if failure.spec:
        print(f"  spec:  {failure.spec}", file=out)
    for index, line in enumerate(_where(failure)):
        print(f"  {'where:' if index == 0 else '      '} {line}", file=out)
    _render_server_side(failure.server, style, out)


def _where(failure: TestResult) -> list[str]:
    """The student's line when the error came from their code (the line to fix comes first), the test's
    own line with its parametrize id, then the student's line in the traceback the server printed."""
    lines = []
    if failure.location and failure.location != failure.test_location:
        lines.append(f"{failure.location}, in your code" if failure.test_location else failure.location)
    if failure.test_location:
        lines.append(f"{failure.test_location}, in {failure.name}")
    raised = failure.server.get("raised_at", "")
    if raised and raised != failure.location:
        lines.append(f"{raised}, in your code, on the server's side")
    return lines


def _render_server_side(server: dict[str, str], style: Style, out: TextIO) -> None:
    """What the server printed, the bytes each way on the test's last connection, and how to replay it."""
    if not server:
        return
    if server.get("output"):
        print(f"  {server.get('server', 'the server')} printed:", file=out)
        for line in server["output"].splitlines():
            print(style.paint(f"    {line}", "dim"), file=out)
    if "sent" in server:
        print(f"  sent (connection {server.get('connection', '1 of 1')}):", file=out)
        for line in server["sent"].splitlines():
            print(f"    {line}", file=out)
        print("  received:", file=out)
        for line in server.get("received", "").splitlines():
            print(f"    {line}", file=out)
    if server.get("replay"):
        print(f"  try it by hand (serve it on port 8000 first):\n    {server['replay']}", file=out)


def _render_other_failures(exercise: Exercise, others: Sequence[TestResult], style: Style, out: TextIO) -> None:
    """One line per failing test after the first: its name and the first line of its reason."""
    # On a terminal a line that wraps is harder to scan than one cut short; a file keeps more.
    width = shutil.get_terminal_size().columns if getattr(out, "isatty", lambda: False)() else 160
    print(f"\n  {len(others)} more failing:", file=out)
    for test in others:
        text = (test.message or test.outcome).strip()
        line = f"{test.name}: {text.splitlines()[0] if text else test.outcome}"
        room = max(width - 6, 20)
        if len(line) > room:
            line = line[: room - 1] + "…"
        print(f"    {style.paint(style.symbol(FAILED), 'red')} {line}", file=out)
    print(f"  `grader check {exercise.number:02d} -v` shows each in full.", file=out)


def _render_next_step(exercise: Exercise, out: TextIO, stuck: str | None = None) -> None:
    print(f"\n  {stuck or f'Stuck? `grader hint {exercise.number:02d}` gives a hint.'}", file=out)


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
