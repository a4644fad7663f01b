"""Points in every report, exact: fractions summed, shares apportioned, totals rounded once.

Most cases build results by hand (no test process) and read every format the grader writes; the
last ones run ``grader grade`` on a fake course with per-test weights and read ``points.json``.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest

from grader.course import CourseError, Exercise, load_course
from grader.results import (
    FAILED,
    PASSED,
    ExerciseResult,
    apportion,
    score,
    to_exercism,
    to_gradescope,
    to_junit,
    to_points,
    to_summary,
)

from grader.results import TestResult as Outcome  # (a name pytest does not take for a test class)

from .test_grade import grade


def exercise(number: int, points: float = 10, weights: dict[str, float] | None = None) -> Exercise:
    return Exercise(
        path=Path(f"/course/exercises/{number:02d}_ex{number}"), number=number, slug=f"ex{number}",
        title=f"Exercise {number}", part=1, chapter="", files=(f"ex{number}.py",), points=points,
        weights=tuple((weights or {}).items()),
    )


def result(ex: Exercise, outcomes: list[str]) -> ExerciseResult:
    tests = [Outcome(nodeid=f"test_ex.py::test_{i:02d}", outcome=o) for i, o in enumerate(outcomes)]
    graded = [o for o in outcomes if o != "skipped"]
    status = PASSED if graded and all(o == "passed" for o in graded) else FAILED
    return ExerciseResult(exercise=ex.name, status=status, tests=tests)


def course_of(*sizes: int, passed: int | None = None) -> list[tuple[Exercise, ExerciseResult]]:
    """Exercises with ``sizes`` tests each, every test passing (or only the first ``passed`` of each)."""
    pairs = []
    for number, size in enumerate(sizes, start=1):
        ex = exercise(number)
        keep = size if passed is None else passed
        pairs.append((ex, result(ex, ["passed"] * keep + ["failed"] * (size - keep))))
    return pairs


def by_exercise(document: dict, key: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for test in document["tests"]:
        number = test["number"].split(".")[0]
        found[number] = found.get(number, 0) + test[key]
    return {k: round(v, 4) for k, v in found.items()}


def validate(value: object, schema: dict, where: str = "$") -> None:
    """The few JSON Schema keywords the schemas below use (no dependency): fails naming the path."""
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "null": type(None)}
    if "type" in schema:
        wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(isinstance(value, kinds[k]) and not isinstance(value, bool) for k in wanted), f"{where}: {value!r} is not {wanted}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} is not one of {schema['enum']}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} is not {schema['const']!r}"
    if "maxLength" in schema and isinstance(value, str):
        assert len(value) <= schema["maxLength"], f"{where}: longer than {schema['maxLength']}"
    if isinstance(value, dict):
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{where}: {sorted(missing)} missing"
        known = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(known), f"{where}: undocumented fields {sorted(set(value) - set(known))}"
        for key, item in value.items():
            if key in known:
                validate(item, known[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")


# --- Gradescope ---------------------------------------------------------------------------------------


def test_gradescope_total_is_exactly_the_sum_of_the_shares_for_7_3_and_11_tests():
    document = to_gradescope(course_of(7, 3, 11), 12.6)
    assert document["score"] == 30
    assert round(math.fsum(t["max_score"] for t in document["tests"]), 4) == 30
    assert by_exercise(document, "max_score") == {"1": 10, "2": 10, "3": 10}
    assert by_exercise(document, "score") == {"1": 10, "2": 10, "3": 10}
    for test in document["tests"]:  # 10/7, 10/3, 10/11: each shown to 4 places, and close to exact
        assert test["max_score"] == round(test["max_score"], 4)
    shares = [t["max_score"] for t in document["tests"][:7]]
    assert all(abs(s - 10 / 7) < 0.0001 for s in shares)


def test_gradescope_never_drifts_past_the_maximum_of_a_big_course():
    """The issue's 400.0016/400: 40 exercises of 10 points, tests that do not divide 10."""
    pairs = course_of(*[3, 6, 7, 9, 11, 12, 13, 14] * 5)
    document = to_gradescope(pairs, 0)
    assert document["score"] == 400
    assert round(math.fsum(t["max_score"] for t in document["tests"]), 4) == 400


def test_gradescope_execution_time_is_whole_seconds_and_extra_data_holds_the_points():
    document = to_gradescope(course_of(3), 2.6)
    assert document["execution_time"] == 3 and isinstance(document["execution_time"], int)
    assert document["extra_data"]["total"] == "10"
    assert document["extra_data"]["exercises"][0]["points"] == 10


GRADESCOPE_TEST_FIELDS = {
    "score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
    "visibility", "extra_data",
}
GRADESCOPE_FIELDS = {
    "score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
    "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard",
}


