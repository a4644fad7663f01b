"""Where the reference solutions are: ``solutions/`` in this repository, the ``solutions`` branch in a
course copy (whose ``main`` must never hold them, so students cannot simply read them); and how
``grader solution`` shows one beside the student's file: the code that differs, through a pager."""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .course import Course, CourseError, Exercise
from .ui import Style

BRANCH = "solutions"


def is_course_copy(course: Course) -> bool:
    return (course.root / ".copier-answers.yml").is_file() and not course.solutions_dir.is_dir()


@contextlib.contextmanager
def solutions_folder(course: Course) -> Iterator[Path]:
    """A folder laid out like ``solutions/`` (``NN_slug/`` folders), for ``KATA_SOLUTIONS``."""
    if course.solutions_dir.is_dir():
        yield course.solutions_dir
        return
    if not is_course_copy(course):
        raise CourseError(f"no solutions/ folder in {course.root}")
    archive = _git(course, "archive", "--format=tar", BRANCH, "exercises")
    with tempfile.TemporaryDirectory(prefix="grader-solutions-") as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        yield Path(scratch) / "exercises"


def read_solution(course: Course, exercise: Exercise, name: str) -> str:
    """The reference version of one of the exercise's files, as text."""
    if course.solutions_dir.is_dir():
        path = course.solutions_dir / exercise.name / name
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CourseError(f"cannot read the solution {path}: {exc.strerror}") from None
    if not is_course_copy(course):
        raise CourseError(f"no solutions/ folder in {course.root}")
    return _git(course, "show", f"{BRANCH}:exercises/{exercise.name}/{name}").decode("utf-8")


def _git(course: Course, *args: str) -> bytes:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=course.root, capture_output=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise CourseError("git is not installed, and the solutions live on the 'solutions' branch") from None
    except subprocess.TimeoutExpired:
        raise CourseError(f"git {args[0]} took too long") from None
    if completed.returncode != 0 and args[0] in ("archive", "show") and _no_branch(course):
        raise CourseError(
            f"this copy of the course has no '{BRANCH}' branch (course copies publish only main): "
            "ask your instructor for the reference solutions"
        )
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"exit status {completed.returncode}"
        raise CourseError(f"could not read the '{BRANCH}' branch: {reason}")
    return completed.stdout


def _no_branch(course: Course) -> bool:
    completed = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}"],
        cwd=course.root, capture_output=True, timeout=30, check=False,
    )
    return completed.returncode != 0


# --- the diff a student reads: code, not docstrings --------------------------------------------------
#
# A reference solution says in a line what a stub's docstring explains in ten, so a plain diff of a
# finished exercise is mostly docstrings. Each file is reduced to its *code lines* first: comments and
# docstrings removed, blank lines dropped, the rest kept as written (indentation matters in Python).
# Those are compared, and each run of code lines that differs is shown as one hunk of the original
# lines, comments and all, so the student sees the code as it stands in either file.

CONTEXT = 2  # code lines of the student's file shown before each hunk


@dataclass
class Hunk:
    """One stretch where the code differs: line numbers are 1-based, ``end`` exclusive."""

    mine: tuple[int, int]
    reference: tuple[int, int]
    before: list[str]  # the student's lines just before it (context)
    removed: list[str]
    added: list[str]


def code_lines(source: str) -> list[tuple[int, str]]:
    """``(line number, code)`` for each line of ``source`` that holds code.

    Comments and docstrings go (any statement that is only a string: a module's, class's or
    function's first, or the one under a constant that documents it); so does trailing whitespace. A file Python cannot read keeps its comments and docstrings
    where tokenize or ast gives up: the diff is then only less quiet, never wrong.
    """
    lines = source.splitlines()
    dropped: set[int] = set()
    with contextlib.suppress(SyntaxError, ValueError):
        for node in ast.walk(ast.parse(source)):
            # A docstring, or the string under a constant that documents it: a statement that is only a string.
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                dropped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    comment_at: dict[int, int] = {}  # line number -> column where its comment starts
    with contextlib.suppress(tokenize.TokenError, SyntaxError, IndentationError):
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comment_at[token.start[0]] = token.start[1]
    code = []
    for number, line in enumerate(lines, start=1):
        if number in dropped:
            continue
        text = line[: comment_at[number]] if number in comment_at else line
        if text.strip():
            code.append((number, text.rstrip()))
    return code


