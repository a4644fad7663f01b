"""Every failure findable, and the server's side of it (issue 17, items 2 and 3).

`grader check` shows the first failure in full, then one line per other failing test; `-v` shows each
in full. `where:` names the test's own line (with its parametrize id) and the student's line; a
`wsgiref.validate` assertion is the PEP 3333 rule it guards; a test that drove a server shows what the
server printed, the bytes each way, and a command to replay the request; a response the client cannot
parse is "your server sent …".
"""

from __future__ import annotations

import socket
import textwrap
import threading
import warnings
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from grader import server_side, wsgi_rules
from testkit import replay, wire

STUDENT = '''
import socketserver


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/boom":
        raise KeyError("boom")  # the app's own error, under uvicorn
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class NotHTTP(socketserver.StreamRequestHandler):
    def handle(self):
        while self.rfile.readline() not in (b"\\r\\n", b"\\n", b""):
            pass
        print("tiny server: answering in its own way")
        self.wfile.write(b"0\\r\\nnot http\\r\\n\\r\\n")


def make_server(host, port):
    return socketserver.TCPServer((host, port), NotHTTP)


def wsgi_app(environ, start_response):
    start_response("20 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


def parse_number(text):
    return int(text)  # raises on "x1"


if __name__ == "__main__":  # a server process: one connection, a wrong body
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(f"serving on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            print("process: got a request", flush=True)
            connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nno")
'''

TESTS = '''
import httpx
import pytest
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import tiny_server
from testkit.serving import CLIENT_TIMEOUT, python_argv, serving, subprocess_serving, uvicorn_serving


def test_adds():
    assert 1 + 1 == 2


def test_the_app_answers_under_uvicorn():
    with uvicorn_serving(tiny_server.app) as url:
        response = httpx.get(url + "/boom?x=1", timeout=CLIENT_TIMEOUT)
    assert response.status_code == 200, f"expected 200, got {response.status_code}"


def test_the_server_speaks_http():
    server = tiny_server.make_server("127.0.0.1", 0)
    with serving(server, name="your tiny_server", poll_interval=0.01) as url:
        httpx.get(url + "/", timeout=CLIENT_TIMEOUT)


def expect_even(number):
    assert number % 2 == 0, f"expected an even number, got {number}"


@pytest.mark.parametrize("number", [2, 3, 5], ids=["two", "three", "five"])
def test_numbers_are_even(number):
    expect_even(number)  # the test's own line


def test_parses_a_number():
    assert tiny_server.parse_number("x1") == 1


def test_the_app_passes_the_validator():
    environ = {"QUERY_STRING": ""}
    setup_testing_defaults(environ)
    body = validator(tiny_server.wsgi_app)(environ, lambda status, headers, exc_info=None: None)
    list(body)
    body.close()


def test_the_command_line_serves():
    ready = r"http://127\\.0\\.0\\.1:(?P<port>\\d+)"
    with subprocess_serving(python_argv(tiny_server.__file__), ready=ready, name="python tiny_server.py") as url:
        response = httpx.get(url + "/", timeout=CLIENT_TIMEOUT)
    assert response.text == "ok", f"expected 'ok', got {response.text!r}"
'''


def line(path, text: str) -> int:
    return next(n for n, source in enumerate(path.read_text().splitlines(), start=1) if text in source)


@pytest.fixture
def tiny(fake_course):
    folder = fake_course.add("01_tiny_server", timeout=20)
    (folder / "tiny_server.py").write_text(textwrap.dedent(STUDENT))
    (folder / "test_tiny_server.py").write_text(textwrap.dedent(TESTS))
    return folder


@pytest.fixture
def checked(tiny, run_grader):
    """``grader check 01`` and ``grader check 01 -v`` (the second one reads the cache)."""
    code, out, err = run_grader("check", "01")
    assert code == 1, out + err
    verbose_code, verbose, err = run_grader("check", "01", "-v")
    assert verbose_code == 1, verbose + err
    return tiny, out, verbose


def block(out: str, name: str) -> str:
    """One failure in full: from its name to the next blank line."""
    start = out.index(f"\n  {name}\n")
    end = out.find("\n\n", start + 1)
    return out[start : end if end >= 0 else len(out)]


def test_the_first_failure_in_full_then_one_line_per_other_failure(checked):
    _, out, _ = checked
    assert "2 of 9 tests pass" in out
    first = block(out, "test_the_app_answers_under_uvicorn")
    assert "expected 200, got 500" in first
    assert "6 more failing:" in out
    others = out[out.index("6 more failing:") :].splitlines()[1:7]
    names = [row.strip().split(" ", 1)[1].split(":", 1)[0] for row in others]
    assert names == [
        "test_the_server_speaks_http",
        "test_numbers_are_even[three]",
        "test_numbers_are_even[five]",
        "test_parses_a_number",
        "test_the_app_passes_the_validator",
        "test_the_command_line_serves",
    ]
    assert "test_numbers_are_even[three]: expected an even number, got 3" in out
    assert "`grader check 01 -v` shows each in full." in out
    assert "\n  test_numbers_are_even[three]\n" not in out  # one line, not in full


