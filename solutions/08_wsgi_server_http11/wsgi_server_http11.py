"""Exercise 08 — your WSGI server speaks HTTP/1.1.

Exercise 07's server answers one request per connection and closes it: the end of the body is the
end of the connection. HTTP/1.1 keeps the connection open for the next request ("keep-alive"), so
every message needs a length the other side can find *without* the connection closing:

- a request body comes with ``Content-Length``, or with ``Transfer-Encoding: chunked``: pieces, each
  preceded by its size in hex, ended by a zero-size piece (RFC 9112 §7.1);
- a response body comes with the app's ``Content-Length`` (never a byte more), or the server frames
  it in chunks itself;
- a client that sends ``Expect: 100-continue`` waits for ``HTTP/1.1 100 Continue`` before sending a
  large body, and a server says it only when the app actually wants the body (RFC 9110 §10.1.1);
- and since a connection now lives long, each one gets its own thread.

The parsing and environ code from exercise 07 comes with this file (``parse_request``, ``RequestBody``,
``build_environ``). What you write is the HTTP/1.1 part: ``read_chunked_body``, ``encode_chunk``,
``keep_alive_requested``, ``RequestInput``/``make_input``, ``call_app`` and the threaded keep-alive
server.

Spec: RFC 9112 §6 (message body), §7.1 (chunked), §9.3 (persistence), RFC 9110 §10.1.1 (Expect),
PEP 3333 (§Buffering and Streaming, §Other HTTP Features, §Thread Support).
"""

from __future__ import annotations

import argparse
import importlib
import io
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
"""Longest request line, header line or chunk-size line we accept, in bytes."""
MAX_HEADERS = 100  # mutants: skip (given in the stub)
"""Most header (or trailer) lines we accept in one request."""
KEEP_ALIVE_TIMEOUT = 5.0  # mutants: skip (given in the stub)
"""Seconds an idle keep-alive connection may wait for its next request before the server closes it."""
SERVER_SOFTWARE = "callable-katas-wsgi/0.8"  # mutants: skip (given in the stub)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # mutants: skip (given in the stub)
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # mutants: skip (given in the stub)
HTTP_VERSION = re.compile(r"HTTP/1\.[0-9]")  # mutants: skip (given in the stub)


class BadRequest(ValueError):  # mutants: skip (given in the stub)
    """The bytes on the wire are not an HTTP/1.x request: the server answers 400 and closes."""


@dataclass
class Request:  # mutants: skip (given in the stub)
    """The head of one HTTP request, taken apart (the body stays on the connection)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """All values of header ``name`` (any case) joined with ", ", or None when absent."""
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None


# ---------------------------------------------------------------------------------------------
# From exercise 07 (given): the request head, the environ, a Content-Length body.
# ---------------------------------------------------------------------------------------------


def parse_request(rfile: BinaryIO) -> Request | None:  # mutants: skip (given in the stub)
    """Read one request head from ``rfile``; None if the connection closed first (exercise 07)."""
    line = _read_line(rfile)
    if line is None:
        return None
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequest(f"a request line is 'METHOD target HTTP/1.x', got {line!r}")
    method, target, version = parts
    if not TOKEN.fullmatch(method) or not target or not target.isprintable() or not HTTP_VERSION.fullmatch(version):
        raise BadRequest(f"bad request line {line!r}")
    headers = _read_fields(rfile)
    lengths = {value for name, value in headers if name.lower() == "content-length"}
    if len(lengths) > 1 or any(not value.isdigit() for value in lengths):
        raise BadRequest(f"bad Content-Length {sorted(lengths)!r}")
    return Request(method, target, version, headers)


def _read_fields(rfile: BinaryIO) -> list[tuple[str, str]]:  # mutants: skip (given in the stub)
    """Header lines up to the empty line (also used for a chunked body's trailer section)."""
    fields: list[tuple[str, str]] = []
    while True:
        line = _read_line(rfile)
        if line is None:
            raise BadRequest("the connection closed in the middle of the headers")
        if line == "":
            return fields
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.fullmatch(name):
            raise BadRequest(f"a header line is 'Name: value', got {line!r}")
        fields.append((name, value.strip(" \t")))
        if len(fields) > MAX_HEADERS:
            raise BadRequest("too many headers")


def _read_line(rfile: BinaryIO) -> str | None:  # mutants: skip (given in the stub)
    """One line without its line end, decoded as latin-1; None at end of file."""
    raw = rfile.readline(MAX_LINE + 1)
    if not raw:
        return None
    if len(raw) > MAX_LINE:
        raise BadRequest("line too long")
    if not raw.endswith(b"\n"):
        raise BadRequest("the connection closed in the middle of a line")
    return raw.rstrip(b"\r\n").decode("latin-1")


class RequestBody:  # mutants: skip (given in the stub)
    """A body of ``length`` bytes read from ``rfile``, and not a byte more (exercise 07)."""

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        self._rfile = rfile
        self._remaining = length

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._remaining:
            size = self._remaining
        if size == 0:
            return b""
        data = self._rfile.read(size)
        self._remaining -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._remaining:
            size = self._remaining
        if size == 0:
            return b""
        line = self._rfile.readline(size)
        self._remaining -= len(line)
        return line


def build_environ(request: Request, wsgi_input: Any, server_address: tuple[str, int]) -> dict[str, Any]:  # mutants: skip (given in the stub)
    """The PEP 3333 environ for ``request`` (exercise 07), with ``wsgi_input`` as wsgi.input."""
    path, _, query = request.target.partition("?")
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": server_address[0],
        "SERVER_PORT": str(server_address[1]),
        "SERVER_PROTOCOL": request.version,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        **headers,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": wsgi_input,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,  # one thread per connection: apps may run side by side
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


# ---------------------------------------------------------------------------------------------
# Step 1: chunked bodies in, chunked bodies out.
# ---------------------------------------------------------------------------------------------


def read_chunked_body(rfile: BinaryIO) -> bytes:
    """Decode a ``Transfer-Encoding: chunked`` body from ``rfile`` (RFC 9112 §7.1)."""
    pieces = []
    while True:
        line = _read_line(rfile)
        if line is None:
            raise BadRequest("the connection closed in the middle of a chunked body")
        size_text = line.split(";", 1)[0].strip(" \t")  # ';name=value' chunk extensions are ignored
        if not size_text or any(c not in "0123456789abcdefABCDEF" for c in size_text):
            raise BadRequest(f"a chunk starts with its size in hex, got {line!r}")
        size = int(size_text, 16)
        if size == 0:
            _read_fields(rfile)  # the trailer section (usually empty) and the final CRLF
            return b"".join(pieces)
        # In pieces: a size of FFFFFFFFFFFFFFF must not make read() allocate that much up front.
        left = size
        while left:
            data = rfile.read(min(left, 65536))
            if not data:
                raise BadRequest("the connection closed in the middle of a chunk")
            pieces.append(data)
            left -= len(data)
        if rfile.read(2) != b"\r\n":
            raise BadRequest("a chunk's data must be exactly its size, then CRLF")


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body: size in hex, CRLF, data, CRLF. ``b""`` gives the last chunk."""
    if not data:
        return b"0\r\n\r\n"  # last-chunk, no trailers, and the CRLF that ends the body
    return b"%X\r\n%s\r\n" % (len(data), data)


# ---------------------------------------------------------------------------------------------
# Step 2: keep-alive, and wsgi.input for HTTP/1.1.
# ---------------------------------------------------------------------------------------------


def keep_alive_requested(request: Request) -> bool:
    """Does the client want to keep the connection after this request? (RFC 9112 §9.3)"""
    options = {token.strip().lower() for token in (request.header("Connection") or "").split(",")}
    if request.version == "HTTP/1.1":
        return "close" not in options  # persistent unless the client says close
    return False  # HTTP/1.0: this server always closes (keeping 1.0 connections is optional)


class RequestInput:
    """``wsgi.input`` for HTTP/1.1: a Content-Length or a chunked body, with ``100 Continue``.

    Nothing is read, and ``100 Continue`` is not sent, until the app first reads: an app that answers
    without the body (403, 413…) spares the client from sending it at all.
    """

    def __init__(
        self,
        rfile: BinaryIO,
        *,
        length: int = 0,
        chunked: bool = False,
        send_continue: Callable[[bytes], Any] | None = None,
    ) -> None:
        self._rfile = rfile
        self._length = length
        self._chunked = chunked
        self._send_continue = send_continue
        self._body: io.BytesIO | RequestBody | None = None

    def _started(self) -> io.BytesIO | RequestBody:
        if self._body is None:
            if self._send_continue is not None:
                self._send_continue(CONTINUE)  # the client waits for this before sending the body
                self._send_continue = None
            if self._chunked:
                # Decoded whole on first read: simple, and PEP 3333 does not ask for more.
                self._body = io.BytesIO(read_chunked_body(self._rfile))
            else:
                self._body = RequestBody(self._rfile, self._length)
        return self._body

    def read(self, size: int | None = -1) -> bytes:
        return self._started().read(size)  # RequestBody and BytesIO both take -1 or None for "all"

    def readline(self, size: int | None = -1) -> bytes:
        return self._started().readline(size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(self)  # PEP 3333 lets the server ignore the hint

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def finish(self) -> bool:
        """Read what the app left of the body, so the next request starts at the right byte.

        Returns False when the connection cannot carry another request: the client was told to wait
        for ``100 Continue`` and never got it, so nobody knows whether the body is coming.
        """
        if self._body is None and self._send_continue is not None:
            return False
        body = self._started()
        while body.read(65536):
            pass
        return True


def make_input(request: Request, rfile: BinaryIO, send: Callable[[bytes], Any]) -> RequestInput:
    """Choose the body framing for ``request`` (RFC 9112 §6.3) and build its ``wsgi.input``."""
    transfer_encoding = request.header("Transfer-Encoding")
    content_length = request.header("Content-Length")
    if transfer_encoding is not None:
        if content_length is not None:
            # Both framings at once is how request smuggling works: refuse (RFC 9112 §6.1).
            raise BadRequest("Content-Length and Transfer-Encoding together")
        if transfer_encoding.strip().lower() != "chunked":
            raise BadRequest(f"unsupported Transfer-Encoding {transfer_encoding!r}")
    chunked = transfer_encoding is not None
    length = int(content_length or 0)
    expect = (request.header("Expect") or "").lower() == "100-continue"
    has_body = chunked or length > 0
    send_continue = send if expect and has_body and request.version == "HTTP/1.1" else None
    return RequestInput(rfile, length=length, chunked=chunked, send_continue=send_continue)


# ---------------------------------------------------------------------------------------------
# Step 3: call the app, frame the response for HTTP/1.1.
# ---------------------------------------------------------------------------------------------


class ClientDisconnected(Exception):
    """Sending failed: the client has gone away."""


def call_app(app: WSGIApp, environ: dict[str, Any], send: Callable[[bytes], Any], keep_alive: bool = True) -> bool:
    """Run ``app`` and send its response framed for HTTP/1.1; True if the connection may be reused."""
    response: tuple[str, list[tuple[str, str]]] | None = None
    headers_sent = False
    framing = ""  # "length", "chunked", "close" (body until the connection closes) or "none"
    remaining = 0  # body bytes still allowed under the app's Content-Length
    reusable = keep_alive

    def send_or_disconnect(data: bytes) -> None:
        try:
            send(data)
        except OSError as exc:
            raise ClientDisconnected(str(exc)) from exc

    def send_head() -> bytes:
        nonlocal headers_sent, framing, remaining, reusable
        status, headers = response
        code = int(status[:3])
        names = {name.lower() for name, _ in headers}
        extra: list[tuple[str, str]] = []
        if environ["REQUEST_METHOD"] == "HEAD" or code in (204, 304) or 100 <= code < 200:
            framing = "none"  # these responses never have a body (RFC 9110 §6.4.1)
        elif "content-length" in names:
            framing = "length"
            remaining = int(next(v for n, v in headers if n.lower() == "content-length"))
        elif environ["SERVER_PROTOCOL"] == "HTTP/1.1":
            framing = "chunked"
            extra.append(("Transfer-Encoding", "chunked"))
        else:
            framing = "close"  # an HTTP/1.0 client understands no chunks: the close ends the body
            reusable = False
        if "date" not in names:
            extra.append(("Date", formatdate(usegmt=True)))  # RFC 9110 §6.6.1
        if not reusable:
            extra.append(("Connection", "close"))
        headers_sent = True
        lines = [f"HTTP/1.1 {status}\r\n", *(f"{n}: {v}\r\n" for n, v in [*headers, *extra]), "\r\n"]
        return "".join(lines).encode("latin-1")

    def frame(data: bytes) -> bytes:
        nonlocal remaining
        if not data or framing == "none":
            return b""
        if framing == "length":
            if len(data) > remaining:
                # Never more than declared: the extra bytes would be read as the next response.
                print(f"app sent more than its Content-Length; {len(data) - remaining} bytes dropped",
                      file=environ["wsgi.errors"])
            data = data[:remaining]
            remaining -= len(data)
            return data
        if framing == "chunked":
            return encode_chunk(data)
        return data

    def write(data: bytes) -> None:
        if response is None:
            raise AssertionError("write() or a body chunk came before start_response()")
        head = b"" if headers_sent else send_head()
        out = head + frame(data)
        if out:
            send_or_disconnect(out)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        nonlocal response
        if exc_info is not None:
            try:
                if headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif response is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        response = (status, list(headers))
        return write

    result: Iterable[bytes] | None = None
    try:
        try:
            result = app(environ, start_response)
            for chunk in result:
                if chunk:  # b"" would be the last chunk in chunked framing: skip it
                    write(chunk)
            if not headers_sent:
                write(b"")
            if framing == "chunked":
                send_or_disconnect(encode_chunk(b""))
            if framing == "length" and remaining > 0:
                reusable = False  # a short body: only closing tells the client no more is coming
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except ClientDisconnected:
        return False
    except Exception as exc:
        traceback.print_exc(file=environ["wsgi.errors"])
        if not headers_sent:
            if isinstance(exc, BadRequest):  # the app's read met a malformed body: the client's error
                error = _error_response("400 Bad Request", str(exc))
            else:
                error = _error_response("500 Internal Server Error", "the application failed")
            try:
                send(error)
            except OSError:
                pass
        return False  # after an error mid-body the response is cut short: closing says so
    return reusable


# ---------------------------------------------------------------------------------------------
# Step 4: a thread per connection, many requests per connection.
# ---------------------------------------------------------------------------------------------


class ThreadedWSGIServer:
    """An HTTP/1.1 WSGI server: each connection in its own thread, kept alive between requests."""

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        self.app = app
        self.socket = socket.create_server((host, port))
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                while not self._stop_requested.is_set():
                    if selector.select(poll_interval):
                        conn, client_address = self.socket.accept()
                        thread = threading.Thread(
                            target=self._run_connection, args=(conn, client_address), daemon=True
                        )
                        with self._lock:
                            self._connections.add(conn)
                            self._threads.add(thread)
                        thread.start()
            self._close_connections()
        finally:
            self._stopped.set()

    def _close_connections(self) -> None:
        """Wake every connection thread (a blocked recv returns b"") and wait for them to finish."""
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        for thread in threads:
            thread.join(KEEP_ALIVE_TIMEOUT)

    def shutdown(self) -> None:
        self._stop_requested.set()
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()

    def _run_connection(self, conn: socket.socket, client_address: Any) -> None:
        try:
            self.handle_connection(conn, client_address)
        finally:
            with self._lock:
                self._connections.discard(conn)
                self._threads.discard(threading.current_thread())

    def handle_connection(self, conn: socket.socket, client_address: Any) -> None:
        """Answer requests on ``conn`` one after the other until one side wants to stop."""
        with conn:
            conn.settimeout(KEEP_ALIVE_TIMEOUT)
            rfile = conn.makefile("rb")
            try:
                while not self._stop_requested.is_set():
                    try:
                        request = parse_request(rfile)
                        if request is None:
                            break  # the client closed (or the server is stopping)
                        wsgi_input = make_input(request, rfile, conn.sendall)
                    except BadRequest as exc:
                        conn.sendall(_error_response("400 Bad Request", str(exc)))
                        break
                    environ = build_environ(request, wsgi_input, self.server_address)
                    reusable = call_app(self.app, environ, conn.sendall, keep_alive_requested(request))
                    try:
                        if not (reusable and wsgi_input.finish()):
                            break
                    except BadRequest:
                        break
                _lingering_close(conn)
            except OSError:
                pass  # timeout, reset, or the server stopping: drop the connection
            finally:
                rfile.close()


def _error_response(status: str, message: str) -> bytes:
    body = f"{status}: {message}\n".encode("latin-1", "replace")
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _lingering_close(conn: socket.socket) -> None:
    """Half-close, then drain briefly, so unread request bytes cannot turn the close into a reset."""
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(0.5)
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def make_server(host: str, port: int, app: WSGIApp) -> ThreadedWSGIServer:
    """Create an HTTP/1.1 server for ``app`` bound to ``host:port`` (port 0: any free port)."""
    return ThreadedWSGIServer(host, port, app)


# ---------------------------------------------------------------------------------------------
# Run by hand: python -m wsgi_server_http11 module:callable --port 8000
# ---------------------------------------------------------------------------------------------


def load_app(spec: str) -> WSGIApp:  # mutants: skip (given in the stub)
    """Import ``"module:callable"`` from the current folder."""
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, ".")
    return getattr(importlib.import_module(module_name), attr or "application")


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
    parser = argparse.ArgumentParser(prog="python -m wsgi_server_http11", description="Serve a WSGI app over HTTP/1.1.")
    parser.add_argument("app", help="the app to serve, as module:callable (e.g. wsgi_server_http11_apps:app)")
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
