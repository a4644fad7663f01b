"""``grader mutants``: the mutants it makes (from source text alone), the acknowledgements it reads,
and the command on small fake courses: scores, survivors, hangs, bad input and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.course import CourseError, load_exercise
from grader.mutants import load_acknowledgements
from grader.mutation import NotPython, mutants_of


def descriptions(source: str) -> list[str]:
    return [m.description for m in mutants_of(textwrap.dedent(source), "m.py")]


# --- the mutants ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("x = a < b\n", "a < b → a <= b"),
        ("x = a >= b\n", "a >= b → a > b"),
        ("x = a == b\n", "a == b → a != b"),
        ("x = a in b\n", "a in b → a not in b"),
        ("x = a is None\n", "a is None → a is not None"),
        ("x = a and b\n", "a and b → a or b"),
        ("x = not a\n", "not a → a"),
        ("x = a + b\n", "a + b → a - b"),
        ("x += 1\n", "x += 1 → x -= 1"),
        ("x = 5\n", "5 → 6"),
        ("x = 5\n", "5 → 4"),
        ("x = -1\n", "-1 → 0"),
        ("x = True\n", "True → False"),
        ("x = 'abc'\n", "'abc' → 'XXabc'"),
        ("x = b'\\r\\n'\n", "b'\\r\\n' → b'XX\\r\\n'"),
        ("def f():\n    return g()\n", "return … → return None"),
        ("f()\n", "removed: f()"),
        ("for a in b:\n    break\n", "removed: break"),
    ],
)
def test_each_kind_of_mutation_is_made(source, expected):
    assert expected in descriptions(source), descriptions(source)


def test_a_mutant_changes_one_span_and_keeps_every_other_line():
    source = "# a comment\nx = 1  # one\ny = x < 2\n"
    [mutant] = [m for m in mutants_of(source, "m.py") if m.description == "x < 2 → x <= 2"]
    assert mutant.source == "# a comment\nx = 1  # one\ny = (x <= 2)\n"
    assert (mutant.line, mutant.source_line, mutant.file) == (3, "y = x < 2", "m.py")


def test_every_mutant_compiles_and_differs_from_the_original():
    source = (Path(__file__).resolve().parent.parent / "solutions" / "02_http_parse" / "http_parse.py").read_text()
    found = mutants_of(source, "http_parse.py")
    assert len(found) > 50
    for mutant in found:
        compile(mutant.source, "x", "exec")
        assert mutant.source != source
    assert len({m.key for m in found}) == len(found), "two mutants share one identity"


def test_docstrings_annotations_imports_and_messages_are_left_alone():
    source = '''
        """Module docstring."""
        import os
        from a import b

        def f(x: int = 3) -> "str":
            """Docstring."""
            "a bare string is a comment"
            print("hello", 7)
            log.info("served %s", x)
            raise ValueError(f"bad {x}", "words")
        '''
    found = descriptions(source)
    assert found == ["3 → 2", "3 → 4", "7 → 6", "7 → 8", "removed: raise ValueError(f'bad {x}', 'words')"], found


def test_a_raise_keeps_its_status_mutable_but_not_its_words():
    found = descriptions("raise HTTPError(400, 'no host')\n")
    assert "400 → 401" in found and not any("XXno host" in d for d in found), found


def test_a_skip_comment_on_a_line_skips_that_line():
    found = descriptions("x = 1  # mutants: skip\ny = 2\n")
    assert found == ["removed: y = 2", "2 → 1", "2 → 3"], found


def test_a_skip_comment_on_a_statement_skips_all_of_it():
    source = '''
        def main():  # mutants: skip
            serve(8000)
            return 1

        @decorate  # mutants: skip
        def given():
            return 2

        if __name__ == "__main__":  # mutants: skip
            main()
        '''
    assert descriptions(source) == [], descriptions(source)


def test_a_file_that_does_not_parse_is_named_with_its_line():
    with pytest.raises(NotPython, match=r"m.py does not parse: line 2"):
        mutants_of("x = 1\ndef (\n", "m.py")


# --- acknowledgements -------------------------------------------------------------------------------


@pytest.fixture
def exercise(fake_course):
    return load_exercise(fake_course.add("01_adder"))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[[acknowledged]\n", "is not valid TOML"),
        ('[[acknowledged]]\nline = "x"\nmutation = "y"\n', "line 1: 'reason' is missing"),
        ('# c\n\n[[acknowledged]]\nline = "x"\nmutation = "y"\nreason = "z"\n\n[[acknowledged]]\nline = "x"\n', "line 8: 'mutation' is missing"),
        ('[[acknowledged]]\nline = "x"\nmutation = "y"\nreason = "z"\nwhy = "w"\n', "unknown key 'why'"),
        ('[[acknowledged]]\nfile = "other.py"\nline = "x"\nmutation = "y"\nreason = "z"\n', "'file' must name one of"),
        ('threshold = 80\n', "unknown key 'threshold'"),
    ],
)
def test_a_malformed_acknowledgement_file_is_named_with_its_line(exercise, tmp_path, text, problem):
    path = tmp_path / "mutants.toml"
    path.write_text(text)
    with pytest.raises(CourseError, match="mutants.toml") as raised:
        load_acknowledgements(path, exercise)
    assert problem in str(raised.value), str(raised.value)


def test_an_acknowledgement_names_its_file_only_when_there_are_several(exercise, tmp_path):
    path = tmp_path / "mutants.toml"
    path.write_text('[[acknowledged]]\nline = " x = 1 "\nmutation = "1 → 2"\nreason = "equivalent"\n')
    [ack] = load_acknowledgements(path, exercise)
    assert ack.key == ("adder.py", "x = 1", "1 → 2") and ack.where == 1


# --- the command on fake courses ----------------------------------------------------------------------

COUNTER = '''
def add(a, b):
    return a + b


def countdown(n):
    while n > 0:
        n -= 1
    return n
'''
COUNTER_TESTS = '''
from {module} import add, countdown


def test_adds():
    assert add(2, 3) == 5


def test_counts_down():
    assert countdown(3) == 0
'''


def test_a_strong_suite_kills_every_mutant_and_exits_0(fake_course, run_grader):
    fake_course.add("01_adder", solution=COUNTER, tests=COUNTER_TESTS, timeout=2, time_limit=20)
    code, out, err = run_grader("mutants", "01")
    assert code == 0, out + err
    assert "01 adder" in out and "(100.0 %)" in out, out
    assert "hung" in out and "adder.py:8  n -= 1 → n += 1" in out, out  # the endless loop, named


def test_a_survivor_is_shown_with_its_line_and_fails_the_threshold(fake_course, run_grader):
    weak = "from {module} import add\n\n\ndef test_adds():\n    assert add(2, 3) is not None\n"
    fake_course.add("01_adder", solution=COUNTER, tests=weak, timeout=2, time_limit=20)
    code, out, _ = run_grader("mutants", "01")
    assert code == 1, out
    assert "survived      adder.py:3  a + b → a - b  (return a + b)" in out, out
    assert "below the 90 % every exercise needs" in out, out


def test_acknowledged_survivors_are_listed_apart_and_stale_ones_reported(fake_course, run_grader):
    weak = "from {module} import add\n\n\ndef test_adds():\n    assert add(2, 3) is not None\n"
    fake_course.add("01_adder", solution="def add(a, b):\n    return a + b\n", tests=weak)
    (fake_course.root / "solutions" / "01_adder" / "mutants.toml").write_text(
        '[[acknowledged]]\nline = "return a + b"\nmutation = "a + b → a - b"\nreason = "the test only asks for a number"\n'
        '\n[[acknowledged]]\nline = "return a * b"\nmutation = "a * b → a / b"\nreason = "gone"\n'
    )
    code, out, _ = run_grader("mutants", "01")
    assert "acknowledged  adder.py:2  a + b → a - b — the test only asks for a number" in out, out
    assert "stale         mutants.toml line 6" in out, out
    assert code == 1, out  # a stale acknowledgement must be fixed
    assert "1/1 killed" in out, out  # return None is killed; the acknowledged one is not run


def test_a_sample_is_seeded_and_says_so(fake_course, run_grader):
    fake_course.add("01_adder", solution=COUNTER, tests=COUNTER_TESTS, timeout=2, time_limit=20)
    _, first, _ = run_grader("mutants", "01", "--max", "3", "--seed", "7")
    _, second, _ = run_grader("mutants", "01", "--max", "3", "--seed", "7")
    assert "3 run (a sample, seed 7)" in first, first
    assert first.splitlines()[:-1] == second.splitlines()[:-1]  # the last line is the time taken


def test_several_exercises_get_a_course_total(fake_course, run_grader):
    fake_course.add("01_adder")
    fake_course.add("02_plus")
    code, out, _ = run_grader("mutants", "--all", "--jobs", "2")
    assert code == 0, out
    assert "all 2 exercises:" in out and "the course's target is 95 %" in out, out


@pytest.mark.parametrize(
    "args, problem",
    [
        (["mutants"], "name the exercises"),
        (["mutants", "99"], "no exercise '99'"),
        (["mutants", "01", "--max", "0"], "outside 1..100000"),
    ],
)
def test_bad_arguments_are_one_sentence(fake_course, run_grader, args, problem):
    fake_course.add("01_adder")
    code, out, err = run_grader(*args)
    assert code == 2 and problem in err and "Traceback" not in out + err, (code, out, err)


def test_a_solution_that_does_not_parse_is_one_sentence(fake_course, run_grader):
    fake_course.add("01_adder", solution="def add(a, b)\n    return a + b\n")
    code, out, err = run_grader("mutants", "01")
    assert code == 2 and "the reference solution adder.py does not parse: line 1" in err, (out, err)


def test_an_exercise_without_a_solution_file_is_one_sentence(fake_course, run_grader):
    fake_course.add("01_adder")
    (fake_course.root / "solutions" / "01_adder" / "adder.py").unlink()
    code, _, err = run_grader("mutants", "01")
    assert code == 2 and "has no reference solution for adder.py" in err, err


def test_a_course_copy_without_its_solutions_branch_is_refused(fake_course, run_grader):
    fake_course.add("01_adder")
    subprocess.run(["rm", "-rf", str(fake_course.root / "solutions")], check=True)
    (fake_course.root / ".copier-answers.yml").write_text("_src_path: x\n")
    subprocess.run(["git", "init", "-q", str(fake_course.root)], check=True)
    code, _, err = run_grader("mutants", "01")
    assert code == 2 and "no 'solutions' branch" in err, err


def test_mutants_never_touch_the_course_files(fake_course, run_grader):
    fake_course.add("01_adder", solution=COUNTER, tests=COUNTER_TESTS, timeout=2, time_limit=20)
    files = sorted(p for p in fake_course.root.rglob("*.py") if "__pycache__" not in p.parts)
    before = {p: p.read_bytes() for p in files}
    run_grader("mutants", "01")
    after = sorted(p for p in fake_course.root.rglob("*.py") if "__pycache__" not in p.parts)
    assert after == files and all(p.read_bytes() == before[p] for p in files)


SLOW_TESTS = '''
import os, time
from {module} import add


def test_waits():
    with open(os.environ["MARKER"], "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    time.sleep(60)
    assert add(1, 2) == 3
'''


def test_ctrl_c_stops_every_run_and_leaves_the_files_as_they_were(fake_course, tmp_path):
    fake_course.add("01_adder", tests=SLOW_TESTS, timeout=90, time_limit=120)
    solution = fake_course.root / "solutions" / "01_adder" / "adder.py"
    before = solution.read_bytes()
    marker = tmp_path / "started"
    env = {**os.environ, "MARKER": str(marker), "KATA_COURSE_ROOT": str(fake_course.root)}
    grader = subprocess.Popen(
        [sys.executable, "-m", "grader", "mutants", "01", "--jobs", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(marker.read_text().split() if marker.exists() else []) < 2:
            time.sleep(0.05)
        pids = [int(p) for p in marker.read_text().split()]
        assert len(pids) == 2, "two mutants should be running at once"
        grader.send_signal(signal.SIGINT)
        out, err = grader.communicate(timeout=20)
    finally:
        grader.kill()
    assert grader.returncode == 130 and "interrupted" in err and "Traceback" not in err, (out, err)
    assert solution.read_bytes() == before
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"a mutant's test process {pid} is still running"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True
