"""Issue 15, part 4: the reliability gaps an audit found, each with the test that keeps it closed.

Bad input gets one clear sentence and an exit status, never a traceback, and never loses a
student's work: Ctrl-C pressed once or three times during a parallel check, a symlinked stub, a
student's own test file, a stub that deletes itself, a corrupt or unwritable ``.grader/``, one broken
``exercise.toml``, two checks at once, and a time limit of -1.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from grader import checksums
from grader.course import CourseError, load_course
from grader.progress import default_jobs
from grader.state import State, fingerprint

REPO = Path(__file__).resolve().parent.parent

HAS_PROC = Path("/proc/self/environ").exists()


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=30)


def commit(root, message):
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message)


@pytest.fixture
def course(fake_course):
    """One exercise, its checksums recorded and committed: a clone of the course, as a student has it."""
    fake_course.add("01_adder")
    checksums.record(load_course(fake_course.root))
    git(fake_course.root, "init", "-q")
    commit(fake_course.root, "course")
    return fake_course


def folder(course, name="01_adder"):
    return course.root / "exercises" / name


def grader_child(course, *args, env=None, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "grader", *args], cwd=course.root, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )


def assert_plain(out, err):
    assert "Traceback" not in out + err and "internal error" not in err, out + err


# --- Ctrl-C during a parallel check --------------------------------------------------------------------

SLEEPING_TESTS = '''
import os
import pathlib
import subprocess
import sys
import time

from {module} import add


def test_sleeps_with_a_child_of_its_own():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    pathlib.Path(os.environ["RELIABILITY_NOTES"], "{module}-" + str(os.getpid())).write_text(str(child.pid))
    time.sleep(300)
'''


def _marked(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (a zombie's reads empty: it holds nothing)."""
    needle = f"RELIABILITY_MARK={marker}".encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in b"\0" + f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not HAS_PROC, reason="finds the children by their environment in /proc")
@pytest.mark.parametrize("presses", [1, 3])
def test_ctrl_c_during_a_parallel_check_stops_everything_within_a_second(fake_course, tmp_path, presses):
    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("01_sleeper", "02_napper"):
        fake_course.add(name, tests=SLEEPING_TESTS, time_limit=300, timeout=300)
    marker = uuid.uuid4().hex  # every process the check starts inherits it, grandchildren too
    env = {**os.environ, "RELIABILITY_MARK": marker, "RELIABILITY_NOTES": str(notes)}
    check = grader_child(fake_course, "check", "01", "02", env=env)
    try:
        deadline = time.monotonic() + 60
        while len(list(notes.iterdir())) < default_jobs():  # each test runs, and has started its child
            assert time.monotonic() < deadline, "the tests never started"
            assert check.poll() is None, check.communicate()
            time.sleep(0.02)
        first = time.monotonic()
        for press in range(presses):
            if press:
                time.sleep(0.02)  # the later presses land in the middle of the clean-up
            check.send_signal(signal.SIGINT)
        out, err = check.communicate(timeout=60)
        answered = time.monotonic() - first
        left = _marked(marker)
    finally:
        check.kill()
        for pid in _marked(marker):  # should the test fail: leave nothing behind all the same
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"{len(left)} processes of the check were still running after it exited"
    assert check.returncode == 130
    assert answered < 1.0, f"the grader took {answered:.2f} s to answer Ctrl-C"
    said = [line for line in err.strip().splitlines() if not line.startswith("checking ")]  # a log's progress lines
    assert out == "" and said == [
        "grader: interrupted; your files and the grader's state are as they were"
    ], err
    assert not (fake_course.root / ".grader" / "state.json").exists()  # nothing half-done was cached



