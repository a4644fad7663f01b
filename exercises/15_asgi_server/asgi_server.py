"""Exercise 15 — build an ASGI server.

An ASGI server is the other half of the contract you met in exercises 13 and 14: it speaks HTTP/1.1
on a socket, turns each request into a *scope* plus a ``receive``/``send`` pair, awaits
``app(scope, receive, send)``, and turns the events the app sends back into bytes on the wire::

    bytes in ──► read_http_request() ──► build_scope() ─┐
                                                        ├─► await app(scope, receive, send)
                     make_receive_send() ───────────────┘         │
    bytes out ◄── send({"type": "http.response.start"}) ◄─────────┘
                  send({"type": "http.response.body", ...})

You write one function per concept, in the order a request meets them:

- ``read_http_request(reader)``: one request (head and whole body) from an ``asyncio.StreamReader``;
- ``build_scope(request, ...)``: the ASGI HTTP connection scope;
- ``make_receive_send(request, writer, disconnected)``: the two awaitables, with the message order
  enforced and the response framed (Content-Length, or chunked when the app gives none);
- ``run_app(app, scope, receive, send, response)``: await the app and clean up after it when it
  breaks the rules (500 before the response started, close the connection after);
- ``serve_connection(app, reader, writer)``: the keep-alive loop of one connection, with a hook
  that lets another protocol take a connection over (``upgrade``: exercise 18's WebSocket);
- ``Server``: ``asyncio.start_server`` on its own event loop, driven from any thread;
- ``run()`` / ``main()``: ``python -m asgi_server module:app --port 8000``.

Spec: ASGI 3.0 "HTTP & WebSocket" 2.4 (§HTTP Connection Scope, §Request, §Response Start,
§Response Body, §Disconnect), RFC 9112 (HTTP/1.1: §2 message format, §6 body, §7.1 chunked, §9.3
persistence).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Upgrade = Callable[["HTTPRequest", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""``upgrade(request, reader, writer) -> bool``: what may take over a connection (``serve_connection``)."""

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
"""What every scope says under ``"asgi"``. 2.4: ``send()`` raises ``OSError`` once the client left."""

# The server's limits. Read them when you need them (``KEEP_ALIVE_TIMEOUT``, not a copy taken at
# import time): the tests lower them (``asgi_server.KEEP_ALIVE_TIMEOUT = 0.5``) to stay fast.
KEEP_ALIVE_TIMEOUT = 5.0
"""Seconds the server waits for a client that sends nothing: between requests, or in the middle of one."""
MAX_HEAD = 64 * 1024
"""The largest request head (request line and header lines) the server reads: more gets ``431``."""
MAX_BODY = 1024 * 1024
"""The largest request body the server reads into memory: more gets ``413``."""


