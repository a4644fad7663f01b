"""Exercise 18 — WebSocket support in an ASGI server: the handshake, the frames, the ASGI messages.

A WebSocket begins life as an HTTP request::

    GET /chat HTTP/1.1
    Host: 127.0.0.1:8000
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
    Sec-WebSocket-Version: 13

and, if the app agrees, the server answers (RFC 6455 §4.2.2)::

    HTTP/1.1 101 Switching Protocols
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=

From then on the same TCP connection carries *frames* both ways (RFC 6455 §5.2)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               |Masking-key, if MASK set to 1  |
    +-------------------------------+-------------------------------+
    | Masking-key (continued)       |          Payload Data         |
    +-------------------------------- - - - - - - - - - - - - - - - +

The ASGI app never sees any of this: it gets ``websocket.connect``, ``websocket.receive`` and
``websocket.disconnect`` messages and sends ``websocket.accept``, ``websocket.send`` and
``websocket.close`` (ASGI HTTP & WebSocket spec 2.5). Translating between the two is your job.

This module also serves plain HTTP, minimally (one request per connection, ``Content-Length``
request bodies only): that part is given, so that one server can run a whole Starlette app.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import importlib
import logging
import socket
import sys
import threading
from dataclasses import dataclass, field
from enum import IntEnum
from http import HTTPStatus
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

logger = logging.getLogger("websocket_server")  # mutants: skip (given in the stub)

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]  # mutants: skip (given in the stub)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # mutants: skip (given in the stub)
"""The fixed string every server appends to the client's key (RFC 6455 §1.3)."""

MAX_MESSAGE_SIZE = 16 * 1024 * 1024  # mutants: skip (given in the stub)
"""The largest message (all its fragments together) the server accepts: 16 MiB, as uvicorn."""

CLOSE_TIMEOUT = 5.0  # mutants: skip (given in the stub)
"""Seconds to wait for the client's answer to our close frame before dropping the connection."""


