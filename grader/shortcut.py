"""The ``grader`` command's way in: hand ``grader`` and ``grader check`` to the resident when it is up.

Importing the grader (argparse, the course model, the runner, the renderer) costs a tenth of a
second before any work, every command: more than a third of a short exercise's check. The resident
warm process (:mod:`grader.resident`) has imported all of it already. So this module, which imports
next to nothing, connects to the course's resident and hands it the command line, the working folder,
the environment and this process's standard input, output and error (passed over the Unix socket).
The resident forks, and its fork runs the command exactly as ``grader.cli.main`` would here, writing
to this terminal; this process waits, passes Ctrl-C and SIGTERM on, and exits with its status.

Whenever that cannot happen (no resident yet, a busy or stale one, a command other than ``grader``
and ``grader check``, ``KATA_RESIDENT=0``, CI, no ``os.fork`` or Unix sockets) the command runs here,
as it always did, and that run starts a resident for the next command.

The rules that say where the course is and where its resident listens live here, so that the way in
and the rest of the grader cannot disagree on them.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

SWITCH_VARIABLE = "KATA_RESIDENT"
HANDED_OVER = ("check",)  # besides plain `grader`: the commands a student repeats while working
CONNECT_TIMEOUT = 1.0  # seconds: a resident that does not answer this fast is not used


def course_root(start: Path | None = None) -> tuple[Path | None, str]:
    """The course root and "", or None and why there is none.

    ``$KATA_COURSE_ROOT``, else the nearest folder upwards with an ``exercises/conftest.py``, else
    the folder this package was installed from (``pip install -e .``) when it has an ``exercises/``.
    """
    configured = os.environ.get("KATA_COURSE_ROOT")
    if configured:
        root = Path(configured).resolve()
        if not (root / "exercises").is_dir():
            return None, f"KATA_COURSE_ROOT={configured} has no exercises/ folder"
        return root, ""
    try:
        here = (start or Path.cwd()).resolve()
    except OSError:  # the working folder was deleted under us
        here = None
    for folder in (here, *here.parents) if here is not None else ():
        if (folder / "exercises").is_dir() and (folder / "exercises" / "conftest.py").is_file():
            return folder, ""
    package_root = Path(__file__).resolve().parent.parent
    if (package_root / "exercises").is_dir():
        return package_root, ""
    return None, "no course here: run grader inside the course folder (the one with exercises/)"


def resident_enabled() -> bool:
    """On where ``os.fork`` exists, unless ``KATA_RESIDENT=0``, or ``CI`` is set: a CI job has no next check."""
    setting = os.environ.get(SWITCH_VARIABLE)
    if setting is not None:
        return setting != "0" and hasattr(os, "fork")
    return hasattr(os, "fork") and not os.environ.get("CI")


def socket_path(course_root: Path) -> Path | None:
    """Where the resident for this course and this Python listens; None when no safe place exists.

    The folder must be ours and closed to everyone else: whoever can connect can run code as us.
    """
    folder = Path(tempfile.gettempdir()) / f"callable-katas-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    key = hashlib.sha256(f"{sys.executable}\0{course_root.resolve()}".encode()).hexdigest()[:20]
    return folder / f"{key}.sock"


def main(argv: Sequence[str] | None = None) -> int:
    """The ``grader`` command: through the resident when it can be, else here."""
    args = list(sys.argv[1:] if argv is None else argv)
    if (not args or args[0] in HANDED_OVER) and resident_enabled() and hasattr(socket, "send_fds"):
        status = handed_over(args)
        if status is not None:
            return status
    from .cli import main as run_here

    return run_here(args)


def handed_over(args: list[str]) -> int | None:
    """The command's exit status, run by the resident; None when it would not take the command."""
    root, _ = course_root()
    path = socket_path(root) if root is not None else None
    if path is None:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(CONNECT_TIMEOUT)
        connection.connect(str(path))
        mask = os.umask(0o077)  # (reading it means setting it)
        os.umask(mask)
        job = {"command": args, "cwd": os.getcwd(), "env": dict(os.environ), "umask": mask}
        socket.send_fds(connection, [(json.dumps(job) + "\n").encode()], [0, 1, 2])
        replies = connection.makefile("rb")
        first = _reply(replies)  # {"pid"} once the command runs; {"busy"} or {"stopping"}: not taken
    except (OSError, ValueError):
        connection.close()
        return None
    if "pid" not in first:
        connection.close()
        return None
    return _wait(connection, replies)


def _wait(connection: socket.socket, replies) -> int:  # noqa: ANN001 (a binary file of the socket)
    """Wait for the command's status; Ctrl-C and SIGTERM are passed on, for the command to act on."""

    def pass_on(signum: int, frame: object) -> None:
        try:
            connection.sendall((json.dumps({"signal": signum}) + "\n").encode())
        except OSError:
            pass

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        connection.settimeout(None)
        ended = _reply(replies)
    except (OSError, ValueError):
        ended = {}
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        connection.close()
    status = ended.get("status")
    if not isinstance(status, int):
        print("grader: the grader's warm process went away during the command; run it again", file=sys.stderr)
        return 1
    return status if status >= 0 else 128 - status  # killed by a signal: as a shell reports it


def _reply(replies) -> dict:  # noqa: ANN001
    line = replies.readline()
    reply = json.loads(line) if line else {}
    return reply if isinstance(reply, dict) else {}
