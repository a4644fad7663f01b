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
    """`grader watch` in a child process, its output read line by line on a thread.

    ``with WatchProcess(root) as watch:`` stops it at the end of the block (``q``), and it must then
    exit with status 0.
    """

    def __init__(self, root, *args: str, cwd=None) -> None:
        env = {**os.environ, "KATA_COURSE_ROOT": str(root), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader", "watch", *args],
            cwd=cwd,
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

    def __enter__(self) -> WatchProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.stop() == 0


def test_watch_rechecks_on_save_and_moves_on_when_it_passes(course):
    with WatchProcess(course.root) as watch:
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


def test_watch_takes_commands_without_a_terminal(course):
    with WatchProcess(course.root, "01") as watch:
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


def test_watch_survives_a_test_that_prints_megabytes(course):
    folder = course.root / "exercises" / "01_adder"
    (folder / "adder.py").write_text("def add(a, b):\n    print('x' * 10_000_000)\n    return 0\n")
    with WatchProcess(course.root, "01") as watch:
        watch.wait_for("expected 3, got 0")
        watch.wait_for("watching for saves")
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


# --- on a terminal: single keys, and the terminal put back (issue 17, item 1) ------------------------------


@pytest.fixture
def three(fake_course):
    fake_course.add("01_adder")
    fake_course.add("02_subber")
    fake_course.add("16_lifeline")
    checksums.record(load_course(fake_course.root))
    return fake_course


def cbreak(settings) -> bool:
    import termios

    return not settings[3] & (termios.ICANON | termios.ECHO)


def test_single_keys_on_a_terminal_and_the_terminal_put_back_after_q(three, terminal):
    import json

    screen = terminal(three.root, "watch", "01")
    before = screen.settings()
    screen.wait_for("01 adder — Exercise adder: 0 of 2 tests pass")
    footer = screen.wait_for("keys: n next · p prev · j NN jump · h hint · H hints seen · r rerun · q quit")
    assert "Press h for a hint" in footer and "grader hint" not in footer  # inside watch, a key
    assert cbreak(screen.settings()) and not cbreak(before)
    screen.type("h")  # no Enter
    screen.wait_for("hint 1/2: first hint")
    screen.type("H")  # again, without spending the second one
    screen.wait_for("hint 1/2: first hint")
    screen.type("n")
    screen.wait_for("02 subber — Exercise subber")
    screen.type("j16")  # two digits: at once
    screen.wait_for("16 lifeline — Exercise lifeline")
    screen.type("j1\r")  # or a number, then Enter
    screen.wait_for("01 adder — Exercise adder")
    screen.wait_for("keys:")
    screen.type("x")
    screen.wait_for("unknown key 'x'")
    screen.type("q")
    assert screen.wait() == 0
    assert screen.settings() == before
    state = json.loads((three.root / ".grader" / "state.json").read_text())
    assert state["hints"] == {"01_adder": 1}


def test_ctrl_c_on_a_terminal_puts_it_back(three, terminal):
    screen = terminal(three.root, "watch", "02")
    before = screen.settings()
    screen.wait_for("keys:")
    assert cbreak(screen.settings())
    screen.type("\x03")  # Ctrl-C, as the terminal delivers it: SIGINT to the watch
    assert screen.wait() == 0
    assert "stopped watching" in screen.output and "Traceback" not in screen.output
    assert screen.settings() == before


def test_sigterm_on_a_terminal_puts_it_back(three, terminal):
    import signal

    screen = terminal(three.root, "watch", "02")
    before = screen.settings()
    screen.wait_for("keys:")
    screen.process.send_signal(signal.SIGTERM)
    assert screen.wait() == 128 + signal.SIGTERM
    assert "stopped watching" in screen.output and "Traceback" not in screen.output
    assert screen.settings() == before


def test_the_terminal_is_put_back_when_watch_crashes():
    import termios

    from grader.watch import single_keys

    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        with pytest.raises(RuntimeError), single_keys(slave):
            assert cbreak(termios.tcgetattr(slave))
            raise RuntimeError("a bug in the grader")
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_a_passed_exercise_broken_again_is_rechecked_and_turns_red(three, terminal):
    three.solve("01_adder")
    screen = terminal(three.root, "watch")
    screen.wait_for("02 subber — Exercise subber: 0 of 2 tests pass")  # 01 passes: it starts on 02
    screen.wait_for("keys:")
    assert " 01✓ [02✗]" in screen.output
    (three.root / "exercises" / "01_adder" / "adder.py").write_text("def add(a, b):\n    return a - b\n")
    shown = screen.wait_for("01 adder — Exercise adder: 0 of 2 tests pass")  # watch goes where the save was
    assert "[01✗] 02✗" in shown
    screen.wait_for("keys:")
    three.solve("01_adder")
    screen.wait_for("01 adder — Exercise adder: 2 of 2 tests pass")
    screen.wait_for("On to 02 subber")  # the next one that does not pass
    screen.type("q")
    assert screen.wait() == 0


def test_watch_starts_on_the_exercise_saved_last_that_does_not_pass(three):
    folder = three.root / "exercises"
    now = time.time()
    for name, body, age in [
        ("01_adder/adder.py", "return a - b", 300),  # failing, saved long ago
        ("02_subber/subber.py", "return a * b", 100),  # failing, saved last of the failing ones
        ("16_lifeline/lifeline.py", "return a + b", 0),  # passing, saved just now
    ]:
        (folder / name).write_text(f"def add(a, b):\n    {body}\n")
        os.utime(folder / name, (now - age, now - age))
    with WatchProcess(three.root) as watch:
        assert "02 subber" in watch.wait_for("checking ")


def test_watch_inside_an_exercise_folder_starts_there_and_takes_j16_as_a_line(three):
    with WatchProcess(three.root, cwd=three.root / "exercises" / "02_subber") as watch:
        assert "02 subber" in watch.wait_for("checking ")
        watch.wait_for("commands (type one, then Enter)")
        watch.type("j16")
        watch.wait_for("16 lifeline — Exercise lifeline")
        watch.type("H")
        watch.wait_for("No hints seen yet for 16 lifeline")


def test_a_save_in_several_exercises_at_once_rechecks_each_and_goes_to_the_one_saved_last(three):
    with WatchProcess(three.root, "16") as watch:
        watch.wait_for("16 lifeline — Exercise lifeline: 0 of 2 tests pass")
        watch.wait_for("commands (type one, then Enter)")
        folder, now = three.root / "exercises", time.time()
        (folder / "01_adder" / "adder.py").write_text("def add(a, b):\n    return a - b\n")  # as a git pull would
        os.utime(folder / "01_adder" / "adder.py", (now - 60, now - 60))
        three.solve("02_subber")
        watch.wait_for("re-checking 01 adder …")
        watch.wait_for(" 01✗ [02✓] 16✗ ")
        watch.wait_for("02 subber — Exercise subber: 2 of 2 tests pass")
        watch.wait_for("On to 16 lifeline")  # the next one that does not pass


def test_keys_become_the_commands_lines_would_have_typed():
    from grader.watch import KeyCommands, parse

    shown = []
    keys = KeyCommands(shown.append)
    assert [keys.feed(k) for k in "nphHrq"] == ["n", "p", "h", "H", "r", "q"]
    assert [keys.feed(k) for k in "j1\x7f2\r"] == [None, None, None, None, "j 2"]  # a typo, rubbed out
    assert "".join(shown).endswith("1\b \b2\n")  # echoed: cbreak mode echoes nothing itself
    assert [keys.feed(k) for k in "jws\r"] == [None, None, None, "j ws"]  # a slug's prefix, then Enter
    assert [keys.feed(k) for k in "j\x1bn"] == [None, None, "n"]  # Esc gives up the jump
    assert keys.feed("\x1b[C") == "n" and keys.feed("\x1b[D") == "p"  # → and ←
    assert keys.feed("x") == "unknown key 'x'" and keys.feed(" ") is None
    assert parse("j16") == parse("j 16") == ("j", "16") and parse("jump 16") == ("jump", "16")
    assert parse("jnope") == ("jnope", "")  # not a jump: an unknown command, said so
