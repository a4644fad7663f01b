"""`grader roster`: a class of git repositories graded into one grade sheet, on one machine or in shards.

A fake course (tests/conftest.py) with two cheap exercises is the instructor's course; each student's
repository is a copy of it committed with git, in a temporary folder. Every run is
``python -m grader roster`` in a child, with ``KATA_COURSE_ROOT`` pointing at the instructor's course.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, FakeCourse

EXERCISES = ("01_alpha", "02_beta")
HALF = '''
def add(a, b):
    return abs(a) + abs(b)  # right for the small numbers, wrong for the negative ones
'''
SYNTAX_ERROR = "def add(a, b)\n    return a + b\n"
# A course copy ships the grader: a student can commit one of their own. If `python -m grader` ever ran
# with the student's export as its working folder, this one would award full marks.
PLANTED_GRADER = '''
import json, pathlib, sys
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1]); out.mkdir(parents=True, exist_ok=True)
tests = [{"score": 10, "max_score": 10, "status": "passed", "number": f"{n}.1", "tags": [s]} for n, s in ((1, "alpha"), (2, "beta"))]
(out / "gradescope.json").write_text(json.dumps({"tests": tests}))
(out / "points.json").write_text(json.dumps({"version": 1, "total": "20", "max_points": 20, "exercises": [], "error": None}))
'''


def git(folder: Path, *args: str, date: str | None = None) -> str:
    env = {
        **os.environ, "GIT_AUTHOR_NAME": "student", "GIT_AUTHOR_EMAIL": "student@example.invalid",
        "GIT_COMMITTER_NAME": "student", "GIT_COMMITTER_EMAIL": "student@example.invalid",
    }
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    done = subprocess.run(["git", "-C", str(folder), *args], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def student_repository(course: FakeCourse, folder: Path, files: dict[str, str], *, date: str | None = None) -> Path:
    """A student's repository: the course's student-facing files, with ``files`` (path -> text) over them."""
    shutil.copytree(course.root / "exercises", folder / "exercises")
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    git(folder, "init", "--quiet", "--initial-branch=main")
    git(folder, "add", "-A")
    git(folder, "commit", "--quiet", "-m", "my work", date=date)
    return folder


def solved(name: str) -> dict[str, str]:
    module = name.split("_", 1)[1]
    return {f"exercises/{name}/{module}.py": "def add(a, b):\n    return a + b\n"}


def roster(course_root: Path, *args: str, cwd: Path, timeout: float = 300) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_SOLUTIONS", "FORCE_COLOR")}
    env["KATA_COURSE_ROOT"] = str(course_root)
    env["NO_COLOR"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "grader", "roster", *args],
        cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
    )
    return done.returncode, done.stdout, done.stderr


def rows_of(csv_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_text)))


class Class:
    """The instructor's course, five students' repositories, their roster, and one run over it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.course = FakeCourse(base / "course")
        for name in EXERCISES:
            self.course.add(name)
        repos = base / "repos"
        self.commits: dict[str, str] = {}
        for student, files in {
            "alice": {**solved("01_alpha"), **solved("02_beta")},
            "bob": {**solved("01_alpha"), "exercises/02_beta/beta.py": HALF, "grader/__main__.py": PLANTED_GRADER,
                    "grader/__init__.py": ""},
            "carol": {},
            "erin": {"exercises/01_alpha/alpha.py": SYNTAX_ERROR, **solved("02_beta")},
        }.items():
            folder = student_repository(self.course, repos / student, files)
            self.commits[student] = git(folder, "rev-parse", "HEAD")
        self.missing = repos / "dan"  # never created
        self.roster = base / "roster.csv"
        # Relative paths are read from the roster's folder; the header's case and spacing do not matter.
        self.roster.write_text(
            "Student, Repository,email\n"
            "alice,repos/alice,a@example.invalid\n"
            "bob,repos/bob,\n"
            "carol,repos/carol,\n"
            "dan,repos/dan,\n"
            "erin,repos/erin,\n"
        )

    def run(self, *args: str, timeout: float = 300) -> tuple[int, str, str]:
        return roster(self.course.root, *args, cwd=self.base, timeout=timeout)


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Class:
    return Class(tmp_path_factory.mktemp("class"))


@pytest.fixture(scope="module")
def single(klass: Class) -> Path:
    """One run over the whole roster, two students at a time."""
    out = klass.base / "single"
    code, stdout, stderr = klass.run(str(klass.roster), "--jobs", "2", "--out", str(out))
    assert code == 0, stdout + stderr
    assert "Traceback" not in stdout + stderr
    return out


