"""Exercise 01 is graded against a real HTTP server: Python's own ``http.server``, on a free port."""

from __future__ import annotations

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
