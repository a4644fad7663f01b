"""git and child processes for ``grader roster``: fetch a student's repository, pick and export a commit.

Every child runs in a session of its own with a time limit, its output in files (no pipe can fill up
and stall it), and is registered with a :class:`Children`, so that Ctrl-C stops every one at once.
git never waits for a person: no password prompt (``GIT_TERMINAL_PROMPT=0``, an empty askpass, ssh in
batch mode), and its messages, which go into the grade sheet, are in English and without credentials.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FETCH_TIMEOUT = 300.0  # seconds for one clone or fetch
GIT_TIMEOUT = 60.0  # seconds for any other git command (all local)
STOP_GRACE = 5.0  # seconds a child gets to clean up after SIGINT before SIGKILL


class Cancelled(Exception):
    """Ctrl-C: the run is being stopped, every child with it."""


# --- bounded child processes ------------------------------------------------------------------------


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


class Children:
    """The child processes running now, so that Ctrl-C can stop every one of them at once."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()

    def run(self, argv: Sequence[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None) -> Finished | None:
        """Run ``argv`` to its end, or None when it runs over ``timeout`` seconds (it is stopped)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # Its own session, so that stopping it reaches what it started; outputs go to files, so
            # that no pipe can fill up and stall it.
            process = subprocess.Popen(
                list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
            )
            with self._lock:
                self._running.add(process)
            try:
                limit = time.monotonic() + timeout
                while True:
                    try:
                        process.wait(timeout=0.2)
                        break
                    except subprocess.TimeoutExpired:
                        if self.cancel.is_set():
                            stop(process)
                            raise Cancelled from None
                        if time.monotonic() > limit:
                            stop(process)
                            return None
            finally:
                with self._lock:
                    self._running.discard(process)
            out.seek(0)
            err.seek(0)
            return Finished(process.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))

    def stop_all(self) -> None:
        self.cancel.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGINT first (``grader grade`` then stops the tests it runs), SIGKILL for what is left."""
    for sig, grace in ((signal.SIGINT, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


# --- fetching, picking and exporting a commit -------------------------------------------------------


class NotGraded(Exception):
    """This student cannot be graded; the message is the sentence for the error column."""


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # a private repository fails at once instead of asking for a password
    env["GIT_ASKPASS"] = "true"  # answer any credential question with nothing, even without a terminal
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    env["LC_ALL"] = "C"  # git's messages in English: they go into the error column
    return env


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")  # https://user:token@host/ -> https://host/


def hide_credentials(text: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x``: a token goes nowhere a grade sheet goes."""
    return _CREDENTIALS.sub("", text)


def git_problem(finished: Finished) -> str:
    """git's own reason, from its last ``fatal:``/``error:`` line (never with a password in it)."""
    lines = [hide_credentials(line.strip()) for line in finished.stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line[len(prefix):].rstrip(".")
    return lines[-1].rstrip(".") if lines else f"git exited with status {finished.returncode}"


def fetch(children: Children, location: str, clone: Path, *, shown: str) -> None:
    """A bare clone of ``location`` at ``clone``, up to date with every branch (``shown``: its name in messages)."""
    env = git_env()
    if (clone / "HEAD").is_file():
        known = children.run(["git", "-C", str(clone), "config", "--get", "remote.origin.url"], timeout=GIT_TIMEOUT, env=env)
        if known is not None and known.returncode == 0 and known.stdout.strip() == location:
            argv = ["git", "-C", str(clone), "fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*"]
            done = children.run(argv, timeout=FETCH_TIMEOUT, env=env)
            if done is None:
                raise NotGraded(f"could not fetch {shown}: git took more than {FETCH_TIMEOUT:g} s")
            if done.returncode != 0:
                raise NotGraded(f"could not fetch {shown}: {git_problem(done)}")
            return
    if clone.exists():  # another repository for this student, or a clone cut short: start again
        shutil.rmtree(clone)
    clone.parent.mkdir(parents=True, exist_ok=True)
    done = children.run(["git", "clone", "--bare", "--quiet", "--", location, str(clone)], timeout=FETCH_TIMEOUT, env=env)
    if done is None or done.returncode != 0:
        shutil.rmtree(clone, ignore_errors=True)
        why = f"git took more than {FETCH_TIMEOUT:g} s" if done is None else git_problem(done)
        raise NotGraded(f"could not clone {shown}: {why}")


def pick_commit(children: Children, clone: Path, deadline: str | None, *, shown: str) -> str:
    """The commit to grade: the default branch's tip, or its last commit at or before the deadline."""
    argv = ["git", "-C", str(clone), "rev-list", "-1"]
    if deadline:
        argv.append(f"--before={deadline}")
    done = children.run([*argv, "HEAD", "--"], timeout=GIT_TIMEOUT, env=git_env())
    if done is None or done.returncode != 0:
        raise NotGraded(f"{shown} has no commit on its default branch")
    commit = done.stdout.strip()
    if not commit:
        raise NotGraded(f"{shown} has no commit at or before the deadline {deadline}")
    return commit


def export(children: Children, clone: Path, commit: str, into: Path) -> None:
    """The files of ``commit`` in the folder ``into``: only files, nothing of git."""
    archive = into.parent / "submission.tar"
    done = children.run(
        ["git", "-C", str(clone), "archive", "--format=tar", "-o", str(archive), commit], timeout=GIT_TIMEOUT, env=git_env()
    )
    if done is None or done.returncode != 0:
        raise NotGraded(f"could not export commit {commit[:12]}: {git_problem(done) if done else 'git took too long'}")
    into.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")  # nothing lands outside the folder, no device files
    archive.unlink()
