"""``grader roster``: grade a whole class from one CSV file, on one machine or on many.

The roster
    A CSV file with a header row naming at least the columns ``student`` and ``repository`` (a git
    URL, or a path to a local repository, relative to the roster file), and optionally
    ``assignment`` and ``deadline`` (ISO 8601, ``2026-12-05T17:00+01:00``; without a time zone, the
    machine's local time). ``--assignment`` and ``--deadline`` apply to every row that leaves its cell
    empty. Other columns (an e-mail address, a section) are ignored.

One student
    1. *Fetch*: clone the repository into ``OUT/repos/<student>`` (a bare clone), or fetch into the
       clone a previous run left there; git never asks for a password (``GIT_TERMINAL_PROMPT=0``)
       and every git command has a time limit.
    2. *Pick the commit*: the tip of the default branch, or with a deadline the last commit at or
       before it (``git rev-list -1 --before=T HEAD``; commit dates are set by whoever commits).
    3. *Export* that commit (``git archive``) into a temporary folder: no git metadata, no hooks.
    4. *Grade* it through the one pristine path, ``python -m grader grade --submission <export>``,
       in a child process with ``KATA_COURSE_ROOT`` set to this grader's own course (so the trusted
       tests are the instructor's, never the student's) and its working folder outside the export
       (so ``python -m grader`` can never import a ``grader/`` package the student committed).
       Its reports stay in ``OUT/results/<student>/``; its ``points.json`` gives the points (the
       total exact, as a fraction).

    Anything that goes wrong with one student — a repository that cannot be fetched, no commit before
    the deadline, a grader that cannot grade or runs over ``--timeout`` — is that student's row, with
    the reason in one sentence; the others are graded all the same.

Many at once, many machines
    ``--jobs J`` grades J students at a time (threads, each driving its child processes). ``--shard
    k/N`` grades only the rows whose position i (0-based, in roster order) has ``i % N == k - 1``, and
    ``grader roster --merge DIR... --out DIR`` joins the N shards' folders. Every run writes
    ``roster.json`` (each row's whole record, exact) beside ``grades.csv`` and ``report.html``, and
    both the single run and the merge render those two from the records in roster order with the same
    code (:mod:`grader.roster_report`), so a merged result is byte for byte the single run's.

Exit status: 0 when the roster was graded (whatever the students' scores and errors), 2 for a roster,
a shard or a merge the grader cannot use (one sentence says why), 130 on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from datetime import time as time_of_day
from fractions import Fraction
from pathlib import Path
from typing import TextIO

from .course import CourseError
from .roster_git import Cancelled, Children, Finished, NotGraded, export, fetch, hide_credentials, pick_commit

REQUIRED_COLUMNS = ("student", "repository")
DEFAULT_TIMEOUT = 1200.0  # seconds to grade one student
RECORD_VERSION = 1


class RosterError(CourseError):
    """The roster, a shard or a merge cannot be used: one sentence says why (exit status 2)."""


# --- the roster file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One student of the roster, with the defaults of the command line already applied."""

    index: int  # 0-based position in the roster: the order of every output, and what shards split on
    student: str
    repository: str  # as written in the roster
    location: str  # what git clones: a URL as written, a local path made absolute
    assignment: str | None
    deadline: str | None  # ISO 8601 with an offset, e.g. 2026-12-05T17:00:00+01:00