def gradescope_schema() -> dict:
    """The documented fields of Gradescope's results.json (gradescope-autograders.readthedocs.io, specs)."""
    visibility = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
    test = {
        "type": "object",
        "additionalProperties": False,
        "required": ["score", "max_score"],
        "properties": {
            "score": {"type": "number"}, "max_score": {"type": "number"},
            "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"}, "number": {"type": "string"},
            "output": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
            "visibility": visibility, "extra_data": {"type": "object"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "score": {"type": "number"}, "execution_time": {"type": "integer"}, "output": {"type": "string"},
            "visibility": visibility, "extra_data": {"type": "object"}, "tests": {"type": "array", "items": test},
        },
    }


def test_gradescope_keeps_to_its_documented_fields():
    pairs = course_of(7, 3, 11, passed=2)
    broken = exercise(4)
    pairs.append((broken, ExerciseResult(exercise=broken.name, status="error", message="SyntaxError in ex4.py")))
    document = to_gradescope(pairs, 1.2)
    validate(document, gradescope_schema())
    assert set(document) <= GRADESCOPE_FIELDS
    assert all(set(t) <= GRADESCOPE_TEST_FIELDS for t in document["tests"])


# --- exercism v3 --------------------------------------------------------------------------------------


def exercism_schema() -> dict:
    """exercism's test runner interface, version 3 (exercism.org/docs/building/tooling/test-runners/interface),
    plus the grader's two documented additions: ``points`` and ``max_points``."""
    test = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "status"],
        "properties": {
            "name": {"type": "string"}, "status": {"enum": ["pass", "fail", "error"]},
            "message": {"type": ["string", "null"]}, "output": {"type": ["string", "null"], "maxLength": 500},
            "test_code": {"type": "string"}, "task_id": {"type": "integer"},
            "points": {"type": "number"}, "max_points": {"type": "number"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "status"],
        "properties": {
            "version": {"const": 3}, "status": {"enum": ["pass", "fail", "error"]},
            "message": {"type": ["string", "null"]}, "tests": {"type": "array", "items": test},
            "points": {"type": "number"}, "max_points": {"type": "number"},
        },
    }


def test_exercism_carries_points_and_keeps_to_its_fields():
    document = to_exercism(course_of(7, 3, 11, passed=1))
    validate(document, exercism_schema())
    assert document["status"] == "fail"
    assert document["max_points"] == 30
    assert document["points"] == round(10 / 7 + 10 / 3 + 10 / 11, 2)  # the exact sum, rounded once: 5.67
    per_test = [t["points"] for t in document["tests"] if t["status"] == "pass"]
    assert len(per_test) == 3 and round(math.fsum(t["max_points"] for t in document["tests"]), 4) == 30


def test_an_exercise_whose_every_test_was_skipped_reads_fail():
    """The issue's case: results.json said "pass" when every test of an exercise was skipped."""
    solved = exercise(1)
    skipped = exercise(2)
    pairs = [
        (solved, result(solved, ["passed", "passed"])),
        # As the runner's older path left it: "passed" over no graded test at all.
        (skipped, ExerciseResult(exercise=skipped.name, status=PASSED, tests=[
            Outcome(nodeid="t.py::test_a", outcome="skipped"), Outcome(nodeid="t.py::test_b", outcome="skipped"),
        ])),
    ]
    document = to_exercism(pairs)
    validate(document, exercism_schema())
    assert document["status"] == "fail"
    assert to_exercism(pairs[1:])["status"] == "fail"  # alone too: its tests ran, and proved nothing
    row = next(t for t in document["tests"] if t["name"].startswith("02_ex2::"))
    assert row["status"] == "fail" and row["points"] == 0 and row["max_points"] == 10
    assert "skipped" in row["message"]
    assert to_points(score(pairs))["exercises"][1]["status"] == FAILED
    assert "| 02 ex2 | failed | – | 0/10 |" in to_summary(pairs)
    junit = ET.fromstring(to_junit(pairs).split("\n", 1)[1])
    suite = [s for s in junit.iter("testsuite") if s.get("name") == "02_ex2"][0]
    assert suite.get("failures") == "1" and suite.find("testcase/failure") is not None


# --- JUnit and the summary ----------------------------------------------------------------------------


def properties(element: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in element.findall("properties/property")}


def test_junit_has_points_per_testcase_and_testsuite():
    pairs = course_of(3, 7, passed=2)
    root = ET.fromstring(to_junit(pairs).split("\n", 1)[1])
    suites = root.findall("testsuite")
    assert properties(suites[0]) == {
        "points": "6.67", "max_points": "10", "total_points": "9.52", "total_max_points": "20",
    }
    cases = suites[0].findall("testcase")
    assert [properties(c) for c in cases] == [
        {"points": "3.3334", "max_points": "3.3334"},
        {"points": "3.3333", "max_points": "3.3333"},
        {"points": "0", "max_points": "3.3333"},
    ]
    for element in [*suites, *cases]:  # <properties> comes first, where the JUnit schemas put it
        assert element[0].tag == "properties"


