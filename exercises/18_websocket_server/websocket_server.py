"""Exercise 18 — WebSocket for your own ASGI server: the handshake, the frames, the ASGI messages.

A WebSocket begins life as an HTTP request that your exercise-15 server has already parsed::

    GET /chat HTTP/1.1
    Host: 127.0.0.1:8000
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
    Sec-WebSocket-Version: 13

15's ``serve_connection()`` hands every request with an ``Upgrade`` header to ``Server.upgrade``
before anything else. This module makes that hook (``upgrade_handler(app)``); if the app agrees, the
hook answers (RFC 6455 §4.2.2)::

    HTTP/1.1 101 Switching Protocols
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=

and from then on the same TCP connection carries *frames* both ways (RFC 6455 §5.2)::

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

Two layers, in the order you write them:

- **the protocol core, sans-IO** (bytes in, frames out, no socket, no event loop: h11's shape):
  ``accept_key``, ``handshake_error``, ``handshake_response``, ``websocket_scope``, the close
  payloads, ``build_frame`` for frames out, ``FrameDecoder`` and ``MessageAssembler`` for frames in;
- **the ASGI bridge** over the reader/writer pair 15 hands over: ``WebSocketConnection`` and
  ``upgrade_handler``. ``websocket_serving.py`` (given) plugs it into your 15's ``Server``.

The ASGI app never sees a frame: it gets ``websocket.connect``, ``websocket.receive`` and
``websocket.disconnect`` messages and sends ``websocket.accept``, ``websocket.send`` and
``websocket.close`` (ASGI HTTP & WebSocket spec 2.5).

This module never imports exercise 15: its core is graded on its own, and the hook only needs what
every 15 hands it (a request with 15's ``HTTPRequest`` fields, a ``StreamReader``, a writer).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

logger = logging.getLogger("websocket_server")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Upgrade = Callable[[Any, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""Exercise 15's upgrade hook: ``await hook(request, reader, writer)`` -> did it take the connection?"""

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The fixed string every server appends to the client's key (RFC 6455 §1.3)."""

MAX_MESSAGE_SIZE = 16 * 1024 * 1024
"""The largest message (all its fragments together) the server accepts: 16 MiB, as uvicorn."""

CLOSE_TIMEOUT = 5.0
"""Seconds to wait for the client's answer to our close frame before dropping the connection."""

READ_SIZE = 65536
"""How many bytes ``read_frames()`` asks the reader for at a time (any size reads the same frames)."""