class Opcode(IntEnum):  # mutants: skip (given in the stub)
    """The frame types of RFC 6455 §5.2 (§11.8): data frames below 0x8, control frames from 0x8."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


@dataclass(frozen=True)
class Frame:  # mutants: skip (given in the stub)
    """One frame as read off the wire, payload already unmasked."""

    opcode: int
    payload: bytes
    fin: bool = True
    """True on the last (or only) frame of a message (§5.4)."""
    masked: bool = False
    """Whether the sender masked the payload: every client-to-server frame must be (§5.1)."""


class ProtocolError(Exception):  # mutants: skip (given in the stub)
    """The peer broke RFC 6455: fail the connection with close ``code`` (§7.1.7, codes in §7.4.1)."""

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class ClientDisconnected(OSError):  # mutants: skip (given in the stub)
    """Raised by ``send()`` once the connection is closed (ASGI WebSocket §Disconnected Client, spec 2.4)."""


# ---------------------------------------------------------------------------------------------
# The pieces: pure functions first
# ---------------------------------------------------------------------------------------------


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2 step 5.4).

    base64( SHA-1( key + GUID ) ): the key exactly as sent (still base64 text, not decoded), the
    fixed GUID appended, the 20-byte SHA-1 digest base64-encoded. This proves to the client that
    the server understood the WebSocket handshake, rather than being an HTTP server that ignores it.
    """
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, repeated (RFC 6455 §5.3). Masking twice unmasks."""
    if not data:
        return b""
    # One big-integer XOR instead of a Python loop over each byte: the same result, far faster
    # for large payloads.
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


def build_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """Encode one frame (RFC 6455 §5.2).

    First byte: FIN (0x80) | opcode; the RSV bits are 0 (no extension). Second byte: the MASK bit
    (0x80 if ``mask`` is given) | the payload length, if it is under 126; else 126 followed by the
    length in 2 bytes, or 127 followed by it in 8 bytes (network byte order). Then the 4-byte mask
    and the masked payload, or the payload as is. A server never masks its frames (§5.1): ``mask``
    is for writing clients (and tests).
    """
    first = (0x80 if fin else 0x00) | opcode
    mask_bit = 0x80 if mask is not None else 0x00
    length = len(payload)
    if length < 126:
        header = bytes([first, mask_bit | length])
    elif length < 1 << 16:
        header = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + length.to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


async def read_frame(reader: asyncio.StreamReader, *, max_size: int = MAX_MESSAGE_SIZE) -> Frame:
    """Read exactly one frame from ``reader`` and return it with its payload unmasked (RFC 6455 §5.2).

    Raise ``ProtocolError`` (code 1002) for a frame no extension allows: an RSV bit set, a reserved
    opcode (0x3-0x7, 0xB-0xF), a control frame that is fragmented or longer than 125 bytes (§5.5), a
    64-bit length with its top bit set; and ``ProtocolError`` with code 1009 (message too big) for a
    payload longer than ``max_size``. When the stream ends mid-frame, let
    ``asyncio.IncompleteReadError`` propagate: the connection is gone.
    """
    first, second = await reader.readexactly(2)
    fin = bool(first & 0x80)
    if first & 0x70:
        raise ProtocolError("a reserved bit (RSV1-3) is set, but no extension was negotiated")
    opcode = first & 0x0F
    if opcode not in Opcode._value2member_map_:
        raise ProtocolError(f"reserved opcode {opcode:#x}")
    masked = bool(second & 0x80)
    length = second & 0x7F
    if opcode >= Opcode.CLOSE:
        if not fin:
            raise ProtocolError("control frames must not be fragmented (RFC 6455 §5.5)")
        if length > 125:
            raise ProtocolError("control frame payloads are at most 125 bytes (RFC 6455 §5.5)")
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
        if length >> 63:
            raise ProtocolError("the most significant bit of a 64-bit length must be 0")
    # Check before reading: a peer must not make us buffer a payload we will refuse anyway.
    if length > max_size:
        raise ProtocolError(f"frame of {length} bytes is over the {max_size}-byte limit", code=1009)
    mask = await reader.readexactly(4) if masked else None
    payload = await reader.readexactly(length)
    if mask is not None:
        payload = apply_mask(payload, mask)
    return Frame(opcode=opcode, payload=payload, fin=fin, masked=masked)


def is_valid_close_code(code: int) -> bool:
    """May ``code`` appear in a close frame? (RFC 6455 §7.4.1, §7.4.2, and the IANA registry)."""
    if 3000 <= code <= 4999:  # registered (3000-3999) and private (4000-4999) codes
        return True
    # 1004 is reserved; 1005, 1006 and 1015 must never be sent on the wire; 1012-1014 are registered.
    return code in {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """The (code, reason) of a close frame's payload (RFC 6455 §5.5.1, §7.1.5, §7.4).

    An empty payload means "no status code": report 1005 and ``""``. Otherwise the first two bytes
    are the code (network byte order) and the rest is a UTF-8 reason. Raise ``ProtocolError``
    1002 for a one-byte payload or a code that may not be sent (§7.4.1-2), and 1007 for a reason
    that is not valid UTF-8.
    """
    if not payload:
        return 1005, ""
    # A one-byte payload cannot hold a status code: it reads as a code under 256, never a valid one.
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise ProtocolError(f"close code {code} may not be sent")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("close reason is not valid UTF-8", code=1007) from None
    return code, reason


def build_close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the code in 2 bytes, then the reason in UTF-8 (RFC 6455 §5.5.1).

    1005 ("no status received") is never sent on the wire: it becomes an empty payload.
    """
    if code == 1005:
        return b""
    return code.to_bytes(2, "big") + reason.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The handshake and the scope
# ---------------------------------------------------------------------------------------------


@dataclass
class Request:  # mutants: skip (given in the stub)
    """The head of an HTTP request, as read by ``read_request_head`` (given)."""

    method: str
    target: str
    http_version: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    """Every header as ``(lowercased name, value)`` bytes, in order."""

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lowercase), or ``None``."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def header_tokens(request: Request, name: bytes) -> list[str]:  # mutants: skip (given in the stub)
    """All comma-separated tokens of every ``name`` header, lowercased: ``keep-alive, Upgrade`` -> both."""
    tokens = []
    for key, value in request.headers:
        if key == name:
            tokens += [token.strip().lower() for token in value.decode("latin-1").split(",") if token.strip()]
    return tokens


def wants_websocket(request: Request) -> bool:  # mutants: skip (given in the stub)
    """Does this request ask to become a WebSocket (an ``Upgrade: websocket`` header)? (given)"""
    return "websocket" in header_tokens(request, b"upgrade")


