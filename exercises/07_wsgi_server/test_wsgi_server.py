"""Exercise 07 is graded in two layers.

1. Unit tests call ``parse_request``, ``build_environ`` and ``call_app`` directly, with in-memory
   files and a ``send`` that records bytes; responses are re-parsed by h11, a strict HTTP parser.
2. Server tests start your ``make_server(...)`` on 127.0.0.1 and a free port and drive it over real
   TCP with httpx and raw sockets: probe apps wrapped in ``wsgiref.validate.validator`` and a real
   Flask application. Each of these runs first against Python's own ``wsgiref`` server (the
   ``[wsgiref]`` cases, not graded), or, for the rules wsgiref does not follow (headers with an
   underscore, ``REMOTE_PORT``, ``100 Continue``), against gunicorn's sync worker (the
   ``[gunicorn]`` cases): they prove the test is fair. The Host tests run on both, and where a peer
   serves a request RFC 9112 §3.2 refuses, its case runs inside ``peer_deviation``: the check must
   fail on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import socket
import threading
import time
import wsgiref.validate
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import make_server as wsgiref_make_server
from wsgiref.validate import check_environ, validator

import h11
import httpx
import pytest

import wsgi_server
from testkit.host_rule import BAD_HOST_CASES, GOOD_HOST_CASES
from testkit.peers import peer_deviation
from testkit.serving import (
    CLIENT_TIMEOUT,
    GUNICORN_READY,
    HOST,
    gunicorn_argv,
    python_argv,
    serving,
    subprocess_serving,
    wait_until,
)
from testkit.wsgi_conformance import (
    CLOSE_CASES,
    IMF_FIXDATE,
    NEVER_STARTS_BODIES,
    Closing,
    FailsAfterHeaders,
    Recorder,
    base_environ,
    check_headers_wait_for_the_first_non_empty_chunk,
    check_second_start_response_raises,
    check_traceback_logged,
    exc_info_before_headers_app,
    failing_app,
    never_starting_app,
    within,
    writing_app,
)
from wsgi_server import Request

EXERCISE_DIR = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def parse(head: bytes) -> Request | None:
    """Call the student's parse_request on an in-memory connection."""
    return within(3, "parse_request()", wsgi_server.parse_request, io.BytesIO(head))


def make_request(target: str = "/", method: str = "GET", headers: list[tuple[str, str]] | None = None) -> Request:
    return Request(method=method, target=target, version="HTTP/1.1", headers=headers or [("Host", "example.org")])


def environ_for(request: Request, body: bytes = b"") -> dict[str, Any]:
    return within(3, "build_environ()", wsgi_server.build_environ, request, io.BytesIO(body), ("127.0.0.1", 8080))


def run_app(app: Callable[..., Any], environ: dict[str, Any] | None = None, send: Recorder | None = None) -> Recorder:
    send = send or Recorder()
    within(5, "call_app()", wsgi_server.call_app, app, environ or base_environ(), send)
    return send


def h11_parse(raw: bytes, method: str = "GET") -> tuple[int, list[tuple[str, str]], bytes]:
    """Parse a complete response (the connection then closed) with h11, a strict HTTP/1.1 client."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "example.org")]))
    client.send(h11.EndOfMessage())
    client.receive_data(raw)
    client.receive_data(b"")  # the server closed the connection
    status, headers, body = 0, [], b""
    while True:
        try:
            event = client.next_event()
        except h11.RemoteProtocolError as exc:
            pytest.fail(f"the response is not valid HTTP ({exc}); the raw bytes were {raw[:300]!r}")
        if isinstance(event, h11.Response):
            status = event.status_code
            headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers]
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)) or event is h11.NEED_DATA:
            break
    if not status:
        pytest.fail(f"expected a response, got these bytes: {raw[:300]!r}")
    return status, headers, body


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [v for n, v in headers if n.lower() == name.lower()]
    return ",".join(values) if values else None


def validated(app: Callable[..., Any]) -> Callable[..., Any]:
    """``wsgiref.validate.validator(app)``, minus one trap.

    The validator reports a never-closed iterable by raising from ``__del__``, whenever the garbage
    collector gets to it; on Python 3.11 that can crash pytest itself instead of failing one test.
    So the validator's iterable here skips that check: ``close()`` is graded by the tests that
    track it explicitly, with a plain failure message.
    """
    checked = validator(app)

    def app_under_validation(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        result = checked(environ, start_response)
        result.__class__ = _IteratorWrapperWithoutDel
        return result

    return app_under_validation


class _IteratorWrapperWithoutDel(wsgiref.validate.IteratorWrapper):
    def __del__(self) -> None:
        pass


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"Hello, world!"]


# ---------------------------------------------------------------------------------------------
# Servers: wsgiref (the reference) and yours
# ---------------------------------------------------------------------------------------------


class QuietWSGIRequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def make_student_server(app: Callable[..., Any]) -> Any:
    server = within(5, "make_server(HOST, 0, app)", wsgi_server.make_server, HOST, 0, app)
    for attr in ("serve_forever", "shutdown", "server_close", "server_address"):
        assert hasattr(server, attr), f"expected make_server() to return a server with .{attr}, it has none"
    port = server.server_address[1]
    assert isinstance(port, int) and port > 0, (
        f"expected server_address to be (host, real port) after binding to port 0, got {server.server_address!r}"
    )
    return server


@contextlib.contextmanager
def run_server(kind: str, app: Callable[..., Any]) -> Iterator[str]:
    if kind == "wsgiref":
        httpd = wsgiref_make_server(HOST, 0, app, handler_class=QuietWSGIRequestHandler)
        with serving(httpd, name="wsgiref", poll_interval=0.01) as url:
            yield url
    else:
        with serving(make_student_server(app), name="your server") as url:
            yield url


SERVERS = [pytest.param("wsgiref", marks=pytest.mark.reference, id="wsgiref"), pytest.param("yours", id="yours")]


@pytest.fixture(params=SERVERS)
def serve(request: pytest.FixtureRequest) -> Callable[[Callable[..., Any]], contextlib.AbstractContextManager[str]]:
    return lambda app: run_server(request.param, app)


@pytest.fixture
def serve_yours() -> Callable[[Callable[..., Any]], contextlib.AbstractContextManager[str]]:
    return lambda app: run_server("yours", app)


def client() -> httpx.Client:
    return httpx.Client(timeout=CLIENT_TIMEOUT)


def raw_exchange(url: str, data: bytes, *, half_close: bool = True) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it.

    ``half_close`` then says "I will send nothing more" (shutdown SHUT_WR), as a client that gave up
    in the middle of a request would: a server waiting for the rest of the head then sees EOF.
    """
    return exchange(url, data, half_close=half_close)[0]


