"""Every cheat class of issue 15, each a hostile stub graded through ``grader grade`` (part 5).

One fake course holds one exercise per cheat, plus an honest half-solution and a finished one, and
one ``python -m grader grade`` run grades them all, as CI would grade a class's worst submission.
Each cheat scores 0 (or, where it only cut the run short, exactly the tests that really passed) with
a plain sentence; the honest work scores exactly its share, whatever the cheats beside it did.
(The cheats that plant files beside the stubs — conftest.py, pytest.ini, pyproject.toml, an edited
test with its checksum, a committed .grader/state.json — are in tests/test_grade.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from .test_grade import grade, reports

TESTS = '''
import pytest
from {module} import add, mul


def test_adds_small_numbers():
    assert add(1, 2) == 3


def test_adds_negative_numbers():
    assert add(-1, -2) == -3


def test_multiplies_small_numbers():
    assert mul(2, 3) == 6


def test_multiplies_by_a_negative_number():
    assert mul(-2, 3) == -6
'''
SOLUTION = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
HALF = 'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    raise NotImplementedError("write mul()")\n'
FAILING = "\n\ndef add(a, b):\n    raise NotImplementedError\n\n\ndef mul(a, b):\n    raise NotImplementedError\n"

# name -> (the student's file, the points it must score out of 10, a phrase its sentence must hold)
CHEATS: dict[str, tuple[str, float, str]] = {
    "skip_everywhere": (
        'import pytest\n\n\ndef add(a, b):\n    pytest.skip("not today")\n\n\nmul = add\n',
        0, "your code skipped this test",
    ),
    "skip_at_import": (
        'import pytest\npytest.skip("nothing here", allow_module_level=True)\n' + SOLUTION,
        0, "never reported a result",
    ),
    "skip_marks_through_gc": (
        "import gc\nimport pytest\n\n\ndef add(a, b):\n"
        "    for thing in gc.get_objects():\n"
        "        if isinstance(thing, pytest.Function):\n"
        '            thing.add_marker(pytest.mark.skip(reason="later"))\n'
        "    raise NotImplementedError\n\n\nmul = add\n",
        0, "",
    ),
    "patched_runtest": (
        "import _pytest.python\n_pytest.python.Function.runtest = lambda self: None\n" + FAILING,
        0, "tampered",
    ),
    "patched_testreport": (
        "from _pytest.reports import TestReport\n_original = TestReport.from_item_and_call\n\n\n"
        "def _passing(cls, item, call):\n    report = _original.__func__(cls, item, call)\n"
        '    report.outcome, report.longrepr = "passed", None\n    return report\n\n\n'
        "TestReport.from_item_and_call = classmethod(_passing)\n" + FAILING,
        0, "tampered",
    ),
    "plugin_through_gc": (
        "import gc\nimport pytest\nfrom _pytest.config import PytestPluginManager\n\n\nclass _Forge:\n"
        "    @pytest.hookimpl(wrapper=True)\n    def pytest_runtest_makereport(self, item, call):\n"
        '        report = yield\n        report.outcome, report.longrepr = "passed", None\n        return report\n\n\n'
        "next(o for o in gc.get_objects() if isinstance(o, PytestPluginManager)).register(_Forge())\n" + FAILING,
        0, "tampered",
    ),
    "wrapped_recorder": (
        'import sys\n_recorder = sys.modules["grader.plugin"]._recorder\n_write = _recorder.write\n\n\n'
        "def _forge(event):\n"
        '    if event.get("event") == "test":\n        event = {**event, "outcome": "passed", "message": ""}\n'
        "    _write(event)\n\n\n_recorder.write = _forge\n" + FAILING,
        0, "tampered",
    ),
    "checks_turned_off": (
        'import sys\nimport _pytest.python\nsys.modules["grader.plugin"]._checks.armed = False\n'
        "_pytest.python.Function.runtest = lambda self: None\n" + FAILING,
        0, "tampered",
    ),
    "forged_channel_then_exit": (
        "import json, os\n\n\ndef add(a, b):\n"
        '    names = ["test_adds_small_numbers", "test_adds_negative_numbers",\n'
        '             "test_multiplies_small_numbers", "test_multiplies_by_a_negative_number"]\n'
        '    lines = [{"event": "test", "nodeid": f"exercises/11_forged_channel_then_exit/'
        'test_forged_channel_then_exit.py::{n}", "outcome": "passed"} for n in names]\n'
        '    lines.append({"event": "finish", "exitstatus": 0, "threads": []})\n'
        '    data = "".join("0" * 32 + " " + json.dumps(line) + "\\n" for line in lines).encode()\n'
        "    for fd in range(3, 256):\n        try:\n            os.write(fd, data)\n"
        "        except OSError:\n            pass\n    os._exit(0)\n\n\nmul = add\n",
        0, "tampered",
    ),
    "truncated": (
        "import os\n\n\ndef add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    os._exit(0)\n",
        5, "did not run",
    ),
    "conftest_planted_in_the_tree": (
        "from pathlib import Path\n\n"
        "for folder in Path(__file__).resolve().parents:\n"
        '    if (folder / "conftest.py").exists() and folder.name == "exercises":\n'
        "        try:\n"
        "            (folder / 'conftest.py').chmod(0o644)\n"
        "            (folder / 'conftest.py').write_text('import pytest\\n')\n"
        "        except OSError:\n            pass\n" + FAILING,
        0, "changed the grader's files",
    ),
}
# The daemon: double-forked, in a session of its own, with an empty environment, it waits for the
# reports and rewrites them with full marks. {pid_file} and {out} are filled in per run.
DAEMON = '''
import os, subprocess, sys

FORGE = """
import json, pathlib, time
out = pathlib.Path({out!r})
for _ in range(600):
    if (out / "gradescope.json").exists():
        time.sleep(0.2)
        (out / "gradescope.json").write_text(json.dumps({{"score": 999, "tests": []}}))
        break
    time.sleep(0.1)