@pytest.mark.skipif(not HAS_PROC, reason="finds the children by their environment in /proc")
def test_ctrl_c_during_verify_stops_everything_within_a_second(fake_course, tmp_path):
    # verify runs each stub and each solution: the same first-press-cancels-all rule as check.
    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("01_sleeper", "02_napper"):
        fake_course.add(name, tests=SLEEPING_TESTS, time_limit=300, timeout=300)
    marker = uuid.uuid4().hex
    env = {**os.environ, "RELIABILITY_MARK": marker, "RELIABILITY_NOTES": str(notes)}
    verify = grader_child(fake_course, "verify", env=env)
    try:
        deadline = time.monotonic() + 60
        while len(list(notes.iterdir())) < default_jobs():
            assert time.monotonic() < deadline, "the tests never started"
            assert verify.poll() is None, verify.communicate()
            time.sleep(0.02)
        first = time.monotonic()
        verify.send_signal(signal.SIGINT)
        _out, err = verify.communicate(timeout=60)
        answered = time.monotonic() - first
        left = _marked(marker)
    finally:
        verify.kill()
        for pid in _marked(marker):
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"{len(left)} processes of verify were still running after it exited"
    assert verify.returncode == 130
    assert answered < 1.0, f"verify took {answered:.2f} s to answer Ctrl-C"
    assert "interrupted" in err and "Traceback" not in err, err


# --- grader reset and a symlinked stub -----------------------------------------------------------------


def test_reset_replaces_a_symlinked_stub_and_leaves_the_links_target_alone(course, run_grader, tmp_path):
    stub = folder(course) / "adder.py"
    pristine = stub.read_bytes()
    elsewhere = tmp_path / "my_work" / "adder.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text("def add(a, b):\n    return a + b  # mine, kept outside the course\n")
    stub.unlink()
    stub.symlink_to(elsewhere)
    code, out, err = run_grader("reset", "1", "--yes")
    assert code == 0, err
    assert elsewhere.read_text().endswith("# mine, kept outside the course\n")  # never written through the link
    assert not stub.is_symlink() and stub.read_bytes() == pristine
    [saved] = (course.root / ".grader" / "backups" / "01_adder").iterdir()
    assert saved.read_text() == elsewhere.read_text() and str(saved.relative_to(course.root)) in out


def test_reset_of_a_link_to_nowhere_creates_nothing_where_it_pointed(course, run_grader, tmp_path):
    stub = folder(course) / "adder.py"
    nowhere = tmp_path / "gone" / "adder.py"
    nowhere.parent.mkdir()
    stub.unlink()
    stub.symlink_to(nowhere)
    code, out, err = run_grader("reset", "1", "--yes")
    assert code == 0, err
    assert not nowhere.exists() and not stub.is_symlink() and "NotImplementedError" in stub.read_text()
    assert "Restored adder.py (the original)." in out


# --- grader report --restore-tests keeps the student's versions ----------------------------------------


def test_restore_tests_backs_up_the_students_edits_and_extra_files(course, run_grader):
    tests = folder(course) / "test_adder.py"
    original = tests.read_text()
    tests.write_text("def test_adds_small_numbers():\n    pass  # my edit\n")
    (folder(course) / "test_extra.py").write_text("def test_my_own_case():\n    pass  # my own test\n")
    code, out, err = run_grader("report", "--format", "summary", "--restore-tests")
    assert code == 1 and "| 01 adder | failed | 0/2 | 0/10 |" in out
    assert tests.read_text() == original and not (folder(course) / "test_extra.py").exists()
    backups = {p.name.split(".py.")[0]: p for p in (course.root / ".grader" / "backups" / "01_adder").iterdir()}
    assert "# my edit" in backups["test_adder"].read_text()
    assert "# my own test" in backups["test_extra"].read_text()
    lines = err.strip().splitlines()
    assert any(
        "01_adder/test_adder.py differed from the course's test file: restored before grading; "
        f"your version is in {backups['test_adder'].relative_to(course.root)}" in line
        for line in lines
    ), err
    assert any(
        "01_adder/test_extra.py is not one of the course's test files: removed before grading; "
        f"your version is in {backups['test_extra'].relative_to(course.root)}" in line
        for line in lines
    ), err


# --- a stub that deletes itself ------------------------------------------------------------------------

SELF_DELETING = '''
import os

os.remove(__file__)  # the student's code destroys itself when it is imported


def add(a, b):
    return a + b  # the work that must not be lost
'''


def test_a_stub_that_deletes_itself_can_be_put_back_as_last_graded(course, run_grader):
    stub = folder(course) / "adder.py"
    stub.write_text(SELF_DELETING)
    code, out, err = run_grader("check", "1")
    assert not stub.exists()  # it did delete itself while its tests ran
    assert "adder.py is gone or empty; the grader kept the version it last graded: `grader reset 01 --graded` puts it back" in out
    assert (course.root / ".grader" / "graded" / "01_adder" / "adder.py").read_text() == SELF_DELETING
    code, out, err = run_grader("reset", "1", "--graded")
    assert code == 0, err
    assert stub.read_text() == SELF_DELETING and "Restored adder.py (the version last graded)." in out


