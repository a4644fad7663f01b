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
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_LINE = 65536
"""Longest request line, header line or chunk-size line we accept, in bytes."""
MAX_HEADERS = 100
"""Most header (or trailer) lines we accept in one request."""
KEEP_ALIVE_TIMEOUT = 5.0
"""Seconds an idle keep-alive connection may wait for its next request before the server closes it."""
SERVER_SOFTWARE = "callable-katas-wsgi/0.8"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HTTP_VERSION = re.compile(r"HTTP/1\.[0-9]")


class BadRequest(ValueError):
    """The bytes on the wire are not an HTTP/1.x request: the server answers 400 and closes."""


@dataclass
class Request:
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


def parse_request(rfile: BinaryIO) -> Request | None:
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


def _read_fields(rfile: BinaryIO) -> list[tuple[str, str]]:
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


def _read_line(rfile: BinaryIO) -> str | None:
    """One line without its line end, decoded as latin-1; None at end of file."""
    raw = rfile.readline(MAX_LINE + 1)
    if not raw:
        return None
    if len(raw) > MAX_LINE:
        raise BadRequest("line too long")
    if not raw.endswith(b"\n"):
        raise BadRequest("the connection closed in the middle of a line")
    return raw.rstrip(b"\r\n").decode("latin-1")


class RequestBody:
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


def build_environ(request: Request, wsgi_input: Any, server_address: tuple[str, int]) -> dict[str, Any]:
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
    r"""Decode a ``Transfer-Encoding: chunked`` body from ``rfile`` (RFC 9112 §7.1).

    On the wire (every line ends with CRLF)::

        5\r\n            size of the next chunk, in hex (maybe followed by ';name=value' extensions)
        hello\r\n        exactly that many bytes, then CRLF
        6;ext=1\r\n
         world\r\n
        0\r\n            the last chunk: size 0
        \r\n             then trailer lines (usually none) and an empty line

    gives ``b"hello world"``. Stop right after the final empty line: the next request follows.
    Raise ``BadRequest`` for a size that is not hex, data without its CRLF, or a connection that
    closes before the end. ``_read_line`` and ``_read_fields`` (above) help.
    """
    raise NotImplementedError("write read_chunked_body() in wsgi_server_http11.py")


def encode_chunk(data: bytes) -> bytes:
    r"""One chunk of a chunked response body: ``b"5\r\nhello\r\n"`` for ``b"hello"``.

    The size is in hex (``b"12C\r\n"`` for 300 bytes). ``encode_chunk(b"")`` is the *last* chunk
    that ends the body: ``b"0\r\n\r\n"`` (size zero, no trailers, the final CRLF) — which is why an
    app's empty chunks must never be passed through as chunks.
    """
    raise NotImplementedError("write encode_chunk() in wsgi_server_http11.py")


# ---------------------------------------------------------------------------------------------
# Step 2: keep-alive, and wsgi.input for HTTP/1.1.
# ---------------------------------------------------------------------------------------------


def keep_alive_requested(request: Request) -> bool:
    """Does the client want to keep the connection open after this request? (RFC 9112 §9.3)

    An HTTP/1.1 connection is persistent unless the ``Connection`` header lists the ``close``
    option (a comma-separated list, any case: ``Connection: Upgrade, Close``). This server closes
    HTTP/1.0 connections (keeping them alive is optional, and their clients understand no chunks).
    """
    raise NotImplementedError("write keep_alive_requested() in wsgi_server_http11.py")


class RequestInput:
    """``wsgi.input`` for HTTP/1.1: a Content-Length or a chunked body, with ``100 Continue``.

    Lazy: nothing is read from ``rfile`` until the app first calls a read method. At that moment,
    if ``send_continue`` was given, call ``send_continue(CONTINUE)`` once (the client is waiting for
    it before it sends the body; RFC 9110 §10.1.1), then read: a chunked body through
    ``read_chunked_body`` (decoding it whole then is fine), a Content-Length body through
    ``RequestBody``. Offer ``read(size=-1)``, ``readline(size=-1)``, ``readlines(hint=-1)`` and
    iteration (PEP 3333 §Input and Error Streams).
    """

    def __init__(
        self,
        rfile: BinaryIO,
        *,
        length: int = 0,
        chunked: bool = False,
        send_continue: Callable[[bytes], Any] | None = None,
    ) -> None:
        raise NotImplementedError("write RequestInput in wsgi_server_http11.py")

    def read(self, size: int | None = -1) -> bytes:
        raise NotImplementedError("write RequestInput.read() in wsgi_server_http11.py")

    def readline(self, size: int | None = -1) -> bytes:
        raise NotImplementedError("write RequestInput.readline() in wsgi_server_http11.py")

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        raise NotImplementedError("write RequestInput.readlines() in wsgi_server_http11.py")

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("write RequestInput.__iter__() in wsgi_server_http11.py")

    def finish(self) -> bool:
        """After the response: read what the app left of the body, so the next request on this
        connection starts at the right byte. Return False if the connection cannot be reused: the
        client was promised nothing (``100 Continue`` never sent), so its body may or may not come.
        """
        raise NotImplementedError("write RequestInput.finish() in wsgi_server_http11.py")


