"""``grader watch``: re-check whatever the student saves, and move on when the exercise passes.

Saves are found by polling every exercise's files (their size, modification time and inode, a few
times a second). Polling costs next to nothing for a few dozen files, and it works where change
events do not arrive: WSL, network drives, Docker bind mounts, editors that save by renaming a swap
file over the original. A change starts a check once the files have been quiet for a moment
(debounced), and a save during a check is picked up right after it, never as a second run at once.

Watch follows the student: a save in another exercise's folder (an earlier one, passed long ago)
switches to that exercise and checks it, so a ✓ that no longer holds turns into a ✗ on screen. The
line at the top shows every exercise's mark. Watch starts on the exercise named, else the one whose
folder it runs in, else the one saved most recently that does not pass.

Each check is forked from a warm process that has imported pytest already (see :mod:`grader.warm`),
which takes most of the start-up time out of the loop from a save to its verdict.

On a terminal, commands are single keys (the terminal is put in *cbreak* mode, and put back as it
was on every way out: ``q``, Ctrl-C, SIGTERM, a crash); ``j`` then a number jumps, at once after two
digits, or after Enter. Without a terminal (a pipe, an editor's task runner) they are lines:
``n`` next, ``p`` previous, ``j NN`` or ``j16`` jump, ``h`` next hint, ``H`` the hints seen so far,
``r`` run again, ``q`` quit.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from . import ui, warm
from .course import Course, CourseError, Exercise
from .progress import default_jobs, next_exercise, results_for
from .results import NOT_STARTED, PASSED, ExerciseResult
from .state import State
from .warm import WarmStarter

POLL_INTERVAL = 0.02  # a look at the course's files costs about 0.1 ms; a save is seen 10 ms after it on average
# An editor's save is a few writes (or a write and a rename) microseconds apart: 20 ms without a
# change means it is done. A save during the check itself is seen on the next turn.
QUIET_PERIOD = 0.02
KEYS = "n next · p prev · j NN jump · h hint · H hints seen · r rerun · q quit"
KEY_HELP = f"watching for saves\nkeys: {KEYS}"
LINE_HELP = f"watching for saves\ncommands (type one, then Enter): {KEYS}"
STUCK_KEYS = "Stuck? Press h for a hint (H shows again the ones you have seen)."
STUCK_LINES = "Stuck? Type h and Enter for a hint (H shows again the ones you have seen)."

Snapshot = dict[Path, tuple[int, int, int]]


class Terminated(Exception):
    """SIGTERM arrived: leave the way Ctrl-C leaves, the terminal put back and the state saved."""


# --- what changed on disk --------------------------------------------------------------------------


def watched_files(exercises: Sequence[Exercise]) -> dict[Path, Exercise]:
    """Every file whose change means "check this exercise again": the student's files and the tests."""
    return {path: e for e in exercises for path in [*e.student_files(), *e.test_files()]}


def snapshot(paths: Sequence[Path]) -> Snapshot:
    """What the files look like now: (size, mtime in ns, inode) per file, missing files absent."""
    seen: Snapshot = {}
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue
        seen[path] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return seen


def last_saved(exercise: Exercise) -> float:
    """When the student last saved one of the exercise's files (0 when none is there)."""
    times = []
    for path in exercise.student_files():
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def where_to_start(pairs: Sequence[tuple[Exercise, ExerciseResult]]) -> Exercise | None:
    """The exercise the student is working on: of those that do not pass, the one saved last.

    A stub nobody has touched does not count (its time is the checkout's); with nothing edited and
    failing, the first exercise that does not pass.
    """
    edited = [e for e, r in pairs if r.status not in (PASSED, NOT_STARTED)]
    if edited:
        return max(edited, key=last_saved)
    return next_exercise(list(pairs))


# --- what the student types ------------------------------------------------------------------------


def read_lines(stream: TextIO, inbox: queue.Queue[str | None]) -> None:
    """Feed the lines typed on ``stream`` into ``inbox``; ``None`` marks the end of input."""
    for line in stream:
        inbox.put(line.strip())
    inbox.put(None)


