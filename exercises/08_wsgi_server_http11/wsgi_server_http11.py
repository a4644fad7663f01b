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

This file builds on **your exercise 07** (``wsgi_server.py``): the server reads each request head with
your 07 ``parse_request`` and starts each environ from your 07 ``build_environ``. It gets them from
``exercise_07()`` (below), never from an ``import wsgi_server`` at the top of this file: the HTTP/1.1
framing (steps 1 to 3) needs nothing from 07, so it is graded even while your 07 is unfinished.

Spec: RFC 9112 §6 (message body), §7.1 (chunked), §9.3 (persistence), RFC 9110 §10.1.1 (Expect),
PEP 3333 (§Buffering and Streaming, §Other HTTP Features, §Thread Support).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_LINE = 65536
"""Longest line of a chunked body (a chunk-size line or a trailer line) we accept, CRLF included."""
MAX_HEADERS = 100
"""Most trailer lines we accept after the last chunk."""
KEEP_ALIVE_TIMEOUT = 5.0
"""Seconds an idle keep-alive connection may wait for its next request before the server closes it."""
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""


class BadFraming(ValueError):
    """The request's body is not framed as HTTP/1.1 says: a malformed chunk, a connection that closes
    inside a chunked body, Transfer-Encoding together with Content-Length, an unknown coding.

    The client's error, like exercise 07's ``BadRequest`` for a malformed head: the server answers
    ``400 Bad Request`` and closes. It is this file's own class so that the framing code needs no 07.
    """


def header(request: Any, name: str) -> str | None:
    """All values of header ``name`` (any case) in ``request.headers``, joined with ", ", or None.

    ``request`` is exercise 07's ``Request``: ``method``, ``target``, ``version`` and ``headers``, a
    list of ``(name, value)`` pairs. Any object with those attributes works: the unit tests pass one.
    """
    values = [value for field, value in request.headers if field.lower() == name.lower()]
    return ", ".join(values) if values else None


def exercise_07() -> ModuleType:
    """Your exercise 07, ``wsgi_server.py``: ``parse_request``, ``BadRequest``, ``build_environ``.

    Call it where you need 07 (``wsgi_server = exercise_07()``), and look its functions up there: it
    imports 07 when first needed, not when this file is imported, so a 07 that is unfinished or does
    not even import leaves steps 1 to 3 gradable. Run by hand (``python -m wsgi_server_http11``) or by
    ``grader bench 08``, it finds 07 in the folder next to this one, ``07_wsgi_server/``.
    """
    try:
        import wsgi_server  # here, not at the top: see the docstring
    except ModuleNotFoundError as missing:
        if missing.name != "wsgi_server":
            raise
        sys.path.append(str(Path(__file__).resolve().parent.parent / "07_wsgi_server"))
        import wsgi_server
    return wsgi_server


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

    Raise ``BadFraming`` for:

    - a size that is not hex digits (only spaces or tabs may follow them, before a ``;``):
      ``int(text, 16)`` alone would also take ``0x5``, ``+5`` or `` 5``;
    - a line that does not end with CRLF (a bare LF is refused: a proxy in front of you may read it
      differently, which is how requests are smuggled), or is longer than ``MAX_LINE`` bytes
      (``rfile.readline(MAX_LINE)`` stops there), or more than ``MAX_HEADERS`` trailer lines;
    - chunk data not followed by exactly CRLF, or a connection that closes before the end.

    Read a chunk's data in pieces: a size of ``FFFFFFFFFFFFFFF`` must not make ``read()`` try to
    allocate it. The trailer lines are read and dropped.
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


def keep_alive_requested(request: Any) -> bool:
    """Does the client want to keep the connection open after this request? (RFC 9112 §9.3)

    ``request`` is a request head (07's ``Request``; see ``header()``). An HTTP/1.1 connection is
    persistent unless the ``Connection`` header lists the ``close`` option (a comma-separated list,
    any case: ``Connection: Upgrade, Close``). This server closes HTTP/1.0 connections (keeping them
    alive is optional, and their clients understand no chunks).
    """
    raise NotImplementedError("write keep_alive_requested() in wsgi_server_http11.py")


class RequestInput:
    """``wsgi.input`` for HTTP/1.1: a Content-Length or a chunked body, with ``100 Continue``.

    Lazy: nothing is read from ``rfile`` until the app first calls a read method. At that moment,
    if ``send_continue`` was given, call ``send_continue(CONTINUE)`` once (the client is waiting for
    it before it sends the body; RFC 9110 §10.1.1), then read: a chunked body through
    ``read_chunked_body`` (decoding it whole then is fine), a Content-Length body straight from
    ``rfile``, counting, never a byte past ``length`` (like your 07 ``RequestBody``; write it here, so
    this class needs no 07). Offer ``read(size=-1)``, ``readline(size=-1)``, ``readlines(hint=-1)``
    and iteration (PEP 3333 §Input and Error Streams), with a file's sizes: ``read(0)`` is ``b""``,
    a negative or None size means "the rest"; at the end of the body, ``b""``.
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
        client was promised nothing (``100 Continue`` never sent), so its body may or may not come;
        or the rest of the body is malformed (``BadFraming``: the response is out, so just close).
        """
        raise NotImplementedError("write RequestInput.finish() in wsgi_server_http11.py")


