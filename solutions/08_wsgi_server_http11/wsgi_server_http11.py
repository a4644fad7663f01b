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

This file builds on exercise 07 (``wsgi_server.py``): each request head is read by 07's
``parse_request`` and each environ starts as 07's ``build_environ`` made it. The framing (steps 1 to
3) needs nothing from 07, so ``exercise_07()`` imports it only where the server needs it.

Spec: RFC 9112 §6 (message body), §7.1 (chunked), §9.3 (persistence), RFC 9110 §10.1.1 (Expect),
PEP 3333 (§Buffering and Streaming, §Other HTTP Features, §Thread Support).
"""

from __future__ import annotations

import argparse
import io
import re
import selectors
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from email.utils import formatdate
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]  # mutants: skip (given in the stub)

MAX_LINE = 65536  # mutants: skip (given in the stub)
"""Longest line of a chunked body (a chunk-size line or a trailer line) we accept, CRLF included."""
MAX_HEADERS = 100  # mutants: skip (given in the stub)
"""Most trailer lines we accept after the last chunk."""
KEEP_ALIVE_TIMEOUT = 5.0  # mutants: skip (given in the stub)
"""Seconds an idle keep-alive connection may wait for its next request before the server closes it."""
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # mutants: skip (given in the stub)
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""

READ_SIZE = 65536
"""Bytes read at a time from a chunk's data or a body being drained: never a client's size at once."""
HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]+")


class BadFraming(ValueError):  # mutants: skip (given in the stub)
    """The request's body is not framed as HTTP/1.1 says: a malformed chunk, a connection that closes
    inside a chunked body, Transfer-Encoding together with Content-Length, an unknown coding.

    The client's error, like exercise 07's ``BadRequest`` for a malformed head: the server answers
    ``400 Bad Request`` and closes. It is this file's own class so that the framing code needs no 07.
    """


def header(request: Any, name: str) -> str | None:  # mutants: skip (given in the stub)
    """All values of header ``name`` (any case) in ``request.headers``, joined with ", ", or None.

    ``request`` is exercise 07's ``Request``: ``method``, ``target``, ``version`` and ``headers``, a
    list of ``(name, value)`` pairs. Any object with those attributes works: the unit tests pass one.
    """
    values = [value for field, value in request.headers if field.lower() == name.lower()]
    return ", ".join(values) if values else None


def exercise_07() -> ModuleType:  # mutants: skip (given in the stub)
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
    """Decode a ``Transfer-Encoding: chunked`` body from ``rfile`` (RFC 9112 §7.1).

    Reads up to and including the empty line after the trailers, and not a byte further: what
    follows on the connection is the next request.
    """
    pieces: list[bytes] = []
    while size := _chunk_size(_crlf_line(rfile)):
        pieces.append(_chunk_data(rfile, size))
    _skip_trailers(rfile)
    return b"".join(pieces)


def _crlf_line(rfile: BinaryIO) -> bytes:
    """One line of the chunked framing, without its CRLF.

    A missing line end means one of three things, all the client's fault: the connection closed
    (``b""``), it closed in the middle of the line, or the line is longer than ``MAX_LINE``.
    """
    raw = rfile.readline(MAX_LINE)
    if not raw.endswith(b"\r\n"):
        # A bare LF is refused too: a proxy that reads it differently is how bodies get smuggled.
        raise BadFraming(f"expected a line ending in CRLF (of at most {MAX_LINE} bytes), got {raw[-40:]!r}")
    return raw[:-2]


def _chunk_size(line: bytes) -> int:
    """The size in a chunk-size line: hex digits, then maybe ``;extensions`` (ignored, §7.1.1)."""
    digits = line.partition(b";")[0].rstrip(b" \t")  # BWS may come before the ';'
    # fullmatch, not int(x, 16) alone: that would take "0x5", "+5", " 5" and "5_0" too.
    if not HEX_DIGITS.fullmatch(digits):
        raise BadFraming(f"a chunk starts with its size in hex, got {line[:40]!r}")
    return int(digits, 16)


def _chunk_data(rfile: BinaryIO, size: int) -> bytes:
    """``size`` bytes of chunk data and the CRLF after them, read a piece at a time.

    A client may announce FFFFFFFFFFFFFFF bytes: asking ``read()`` for that at once would try to
    allocate it. Pieces grow the buffer only as fast as bytes really arrive.
    """
    data = bytearray()
    while len(data) < size:
        piece = rfile.read(min(size - len(data), READ_SIZE))
        if not piece:
            raise BadFraming(f"the connection closed {size - len(data)} bytes before the end of a chunk")
        data += piece
    if rfile.read(2) != b"\r\n":
        raise BadFraming(f"a chunk's data is exactly its size ({size} bytes), then CRLF")
    return bytes(data)


def _skip_trailers(rfile: BinaryIO) -> None:
    """Read the trailer lines after the last chunk (§7.1.2), up to the empty line, and drop them."""
    for _ in range(MAX_HEADERS + 1):
        if _crlf_line(rfile) == b"":
            return
    raise BadFraming(f"more than {MAX_HEADERS} trailer lines")


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body: size in hex, CRLF, data, CRLF. ``b""`` gives the last chunk."""
    if not data:
        return b"0\r\n\r\n"  # last-chunk, no trailers, and the CRLF that ends the body
    return b"%X\r\n%s\r\n" % (len(data), data)


# ---------------------------------------------------------------------------------------------
# Step 2: keep-alive, and wsgi.input for HTTP/1.1.
# ---------------------------------------------------------------------------------------------