# --- the grade sheet ------------------------------------------------------------------------------------


def test_the_grade_sheet_has_every_student_in_roster_order_with_exact_points(klass, single):
    text = (single / "grades.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "student,01_alpha,02_beta,total,max,commit,error"
    got = rows_of(text)
    c = klass.commits
    expected = [
        {"student": "alice", "01_alpha": "10", "02_beta": "10", "total": "20", "max": "20", "commit": c["alice"], "error": ""},
        # bob's own grader/ package was never run: his half solution scores its half
        {"student": "bob", "01_alpha": "10", "02_beta": "5", "total": "15", "max": "20", "commit": c["bob"], "error": ""},
        {"student": "carol", "01_alpha": "0", "02_beta": "0", "total": "0", "max": "20", "commit": c["carol"], "error": ""},
        {"student": "erin", "01_alpha": "0", "02_beta": "10", "total": "10", "max": "20", "commit": c["erin"], "error": ""},
    ]
    assert [r for r in got if r["student"] != "dan"] == expected
    assert [r["student"] for r in got] == ["alice", "bob", "carol", "dan", "erin"]
    [dan] = [r for r in got if r["student"] == "dan"]
    assert dan["error"].startswith(f"could not clone repos/dan: repository '{klass.missing}' does not exist"), dan
    assert "\n" not in dan["error"] and all(dan[k] == "" for k in ("01_alpha", "02_beta", "total", "max", "commit"))


def test_each_students_own_reports_are_kept_and_the_clones_are_cached(klass, single):
    for student in ("alice", "bob", "carol", "erin"):
        assert (single / "results" / student / "summary.md").is_file(), student
        assert (single / "repos" / f"{student}.git" / "HEAD").is_file(), student
    assert not (single / "results" / "dan").exists()
    summary = (single / "results" / "erin" / "summary.md").read_text()
    assert "01 alpha" in summary, summary


def test_a_second_run_fetches_into_the_cache_and_grades_the_new_commit(klass, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(klass.base / "repos" / "carol", tmp_path / "carol")
    (tmp_path / "roster.csv").write_text("student,repository\ncarol,carol\n")
    code, stdout, stderr = roster(klass.course.root, "roster.csv", "--out", str(out), cwd=tmp_path)
    assert code == 0, stdout + stderr
    assert rows_of((out / "grades.csv").read_text())[0]["total"] == "0"
    (tmp_path / "carol" / "exercises" / "01_alpha" / "alpha.py").write_text(solved("01_alpha")["exercises/01_alpha/alpha.py"])
    git(tmp_path / "carol", "commit", "--quiet", "-am", "solve 01")
    code, stdout, stderr = roster(klass.course.root, "roster.csv", "--out", str(out), cwd=tmp_path)
    assert code == 0, stdout + stderr
    [carol] = rows_of((out / "grades.csv").read_text())
    assert (carol["total"], carol["commit"]) == ("10", git(tmp_path / "carol", "rev-parse", "HEAD"))


# --- deadlines --------------------------------------------------------------------------------------------


def test_the_last_commit_before_the_deadline_is_graded(klass, tmp_path):
    folder = student_repository(klass.course, tmp_path / "late", {}, date="2026-01-01T12:00:00+00:00")
    early = git(folder, "rev-parse", "HEAD")
    (folder / "exercises" / "01_alpha" / "alpha.py").write_text(solved("01_alpha")["exercises/01_alpha/alpha.py"])
    git(folder, "commit", "--quiet", "-am", "solved, after the deadline", date="2026-01-10T12:00:00+00:00")
    late = git(folder, "rev-parse", "HEAD")
    (tmp_path / "roster.csv").write_text(
        "student,repository,deadline\n"
        "on_time,late,\n"  # takes --deadline
        "own_deadline,late,2026-01-10\n"  # a date alone is the end of that day: the solved commit counts
        "too_early,late,2025-12-31T23:59+00:00\n"
    )
    out = tmp_path / "out"
    code, stdout, stderr = roster(
        klass.course.root, "roster.csv", "--deadline", "2026-01-05T00:00:00Z", "--out", str(out), cwd=tmp_path
    )
    assert code == 0, stdout + stderr
    got = {r["student"]: r for r in rows_of((out / "grades.csv").read_text())}
    assert (got["on_time"]["commit"], got["on_time"]["total"]) == (early, "0")
    assert (got["own_deadline"]["commit"], got["own_deadline"]["total"]) == (late, "10")
    assert got["too_early"]["error"] == "late has no commit at or before the deadline 2025-12-31T23:59:00+00:00"
    assert got["too_early"]["commit"] == ""


# --- assignments ------------------------------------------------------------------------------------------


def test_each_row_is_graded_on_its_assignment_or_the_default_one(tmp_path, monkeypatch):
    monkeypatch.delenv("KATA_COURSE_ROOT", raising=False)
    course = FakeCourse(tmp_path / "course")
    for name in EXERCISES:
        course.add(name)
    (course.root / "assignments.toml").write_text(
        '[[assignment]]\nname = "first"\nexercises = ["01"]\n\n[[assignment]]\nname = "both"\nexercises = ["01", "02"]\n'
    )
    student_repository(course, tmp_path / "solved", {**solved("01_alpha"), **solved("02_beta")})
    (tmp_path / "roster.csv").write_text(
        "student,repository,assignment\nann,solved,\nben,solved,both\ncid,solved,nonexistent\n"
    )
    out = tmp_path / "out"
    code, stdout, stderr = roster(course.root, "roster.csv", "--assignment", "first", "--out", str(out), cwd=tmp_path)
    assert code == 0, stdout + stderr
    got = {r["student"]: r for r in rows_of((out / "grades.csv").read_text())}
    assert [got["ann"][k] for k in ("01_alpha", "02_beta", "total", "max")] == ["10", "", "10", "10"]
    assert [got["ben"][k] for k in ("01_alpha", "02_beta", "total", "max")] == ["10", "10", "20", "20"]
    # an assignment the course does not define: grader grade's own sentence, on that row only
    assert "nonexistent" in got["cid"]["error"] and got["cid"]["total"] == "", got["cid"]


# --- Ctrl-C ---------------------------------------------------------------------------------------------

HANGS = '''
import os, pathlib, time


def add(a, b):
    pathlib.Path({marker!r}).write_text(str(os.getpid()))
    time.sleep(120)
'''


def test_ctrl_c_stops_the_roster_and_every_test_it_started(tmp_path):
    course = FakeCourse(tmp_path / "course")
    course.add("01_alpha", timeout=300, time_limit=300)
    marker = tmp_path / "started"
    student_repository(course, tmp_path / "slow", {"exercises/01_alpha/alpha.py": HANGS.format(marker=str(marker))})
    (tmp_path / "roster.csv").write_text("student,repository\nsid,slow\n")
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_SOLUTIONS", "FORCE_COLOR")}
    # no user switch, so that the student's code can say it started
    env.update(KATA_COURSE_ROOT=str(course.root), NO_COLOR="1", KATA_GRADE_USER="none")
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "roster", "roster.csv", "--out", "out"], cwd=tmp_path, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)  # polling for the student's code to run, bounded
        assert marker.exists(), process.communicate(timeout=60)
        pid = int(marker.read_text())
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)  # well before the test's 120 s sleep ends
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# --- a roster the grader cannot use ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, sentence",
    [
        ("alice,repos/alice\nbob,repos/bob\n", "has no header row: its first line must name the columns"),
        ("student,repo\nalice,repos/alice\n", "has no repository column (its header is student,repo)"),
        ("student,repository\nalice,repos/alice\nbob,repos/bob\nalice,repos/other\n",
         "the student alice appears twice in the roster roster.csv (lines 2 and 4): each student is graded once"),
        ("student,repository\nalice,\n", "line 2 of the roster roster.csv has no repository"),
        ("", "is empty"),
        ("student,repository,deadline\nalice,repos/alice,next friday\n", "is not an ISO 8601 date or time"),
    ],
    ids=["no-header", "missing-column", "duplicate-student", "empty-cell", "empty-file", "bad-deadline"],
)
def test_a_bad_roster_is_one_sentence_and_status_2(klass, tmp_path, text, sentence):
    (tmp_path / "roster.csv").write_text(text)
    code, stdout, stderr = roster(klass.course.root, "roster.csv", "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=60)
    assert code == 2, stdout + stderr
    assert sentence in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, sentence",
    [
        (["roster.csv", "--shard", "3/2"], "--shard 3/2: k must be between 1 and N"),
        (["roster.csv", "--shard", "two"], "--shard two is not of the form k/N"),
        (["missing.csv"], "the roster missing.csv does not exist"),
        (["--merge", "nowhere"], "--merge needs --out DIR"),
        (["--merge", "nowhere", "--out", "merged"], "nowhere has no roster.json"),
        ([], "name the roster file"),
    ],
)
def test_bad_arguments_are_one_sentence_and_status_2(klass, tmp_path, args, sentence):
    (tmp_path / "roster.csv").write_text("student,repository\nalice,repos/alice\n")
    code, stdout, stderr = roster(klass.course.root, *args, cwd=tmp_path, timeout=60)
    assert code == 2, stdout + stderr
    assert sentence in stderr and "Traceback" not in stderr, stderr


