"""The result model — course → exercise → test — and its machine-readable forms.

One ``ExerciseResult`` per exercise run, holding one ``TestResult`` per test in file order. The forms
CI and learning platforms read are built from these: exercism's results.json v3, Gradescope's
results.json, JUnit XML, a Markdown summary table for a CI job page, and ``points.json``. Every one
carries points, from one :class:`Scoresheet` (exact fractions, rounded once where a report shows them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from .course import Exercise
from .held_back import is_held_back

# What an exercise can be, as the student sees it.
PASSED = "passed"
FAILED = "failed"
NOT_STARTED = "not_started"
TIMED_OUT = "timed_out"
CRASHED = "crashed"
ERROR = "error"  # the tests could not run: a syntax or import error, no tests collected

EXERCISM_OUTPUT_LIMIT = 500


@dataclass
class TestResult:
    nodeid: str
    outcome: str  # passed | failed | error | skipped
    message: str = ""
    location: str = ""
    spec: str = ""
    reference: bool = False
    duration: float = 0.0
    output: str = ""
    test_code: str = ""
    skip_origin: str = ""  # where a skip was raised: course | mark | xfail | student | other (grader.plugin)
    test_location: str = ""  # the test function's own line that failed (``location`` prefers the student's)
    server: dict[str, str] = field(default_factory=dict)  # the server's side of a failure (grader.server_side)

    @property
    def name(self) -> str:
        """``test_reads_the_body[wsgiref]``: the part of the node id after the file."""
        return self.nodeid.rsplit("::", 1)[-1]

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass
class ExerciseResult:
    exercise: str  # the folder name, 01_http_client
    status: str
    tests: list[TestResult] = field(default_factory=list)
    message: str = ""  # why, when the exercise timed out, crashed or could not run
    location: str = ""
    duration: float = 0.0
    output: str = ""  # the tail of what the run printed, when that explains a crash
    tampered: bool = False  # the run's checks failed (grader.runner.TAMPERED): it scores 0

    @property
    def graded(self) -> list[TestResult]:
        """The tests that count: reference runs prove a test, and a test the course itself skipped does
        not apply here (the runner has already turned every other skip into a failure)."""
        return [t for t in self.tests if not t.reference and t.outcome != "skipped"]

    @property
    def passed_count(self) -> int:
        return sum(t.passed for t in self.graded)

    @property
    def total_count(self) -> int:
        return len(self.graded)

    def first_failure(self) -> TestResult | None:
        return next((t for t in self.graded if t.outcome in ("failed", "error")), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExerciseResult:
        tests = [TestResult(**t) for t in data.get("tests", [])]
        return cls(**{**data, "tests": tests})


def not_started(exercise: Exercise) -> ExerciseResult:
    return ExerciseResult(exercise=exercise.name, status=NOT_STARTED)


def points_earned(exercise: Exercise, result: ExerciseResult) -> float:
    """The exercise's points earned (the nearest float to the exact fraction :func:`score` counts)."""
    return float(score([(exercise, result)]).exercises[0].earned)


def passes(result: ExerciseResult) -> bool:
    """The one rule for "this exercise passes": it ran, was not tampered with, and every graded test
    passed — and there was at least one. An exercise whose every test was skipped does not pass."""
    return result.status == PASSED and not result.tampered and bool(result.graded) and all(t.passed for t in result.graded)


def verdict(result: ExerciseResult) -> str:
    """The status a report shows: the run's own, except that "passed" needs :func:`passes`."""
    return FAILED if result.status == PASSED and not passes(result) else result.status


# --- points: exact fractions, rounded once ----------------------------------------------------------

# Reports show a test's share in ten-thousandths of a point and totals in hundredths. Shares are
# counted as exact fractions (10 points over 3 tests is 10/3 each, not 3.3333), and where a report
# must show rounded shares they are apportioned (largest remainder) so that they still add up to the
# exercise's points, and the exercises' to the total, exactly: never 9.9999/10 or 400.0016/400.
TEST_PLACES = 4
TOTAL_PLACES = 2


def weight_of(exercise: Exercise, name: str) -> Fraction:
    """A test's weight in its exercise (``weights`` in ``exercise.toml``; 1 when none applies).

    A key equal to the test's name (``test_reads_the_body[wsgiref]``) wins; otherwise the longest key
    the name starts with (``test_reads`` weighs every parametrised case and every ``test_reads_*``).
    """
    weights = dict(exercise.weights)
    if name in weights:
        return _exact(weights[name])
    prefixes = [key for key in weights if name.startswith(key)]
    return _exact(weights[max(prefixes, key=len)]) if prefixes else Fraction(1)


