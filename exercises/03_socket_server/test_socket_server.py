"""Exercise 03 is graded over real TCP: httpx and raw sockets talk to your server on 127.0.0.1.

Every server test runs twice: against your ``make_server`` and against a reference built on Python's
``http.server`` (marked ``reference``: it proves the test itself and is not graded).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import re
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from socketserver import TCPServer
from typing import Any

import httpx
import pytest

import socket_server
from testkit.peers import peer_deviation
from testkit.serving import CLIENT_TIMEOUT, HOST, STOP_TIMEOUT, python_argv, serving, subprocess_serving
from socket_server import hello_app, make_server

SILENT_TIMEOUT = 1.0
"""The timeout the tests give a server when they check that a silent client cannot block it."""

Response = tuple[int, list[tuple[str, str]], bytes]


# ---------------------------------------------------------------------------------------------
# The reference: the same server built on http.server, one connection at a time.
# ---------------------------------------------------------------------------------------------


def reference_hello(method: str, path: str) -> Response:
    if path == "/":
        return 200, [("Content-Type", "text/plain")], b"Hello, world"
    return 404, [("Content-Type", "text/plain")], b"Not Found"


class ReferenceHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # so that a 400 for a request line without a version has a status line
    server: ReferenceServer

    def answer(self) -> None:
        length = self.headers.get("Content-Length", "0").strip(" \t")
        if not re.fullmatch(r"[0-9]+", length):  # int() would take '-1' and '+0'; RFC 9112 §6.3 asks for a 400
            self.send_error(400, "invalid Content-Length")
            return
        self.rfile.read(int(length))
        try:
            status, headers, body = self.server.app(self.command, self.path.partition("?")[0])
        except Exception:
            status, headers, body = 500, [("Content-Type", "text/plain")], b"Internal Server Error"
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = answer  # noqa: N815 (the names http.server wants)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output quiet


class ReferenceServer(HTTPServer):
    """``make_server``'s twin: same arguments, same behaviour, built on the standard library."""

    def __init__(self, host: str, port: int, handler: Any = None, *, timeout: float = 5.0) -> None:
        self.app = handler or reference_hello
        handler_class = type("TimedHandler", (ReferenceHandler,), {"timeout": timeout})
        super().__init__((host, port), handler_class)

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # skip HTTPServer's getfqdn(): a reverse DNS lookup can be slow


# ---------------------------------------------------------------------------------------------
# Helpers: start a server of either kind, talk to it, fail in plain words.
# ---------------------------------------------------------------------------------------------

SERVERS = [
    pytest.param("student", id="socket_server"),
    pytest.param("reference", marks=pytest.mark.reference, id="http.server"),
]