# --- shards -----------------------------------------------------------------------------------------------


def test_shards_graded_apart_and_merged_are_the_single_run_byte_for_byte(klass, single, tmp_path):
    for k in (1, 2):
        code, stdout, stderr = klass.run(str(klass.roster), "--shard", f"{k}/2", "--out", str(tmp_path / f"shard{k}"))
        assert code == 0, stdout + stderr
    # shard 1 grades rows 0, 2, 4 of the roster; shard 2 rows 1, 3
    assert [r["student"] for r in rows_of((tmp_path / "shard1" / "grades.csv").read_text())] == ["alice", "carol", "erin"]
    assert [r["student"] for r in rows_of((tmp_path / "shard2" / "grades.csv").read_text())] == ["bob", "dan"]
    merged = tmp_path / "merged"
    # given in any order
    code, stdout, stderr = klass.run("--merge", str(tmp_path / "shard2"), str(tmp_path / "shard1"), "--out", str(merged))
    assert code == 0, stdout + stderr
    for name in ("grades.csv", "report.html", "roster.json"):
        assert (merged / name).read_bytes() == (single / name).read_bytes(), name
    assert sorted(p.name for p in (merged / "results").iterdir()) == ["alice", "bob", "carol", "erin"]

    # A merge that would not be the whole class is refused, in one sentence.
    for folders, sentence in [
        ([tmp_path / "shard1"], "shard 2/2 is missing: merge needs all 2 shards' folders"),
        ([tmp_path / "shard1", tmp_path / "shard1"], "shard 1/2 is given twice"),
        ([tmp_path / "shard1", single], "the shards were cut in different ways"),
    ]:
        code, stdout, stderr = klass.run("--merge", *map(str, folders), "--out", str(tmp_path / "bad"))
        assert code == 2 and sentence in stderr and "Traceback" not in stderr, (folders, stderr)


