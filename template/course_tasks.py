"""Copier's task and migration for course copies (run by copier from the template source; never copied).

    course_tasks.py init SRC '["01_http_client", ...]'
        after `copier copy`, in the new copy: a git repository whose `main` holds the stubs (one
        commit) and whose `solutions` branch is one commit ahead with SRC/solutions/NN_slug/* copied
        over exercises/NN_slug/* and the held-back tests SRC/held_back/NN_slug/ in held_back/NN_slug/
        (grader/held_back.py). Leaves `main` checked out.
    course_tasks.py solutions SRC '["01_http_client", ...]'
        after every `copier update`: when the copy has its `solutions` branch checked out, copy the
        reference solutions over the stubs and the held-back tests into held_back/ (the instructor
        reviews and commits); elsewhere nothing.

Only the standard library and git: this runs under copier's Python, before the course is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

MAIN = "main"
SOLUTIONS = "solutions"
# Used only for the commits this script makes, and only when git has no identity configured.
FALLBACK_NAME = "callable-katas course"
FALLBACK_EMAIL = "course@callable-katas.invalid"
JUNK = shutil.ignore_patterns("__pycache__", "*.py[co]", ".pytest_cache")


class TaskError(Exception):
    """A problem the instructor can fix; the message says how."""


def git(*args: str, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, env=env, check=False, timeout=120
        )
    except FileNotFoundError:
        raise TaskError("git is not installed: a course copy is a git repository (install git and copy again)")
    if done.returncode:
        raise TaskError(f"`git {' '.join(args)}` failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()


def commit_env() -> dict[str, str]:
    """The environment for our commits: the user's identity, or a stated fallback when git has none."""
    env = dict(os.environ)
    have_name = subprocess.run(["git", "config", "user.name"], capture_output=True).returncode == 0
    have_email = subprocess.run(["git", "config", "user.email"], capture_output=True).returncode == 0
    if not (have_name and have_email) and not ("GIT_AUTHOR_EMAIL" in env and "GIT_COMMITTER_EMAIL" in env):
        print(
            f"note: git has no user.name/user.email here; the course's first commits are by "
            f"'{FALLBACK_NAME} <{FALLBACK_EMAIL}>'",
            file=sys.stderr,
        )
        for who in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{who}_NAME", FALLBACK_NAME)
            env.setdefault(f"GIT_{who}_EMAIL", FALLBACK_EMAIL)
    return env


def commit(message: str, env: dict[str, str]) -> None:
    git("add", "--all")
    # No hooks or signing prompts of the instructor's global config in a repository made by a tool.
    git("-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", message, env=env)


def overlay_solutions(src: Path, exercises: list[str], dst: Path) -> None:
    """Copy every SRC/solutions/NN_slug/* over dst/exercises/NN_slug/*."""
    for name in exercises:
        solution = src / "solutions" / name
        if not solution.is_dir():
            raise TaskError(f"the template has no reference solution folder solutions/{name}/")
        target = dst / "exercises" / name
        if not target.is_dir():
            raise TaskError(f"exercises/{name}/ is missing from the copy")
        shutil.copytree(solution, target, dirs_exist_ok=True, ignore=JUNK)


def overlay_held_back(src: Path, exercises: list[str], dst: Path) -> None:
    """Copy every SRC/held_back/NN_slug/ of the chosen exercises to dst/held_back/NN_slug/ (solutions only)."""
    for name in exercises:
        held = src / "held_back" / name
        if held.is_dir():
            shutil.copytree(held, dst / "held_back" / name, dirs_exist_ok=True, ignore=JUNK)


def rendered_names(src: Path) -> set[str]:
    """The top-level names a copy gets from SRC/template (file names as copier renders them)."""
    names = {".git"}
    for entry in (src / "template").iterdir():
        name = entry.name.removesuffix(".jinja")
        if name in {"update_choices.py", "course_tasks.py", "__pycache__"}:
            continue
        names.add(".copier-answers.yml" if "{{" in name else name)
    return names


def foreign_entries(src: Path, exercises: list[str], dst: Path) -> list[str]:
    """What was in the destination before copier wrote the course into it."""
    expected = rendered_names(src)
    found = [p.name for p in dst.iterdir() if p.name not in expected]
    if (dst / "exercises").is_dir():
        # The chosen folders, and whatever sits in exercises/ beside the folders (conftest.py, ...).
        shared = {p.name for p in (src / "exercises").iterdir() if not p.name[:2].isdigit()}
        allowed = set(exercises) | shared
        found += [f"exercises/{p.name}" for p in (dst / "exercises").iterdir() if p.name not in allowed]
    return sorted(found)


def has_commits() -> bool:
    return subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True).returncode == 0


def init(src: Path, exercises: list[str]) -> None:
    dst = Path.cwd()
    if (dst / ".git").exists() and has_commits():
        # `copier recopy`, or a copy over an existing repository: never rewrite someone's history.
        print(
            f"note: {dst} is already a git repository with history: no commits or branches made "
            f"(review the changes with `git status`). A new course needs an empty destination folder.",
            file=sys.stderr,
        )
        return
    foreign = foreign_entries(src, exercises, dst)
    if foreign:
        shown = ", ".join(foreign[:8]) + (", ..." if len(foreign) > 8 else "")
        raise TaskError(
            f"the destination {dst} was not empty ({shown}): copier wrote the course's files next to "
            f"what was there, but no git repository was made, so nothing of yours is committed. "
            f"Copy into a new, empty folder (or a freshly cloned empty repository) instead."
        )
    names = ", ".join(exercises)
    env = commit_env()
    # Also fine in a freshly cloned empty repository: its remote is kept.
    git("init", "--quiet")
    git("symbolic-ref", "HEAD", f"refs/heads/{MAIN}")
    commit(f"Start the course: {names}", env)
    git("checkout", "--quiet", "-b", SOLUTIONS)
    overlay_solutions(src, exercises, dst)
    overlay_held_back(src, exercises, dst)
    commit(f"Reference solutions: {names}", env)
    git("checkout", "--quiet", MAIN)


def solutions(src: Path, exercises: list[str]) -> None:
    dst = Path.cwd()
    try:
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
    except TaskError:
        return
    if branch != SOLUTIONS:
        return
    overlay_solutions(src, exercises, dst)
    overlay_held_back(src, exercises, dst)
    print(
        f"Branch {SOLUTIONS}: reference solutions (and held-back tests) copied for {len(exercises)} exercises. "
        f"Review and commit them: git add -A && git commit -m 'Reference solutions'",
        file=sys.stderr,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in {"init", "solutions"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, src, chosen = argv
    try:
        if shutil.which("git") is None:
            raise TaskError("git is not installed: a course copy is a git repository (install git and copy again)")
        exercises = json.loads(chosen)
        if not (isinstance(exercises, list) and exercises):
            raise TaskError("no exercises chosen: choose at least one")
        {"init": init, "solutions": solutions}[command](Path(src), exercises)
    except TaskError as error:
        print(f"course copy: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
