"""``grader grade``: the one grading path for CI and Gradescope, in a course tree the submission never wrote.

What grading reads
    *The trusted source*: the course the running grader belongs to, that is ``$KATA_COURSE_ROOT`` when
    it is set (whoever starts the grader chose it), else the folder the installed ``grader`` package
    lives in (in a course copy, its repository root; on Gradescope, ``/autograder/source``, the
    instructor's zip). When that folder is the top of a git repository with a commit, its files are
    taken **as committed at HEAD** (``git ls-tree``/``git cat-file``), and each test file and stub the
    course records in ``exercises/checksums.json`` (at HEAD) is taken by its recorded blob id: an
    uncommitted edit, or a committed test edit without a matching checksum, changes nothing. When it is
    not a repository (the Gradescope zip), its files are read as they are on disk. Only
    ``exercises/`` (``exercises/conftest.py``, ``checksums.json``, each exercise's ``exercise.toml``,
    tests and given modules) and ``testkit/`` are taken, and a copy of the running grader package's
    modules, so that the test process loads the plugin of the grader that grades. The tree also gets
    a ``pytest.ini`` the grader writes (the course's two markers, importlib mode), so pytest looks
    for no other configuration file; not even the course's own ``pyproject.toml`` is read.

    *From the submission* (``--submission``, default: the current course folder), only the files the
    student edits (each ``exercise.toml``'s ``files``), each found at ``exercises/NN_slug/<file>`` (a
    repository) or at the submission's top level (a Gradescope upload, which lands flat), read as bytes
    and checked to be UTF-8 text without NUL bytes, at most ``MAX_FILE`` bytes, and not a symbolic link.

What grading never reads
    Anything else from the submission: no ``conftest.py`` (an exercise folder's or a planted
    ``exercises/conftest.py``), ``pytest.ini``, ``pyproject.toml``, ``setup.cfg``, ``tox.ini``,
    ``checksums.json``, ``.grader/`` state or cache, no test file, no given module. Nothing is read from
    a cache: every chosen exercise whose files are not the original stubs runs.

Where it grades
    A fresh temporary folder, read-only (files 0444, folders 0555) while the tests run. After each
    exercise the grader compares the whole tree with what it wrote; an exercise during whose run a file
    changed scores 0 with a sentence saying which, and the tree is written afresh before the next one.
    When the grader runs as root (Gradescope, containers) and an unprivileged user can run this Python
    (``nobody``, or ``$KATA_GRADE_USER``; ``none`` turns it off), each exercise's tests run as that user
    (:mod:`grader.sandbox`), with a private writable HOME and TMPDIR and the tree read-only to it, and
    every process of that user started during grading is killed after each exercise, so nothing the
    student's code starts outlives its own exercise.

What remains possible (and what bounds it)
    - Without a user switch (a normal account, GitHub Actions' ``runner`` user), the student's code runs
      as the owner of the tree: it can make it writable again and write in it. The check after each
      exercise catches a file left changed, and the tree is rebuilt before the next exercise; a change
      made and undone within one run affects only that run. A process that leaves the run's process
      group and clears its environment escapes the runner's marks (see :mod:`grader.runner`), but not
      its parentage: grading is a child subreaper, and after each exercise every process the run left
      is stopped (:mod:`grader.reaper`).
    - In-process tampering (patching pytest from the student's module, forging the results channel) is
      not stopped here: the runner's own accounting bounds it (every collected test counts, canaries,
      a sealed results pipe; see :mod:`grader.runner` and README's section on what the grader can prove).
    - In a student's own repository (the GitHub workflow), the trusted source is that repository's
      HEAD: a student who commits an edited test *and* its checksum, or an edited grader, grades
      themselves. Only a grader the instructor controls (Gradescope with the instructor's zip, or a
      workflow in the instructor's repository that runs ``grader grade --submission student-checkout``)
      is a grade no submission can forge.

What it writes
    Into ``--out``: ``gradescope.json``, ``results.json`` (exercism v3), ``junit.xml``, ``summary.md`` and
    ``points.json``, every one with each test's and exercise's points and the total, from one exact
    :class:`grader.results.Scoresheet`; with ``assignments.toml``, ``assignments.json`` (a verdict and a
    total per assignment). ``--assignment A`` grades only A's exercises, their points scaled to A's.

Exit status: 0 when grading worked, whatever the score; 2 when it could not grade (one sentence says why,
and ``points.json`` carries it as ``error``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import assignments, checksums, reaper
from .assignments import Assignment
from .course import BrokenExercise, Course, CourseError, Exercise, load_course
from .results import ERROR, FAILED, NOT_STARTED, ExerciseResult, Scoresheet, TestResult

TRUSTED_FOLDERS = ("exercises", "testkit")
MAX_FILE = 1 << 20  # bytes: a student file larger than this is not graded
# Configuration files pytest would read: none is taken, even from the trusted source, except the one
# conftest.py the course is built on (exercises/conftest.py).
CONFIG_NAMES = {"conftest.py", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini", ".pytest.ini"}
DEFAULT_OUT = "grader-results"
OUTPUTS = ("gradescope.json", "results.json", "junit.xml", "summary.md", "points.json")


class CannotGrade(CourseError):
    """Grading could not happen at all: one sentence says why (exit status 2)."""


# --- the trusted source -----------------------------------------------------------------------------


def trusted_root() -> Path:
    """``$KATA_COURSE_ROOT``, else the course the installed grader package belongs to."""
    configured = os.environ.get("KATA_COURSE_ROOT")
    root = Path(configured).resolve() if configured else Path(__file__).resolve().parent.parent
    if not (root / "exercises").is_dir():
        raise CannotGrade(f"the grader's own course ({root}) has no exercises/ folder, so there is nothing to grade against")
    return root


@dataclass
class Source:
    root: Path
    files: dict[str, bytes]  # relative path -> contents, everything the pristine tree gets from the course
    committed: bool  # taken from git HEAD (else: from the folder as it is on disk)
    notes: list[str] = field(default_factory=list)


def read_source(root: Path) -> Source:
    from . import pristine

    committed = pristine.committed_files(root, TRUSTED_FOLDERS)
    if committed is not None:
        files, from_git = committed, True
    else:
        files, from_git = _files_on_disk(root), False
    files = {path: data for path, data in files.items() if _trusted_path(path)}
    if "exercises/conftest.py" not in files:
        raise CannotGrade(f"the grader's own course ({root}) has no exercises/conftest.py, so its tests cannot run")
    source = Source(root=root, files=files, committed=from_git)
    if from_git:
        _pin_recorded_versions(source)
    _include_held_back(source)
    return source


def _include_held_back(source: Source) -> None:
    """The trusted source's held-back tests (an instructor's ``held_back/``), beside each exercise's own."""
    from . import held_back

    held_back.include(source.files, held_back.read(source.root, committed=source.committed), source.notes)