def test_verbose_gives_every_failure_in_full(checked):
    _, out, verbose = checked
    for name in ("test_the_server_speaks_http", "test_numbers_are_even[three]", "test_numbers_are_even[five]",
                 "test_parses_a_number", "test_the_app_passes_the_validator", "test_the_command_line_serves"):
        assert f"\n  {name}\n" in verbose, name
    assert "more failing" not in verbose
    assert verbose.count("where:") == 7
    assert "your tiny_server printed:" in verbose and "your tiny_server printed:" not in out


def test_a_failing_server_test_shows_the_servers_traceback_the_bytes_and_a_curl_line(checked):
    folder, out, _ = checked
    first = block(out, "test_the_app_answers_under_uvicorn")
    student = folder / "tiny_server.py"
    # What uvicorn logged for the student's app: its traceback, folded to the course's own frames.
    assert "uvicorn printed:" in first
    assert "Exception in ASGI application" in first and "KeyError: 'boom'" in first
    raise_line = line(student, 'raise KeyError("boom")')
    assert f'File "exercises/01_tiny_server/tiny_server.py", line {raise_line}, in app' in first
    assert "frames in uvicorn" in first and "site-packages" not in first
    # The student's line on the server's side, beside the test's own line.
    own = line(folder / "test_tiny_server.py", "assert response.status_code == 200")
    assert f"where: exercises/01_tiny_server/test_tiny_server.py:{own}, in test_the_app_answers_under_uvicorn" in first
    assert f"exercises/01_tiny_server/tiny_server.py:{raise_line}, in your code, on the server's side" in first
    # The bytes each way, escaped, and the command that sends the same request.
    assert "sent (connection 1 of 1):" in first
    assert "\n    GET /boom?x=1 HTTP/1.1\\r\\n\n" in first
    assert "received:" in first and "\n    HTTP/1.1 500 Internal Server Error\\r\\n\n" in first
    assert "curl -i 'http://127.0.0.1:8000/boom?x=1'" in first


def test_a_response_that_is_not_http_is_what_your_server_sent(checked):
    _, out, verbose = checked
    assert 'test_the_server_speaks_http: your server sent "0\\r\\nnot http\\r\\n\\r\\n", which is not a valid HTTP response' in out
    full = block(verbose, "test_the_server_speaks_http")
    assert "your code raised" not in full and "RemoteProtocolError" not in full
    assert "your tiny_server printed:\n    tiny server: answering in its own way" in full
    assert "\n    0\\r\\n\n    not http\\r\\n\n    \\r\\n" in full  # the received bytes, one line each


def test_where_names_the_tests_own_line_with_its_id_and_the_students_line(checked):
    folder, _, verbose = checked
    tests = folder / "test_tiny_server.py"
    own = line(tests, "expect_even(number)  # the test's own line")
    for case in ("three", "five"):
        full = block(verbose, f"test_numbers_are_even[{case}]")
        assert f"where: exercises/01_tiny_server/test_tiny_server.py:{own}, in test_numbers_are_even[{case}]" in full
        assert f":{line(tests, 'assert number % 2 == 0')}," not in full  # not the helper's line
    full = block(verbose, "test_parses_a_number")
    student = line(folder / "tiny_server.py", "return int(text)")
    calling = line(tests, "tiny_server.parse_number(")
    assert f"where: exercises/01_tiny_server/tiny_server.py:{student}, in your code\n" in full  # the line to fix first
    assert f"\n         exercises/01_tiny_server/test_tiny_server.py:{calling}, in test_parses_a_number" in full
    assert "your code raised ValueError" in full


def test_a_validator_assertion_becomes_the_pep_3333_rule(checked):
    _, _, verbose = checked
    full = block(verbose, "test_the_app_passes_the_validator")
    assert "the status is a three-digit code, one space and a reason phrase" in full
    assert "(PEP 3333 §The start_response() Callable)" in full
    assert "(wsgiref.validate: Status codes must be three characters: '20')" in full


# --- the pieces, one by one ----------------------------------------------------------------------------


def explained(app, environ_changes=None) -> str | None:
    environ = {"QUERY_STRING": ""}
    setup_testing_defaults(environ)
    environ.update(environ_changes or {})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            body = validator(app)(environ, lambda status, headers, exc_info=None: None)
            list(body)
            body.close()
    except (AssertionError, Warning) as exc:
        return wsgi_rules.explain(exc)
    raise AssertionError("the validator accepted it")


def start(status="200 OK", headers=(("Content-Type", "text/plain"),)):
    def app(environ, start_response):
        start_response(status, list(headers))
        return [b""]

    return app


def test_bare_validator_assertions_get_a_sentence():
    def reads_without_a_size(environ, start_response):
        environ["wsgi.input"].read()
        return start("200 OK")(environ, start_response)

    assert "wsgi.input.read() needs a size" in explained(reads_without_a_size)
    assert "each response header is a pair" in explained(start(headers=[("Content-Type", "text/plain", "x")]))
    assert "header values are str" in explained(start(headers=[("Content-Type", "text/plain"), ("Content-Length", 3)]))
    assert "every response but a 204 or 304 carries a Content-Type" in explained(start(headers=[]))
    assert "'200 OK', not '200'" in explained(start("200"))  # a WSGIWarning the tests turn into an error
    assert "PATH_INFO, when not empty, starts with '/'" in explained(start(), {"PATH_INFO": "x"})