"""


def add(a, b):
    if not os.path.exists({pid_file!r}):
        child = subprocess.Popen([sys.executable, "-c", FORGE], env={{}}, start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open({pid_file!r}, "w") as f:
            f.write(str(child.pid))
    return a + b


def mul(a, b):
    return a * b
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the runner's process accounting is Linux's /proc")
def test_every_cheat_scores_zero_and_honest_work_its_share(fake_course, tmp_path):
    out = tmp_path / "out"
    pid_file = tmp_path / "daemon.pid"
    students = {
        "honest_half": (HALF, 5, ""),
        "finished": (SOLUTION, 10, ""),
        **CHEATS,
        "daemon_rewrites_the_reports": (DAEMON.format(pid_file=str(pid_file), out=str(out)), 10, ""),
    }
    numbers = {}
    for number, (slug, (text, _, _)) in enumerate(students.items(), start=1):
        name = f"{number:02d}_{slug}"
        numbers[slug] = str(number)
        folder = fake_course.add(name, solution=SOLUTION, tests=TESTS)
        (folder / f"{slug}.py").write_text(text)
    assert numbers["forged_channel_then_exit"] == "11", "the forged node ids name this exercise's folder"
    try:
        code, stdout, stderr = grade(fake_course, "--out", str(out), timeout=600)
        assert code == 0, stdout + stderr
        daemon = int(pid_file.read_text())
        assert not _alive(daemon), (
            "the daemon the student's code started (setsid, empty environment) outlived its exercise: "
            "the runner must stop every process the run left, however it detached"
        )
        found = reports(out)
        by_exercise: dict[str, list[dict]] = {}
        for test in found["gradescope"]["tests"]:
            by_exercise.setdefault(test["number"].split(".")[0], []).append(test)
        for slug, (_, points, phrase) in students.items():
            tests = by_exercise[numbers[slug]]
            earned = sum(t["score"] for t in tests)
            assert earned == pytest.approx(points, abs=1e-6), f"{slug}: scored {earned}, expected {points}\n{stdout}"
            if phrase:
                said = "\n".join(t.get("output", "") for t in tests)
                assert phrase in said, f"{slug}: expected its results to say {phrase!r}, got:\n{said}"
        assert found["gradescope"]["score"] == pytest.approx(5 + 10 + 5 + 10, abs=1e-6)
        assert "Traceback" not in stdout + stderr
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