def exchange(url: str, data: bytes, *, half_close: bool = True) -> tuple[bytes, tuple[str, int]]:
    """``raw_exchange``, and the client's own address on that connection (``sock.getsockname()``)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT) as sock:
        address = sock.getsockname()[:2]
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pytest.fail(
                f"the server sent {b''.join(chunks)[:200]!r} and then neither finished nor closed the "
                f"connection within {CLIENT_TIMEOUT:g} s"
            )
        except ConnectionResetError:
            pass
    return b"".join(chunks), address


# ---------------------------------------------------------------------------------------------
# 1. parse_request
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 9112 §3 (request line)")
def test_parse_request_reads_the_request_line() -> None:
    request = parse(b"GET /search?q=wsgi HTTP/1.1\r\nHost: example.org\r\n\r\n")
    assert isinstance(request, Request), f"expected a Request, got {request!r}"
    got = (request.method, request.target, request.version)
    assert got == ("GET", "/search?q=wsgi", "HTTP/1.1"), (
        f"expected ('GET', '/search?q=wsgi', 'HTTP/1.1') with the target exactly as sent, got {got!r}"
    )


@pytest.mark.spec("RFC 9112 §5 (field lines), §6 (the body stays on the connection)")
def test_parse_request_keeps_headers_and_leaves_the_body() -> None:
    rfile = io.BytesIO(
        b"POST /tasks HTTP/1.1\r\nHost: example.org\r\nX-Tag:  one \r\nX-Tag: two\r\n"
        b"X-Mode: MAX\r\nContent-Length: 11\r\n\r\nhello world"
    )
    request = within(3, "parse_request()", wsgi_server.parse_request, rfile)
    expected = [("Host", "example.org"), ("X-Tag", "one"), ("X-Tag", "two"), ("X-Mode", "MAX"), ("Content-Length", "11")]
    assert request.headers == expected, (
        f"expected the headers in order, repeats kept, names as sent, values stripped (of the line end and "
        f"spaces or tabs, nothing else): {expected!r}, got {request.headers!r}"
    )
    rest = rfile.read()
    assert rest == b"hello world", (
        f"expected parse_request to stop after the empty line and leave the body b'hello world' unread, "
        f"got {rest!r} left"
    )


@pytest.mark.spec("RFC 9112 §6.1 (Transfer-Encoding is a header like any other to the head's parser)")
def test_parse_request_accepts_a_chunked_head() -> None:
    rfile = io.BytesIO(b"POST /up HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    try:
        request = within(3, "parse_request()", wsgi_server.parse_request, rfile)
    except wsgi_server.BadRequest as exc:
        pytest.fail(
            f"parse_request refused a well-formed head with Transfer-Encoding: chunked ({exc}): judge the head's "
            "syntax only; exercise 08 reuses parse_request and decodes the chunks itself"
        )
    assert request is not None and ("Transfer-Encoding", "chunked") in request.headers, (
        f"expected the head parsed, Transfer-Encoding among its headers, got {request!r}"
    )
    rest = rfile.read()
    assert rest.startswith(b"5\r\nhello"), f"expected the chunked body left unread, got {rest!r} left"


@pytest.mark.spec("RFC 9112 §9.6 (a client may close without sending anything)")
def test_parse_request_returns_none_on_a_closed_connection() -> None:
    request = parse(b"")
    assert request is None, f"expected None when the connection closes before a request, got {request!r}"


MALFORMED = [
    pytest.param(b"GARBAGE\r\n\r\n", id="one-word-request-line"),
    pytest.param(b"GE(T / HTTP/1.1\r\nHost: x\r\n\r\n", id="method-not-a-token"),
    pytest.param(b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="four-word-request-line"),
    pytest.param(b"GET / FOO/1.1\r\nHost: x\r\n\r\n", id="not-http"),
    pytest.param(b"GET  HTTP/1.1\r\nHost: x\r\n\r\n", id="empty-target"),
    pytest.param(b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", id="control-character-in-target"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", id="header-without-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", id="space-in-header-name"),
    # X-Tag, not 'Host : x': a parser that let the space through would refuse that one all the same, for
    # having no Host (or, with 'Host: x' before it, two), and the case would no longer test the space.
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Tag : y\r\n\r\n", id="space-before-colon"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", id="content-length-not-a-number"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", id="negative-content-length"),
    pytest.param("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1"),
                 id="content-length-not-ascii-digits"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                 id="two-different-content-lengths"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: exa", id="connection-closed-inside-the-head"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n", id="connection-closed-before-the-empty-line"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r", id="connection-closed-inside-the-empty-line"),
]


@pytest.mark.spec("RFC 9112 §3, §5.1, §6.3 (malformed requests)")
@pytest.mark.parametrize("head", MALFORMED)
def test_parse_request_rejects_malformed_heads(head: bytes) -> None:
    expect_bad_request(head)


def expect_bad_request(head: bytes, why: str = "") -> None:
    """``parse(head)`` must raise BadRequest, and nothing else; ``why`` goes beside the bytes in a failure."""
    sent = f"{head!r} ({why})" if why else repr(head)
    try:
        request = parse(head)
    except wsgi_server.BadRequest:
        return
    except NotImplementedError:
        raise
    except Exception as exc:
        pytest.fail(f"expected BadRequest for {sent}, got {type(exc).__name__}: {exc}")
    pytest.fail(f"expected BadRequest for {sent}, got {request!r}")


@pytest.mark.spec("RFC 9110 §5.5 (CR, LF and NUL in a field value are invalid and dangerous)")
@pytest.mark.parametrize("value", [b"a\x00b", b"a\rb"], ids=["nul", "bare-cr"])
def test_parse_request_refuses_nul_and_cr_in_header_values(value: bytes) -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Tag: " + value + b"\r\n\r\n"
    try:
        request = parse(head)
    except wsgi_server.BadRequest:
        return  # refused: what RFC 9110 §5.5 asks (it also allows replacing each one with a space)
    got = None if request is None else [v for n, v in request.headers if n == "X-Tag"]
    assert got == ["a b"], (
        f"expected BadRequest for the header value {value!r} (a CR or NUL in a field value is 'invalid and "
        f"dangerous', RFC 9110 §5.5), got the headers {None if request is None else request.headers!r}"
    )


# RFC 9112 §3.2, with the cases 15 grades too (testkit.host_rule): each is (id, the head, what is wrong with it).
BAD_HOSTS = [pytest.param(head, why, id=case) for case, head, why in BAD_HOST_CASES]
GOOD_HOSTS = [pytest.param(head, why, id=case) for case, head, why in GOOD_HOST_CASES]


@pytest.mark.spec("RFC 9112 §3.2 (one Host in HTTP/1.1, never two, a valid one); RFC 9110 §7.2 (uri-host [':' port])")
@pytest.mark.parametrize("head, why", BAD_HOSTS)
def test_parse_request_refuses_a_missing_repeated_or_invalid_host(head: bytes, why: str) -> None:
    expect_bad_request(head, f"{why}; RFC 9112 §3.2: a server MUST answer 400")


@pytest.mark.spec("RFC 9112 §3.2 (Host; none needed in HTTP/1.0); RFC 9110 §7.2; RFC 3986 §3.2.2 (host, port)")
@pytest.mark.parametrize("head, why", GOOD_HOSTS)
def test_parse_request_reads_a_valid_host(head: bytes, why: str) -> None:
    try:
        request = parse(head)
    except wsgi_server.BadRequest as exc:
        pytest.fail(f"expected {head!r} to be read ({why}), got BadRequest: {exc}")
    assert isinstance(request, Request) and request.target == "/", f"expected a Request for {head!r}, got {request!r}"


@pytest.mark.spec("RFC 9112 §2.2, §5; the MAX_LINE limit of the stub")
def test_parse_request_limits_the_line_length() -> None:
    limit = wsgi_server.MAX_LINE
    value = "v" * (limit - len("X-Long: \r\n"))  # a header line of exactly MAX_LINE bytes, CRLF included
    try:
        request = parse(f"GET / HTTP/1.1\r\nHost: x\r\nX-Long: {value}\r\n\r\n".encode())
    except wsgi_server.BadRequest as exc:
        pytest.fail(f"expected a header line of exactly MAX_LINE ({limit}) bytes with its CRLF to be accepted, "
                    f"got BadRequest: {exc}")
    got = None if request is None else [len(v) for n, v in request.headers if n == "X-Long"]
    assert got == [len(value)], f"expected the X-Long header with its {len(value)}-character value, got lengths {got!r}"
    too_long = f"GET / HTTP/1.1\r\nHost: x\r\nX-Long: {'v' * (2 * limit)}\r\n\r\n".encode()
    with pytest.raises(wsgi_server.BadRequest):
        parse(too_long)
        pytest.fail(f"expected BadRequest for a header line of {2 * limit} bytes: refuse lines longer than MAX_LINE")


@pytest.mark.spec("RFC 9112 §5 (field lines); the MAX_HEADERS limit of the stub")
def test_parse_request_limits_the_number_of_headers() -> None:
    limit = wsgi_server.MAX_HEADERS
    names = ["Host"] + [f"X-Header-{i}" for i in range(1, limit)]  # exactly MAX_HEADERS header lines
    head = "GET / HTTP/1.1\r\n" + "".join(f"{name}: {i}\r\n" for i, name in enumerate(names)) + "\r\n"
    try:
        request = parse(head.encode())
    except wsgi_server.BadRequest as exc:
        pytest.fail(f"expected exactly MAX_HEADERS ({limit}) header lines to be accepted, got BadRequest: {exc}")
    assert request is not None and len(request.headers) == limit, (
        f"expected {limit} headers, got {None if request is None else len(request.headers)}"
    )
    one_more = head.removesuffix("\r\n") + "X-One-Too-Many: 1\r\n\r\n"
    with pytest.raises(wsgi_server.BadRequest):
        parse(one_more.encode())
        pytest.fail(f"expected BadRequest for {limit + 1} header lines: refuse more than MAX_HEADERS ({limit})")


# ---------------------------------------------------------------------------------------------
# 2. build_environ
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §environ Variables")
def test_environ_has_the_cgi_variables() -> None:
    environ = environ_for(make_request("/tasks/7?verbose=1", method="DELETE"))
    expected = {
        "REQUEST_METHOD": "DELETE",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/tasks/7",
        "QUERY_STRING": "verbose=1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    got = {key: environ.get(key) for key in expected}
    assert got == expected, f"expected {expected!r}, got {got!r} (SERVER_PORT is a str, SCRIPT_NAME '' at the root)"
    no_query = environ_for(make_request("/tasks"))
    assert no_query.get("QUERY_STRING") == "", (
        f"expected QUERY_STRING '' when the target has no '?', got {no_query.get('QUERY_STRING')!r}"
    )


@pytest.mark.spec("PEP 3333 §Unicode Issues, §URL Reconstruction")
def test_path_info_is_percent_decoded_and_carried_as_latin1() -> None:
    environ = environ_for(make_request("/caf%C3%A9/a%20b?name=caf%C3%A9&x=a+b"))
    expected_path = "/café/a b".encode().decode("latin-1")  # '/cafÃ©/a b'
    assert environ.get("PATH_INFO") == expected_path, (
        f"expected PATH_INFO {expected_path!r}: decode %XX to bytes, then each byte becomes one character "
        f"(latin-1), a 'native string' (PEP 3333); got {environ.get('PATH_INFO')!r}. "
        "urllib.parse.unquote(path) decodes as UTF-8: use unquote_to_bytes(path).decode('latin-1')"
    )
    assert environ.get("QUERY_STRING") == "name=caf%C3%A9&x=a+b", (
        f"expected QUERY_STRING exactly as sent, still encoded: 'name=caf%C3%A9&x=a+b', got {environ.get('QUERY_STRING')!r}"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (HTTP_ Variables, CONTENT_TYPE, CONTENT_LENGTH)")
def test_headers_become_http_variables() -> None:
    headers = [
        ("Host", "example.org"),
        ("X-Request-Id", "abc-123"),
        ("Accept", "text/html"),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("Content-Length", "2"),
    ]
    environ = environ_for(make_request("/", method="POST", headers=headers), body=b"{}")
    got = {key: environ.get(key) for key in ("HTTP_HOST", "HTTP_X_REQUEST_ID", "CONTENT_TYPE", "CONTENT_LENGTH")}
    expected = {"HTTP_HOST": "example.org", "HTTP_X_REQUEST_ID": "abc-123", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2"}
    assert got == expected, f"expected {expected!r} (upper case, '-' becomes '_', HTTP_ prefix), got {got!r}"
    for key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        assert key not in environ, f"expected no {key} in environ: Content-Type/Length go in without the HTTP_ prefix"
    accept = [part.strip() for part in str(environ.get("HTTP_ACCEPT", "")).split(",")]
    assert accept == ["text/html", "application/json"], (
        f"expected the two Accept headers combined with a comma, got HTTP_ACCEPT={environ.get('HTTP_ACCEPT')!r}"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (HTTP_ Variables); RFC 9110 §5.1 (field names)")
def test_headers_with_an_underscore_are_dropped() -> None:
    plain = [("Host", "example.org"), ("X-Trace", "t-1"), ("Content-Type", "text/plain"), ("Content-Length", "2")]
    without = environ_for(make_request("/", method="POST", headers=plain), body=b"ok")
    forged = environ_for(make_request("/", method="POST", headers=[*plain, ("X_User", "evil")]), body=b"ok")
    assert "HTTP_X_USER" not in forged, (
        f"expected no HTTP_X_USER for a header 'X_User: evil', got HTTP_X_USER={forged.get('HTTP_X_USER')!r}: a name "
        "with an underscore would land on the same key as 'X-User', so a client could forge a header a proxy in "
        "front checked; drop such headers (gunicorn and waitress do)"
    )
    unchanged = {key for key, value in without.items() if isinstance(value, str) and forged.get(key) != value}
    extra = {key for key in forged if key not in without}
    assert not unchanged and not extra, (
        f"expected 'X_User: evil' to change nothing else in the environ, got these keys changed {sorted(unchanged)} "
        f"and these added {sorted(extra)}"
    )
    for headers in ([("X_User", "evil"), ("X-User", "admin")], [("X-User", "admin"), ("X_User", "evil")]):
        environ = environ_for(make_request("/", headers=[("Host", "example.org"), *headers]))
        assert environ.get("HTTP_X_USER") == "admin", (
            f"expected HTTP_X_USER 'admin' from the headers {headers!r} (X-User kept, X_User dropped), got "
            f"{environ.get('HTTP_X_USER')!r}"
        )


@pytest.mark.spec("PEP 3333 §environ Variables (wsgi.* keys)")
def test_environ_has_the_wsgi_variables() -> None:
    environ = environ_for(make_request("/"))
    assert environ.get("wsgi.version") == (1, 0), f"expected wsgi.version (1, 0), got {environ.get('wsgi.version')!r}"
    assert environ.get("wsgi.url_scheme") == "http", f"expected wsgi.url_scheme 'http', got {environ.get('wsgi.url_scheme')!r}"
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        assert environ.get(key) is False, (
            f"expected {key} False, got {environ.get(key)!r}: this server calls the app from one thread of one "
            "process, one request at a time, and keeps running after it (PEP 3333 §environ Variables)"
        )
    errors = environ.get("wsgi.errors")
    assert all(hasattr(errors, m) for m in ("write", "writelines", "flush")), (
        f"expected wsgi.errors to be a text stream with write/writelines/flush (sys.stderr will do), got {errors!r}"
    )
    try:
        check_environ(environ)  # wsgiref.validate's own checks of an environ
    except AssertionError as exc:
        pytest.fail(f"wsgiref.validate rejects the environ: {exc}")


@pytest.mark.spec("PEP 3333 §Input and Error Streams")
def test_wsgi_input_reads_exactly_the_body() -> None:
    request = make_request("/", method="POST", headers=[("Host", "x"), ("Content-Length", "17")])
    environ = environ_for(request, body=b"line one\nline twoNEXT REQUEST")
    stream = environ["wsgi.input"]
    assert stream.read(0) == b"" and stream.readline(0) == b"", (
        "expected read(0) and readline(0) to return b'' and consume nothing, as a file does"
    )
    assert stream.read(5) == b"line ", "expected read(5) to return the first 5 body bytes b'line '"
    assert stream.readline() == b"one\n", "expected readline() to return the rest of the line, b'one\\n'"
    rest = stream.read()
    assert rest == b"line two", (
        f"expected read() to stop at Content-Length (17 bytes) and return b'line two', got {rest!r}: "
        "the bytes after the body belong to the next request"
    )
    assert stream.read(100) == b"", "expected b'' once the body is used up (PEP 3333: simulate end-of-file)"
    assert stream.readline() == b"", "expected readline() to return b'' at the end of the body"

    environ = environ_for(make_request("/", method="POST", headers=[("Host", "x"), ("Content-Length", "17")]),
                          body=b"line one\nline twoNEXT REQUEST")
    lines = list(environ["wsgi.input"])
    assert lines == [b"line one\n", b"line two"], f"expected iterating wsgi.input to give the body's lines, got {lines!r}"
    environ = environ_for(make_request("/", method="POST", headers=[("Host", "x"), ("Content-Length", "17")]),
                          body=b"line one\nline twoNEXT REQUEST")
    lines = environ["wsgi.input"].readlines()
    assert lines == [b"line one\n", b"line two"], f"expected readlines() to give the body's lines, got {lines!r}"

    no_length = environ_for(make_request("/"), body=b"NEXT REQUEST")
    got = no_length["wsgi.input"].read()
    assert got == b"", f"expected an empty body when there is no Content-Length, got {got!r}"


# ---------------------------------------------------------------------------------------------
# 3. call_app
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §The start_response() Callable; RFC 9112 §4")
def test_call_app_sends_status_headers_and_body() -> None:
    raw = run_app(validated(hello_app)).raw
    first_line = raw.split(b"\r\n", 1)[0]
    assert first_line in (b"HTTP/1.0 200 OK", b"HTTP/1.1 200 OK"), (
        f"expected the status line b'HTTP/1.0 200 OK' (or HTTP/1.1) ending in CRLF, got {raw[:80]!r}"
    )
    assert b"\r\n\r\n" in raw, f"expected the head to end with an empty line (CRLF CRLF), got {raw[:300]!r}"
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b""), f"expected every head line to end in CRLF, got {head!r}"
    status, headers, body = h11_parse(raw)
    assert status == 200, f"expected status 200, got {status}"
    assert header(headers, "Content-Type") == "text/plain; charset=utf-8", (
        f"expected the app's Content-Type header to be sent, got headers {headers!r}"
    )
    assert body == b"Hello, world!", f"expected body b'Hello, world!', got {body!r}"


@pytest.mark.spec("RFC 9112 §9.6 (Connection: close); RFC 9110 §6.6.1 (Date), §5.6.7 (IMF-fixdate)")
def test_call_app_says_connection_close_and_date() -> None:
    _, headers, _ = h11_parse(run_app(hello_app).raw)
    assert (header(headers, "Connection") or "").lower() == "close", (
        f"expected the server to add 'Connection: close' (one request per connection), got headers {headers!r}"
    )
    date = header(headers, "Date")
    assert date, f"expected the server to add a Date header (RFC 9110 §6.6.1), got {headers!r}"
    assert IMF_FIXDATE.fullmatch(date), (
        f"expected a Date like 'Sun, 06 Nov 1994 08:49:37 GMT' (RFC 9110 §5.6.7, always GMT), got {date!r}: "
        "email.utils.formatdate(usegmt=True)"
    )

    def dated(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Date", "Sun, 06 Nov 1994 08:49:37 GMT")])
        return [b"dated"]

    _, headers, _ = h11_parse(run_app(validated(dated)).raw)
    dates = [v for n, v in headers if n.lower() == "date"]
    assert dates == ["Sun, 06 Nov 1994 08:49:37 GMT"], (
        f"expected only the app's own Date header when it gives one, got {dates!r}: add a Date only if the app gave none"
    )


@pytest.mark.spec("PEP 3333 §The write() Callable")
def test_start_response_returns_a_working_write() -> None:
    _, _, body = h11_parse(run_app(validated(writing_app)).raw)
    assert body == b"Hello, world!", (
        f"expected b'Hello, world!' (the write() data, then the iterable), got {body!r}: "
        "start_response must return a write(data) that sends data (after the headers, if not sent yet)"
    )


@pytest.mark.spec("PEP 3333 §Buffering and Streaming (headers wait for the first non-empty chunk)")
def test_headers_go_out_with_the_first_non_empty_chunk() -> None:
    send = check_headers_wait_for_the_first_non_empty_chunk(lambda app, send: run_app(app, send=send))
    assert send.raw.endswith(b"data"), (
        f"expected the head and b'data' to be sent as soon as the app yielded b'data', got {send.raw[-60:]!r} last"
    )

    def empty(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("204 No Content", [])
        return []

    raw = run_app(empty).raw
    assert raw.split(b"\r\n", 1)[0].endswith(b" 204 No Content"), (
        f"expected the head to be sent at the end when the body is empty, got {raw[:80]!r}"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable (a second call needs exc_info)")
def test_second_start_response_without_exc_info_fails() -> None:
    check_second_start_response_raises(run_app)


@pytest.mark.spec("PEP 3333 §Error Handling (exc_info before the headers are sent)")
def test_exc_info_before_headers_replaces_the_response() -> None:
    app = exc_info_before_headers_app("500 Internal Server Error", [("Content-Type", "text/plain")])
    status, headers, body = h11_parse(run_app(validated(app)).raw)
    assert (status, header(headers, "Content-Type"), body) == (500, "text/plain", b"sorry"), (
        "expected the second start_response (with exc_info, headers not sent yet) to replace status and "
        f"headers: 500, text/plain, b'sorry'; got {status}, {header(headers, 'Content-Type')!r}, {body!r}"
    )


@pytest.mark.spec("PEP 3333 §Error Handling (exc_info after the headers are sent)")
def test_exc_info_after_headers_reraises() -> None:
    app = FailsAfterHeaders()
    raw = run_app(app).raw
    app.check_reraised()
    assert app.NEVER not in raw, "expected nothing more to be sent after the error"
    assert raw.split(b"\r\n", 1)[0].endswith(b"200 OK") and raw.endswith(b"first part"), (
        f"expected the 200 head and b'first part' to stay as sent, got {raw[:200]!r}"
    )


@pytest.mark.spec("PEP 3333 §Specification Details (close() is always called)")
@pytest.mark.parametrize("case", CLOSE_CASES)
def test_close_is_always_called(case: str) -> None:
    app = Closing(fail=case == "error-while-iterating")
    environ = base_environ()
    send = Recorder(fail_after=0 if case == "client-gone" else None)
    try:
        within(5, "call_app()", wsgi_server.call_app, app, environ, send)
    except NotImplementedError:
        raise
    except Exception as exc:
        if case == "success":
            raise
        # Letting the error out is allowed; never calling close() is not.
        del exc
    app.check_closed_once(case)


@pytest.mark.spec("PEP 3333 §Error Handling")
def test_exception_before_start_response_becomes_500() -> None:
    environ = base_environ()
    status, _, _ = h11_parse(run_app(failing_app, environ).raw)
    assert status == 500, f"expected a 500 response when the app raises before start_response, got {status}"
    check_traceback_logged(environ)


@pytest.mark.spec("PEP 3333 §The start_response() Callable (it must come before the first body bytes)")
@pytest.mark.parametrize("body", list(NEVER_STARTS_BODIES.values()), ids=list(NEVER_STARTS_BODIES))
def test_an_app_that_never_calls_start_response_gets_500(body: list[bytes]) -> None:
    status, _, _ = h11_parse(run_app(never_starting_app(body)).raw)
    assert status == 500, (
        f"expected 500 for an app that returned {body!r} without calling start_response(), got {status}: "
        "there is no status to send, so that is the app's error"
    )


# ---------------------------------------------------------------------------------------------
# 4. The server over TCP (each test first proven against wsgiref)
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §Specification Overview (the server side)")
def test_make_server_serves_and_stops() -> None:
    server = make_student_server(validated(hello_app))
    with serving(server, name="your server") as url, client() as http:
        responses = [http.get(f"{url}/") for _ in range(3)]
    got = [(r.status_code, r.content) for r in responses]
    assert got == [(200, b"Hello, world!")] * 3, f"expected three answers 200 b'Hello, world!', got {got!r}"
    port = int(url.rsplit(":", 1)[1])
    try:
        with socket.create_connection((HOST, port), timeout=1):
            pass
    except OSError:
        pass  # refused: server_close() closed the listening socket
    else:
        pytest.fail(f"expected nobody listening on port {port} after server_close(), but a connection was "
                    "accepted: server_close() must close the listening socket")
    del server  # (held until here, so that only server_close() could have closed the socket)


def environ_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Answers with the environ as JSON (the str values, and the types of the wsgi.* values)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    dump = {key: value for key, value in environ.items() if isinstance(value, str)}
    dump["wsgi.version"] = list(environ["wsgi.version"])
    dump["body"] = body.decode("latin-1")
    dump["types"] = {key: type(value).__name__ for key, value in environ.items() if key.startswith("wsgi.")}
    data = json.dumps(dump).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


@pytest.mark.spec("PEP 3333 §environ Variables, §Unicode Issues")
def test_server_builds_the_environ(serve: Any) -> None:
    with serve(validated(environ_app)) as url, client() as http:
        response = http.post(
            f"{url}/caf%C3%A9/items?q=a%20b&page=2",
            content=b'{"a": 1}',
            headers={"Content-Type": "application/json", "X-Request-Id": "abc-123"},
        )
    env = response.json()
    port = url.rsplit(":", 1)[1]
    expected = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/café/items".encode().decode("latin-1"),
        "QUERY_STRING": "q=a%20b&page=2",
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "8",
        "HTTP_X_REQUEST_ID": "abc-123",
        "HTTP_HOST": f"{HOST}:{port}",
        "wsgi.url_scheme": "http",
        "body": '{"a": 1}',
    }
    got = {key: env.get(key) for key in expected}
    assert got == expected, f"expected {expected!r}, got {got!r}"
    assert env.get("wsgi.version") == [1, 0], f"expected wsgi.version (1, 0), got {env.get('wsgi.version')!r}"
    assert env.get("SERVER_NAME"), "expected a non-empty SERVER_NAME"


@pytest.fixture(scope="module")
def gunicorn_url() -> Iterator[str]:
    """gunicorn's sync worker (one request per connection, like this server) serving the Flask app."""
    argv = gunicorn_argv("wsgi_server_flask_app:app")
    with subprocess_serving(argv, ready=GUNICORN_READY, cwd=EXERCISE_DIR, name="gunicorn") as url:
        # The master listens before its worker is booted: wait until a request gets an answer.
        wait_until(lambda: _answers(url), timeout=10, what="gunicorn answering a request")
        yield url


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def serve_flask(request: pytest.FixtureRequest) -> Callable[[str], contextlib.AbstractContextManager[str]]:
    """``with serve_flask(kind) as url:`` serves wsgi_server_flask_app on gunicorn, wsgiref or your server."""

    @contextlib.contextmanager
    def serve(kind: str) -> Iterator[str]:
        if kind == "gunicorn":
            yield request.getfixturevalue("gunicorn_url")  # started once for the module
        else:
            from wsgi_server_flask_app import app

            with run_server(kind, app) as url:
                yield url

    return serve


