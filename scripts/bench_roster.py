#!/usr/bin/env python3
"""Does `grader roster --jobs 2` fan out? Prints figures measured in one run.

Makes a course of two cheap exercises (01 and 02, copied from this repository with its testkit) and N
local git repositories (default 20), each solved with the reference solutions, and grades the roster
twice against that course, each time from an empty `--out` (so both clone):
`--jobs 1`, then `--jobs 2`. The fan-out works when the second takes less than twice the first
divided by 2 (with two cores and nothing else running, it should come near half). It also checks
that each repository was graded once, with full points, and that both grade sheets are the same.

Run it from the repository: `python scripts/bench_roster.py [--students N] [--exercises 01 02]`.
The figures depend on what else the machine runs: say so when you quote them.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def git(folder: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    subprocess.run(["git", "-C", str(folder), *args], env=env, check=True, capture_output=True, timeout=60)


def solved_repository(folder: Path, exercises: list[Path]) -> None:
    """A student's repository holding only their solved files (as a course copy has them)."""
    for exercise in exercises:
        for solution in sorted((REPO / "solutions" / exercise.name).glob("*.py")):
            target = folder / "exercises" / exercise.name / solution.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(solution.read_bytes())
    git(folder, "init", "--quiet", "--initial-branch=main")
    git(folder, "add", "-A")
    git(folder, "commit", "--quiet", "-m", "solved")


def small_course(folder: Path, exercises: list[Path]) -> Path:
    """The instructor's course for the bench: only ``exercises``, as files on disk (not a repository)."""
    shutil.copytree(REPO / "testkit", folder / "testkit", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "exercises").mkdir(parents=True)
    for shared in (REPO / "exercises").glob("*.*"):  # conftest.py, checksums.json and the like
        shutil.copy(shared, folder / "exercises" / shared.name)
    for exercise in exercises:
        shutil.copytree(exercise, folder / "exercises" / exercise.name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def run_roster(course: Path, roster: Path, out: Path, jobs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_SOLUTIONS", "FORCE_COLOR")}
    env.update(KATA_COURSE_ROOT=str(course), NO_COLOR="1")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "grader", "roster", str(roster), "--jobs", str(jobs), "--out", str(out)],
        cwd=roster.parent, env=env, capture_output=True, text=True, timeout=3600, check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"grader roster --jobs {jobs} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def check(out: Path, students: int, exercises: list[Path]) -> list[str]:
    """Problems with one run's results: every student once, graded, with full points."""
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    problems = []
    if [r["student"] for r in rows] != [f"student{i:02d}" for i in range(students)]:
        problems.append(f"{out.name}: the grade sheet does not have each student once, in roster order")
    for row in rows:
        if row["error"] or row["total"] != row["max"] or any(not row[e.name] for e in exercises):
            problems.append(f"{out.name}: {row['student']} is not fully graded: {row}")
    graded = sorted(p.name for p in (out / "results").iterdir())
    if len(graded) != students:
        problems.append(f"{out.name}: {len(graded)} students' reports for {students} students")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--exercises", nargs="+", default=["01", "02"], metavar="NN")
    args = parser.parse_args()
    exercises = [next((REPO / "exercises").glob(f"{n}_*")) for n in args.exercises]
    with tempfile.TemporaryDirectory(prefix="bench-roster-") as scratch:
        base = Path(scratch)
        course = small_course(base / "course", exercises)
        lines = ["student,repository"]
        for i in range(args.students):
            solved_repository(base / "repos" / f"student{i:02d}", exercises)
            lines.append(f"student{i:02d},repos/student{i:02d}")
        roster = base / "roster.csv"
        roster.write_text("\n".join(lines) + "\n")
        print(f"{args.students} solved repositories of {', '.join(e.name for e in exercises)}; {os.cpu_count()} cores")
        serial = run_roster(course, roster, base / "jobs1", 1)
        print(f"--jobs 1: {serial:6.1f} s  ({serial / args.students:.2f} s a student)")
        parallel = run_roster(course, roster, base / "jobs2", 2)
        print(f"--jobs 2: {parallel:6.1f} s  ({parallel / args.students:.2f} s a student)")
        bound = 2 * (serial / 2)
        verdict = "met" if parallel < bound else "NOT met"
        print(f"ratio jobs 2 / jobs 1: {parallel / serial:.2f}  (target: under 2 x serial/2 = {bound:.1f} s: {verdict})")
        problems = check(base / "jobs1", args.students, exercises) + check(base / "jobs2", args.students, exercises)
        if (base / "jobs1" / "grades.csv").read_bytes() != (base / "jobs2" / "grades.csv").read_bytes():
            problems.append("the two grade sheets differ")
        for problem in problems:
            print(f"problem: {problem}")
        if not problems:
            print("each repository graded once, with full points; both grade sheets are the same")
        return 1 if problems or parallel >= bound else 0


if __name__ == "__main__":
    raise SystemExit(main())