def read_roster(path: Path, *, assignment: str | None = None, deadline: str | None = None) -> list[Row]:
    """Every row of the roster file, checked: a header, the two columns, each student once."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's export may start with a BOM
    except FileNotFoundError:
        raise RosterError(f"the roster {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise RosterError(f"the roster {path} cannot be read ({reason})") from None
    lines = list(csv.reader(text.splitlines()))
    while lines and not any(cell.strip() for cell in lines[0]):
        lines.pop(0)
    if not lines:
        raise RosterError(f"the roster {name} is empty: it needs a header row (student,repository) and one row per student")
    header = [cell.strip().lower() for cell in lines[0]]
    if not set(REQUIRED_COLUMNS) & set(header):
        raise RosterError(
            f"the roster {name} has no header row: its first line must name the columns, "
            f"e.g. student,repository (it is {','.join(lines[0])})"
        )
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise RosterError(f"the roster {name} has no {column} column (its header is {','.join(lines[0])})")
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if repeated:
        raise RosterError(f"the roster {name} names the column {repeated[0]} twice")
    default_deadline = parse_deadline(deadline, "--deadline") if deadline else None
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for line_number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line (often the last one) is no student
        values = {column: (cells[i].strip() if i < len(cells) else "") for i, column in enumerate(header)}
        student, repository = values["student"], values["repository"]
        if not student or not repository:
            missing = "student" if not student else "repository"
            raise RosterError(f"line {line_number} of the roster {name} has no {missing}")
        if student in seen:
            raise RosterError(
                f"the student {student} appears twice in the roster {name} (lines {seen[student]} and {line_number}): "
                "each student is graded once"
            )
        seen[student] = line_number
        own_deadline = values.get("deadline", "")
        rows.append(
            Row(
                index=len(rows),
                student=student,
                repository=repository,
                location=_location(repository, path.resolve().parent),
                assignment=values.get("assignment", "") or assignment,
                deadline=parse_deadline(own_deadline, f"line {line_number} of {name}") if own_deadline else default_deadline,
            )
        )
    if not rows:
        raise RosterError(f"the roster {name} has a header but no student")
    return rows


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[\w.-]+@[\w.-]+:")  # https://…, ssh://…, git@host:path


def _location(repository: str, base: Path) -> str:
    """What git clones: a URL as it is, a local path made absolute (relative to the roster's folder)."""
    if _URL.match(repository):
        return repository
    return str((base / Path(repository).expanduser()).resolve())


def parse_deadline(text: str, where: str) -> str:
    """An ISO 8601 date or time as git reads it unambiguously: with its offset (local time if none).

    A date alone means the end of that day (as an assignment's ``due`` date does): ``2026-12-05`` is
    ``2026-12-05T23:59:59`` local time.
    """
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        day = None
    try:
        moment = datetime.combine(day, time_of_day(23, 59, 59)) if day else datetime.fromisoformat(text.strip())
    except ValueError:
        raise RosterError(
            f"the deadline {text!r} ({where}) is not an ISO 8601 date or time, e.g. 2026-12-05T17:00+01:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the machine's local time, as git would read it
    return moment.isoformat()


def parse_shard(text: str) -> tuple[int, int]:
    """``k/N`` -> (k, N), with 1 <= k <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise RosterError(f"--shard {text} is not of the form k/N, e.g. 1/4")
    k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n:
        raise RosterError(f"--shard {text}: k must be between 1 and N")
    return k, n


def in_shard(rows: Sequence[Row], shard: tuple[int, int] | None) -> list[Row]:
    """The rows shard k of N grades: positions i with i % N == k - 1 (stable, whatever the machine)."""
    if shard is None:
        return list(rows)
    k, n = shard
    return [row for row in rows if row.index % n == k - 1]


def roster_digest(rows: Sequence[Row]) -> str:
    """What identifies a roster: shards of different rosters (or settings) must not be merged."""
    identity = [[r.student, r.repository, r.assignment, r.deadline] for r in rows]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def folder_name(student: str) -> str:
    """A safe folder name for a student (``OUT/repos/<this>``): the name itself where it is safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._-")[:80] or "student"
    if safe != student:
        safe += "-" + hashlib.sha256(student.encode()).hexdigest()[:8]  # Zoë and Zoe stay apart
    return safe


# --- one record per student -------------------------------------------------------------------------


@dataclass
class ExerciseScore:
    exercise: str  # 07_wsgi_server
    status: str
    points: float
    max_points: float
    passed: int
    tests: int

    @property
    def complete(self) -> bool:
        return self.max_points > 0 and self.points >= self.max_points


@dataclass
class Record:
    """What the roster knows of one student after grading: every output is rendered from these."""

    index: int
    student: str
    repository: str
    assignment: str | None = None
    deadline: str | None = None
    commit: str = ""
    total: str = ""  # exact, as a fraction ("31/2"); "" when the student was not graded
    max: str = ""
    error: str = ""  # why the student could not be fetched or graded, in one sentence
    exercises: list[ExerciseScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        scores = [ExerciseScore(**s) for s in data.get("exercises", [])]
        return cls(**{**data, "exercises": scores})


def read_points(results: Path) -> tuple[list[ExerciseScore], Fraction, Fraction, str]:
    """(exercise scores, exact total, max, error) from the ``points.json`` ``grader grade`` wrote."""
    data = json.loads((results / "points.json").read_text(encoding="utf-8"))
    scores = [
        ExerciseScore(
            exercise=str(e["exercise"]), status=str(e["status"]), points=float(e["points"]),
            max_points=float(e["max_points"]), passed=int(e["passed"]), tests=int(e["tests"]),
        )
        for e in data["exercises"]
    ]
    maximum = Fraction(str(data["max_points"]))  # rounded once, to hundredths: exact as a decimal
    return scores, Fraction(str(data["total"])), maximum, str(data.get("error") or "")


# --- grading one student ----------------------------------------------------------------------------


@dataclass
class Settings:
    """What every student's grading shares."""

    out: Path
    course_root: Path  # the trusted course: KATA_COURSE_ROOT of every `grader grade`
    timeout: float = DEFAULT_TIMEOUT


def _grade_env(course_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_SOLUTIONS", "FORCE_COLOR")}
    env["KATA_COURSE_ROOT"] = str(course_root)
    env["NO_COLOR"] = "1"
    # The child must import this very grader, from wherever it runs: its package's folder goes first.
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _grade_problem(finished: Finished) -> str:
    """The sentence ``grader grade`` said when it could not grade (its last ``grader:`` line)."""
    lines = [line.strip() for line in finished.stderr.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("grader:")]
    if said:
        return said[-1][len("grader:"):].strip()
    return f"grader grade stopped with status {finished.returncode}" + (f": {lines[-1]}" if lines else "")


def _said_in_points(results: Path) -> str:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return str(json.loads((results / "points.json").read_text(encoding="utf-8")).get("error") or "")
    return ""


def grade_student(children: Children, row: Row, settings: Settings) -> Record:
    """Fetch, pick, export and grade one student: a record, with the reason when it went wrong."""
    shown = hide_credentials(row.repository)  # a token in a URL goes nowhere the grade sheet goes
    record = Record(index=row.index, student=row.student, repository=shown, assignment=row.assignment, deadline=row.deadline)
    slug = folder_name(row.student)
    clone = settings.out / "repos" / f"{slug}.git"
    results = settings.out / "results" / slug
    try:
        fetch(children, row.location, clone, shown=shown)
        record.commit = pick_commit(children, clone, row.deadline, shown=shown)
        with tempfile.TemporaryDirectory(prefix="grader-roster-") as scratch:
            submission = Path(scratch) / "submission"
            export(children, clone, record.commit, submission)
            if results.exists():
                shutil.rmtree(results)
            results.parent.mkdir(parents=True, exist_ok=True)
            argv = [sys.executable, "-m", "grader", "grade", "--submission", str(submission), "--out", str(results)]
            if row.assignment:
                argv += ["--assignment", row.assignment]
            # The working folder is the scratch folder, never the export: `python -m grader` looks in
            # its working folder first, and a student's repository holds a `grader/` of its own.
            done = children.run(argv, timeout=settings.timeout, cwd=Path(scratch), env=_grade_env(settings.course_root))
        if done is None:
            raise NotGraded(f"grading took more than {settings.timeout:g} s and was stopped")
        if done.returncode != 0:  # it says why in points.json (``error``), or at least on stderr
            raise NotGraded(_said_in_points(results) or _grade_problem(done))
        try:
            scores, total, maximum, error = read_points(results)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NotGraded(f"grader grade wrote no readable points.json ({type(exc).__name__}: {exc})") from None
        record.exercises, record.total, record.max, record.error = scores, str(total), str(maximum), error
    except NotGraded as problem:
        record.error = str(problem)
    except OSError as exc:  # a full disk, a folder that cannot be written: this student, not the roster
        record.error = f"could not grade: {exc.strerror or exc} ({exc.filename or 'a file'})"
    return record


def grade_roster(
    rows: Sequence[Row], settings: Settings, *, jobs: int = 1, on_start: Callable[[Row], None] | None = None,
    on_done: Callable[[Record], None] | None = None,
) -> list[Record]:
    """Every row's record, in roster order; ``jobs`` students at a time, each graded once."""
    from .progress import first_interrupt_only

    children = Children()
    records: dict[int, Record] = {}
    lock = threading.Lock()

    def work(row: Row) -> None:
        if children.cancel.is_set():
            return
        if on_start is not None:
            with lock:
                on_start(row)
        record = grade_student(children, row, settings)
        with lock:
            records[row.index] = record
            if on_done is not None:
                on_done(record)

    # The main thread only waits, so that Ctrl-C lands there and stops every child (see grader.progress).
    with first_interrupt_only(), ThreadPoolExecutor(max_workers=max(1, min(jobs, len(rows) or 1))) as pool:
        futures = [pool.submit(work, row) for row in rows]
        try:
            for future in futures:
                with contextlib.suppress(Cancelled):
                    future.result()
        except BaseException:
            children.stop_all()
            for future in futures:
                future.cancel()
            raise
    return [records[row.index] for row in rows]


# --- the outputs ------------------------------------------------------------------------------------


def write_outputs(records: Sequence[Record], out: Path, *, roster_rows: int, digest: str, shard: tuple[int, int] | None) -> list[Path]:
    """``roster.json`` (the records), ``grades.csv`` and ``report.html`` (rendered from them) in ``out``."""
    from .roster_report import to_csv, to_html

    document = {
        "version": RECORD_VERSION,
        "roster": {"rows": roster_rows, "digest": digest},
        "shard": list(shard) if shard else None,
        "records": [r.to_dict() for r in records],
    }
    texts = {
        "roster.json": json.dumps(document, indent=1, ensure_ascii=False) + "\n",
        "grades.csv": to_csv(records),
        "report.html": to_html(records, shard=shard, roster_rows=roster_rows),
    }
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (out / name).write_text(text, encoding="utf-8", newline="")
            written.append(out / name)
    except OSError as exc:
        raise RosterError(f"cannot write the results into {out}: {exc.strerror}") from None
    return written


def read_shard(folder: Path) -> dict:
    """The ``roster.json`` a run wrote into ``folder``; a single run reads as shard 1 of 1."""
    path = folder / "roster.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        version = document["version"]
        k, n = document["shard"] or (1, 1)
        rows, digest = document["roster"]["rows"], document["roster"]["digest"]
        records = [Record.from_dict(r) for r in document["records"]]
    except FileNotFoundError:
        raise RosterError(f"{folder} has no roster.json: it is not a folder `grader roster --out` wrote") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RosterError(f"{path} cannot be read ({type(exc).__name__}): write it again with grader roster") from None
    if version != RECORD_VERSION:
        raise RosterError(f"{path} was written by another version of the grader (format {version}, not {RECORD_VERSION})")
    return {"folder": folder, "k": k, "n": n, "rows": rows, "digest": digest, "records": records}


def merge(folders: Sequence[Path], out: Path) -> tuple[list[Record], list[Path]]:
    """Join the shards' folders into the single run's outputs: every shard of one roster, each once."""
    shards = [read_shard(folder) for folder in folders]
    sizes = sorted({s["n"] for s in shards})
    if len(sizes) > 1:
        raise RosterError(f"the shards were cut in different ways ({' and '.join(f'N={n}' for n in sizes)})")
    if len({(s["rows"], s["digest"]) for s in shards}) > 1:
        raise RosterError("the shards come from different rosters (or different --assignment or --deadline): grade them again together")
    by_number: dict[int, dict] = {}
    for shard in shards:
        if shard["k"] in by_number:
            raise RosterError(f"shard {shard['k']}/{shard['n']} is given twice ({by_number[shard['k']]['folder']} and {shard['folder']})")
        by_number[shard["k"]] = shard
    n, rows, digest = sizes[0], shards[0]["rows"], shards[0]["digest"]
    missing = [k for k in range(1, n + 1) if k not in by_number]
    if missing:
        raise RosterError(f"shard {missing[0]}/{n} is missing: merge needs all {n} shards' folders")
    records = sorted((r for s in shards for r in s["records"]), key=lambda r: r.index)
    if [r.index for r in records] != list(range(rows)):
        raise RosterError(f"the shards hold {len(records)} students where the roster has {rows}: grade the shards again")
    written = write_outputs(records, out, roster_rows=rows, digest=digest, shard=None)
    for shard in shards:  # each student's own reports come along
        results = shard["folder"] / "results"
        if results.is_dir() and results.resolve() != (out / "results").resolve():
            shutil.copytree(results, out / "results", dirs_exist_ok=True)
    return records, written


# --- the command ------------------------------------------------------------------------------------


class Progress:
    """What ``grader roster`` shows while it grades, on a :class:`~grader.progress.ProgressLine`.

    On a terminal: the live line (a bar, how many are done, how many errors, who is being graded),
    with each error printed above it, where it stays. Anywhere else: one plain line per student
    graded, ``[2/5] bob: 15/20 (commit 1a2b3c4d5e6f)``.
    """

    def __init__(self, total: int, stream: TextIO, *, live: bool | None = None) -> None:
        from .progress import ProgressLine

        self.stream = stream
        self.line = ProgressLine(total, noun="", verb="grading", stream=stream, live=live, announce=False)
        self.errors = 0

    def start(self, row: Row) -> None:
        self.line.started(row.student)

    def finish(self, record: Record) -> None:
        self.line.finished(record.student)
        if record.error:
            self.errors += 1
            self.line.note(f"{self.errors} error{'s' * (self.errors != 1)}")
        if not self.line.live:
            said = f"[{self.line.done}/{self.line.total}] {describe(record)}"
        else:
            said = f"{record.student}: {record.error}" if record.error else ""  # an error stays on screen
        if said:
            with self.line.above():
                self.stream.write(said + "\n")
                self.stream.flush()

    def close(self) -> None:
        self.line.close()


def describe(record: Record) -> str:
    """``alice: 15/20 (commit 1a2b3c4d5e6f)``, or ``dan: could not clone …``."""
    from .roster_report import number

    if record.error and not record.exercises:
        return f"{record.student}: {record.error}"
    text = f"{record.student}: {number(Fraction(record.total))}/{number(Fraction(record.max))} (commit {record.commit[:12]})"
    return text + (f"; {record.error}" if record.error else "")


def main(
    roster: str | None, *, merge_folders: Sequence[str] | None = None, out: str | None = None,
    assignment: str | None = None, deadline: str | None = None, jobs: int = 1, shard: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> int:
    """The ``grader roster`` command; returns its exit status."""
    from . import ui

    try:
        if merge_folders:
            if roster or shard or assignment or deadline:
                raise RosterError("--merge joins shards' folders: give it no roster, --shard, --assignment or --deadline")
            if not out:
                raise RosterError("--merge needs --out DIR, the folder for the merged results")
            records, written = merge([Path(f) for f in merge_folders], Path(out))
            print(f"merged {len(merge_folders)} shard{'s' * (len(merge_folders) != 1)}: {_tally(records)}")
            print(f"results in {', '.join(str(p) for p in written if p.suffix != '.json')}")
            return 0
        if not roster:
            raise RosterError("name the roster file (grader roster roster.csv), or merge shards with --merge DIR... --out DIR")
        from .grade import trusted_root

        rows = read_roster(Path(roster), assignment=assignment, deadline=deadline)
        cut = parse_shard(shard) if shard else None
        chosen = in_shard(rows, cut)
        target = Path(out or "roster-results")
        settings = Settings(out=target.resolve(), course_root=trusted_root(), timeout=timeout)
    except CourseError as exc:  # RosterError, or a course with nothing to grade against
        ui.error(str(exc))
        return 2
    which = f" (shard {cut[0]}/{cut[1]}: {len(chosen)} of {len(rows)})" if cut else ""
    print(f"grading {len(chosen)} student{'s' * (len(chosen) != 1)}{which}, {jobs} at a time", file=sys.stderr, flush=True)
    progress = Progress(len(chosen), sys.stderr)
    started = time.monotonic()
    try:
        records = grade_roster(chosen, settings, jobs=jobs, on_start=progress.start, on_done=progress.finish)
    finally:
        progress.close()
    try:
        written = write_outputs(records, target, roster_rows=len(rows), digest=roster_digest(rows), shard=cut)
    except RosterError as exc:
        ui.error(str(exc))
        return 2
    print(f"{_tally(records)} in {time.monotonic() - started:.1f} s")
    print(f"results in {', '.join(str(p) for p in written if p.suffix != '.json')}")
    return 0


def _tally(records: Sequence[Record]) -> str:
    """``5 students: 4 graded, 1 with an error``."""
    graded, errors = sum(bool(r.exercises) for r in records), sum(bool(r.error) for r in records)
    text = f"{len(records)} student{'s' * (len(records) != 1)}: {graded} graded"
    return text + (f", {errors} with an error" if errors else "")
