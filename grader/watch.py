"""``grader watch``: re-check the current exercise on every save, and move on when it passes.

Saves are found by polling the exercise's files (their size, modification time and inode, a few
times a second). Polling costs next to nothing for a handful of files, and it works where change
events do not arrive: WSL, network drives, Docker bind mounts, editors that save by renaming a swap
file over the original. A change starts a check once the files have been quiet for a moment
(debounced), and a save during a check is picked up right after it, never as a second run at once.

Each check is forked from a warm process that has imported pytest already (see :mod:`grader.warm`),
which takes most of the start-up time out of the loop from a save to its verdict.

Commands are read a line at a time, so they work with or without a terminal:
``n`` next, ``p`` previous, ``j NN`` jump, ``h`` hint, ``r`` run again, ``q`` quit.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from . import ui, warm
from .course import Course, CourseError, Exercise
from .progress import next_exercise, results_for
from .results import PASSED, ExerciseResult
from .state import State
from .warm import WarmStarter

POLL_INTERVAL = 0.05
QUIET_PERIOD = 0.05
HELP = "watching for saves · commands: n next · p previous · j NN jump · h hint · r run again · q quit"

Snapshot = dict[str, tuple[int, int, int]]


def snapshot(exercise: Exercise) -> Snapshot:
    """What the watched files look like now: (size, mtime in ns, inode) per file, missing files absent."""
    seen: Snapshot = {}
    for path in [*exercise.student_files(), *exercise.test_files()]:
        try:
            info = os.stat(path)
        except OSError:
            continue
        seen[path.name] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return seen


def read_commands(stream: TextIO, commands: queue.Queue[str | None]) -> None:
    """Feed the lines typed on ``stream`` into ``commands``; ``None`` marks the end of input."""
    for line in stream:
        commands.put(line.strip())
    commands.put(None)


class Watcher:
    def __init__(
        self,
        course: Course,
        state: State,
        out: TextIO,
        *,
        start: Exercise | None = None,
        clear_screen: bool = False,
        check: Callable[[Exercise], ExerciseResult] | None = None,
    ) -> None:
        self.course = course
        self.state = state
        self.out = out
        self.clear_screen = clear_screen
        self.check = check or self._check
        self.commands: queue.Queue[str | None] = queue.Queue()
        self.seen: Snapshot = {}
        self.starter: WarmStarter | None = None
        self.current = start or self._first_unfinished()

    def _first_unfinished(self) -> Exercise:
        pairs = results_for(self.course, self.course.exercises, self.state)
        return next_exercise(pairs) or self.course.exercises[-1]

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

    def run(self, stop: threading.Event | None = None) -> int:
        stop = stop or threading.Event()
        self.switch(self.current)
        while not stop.is_set():
            if not self.handle_commands():
                break
            now = snapshot(self.current)
            if now != self.seen:
                # Remember the files as they were when the check starts: a save during it shows up next turn.
                self.seen = self.wait_until_quiet(now)
                self.show(self.current, move_on=True)
            time.sleep(POLL_INTERVAL)
        self.state.save()
        return 0

    def wait_until_quiet(self, now: Snapshot) -> Snapshot:
        """Editors often write a file in several steps: wait until it stops changing."""
        while True:
            time.sleep(QUIET_PERIOD)
            later = snapshot(self.current)
            if later == now:
                return now
            now = later

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
        ui.render_check(exercise, result, self.out, unmet=self.unmet_prerequisites(exercise, result))
        if result.status == PASSED and move_on:
            following = self.after(exercise)
            if following is None:
                self.say("\nThat was the last exercise: the whole course passes. (q to quit)")
            else:
                self.current = following
                self.seen = snapshot(following)  # before saying so: the student may save at once
                self.say(f"\nOn to {following.label} — {following.title}.")
                self.say(f"  read {following.path.relative_to(self.course.root) / 'README.md'}")
        self.say(f"\n{HELP}")

    def after(self, exercise: Exercise) -> Exercise | None:
        index = self.course.exercises.index(exercise)
        return self.course.exercises[index + 1] if index + 1 < len(self.course.exercises) else None

    def handle_commands(self) -> bool:
        """Act on what was typed; False when it is time to quit."""
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return True
            if command is None:  # no more input (no terminal): keep watching until Ctrl-C
                continue
            if not self.do(command):
                return False

    def do(self, command: str) -> bool:
        word, _, argument = command.partition(" ")
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
        elif word in ("r", "run", ""):
            self.show(self.current)
        else:
            self.say(f"unknown command '{command}'. {HELP}")
        return True

    def switch(self, exercise: Exercise, *, move_on: bool = False) -> None:
        self.current = exercise
        self.seen = snapshot(exercise)  # before the check: a save during it must not be missed
        self.show(exercise, move_on=move_on)

    def hint(self) -> None:
        exercise = self.current
        if not exercise.hints:
            self.say(f"{exercise.label} has no hints.")
            return
        shown = min(self.state.hints_shown(exercise) + 1, len(exercise.hints))
        self.state.set_hints_shown(exercise, shown)
        self.state.save()
        self.say(f"hint {shown}/{len(exercise.hints)}: {exercise.hints[shown - 1]}")


def watch(course: Course, state: State, start: Exercise | None, out: TextIO = sys.stdout) -> int:
    watcher = Watcher(course, state, out, start=start, clear_screen=out.isatty())
    reader = threading.Thread(target=read_commands, args=(sys.stdin, watcher.commands), daemon=True)
    reader.start()
    try:
        return watcher.run()
    except KeyboardInterrupt:
        state.save()
        print("\nstopped watching; your files and the grader's state are saved.", file=out)
        return 0
    finally:
        watcher.close()