def _trusted_path(path: str) -> bool:
    parts = path.split("/")
    if any(p in ("__pycache__", ".grader", ".pytest_cache") or p.startswith(".") for p in parts):
        return False
    if parts[-1].endswith((".pyc", ".pyo")):
        return False
    return parts[-1] not in CONFIG_NAMES or path == "exercises/conftest.py"


def _files_on_disk(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for folder in TRUSTED_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(root).as_posix()
            if _trusted_path(relative):
                with contextlib.suppress(OSError):
                    found[relative] = path.read_bytes()
    return found


def _recorded(files: dict[str, bytes]) -> dict:
    import json

    try:
        data = json.loads(files.get("exercises/checksums.json", b"{}").decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pin_recorded_versions(source: Source) -> None:
    """Take each recorded test file and stub by its blob id; drop test files the record does not know."""
    from . import pristine

    recorded = _recorded(source.files)
    wanted: dict[str, str] = {}
    for exercise, entry in recorded.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("tests"), dict):
            continue
        tests = entry["tests"]
        folder = f"exercises/{exercise}/"
        for path in [p for p in source.files if p.startswith(folder) and "/" not in p[len(folder):]]:
            name = path[len(folder):]
            if name.startswith("test_") and name.endswith(".py") and name not in tests:
                del source.files[path]
                source.notes.append(f"{path} is not one of the course's recorded test files: left out")
        for name, blob in tests.items():
            wanted[folder + name] = blob
    blobs = pristine.committed_blobs(source.root, list(wanted.values())) or {}
    for path, blob in wanted.items():
        if blob in blobs:
            if source.files.get(path) not in (None, blobs[blob]):
                source.notes.append(f"{path} differs from the course's recorded version: the recorded one is used")
            source.files[path] = blobs[blob]
        elif path in source.files and checksums.blob_id(source.files[path]) != blob:
            source.notes.append(
                f"{path} differs from the course's recorded version, which this clone does not hold "
                "(a shallow checkout?): the committed one is used"
            )


def pristine_stubs(source: Source, exercise: str, names: Sequence[str], submission: Path) -> dict[str, bytes | None]:
    """The original stub of each name, or None where it cannot be known for sure.

    From git, the blob the course records; from a folder on disk, its file, when it is the recorded
    stub or (with no record) when that folder is not the submission itself: there it is the student's.
    """
    from . import pristine

    entry = _recorded(source.files).get(exercise)
    stubs = entry.get("stubs", {}) if isinstance(entry, dict) and isinstance(entry.get("stubs"), dict) else {}
    ids = [b for b in stubs.values() if isinstance(b, str)]
    blobs = (pristine.committed_blobs(source.root, ids) or {}) if source.committed else {}
    same_folder = source.root.resolve() == submission.resolve()
    found: dict[str, bytes | None] = {}
    for name in names:
        recorded = stubs.get(name)
        on_disk = source.files.get(f"exercises/{exercise}/{name}")
        if source.committed:
            found[name] = blobs.get(recorded) if isinstance(recorded, str) else None
        elif isinstance(recorded, str):
            found[name] = on_disk if on_disk is not None and checksums.blob_id(on_disk) == recorded else None
        else:
            found[name] = None if same_folder else on_disk
    return found


# --- the student's files ----------------------------------------------------------------------------


@dataclass
class Taken:
    """What happened to one file the student edits."""

    exercise: str
    name: str
    used: str = ""  # where in the submission it came from ("" when not graded)
    problem: str = ""  # why it was not graded, in plain words
    data: bytes | None = None

    @property
    def graded(self) -> bool:
        return self.data is not None and not self.problem


_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[ _-]copy(\s*\d+)?|[ _-]\d+)$", re.IGNORECASE)