def test_an_assertion_from_elsewhere_is_left_alone():
    try:
        assert 1 == 2, "expected 2"
    except AssertionError as exc:
        assert wsgi_rules.explain(exc) is None


def test_replay_uses_curl_for_what_curl_sends_and_printf_for_the_rest():
    post = b"POST /items?a=1 HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nX-Tag: one\r\nContent-Length: 5\r\n\r\nhello"
    assert replay.command(post) == "curl -i -X POST -H 'X-Tag: one' --data-binary hello 'http://127.0.0.1:8000/items?a=1'"
    assert replay.command(b"HEAD / HTTP/1.0\r\nHost: example.test\r\n\r\n") == (
        "curl -i --http1.0 --head -H 'Host: example.test' http://127.0.0.1:8000/"
    )
    assert replay.command(b"GET /a%20b HTTP/1.1\r\nHost: x\r\n\r\n").startswith("curl")
    assert replay.command(b"NONSENSE\r\n\r\n") == "printf 'NONSENSE\\r\\n\\r\\n' | nc 127.0.0.1 8000"
    chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n100%'\r\n0\r\n\r\n"
    assert replay.command(chunked) == (
        "printf 'POST / HTTP/1.1\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\n100%%'\\''\\r\\n0\\r\\n\\r\\n' | nc 127.0.0.1 8000"
    )
    assert replay.command(b"") == "" and replay.command(b"GET / HTTP/1.1\r\nX: " + b"y" * 2000 + b"\r\n\r\n") == ""


def test_shown_bytes_are_escaped_line_by_line_and_bounded():
    assert replay.shown(b"HTTP/1.1 200 OK\r\n\r\n\x00\xff") == "HTTP/1.1 200 OK\\r\\n\n\\r\\n\n\\x00\\xff"
    assert replay.shown(b"") == "(nothing)"
    many = b"line\n" * 100
    text = replay.shown(many, lines=3)
    assert text.splitlines() == ["line\\n", "line\\n", "line\\n", "… and 485 more bytes"]
    assert replay.shown(b"x" * 10, 5000, limit=10).endswith("… and 4,990 more bytes")


def test_the_wire_taps_only_watched_servers_and_only_while_watched():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"pong")

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    original = socket.create_connection
    wire.rewind()
    try:
        with wire.watching("127.0.0.1", port, "the probe"):
            assert socket.create_connection is not original
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"ping")
                assert sock.recv(16) == b"pong"
        assert socket.create_connection is original  # the tap is gone with the last watch
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # not watched: not taped
            sock.sendall(b"unseen")
            sock.recv(16)
        server.join(5)
        recorded = wire.report()
        assert recorded["server"] == "the probe" and recorded["connection"] == "1 of 1"
        assert (recorded["sent"], recorded["received"]) == ("ping", "pong")
        assert wire.last_received() == b"pong"
        wire.rewind()
        assert wire.report() == {}
    finally:
        listener.close()
        wire.rewind()


def test_tracebacks_keep_the_courses_frames_and_fold_the_rest(tmp_path):
    root = tmp_path.resolve()
    student = root / "exercises" / "01_x" / "x.py"
    printed = textwrap.dedent(f'''\
        ERROR:    Exception in ASGI application
        Traceback (most recent call last):
          File "/usr/lib/python3/site-packages/uvicorn/protocols/http/h11_impl.py", line 411, in run_asgi
            result = await app(
                     ^^^^^^^^^^
          File "/usr/lib/python3/site-packages/uvicorn/middleware/proxy_headers.py", line 63, in __call__
            return await self.app(scope, receive, send)
          File "{student}", line 9, in app
            raise KeyError("boom")
        KeyError: 'boom'
        ''')
    shortened = server_side.shorten_tracebacks(printed, root)
    assert shortened.splitlines() == [
        "ERROR:    Exception in ASGI application",
        "Traceback (most recent call last):",
        "  … 2 frames in uvicorn",
        '  File "exercises/01_x/x.py", line 9, in app',
        '    raise KeyError("boom")',
        "KeyError: 'boom'",
    ]
    assert server_side.raised_at(printed, root, lambda path: path == student) == "exercises/01_x/x.py:9"
    assert server_side.bounded("a\n" * 50, lines=3) == "a\na\na\n… and 47 more lines"


def test_a_server_process_shows_what_it_printed(checked):
    _, _, verbose = checked
    full = block(verbose, "test_the_command_line_serves")
    assert "expected 'ok', got 'no'" in full
    assert "python tiny_server.py printed:\n    serving on http://127.0.0.1:" in full
    assert "\n    process: got a request" in full
    assert "\n    no\n" in full.split("received:", 1)[1]  # the body, after the head
