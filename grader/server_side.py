"""The server's side of a failed test: what the student's server printed, and the bytes on the wire.

A test that drives a server over TCP sees only the client's side: "expected 200, got 500", or a
response it cannot parse. The rest of the story is on the server's side — the traceback the student's
app raised under uvicorn, what their own server printed — and on the wire. The grader's plugin
(in the test process) calls :func:`server_side` when such a test fails, with what pytest captured
while it ran and what :mod:`testkit.wire` recorded, and sends the result with the test's outcome;
``grader check`` shows it under the failure (:func:`grader.ui.render_check`).

Tracebacks are shortened on the way: frames in uvicorn, asyncio or the standard library become one
``… 4 frames in uvicorn, asyncio`` line, and the course's own frames keep their source lines, so
what is left fits the screen and names the student's line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUTPUT_LINES = 40
OUTPUT_BYTES = 4096

_FRAME = re.compile(r'^(?P<indent>\s*)File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')


def server_side(wire: dict[str, str], captured: str, root: Path, is_student: Callable[[Path], bool]) -> dict[str, str]:
    """What a failure shows of the server: ``wire`` (:func:`testkit.wire.report`) and ``captured``
    (what pytest captured while the test ran: stdout, stderr and log records), bounded.

    Adds ``output`` (what the server printed, tracebacks shortened) and ``raised_at`` (the student's
    line in the last traceback it printed, ``path:line``).
    """
    printed = "".join(part for part in (wire.get("output", ""), captured) if part.strip())
    found = {key: str(value) for key, value in wire.items() if key != "output"}
    if printed.strip():
        found["output"] = bounded(shorten_tracebacks(printed, root))
        found["raised_at"] = raised_at(printed, root, is_student)
    return found


def shorten_tracebacks(text: str, root: Path) -> str:
    """``text`` with each traceback's frames outside the course folded into one line."""
    out: list[str] = []
    folded: list[str] = []  # packages of the frames folded so far
    fold_indent = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FRAME.match(lines[index])
        if match is None:
            _flush(out, folded, fold_indent)
            out.append(lines[index])
            index += 1
            continue
        indent = match["indent"]
        body_end = index + 1  # a frame's source line and its ^^^^ markers are indented further
        while body_end < len(lines) and lines[body_end].startswith(indent + " ") and not _FRAME.match(lines[body_end]):
            body_end += 1
        path = Path(match["path"])
        inside = _inside(path, root)
        if inside is None:
            folded.append(_package(path))
            fold_indent = indent
        else:
            _flush(out, folded, fold_indent)
            out.append(f'{indent}File "{inside}", line {match["line"]}, in {match["function"]}')
            out.extend(lines[index + 1 : body_end])
        index = body_end
    _flush(out, folded, fold_indent)
    return "\n".join(out)


def _flush(out: list[str], folded: list[str], indent: str) -> None:
    if folded:
        names = ", ".join(dict.fromkeys(folded))
        out.append(f"{indent}… {len(folded)} frame{'s' if len(folded) != 1 else ''} in {names}")
        folded.clear()


def _inside(path: Path, root: Path) -> str | None:
    """``path`` relative to the course, or ``None`` for a file outside it (or in an installed package)."""
    try:
        relative = path.resolve().relative_to(root)
    except (ValueError, OSError):
        return None
    if "site-packages" in relative.parts or relative.parts[:1] in ((".venv",), ("venv",)):
        return None
    return str(relative)


def _package(path: Path) -> str:
    """``uvicorn`` for ``…/site-packages/uvicorn/protocols/…``, ``asyncio`` for the standard library's."""
    parts = path.parts
    if "site-packages" in parts:
        after = parts[parts.index("site-packages") + 1 :]
        return after[0].removesuffix(".py") if after else path.name
    stdlib = Path(sys.base_prefix)
    try:
        inside = path.relative_to(stdlib).parts
    except ValueError:
        return path.stem
    return inside[2].removesuffix(".py") if len(inside) > 2 and inside[0] == "lib" else path.stem


def bounded(text: str, *, lines: int = OUTPUT_LINES, limit: int = OUTPUT_BYTES) -> str:
    """The first ``lines`` lines and ``limit`` characters of ``text``, with a note of what is left out."""
    all_lines = text.strip("\n").splitlines()
    kept: list[str] = []
    size = 0
    for line in all_lines[:lines]:
        if size + len(line) > limit:
            break
        kept.append(line)
        size += len(line) + 1
    hidden = len(all_lines) - len(kept)
    if hidden:
        kept.append(f"… and {hidden} more line{'s' if hidden != 1 else ''}")
    return "\n".join(kept)


def raised_at(text: str, root: Path, is_student: Callable[[Path], bool]) -> str:
    """The student's line nearest the error in the last traceback of ``text``: ``path:line``, or ``""``."""
    found = ""
    for line in text.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            found = ""  # a new traceback: the one that counts is the last one printed
        match = _FRAME.match(line)
        if match and is_student(Path(match["path"])):
            inside = _inside(Path(match["path"]), root)
            found = f"{inside}:{match['line']}" if inside else found
    return found


def as_strings(value: Any) -> dict[str, str]:
    """A dict of strings from whatever ``testkit.wire.report()`` returned (the student's code may have
    replaced it): anything else is no report at all."""
    if not isinstance(value, dict):
        return {}
    return {str(k)[:40]: str(v)[: 4 * OUTPUT_BYTES] for k, v in list(value.items())[:20]}