def _plain(name: str) -> str:
    """``http_parse (1).py`` and ``HTTP_Parse-copy.py`` -> ``http_parse.py``: how a near-miss is recognised."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    return (_COPY_SUFFIX.sub("", stem.strip()).lower() + "." + suffix.lower()).rstrip(".")


def _check_contents(path: Path) -> tuple[bytes | None, str]:
    if path.is_symlink():
        return None, "is a symbolic link, which the grader does not follow"
    if path.is_dir():
        return None, "is a folder, not a file"
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            return None, f"is {size} bytes, more than the {MAX_FILE} a student file may have"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if b"\0" in data:
        return None, "is not a Python source file (it holds binary data)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "is not a Python source file (it is not UTF-8 text)"
    return data, ""


def take_files(submission: Path, exercises: Sequence[Exercise]) -> list[Taken]:
    """Find each student file in the submission: ``exercises/NN_slug/<file>``, else ``<file>`` at the top."""
    everything = _listing(submission)
    taken = []
    for exercise in exercises:
        for name in exercise.files:
            item = Taken(exercise.name, name)
            candidates = [f"exercises/{exercise.name}/{name}", name]
            present = [c for c in candidates if (submission / c).exists() or (submission / c).is_symlink()]
            if present:
                item.used = present[0]
                item.data, item.problem = _check_contents(submission / present[0])
                if item.problem:
                    item.data = None
                    item.problem = f"{present[0]} {item.problem}"
                elif len(present) > 1 and (submission / present[1]).is_file():
                    with contextlib.suppress(OSError):
                        if (submission / present[1]).read_bytes() != item.data:
                            item.used = f"{present[0]} (the other {present[1]} differs and was not graded)"
            else:
                item.problem = _why_missing(name, exercise, everything)
            taken.append(item)
    return taken


def _listing(submission: Path, limit: int = 5000) -> list[str]:
    found: list[str] = []
    for folder, dirs, files in os.walk(submission):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "node_modules"))
        for name in sorted(files):
            found.append((Path(folder) / name).relative_to(submission).as_posix())
            if len(found) >= limit:
                return found
    return found


def _why_missing(name: str, exercise: Exercise, everything: list[str]) -> str:
    where = f"{name} was not found at exercises/{exercise.name}/{name} or at the top of the submission"
    elsewhere = [p for p in everything if p.rsplit("/", 1)[-1] == name]
    if elsewhere:
        return (
            f"{where}; {elsewhere[0]} is in a subfolder the grader does not look in: "
            f"move it to the top, or to exercises/{exercise.name}/"
        )
    similar = [p for p in everything if _plain(p.rsplit("/", 1)[-1]) == name.lower() and p.rsplit("/", 1)[-1] != name]
    if similar:
        return f"{where}; there is {similar[0]}: rename it to {name} (the grader does not guess)"
    return where


# --- the pristine tree ------------------------------------------------------------------------------


MARKERS = (
    "spec(section): the spec section a test grades, shown to the student when it fails",
    "reference: the test runs against a reference server to prove itself; it is not graded",
    "held_back: a held-back test (held_back/NN_slug/): run at grading time, never shipped to the students",
)


def _pytest_ini(source: Source) -> bytes:
    """A pytest.ini the grader writes itself (no configuration file is read from anywhere)."""
    lines = ["[pytest]", "addopts = --import-mode=importlib", "markers =", *(f"    {m}" for m in MARKERS)]
    return ("\n".join(lines) + "\n").encode()


def _grader_package() -> dict[str, bytes]:
    """The running grader's own modules: the test process loads exactly the plugin this grader expects."""
    package = Path(__file__).resolve().parent
    found = {}
    for path in sorted(package.glob("*.py")):
        with contextlib.suppress(OSError):
            found[f"grader/{path.name}"] = path.read_bytes()
    return found