def test_reset_offers_the_last_graded_version_of_a_lost_file(course, run_grader, monkeypatch):
    stub = folder(course) / "adder.py"
    stub.write_text(SELF_DELETING)
    run_grader("check", "1")
    code, _, err = run_grader("reset", "1")  # no terminal: it says what it could do, and does nothing
    assert code == 2 and "`grader reset 01 --graded` puts that back" in err and not stub.exists()
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "g")
    code, out, err = run_grader("reset", "1")
    assert code == 0, err
    assert "is gone or empty, and the grader kept the version it last graded" in out
    assert stub.read_text() == SELF_DELETING


def test_the_last_graded_version_needs_no_git_and_is_bounded(fake_course, run_grader, monkeypatch):
    fake_course.add("01_adder")
    stub = folder(fake_course) / "adder.py"
    stub.write_text(SELF_DELETING)
    run_grader("check", "1")
    code, out, err = run_grader("reset", "1", "--graded")  # no git, no checksums: still there
    assert code == 0 and stub.read_text() == SELF_DELETING, err
    assert "Restored adder.py (the version last graded)." in out
    monkeypatch.setattr("grader.pristine.KEEP_LIMIT", 10)  # bytes: larger files are not kept
    stub.write_text(SELF_DELETING.replace("the work", "later work"))
    run_grader("check", "1")
    kept = fake_course.root / ".grader" / "graded" / "01_adder" / "adder.py"
    assert kept.read_text() == SELF_DELETING  # the earlier copy stays; the large one was not written


# --- a corrupt or unwritable .grader/ -------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe\x00not utf-8\x80", b"{not json", b"[" * 100_000, b'{"version": 1, "results": [], "hints": {}}'],
    ids=["not-utf-8", "not-json", "too-deep", "wrong-layout"],
)
def test_a_corrupt_state_is_rebuilt_whatever_the_corruption(course, run_grader, garbage):
    state = course.root / ".grader" / "state.json"
    state.parent.mkdir()
    state.write_bytes(garbage)
    code, out, err = run_grader("status")
    assert code == 0 and "0/1 exercises" in out
    assert_plain(out, err)
    assert err.count("was unreadable and has been rebuilt") == 1
    assert (course.root / ".grader" / "state.corrupt").read_bytes() == garbage  # set aside, not lost
    code, out, err = run_grader("hint", "1")
    assert code == 0 and err == ""
    assert json.loads(state.read_text())["hints"] == {"01_adder": 1}


@pytest.mark.parametrize("entry", [[1], {"status": "passed", "surprise": 1}, {"tests": "x"}, "x"])
def test_a_cached_entry_of_another_shape_is_run_again(course, run_grader, entry):
    folder(course).joinpath("adder.py").write_text("def add(a, b):\n    return a + b\n")
    loaded = load_course(course.root)
    key = fingerprint(loaded, loaded.exercises[0])  # it matches: the entry itself is what is wrong
    state = course.root / ".grader" / "state.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"version": 1, "results": {"01_adder": {"key": key, "result": entry}}, "hints": {}}))
    code, out, err = run_grader("check", "1")
    assert code == 0 and "2 of 2 tests pass" in out and err == "", err


def _refuse_writes(monkeypatch):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("grader.state.tempfile.mkstemp", refused)


def test_an_unwritable_grader_folder_is_said_once_and_the_check_still_answers(fake_course, run_grader, monkeypatch):
    fake_course.add("01_adder")
    fake_course.add("02_adder_too")
    fake_course.solve("01_adder")
    _refuse_writes(monkeypatch)
    code, out, err = run_grader("check", "1", "2")
    assert code == 1 and "01 adder" in out and "02 adder_too" in out
    assert err.count("could not save") == 1 and "results will not be cached" in err, err
    assert_plain(out, err)