def in_thread(function: Callable[[], Any], what: str, *, limit: float = 5.0) -> Any:
    """Run ``function`` in a thread, so code that blocks forever fails in seconds with a sentence."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(function())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"{what} was still running after {limit:g} s: it must return at once")
    if failure:
        raise failure[0]
    return result[0]


def new_server(kind: str, handler: Any = None, *, port: int = 0, **kwargs: Any) -> Any:
    if kind == "reference":
        return ReferenceServer(HOST, port, handler, **kwargs)
    return in_thread(lambda: make_server(HOST, port, handler, **kwargs), "make_server(...)")


@contextlib.contextmanager
def running(kind: str, handler: Any = None, *, port: int = 0, **kwargs: Any) -> Iterator[str]:
    """Serve in a thread; yield the base URL; then shutdown() and check the server stopped."""
    server = new_server(kind, handler, port=port, **kwargs)
    # A short poll interval (serve_forever(poll_interval), as in the stub) so that shutdown() is quick.
    with serving(server, name="http.server" if kind == "reference" else "your server", poll_interval=0.01) as url:
        yield url


def get(url: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    """One request with httpx, failing in plain words when no answer comes."""
    try:
        return httpx.request(method, url, timeout=CLIENT_TIMEOUT, **kwargs)
    except httpx.TimeoutException:
        pytest.fail(
            f"{method} {url}: no answer within {CLIENT_TIMEOUT:g} s. Does serve_forever() accept() "
            "connections, read the whole head (until \\r\\n\\r\\n) and send a response?"
        )
    except httpx.HTTPError as exc:
        pytest.fail(f"{method} {url}: the connection failed ({type(exc).__name__}: {exc}). Is the response well formed?")


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def exchange(url: str, chunks: list[bytes], *, pause: float = 0.0) -> bytes:
    """Send raw ``chunks`` on a fresh connection, then read until the server closes it."""
    with socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each chunk its own packet
        for chunk in chunks:
            sock.sendall(chunk)
            if pause:
                time.sleep(pause)  # pacing, so the server sees the pieces one by one
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pytest.fail(
            f"the server did not close the connection within {CLIENT_TIMEOUT:g} s (it sent {data[:80]!r}). "
            "After answering, close the connection: that is what 'Connection: close' promises"
        )
    return data


def split_response(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"expected a head ending with \\r\\n\\r\\n, got {raw[:200]!r}"
    status_line, *lines = head.decode("iso-8859-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] (\d{3}) .*", status_line)
    assert match, f"expected a status line like 'HTTP/1.1 200 OK', got {status_line!r}"
    bare = [line for line in [status_line, *lines] if "\n" in line or "\r" in line]
    assert not bare, f"expected every head line to end with \\r\\n, found a bare LF or CR in {bare!r}"
    headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return int(match.group(1)), headers, body


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name.lower()), None)


# ---------------------------------------------------------------------------------------------
# The tests, from the first small step to the last.
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 9110 §15.3.1 (200 OK), §15.5.5 (404 Not Found)")
def test_hello_app_says_hello_world() -> None:
    status, headers, body = hello_app("GET", "/")
    assert (status, body) == (200, b"Hello, world"), f"expected 200 and b'Hello, world' for '/', got {status!r} {body!r}"
    content_type = header(headers, "Content-Type") or ""
    assert content_type.startswith("text/plain"), f"expected Content-Type text/plain, got {content_type!r}"
    status, headers, _ = hello_app("GET", "/nowhere")
    assert status == 404, f"expected 404 for '/nowhere', got {status!r}"
    content_type = header(headers, "Content-Type") or ""
    assert content_type.startswith("text/plain"), f"expected the 404 to be text/plain too, got {content_type!r}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("socket: bind() and listen() before serving")
def test_make_server_listens_on_a_free_port(kind: str) -> None:
    server = new_server(kind)
    try:
        host, port = server.server_address[:2]
        assert (host, isinstance(port, int) and port > 0) == (HOST, True), (
            f"expected server_address ('{HOST}', <the port the OS chose>), got {server.server_address!r}: "
            "bind to port 0, then read the real port back with getsockname()"
        )
        try:
            socket.create_connection((HOST, port), timeout=CLIENT_TIMEOUT).close()
        except OSError as exc:
            pytest.fail(f"expected make_server() to be listening on port {port} already, connecting failed: {exc}")
    finally:
        server.server_close()


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9112 §4 (status line), §6 (body)")
def test_says_hello_world(kind: str) -> None:
    with running(kind) as url:
        response = get(url + "/")
    assert (response.status_code, response.content) == (200, b"Hello, world"), (
        f"expected 200 b'Hello, world', got {response.status_code} {response.content!r}"
    )
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("text/plain"), f"expected Content-Type text/plain, got {content_type!r}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9110 §15.5.5 (404 Not Found)")
def test_answers_404_for_an_unknown_path(kind: str) -> None:
    with running(kind) as url:
        response = get(url + "/no/such/page")
    assert response.status_code == 404, f"expected 404 for /no/such/page, got {response.status_code}"
    assert response.reason_phrase == "Not Found", f"expected the reason 'Not Found', got {response.reason_phrase!r}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9112 §6.2 (Content-Length), §9.6 (Connection: close)")
def test_sends_content_length_and_closes(kind: str) -> None:
    with running(kind) as url:
        raw = exchange(url, [b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"])
    status, headers, body = split_response(raw)
    assert (status, body) == (200, b"Hello, world"), f"expected 200 b'Hello, world', got {status} {body!r}"
    length = header(headers, "Content-Length")
    assert length == str(len(body)), f"expected Content-Length: {len(body)}, got {length!r} (in {headers!r})"
    connection = header(headers, "Connection")
    assert (connection or "").lower() == "close", f"expected 'Connection: close', got {connection!r} (in {headers!r})"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9112 §3.2 (the query is part of the target, not of the path)")
def test_routes_on_the_path_without_the_query(kind: str) -> None:
    with running(kind) as url:
        response = get(url + "/?name=ada&page=2")
    assert (response.status_code, response.content) == (200, b"Hello, world"), (
        f"expected GET /?name=ada&page=2 to reach '/', got {response.status_code} {response.content!r}: "
        "split the target at '?' and give the handler the path only"
    )


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9112 §9.6 (one request per connection, then close)")
def test_answers_several_clients_one_after_another(kind: str) -> None:
    with running(kind) as url:
        got = [(path, get(url + path).status_code) for path in ["/", "/a", "/", "/b/c", "/"] * 2]
    expected = [(path, 200 if path == "/" else 404) for path in ["/", "/a", "/", "/b/c", "/"] * 2]
    assert got == expected, (
        f"expected {expected!r}, got {got!r}: serve_forever() loops, accepting the next connection after each answer"
    )


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9112 §2.1 (a message may arrive in pieces)")
def test_reads_a_request_sent_byte_by_byte(kind: str) -> None:
    request = b"GET / HTTP/1.1\r\nHost: test\r\nUser-Agent: one-byte-at-a-time\r\n\r\n"
    with running(kind) as url:
        raw = exchange(url, [bytes([byte]) for byte in request], pause=0.002)
    assert raw, "expected a response, the server closed the connection without one: keep reading until \\r\\n\\r\\n"
    status, _, body = split_response(raw)
    assert (status, body) == (200, b"Hello, world"), (
        f"expected 200 b'Hello, world', got {status} {body!r}: one recv() is not one request, collect bytes "
        "until the head is complete"
    )


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9112 §6.3 (Content-Length), §9.6 (closing with unread data)")
def test_reads_the_request_body_before_answering(kind: str) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: far more than one recv() returns
    head = b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(body)
    unread = (
        "the server closed the connection with body bytes still unread in it, so the kernel reset the "
        "connection instead of closing it (a client can lose the response that way). Read Content-Length "
        "bytes of body before answering"
    )
    with running(kind) as url:
        with socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT) as sock:
            try:
                sock.sendall(head + body)
                raw = read_until_closed(sock)
            except (BrokenPipeError, ConnectionResetError):
                pytest.fail(unread)
        again = get(url + "/nope")
    status, _, got = split_response(raw)
    assert (status, got) == (200, b"Hello, world"), f"expected 200 b'Hello, world' for a POST with a body, got {status} {got!r}"
    assert again.status_code == 404, f"expected the next request to get 404, got {again.status_code}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize(
    ("request_line", "why"),
    [
        pytest.param(b"GET /a b HTTP/1.1", "four parts", id="four-parts"),
        pytest.param(b"POST /", "two parts, no version", id="two-parts"),
        pytest.param(b"GET / FTP/1.0", "the version does not start with 'HTTP/'", id="not-http"),
    ],
)
@pytest.mark.spec("RFC 9112 §3 (request line), RFC 9110 §15.5.1 (400 Bad Request)")
def test_answers_400_to_a_broken_request_line(kind: str, request_line: bytes, why: str) -> None:
    with running(kind) as url:
        raw = exchange(url, [request_line + b"\r\nHost: test\r\n\r\n"])
        after = get(url + "/")
    assert raw, f"expected a 400 response to the request line {request_line!r}, the server closed the connection without one"
    status, _, _ = split_response(raw)
    assert status == 400, (
        f"expected 400 for the request line {request_line!r} ({why}), got {status}: a request line is exactly "
        "METHOD SP /target SP HTTP/x.y"
    )
    assert after.status_code == 200, f"expected the server to keep serving after a bad request, got {after.status_code}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("length", ["-1", "+0", "5X"])
@pytest.mark.spec("RFC 9112 §6.3 (an invalid Content-Length: MUST answer 400), RFC 9110 §8.6 (1*DIGIT)")
def test_answers_400_to_an_invalid_content_length(kind: str, length: str) -> None:
    with running(kind, timeout=SILENT_TIMEOUT) as url:
        raw = exchange(url, [b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %s\r\n\r\n" % length.encode()])
        after = get(url + "/")
    assert raw, f"expected a 400 response to 'Content-Length: {length}', the server closed the connection without one"
    status, _, _ = split_response(raw)
    assert status == 400, (
        f"expected 400 for 'Content-Length: {length}', got {status}: Content-Length is digits only, and int() "
        "also accepts a sign (and '_'), so check the digits before you convert"
    )
    assert after.status_code == 200, f"expected the server to keep serving after a bad request, got {after.status_code}"


def endless_head(size: int) -> bytes:
    """``size`` bytes of a request head that has not ended: a request line and 101 header lines, no empty line.

    101 header lines, because http.server (the reference) answers 431 after 100 of them, having read
    every byte: so neither server closes with unread bytes (which would reset the connection).
    """
    lines = [b"GET / HTTP/1.1\r\n", b"Host: test\r\n"]
    fillers = 100
    room = size - sum(map(len, lines)) - fillers * len(b"X-Filler-000: \r\n")
    for i in range(fillers):
        value = b"a" * (room // fillers + (1 if i < room % fillers else 0))
        lines.append(b"X-Filler-%03d: %s\r\n" % (i, value))
    head = b"".join(lines)
    assert len(head) == size and b"\r\n\r\n" not in head
    return head


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9110 §5.4 (field limits: a 4xx), RFC 6585 §5 (431 Request Header Fields Too Large)")
def test_answers_431_to_a_head_that_never_ends(kind: str) -> None:
    head = endless_head(socket_server.MAX_HEAD + 1)
    with running(kind) as url:
        try:
            raw = exchange(url, [head])
        except ConnectionResetError:
            pytest.fail("the server reset the connection: answer 431 once the head passes MAX_HEAD bytes, then close")
        after = get(url + "/")
    assert raw, (
        f"expected a 431 response to a head of {len(head)} bytes without its empty line (MAX_HEAD is "
        f"{socket_server.MAX_HEAD}), the server closed the connection without one"
    )
    status, _, _ = split_response(raw)
    assert status == 431, f"expected 431 Request Header Fields Too Large for a head past MAX_HEAD bytes, got {status}"
    assert after.status_code == 200, f"expected the server to keep serving after a too-large head, got {after.status_code}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9112 §6.3 (Content-Length), §9.6 (read what the client sent before answering)")
def test_waits_for_the_whole_body_before_answering(kind: str) -> None:
    with running(kind) as url:
        with socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhell")
            sock.settimeout(0.3)
            try:
                early = sock.recv(65536)
            except TimeoutError:
                early = None  # good: the server is still waiting for the fifth body byte
            sock.settimeout(CLIENT_TIMEOUT)
            if early is None:
                sock.sendall(b"o")
            raw = read_until_closed(sock)
    assert early is None, (
        f"expected no answer while one of the 5 body bytes was still missing, got {early[:80]!r}: read all "
        "Content-Length bytes before answering (the last one may come in its own recv())"
    )
    status, _, body = split_response(raw)
    assert (status, body) == (200, b"Hello, world"), f"expected 200 b'Hello, world' once the body was complete, got {status} {body!r}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9110 §15 (status codes are extensible), RFC 9112 §4 (the reason phrase may be empty)")
def test_sends_a_status_http_status_does_not_know(kind: str) -> None:
    def handler(method: str, path: str) -> Response:
        return 299, [("Content-Type", "text/plain")], b"an unregistered code"

    with running(kind, handler) as url:
        response = get(url + "/")
        after = get(url + "/")
    assert (response.status_code, response.content) == (299, b"an unregistered code"), (
        f"expected status 299 and the handler's body, got {response.status_code} {response.content!r}: "
        "http.HTTPStatus(299) raises ValueError, and then the reason is empty ('HTTP/1.1 299 ')"
    )
    assert after.status_code == 299, f"expected the server to keep serving, got {after.status_code}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("handler(method, path) -> (status, headers, body)")
def test_calls_the_handler_with_method_and_path(kind: str) -> None:
    calls: list[tuple[str, str]] = []

    def handler(method: str, path: str) -> Response:
        calls.append((method, path))
        return 201, [("Content-Type", "application/json"), ("X-Kata", "03")], b'{"made": true}'

    with running(kind, handler) as url:
        response = get(url + "/things?color=blue", "PUT", content=b"{}")
    assert calls == [("PUT", "/things")], f"expected the handler to be called once with ('PUT', '/things'), got {calls!r}"
    got = (response.status_code, response.reason_phrase, response.headers.get("x-kata"), response.content)
    expected = (201, "Created", "03", b'{"made": true}')
    assert got == expected, f"expected status, reason, X-Kata, body {expected!r}, got {got!r}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9110 §15.6.1 (500 Internal Server Error)")
def test_answers_500_when_the_handler_raises(kind: str) -> None:
    def handler(method: str, path: str) -> Response:
        if path == "/boom":
            raise RuntimeError("a bug in the application")
        return reference_hello(method, path)

    with running(kind, handler) as url:
        boom = get(url + "/boom")
        after = get(url + "/")
    assert boom.status_code == 500, f"expected 500 when the handler raises, got {boom.status_code}"
    assert after.status_code == 200, (
        f"expected the server to keep serving after a handler error, got {after.status_code}: "
        "catch the handler's exception and answer 500"
    )


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9110 §15.5.9 (408: a server need not wait forever)")
def test_a_silent_client_does_not_block_the_server(kind: str) -> None:
    with running(kind, timeout=SILENT_TIMEOUT) as url:
        with socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT) as silent:
            started = time.monotonic()
            try:  # this request waits behind the silent client: one connection at a time
                response = httpx.get(url + "/", timeout=CLIENT_TIMEOUT)
            except httpx.HTTPError as exc:
                pytest.fail(
                    f"a client that connects and sends nothing blocked the server: the next request got no "
                    f"answer within {CLIENT_TIMEOUT:g} s ({type(exc).__name__}). make_server(..., "
                    f"timeout={SILENT_TIMEOUT:g}) must give up on a silent client after {SILENT_TIMEOUT:g} s"
                )
            waited = time.monotonic() - started
            assert response.status_code == 200, f"expected 200, got {response.status_code}"
            leftover = read_until_closed(silent)
    assert leftover == b"" or leftover.startswith(b"HTTP/1.1 408"), (
        f"expected the server to close the silent connection (or answer 408), got {leftover[:80]!r}"
    )
    assert waited < CLIENT_TIMEOUT, f"the next client waited {waited:.1f} s, expected about {SILENT_TIMEOUT:g} s"


TRICKLE_DEVIATION = "http.server's timeout applies to each recv(), so a byte now and then keeps it waiting forever"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("RFC 9110 §15.5.9 (408: a server need not wait forever); one deadline for the whole request")
def test_a_trickling_client_does_not_block_the_server(kind: str) -> None:
    stop = threading.Event()
    started_trickling = threading.Event()
    # The next client's whole allowance: an answer later than this fails the check below all the same,
    # so the client need not wait any longer (http.server, the reference, is known to take forever).
    next_client_waits = SILENT_TIMEOUT + 2.0
    trickle_for = next_client_waits + 1.0  # longer than the next client waits: a per-recv() timeout never fires

    def trickle(sock: socket.socket) -> None:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        started_trickling.set()
        until = time.monotonic() + trickle_for
        while time.monotonic() < until and not stop.wait(0.1):  # one byte every 0.1 s, never the empty line
            try:
                sock.sendall(b"a")
            except OSError:
                return  # the server hung up on us: what it should do after its timeout

    with running(kind, timeout=SILENT_TIMEOUT) as url:
        with socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT) as slow:
            trickler = threading.Thread(target=trickle, args=(slow,), daemon=True)
            trickler.start()
            assert started_trickling.wait(CLIENT_TIMEOUT), "the trickling client could not send its first bytes"
            started = time.monotonic()
            try:
                with peer_deviation(TRICKLE_DEVIATION if kind == "reference" else None):
                    try:  # this request waits behind the trickling client: one connection at a time
                        status = httpx.get(url + "/", timeout=next_client_waits).status_code
                    except httpx.HTTPError as exc:
                        raise AssertionError(
                            f"a client that sends one byte every 0.1 s and never ends its head blocked the server: "
                            f"the next request got no answer within {next_client_waits:g} s ({type(exc).__name__}), "
                            f"expected one after about {SILENT_TIMEOUT:g} s (the trickler's deadline). "
                            f"timeout={SILENT_TIMEOUT:g} is a deadline for the whole request, not for each recv(): "
                            "settimeout() with the time left before the deadline, before every recv()"
                        ) from None
                    waited = time.monotonic() - started
                    assert status == 200, f"expected 200 for the client after the trickler, got {status}"
                    assert waited < next_client_waits, (
                        f"the next client waited {waited:.1f} s, expected about {SILENT_TIMEOUT:g} s (the trickler's deadline)"
                    )
            finally:
                stop.set()
                trickler.join(CLIENT_TIMEOUT + trickle_for)


def send_then_reset(url: str, data: bytes) -> None:
    """Connect, send ``data``, and abort the connection (SO_LINGER 0: the kernel sends RST, not FIN)."""
    sock = socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.sendall(data)
    time.sleep(0.05)  # pacing, not sync: let the bytes leave before the reset
    sock.close()


def send_then_close(url: str, data: bytes) -> None:
    """Connect, send ``data``, and close without reading the answer (if any)."""
    with socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)


HOSTILE_CLIENTS = [
    pytest.param(lambda url: send_then_close(url, b"GET / HTTP/1.1\r\nHost: te"), id="closes-mid-head"),
    pytest.param(lambda url: send_then_reset(url, b"GET / HTTP/1.1\r\nHost: te"), id="resets-mid-head"),
    pytest.param(
        lambda url: send_then_close(url, b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly ten b"),
        id="closes-mid-body",
    ),
    pytest.param(lambda url: send_then_reset(url, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"), id="resets-before-the-answer"),
    pytest.param(lambda url: send_then_close(url, b"\x00\xff\xfe\x16\x03\x01\r\n\r\n"), id="binary-garbage"),
]


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("client", HOSTILE_CLIENTS)
@pytest.mark.spec("RFC 9112 §9.6 (a connection may close at any time); one client never stops the server")
def test_survives_a_client_that_misbehaves(kind: str, client: Callable[[str], None]) -> None:
    with running(kind, timeout=SILENT_TIMEOUT) as url:
        client(url)
        try:
            status = httpx.get(url + "/", timeout=CLIENT_TIMEOUT).status_code
        except httpx.HTTPError as exc:
            pytest.fail(
                f"after a client that misbehaved, the next request got no answer ({type(exc).__name__}: {exc}): "
                "a client that closes or resets its connection makes recv() return b'' or raise, and sendall() "
                "raise (BrokenPipeError, ConnectionResetError: both OSError); catch them per connection, "
                "close that connection, and keep serving"
            )
    assert status == 200, f"expected 200 for the client after the one that misbehaved, got {status}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("socketserver-style shutdown() and server_close()")
def test_shutdown_stops_the_server(kind: str) -> None:
    with running(kind) as url:
        assert get(url + "/").status_code == 200, "expected the server to answer before shutdown"
    # running() has called shutdown() and server_close(), and checked serve_forever() returned.
    try:
        socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT).close()
    except ConnectionRefusedError:
        return
    pytest.fail("expected connections to be refused after server_close(): close the listening socket")


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("socket: SO_REUSEADDR (RFC 9293 §3.6: the side that closes first keeps TIME-WAIT)")
def test_restarts_on_the_same_port_at_once(kind: str) -> None:
    with running(kind) as url:
        # The server closes first after answering, so its end of this connection lingers in TIME_WAIT.
        first = exchange(url, [b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"])
    assert first, "expected a response from the first server"
    port = port_of(url)
    try:
        with running(kind, port=port) as again:
            response = get(again + "/")
    except OSError as exc:
        pytest.fail(
            f"expected a new server to bind port {port} right after the old one stopped, got {exc}: set "
            "SO_REUSEADDR on the listening socket before bind() (the old connection is still in TIME_WAIT)"
        )
    assert response.status_code == 200, f"expected the restarted server to answer 200, got {response.status_code}"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("socketserver-style serve_forever(poll_interval): accept() times out, the loop goes on")
def test_serves_a_client_that_comes_after_a_quiet_spell(kind: str) -> None:
    server = new_server(kind)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.serve_forever(poll_interval=0.01)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(0.2)  # not a wait for readiness: twenty poll intervals pass with nobody connecting
        assert not failure, (
            f"serve_forever() raised {failure[0]!r} before any client came: when accept() times out, "
            "go back to the top of the loop (there is no connection to handle)"
        )
        response = get(f"http://{HOST}:{server.server_address[1]}/")
    finally:
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(STOP_TIMEOUT)
        thread.join(STOP_TIMEOUT)
        server.server_close()
    assert (response.status_code, response.content) == (200, b"Hello, world"), (
        f"expected 200 b'Hello, world' after a quiet spell, got {response.status_code} {response.content!r}"
    )
    assert not thread.is_alive(), "expected serve_forever() to return after shutdown()"


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("socketserver-style shutdown(): wait until serve_forever() has returned")
def test_shutdown_waits_for_the_request_in_progress(kind: str) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(method: str, path: str) -> Response:
        entered.set()
        release.wait(CLIENT_TIMEOUT)
        return reference_hello(method, path)

    server = new_server(kind, slow)
    responses: list[httpx.Response] = []
    name = "http.server" if kind == "reference" else "your server"
    with serving(server, name=name, poll_interval=0.01) as url:
        client = threading.Thread(target=lambda: responses.append(get(url + "/")), daemon=True)
        client.start()
        assert entered.wait(CLIENT_TIMEOUT), "expected the server to call the handler for GET /"
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(0.2)  # shutdown() must still be waiting: the handler has not returned yet
        returned_early = not stopper.is_alive()
        release.set()
        stopper.join(STOP_TIMEOUT)
        client.join(CLIENT_TIMEOUT)
    assert not returned_early, (
        "shutdown() returned while serve_forever() was still answering a request: shutdown() must wait until "
        "serve_forever() has returned (a threading.Event that serve_forever() sets when it stops)"
    )
    assert [r.status_code for r in responses] == [200], (
        f"expected the request in progress to be answered 200 before the server stopped, got {responses!r}"
    )


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.spec("socket: a failed bind() raises OSError and leaves no socket open")
def test_a_busy_port_raises_and_leaks_no_socket(kind: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        gc.collect()  # older garbage first: the warnings recorded below are this call's own
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            try:
                server = new_server(kind, port=port)
            except OSError as exc:
                code = exc.errno
            else:
                server.server_close()
                pytest.fail(f"expected make_server() to raise OSError on port {port}, where another socket listens")
            gc.collect()  # the half-made server is garbage now: an unclosed socket warns when it is collected
    assert code == errno.EADDRINUSE, (
        f"expected the OSError that bind() raised (errno {errno.EADDRINUSE}, address in use) to reach the caller, "
        f"got errno {code} ({errno.errorcode.get(code or 0, '?')}): after closing the socket, re-raise"
    )
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning) and "socket" in str(w.message)]
    assert not leaked, (
        f"expected no socket left open when bind() fails, got {leaked[0]!r}: close the socket "
        "(try: bind, listen / except OSError: close, raise)"
    )


@pytest.mark.spec("python -m socket_server --port 8000")
def test_runs_from_the_command_line() -> None:
    folder = Path(socket_server.__file__).resolve().parent
    argv = python_argv("-m", "socket_server", "--host", HOST, "--port", "0")
    with subprocess_serving(argv, ready=r"http://127\.0\.0\.1:(?P<port>\d+)", cwd=folder, name="python -m socket_server") as url:
        response = get(url + "/")
    assert (response.status_code, response.content) == (200, b"Hello, world"), (
        f"expected 200 b'Hello, world' from the server started by hand, got {response.status_code} {response.content!r}"
    )
