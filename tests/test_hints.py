"""`grader hint`: one more each call, `--again` to reread for free, `--all` once it passes; and the
course's hints themselves: code in a hint must work as written."""

from __future__ import annotations

import re
import sys
import textwrap
from http import HTTPStatus

import pytest

from grader.course import load_course
from grader.state import State

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


def hints_shown(fake_course, name: str) -> int:
    course = load_course(fake_course.root)
    return State.for_course(course).hints_shown(course.resolve(name))


# --- the command ---------------------------------------------------------------------------------------


def test_again_rereads_the_hints_seen_without_taking_the_next(fake_course, run_grader):
    fake_course.add("01_adder", hints=("first hint", "second hint", "third hint"))
    code, out, _ = run_grader("hint", "01")
    assert code == 0 and "1/3  first hint" in out and "second hint" not in out
    code, out, _ = run_grader("hint", "01", "--again")
    assert code == 0 and "1/3  first hint" in out and "second hint" not in out, out
    assert "That is the hint you have seen" in out
    assert hints_shown(fake_course, "01") == 1
    code, out, _ = run_grader("hint", "01")
    assert "2/3  second hint" in out and "third hint" not in out
    code, out, _ = run_grader("hint", "01", "--again")
    assert "2/3  second hint" in out and "third hint" not in out and "Those are the 2 hints" in out
    assert hints_shown(fake_course, "01") == 2


def test_again_before_any_hint_says_how_to_take_the_first(fake_course, run_grader):
    fake_course.add("01_adder")
    code, out, _ = run_grader("hint", "01", "--again")
    assert code == 0
    assert out.strip() == "You have not taken a hint for 01 adder yet: `grader hint 01` shows the first."
    assert hints_shown(fake_course, "01") == 0


def test_all_is_refused_in_one_sentence_before_the_exercise_passes(fake_course, run_grader):
    fake_course.add("01_adder", stub="def add(a, b):\n    return a - b\n")  # started, and failing
    code, out, err = run_grader("hint", "01", "--all")
    assert code == 1
    assert "first hint" not in out
    message = err.strip()
    assert message.count("\n") == 0 and "does not pass yet" in message and "--again" in message, err
    assert hints_shown(fake_course, "01") == 0


def test_all_shows_every_hint_once_the_exercise_passes(fake_course, run_grader):
    fake_course.add("01_adder", hints=("first hint", "second hint", "third hint"))
    fake_course.solve("01_adder")
    code, out, _ = run_grader("hint", "01", "--all")
    assert code == 0, out
    assert all(f"{n}/3  {text}" in out for n, text in [(1, "first hint"), (2, "second hint"), (3, "third hint")])
    assert hints_shown(fake_course, "01") == 3


def test_again_and_all_together_are_a_usage_error(fake_course, run_grader):
    fake_course.add("01_adder")
    code, _, err = run_grader("hint", "01", "--again", "--all")
    assert code == 2 and "not allowed with" in err


# --- the course's hints: code in them works as written ---------------------------------------------------


def course_hints(number: str) -> list[str]:
    return list(load_course(REPO).resolve(number).hints)


def code_in(hint: str, *, containing: str) -> str:
    """The one `backticked` piece of ``hint`` that holds ``containing``."""
    found = [snippet for snippet in re.findall(r"`([^`]+)`", hint) if containing in snippet]
    assert len(found) == 1, f"expected one `...` piece with {containing!r} in the hint, found {found}: {hint}"
    return found[0]


def compiles(snippet: str) -> bool:
    """Whether a hint's one-line code is Python: as it is, or in the body of an (async) function.

    A hint writes a compound statement on one line (``try: x except E: pass``); its clauses go on
    lines of their own first. A bare signature (``async def f(message)``) gets its body.
    """
    text = re.sub(r" (except\b|finally:|else:)", r"\n\1", snippet.strip())
    if re.fullmatch(r"(async )?def \w+\(.*\)", text):
        text += ": ..."
    for source in (text, "async def hint():\n" + textwrap.indent(text, "    ")):
        try:
            compile(source, "<hint>", "exec")
        except SyntaxError:
            continue
        return True
    return False