def plan_tree(source: Source, taken: Sequence[Taken], stubs: dict[tuple[str, str], bytes | None]) -> dict[str, bytes]:
    files = {**source.files, **_grader_package()}
    files["pytest.ini"] = _pytest_ini(source)
    for item in taken:
        path = f"exercises/{item.exercise}/{item.name}"
        if item.graded:
            files[path] = item.data  # type: ignore[assignment]
        else:
            stub = stubs.get((item.exercise, item.name))
            if stub is None:
                files.pop(path, None)
            else:
                files[path] = stub
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    unlock(root)
    for child in list(root.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    lock(root)


def lock(root: Path) -> None:
    """Read-only for everyone, readable by everyone (the tests may run as another user)."""
    for folder, dirs, names in os.walk(root, topdown=False):
        for name in names:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(folder, name), 0o444, follow_symlinks=False)
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o555)


def unlock(root: Path) -> None:
    for folder, dirs, names in os.walk(root):
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o755)
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(folder, name), 0o755)
        for name in names:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(folder, name), 0o644, follow_symlinks=False)


def changes(root: Path, files: dict[str, bytes]) -> list[str]:
    """Paths in the tree that differ from what the grader wrote (changed, added or removed)."""
    seen: dict[str, bytes | None] = {}
    for folder, dirs, names in os.walk(root):
        for name in names:
            full = Path(folder) / name
            relative = full.relative_to(root).as_posix()
            try:
                seen[relative] = None if full.is_symlink() else full.read_bytes()
            except OSError:
                seen[relative] = None
    expected_dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    extra_dirs = {
        (Path(folder) / d).relative_to(root).as_posix() + "/"
        for folder, dirs, _ in os.walk(root)
        for d in dirs
        if (Path(folder) / d).relative_to(root).as_posix() not in expected_dirs
    }
    return sorted({p for p in set(seen) | set(files) if seen.get(p, b"\0missing") != files.get(p)} | extra_dirs)