def test_repeated_saves_that_fail_are_reported_once(tmp_path, monkeypatch):
    told = []
    state = State(tmp_path / ".grader" / "state.json", on_notice=told.append)
    _refuse_writes(monkeypatch)
    for _ in range(3):  # grader watch saves after every check
        state.save()
    assert len(told) == 1 and "Permission denied" in told[0]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_grader_folder_is_reported(fake_course, run_grader):
    fake_course.add("01_adder")
    grader_dir = fake_course.root / ".grader"
    grader_dir.mkdir()
    grader_dir.chmod(0o555)
    try:
        code, out, err = run_grader("check", "1")
    finally:
        grader_dir.chmod(0o755)
    assert code == 1 and "01 adder" in out and err.count("could not save") == 1, err


# --- one broken exercise.toml --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata, reason",
    [
        (b"titel = 'x'\n", "unknown key 'titel' (did you mean 'title'?)"),
        (b"title = \n", "is not valid TOML"),
        (b"title = '\xff'\n", "is not UTF-8 text"),
        (None, "exercise.toml is missing"),
    ],
    ids=["unknown-key", "not-toml", "not-utf-8", "missing"],
)
def test_one_broken_exercise_leaves_the_others_working(fake_course, run_grader, metadata, reason):
    fake_course.add("01_adder")
    fake_course.add("02_adder_too")
    fake_course.solve("02_adder_too")
    metadata_file = folder(fake_course) / "exercise.toml"
    if metadata is None:
        metadata_file.unlink()
    else:
        metadata_file.write_bytes(metadata)

    code, out, err = run_grader("status")
    assert code == 2
    assert "01 adder" in out and "broken" in out and reason in out  # in the table, with the sentence
    assert "02 adder_too" in out and "passed 2/2" in out and "1/2 exercises" in out
    assert "01_adder cannot be graded: " in err and reason in err
    assert_plain(out, err)

    code, out, err = run_grader("check", "2")
    assert code == 0 and "2 of 2 tests pass" in out and err == ""
    code, out, err = run_grader("check", "1")
    assert code == 2 and out == "" and reason in err and len(err.strip().splitlines()) == 1
    code, out, err = run_grader("check", "1", "2")
    assert code == 2 and "2 of 2 tests pass" in out and reason in err
    code, _, err = run_grader("hint", "1")
    assert code == 2 and reason in err
    code, out, err = run_grader("report", "--format", "summary")
    assert code == 2 and "| 01 adder | error | – | 0/10 |" in out and "| 02 adder_too | passed | 2/2 | 10/10 |" in out
    assert "**10/20**" in out  # the broken exercise still counts, for nothing
    assert_plain(out, err)


# --- two checks at once --------------------------------------------------------------------------------

SLOW_TESTS = '''
import time

from {module} import add


def test_adds_slowly():
    time.sleep(0.5)  # both checks have read the state before either saves it
    assert add(1, 2) == 3
'''


def test_two_checks_at_once_keep_both_results(fake_course):
    fake_course.add("01_adder", tests=SLOW_TESTS)
    fake_course.add("02_adder_too", tests=SLOW_TESTS)
    fake_course.solve("01_adder")
    fake_course.solve("02_adder_too")
    state = fake_course.root / ".grader" / "state.json"
    for _ in range(3):
        state.unlink(missing_ok=True)
        checks = [grader_child(fake_course, "check", number) for number in ("01", "02")]
        for check in checks:
            out, err = check.communicate(timeout=120)
            assert check.returncode == 0, out + err
        assert sorted(json.loads(state.read_text())["results"]) == ["01_adder", "02_adder_too"]


WAITING_TESTS = '''
import os
import pathlib
import time

from {module} import add


def test_waits_for_the_go():
    notes = pathlib.Path(os.environ["RELIABILITY_NOTES"])
    (notes / "started").write_text("")
    deadline = time.monotonic() + 60
    while not (notes / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert add(1, 2) == 3
'''


