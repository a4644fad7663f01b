"""Exercise 15 — an ASGI server, built on ``asyncio.Protocol`` (a second, independent solution).

The pieces are the ones the README names, and work on ``asyncio`` streams as documented. What differs
from the obvious build:

- the head is parsed line by line with regular expressions (a bare LF ends a line too, RFC 9112 §2.2);
- ``send()`` is a small class, and it *defers* the status line until the first body message (ASGI
  HTTP §Response Start: servers "need not flush" it earlier), so an app that fails between
  ``http.response.start`` and its first body still gets an honest ``500``;
- the ``Server`` is ``loop.create_server()`` with its own ``Protocol``, which feeds a
  ``StreamReader`` and hands a small writer over the bare transport to ``serve_connection()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import importlib
import ipaddress
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Upgrade = Callable[["HTTPRequest", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""``upgrade(request, reader, writer) -> bool``: what may take over a connection (``serve_connection``)."""

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
"""What every scope says under ``"asgi"``. 2.4: ``send()`` raises ``OSError`` once the client left."""

MAX_HEAD = 64 * 1024
"""Request line plus header lines (and the trailer of a chunked body): more is refused with 431."""
MAX_HEADERS = 100
MAX_BODY = 1024 * 1024
"""The whole body is read before the app runs, so it is bounded: more is refused with 413."""
READ_LIMIT = 64 * 1024
"""The StreamReader's buffer: reading pauses when twice this much is waiting (back-pressure)."""
KEEP_ALIVE_TIMEOUT = 5.0
"""Seconds the server waits for the client: for the next head, or for the next bytes of a body."""
SHUTDOWN_GRACE = 3.0
"""Seconds busy connections get to finish their response when the server stops."""
CLOSE_TIMEOUT = 2.0
"""Seconds to flush what is buffered when closing, before the connection is aborted."""