# --- grading ----------------------------------------------------------------------------------------


@dataclass
class Grade:
    pairs: list[tuple[Exercise, ExerciseResult]]
    taken: list[Taken]
    notes: list[str]
    duration: float
    assignment: Assignment | None = None  # graded alone (``--assignment``): its points scale the exercises'
    assignments: list[Assignment] = field(default_factory=list)  # the course's, for a total per assignment


def _not_graded(exercise: Exercise, taken: Sequence[Taken], stubs: dict[tuple[str, str], bytes | None]) -> str | None:
    """Why an exercise needs no run: every file is missing or the original stub (None: run it)."""
    mine = [t for t in taken if t.exercise == exercise.name]
    if not mine:
        return None
    if all(not t.graded for t in mine):
        return "not graded: " + "; ".join(t.problem for t in mine)
    if all(t.graded and stubs.get((t.exercise, t.name)) == t.data for t in mine):
        return "not started: the submitted files are the original stubs"
    return None


def grade(
    names: Sequence[str], submission: Path, *, on_run=None, run=None, assignment: str | None = None  # type: ignore[no-untyped-def]
) -> Grade:
    """Grade ``names`` (default: every exercise), or the exercises of the assignment named ``assignment``
    (in the trusted course's ``assignments.toml``), from ``submission``."""
    from . import sandbox
    from .runner import run_exercise

    run = run or run_exercise
    started = time.monotonic()
    # Orphans of the student's processes come to us, however they detached (setsid, an empty
    # environment), so that nothing a run started outlives it (grader.reaper).
    reaper.become_subreaper()
    source = read_source(trusted_root())
    with tempfile.TemporaryDirectory(prefix="grader-grade-") as scratch:
        scratch_path = Path(scratch)
        os.chmod(scratch_path, 0o755)  # another user must reach the tree (it stays read-only to it)
        tree = scratch_path / "course"
        tree.mkdir()
        # A first tree without the student's files: which exercises there are, and their files.
        write_tree(tree, {**source.files, "pytest.ini": _pytest_ini(source)})
        try:
            course = load_course(tree, lenient=True)
        except CourseError as exc:
            raise CannotGrade(f"the grader's own course cannot be read: {exc}") from None
        # The trusted course's assignments (as committed, like its tests); never the submission's.
        defined = assignments.load(course, source.root, committed=True)
        graded_alone = assignments.find(defined, assignment) if assignment is not None else None
        chosen, broken = _choose(course, graded_alone.exercises if graded_alone else names)
        taken = take_files(submission, chosen)
        stubs: dict[tuple[str, str], bytes | None] = {}
        for exercise in chosen:
            for name, data in pristine_stubs(source, exercise.name, exercise.files, submission).items():
                stubs[(exercise.name, name)] = data
        # Every exercise's student files go in (later exercises import earlier ones), not only the chosen.
        others = [e for e in course.exercises if e not in chosen]
        taken_all = taken + take_files(submission, others)
        for exercise in others:
            for name, data in pristine_stubs(source, exercise.name, exercise.files, submission).items():
                stubs[(exercise.name, name)] = data
        files = plan_tree(source, taken_all, stubs)
        write_tree(tree, files)
        course = load_course(tree, lenient=True)
        by_name = {e.name: e for e in course.exercises}
        notes = list(source.notes)
        user = sandbox.choose_user(scratch_path, notes)
        pairs: list[tuple[Exercise, ExerciseResult]] = []
        # No bytecode is written into the tree, so any file that appears there (a planted .pyc too)
        # is a change the check after each exercise sees.
        saved = os.environ.get("PYTHONDONTWRITEBYTECODE")
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            for original in chosen:
                exercise = by_name[original.name]
                reason = _not_graded(exercise, taken, stubs)
                if reason is not None:
                    pairs.append((exercise, ExerciseResult(exercise=exercise.name, status=NOT_STARTED, message=reason)))
                    continue
                if on_run is not None:
                    on_run(exercise)
                already = set(reaper.children())  # ours before the run: not the student's to answer for
                with sandbox.running_as(user, scratch_path):
                    result = run(course, exercise)
                left = reaper.stop_leftovers(keep=already)
                if left:
                    result.message = _joined(result.message, f"{left} process(es) your code left running were stopped")
                altered = changes(tree, files)
                if altered:
                    result = _tampered(exercise, result, altered)
                    write_tree(tree, files)
                pairs.append((exercise, result))
        finally:
            if saved is None:
                os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
            else:
                os.environ["PYTHONDONTWRITEBYTECODE"] = saved
            unlock(tree)  # so that the TemporaryDirectory can remove it
    pairs += [(_stand_in(b), ExerciseResult(exercise=b.name, status=ERROR, message=b.sentence)) for b in broken]
    pairs.sort(key=lambda pair: pair[0].number)
    return Grade(
        pairs=pairs, taken=taken, notes=notes, duration=time.monotonic() - started,
        assignment=graded_alone, assignments=[graded_alone] if graded_alone else defined,
    )