def test_shards_of_another_roster_are_not_merged(klass, tmp_path):
    (tmp_path / "a.csv").write_text(f"student,repository\nalice,{klass.missing}\nbob,{klass.missing}\n")
    (tmp_path / "b.csv").write_text(f"student,repository\nalice,{klass.missing}\ncarl,{klass.missing}\n")
    for name, k in (("a", 1), ("b", 2)):
        code, stdout, stderr = roster(klass.course.root, f"{name}.csv", "--shard", f"{k}/2", "--out", name, cwd=tmp_path)
        assert code == 0, stdout + stderr
    code, stdout, stderr = roster(klass.course.root, "--merge", "a", "b", "--out", "merged", cwd=tmp_path)
    assert code == 2 and "the shards come from different rosters" in stderr, stderr


def test_a_shard_with_no_rows_still_merges(klass, tmp_path):
    (tmp_path / "r.csv").write_text(f"student,repository\nalice,{klass.missing}\nbob,{klass.missing}\n")
    for k in (1, 2, 3):  # shard 3 of 3 has no row of a two-row roster
        code, stdout, stderr = roster(klass.course.root, "r.csv", "--shard", f"{k}/3", "--out", f"s{k}", cwd=tmp_path)
        assert code == 0, stdout + stderr
    code, stdout, stderr = roster(klass.course.root, "r.csv", "--out", "single", cwd=tmp_path)
    assert code == 0, stdout + stderr
    code, stdout, stderr = roster(klass.course.root, "--merge", "s1", "s2", "s3", "--out", "merged", cwd=tmp_path)
    assert code == 0, stdout + stderr
    assert (tmp_path / "merged" / "grades.csv").read_bytes() == (tmp_path / "single" / "grades.csv").read_bytes()
    assert [r["student"] for r in rows_of((tmp_path / "merged" / "grades.csv").read_text())] == ["alice", "bob"]


