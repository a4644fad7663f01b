"""`grader verify` forks its runs from one warm process per worker, and runs cold where it cannot."""

from __future__ import annotations

import pytest

from grader import verify as verify_module
from grader import warm
from grader.course import load_course
from grader.verify import verify

needs_fork = pytest.mark.skipif(not warm.available(), reason="the warm start needs os.fork")

BROKEN_SOLUTION = "def add(a, b):\n    return a - b\n"


class CountingStarter(warm.WarmStarter):
    """A real warm process that remembers every starter made and every run it forked."""

    made: list[CountingStarter] = []

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.launches = 0
        CountingStarter.made.append(self)

    def launch(self, *args, **kwargs):
        self.launches += 1
        return super().launch(*args, **kwargs)


@pytest.fixture
def counting(monkeypatch):
    CountingStarter.made = []
    monkeypatch.setattr(verify_module, "WarmStarter", CountingStarter)
    return CountingStarter.made


def two_exercises(fake_course):
    fake_course.add("01_adder")
    fake_course.add("02_summer", solution=BROKEN_SOLUTION)
    return load_course(fake_course.root)


def problems(verdicts):
    return {v.exercise.name: v.problems for v in verdicts}


def checksum_free(found):
    """The fake course records no checksums: leave that problem out, keep what the runs said."""
    return {name: [p for p in ps if "checksums" not in p] for name, ps in found.items()}


@needs_fork
def test_every_run_is_forked_warm_and_every_warm_process_is_closed(fake_course, counting):
    course = two_exercises(fake_course)
    verdicts = verify(course, course.exercises, fake_course.root / "solutions", jobs=2)
    found = checksum_free(problems(verdicts))
    assert found["01_adder"] == []
    assert any("fails on the solution" in p for p in found["02_summer"]), found
    assert 1 <= len(counting) <= 2  # one per worker that ran something, never one per run
    # Two exercises, each a collection pass, a stub run and a solution run: six forks, no cold pytest.
    assert sum(s.launches for s in counting) == 6
    assert all(not s.alive() for s in counting)


@needs_fork
def test_warm_and_cold_verify_give_the_same_verdicts(fake_course, counting, monkeypatch):
    course = two_exercises(fake_course)
    warm_found = problems(verify(course, course.exercises, fake_course.root / "solutions", jobs=2))
    monkeypatch.setattr(warm, "available", lambda: False)
    made = len(counting)
    cold_found = problems(verify(course, course.exercises, fake_course.root / "solutions", jobs=2))
    assert len(counting) == made  # no warm process where there is no fork
    assert warm_found == cold_found


def test_a_warm_process_that_does_not_start_leaves_verify_cold(fake_course, monkeypatch):
    attempts = []

    def no_start(**kwargs):
        attempts.append(kwargs)
        raise OSError("the warm test process did not start")

    monkeypatch.setattr(warm, "available", lambda: True)
    monkeypatch.setattr(verify_module, "WarmStarter", no_start)
    course = two_exercises(fake_course)
    found = checksum_free(problems(verify(course, course.exercises, fake_course.root / "solutions", jobs=1)))
    assert found["01_adder"] == []
    assert any("fails on the solution" in p for p in found["02_summer"]), found
    assert len(attempts) == 1  # the worker tried once, then ran its four runs cold


@needs_fork
def test_a_warm_process_that_fails_a_run_is_closed_and_the_run_made_again_cold(fake_course, monkeypatch):
    broken: list[warm.WarmStarter] = []

    class FailingStarter(warm.WarmStarter):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            broken.append(self)

        def launch(self, *args, **kwargs):
            raise OSError("the warm test process did not start the run")

    monkeypatch.setattr(verify_module, "WarmStarter", FailingStarter)
    course = two_exercises(fake_course)
    verdicts = verify(course, course.exercises[:1], fake_course.root / "solutions", jobs=1)
    assert checksum_free(problems(verdicts)) == {"01_adder": []}
    assert verdicts[0].stub.total_count == 2 and verdicts[0].solution.passed_count == 2
    assert len(broken) == 1 and not broken[0].alive()


@needs_fork
def test_a_warm_start_cancelled_by_ctrl_c_is_killed_at_once(monkeypatch):
    # verify's workers start their warm processes while Ctrl-C may come: the start must not hold it up.
    import threading
    import time
    import uuid

    from grader.runner import RUN_ID_VARIABLE, _processes_of_run

    mark = uuid.uuid4().hex  # the warm process inherits it: how to find it in /proc afterwards
    monkeypatch.setenv(RUN_ID_VARIABLE, mark)
    cancel = threading.Event()
    cancel.set()
    started = time.monotonic()
    with pytest.raises(OSError):
        warm.WarmStarter(cancel=cancel)
    assert time.monotonic() - started < 1.0
    assert _processes_of_run(mark) == set()
