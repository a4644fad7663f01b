"""Fixtures for the project's own tests: small fake courses built in a temporary folder.

A fake course has the real ``exercises/conftest.py`` (the switch) and exercises written on the spot,
so the grader can be tested on passing, failing, hanging and crashing student code in seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A local check leaves a resident warm process behind for the next command (grader.resident): in
# the project's tests, which run the grader hundreds of times on courses that are deleted after,
# it stays off except where tests/test_resident.py turns it on and stops it (KATA_RESIDENT=1 runs
# the whole suite through it).
os.environ.setdefault("KATA_RESIDENT", "0")

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


@pytest.fixture
def run_exercise_tests() -> Callable[[Path, str, str], subprocess.CompletedProcess[str]]:
    """Run ``pytest -k SELECTION`` on one of this repository's exercises, in a child, with ``KATA_SOLUTIONS``.

    ``run_exercise_tests(solutions, "15_asgi_server", "nagle")``: the graded tests only (``-m "not
    reference"``), against the folder ``solutions`` (the reference, or an edited copy of it).
    """
    return _run_exercise_tests


def _run_exercise_tests(solutions: Path, exercise: str, selection: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KATA_SOLUTIONS": str(solutions)}
    command = [sys.executable, "-m", "pytest", str(REPO / "exercises" / exercise), "-q", "-p", "no:cacheprovider",
               "-m", "not reference", "-k", selection]  # fmt: skip
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture
def edited_reference() -> Callable[..., Path]:
    """A copy of reference solutions with one textual edit: what a rule's tests must fail on.

    ``edited_reference(folder, files, where, old, new)`` copies each of ``files`` (``(exercise, file
    name)`` pairs: the edited one, and every earlier exercise it builds on) from ``solutions/`` into
    ``folder/solutions``, with ``old`` replaced by ``new`` in the file ``where``, and returns that folder.
    ``old`` must stand exactly once in it, so a reference that changed fails the case instead of passing it.
    """
    return _edited_reference


def _edited_reference(folder: Path, files: Iterable[tuple[str, str]], where: tuple[str, str], old: str, new: str) -> Path:
    solutions = folder / "solutions"
    for exercise, name in files:
        text = (REPO / "solutions" / exercise / name).read_text(encoding="utf-8")
        if (exercise, name) == where:
            assert text.count(old) == 1, f"the reference no longer holds exactly one {old!r}: update this case"
            text = text.replace(old, new)
        (solutions / exercise).mkdir(parents=True)
        (solutions / exercise / name).write_text(text, encoding="utf-8")
    return solutions


class Terminal:
    """``python -m grader ARGS`` on a pseudo-terminal of its own, as a student's shell runs it.

    The child's standard input, output and error are the terminal, and it is the child's controlling
    terminal, so typing ``\\x03`` is a real Ctrl-C. The test keeps the terminal's own end open, to read
    its settings (``termios.tcgetattr``) before and after. Every read has a deadline.
    """

    def __init__(self, root: Path, *args: str, cwd: Path | None = None, columns: int = 100) -> None:
        import fcntl
        import struct
        import termios

        self.master, self.terminal = os.openpty()
        fcntl.ioctl(self.terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        env = {**os.environ, "KATA_COURSE_ROOT": str(root), "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8", "TERM": "xterm"}
        env.pop("FORCE_COLOR", None)

        def take_the_terminal() -> None:  # in the child, after setsid(): make it the controlling terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader", *args],
            stdin=self.terminal, stdout=self.terminal, stderr=self.terminal,
            cwd=cwd, env=env, start_new_session=True, preexec_fn=take_the_terminal,
        )
        self.output = ""
        self.position = 0  # where the next wait_for starts looking

    def read(self, seconds: float) -> None:
        """What the child wrote within ``seconds`` (or until it stops writing for a moment)."""
        import select
        import time

        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if not ready:
                if self.process.poll() is not None:
                    return
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            self.output += chunk.decode("utf-8", "replace")
            return

    def wait_for(self, text: str, seconds: float = 60) -> str:
        """Read until ``text`` appears after the previous match; the output from there to it."""
        import time

        deadline = time.monotonic() + seconds
        while True:
            found = self.output.find(text, self.position)
            if found >= 0:
                seen, self.position = self.output[self.position : found + len(text)], found + len(text)
                return seen
            if time.monotonic() > deadline or (self.process.poll() is not None and not self._more()):
                pytest.fail(f"never saw {text!r}; the terminal shows:\n{self.output[-3000:]}")
            self.read(min(1.0, max(0.05, deadline - time.monotonic())))

    def _more(self) -> bool:
        before = len(self.output)
        self.read(0.3)
        return len(self.output) > before

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def settings(self) -> list:
        import termios

        return termios.tcgetattr(self.terminal)

    def wait(self, seconds: float = 20) -> int:
        """The exit status, reading what is left meanwhile (a full terminal would block the child)."""
        import time

        deadline = time.monotonic() + seconds
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read(0.2)
        if self.process.poll() is None:
            self.close()
            pytest.fail(f"still running after {seconds} s; the terminal shows:\n{self.output[-3000:]}")
        self.read(0.2)
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        # Once only: a second os.close() of the same numbers would close whatever has them by then
        # (another test's socket, in this same process).
        fds, self.master, self.terminal = (self.master, self.terminal), -1, -1
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


@pytest.fixture
def terminal() -> Iterator[Callable[..., Terminal]]:
    """Start ``grader ARGS`` on a pseudo-terminal: ``terminal(course_root, "watch")``; closed after the test."""
    started: list[Terminal] = []

    def start(root: Path, *args: str, **options: object) -> Terminal:
        started.append(Terminal(root, *args, **options))  # type: ignore[arg-type]
        return started[-1]

    yield start
    for each in started:
        each.close()


@pytest.fixture
def course(fake_course: FakeCourse) -> FakeCourse:
    """Two exercises, ``01_adder`` and ``02_subber``, their checksums recorded: a course not yet started.

    A module that needs another course (committed to git, or of the real exercises) defines its own ``course``.
    """
    from grader import checksums
    from grader.course import load_course

    fake_course.add("01_adder")
    fake_course.add("02_subber")
    checksums.record(load_course(fake_course.root))
    return fake_course