def read_keys(fd: int, inbox: queue.Queue[str | None]) -> None:
    """Feed the keys pressed on the terminal ``fd`` into ``inbox``, one at a time.

    An escape sequence (an arrow key sends ``ESC [ C``) arrives in one read and stays one key.
    """
    while True:
        try:
            chunk = os.read(fd, 64)
        except OSError:
            chunk = b""
        if not chunk:
            inbox.put(None)
            return
        text = chunk.decode("utf-8", "replace")
        if text.startswith("\x1b") and len(text) > 1:
            inbox.put(text)
        else:
            for key in text:
                inbox.put(key)


class KeyCommands:
    """Single keys in, the commands line mode would have typed out: ``j`` ``1`` ``6`` → ``"j 16"``.

    ``echo`` shows what is being typed after ``j`` (the terminal echoes nothing in cbreak mode).
    """

    SINGLE = {"n": "n", "p": "p", "h": "h", "H": "H", "r": "r", "\r": "r", "\n": "r", "q": "q", "\x04": "q"}
    ARROWS = {"\x1b[C": "n", "\x1b[D": "p"}  # → and ←

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.jump: str | None = None  # what was typed after j, while a jump is being typed

    def feed(self, key: str) -> str | None:
        """The command that ``key`` completes, or None while one is still being typed."""
        if self.jump is None:
            if key == "j":
                self.jump = ""
                self.echo("jump to (a number, then Enter; Esc cancels): ")
                return None
            if key in self.SINGLE or key in self.ARROWS:
                return self.SINGLE.get(key) or self.ARROWS[key]
            return None if key.isspace() else f"unknown key {key!r}"
        if key in ("\r", "\n"):
            target, self.jump = self.jump, None
            self.echo("\n")
            return f"j {target}" if target else None
        if key in ("\x7f", "\b"):
            if self.jump:
                self.jump = self.jump[:-1]
                self.echo("\b \b")
            return None
        if len(key) == 1 and (key.isalnum() or key == "_"):
            self.jump += key
            self.echo(key)
            if len(self.jump) == 2 and self.jump.isdigit():  # every exercise number has two digits
                target, self.jump = self.jump, None
                self.echo("\n")
                return f"j {target}"
            return None
        self.jump = None  # Esc, or anything else: no jump
        self.echo(" (cancelled)\n")
        return None


def parse(command: str) -> tuple[str, str]:
    """A typed command as (word, argument): ``"j 16"``, ``"j16"`` and ``"jump 16"`` all jump to 16."""
    glued = re.fullmatch(r"j(\d+)", command)
    if glued:
        return "j", glued[1]
    word, _, argument = command.partition(" ")
    return word, argument.strip()


@contextlib.contextmanager
def single_keys(fd: int) -> Iterator[None]:
    """The terminal in cbreak mode (each key at once, no echo; Ctrl-C still interrupts) while inside.

    Whatever way the block is left, by return, exception, Ctrl-C or SIGTERM (which :func:`watch`
    turns into :class:`Terminated`), the terminal's settings are put back as they were. After Ctrl-Z
    and ``fg`` the shell may have put its own back: cbreak is set again when the process continues.
    """
    import termios
    import tty

    saved = termios.tcgetattr(fd)

    def again(signum: int, frame: object) -> None:
        with contextlib.suppress(termios.error):
            tty.setcbreak(fd, termios.TCSANOW)

    tty.setcbreak(fd, termios.TCSANOW)
    previous = signal.signal(signal.SIGCONT, again) if _in_main_thread() else None
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if previous is not None:
            signal.signal(signal.SIGCONT, previous)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# --- the watcher -----------------------------------------------------------------------------------


