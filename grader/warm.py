"""A warm start for watch mode and ``grader verify``: a process that has imported pytest already forks each test run.

Starting ``python -m pytest`` costs a few hundred milliseconds before the first test runs, mostly
imports: pytest itself, httpx, h11, Flask, Starlette. Watch mode re-runs one exercise on every save,
so it keeps one *warm* process that has done those imports once (``grader verify`` keeps one per
worker of its pool, :class:`grader.verify.WorkerStarters`). For each run the warm process
forks; the fork starts a session of its own (a new process group, so the runner can kill it and all
it started, exactly as it kills a cold child), points its output at the run's file and calls
``pytest.main()``. The student's code and the course's tests are imported only in the fork, so every
run sees the files as they are now, and nothing a run does reaches the next one.

A run's processes are cleaned up as thoroughly as a cold run's: the runner kills the fork's process
group, and the warm process makes itself a *child subreaper* (Linux), so that anything the run started
that left the group is re-parented to it once orphaned, and is killed before the next run begins.

The warm process speaks JSON lines on its standard input and output, one run at a time:
``{"args", "env", "cwd", "output"}`` in; ``{"pid"}`` when the fork started, ``{"status"}`` when it ended
(a negative status is the signal that ended it, as with ``subprocess``).

Only where ``os.fork`` exists (not Windows); elsewhere the runner starts cold processes as usual.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from . import reaper, rewrites

# Imported once in the warm process: what nearly every exercise's tests need. Not the plugins named
# with -p: pytest wants to import those itself (to rewrite their asserts) and warns otherwise.
PRELOAD = ("pytest", "_pytest.python", "testkit.serving", "httpx", "h11")
STARTUP_TIMEOUT = 60.0


def available() -> bool:
    return hasattr(os, "fork")


class WarmStarter:
    """The grader's side: start the warm process, ask it for runs, hear how they ended."""

    def __init__(self, *, cwd: str | None = None, cancel: threading.Event | None = None) -> None:
        """Start the warm process and wait until it has done its imports.

        ``cwd``: where it starts, which is the first entry of its ``sys.path`` (as ``python -m pytest``
        run there has it): the course's root, for a run that looks like a cold one. ``cancel``: when
        it is set during the start-up (Ctrl-C in a pool of runs), the warm process is killed at once
        and :class:`OSError` is raised, as for a start that failed.
        """
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.warm"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read_replies, name="warm replies", daemon=True).start()
        ready = self._wait_ready(cancel)
        if ready is None or "ready" not in ready:
            self.close(at_once=True)
            raise OSError("the warm test process did not start")

    def _wait_ready(self, cancel: threading.Event | None) -> dict[str, Any] | None:
        if cancel is None:
            return self._reply(STARTUP_TIMEOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        # Short looks, so that a Ctrl-C is answered within a fraction of a second.
        while not cancel.is_set() and time.monotonic() < deadline:
            reply = self._reply(0.05)
            if reply is not None or not self.alive():
                return reply or self._reply(0)
        return None

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                self.replies.put(json.loads(line))
        self.replies.put(None)

    def _reply(self, timeout: float | None) -> dict[str, Any] | None:
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            return None

    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def ready(self) -> bool:
        """Whether a run launched now forks at once (this one is ready from its start)."""
        return True

    def launch(self, args: list[str], env: dict[str, str], cwd: str, output: str) -> WarmProcess:
        """Fork a run of ``pytest.main(args)``: a handle shaped like ``subprocess.Popen`` for the runner."""
        return WarmProcess(self, self.start(args, env, cwd, output))

    def start(self, args: list[str], env: dict[str, str], cwd: str, output: str) -> int:
        """Fork a run of ``pytest.main(args)``; return its pid (which is also its process group)."""
        assert self.process.stdin is not None
        job = {"args": args, "env": env, "cwd": cwd, "output": output}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        reply = self._reply(STARTUP_TIMEOUT)
        if reply is None or "pid" not in reply:
            raise OSError("the warm test process did not start the run")
        return int(reply["pid"])

    def wait(self, timeout: float | None) -> tuple[int, int] | None:
        """(exit status, processes it left behind), or None while it runs after ``timeout`` seconds."""
        reply = self._reply(timeout)
        if reply is None:
            return None
        return int(reply["status"]), int(reply.get("leftovers", 0))

    def close(self, *, at_once: bool = False) -> None:
        """End the warm process: it exits when its standard input closes, between two runs.

        ``at_once`` kills it without waiting (a start-up that failed or was cancelled: it runs no
        test yet, so nothing of a run can be left behind it).
        """
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=0 if at_once else 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class WarmProcess:
    """The parts of ``subprocess.Popen`` the runner uses, for a run forked by the warm process."""

    def __init__(self, starter: WarmStarter, pid: int) -> None:
        self.starter = starter
        self.pid = pid
        self.returncode: int | None = None
        self.leftovers = 0  # processes of the run that outlived it (the warm process stopped them)

    def poll(self) -> int | None:
        return self.returncode if self.returncode is not None else self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        status = self.returncode if self.returncode is not None else self._collect(timeout)
        if status is None:
            raise subprocess.TimeoutExpired(["pytest"], timeout or 0)
        return status

    def _collect(self, timeout: float | None) -> int | None:
        ended = self.starter.wait(timeout)
        if ended is None and not self.starter.alive():
            ended = (-9, 0)  # the warm process itself is gone, and its run with it
        if ended is not None:
            self.returncode, self.leftovers = ended
        return self.returncode


class LocalForker:
    """The starter of a process that is warm itself (a command the resident forked): a run is a fork of it.

    It has what the runner uses of a :class:`WarmStarter`. Like the warm process, the process that
    uses it is a child subreaper (:func:`grader.reaper.become_subreaper`), so what a run leaves
    behind is stopped, and counted, once the run has ended. One run at a time.
    """

    ready = True

    def __init__(self, *, kept_in: Any = None, on_launch: Any = None, private: tuple[int, ...] = ()) -> None:
        self.kept_in = kept_in  # where the runner keeps collection passes (as with the resident)
        self.on_launch = on_launch  # told each run's arguments and folder before it starts
        self.private = private  # descriptors of this process that no run may inherit
        self.pid: int | None = None

    def launch(self, args: list[str], env: dict[str, str], cwd: str, output: str) -> WarmProcess:
        rewrites.prepare(args, cwd)
        if self.on_launch is not None:
            self.on_launch(args, cwd)
        job = {"args": args, "env": env, "cwd": cwd, "output": output}
        pid = os.fork()
        if pid == 0:
            for fd in self.private:
                with contextlib.suppress(OSError):
                    os.close(fd)
            run_in_fork(job)
        self.pid = pid
        return WarmProcess(self, pid)  # type: ignore[arg-type]

    def wait(self, timeout: float | None) -> tuple[int, int] | None:
        """(exit status, processes it left behind), or None while it runs after ``timeout`` seconds."""
        if self.pid is None:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.pid = None
                return os.waitstatus_to_exitcode(status), reaper.stop_leftovers()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            time.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.01)

    def alive(self) -> bool:
        return self.pid is not None