# wsgiref maps "X_User" onto HTTP_X_USER and sets no REMOTE_PORT: gunicorn proves these tests instead.
GUNICORN_AND_YOURS = [pytest.param("gunicorn", marks=pytest.mark.reference, id="gunicorn"), pytest.param("yours", id="yours")]


def probe(url: str, head: bytes) -> tuple[dict[str, Any], tuple[str, int]]:
    """Send ``head`` (a request to the Flask app's /environ) on a fresh connection; return what the app saw
    (``cgi``: the str CGI variables, ``not_str``: the type of any other, ``body``) and the client's address."""
    raw, address = within(8, "reading the answer from /environ", exchange, url, head)
    status, _, body = h11_parse(raw)
    assert status == 200, f"expected 200 from the Flask app's /environ, got {status}: {raw[:300]!r}"
    return json.loads(body), address


@pytest.mark.spec("PEP 3333 §environ Variables (HTTP_ Variables); RFC 9110 §5.1 (field names)")
@pytest.mark.parametrize("kind", GUNICORN_AND_YOURS)
def test_server_drops_headers_with_an_underscore(serve_flask: Any, kind: str) -> None:
    with serve_flask(kind) as url:
        forged, _ = probe(url, b"GET /environ HTTP/1.1\r\nHost: x\r\nX_User: evil\r\nX-Trace: t-1\r\n\r\n")
        both, _ = probe(url, b"GET /environ HTTP/1.1\r\nHost: x\r\nX_User: evil\r\nX-User: admin\r\n\r\n")
    got = {key: forged["cgi"].get(key) for key in ("HTTP_X_USER", "HTTP_X_TRACE", "HTTP_HOST")}
    assert got == {"HTTP_X_USER": None, "HTTP_X_TRACE": "t-1", "HTTP_HOST": "x"}, (
        f"expected 'X_User: evil' dropped (no HTTP_X_USER) and the other headers kept, got {got!r}: a name with an "
        "underscore lands on the same key as 'X-User', which lets a client forge a header a proxy checked"
    )
    assert both["cgi"].get("HTTP_X_USER") == "admin", (
        f"expected HTTP_X_USER 'admin' from 'X_User: evil' and 'X-User: admin', got {both['cgi'].get('HTTP_X_USER')!r}"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (the CGI variables); RFC 3875 §4.1.8 (REMOTE_ADDR)")
@pytest.mark.parametrize("kind", GUNICORN_AND_YOURS)
def test_server_adds_the_client_address(serve_flask: Any, kind: str) -> None:
    with serve_flask(kind) as url:
        seen, (host, port) = probe(url, b"GET /environ HTTP/1.1\r\nHost: x\r\n\r\n")
    expected = {"REMOTE_ADDR": host, "REMOTE_PORT": str(port)}
    got = {key: seen["cgi"].get(key, f"(a {seen['not_str'][key]}, not a str)" if key in seen["not_str"] else None)
           for key in expected}
    assert got == expected, (
        f"expected the client's own address {expected!r} (what its socket's getsockname() says), got {got!r}: "
        "the server adds REMOTE_ADDR and REMOTE_PORT (a str) from the address accept() returned"
    )


def read_interim(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends within ``seconds``, up to the end of a first head (CRLF CRLF)."""
    received = b""
    deadline = time.monotonic() + seconds
    while b"\r\n\r\n" not in received and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        if not data:
            break
        received += data
    return received


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(CLIENT_TIMEOUT)
    received = b""
    try:
        while data := sock.recv(65536):
            received += data
    except TimeoutError:
        pytest.fail(f"the server sent {received[:200]!r} and then neither finished nor closed the connection "
                    f"within {CLIENT_TIMEOUT:g} s")
    except ConnectionResetError:
        pass
    return received


INTERIM = re.compile(rb"HTTP/1\.[01] 1[0-9][0-9]")


@pytest.mark.spec("RFC 9110 §10.1.1 (Expect: 100-continue), §15.2.1 (100 Continue)")
@pytest.mark.parametrize("kind", GUNICORN_AND_YOURS)
def test_server_answers_100_continue_before_the_body(serve_flask: Any, kind: str) -> None:
    head = b"POST /environ HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n"
    with serve_flask(kind) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(head)  # and hold the body back, as curl does, until the server says go on
            interim = read_interim(sock, 2.0)
            assert interim.startswith(b"HTTP/1.1 100 ") and interim.endswith(b"\r\n\r\n"), (
                f"expected b'HTTP/1.1 100 Continue\\r\\n\\r\\n' within 2 s of the head {head!r} (an HTTP/1.1 request "
                f"that says 'Expect: 100-Continue', any case, and has a body), got {interim[:120]!r}: send CONTINUE "
                "after parse_request, before calling the app; the client waits for it before sending its body"
            )
            sock.sendall(b"!")
            raw = read_to_close(sock)
    status, _, body = h11_parse(raw)
    got = json.loads(body).get("body") if status == 200 else None
    assert (status, got) == (200, "!"), f"expected the app to answer 200 with the 1-byte body '!', got {status} {raw[:200]!r}"


EXPECT_WITH_HTTP_1_0 = b"POST /environ HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n!"
EXPECT_WITHOUT_BODY = b"POST /environ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"
EXPECT_WITH_EMPTY_BODY = b"POST /environ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n"


@pytest.mark.spec("RFC 9110 §10.1.1 (an HTTP/1.0 expectation MUST be ignored; no body, nothing to wait for)")
@pytest.mark.parametrize(
    "kind, data",
    [
        pytest.param("gunicorn", EXPECT_WITH_HTTP_1_0, marks=pytest.mark.reference, id="http-1.0-gunicorn"),
        pytest.param("wsgiref", EXPECT_WITH_HTTP_1_0, marks=pytest.mark.reference, id="http-1.0-wsgiref"),
        pytest.param("yours", EXPECT_WITH_HTTP_1_0, id="http-1.0-yours"),
        # gunicorn sends 100 Continue without a body too, which RFC 9110 allows (a server MAY omit it); this
        # exercise asks for it only when a body is coming, as your 08 will. wsgiref never sends one.
        pytest.param("wsgiref", EXPECT_WITHOUT_BODY, marks=pytest.mark.reference, id="no-body-wsgiref"),
        pytest.param("yours", EXPECT_WITHOUT_BODY, id="no-body-yours"),
        pytest.param("wsgiref", EXPECT_WITH_EMPTY_BODY, marks=pytest.mark.reference, id="content-length-0-wsgiref"),
        pytest.param("yours", EXPECT_WITH_EMPTY_BODY, id="content-length-0-yours"),
    ],
)
def test_server_sends_no_100_continue_where_none_is_due(serve_flask: Any, kind: str, data: bytes) -> None:
    with serve_flask(kind) as url:
        raw = within(8, "reading the answer", raw_exchange, url, data)
    assert not INTERIM.match(raw), (
        f"expected the final answer and no 100 Continue for {data!r} (RFC 9110 §10.1.1: an HTTP/1.0 client knows "
        f"no 1xx answers, and a request without a body has nothing to hold back), got {raw[:120]!r}"
    )
    status, _, _ = h11_parse(raw)
    assert status == 200, f"expected 200 from the app, got {status}: {raw[:200]!r}"


@pytest.mark.spec("PEP 3333 §Input and Error Streams")
def test_server_reads_a_large_body(serve: Any) -> None:
    payload = bytes(range(256)) * 2048  # 512 KiB: many recv()s

    def digest_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        stream = environ["wsgi.input"]
        digest = hashlib.sha256()
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
        while remaining > 0:  # by Content-Length: wsgiref's wsgi.input does not stop at the body's end
            chunk = stream.read(min(remaining, 65536))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [digest.hexdigest().encode()]

    with serve(validated(digest_app)) as url, client() as http:
        response = http.post(f"{url}/upload", content=payload)
    assert response.text == hashlib.sha256(payload).hexdigest(), (
        "expected the app to read exactly the 512 KiB body through wsgi.input (the SHA-256 differs): "
        "read until Content-Length bytes, then return b''"
    )


@pytest.mark.spec("PEP 3333 §The write() Callable")
def test_server_write_over_tcp(serve: Any) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"then ", b"returned"]

    with serve(validated(app)) as url, client() as http:
        response = http.get(f"{url}/")
    assert response.content == b"written, then returned", (
        f"expected b'written, then returned', got {response.content!r}"
    )


@pytest.mark.spec("PEP 3333 §Buffering and Streaming")
def test_server_streams_without_buffering(serve: Any) -> None:
    first_chunk_received = threading.Event()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first;"
        # Wait until the client has the first chunk: a server that buffers the whole body never gets there.
        yield b"second" if first_chunk_received.wait(3) else b"BUFFERED"

    with serve(validated(app)) as url, client() as http:
        with http.stream("GET", f"{url}/") as response:
            received = b""
            for chunk in response.iter_raw():
                received += chunk
                if received.startswith(b"first;"):
                    first_chunk_received.set()
    assert received == b"first;second", (
        f"expected b'first;second', got {received!r}: send each chunk as the app yields it, "
        "do not collect the body first"
    )


@pytest.mark.spec("PEP 3333 §Error Handling")
def test_server_answers_500_when_the_app_fails(serve: Any) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("deliberate failure in the app (expected by this test)")

    with serve(app) as url, client() as http:
        failed = http.get(f"{url}/")
        after = http.get(f"{url}/")  # the server must survive
    assert failed.status_code == 500, f"expected 500 when the app raises, got {failed.status_code}"
    assert after.status_code == 500, f"expected the server to keep serving after an app error, got {after.status_code}"


@pytest.mark.spec("PEP 3333 §Specification Details (close() when the client disconnects)")
def test_server_closes_the_iterable_when_the_client_leaves(serve: Any) -> None:
    state = {"closed": threading.Event(), "chunks": 0, "exhausted": False}

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:  # a safety net: "endless" for 4 s
                state["chunks"] += 1
                yield b"x" * 16384
            state["exhausted"] = True

        def close(self) -> None:
            state["closed"].set()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Endless:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless()

    with serve(validated(app)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1024), "expected the endless response to start"
        # The client has left. The server's next sends fail; it must stop iterating and call close().
        wait_until(state["closed"].is_set, timeout=6, what="close() on the iterable after the client left")
    assert not state["exhausted"], (
        "expected the server to stop iterating soon after the client disconnected, got: it kept "
        f"iterating for 4 s ({state['chunks']} chunks) and ignored the failed sends"
    )


@pytest.mark.spec("RFC 9112 §9.6 (Connection: close)")
def test_server_closes_the_connection_after_one_response(serve: Any) -> None:
    with serve(validated(hello_app)) as url:
        # An HTTP/1.1 request without 'Connection: close': the server closes anyway, HTTP/1.0-style.
        raw = within(8, "reading until the server closes", lambda: raw_exchange(url, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", half_close=False))
    status, _, body = h11_parse(raw)
    assert (status, body) == (200, b"Hello, world!"), f"expected 200 b'Hello, world!', got {status} {body!r}"


@pytest.mark.spec("RFC 9112 §3, §5.1, §6.3 (400 Bad Request)")
@pytest.mark.parametrize("head", MALFORMED)
def test_server_answers_400_to_malformed_requests(serve_yours: Any, head: bytes) -> None:
    with serve_yours(validated(hello_app)) as url:
        raw = within(8, "reading the answer to a malformed request", raw_exchange, url, head)
        status, _, _ = h11_parse(raw)
        assert status == 400, f"expected 400 Bad Request for {head!r}, got {status}"
        with client() as http:
            after = http.get(f"{url}/")
        assert after.status_code == 200, f"expected the server to keep serving after {head!r}, got {after.status_code}"


# The peers do not keep the Host rule in full: their cases must FAIL the check (testkit.peers.peer_deviation).
WSGIREF_TAKES_ANY_HOST = "wsgiref's simple_server checks no Host at all: none, two or any value is served"
GUNICORN_TAKES_NO_HOST = "gunicorn serves an HTTP/1.1 request without Host"
GUNICORN_TAKES_ANY_HOST = "gunicorn refuses two Host lines but not a Host that is not host[:port] (RFC 9110 §7.2)"
GUNICORN_HOST_DEVIATIONS = {
    "missing-host": GUNICORN_TAKES_NO_HOST,
    "host-with-space": GUNICORN_TAKES_ANY_HOST,
    "host-with-userinfo": GUNICORN_TAKES_ANY_HOST,
    "host-with-path": GUNICORN_TAKES_ANY_HOST,
    "host-port-not-digits": GUNICORN_TAKES_ANY_HOST,
}


def _on_every_server(cases: list[tuple[str, bytes, str]], deviations: dict[str, dict[str, str]]) -> list[Any]:
    """Each case on wsgiref, gunicorn (both reference cases, each with its deviation if it has one) and yours."""
    return [
        pytest.param(kind, head, why, deviations.get(kind, {}).get(case),
                     marks=[] if kind == "yours" else [pytest.mark.reference], id=f"{case}-{kind}")
        for case, head, why in cases
        for kind in ("wsgiref", "gunicorn", "yours")
    ]


@pytest.mark.spec("RFC 9112 §3.2 (400 to a missing, repeated or invalid Host); RFC 9110 §7.2")
@pytest.mark.parametrize(
    "kind, head, why, deviation",
    _on_every_server(BAD_HOST_CASES, {
        "wsgiref": {case: WSGIREF_TAKES_ANY_HOST for case, _, _ in BAD_HOST_CASES},
        "gunicorn": GUNICORN_HOST_DEVIATIONS,
    }),
)
def test_server_answers_400_to_a_missing_repeated_or_invalid_host(
    serve_flask: Any, kind: str, head: bytes, why: str, deviation: str | None
) -> None:
    with serve_flask(kind) as url:
        raw = within(8, "reading the answer to a request with a bad Host", raw_exchange, url, head)
    status, _, _ = h11_parse(raw)
    with peer_deviation(deviation):
        assert status == 400, (
            f"expected 400 Bad Request for {head!r} ({why}), got {status}: {raw[:120]!r}. RFC 9112 §3.2: a server "
            "MUST answer 400 to an HTTP/1.1 request without Host, and to any request with two Host lines or a Host "
            "that is not host[:port]; parse_request raises BadRequest for it"
        )


@pytest.mark.spec("RFC 9112 §3.2 (Host; none needed in HTTP/1.0); RFC 9110 §7.2")
@pytest.mark.parametrize("kind, head, why, deviation", _on_every_server(GOOD_HOST_CASES, {}))
def test_server_serves_a_valid_host_or_none_in_http_1_0(
    serve_flask: Any, kind: str, head: bytes, why: str, deviation: str | None
) -> None:
    with serve_flask(kind) as url:
        raw = within(8, "reading the answer to a request with a valid Host", raw_exchange, url, head)
    status, _, body = h11_parse(raw)
    with peer_deviation(deviation):
        assert (status, body) == (200, b"Hello from Flask, served by your own server!"), (
            f"expected 200 and Flask's greeting for {head!r} ({why}), got {status}: {raw[:160]!r}. Refuse only what "
            "RFC 9112 §3.2 refuses: no Host in HTTP/1.1, two Host lines, a Host that is not host[:port]"
        )


@pytest.mark.spec("RFC 9112 §9 (connection management: a broken client must not stop the server)")
def test_server_survives_broken_clients(serve: Any) -> None:
    with serve(validated(hello_app)) as url:
        host, port = url.removeprefix("http://").split(":")
        for data in (b"", b"GET / HTTP/1.1\r\nHost: exa", b"GARBAGE\r\n\r\n", b"\x00\xff\xfe binary junk\r\n\r\n"):
            with socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT) as sock:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):
                    while sock.recv(65536):
                        pass
        with client() as http:
            response = http.get(f"{url}/")
    assert (response.status_code, response.content) == (200, b"Hello, world!"), (
        f"expected the server to answer normally after broken clients, got {response.status_code} {response.content!r}"
    )


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.spec("RFC 9110 §8.6 (repeated Content-Length fields that agree)")
def test_server_survives_a_repeated_content_length(serve: Any) -> None:
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
    with serve(validated(echo_app)) as url:
        raw = within(8, "reading the answer to a repeated Content-Length", raw_exchange, url, request)
        with client() as http:
            after = http.get(f"{url}/")
    status, _, body = h11_parse(raw, method="POST")
    assert status == 400 or (status, body) == (200, b"hello"), (
        f"expected either 400 or the body b'hello' for two 'Content-Length: 5' headers (RFC 9110 §8.6: reject, "
        f"or use the one value; CONTENT_LENGTH is '5', not '5,5'), got {status} {body!r}"
    )
    assert after.status_code == 200, f"expected the server to keep serving afterwards, got {after.status_code}"


def make_any_server(kind: str, app: Callable[..., Any]) -> Any:
    if kind == "wsgiref":
        return wsgiref_make_server(HOST, 0, app, handler_class=QuietWSGIRequestHandler)
    return make_student_server(app)


@pytest.mark.spec("The stub's shutdown(): 'wait until it has' stopped (like wsgiref's)")
@pytest.mark.parametrize("kind", SERVERS)
def test_shutdown_waits_for_the_request_in_progress(kind: str) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started.set()
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]

    server = make_any_server(kind, validated(slow_app))
    kwargs = {"poll_interval": 0.01} if kind == "wsgiref" else {}
    serving_thread = threading.Thread(target=server.serve_forever, kwargs=kwargs, daemon=True)
    serving_thread.start()
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    try:
        with socket.create_connection(server.server_address[:2], timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert started.wait(5), "expected the server to call the app for the request"
            stopper.start()  # shutdown() while the app is still answering
            stopper.join(0.3)
            still_waiting = stopper.is_alive()
            release.set()
            raw = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    raw += chunk
    finally:
        release.set()
        if stopper.ident is None:  # the test failed before shutdown(): stop the server all the same
            stopper.start()
        stopper.join(5)
        serving_thread.join(5)
        server.server_close()
    assert still_waiting, (
        "expected shutdown() to wait until serve_forever() has stopped, got: it returned while a request was "
        "still being answered (wait on an Event that serve_forever() sets as it returns)"
    )
    assert not stopper.is_alive() and not serving_thread.is_alive(), (
        "expected shutdown() and serve_forever() to return once the request in progress was answered"
    )
    status, _, body = h11_parse(raw)
    assert (status, body) == (200, b"finished"), f"expected the request in progress to be answered in full, got {status} {body!r}"


@pytest.mark.spec("The stub's serve_forever(): 'a silent client cannot block it forever' (conn.settimeout)")
def test_a_silent_client_cannot_hold_the_server(serve_yours: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wsgi_server, "CONNECTION_TIMEOUT", 0.5)  # instead of 10 s, so the test is quick
    with serve_yours(validated(hello_app)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT) as silent:
            silent.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a head, then silence (and no close)
            try:
                with client() as http:
                    response = http.get(f"{url}/")
            except httpx.TimeoutException:
                pytest.fail(
                    f"a client that sent half a request and then nothing kept the server from answering anyone "
                    f"else for {CLIENT_TIMEOUT:g} s: give each connection conn.settimeout(CONNECTION_TIMEOUT) "
                    "(the test sets wsgi_server.CONNECTION_TIMEOUT to 0.5 s: read the constant when you use it)"
                )
    assert response.status_code == 200, f"expected the next client to be answered, got {response.status_code}"


# ---------------------------------------------------------------------------------------------
# 5. A real Flask application
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def flask_app() -> Any:
    from wsgi_server_flask_app import app

    return app


@pytest.mark.spec("PEP 3333 §Input and Error Streams (a real framework)")
def test_flask_json_round_trip(serve: Any, flask_app: Any) -> None:
    with serve(flask_app) as url, client() as http:
        response = http.post(f"{url}/echo", json={"title": "write a server", "done": False})
    assert response.status_code == 200, f"expected 200 from Flask's /echo, got {response.status_code}: {response.text[:200]}"
    expected = {"received": {"title": "write a server", "done": False}, "keys": 2}
    assert response.json() == expected, f"expected {expected!r}, got {response.text[:200]!r}"


@pytest.mark.spec("PEP 3333 §Buffering and Streaming (a real framework)")
def test_flask_streamed_response_and_404(serve: Any, flask_app: Any) -> None:
    with serve(flask_app) as url, client() as http:
        streamed = http.get(f"{url}/count/500")
        missing = http.get(f"{url}/no/such/page")
    expected = "".join(f"line {i}\n" for i in range(1, 501))
    assert (streamed.status_code, streamed.text) == (200, expected), (
        f"expected 200 and 500 lines from Flask's generator, got {streamed.status_code} and {len(streamed.text)} chars"
    )
    assert missing.status_code == 404, f"expected Flask's 404 for an unknown page, got {missing.status_code}"


@pytest.mark.spec("PEP 3333 §Unicode Issues (a real framework)")
def test_flask_route_with_non_ascii_path(serve: Any, flask_app: Any) -> None:
    with serve(flask_app) as url, client() as http:
        response = http.get(f"{url}/caf%C3%A9")
    assert (response.status_code, response.text) == (200, "café au lait"), (
        f"expected Flask's /café route to answer 200 'café au lait', got {response.status_code} {response.text[:80]!r}: "
        "PATH_INFO must hold the decoded UTF-8 bytes as latin-1 characters ('/cafÃ©')"
    )


@pytest.mark.spec("PEP 3333 (a server you can run by hand)")
def test_command_line_serves_flask() -> None:
    argv = python_argv("-m", "wsgi_server", "wsgi_server_flask_app:app", "--port", "0")
    module_dir = str(Path(wsgi_server.__file__).resolve().parent)
    env = {"PYTHONPATH": os.pathsep.join([module_dir, str(EXERCISE_DIR)])}
    with subprocess_serving(argv, ready=r"http://127\.0\.0\.1:(?P<port>\d+)", cwd=module_dir, env=env,
                            name="python -m wsgi_server") as url:
        with client() as http:
            response = http.get(f"{url}/")
    assert response.text == "Hello from Flask, served by your own server!", (
        f"expected Flask's greeting from 'python -m wsgi_server wsgi_server_flask_app:app', got {response.text[:100]!r}"
    )
