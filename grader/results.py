"""The result model — course → exercise → test — and its machine-readable forms.

One ``ExerciseResult`` per exercise run, holding one ``TestResult`` per test in file order. The forms
CI and learning platforms read are built from these: exercism's results.json v3, Gradescope's
results.json, JUnit XML, and a Markdown summary table for a CI job page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .course import Exercise

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
    """The exercise's points, split evenly across its graded tests."""
    if result.total_count == 0 or result.tampered:
        return 0.0
    return exercise.points * result.passed_count / result.total_count


# --- exercism results.json v3 -----------------------------------------------------------------------


def to_exercism(pairs: Sequence[tuple[Exercise, ExerciseResult]]) -> dict[str, Any]:
    """Exercism's results.json v3; with several exercises, each test is named ``NN_slug::test``."""
    tests: list[dict[str, Any]] = []
    problems: list[str] = []
    for exercise, result in pairs:
        if not result.graded and result.status != PASSED:
            problems.append(f"{exercise.name}: {result.message or result.status}")
        for test in result.graded:
            status = {"passed": "pass", "skipped": "pass"}.get(test.outcome, "fail")
            if test.outcome == "error":
                status = "error"
            tests.append(
                {
                    "name": test.name if len(pairs) == 1 else f"{exercise.name}::{test.name}",
                    "status": status,
                    "message": test.message or None,
                    "output": (test.output[-EXERCISM_OUTPUT_LIMIT:] or None),
                    "test_code": test.test_code,
                    "task_id": exercise.number,
                }
            )
    if not tests:
        return {"version": 3, "status": "error", "message": "; ".join(problems) or "no test ran", "tests": []}
    all_passed = not problems and all(t["status"] == "pass" for t in tests)
    document: dict[str, Any] = {"version": 3, "status": "pass" if all_passed else "fail", "tests": tests}
    if problems:
        document["message"] = "; ".join(problems)
    return document


# --- Gradescope results.json ------------------------------------------------------------------------


def to_gradescope(pairs: Sequence[tuple[Exercise, ExerciseResult]], execution_time: float) -> dict[str, Any]:
    tests: list[dict[str, Any]] = []
    for exercise, result in pairs:
        graded = result.graded
        if not graded:
            tests.append(
                {
                    "score": 0,
                    "max_score": exercise.points,
                    "status": "failed",
                    "name": f"{exercise.label}: {exercise.title}",
                    "number": f"{exercise.number}",
                    "output": result.message or result.status.replace("_", " "),
                    "tags": [exercise.slug],
                    "visibility": "visible",
                }
            )
            continue
        share = exercise.points / len(graded)
        for index, test in enumerate(graded, start=1):
            tests.append(
                {
                    "score": round(share, 4) if test.passed else 0,
                    "max_score": round(share, 4),
                    "status": "passed" if test.passed else "failed",
                    "name": f"{exercise.label}: {test.name}",
                    "number": f"{exercise.number}.{index}",
                    "output": _gradescope_output(test),
                    "tags": [exercise.slug],
                    "visibility": "visible",
                }
            )
    score = round(sum(t["score"] for t in tests), 4)
    return {
        "score": score,
        "execution_time": round(execution_time, 3),
        "output": f"{sum(1 for t in tests if t['status'] == 'passed')} of {len(tests)} tests passed",
        "visibility": "visible",
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


def to_junit(pairs: Sequence[tuple[Exercise, ExerciseResult]]) -> str:
    import xml.etree.ElementTree as ET  # only CI asks for JUnit: keep it off the status path

    suites = ET.Element("testsuites", name="callable-katas")
    for exercise, result in pairs:
        graded = result.graded
        failures = sum(t.outcome == "failed" for t in graded)
        errors = sum(t.outcome == "error" for t in graded)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=exercise.name,
            tests=str(len(graded) or 1),
            failures=str(failures),
            errors=str(errors if graded else 1),
            skipped=str(sum(t.outcome == "skipped" for t in graded)),
            time=f"{result.duration:.3f}",
        )
        if not graded:
            case = ET.SubElement(suite, "testcase", classname=exercise.name, name="(the exercise)", time="0")
            error = ET.SubElement(case, "error", message=result.message or result.status, type=result.status)
            error.text = "\n".join(filter(None, [result.message, result.location, result.output]))
            continue
        for test in graded:
            case = ET.SubElement(
                suite, "testcase", classname=exercise.name, name=test.name, time=f"{test.duration:.3f}"
            )
            if test.outcome in ("failed", "error"):
                tag = "failure" if test.outcome == "failed" else "error"
                element = ET.SubElement(case, tag, message=test.message)
                element.text = _gradescope_output(test)
            elif test.outcome == "skipped":
                ET.SubElement(case, "skipped", message=test.message)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# --- Markdown summary (a CI job page) ---------------------------------------------------------------


def to_summary(pairs: Sequence[tuple[Exercise, ExerciseResult]]) -> str:
    rows = ["| exercise | status | tests passed | points |", "|---|---|---|---|"]
    total_points = earned = 0.0
    for exercise, result in pairs:
        points = points_earned(exercise, result)
        earned += points
        total_points += exercise.points
        tests = f"{result.passed_count}/{result.total_count}" if result.total_count else "–"
        status = result.status.replace("_", " ")
        rows.append(f"| {exercise.label} | {status} | {tests} | {points:g}/{exercise.points:g} |")
    rows.append(f"| **total** | | | **{earned:g}/{total_points:g}** |")
    return "\n".join(rows) + "\n"


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