def make_input(request: Any, rfile: BinaryIO, send: Callable[[bytes], Any]) -> RequestInput:
    """Choose how the body of ``request`` is framed (RFC 9112 §6.3) and build its ``wsgi.input``.

    - ``Transfer-Encoding: chunked`` → a chunked body; any other transfer coding, or
      Transfer-Encoding *and* Content-Length together (the classic request-smuggling trick,
      RFC 9112 §6.1) → ``BadFraming``;
    - else ``Content-Length: N`` → N bytes; neither → no body. Your 07 ``parse_request`` refused a
      Content-Length that is not digits or that disagrees with a repeat, so its first value is the
      length (``header()`` would join two lines of 5 into ``"5, 5"``);
    - ``Expect: 100-continue`` on an HTTP/1.1 request with a body → ``send_continue=send``.
    """
    raise NotImplementedError("write make_input() in wsgi_server_http11.py")


# ---------------------------------------------------------------------------------------------
# Step 3: call the app, frame the response for HTTP/1.1.
# ---------------------------------------------------------------------------------------------


def call_app(app: WSGIApp, environ: dict[str, Any], send: Callable[[bytes], Any], keep_alive: bool = True) -> bool:
    """Run ``app`` and send its response framed for HTTP/1.1; return True if the connection may be reused.

    Start from your ``call_app`` of exercise 07 (start_response, write(), exc_info, close(), 500, a
    ``Date``): copy it here and all of it still holds (PEP 3333): the head still waits for the first
    non-empty chunk (or the end of an empty body), and an app that never calls ``start_response``
    still gets a 500. What changes is the framing, decided when the head goes out:

    - the status line is ``HTTP/1.1 <status>``;
    - HEAD requests, 1xx, 204 and 304 responses have no body: send none (RFC 9110 §6.4.1);
    - the app gave ``Content-Length``: send its body, but **never more bytes than declared** (drop
      the excess: it would be read as the start of the next response); if it gave fewer, the
      connection cannot be reused;
    - no ``Content-Length`` and an HTTP/1.1 request (``environ["SERVER_PROTOCOL"]``): add
      ``Transfer-Encoding: chunked``, send each non-empty piece as ``encode_chunk(piece)``, and
      ``encode_chunk(b"")`` at the end; for an HTTP/1.0 request: no framing, close the connection;
    - when the connection will not be reused (``keep_alive`` False, or one of the cases above),
      say so with ``Connection: close``;
    - a ``BadFraming`` from the app's read of ``wsgi.input`` (a malformed chunked upload) is the
      client's error: answer ``400 Bad Request`` instead of 500.

    Returns False after an app error or a client that went away, too.
    """
    raise NotImplementedError("write call_app() in wsgi_server_http11.py")


# ---------------------------------------------------------------------------------------------
# Step 4, on your exercise 07: the environ, and a thread per connection, many requests on each.
# ---------------------------------------------------------------------------------------------


def build_environ(request: Any, wsgi_input: RequestInput, server_address: tuple[str, int]) -> dict[str, Any]:
    """The PEP 3333 environ for one HTTP/1.1 request: your exercise 07's, and what HTTP/1.1 changes.

    Start from your 07 ``build_environ(request, rfile, server_address)`` (``exercise_07()``); give it
    an empty ``io.BytesIO()`` as ``rfile``: its ``wsgi.input`` knows no chunks and no 100 Continue,
    and is replaced, so it must not touch the connection. Then change these keys, and keep every
    other one as your 07 made it (``SERVER_SOFTWARE`` may name this server instead; a header with an
    underscore in its name stays dropped, as your 07 dropped it):

    - ``wsgi.input``: ``wsgi_input``;
    - ``wsgi.multithread``: ``True`` (a thread per connection: apps may run side by side);
    - ``wsgi.input_terminated``: ``True``. Not in PEP 3333, but servers (gunicorn) and frameworks
      (Flask's werkzeug) agree on it: "wsgi.input ends by itself at the end of the body". Without it a
      framework reads nothing of a chunked body, which has no ``CONTENT_LENGTH`` to go by.
    """
    raise NotImplementedError("write build_environ() in wsgi_server_http11.py")


class ThreadedWSGIServer:
    """An HTTP/1.1 WSGI server: each connection in its own thread, kept alive between requests.

    Shaped like exercise 07's server (``serve_forever()``, ``shutdown()``, ``server_close()``,
    ``server_address``), with two differences:

    - ``serve_forever()`` hands each accepted connection to a new thread, which answers requests on
      it in a loop: your 07 ``parse_request`` → ``make_input`` → ``build_environ`` → ``call_app`` →
      ``wsgi_input.finish()``, until the client closes, ``call_app`` or ``finish`` says stop, or the
      connection stays idle too long (``conn.settimeout(KEEP_ALIVE_TIMEOUT)``). A ``BadRequest``
      from your 07 parser or a ``BadFraming`` from ``make_input``: answer ``400 Bad Request``, close.
      As in your 07 server, add the client's address to every environ after ``build_environ``:
      ``REMOTE_ADDR`` and ``REMOTE_PORT`` (a str), from the address ``accept()`` returned.
      Look the 07 functions up per request (``wsgi_server.parse_request(rfile)`` with
      ``wsgi_server = exercise_07()`` in this method), not once with ``from wsgi_server import ...``
      at the top of the file.
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wsgi_server_http11", description="Serve a WSGI app over HTTP/1.1.")
    parser.add_argument("app", help="the app to serve, as module:callable (e.g. wsgi_server_http11_apps:app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    app = exercise_07().load_app(args.app)  # 07's load_app, given in its stub: "module:callable" from here
    server = make_server(args.host, args.port, app)
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
