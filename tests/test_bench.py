"""`grader bench`: the student's server and the reference, side by side, under a bounded load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_EXERCISES = Path(__file__).resolve().parent.parent / "exercises"


@pytest.fixture
def server_course(fake_course):
    for name in ("07_wsgi_server", "15_asgi_server"):
        shutil.copytree(REPO_EXERCISES / name, fake_course.root / "exercises" / name)
    return fake_course


def solve(course, name, module):
    shutil.copy(REPO_EXERCISES.parent / "solutions" / name / module, course.root / "exercises" / name / module)


@pytest.mark.parametrize(
    ("name", "module", "reference"),
    [("07_wsgi_server", "wsgi_server.py", "wsgiref"), ("15_asgi_server", "asgi_server.py", "uvicorn")],
)
def test_bench_measures_both_servers(server_course, run_grader, name, module, reference):
    solve(server_course, name, module)
    code, out, err = run_grader("bench", name[:2], "--requests", "200", "--concurrency", "2", "--seconds", "5")
    assert code == 0, out + err
    rows = [line for line in out.splitlines() if line.startswith((reference, "yours (")) and "req/s" not in line]
    assert len(rows) == 2, out
    for row in rows:
        assert "did not run" not in row
        ok, errors = row.split()[-2:]
        assert (int(ok), int(errors)) == (200, 0), row
    assert "the requests per second of" in out


def test_bench_reports_a_server_that_does_not_start(server_course, run_grader):
    code, out, _ = run_grader("bench", "7", "--requests", "50", "--seconds", "2")
    assert code == 1
    assert "yours (wsgi_server)" in out and "did not run" in out and "NotImplementedError" in out


def test_bench_refuses_an_exercise_without_a_server(server_course, run_grader):
    server_course.add("01_adder")
    code, _, err = run_grader("bench", "1")
    assert code == 2 and "has no server to benchmark" in err


def test_bench_bounds_its_load(server_course, run_grader):
    code, _, err = run_grader("bench", "7", "--requests", "1000000")
    assert code == 2 and "outside 1..100000" in err