class Opcode(IntEnum):
    """The frame types of RFC 6455 §5.2 (§11.8): data frames below 0x8, control frames from 0x8."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


@dataclass(frozen=True)
class Frame:
    """One frame from the client, payload already unmasked."""

    opcode: int
    payload: bytes
    fin: bool = True
    """True on the last (or only) frame of a message (§5.4)."""


class ProtocolError(Exception):
    """The peer broke RFC 6455: fail the connection with close ``code`` (§7.1.7, codes in §7.4.1)."""

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class ClientDisconnected(OSError):
    """Raised by ``send()`` once the connection is closed (ASGI WebSocket §Disconnected Client, spec 2.4)."""


# ---------------------------------------------------------------------------------------------
# The protocol core, sans-IO: keys, masks, frames out
# ---------------------------------------------------------------------------------------------


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2 step 5.4).

    base64( SHA-1( key + GUID ) ): the key exactly as sent (still base64 text, not decoded), the
    fixed GUID appended, the 20-byte SHA-1 digest base64-encoded. This proves to the client that
    the server understood the WebSocket handshake, rather than being an HTTP server that ignores it.
    """
    raise NotImplementedError("write accept_key() in websocket_server.py")


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, repeated (RFC 6455 §5.3). Masking twice unmasks."""
    raise NotImplementedError("write apply_mask() in websocket_server.py")


def build_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """Encode one frame (RFC 6455 §5.2).

    First byte: FIN (0x80) | opcode; the RSV bits are 0 (no extension). Second byte: the MASK bit
    (0x80 if ``mask`` is given) | the payload length, if it is under 126; else 126 followed by the
    length in 2 bytes, or 127 followed by it in 8 bytes (network byte order): always the shortest
    form that holds it. Then the 4-byte mask and the masked payload, or the payload as is. A server
    never masks its frames (§5.1): ``mask`` is for writing clients (and tests).
    """
    raise NotImplementedError("write build_frame() in websocket_server.py")


# ---------------------------------------------------------------------------------------------
# The protocol core, sans-IO: frames in, messages out
# ---------------------------------------------------------------------------------------------


class FrameDecoder:
    """Bytes in, frames out: the server's side of RFC 6455 §5 framing, with no I/O at all (h11's shape).

    ``feed()`` takes whatever bytes the socket gave, however they were cut (half a header, three
    frames and a bit), and returns the frames they complete; an incomplete frame waits in the
    decoder for the next ``feed()``. No reader, no ``await``: a test can feed it one byte at a time.
    """

    def __init__(self, *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        """An empty decoder (a ``bytearray`` buffer is all it needs); a payload over ``max_size``
        bytes is refused (1009)."""
        raise NotImplementedError("write FrameDecoder.__init__() in websocket_server.py")

    def feed(self, data: bytes) -> list[Frame]:
        """Add the bytes that arrived; return every frame they complete, in order, payloads unmasked.

        A frame (§5.2): 2 header bytes (``first & 0x80`` FIN, ``first & 0x70`` the RSV bits,
        ``first & 0x0F`` the opcode; ``second & 0x80`` MASK, ``second & 0x7F`` the length), then 2
        more bytes of length if the 7 bits say 126, 8 if they say 127 (network byte order), then the
        4-byte mask, then the payload (``apply_mask`` it). Until all of a frame is here, keep its
        bytes and return what is complete (maybe ``[]``).

        Raise ``ProtocolError`` (code 1002) as soon as the bytes show a frame this server refuses:

        - an RSV bit set (no extension was negotiated);
        - a reserved opcode (0x3-0x7, 0xB-0xF);
        - a control frame (opcode 0x8 and up) that is fragmented (FIN clear) or longer than 125
          bytes (§5.5);
        - a frame without a mask: every client-to-server frame is masked (§5.1, §5.3);
        - a length not in its shortest form: 126 then a value under 126, or 127 then a value under
          65536 ("the minimal number of bytes MUST be used", §5.2);
        - a 64-bit length with its most significant bit set;

        and ``ProtocolError(..., code=1009)`` (message too big) for a payload longer than
        ``max_size``, as soon as its length is known: do not wait for, or keep, a payload you will
        refuse anyway.
        """
        raise NotImplementedError("write FrameDecoder.feed() in websocket_server.py")


class MessageAssembler:
    """Data frames in, whole ASGI messages out (RFC 6455 §5.4 fragmentation, §8.1 UTF-8)."""

    def __init__(self, *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        """No message open yet; a message over ``max_size`` bytes, all its fragments counted, is
        refused (1009)."""
        raise NotImplementedError("write MessageAssembler.__init__() in websocket_server.py")

    def add(self, frame: Frame) -> Message | None:
        """Take one data frame (opcode 0, 1 or 2, in the order they came: control frames never come
        here); return the ASGI message once its last fragment came, else ``None``.

        - A text (0x1) or binary (0x2) frame starts a message; continuation frames (0x0) add to it;
          the one with FIN ends it, and the next frame starts a new message (§5.4).
        - A continuation with no message to continue, or a text or binary frame while a message is
          still open, is a ``ProtocolError`` (1002).
        - The whole message, every fragment counted, may be at most ``max_size`` bytes: raise
          ``ProtocolError(..., code=1009)`` as soon as the fragments so far are over it.
        - A text message must be valid UTF-8, else ``ProtocolError(..., code=1007)`` (§8.1). One
          character may be split between two fragments: decode the message, not each fragment.
        - The message: ``{"type": "websocket.receive", "text": str}`` for text,
          ``{"type": "websocket.receive", "bytes": bytes}`` for binary (ASGI WebSocket §Receive:
          the other key is absent or ``None``).
        """
        raise NotImplementedError("write MessageAssembler.add() in websocket_server.py")


def is_valid_close_code(code: int) -> bool:
    """May ``code`` appear in a close frame? (RFC 6455 §7.4.1, §7.4.2, and the IANA registry)."""
    raise NotImplementedError("write is_valid_close_code() in websocket_server.py")


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """The (code, reason) of a close frame's payload (RFC 6455 §5.5.1, §7.1.5, §7.4).

    An empty payload means "no status code": report 1005 and ``""``. Otherwise the first two bytes
    are the code (network byte order) and the rest is a UTF-8 reason. Raise ``ProtocolError``
    1002 for a one-byte payload or a code that may not be sent (§7.4.1-2), and 1007 for a reason
    that is not valid UTF-8.
    """
    raise NotImplementedError("write parse_close_payload() in websocket_server.py")


def build_close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the code in 2 bytes, then the reason in UTF-8 (RFC 6455 §5.5.1).

    1005 ("no status received") is never sent on the wire: it becomes an empty payload.
    """
    raise NotImplementedError("write build_close_payload() in websocket_server.py")