# --- the warm process itself ----------------------------------------------------------------------


def adopt_standard_streams() -> None:
    """Point ``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` at descriptors 0, 1 and 2 as they are now."""
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (it lives as long as the process)
    sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1, errors="backslashreplace")  # noqa: SIM115


def run_in_fork(job: dict[str, Any]) -> NoReturn:
    """In the fork: become a new session, take the job's world, run pytest, and never return."""

    def run() -> int:
        os.setsid()
        output = os.open(job["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        adopt_standard_streams()
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        sys.argv = ["pytest", *job["args"]]
        import pytest

        code = int(pytest.main(job["args"]))
        # Then end as an interpreter does: wait for the threads that are not daemons. A thread the
        # student left running holds the fork as it would hold a cold run, and the runner stops it
        # after its grace, with the same note.
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
        return code

    end_fork(run, failing=3)


def end_fork(work: Callable[[], int], *, failing: int) -> NoReturn:
    """In a fork: run ``work`` and exit with its status, as a process running only it would exit.

    ``sys.exit()`` gives its code; any other exception is printed on stderr and gives ``failing``.
    The fork never returns into the code that forked it (``os._exit``, after flushing its output).
    """
    code = failing
    try:
        code = work()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 (reported the way a cold process would report it)
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def preload() -> None:
    """Import what every fork needs, once."""
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    # pytest imports its built-in plugins each time it makes a config, before its assertion
    # rewriter is in place (so they are never rewritten): importing them here is the same, once.
    with contextlib.suppress(ImportError, AttributeError):
        from _pytest.config import default_plugins

        for name in default_plugins:
            with contextlib.suppress(ImportError):
                importlib.import_module(f"_pytest.{name}")
    # What is imported now lives as long as every fork: keep it out of the collector's sight, so that
    # a fork's gc.collect() (pytest calls it five times as it ends) walks only the fork's own objects.
    gc.freeze()


def serve() -> None:
    reaper.become_subreaper()
    preload()
    rewrites.install()
    reply = sys.stdout
    print(json.dumps({"ready": True}), file=reply, flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        rewrites.prepare(job.get("args", ()), job.get("cwd", "."))
        pid = os.fork()
        if pid == 0:
            run_in_fork(job)
        print(json.dumps({"pid": pid}), file=reply, flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        leftovers = reaper.stop_leftovers()
        print(json.dumps({"status": code, "leftovers": leftovers}), file=reply, flush=True)


if __name__ == "__main__":
    serve()
