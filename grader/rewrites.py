"""pytest's rewritten test modules, made once in a warm process and shared by every run it forks.

pytest rewrites the ``assert`` statements of every test module, ``conftest.py`` and ``-p`` plugin as
it imports them, and keeps the result in ``__pycache__`` for the next run. Where bytecode caches are
off (``PYTHONDONTWRITEBYTECODE``), nothing is kept: every run parses and rewrites them again, which
is 70 ms of a 160 ms run of 02 and a quarter of a second for 15's test module. A fork's own work dies
with it, so the warm process does the rewriting itself, just before it forks a run
(:func:`prepare`), for the modules that run is about to import; the fork finds them in memory.

Only the course's files are rewritten here, and only compiled, never run: the student's code is not
a test module, and is imported by the fork as usual. Each module is kept under its path and the
sha-256 of its source, so an edited test file is rewritten afresh, and a module the warm process did
not foresee (one a test file names with ``pytest_plugins``, say) is rewritten by the fork as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

KEPT_LIMIT = 256  # rewritten modules kept at once: a course's test files, several edits each
SIZE_LIMIT = 4 * 2**20  # bytes: a larger "test module" is left to the fork, which rewrites it as ever

_kept: dict[tuple[str, bytes], Any] = {}  # (path, sha-256 of the source) → what pytest's rewriter returned
_rewrite: Callable[[Path, Any], Any] | None = None  # pytest's own, once install() has put ours in its place


def install() -> bool:
    """In the warm process, before any fork: let pytest's rewriter take what :func:`prepare` made.

    Only where bytecode caches are off (with them, pytest's ``__pycache__`` already keeps its work)
    and where pytest has the private function this relies on; True when installed.
    """
    global _rewrite
    if not sys.dont_write_bytecode or _rewrite is not None:
        return False
    try:
        from _pytest.assertion import rewrite
    except ImportError:
        return False
    original = getattr(rewrite, "_rewrite_test", None)
    if not callable(original):
        return False
    _rewrite = original

    def rewrite_test(fn: Path, config: Any) -> Any:
        found = _kept.get(_key(Path(fn))) if not _pass_hook(config) else None
        return found if found is not None else original(fn, config)

    rewrite._rewrite_test = rewrite_test
    return True


def prepare(args: Sequence[str], cwd: str) -> None:
    """Rewrite, here, what a run of ``pytest args`` in ``cwd`` will import through the rewriter.

    Its test files (``test_*.py`` in each folder it names), the ``conftest.py`` files from each of
    those folders up to ``cwd``, and the plugins it names with ``-p``.
    """
    if _rewrite is None:
        return
    try:
        paths = _modules_of_run(list(args), Path(cwd))
    except Exception:  # never fatal: what is not prepared here, the fork rewrites itself
        return
    for path in paths:
        key = _key(path)
        if key is None or key in _kept:
            continue
        with contextlib.suppress(Exception):  # a file that does not parse: the fork reports it as ever
            found = _rewrite(path, None)
            if _key(path) == key:  # not edited meanwhile
                _kept[key] = found
                while len(_kept) > KEPT_LIMIT:
                    del _kept[next(iter(_kept))]


def _modules_of_run(args: Sequence[str], cwd: Path) -> list[Path]:
    # Paths spelled as pytest spells them (absolute, symlinks kept): a module is found under its name.
    found: list[Path] = []
    root = Path(os.path.abspath(cwd))
    for index, arg in enumerate(args):
        if arg == "-p" and index + 1 < len(args) and not args[index + 1].startswith("no:"):
            with contextlib.suppress(ImportError, ValueError, AttributeError):
                spec = importlib.util.find_spec(args[index + 1])
                if spec is not None and spec.origin and spec.origin.endswith(".py"):
                    found.append(Path(spec.origin))
            continue
        if arg.startswith("-") or (index and args[index - 1] in ("-p", "-m", "-k")):
            continue
        folder = Path(os.path.abspath(cwd / arg))
        if not folder.is_dir():
            continue
        found += sorted(folder.glob("test_*.py"))
        while folder == root or root in folder.parents:
            found.append(folder / "conftest.py")
            folder = folder.parent
    return found


def _key(path: Path) -> tuple[str, bytes] | None:
    """The path and sha-256 of a regular file of a sensible size; None for anything else."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > SIZE_LIMIT:
            return None
        return str(path), hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None


def _pass_hook(config: Any) -> bool:
    """Whether this run's asserts must call ``pytest_assertion_pass`` (then the rewrite differs)."""
    if config is None:
        return False
    try:
        return bool(config.getini("enable_assertion_pass_hook"))
    except (ValueError, KeyError, AttributeError):
        return True  # an ini we cannot read: rewrite as pytest would