def test_a_hint_shown_during_a_check_is_kept(fake_course, run_grader, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    fake_course.add("01_adder", tests=WAITING_TESTS)
    fake_course.add("02_adder_too")
    fake_course.solve("01_adder")
    check = grader_child(fake_course, "check", "01", env={**os.environ, "RELIABILITY_NOTES": str(notes)})
    try:
        deadline = time.monotonic() + 60
        while not (notes / "started").exists():
            assert time.monotonic() < deadline and check.poll() is None, check.communicate()
            time.sleep(0.02)
        code, out, _ = run_grader("hint", "2")  # while the check runs, with the state it read at its start
        assert code == 0 and "1/2  first hint" in out
        (notes / "go").write_text("")
        out, err = check.communicate(timeout=60)
    finally:
        check.kill()
    assert check.returncode == 0, out + err
    saved = json.loads((fake_course.root / ".grader" / "state.json").read_text())
    assert saved["hints"] == {"02_adder_too": 1} and list(saved["results"]) == ["01_adder"]


HAMMER = """
import sys
sys.path.insert(0, sys.argv[1])
import grader.state
from grader.results import ExerciseResult
from grader.state import State, fingerprint

if sys.argv[4] == "fallback":
    grader.state.fcntl = None  # the portable lock file, as on Windows


class Exercise:
    def __init__(self, name):
        self.name = name


for i in range(25):
    state = State(__import__("pathlib").Path(sys.argv[2]))
    name = f"{sys.argv[3]}_{i}"
    state.remember(Exercise(name), "key", ExerciseResult(exercise=name, status="passed"))
    if i % 5 == 0:
        state.set_hints_shown(Exercise(name), 1)
    state.save()
"""


@pytest.mark.parametrize("lock", ["flock", "fallback"])
def test_saves_from_several_processes_at_once_lose_nothing(tmp_path, lock):
    if lock == "flock" and os.name != "posix":
        pytest.skip("fcntl is POSIX")
    state = tmp_path / ".grader" / "state.json"
    writers = [
        subprocess.Popen([sys.executable, "-c", HAMMER, str(REPO), str(state), f"w{n}", lock]) for n in range(4)
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    saved = json.loads(state.read_text())
    assert len(saved["results"]) == 4 * 25 and len(saved["hints"]) == 4 * 5


# --- metadata that makes no sense ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, words",
    [
        ("time_limit = -1", "'time_limit' must be a positive number of seconds, not -1"),
        ("time_limit = 0", "'time_limit' must be a positive number of seconds, not 0"),
        ("time_limit = nan", "'time_limit' must be a positive number of seconds, not nan"),
        ("time_limit = inf", "'time_limit' must be a positive number of seconds, not inf"),
        ("timeout = -1", "'timeout' must be a positive number of seconds, not -1"),
        ("timeout = 0", "'timeout' must be a positive number of seconds, not 0"),
        ("points = -1", "'points' must be zero or more, not -1"),
        ("points = nan", "'points' must be zero or more, not nan"),
        ('files = ["../../outside.py"]', "'files' must name files in the exercise's own folder, not '../../outside.py'"),
    ],
)
def test_meaningless_metadata_is_refused_with_the_fields_name(fake_course, run_grader, line, words):
    exercise = fake_course.add("01_adder")
    metadata = exercise / "exercise.toml"
    key = line.split(" = ")[0]
    kept = [row for row in metadata.read_text().splitlines() if not row.startswith(f"{key} =")]
    metadata.write_text("\n".join([*kept, line]) + "\n")
    with pytest.raises(CourseError, match="must"):
        load_course(fake_course.root)
    with pytest.raises(CourseError) as raised:
        load_course(fake_course.root)
    assert words in str(raised.value)
    code, out, err = run_grader("check", "1")
    assert code == 2 and words in err
    assert_plain(out, err)


def test_zero_points_is_an_exercise_that_counts_for_nothing(fake_course):
    exercise = fake_course.add("01_adder")
    metadata = exercise / "exercise.toml"
    metadata.write_text(metadata.read_text().replace("points = 10", "points = 0"))
    assert load_course(fake_course.root).exercises[0].points == 0


def test_a_lock_file_left_by_a_killed_command_is_taken_over(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr("grader.state.fcntl", None)  # the portable lock file
    path = tmp_path / ".grader" / "state.json"
    path.parent.mkdir()
    held = path.with_name("state.json.lock-held")
    held.write_text("")
    long_ago = time.time() - 60
    os.utime(held, (long_ago, long_ago))
    told = []
    state = State(path, on_notice=told.append)
    state.set_hints_shown(SimpleNamespace(name="01_adder"), 1)
    state.save()
    assert told == [] and json.loads(path.read_text())["hints"] == {"01_adder": 1} and not held.exists()
