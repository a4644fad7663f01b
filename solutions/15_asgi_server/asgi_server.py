"""Exercise 15 — build an ASGI server.

An ASGI server is the other half of the contract you met in exercises 13 and 14: it speaks HTTP/1.1
on a socket, turns each request into a *scope* plus a ``receive``/``send`` pair, awaits
``app(scope, receive, send)``, and turns the events the app sends back into bytes on the wire::

    bytes in ──► read_http_request() ──► build_scope() ─┐
                                                        ├─► await app(scope, receive, send)
                     make_receive_send() ───────────────┘         │
    bytes out ◄── send({"type": "http.response.start"}) ◄─────────┘
                  send({"type": "http.response.body", ...})

One function per concept, in the order a request meets them:

- ``read_http_request(reader)``: one request (head and whole body) from an ``asyncio.StreamReader``;
- ``build_scope(request, ...)``: the ASGI HTTP connection scope;
- ``make_receive_send(request, writer, disconnected)``: the two awaitables, with the message order
  enforced and the response framed (Content-Length, or chunked when the app gives none);
- ``run_app(app, scope, receive, send, response)``: await the app and clean up after it when it
  breaks the rules (500 before the response started, close the connection after);
- ``serve_connection(app, reader, writer)``: the keep-alive loop of one connection;
- ``Server``: ``asyncio.start_server`` on its own event loop, driven from any thread;
- ``run()`` / ``main()``: ``python -m asgi_server module:app --port 8000``.

Spec: ASGI 3.0 "HTTP & WebSocket" 2.4 (§HTTP Connection Scope, §Request, §Response Start,
§Response Body, §Disconnect), RFC 9112 (HTTP/1.1: §2 message format, §6 body, §7.1 chunked, §9.3
persistence).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import importlib
import re
import signal
import socket
import string
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]  # mutants: skip (given in the stub)
Upgrade = Callable[["HTTPRequest", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]  # mutants: skip (given in the stub)

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}  # mutants: skip (given in the stub)
"""What every scope says under ``"asgi"``. 2.4: ``send()`` raises ``OSError`` once the client left."""

KEEP_ALIVE_TIMEOUT = 5.0  # mutants: skip (given in the stub)
"""Seconds the server waits for a client that sends nothing: between requests, or in the middle of one."""
MAX_HEAD = 64 * 1024  # mutants: skip (given in the stub)
"""The largest request head (request line and header lines) the server reads: more gets ``431``."""
MAX_BODY = 1024 * 1024  # mutants: skip (given in the stub)
"""The largest request body the server reads into memory: more gets ``413``."""


class BadRequest(ValueError):  # mutants: skip (given in the stub)
    """The bytes on the wire are not a request this server serves: it answers ``status`` and closes.

    ``status`` is ``400`` unless a more precise one applies: ``431`` (the head is larger than
    ``MAX_HEAD``), ``413`` (the body is larger than ``MAX_BODY``), ``408`` (the client stalled).
    """

    def __init__(self, message: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ClientDisconnected(OSError):  # mutants: skip (given in the stub)
    """Raised by ``send()`` when the client has gone (ASGI HTTP 2.4 §Disconnected Client)."""


@dataclass
class HTTPRequest:  # mutants: skip (given in the stub)
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

TCHAR = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
"""The characters of a token (RFC 9110 §5.6.2): a method is one (§9.1), ``M-SEARCH`` too."""
HOST_FIELD = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]*)?")
"""``Host = uri-host [ ":" port ]`` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IPv6 literal in brackets, or a
name (or IPv4 address) of unreserved, sub-delims and percent-encoded characters; the port digits only."""


async def read_http_request(
    reader: asyncio.StreamReader, *, send_continue: Callable[[], Awaitable[None]] | None = None
) -> HTTPRequest | None:
    """Read one request from ``reader``; ``None`` if the client closed before sending a byte.

    ``send_continue`` is awaited before the body is read when an HTTP/1.1 client waits for
    ``100 Continue`` (RFC 9110 §10.1.1); without it the body is read as it comes.
    """
    request = await read_head(reader)
    if request is not None:
        request.body = await read_body(reader, request, send_continue)
    return request


async def read_head(reader: asyncio.StreamReader) -> HTTPRequest | None:
    """The request line and the header lines, parsed; the body is still on the stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None  # a clean close between requests: the normal end of a keep-alive connection
        raise BadRequest("the connection closed in the middle of the request head") from exc
    except asyncio.LimitOverrunError as exc:  # larger than the reader's buffer: larger than MAX_HEAD too
        raise BadRequest("the request head is too large", 431) from exc
    if len(head) > MAX_HEAD:
        raise BadRequest("the request head is too large", 431)  # RFC 6585 §5

    request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"malformed request line {request_line!r}")
    method, target, version = parts
    if not method or not TCHAR.issuperset(method) or not target:
        raise BadRequest(f"malformed request line {request_line!r}")

    headers = []
    for line in header_lines:
        name, colon, value = line.partition(":")
        # A line that starts with a space or a tab (obs-fold, RFC 9112 §5.2, or whitespace before the
        # first header, §2.2) fails the name check as well: refused, never unfolded into the line above.
        if not colon or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line!r}")
        # A NUL, or a CR or LF left inside a value, could split it into two headers downstream (RFC 9110 §5.5).
        if "\0" in value or "\r" in value or "\n" in value:
            raise BadRequest(f"a forbidden character in the header line {line!r}")
        headers.append((name.lower().encode("latin-1"), value.strip().encode("latin-1")))

    # RFC 9112 §3.2: an HTTP/1.1 request names its host exactly once (HTTP/1.0 may leave it out), and
    # a valid one. Two Host lines could route one request to two different sites.
    hosts = [value for name, value in headers if name == b"host"]
    if len(hosts) > 1 or (not hosts and version != "HTTP/1.0"):
        raise BadRequest(f"expected one Host header, got {len(hosts)}")
    if not all(HOST_FIELD.fullmatch(value) for value in hosts):
        raise BadRequest(f"invalid Host {hosts!r}")
    return HTTPRequest(method, target.encode("latin-1"), version.removeprefix("HTTP/"), headers)


async def read_body(
    reader: asyncio.StreamReader, request: HTTPRequest, send_continue: Callable[[], Awaitable[None]] | None = None
) -> bytes:
    """The body framing of RFC 9112 §6.3: chunked wins over Content-Length; neither means no body.

    Framing is where request smuggling hides, so anything ambiguous is refused rather than guessed.
    A body larger than ``MAX_BODY`` is refused (413) before it is read: it would all sit in memory.
    """
    codings = [value.lower() for name, value in request.headers if name == b"transfer-encoding"]
    lengths = {value for name, value in request.headers if name == b"content-length"}
    try:
        if codings:
            # The only coding this server decodes is chunked, and it must be the last one (§6.3, §7).
            if codings != [b"chunked"]:
                raise BadRequest(f"unsupported Transfer-Encoding {codings!r}")
            await continue_if_expected(request, send_continue)
            return await read_chunked_body(reader)  # it overrides any Content-Length (§6.3)
        if not lengths:
            return b""
        length = lengths.pop()
        if lengths or not length.isdigit():  # two different lengths are as bad as a wrong one
            raise BadRequest(f"bad Content-Length {length!r}")
        if int(length) > MAX_BODY:
            raise BadRequest(f"a body of {int(length)} bytes is too large", 413)  # RFC 9110 §15.5.14
        await continue_if_expected(request, send_continue)  # only once the length is acceptable
        return await read_exactly(reader, int(length))
    except asyncio.IncompleteReadError as exc:
        raise BadRequest("the connection closed in the middle of the body") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadRequest("a chunk-size line is too long") from exc


async def continue_if_expected(request: HTTPRequest, send_continue: Callable[[], Awaitable[None]] | None) -> None:
    """``Expect: 100-continue``: the client sends the body only once told to (RFC 9110 §10.1.1).

    An HTTP/1.0 client cannot read a 1xx response, so its expectation is ignored.
    """
    expect = request.header(b"expect") or b""
    if send_continue is not None and request.http_version != "1.0" and expect.lower() == b"100-continue":
        await send_continue()


async def within_timeout(read: Awaitable[bytes]) -> bytes:
    """One read of a request; a client that sends nothing for ``KEEP_ALIVE_TIMEOUT`` seconds is cut off.

    Without it, a client that trickles a body (or stops halfway) holds its connection forever.
    """
    try:
        return await asyncio.wait_for(read, KEEP_ALIVE_TIMEOUT)
    except TimeoutError:
        raise BadRequest("the client stopped sending in the middle of the request", 408) from None


async def read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    """``size`` bytes, read as they arrive: the timeout is between two reads, not for the whole body."""
    parts = []
    while size > 0:
        data = await within_timeout(reader.read(min(size, 65536)))
        if not data:
            raise BadRequest("the connection closed in the middle of the body")
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


async def read_chunked_body(reader: asyncio.StreamReader) -> bytes:
    """Chunks are ``<hex size>[;extensions]\\r\\n<data>\\r\\n``, ended by size 0 and optional trailers."""
    chunks = []
    total = 0
    while True:
        size_line = await within_timeout(reader.readuntil(b"\r\n"))
        size_text = size_line.split(b";", 1)[0].strip()
        # chunk-size = 1*HEXDIG (RFC 9112 §7.1): int(text, 16) alone would take "-5", "+5" and "0x5"
        if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
            raise BadRequest(f"bad chunk size {size_text!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > MAX_BODY:  # before reading it: a size like FFFFFFFFFFFFFFF must not be waited for
            raise BadRequest("the chunked body is too large", 413)
        chunks.append(await read_exactly(reader, size))
        if await within_timeout(reader.readexactly(2)) != b"\r\n":
            raise BadRequest("a chunk is not followed by CRLF")
    while await within_timeout(reader.readuntil(b"\r\n")) != b"\r\n":
        pass  # trailer fields: allowed, and ignored (RFC 9112 §7.1.2)
    return b"".join(chunks)


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
    """The ``http`` scope for ``request``: every key of the spec, with the spec's types."""
    raw_path, _, query_string = request.target.partition(b"?")
    scope: Scope = {
        "type": "http",
        "asgi": dict(ASGI_VERSION),
        "http_version": request.http_version,
        "method": request.method.upper(),
        "scheme": "http",
        # path is text, percent-decoded as UTF-8; raw_path keeps the bytes as sent so that an app
        # can still tell "/a%2Fb" from "/a/b".
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query_string,  # raw bytes, not decoded: the app parses it
        "root_path": root_path,
        "headers": list(request.headers),
        "client": client,
        "server": server,
    }
    if state is not None:
        # A shallow copy per request: a request may add keys without leaking them to the next one.
        scope["state"] = dict(state)
    return scope


# ---------------------------------------------------------------------------------------------------
# receive and send (ASGI HTTP §Request, §Response Start, §Response Body, §Disconnect)
# ---------------------------------------------------------------------------------------------------


@dataclass
class ResponseState:  # mutants: skip (given in the stub)
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


def wants_keep_alive(request: HTTPRequest) -> bool:
    """HTTP/1.1 is persistent unless ``Connection: close``; HTTP/1.0 only with ``keep-alive`` (RFC 9112 §9.3)."""
    if request.header(b"transfer-encoding") and request.header(b"content-length"):
        return False  # both framings: maybe a smuggling attempt, so close after it (RFC 9112 §6.3)
    if request.header(b"transfer-encoding") and request.http_version == "1.0":
        return False  # HTTP/1.0 has no Transfer-Encoding: its framing is faulty, so close after it (§6.1)
    tokens = {t.strip() for t in (request.header(b"connection") or b"").lower().split(b",")}
    if request.http_version == "1.0":
        return b"keep-alive" in tokens
    return b"close" not in tokens


def http_date() -> bytes:
    """Now, in the IMF-fixdate format of RFC 9110 §5.6.7: ``Wed, 02 Dec 2026 01:30:40 GMT``."""
    return email.utils.formatdate(usegmt=True).encode("ascii")


RENAMED = {413: "Content Too Large"}
"""A reason phrase RFC 9110 renamed (§15.5.14) that Python 3.11's ``HTTPStatus`` still gives the old way."""


def response_head(status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``, one line per header, and the empty line.

    An origin server with a clock sends ``Date`` (RFC 9110 §6.6.1), unless the app gave its own.
    """
    if all(name != b"date" for name, _ in headers):
        headers = [*headers, (b"date", http_date())]
    try:
        reason = RENAMED.get(status) or HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}".encode("latin-1")]
    lines += [bytes(name) + b": " + bytes(value) for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def make_receive_send(
    request: HTTPRequest,
    writer: asyncio.StreamWriter,
    disconnected: asyncio.Event,
    *,
    keep_alive: bool = True,
) -> tuple[Receive, Send, ResponseState]:
    """The ``receive`` and ``send`` awaitables for one request, and the state ``send`` keeps.

    ``receive()`` returns the body once as ``http.request`` (``more_body`` false, the body was read
    whole), then waits and returns ``http.disconnect`` once the response is complete or the client
    left (``disconnected`` is set by the connection loop).

    ``send()`` accepts exactly: one ``http.response.start``, then ``http.response.body`` messages
    until one has ``more_body`` false. Anything else raises ``RuntimeError``.
    """
    state = ResponseState(close=not keep_alive)
    body_sent = False
    no_body = request.method == "HEAD"
    remaining: int | None = None  # body bytes the app's own Content-Length still promises

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body}  # more_body defaults to False: all of it
        await wait_for_either(state.finished, disconnected)  # at once if either is set already
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        kind = message.get("type")
        if disconnected.is_set() or writer.is_closing():
            raise ClientDisconnected("the client has closed the connection")
        if not state.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            await start_response(message)
        elif not state.complete:
            if kind != "http.response.body":
                raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
            await send_body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"got {kind!r} after the response was complete")

    async def start_response(message: Message) -> None:
        status = int(message["status"])
        headers = [(bytes(name).lower(), bytes(value)) for name, value in message.get("headers", [])]
        length = dict(headers).get(b"content-length")
        nonlocal no_body, remaining
        no_body = no_body or status in (204, 304) or 100 <= status < 200
        if length is not None and not no_body:
            remaining = int(length)
        elif not no_body:
            if request.http_version == "1.1":
                state.chunked = True  # RFC 9112 §7.1: the only way to stream a body of unknown length
                headers.append((b"transfer-encoding", b"chunked"))
            else:
                state.close = True  # HTTP/1.0 has no chunks: the body ends when the connection closes
        if any(name == b"connection" and value.lower() == b"close" for name, value in headers):
            state.close = True  # the app asked to close, and its own header already says so
        elif state.close:
            headers.append((b"connection", b"close"))  # RFC 9112 §9.6: say so before closing
        elif request.http_version == "1.0":
            # An HTTP/1.0 client expects the close unless told otherwise (RFC 9112 §9.3): tell it.
            headers.append((b"connection", b"keep-alive"))
        state.started, state.status = True, status
        await write(response_head(status, headers))

    async def send_body(body: bytes, more_body: bool) -> None:
        nonlocal remaining
        data = b""
        if body and not no_body:
            if remaining is not None:
                # Bytes past the app's Content-Length would be read as the start of the next response.
                if len(body) > remaining:
                    raise RuntimeError("the body is longer than the app's content-length")
                remaining -= len(body)
            data = b"%x\r\n%s\r\n" % (len(body), body) if state.chunked else bytes(body)
        if not more_body:
            if state.chunked:
                data += b"0\r\n\r\n"  # the last chunk
            if remaining:
                state.close = True  # shorter than it said: only closing tells the client the body broke
            state.complete = True
            state.finished.set()
        if data:
            await write(data)

    async def write(data: bytes) -> None:
        try:
            writer.write(data)
            await writer.drain()  # back-pressure: wait while the client reads slowly
        except ConnectionError as exc:
            disconnected.set()
            raise ClientDisconnected("the client has closed the connection") from exc

    return receive, send, state


async def wait_for_either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Return as soon as one of the two events is set."""
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


# ---------------------------------------------------------------------------------------------------
# Running the app, and the connection loop
# ---------------------------------------------------------------------------------------------------

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client with ``Expect: 100-continue`` waits for (RFC 9110 §15.2.1)."""


def error_response(status: int) -> bytes:
    """A complete little response of the server's own, and the close that follows it."""
    if status == 500:
        body = b"Internal Server Error"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")]
    else:  # 400, 408, 413, 431: the status says it all
        body, headers = b"", [(b"content-length", b"0")]
    return response_head(status, [*headers, (b"connection", b"close")]) + body


async def run_app(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, response: ResponseState, writer: asyncio.StreamWriter
) -> None:
    """Await the app; repair what can be repaired when it breaks the rules (ASGI HTTP §Response Start).

    - It raised, or returned, before ``http.response.start``: nothing is on the wire yet, so answer
      ``500 Internal Server Error`` ourselves, and close.
    - It raised, or returned, in the middle of the body: the status line is already out and cannot be
      taken back. Close the connection: the client sees a truncated message, not a wrong one.
    """
    try:
        await app(scope, receive, send)
    except Exception as exc:  # the app's bug must not take the server down
        print(f"asgi_server: exception in ASGI application: {exc!r}", file=sys.stderr)
    if not response.started:
        writer.write(error_response(500))
        response.started = response.complete = response.close = True
    elif not response.complete:
        response.close = True


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

    While the app runs, the *next* request is already being read in a task: if that read meets the
    end of the stream, the client has left, and ``receive()`` returns ``http.disconnect``.
    Only the next request's *head* is read ahead: its body (and the ``100 Continue`` a client may wait
    for) comes once this response is complete, so that nothing lands in the middle of it.
    When ``stopping`` is set (the server shuts down), an idle connection closes at once and a busy
    one closes after its response; so does one idle for ``KEEP_ALIVE_TIMEOUT`` seconds. A request with
    an ``Upgrade`` header goes to ``upgrade`` first: when it answers true, the connection was the
    hook's (exercise 18: WebSocket).
    """
    stopping = stopping or asyncio.Event()
    client = writer.get_extra_info("peername")[:2]
    server = writer.get_extra_info("sockname")[:2]
    next_request = asyncio.ensure_future(read_head(reader))

    async def send_continue() -> None:
        writer.write(CONTINUE)
        await writer.drain()

    try:
        while True:
            # The whole head within KEEP_ALIVE_TIMEOUT of the last response: an idle client, or one
            # that trickles its head byte by byte (slow loris), must not hold the connection forever.
            if not await first_of(next_request, stopping, KEEP_ALIVE_TIMEOUT):
                break  # idle for too long, or idle while the server stops: close, nothing to say
            try:
                request = next_request.result()
                if request is not None:
                    request.body = await read_body(reader, request, send_continue)
            except BadRequest as exc:
                writer.write(error_response(exc.status))
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                break
            if request is None:
                break  # the client closed the connection between requests
            if upgrade is not None and request.header(b"upgrade") is not None:
                # Before reading ahead: the bytes after this head may belong to the new protocol.
                if await upgrade(request, reader, writer):
                    return  # the hook served the connection to its end and closed the writer

            disconnected = asyncio.Event()
            next_request = asyncio.ensure_future(read_head(reader))
            next_request.add_done_callback(lambda task, event=disconnected: client_left(task) and event.set())

            scope = build_scope(request, client=client, server=server, state=state)
            receive, send, response = make_receive_send(
                request, writer, disconnected, keep_alive=wants_keep_alive(request)
            )
            await run_app(app, scope, receive, send, response, writer)
            if response.close or disconnected.is_set() or stopping.is_set():
                break
            await writer.drain()
    except (ConnectionError, ClientDisconnected):
        pass
    finally:
        next_request.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await next_request
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def first_of(task: asyncio.Future[Any], stopping: asyncio.Event, timeout: float) -> bool:
    """Wait for ``task``, ``stopping`` or ``timeout`` seconds; true if ``task`` finished first."""
    if not task.done():
        stop_waiter = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait([task, stop_waiter], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_waiter.cancel()
    return task.done()


def client_left(task: asyncio.Future[HTTPRequest | None]) -> bool:
    """Did reading ahead find that the client went away (rather than a pipelined request)?"""
    if task.cancelled():
        return False
    error = task.exception()
    return task.result() is None if error is None else isinstance(error, (ConnectionError, BadRequest))


# ---------------------------------------------------------------------------------------------------
# The server object: an asyncio server on its own loop, driven from another thread
# ---------------------------------------------------------------------------------------------------


class Server:
    """``Server(app, host, port)``: bound at once, served by ``serve_forever()``, stopped by ``shutdown()``.

    Shaped like ``wsgiref``'s server so the same harness drives both: ``server_address`` is known as
    soon as the object exists (port 0 picks a free port), ``serve_forever()`` runs its own event loop
    in the calling thread, and ``shutdown()`` may be called from any thread (or a signal handler).
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.app = app
        # Bind now, not in serve_forever(): the caller learns the port before the loop runs.
        self.socket = socket.create_server((host, port))
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.state: dict[str, Any] | None = None  # what a lifespan startup fills (exercise 16)
        self.upgrade: Upgrade | None = None  # what takes over an Upgrade request (exercise 18)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = False
        self._serving_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._connections: set[asyncio.Task[Any]] = set()

    def serve_forever(self) -> None:
        """Serve until ``shutdown()``; runs a fresh event loop in the calling thread."""
        asyncio.run(self.serve())

    async def serve(self) -> None:
        """Accept connections until asked to stop, then close them and return."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            self._serving_thread = threading.current_thread()
            if self._stop_requested:
                self._stopping.set()
        try:
            # The reader's buffer limit is MAX_HEAD: a head that outgrows it is refused (431) at once.
            server = await asyncio.start_server(self._on_connection, sock=self.socket, limit=MAX_HEAD)
            try:
                await self._stopping.wait()
            finally:
                server.close()  # stop accepting; this closes the listening socket
                await self._close_connections()
        finally:
            self._stopped.set()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Head and body go out as separate writes: with Nagle's algorithm on, the second waits for
        # the client's delayed ACK, which adds about 40 ms to every keep-alive response.
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await serve_connection(
                self.app, reader, writer, state=self.state, stopping=self._stopping, upgrade=self.upgrade
            )
        finally:
            self._connections.discard(task)

    async def _close_connections(self, grace: float = 3.0) -> None:
        """Idle connections close at once; give busy ones ``grace`` seconds, then cancel them."""
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=grace)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=grace)

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to stop; from another thread, also wait until it has."""
        with self._lock:
            self._stop_requested = True
            loop, stopping, thread = self._loop, self._stopping, self._serving_thread
        if loop is None or stopping is None:
            return  # not serving yet: serve() sees _stop_requested and returns at once
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing to stop
            loop.call_soon_threadsafe(stopping.set)
        if threading.current_thread() is not thread:  # never wait in the serving thread (a signal handler)
            self._stopped.wait(10)

    def server_close(self) -> None:
        """Close the listening socket (``serve()`` already did if it ran)."""
        self.socket.close()


# ---------------------------------------------------------------------------------------------------
# The command line: python -m asgi_server module:app --port 8000
# ---------------------------------------------------------------------------------------------------


def import_app(spec: str) -> ASGIApp:  # mutants: skip (given in the stub)
    """``"package.module:attribute"`` -> the object, the way uvicorn and gunicorn name an app."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise SystemExit(f"asgi_server: expected module:attribute, got {spec!r}")
    app: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        app = getattr(app, name)
    return app


def run(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` in this thread until Ctrl-C (SIGINT) or SIGTERM."""
    server = Server(app, host, port)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.shutdown())
    bound_host, bound_port = server.server_address
    print(f"asgi_server: serving on http://{bound_host}:{bound_port} (press Ctrl-C to stop)", flush=True)
    server.serve_forever()  # it closes the listening socket when it stops
    print("asgi_server: stopped", flush=True)


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
    parser = argparse.ArgumentParser(prog="python -m asgi_server", description="Serve an ASGI app over HTTP/1.1.")
    parser.add_argument("app", help="the app to serve, as module:attribute (e.g. myapp:app)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    args = parser.parse_args(argv)
    sys.path.insert(0, ".")  # find module:app in the current folder, as uvicorn does
    run(import_app(args.app), args.host, args.port)


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
