"""Single-point mutants of a Python source file, made from its AST: source text in, mutants out.

A *mutant* is the file with one small change a careless programmer could make: ``<`` where ``<=`` was
meant, ``or`` for ``and``, a constant off by one, a statement left out. A test suite that still passes
on a mutant cannot tell that change from correct code: the mutant *survives*, and shows a rule no test
grades. ``grader mutants`` (:mod:`grader.mutants`) runs the tests on each; this module only makes them,
and does no I/O, so it is tested on strings alone.

Each mutant replaces one span of the original text, so every other line (and its comments) stays as
it was and a traceback's line numbers still point where the author expects. The changes made:

==========================  =============================================================
comparison operators        ``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``in``/``not in``, ``is``/``is not``
boolean operators           ``and``/``or``
``not``                     removed
arithmetic                  ``+``/``-`` (in expressions and in ``+=``/``-=``)
constants                   ints ±1, booleans flipped, non-empty strings and bytes altered
``return X``                ``return None``
a simple statement          replaced by ``pass``
==========================  =============================================================

Never mutated: docstrings and other bare strings, annotations, f-strings, ``import`` lines, and the
texts of messages (the arguments of ``raise``, ``assert``, ``print``, ``warnings.warn`` and logging
calls): a student writes their own words, so no fair test can pin the reference's. Code the stub gives
the student already is marked in the solution with a ``# mutants: skip`` comment: on a line, it skips
that line; on the first line of a statement (``def``, ``class``, ``if __name__ == "__main__":``, or a
decorator's line), the whole statement.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

SKIP_COMMENT = "mutants: skip"

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_ARITHMETIC_SWAPS: dict[type[ast.operator], type[ast.operator]] = {ast.Add: ast.Sub, ast.Sub: ast.Add}
_MESSAGE_CALLS = {"print", "warn", "debug", "info", "warning", "error", "exception", "critical", "log"}
_DESCRIPTION_WIDTH = 48


@dataclass(frozen=True)
class Mutant:
    """One changed copy of a file, and where and how it differs from the original."""

    file: str  # the file's name, as in exercise.toml's ``files``
    line: int  # 1-based line of the change in the original
    description: str  # "a < b → a <= b": what changed, short enough for one line
    source_line: str  # the original line, stripped: with ``file`` and ``description``, its identity
    source: str  # the whole mutated file

    @property
    def key(self) -> tuple[str, str, str]:
        """What an acknowledgement in ``mutants.toml`` matches: stable while unrelated lines move."""
        return (self.file, self.source_line, self.description)

    @property
    def where(self) -> str:
        """``file:line  mutation  (source line)``: how a mutant is shown to an author."""
        return f"{self.file}:{self.line}  {self.description}  ({self.source_line})"


class NotPython(ValueError):
    """The file does not parse: the message says where."""


def mutants_of(source: str, file: str) -> list[Mutant]:
    """Every single-point mutant of ``source``, in order of position, each one compiling."""
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as exc:
        raise NotPython(f"{file} does not parse: line {exc.lineno}: {exc.msg}") from None
    original = source.encode("utf-8")
    starts = _offsets(original)
    lines = source.splitlines()
    finder = _Finder(skipped_lines(source, tree))
    finder.visit(tree)
    found: list[Mutant] = []
    seen: set[tuple[str, str, str]] = set()
    for change in sorted(finder.changes, key=lambda c: (c.start, c.end, c.description)):
        mutated = _splice(original, starts, change)
        try:
            compile(mutated, file, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue  # a change that cannot stand in its context (rare): not a mutant
        line = change.start[0]
        mutant = Mutant(file, line, change.description, lines[line - 1].strip(), mutated)
        if mutant.key not in seen:  # two identical changes on one line are one mutant
            seen.add(mutant.key)
            found.append(mutant)
    return found


def skipped_lines(source: str, tree: ast.Module) -> set[int]:
    """Lines marked ``# mutants: skip``, grown to the whole statement that starts on a marked line."""
    marked: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT and SKIP_COMMENT in token.string:
                marked.add(token.start[0])
    except (tokenize.TokenError, SyntaxError):  # the AST parsed, so this is not expected
        pass
    skipped = set(marked)
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            decorators = getattr(node, "decorator_list", [])
            first = min([node.lineno, *(d.lineno for d in decorators)])
            if marked & set(range(first, node.lineno + 1)):
                skipped.update(range(first, (node.end_lineno or node.lineno) + 1))
    return skipped


# --- finding the changes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    start: tuple[int, int]  # (line, UTF-8 byte column), as the AST gives positions
    end: tuple[int, int]
    replacement: str
    description: str


