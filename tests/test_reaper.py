"""grader.reaper: a process that left the run's group and cleared its environment is still found."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux only")

# The escape a determined student would write: leave the process group, drop the environment the
# runner marks its processes with, and let the parent die so the daemon is an orphan.
SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from grader import reaper

    assert reaper.become_subreaper()
    read, write = os.pipe()
    escaper = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, subprocess\\n"
         "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], env={},"
         " start_new_session=True, pass_fds=[%d])\\n"
         "os.write(%d, str(p.pid).encode())\\n" % (write, write)],
        pass_fds=[write],
    )
    escaper.wait(timeout=20)
    os.close(write)
    daemon = int(os.read(read, 64))
    assert daemon in reaper.children(), "the orphan should have come to the subreaper"
    stopped = reaper.stop_leftovers()
    print(daemon, stopped, os.path.exists(f"/proc/{daemon}"))
    """
)


def test_an_orphan_that_detached_and_cleared_its_environment_is_stopped() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert done.returncode == 0, done.stderr
    daemon, stopped, alive = done.stdout.split()
    assert stopped == "1" and alive == "False", f"the daemon {daemon} was not stopped: {done.stdout!r}"


def test_the_processes_to_keep_are_kept() -> None:
    script = textwrap.dedent(
        """
        import subprocess, sys
        from grader import reaper

        keep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        stopped = reaper.stop_leftovers(keep={keep.pid})
        print(stopped, keep.poll() is None, stray.poll() is not None)
        keep.kill(); keep.wait(timeout=10)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "True", "True"]