class Watcher:
    def __init__(
        self,
        course: Course,
        state: State,
        out: TextIO,
        *,
        start: Exercise | None = None,
        clear_screen: bool = False,
        keys: bool = False,
        check: Callable[[Exercise], ExerciseResult] | None = None,
    ) -> None:
        self.course = course
        self.state = state
        self.out = out
        self.clear_screen = clear_screen
        self.check = check or self._check
        self.inbox: queue.Queue[str | None] = queue.Queue()
        self.keys = KeyCommands(self.echo) if keys else None
        self.help = KEY_HELP if keys else LINE_HELP
        self.stuck = STUCK_KEYS if keys else STUCK_LINES
        self.files = watched_files(course.exercises)
        self.seen: Snapshot = {}
        self.starter: WarmStarter | None = None
        pairs = results_for(course, course.exercises, state)
        self.marks: dict[str, str] = {e.name: r.status for e, r in pairs}
        self.current = start or where_to_start(pairs) or course.exercises[-1]

    def _check(self, exercise: Exercise) -> ExerciseResult:
        [(_, result)] = results_for(self.course, [exercise], self.state, run_pristine=True, starter=self._starter())
        self.state.save()
        return result

    def _starter(self) -> WarmStarter | None:
        """A warm process to fork test runs from (see grader.warm); a cold start where there is none."""
        if not warm.available():
            return None
        if self.starter is None or not self.starter.alive():
            try:
                self.starter = WarmStarter()
            except OSError:
                self.starter = None
        return self.starter

    def close(self) -> None:
        if self.starter is not None:
            self.starter.close()
            self.starter = None

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def echo(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def run(self, stop: threading.Event | None = None) -> int:
        stop = stop or threading.Event()
        self.switch(self.current)
        while not stop.is_set():
            if not self.handle_commands():
                break
            now = snapshot(list(self.files))
            if now != self.seen:
                # Remember the files as they were when the check starts: a save during it shows up next turn.
                now = self.wait_until_quiet(now)
                changed = self.changed(self.seen, now)
                self.seen = now
                if changed:
                    self.saved(changed)
            time.sleep(POLL_INTERVAL)
        self.state.save()
        return 0

    def wait_until_quiet(self, now: Snapshot) -> Snapshot:
        """Editors often write a file in several steps: wait until it stops changing."""
        while True:
            time.sleep(QUIET_PERIOD)
            later = snapshot(list(self.files))
            if later == now:
                return now
            now = later

    def changed(self, before: Snapshot, after: Snapshot) -> list[Exercise]:
        """The exercises with a file that differs between the two snapshots, in course order."""
        touched = {self.files[p] for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        return [e for e in self.course.exercises if e in touched]

    def saved(self, changed: list[Exercise]) -> None:
        """Check what was saved: the current exercise if it is among them, else the one saved last
        (watch goes there). Any others (a ``git pull`` changes several) get their mark brought up to date."""
        target = self.current if self.current in changed else max(changed, key=last_saved)
        others = [e for e in changed if e is not target]
        if others:  # untouched stubs cost nothing here, and the rest run side by side
            self.say(f"re-checking {', '.join(e.label for e in others)} …")
            for exercise, result in results_for(self.course, others, self.state, jobs=default_jobs()):
                self.marks[exercise.name] = result.status
            self.state.save()
        self.current = target
        self.show(target, move_on=True)

    def unmet_prerequisites(self, exercise: Exercise, result: ExerciseResult) -> list[int]:
        """The exercises a failing ``exercise`` builds on that do not pass (cached results, mostly)."""
        if result.status == PASSED or not exercise.builds_on:
            return []
        earlier = [e for e in self.course.exercises if e.number in exercise.builds_on]
        statuses = {e.number: r.status for e, r in results_for(self.course, earlier, self.state)}
        return ui.unmet_prerequisites(exercise, statuses)

    def show(self, exercise: Exercise, *, move_on: bool = False) -> None:
        """Check ``exercise`` and show the verdict; with ``move_on``, a pass moves on to the next one.

        Only a save that makes the exercise pass moves on: a student who jumps back to a finished
        exercise to look at it again stays there.
        """
        if self.clear_screen:
            self.out.write("\033[2J\033[H")
        self.say(f"checking {exercise.label} …")
        result = self.check(exercise)
        self.marks[exercise.name] = result.status
        if self.clear_screen:
            self.out.write("\033[2J\033[H")
        self.say(self.strip() + "\n")
        unmet = self.unmet_prerequisites(exercise, result)
        ui.render_check(exercise, result, self.out, unmet=unmet, stuck=self.stuck)
        if result.status == PASSED and move_on:
            following = self.after(exercise)
            if following is None:
                self.say("\nThat was the last exercise: the whole course passes. (q to quit)")
            else:
                self.current = following
                self.say(f"\nOn to {following.label} — {following.title}.")
                self.say(f"  read {following.path.relative_to(self.course.root) / 'README.md'}")
        self.say(f"\n{self.help}")

    def strip(self) -> str:
        """Every exercise's mark on a line or two, the current one in brackets: ``01✓ [02✗] 03·``."""
        style = ui.Style(self.out)
        cells = []
        for exercise in self.course.exercises:
            status = self.marks.get(exercise.name, NOT_STARTED)
            cell = style.paint(f"{exercise.number:02d}{style.symbol(status)}", ui.STATUS_WORDS[status][1])
            cells.append(f"[{cell}]" if exercise is self.current else f" {cell} ")
        per_line = max(1, (_columns(self.out) - 1) // 5)
        return "\n".join("".join(cells[i : i + per_line]) for i in range(0, len(cells), per_line))

    def after(self, exercise: Exercise) -> Exercise | None:
        """Where to go once ``exercise`` passes: the next one that does not pass, from there round."""
        exercises = self.course.exercises
        index = exercises.index(exercise)
        for candidate in [*exercises[index + 1 :], *exercises[:index]]:
            if self.marks.get(candidate.name) != PASSED:
                return candidate
        return None

    def handle_commands(self) -> bool:
        """Act on what was typed; False when it is time to quit."""
        while True:
            try:
                typed = self.inbox.get_nowait()
            except queue.Empty:
                return True
            if typed is None:  # no more input: keep watching until Ctrl-C
                continue
            command = self.keys.feed(typed) if self.keys is not None else typed
            if command is not None and not self.do(command):
                return False

    def do(self, command: str) -> bool:
        word, argument = parse(command)
        exercises = self.course.exercises
        index = exercises.index(self.current)
        if word in ("q", "quit", "exit"):
            return False
        if word in ("n", "next"):
            self.switch(exercises[min(index + 1, len(exercises) - 1)])
        elif word in ("p", "prev", "previous"):
            self.switch(exercises[max(index - 1, 0)])
        elif word in ("j", "jump"):
            try:
                self.switch(self.course.resolve(argument))
            except CourseError as exc:
                self.say(str(exc))
        elif word in ("h", "hint"):
            self.hint()
        elif word in ("H", "hints"):
            self.hints_seen()
        elif word in ("r", "run", ""):
            self.show(self.current)
        elif word == "unknown":  # a key that means nothing (KeyCommands)
            self.say(f"{command}. {self.help}")
        else:
            self.say(f"unknown command '{command}'. {self.help}")
        return True

    def switch(self, exercise: Exercise, *, move_on: bool = False) -> None:
        self.current = exercise
        self.seen = snapshot(list(self.files))  # before the check: a save during it must not be missed
        self.show(exercise, move_on=move_on)

    def hint(self) -> None:
        """The next hint of the current exercise (it counts as seen, as with `grader hint`)."""
        exercise = self.current
        if not exercise.hints:
            self.say(f"{exercise.label} has no hints.")
            return
        shown = min(self.state.hints_shown(exercise) + 1, len(exercise.hints))
        self.state.set_hints_shown(exercise, shown)
        self.state.save()
        self.say(f"hint {shown}/{len(exercise.hints)}: {exercise.hints[shown - 1]}")

    def hints_seen(self) -> None:
        """The hints seen so far, again, without spending the next one."""
        exercise = self.current
        shown = self.state.hints_shown(exercise)
        if not shown:
            self.say(f"No hints seen yet for {exercise.label}: h shows the first.")
            return
        for number, text in enumerate(exercise.hints[:shown], start=1):
            self.say(f"hint {number}/{len(exercise.hints)}: {text}")


def _columns(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def watch(course: Course, state: State, start: Exercise | None, out: TextIO = sys.stdout) -> int:
    """Watch until ``q``, Ctrl-C or SIGTERM: single keys when standard input is a terminal, else lines."""
    keyboard = sys.stdin is not None and sys.stdin.isatty()
    watcher = Watcher(course, state, out, start=start, clear_screen=out.isatty(), keys=keyboard)
    previous = signal.signal(signal.SIGTERM, _terminate) if _in_main_thread() else None
    try:
        with single_keys(sys.stdin.fileno()) if keyboard else contextlib.nullcontext():
            if keyboard:
                reader = threading.Thread(target=read_keys, args=(sys.stdin.fileno(), watcher.inbox), daemon=True)
            else:
                reader = threading.Thread(target=read_lines, args=(sys.stdin, watcher.inbox), daemon=True)
            reader.start()
            return watcher.run()
    except (KeyboardInterrupt, Terminated) as stopped:
        state.save()
        print("\nstopped watching; your files and the grader's state are saved.", file=out, flush=True)
        return 0 if isinstance(stopped, KeyboardInterrupt) else 128 + signal.SIGTERM
    finally:
        watcher.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated
