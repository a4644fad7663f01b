"""Held-back tests: graded at grading time, never shipped to the students.

Gradescope and otter let an instructor keep some tests back until after the deadline; this is the same
for the course. A held-back test is an ordinary pytest test in a file of its own::

    held_back/NN_slug/test_held_back_<anything>.py     (each file starts: pytestmark = pytest.mark.held_back)

Where they are, and where they are not
    - In this repository, ``held_back/`` sits beside ``exercises/`` and ``solutions/``.
    - In a course copy, ``copier copy`` puts them on the ``solutions`` branch only, with the reference
      solutions (``template/course_tasks.py``); ``main``, the students' branch, never has them. What
      ``main`` has is ``exercises/held_back.json``: how many held-back tests each exercise has, so that
      ``grader check`` can say "3 more tests run at grading time" (written by
      ``python template/update_choices.py``).
    - ``grader grade`` takes them from its trusted source when it has them (a ``solutions`` checkout,
      the Gradescope zip built from ``solutions``, this repository) and puts each one in the pristine
      tree beside the exercise's own tests, as ``exercises/NN_slug/test_held_back_*.py``. So
      ``grader roster`` (which grades through ``grader grade``) and Gradescope run them too.
    - ``grader verify`` runs them on the stub and on the reference solution, like every other test.

How a result is known to be held back: by its file name, ``test_held_back_*.py``. No test file in
``exercises/`` may have such a name, and in the pristine tree only the grader puts files there, so the
name cannot be claimed by a submission. Gradescope shows those tests ``after_due_date``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

FOLDER = "held_back"
PREFIX = "test_held_back"
COUNTS_FILE = "held_back.json"  # in exercises/, shipped to the students: the counts only
MARKER = "held_back"
_FILE_NAME = re.compile(rf"^{PREFIX}\w*\.py$")
_IN_FOLDER = re.compile(rf"^{FOLDER}/(?P<exercise>\d{{2}}_[a-z][a-z0-9_]*)/(?P<name>{PREFIX}\w*\.py)$")


class HeldBackError(Exception):
    """A held-back test file the tooling cannot count (one sentence says which and why)."""


def is_held_back(nodeid: str) -> bool:
    """True for a test collected from a held-back file (``.../test_held_back_x.py::test_y``)."""
    path = nodeid.split("::", 1)[0]
    return bool(_FILE_NAME.match(path.rsplit("/", 1)[-1]))


def files(root: Path, exercise: str) -> list[Path]:
    """The held-back test files of ``exercise`` (``01_http_client``) in the course at ``root``."""
    folder = root / FOLDER / exercise
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and _FILE_NAME.match(p.name))


# --- into the pristine tree of `grader grade` -------------------------------------------------------


def read(root: Path, *, committed: bool) -> dict[str, bytes]:
    """The held-back files of the trusted source at ``root``: as committed at HEAD, or as on disk.

    ``committed`` follows what the rest of the trusted source was read from (a repository, or a
    Gradescope zip), so held-back tests are never taken from an uncommitted edit of a repository.
    """
    if committed:
        from . import pristine

        return {p: d for p, d in (pristine.committed_files(root, (FOLDER,)) or {}).items() if _IN_FOLDER.match(p)}
    found: dict[str, bytes] = {}
    base = root / FOLDER
    if base.is_dir():
        for path in sorted(base.glob(f"*/{PREFIX}*.py")):
            relative = path.relative_to(root).as_posix()
            if _IN_FOLDER.match(relative) and path.is_file() and not path.is_symlink():
                found[relative] = path.read_bytes()
    return found



def include(tree_files: dict[str, bytes], held: dict[str, bytes], notes: list[str]) -> set[str]:
    """Add the trusted source's held-back files to the planned tree; return the paths they got there.

    ``held`` maps ``held_back/NN_slug/test_held_back_*.py`` to its contents, as the trusted source has
    them (committed at HEAD, or on disk for a zip). Each goes beside its exercise's own tests. A file
    for an exercise the tree does not have is left out silently (a copy with fewer exercises); one
    whose name the exercise's own tests already use is left out with a note.
    """
    placed: set[str] = set()
    for path, data in sorted(held.items()):
        match = _IN_FOLDER.match(path)
        if match is None:
            continue
        exercise, name = match["exercise"], match["name"]
        if f"exercises/{exercise}/exercise.toml" not in tree_files:
            continue
        target = f"exercises/{exercise}/{name}"
        if target in tree_files:
            notes.append(f"{path} has the name of a test file of the exercise itself: left out")
            continue
        tree_files[target] = data
        placed.add(target)
    return placed


# --- what the students are told -----------------------------------------------------------------------


def count_tests(source: str, where: str = "the file") -> int:
    """How many tests pytest will collect from this test file's source, read without running it.

    Test functions (``def test_*``) and methods of ``Test*`` classes count once each, times the
    number of cases of each ``@pytest.mark.parametrize`` they carry. A parametrize whose cases are
    not written out as a list or tuple cannot be counted without running the file: that is an error.
    """
    try:
        module = ast.parse(source)
    except SyntaxError as exc:
        raise HeldBackError(f"{where} is not valid Python (line {exc.lineno}): {exc.msg}") from None
    total = 0
    for node in module.body:
        functions = [node]
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            functions = list(node.body)
        for function in functions:
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and function.name.startswith("test"):
                total += _cases(function, where)
    return total


def _cases(function: ast.FunctionDef | ast.AsyncFunctionDef, where: str) -> int:
    cases = 1
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("mark.parametrize"):
            values = decorator.args[1] if len(decorator.args) > 1 else None
            if not isinstance(values, (ast.List, ast.Tuple)):
                raise HeldBackError(
                    f"{where}: the cases of {function.name}'s parametrize must be written out as a list, "
                    "so that the students can be told how many tests are held back"
                )
            cases *= len(values.elts)
    return cases


def counts(root: Path) -> dict[str, int]:
    """Held-back tests per exercise, for every exercise of the course at ``root`` that has some."""
    found: dict[str, int] = {}
    base = root / FOLDER
    if not base.is_dir():
        return found
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        number = 0
        for path in files(root, folder.name):
            where = path.relative_to(root).as_posix()
            source = path.read_text(encoding="utf-8")
            if f"mark.{MARKER}" not in source:
                raise HeldBackError(f"{where} must mark its tests held back: pytestmark = pytest.mark.{MARKER}")
            number += count_tests(source, where)
        if number:
            found[folder.name] = number
    return found


def counts_text(root: Path) -> str:
    """The text of ``exercises/held_back.json``: ``{"02_http_parse": 3}``, sorted, one per line."""
    return json.dumps(counts(root), indent=2, sort_keys=True) + "\n"


def announced(exercises_dir: Path, exercise: str) -> int:
    """How many held-back tests the course says ``exercise`` has (0 when it says nothing readable)."""
    try:
        data = json.loads((exercises_dir / COUNTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    number = data.get(exercise, 0) if isinstance(data, dict) else 0
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else 0


def sentence(number: int) -> str:
    """What a student reads about the tests they cannot see."""
    return f"{number} more test{'s' if number != 1 else ''} run at grading time"


# --- the Gradescope zip -------------------------------------------------------------------------------


def seal(root: Path) -> list[str]:
    """Make the instructor-only files of the course folder ``root`` readable by its owner only.

    The Gradescope zip is built from the ``solutions`` branch, so ``/autograder/source`` holds the
    held-back tests and, over the stubs, the reference solutions. ``grader grade`` reads them as
    root and never puts a solution in the tree it grades in, but the student's code, running as
    ``nobody``, could still open them where they lie. ``autograder/setup.sh`` calls this once, before
    any submission: ``held_back/`` and every student file (each ``exercise.toml``'s ``files``) become
    0700/0600. Returns the paths sealed, relative to ``root``.
    """
    import os
    import tomllib

    sealed: list[str] = []

    def close(path: Path, mode: int) -> None:
        os.chmod(path, mode, follow_symlinks=False)
        sealed.append(path.relative_to(root).as_posix())

    for folder in sorted((root / "exercises").glob("[0-9][0-9]_*/")):
        try:
            names = tomllib.loads((folder / "exercise.toml").read_text(encoding="utf-8")).get("files", [])
        except (OSError, ValueError):
            continue
        for name in names if isinstance(names, list) else []:
            path = folder / str(name)
            if path.is_file() and not path.is_symlink():
                close(path, 0o600)
    base = root / FOLDER
    if base.is_dir():
        for folder, dirs, names in os.walk(base, topdown=False):
            for name in names:
                close(Path(folder) / name, 0o600)
            close(Path(folder), 0o700)
    return sealed


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.held_back seal DIR`` (run by the Gradescope autograder's setup.sh)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "seal" or not Path(args[1], "exercises").is_dir():
        print("usage: python -m grader.held_back seal COURSE_DIR (a course folder, with exercises/)", file=sys.stderr)
        return 2
    sealed = seal(Path(args[1]))
    print(f"sealed {len(sealed)} instructor-only files and folders in {args[1]} (readable by their owner only)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
