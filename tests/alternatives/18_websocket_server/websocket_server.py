"""Exercise 18 — WebSocket for an exercise-15 server (a second, independent solution).

The same pieces as the README names, built another way:

- ``FrameDecoder`` is a small state machine (header, extended length, mask, payload) that consumes
  bytes as they come and unmasks the payload piece by piece, rather than re-reading a buffer;
- ``MessageAssembler`` decodes text incrementally, so bad UTF-8 fails at the fragment that carries it;
- ``WebSocketConnection.send()`` is a table from (state, message type) to a method, and a long
  message goes out in fragments of ``FRAGMENT_SIZE``;
- the hook is an object (``UpgradeHandler``), and the 101 says ``Date`` and ``Server`` too;
- a refused ``Sec-WebSocket-Version`` is a 400 (the RFC's §4.4 example), not a 426.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import contextlib
import hashlib
import logging
import re
import struct
from dataclasses import dataclass, field
from email.utils import formatdate
from enum import IntEnum, StrEnum
from http import HTTPStatus
from typing import Any, Awaitable, Callable
from urllib.parse import unquote_to_bytes

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

FRAGMENT_SIZE = 64 * 1024
"""The largest frame the server sends: a longer message goes out in fragments (RFC 6455 §5.4)."""

SERVER_NAME = b"websocket_server (callable-katas)"
"""The ``Server`` header of the 101 response: harmless, and it tells a debugging client who answered."""


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
# The pieces: pure functions first
# ---------------------------------------------------------------------------------------------


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2 step 5.4).

    base64( SHA-1( key + GUID ) ), the key taken as the text the client sent (never base64-decoded).
    """
    return base64.b64encode(hashlib.sha1((key + GUID).encode("latin-1")).digest()).decode("ascii")


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, repeated (RFC 6455 §5.3). Masking twice unmasks."""
    size = len(data)
    if size == 0:
        return b""
    # One big-integer XOR instead of a Python loop over every byte: the repeated key, cut to the
    # payload's length, lines up byte for byte with the payload when both are read big-endian.
    key = (bytes(mask) * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def build_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """Encode one frame (RFC 6455 §5.2); ``mask`` is for clients and tests, a server never masks (§5.1)."""
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"an opcode is 4 bits, got {opcode!r}")
    payload = bytes(payload)
    first = (0x80 if fin else 0x00) | opcode  # RSV1-3 stay 0: no extension is negotiated
    mask_bit = 0x00 if mask is None else 0x80
    size = len(payload)
    # The length always takes the fewest bytes that hold it (§5.2: "the minimal number of bytes MUST be used").
    if size <= 125:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if mask is None:
        return header + payload
    if len(mask) != 4:
        raise ValueError(f"a masking key is 4 bytes, got {len(mask)}")
    return header + bytes(mask) + apply_mask(payload, mask)


_DEFINED_OPCODES = frozenset(int(opcode) for opcode in Opcode)
_HEADER, _LENGTH, _MASK, _PAYLOAD = "header", "extended length", "mask", "payload"


class FrameDecoder:
    """Bytes in, frames out (RFC 6455 §5.2), as a state machine that never reads a byte twice.

    The decoder is always waiting for one thing: the 2 header bytes, the 2 or 8 bytes of an extended
    length, the 4 mask bytes, or the rest of a payload. ``feed()`` hands each wait the bytes it needs
    and keeps the rest for the next one; a payload is unmasked as its pieces come, with the mask
    rotated to where the piece starts.
    """

    def __init__(self, *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_size = max_size
        self._pending = bytearray()  # bytes of the part now awaited (header, length or mask)
        self._start_frame()

    def _start_frame(self) -> None:
        self._step, self._need = _HEADER, 2
        self._fin, self._opcode, self._length = True, 0, 0
        self._mask = b""
        self._payload: list[bytes] = []
        self._received = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Take the bytes that arrived; return the frames they complete (RFC 6455 §5.2), in order."""
        view = memoryview(bytes(data))
        frames: list[Frame] = []
        while True:
            if self._step == _PAYLOAD:
                view = self._take_payload(view)
                if self._received < self._length:
                    return frames
                frames.append(Frame(opcode=self._opcode, payload=b"".join(self._payload), fin=self._fin))
                self._start_frame()
                continue
            wanted = self._need - len(self._pending)
            self._pending += view[:wanted]
            view = view[wanted:]
            if len(self._pending) < self._need:
                return frames
            part, self._pending = bytes(self._pending), bytearray()
            {_HEADER: self._on_header, _LENGTH: self._on_length, _MASK: self._on_mask}[self._step](part)

    def _on_header(self, part: bytes) -> None:
        first, second = part
        self._fin, self._opcode = bool(first & 0x80), first & 0x0F
        short = second & 0x7F
        if first & 0x70:
            raise ProtocolError("an RSV bit is set, but no extension was negotiated (§5.2)")
        if self._opcode not in _DEFINED_OPCODES:
            raise ProtocolError(f"opcode {self._opcode:#x} is reserved (§5.2)")
        if self._opcode >= 0x8 and (not self._fin or short > 125):
            raise ProtocolError("a control frame is never fragmented and carries at most 125 bytes (§5.5)")
        if not second & 0x80:
            raise ProtocolError("a client frame without a mask (§5.1)")
        if short < 126:
            self._set_length(short)
        else:
            self._step, self._need = _LENGTH, 2 if short == 126 else 8

    def _on_length(self, part: bytes) -> None:
        (length,) = struct.unpack("!H" if len(part) == 2 else "!Q", part)
        if length >> 63:
            raise ProtocolError("the most significant bit of a 64-bit length must be 0 (§5.2)")
        shortest = 126 if len(part) == 2 else 0x10000
        if length < shortest:
            raise ProtocolError(f"the length {length} is not in its shortest form (§5.2)")
        self._set_length(length)

    def _set_length(self, length: int) -> None:
        if length > self.max_size:
            # Refuse now: a peer must not make us wait for (and keep) a payload we will never accept.
            raise ProtocolError(f"a {length}-byte frame is over the {self.max_size}-byte limit", 1009)
        self._length = length
        self._step, self._need = _MASK, 4

    def _on_mask(self, part: bytes) -> None:
        self._mask = part
        self._step = _PAYLOAD

    def _take_payload(self, view: memoryview) -> memoryview:
        """Unmask as much of the payload as ``view`` holds; return what is left after it."""
        count = min(self._length - self._received, len(view))
        if count:
            offset = self._received % 4
            rotated = self._mask[offset:] + self._mask[:offset]
            self._payload.append(apply_mask(bytes(view[:count]), rotated))
            self._received += count
        return view[count:]