def handshake_error(request: Request) -> tuple[int, list[tuple[bytes, bytes]]] | None:
    """Check an upgrade request against RFC 6455 §4.2.1; return ``(status, headers)`` to refuse it, or ``None``.

    The request must be a ``GET`` over HTTP/1.1 with ``Connection`` listing ``upgrade`` (it may
    list more tokens: compare case-insensitively) and a ``Sec-WebSocket-Key`` that is the base64 of
    16 bytes: otherwise 400 Bad Request. Its ``Sec-WebSocket-Version`` must be ``13``: otherwise
    426 Upgrade Required with a ``Sec-WebSocket-Version: 13`` header telling the client what we
    speak (§4.2.2 step 4, §4.4).
    """
    if request.method != "GET" or request.http_version != "HTTP/1.1":
        return 400, []
    if "upgrade" not in header_tokens(request, b"connection"):
        return 400, []
    key = request.header(b"sec-websocket-key")
    try:
        if key is None or len(base64.b64decode(key, validate=True)) != 16:
            return 400, []
    except binascii.Error:
        return 400, []
    if request.header(b"sec-websocket-version") != b"13":
        return 426, [(b"sec-websocket-version", b"13")]
    return None


def websocket_scope(request: Request, client: tuple[str, int] | None, server: tuple[str, int] | None) -> Scope:
    """The ASGI ``websocket`` connection scope for an upgrade request (ASGI WebSocket §Connection Scope).

    ``path`` is percent-decoded (UTF-8) and ``raw_path`` kept as sent, both without the query;
    ``query_string`` is the raw bytes after ``?``; ``headers`` the request's ``(name, value)`` byte
    pairs; ``subprotocols`` the list from ``Sec-WebSocket-Protocol`` (comma-separated, possibly over
    several headers; ``[]`` if none); ``scheme`` ``"ws"``; ``http_version`` ``"1.1"``;
    ``asgi`` ``{"version": "3.0", "spec_version": "2.5"}``; ``root_path`` ``""``.
    """
    raw_path, _, query = request.target.partition("?")
    subprotocols = []
    for key, value in request.headers:
        if key == b"sec-websocket-protocol":
            subprotocols += [token.strip() for token in value.decode("latin-1").split(",") if token.strip()]
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": unquote(raw_path, encoding="utf-8", errors="replace"),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": list(request.headers),
        "client": client,
        "server": server,
        "subprotocols": subprotocols,
    }