def _exact(value: float | int | Fraction) -> Fraction:
    """The number an author wrote, exactly: ``2.5`` is 5/2 and ``0.1`` is 1/10 (not the binary float)."""
    return value if isinstance(value, Fraction) else Fraction(str(value))


@dataclass(frozen=True)
class TestPoints:
    test: TestResult
    max: Fraction
    earned: Fraction  # max when the test passed (and the exercise was not tampered with), else 0


@dataclass(frozen=True)
class ExercisePoints:
    exercise: Exercise
    result: ExerciseResult
    max: Fraction
    tests: tuple[TestPoints, ...]  # the graded tests, in file order

    @property
    def earned(self) -> Fraction:
        return sum((t.earned for t in self.tests), Fraction(0))


@dataclass(frozen=True)
class Scoresheet:
    """Every exercise's points and each graded test's share, as exact fractions."""

    exercises: tuple[ExercisePoints, ...]
    assignment: str | None = None

    @property
    def max(self) -> Fraction:
        return sum((e.max for e in self.exercises), Fraction(0))

    @property
    def earned(self) -> Fraction:
        return sum((e.earned for e in self.exercises), Fraction(0))

    def shown(self) -> list[list[int]]:
        """Each exercise's test shares in whole ten-thousandths, in order, summing exactly to the
        exercise's points shown (the exercises' to the total shown). An exercise with no graded test
        gets one share, its whole points (reports show it as one row that scored nothing)."""
        unit = 10**TEST_PLACES
        per_exercise = apportion([e.max * unit for e in self.exercises], _round_half_up(self.max * unit))
        return [
            apportion([t.max * unit for t in exercise.tests], units) if exercise.tests else [units]
            for exercise, units in zip(self.exercises, per_exercise)
        ]


def score(
    pairs: Sequence[tuple[Exercise, ExerciseResult]], *, total: Fraction | None = None, assignment: str | None = None
) -> Scoresheet:
    """The points of ``pairs``: each exercise's ``points`` split across its graded tests by weight.

    ``total`` (an assignment's ``points``) scales the exercises' points so that they add up to it.
    An exercise that was tampered with, or has no graded test, earns nothing.
    """
    maxima = [_exact(exercise.points) for exercise, _ in pairs]
    if total is not None:
        whole = sum(maxima, Fraction(0))
        maxima = [m * total / whole if whole else total / len(maxima) for m in maxima]
    exercises = []
    for (exercise, result), maximum in zip(pairs, maxima):
        graded = result.graded
        weights = [weight_of(exercise, t.name) for t in graded]
        whole = sum(weights, Fraction(0))
        tests = tuple(
            TestPoints(
                test=t,
                max=maximum * w / whole,
                earned=maximum * w / whole if t.passed and not result.tampered else Fraction(0),
            )
            for t, w in zip(graded, weights)
        )
        exercises.append(ExercisePoints(exercise=exercise, result=result, max=maximum, tests=tests))
    return Scoresheet(exercises=tuple(exercises), assignment=assignment)


def apportion(shares: Sequence[Fraction], total: int) -> list[int]:
    """Whole numbers, one per share, close to it, that add up to ``total`` exactly.

    The largest-remainder method: every share is rounded down, and the units still missing go to the
    shares that lost the most (the earlier one on a tie). ``total`` is the shares' sum rounded.
    """
    floors = [math.floor(share) for share in shares]
    missing = total - sum(floors)
    by_loss = sorted(range(len(shares)), key=lambda i: (floors[i] - shares[i], i))
    for index in by_loss[:missing]:
        floors[index] += 1
    return floors


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def rounded(value: Fraction, places: int = TOTAL_PLACES) -> float:
    """``value`` rounded once, half up, as the number a JSON report carries."""
    scale = 10**places
    return _round_half_up(value * scale) / scale


def show(value: Fraction | float, places: int = TOTAL_PLACES) -> str:
    """``12.5``, ``10``, ``3.33``: a number of points for people, no trailing zeros."""
    number = rounded(_exact(value), places)
    return f"{number:.{places}f}".rstrip("0").rstrip(".")


def to_points(sheet: Scoresheet, error: str | None = None) -> dict[str, Any]:
    """``points.json``: the exact total (a fraction), and every exercise's points rounded once."""
    return {
        "version": 1,
        "assignment": sheet.assignment,
        "total": str(sheet.earned),
        "total_points": rounded(sheet.earned),
        "max_points": rounded(sheet.max),
        "exercises": [
            {
                "exercise": e.exercise.name,
                "status": verdict(e.result),
                "points": rounded(e.earned),
                "max_points": rounded(e.max),
                "passed": e.result.passed_count,
                "tests": e.result.total_count,
            }
            for e in sheet.exercises
        ],
        "error": error,
    }