def test_summary_rounds_once_at_the_end():
    """Three exercises worth 10/3 each earned in full: 3.33 + 3.33 + 3.33 shown, and 10 in total."""
    pairs = [(exercise(n, points=10 / 3), result(exercise(n, points=10 / 3), ["passed"])) for n in (1, 2, 3)]
    sheet = score(pairs, total=Fraction(10))
    summary = to_summary(pairs, sheet=sheet)
    assert "| 01 ex1 | passed | 1/1 | 3.33/3.33 |" in summary
    assert "**10/10**" in summary
    assert to_points(sheet)["total"] == "10" and to_points(sheet)["total_points"] == 10


def test_apportioned_shares_add_up_exactly():
    assert apportion([Fraction(10, 3)] * 3, 10) == [4, 3, 3]
    assert apportion([Fraction(10, 7) * 10_000] * 7, 100_000) == [14286] * 5 + [14285] * 2
    assert apportion([], 0) == []


# --- weights --------------------------------------------------------------------------------------------


def test_weights_split_the_points_by_exact_name_then_by_the_longest_prefix():
    ex = exercise(1, points=12, weights={"test_0": 2, "test_01": 5})  # test_00 → 2, test_01 → 5, test_02 → 2
    pairs = [(ex, result(ex, ["passed", "failed", "passed", "passed"]))]  # test_03 → 2 as well
    sheet = score(pairs)
    assert [t.max for t in sheet.exercises[0].tests] == [Fraction(24, 11), Fraction(60, 11), Fraction(24, 11), Fraction(24, 11)]
    assert sheet.earned == Fraction(72, 11)
    assert to_points(sheet)["total"] == "72/11" and to_points(sheet)["total_points"] == 6.55


def test_without_weights_the_split_is_even():
    ex = exercise(1, points=10)
    sheet = score([(ex, result(ex, ["passed", "failed", "failed", "failed"]))])
    assert sheet.earned == Fraction(10, 4)


@pytest.mark.parametrize("weights, problem", [
    ('weights = { "test_a" = 0 }', "positive numbers"),
    ('weights = { "test_a" = -1 }', "positive numbers"),
    ('weights = { "test_a" = "3" }', "positive numbers"),
    ('weights = { "adds" = 2 }', "positive numbers, not 'adds'"),
    ('weights = ["test_a"]', "'weights' has the wrong type"),
])
def test_a_bad_weight_is_one_sentence(fake_course, weights, problem):
    fake_course.add("01_alpha", extra_toml=weights + "\n")
    with pytest.raises(CourseError, match=problem):
        load_course(fake_course.root)


def test_grade_writes_points_json_with_weights_and_an_exact_total(fake_course, tmp_path):
    tests = '''
from {module} import add


def test_adds_small_numbers():
    assert add(1, 2) == 3


def test_adds_negative_numbers():
    assert add(-1, -2) == -3


def test_adds_zero():
    assert add(0, 0) == 0
'''
    fake_course.add("01_alpha", tests=tests, extra_toml='weights = { "test_adds_negative" = 4 }\n')
    fake_course.add("02_beta")
    (fake_course.root / "exercises/01_alpha/alpha.py").write_text("def add(a, b):\n    return abs(a) + abs(b)\n")
    fake_course.solve("02_beta")
    out = tmp_path / "out"
    code, stdout, stderr = grade(fake_course, "--out", str(out))
    assert code == 0, stdout + stderr
    points = json.loads((out / "points.json").read_text())
    assert points == {
        "version": 1,
        "assignment": None,
        "total": "40/3",  # 2 of the 6 weights of 10 points, and 10
        "total_points": 13.33,
        "max_points": 20.0,
        "exercises": [
            {"exercise": "01_alpha", "status": "failed", "points": 3.33, "max_points": 10.0, "passed": 2, "tests": 3},
            {"exercise": "02_beta", "status": "passed", "points": 10.0, "max_points": 10.0, "passed": 2, "tests": 2},
        ],
        "error": None,
    }
    gradescope = json.loads((out / "gradescope.json").read_text())
    assert [t["max_score"] for t in gradescope["tests"][:3]] == [1.6667, 6.6667, 1.6666]
    assert gradescope["score"] == round(1.6667 + 1.6666 + 10, 4)
    assert "total: 13.33/20 points" in stdout
    results = json.loads((out / "results.json").read_text())
    assert results["points"] == 13.33 and results["max_points"] == 20


def test_grade_that_cannot_grade_still_writes_points_json_with_the_reason(fake_course, tmp_path):
    fake_course.add("01_alpha")
    out = tmp_path / "out"
    code, _, stderr = grade(fake_course, "42", "--out", str(out))
    assert code == 2
    points = json.loads((out / "points.json").read_text())
    assert points["error"] == "could not grade: no exercise '42' (run `grader` to see the list)"
    assert points["exercises"] == [] and points["total"] == "0"