def every_code_piece():
    course = load_course(REPO)
    for exercise in course.exercises:
        for number, hint in enumerate(exercise.hints, start=1):
            for snippet in re.findall(r"`([^`]+)`", hint):
                if re.search(r"[()=\[\]:]", snippet):  # code, not a word set in backticks
                    yield pytest.param(snippet, id=f"{exercise.number:02d}-hint{number}-{snippet[:30]}")


@pytest.mark.parametrize("snippet", list(every_code_piece()))
def test_every_code_piece_of_a_hint_is_python(snippet):
    assert compiles(snippet), f"this hint's code is not Python as written: {snippet}"


def test_every_exercise_has_three_to_five_hints():
    for exercise in load_course(REPO).exercises:
        assert 3 <= len(exercise.hints) <= 5, f"{exercise.name} has {len(exercise.hints)} hints"


TEXT_PLAIN = [("Content-Type", "text/plain; charset=utf-8")]


def guarded_app_from_hint():
    """05's make_guarded_app written exactly as its last hint says, with the hint's own code pieces."""
    hint = course_hints("05")[4]
    before_try, closing = code_in(hint, containing="chunks = None"), code_in(hint, containing="close()")
    source = textwrap.dedent(f"""
        def make_guarded_app(produce):
            def app(environ, start_response):
                start_response("200 OK", TEXT_PLAIN)
                {before_try}
                try:
                    chunks = produce(environ)
                    for chunk in chunks:
                        yield chunk
                except Exception:
                    start_response("500 Internal Server Error", TEXT_PLAIN, sys.exc_info())
                    yield b"Internal Server Error"
                finally:
                    {closing}
            return app
    """)
    namespace = {"sys": sys, "TEXT_PLAIN": TEXT_PLAIN}
    exec(compile(source, "<05 hint 5>", "exec"), namespace)
    return namespace["make_guarded_app"]


def test_05_hint_5_survives_a_produce_that_raises_before_returning():
    make_guarded_app = guarded_app_from_hint()
    calls = []

    def start_response(status, headers, exc_info=None):
        calls.append(status)

    def produce(environ):
        raise ValueError("no data")

    # With `chunks` unbound when produce() raises, the finally: raised UnboundLocalError here.
    body = list(make_guarded_app(produce)({}, start_response))
    assert (calls, body) == (["200 OK", "500 Internal Server Error"], [b"Internal Server Error"])


def test_05_hint_5_closes_the_inner_iterable_once():
    make_guarded_app = guarded_app_from_hint()
    closed = []

    class Chunks:
        def __iter__(self):
            yield b"a"
            yield b"b"

        def close(self):
            closed.append(True)

    body = list(make_guarded_app(lambda environ: Chunks())({}, lambda *args: None))
    assert (body, closed) == ([b"a", b"b"], [True])


@pytest.mark.parametrize(("status", "expected"), [(404, "Not Found"), (200, "OK"), (599, None)])
def test_11_hint_4_gives_a_phrase_for_any_status(status, expected):
    # HTTPStatus(599) raises ValueError, and 11's tests send a 599.
    phrase_code = code_in(course_hints("11")[3], containing="phrase =")
    namespace = {"HTTPStatus": HTTPStatus, "status": status}
    exec(phrase_code, namespace)
    line = f"{status} {namespace['phrase']}"
    assert re.fullmatch(rf"{status} \S.*", line), line
    if expected is not None:
        assert namespace["phrase"] == expected


@pytest.mark.parametrize("number", ["09", "19"])
def test_the_middleware_stack_hint_leaves_the_first_one_outermost(number):
    loop_code = code_in(course_hints(number)[4], containing="reversed(middleware)")

    def named(name):
        return lambda app: (name, app)

    namespace = {"middleware": [named("first"), named("second")], "app": "app"}
    exec(loop_code, namespace)
    assert namespace["app"] == ("first", ("second", "app"))