class BadRequest(ValueError):
    """The bytes on the wire are not an HTTP/1.1 request: the server answers ``400`` and closes."""

    status = 400
    """The status to answer with: a few cases have a more precise one than 400."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
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

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 9110 §5.6.2
_REQUEST_LINE = re.compile(rb"(?P<method>" + _TOKEN + rb") (?P<target>[^\x00-\x20\x7f]+) HTTP/(?P<major>\d)\.(?P<minor>\d)")
# No whitespace between name and colon (RFC 9112 §5.1 says reject it); OWS around the value is not part of it.
_FIELD_LINE = re.compile(rb"(?P<name>" + _TOKEN + rb"):[ \t]*(?P<value>[^\x00\r]*?)[ \t]*")
_CHUNK_SIZE = re.compile(rb"(?P<size>[0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r]*)?")


@dataclass
class _Head:
    """A request without its body yet: what ``_read_head`` gives, and ``_read_body`` completes."""

    method: str
    target: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
    chunked: bool
    length: int

    @property
    def has_body(self) -> bool:
        return self.chunked or self.length > 0


class _LineReader:
    """Lines from a StreamReader, each without its line ending, within one byte budget.

    With ``patience``, a line that takes longer than that to arrive is a stalled client (``TimeoutError``).
    """

    def __init__(self, reader: asyncio.StreamReader, budget: int, patience: float | None = None) -> None:
        self.reader = reader
        self.budget = budget
        self.patience = patience

    async def line(self) -> bytes | None:
        """The next line, or ``None`` when the stream ended before its first byte."""
        try:
            raw = await asyncio.wait_for(self.reader.readline(), self.patience)
        except ValueError:  # the line outgrew the reader's buffer limit
            raise BadRequest("a header line is too long", 431) from None
        if not raw:
            return None
        self.budget -= len(raw)
        if self.budget < 0:
            raise BadRequest("the request head is too large", 431)
        if not raw.endswith(b"\n"):
            raise BadRequest("the stream ended in the middle of a line")
        # CRLF is the line ending; a bare LF is accepted too, and a CR before it ignored (RFC 9112 §2.2).
        return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]

    async def required_line(self) -> bytes:
        line = await self.line()
        if line is None:
            raise BadRequest("the stream ended in the middle of a request")
        return line


def _parse_fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Field lines -> ``(lower-cased name, value)`` pairs, in order, repeats kept (RFC 9112 §5)."""
    fields: list[tuple[bytes, bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            # obs-fold (RFC 9112 §5.2): a server rejects it with 400 or unfolds it; this one rejects it,
            # as it does whitespace before the first header (§2.2).
            raise BadRequest("a header line that starts with whitespace (obs-fold)")
        match = _FIELD_LINE.fullmatch(line)
        if match is None:
            raise BadRequest(f"not a header line: {line[:80]!r}")
        fields.append((match["name"].lower(), match["value"]))
    return fields


_REG_NAME = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=")
"""RFC 3986 §3.2.2 reg-name (and IPv4address): unreserved, pct-encoded, sub-delims."""


def _valid_host(value: bytes) -> bool:
    """``Host = uri-host [ ":" port ]`` (RFC 9110 §7.2): an IPv6 literal in brackets or a reg-name, port digits."""
    if value.startswith(b"["):
        end = value.find(b"]")
        if end < 0:
            return False
        try:
            ipaddress.IPv6Address(value[1:end].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return False
        port = value[end + 1 :]
    else:
        name, colon, digits = value.partition(b":")
        if any(byte not in _REG_NAME for byte in name):
            return False
        port = colon + digits
    return port in (b"", b":") or (port.startswith(b":") and port[1:].isdigit())


def _check_host(version: str, headers: list[tuple[bytes, bytes]]) -> None:
    """RFC 9112 §3.2: one Host in HTTP/1.1 (none or one in HTTP/1.0), and a valid one; else 400."""
    hosts = [value for name, value in headers if name == b"host"]
    if len(hosts) not in ({1} if version == "1.1" else {0, 1}):
        raise BadRequest(f"{len(hosts)} Host header lines in an HTTP/{version} request")
    for value in hosts:
        if not _valid_host(value):
            raise BadRequest(f"not a valid Host: {value[:80]!r}")


def _body_framing(version: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, int]:
    """``(chunked, content_length)`` for a request, by the rules of RFC 9112 §6.1 and §6.3."""
    codings = [c.strip().lower() for n, v in headers if n == b"transfer-encoding" for c in v.split(b",") if c.strip()]
    lengths = [part.strip() for n, v in headers if n == b"content-length" for part in v.split(b",")]
    if codings:
        if version == "1.0":
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")  # §6.1: the framing is faulty
        if lengths:
            raise BadRequest("both Transfer-Encoding and Content-Length")  # §6.3: a server may reject it
        if codings != [b"chunked"]:
            # chunked must come last, once (§6.3, §7); a coding this server cannot decode is 501 (RFC 9110 §10.1.4).
            well_framed = codings[-1] == b"chunked" and codings.count(b"chunked") == 1
            raise BadRequest(f"unsupported transfer coding {b', '.join(codings)!r}", 501 if well_framed else 400)
        return True, 0
    if not lengths:
        return False, 0
    if not all(value.isdigit() for value in lengths) or len(set(map(int, lengths))) != 1:
        raise BadRequest(f"invalid Content-Length {lengths!r}")  # RFC 9110 §8.6: equal repeats are fine
    length = int(lengths[0])
    if length > MAX_BODY:
        raise BadRequest(f"a body of {length} bytes is too large", 413)
    return False, length


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    """The request line and the field lines; ``None`` when the stream ends before a request starts."""
    lines = _LineReader(reader, MAX_HEAD)
    request_line = await lines.line()
    # A server should ignore empty lines before the request line (RFC 9112 §2.2): some clients send one.
    while request_line == b"":
        request_line = await lines.line()
    if request_line is None:
        return None
    match = _REQUEST_LINE.fullmatch(request_line)
    if match is None:
        raise BadRequest(f"not an HTTP/1.x request line: {request_line[:80]!r}")
    if match["major"] != b"1":
        raise BadRequest(f"HTTP/{match['major'].decode()} is not spoken here", 505)
    # A higher minor version is treated as the highest one this server speaks (RFC 9110 §2.5).
    version = "1.0" if match["minor"] == b"0" else "1.1"

    field_lines = []
    while (line := await lines.required_line()) != b"":
        field_lines.append(line)
        if len(field_lines) > MAX_HEADERS:
            raise BadRequest("too many header lines", 431)
    headers = _parse_fields(field_lines)
    _check_host(version, headers)
    chunked, length = _body_framing(version, headers)
    return _Head(match["method"].decode("ascii"), match["target"], version, headers, chunked, length)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body (RFC 9112 §7.1): sizes in hex, extensions ignored, trailer lines dropped."""
    lines = _LineReader(reader, MAX_HEAD, patience=KEEP_ALIVE_TIMEOUT)
    parts: list[bytes] = []
    total = 0
    while True:
        match = _CHUNK_SIZE.fullmatch(await lines.required_line())
        if match is None:
            raise BadRequest("not a chunk-size line")
        size = int(match["size"], 16)
        if size == 0:
            break
        total += size
        if total > MAX_BODY:
            raise BadRequest("the chunked body is too large", 413)
        parts.append(await _receive(reader, size))
        if await lines.required_line() != b"":
            raise BadRequest("chunk data longer than its size")
    # The trailer section ends with an empty line; its fields are not passed on (RFC 9112 §7.1.2 allows it).
    while await lines.required_line() != b"":
        pass
    return b"".join(parts)


async def _receive(reader: asyncio.StreamReader, size: int) -> bytes:
    """``size`` bytes of a body; a client silent for ``KEEP_ALIVE_TIMEOUT`` raises ``TimeoutError``.

    The patience is per read, not for the whole body: a slow but steady upload is fine.
    """
    buffer = bytearray()
    while len(buffer) < size:
        data = await asyncio.wait_for(reader.read(size - len(buffer)), KEEP_ALIVE_TIMEOUT)
        if not data:
            raise asyncio.IncompleteReadError(bytes(buffer), size)
        buffer += data
    return bytes(buffer)


async def _read_body(reader: asyncio.StreamReader, head: _Head) -> HTTPRequest:
    try:
        if head.chunked:
            body = await _read_chunked(reader)
        else:
            body = await _receive(reader, head.length)
    except asyncio.IncompleteReadError:
        raise BadRequest("the stream ended in the middle of the body") from None
    return HTTPRequest(head.method, head.target, head.http_version, head.headers, body)


def _expects_continue(head: _Head) -> bool:
    """An HTTP/1.1 client with a body and ``Expect: 100-continue`` waits for the 100 (RFC 9110 §10.1.1)."""
    return head.has_body and head.http_version == "1.1" and b"100-continue" in _tokens(_last(head.headers, b"expect"))


async def read_http_request(
    reader: asyncio.StreamReader, *, send_continue: Callable[[], Awaitable[None]] | None = None
) -> HTTPRequest | None:
    """Read one request from ``reader``: the head, then the whole body. ``None`` at a clean end of stream.

    ``BadRequest`` for malformed input (its ``status`` says what to answer: usually 400). When the
    client waits for ``100 Continue`` and ``send_continue`` is given, it is awaited before the body.
    """
    head = await _read_head(reader)
    if head is None:
        return None
    if send_continue is not None and _expects_continue(head):
        await send_continue()
    return await _read_body(reader, head)


# ---------------------------------------------------------------------------------------------------
# The scope (ASGI HTTP §HTTP Connection Scope)
# ---------------------------------------------------------------------------------------------------

_ABSOLUTE_FORM = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*://[^/?]*")


def build_scope(
    request: HTTPRequest,
    *,
    client: tuple[str, int] | None,
    server: tuple[str, int] | None,
    root_path: str = "",
    state: dict[str, Any] | None = None,
) -> Scope:
    """The ``http`` scope for ``request``: every key of ASGI HTTP §HTTP Connection Scope."""
    target = request.target
    # absolute-form (``GET http://host/p HTTP/1.1``, RFC 9112 §3.2.2) must be accepted: keep its path.
    if prefix := _ABSOLUTE_FORM.match(target):
        target = target[prefix.end() :] or b"/"
    raw_path, _, query_string = target.partition(b"?")
    scope: Scope = {
        "type": "http",
        "asgi": dict(ASGI_VERSION),
        "http_version": request.http_version,  # "1.0" or "1.1", as the client spoke
        "method": request.method.upper(),
        "scheme": "http",
        # Percent-decode to bytes first, then read them as UTF-8: "%C3%A9" is one character.
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": list(request.headers),
        "client": client,
        "server": server,
    }
    if state is not None:
        scope["state"] = dict(state)  # a shallow copy: one request's additions never reach the next
    return scope


# ---------------------------------------------------------------------------------------------------
# receive and send (ASGI HTTP §Request, §Response Start, §Response Body, §Disconnect)
# ---------------------------------------------------------------------------------------------------


@dataclass
class ResponseState:
    """What ``send()`` has done so far; the connection loop reads it after the app returns."""

    started: bool = False
    """The app sent ``http.response.start`` (accepted; it goes on the wire with the first body)."""
    complete: bool = False
    """The last ``http.response.body`` (``more_body`` false) was sent."""
    status: int | None = None
    chunked: bool = False
    """The body goes out as chunks because the app gave no Content-Length."""
    close: bool = False
    """The connection must close after this response (asked for, or the body is delimited by close)."""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the response is complete: wakes a ``receive()`` that waits for ``http.disconnect``."""
    head_sent: bool = False
    """The status line and headers are on the wire: from now on a failure can only close."""
    disconnected: asyncio.Event | None = None
    """The connection loop's "the client left" event, so that leaving early is not logged as an app bug."""


_NO_BODY_STATUSES = {204, 304}  # and every 1xx (RFC 9110 §6.4.1)
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_TOKEN_RE = re.compile(_TOKEN)
_date_cache: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """``Date`` (RFC 9110 §6.6.1: an origin server with a clock sends it), computed once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True).encode("ascii"))
    return _date_cache[1]


def _render_head(status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
    # The reason phrase is left empty: HTTP/1.1 allows it (RFC 9112 §4) and clients ignore it; ASGI has none.
    lines = [b"HTTP/1.1 %d \r\n" % status]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def _tokens(value: bytes) -> set[bytes]:
    return {token.strip().lower() for token in value.split(b",")}


class _Exchange:
    """One request's ``receive`` and ``send``, enforcing the ASGI message order."""

    def __init__(self, request: HTTPRequest, writer: Any, disconnected: asyncio.Event, keep_alive: bool) -> None:
        self.request = request
        self.writer = writer
        self.disconnected = disconnected
        self.keep_alive = keep_alive
        self.state = ResponseState(disconnected=disconnected)
        self.body_delivered = False
        self.head = b""
        self.no_body = False
        self.remaining: int | None = None  # bytes the app's Content-Length still promises

    # -- receive -------------------------------------------------------------------------------

    async def receive(self) -> Message:
        if not self.body_delivered:
            self.body_delivered = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
        waiters = [asyncio.ensure_future(self.state.finished.wait()), asyncio.ensure_future(self.disconnected.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return {"type": "http.disconnect"}

    # -- send ----------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if self.state.complete:
            raise RuntimeError(f"send({kind!r}) after the response was complete")
        if kind == "http.response.start" and not self.state.started:
            self._start(message)
        elif kind == "http.response.body" and self.state.started:
            await self._body(message)
        elif kind in ("http.response.start", "http.response.body"):
            order = "a second http.response.start" if self.state.started else "http.response.body before http.response.start"
            raise RuntimeError(f"ASGI message out of order: {order}")
        else:
            raise RuntimeError(f"unknown ASGI HTTP message type {kind!r}")

    def _start(self, message: Message) -> None:
        """Check the start and prepare the head; nothing is written until the first body message."""
        status = message.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise RuntimeError(f"http.response.start needs an integer status 100-599, got {status!r}")
        request_close = not self.keep_alive
        headers: list[tuple[bytes, bytes]] = []
        lengths: set[bytes] = set()
        has_date = False
        for pair in message.get("headers", []):
            name, value = pair
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise RuntimeError(f"header names and values must be bytes, got {pair!r}")
            if not _TOKEN_RE.fullmatch(name) or _BAD_VALUE.search(value):
                raise RuntimeError(f"invalid response header {pair!r}")  # no header injection
            lower = name.lower()
            if lower == b"transfer-encoding":
                continue  # the server owns the framing: ASGI says to ignore the app's
            if lower == b"content-length":
                lengths.add(value.strip())
            elif lower == b"connection" and b"close" in _tokens(value):
                request_close = True
            elif lower == b"date":
                has_date = True
            headers.append((name, value))
        if len(lengths) > 1 or not all(value.isdigit() for value in lengths):
            raise RuntimeError(f"invalid content-length in the response: {sorted(lengths)!r}")

        state = self.state
        self.no_body = self.request.method.upper() == "HEAD" or status < 200 or status in _NO_BODY_STATUSES
        if status < 200 or status == 204:
            headers = [(n, v) for n, v in headers if n.lower() != b"content-length"]  # RFC 9110 §8.6: MUST NOT
        elif lengths and not self.no_body:
            self.remaining = int(next(iter(lengths)))
        elif not self.no_body:
            if self.request.http_version == "1.1":
                state.chunked = True
                headers.append((b"Transfer-Encoding", b"chunked"))
            else:
                request_close = True  # HTTP/1.0 has no chunks: the end of the connection ends the body
        if not has_date:
            headers.append((b"Date", _http_date()))
        if request_close:
            headers.append((b"Connection", b"close"))
        elif self.request.http_version == "1.0":
            headers.append((b"Connection", b"keep-alive"))  # a 1.0 client keeps it open only if told

        state.started, state.status, state.close = True, status, request_close
        self.head = _render_head(status, headers)

    async def _body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise RuntimeError(f"http.response.body needs bytes, got {type(body).__name__}")
        more = bool(message.get("more_body", False))
        if self.remaining is not None and len(body) > self.remaining:
            raise RuntimeError("the body is longer than the content-length the app gave")
        if self.disconnected.is_set() or self.writer.is_closing():
            raise ClientDisconnected("the client has disconnected")

        pieces: list[bytes] = []
        if not self.state.head_sent:
            pieces.append(self.head)
        if self.no_body:
            pass  # HEAD, 1xx, 204, 304: whatever the app sends, no content goes out
        elif self.state.chunked:
            if body:  # an empty chunk would read as the last one
                pieces += [b"%X\r\n" % len(body), bytes(body), b"\r\n"]
            if not more:
                pieces.append(b"0\r\n\r\n")
        elif body:
            pieces.append(bytes(body))
            if self.remaining is not None:
                self.remaining -= len(body)

        if pieces:
            # Small pieces go out as one write (one packet); a large body is not copied to join it.
            if sum(map(len, pieces)) <= 65536:
                self.writer.write(b"".join(pieces))
            else:
                for piece in pieces:
                    self.writer.write(piece)
            self.state.head_sent = True
            try:
                await self.writer.drain()
            except ConnectionError as exc:
                raise ClientDisconnected("the client has disconnected") from exc

        if not more:
            if self.remaining:  # the app promised more than it sent: only a close tells the client
                self.state.close = True
            self.state.complete = True
            self.state.finished.set()


def make_receive_send(
    request: HTTPRequest,
    writer: asyncio.StreamWriter,
    disconnected: asyncio.Event,
    *,
    keep_alive: bool = True,
) -> tuple[Receive, Send, ResponseState]:
    """The ``receive`` and ``send`` awaitables for one request, and the ``ResponseState`` they share.

    ``send`` checks the message order (``RuntimeError``, nothing written), frames the body
    (Content-Length, chunked, or close for HTTP/1.0) and raises ``ClientDisconnected`` once the client
    left. The head is written together with the first body message.
    """
    exchange = _Exchange(request, writer, disconnected, keep_alive)
    return exchange.receive, exchange.send, exchange.state


# ---------------------------------------------------------------------------------------------------
# Running the app, and the connection loop
# ---------------------------------------------------------------------------------------------------


def _error_response(status: int, reason: bytes, *, head_only: bool = False) -> bytes:
    """A complete little plain-text error response that closes the connection."""
    body = b"" if head_only else reason + b"\n"
    headers = [
        (b"Content-Type", b"text/plain; charset=utf-8"),
        (b"Content-Length", b"%d" % len(reason + b"\n")),
        (b"Date", _http_date()),
        (b"Connection", b"close"),
    ]
    return _render_head(status, headers) + body


async def run_app(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, response: ResponseState, writer: asyncio.StreamWriter
) -> None:
    """Await ``app(scope, receive, send)``; repair what can be repaired when it breaks the rules.

    Nothing on the wire yet (no start, or a start without a body): answer ``500`` and close.
    The head is out: the body is broken, so mark ``response.close``.
    """
    try:
        await app(scope, receive, send)
    except ClientDisconnected:
        response.close = True  # we raised it ourselves: the client left, nothing to log (ASGI 2.4)
        return
    except Exception:
        print(f"asgi_server: the app raised on {scope.get('method')} {scope.get('path')!r}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
    else:
        client_left = response.disconnected is not None and response.disconnected.is_set()
        if not response.complete and not client_left:
            print(f"asgi_server: the app returned before its response was complete ({scope.get('path')!r})", file=sys.stderr)
    if response.complete:
        return
    if not response.head_sent:
        response.status, response.complete, response.close = 500, True, True
        with contextlib.suppress(OSError):
            writer.write(_error_response(500, b"Internal Server Error", head_only=scope.get("method") == "HEAD"))
            await writer.drain()
        response.finished.set()
    else:
        response.close = True  # the status line is gone: closing is the only honest signal left


def _address(value: Any) -> tuple[str, int] | None:
    """``get_extra_info("peername")`` -> ``(host, port)``; ``None`` for a Unix socket or unknown."""
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def _wants_keep_alive(request: HTTPRequest) -> bool:
    """RFC 9112 §9.3: HTTP/1.1 persists unless ``close``; HTTP/1.0 only with ``keep-alive``."""
    options: set[bytes] = set()
    for name, value in request.headers:
        if name == b"connection":
            options |= _tokens(value)
    if request.http_version == "1.1":
        return b"close" not in options
    return b"keep-alive" in options and b"close" not in options


def _means_client_left(task: asyncio.Future) -> bool:
    """Did the read of the next request end because the client went away?"""
    if task.cancelled():
        return False
    exc = task.exception()
    return (exc is None and task.result() is None) or isinstance(exc, (OSError, EOFError))


async def _close(writer: Any) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except (asyncio.TimeoutError, OSError):
        transport = getattr(writer, "transport", None)
        if transport is not None:
            transport.abort()  # a peer that never reads must not hold the connection forever


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

    While the app runs, the head of the next request is already being read: its end of stream is how
    ``http.disconnect`` learns that the client left. Its body is read only once the current response
    is complete, so that a ``100 Continue`` never lands inside another response.

    A request that names an ``Upgrade`` is offered to ``upgrade`` once its body is in and before
    anything else happens to it; a hook that says yes has used the connection up.
    """
    client = _address(writer.get_extra_info("peername"))
    server = _address(writer.get_extra_info("sockname"))
    stopping = stopping or asyncio.Event()
    next_head: asyncio.Future | None = None
    stop_waiter = asyncio.ensure_future(stopping.wait())
    try:
        while True:
            if next_head is None:
                next_head = asyncio.ensure_future(_read_head(reader))
            # Idle: wait for a request, for the server to stop, or for the keep-alive timeout.
            await asyncio.wait([next_head, stop_waiter], timeout=KEEP_ALIVE_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
            if not next_head.done():
                break  # stopping, or idle too long: an idle connection may close at any time (§9.5)
            head, next_head = next_head.result(), None  # a BadRequest is raised here
            if head is None:
                break
            if _expects_continue(head):
                # The client waits for this before it sends the body (RFC 9110 §10.1.1).
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            request = await _read_body(reader, head)
            if upgrade is not None and _offers_upgrade(request) and await upgrade(request, reader, writer):
                break  # nothing was read ahead: the hook had the rest of the stream, and has finished with it

            keep_alive = _wants_keep_alive(request) and not stopping.is_set()
            disconnected = asyncio.Event()
            receive, send, response = make_receive_send(request, writer, disconnected, keep_alive=keep_alive)
            scope = build_scope(request, client=client, server=server, state=state)
            next_head = asyncio.ensure_future(_read_head(reader))
            next_head.add_done_callback(lambda task, event=disconnected: event.set() if _means_client_left(task) else None)
            await run_app(app, scope, receive, send, response, writer)
            if response.close or not keep_alive or stopping.is_set() or disconnected.is_set():
                break
    except BadRequest as exc:
        with contextlib.suppress(OSError):
            reason = str(exc).encode("ascii", "replace")
            writer.write(_error_response(exc.status, reason))
            await writer.drain()
    except OSError:
        pass  # the connection broke: nobody is left to answer
    finally:
        stop_waiter.cancel()
        if next_head is not None:
            next_head.cancel()
            with contextlib.suppress(BaseException):
                await next_head
        await _close(writer)


def _offers_upgrade(request: HTTPRequest) -> bool:
    """Does the request carry an ``Upgrade`` header (RFC 9110 §7.8), whatever protocols it names?"""
    return any(name == b"upgrade" for name, _ in request.headers)


def _last(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    return next((value for key, value in reversed(headers) if key == name), b"")


# ---------------------------------------------------------------------------------------------------
# The server object: loop.create_server() with a Protocol, on its own loop, driven from another thread
# ---------------------------------------------------------------------------------------------------


class _TransportWriter:
    """The part of ``asyncio.StreamWriter`` that ``serve_connection()`` uses, over a bare transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _HTTPProtocol) -> None:
        self.transport = transport
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's buffer is over its high-water mark (flow control)."""
        if self.protocol.lost:
            raise ConnectionResetError("the connection was lost")
        if self.protocol.can_write is not None:
            await self.protocol.can_write

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        self.transport.close()

    async def wait_closed(self) -> None:
        await asyncio.shield(self.protocol.closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)


class _HTTPProtocol(asyncio.Protocol):
    """One connection: bytes in go to a StreamReader, the connection loop runs as a task."""

    def __init__(self, server: Server) -> None:
        self.server = server
        loop = asyncio.get_running_loop()
        self.reader = asyncio.StreamReader(limit=READ_LIMIT)
        self.closed: asyncio.Future[None] = loop.create_future()
        self.can_write: asyncio.Future[None] | None = None  # pending while writing is paused
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.reader.set_transport(transport)  # lets the reader pause reading when its buffer is full
        writer = _TransportWriter(transport, self)
        server = self.server
        task = asyncio.ensure_future(
            serve_connection(server.app, self.reader, writer, state=server.state, stopping=server.stopping, upgrade=server.upgrade)
        )
        self.server.connections.add(task)
        task.add_done_callback(self.server.connections.discard)

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return True  # keep our side open: the connection loop decides when to close

    def pause_writing(self) -> None:
        self.can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_result(None)
        self.can_write = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if exc is None:
            self.reader.feed_eof()
        else:
            self.reader.set_exception(exc)
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_exception(ConnectionResetError("the connection was lost"))
            self.can_write.exception()  # retrieved: no "exception never retrieved" warning
        if not self.closed.done():
            self.closed.set_result(None)


class Server:
    """``Server(app, host, port)``: bound at once, served by ``serve_forever()``, stopped by ``shutdown()``."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.app = app
        self.state: dict[str, Any] | None = None
        self.upgrade: Upgrade | None = None  # a protocol that may take an Upgrade request over (exercise 18)
        self.socket = socket.create_server((host, port), backlog=128)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.connections: set[asyncio.Task[None]] = set()
        self.stopping: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._shutdown_requested = False
        self._serving_thread: int | None = None  # the thread whose loop serves (None: not serving yet)
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        """Serve until ``shutdown()``: ``asyncio.run(self.serve())``."""
        with self._lock:
            self._serving_thread = threading.get_ident()
        try:
            asyncio.run(self.serve())
        finally:
            self._stopped.set()

    async def serve(self) -> None:
        """Accept connections until asked to stop; then let busy ones finish (``SHUTDOWN_GRACE``)."""
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        wake = asyncio.Event()
        with self._lock:
            self._loop, self._wake = loop, wake
            self._serving_thread = threading.get_ident()
            if self._shutdown_requested:
                wake.set()
        try:
            listener = await loop.create_server(lambda: _HTTPProtocol(self), sock=self.socket)
            try:
                await wake.wait()
            finally:
                listener.close()  # stop accepting (this closes the listening socket too)
                self.stopping.set()  # idle connections close now, busy ones after their response
                if self.connections:
                    _done, late = await asyncio.wait(set(self.connections), timeout=SHUTDOWN_GRACE)
                    for task in late:
                        task.cancel()
                    await asyncio.gather(*late, return_exceptions=True)
        finally:
            with self._lock:
                self._loop = self._wake = None
            self._stopped.set()

    def shutdown(self) -> None:
        """Ask the server to stop, from any thread or a signal handler; from another thread, wait until it has."""
        with self._lock:
            self._shutdown_requested = True
            loop, wake, serving_thread = self._loop, self._wake, self._serving_thread
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: it has stopped anyway
                loop.call_soon_threadsafe(wake.set)
        # Waiting in the serving thread itself (a signal handler there) would wait forever.
        if serving_thread is not None and serving_thread != threading.get_ident():
            self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket (it is fine if it is closed already)."""
        self.socket.close()


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
    """Serve ``app`` in this thread until Ctrl-C (SIGINT) or SIGTERM."""
    server = Server(app, host, port)

    def stop(signum: int, frame: Any) -> None:
        server.shutdown()  # in the loop's thread: it asks, and returns at once

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    bound_host, bound_port = server.server_address
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"asgi_server: serving on http://{shown}:{bound_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


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
