"""Build the Gradescope autograder zips of this course: one per assignment of ``assignments.toml``.

    python autograder/build_zips.py                     # every assignment: ../autograder-<name>.zip
    python autograder/build_zips.py --assignment week1  # one of them
    python autograder/build_zips.py -o ~/zips --ref main

Each zip is ``git archive`` of the course at ``--ref`` (default: the ``solutions`` branch when there is
one, which holds the held-back tests, else HEAD), plus ``setup.sh`` and ``run_autograder`` at its top
and a file ``autograder/assignment`` naming the assignment, which ``run_autograder`` grades alone.
Without ``assignments.toml`` it builds one ``autograder.zip`` of the whole course. The zips go outside
the copy by default (its parent folder), so that ``copier update`` finds the copy clean.

Exit status: 0 when every zip was built, 2 when none could be (one sentence says why).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the course copy: autograder/ is at its top


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def default_ref() -> str:
    return "solutions" if git("rev-parse", "--verify", "--quiet", "refs/heads/solutions").returncode == 0 else "HEAD"


def assignment_names(ref: str, wanted: str | None) -> list[str | None]:
    """The assignments to build (as ``assignments.toml`` is at ``ref``), or ``[None]``: the whole course."""
    from grader import assignments
    from grader.course import load_course

    shown = git("show", f"{ref}:{assignments.FILE_NAME}")
    if shown.returncode != 0:
        if wanted is not None:
            raise assignments.AssignmentError(f"{ref} has no {assignments.FILE_NAME}, so there is no assignment '{wanted}'")
        return [None]
    defined = assignments.parse(shown.stdout, load_course(ROOT, lenient=True))
    if wanted is not None:
        return [assignments.find(defined, wanted).name]
    return [a.name for a in defined] or [None]


def build(ref: str, name: str | None, out: Path) -> Path:
    target = out / (f"autograder-{name}.zip" if name else "autograder.zip")
    args = ["archive", "--format=zip", "-o", str(target)]
    args += ["--add-file=autograder/setup.sh", "--add-file=autograder/run_autograder"]
    if name:
        args.append(f"--add-virtual-file=autograder/assignment:{name}\n")
    done = git(*args, ref)
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        raise RuntimeError(f"git archive could not build {target.name}: {why} (it needs git 2.35 or newer)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build one Gradescope autograder zip per assignment.")
    parser.add_argument("--assignment", metavar="A", help="only this assignment")
    parser.add_argument("-o", "--out", metavar="DIR", default=str(ROOT.parent), help="where the zips go (default: ..)")
    parser.add_argument("--ref", help="the commit to archive (default: solutions when it exists, else HEAD)")
    args = parser.parse_args(argv)
    ref = args.ref or default_ref()
    try:
        from grader.course import CourseError

        names = assignment_names(ref, args.assignment)
        out = Path(args.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            print(f"{build(ref, name, out)}  ({f'assignment {name}' if name else 'every exercise'}, from {ref})")
    except (CourseError, RuntimeError, OSError) as exc:
        print(f"build_zips: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