def _units(units: int) -> float:
    return units / 10**TEST_PLACES


# --- exercism results.json v3 -----------------------------------------------------------------------


def to_exercism(pairs: Sequence[tuple[Exercise, ExerciseResult]], *, sheet: Scoresheet | None = None) -> dict[str, Any]:
    """Exercism's results.json v3; with several exercises, each test is named ``NN_slug::test``.

    Beyond the interface's fields: ``points`` and ``max_points`` at the top (the total, rounded once)
    and on each test (its share, apportioned). An exercise with no graded test is one test that
    failed (or errored), so the document never says "pass" for an exercise nothing was proved of.
    """
    sheet = sheet or score(pairs)
    shown = sheet.shown()
    tests: list[dict[str, Any]] = []
    problems: list[str] = []
    ran = False
    for index, points in enumerate(sheet.exercises):
        exercise, result = points.exercise, points.result
        prefix = "" if len(pairs) == 1 else f"{exercise.name}::"
        if not points.tests:
            why = result.message or (
                "every test of this exercise was skipped" if result.status == PASSED else result.status.replace("_", " ")
            )
            problems.append(f"{exercise.name}: {why}")
            tests.append(
                {
                    "name": f"{prefix}(the exercise)",
                    "status": "error" if result.status in (ERROR, CRASHED, TIMED_OUT) else "fail",
                    "message": why,
                    "output": (result.output[-EXERCISM_OUTPUT_LIMIT:] or None),
                    "test_code": "",
                    "task_id": exercise.number,
                    "points": 0.0,
                    "max_points": _units(shown[index][0]),
                }
            )
            continue
        ran = True
        for test, units in zip(points.tests, shown[index]):
            status = {"passed": "pass", "error": "error"}.get(test.test.outcome, "fail")
            tests.append(
                {
                    "name": f"{prefix}{test.test.name}",
                    "status": status,
                    "message": test.test.message or None,
                    "output": (test.test.output[-EXERCISM_OUTPUT_LIMIT:] or None),
                    "test_code": test.test.test_code,
                    "task_id": exercise.number,
                    "points": _units(units) if test.earned else 0.0,
                    "max_points": _units(units),
                }
            )
    totals = {"points": rounded(sheet.earned), "max_points": rounded(sheet.max)}
    ran = ran or any(e.result.status == PASSED for e in sheet.exercises)  # skipped tests ran: "fail", not "error"
    if not ran:  # the interface's "error": no test ran at all (a syntax error, nothing to grade)
        message = "; ".join(problems) or "no test ran"
        return {"version": 3, "status": "error", "message": message, **totals, "tests": tests}
    all_passed = all(passes(e.result) for e in sheet.exercises)
    document: dict[str, Any] = {"version": 3, "status": "pass" if all_passed else "fail", **totals, "tests": tests}
    if problems:
        document["message"] = "; ".join(problems)
    return document


# --- Gradescope results.json ------------------------------------------------------------------------


def to_gradescope(
    pairs: Sequence[tuple[Exercise, ExerciseResult]], execution_time: float, *, sheet: Scoresheet | None = None
) -> dict[str, Any]:
    """Gradescope's results.json: one test per graded test, its share of its exercise's points.

    The shares shown add up exactly to each exercise's points and to the total; ``score`` is the sum
    of the scores shown, so a full submission scores exactly the maximum. ``execution_time`` is whole
    seconds, and ``extra_data`` holds :func:`to_points` (the exact total, per-exercise points).
    """
    sheet = sheet or score(pairs)
    shown = sheet.shown()
    tests: list[dict[str, Any]] = []
    earned_units = 0
    for index, points in enumerate(sheet.exercises):
        exercise, result = points.exercise, points.result
        if not points.tests:
            tests.append(
                {
                    "score": 0,
                    "max_score": _units(shown[index][0]),
                    "status": "failed",
                    "name": f"{exercise.label}: {exercise.title}",
                    "number": f"{exercise.number}",
                    "output": result.message or result.status.replace("_", " "),
                    "tags": [exercise.slug],
                    "visibility": "visible",
                }
            )
            continue
        for number, (test, units) in enumerate(zip(points.tests, shown[index]), start=1):
            counted = units if test.earned else 0
            earned_units += counted
            tests.append(
                {
                    "score": _units(counted),
                    "max_score": _units(units),
                    "status": "passed" if test.test.passed else "failed",
                    "name": f"{exercise.label}: {test.test.name}",
                    "number": f"{exercise.number}.{number}",
                    "output": _gradescope_output(test.test),
                    "tags": [exercise.slug],
                    # Held-back tests (grader/held_back.py) stay hidden until the due date has passed.
                    "visibility": "after_due_date" if is_held_back(test.test.nodeid) else "visible",
                }
            )
    return {
        "score": _units(earned_units),
        "execution_time": max(0, round(execution_time)),
        "output": f"{sum(1 for t in tests if t['status'] == 'passed')} of {len(tests)} tests passed",
        "visibility": "visible",
        "extra_data": to_points(sheet),
        "tests": tests,
    }


