"""A warm process that outlives one command, so that a student's repeated ``grader check`` starts warm.

Watch mode keeps a warm process for as long as it watches (:mod:`grader.warm`). A student who runs
``grader check`` by hand after each edit starts a new command every time, and a cold ``python -m
pytest`` child spends most of a short exercise's run importing pytest, httpx and h11. So the first
local check starts a *resident* warm process that stays after the command has ended, and the next
check forks its run from it:

- it listens on a Unix socket in a folder only this user can enter (``$TMPDIR/callable-katas-UID``),
  named after the Python and the course it serves, so another course or virtual environment starts
  its own;
- one connection is one run, in :mod:`grader.warm`'s protocol: the job, ``{"pid"}``, ``{"status"}``.
  The fork is a process group of its own, the runner kills it as it kills any run, and the resident
  is a child subreaper that stops whatever a run left behind. A client that goes away mid-run takes
  its run with it. A check that comes while another runs hears ``{"busy"}`` and runs cold;
- a connection may instead bring a whole command (``{"command"}``, with the client's standard input,
  output and error passed along: :mod:`grader.shortcut`). The resident forks it, the fork runs it as
  ``grader.cli.main`` would and forks its test run itself (:class:`grader.warm.LocalForker`), and the
  client's Ctrl-C and SIGTERM are passed on to it;
- it exits after :data:`IDLE_TIMEOUT` seconds without a run (``KATA_WARM_IDLE`` sets another), and at
  once when a file it imported has changed on disk since (pytest upgraded, the course's ``testkit``
  edited): the check that found it stale runs cold and starts a fresh one.

Only a student's own checks use it (``grader``, ``grader check``, one exercise at a time): never
``grade``, ``verify`` or ``mutants``. ``KATA_RESIDENT=0`` turns it off, and so does a machine without
``os.fork`` or a CI job (``CI`` set, unless ``KATA_RESIDENT=1``).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from . import reaper, rewrites, shortcut, warm

IDLE_TIMEOUT = 600.0  # seconds: a student's pause between two checks, with room to spare
READY_TIMEOUT = 15.0  # seconds a new resident may take to import what it preloads
IDLE_VARIABLE = "KATA_WARM_IDLE"
SWITCH_VARIABLE = shortcut.SWITCH_VARIABLE


# One rule for the way in (grader.shortcut) and for the resident: whether it is on, where it listens.
enabled = shortcut.resident_enabled
socket_path = shortcut.socket_path


class Resident:
    """The grader's side: connect to the resident (starting one if there is none), one run per connection.

    It has what the runner and :class:`grader.warm.WarmProcess` use of a warm starter: ``launch``,
    ``wait`` and ``alive``. ``start`` raises :class:`OSError` when no run can be forked (the resident
    is busy, stale or gone): the caller runs cold instead.
    """

    def __init__(self, path: Path, course_root: Path, *, kept_in: Path | None = None) -> None:
        self.path = path
        self.kept_in = kept_in  # where the runner may keep collection passes for the next command
        self.spawned: subprocess.Popen[bytes] | None = None
        self.connection: socket.socket | None = None
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        if not self._answers():
            # Started now, waited for only when the run is launched: meanwhile the runner's
            # collection pass does its own imports on the other core.
            self.spawned = _spawn(path, course_root)

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            probe.connect(str(self.path))
            return True
        return False

    @property
    def ready(self) -> bool:
        """False while the resident this check started is still importing what it preloads."""
        return self.spawned is None

    def launch(self, args: list[str], env: dict[str, str], cwd: str, output: str) -> warm.WarmProcess:
        return warm.WarmProcess(self, self.start(args, env, cwd, output))  # type: ignore[arg-type]

    def start(self, args: list[str], env: dict[str, str], cwd: str, output: str) -> int:
        if self.spawned is not None:
            self._wait_spawned()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(2)
            connection.connect(str(self.path))
            connection.settimeout(None)
            job = {"args": args, "env": env, "cwd": cwd, "output": output}
            connection.sendall((json.dumps(job) + "\n").encode())
        except OSError:
            connection.close()
            raise
        self.connection = connection
        # A queue of this connection's own: the reader of an earlier one (the collection pass's)
        # still puts its end-of-stream in the old queue.
        self.replies = queue.Queue()
        threading.Thread(target=self._read_replies, args=(connection, self.replies), name="resident replies", daemon=True).start()
        reply = self._reply(warm.STARTUP_TIMEOUT)
        if reply is None or "pid" not in reply:
            self.close()
            raise OSError(f"the resident warm process did not start the run ({reply or 'no answer'})")
        return int(reply["pid"])

    def _wait_spawned(self) -> None:
        spawned, self.spawned = self.spawned, None
        assert spawned is not None and spawned.stdout is not None
        # It imports pytest, httpx and h11 (half a second) before it says so, in one line.
        line = spawned.stdout.readline() if select.select([spawned.stdout], [], [], READY_TIMEOUT)[0] else b""
        spawned.stdout.close()
        if b"ready" not in line:  # another check's resident may have won the race: try it all the same
            with contextlib.suppress(OSError):
                spawned.kill()
            spawned.wait()

    @staticmethod
    def _read_replies(connection: socket.socket, replies: queue.Queue[dict[str, Any] | None]) -> None:
        with contextlib.suppress(OSError), connection.makefile("rb") as lines:
            for line in lines:
                with contextlib.suppress(ValueError):
                    replies.put(json.loads(line))
        replies.put(None)

    def _reply(self, timeout: float | None) -> dict[str, Any] | None:
        try:
            reply = self.replies.get(timeout=timeout)
        except queue.Empty:
            return None
        if reply is None:
            self.connection = None  # the resident closed it: the run (if any) has been stopped
        return reply

    def wait(self, timeout: float | None) -> tuple[int, int] | None:
        reply = self._reply(timeout)
        if reply is None:
            return None
        self.close()
        return int(reply["status"]), int(reply.get("leftovers", 0))

    def alive(self) -> bool:
        return self.connection is not None

    def close(self) -> None:
        """Hang up: a run still going is stopped by the resident; the resident itself stays."""
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


def stop(course_root: Path, timeout: float = 5.0) -> bool:
    """Ask the course's resident to exit now (it finishes a run first); True when one was there and went."""
    path = socket_path(course_root)
    if path is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(path))
            connection.sendall(b'{"stop": true}\n')
            with connection.makefile("rb") as answer:
                pid = int(json.loads(answer.readline())["stopping"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _running(pid)


def _running(pid: int) -> bool:
    """Alive and not a zombie (from ``/proc`` where there is one, else whether it can be signalled)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
    except IndexError:
        return True


def _spawn(path: Path, course_root: Path) -> subprocess.Popen[bytes]:
    """Start a resident, detached: its own session, nothing of ours inherited but a pipe for "ready"."""
    return subprocess.Popen(
        [sys.executable, "-m", "grader.resident", str(path)],
        cwd=course_root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


# --- the resident itself -----------------------------------------------------------------------------


def _imported_files() -> dict[str, tuple[int, int]]:
    files = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if name:
            with contextlib.suppress(OSError):
                info = os.stat(name)
                files[name] = (info.st_mtime_ns, info.st_size)
    return files


def _stale(files: dict[str, tuple[int, int]]) -> bool:
    for name, seen in files.items():
        try:
            info = os.stat(name)
        except OSError:
            return True
        if (info.st_mtime_ns, info.st_size) != seen:
            return True
    return False


_OURS: list[int] = []  # the resident's own descriptors, which each fork closes


def serve(path: Path, idle: float) -> None:
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 (held for the resident's life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another resident serves this course already
    _OURS.append(lock.fileno())
    reaper.become_subreaper()
    warm.preload()
    with contextlib.suppress(ImportError):
        # The whole grader, for the commands handed over (grader.shortcut): imported once here, and
        # watched like every other file this process imported, so an edited grader makes it stale.
        from . import cli  # noqa: F401
    gc.freeze()
    rewrites.install()
    files = _imported_files()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a resident that was killed left its socket behind
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    _OURS.append(listener.fileno())
    os.write(1, b'{"ready": true}\n')
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nobody reads our output from now on: keep no pipe of the spawner's open
    try:
        while select.select([listener], [], [], idle)[0]:
            connection, _ = listener.accept()
            with connection:
                if _serve_one(connection, listener, files) == "stop":
                    return
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # ours: we hold the lock, so no other resident has bound this name since
        listener.close()


def _serve_one(connection: socket.socket, listener: socket.socket, files: dict[str, tuple[int, int]]) -> str:
    connection.settimeout(5)
    job, fds = _read_job(connection)
    try:
        if job is None:
            return "no job"
        if job.get("stop") or _stale(files):
            _send(connection, {"stopping": os.getpid()})
            return "stop"
        if "command" in job:
            if len(fds) != 3:
                return "no job"
            _serve_command(connection, listener, job, fds)
            return "ran"
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    rewrites.prepare(job.get("args", ()), job.get("cwd", "."))
    pid = os.fork()
    if pid == 0:
        for fd in _OURS:  # the run must not keep the resident's socket or lock open
            with contextlib.suppress(OSError):
                os.close(fd)
        connection.close()
        warm.run_in_fork(job)
    _send(connection, {"pid": pid})
    code = _wait_for_run(pid, connection, listener)
    leftovers = reaper.stop_leftovers()
    _send(connection, {"status": code, "leftovers": leftovers})
    return "ran"


JOB_LIMIT = 2**20  # bytes of one job line: a command's environment is a few kB


def _read_job(connection: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One job line, and the descriptors sent with it (a command's standard input, output and error)."""
    fds: list[int] = []
    data = b""
    try:
        chunk, fds, _, _ = socket.recv_fds(connection, 65536, 3)
        data = chunk
        while chunk and b"\n" not in data and len(data) < JOB_LIMIT:
            chunk = connection.recv(65536)
            data += chunk
        job = json.loads(data.split(b"\n", 1)[0])
    except (OSError, ValueError):
        return None, fds
    return (job if isinstance(job, dict) else None), fds


# --- a whole command, for the way in (grader.shortcut) -----------------------------------------------

_in_command = False  # True in a command's fork: its runs are forks of that process (local_starter)
_report_fd = -1  # where that fork tells the resident which runs it made, for rewrites.prepare


def local_starter(kept_in: Path | None) -> warm.LocalForker | None:
    """In a command the resident runs: a starter that forks runs from this (warm) process; else None."""
    if not _in_command:
        return None
    # The student's code runs in those runs: it must not write to the resident (the report pipe).
    return warm.LocalForker(kept_in=kept_in, on_launch=_tell_resident, private=(_report_fd,))


def _tell_resident(args: list[str], cwd: str) -> None:
    if _report_fd >= 0:
        with contextlib.suppress(OSError):
            os.write(_report_fd, (json.dumps({"args": args, "cwd": cwd}) + "\n").encode())


def _serve_command(connection: socket.socket, listener: socket.socket, job: dict[str, Any], fds: list[int]) -> None:
    """Fork the command, wait for it (passing on the client's signals), send its status.

    Afterwards the resident rewrites the test modules of the runs the command made, so that the
    next command's runs find them ready (:mod:`grader.rewrites`).
    """
    report_read, report_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        for fd in (*_OURS, report_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        connection.close()
        _run_command(job, fds, report_write)
    os.close(report_write)
    _send(connection, {"pid": pid})
    code = _wait_for_run(pid, connection, listener, passes_signals=True)
    leftovers = reaper.stop_leftovers()
    _send(connection, {"status": code, "leftovers": leftovers})
    try:
        os.set_blocking(report_read, False)
        told = os.read(report_read, 65536)
    except OSError:
        told = b""
    finally:
        os.close(report_read)
    for line in told.splitlines()[:8]:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            run = json.loads(line)
            rewrites.prepare(list(run["args"]), str(run["cwd"]))


def _run_command(job: dict[str, Any], fds: list[int], report_fd: int) -> NoReturn:
    """In the fork: become the client's command (its files, folder, environment), run it, never return."""

    def run() -> int:
        global _in_command, _report_fd
        os.setsid()  # a group of its own: a client that goes away takes all of it
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(job["cwd"])
        os.umask(int(job.get("umask", 0o022)))  # the files it writes are made as the client would make them
        os.environ.clear()
        os.environ.update(job["env"])
        warm.adopt_standard_streams()
        sys.argv = ["grader", *job["command"]]
        reaper.become_subreaper()  # what a run leaves behind comes to us, and is stopped after it
        _in_command, _report_fd = True, report_fd
        from . import cli

        return cli.main(list(job["command"]))

    warm.end_fork(run, failing=1)


def _wait_for_run(pid: int, connection: socket.socket, listener: socket.socket, *, passes_signals: bool = False) -> int:
    """The run's exit status; meanwhile a client that hangs up stops the run, and other clients hear busy.

    ``passes_signals`` (a command): the client's ``{"signal"}`` lines are sent on to the process, so
    that Ctrl-C in the client's terminal stops the command the way it stops a command run there.
    """
    # A pidfd is readable once the run has ended (Linux); elsewhere look every 10 ms.
    ended = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    watched = [connection, listener] + ([ended] if ended is not None else [])
    try:
        while True:
            ready = select.select(watched, [], [], None if ended is not None else 0.01)[0]
            if ended is None or ended in ready:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return os.waitstatus_to_exitcode(status)
            if connection in ready:
                said = _client_says(connection)
                if said is None:  # hung up: whatever it asked for is no longer wanted
                    watched.remove(connection)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                if passes_signals:
                    for signum in said or ():
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signum)
            if listener in ready:
                other, _ = listener.accept()
                with other:
                    _send(other, {"busy": True})
    finally:
        if ended is not None:
            os.close(ended)


PASSED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _client_says(connection: socket.socket) -> list[int] | None:
    """The signals the client asks to pass on; None once it has hung up. Anything else is dropped."""
    try:
        data = connection.recv(4096, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return []
    except OSError:
        return None
    if not data:
        return None
    signals = []
    for line in data.splitlines():
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            signum = json.loads(line).get("signal")
            if signum in PASSED_SIGNALS:
                signals.append(int(signum))
    return signals


def _send(connection: socket.socket, reply: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        connection.sendall((json.dumps(reply) + "\n").encode())


def main() -> None:
    idle_setting = os.environ.get(IDLE_VARIABLE, "")
    try:
        idle_timeout = float(idle_setting) if idle_setting else IDLE_TIMEOUT
    except ValueError:
        idle_timeout = IDLE_TIMEOUT
    serve(Path(sys.argv[1]), idle_timeout)


if __name__ == "__main__":
    # Run as grader.resident, not as __main__: a command's fork sets this module's flags
    # (local_starter), and the rest of the grader reads them from grader.resident.
    from grader import resident

    resident.main()