def _joined(message: str, note: str) -> str:
    return f"{message}; {note}" if message else note


def _choose(course: Course, names: Sequence[str]) -> tuple[list[Exercise], list[BrokenExercise]]:
    if not names:
        return list(course.exercises), list(course.broken)
    chosen: list[Exercise] = []
    broken: list[BrokenExercise] = []
    for name in names:
        found = course.find(name)
        into: list = broken if isinstance(found, BrokenExercise) else chosen
        if found not in into:
            into.append(found)
    return chosen, broken


def _stand_in(broken: BrokenExercise) -> Exercise:
    return Exercise(
        path=broken.path, number=broken.number, slug=broken.slug, title="(its exercise.toml cannot be read)",
        part=1, chapter="", files=(),
    )


def _tampered(exercise: Exercise, result: ExerciseResult, altered: list[str]) -> ExerciseResult:
    shown = ", ".join(altered[:3]) + (f" and {len(altered) - 3} more" if len(altered) > 3 else "")
    message = f"your code changed the grader's files while its tests ran ({shown}): this exercise scores 0"
    tests = [
        TestResult(**{**t.__dict__, "outcome": FAILED if not t.reference else t.outcome, "message": message})
        for t in result.tests
    ] or [TestResult(nodeid=f"{exercise.name}::(the exercise)", outcome=FAILED, message=message)]
    return ExerciseResult(exercise=exercise.name, status=ERROR, tests=tests, message=message, duration=result.duration)


# --- the reports ------------------------------------------------------------------------------------


def files_report(taken: Sequence[Taken], notes: Sequence[str]) -> list[str]:
    """One line per student file: graded (from where) or not (why); then the grader's own notes."""
    lines = []
    for item in taken:
        if item.graded:
            lines.append(f"graded   {item.exercise}/{item.name}: from {item.used}")
        else:
            lines.append(f"missing  {item.exercise}/{item.name}: {item.problem}; the original stub was graded instead")
    return lines + [f"note     {n}" for n in notes]


def scoresheet(result: Grade) -> Scoresheet:
    """The points of a grade: an assignment graded alone scales its exercises' points to its own."""
    from .results import score

    alone = result.assignment
    return score(result.pairs, total=alone.points if alone else None, assignment=alone.name if alone else None)