def test_the_progress_line_is_live_on_a_terminal_and_plain_lines_otherwise(monkeypatch):
    from grader.roster import Progress, Record, Row

    monkeypatch.setenv("TERM", "xterm")  # a terminal that redraws a line in place (grader.progress.is_terminal)

    class Terminal(io.StringIO):
        encoding = "utf-8"  # as a student's terminal is: the line draws "·" (on an ASCII one, "-")

        def isatty(self) -> bool:
            return True

    done = Record(index=0, student="alice", repository="r", commit="a" * 40, total="15", max="20")
    failed = Record(index=1, student="bob", repository="r", error="could not clone r: nope")
    piped = io.StringIO()
    progress = Progress(2, piped)
    for record in (done, failed):
        progress.start(Row(record.index, record.student, "r", "r", None, None))
        progress.finish(record)
    progress.close()
    assert piped.getvalue() == f"[1/2] alice: 15/20 (commit {'a' * 12})\n[2/2] bob: could not clone r: nope\n"

    screen = Terminal()
    progress = Progress(2, screen)
    progress.start(Row(0, "alice", "r", "r", None, None))
    assert screen.getvalue().endswith("0/2 · grading alice")
    progress.finish(done)
    progress.start(Row(1, "bob", "r", "r", None, None))
    progress.finish(failed)
    progress.close()
    text = screen.getvalue()
    assert "\r\033[Kbob: could not clone r: nope\n" in text  # an error stays on screen
    assert "2/2 · 1 error" in text and text.endswith("\r\033[K") and text.count("\n") == 1


def test_the_shard_rule_is_stable_by_row_order():
    from grader.roster import Row, in_shard

    rows = [Row(i, f"s{i}", "r", "r", None, None) for i in range(7)]
    cuts = [[r.index for r in in_shard(rows, (k, 3))] for k in (1, 2, 3)]
    assert cuts == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(sum(cuts, [])) == list(range(7))


# --- the HTML report ------------------------------------------------------------------------------------