class _Finder(ast.NodeVisitor):
    def __init__(self, skipped: set[int]) -> None:
        self.skipped = skipped
        self.changes: list[_Change] = []
        self.in_message = 0  # > 0 while inside a message's arguments: its strings are left alone

    def _visit_message(self, *nodes: ast.AST | None) -> None:
        self.in_message += 1
        try:
            for node in nodes:
                if node is not None:
                    self.visit(node)
        finally:
            self.in_message -= 1

    # Subtrees never mutated ------------------------------------------------------------------------

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # f-strings: mostly messages, and their inner positions are fragile before 3.12

    def visit_Import(self, node: ast.Import) -> None:
        return

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return

    def visit_Assert(self, node: ast.Assert) -> None:
        self._remove(node)
        self.visit(node.test)
        self._visit_message(node.msg)

    def visit_Raise(self, node: ast.Raise) -> None:
        self._remove(node)
        for part in (node.exc, node.cause):
            if isinstance(part, ast.Call):
                # raise HTTPError(400, "why"): the type and the status are mutated, not the words
                self.visit(part.func)
                self._visit_message(*part.args, *(k.value for k in part.keywords))
            elif part is not None:
                self.visit(part)

    def visit_Call(self, node: ast.Call) -> None:
        if _is_message_call(node):
            self.visit(node.func)
            self._visit_message(*node.args, *(k.value for k in node.keywords))
            return
        self.generic_visit(node)

    # Definitions: walk the body, not the annotations, and leave docstrings alone ------------------

    def _visit_body(self, body: list[ast.stmt]) -> None:
        for statement in body:
            if _is_bare_string(statement):
                continue  # a docstring, or a string used as a comment
            self.visit(statement)

    def visit_Module(self, node: ast.Module) -> None:
        self._visit_body(node.body)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if self._is_skipped(node):
            return
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(default)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._visit_body(node.body)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if self._is_skipped(node):
            return
        for expression in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
            self.visit(expression)
        self._visit_body(node.body)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._remove(node)
            self.visit(node.value)

    def generic_visit(self, node: ast.AST) -> None:
        # Compound statements hold bodies: their first string statement is not a docstring, but a
        # bare string there is still a comment, so bodies are walked the same way everywhere.
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self._visit_body(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    # The mutations ---------------------------------------------------------------------------------

    def visit_Compare(self, node: ast.Compare) -> None:
        for index, op in enumerate(node.ops):
            swapped = _COMPARE_SWAPS.get(type(op))
            if swapped is not None:
                ops = [*node.ops[:index], swapped(), *node.ops[index + 1 :]]
                self._replace(node, ast.Compare(left=node.left, ops=ops, comparators=node.comparators))
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._replace(node, ast.BoolOp(op=other, values=node.values))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._replace(node, node.operand)
        if isinstance(node.op, ast.USub) and _is_int(node.operand):
            value = -node.operand.value  # type: ignore[attr-defined]
            self._replace(node, ast.Constant(value + 1))  # -1 is one constant to a reader, not 1
            self._replace(node, ast.Constant(value - 1))
            return
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swapped = _ARITHMETIC_SWAPS.get(type(node.op))
        if swapped is not None:
            self._replace(node, ast.BinOp(left=node.left, op=swapped(), right=node.right))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._remove(node)
        swapped = _ARITHMETIC_SWAPS.get(type(node.op))
        if swapped is not None:
            new = ast.AugAssign(target=node.target, op=swapped(), value=node.value)
            self._replace(node, new, statement=True)
        self.visit(node.target)
        self.visit(node.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._replace(node, ast.Constant(not value))
        elif isinstance(value, int):
            self._replace(node, ast.Constant(value + 1))
            self._replace(node, ast.Constant(value - 1))
        elif self.in_message:
            return
        elif isinstance(value, str) and value:
            self._replace(node, ast.Constant("XX" + value))
        elif isinstance(value, bytes) and value:
            self._replace(node, ast.Constant(b"XX" + value))

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self._replace(node, ast.Return(value=None), statement=True, description="return … → return None")
            self.visit(node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._remove(node)
        for target in node.targets:
            self.visit(target)
        self.visit(node.value)

    def visit_Expr(self, node: ast.Expr) -> None:
        if not (isinstance(node.value, ast.Call) and _is_message_call(node.value)):
            self._remove(node)  # leaving out a print or a log line changes nothing a test may judge
        self.visit(node.value)

    def visit_Delete(self, node: ast.Delete) -> None:
        self._remove(node)

    def visit_Break(self, node: ast.Break) -> None:
        self._remove(node)

    def visit_Continue(self, node: ast.Continue) -> None:
        self._remove(node)

    # Recording a change -----------------------------------------------------------------------------

    def _is_skipped(self, node: ast.AST) -> bool:
        return getattr(node, "lineno", 0) in self.skipped

    def _remove(self, node: ast.stmt) -> None:
        self._replace(node, ast.Pass(), statement=True, description=f"removed: {_short(ast.unparse(node))}")

    def _replace(self, node: ast.AST, new: ast.AST, *, statement: bool = False, description: str = "") -> None:
        if self._is_skipped(node) or getattr(node, "end_lineno", None) is None:
            return
        text = ast.unparse(new)
        if not statement:
            text = f"({text})"  # keeps the new expression whole wherever the old one stood
        if not description:
            before, after = ast.unparse(node), ast.unparse(new)
            description = f"{_short(before)} → {_short(after)}"
        start = (node.lineno, node.col_offset)
        end = (node.end_lineno, node.end_col_offset)
        self.changes.append(_Change(start, end, text, description))  # type: ignore[arg-type]


def _is_bare_string(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_message_call(node: ast.Call) -> bool:
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    return name in _MESSAGE_CALLS


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DESCRIPTION_WIDTH else text[: _DESCRIPTION_WIDTH - 1] + "…"


# --- applying one change ----------------------------------------------------------------------------


def _offsets(original: bytes) -> list[int]:
    """The byte offset at which each line starts (index 0 is line 1)."""
    starts = [0]
    for line in original.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _splice(original: bytes, starts: list[int], change: _Change) -> str:
    begin = starts[change.start[0] - 1] + change.start[1]
    end = starts[change.end[0] - 1] + change.end[1]
    return (original[:begin] + change.replacement.encode("utf-8") + original[end:]).decode("utf-8")