def keep_alive_requested(request: Any) -> bool:
    """Does the client want to keep the connection after this request? (RFC 9112 §9.3)"""
    if request.version != "HTTP/1.1":
        return False  # HTTP/1.0: this server always closes (keeping 1.0 connections is optional)
    options = {option.strip().lower() for option in (header(request, "Connection") or "").split(",")}
    return "close" not in options  # persistent unless the client says close


class RequestInput:
    """``wsgi.input`` for HTTP/1.1: a Content-Length or a chunked body, with ``100 Continue``.

    Nothing is read, and ``100 Continue`` is not sent, until the app first reads: an app that answers
    without the body (403, 413…) spares the client from sending it at all. Both framings end up as
    "a stream and the number of bytes left in it", so one pair of read methods serves both.
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
        self._chunked = chunked
        self._send_continue = send_continue
        self._stream: BinaryIO | None = None  # opened on the first read
        self._remaining = length  # body bytes not yet handed out (a chunked body's: once decoded)

    def _open(self) -> BinaryIO:
        if self._stream is None:
            if self._send_continue is not None:
                self._send_continue(CONTINUE)  # the client waits for this before sending the body
                self._send_continue = None
            if self._chunked:
                # Decoded whole on the first read: simple, and PEP 3333 asks for no more.
                body = read_chunked_body(self._rfile)
                self._stream, self._remaining = io.BytesIO(body), len(body)
            else:
                # Straight from the connection, counting: past the body come the next request's bytes.
                self._stream = self._rfile
        return self._stream

    def _allowed(self, size: int | None) -> int:
        """How many bytes a read of ``size`` may take: the rest of the body for None or a negative size."""
        return self._remaining if size is None or size < 0 else min(size, self._remaining)

    def read(self, size: int | None = -1) -> bytes:
        stream = self._open()
        data = stream.read(self._allowed(size))
        self._remaining -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        stream = self._open()
        line = stream.readline(self._allowed(size))
        self._remaining -= len(line)
        return line

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(self)  # PEP 3333 lets the server ignore the hint

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def finish(self) -> bool:
        """Read what the app left of the body, so the next request starts at the right byte.

        Returns False when the connection cannot carry another request: the client was told to wait
        for ``100 Continue`` and never got it, so nobody knows whether the body is coming; or the
        rest of the body is malformed, and the response is already out: closing is all that is left.
        """
        if self._stream is None and self._send_continue is not None:
            return False
        try:
            while self.read(READ_SIZE):
                pass
        except BadFraming:
            return False
        return True


def make_input(request: Any, rfile: BinaryIO, send: Callable[[bytes], Any]) -> RequestInput:
    """Choose the body framing for ``request`` (RFC 9112 §6.3) and build its ``wsgi.input``."""
    coding = header(request, "Transfer-Encoding")
    # 07's parse_request refused a Content-Length that is not digits or disagrees with a repeat.
    lengths = [value for name, value in request.headers if name.lower() == "content-length"]
    if coding is not None:
        if lengths:
            # Both framings at once is how request smuggling works: refuse (RFC 9112 §6.1).
            raise BadFraming("Content-Length and Transfer-Encoding together")
        if coding.strip().lower() != "chunked":
            raise BadFraming(f"unsupported Transfer-Encoding {coding!r}")
    chunked = coding is not None
    length = int(lengths[0]) if lengths else 0
    expects = (header(request, "Expect") or "").strip().lower() == "100-continue"
    wants_continue = expects and (chunked or length > 0) and request.version == "HTTP/1.1"
    return RequestInput(rfile, length=length, chunked=chunked, send_continue=send if wants_continue else None)


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
            if isinstance(exc, BadFraming):  # the app's read met a malformed body: the client's error
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
# Step 4, on your exercise 07: the environ, and a thread per connection, many requests on each.
# ---------------------------------------------------------------------------------------------


def build_environ(request: Any, wsgi_input: RequestInput, server_address: tuple[str, int]) -> dict[str, Any]:
    """07's environ for ``request``, with the keys HTTP/1.1 and threads change."""
    # 07's own wsgi.input is replaced below: give it an empty file, so it cannot touch the connection.
    environ: dict[str, Any] = exercise_07().build_environ(request, io.BytesIO(), server_address)
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.multithread"] = True  # one thread per connection: apps may run side by side
    # The input ends by itself at the end of the body (b""): frameworks may read a chunked body,
    # which has no CONTENT_LENGTH, to its end (the convention gunicorn and werkzeug share).
    environ["wsgi.input_terminated"] = True
    return environ


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
        wsgi_server = exercise_07()  # the request head and the environ are 07's work
        with conn:
            conn.settimeout(KEEP_ALIVE_TIMEOUT)
            rfile = conn.makefile("rb")
            try:
                while not self._stop_requested.is_set():
                    try:
                        request = wsgi_server.parse_request(rfile)
                        if request is None:
                            break  # the client closed (or the server is stopping)
                        wsgi_input = make_input(request, rfile, conn.sendall)
                    except (wsgi_server.BadRequest, BadFraming) as exc:
                        conn.sendall(_error_response("400 Bad Request", str(exc)))
                        break
                    environ = build_environ(request, wsgi_input, self.server_address)
                    # The peer is the server's knowledge, not 07's: CGI's REMOTE_ADDR, and REMOTE_PORT as a str.
                    environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client_address[0], str(client_address[1])
                    reusable = call_app(self.app, environ, conn.sendall, keep_alive_requested(request))
                    if not (reusable and wsgi_input.finish()):
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


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
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


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