def code_hunks(mine: str, reference: str) -> list[Hunk]:
    """Where the code of ``mine`` and ``reference`` differs, ignoring comments, docstrings and blank lines."""
    ours, theirs = code_lines(mine), code_lines(reference)
    mine_lines, reference_lines = mine.splitlines(), reference.splitlines()
    matcher = difflib.SequenceMatcher(None, [text for _, text in ours], [text for _, text in theirs], autojunk=False)
    hunks = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        # Original lines from the first differing code line to the last: the comments between them too.
        start = ours[i1][0] if i1 < i2 else (ours[i1 - 1][0] + 1 if i1 else 1)
        end = ours[i2 - 1][0] + 1 if i1 < i2 else start
        ref_start = theirs[j1][0] if j1 < j2 else (theirs[j1 - 1][0] + 1 if j1 else 1)
        ref_end = theirs[j2 - 1][0] + 1 if j1 < j2 else ref_start
        before = [text for _, text in ours[max(0, i1 - CONTEXT) : i1]]
        hunks.append(Hunk(
            (start, end), (ref_start, ref_end), before,
            mine_lines[start - 1 : end - 1], reference_lines[ref_start - 1 : ref_end - 1],
        ))
    return hunks


def render_code_diff(name: str, mine: str, reference: str, style: Style, out: TextIO) -> None:
    """The hunks where ``name`` differs in code from the reference, or one sentence when none does."""
    print(style.paint(f"── yours → the reference ({name}): code only, docstrings and comments left out ──", "bold"), file=out)
    if mine == reference:
        print("Identical.", file=out)
        return
    hunks = code_hunks(mine, reference)
    if not hunks:
        print(
            f"Your {name} has the same code as the reference: they differ only in docstrings, comments "
            "or blank lines (`--full` shows them).",
            file=out,
        )
        return
    for hunk in hunks:
        (a, b), (c, d) = hunk.mine, hunk.reference
        print(style.paint(f"@@ yours {_span(a, b)}, reference {_span(c, d)} @@", "dim"), file=out)
        for line in hunk.before:
            print(f" {line}", file=out)
        for line in hunk.removed:
            print(style.paint(f"-{line}", "red"), file=out)
        for line in hunk.added:
            print(style.paint(f"+{line}", "green"), file=out)
    count = "1 place" if len(hunks) == 1 else f"{len(hunks)} places"
    print(f"\nThe code differs in {count}; `--full` shows the whole reference and every difference.", file=out)


def _span(start: int, end: int) -> str:
    if end - start <= 1:
        return f"line {start}" if end > start else f"after line {start - 1}"
    return f"lines {start}–{end - 1}"


# --- a pager on a terminal ---------------------------------------------------------------------------


def pager_command() -> list[str]:
    """``$PAGER`` (with its options), else ``less -R`` (``-R`` lets the colours through)."""
    return shlex.split(os.environ.get("PAGER", "")) or ["less", "-R"]


def show(text: str, out: TextIO) -> None:
    """Write ``text`` to ``out``, through a pager when ``out`` is a terminal and the pager exists.

    Piped or redirected output is written as it is: a pager there would wait for keys nobody presses.
    """
    command = pager_command() if out.isatty() else []
    if command and shutil.which(command[0]):
        out.flush()
        with contextlib.suppress(OSError):
            encoding = getattr(out, "encoding", None) or "utf-8"
            pager = subprocess.Popen(command, stdin=subprocess.PIPE)
            assert pager.stdin is not None
            try:
                pager.stdin.write(text.encode(encoding, errors="replace"))
                pager.stdin.close()
            except BrokenPipeError:  # the student quit the pager before the end: fine
                pass
            while True:
                try:
                    pager.wait()
                    return
                except KeyboardInterrupt:  # Ctrl-C belongs to the pager while it runs (less ignores it)
                    continue
    out.write(text)
    out.flush()


class TerminalBuffer(io.StringIO):
    """Text on its way to ``like``: colours and symbols chosen as they would be for ``like`` itself."""

    def __init__(self, like: TextIO) -> None:
        super().__init__()
        self._tty = bool(getattr(like, "isatty", lambda: False)())
        self._encoding = getattr(like, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding
