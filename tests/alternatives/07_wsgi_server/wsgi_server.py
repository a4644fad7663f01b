"""Exercise 07 — a WSGI server (an alternative solution).

The same four steps as any WSGI server — parse, build ``environ``, call the app, send — but built
differently from the obvious version:

- the request head is checked with two regular expressions (request line, field line) that spell out
  the RFC 9112 grammar, instead of splitting strings;
- ``wsgi.input`` is an ``io.RawIOBase`` with a bounded ``readinto()``: the ``io`` machinery supplies
  ``read()``, ``readlines()`` and iteration on top of it;
- one response is a small object (``_Response``) whose methods are ``start_response`` and ``write``;
- the server waits in a ``selectors`` loop on the listening socket *and* a wake-up socket pair, so
  ``shutdown()`` takes effect at once instead of after a polling interval.

Spec: PEP 3333; RFC 9110 §5, §15; RFC 9112 §2–§6, §9.6.
"""

from __future__ import annotations

import argparse
import email.utils
import importlib
import io
import re
import selectors
import socket
import string
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_LINE = 65536
"""Longest request line or header line we accept, in bytes (a client could otherwise send forever)."""
MAX_HEADERS = 100
"""Most header lines we accept in one request."""
CONNECTION_TIMEOUT = 10.0
"""Seconds a client may stay silent before the server gives up on its connection."""
LINGER_TIMEOUT = 1.0
"""Seconds we keep reading (and discarding) after our response, so unread request bytes do not
make the kernel reset the connection before the client has read the answer."""
SERVER_SOFTWARE = "callable-katas-wsgi/0.7"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""

TOKEN_CHARACTERS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""RFC 9110 §5.6.2: a method or a header name is a "token", one or more of these characters."""

_TOKEN = b"[" + re.escape(TOKEN_CHARACTERS.encode("ascii")) + b"]+"

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version. The target is visible
# ASCII only (RFC 3986 has no raw spaces, controls or bytes above 0x7E in a URI).
_REQUEST_LINE = re.compile(rb"(?P<method>" + _TOKEN + rb") (?P<target>[\x21-\x7e]+) (?P<version>HTTP/1\.[01])")

# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS. The value may hold visible
# characters, spaces, tabs and obs-text (0x80-0xFF), but no other control character (a bare CR
# included). A line that starts with a space (obsolete line folding) fails the name and is refused.
_FIELD_LINE = re.compile(rb"(?P<name>" + _TOKEN + rb"):[ \t]*(?P<value>[^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")

_DIGITS = re.compile(r"[0-9]+")

# PEP 3333 §The start_response() Callable: "999 Message here" (RFC 9112 §4 reason-phrase).
_STATUS = re.compile(r"[1-9][0-9]{2} [\t\x20-\x7e\x80-\xff]*")
_FIELD_NAME = re.compile(_TOKEN.decode("ascii"))
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

# PEP 3333 §Other HTTP Features: these belong to the connection, which is the server's business.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
     "transfer-encoding", "upgrade"}
)


class BadRequest(ValueError):
    """The bytes on the wire are not an HTTP/1.x request we will serve: the server answers and closes.

    ``status`` is the answer: ``400 Bad Request`` by default, or a more precise 4xx/5xx.
    """

    def __init__(self, reason: str, status: str = "400 Bad Request") -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Request:
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


def _read_line(rfile: BinaryIO, what: str) -> bytes | None:
    """One line without its ending (CRLF, or a bare LF: RFC 9112 §2.2 lets us accept it); ``None`` at EOF."""
    line = rfile.readline(MAX_LINE + 1)
    if not line:
        return None
    if not line.endswith(b"\n"):
        if len(line) > MAX_LINE:
            too_long = "414 URI Too Long" if what == "request line" else "431 Request Header Fields Too Large"
            raise BadRequest(f"the {what} is longer than {MAX_LINE} bytes", status=too_long)
        raise BadRequest(f"the connection closed in the middle of the {what}")
    return line[:-2] if line.endswith(b"\r\n") else line[:-1]


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    """The body length the headers announce, ``None`` without Content-Length (RFC 9112 §6.3)."""
    values = {value for name, value in headers if name.lower() == "content-length"}
    if not values:
        return None
    # Repeats are tolerated only when they agree: two different lengths is how requests get smuggled.
    if len(values) > 1 or not _DIGITS.fullmatch(next(iter(values))):
        raise BadRequest(f"Content-Length must be one non-negative number, got {sorted(values)!r}")
    return int(next(iter(values)))


def parse_request(rfile: BinaryIO) -> Request | None:
    r"""Read one request head (request line, header lines, empty line) from ``rfile``.

    Returns ``None`` when the client closed the connection before sending a request; raises
    ``BadRequest`` when the head is malformed or cut short. The body is left unread in ``rfile``.
    """
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    for _ in range(4):
        line = _read_line(rfile, "request line")
        if line is None:
            return None
        if line:
            break
    else:
        raise BadRequest("only empty lines where the request line should be")

    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise BadRequest(f"not an HTTP/1.x request line: {line[:100]!r}")
    method, target, version = (part.decode("latin-1") for part in match.group("method", "target", "version"))

    headers: list[tuple[str, str]] = []
    while True:
        line = _read_line(rfile, "header section")
        if line is None:
            raise BadRequest("the connection closed before the end of the header section")
        if not line:
            break
        if len(headers) == MAX_HEADERS:
            raise BadRequest(f"more than {MAX_HEADERS} header lines", status="431 Request Header Fields Too Large")
        field_match = _FIELD_LINE.fullmatch(line)
        if field_match is None:
            raise BadRequest(f"not a 'Name: value' header line: {line[:100]!r}")
        name, value = field_match.group("name", "value")
        headers.append((name.decode("latin-1"), value.decode("latin-1")))

    _content_length(headers)  # refuse a bad Content-Length now, while we can still answer 400
    _check_host(headers, version)
    return Request(method, target, version, headers)


# RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ), an IPv4 address included;
# IP-literal = "[" IPv6address "]" (hex digits, colons, and dots for an embedded IPv4 tail).
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~" + "!$&'()*+,;=" + "%")
_IPV6_CHARACTERS = frozenset(string.hexdigits + ":.")
_PORT_CHARACTERS = frozenset(string.digits)  # ASCII only: "²".isdigit() is true


def _check_host(headers: list[tuple[str, str]], version: str) -> None:
    """RFC 9112 §3.2: a 400 for an HTTP/1.1 request without Host, for any request with more than one
    Host line, and for a Host that is not ``uri-host [":" port]`` (RFC 9110 §7.2). Empty is fine."""
    values = [value for name, value in headers if name.lower() == "host"]
    if not values:
        if version == "HTTP/1.1":
            raise BadRequest("an HTTP/1.1 request needs a Host header")
        return  # HTTP/1.0 predates Host
    if len(values) != 1:
        raise BadRequest(f"{len(values)} Host headers: which site is this request for?")
    authority = values[0]
    if authority.startswith("["):
        literal, bracket, after = authority[1:].partition("]")
        host_ok = bool(bracket and literal) and set(literal) <= _IPV6_CHARACTERS
    else:
        name_end = authority.find(":")
        name, after = (authority, "") if name_end < 0 else (authority[:name_end], authority[name_end:])
        host_ok = set(name) <= _NAME_CHARACTERS
    port_ok = after == "" or (after[0] == ":" and set(after[1:]) <= _PORT_CHARACTERS)
    if not (host_ok and port_ok):
        raise BadRequest(f"the Host {authority!r} is not host[:port]")


# ---------------------------------------------------------------------------------------------
# Step 2: the environ, and wsgi.input.
# ---------------------------------------------------------------------------------------------


class RequestBody(io.RawIOBase):
    """``wsgi.input``: the request body, read straight from the connection, and not a byte more.

    Only ``readinto()`` (bounded by the bytes left) and a fast ``readline()`` are written here;
    ``io.RawIOBase`` builds ``read(size)``, ``read()``, ``readlines(hint)`` and iteration on them,
    with the usual file semantics (``b""`` at the end of the body: PEP 3333's simulated end-of-file).
    """

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        super().__init__()
        self._rfile = rfile
        self._remaining = max(0, length)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._remaining)
        if wanted == 0:
            return 0
        got = self._rfile.readinto(view[:wanted]) or 0
        # A client that hangs up mid-body: from then on, end-of-file, not an endless wait.
        self._remaining = self._remaining - got if got else 0
        return got

    def readline(self, size: int | None = -1) -> bytes:
        # Overridden because RawIOBase's readline() reads one byte per call.
        limit = self._remaining if size is None or size < 0 else min(size, self._remaining)
        if limit == 0:
            return b""
        line = self._rfile.readline(limit)
        self._remaining = self._remaining - len(line) if line else 0
        return line


def _split_target(target: str) -> tuple[str | None, str, str]:
    """``(host or None, path, query)`` of a request target, nothing decoded yet (RFC 9112 §3.2)."""
    if not target.startswith("/") and "://" in target:
        # absolute-form, as sent to proxies; a server MUST accept it and use its host (§3.2.2).
        parts = urllib.parse.urlsplit(target)
        return parts.netloc, parts.path or "/", parts.query
    # origin-form (or "*"): never urlsplit it, which would read "//x/y" as the host "x".
    path, _, query = target.partition("?")
    return None, path, query


# RFC 9110 §5.3 joins repeated fields with a comma; cookies are the exception (RFC 6265 §5.4).
_JOINERS = {"HTTP_COOKIE": "; "}


def build_environ(request: Request, rfile: BinaryIO, server_address: tuple[str, int]) -> dict[str, Any]:
    """Build the PEP 3333 ``environ`` for ``request``; ``wsgi.input`` reads its body from ``rfile``."""
    host, path, query = _split_target(request.target)
    length = _content_length(request.headers)

    fields: dict[str, str] = {}
    for name, value in request.headers:
        if "_" in name:
            # "X_User" and "X-User" would both become HTTP_X_USER: drop the one a proxy may not have
            # filtered, so no client can forge a header the app trusts.
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        fields[key] = fields[key] + _JOINERS.get(key, ", ") + value if key in fields else value
    if length is not None:
        fields["CONTENT_LENGTH"] = str(length)  # agreeing repeats collapse to one number
    if host is not None:
        fields["HTTP_HOST"] = host

    return {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        # PEP 3333 §Unicode Issues: decode %XX to bytes, then carry each byte as one character.
        "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": server_address[0],
        "SERVER_PORT": str(server_address[1]),
        "SERVER_PROTOCOL": request.version,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        **fields,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": RequestBody(rfile, length or 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,  # one connection at a time, in the serving thread
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


# ---------------------------------------------------------------------------------------------
# Step 3: call the application and send what it answers.
# ---------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    """``send`` failed: the client left. Carries the ``OSError`` out past the app's error handling."""


def _checked(status: Any, headers: Any) -> tuple[str, list[tuple[str, str]]]:
    """Refuse what PEP 3333 forbids in ``start_response`` arguments, before anything is sent."""
    if type(status) is not str or not _STATUS.fullmatch(status):
        raise ValueError(f"status must be a str like '200 OK', got {status!r}")
    if type(headers) is not list:
        raise TypeError(f"headers must be a list of (name, value) tuples, got {type(headers).__name__}")
    for pair in headers:
        if type(pair) is not tuple or len(pair) != 2 or not all(type(part) is str for part in pair):
            raise TypeError(f"each header must be a (str, str) tuple, got {pair!r}")
        name, value = pair
        # A CR or LF in a header would let the app (or whoever feeds it) inject headers.
        if not _FIELD_NAME.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            raise ValueError(f"header {pair!r} is not a valid HTTP field")
        if name.lower() in _HOP_BY_HOP:
            raise ValueError(f"hop-by-hop header {name!r} is the server's business (PEP 3333)")
    return status, list(headers)


class _Response:
    """One response in progress: ``start_response`` and ``write`` are its bound methods."""

    def __init__(self, environ: dict[str, Any], send: Callable[[bytes], Any]) -> None:
        self._send = send
        self._with_body = environ.get("REQUEST_METHOD") != "HEAD"  # RFC 9110 §9.3.2: no content
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.head_sent = False
        self._budget: int | None = None  # body bytes the app's Content-Length still allows

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])  # the status line is gone
            finally:
                exc_info = None  # no frame <-> traceback cycle (PEP 3333)
        elif self.status is not None:
            raise RuntimeError("start_response() called twice without exc_info")
        self.status, self.headers = _checked(status, headers)
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333 §The write() Callable: send ``data`` now (the head first if needed)."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"the body must be bytes, got {type(data).__name__}")
        if self.status is None:
            raise RuntimeError("write() or body bytes before start_response()")
        if not data:
            return  # an empty chunk never releases the head (PEP 3333 §Buffering and Streaming)
        self._send_head()
        if self._budget is not None:
            data = data[: self._budget]  # never more than the app's own Content-Length (PEP 3333)
            self._budget -= len(data)
        if self._with_body and data:
            self._transmit(bytes(data))

    @property
    def complete(self) -> bool:
        """The app's Content-Length has been sent in full: stop iterating."""
        return self._budget == 0

    def finish(self) -> None:
        """The body is over: the head still has to go out if the body was empty."""
        if self.status is None:
            raise RuntimeError("the application returned without calling start_response()")
        self._send_head()

    def fail(self) -> None:
        """Replace a response whose head has not gone out by a plain 500."""
        body = b"Internal Server Error: the application failed; see the server's error log.\n"
        self.status = "500 Internal Server Error"
        self.headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        self._budget = None
        self.write(body)

    def _send_head(self) -> None:
        if self.head_sent:
            return
        names = {name.lower() for name, _ in self.headers}
        # The server's own fields first, in lower case: field names are case-insensitive (RFC 9110 §5.1).
        lines = [f"HTTP/1.0 {self.status}"]
        if "date" not in names:
            lines.append(f"date: {email.utils.formatdate(usegmt=True)}")
        if "server" not in names:
            lines.append(f"server: {SERVER_SOFTWARE}")
        lines.append("connection: close")
        lines += [f"{name}: {value}" for name, value in self.headers]
        for name, value in self.headers:
            if name.lower() == "content-length" and _DIGITS.fullmatch(value):
                self._budget = int(value)
        self.head_sent = True
        self._transmit(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _transmit(self, data: bytes) -> None:
        try:
            self._send(data)
        except OSError as exc:
            raise _ClientGone() from exc


def call_app(app: WSGIApp, environ: dict[str, Any], send: Callable[[bytes], Any]) -> None:
    """Run ``app`` for one request and send the response through ``send`` (e.g. ``sock.sendall``).

    An app error becomes a 500 while the head is unsent, and is logged to ``wsgi.errors``; the
    iterable's ``close()`` runs whatever happens. If ``send`` fails (the client left), the
    ``OSError`` is re-raised for the server, after ``close()``.
    """
    response = _Response(environ, send)
    try:
        try:
            result = app(environ, response.start_response)
            try:
                for chunk in result:
                    response.write(chunk)
                    if response.complete:
                        break
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            response.finish()
        except _ClientGone:
            raise
        except Exception:
            errors = environ["wsgi.errors"]
            errors.write(traceback.format_exc())
            errors.flush()
            if not response.head_sent:
                response.fail()
            # else: the head is gone, so the client only sees the body stop; the server closes.
    except _ClientGone as gone:
        raise gone.__cause__ from None


# ---------------------------------------------------------------------------------------------
# Step 4: the server — wait in a selector, answer one connection, close, again.
# ---------------------------------------------------------------------------------------------


def _error_response(status: str, message: str) -> bytes:
    body = f"{status}: {message}\n".encode("latin-1", "replace")
    head = (
        f"HTTP/1.0 {status}\r\ndate: {email.utils.formatdate(usegmt=True)}\r\nserver: {SERVER_SOFTWARE}\r\n"
        f"connection: close\r\ncontent-type: text/plain; charset=latin-1\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class WSGIServer:
    """A one-connection-at-a-time WSGI server, shaped like ``wsgiref.simple_server.WSGIServer``.

    ``serve_forever()`` sleeps in a selector on two sockets: the listening one, and one end of a
    socket pair that ``shutdown()`` writes a byte to, so stopping needs no polling interval.
    """

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        self.app = app
        self.socket = socket.create_server((host, port))
        self.socket.setblocking(False)  # accept() after select(): a vanished client must not block us
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.socket, selectors.EVENT_READ, self._accept)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, self._drain_wakeups)
        self._stop_requested = False
        self._stopped = threading.Event()
        self._stopped.set()  # not serving yet: a shutdown() now returns at once

    def serve_forever(self) -> None:
        """Accept and answer connections, one after the other, until ``shutdown()`` is called."""
        self._stopped.clear()
        try:
            while not self._stop_requested:
                for key, _ in self._selector.select():
                    key.data()
        finally:
            self._stop_requested = False  # the server may be started again
            self._stopped.set()

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to stop, and wait until it has (called from another thread)."""
        self._stop_requested = True
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # the pair is closed or full: the flag alone is enough then
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket (and the wake-up pair)."""
        self._selector.close()
        for sock in (self.socket, self._wake_reader, self._wake_writer):
            sock.close()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_reader.recv(64):
                pass
        except BlockingIOError:
            pass

    def _accept(self) -> None:
        try:
            conn, peer = self.socket.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return  # the client gave up between select() and accept()
        try:
            self._handle(conn, peer)
        except OSError:
            pass  # the client vanished or timed out: its problem, not the server's
        except Exception:
            traceback.print_exc(file=sys.stderr)  # a bug here must not stop the server either
        finally:
            conn.close()

    def _handle(self, conn: socket.socket, peer: Any) -> None:
        conn.settimeout(CONNECTION_TIMEOUT)
        with conn.makefile("rb") as rfile:
            try:
                request = parse_request(rfile)
            except BadRequest as exc:
                conn.sendall(_error_response(exc.status, str(exc)))
                self._linger(conn)
                return
            if request is None:
                return  # connected and left without a word
            if any(name.lower() == "transfer-encoding" for name, _ in request.headers):
                # RFC 9112 §6.1: this HTTP/1.0-style server decodes no transfer coding (chunked is 08's).
                conn.sendall(_error_response("501 Not Implemented", "Transfer-Encoding is not supported by this server"))
                self._linger(conn)
                return
            environ = build_environ(request, rfile, self.server_address)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = peer[0], str(peer[1])
            if _awaits_continue(environ):
                # RFC 9110 §10.1.1: the client holds its body back; our wsgi.input is not lazy, so say
                # "go on" before the app runs.
                conn.sendall(CONTINUE)
            call_app(self.app, environ, conn.sendall)
        self._linger(conn)

    @staticmethod
    def _linger(conn: socket.socket) -> None:
        """Half-close, then discard what the client still sends until it closes too.

        Closing a socket with unread bytes in it makes the kernel send a reset, which can destroy
        the response before the client reads it (RFC 9112 §9.6, "tear-down").
        """
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            if not conn.recv(65536):
                return


def _awaits_continue(environ: dict[str, Any]) -> bool:
    """An HTTP/1.1 request with a body whose Expect field lists 100-continue (case-insensitive)."""
    if environ["SERVER_PROTOCOL"] != "HTTP/1.1":
        return False  # an HTTP/1.0 client understands no 1xx: its expectation is ignored
    expectations = {item.strip().lower() for item in environ.get("HTTP_EXPECT", "").split(",")}
    return "100-continue" in expectations and int(environ.get("CONTENT_LENGTH", "0")) > 0


def make_server(host: str, port: int, app: WSGIApp) -> WSGIServer:
    """Create a server for ``app`` bound to ``host:port`` (port 0: any free port), not yet serving."""
    return WSGIServer(host, port, app)


# ---------------------------------------------------------------------------------------------
# Run by hand: python -m wsgi_server module:callable --port 8000 (given: it only needs make_server)
# ---------------------------------------------------------------------------------------------


def load_app(spec: str) -> WSGIApp:
    """Import ``"module:callable"`` (like gunicorn's APP_MODULE) from the current folder."""
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, ".")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "application")


def main(argv: list[str] | None = None) -> None:
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


if __name__ == "__main__":
    main()
