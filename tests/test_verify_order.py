"""`grader verify` starts its runs longest first, as the last verify measured them."""

from __future__ import annotations

import json
import threading

from grader import verify as verify_module
from grader.course import load_course
from grader.verify import last_durations, longest_first, verify


def three_exercises(fake_course):
    for name in ("01_adder", "02_summer", "03_totaller"):
        fake_course.add(name)
    return load_course(fake_course.root)


def names(runs):
    return [f"{exercise.number:02d} {'solution' if on_solution else 'stub'}" for exercise, on_solution in runs]


def test_runs_never_measured_go_first_the_later_exercises_before_the_earlier(fake_course):
    course = three_exercises(fake_course)
    runs = [(e, on_solution) for e in course.exercises for on_solution in (False, True)]
    measured = {"03_totaller stub": 9.0, "03_totaller solution": 1.0}
    assert names(longest_first(runs, measured)) == [
        "02 stub", "02 solution", "01 stub", "01 solution", "03 stub", "03 solution",
    ]


def test_measured_runs_go_longest_first(fake_course):
    course = three_exercises(fake_course)
    runs = [(e, on_solution) for e in course.exercises for on_solution in (False, True)]
    measured = {
        "01_adder stub": 0.5, "01_adder solution": 7.0,
        "02_summer stub": 3.0, "02_summer solution": 3.0,
        "03_totaller stub": 12.0, "03_totaller solution": 0.1,
    }
    assert names(longest_first(runs, measured)) == [
        "03 stub", "01 solution", "02 stub", "02 solution", "01 stub", "03 solution",
    ]


def test_verify_remembers_each_runs_duration_and_uses_it_next_time(fake_course, monkeypatch):
    course = three_exercises(fake_course)
    verify(course, course.exercises, fake_course.root / "solutions", jobs=1)
    durations = last_durations(course)
    assert set(durations) == {f"{e.name} {kind}" for e in course.exercises for kind in ("stub", "solution")}
    assert all(seconds > 0 for seconds in durations.values())

    # Make 02's solution run the longest on record: with one worker, it is the first to start.
    durations["02_summer solution"] = 99.0
    (course.root / ".grader" / "durations.json").write_text(json.dumps(durations), encoding="utf-8")
    started = []
    lock = threading.Lock()
    real_run = verify_module.run_exercise

    def recording_run(course, exercise, **how):
        with lock:
            started.append((exercise.name, "solutions" in how))
        return real_run(course, exercise, **how)

    monkeypatch.setattr(verify_module, "run_exercise", recording_run)
    verify(course, course.exercises, fake_course.root / "solutions", jobs=1)
    assert started[0] == ("02_summer", True)


def test_a_broken_durations_file_only_loses_the_order(fake_course):
    course = three_exercises(fake_course)
    path = course.root / ".grader" / "durations.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    for junk in ("{not json", "[1, 2]", json.dumps({"01_adder stub": "slow", "02_summer stub": 2})):
        path.write_text(junk, encoding="utf-8")
        assert last_durations(course) in ({}, {"02_summer stub": 2.0})
    verdicts = verify(course, course.exercises[:1], fake_course.root / "solutions", jobs=1)
    assert verdicts[0].solution is not None and verdicts[0].solution.passed_count == verdicts[0].solution.total_count
    assert "01_adder solution" in last_durations(course)  # and the file is whole again
