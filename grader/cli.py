"""The ``grader`` command: parse the arguments, call one function per command, return an exit status.

Exit status: 0 when everything asked for passed, 1 when something failed, 2 for a usage error or a
course the grader cannot read (for the student's commands, an exercise whose ``exercise.toml`` is
broken: the others are still checked, and the broken one is named with its reason). The status
(``grader`` alone) is a report, not a verdict: 0 whenever it could show the progress, failing
exercises and all. ``grader grade``
(:mod:`grader.grade`) differs: 0 when grading worked, whatever the score, 2 when it could not. Nothing here
prints a traceback at a student.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__, checksums, ui
from .course import BrokenExercise, Course, CourseError, Exercise, load_course
from .progress import ProgressLine, default_jobs, default_verify_jobs, next_exercise, results_for
from .results import ERROR, PASSED, ExerciseResult, dumps, to_exercism, to_gradescope, to_junit, to_summary
from .state import State

OK, FAILED, USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        ui.error(message)
        raise SystemExit(USAGE)


def _bounded(low: int, high: int):  # type: ignore[no-untyped-def]
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Your progress through callable-katas, and the checks that grade it.")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("status", help="your progress and the next exercise (the default)")

    check = commands.add_parser("check", help="run the tests of the current or the named exercises")
    check.add_argument("exercises", nargs="*", metavar="EX", help="a number (7, 07), a slug or a folder name")
    check.add_argument("--all", action="store_true", help="check every exercise")
    check.add_argument("-v", "--verbose", action="store_true", help="every failure in full, not only the first")

    watch = commands.add_parser("watch", help="re-check the current exercise on every save")
    watch.add_argument("exercise", nargs="?", metavar="EX", help="start here (default: the first unfinished)")

    hint = commands.add_parser("hint", help="the next hint for an exercise")
    hint.add_argument("exercise", metavar="EX")
    rereading = hint.add_mutually_exclusive_group()
    rereading.add_argument("--again", action="store_true", help="reread the hints you have seen, without taking the next")
    rereading.add_argument("--all", action="store_true", help="every hint, once your exercise passes")

    verify = commands.add_parser("verify", help="for course authors: every stub fails, every solution passes")
    verify.add_argument("exercises", nargs="*", metavar="EX")
    verify.add_argument("--jobs", type=int, default=None, help="runs to make at once (default: 2 per core, at most 4)")
    verify.add_argument("--record", action="store_true", help="record the stubs' and tests' checksums first")

    mutants = commands.add_parser(
        "mutants", help="for course authors: how many mutants of the reference solution the tests kill"
    )
    mutants.add_argument("exercises", nargs="*", metavar="EX")
    mutants.add_argument("--all", action="store_true", help="every exercise")
    mutants.add_argument("--max", type=_bounded(1, 100_000), default=None, metavar="N", help="run a seeded sample of N mutants per exercise")
    mutants.add_argument("--seed", type=_bounded(0, 2**31), default=0, metavar="S", help="the sample's seed (default 0)")
    mutants.add_argument("--jobs", type=_bounded(1, 64), default=None, metavar="J", help="mutants to run at once (default: 2)")

    reset = commands.add_parser("reset", help="put an exercise's stub back as shipped (keeps a backup of yours)")
    reset.add_argument("exercise", metavar="EX")
    reset.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    reset.add_argument(
        "--graded", action="store_true", help="put back the version of your files the grader last graded instead"
    )

    solution = commands.add_parser("solution", help="the reference solution beside your code, once you pass")
    solution.add_argument("exercise", metavar="EX")
    solution.add_argument("--force", action="store_true", help="show it even before your exercise passes")
    solution.add_argument("--full", action="store_true", help="the whole reference and every difference, docstrings and comments too")

    new = commands.add_parser("new", help="for course authors: scaffold a new exercise and its solution folder")
    new.add_argument("slug", help="lower_case_name, e.g. http_caching")
    new.add_argument("--title", help="the exercise's title")
    new.add_argument("--part", type=int, default=4, choices=[1, 2, 3, 4], help="the book's part (default 4)")

    bench = commands.add_parser("bench", help="your server against wsgiref or uvicorn, side by side (07, 08, 15)")
    bench.add_argument("exercise", metavar="EX")
    bench.add_argument("--requests", type=_bounded(1, 100_000), default=2000, help="requests per server (default 2000)")
    bench.add_argument("--concurrency", type=_bounded(1, 64), default=4, help="client threads (default 4)")
    bench.add_argument("--seconds", type=_bounded(1, 60), default=10, help="time cap per server (default 10)")

    report = commands.add_parser("report", help="machine-readable results for CI and learning platforms")
    report.add_argument("exercises", nargs="*", metavar="EX")
    report.add_argument("--all", action="store_true", help="every exercise (the default when none is named)")
    report.add_argument("--format", required=True, choices=["json", "junit", "gradescope", "summary"])
    report.add_argument("--assignment", metavar="A", help="only this assignment's exercises, its points (assignments.toml)")
    report.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    report.add_argument(
        "--restore-tests", action="store_true", help="for CI grading: put back any edited test file before grading"
    )

    grade = commands.add_parser(
        "grade", help="for CI and Gradescope: grade a submission in a fresh copy of the course's own tests"
    )
    grade.add_argument("exercises", nargs="*", metavar="EX", help="the exercises to grade (default: every one)")
    grade.add_argument(
        "--submission", metavar="DIR", help="the student's files: a course folder or a flat upload (default: this course)"
    )
    grade.add_argument("--assignment", metavar="A", help="grade only this assignment's exercises (assignments.toml)")
    grade.add_argument(
        "--out", metavar="DIR", default="grader-results",
        help="where gradescope.json, results.json, junit.xml and summary.md go (default: grader-results/)",
    )

    roster = commands.add_parser(
        "roster", help="for instructors: grade every student's repository of a CSV roster into one grade sheet"
    )
    roster.add_argument("roster", nargs="?", metavar="ROSTER.csv", help="columns student,repository[,assignment,deadline]")
    roster.add_argument("--assignment", metavar="A", help="the assignment of every row that names none")
    roster.add_argument("--deadline", metavar="T", help="ISO 8601: grade the last commit at or before it (rows without their own)")
    roster.add_argument("--jobs", type=_bounded(1, 64), default=1, metavar="J", help="students graded at once (default 1)")
    roster.add_argument("--shard", metavar="k/N", help="grade only shard k of N (rows i with i %% N == k-1)")
    roster.add_argument(
        "--timeout", type=_bounded(1, 86_400), default=1200, metavar="S", help="seconds to grade one student (default 1200)"
    )
    roster.add_argument("--merge", nargs="+", metavar="DIR", help="join the shards' --out folders into --out (no roster)")
    roster.add_argument("--out", metavar="DIR", help="where grades.csv, report.html and roster.json go (default: roster-results/)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        command = args.command or "status"
        return COMMANDS[command](args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else USAGE
    except CourseError as exc:
        ui.error(str(exc))
        return USAGE
    except BrokenPipeError:  # `grader | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except KeyboardInterrupt:
        # The grader is on its way out: another press must not cut short the line that says so.
        if _in_main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        ui.error("interrupted; your files and the grader's state are as they were")
        return 130
    except Exception as exc:  # a bug in the grader must still not throw a traceback at a student
        if os.environ.get("GRADER_DEBUG"):
            raise
        ui.error(
            f"internal error ({type(exc).__name__}: {exc}). This is a bug in the grader, not in your code; "
            "set GRADER_DEBUG=1 to see the details."
        )
        return USAGE


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _announce(exercise: Exercise) -> None:
    if sys.stderr.isatty():
        print(f"checking {exercise.label} …", file=sys.stderr, flush=True)


def _open() -> tuple[Course, State]:
    """The course for a student's command: an exercise with a broken ``exercise.toml`` does not stop
    the others (it is in ``course.broken``); whatever goes wrong with the state is said once."""
    course = load_course(lenient=True)
    state = State.for_course(course, on_notice=ui.error)
    return course, state


def _chosen(course: Course, names: Sequence[str]) -> list[Exercise]:
    chosen: list[Exercise] = []
    for name in names:
        exercise = course.resolve(name)
        if exercise not in chosen:
            chosen.append(exercise)
    return chosen


def _chosen_or_broken(course: Course, names: Sequence[str]) -> tuple[list[Exercise], list[BrokenExercise]]:
    """The exercises named, and apart from them the named ones whose metadata is broken."""
    chosen: list[Exercise] = []
    broken: list[BrokenExercise] = []
    for name in names:
        found = course.find(name)
        into: list = broken if isinstance(found, BrokenExercise) else chosen
        if found not in into:
            into.append(found)
    return chosen, broken


def exercise_here(course: Course, cwd: Path | None = None) -> Exercise | BrokenExercise | None:
    """The exercise whose folder (or a subfolder of it) the grader runs in: what "this one" means there."""
    try:
        inside = (cwd or Path.cwd()).resolve().relative_to(course.exercises_dir.resolve())
    except (OSError, ValueError):  # not inside the course's exercises/ (or the folder is gone)
        return None
    if not inside.parts:
        return None
    return next((e for e in [*course.exercises, *course.broken] if e.name == inside.parts[0]), None)


def _say_broken(broken: Sequence[BrokenExercise]) -> None:
    for exercise in broken:
        ui.error(exercise.sentence)


def cmd_status(args: argparse.Namespace) -> int:
    course, state = _open()
    if not course.exercises and not course.broken:
        print("This course has no exercises yet.")
        return OK
    from . import assignments

    try:  # a broken assignments.toml costs the grouping, not the status
        defined = assignments.load(course)
    except assignments.AssignmentError as exc:
        ui.error(str(exc))
        defined = []
    pairs = results_for(course, course.exercises, state, on_run=_announce, jobs=default_jobs())
    state.save()
    ui.render_status(course, pairs, sys.stdout, assignments=defined)
    ui.render_edited_tests(course, checksums.load(course), sys.stdout)
    following = next_exercise(pairs)
    if following is not None or not course.broken:  # "every exercise passes" is not true of a broken one
        ui.render_next(following, course, sys.stdout)
    _say_broken(course.broken)
    return USAGE if course.broken else OK


def cmd_check(args: argparse.Namespace) -> int:
    course, state = _open()
    broken: list[BrokenExercise] = []
    if args.all:
        chosen, broken = list(course.exercises), list(course.broken)
    elif args.exercises:
        chosen, broken = _chosen_or_broken(course, args.exercises)
    elif (here := exercise_here(course)) is not None:  # run inside an exercise's folder: that one
        if isinstance(here, BrokenExercise):
            _say_broken([here])
            return USAGE
        chosen = [here]
    else:
        current = next_exercise(results_for(course, course.exercises, state, on_run=_announce))
        if current is None:
            state.save()
            if course.broken:
                _say_broken(course.broken)
                return USAGE
            print("Every exercise passes. Name one to check it again: grader check 01")
            return OK
        chosen = [current]
    if len(chosen) > 1:  # long work: a live line on a terminal, a plain line per exercise in a log
        with ProgressLine(verb="checking") as progress:
            pairs = results_for(course, chosen, state, run_pristine=True, jobs=default_jobs(), progress=progress)
    else:
        pairs = results_for(course, chosen, state, run_pristine=True, on_run=_announce, jobs=default_jobs())
    statuses = _prerequisite_statuses(course, [e for e, r in pairs if r.status != PASSED], state)
    state.save()
    for index, (exercise, result) in enumerate(pairs):
        if index:
            print()
        ui.render_check(exercise, result, sys.stdout, unmet=ui.unmet_prerequisites(exercise, statuses), verbose=args.verbose)
        _offer_graded(course, exercise)
    _say_broken(broken)
    if broken:
        return USAGE
    return OK if all(r.status == PASSED for _, r in pairs) else FAILED


def _offer_graded(course: Course, exercise: Exercise) -> None:
    """A student file that is gone (or emptied), when the grader kept the version it graded last."""
    from .pristine import graded_versions

    kept = graded_versions(course, exercise)
    lost = [name for name in kept if _is_gone(exercise, name)]
    if lost:
        style = ui.Style(sys.stdout)
        names = ", ".join(lost)
        print(
            style.paint(
                f"  note: {names} is gone or empty; the grader kept the version it last graded: "
                f"`grader reset {exercise.number:02d} --graded` puts it back",
                "yellow",
            )
        )


def _is_gone(exercise: Exercise, name: str) -> bool:
    try:
        return (exercise.path / name).stat().st_size == 0
    except OSError:
        return True


def _prerequisite_statuses(course: Course, failing: list[Exercise], state: State) -> dict[int, str]:
    """Whether the exercises that ``failing`` ones build on pass (from the cache when it is true)."""
    wanted = {n for e in failing for n in e.builds_on}
    earlier = [e for e in course.exercises if e.number in wanted]
    return {e.number: r.status for e, r in results_for(course, earlier, state, on_run=_announce)}


def cmd_watch(args: argparse.Namespace) -> int:
    from .watch import watch

    course, state = _open()
    if not course.exercises:
        print("This course has no exercises yet.")
        return OK
    here = exercise_here(course)
    if args.exercise or here is not None:  # inside an exercise's folder, that one (a broken one says why)
        start = course.resolve(args.exercise or here.name)  # type: ignore[union-attr]
    else:
        start = None  # the watcher picks: the exercise last edited that does not pass
    return watch(course, state, start)


def cmd_hint(args: argparse.Namespace) -> int:
    """One more hint each call; ``--again`` rereads those seen for free; ``--all`` once it passes."""
    course, state = _open()
    exercise = course.resolve(args.exercise)
    hints, number = exercise.hints, f"{exercise.number:02d}"
    again, every = getattr(args, "again", False), getattr(args, "all", False)
    if not hints:
        print(f"{exercise.label} has no hints. Its README.md explains the goal step by step.")
        return OK
    seen = min(state.hints_shown(exercise), len(hints))
    if again and seen == 0:
        print(f"You have not taken a hint for {exercise.label} yet: `grader hint {number}` shows the first.")
        return OK
    if every:
        [(_, result)] = results_for(course, [exercise], state, on_run=_announce)
        if result.status != PASSED:
            state.save()
            ui.error(
                f"{exercise.label} does not pass yet, so `--all` would give the answers away: "
                f"`grader hint {number}` takes the next hint, `grader hint {number} --again` rereads yours."
            )
            return FAILED
        shown = len(hints)
    else:
        shown = seen if again else min(seen + 1, len(hints))
    if shown != seen:
        state.set_hints_shown(exercise, shown)
    state.save()
    print(f"Hints for {exercise.label} — {exercise.title}")
    for index, text in enumerate(hints[:shown], start=1):
        print(f"\n{index}/{len(hints)}  {text}")
    if shown == len(hints):
        print("\nThat was the last hint. The README's spec sections have the rest of the story.")
    elif again:
        those = "That is the hint" if shown == 1 else f"Those are the {shown} hints"
        print(f"\n{those} you have seen. `grader hint {number}` takes the next one.")
    else:
        print(f"\nRun `grader hint {number}` again for the next one (`--again` rereads these without taking one).")
    return OK


def cmd_verify(args: argparse.Namespace) -> int:
    from .solutions import solutions_folder
    from .verify import verify

    course = load_course()
    if args.record:
        print(f"recorded checksums in {checksums.record(course).relative_to(course.root)}")
    chosen = _chosen(course, args.exercises) if args.exercises else list(course.exercises)
    style = ui.Style(sys.stdout)

    def show(verdict) -> None:  # type: ignore[no-untyped-def]
        stub, solution = verdict.stub, verdict.solution
        figures = (
            f"stub fails {stub.total_count - stub.passed_count}/{stub.total_count}, "
            f"solution passes {solution.passed_count}/{solution.total_count} "
            f"({stub.duration + solution.duration:.1f} s)"
        )
        mark = style.paint(style.symbol(PASSED if verdict.ok else "failed"), "green" if verdict.ok else "red")
        with progress.above():
            print(f"{mark} {verdict.exercise.label}: {figures}", flush=True)
            for problem in verdict.problems:
                print(f"    {problem}", flush=True)
            finished.add(verdict.exercise.name)
            progress.update(done=len(finished), running=running())

    workers = args.jobs or default_verify_jobs()
    finished: set[str] = set()
    started_runs: set[str] = set()

    def running() -> list[str]:
        return [e.label for e in chosen if e.name in started_runs and e.name not in finished]

    def on_start(exercise: Exercise) -> None:
        started_runs.add(exercise.name)
        progress.update(done=len(finished), running=running())

    started = time.monotonic()
    with ProgressLine(len(chosen), verb="verifying") as progress, solutions_folder(course) as solutions:
        progress.update(done=0, running=running())
        verdicts = verify(course, chosen, solutions, jobs=workers, on_done=show, on_start=on_start)
    bad = [v for v in verdicts if not v.ok]
    elapsed = time.monotonic() - started
    if bad:
        print(f"\n{len(bad)} of {len(verdicts)} exercises have problems ({elapsed:.0f} s).")
        return FAILED
    print(f"\nAll {len(verdicts)} exercises verified: every stub fails, every solution passes ({elapsed:.0f} s).")
    return OK


def cmd_mutants(args: argparse.Namespace) -> int:
    from . import mutants
    from .solutions import solutions_folder

    course = load_course()
    if args.all:
        chosen = list(course.exercises)
    elif args.exercises:
        chosen = _chosen(course, args.exercises)
    else:
        ui.error("name the exercises whose tests to measure (grader mutants 02), or use --all")
        return USAGE
    started = time.monotonic()
    with solutions_folder(course) as solutions:
        reports = [mutants.plan(e, solutions, max_count=args.max, seed=args.seed) for e in chosen]
        shown = 0
        jobs = args.jobs or default_jobs()
        progress = ProgressLine(sum(len(r.chosen) for r in reports), noun="mutants", verb="mutants of")

        def show_finished(*_: object) -> None:
            nonlocal shown  # reports print in course order, each once all its mutants have run
            with progress.above():
                while shown < len(reports) and len(reports[shown].outcomes) == len(reports[shown].chosen):
                    report = reports[shown]
                    if shown:
                        print()
                    mutants.render_report(report, sys.stdout, seed=args.seed)
                    shown += 1
                done = sum(len(r.outcomes) for r in reports)
                progress.update(done=done, running=_mutants_running(reports, jobs))

        with progress:
            show_finished()
            mutants.run_mutants(course, reports, solutions, jobs=jobs, on_outcome=show_finished)
            show_finished()
    if len(reports) > 1:
        mutants.render_total(reports, sys.stdout)
    print(f"({time.monotonic() - started:.0f} s)")
    return OK if all(r.ok for r in reports) else FAILED


def _mutants_running(reports: Sequence, jobs: int) -> list[str]:  # type: ignore[type-arg]
    """The exercises whose mutants run now: the pool takes mutants in order, ``jobs`` at a time, so
    the running ones are the first ``jobs`` that have no outcome yet."""
    running: list[str] = []
    left = jobs
    for report in reports:
        if left <= 0:
            break
        waiting = len(report.chosen) - len(report.outcomes)
        if waiting > 0:
            running.append(report.exercise.label)
            left -= waiting
    return running


def cmd_report(args: argparse.Namespace) -> int:
    from . import assignments
    from .results import passes, score

    course, state = _open()
    alone = None
    if args.assignment is not None:
        if args.exercises or args.all:
            ui.error(f"name the exercises or an assignment, not both: grader report --assignment {args.assignment}")
            return USAGE
        alone = assignments.find(assignments.load(course), args.assignment)
        chosen, broken = _chosen_or_broken(course, alone.exercises)
    elif args.exercises and not args.all:
        chosen, broken = _chosen_or_broken(course, args.exercises)
    else:
        chosen, broken = list(course.exercises), list(course.broken)
    if args.restore_tests:
        from .pristine import restore_tests

        for exercise in chosen:
            for name, saved in restore_tests(course, exercise):
                kept = f"; your version is in {saved.relative_to(course.root)}" if saved else ""
                if (exercise.path / name).exists():
                    ui.error(f"{exercise.name}/{name} differed from the course's test file: restored before grading{kept}")
                else:
                    ui.error(f"{exercise.name}/{name} is not one of the course's test files: removed before grading{kept}")
    started = time.monotonic()
    pairs = results_for(course, chosen, state, run_pristine=True, on_run=_announce, jobs=default_jobs())
    state.save()
    # A broken exercise still counts, for nothing: leaving it out would shrink what the score is out of.
    pairs = sorted([*pairs, *(_broken_pair(b) for b in broken)], key=lambda pair: pair[0].number)
    sheet = score(pairs, total=alone.points if alone else None, assignment=alone.name if alone else None)
    if args.format == "json":
        text = dumps(to_exercism(pairs, sheet=sheet))
    elif args.format == "gradescope":
        text = dumps(to_gradescope(pairs, time.monotonic() - started, sheet=sheet))
    elif args.format == "junit":
        text = to_junit(pairs, sheet=sheet)
    else:
        text = to_summary(pairs, sheet=sheet)
    if args.output:
        target = Path(args.output)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CourseError(f"cannot write {target}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    _say_broken(broken)
    if broken:
        return USAGE
    return OK if all(passes(r) for _, r in pairs) else FAILED


def _broken_pair(broken: BrokenExercise) -> tuple[Exercise, ExerciseResult]:
    """A broken exercise as a report shows it: an error worth the default points, none of them earned."""
    stand_in = Exercise(
        path=broken.path, number=broken.number, slug=broken.slug, title="(its exercise.toml cannot be read)",
        part=1, chapter="", files=(),
    )
    return stand_in, ExerciseResult(exercise=broken.name, status=ERROR, message=broken.sentence)


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import main as grade

    return grade(args.exercises, args.submission, args.out, args.assignment)


def cmd_reset(args: argparse.Namespace) -> int:
    from .pristine import graded_copy, graded_versions, pristine_stub, reset, restore_graded

    course, _ = _open()
    exercise = course.resolve(args.exercise)
    kept = graded_versions(course, exercise)  # the last graded version, where it differs from the file now
    if args.graded:
        if not kept:
            print(f"The grader keeps no version of {', '.join(exercise.files)} that differs from yours: nothing changed.")
            return OK
        return _put_back(course, restore_graded(course, exercise), "the version last graded")
    for name in exercise.files:  # refuse before asking when the pristine stub cannot be found
        pristine_stub(course, exercise, name)
    files = ", ".join(exercise.files)
    lost = [name for name in kept if _is_gone(exercise, name)]
    if lost:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(graded_copy(course, exercise, lost[0]).stat().st_mtime))
        offer = (
            f"{', '.join(lost)} is gone or empty, and the grader kept the version it last graded ({when}): "
            f"`grader reset {exercise.number:02d} --graded` puts that back."
        )
    if not args.yes:
        if not sys.stdin.isatty():
            if lost:
                ui.error(offer)
            ui.error(f"reset needs a confirmation: run `grader reset {exercise.number:02d} --yes` to restore {files}")
            return USAGE
        if lost:
            print(offer)
            answer = input(
                f"Put back [g] the version last graded, [s] the original {files}, or [n] nothing? [g/s/N] "
            ).strip().lower()
            if answer in ("g", "graded"):
                return _put_back(course, restore_graded(course, exercise), "the version last graded")
            if answer not in ("s", "stub"):
                print("Nothing changed.")
                return OK
        else:
            answer = input(f"Restore the original {files} of {exercise.label}? Your version is kept in .grader/backups/. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing changed.")
                return OK
    code = _put_back(course, reset(course, exercise), "the original")
    if lost and args.yes:
        print(offer)
    return code


def _put_back(course: Course, done: list[tuple[str, Path | None, bool]], what: str) -> int:
    for name, saved, changed in done:
        if saved is not None:
            print(f"Restored {name} ({what}); your version is in {saved.relative_to(course.root)}")
        elif changed:
            print(f"Restored {name} ({what}).")
        else:
            print(f"{name} was already {what}.")
    return OK


def cmd_solution(args: argparse.Namespace) -> int:
    from .solutions import TerminalBuffer, read_solution, render_code_diff, show

    course, state = _open()
    exercise = course.resolve(args.exercise)
    if not args.force:
        [(_, result)] = results_for(course, [exercise], state, on_run=_announce)
        state.save()
        if result.status != PASSED:
            ui.error(
                f"{exercise.label} does not pass yet, and the solution is more use after you have solved it. "
                f"`grader hint {exercise.number:02d}` helps; `grader solution {exercise.number:02d} --force` shows it anyway."
            )
            return FAILED
    # Everything is written to a buffer first, then shown at once: through a pager on a terminal.
    text = TerminalBuffer(sys.stdout)
    for name in exercise.files:
        reference = read_solution(course, exercise, name)
        try:
            mine = (exercise.path / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            mine = ""
        if getattr(args, "full", False):
            ui.render_solution(exercise, name, mine, reference, text)
        else:
            render_code_diff(name, mine, reference, ui.Style(text), text)
    show(text.getvalue(), sys.stdout)
    return OK


def cmd_bench(args: argparse.Namespace) -> int:
    from bench import bench

    course = load_course()
    exercise = course.resolve(args.exercise)
    return bench(
        course, exercise, sys.stdout, requests=args.requests, concurrency=args.concurrency, seconds=args.seconds
    )


def cmd_new(args: argparse.Namespace) -> int:
    from .authoring import scaffold

    course = load_course()
    folder = scaffold(course, args.slug, title=args.title, part=args.part)
    print(f"Created {folder.relative_to(course.root)}/ and solutions/{folder.name}/.")
    print("Fill in the README, the stub, the tests and the solution, then record and prove it:")
    print(f"  grader verify --record {folder.name}")
    return OK


def cmd_roster(args: argparse.Namespace) -> int:
    from .roster import main as roster

    return roster(
        args.roster, merge_folders=args.merge, out=args.out, assignment=args.assignment, deadline=args.deadline,
        jobs=args.jobs, shard=args.shard, timeout=args.timeout,
    )


COMMANDS = {
    "status": cmd_status,
    "check": cmd_check,
    "hint": cmd_hint,
    "watch": cmd_watch,
    "verify": cmd_verify,
    "mutants": cmd_mutants,
    "report": cmd_report,
    "grade": cmd_grade,
    "roster": cmd_roster,
    "reset": cmd_reset,
    "solution": cmd_solution,
    "new": cmd_new,
    "bench": cmd_bench,
}
