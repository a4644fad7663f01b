"""Exercise 01 is graded against real servers: Python's own ``http.server`` and a raw socket, on free ports."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testkit.serving import HOST, serving
from http_client import RawResponse, raw_http_request

BIG_BODY = bytes(range(256)) * 4096  # 1 MiB: far more than one recv() returns


class RecordingHandler(BaseHTTPRequestHandler):
    """Answers a few paths and remembers the raw head of every request it saw."""

    protocol_version = "HTTP/1.1"  # keep-alive by default: only Connection: close ends the exchange
    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:  # noqa: N802 (the name http.server wants)
        RecordingHandler.seen.append((self.requestline, dict(self.headers.items())))
        if self.path == "/hello":
            self._send(200, "OK", [("Content-Type", "text/plain")], b"Hello, world!")
        elif self.path == "/cookies":
            headers = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Custom-Header", "kept as sent")]
            self._send(200, "OK", headers, b"")
        elif self.path == "/big":
            self._send(200, "OK", [("Content-Type", "application/octet-stream")], BIG_BODY)
        elif self.path == "/until-close":
            # No Content-Length: the body ends when the server closes the connection.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"streamed ")
            self.wfile.flush()
            self.wfile.write(b"until close")
            self.close_connection = True
        elif self.path.startswith("/echo"):
            self._send(200, "OK", [], self.path.encode())
        else:
            self._send(404, "Not Found", [("Content-Type", "text/plain")], b"no such page")

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output quiet


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    RecordingHandler.seen = []
    httpd = ThreadingHTTPServer((HOST, 0), RecordingHandler)
    httpd.daemon_threads = True
    with serving(httpd, name="http.server", poll_interval=0.01):
        yield httpd.server_address[:2]


def call(server: tuple[str, int], path: str) -> RawResponse:
    """Call the student's client in a thread, so a client that never stops reading fails clearly."""
    result: list[RawResponse] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(raw_http_request(server[0], server[1], path))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():
        pytest.fail(
            f"raw_http_request(..., {path!r}) was still waiting after 5 s. Did you send the empty line "
            "that ends the head (\\r\\n\\r\\n) and 'Connection: close', and stop reading when recv() returns b''?"
        )
    if failure:
        raise failure[0]
    return result[0]


@pytest.mark.spec("RFC 9112 §4 (status line)")
def test_returns_the_status_code(server: tuple[str, int]) -> None:
    response = call(server, "/hello")
    assert isinstance(response, RawResponse), f"expected a RawResponse, got {type(response).__name__}"
    assert response.status == 200, f"expected status 200 (an int), got {response.status!r}"


@pytest.mark.spec("RFC 9112 §3 (request line), §3.2 (Host)")
def test_sends_a_well_formed_request(server: tuple[str, int]) -> None:
    call(server, "/hello")
    assert RecordingHandler.seen, "the server saw no complete request"
    request_line, headers = RecordingHandler.seen[0]
    assert request_line == "GET /hello HTTP/1.1", f"expected request line 'GET /hello HTTP/1.1', got {request_line!r}"
    host = {k.lower(): v for k, v in headers.items()}.get("host")
    expected_host = f"{server[0]}:{server[1]}"
    assert host == expected_host, f"expected header 'Host: {expected_host}', got {host!r}"


@pytest.mark.spec("RFC 9112 §9.6 (Connection: close)")
def test_asks_the_server_to_close(server: tuple[str, int]) -> None:
    call(server, "/hello")
    _, headers = RecordingHandler.seen[0]
    connection = {k.lower(): v for k, v in headers.items()}.get("connection", "")
    assert connection.lower() == "close", f"expected header 'Connection: close', got {connection!r}"


@pytest.mark.spec("RFC 9112 §4 (status line)")
def test_reads_the_reason_phrase_and_a_404(server: tuple[str, int]) -> None:
    response = call(server, "/missing")
    assert (response.status, response.reason) == (404, "Not Found"), (
        f"expected status 404 with reason 'Not Found', got {response.status!r} {response.reason!r}"
    )
    assert response.body == b"no such page", f"expected body b'no such page', got {response.body[:60]!r}"


@pytest.mark.spec("RFC 9112 §6 (message body)")
def test_returns_the_body_as_bytes(server: tuple[str, int]) -> None:
    response = call(server, "/hello")
    assert response.body == b"Hello, world!", f"expected body b'Hello, world!', got {response.body[:60]!r}"


@pytest.mark.spec("RFC 9112 §5 (field lines)")
def test_keeps_every_header_in_order(server: tuple[str, int]) -> None:
    response = call(server, "/cookies")
    cookies = [value for name, value in response.headers if name.lower() == "set-cookie"]
    assert cookies == ["a=1", "b=2"], (
        f"expected both Set-Cookie headers, in order: ['a=1', 'b=2'], got {cookies!r} "
        "(keep headers as a list of pairs: a dict would lose the repeat)"
    )
    assert ("X-Custom-Header", "kept as sent") in response.headers, (
        f"expected ('X-Custom-Header', 'kept as sent') with its name as sent and the value stripped, got {response.headers!r}"
    )


