"""Progress on long work: a live line on a terminal, plain lines in a pipe (check --all, verify, mutants)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from grader.progress import ProgressLine

ERASE = "\r\033[K"


def piped(root, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KATA_COURSE_ROOT": str(root), "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )


# --- the line itself ------------------------------------------------------------------------------------


def test_the_live_line_redraws_in_place_and_is_wiped_at_the_end():
    screen = io.StringIO()
    with ProgressLine(2, stream=screen, live=True) as progress:
        progress.started("01 adder")
        assert screen.getvalue().endswith(f"{ERASE}[{'-' * 24}] 0/2 exercises - checking 01 adder")
        progress.finished("01 adder")
        progress.started("02 subber")
        with progress.above():
            screen.write("a result\n")
        assert screen.getvalue().endswith(f"{ERASE}a result\n{ERASE}[{'#' * 12}{'-' * 12}] 1/2 exercises - checking 02 subber")
        progress.finished("02 subber")
    assert screen.getvalue().endswith(f"2/2 exercises{ERASE}")  # nothing of it is left on screen
    before = screen.getvalue()
    progress.started("late")  # a worker that reports after the end draws nothing
    assert screen.getvalue() == before


def test_the_live_line_fits_the_terminal():
    progress = ProgressLine(3, stream=io.StringIO(), live=True, verb="verifying")
    progress.update(done=1, running=["05 wsgi_spec", "06 first_wsgi_app", "07 wsgi_server"])
    assert progress.line(60) == "[########----------------] 1/3 exercises - verifying 05 wsg."
    assert progress.line(200).endswith("05 wsgi_spec, 06 first_wsgi_app, 07 wsgi_server")


def test_without_a_terminal_each_new_item_is_one_plain_line():
    log = io.StringIO()
    with ProgressLine(3, stream=log, live=False, noun="mutants", verb="mutants of") as progress:
        progress.update(done=0, running=["01 adder"])
        progress.update(done=1, running=["01 adder"])  # the same exercise, its next mutant: no new line
        progress.update(done=2, running=["02 subber"])
        with progress.above():
            log.write("01 adder — 2 mutants\n")
    assert log.getvalue() == "mutants of 01 adder (0/3 done)\nmutants of 02 subber (2/3 done)\n01 adder — 2 mutants\n"


# --- the commands ---------------------------------------------------------------------------------------


def test_check_all_in_a_pipe_says_each_exercise_on_a_plain_line(course):
    course.solve("02_subber")
    completed = piped(course.root, "check", "--all")
    assert completed.returncode == 1, completed.stderr
    assert "checking 01 adder (0/2 done)" in completed.stderr and "checking 02 subber" in completed.stderr
    assert "\r" not in completed.stderr + completed.stdout
    assert "0 of 2 tests pass" in completed.stdout and "2 of 2 tests pass" in completed.stdout


def test_check_all_on_a_terminal_shows_a_live_line(course, terminal):
    screen = terminal(course.root, "check", "--all")
    assert screen.wait() == 1
    assert f"{ERASE}[" in screen.output and "/2 exercises · checking " in screen.output
    assert "01 adder" in screen.output.split("exercises · checking", 1)[1]
    assert "checking 01 adder (0/2 done)" not in screen.output  # no plain lines on a terminal
    # the line is wiped before the verdicts print: they start at the left margin
    assert f"{ERASE}✗ 01 adder — Exercise adder: 0 of 2 tests pass" in screen.output


def test_verify_on_a_terminal_prints_each_verdict_above_the_live_line(course, terminal):
    screen = terminal(course.root, "verify", "--jobs", "1")
    assert screen.wait(120) == 0, screen.output
    # Never measured, the later exercise goes first (grader.verify.longest_first).
    assert "0/2 exercises · verifying 02 subber" in screen.output
    assert "1/2 exercises · verifying 01 adder" in screen.output
    assert f"{ERASE}✓ 01 adder: stub fails 2/2" in screen.output  # wiped first, then the verdict
    assert "All 2 exercises verified" in screen.output


def test_verify_in_a_pipe_says_each_exercise_on_a_plain_line(course):
    completed = piped(course.root, "verify", "--jobs", "1")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr.splitlines() == ["verifying 02 subber (0/2 done)", "verifying 01 adder (1/2 done)"]
    assert "\r" not in completed.stdout + completed.stderr


def test_mutants_in_a_pipe_says_each_exercise_once_with_the_mutants_done(course):
    completed = piped(course.root, "mutants", "--all", "--max", "2", "--jobs", "1")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr.splitlines() == ["mutants of 01 adder (0/4 done)", "mutants of 02 subber (2/4 done)"]
    assert "all 2 exercises: 4/4 killed" in completed.stdout