# ---------------------------------------------------------------------------------------------
# The protocol core, sans-IO: the handshake and the scope
# ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    """The fields of exercise 15's ``HTTPRequest`` that a handshake reads (given).

    The hook gets 15's own ``HTTPRequest``; this class has the same fields and the same ``header()``,
    so that the tests (and you, in a REPL) can make one without exercise 15.
    """

    method: str
    """``"GET"``, ``"POST"``, ... (upper case, as sent)."""
    target: bytes
    """The request target exactly as sent: ``b"/caf%C3%A9?q=1"``."""
    http_version: str = "1.1"
    """``"1.1"`` or ``"1.0"``."""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    """Every header as ``(name, value)`` bytes, names lower-cased, values stripped, repeats kept."""

    def header(self, name: bytes) -> bytes | None:
        """The last value of header ``name`` (lower case), or ``None``."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


def header_tokens(request: Any, name: bytes) -> list[str]:
    """All comma-separated tokens of every ``name`` header, lowercased: ``keep-alive, Upgrade`` -> both."""
    tokens = []
    for key, value in request.headers:
        if key == name:
            tokens += [token.strip().lower() for token in value.decode("latin-1").split(",") if token.strip()]
    return tokens


def wants_websocket(request: Any) -> bool:
    """Does this request ask to become a WebSocket (an ``Upgrade: websocket`` header)? (given)"""
    return "websocket" in header_tokens(request, b"upgrade")


def handshake_error(request: Request) -> tuple[int, list[tuple[bytes, bytes]]] | None:
    """Check an upgrade request against RFC 6455 §4.2.1; return ``(status, headers)`` to refuse it, or ``None``.

    The request must be a ``GET`` over HTTP/1.1 (``http_version`` ``"1.1"``) with ``Connection``
    listing ``upgrade`` (it may list more tokens: compare case-insensitively) and a
    ``Sec-WebSocket-Key`` that is the base64 of 16 bytes (``base64.b64decode(key, validate=True)``):
    otherwise 400 Bad Request. Its ``Sec-WebSocket-Version`` must be ``13``: otherwise 426 Upgrade
    Required (or 400) with a ``Sec-WebSocket-Version: 13`` header telling the client what we speak
    (§4.2.2 step 4, §4.4).
    """
    raise NotImplementedError("write handshake_error() in websocket_server.py")


def websocket_scope(request: Request, client: tuple[str, int] | None, server: tuple[str, int] | None) -> Scope:
    """The ASGI ``websocket`` connection scope for an upgrade request (ASGI WebSocket §Connection Scope).

    ``path`` is percent-decoded (UTF-8, a bad byte replaced, not an error) and ``raw_path`` kept as
    sent, both without the query; ``query_string`` is the raw bytes after ``?``; ``headers`` the
    request's ``(name, value)`` byte pairs; ``subprotocols`` the list from
    ``Sec-WebSocket-Protocol`` (comma-separated, possibly over several headers; ``[]`` if none);
    ``scheme`` ``"ws"``; ``http_version`` ``"1.1"``; ``asgi`` ``{"version": "3.0", "spec_version":
    "2.5"}``; ``root_path`` ``""``; ``client`` and ``server`` as given.
    """
    raise NotImplementedError("write websocket_scope() in websocket_server.py")