# The codes below 3000 that a close frame may carry: the RFC's own (§7.4.1, less the three that are
# never sent: 1005, 1006, 1015; and 1004, reserved) and those IANA registered since (1012-1014).
_SENDABLE_PROTOCOL_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_valid_close_code(code: int) -> bool:
    """May ``code`` appear in a close frame? (RFC 6455 §7.4.1, §7.4.2, and the IANA registry)."""
    # 3000-3999: registered with IANA by libraries and frameworks; 4000-4999: private use (§7.4.2).
    return code in _SENDABLE_PROTOCOL_CODES or 3000 <= code <= 4999


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """The (code, reason) of a close frame's payload: (1005, "") when empty (RFC 6455 §5.5.1, §7.1.5).

    ``ProtocolError`` 1002 for a one-byte payload or a code that may not be sent, 1007 for a reason
    that is not UTF-8.
    """
    if not payload:
        return 1005, ""
    if len(payload) < 2:
        raise ProtocolError("a close payload holds a 2-byte code, got 1 byte (§5.5.1)")
    (code,) = struct.unpack_from("!H", payload)
    if not is_valid_close_code(code):
        raise ProtocolError(f"close code {code} may not be sent on the wire (§7.4)")
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("the close reason is not valid UTF-8 (§5.5.1)", 1007) from None
    return code, reason