class Page(HTMLParser):
    """The tags, the text and the links of a page, and any tag closed that was not open."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "line", "rect"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID and tag not in self.open:
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_the_report_is_one_self_contained_page(single):
    html = (single / "report.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    page.close()
    assert page.problems == [] and page.open == [], (page.problems, page.open)
    assert "script" not in page.tags and page.links == [], "no script, no external resource"
    assert page.tags.count("svg") == 1 and page.tags.count("rect") == 10  # the histogram: ten tenths
    text = " ".join(" ".join(page.text).split())
    assert "5 students · 4 graded · 1 with an error" in text
    assert "Students with errors (1) student repository why dan repos/dan could not clone repos/dan" in text
    # completion: 01 was completed by alice and bob, 02 by alice and erin, each of 4 graded
    assert "01_alpha 2/4" in text and "02_beta 2/4" in text
    assert "erin 01_alpha does not run" in text
    assert "0–9 %: 1 student" in text and "90–100 %: 1 student" in text and "70–79 %: 1 student" in text


CHROMIUM = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome", "google-chrome-stable")


def _console_messages(browser: str, page: Path, profile: Path) -> tuple[str, list[str]]:
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def test_the_report_opens_in_a_headless_browser_without_console_errors(single, tmp_path):
    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    if browser is None:
        pytest.skip("no Chromium on this machine (chromium, chromium-headless-shell or google-chrome): apt-get install chromium")
    # The check itself is proven first: a page that logs and throws is seen to.
    broken = tmp_path / "broken.html"
    broken.write_text('<!doctype html><p>x</p><script>console.error("seen"); no_such_function();</script>')
    _, messages = _console_messages(browser, broken, tmp_path / "profile")
    assert any("seen" in m for m in messages) and any("no_such_function" in m for m in messages), messages
    dom, messages = _console_messages(browser, single / "report.html", tmp_path / "profile")
    assert messages == []
    assert "<h1>Roster grades</h1>" in dom and "<svg" in dom, dom[:500]


# --- the workflow for many machines -----------------------------------------------------------------------

WORKFLOW = REPO / "docs" / "roster-workflow.yml"


def _expand(text: str, values: dict[str, str]) -> str:
    """``${{ matrix.shard }}`` and the like, as the runner would put them in (a KeyError if unknown)."""
    return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", lambda m: values[m[1]], text)


def _step(job: dict, name: str) -> dict:
    return next(s for s in job["steps"] if s.get("name", "").startswith(name) or s.get("id") == name)


def test_the_sharded_workflow_run_step_by_step_gives_the_single_run(klass, single, tmp_path):
    """The workflow's own scripts, run here as its jobs would (no GitHub): plan, two shards, merge."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert jobs["grade"]["needs"] == "plan" and jobs["merge"]["needs"] == ["plan", "grade"]
    assert jobs["grade"]["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    upload = next(s for s in jobs["grade"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "!shard/repos/" in upload["with"]["path"], "the clones stay out of the artifact"

    shim = tmp_path / "bin"  # `grader` on PATH, as `pip install -e .` puts it there
    shim.mkdir()
    (shim / "grader").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m grader "$@"\n')
    (shim / "grader").chmod(0o755)
    work = klass.base  # the checkout: roster.csv and the repositories it names, where the single run found them
    values = {"inputs.roster": "roster.csv", "inputs.shards": "2", "inputs.assignment": "", "inputs.deadline": "",
              "inputs.jobs": "1", "secrets.ROSTER_TOKEN": ""}
    base_env = {k: v for k, v in os.environ.items() if k not in ("KATA_SOLUTIONS", "FORCE_COLOR")}
    base_env.update(KATA_COURSE_ROOT=str(klass.course.root), PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    base_env.update({k: _expand(v, values) for k, v in workflow["env"].items()})

    def run(job: str, step: dict, extra: dict[str, str], cwd: Path) -> str:
        env = {**base_env, **{k: _expand(str(v), {**values, **extra}) for k, v in step.get("env", {}).items()}}
        env["GITHUB_OUTPUT"] = env["GITHUB_STEP_SUMMARY"] = str(tmp_path / f"{job}.out")
        done = subprocess.run(["bash", "-e", "-c", _expand(step["run"], {**values, **extra})], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return (tmp_path / f"{job}.out").read_text() if (tmp_path / f"{job}.out").exists() else ""

    outputs = dict(line.split("=", 1) for line in run("plan", _step(jobs["plan"], "plan"), {}, work).split())
    assert outputs == {"count": "2", "shards": "[1,2]"}
    for shard in json.loads(outputs["shards"]):
        extra = {"matrix.shard": str(shard), "needs.plan.outputs.count": outputs["count"]}
        run("grade", _step(jobs["grade"], "Grade shard"), extra, work)
        # the upload (minus the clones) and the download, as the artifact actions do them
        shutil.copytree(work / "shard", work / "shards" / f"roster-shard-{shard}", ignore=shutil.ignore_patterns("repos"))
        shutil.rmtree(work / "shard")
    summary = run("merge", _step(jobs["merge"], "Merge the shards"), {}, work)
    assert summary.startswith("5 students: grades.csv and report.html"), summary
    for name in ("grades.csv", "report.html", "roster.json"):
        assert (work / "roster-results" / name).read_bytes() == (single / name).read_bytes(), name


def test_the_workflow_is_never_in_a_course_copy():
    """Everything under template/ goes to the students' main: the workflow lives outside it."""
    assert WORKFLOW.is_file()
    assert not any(p.name == WORKFLOW.name for p in (REPO / "template").rglob("*.yml"))
    copier = yaml.safe_load((REPO / "copier.yml").read_text(encoding="utf-8"))
    assert copier["_subdirectory"] == "template"


def test_the_total_is_the_exact_one_not_the_sum_of_rounded_cells(tmp_path):
    """Three exercises worth 10/3 each: the cells read 3.33, the total is 10, not 9.99."""
    from grader.roster import Record, read_points
    from grader.roster_report import to_csv

    exercises = [
        {"exercise": f"0{n}_x{n}", "status": "passed", "points": 3.33, "max_points": 3.33, "passed": 1, "tests": 1}
        for n in (1, 2, 3)
    ]
    points = {"version": 1, "assignment": None, "total": "10", "total_points": 10.0, "max_points": 10.0,
              "exercises": exercises, "error": None}
    (tmp_path / "points.json").write_text(json.dumps(points))
    scores, total, maximum, error = read_points(tmp_path)
    record = Record(index=0, student="ann", repository="r", commit="c", total=str(total), max=str(maximum), exercises=scores)
    assert to_csv([record]).splitlines() == ["student,01_x1,02_x2,03_x3,total,max,commit,error", "ann,3.33,3.33,3.33,10,10,c,"]
