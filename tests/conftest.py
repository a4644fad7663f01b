"""Fixtures for the project's own tests: small fake courses built in a temporary folder.

A fake course has the real ``exercises/conftest.py`` (the switch) and exercises written on the spot,
so the grader can be tested on passing, failing, hanging and crashing student code in seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

STUB = '''
def add(a, b):
    """Return a + b."""
    raise NotImplementedError("write add() in {module}.py")
'''
SOLUTION = '''
def add(a, b):
    return a + b
'''
TESTS = '''
import pytest
from {module} import add


@pytest.mark.spec("arithmetic §1")
def test_adds_small_numbers():
    got = add(1, 2)
    assert got == 3, f"expected 3, got {{got!r}}"


def test_adds_negative_numbers():
    got = add(-1, -2)
    assert got == -3, f"expected -3, got {{got!r}}"
'''


class FakeCourse:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "exercises").mkdir(parents=True)
        (root / "solutions").mkdir()
        shutil.copy(REPO / "exercises" / "conftest.py", root / "exercises" / "conftest.py")

    def add(
        self,
        name: str,
        *,
        stub: str | None = None,
        solution: str | None = None,
        tests: str | None = None,
        part: int = 1,
        time_limit: float = 60,
        timeout: float = 10,
        hints: tuple[str, ...] = ("first hint", "second hint"),
        extra_toml: str = "",
    ) -> Path:
        number, slug = name.split("_", 1)
        folder = self.root / "exercises" / name
        folder.mkdir()
        module = slug
        (folder / f"{module}.py").write_text(textwrap.dedent(stub or STUB).format(module=module))
        (folder / f"test_{module}.py").write_text(textwrap.dedent(tests or TESTS).format(module=module))
        (folder / "README.md").write_text(f"# {name}\n")
        hint_list = ", ".join(f'"{h}"' for h in hints)
        (folder / "exercise.toml").write_text(
            f'title = "Exercise {slug}"\npart = {part}\nchapter = "A chapter"\nfiles = ["{module}.py"]\n'
            f"points = 10\ntimeout = {timeout}\ntime_limit = {time_limit}\nhints = [{hint_list}]\n{extra_toml}"
        )
        solution_folder = self.root / "solutions" / name
        solution_folder.mkdir()
        (solution_folder / f"{module}.py").write_text(textwrap.dedent(solution or SOLUTION))
        return folder

    def solve(self, name: str) -> None:
        """Copy the solution over the stub, as a student who finished would have it."""
        module = name.split("_", 1)[1]
        shutil.copy(self.root / "solutions" / name / f"{module}.py", self.root / "exercises" / name / f"{module}.py")


@pytest.fixture
def fake_course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCourse:
    course = FakeCourse(tmp_path / "course")
    monkeypatch.setenv("KATA_COURSE_ROOT", str(course.root))
    monkeypatch.delenv("KATA_SOLUTIONS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return course


@pytest.fixture
def run_grader(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the grader's main() in-process and return (exit status, stdout, stderr)."""
    from grader.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def grader_on_the_course() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m grader ARGS`` on this repository's own course, in a child, without colours."""
    return _grader_on_the_course


def _grader_on_the_course(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_COURSE_ROOT", "KATA_SOLUTIONS")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )
