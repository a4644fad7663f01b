"""Exercise 07 — build a WSGI server.

A WSGI server is the other half of the contract you have been writing apps for. It owns the socket:
it reads an HTTP request off the wire, turns it into an ``environ`` dict, calls the application with
``environ`` and a ``start_response`` callable, and writes what the application returns back to the
client. Everything Flask or Django ever sees of HTTP comes through these few steps::

    bytes on the socket --parse_request--> Request --build_environ--> environ
    app(environ, start_response) --call_app--> status line, headers, body bytes --> socket

This server speaks HTTP/1.0-style: one request per connection, answered with ``Connection: close``,
so "the body is finished" simply means "the server closed the connection". Exercise 08 adds
HTTP/1.1 keep-alive and chunked bodies on top of it.

Spec: PEP 3333 (§environ Variables, §Input and Error Streams, §The start_response() Callable,
§Buffering and Streaming, §Error Handling, §Unicode Issues) and RFC 9112 (§2, §3, §5, §6.3).
"""

from __future__ import annotations

import argparse
import importlib
import re
import selectors
import socket
import sys
import threading
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, BinaryIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]  # mutants: skip (given in the stub)

MAX_LINE = 65536  # mutants: skip (given in the stub)
"""Longest request line or header line we accept, in bytes (a client could otherwise send forever)."""
MAX_HEADERS = 100  # mutants: skip (given in the stub)
"""Most header lines we accept in one request."""
CONNECTION_TIMEOUT = 10.0  # mutants: skip (given in the stub)
"""Seconds a client may stay silent before the server gives up on its connection."""
SERVER_SOFTWARE = "callable-katas-wsgi/0.7"  # mutants: skip (given in the stub)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # mutants: skip (given in the stub)
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""

# RFC 9110 §5.6.2: a token (a method or a field name) is one or more of these characters.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HTTP_VERSION = re.compile(r"HTTP/1\.[0-9]")
# RFC 9110 §7.2 (RFC 3986 §3.2.2): Host = uri-host [ ":" port ]. The host is an IPv6 literal in
# brackets, or a name (or IPv4 address) of unreserved, sub-delims and %-encoded characters; the port
# digits only. So no space, no "/" and no "@" (userinfo): those are not an authority a server can own.
HOST_FIELD = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]*)?")


class BadRequest(ValueError):  # mutants: skip (given in the stub)
    """The bytes on the wire are not an HTTP/1.x request: the server answers 400 and closes."""


@dataclass
class Request:  # mutants: skip (given in the stub)
    """The head of one HTTP request, taken apart (the body stays on the connection)."""

    method: str
    """The method, e.g. ``"GET"``."""
    target: str
    """The request target exactly as sent, still percent-encoded: ``"/caf%C3%A9?q=1"``."""
    version: str
    """The protocol version, e.g. ``"HTTP/1.1"``."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Every header as a ``(name, value)`` pair in order, repeats kept, bytes decoded as latin-1."""


# ---------------------------------------------------------------------------------------------
# Step 1: read the head of a request off the connection.
# ---------------------------------------------------------------------------------------------


def parse_request(rfile: BinaryIO) -> Request | None:
    """Read one request head (request line, header lines, empty line) from ``rfile``.

    Returns ``None`` when the connection is closed before the first byte (a client that connected
    and left). Leaves the body unread in ``rfile``. Raises ``BadRequest`` when the head is malformed.
    """
    line = _read_line(rfile)
    if line is None:
        return None
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequest(f"a request line is 'METHOD target HTTP/1.x', got {line!r}")
    method, target, version = parts
    if not TOKEN.fullmatch(method):
        raise BadRequest(f"bad method {method!r}")
    if not target or not target.isprintable():
        raise BadRequest(f"bad request target {target!r}")
    if not HTTP_VERSION.fullmatch(version):
        raise BadRequest(f"this server speaks HTTP/1.x, got {version!r}")

    headers: list[tuple[str, str]] = []
    while True:
        line = _read_line(rfile)
        if line is None:
            raise BadRequest("the connection closed in the middle of the headers")
        if line == "":
            break  # the empty line: the head is complete
        name, colon, value = line.partition(":")
        # RFC 9112 §5.1: no whitespace between the name and the colon, and the name is a token.
        if not colon or not TOKEN.fullmatch(name):
            raise BadRequest(f"a header line is 'Name: value', got {line!r}")
        # RFC 9110 §5.5: a CR or NUL inside a field value is "invalid and dangerous".
        if "\r" in value or "\x00" in value:
            raise BadRequest(f"a CR or NUL in the value of {name!r}")
        headers.append((name, value.strip(" \t")))
        if len(headers) > MAX_HEADERS:
            raise BadRequest("too many headers")

    # RFC 9112 §6.3: a Content-Length that is not a number (or several that disagree) is an error.
    # isdigit() alone would let "²" through, which int() then refuses: ASCII digits only.
    lengths = {value for name, value in headers if name.lower() == "content-length"}
    if len(lengths) > 1 or any(not (value.isascii() and value.isdigit()) for value in lengths):
        raise BadRequest(f"bad Content-Length {sorted(lengths)!r}")

    # RFC 9112 §3.2: an HTTP/1.1 request names its host exactly once (HTTP/1.0 may leave it out), and
    # a valid one. Two Host lines could route one request to two different sites.
    hosts = [value for name, value in headers if name.lower() == "host"]
    if len(hosts) > 1 or (not hosts and version != "HTTP/1.0"):
        raise BadRequest(f"expected one Host header, got {len(hosts)}")
    if not all(HOST_FIELD.fullmatch(value) for value in hosts):  # at most one by now
        raise BadRequest(f"invalid Host {hosts!r}")
    return Request(method, target, version, headers)


def _read_line(rfile: BinaryIO) -> str | None:
    """One line without its line end, decoded as latin-1 (each byte one character); None at EOF."""
    raw = rfile.readline(MAX_LINE + 1)
    if not raw:
        return None
    if len(raw) > MAX_LINE:
        raise BadRequest("line too long")
    if not raw.endswith(b"\n"):
        raise BadRequest("the connection closed in the middle of a line")
    # RFC 9112 §2.2: lines end with CRLF; a bare LF may be accepted, so strip either.
    return raw.rstrip(b"\r\n").decode("latin-1")


# ---------------------------------------------------------------------------------------------
# Step 2: the environ, and wsgi.input.
# ---------------------------------------------------------------------------------------------


class RequestBody:
    """``wsgi.input``: the request body, read straight from the connection, and not a byte more.

    The connection holds whatever the client sends next, so reading past ``Content-Length`` would
    either steal those bytes or block forever waiting for bytes that never come. PEP 3333 asks the
    server to "simulate an end-of-file condition" at the end of the body: here, by counting.
    """

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        self._rfile = rfile
        self._remaining = length

    def read(self, size: int | None = -1) -> bytes:
        size = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._rfile.read(size)  # read(0) is b"" at once: the end of the body
        self._remaining -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        size = self._remaining if size is None or size < 0 else min(size, self._remaining)
        line = self._rfile.readline(size)
        self._remaining -= len(line)
        return line

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(self)  # PEP 3333: the server "is free to ignore" the hint

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def build_environ(request: Request, rfile: BinaryIO, server_address: tuple[str, int]) -> dict[str, Any]:
    """Build the PEP 3333 ``environ`` for ``request``; ``wsgi.input`` reads its body from ``rfile``."""
    path, _, query = request.target.partition("?")
    headers: dict[str, str] = {}
    for name, value in request.headers:
        if "_" in name:
            # "X_User" would become HTTP_X_USER just like "X-User": a client could forge a header that a
            # proxy in front checked. Dropped, as gunicorn, waitress and nginx drop it.
            continue
        key = name.upper().replace("-", "_")
        if key == "CONTENT_LENGTH" and key in headers:
            continue  # parse_request made sure repeats agree (RFC 9110 §8.6): one number, not "5,5"
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        # RFC 9110 §5.3: repeated fields combine into one, values separated by commas.
        headers[key] = f"{headers[key]},{value}" if key in headers else value

    content_length = int(headers.get("CONTENT_LENGTH") or 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",  # the app is mounted at the root: the whole path is PATH_INFO
        # PEP 3333 §Unicode Issues: decode %XX to bytes, then carry the bytes in a str one byte per
        # character (latin-1). Frameworks re-encode to latin-1 and decode as UTF-8 themselves.
        "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,  # raw: the app (or framework) decides how to decode it
        "SERVER_NAME": server_address[0],
        "SERVER_PORT": str(server_address[1]),
        "SERVER_PROTOCOL": request.version,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        **headers,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": RequestBody(rfile, content_length),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,  # one connection at a time, all in one thread
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    return environ


# ---------------------------------------------------------------------------------------------
# Step 3: call the application and send what it answers.
# ---------------------------------------------------------------------------------------------


class ClientDisconnected(Exception):
    """Sending failed: the client has gone away, so there is nobody left to answer."""


def call_app(app: WSGIApp, environ: dict[str, Any], send: Callable[[bytes], Any]) -> None:
    """Run ``app`` for one request and send the response through ``send`` (e.g. ``sock.sendall``)."""
    response: tuple[str, list[tuple[str, str]]] | None = None  # what start_response was given
    headers_sent = False

    def send_or_disconnect(data: bytes) -> None:
        try:
            send(data)
        except OSError as exc:
            raise ClientDisconnected(str(exc)) from exc

    def write(data: bytes) -> None:
        nonlocal headers_sent
        if response is None:
            raise AssertionError("write() or a body chunk came before start_response()")
        if not headers_sent:
            # Headers travel with the first body bytes: one send, and no head at all if the app
            # fails before it has anything to say (then the server can still answer 500).
            headers_sent = True
            send_or_disconnect(_response_head(*response) + data)
        elif data:
            send_or_disconnect(data)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        nonlocal response
        if exc_info is not None:
            try:
                if headers_sent:
                    # Too late to change the status: re-raise, so the app's error ends the response.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the frame <-> traceback cycle (PEP 3333 says so)
        elif response is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        response = (status, list(headers))
        return write

    try:
        result = app(environ, start_response)
        try:
            for chunk in result:
                if chunk:  # empty chunks must not push the headers out (PEP 3333 §Buffering)
                    write(chunk)
            if not headers_sent:
                write(b"")  # an empty body: the headers still have to go out
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # always, on success, on error and on disconnect (PEP 3333 §Specification Details)
    except ClientDisconnected:
        return  # nobody to answer; the server closes the socket
    except Exception:
        traceback.print_exc(file=environ["wsgi.errors"])
        if not headers_sent:
            try:
                send(_error_response("500 Internal Server Error", "the application failed"))
            except OSError:
                pass
        # Headers already sent: nothing left to say. Closing the connection ends the truncated body.


def _response_head(status: str, headers: list[tuple[str, str]]) -> bytes:
    """Status line and header lines, each ending in CRLF, then the empty line (RFC 9112 §4, §5)."""
    names = {name.lower() for name, _ in headers}
    extra = []
    if "date" not in names:
        extra.append(("Date", formatdate(usegmt=True)))  # RFC 9110 §6.6.1: servers with a clock send it
    lines = [f"HTTP/1.0 {status}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in [*headers, *extra]]
    lines.append("Connection: close\r\n\r\n")  # one request per connection
    return "".join(lines).encode("latin-1")  # PEP 3333: header strings are latin-1


# ---------------------------------------------------------------------------------------------
# Step 4: the server — accept, answer, close, again.
# ---------------------------------------------------------------------------------------------


class WSGIServer:
    """A one-connection-at-a-time WSGI server, shaped like ``wsgiref.simple_server.WSGIServer``."""

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        self.app = app
        # Bind now, so server_address has the real port (port 0 picks a free one) before serving.
        self.socket = socket.create_server((host, port))
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        """Accept and answer connections until ``shutdown()`` is called."""
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                while not self._stop_requested.is_set():
                    # Wait for a client, but wake up now and then to notice a shutdown() request.
                    if selector.select(poll_interval):
                        conn, client_address = self.socket.accept()
                        self.handle_connection(conn, client_address)
        finally:
            self._stop_requested.clear()
            self._stopped.set()

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to stop, and wait until it has (call it from another thread)."""
        self._stop_requested.set()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket."""
        self.socket.close()

    def handle_connection(self, conn: socket.socket, client_address: Any) -> None:
        """Answer the one request on ``conn``, then close it. A broken client never stops the server."""
        with conn, conn.makefile("rb") as rfile:
            conn.settimeout(CONNECTION_TIMEOUT)
            try:
                try:
                    request = parse_request(rfile)
                except BadRequest as exc:
                    conn.sendall(_error_response("400 Bad Request", str(exc)))
                else:
                    if request is not None:
                        if _client_waits_for_continue(request):
                            conn.sendall(CONTINUE)  # no lazy wsgi.input here: say "go on" at once
                        environ = build_environ(request, rfile, self.server_address)
                        # Only the server knows the peer: CGI's REMOTE_ADDR, and REMOTE_PORT as a str.
                        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client_address[0], str(client_address[1])
                        call_app(self.app, environ, conn.sendall)
                _lingering_close(conn)
            except OSError:
                pass  # the client went away or timed out: drop the connection


def _client_waits_for_continue(request: Request) -> bool:
    """Did an HTTP/1.1 client say ``Expect: 100-continue`` for a body it now holds back? (RFC 9110 §10.1.1)

    HTTP/1.0 knows no 1xx answers (its expectation MUST be ignored), and without a body there is
    nothing to wait for. parse_request made sure every Content-Length line is digits and agrees.
    """
    expects = [value.lower() for name, value in request.headers if name.lower() == "expect"]
    lengths = [int(value) for name, value in request.headers if name.lower() == "content-length"]
    return request.version == "HTTP/1.1" and "100-continue" in expects and any(length > 0 for length in lengths)


def _error_response(status: str, message: str) -> bytes:
    body = f"{status}: {message}\n".encode("latin-1")  # the message holds latin-1 text only
    head = _response_head(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return head + body


def _lingering_close(conn: socket.socket) -> None:
    """Say "no more data" and wait briefly for the client to close first.

    Closing a socket that still has unread request bytes makes the kernel send a reset, and a reset
    can destroy the response the client has not read yet. Half-closing and draining avoids that.
    """
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(0.5)
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def make_server(host: str, port: int, app: WSGIApp) -> WSGIServer:
    """Create a server for ``app`` bound to ``host:port`` (port 0: any free port), not yet serving."""
    return WSGIServer(host, port, app)


# ---------------------------------------------------------------------------------------------
# Run by hand: python -m wsgi_server module:callable --port 8000
# ---------------------------------------------------------------------------------------------


def load_app(spec: str) -> WSGIApp:  # mutants: skip (given in the stub)
    """Import ``"module:callable"`` (like gunicorn's APP_MODULE) from the current folder."""
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, ".")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "application")


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
    parser = argparse.ArgumentParser(prog="python -m wsgi_server", description="Serve a WSGI app.")
    parser.add_argument("app", help="the app to serve, as module:callable (e.g. wsgi_server_flask_app:app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, load_app(args.app))
    host, port = server.server_address
    print(f"Serving on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
