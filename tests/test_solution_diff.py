"""`grader solution`: the code that differs from the reference, not the docstrings; a pager on a terminal."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from grader.solutions import code_hunks, code_lines, show

REPO = Path(__file__).resolve().parent.parent


def reworded(source: str) -> str:
    """``source`` with every docstring rewritten, comments added and dropped, and blank lines moved:
    what a student who filled in the stub's bodies with the reference's code would have."""
    text = re.sub(r'"""(.*?)"""', lambda m: '"""' + "Mine.\n\nMore words." * (len(m[1]) % 3) + '"""', source, flags=re.S)
    text = re.sub(r"  # .*$", "", text, flags=re.M)  # their trailing comments go
    lines = []
    for line in text.splitlines():
        if line.startswith("def "):
            lines += ["", "# my own comment above a function", ""]
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["02_http_parse/http_parse.py", "15_asgi_server/asgi_server.py"])
def test_docstrings_and_comments_alone_make_no_hunk(name):
    reference = (REPO / "solutions" / name).read_text()
    mine = reworded(reference)
    assert mine != reference
    assert code_hunks(mine, reference) == []


def test_a_code_difference_is_one_hunk_with_the_original_lines():
    reference = 'def add(a, b):\n    """Add."""\n    return a + b  # the sum\n'
    mine = 'def add(a, b):\n    """Return the sum of a and b.\n\n    Long words.\n    """\n    return a - b\n'
    [hunk] = code_hunks(mine, reference)
    assert (hunk.mine, hunk.reference) == ((6, 7), (3, 4))
    assert (hunk.before, hunk.removed, hunk.added) == (["def add(a, b):"], ["    return a - b"], ["    return a + b  # the sum"])


def test_code_lines_keep_indentation_and_strings_that_are_not_docstrings():
    source = 'X = 1\n"""About X."""\n\ndef f():\n    """Doc."""\n    return "text"  # why\n'
    assert code_lines(source) == [(1, "X = 1"), (4, "def f():"), (6, '    return "text"')]


def test_a_file_python_cannot_read_is_still_compared(tmp_path):
    assert [h.removed for h in code_hunks("def f(:\n    return 1\n", "def f():\n    return 1\n")] == [["def f(:"]]


def test_the_command_says_so_when_only_docstrings_differ(fake_course, run_grader):
    fake_course.add("01_adder")
    reference = (fake_course.root / "solutions" / "01_adder" / "adder.py").read_text()
    (fake_course.root / "exercises" / "01_adder" / "adder.py").write_text('"""My adder."""\n\n' + reference + "# done\n")
    code, out, err = run_grader("solution", "01")
    assert code == 0, out + err
    assert "same code as the reference" in out and "@@" not in out


def test_the_command_shows_the_hunk_of_a_real_difference_and_full_shows_all(fake_course, run_grader):
    fake_course.add("01_adder", solution="def add(a, b):\n    return a + b\n")
    (fake_course.root / "exercises" / "01_adder" / "adder.py").write_text(
        '"""My adder."""\n\ndef add(a, b):\n    return b + a\n'
    )
    code, out, err = run_grader("solution", "01")
    assert code == 0, out + err
    assert "-    return b + a" in out and "+    return a + b" in out
    assert "My adder" not in out  # the docstring only differs: not shown
    code, full, _ = run_grader("solution", "01", "--full")
    assert "-\"\"\"My adder.\"\"\"" in full and "the reference adder.py" in full


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def pager_to(path: Path) -> str:
    """A $PAGER that writes what it is given to ``path``."""
    return f"{sys.executable} -c \"import shutil, sys; shutil.copyfileobj(sys.stdin, open({str(path)!r}, 'w'))\""


def test_a_terminal_gets_the_pager(tmp_path, monkeypatch):
    paged = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", pager_to(paged))
    out = Terminal()
    show("line 1\nline 2\n", out)
    assert paged.read_text() == "line 1\nline 2\n" and out.getvalue() == ""


def test_piped_output_gets_no_pager(tmp_path, monkeypatch, fake_course, run_grader):
    paged = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", pager_to(paged))
    fake_course.add("01_adder")
    fake_course.solve("01_adder")
    code, out, _ = run_grader("solution", "01")  # stdout is captured: not a terminal
    assert code == 0 and "Identical." in out
    assert not paged.exists()


def test_a_missing_pager_writes_the_text_itself(monkeypatch):
    monkeypatch.setenv("PAGER", "no-such-pager-anywhere -R")
    out = Terminal()
    show("the text\n", out)
    assert out.getvalue() == "the text\n"