def make_input(request: Request, rfile: BinaryIO, send: Callable[[bytes], Any]) -> RequestInput:
    """Choose how the body of ``request`` is framed (RFC 9112 §6.3) and build its ``wsgi.input``.

    - ``Transfer-Encoding: chunked`` → a chunked body (CONTENT_LENGTH stays absent from environ);
      any other transfer coding, or Transfer-Encoding *and* Content-Length together (the classic
      request-smuggling trick, RFC 9112 §6.1) → ``BadRequest``;
    - else ``Content-Length: N`` → N bytes; neither → no body.
    - ``Expect: 100-continue`` on an HTTP/1.1 request with a body → ``send_continue=send``.
    """
    raise NotImplementedError("write make_input() in wsgi_server_http11.py")


# ---------------------------------------------------------------------------------------------
# Step 3: call the app, frame the response for HTTP/1.1.
# ---------------------------------------------------------------------------------------------


def call_app(app: WSGIApp, environ: dict[str, Any], send: Callable[[bytes], Any], keep_alive: bool = True) -> bool:
    """Run ``app`` and send its response framed for HTTP/1.1; return True if the connection may be reused.

    Start from your ``call_app`` of exercise 07 (start_response, write(), exc_info, close(), 500):
    all of it still holds. What changes is the framing, decided when the head goes out:

    - the status line is ``HTTP/1.1 <status>``;
    - HEAD requests, 1xx, 204 and 304 responses have no body: send none (RFC 9110 §6.4.1);
    - the app gave ``Content-Length``: send its body, but **never more bytes than declared** (drop
      the excess: it would be read as the start of the next response); if it gave fewer, the
      connection cannot be reused;
    - no ``Content-Length`` and an HTTP/1.1 request (``environ["SERVER_PROTOCOL"]``): add
      ``Transfer-Encoding: chunked``, send each non-empty piece as ``encode_chunk(piece)``, and
      ``encode_chunk(b"")`` at the end; for an HTTP/1.0 request: no framing, close the connection;
    - when the connection will not be reused (``keep_alive`` False, or one of the cases above),
      say so with ``Connection: close``.

    Returns False after an app error or a client that went away, too.
    """
    raise NotImplementedError("write call_app() in wsgi_server_http11.py")


# ---------------------------------------------------------------------------------------------
# Step 4: a thread per connection, many requests per connection.
# ---------------------------------------------------------------------------------------------


class ThreadedWSGIServer:
    """An HTTP/1.1 WSGI server: each connection in its own thread, kept alive between requests.

    Shaped like exercise 07's server (``serve_forever()``, ``shutdown()``, ``server_close()``,
    ``server_address``), with two differences:

    - ``serve_forever()`` hands each accepted connection to a new thread, which answers requests
      on it in a loop: ``parse_request`` → ``make_input`` → ``build_environ`` → ``call_app`` →
      ``wsgi_input.finish()``, until the client closes, ``call_app`` or ``finish`` says stop, or
      the connection stays idle too long (``conn.settimeout(KEEP_ALIVE_TIMEOUT)``).
    - ``shutdown()`` must not leave threads behind: keep track of the open connections and their
      threads, wake the idle ones when stopping (``conn.shutdown(socket.SHUT_RD)`` makes a blocked
      ``recv`` return ``b""``), and join the threads before ``serve_forever()`` returns.
    """

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        raise NotImplementedError("write ThreadedWSGIServer.__init__() in wsgi_server_http11.py")

    def serve_forever(self) -> None:
        raise NotImplementedError("write ThreadedWSGIServer.serve_forever() in wsgi_server_http11.py")

    def shutdown(self) -> None:
        raise NotImplementedError("write ThreadedWSGIServer.shutdown() in wsgi_server_http11.py")

    def server_close(self) -> None:
        raise NotImplementedError("write ThreadedWSGIServer.server_close() in wsgi_server_http11.py")


def make_server(host: str, port: int, app: WSGIApp) -> ThreadedWSGIServer:
    """Create an HTTP/1.1 server for ``app`` bound to ``host:port`` (port 0: any free port)."""
    raise NotImplementedError("write make_server() in wsgi_server_http11.py")


# ---------------------------------------------------------------------------------------------
# Run by hand: python -m wsgi_server_http11 module:callable --port 8000 (given: it only needs make_server)
# ---------------------------------------------------------------------------------------------


def load_app(spec: str) -> WSGIApp:
    """Import ``"module:callable"`` from the current folder."""
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, ".")
    return getattr(importlib.import_module(module_name), attr or "application")


def main(argv: list[str] | None = None) -> None:
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


if __name__ == "__main__":
    main()