@pytest.mark.spec("RFC 9112 §6.3 (message body length)")
def test_reads_a_body_longer_than_one_recv(server: tuple[str, int]) -> None:
    response = call(server, "/big")
    assert len(response.body) == len(BIG_BODY), (
        f"expected {len(BIG_BODY)} body bytes, got {len(response.body)}: recv() returns a piece at a time, read in a loop"
    )
    assert response.body == BIG_BODY, "the body bytes differ from what the server sent"


@pytest.mark.spec("RFC 9112 §6.3 (body delimited by closing the connection)")
def test_reads_a_body_until_the_server_closes(server: tuple[str, int]) -> None:
    response = call(server, "/until-close")
    assert response.body == b"streamed until close", (
        f"expected b'streamed until close', got {response.body!r}: without Content-Length, the body is all bytes until close"
    )


@pytest.mark.spec("RFC 9112 §3.2 (request target)")
def test_sends_the_path_and_query_untouched(server: tuple[str, int]) -> None:
    response = call(server, "/echo?q=wsgi&page=2")
    assert response.body == b"/echo?q=wsgi&page=2", f"expected the server to see '/echo?q=wsgi&page=2', got {response.body!r}"


# ---------------------------------------------------------------------------------------------
# A raw-socket server: it answers with exact bytes chosen by the test and keeps the exact bytes
# it received (http.server forgives a bare LF; this one shows what was on the wire).
# ---------------------------------------------------------------------------------------------


class RawServer:
    """Accept one connection, read the request head, answer ``response`` byte for byte, close."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.received = b""
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(5)
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self.thread = threading.Thread(target=self._serve_one, daemon=True)

    def _serve_one(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return  # the client never came (or the test is over)
        with conn:
            conn.settimeout(2)
            try:
                while b"\r\n\r\n" not in self.received and (chunk := conn.recv(65536)):
                    self.received += chunk
                conn.sendall(self.response)
            except OSError:
                pass  # a client that never ended its head, or left: the test says so

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.thread.is_alive():  # the client never connected: wake accept() with a connection of our own
            with contextlib.suppress(OSError):
                socket.create_connection(self.address, timeout=1).close()
        self.thread.join(5)
        self.listener.close()


@pytest.mark.spec("RFC 9112 §2.1 (CR LF line ends), §3 (request line), §3.2 (Host)")
def test_ends_every_request_line_with_crlf() -> None:
    with RawServer(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n") as raw_server:
        call(raw_server.address, "/exact?x=1")
    sent = raw_server.received
    head, sep, after = sent.partition(b"\r\n\r\n")
    assert sep, f"expected the request head to end with an empty line, \\r\\n\\r\\n; the server received {sent!r}"
    lines = head.split(b"\r\n")
    bare = [line for line in lines if b"\n" in line or b"\r" in line]
    assert not bare, f"expected every line to end with \\r\\n, found a bare LF or CR in {bare!r} (sent {sent!r})"
    assert lines[0] == b"GET /exact?x=1 HTTP/1.1", f"expected the request line b'GET /exact?x=1 HTTP/1.1', got {lines[0]!r}"
    assert after == b"", f"expected nothing after the empty line (a GET has no body), got {after!r}"


def answer_with(response: bytes) -> RawResponse:
    with RawServer(response) as raw_server:
        return call(raw_server.address, "/")


@pytest.mark.spec("RFC 9112 §4 (status-line = HTTP-version SP status-code SP [reason-phrase])")
def test_reads_an_empty_or_long_reason_phrase() -> None:
    response = answer_with(b"HTTP/1.1 299 \r\nConnection: close\r\n\r\n")
    assert (response.status, response.reason) == (299, ""), (
        f"for the status line b'HTTP/1.1 299 ', expected status 299 and reason '', got {response.status!r} {response.reason!r}"
    )
    response = answer_with(b"HTTP/1.1 200 Fine, With Spaces\r\nConnection: close\r\n\r\n")
    assert (response.status, response.reason) == (200, "Fine, With Spaces"), (
        f"for b'HTTP/1.1 200 Fine, With Spaces', expected 200 and 'Fine, With Spaces' (the reason is everything "
        f"after the second space), got {response.status!r} {response.reason!r}"
    )


@pytest.mark.spec("RFC 9112 §5 (field-line = field-name \":\" OWS field-value OWS)")
def test_splits_a_header_at_its_first_colon_and_strips_the_value() -> None:
    response = answer_with(
        b"HTTP/1.1 302 Found\r\nLocation: http://example.com:8080/a\r\nX-Pad: \t padded value \t\r\n"
        b"X-Empty:\r\nConnection: close\r\n\r\n"
    )
    expected = [
        ("Location", "http://example.com:8080/a"),
        ("X-Pad", "padded value"),
        ("X-Empty", ""),
        ("Connection", "close"),
    ]
    assert response.headers == expected, (
        f"expected {expected!r}, got {response.headers!r}: split each line at its first ':' (a value may hold "
        "more), and strip the spaces and tabs around the value only"
    )


@pytest.mark.spec("RFC 9112 §2.1 (the head ends at the first empty line), §6.3")
def test_the_body_is_everything_after_the_first_empty_line() -> None:
    body = b"line one\r\n\r\nafter an empty line\r\n\r\n"
    response = answer_with(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
    assert response.body == body, (
        f"expected the body {body!r}, got {response.body!r}: the head ends at the *first* \\r\\n\\r\\n; "
        "the body may hold more of them"
    )
    assert response.headers == [("Connection", "close")], f"expected only the Connection header, got {response.headers!r}"