class BadRequest(ValueError):
    """The bytes on the wire are not a request this server serves: it answers ``status`` and closes.

    ``status`` is ``400`` unless a more precise one applies: ``431`` (the head is larger than
    ``MAX_HEAD``), ``413`` (the body is larger than ``MAX_BODY``), ``408`` (the client stalled).
    """

    def __init__(self, message: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ClientDisconnected(OSError):
    """Raised by ``send()`` when the client has gone (ASGI HTTP 2.4 §Disconnected Client)."""


@dataclass
class HTTPRequest:
    """One request as it came off the wire, before it becomes a scope."""

    method: str
    """``"GET"``, ``"POST"``, ... (upper case, as sent)."""
    target: bytes
    """The request target exactly as sent: ``b"/caf%C3%A9?q=1"``."""
    http_version: str
    """``"1.1"`` or ``"1.0"``."""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    """Every header as ``(name, value)`` bytes, names lower-cased, values stripped, repeats kept."""
    body: bytes = b""
    """The whole body: Content-Length bytes, or the chunks of a chunked body joined."""

    def header(self, name: bytes) -> bytes | None:
        """The last value of header ``name`` (lower case), or ``None``."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


# ---------------------------------------------------------------------------------------------------
# Reading a request (RFC 9112 §2, §3, §5, §6, §7.1)
# ---------------------------------------------------------------------------------------------------


async def read_http_request(
    reader: asyncio.StreamReader, *, send_continue: Callable[[], Awaitable[None]] | None = None
) -> HTTPRequest | None:
    """Read one request from ``reader``: the head, then the whole body. ``None`` at a clean end of stream.

    The head is everything up to the empty line (``reader.readuntil(b"\\r\\n\\r\\n")``): a request line
    ``METHOD SP target SP HTTP/1.x`` (RFC 9112 §3), then ``Name: value`` lines (§5). Decode it as
    latin-1; keep header names lower-cased and values stripped, as bytes, repeats kept, in order.
    The method is a token (RFC 9110 §9.1, §5.6.2): letters, digits and ``!#$%&'*+-.^_`|~``, so
    ``M-SEARCH`` is one. A value must not hold a NUL, CR or LF (RFC 9110 §5.5): that is a BadRequest.
    A header line that starts with a space or a tab (obs-fold, RFC 9112 §5.2; or whitespace before the
    first header, §2.2) is a BadRequest: this server answers 400 rather than unfold it.

    ``Host`` (RFC 9112 §3.2): an HTTP/1.1 request without one, any request with two ``Host`` lines (even
    equal ones), or a ``Host`` that is not ``host[:port]`` (RFC 9110 §7.2: a name or IPv4 address of
    letters, digits and ``-._~!$&'()*+,;=%``, or an IPv6 literal such as ``[::1]``; then optionally ``:``
    and digits) is a BadRequest. An empty value is valid, and HTTP/1.0 may leave ``Host`` out.

    The body (RFC 9112 §6.3): ``Transfer-Encoding: chunked`` means chunks (§7.1: ``<hex size>[;ext]
    CRLF <data> CRLF`` ... a ``0`` chunk, optional trailer lines, an empty line; the size is hex
    digits only: ``int(text, 16)`` also takes ``-5``, ``+5`` and ``0x5``, which are a BadRequest; a
    chunk-size line too long for the reader's buffer, ``asyncio.LimitOverrunError``, is one too); otherwise
    ``Content-Length`` bytes exactly (read no further: the next request may follow on the same
    connection); otherwise no body.

    Limits (read the module constants at call time): a head longer than ``MAX_HEAD`` bytes (from the
    request line through the empty line, CRLFs included) is ``BadRequest(..., status=431)`` (the
    reader's own buffer limit, ``asyncio.LimitOverrunError``, is one too); a body longer than
    ``MAX_BODY`` is ``BadRequest(..., status=413)``, raised *before* the body is read: a
    Content-Length above it, or a chunk size that takes the total above it (a size like
    ``FFFFFFFFFFFFFFF`` is refused at once, not waited for).

    ``Expect: 100-continue`` (RFC 9110 §10.1.1): a client that sends it waits for ``100 Continue``
    before it sends the body. When ``send_continue`` is given, the request is HTTP/1.1 (never
    HTTP/1.0) and carries that expectation and a body (Content-Length or chunked), ``await
    send_continue()`` once, after the head and before reading the body; not when a limit refuses the
    body (the 413 is the answer). Without ``send_continue``, read the body as it comes.

    Return ``None`` when the stream ends before the first byte of a request: that is how a keep-alive
    client says goodbye. Raise ``BadRequest`` for anything malformed: a request line without three
    parts or not ``HTTP/1.x``, a header line without a colon, a Content-Length that is not a number,
    a stream that ends in the middle of a request.
    """
    raise NotImplementedError("write read_http_request() in asgi_server.py")


# ---------------------------------------------------------------------------------------------------
# The scope (ASGI HTTP §HTTP Connection Scope)
# ---------------------------------------------------------------------------------------------------


def build_scope(
    request: HTTPRequest,
    *,
    client: tuple[str, int] | None,
    server: tuple[str, int] | None,
    root_path: str = "",
    state: dict[str, Any] | None = None,
) -> Scope:
    """The ``http`` scope for ``request``: every key of ASGI HTTP §HTTP Connection Scope.

    - ``type`` ``"http"``; ``asgi`` ``ASGI_VERSION`` (a copy); ``http_version`` ``"1.1"``;
      ``method`` upper case; ``scheme`` ``"http"``;
    - the target splits once at ``?``: ``raw_path`` is the bytes before it, exactly as received, and
      ``query_string`` the bytes after it, *not* decoded (``b""`` when there is none);
    - ``path`` is ``raw_path`` percent-decoded as UTF-8, a ``str``: ``b"/caf%C3%A9"`` -> ``"/café"``
      (``urllib.parse.unquote``);
    - ``root_path`` as given (``""``: this server is mounted at the root);
    - ``headers`` the request's ``(name, value)`` byte pairs, names lower-cased;
    - ``client`` and ``server`` ``(host, port)``, or ``None`` when unknown;
    - ``state``: only when a lifespan startup gave one (exercise 16), and then a *shallow copy*
      (ASGI Lifespan §Lifespan State), so one request's additions never reach the next.
    """
    raise NotImplementedError("write build_scope() in asgi_server.py")


# ---------------------------------------------------------------------------------------------------
# receive and send (ASGI HTTP §Request, §Response Start, §Response Body, §Disconnect)
# ---------------------------------------------------------------------------------------------------


@dataclass
class ResponseState:
    """What ``send()`` has done so far; the connection loop reads it after the app returns."""

    started: bool = False
    """``http.response.start`` was sent (the status line and headers are on the wire)."""
    complete: bool = False
    """The last ``http.response.body`` (``more_body`` false) was sent."""
    status: int | None = None
    chunked: bool = False
    """The body goes out as chunks because the app gave no Content-Length."""
    close: bool = False
    """The connection must close after this response (asked for, or the body is delimited by close)."""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the response is complete: wakes a ``receive()`` that waits for ``http.disconnect``."""


def make_receive_send(
    request: HTTPRequest,
    writer: asyncio.StreamWriter,
    disconnected: asyncio.Event,
    *,
    keep_alive: bool = True,
) -> tuple[Receive, Send, ResponseState]:
    """The ``receive`` and ``send`` awaitables for one request, and the ``ResponseState`` they share.

    ``receive()`` (ASGI HTTP §Request, §Disconnect):

    - the first call returns ``{"type": "http.request", "body": request.body, "more_body": False}``;
    - every later call waits until the response is complete (``state.finished``) or the client has
      left (``disconnected``, which the connection loop sets), then returns
      ``{"type": "http.disconnect"}``.

    ``send(message)`` (§Response Start, §Response Body) accepts exactly one ``http.response.start``,
    then ``http.response.body`` messages until one has ``more_body`` false. Anything else (a body
    first, a second start, an unknown type, anything after the end) raises ``RuntimeError`` and writes
    nothing. After the client left it raises ``ClientDisconnected`` (§Disconnected Client).

    On the wire (RFC 9112 §4, §6.3, §7.1): the start writes ``HTTP/1.1 <status> <reason>\\r\\n``,
    the app's headers, and the empty line. When the app gave no ``content-length``, add
    ``transfer-encoding: chunked`` and write each body as ``b"%x\\r\\n%s\\r\\n" % (len(body), body)``
    and the end as ``b"0\\r\\n\\r\\n"`` (an empty body is no chunk: a 0 chunk means the end).
    No body bytes at all for ``HEAD`` requests, nor for 1xx, 204 and 304 responses. Add
    ``connection: close`` when ``keep_alive`` is false, and mark ``state.close`` when the app sends
    ``connection: close`` itself. To an HTTP/1.0 request whose connection stays open, add
    ``connection: keep-alive``: without it the client waits for a close (RFC 9112 §9.3). Every head
    carries ``date`` (RFC 9110 §6.6.1), in IMF-fixdate (``email.utils.formatdate(usegmt=True)``:
    ``Wed, 02 Dec 2026 01:30:40 GMT``), unless the app sent its own (then only the app's). ``writer`` is anything with ``write(bytes)``, ``await drain()``
    and ``is_closing()``.
    """
    raise NotImplementedError("write make_receive_send() in asgi_server.py")


# ---------------------------------------------------------------------------------------------------
# Running the app, and the connection loop
# ---------------------------------------------------------------------------------------------------


async def run_app(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, response: ResponseState, writer: asyncio.StreamWriter
) -> None:
    """Await ``app(scope, receive, send)``; repair what can be repaired when it breaks the rules.

    An exception from the app must not stop the server: print it to stderr and go on.

    - The app raised, or returned, before ``http.response.start``: nothing is on the wire yet, so
      write ``500 Internal Server Error`` yourself (with a Content-Length) and mark the response
      complete and ``close``.
    - It raised, or returned, in the middle of the body: the status line is already out and cannot be
      taken back. Mark ``response.close``: closing is the only way to tell the client the body broke.
    """
    raise NotImplementedError("write run_app() in asgi_server.py")


async def serve_connection(
    app: ASGIApp,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    state: dict[str, Any] | None = None,
    stopping: asyncio.Event | None = None,
    upgrade: Upgrade | None = None,
) -> None:
    """Serve requests on one connection until either side closes it (RFC 9112 §9.3, keep-alive).

    For each request: build the scope (``client`` is ``writer.get_extra_info("peername")``, ``server``
    ``"sockname"``), make the receive/send pair, ``run_app()``; then read the next request, unless
    the client sent ``Connection: close`` (or is HTTP/1.0 without ``keep-alive``), the response must
    close, or the server is ``stopping``. A ``BadRequest`` gets its ``status`` (400, 413, 431, 408:
    a head with ``content-length: 0``, ``connection: close`` and ``date``) and the connection
    closes. Close the writer at the end, whatever happened.

    Timeouts (``KEEP_ALIVE_TIMEOUT``, read at run time): a client that sends nothing for that long
    while the server waits for it is cut off: between requests (an idle keep-alive connection), in
    the middle of a head, or in the middle of a body (a slow-loris client must not hold a connection
    forever). Close the connection (a ``408`` first is allowed). The time the app takes is not the
    client's: the clock runs while the server waits for bytes.

    ``Expect: 100-continue``: pass ``read_http_request()`` a ``send_continue`` that writes
    ``b"HTTP/1.1 100 Continue\\r\\n\\r\\n"``, but never in the middle of another response: a request
    read ahead while the app runs must not get its ``100`` before the current response is complete
    (read only the next *head* ahead, and its body once the response is complete, or make
    ``send_continue`` wait for that).

    How to notice that the client left while the app runs: start reading the *next* request in a task
    (``asyncio.ensure_future(read_http_request(reader))``) as soon as the app starts. If that read
    returns ``None`` or fails with a connection error, set ``disconnected``; if it returns a request
    (a pipelined one), keep it for the next turn of the loop.

    When ``stopping`` is set (the server shuts down), an idle connection closes at once and a busy
    one closes after its response.

    The upgrade hook (exercise 18 plugs WebSocket in here): when ``upgrade`` is given and a request
    carries an ``Upgrade`` header, ``await upgrade(request, reader, writer)`` before anything else
    for that request: before its scope, before the app, and before you start reading the next
    request (the bytes after this head may be the new protocol's). ``True``: the connection now
    belongs to the hook, which served it to its end and closed the writer; return without writing
    anything more. ``False``: serve the request as plain HTTP, as if there were no hook.
    """
    raise NotImplementedError("write serve_connection() in asgi_server.py")


# ---------------------------------------------------------------------------------------------------
# The server object: an asyncio server on its own loop, driven from another thread
# ---------------------------------------------------------------------------------------------------


class Server:
    """``Server(app, host, port)``: bound at once, served by ``serve_forever()``, stopped by ``shutdown()``.

    Shaped like ``wsgiref``'s server, so the tests drive it the same way from another thread:
    ``server_address`` is known as soon as the object exists (port 0 picks a free port),
    ``serve_forever()`` runs its own event loop in the calling thread, and ``shutdown()`` may be called
    from any thread, or from a signal handler.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
        """Bind and listen now (``socket.create_server((host, port))``), and set ``server_address``
        to the bound ``(host, port)``. ``self.state`` is ``None`` (exercise 16 fills it), and so is
        ``self.upgrade`` (exercise 18 sets it to its WebSocket hook)."""
        raise NotImplementedError("write Server.__init__() in asgi_server.py")

    def serve_forever(self) -> None:
        """Serve until ``shutdown()``: ``asyncio.run(self.serve())``."""
        raise NotImplementedError("write Server.serve_forever() in asgi_server.py")

    async def serve(self) -> None:
        """``asyncio.start_server(handler, sock=self.socket)``; wait until asked to stop; then stop
        accepting, let each connection finish its response (a few seconds at most), and return.

        The handler runs ``serve_connection()`` with ``state=self.state`` and ``upgrade=self.upgrade``,
        read when the connection comes: a subclass or a test may set them after ``__init__``."""
        raise NotImplementedError("write Server.serve() in asgi_server.py")

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to stop. It runs in another thread with its own loop: use
        ``loop.call_soon_threadsafe``. Called from another thread, wait until serving has stopped.

        It may come first: before ``serve_forever()`` runs, or before ``serve()`` begins (exercise 16
        runs the lifespan startup before it). Remember it, and ``serve()`` then returns at once."""
        raise NotImplementedError("write Server.shutdown() in asgi_server.py")

    def server_close(self) -> None:
        """Close the listening socket (it is fine if it is closed already)."""
        raise NotImplementedError("write Server.server_close() in asgi_server.py")


# ---------------------------------------------------------------------------------------------------
# The command line: python -m asgi_server module:app --port 8000
# ---------------------------------------------------------------------------------------------------


def import_app(spec: str) -> ASGIApp:
    """``"package.module:attribute"`` -> the object, the way uvicorn and gunicorn name an app."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise SystemExit(f"asgi_server: expected module:attribute, got {spec!r}")
    app: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        app = getattr(app, name)
    return app


def run(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` in this thread until Ctrl-C (SIGINT) or SIGTERM.

    Make the ``Server``, make both signals call its ``shutdown()`` (``signal.signal``), print one line
    with the address, ``asgi_server: serving on http://127.0.0.1:8000`` (the port actually bound:
    ``--port 0`` picks one), flush it, and ``serve_forever()``.
    """
    raise NotImplementedError("write run() in asgi_server.py")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m asgi_server", description="Serve an ASGI app over HTTP/1.1.")
    parser.add_argument("app", help="the app to serve, as module:attribute (e.g. myapp:app)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    args = parser.parse_args(argv)
    sys.path.insert(0, ".")  # find module:app in the current folder, as uvicorn does
    run(import_app(args.app), args.host, args.port)


if __name__ == "__main__":
    main()