def _gradescope_output(test: TestResult) -> str:
    if test.passed:
        return ""
    lines = [test.message]
    if test.spec:
        lines.append(f"spec: {test.spec}")
    if test.location:
        lines.append(f"at {test.location}")
    return "\n".join(line for line in lines if line)


# --- JUnit XML --------------------------------------------------------------------------------------


def to_junit(pairs: Sequence[tuple[Exercise, ExerciseResult]], *, sheet: Scoresheet | None = None) -> str:
    """JUnit XML, one testsuite per exercise. Points go where the format keeps extra facts: a
    ``<properties>`` element (first child) on each testcase (``points``, ``max_points``: its share) and
    on each testsuite (the exercise's points, and the report's ``total_points``/``total_max_points``)."""
    import xml.etree.ElementTree as ET  # only CI asks for JUnit: keep it off the status path

    sheet = sheet or score(pairs)
    shown = sheet.shown()
    totals = {"total_points": show(sheet.earned), "total_max_points": show(sheet.max)}
    suites = ET.Element("testsuites", name="callable-katas")
    for index, points in enumerate(sheet.exercises):
        exercise, result = points.exercise, points.result
        graded = result.graded
        failures = sum(t.outcome == "failed" for t in graded)
        errors = sum(t.outcome == "error" for t in graded)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=exercise.name,
            tests=str(len(graded) or 1),
            failures=str(failures if graded or result.status in (ERROR, CRASHED, TIMED_OUT) else 1),
            errors=str(errors if graded else int(result.status in (ERROR, CRASHED, TIMED_OUT))),
            skipped="0",
            time=f"{result.duration:.3f}",
        )
        _properties(suite, {"points": show(points.earned), "max_points": show(points.max), **totals})
        if not graded:
            case = ET.SubElement(suite, "testcase", classname=exercise.name, name="(the exercise)", time="0")
            _properties(case, {"points": "0", "max_points": show(_units(shown[index][0]), TEST_PLACES)})
            tag = "error" if result.status in (ERROR, CRASHED, TIMED_OUT) else "failure"
            why = result.message or ("every test of this exercise was skipped" if result.status == PASSED else result.status)
            element = ET.SubElement(case, tag, message=why, type=result.status)
            element.text = "\n".join(filter(None, [result.message, result.location, result.output]))
            continue
        for test, units in zip(points.tests, shown[index]):
            case = ET.SubElement(
                suite, "testcase", classname=exercise.name, name=test.test.name, time=f"{test.test.duration:.3f}"
            )
            worth = show(_units(units), TEST_PLACES)
            _properties(case, {"points": worth if test.earned else "0", "max_points": worth})
            if test.test.outcome in ("failed", "error"):
                tag = "failure" if test.test.outcome == "failed" else "error"
                element = ET.SubElement(case, tag, message=test.test.message)
                element.text = _gradescope_output(test.test)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _properties(parent: Any, values: dict[str, str]) -> None:
    import xml.etree.ElementTree as ET

    properties = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value=value)


# --- Markdown summary (a CI job page) ---------------------------------------------------------------


def to_summary(pairs: Sequence[tuple[Exercise, ExerciseResult]], *, sheet: Scoresheet | None = None) -> str:
    sheet = sheet or score(pairs)
    rows = ["| exercise | status | tests passed | points |", "|---|---|---|---|"]
    for points in sheet.exercises:
        result = points.result
        tests = f"{result.passed_count}/{result.total_count}" if result.total_count else "–"
        status = verdict(result).replace("_", " ")
        rows.append(f"| {points.exercise.label} | {status} | {tests} | {show(points.earned)}/{show(points.max)} |")
    rows.append(f"| **total** | | | **{show(sheet.earned)}/{show(sheet.max)}** |")
    return "\n".join(rows) + "\n"


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
