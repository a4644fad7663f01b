"""`grader watch` driven as a student drives it: edit files, read the verdicts, type commands."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from grader import checksums
from grader.course import load_course

DEADLINE = 60


class WatchProcess:
    """`grader watch` in a child process, its output read line by line on a thread."""

    def __init__(self, root, *args: str) -> None:
        env = {**os.environ, "KATA_COURSE_ROOT": str(root), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader", "watch", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        pytest.fail(f"watch never printed {text!r}; it printed:\n{''.join(self.seen)}")

    def type(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.type("q")
        try:
            return self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def course(fake_course):
    fake_course.add("01_adder")
    fake_course.add("02_subber")
    checksums.record(load_course(fake_course.root))
    return fake_course


def test_watch_rechecks_on_save_and_moves_on_when_it_passes(course):
    watch = WatchProcess(course.root)
    try:
        watch.wait_for("01 adder — Exercise adder: 0 of 2 tests pass")
        watch.wait_for("watching for saves")
        stub = course.root / "exercises" / "01_adder" / "adder.py"
        stub.write_text("def add(a, b):\n    return a - b\n")
        watch.wait_for("expected 3, got -1")
        watch.wait_for("watching for saves")
        course.solve("01_adder")
        watch.wait_for("2 of 2 tests pass")
        watch.wait_for("On to 02 subber")
        (course.root / "exercises" / "02_subber" / "subber.py").write_text("def add(a, b):\n    return b + a\n")
        watch.wait_for("02 subber — Exercise subber: 2 of 2 tests pass")
        watch.wait_for("whole course passes")
    finally:
        assert watch.stop() == 0


def test_watch_takes_commands_without_a_terminal(course):
    watch = WatchProcess(course.root, "01")
    try:
        watch.wait_for("watching for saves")
        watch.type("h")
        watch.wait_for("hint 1/2: first hint")
        watch.type("n")
        watch.wait_for("02 subber")
        watch.type("p")
        watch.wait_for("01 adder")
        watch.type("j 2")
        watch.wait_for("02 subber")
        watch.type("j nope")
        watch.wait_for("no exercise 'nope'")
        watch.type("dance")
        watch.wait_for("unknown command 'dance'")
        course.solve("01_adder")
        watch.type("j 1")
        watch.wait_for("01 adder — Exercise adder: 2 of 2 tests pass")
        watch.wait_for("watching for saves")
        watch.type("r")  # still on 01: looking back at a finished exercise does not move on
        watch.wait_for("01 adder — Exercise adder: 2 of 2 tests pass")
    finally:
        assert watch.stop() == 0


def test_watch_survives_a_test_that_prints_megabytes(course):
    folder = course.root / "exercises" / "01_adder"
    (folder / "adder.py").write_text("def add(a, b):\n    print('x' * 10_000_000)\n    return 0\n")
    watch = WatchProcess(course.root, "01")
    try:
        watch.wait_for("expected 3, got 0")
        watch.wait_for("watching for saves")
    finally:
        assert watch.stop() == 0
    assert sum(len(line) for line in watch.seen) < 20_000


def test_ctrl_c_stops_watch_cleanly_and_keeps_the_state(course):
    import json
    import signal

    watch = WatchProcess(course.root, "01")
    try:
        watch.wait_for("watching for saves")
        watch.type("h")
        watch.wait_for("hint 1/2")
        watch.process.send_signal(signal.SIGINT)
        assert watch.process.wait(timeout=20) == 0
        watch.wait_for("stopped watching")
    finally:
        watch.stop()
    state = json.loads((course.root / ".grader" / "state.json").read_text())
    assert state["hints"] == {"01_adder": 1}
    assert "Traceback" not in "".join(watch.seen)