def handshake_response(request: Request, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The ``101 Switching Protocols`` response that completes the handshake (RFC 6455 §4.2.2 step 5).

    ``Upgrade: websocket``, ``Connection: Upgrade``, ``Sec-WebSocket-Accept: accept_key(key)``,
    ``Sec-WebSocket-Protocol: subprotocol`` if the app chose one (``websocket.accept``'s
    ``subprotocol``), then the app's extra ``headers``, then the empty line.
    """
    key = (request.header(b"sec-websocket-key") or b"").decode("latin-1")
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept_key(key).encode("ascii"),
    ]
    if subprotocol is not None:
        lines.append(b"Sec-WebSocket-Protocol: " + subprotocol.encode("latin-1"))
    lines += [bytes(name) + b": " + bytes(value) for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def http_error(status: int, headers: list[tuple[bytes, bytes]] = ()) -> bytes:  # type: ignore[assignment]  # mutants: skip (given in the stub)
    """A short, complete HTTP/1.1 error response that closes the connection (given)."""
    body = f"{status} {HTTPStatus(status).phrase}\n".encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [bytes(name) + b": " + bytes(value) for name, value in headers]
    lines += [b"Content-Type: text/plain", b"Content-Length: %d" % len(body), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# ---------------------------------------------------------------------------------------------
# One WebSocket connection: the ASGI receive/send pair on one side, frames on the other
# ---------------------------------------------------------------------------------------------


class WebSocketConnection:
    """Runs one ASGI app over one upgraded connection (ASGI WebSocket spec 2.5, RFC 6455).

    The life of a connection, and the state names used here:

    - ``"connecting"``: the app gets ``websocket.connect``. It answers ``websocket.accept`` (send
      the 101 response, start reading frames: ``"open"``) or ``websocket.close`` (send 403: the
      handshake fails, ``"closed"``).
    - ``"open"``: frames in become ``websocket.receive`` (text or bytes, fragments joined), pings
      are answered with pongs; ``websocket.send`` becomes a frame out.
    - ``"closing"``: one side sent a close frame; the other answers with one, then the server
      closes TCP (§7.1.1) and the app gets ``websocket.disconnect`` with the code.
    - ``"closed"``: ``send()`` raises ``ClientDisconnected``; ``receive()`` keeps answering
      ``websocket.disconnect``.

    A peer that breaks the protocol gets a close frame with the code of the ``ProtocolError``
    (1002, 1007, 1009) and the TCP connection is closed (§7.1.7).
    """

    def __init__(  # mutants: skip (given in the stub)
        self,
        app: ASGIApp,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        self.app = app
        self.request = request
        self.reader = reader
        self.writer = writer
        self.max_size = max_size
        self.scope = websocket_scope(request, writer.get_extra_info("peername"), writer.get_extra_info("sockname"))
        self.state = "connecting"
        self.close_sent = False
        # What the app will receive, in order. The frame reader fills it; receive() empties it.
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.disconnect_message: Message | None = None
        self.reader_task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Check the handshake, then run the app until it returns, and clean up.

        1. ``handshake_error(self.request)``: if the request is not a valid upgrade, write
           ``http_error(status, headers)`` and return without calling the app.
        2. Queue ``{"type": "websocket.connect"}`` and ``await self.app(self.scope, self.receive, self.send)``.
        3. When the app returns or raises, the connection must not be left half-done: before accept
           an HTTP 500 (the app neither accepted nor refused); after accept a close frame, 1000 if
           the app returned, 1011 ("internal error", §7.4.1) if it raised.
        4. Always ``finish()``.
        """
        refusal = handshake_error(self.request)
        if refusal is not None:
            await self.write(http_error(*refusal))
            return
        self.inbox.put_nowait({"type": "websocket.connect"})
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception:
            logger.exception("the ASGI app raised")
            if self.state == "connecting":
                await self.write(http_error(500))  # no handshake yet: an HTTP error still fits
            elif self.state == "open":
                await self.send_close(1011, "")  # 1011: the server hit an unexpected condition
        else:
            if self.state == "connecting":
                # The app returned without answering the handshake: that is a server error.
                await self.write(http_error(500))
            elif self.state == "open":
                await self.send_close(1000, "")  # the app is done: close normally
        finally:
            await self.finish()

    async def finish(self) -> None:
        """Give the client a moment to answer our close frame, then stop reading and close TCP."""
        if self.reader_task is not None:
            if self.close_sent and not self.reader_task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(self.reader_task), CLOSE_TIMEOUT)
                except asyncio.TimeoutError:
                    pass
            self.reader_task.cancel()
            try:
                await self.reader_task
            except asyncio.CancelledError:
                pass

    # --- the ASGI side ----------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next message for the app: connect, then receives, then disconnect (forever after)."""
        if self.inbox.empty() and self.disconnect_message is not None:
            return self.disconnect_message
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        """Carry out one message from the app, or raise if it does not fit the connection's state.

        - ``"connecting"``: ``websocket.accept`` writes ``handshake_response(...)`` (with the
          message's ``subprotocol`` and ``headers``), becomes ``"open"`` and starts
          ``read_frames()`` as a task; ``websocket.close`` writes ``http_error(403)`` (ASGI
          WebSocket §Close). Anything else is a ``RuntimeError``.
        - ``"open"``: ``websocket.send`` writes one text frame (``"text"``, UTF-8) or one binary
          frame (``"bytes"``) — exactly one of the two is set; ``websocket.close`` calls
          ``send_close(code or 1000, reason or "")``.
        - otherwise the connection is over: raise ``ClientDisconnected`` (an ``OSError``, ASGI 2.4).
        """
        kind = message.get("type")
        if self.state == "connecting":
            if kind == "websocket.accept":
                extra = [(bytes(name), bytes(value)) for name, value in message.get("headers") or []]
                await self.write(handshake_response(self.request, message.get("subprotocol"), extra))
                self.state = "open"
                self.reader_task = asyncio.create_task(self.read_frames())
            elif kind == "websocket.close":
                # Closing before accepting refuses the handshake (ASGI WebSocket §Close).
                await self.write(http_error(403))
                self.disconnected(1006, "")  # the app may still receive(): no WebSocket, no close frame
            else:
                raise RuntimeError(f"expected websocket.accept or websocket.close first, got {kind!r}")
        elif self.state == "open":
            if kind == "websocket.send":
                text, data = message.get("text"), message.get("bytes")
                if (text is None) == (data is None):
                    raise RuntimeError("websocket.send needs exactly one of 'text' and 'bytes'")
                if text is not None:
                    await self.write(build_frame(Opcode.TEXT, text.encode("utf-8")))
                else:
                    await self.write(build_frame(Opcode.BINARY, bytes(data)))
            elif kind == "websocket.close":
                await self.send_close(message.get("code") or 1000, message.get("reason") or "")
            else:
                raise RuntimeError(f"unexpected {kind!r} on an open WebSocket")
        else:
            raise ClientDisconnected(f"cannot send {kind!r}: the WebSocket is closed")

    # --- the wire side ----------------------------------------------------------------------

    async def write(self, data: bytes) -> None:  # mutants: skip (given in the stub)
        """Write bytes and wait until they are handed to the OS; ``ClientDisconnected`` if gone (given)."""
        if self.writer.is_closing():
            raise ClientDisconnected("the connection is closed")
        self.writer.write(data)
        try:
            await self.writer.drain()
        except ConnectionError as exc:
            raise ClientDisconnected(str(exc)) from exc

    async def send_close(self, code: int, reason: str) -> None:
        """Start (or answer) the closing handshake: one close frame, only ever one (§5.5.1)."""
        if self.close_sent:
            return
        self.close_sent = True
        self.state = "closing"
        try:
            await self.write(build_frame(Opcode.CLOSE, build_close_payload(code, reason)))
        except ClientDisconnected:
            pass

    def disconnected(self, code: int, reason: str) -> None:
        """Tell the app, once, that the connection is over."""
        if self.disconnect_message is None:
            self.disconnect_message = {"type": "websocket.disconnect", "code": code, "reason": reason}
            self.inbox.put_nowait(self.disconnect_message)
        self.state = "closed"

    async def read_frames(self) -> None:
        """Read frames until the connection ends, turning them into ASGI messages (runs as a task).

        - a frame without a mask: ``ProtocolError`` (§5.1);
        - ping: answer a pong with the same payload, at once, even between fragments (§5.5.2-3);
        - pong: ignore;
        - close: ``parse_close_payload``, answer with ``send_close(code)``, then
          ``disconnected(code, reason)`` and close the writer (the server closes TCP, §7.1.1);
        - text/binary/continuation: collect fragments (a continuation with nothing to continue,
          or a new message before the last one's FIN, is a ``ProtocolError``, §5.4); at FIN queue
          one ``websocket.receive`` — ``"text"`` must be valid UTF-8 (else 1007, §8.1).

        On ``ProtocolError``: close frame with its code, ``disconnected``, close the writer. When the
        stream ends without a close frame (``asyncio.IncompleteReadError``): ``disconnected(1006, "")``.
        """
        message_opcode: int | None = None  # TEXT or BINARY while a fragmented message is open
        fragments: list[bytes] = []
        size = 0
        try:
            while True:
                frame = await read_frame(self.reader, max_size=self.max_size)
                if not frame.masked:
                    raise ProtocolError("client frames must be masked (RFC 6455 §5.1)")
                if frame.opcode == Opcode.PING:
                    # Control frames may arrive between the fragments of a message (§5.4):
                    # answer at once, with the same payload (§5.5.3).
                    if not self.close_sent:
                        await self.write(build_frame(Opcode.PONG, frame.payload))
                    continue
                if frame.opcode == Opcode.PONG:
                    continue  # unsolicited pongs are allowed and need no answer (§5.5.3)
                if frame.opcode == Opcode.CLOSE:
                    code, reason = parse_close_payload(frame.payload)
                    # Echo the code if we had not sent a close frame yet (§5.5.1), then hang up.
                    await self.send_close(code, "")
                    self.disconnected(code, reason)
                    self.writer.close()
                    return
                if frame.opcode == Opcode.CONTINUATION:
                    if message_opcode is None:
                        raise ProtocolError("a continuation frame with no message to continue")
                else:
                    if message_opcode is not None:
                        raise ProtocolError("a new message began before the last one's final fragment")
                    message_opcode = frame.opcode
                fragments.append(frame.payload)
                size += len(frame.payload)
                if size > self.max_size:
                    raise ProtocolError(f"message over the {self.max_size}-byte limit", code=1009)
                if not frame.fin:
                    continue
                data = b"".join(fragments)
                opcode, message_opcode, fragments, size = message_opcode, None, [], 0
                if opcode == Opcode.TEXT:
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ProtocolError("a text message that is not valid UTF-8", code=1007) from None
                    self.inbox.put_nowait({"type": "websocket.receive", "text": text, "bytes": None})
                else:
                    self.inbox.put_nowait({"type": "websocket.receive", "bytes": data, "text": None})
        except ProtocolError as exc:
            # Fail the connection (§7.1.7): say why in a close frame, then close TCP.
            logger.info("closing a WebSocket with %d: %s", exc.code, exc)
            await self.send_close(exc.code, "")
            self.disconnected(exc.code, "")
            self.writer.close()
        except (asyncio.IncompleteReadError, ConnectionError, ClientDisconnected):
            self.disconnected(1006, "")  # closed without a close frame: "abnormal closure"