MAX_CLOSE_REASON = 123
"""Bytes left for the reason in a close frame: 125 (a control frame's limit) less the 2-byte code."""


def build_close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the code in 2 bytes, then the reason in UTF-8 (RFC 6455 §5.5.1).

    1005 ("no status received") is never sent on the wire: it becomes an empty payload. A reason
    too long for a control frame is cut, at a character boundary, to fit.
    """
    if code == 1005:
        return b""
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CLOSE_REASON:
        # errors="ignore" drops the partial character the cut may leave at the end.
        encoded = encoded[:MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")
    return struct.pack("!H", code) + encoded


# ---------------------------------------------------------------------------------------------
# The handshake and the scope
# ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    """The fields of exercise 15's ``HTTPRequest`` that a handshake reads (given)."""

    method: str
    target: bytes
    http_version: str = "1.1"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

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


_HTTP_VERSION = re.compile(r"(?:HTTP/)?(?P<major>\d)\.(?P<minor>\d)")

# The request target: an optional "scheme://authority" (absolute form, RFC 9112 §3.2.2), the path,
# then an optional "?query". A fragment is never sent, so "#" has no special meaning here.
_TARGET = re.compile(rb"(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?]*)?(?P<path>[^?]*)(?:\?(?P<query>.*))?", re.DOTALL)


def _is_websocket_key(value: bytes | None) -> bool:
    """Is ``value`` the base64 encoding of exactly 16 bytes (RFC 6455 §4.2.1 item 5)?"""
    if value is None:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def handshake_error(request: Request) -> tuple[int, list[tuple[bytes, bytes]]] | None:
    """Check an upgrade request against RFC 6455 §4.2.1; return ``(status, headers)`` to refuse it, or ``None``.

    A malformed opening handshake is a 400 Bad Request. An unknown ``Sec-WebSocket-Version`` is
    refused with 400 too, the status RFC 6455 §4.4 shows, plus ``Sec-WebSocket-Version: 13`` to tell
    the client what we speak (§4.2.2 step 4 allows "an appropriate HTTP error code").
    """
    version = _HTTP_VERSION.fullmatch(request.http_version)
    # Each rule is one line of §4.2.1; the first one broken decides the answer.
    rules: list[tuple[bool, str]] = [
        (request.method == "GET", "the method must be GET"),
        (version is not None and (int(version["major"]), int(version["minor"])) >= (1, 1), "HTTP/1.1 or higher"),
        (request.header(b"host") is not None, "a Host header"),
        ("websocket" in header_tokens(request, b"upgrade"), "Upgrade: websocket"),
        ("upgrade" in header_tokens(request, b"connection"), "Connection listing upgrade"),
        (_is_websocket_key(request.header(b"sec-websocket-key")), "a Sec-WebSocket-Key of 16 base64 bytes"),
    ]
    for ok, rule in rules:
        if not ok:
            logger.info("refusing a WebSocket handshake: expected %s", rule)
            return 400, []
    if (request.header(b"sec-websocket-version") or b"").strip() != b"13":
        return 400, [(b"sec-websocket-version", b"13")]
    return None


def _subprotocols(request: Request) -> list[str]:
    """The offered subprotocols, in order, over every ``Sec-WebSocket-Protocol`` header.

    Not ``header_tokens``: subprotocol names are compared as sent, case included (RFC 6455 §11.3.4).
    """
    offered: list[str] = []
    for name, value in request.headers:
        if name == b"sec-websocket-protocol":
            offered += [token.strip() for token in value.decode("latin-1").split(",") if token.strip()]
    return offered


def websocket_scope(request: Request, client: tuple[str, int] | None, server: tuple[str, int] | None) -> Scope:
    """The ASGI ``websocket`` connection scope for an upgrade request (ASGI WebSocket §Connection Scope)."""
    target = _TARGET.fullmatch(request.target)
    assert target is not None  # every string matches: each part of the pattern is optional
    raw_path = target["path"] or b"/"
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        # Every version we accept (1.1 and above, all text-framed) is "1.1" in ASGI's terms.
        "http_version": "1.1",
        "scheme": "ws",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": target["query"] or b"",
        "root_path": "",
        "headers": list(request.headers),
        "client": client,
        "server": server,
        "subprotocols": _subprotocols(request),
    }