def handshake_response(request: Request, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The ``101 Switching Protocols`` response that completes the handshake (RFC 6455 §4.2.2 step 5).

    ``Upgrade: websocket``, ``Connection: Upgrade``, ``Sec-WebSocket-Accept: accept_key(key)``,
    ``Sec-WebSocket-Protocol: subprotocol`` if the app chose one (``websocket.accept``'s
    ``subprotocol``), then the app's extra ``headers``, then the empty line.
    """
    raise NotImplementedError("write handshake_response() in websocket_server.py")


def http_error(status: int, headers: list[tuple[bytes, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    """A short, complete HTTP/1.1 error response that closes the connection (given)."""
    body = f"{status} {HTTPStatus(status).phrase}\n".encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [bytes(name) + b": " + bytes(value) for name, value in headers]
    lines += [b"Content-Type: text/plain", b"Content-Length: %d" % len(body), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# ---------------------------------------------------------------------------------------------
# The ASGI bridge: one WebSocket over the reader/writer pair exercise 15 hands over
# ---------------------------------------------------------------------------------------------


def peer_address(value: Any) -> tuple[str, int] | None:
    """``writer.get_extra_info("peername")`` -> ``(host, port)``, or ``None`` when unknown (given)."""
    return (value[0], value[1]) if isinstance(value, (tuple, list)) and len(value) >= 2 else None


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

    ``reader`` is the ``asyncio.StreamReader`` exercise 15 read the request from (the bytes after
    its head are the first frames); ``writer`` is its writer: ``write()``, ``await drain()``,
    ``is_closing()``, ``close()``, ``get_extra_info()``.
    """

    def __init__(
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
        client, server = (peer_address(writer.get_extra_info(name)) for name in ("peername", "sockname"))
        self.scope = websocket_scope(request, client, server)
        self.state = "connecting"
        self.close_sent = False
        # The sans-IO core does the protocol; this class only moves bytes and messages.
        self.decoder = FrameDecoder(max_size=max_size)
        self.assembler = MessageAssembler(max_size=max_size)
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
        raise NotImplementedError("write WebSocketConnection.run() in websocket_server.py")

    async def finish(self) -> None:
        """Give the client a moment to answer our close frame, then stop reading.

        If a close frame went out and the reader task still runs, wait for it (it ends when the
        client's close frame comes) up to ``CLOSE_TIMEOUT`` seconds; then cancel it.
        """
        raise NotImplementedError("write WebSocketConnection.finish() in websocket_server.py")

    # --- the ASGI side ----------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next message for the app: connect, then receives, then disconnect (forever after)."""
        raise NotImplementedError("write WebSocketConnection.receive() in websocket_server.py")

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
        raise NotImplementedError("write WebSocketConnection.send() in websocket_server.py")

    # --- the wire side ----------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
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
        raise NotImplementedError("write WebSocketConnection.send_close() in websocket_server.py")

    def disconnected(self, code: int, reason: str) -> None:
        """Tell the app, once, that the connection is over."""
        raise NotImplementedError("write WebSocketConnection.disconnected() in websocket_server.py")

    async def read_frames(self) -> None:
        """Read from the client until the connection ends, turning its frames into ASGI messages.

        Runs as a task from the accept on: ``data = await self.reader.read(READ_SIZE)``, then every
        frame ``self.decoder.feed(data)`` completes:

        - ping: answer a pong with the same payload, at once, even between fragments (§5.5.2-3);
        - pong: ignore;
        - close: ``parse_close_payload``, answer with ``send_close(code, "")`` (echoing the code is
          "typical", §5.5.1; 1000 is as good an answer), then ``disconnected(code, reason)`` and close
          the writer (the server closes TCP, §7.1.1). A close frame whose code may not be sent
          (``is_valid_close_code``) is a protocol error: 1002;
        - data: ``self.assembler.add(frame)``; a message it completes goes to the app's inbox.

        On ``ProtocolError``: close frame with its code, ``disconnected``, close the writer. When the
        stream ends (``read()`` gives ``b""``) or breaks (``ConnectionError``), without a close
        frame: ``disconnected(1006, "")``.
        """
        raise NotImplementedError("write WebSocketConnection.read_frames() in websocket_server.py")


def upgrade_handler(app: ASGIApp, *, max_size: int = MAX_MESSAGE_SIZE) -> Upgrade:
    """The hook for exercise 15's ``Server.upgrade``: WebSocket for ``app``, plugged into your HTTP server.

    Your 15 awaits ``hook(request, reader, writer)`` for every request with an ``Upgrade`` header,
    before anything else for that request. A request that does not ask for ``Upgrade: websocket``
    (``wants_websocket``) is not ours: ``False``, and 15 serves it as plain HTTP. Any other: run
    ``WebSocketConnection(app, request, reader, writer, max_size=max_size)`` to its end, close the
    writer whatever happened, and return ``True``: the connection was ours, 15 writes nothing more.
    """
    raise NotImplementedError("write upgrade_handler() in websocket_server.py")
