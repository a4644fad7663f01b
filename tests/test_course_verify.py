"""The whole course, proven: `grader verify` — every stub fails, every solution passes, nothing missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_grader_verify_passes_on_the_whole_course():
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_COURSE_ROOT", "KATA_SOLUTIONS")}
    env["NO_COLOR"] = "1"
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "verify"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert completed.returncode == 0, f"grader verify failed:\n{completed.stdout}\n{completed.stderr}"
    assert "every stub fails, every solution passes" in completed.stdout
