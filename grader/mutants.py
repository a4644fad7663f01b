"""``grader mutants``: how strong an exercise's tests are, measured on mutants of its reference solution.

For each file the student edits, :mod:`grader.mutation` makes single-point mutants of the reference
solution. Each mutant is written into a scratch copy of the solutions folder (the course's own files
are never touched) and the exercise's graded tests run against it in the grader's isolated runner,
stopping at the first failure (``-x``) and leaving out ``reference`` cases, which prove the tests and
grade nothing. A mutant the tests fail on is *killed*; one they pass on *survives*: a change to correct
code that no test notices. A mutant that hangs is killed by the exercise's time limit, and named.

Some survivors cannot be observed by any fair test (an equivalent constant, a buffer size). An author
records each, with its reason, in ``solutions/NN_slug/mutants.toml``::

    [[acknowledged]]
    file = "http_client.py"          # may be left out when the exercise has one file
    line = "while chunk := sock.recv(65536):"
    mutation = "65536 → 65535"
    reason = "the read size: any size reads the same bytes"

``line`` is the source line as shown (stripped) and ``mutation`` the change as shown, so an
acknowledgement follows its line when others move. Acknowledged mutants are not run and not scored,
and are listed apart; one that matches no mutant any more is *stale*, and reported.

The score is ``killed / run``; an exercise passes at :data:`THRESHOLD` percent.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from . import ui
from .course import Course, CourseError, Exercise
from .mutation import Mutant, NotPython, mutants_of
from .results import PASSED, TIMED_OUT
from .runner import run_exercise

THRESHOLD = 90.0  # percent of the run mutants an exercise's tests must kill
COURSE_TARGET = 95.0  # percent over the whole course
ACKNOWLEDGEMENTS = "mutants.toml"
PYTEST_ARGS = ("-x", "-m", "not reference")
TEST_TIMED_OUT = "the test ran out of time"  # how grader.plugin words a pytest-timeout failure


@dataclass(frozen=True)
class Acknowledgement:
    file: str
    line: str
    mutation: str
    reason: str
    where: int  # the line of its [[acknowledged]] header in mutants.toml

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.file, self.line, self.mutation)


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    hung: bool = False


@dataclass
class ExerciseReport:
    """What ``grader mutants`` found for one exercise."""

    exercise: Exercise
    total: int  # every mutant of the solution, acknowledged ones included
    chosen: list[Mutant] = field(default_factory=list)  # the ones run: all, or a seeded sample
    sampled: bool = False  # whether ``chosen`` is a sample of the unacknowledged mutants
    outcomes: list[Outcome] = field(default_factory=list)
    acknowledged: list[tuple[Mutant, Acknowledgement]] = field(default_factory=list)
    stale: list[Acknowledgement] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return sum(1 for o in self.outcomes if o.killed)

    @property
    def survivors(self) -> list[Mutant]:
        return [o.mutant for o in self.outcomes if not o.killed]

    @property
    def score(self) -> float:
        return 100.0 * self.killed / len(self.outcomes) if self.outcomes else 100.0

    @property
    def ok(self) -> bool:
        return self.score >= THRESHOLD and not self.stale


# --- acknowledgements -----------------------------------------------------------------------------


def load_acknowledgements(path: Path, exercise: Exercise) -> list[Acknowledgement]:
    """The ``[[acknowledged]]`` entries of one exercise's ``mutants.toml``; none when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CourseError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"acknowledged"})
    if unknown:
        raise CourseError(f"{path}: unknown key '{unknown[0]}' (only [[acknowledged]] entries belong here)")
    entries = data.get("acknowledged", [])
    if not isinstance(entries, list):
        raise CourseError(f"{path}: 'acknowledged' must be a list of [[acknowledged]] tables")
    headers = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip().startswith("[[acknowledged]]")]
    found = []
    for index, entry in enumerate(entries):
        where = headers[index] if index < len(headers) else 0
        at = f"{path}, line {where}" if where else str(path)
        if not isinstance(entry, dict):
            raise CourseError(f"{at}: an acknowledgement must be a table with line, mutation and reason")
        unknown = sorted(set(entry) - {"file", "line", "mutation", "reason"})
        if unknown:
            raise CourseError(f"{at}: unknown key '{unknown[0]}' (use file, line, mutation and reason)")
        for key in ("line", "mutation", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise CourseError(f"{at}: '{key}' is missing or empty (every acknowledgement needs a line, a mutation and a reason)")
        name = entry.get("file")
        if name is None and len(exercise.files) == 1:
            name = exercise.files[0]
        if name not in exercise.files:
            files = ", ".join(exercise.files)
            raise CourseError(f"{at}: 'file' must name one of the files the student edits ({files})")
        found.append(Acknowledgement(name, entry["line"].strip(), entry["mutation"].strip(), entry["reason"].strip(), where))
    return found


# --- making and choosing the mutants ---------------------------------------------------------------


def plan(
    exercise: Exercise, solutions: Path, *, max_count: int | None = None, seed: int = 0
) -> ExerciseReport:
    """Every mutant of ``exercise``'s solution, its acknowledgements matched, and the ones to run chosen."""
    folder = solutions / exercise.name
    mutants: list[Mutant] = []
    for name in exercise.files:
        path = folder / name
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CourseError(f"{exercise.label} has no reference solution for {name} (expected {path})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CourseError(f"cannot read the solution {path}: {exc}") from None
        try:
            mutants += mutants_of(source, name)
        except NotPython as exc:
            raise CourseError(f"{exercise.label}: the reference solution {exc}") from None
    acknowledgements = load_acknowledgements(folder / ACKNOWLEDGEMENTS, exercise)
    by_key = {a.key: a for a in acknowledgements}
    report = ExerciseReport(exercise, total=len(mutants))
    runnable = []
    for mutant in mutants:
        acknowledgement = by_key.get(mutant.key)
        if acknowledgement is not None:
            report.acknowledged.append((mutant, acknowledgement))
        else:
            runnable.append(mutant)
    matched = {a.key for _, a in report.acknowledged}
    report.stale = [a for a in acknowledgements if a.key not in matched]
    if max_count is not None and max_count < len(runnable):
        report.sampled = True
        runnable = sample(runnable, max_count, seed=seed, salt=exercise.name)
    report.chosen = runnable
    return report


def sample(mutants: list[Mutant], count: int, *, seed: int, salt: str) -> list[Mutant]:
    """``count`` of ``mutants``, the same for the same seed, in source order.

    Each mutant draws a number from its own identity and the seed, and the lowest numbers win. So the
    sample is stable while an author works: acknowledging a sampled survivor brings in one new mutant
    and keeps the others; a new test changes nothing; an edited line redraws only its own mutants.
    """

    def draw(mutant: Mutant) -> bytes:
        return hashlib.sha256("\0".join((str(seed), salt, *mutant.key)).encode()).digest()

    chosen = {id(m) for m in sorted(mutants, key=draw)[:count]}
    return [m for m in mutants if id(m) in chosen]


# --- running them ---------------------------------------------------------------------------------


class _Scratch:
    """A scratch solutions folder per mutant: links to every real solution, one file replaced."""

    def __init__(self, solutions: Path) -> None:
        self.solutions = solutions
        self.root = Path(tempfile.mkdtemp(prefix="grader-mutants-"))
        self.count = 0
        self.lock = threading.Lock()

    def make(self, exercise: Exercise, mutant: Mutant) -> Path:
        with self.lock:
            self.count += 1
            folder = self.root / str(self.count)
        folder.mkdir()
        for entry in self.solutions.iterdir():
            if entry.is_dir() and entry.name != exercise.name:
                (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        mutated = folder / exercise.name
        mutated.mkdir()
        for entry in (self.solutions / exercise.name).iterdir():
            if entry.is_file() and entry.suffix == ".py" and entry.name != mutant.file:
                shutil.copyfile(entry, mutated / entry.name)
        (mutated / mutant.file).write_text(mutant.source, encoding="utf-8")
        return folder

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def run_mutants(
    course: Course,
    reports: Sequence[ExerciseReport],
    solutions: Path,
    *,
    jobs: int,
    on_outcome: Callable[[ExerciseReport, Outcome], None] | None = None,
) -> None:
    """Run every chosen mutant of every report, ``jobs`` at a time, filling in ``outcomes``.

    Ctrl-C stops every run in flight (their processes are killed) before ``KeyboardInterrupt`` goes
    on up; the scratch folder goes with them.
    """
    scratch = _Scratch(solutions)
    cancel = threading.Event()

    def run_one(report: ExerciseReport, mutant: Mutant) -> Outcome:
        folder = scratch.make(report.exercise, mutant)
        try:
            result = run_exercise(course, report.exercise, solutions=folder, pytest_args=PYTEST_ARGS, cancel=cancel)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        hung = result.status == TIMED_OUT or any(t.message.startswith(TEST_TIMED_OUT) for t in result.tests)
        return Outcome(mutant, killed=result.status != PASSED, hung=hung)

    work = iter([(report, mutant) for report in reports for mutant in report.chosen])
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    pending: dict[Future[Outcome], ExerciseReport] = {}

    def submit_next() -> None:
        item = next(work, None)
        if item is not None:
            pending[pool.submit(run_one, *item)] = item[0]

    try:
        for _ in range(max(1, jobs)):
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                report = pending.pop(future)
                outcome = future.result()
                report.outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(report, outcome)
                submit_next()
    except BaseException:
        cancel.set()  # each running child is killed within a poll interval, and raises Cancelled
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        scratch.close()
    for report in reports:  # in source order, whatever order they finished in
        order = {id(m): i for i, m in enumerate(report.chosen)}
        report.outcomes.sort(key=lambda o: order[id(o.mutant)])


# --- showing what was found ------------------------------------------------------------------------


def render_report(report: ExerciseReport, out: TextIO, *, seed: int) -> None:
    style = ui.Style(out)

    def plain(text: str) -> str:
        return text if style.unicode else text.replace("→", "->").replace("…", "...")

    exercise = report.exercise
    run = len(report.chosen)
    how = f"{run} run (a sample, seed {seed})" if report.sampled else f"{run} run"
    acknowledged = f", {len(report.acknowledged)} acknowledged" if report.acknowledged else ""
    print(f"{exercise.label} {style.dash()} {report.total} mutants, {how}{acknowledged}", file=out)
    for outcome in report.outcomes:
        where = plain(outcome.mutant.where)
        if not outcome.killed:
            print(f"  {style.paint('survived', 'red')}      {where}", file=out)
        elif outcome.hung:
            limit = f"{exercise.timeout:g} s a test, {exercise.time_limit:g} s in all"
            print(f"  {style.paint('hung', 'yellow')}          {where}  (killed by the time limit: {limit})", file=out)
    for mutant, acknowledgement in report.acknowledged:
        where = f"{mutant.file}:{mutant.line}  {mutant.description}"
        print(f"  {style.paint('acknowledged', 'dim')}  {plain(where)} {style.dash()} {acknowledgement.reason}", file=out)
    for stale in report.stale:
        print(
            f"  {style.paint('stale', 'red')}         {ACKNOWLEDGEMENTS} line {stale.where}: no mutant "
            f"'{plain(stale.mutation)}' of the line '{stale.line}' in {stale.file} any more: update or remove it",
            file=out,
        )
    verdict = PASSED if report.ok else "failed"
    mark = style.paint(style.symbol(verdict), "green" if report.ok else "red")
    figures = f"{report.killed}/{len(report.outcomes)} killed ({report.score:.1f} %)"
    below = "" if report.score >= THRESHOLD else f", below the {THRESHOLD:g} % every exercise needs"
    print(f"  {mark} {figures}{below}", file=out, flush=True)


def render_total(reports: Sequence[ExerciseReport], out: TextIO) -> None:
    killed = sum(r.killed for r in reports)
    run = sum(len(r.outcomes) for r in reports)
    score = 100.0 * killed / run if run else 100.0
    low = [r for r in reports if r.score < THRESHOLD]
    stale = sum(len(r.stale) for r in reports)
    parts = [f"all {len(reports)} exercises: {killed}/{run} killed ({score:.1f} %; the course's target is {COURSE_TARGET:g} %)"]
    if low:
        parts.append(f"{len(low)} below {THRESHOLD:g} %: " + ", ".join(r.exercise.label for r in low))
    if stale:
        parts.append(f"{stale} stale acknowledgement{'s' if stale != 1 else ''}")
    print("\n" + "; ".join(parts) + ".", file=out, flush=True)