# Headers the handshake itself owns: an app's "headers" may not replace them (ASGI WebSocket §Accept
# says the subprotocol goes in "subprotocol", never in "headers").
_HANDSHAKE_FIELDS = frozenset({b"upgrade", b"connection", b"sec-websocket-accept", b"sec-websocket-protocol"})


def _field(name: bytes, value: bytes) -> bytes:
    """One header line, refusing bytes that would end the line early (header injection)."""
    if any(c in name + value for c in (b"\r", b"\n", b"\0")) or not name or b":" in name:
        raise ValueError(f"invalid header {name!r}: {value!r}")
    return name + b": " + value + b"\r\n"


def handshake_response(request: Request, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The ``101 Switching Protocols`` response that completes the handshake (RFC 6455 §4.2.2 step 5)."""
    key = (request.header(b"sec-websocket-key") or b"").decode("latin-1")
    extra = [(bytes(name).lower(), bytes(value)) for name, value in headers]
    fields: list[tuple[bytes, bytes]] = [
        # Names in lower case and "upgrade" as the Connection token: both compare case-insensitively
        # (RFC 9110 §5.1, §7.6.1), and lower case is what ASGI apps already use.
        (b"sec-websocket-accept", accept_key(key).encode("ascii")),
        (b"upgrade", b"websocket"),
        (b"connection", b"upgrade"),
    ]
    if subprotocol:
        fields.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    given = {name for name, _ in extra}
    for name, default in ((b"date", formatdate(usegmt=True).encode("ascii")), (b"server", SERVER_NAME)):
        if name not in given:  # the app's own Date or Server wins
            fields.append((name, default))
    fields += [(name, value) for name, value in extra if name not in _HANDSHAKE_FIELDS]
    # The reason phrase is for people: a client ignores it (RFC 9112 §4), only the 101 counts.
    return b"HTTP/1.1 101 Switching to WebSocket\r\n" + b"".join(_field(n, v) for n, v in fields) + b"\r\n"


def http_error(status: int, headers: list[tuple[bytes, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    """A short, complete HTTP/1.1 error response that closes the connection (given)."""
    body = f"{status} {HTTPStatus(status).phrase}\n".encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [bytes(name) + b": " + bytes(value) for name, value in headers]
    lines += [b"Content-Type: text/plain", b"Content-Length: %d" % len(body), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# ---------------------------------------------------------------------------------------------
# One WebSocket connection: the ASGI receive/send pair on one side, frames on the other
# ---------------------------------------------------------------------------------------------


def peer_address(value: Any) -> tuple[str, int] | None:
    """``writer.get_extra_info("peername")`` -> ``(host, port)``, or ``None`` when unknown (given)."""
    return (value[0], value[1]) if isinstance(value, (tuple, list)) and len(value) >= 2 else None


class State(StrEnum):
    """The four states of a connection (a ``StrEnum``: each equals its name, ``"open"`` and so on)."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class MessageAssembler:
    """Joins the frames of one data message (RFC 6455 §5.4), checking its size and UTF-8 as they come.

    Text is decoded incrementally, so a bad byte fails the connection at the frame that carries it
    rather than after the whole message has been buffered (§8.1 allows failing "as soon as").
    """

    def __init__(self, *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_size = max_size
        self._reset()

    def _reset(self) -> None:
        self.opcode: int | None = None
        self.size = 0
        self.parts: list[Any] = []
        self.decoder: codecs.IncrementalDecoder | None = None

    def add(self, frame: Frame) -> Message | None:
        """Take one data frame; return the ``websocket.receive`` message once its last frame came."""
        if frame.opcode == Opcode.CONTINUATION:
            if self.opcode is None:
                raise ProtocolError("a continuation frame with no message to continue (§5.4)")
        elif self.opcode is not None:
            raise ProtocolError("a new message began before the last one's final fragment (§5.4)")
        else:
            self.opcode = frame.opcode
            if frame.opcode == Opcode.TEXT:
                self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.size += len(frame.payload)
        if self.size > self.max_size:
            raise ProtocolError(f"a message over the {self.max_size}-byte limit", 1009)
        if self.decoder is not None:
            try:
                self.parts.append(self.decoder.decode(frame.payload, final=frame.fin))
            except UnicodeDecodeError:
                raise ProtocolError("a text message that is not valid UTF-8 (§8.1)", 1007) from None
        else:
            self.parts.append(frame.payload)
        if not frame.fin:
            return None
        # Only the key that carries the message: the other one is optional (ASGI WebSocket §Receive).
        if self.decoder is not None:
            message: Message = {"type": "websocket.receive", "text": "".join(self.parts)}
        else:
            message = {"type": "websocket.receive", "bytes": b"".join(self.parts)}
        self._reset()
        return message


class WebSocketConnection:
    """Runs one ASGI app over one upgraded connection (ASGI WebSocket spec 2.5, RFC 6455).

    The life of a connection, and the state names used here:

    - ``"connecting"``: the app gets ``websocket.connect``. It answers ``websocket.accept`` (send
      the 101 response, start reading frames: ``"open"``) or ``websocket.close`` (send 403: the
      handshake fails, ``"closed"``).
    - ``"open"``: frames in become ``websocket.receive`` (text or bytes, fragments joined), pings
      are answered with pongs; ``websocket.send`` becomes a frame out (or several: see
      ``FRAGMENT_SIZE``).
    - ``"closing"``: we sent a close frame and wait for the client's; then the server closes TCP
      (§7.1.1) and the app gets ``websocket.disconnect`` with the code.
    - ``"closed"``: ``send()`` raises ``ClientDisconnected``; ``receive()`` keeps answering
      ``websocket.disconnect``.

    ``send()`` is a table from (state, message type) to a method; ``read_frames()`` a table from
    opcode to a method. A peer that breaks the protocol gets a close frame with the code of the
    ``ProtocolError`` (1002, 1007, 1009) and the TCP connection is closed (§7.1.7).
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
        self.max_size = max_size
        self.scope = websocket_scope(request, peer_address(writer.get_extra_info("peername")), peer_address(writer.get_extra_info("sockname")))
        self.state = State.CONNECTING
        self.close_sent = False
        # What the app will receive, in order. The frame reader fills it; receive() empties it,
        # except for the final websocket.disconnect, which stays (see receive()).
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.disconnect_message: Message | None = None
        self.reader_task: asyncio.Task[None] | None = None
        # One data message at a time on the wire: the fragments of two messages must not interleave
        # (§5.4). Control frames (pong, close) need no lock: each is a single write().
        self.message_lock = asyncio.Lock()
        self._senders: dict[tuple[str, str], Callable[[Message], Awaitable[None]]] = {
            (State.CONNECTING, "websocket.accept"): self._accept,
            (State.CONNECTING, "websocket.close"): self._refuse,
            (State.OPEN, "websocket.send"): self._send_message,
            (State.OPEN, "websocket.close"): self._close,
        }

    async def run(self) -> None:
        """Check the handshake, run the app until it returns, leave nothing half-done, then ``finish()``."""
        refusal = handshake_error(self.request)
        if refusal is not None:
            with contextlib.suppress(ClientDisconnected):
                await self.write(http_error(*refusal))
            return
        self.inbox.put_nowait({"type": "websocket.connect"})
        try:
            await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            # The app let our "the client is gone" error propagate (ASGI spec 2.4): not a bug.
            logger.debug("the client left while the app was sending")
        except asyncio.CancelledError:
            # The server is shutting down: say so to the client (1001 "going away", §7.4.1).
            await self._wind_down(1001, "server shutting down")
            raise
        except Exception:
            logger.exception("the ASGI WebSocket app raised")
            await self._wind_down(1011, "")
        else:
            await self._wind_down(1000, "")
        finally:
            await self.finish()

    async def _wind_down(self, code: int, reason: str) -> None:
        """The app is done: end whatever it left open. Before accept that is an HTTP 500."""
        try:
            if self.state == State.CONNECTING:
                self.state = State.CLOSED
                await self.write(http_error(500))
            elif self.state == State.OPEN:
                await self.send_close(code, reason)
        except ClientDisconnected:
            pass  # nobody is left to tell

    async def finish(self) -> None:
        """Give the client a moment to answer our close frame, then stop reading and close TCP."""
        task = self.reader_task
        if task is not None and not task.done():
            current = asyncio.current_task()
            shutting_down = current is not None and current.cancelling() > 0
            if self.close_sent and not shutting_down:
                # The closing handshake completes when the client's close frame arrives (§7.1.1):
                # read_frames() then returns by itself. Do not wait forever for a silent client.
                await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.disconnected(1006, "")  # a no-op if the app was already told
        self.writer.close()

    # --- the ASGI side ----------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next message for the app: connect, then receives, then disconnect (forever after)."""
        message = await self.inbox.get()
        if message["type"] == "websocket.disconnect":
            # Put it back: every later receive(), from any task, gets it at once instead of hanging.
            self.inbox.put_nowait(message)
        return dict(message)

    async def send(self, message: Message) -> None:
        """Carry out one message from the app, or raise if it does not fit the connection's state.

        ``websocket.accept`` / ``websocket.close`` while connecting (101, or 403: ASGI WebSocket
        §Close); ``websocket.send`` / ``websocket.close`` while open. After a close: ``ClientDisconnected``.
        """
        kind = message.get("type")
        sender = self._senders.get((self.state, kind))
        if sender is not None:
            await sender(message)
        elif self.state in (State.CLOSING, State.CLOSED):
            raise ClientDisconnected(f"cannot send {kind!r}: the WebSocket is {self.state}")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} while the WebSocket is {self.state}")

    async def _accept(self, message: Message) -> None:
        await self.write(handshake_response(self.request, message.get("subprotocol"), list(message.get("headers") or [])))
        self.state = State.OPEN
        self.reader_task = asyncio.create_task(self.read_frames(), name=f"websocket reader {self.scope['client']}")

    async def _refuse(self, message: Message) -> None:
        self.state = State.CLOSED
        await self.write(http_error(403))
        self.disconnected(1006, "")  # no WebSocket ever opened, so no close frame: 1006

    async def _send_message(self, message: Message) -> None:
        text, data = message.get("text"), message.get("bytes")
        if (text is None) == (data is None):
            raise RuntimeError("websocket.send needs exactly one of 'text' and 'bytes' (ASGI WebSocket §Send)")
        opcode, payload = (Opcode.TEXT, text.encode("utf-8")) if text is not None else (Opcode.BINARY, bytes(data))
        await self.send_message(opcode, payload)

    async def _close(self, message: Message) -> None:
        code = message.get("code") or 1000
        if code != 1005 and not is_valid_close_code(code):
            raise RuntimeError(f"close code {code} may not be sent on the wire (RFC 6455 §7.4)")
        await self.send_close(code, message.get("reason") or "")

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

    async def send_message(self, opcode: Opcode, payload: bytes) -> None:
        """One data message out, in frames of at most ``FRAGMENT_SIZE`` bytes (§5.4 lets a sender fragment).

        Small frames keep a pong or a close from waiting behind a huge message, and let the peer
        start reading before the last byte is sent.
        """
        async with self.message_lock:
            chunks = [payload[i : i + FRAGMENT_SIZE] for i in range(0, len(payload), FRAGMENT_SIZE)] or [b""]
            for index, chunk in enumerate(chunks):
                if self.close_sent:  # no data frame may follow a close frame (§5.5.1)
                    raise ClientDisconnected("the WebSocket closed while a message was being sent")
                frame_opcode = opcode if index == 0 else Opcode.CONTINUATION
                await self.write(build_frame(frame_opcode, chunk, fin=index == len(chunks) - 1))

    async def send_close(self, code: int, reason: str) -> None:
        """Start (or answer) the closing handshake: one close frame, only ever one (§5.5.1)."""
        if self.close_sent:
            return
        self.close_sent = True
        if self.state == State.OPEN:
            self.state = State.CLOSING
        await self.write(build_frame(Opcode.CLOSE, build_close_payload(code, reason)))

    def disconnected(self, code: int, reason: str) -> None:
        """Tell the app, once, that the connection is over."""
        if self.disconnect_message is not None:
            return
        self.state = State.CLOSED
        self.disconnect_message = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self.inbox.put_nowait(self.disconnect_message)

    async def read_frames(self) -> None:
        """Read frames until the connection ends, turning them into ASGI messages (runs as a task).

        Each opcode has a handler; a handler returns ``False`` when the connection is over. On
        ``ProtocolError``: close frame with its code, ``disconnected``, close TCP (§7.1.7). When the
        stream ends without a close frame: ``disconnected(1006, "")``.
        """
        decoder = FrameDecoder(max_size=self.max_size)
        assembler = MessageAssembler(max_size=self.max_size)
        handlers: dict[int, Callable[[Frame], Awaitable[bool]]] = {
            Opcode.PING: self._on_ping,
            Opcode.PONG: self._on_pong,
            Opcode.CLOSE: self._on_close,
        }

        async def on_data(frame: Frame) -> bool:
            message = assembler.add(frame)
            # Once we sent our close frame the app has said it is done: later data is dropped.
            if message is not None and not self.close_sent:
                self.inbox.put_nowait(message)
            return True

        try:
            while True:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    self.disconnected(1006, "")  # the TCP connection ended without a closing handshake
                    return
                for frame in decoder.feed(data):
                    if not await handlers.get(frame.opcode, on_data)(frame):
                        return
        except ProtocolError as exc:
            logger.info("failing the WebSocket connection: %s", exc)
            with contextlib.suppress(ClientDisconnected):
                await self.send_close(exc.code, str(exc)[:MAX_CLOSE_REASON])  # the reason helps whoever debugs the client
            self.disconnected(exc.code, "")
            self.writer.close()
        except (ConnectionError, ClientDisconnected):
            self.disconnected(1006, "")
        except Exception:
            logger.exception("the WebSocket frame reader failed")
            with contextlib.suppress(ClientDisconnected):
                await self.send_close(1011, "")
            self.disconnected(1011, "")
            self.writer.close()

    async def _on_ping(self, frame: Frame) -> bool:
        await self.write(build_frame(Opcode.PONG, frame.payload))  # at once, even between fragments (§5.5.2)
        return True

    async def _on_pong(self, frame: Frame) -> bool:
        return True  # we send no pings, so a pong is unsolicited: ignore it (§5.5.3)

    async def _on_close(self, frame: Frame) -> bool:
        code, reason = parse_close_payload(frame.payload)
        with contextlib.suppress(ClientDisconnected):
            # Echo the client's code (§5.5.1); a no-op if this frame answers our own close.
            await self.send_close(code, "")
        self.disconnected(code, reason)
        self.writer.close()  # the server closes TCP first (§7.1.1)
        return False


class UpgradeHandler:
    """Exercise 15's ``upgrade`` hook as an object: WebSocket for one app, or "not mine"."""

    def __init__(self, app: ASGIApp, max_size: int) -> None:
        self.app = app
        self.max_size = max_size

    async def __call__(self, request: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if not wants_websocket(request):
            return False  # h2c, TLS, ...: exercise 15 answers it as plain HTTP
        connection = WebSocketConnection(self.app, request, reader, writer, max_size=self.max_size)
        try:
            await connection.run()
        except OSError:
            logger.debug("the client left in the middle of the WebSocket")
        finally:
            writer.close()  # the connection was ours: 15 writes nothing more
        return True


def upgrade_handler(app: ASGIApp, *, max_size: int = MAX_MESSAGE_SIZE) -> Upgrade:
    """The hook for exercise 15's ``Server.upgrade``: WebSocket for ``app``."""
    return UpgradeHandler(app, max_size)
