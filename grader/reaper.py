"""Finding and stopping what a test run left behind, by parentage rather than by what it says it is.

A process the student's code starts can leave the run's process group (``os.setsid()``) and clear its
environment (``execve`` with ``env={}``), so neither the group nor the ``KATA_RUN_ID`` marker the runner
plants finds it. Its parentage is harder to shed: on Linux a process can declare itself a *child
subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), and then every orphan among its descendants, however
it detached, is re-parented to it instead of to init. After a run, the reaper's own children that it
did not start on purpose are exactly what the run left: they are stopped, and counted.

Used by watch mode's warm process (each run is a fork of it) and by ``grader grade``, which runs one
exercise at a time, so between runs it has no children of its own but the ones it is about to start.
A process that detaches *and* outlives the subreaper itself is beyond this (it would then be init's);
the runner kills the run's group and marked processes first, so that takes a race it cannot win
often. Elsewhere than Linux, :func:`become_subreaper` returns ``False`` and nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Collection

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper() -> bool:
    """Make orphans of our descendants our children; ``True`` when the kernel agreed (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(parent: int | None = None) -> list[int]:
    """The live (not zombie) children of ``parent`` (default: this process), read from ``/proc``."""
    parent = os.getpid() if parent is None else parent
    found = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat", "rb") as f:
                    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
                    fields = f.read().rsplit(b")", 1)[1].split()
                if int(fields[1]) == parent and fields[0] != b"Z":
                    found.append(int(entry))
    return found


def reap_zombies() -> None:
    """Collect the exit status of children that have already ended, without waiting for any other."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def stop_leftovers(keep: Collection[int] = ()) -> int:
    """Kill every child of ours except ``keep`` (and whatever they re-parent to us on the way).

    Returns how many processes were stopped. Bounded: a process that forks faster than it is killed
    is chased for at most a hundred rounds.
    """
    stopped: set[int] = set()
    for _ in range(100):
        reap_zombies()
        left = [pid for pid in children() if pid not in keep]
        if not left:
            break
        signalled = []
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                signalled.append(pid)
        if not signalled:  # nothing we may stop: waiting on it would never end
            break
        stopped.update(signalled)
        for pid in signalled:  # SIGKILL cannot be caught: each wait ends at once
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return len(stopped)
