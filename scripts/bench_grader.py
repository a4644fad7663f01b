#!/usr/bin/env python3
"""How fast is the grader? Prints figures measured in one run, on a scratch copy of the course.

- `grader` status with nothing changed (target: at most 0.15 s) and its peak memory (under 40 MiB);
- `grader check 02` against a bare `python -m pytest` on the same exercise (at most 0.6×), twice: on
  the stub (every test failing, as while a student works) and on the reference solution (all passing);
- watch mode, from a save to the verdict on screen, for a simple exercise (at most 0.3 s).

Whether Python may write bytecode caches (``PYTHONDONTWRITEBYTECODE``) changes the bare figure a
lot (pytest caches its rewritten test modules there): the script says which it measured.

Run it from the repository: `python scripts/bench_grader.py [--runs N]`, with the Python of a fresh
virtual environment that has only the course installed (`pip install -e .`): a bare pytest loads
every pytest plugin installed beside it, so extra packages make the comparison meaningless.
"""

from __future__ import annotations

import argparse
import os
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader import resident  # noqa: E402
SIMPLE = "02_http_parse"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A wait with a timeout polls (every 50 ms at last), which would round every figure up to it:
    # wait blocking, and let a timer kill a command that hangs.
    killer = threading.Timer(300, process.kill)
    killer.start()
    try:
        process.wait()
    finally:
        killer.cancel()
    return time.perf_counter() - started


def peak_memory_mib(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Peak resident memory of one child run, read back with wait4() (Linux reports KiB)."""
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024


def watch_latency(root: Path, env: dict[str, str], runs: int) -> list[float]:
    exercise = root / "exercises" / SIMPLE
    stub = exercise / f"{SIMPLE.split('_', 1)[1]}.py"
    solution = (root / "solutions" / SIMPLE / stub.name).read_text()
    broken = solution.replace("def parse_request", "def _not_parse_request", 1)
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "watch", SIMPLE[:2]],
        env=env, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=1):
                    return
            except queue.Empty:
                pass
        raise SystemExit(f"watch never printed {text!r}")

    wait_for("watching for saves")
    latencies = []
    for index in range(runs):
        text, verdict = (solution, "tests pass") if index % 2 == 0 else (broken, "does not run")
        while not lines.empty():
            lines.get()
        started = time.perf_counter()
        stub.write_text(text)
        wait_for(verdict)
        latencies.append(time.perf_counter() - started)
        wait_for("watching for saves")
        if verdict == "tests pass":  # a pass moves watch on: come back for the next round
            process.stdin.write(f"j {SIMPLE[:2]}\n")
            process.stdin.flush()
            wait_for("watching for saves")
    process.stdin.write("q\n")
    process.stdin.flush()
    process.wait(timeout=30)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", type=Path, default=REPO, help="the course to copy (default: this repository)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as scratch:
        root = Path(scratch) / "course"
        root.mkdir()
        for name in ("exercises", "solutions"):
            shutil.copytree(args.source / name, root / name, ignore=shutil.ignore_patterns("__pycache__", ".grader"))
        shutil.copy(args.source / "pyproject.toml", root / "pyproject.toml")
        env = {**os.environ, "KATA_COURSE_ROOT": str(root), "NO_COLOR": "1"}
        env.pop("KATA_SOLUTIONS", None)
        grader = [sys.executable, "-m", "grader"]
        if not (root / "exercises" / "checksums.json").exists():
            subprocess.run([*grader, "verify", "--record", "01"], env=env, cwd=root, capture_output=True, check=False)

        timed(grader, env, root)  # the first status fills the cache
        status = [timed(grader, env, root) for _ in range(args.runs)]
        memory = peak_memory_mib(grader, env, root)
        print(f"grader status, nothing changed: median {statistics.median(status):.3f} s over {args.runs} runs (target ≤ 0.15 s)")
        print(f"grader status, peak memory: {memory:.1f} MiB (target < 40 MiB)")

        bytecode = "without bytecode caches" if sys.dont_write_bytecode else "with bytecode caches"
        bare_argv = [sys.executable, "-m", "pytest", f"exercises/{SIMPLE}", "-q", "-p", "no:cacheprovider"]
        for state in ("stub", "solution"):
            if state == "solution":
                shutil.copy(root / "solutions" / SIMPLE / f"{SIMPLE.split('_', 1)[1]}.py", root / "exercises" / SIMPLE)
            bare, check = [], []
            for _ in range(args.runs):
                bare.append(timed(bare_argv, env, root))
                # No cached result: a real run each time. What a student's next check keeps stays
                # (the resident warm process, the collection pass kept in .grader/collected).
                (root / ".grader" / "state.json").unlink(missing_ok=True)
                check.append(timed([*grader, "check", SIMPLE[:2]], env, root))
            ratio = statistics.median(check) / statistics.median(bare)
            print(
                f"grader check {SIMPLE[:2]} on the {state}: median {statistics.median(check):.3f} s; bare pytest: "
                f"median {statistics.median(bare):.3f} s; ratio {ratio:.2f}× (target ≤ 0.6×; {bytecode})"
            )

        resident.stop(root)  # the checks' warm process: its course is about to be deleted

        latencies = watch_latency(root, env, args.runs)
        print(
            f"watch, save to verdict ({SIMPLE}): median {statistics.median(latencies):.3f} s, "
            f"max {max(latencies):.3f} s over {len(latencies)} saves (target ≤ 0.3 s)"
        )


if __name__ == "__main__":
    main()