def write_reports(result: Grade, out: Path) -> list[Path]:
    """The reports (``OUTPUTS``), each with every test's and exercise's points and the total; with
    assignments, ``assignments.json`` (a verdict per assignment) and their table atop ``summary.md``."""
    from .results import dumps, to_exercism, to_gradescope, to_junit, to_points, to_summary

    lines = files_report(result.taken, result.notes)
    sheet = scoresheet(result)
    gradescope = to_gradescope(result.pairs, result.duration, sheet=sheet)
    gradescope["output"] = gradescope["output"] + "\n\n" + "\n".join(lines)
    rows = assignments.totals(result.assignments, result.pairs)
    heading = ""
    if result.assignment is not None:
        due = f" ({result.assignment.due_text()})" if result.assignment.due else ""
        heading = f"**Assignment {result.assignment.name}**{due}\n\n"
    elif rows:
        heading = "**Assignments**\n\n" + assignments.summary_table(rows) + "\n**Exercises**\n\n"
    summary = heading + to_summary(result.pairs, sheet=sheet) + "\n**Files**\n\n" + "".join(f"- {line}\n" for line in lines)
    texts = {
        "gradescope.json": dumps(gradescope),
        "results.json": dumps(to_exercism(result.pairs, sheet=sheet)),
        "junit.xml": to_junit(result.pairs, sheet=sheet),
        "summary.md": summary,
        "points.json": dumps(to_points(sheet)),
    }
    if result.assignments:
        texts["assignments.json"] = dumps({"version": 1, "assignments": rows})
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in texts.items():
            target = out / name
            target.write_text(text, encoding="utf-8")
            written.append(target)
    except OSError as exc:
        raise CannotGrade(f"cannot write the results into {out}: {exc.strerror}") from None
    return written


def main(names: Sequence[str], submission: str | None, out: str, assignment: str | None) -> int:
    """The ``grader grade`` command; returns its exit status."""
    from . import ui
    from .course import find_root

    if assignment is not None and names:
        ui.error("name the exercises or an assignment, not both: grader grade --assignment " + assignment)
        return 2
    try:
        folder = Path(submission).resolve() if submission else find_root()
    except CourseError:
        folder = Path.cwd().resolve()
    if not folder.is_dir():
        ui.error(f"the submission {folder} is not a folder, so there is nothing to grade")
        return 2

    def announce(exercise: Exercise) -> None:
        print(f"grading {exercise.label} …", file=sys.stderr, flush=True)

    try:
        result = grade(names, folder, on_run=announce, assignment=assignment)
        written = write_reports(result, Path(out))
    except CourseError as exc:  # CannotGrade, an unknown exercise or assignment, an unreadable course
        ui.error(f"could not grade: {exc}")
        _write_error(Path(out), assignment, f"could not grade: {exc}")
        return 2
    for line in files_report(result.taken, result.notes):
        print(line)
    print()
    print(to_plain_summary(result))
    print(f"results in {', '.join(str(p) for p in written)}")
    return 0


def _write_error(out: Path, assignment: str | None, sentence: str) -> None:
    """``points.json`` saying why nothing was graded, for whoever collects grades (``grader roster``)."""
    from .results import dumps, to_points

    with contextlib.suppress(OSError):
        out.mkdir(parents=True, exist_ok=True)
        (out / "points.json").write_text(dumps(to_points(Scoresheet((), assignment), error=sentence)), encoding="utf-8")


def to_plain_summary(result: Grade) -> str:
    from .results import show, verdict

    sheet = scoresheet(result)
    rows = [
        f"{p.exercise.label}: {verdict(p.result).replace('_', ' ')}, {p.result.passed_count}/{p.result.total_count} tests, "
        f"{show(p.earned)}/{show(p.max)} points" + (f" ({p.result.message})" if p.result.message and not p.result.passed_count else "")
        for p in sheet.exercises
    ]
    rows.append(f"total: {show(sheet.earned)}/{show(sheet.max)} points")
    for row in assignments.totals(result.assignments, result.pairs):
        due = f", due {assignments.when(row['due'])}" if row["due"] else ""
        rows.append(f"assignment {row['name']}: {row['status']}, {show(row['points'])}/{show(row['max_points'])} points{due}")
    return "\n".join(rows)
