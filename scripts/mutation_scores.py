#!/usr/bin/env python3
"""How strong are this course's tests? Runs `grader mutants` on every exercise and prints the table
CONTRIBUTING.md records, plus the speed figures of the two runs the issue names.

    python scripts/mutation_scores.py                 # every mutant of every exercise: an hour or more
    python scripts/mutation_scores.py --max 40        # a seeded sample per exercise: a few minutes
    python scripts/mutation_scores.py --speed         # only: `mutants 02 --max 50` and the CI sample

The table's score is killed / run, acknowledged survivors excluded (they are not run); "all" counts
every mutant the run made, so a sample's figures say how large the sample was.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.course import load_course  # noqa: E402
from grader.mutants import THRESHOLD, plan, run_mutants  # noqa: E402
from grader.progress import default_jobs  # noqa: E402


def timed(argv: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_COURSE_ROOT", "KATA_SOLUTIONS")}
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600, check=False)
    return time.perf_counter() - started


def speed() -> None:
    grader = [sys.executable, "-m", "grader", "mutants"]
    one = timed([*grader, "02", "--max", "50", "--seed", "1"])
    print(f"grader mutants 02 --max 50: {one:.1f} s (target: within 60 s)")
    sample = timed([*grader, "--all", "--max", "8", "--seed", "1"])
    print(f"grader mutants --all --max 8 --seed 1: {sample:.0f} s (target: within 600 s)")


def table(max_count: int | None, seed: int, jobs: int) -> None:
    course = load_course(REPO)
    started = time.monotonic()
    reports = [plan(e, course.solutions_dir, max_count=max_count, seed=seed) for e in course.exercises]
    run_mutants(course, reports, course.solutions_dir, jobs=jobs)
    print("| exercise | mutants | run | killed | survived | acknowledged | score |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in reports:
        mark = "" if r.score >= THRESHOLD else " ✗"
        print(
            f"| {r.exercise.label} | {r.total} | {len(r.outcomes)} | {r.killed} | {len(r.survivors)} "
            f"| {len(r.acknowledged)} | {r.score:.1f} %{mark} |"
        )
    killed = sum(r.killed for r in reports)
    run = sum(len(r.outcomes) for r in reports)
    total = sum(r.total for r in reports)
    acknowledged = sum(len(r.acknowledged) for r in reports)
    print(f"| **all** | {total} | {run} | {killed} | {run - killed} | {acknowledged} | **{100 * killed / run:.1f} %** |")
    how = f"a sample of {max_count} per exercise, seed {seed}" if max_count else "every mutant"
    print(f"\n{how}; {jobs} at a time; {time.monotonic() - started:.0f} s")
    for r in reports:
        for mutant in r.survivors:
            print(f"  {r.exercise.name}/{mutant.where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=None, help="a seeded sample of N mutants per exercise")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--speed", action="store_true", help="only time the two runs the issue names")
    args = parser.parse_args()
    if args.speed:
        speed()
    else:
        table(args.max, args.seed, args.jobs)


if __name__ == "__main__":
    main()
