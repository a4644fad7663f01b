"""Running the tests as an unprivileged user, for ``grader grade`` when the grader runs as root.

On Gradescope and in containers the grader runs as root. Then each exercise's test process runs as
``nobody`` (or ``$KATA_GRADE_USER``; ``KATA_GRADE_USER=none`` turns this off): the pristine tree is
root's and read-only, so the student's code cannot write it, and it gets a private HOME and TMPDIR of
its own (``PYTHONPYCACHEPREFIX`` too, so imports never try to write beside the tests). After each
exercise, every process of that user started since grading began is killed, whatever its process
group or environment: nothing the student's code starts outlives its exercise.

How: the runner starts ``sys.executable -m pytest …`` (:func:`grader.runner.pytest_argv`). While an
exercise runs, ``sys.executable`` names a small launcher that, still as root, makes the private HOME,
drops every group and both ids, and then executes the real Python (the runner's results pipe is an
inherited descriptor, so it survives the switch). (A ``launcher`` argument to ``run_exercise`` would be the clean way
to say this; the runner does not have one yet.)

The switch is made only when it works: the grader first runs ``import pytest, pytest_timeout, grader``
as that user, and when that fails (the Python lives in a folder the user cannot read, say ``/root``)
the tests run as root in the read-only tree, and a note says so.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER_VARIABLE = "KATA_GRADE_USER"
DEFAULT_USER = "nobody"

_LAUNCHER = '''\
import os, sys, tempfile
uid, gid, base, real = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
home = tempfile.mkdtemp(prefix="home-", dir=base)
tmp = os.path.join(home, "tmp")
os.mkdir(tmp)
for path in (home, tmp):
    os.chown(path, uid, gid)
os.environ.update(HOME=home, TMPDIR=tmp, PYTHONPYCACHEPREFIX=os.path.join(home, "pycache"))
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
os.execv(real, [real, *sys.argv[5:]])
'''


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    since: int  # clock ticks after boot when grading began: that user's processes started later are ours


def choose_user(scratch: Path, notes: list[str]) -> User | None:
    """The user the tests run as, or None (not root, not Linux, turned off, or that user cannot run Python)."""
    if os.name != "posix" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    name = os.environ.get(USER_VARIABLE, DEFAULT_USER).strip()
    if name.lower() in ("", "none", "root"):
        notes.append(f"the tests ran as root in the read-only tree ({USER_VARIABLE}={name or '(empty)'})")
        return None
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        notes.append(f"the tests ran as root in the read-only tree: there is no user {name} to run them as")
        return None
    if entry.pw_uid == 0:
        return None
    user = User(name, entry.pw_uid, entry.pw_gid, _boot_ticks_now())
    why = "it cannot be tried here"
    probe = None
    if _can_probe():
        try:
            probe = subprocess.run(
                [sys.executable, "-c", "import pytest, pytest_timeout, grader"],
                cwd=scratch, capture_output=True, text=True, timeout=60, check=False,
                preexec_fn=lambda: _drop(user),  # the grader has no other thread yet
            )
            why = (probe.stderr.strip().splitlines() or ["it failed"])[-1]
        except (OSError, subprocess.SubprocessError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
    if probe is None or probe.returncode != 0:
        notes.append(f"the tests ran as root in the read-only tree: user {name} cannot run {sys.executable} ({why})")
        return None
    notes.append(f"the tests ran as user {name}, with the course tree read-only to it")
    return user


def _can_probe() -> bool:
    return sys.platform.startswith("linux")


def _drop(user: User) -> None:
    os.setgroups([])
    os.setgid(user.gid)
    os.setuid(user.uid)


@contextlib.contextmanager
def running_as(user: User | None, scratch: Path) -> Iterator[None]:
    """While inside, the runner's child processes start as ``user``; afterwards none of them is left."""
    if user is None:
        yield
        return
    launcher = _write_launcher(user, scratch)
    real = sys.executable
    sys.executable = str(launcher)
    try:
        yield
    finally:
        sys.executable = real
        kill_leftovers(user)


def _write_launcher(user: User, scratch: Path) -> Path:
    folder = scratch / "launcher"
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o755)
    homes = scratch / "homes"
    homes.mkdir(exist_ok=True)
    os.chmod(homes, 0o711)  # the user reaches its own home, and cannot list the others
    script = folder / "launch.py"
    script.write_text(_LAUNCHER)
    wrapper = folder / "python"
    real = sys.executable
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(real)} -I {shlex.quote(str(script))} {user.uid} {user.gid} "
        f"{shlex.quote(str(homes))} {shlex.quote(real)} \"$@\"\n"
    )
    os.chmod(wrapper, 0o755)
    return wrapper


def kill_leftovers(user: User) -> int:
    """Kill every process of ``user`` started since grading began; return how many there were."""
    killed: set[int] = set()
    for _ in range(100):
        pids = [pid for pid in _processes_of(user) if pid not in killed or _alive(pid)]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.02)
    return len(killed)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return False


def _processes_of(user: User) -> list[int]:
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != user.uid:
                continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[-1].split()
            # fields[0] is the state (field 3); the start time is field 22.
            if fields[0] != b"Z" and int(fields[19]) >= user.since:
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _boot_ticks_now() -> int:
    """Now, in the clock ticks after boot that /proc/PID/stat counts start times in."""
    try:
        with open("/proc/self/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[-1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0