# ---------------------------------------------------------------------------------------------
# The server (given: minimal HTTP, one request per connection; WebSocket via the class above)
# ---------------------------------------------------------------------------------------------


async def read_request_head(reader: asyncio.StreamReader) -> Request | None:  # mutants: skip (given in the stub)
    """Read a request line and headers; ``None`` if the client sent nothing usable (given)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3:
        return None
    headers = []
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon:
            return None
        headers.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
    return Request(method=parts[0], target=parts[1], http_version=parts[2], headers=headers)


async def serve_http(app: ASGIApp, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # mutants: skip (given in the stub)
    """Run ``app`` for one plain HTTP request and write its response; the connection then closes (given)."""
    raw_path, _, query = request.target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": request.http_version.removeprefix("HTTP/"),
        "method": request.method,
        "scheme": "http",
        "path": unquote(raw_path, encoding="utf-8", errors="replace"),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": request.headers,
        "client": writer.get_extra_info("peername"),
        "server": writer.get_extra_info("sockname"),
    }
    length = int(request.header(b"content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    body_sent = False
    response_started = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Future()  # one request per connection: the only thing left is to wait
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal response_started
        if message["type"] == "http.response.start":
            response_started = True
            status = message["status"]
            lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
            lines += [bytes(n) + b": " + bytes(v) for n, v in message.get("headers", []) if bytes(n).lower() != b"connection"]
            lines.append(b"Connection: close")  # the body ends when we close: no length needed
            writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        elif message["type"] == "http.response.body":
            writer.write(message.get("body", b""))
            await writer.drain()

    try:
        await app(scope, receive, send)
    except Exception:
        logger.exception("the ASGI app raised")
        if not response_started:
            writer.write(http_error(500))


class Server:  # mutants: skip (given in the stub)
    """An asyncio ASGI server for HTTP (minimal) and WebSocket, shaped like ``socketserver`` servers.

    ``Server(app, host, port)`` binds at once (port 0 picks a free port: read ``server_address``);
    ``serve_forever()`` runs the event loop in the calling thread until ``shutdown()`` is called
    from another thread; ``server_close()`` releases the socket.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.app = app
        self.socket = socket.create_server((host, port))
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._shutdown_requested = False
        self._connections: set[asyncio.Task[None]] = set()

    def serve_forever(self) -> None:
        asyncio.run(self._serve())

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to return (from any thread), and do not wait for it."""
        self._shutdown_requested = True
        if self._ready.wait(5) and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def server_close(self) -> None:
        self.socket.close()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, sock=self.socket)
        self._ready.set()
        try:
            if not self._shutdown_requested:
                await self._stop.wait()
        finally:
            server.close()
            # Open connections (a WebSocket may last forever) end with the server.
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            request = await read_request_head(reader)
            if request is None:
                return
            if wants_websocket(request):
                await WebSocketConnection(self.app, request, reader, writer).run()
            else:
                await serve_http(self.app, request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass


def load_app(spec: str) -> ASGIApp:  # mutants: skip (given in the stub)
    """``"module:attribute"`` -> the ASGI app it names (given)."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "app")


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
    """``python -m websocket_server module:app --port 8000`` (given)."""
    parser = argparse.ArgumentParser(prog="python -m websocket_server", description=__doc__.splitlines()[0])
    parser.add_argument("app", help="the ASGI app to serve, as module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    sys.path.insert(0, ".")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    server = Server(load_app(args.app), args.host, args.port)
    host, port = server.server_address
    print(f"Serving on http://{host}:{port} (ws://{host}:{port}) — Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
