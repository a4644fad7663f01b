"""Exercise 18 is graded piece by piece, then as a whole server against real WebSocket clients.

First the pure functions (``accept_key``, ``apply_mask``, ``build_frame``, ``read_frame``, the close
payload, the scope), checked against the examples of RFC 6455 §1.3 and §5.7 and against ``wsproto``
and ``websockets`` as independent implementations. Then your ``Server`` serves probe apps
(``websocket_server_probes.py``) and a Starlette app over TCP: the ``websockets`` client drives the
ordinary cases, and a hand-driven client (our own bytes, frames built and parsed by ``wsproto``)
drives the frame-level ones. Every black-box test also runs against uvicorn (marked ``reference``)
to prove the test itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.utils import accept_key as websockets_accept_key
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode as WsOpcode, ParseFailed

import websocket_server
import websocket_server_probes as probes
from testkit.serving import CLIENT_TIMEOUT, HOST, python_argv, serving, subprocess_serving, uvicorn_serving, wait_until
from websocket_server import Frame, Opcode, ProtocolError

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RFC_MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7
RFC_MASKED_HELLO = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])


def run_async(coroutine: Any, what: str, timeout: float = 2.0) -> Any:
    """Run one coroutine of yours; fail in plain words if it is still running after ``timeout``."""

    async def guarded() -> Any:
        try:
            return await asyncio.wait_for(coroutine, timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"{what} was still running after {timeout:g} s: is it waiting for bytes that never come?")

    return asyncio.run(guarded())


def stream_of(data: bytes) -> asyncio.StreamReader:
    """A StreamReader that holds ``data`` and then the end of the stream (call inside a running loop)."""
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def read_frames(data: bytes, count: int = 1, **kwargs: Any) -> list[Frame]:
    """Call your ``read_frame`` ``count`` times on a stream holding ``data``."""

    async def go() -> list[Frame]:
        reader = stream_of(data)
        return [await websocket_server.read_frame(reader, **kwargs) for _ in range(count)]

    return run_async(go(), "read_frame()")


def client_frames() -> FrameProtocol:
    """wsproto's frame layer, client side: it masks what it builds and refuses masked server frames."""
    return FrameProtocol(client=True, extensions=[])


# ---------------------------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 6455 §1.3, §4.2.2 (Sec-WebSocket-Accept)")
def test_accept_key_matches_the_rfc_example() -> None:
    got = websocket_server.accept_key(RFC_KEY)
    assert got == RFC_ACCEPT, (
        f"expected accept_key({RFC_KEY!r}) == {RFC_ACCEPT!r}, got {got!r} "
        "(base64 of the SHA-1 digest of key + GUID, the key used as sent, not decoded)"
    )


@pytest.mark.spec("RFC 6455 §4.2.2 (Sec-WebSocket-Accept)")
def test_accept_key_agrees_with_the_websockets_library() -> None:
    for _ in range(5):
        key = base64.b64encode(os.urandom(16)).decode()
        expected = websockets_accept_key(key)
        got = websocket_server.accept_key(key)
        assert got == expected, f"expected accept_key({key!r}) == {expected!r}, got {got!r}"


@pytest.mark.spec("RFC 6455 §5.3 (client-to-server masking), §5.7 (examples)")
def test_apply_mask_matches_the_rfc_example() -> None:
    got = websocket_server.apply_mask(b"Hello", RFC_MASK)
    assert got == RFC_MASKED_HELLO[6:], f"expected b'Hello' masked with 37 fa 21 3d to be {RFC_MASKED_HELLO[6:].hex(' ')}, got {bytes(got).hex(' ')}"
    payload = os.urandom(1001)  # not a multiple of 4: the mask repeats and is cut short
    mask = os.urandom(4)
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    got = websocket_server.apply_mask(payload, mask)
    assert got == expected, "expected byte i XOR mask[i % 4] for every byte of a 1001-byte payload"
    assert websocket_server.apply_mask(got, mask) == payload, "masking twice must give the payload back"
    assert websocket_server.apply_mask(b"", mask) == b"", "masking nothing must give b''"


@pytest.mark.spec("RFC 6455 §5.2 (base framing), §5.7 (examples)")
def test_build_frame_writes_a_short_text_frame() -> None:
    got = websocket_server.build_frame(Opcode.TEXT, b"Hello")
    assert got == b"\x81\x05Hello", (
        f"expected 81 05 then 'Hello' (FIN + text opcode, then the length, no mask), got {bytes(got).hex(' ')}"
    )


@pytest.mark.spec("RFC 6455 §5.2, §5.3, §5.7 (a masked text frame)")
def test_build_frame_masks_when_given_a_mask() -> None:
    got = websocket_server.build_frame(Opcode.TEXT, b"Hello", mask=RFC_MASK)
    assert got == RFC_MASKED_HELLO, (
        f"expected the RFC's masked 'Hello' {RFC_MASKED_HELLO.hex(' ')}, got {bytes(got).hex(' ')} "
        "(MASK bit 0x80 in the second byte, then the 4 mask bytes, then the masked payload)"
    )


@pytest.mark.parametrize("size", [0, 4, 6, 124, 126, 65536], ids=lambda size: f"{size}-bytes")
@pytest.mark.spec("RFC 6455 §5.2 (MASK bit, payload length), §5.3 (masking)")
def test_build_frame_masks_every_length(size: int) -> None:
    payload = os.urandom(size)
    mask = os.urandom(4)
    got = bytes(websocket_server.build_frame(Opcode.BINARY, payload, mask=mask))
    server_side = FrameProtocol(client=False, extensions=[])  # wsproto as a server: it wants masked frames
    server_side.receive_bytes(got)
    try:
        frames = list(server_side.received_frames())
    except ParseFailed as exc:
        pytest.fail(f"expected wsproto to read your masked {size}-byte frame, but it refused it: {exc} (second byte {got[1]:#04x})")
    assert len(frames) == 1 and frames[0].payload == payload, (
        f"expected wsproto to read your masked {size}-byte frame back as one frame with the same payload, got {frames!r}: "
        "the second byte is 0x80 | the 7-bit length, then the 4 mask bytes, then the masked payload"
    )


@pytest.mark.spec("RFC 6455 §5.4 (fragmentation), §5.7 (a fragmented text message)")
def test_build_frame_writes_fragments() -> None:
    first = websocket_server.build_frame(Opcode.TEXT, b"Hel", fin=False)
    last = websocket_server.build_frame(Opcode.CONTINUATION, b"lo", fin=True)
    assert first == b"\x01\x03Hel", f"expected 01 03 'Hel' (no FIN, text opcode), got {bytes(first).hex(' ')}"
    assert last == b"\x80\x02lo", f"expected 80 02 'lo' (FIN, continuation opcode 0), got {bytes(last).hex(' ')}"
    middle = websocket_server.build_frame(Opcode.CONTINUATION, b"l", fin=False)
    assert middle == b"\x00\x01l", f"expected 00 01 'l' (a middle fragment: no FIN, continuation opcode 0), got {bytes(middle).hex(' ')}"


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
    ids=["0", "125", "126-16bit", "65535-16bit", "65536-64bit"],
)
@pytest.mark.spec("RFC 6455 §5.2 (payload length: 7 bits, 7+16 bits, 7+64 bits)")
def test_build_frame_encodes_every_length(size: int, header: bytes) -> None:
    payload = os.urandom(size)
    got = bytes(websocket_server.build_frame(Opcode.BINARY, payload))
    assert got[: len(header)] == header, (
        f"expected a {size}-byte binary frame to start {header.hex(' ')}, got {got[: len(header)].hex(' ')} "
        "(under 126: the length itself; up to 65535: 126 then 2 bytes; above: 127 then 8 bytes, big-endian)"
    )
    assert got[len(header) :] == payload, "expected the payload, unchanged, right after the header"
    parser = client_frames()
    parser.receive_bytes(got)
    frames = list(parser.received_frames())
    assert len(frames) == 1 and frames[0].payload == payload, "wsproto did not read your frame back as one frame with the same payload"


@pytest.mark.spec("RFC 6455 §5.2, §5.3, §5.7 (a masked frame)")
def test_read_frame_reads_and_unmasks_the_rfc_example() -> None:
    [frame] = read_frames(RFC_MASKED_HELLO)
    assert isinstance(frame, Frame), f"expected a Frame, got {type(frame).__name__}"
    assert (frame.fin, frame.opcode, frame.payload, frame.masked) == (True, Opcode.TEXT, b"Hello", True), (
        f"expected fin=True, opcode=TEXT (1), payload=b'Hello' unmasked, masked=True; got {frame!r}"
    )
    [unmasked] = read_frames(b"\x81\x05Hello")
    assert (unmasked.payload, unmasked.masked) == (b"Hello", False), f"expected an unmasked b'Hello' frame, got {unmasked!r}"


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
@pytest.mark.spec("RFC 6455 §5.2 (payload length: 7 bits, 7+16 bits, 7+64 bits)")
def test_read_frame_reads_every_length(size: int) -> None:
    payload = os.urandom(size)
    wire = bytes(client_frames().send_data(payload))  # masked, as a browser would send it
    [frame] = read_frames(wire)
    assert len(frame.payload) == size, f"expected a {size}-byte payload, got {len(frame.payload)} bytes"
    assert frame.payload == payload, f"the {size}-byte payload differs from what wsproto sent: did you unmask it?"


@pytest.mark.spec("RFC 6455 §5.2, §5.4 (a message in fragments)")
def test_read_frame_reads_one_frame_at_a_time() -> None:
    wsproto = client_frames()
    wire = bytes(wsproto.send_data("Hel", fin=False) + wsproto.ping(b"?") + wsproto.send_data("lo", fin=True))
    frames = read_frames(wire, count=3)
    got = [(f.fin, int(f.opcode), f.payload) for f in frames]
    expected = [(False, 0x1, b"Hel"), (True, 0x9, b"?"), (True, 0x0, b"lo")]
    assert got == expected, (
        f"expected three frames (fin, opcode, payload) {expected!r}, got {got!r} "
        "(read exactly one frame per call: header, extended length, mask, then exactly the payload)"
    )


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(b"\xc1\x80" + RFC_MASK, id="rsv1-bit"),
        pytest.param(b"\x83\x80" + RFC_MASK, id="reserved-opcode-0x3"),
        pytest.param(b"\x8b\x80" + RFC_MASK, id="reserved-opcode-0xb"),
        pytest.param(b"\x09\x80" + RFC_MASK, id="fragmented-ping"),
        pytest.param(b"\x89\xfe\x00\x7e" + RFC_MASK + b"x" * 126, id="ping-over-125-bytes"),
        pytest.param(b"\x08\x82" + RFC_MASK + b"\x03\xe8", id="fragmented-close"),
        pytest.param(b"\x88\xfe\x00\x7e" + RFC_MASK + b"\x03\xe8" + b"x" * 124, id="close-over-125-bytes"),
        pytest.param(b"\x82\xff\x80" + b"\x00" * 7 + RFC_MASK, id="64-bit-length-top-bit-set"),
    ],
)
@pytest.mark.spec("RFC 6455 §5.2 (RSV bits, reserved opcodes, the 64-bit length's top bit), §5.5 (control frames)")
def test_read_frame_refuses_frames_the_protocol_forbids(wire: bytes) -> None:
    try:
        frame = read_frames(wire)[0]
    except ProtocolError as exc:
        code = getattr(exc, "code", None)
        assert code == 1002, f"expected ProtocolError with code 1002 (protocol error), got code {code!r}"
    else:
        pytest.fail(f"expected read_frame() to raise ProtocolError(code=1002) for {wire[:2].hex(' ')}..., got {frame!r}")


@pytest.mark.spec("RFC 6455 §5.5 (control frames: a payload of 125 bytes or less)")
def test_read_frame_reads_a_control_frame_of_125_bytes() -> None:
    wire = bytes(client_frames().ping(b"p" * 125))
    try:
        [frame] = read_frames(wire)
    except ProtocolError as exc:
        pytest.fail(f"expected a ping of exactly 125 bytes to be allowed (the limit is 125 or less), got ProtocolError {exc}")
    assert (frame.opcode, frame.payload) == (Opcode.PING, b"p" * 125), f"expected a ping with 125 bytes, got {frame!r}"


@pytest.mark.spec("RFC 6455 §5.2 (a 64-bit length, top bit clear, is legal), §7.4.1 (1009: message too big)")
def test_read_frame_refuses_a_huge_64_bit_length_as_too_big() -> None:
    wire = b"\x82\xff\x40" + b"\x00" * 7 + RFC_MASK  # 2**62 bytes: legal, but far over any max_size
    try:
        frame = read_frames(wire, max_size=1000)[0]
    except ProtocolError as exc:
        code = getattr(exc, "code", None)
        assert code == 1009, (
            f"expected ProtocolError with code 1009 (too big) for a 2**62-byte length; only a set top bit (2**63) makes "
            f"it a protocol error (1002), got code {code!r}"
        )
    else:
        pytest.fail(f"expected read_frame(reader, max_size=1000) to refuse a 2**62-byte frame before reading it, got {frame!r}")


@pytest.mark.spec("RFC 6455 §7.4.1 (1009: message too big)")
def test_read_frame_reads_a_frame_of_exactly_max_size() -> None:
    payload = os.urandom(1000)
    try:
        [frame] = read_frames(bytes(client_frames().send_data(payload)), max_size=1000)
    except ProtocolError as exc:
        pytest.fail(f"expected a 1000-byte frame to be read with max_size=1000 (only longer ones are too big), got {exc!r}")
    assert frame.payload == payload, "expected the 1000-byte payload back, unmasked"


@pytest.mark.spec("RFC 6455 §7.4.1 (1009: message too big)")
def test_read_frame_refuses_a_frame_over_max_size() -> None:
    wire = bytes(client_frames().send_data(b"x" * 2000))
    try:
        frame = read_frames(wire, max_size=1000)[0]
    except ProtocolError as exc:
        code = getattr(exc, "code", None)
        assert code == 1009, f"expected ProtocolError with code 1009 (message too big), got code {code!r}"
    else:
        pytest.fail(f"expected read_frame(reader, max_size=1000) to refuse a 2000-byte frame, got {frame!r}")


@pytest.mark.spec("RFC 6455 §5.5.1 (close payload), §7.1.5 (1005), §7.4 (status codes)")
def test_parse_close_payload() -> None:
    cases = [
        (b"", (1005, "")),
        (b"\x03\xe8", (1000, "")),
        (b"\x03\xe9going away", (1001, "going away")),
        (b"\x0f\xa0" + "fini ✓".encode(), (4000, "fini ✓")),
    ]
    for payload, expected in cases:
        got = websocket_server.parse_close_payload(payload)
        assert tuple(got) == expected, f"expected parse_close_payload({payload!r}) == {expected!r}, got {got!r}"
    bad = [(b"\x03", 1002), (b"\x03\xe7", 1002), (b"\x03\xed", 1002), (b"\x03\xee", 1002), (b"\x13\x88", 1002), (b"\x03\xe8\xff", 1007)]
    for payload, code in bad:
        try:
            got = websocket_server.parse_close_payload(payload)
        except ProtocolError as exc:
            assert exc.code == code, f"expected ProtocolError code {code} for close payload {payload!r}, got {exc.code}"
        else:
            pytest.fail(
                f"expected ProtocolError({code}) for close payload {payload!r}, got {got!r} "
                "(one byte cannot hold a code; 999, 1005, 1006 and 5000 may not be sent; a reason must be UTF-8)"
            )


VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]


@pytest.mark.spec("RFC 6455 §7.4.1, §7.4.2 (status code ranges); the IANA WebSocket Close Code registry")
def test_is_valid_close_code() -> None:
    wrong = [(code, True) for code in VALID_CLOSE_CODES if websocket_server.is_valid_close_code(code) is not True]
    wrong += [(code, False) for code in INVALID_CLOSE_CODES if websocket_server.is_valid_close_code(code) is not False]
    assert not wrong, (
        f"expected is_valid_close_code(code) to be the second value for each of {wrong!r}: 1000-1003, 1007-1014 and "
        "3000-4999 may be sent; 1004 (reserved), 1005, 1006, 1015 (never on the wire), the rest of 1000-2999 "
        "(not assigned) and anything outside 1000-4999 may not"
    )


@pytest.mark.spec("RFC 6455 §5.5.1 (close payload)")
def test_build_close_payload() -> None:
    cases = [((1000, ""), b"\x03\xe8"), ((4000, "bye ✓"), b"\x0f\xa0" + "bye ✓".encode()), ((1005, ""), b"")]
    for (code, reason), expected in cases:
        got = websocket_server.build_close_payload(code, reason)
        assert got == expected, f"expected build_close_payload({code}, {reason!r}) == {expected!r}, got {got!r}"


@pytest.mark.spec("ASGI WebSocket §Connection Scope")
def test_websocket_scope_from_a_request() -> None:
    request = websocket_server.Request(
        method="GET",
        target="/caf%C3%A9/room?x=1&y=%20",
        http_version="HTTP/1.1",
        headers=[
            (b"host", b"example.test"),
            (b"sec-websocket-protocol", b"chat.v1, chat.v2"),
            (b"sec-websocket-protocol", b"chat.v3"),
        ],
    )
    scope = websocket_server.websocket_scope(request, ("10.0.0.1", 5555), ("127.0.0.1", 8000))
    expected = {
        "type": "websocket",
        "path": "/café/room",
        "raw_path": b"/caf%C3%A9/room",
        "query_string": b"x=1&y=%20",
        "scheme": "ws",
        "http_version": "1.1",
        "root_path": "",
        "subprotocols": ["chat.v1", "chat.v2", "chat.v3"],
    }
    for key, value in expected.items():
        assert scope.get(key) == value, f"expected scope[{key!r}] == {value!r}, got {scope.get(key)!r}"
    assert list(map(tuple, scope.get("headers", []))) == request.headers, f"expected the request's headers as they came, got {scope.get('headers')!r}"
    assert tuple(scope.get("client") or ()) == ("10.0.0.1", 5555), f"expected client ('10.0.0.1', 5555), got {scope.get('client')!r}"
    assert tuple(scope.get("server") or ()) == ("127.0.0.1", 8000), f"expected server ('127.0.0.1', 8000), got {scope.get('server')!r}"
    asgi = scope.get("asgi", {})
    assert asgi.get("version") == "3.0", f"expected scope['asgi']['version'] == '3.0', got {asgi!r}"
    assert re.fullmatch(r"2\.\d+", str(asgi.get("spec_version", ""))), (
        f"expected scope['asgi']['spec_version'] to say which version of the WebSocket spec the server speaks "
        f"('2.5'), got {asgi!r}"
    )


@pytest.mark.spec("ASGI WebSocket §Connection Scope (path: decoded; raw_path: as sent)")
def test_websocket_scope_of_a_path_that_is_not_utf8() -> None:
    request = websocket_server.Request(method="GET", target="/caf%FF", http_version="HTTP/1.1", headers=[(b"host", b"x")])
    try:
        scope = websocket_server.websocket_scope(request, None, None)
    except Exception as exc:
        pytest.fail(f"expected a scope for the path /caf%FF (not UTF-8 once decoded), got {exc!r}: decode with errors='replace'")
    assert scope.get("raw_path") == b"/caf%FF", f"expected raw_path b'/caf%FF', as sent, got {scope.get('raw_path')!r}"
    assert isinstance(scope.get("path"), str) and scope["path"].startswith("/caf"), (
        f"expected path to be text starting '/caf' (the bad byte replaced), got {scope.get('path')!r}"
    )


# ---------------------------------------------------------------------------------------------
# The server, over TCP
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def served(app: Any, server: str, ws: str = "websockets-sansio") -> Iterator[str]:
    if server == "uvicorn":
        with uvicorn_serving(app, ws=ws) as base:
            yield base
    else:
        with serving(websocket_server.Server(app, HOST, 0), name="your Server") as base:
            yield base


@pytest.fixture(params=["yours", pytest.param("uvicorn", marks=pytest.mark.reference)])
def serve(request: pytest.FixtureRequest) -> Callable[[Any], contextlib.AbstractContextManager[str]]:
    """``with serve(app) as base_url:`` runs ``app`` on your Server (graded) or uvicorn (reference).

    ``serve(app, ws="wsproto")`` picks uvicorn's other WebSocket implementation for a reference case.
    """
    return lambda app, **kwargs: served(app, request.param, **kwargs)


def ws_url(base: str, path: str) -> str:
    return "ws" + base.removeprefix("http") + path


@contextlib.contextmanager
def opened(base: str, path: str = "/", **kwargs: Any) -> Iterator[ClientConnection]:
    """Open a WebSocket with the ``websockets`` client; fail in plain words if the handshake fails."""
    try:
        ws = connect(ws_url(base, path), open_timeout=CLIENT_TIMEOUT, close_timeout=2, **kwargs)
    except InvalidStatus as exc:
        pytest.fail(f"expected the handshake for {path} to answer 101 Switching Protocols, got HTTP {exc.response.status_code}")
    except (InvalidHandshake, TimeoutError, OSError) as exc:
        pytest.fail(
            f"expected the handshake for {path} to complete, got {exc!r} "
            "(did the server answer 101 with Upgrade, Connection and Sec-WebSocket-Accept?)"
        )
    with ws:
        yield ws


def recv(ws: ClientConnection, expecting: str) -> str | bytes:
    try:
        return ws.recv(timeout=CLIENT_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"expected {expecting}, but nothing came within {CLIENT_TIMEOUT:g} s")
    except ConnectionClosed as exc:
        pytest.fail(f"expected {expecting}, but the connection closed ({exc})")


def closed_with(ws: ClientConnection, expecting: str) -> tuple[int | None, str | None]:
    """Wait for the server to close; return the code and reason of its close frame."""
    try:
        extra = ws.recv(timeout=CLIENT_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"expected {expecting}, but the connection was still open {CLIENT_TIMEOUT:g} s later")
    except ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
    pytest.fail(f"expected {expecting}, got another message {extra!r}")


class RawClient:
    """A hand-driven WebSocket client: our own handshake bytes, frames by wsproto or by hand.

    Server frames are parsed by wsproto's client side, which refuses a masked server frame (§5.1).
    """

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT)
        self.frames = client_frames()
        self.key = base64.b64encode(os.urandom(16)).decode()

    def close(self) -> None:
        self.sock.close()

    def handshake(self, path: str = "/", *, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str]]:
        """Send the upgrade request; return the status and the (lowercased) response headers."""
        fields = {
            "Host": "127.0.0.1",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": self.key,
            "Sec-WebSocket-Version": "13",
        }
        fields.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None) + "\r\n"
        self.sock.sendall(head.encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._recv("the response to the upgrade request")
            if not chunk:
                pytest.fail(
                    f"expected a response to the upgrade request, but the server closed the connection after {data!r} "
                    "(did WebSocketConnection raise? Its traceback is in the captured log)"
                )
            data += chunk
        head_bytes, _, rest = data.partition(b"\r\n\r\n")
        status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
        response_headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            response_headers[name.strip().lower()] = value.strip()
        self.frames.receive_bytes(rest)
        return int(status_line.split(" ")[1]), response_headers

    def open(self, path: str = "/") -> None:
        status, _ = self.handshake(path)
        assert status == 101, f"expected 101 Switching Protocols, got {status}"

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv(self, expecting: str) -> bytes:
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"expected {expecting}, but the server sent nothing within {CLIENT_TIMEOUT:g} s")
        except ConnectionResetError:
            return b""

    def next_frame(self, expecting: str) -> Any:
        while True:
            try:
                for frame in self.frames.received_frames():
                    return frame
            except ParseFailed as exc:
                pytest.fail(f"expected {expecting}, but the server's bytes are not a valid frame: {exc}")
            data = self._recv(expecting)
            if not data:
                pytest.fail(f"expected {expecting}, but the server closed the connection")
            self.frames.receive_bytes(data)

    def next_message(self, expecting: str) -> tuple[WsOpcode, Any]:
        """The next whole data message (wsproto joins fragments), skipping nothing."""
        frame = self.next_frame(expecting)
        opcode, parts = frame.opcode, [frame.payload]
        while not frame.message_finished:
            frame = self.next_frame(expecting)
            parts.append(frame.payload)
        joined = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
        return opcode, joined

    def expect_close(self, expecting: str) -> int:
        frame = self.next_frame(expecting)
        assert frame.opcode == WsOpcode.CLOSE, f"expected {expecting}, got a frame with opcode {frame.opcode!r}: {frame.payload!r}"
        return int(frame.payload[0])

    def expect_eof(self, expecting: str) -> None:
        while True:
            data = self._recv(expecting)
            if not data:
                return


@contextlib.contextmanager
def raw(base: str) -> Iterator[RawClient]:
    client = RawClient(base)
    try:
        yield client
    finally:
        client.close()


def masked_frame(first_byte: int, payload: bytes) -> bytes:
    """A client frame built by hand (payload under 126 bytes), masked with a random key."""
    mask = os.urandom(4)
    return bytes([first_byte, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# --- the handshake --------------------------------------------------------------------------


@pytest.mark.spec("RFC 6455 §4.2.2 (the server's opening handshake)")
def test_handshake_answers_101_with_the_accept_key(serve: Any) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        status, headers = client.handshake("/")
        assert status == 101, f"expected status 101 Switching Protocols, got {status}"
        assert headers.get("upgrade", "").lower() == "websocket", f"expected 'Upgrade: websocket', got {headers.get('upgrade')!r}"
        assert "upgrade" in headers.get("connection", "").lower(), f"expected 'Connection: Upgrade', got {headers.get('connection')!r}"
        expected = websockets_accept_key(client.key)
        assert headers.get("sec-websocket-accept") == expected, (
            f"expected 'Sec-WebSocket-Accept: {expected}', got {headers.get('sec-websocket-accept')!r}"
        )


@pytest.mark.spec("RFC 6455 §4.2.2 step 4, §4.4 (unsupported version: 426 and Sec-WebSocket-Version)")
def test_handshake_refuses_another_protocol_version(serve: Any) -> None:
    # uvicorn's wsproto implementation follows §4.2.2 here; its websockets one omits the header.
    with serve(probes.echo, ws="wsproto") as base, raw(base) as client:
        status, headers = client.handshake("/", headers={"Sec-WebSocket-Version": "8"})
        # RFC 6455 asks for "an appropriate HTTP error code (such as 426 Upgrade Required)": 426 or 400.
        assert status in (400, 426), f"expected 426 Upgrade Required (or 400) for Sec-WebSocket-Version: 8, got {status}"
        assert headers.get("sec-websocket-version") == "13", (
            f"expected a 'Sec-WebSocket-Version: 13' header saying which version the server speaks, got {headers.get('sec-websocket-version')!r}"
        )


@pytest.mark.spec("RFC 6455 §4.2.1 (Sec-WebSocket-Key), §4.2.2 (400 Bad Request)")
def test_handshake_refuses_a_request_without_a_key(serve: Any) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        status, _ = client.handshake("/", headers={"Sec-WebSocket-Key": None})  # type: ignore[dict-item]
        assert status == 400, f"expected 400 Bad Request for an upgrade without Sec-WebSocket-Key, got {status}"


@pytest.mark.parametrize(
    ("method", "headers", "what"),
    [
        pytest.param("POST", {}, "a POST (the handshake is a GET)", id="post"),
        pytest.param("GET", {"Sec-WebSocket-Key": base64.b64encode(b"x" * 15).decode()}, "a key that decodes to 15 bytes", id="key-15-bytes"),
        pytest.param("GET", {"Sec-WebSocket-Key": base64.b64encode(b"x" * 17).decode()}, "a key that decodes to 17 bytes", id="key-17-bytes"),
        pytest.param("GET", {"Sec-WebSocket-Key": "not base64 at all!"}, "a key that is not base64", id="key-not-base64"),
        pytest.param("GET", {"Sec-WebSocket-Key": RFC_KEY[:10] + "*" + RFC_KEY[10:]}, "a key with a character base64 does not have", id="key-stray-character"),
    ],
)
@pytest.mark.spec("RFC 6455 §4.2.1 (a GET; a Sec-WebSocket-Key of 16 bytes, base64), §4.2.2 (an error code such as 400)")
def test_handshake_refuses_a_malformed_upgrade(serve: Any, method: str, headers: dict[str, str], what: str) -> None:
    # 405 Method Not Allowed fits a POST too (uvicorn answers it); anything else wants 400 Bad Request.
    allowed = (400, 405) if method != "GET" else (400,)
    with serve(probes.echo) as base, raw(base) as client:
        status, _ = client.handshake("/", headers=headers, method=method)
        assert status in allowed, (
            f"expected the handshake to be refused with {' or '.join(map(str, allowed))} for {what}, got {status} "
            "(decode the key with base64.b64decode(key, validate=True): it must give exactly 16 bytes)"
        )


@pytest.mark.spec("RFC 6455 §4.2.1 item 4 (Connection must list Upgrade); RFC 9110 §7.8")
def test_handshake_needs_upgrade_in_the_connection_header(serve: Any) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        status, _ = client.handshake("/", headers={"Connection": "keep-alive"})
        assert status != 101, (
            "expected no 101 Switching Protocols for 'Connection: keep-alive' (it does not list 'upgrade'), but the "
            "handshake succeeded: a WebSocket handshake needs both Upgrade: websocket and Connection: Upgrade"
        )


@pytest.mark.parametrize("connection", ["keep-alive, Upgrade", "upgrade"], ids=["several-tokens", "lowercase"])
@pytest.mark.spec("RFC 6455 §4.2.1 item 4 (Connection *includes* Upgrade, case-insensitively); RFC 9110 §7.6.1")
def test_handshake_accepts_any_connection_header_listing_upgrade(serve: Any, connection: str) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        status, _ = client.handshake("/", headers={"Connection": connection})
        assert status == 101, (
            f"expected 101 Switching Protocols for 'Connection: {connection}' (Firefox sends 'keep-alive, Upgrade'), got "
            f"{status}: split the value at commas and compare each token case-insensitively"
        )


# --- the ASGI side ----------------------------------------------------------------------------


@pytest.mark.spec("RFC 6455 §5.6 (data frames); ASGI WebSocket §Receive, §Send")
def test_echo_round_trips_every_kind_and_size(serve: Any) -> None:
    messages: list[str | bytes] = ["hello", "", "héllo wörld ✓", b"\x00\x01\xfe\xff", "x" * 125, "y" * 126, b"z" * 70_000, "w" * 300_000]
    with serve(probes.echo) as base, opened(base, "/echo") as ws:
        for message in messages:
            ws.send(message)
            got = recv(ws, f"the echo of a {len(message)}-long {type(message).__name__}")
            assert type(got) is type(message), (
                f"expected a {'text' if isinstance(message, str) else 'binary'} message back, got "
                f"{'text' if isinstance(got, str) else 'binary'} (text frames give 'text', binary frames 'bytes')"
            )
            assert got == message, f"expected the {len(message)}-long message back unchanged, got {len(got)} items starting {got[:20]!r}"


@pytest.mark.spec("ASGI WebSocket §Connection Scope")
def test_scope_over_tcp(serve: Any) -> None:
    with serve(probes.scope_reporter) as base, opened(base, "/caf%C3%A9/x?a=1&b=%20", subprotocols=["one", "two"]) as ws:
        scope = json.loads(recv(ws, "the scope as JSON"))
    expected = {
        "type": "websocket",
        "path": "/café/x",
        "raw_path": "/caf%C3%A9/x",
        "query_string": "a=1&b=%20",
        "scheme": "ws",
        "http_version": "1.1",
        "subprotocols": ["one", "two"],
    }
    for key, value in expected.items():
        assert scope.get(key) == value, f"expected scope[{key!r}] == {value!r}, got {scope.get(key)!r}"
    names = [name.lower() for name, _ in scope.get("headers", [])]
    for name in ["host", "upgrade", "sec-websocket-key"]:
        assert name in names, f"expected a {name!r} header in scope['headers'] (lowercased names), got {names!r}"


@pytest.mark.spec("ASGI WebSocket §Accept (subprotocol, headers); RFC 6455 §4.2.2 (Sec-WebSocket-Protocol)")
def test_accept_with_a_subprotocol_and_headers(serve: Any) -> None:
    with serve(probes.picky) as base, opened(base, "/", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2", (
            f"expected the handshake to agree on subprotocol 'chat.v2' (Sec-WebSocket-Protocol: chat.v2), got {ws.subprotocol!r}"
        )
        assert ws.response is not None and ws.response.headers.get("x-probe") == "picked", (
            "expected the header the app passed in websocket.accept's 'headers' ('x-probe: picked') in the 101 response"
        )
        assert recv(ws, "the app's greeting") == "subprotocol chat.v2"


@pytest.mark.spec("ASGI WebSocket §Close (before accept: HTTP 403)")
def test_close_before_accept_refuses_with_403(serve: Any) -> None:
    with serve(probes.bouncer) as base:
        try:
            with connect(ws_url(base, "/"), open_timeout=CLIENT_TIMEOUT, close_timeout=2):
                pytest.fail("expected the handshake to be refused with 403, but it was accepted")
        except InvalidStatus as exc:
            status = exc.response.status_code
            assert status == 403, f"expected 403 Forbidden, got {status}"
        except (InvalidHandshake, TimeoutError, OSError) as exc:
            pytest.fail(f"expected an HTTP 403 response to the handshake, got {exc!r}")


@pytest.mark.spec("ASGI WebSocket §Close (code, reason); RFC 6455 §5.5.1, §7.4")
def test_app_close_sends_its_code_and_reason(serve: Any) -> None:
    with serve(probes.hang_up) as base, opened(base) as ws:
        assert recv(ws, "'goodbye'") == "goodbye"
        code, reason = closed_with(ws, "a close frame (4000, 'done talking')")
        assert (code, reason) == (4000, "done talking"), f"expected close code 4000 with reason 'done talking', got {code!r} {reason!r}"


@pytest.mark.spec("ASGI WebSocket §Connection Scope (\"if the application dies the socket should be closed\")")
def test_app_returning_closes_the_websocket(serve: Any) -> None:
    with serve(probes.just_returns) as base, opened(base) as ws:
        closed_with(ws, "the server to close the WebSocket once the app returned")


@pytest.mark.parametrize(
    ("app", "code", "what"),
    [
        pytest.param(probes.just_returns, 1000, "returned (1000: a normal closure)", id="returns-1000"),
        pytest.param(probes.crashes, 1011, "raised an exception (1011: internal error; 1000 would say all went well)", id="raises-1011"),
    ],
)
@pytest.mark.spec("RFC 6455 §7.4.1 (1000, 1011), §7.1.1 (close with a close frame); ASGI WebSocket §Connection Scope")
def test_app_ending_closes_with_the_right_code(app: Any, code: int, what: str) -> None:
    # Only your server: uvicorn drops the TCP connection without a close frame here.
    with served(app, "yours") as base, opened(base) as ws:
        got, _ = closed_with(ws, f"a close frame with code {code} once the app {what.split(' (')[0]}")
        assert got == code, f"expected close code {code} after the app {what}, got {got!r} (None: no close frame at all)"


@pytest.mark.parametrize(
    ("app", "what"),
    [
        pytest.param(probes.crashes_before_accept, "raised before it accepted", id="raises"),
        pytest.param(probes.returns_before_accept, "returned without accepting or refusing", id="returns"),
    ],
)
@pytest.mark.spec("ASGI WebSocket §Connect (the app must accept or close); RFC 9110 §15.6.1 (500)")
def test_app_ending_before_accept_answers_500(serve: Any, app: Any, what: str) -> None:
    with serve(app) as base, raw(base) as client:
        status, _ = client.handshake("/")
        assert status == 500, f"expected HTTP 500 Internal Server Error when the app {what}, got {status}"


@pytest.mark.spec("ASGI WebSocket §Close (code: optional, default 1000)")
def test_app_close_without_a_code_sends_1000(serve: Any) -> None:
    with serve(probes.closes_without_a_code) as base, opened(base) as ws:
        code, _ = closed_with(ws, "a close frame once the app sent websocket.close")
        assert code == 1000, f"expected close code 1000 for a websocket.close without a code (the default), got {code!r}"


@pytest.mark.spec("ASGI WebSocket §Receive (bytes); RFC 6455 §5.6 (binary frames)")
def test_a_binary_message_reaches_the_app_as_bytes(serve: Any) -> None:
    recorder = probes.Recorder()
    with serve(recorder) as base, opened(base) as ws:
        ws.send(b"\x00\x01binary")
        assert recv(ws, "the echo of the binary message") == b"\x00\x01binary"
    received = [m for m in recorder.received if m.get("type") != "websocket.connect"][:1]
    assert received and received[0].get("type") == "websocket.receive" and received[0].get("bytes") == b"\x00\x01binary", (
        f"expected the app to receive {{'type': 'websocket.receive', 'bytes': b'\\x00\\x01binary'}}, got {received!r}"
    )
    assert received[0].get("text") is None, f"expected no 'text' with a binary message, got {received[0]!r}"


@pytest.mark.spec("RFC 6455 §5.5.3 (an unsolicited pong needs no answer); ASGI WebSocket §Receive")
def test_an_unsolicited_pong_is_ignored(serve: Any) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        client.open("/")
        client.send(bytes(client.frames.pong(b"heartbeat")) + bytes(client.frames.send_data("after the pong")))
        opcode, payload = client.next_message("the echo of the text after the pong")
        assert (opcode, payload) == (WsOpcode.TEXT, "after the pong"), (
            f"expected only the text 'after the pong' back (a pong is not a message for the app), got {opcode!r} {payload!r}"
        )


@pytest.mark.spec("RFC 6455 §7.1.7 (fail the connection); ASGI WebSocket §Disconnect")
def test_a_protocol_error_reaches_the_app_as_disconnect(serve: Any) -> None:
    recorder = probes.Recorder()
    with serve(recorder) as base:
        with raw(base) as client:
            client.open("/")
            client.send(b"\x81\x05Hello")  # unmasked
            assert client.expect_close("a close frame 1002 after an unmasked frame") == 1002
        wait_until(
            lambda: any(m.get("type") == "websocket.disconnect" for m in recorder.received),
            timeout=CLIENT_TIMEOUT,
            what="the app receiving websocket.disconnect after the protocol error",
        )
    disconnect = next(m for m in recorder.received if m.get("type") == "websocket.disconnect")
    assert disconnect.get("code") == 1002, f"expected websocket.disconnect with the close code 1002, got {disconnect!r}"


@pytest.mark.parametrize(
    ("mode", "expected", "what"),
    [
        pytest.param("send-before-accept", Exception, "websocket.send before websocket.accept", id="send-before-accept"),
        pytest.param("accept-after-refusal", Exception, "websocket.accept after the app's websocket.close refused the handshake", id="accept-after-refusal"),
        pytest.param("unknown-after-accept", Exception, "a message type the WebSocket spec does not have", id="unknown-type"),
        pytest.param("send-after-own-close", Exception, "websocket.send after the app's own websocket.close", id="send-after-close"),
        pytest.param("send-after-disconnect", OSError, "websocket.send once the client has gone", id="send-after-disconnect"),
    ],
)
@pytest.mark.spec("ASGI WebSocket §Send, §Close, §Disconnected Client (send raises an OSError subclass, spec 2.4); RFC 6455 §5.5.1")
def test_send_refuses_what_the_state_does_not_allow(serve: Any, mode: str, expected: type, what: str) -> None:
    app = probes.Misuse(mode)
    with serve(app) as base, raw(base) as client:
        status, _ = client.handshake("/")
        if status == 101 and mode == "send-after-disconnect":
            client.send(bytes(client.frames.close(1000)))
        assert app.done.wait(CLIENT_TIMEOUT), f"the probe app never got to try {what}"
    assert app.outcome and isinstance(app.outcome[0], expected), (
        f"expected send() to raise {'an OSError (ClientDisconnected)' if expected is OSError else 'an exception'} for "
        f"{what}, got {app.outcome[0] if app.outcome else None!r}"
        + (": after a close frame no data frame may follow (RFC 6455 §5.5.1)" if mode == "send-after-own-close" else "")
    )


@pytest.mark.spec("ASGI WebSocket §Close (before accept); §Disconnect")
def test_receive_after_a_refusal_gives_disconnect(serve: Any) -> None:
    app = probes.Misuse("receive-after-refusal")
    with serve(app) as base, raw(base) as client:
        status, _ = client.handshake("/")
        assert status == 403, f"expected the refused handshake to answer 403, got {status}"
        assert app.done.wait(CLIENT_TIMEOUT), "the probe app never finished"
    got = app.outcome[0] if app.outcome else None
    assert isinstance(got, dict) and got.get("type") == "websocket.disconnect" and got.get("code") == 1006, (
        f"expected receive() after a close before accept to give {{'type': 'websocket.disconnect', 'code': 1006}} "
        f"(no WebSocket ever opened, so no close frame), got {got!r}"
    )


@pytest.mark.spec("the stub's WebSocketConnection.receive() (disconnect, forever after)")
def test_receive_keeps_giving_disconnect() -> None:
    # Only your server: the ASGI spec does not say what a second receive() gives (uvicorn waits forever).
    app = probes.Misuse("receive-after-disconnect")
    with served(app, "yours") as base, raw(base) as client:
        client.open("/")
        client.send(bytes(client.frames.close(4002, "bye")))
        assert app.done.wait(CLIENT_TIMEOUT), "the probe app never finished"
    got = app.outcome[0] if app.outcome else None
    assert isinstance(got, dict) and got.get("type") == "websocket.disconnect" and got.get("code") == 4002, (
        f"expected a second receive() after the disconnect to give the same websocket.disconnect (code 4002) again, got {got!r}"
    )


@pytest.mark.spec("RFC 6455 §7.1.1, §7.1.7 (a peer that does not answer: drop TCP); the stub's CLOSE_TIMEOUT")
def test_a_server_close_gives_up_on_a_silent_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket_server, "CLOSE_TIMEOUT", 0.5)
    with served(probes.hang_up, "yours") as base, raw(base) as client:
        client.open("/")
        assert client.next_message("'goodbye'") == (WsOpcode.TEXT, "goodbye")
        client.expect_close("the app's close frame (4000)")
        client.sock.settimeout(5.0 + 3)  # CLOSE_TIMEOUT as the stub gives it, in case yours read it early
        client.expect_eof("the server to drop the TCP connection when the client never answered its close frame")


@pytest.mark.spec("RFC 6455 §7.4.1 (1009: message too big), §5.4 (the limit counts every fragment of a message)")
def test_max_size_counts_a_whole_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only your server, with a small limit: the given WebSocketConnection(..., max_size=...) default, lowered.
    monkeypatch.setitem(websocket_server.WebSocketConnection.__init__.__kwdefaults__, "max_size", 1000)

    def fragments(first: int, second: int) -> bytes:
        sender = client_frames()
        return bytes(sender.send_data(b"a" * first, fin=False) + sender.send_data(b"b" * second, fin=True))

    with served(probes.echo, "yours") as base:
        with raw(base) as client:
            client.open("/")
            for i in range(2):
                client.send(fragments(600, 400))
                opcode, payload = client.next_message(f"the echo of message {i + 1}: exactly max_size (1000 bytes)")
                assert len(payload) == 1000, (
                    f"expected message {i + 1} of exactly max_size=1000 bytes (in two fragments) to be echoed whole, got "
                    f"{len(payload)} bytes: count each message from 0"
                )
            client.send(fragments(600, 401))
            code = client.expect_close("a close frame 1009 for a 1001-byte message (max_size is 1000)")
            assert code == 1009, f"expected close code 1009 (too big) for a message one byte over max_size, got {code}"
        with raw(base) as client:
            client.open("/")
            client.send(fragments(600, 401))
            code = client.expect_close("a close frame 1009 for a first message of 1001 bytes (max_size is 1000)")
            assert code == 1009, f"expected close code 1009 (too big) for a first message one byte over max_size, got {code}"


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The `websockets` implementation is deprecated")
@pytest.mark.spec("RFC 6455 §7.1.5, §7.4.1 (1006: closed without a close frame); ASGI WebSocket §Disconnect")
def test_a_dropped_connection_reaches_the_app_as_1006(serve: Any) -> None:
    recorder = probes.Recorder()
    # uvicorn's websockets implementation reports 1006 here (its others say 1005, "no status code").
    with serve(recorder, ws="websockets") as base:
        with raw(base) as client:
            client.open("/")
            client.send(bytes(client.frames.send_data("one")))
            assert client.next_message("the echo of 'one'") == (WsOpcode.TEXT, "one")
        # leaving the block closes the TCP connection without a close frame
        wait_until(
            lambda: any(m.get("type") == "websocket.disconnect" for m in recorder.received),
            timeout=CLIENT_TIMEOUT,
            what="the app receiving websocket.disconnect after the client dropped the connection",
        )
    disconnect = next(m for m in recorder.received if m.get("type") == "websocket.disconnect")
    assert disconnect.get("code") == 1006, (
        f"expected websocket.disconnect with code 1006 (abnormal closure: the TCP connection ended without a close "
        f"frame), got {disconnect!r}"
    )


@pytest.mark.spec("ASGI WebSocket §Disconnect (code, reason); RFC 6455 §5.5.1 (echo the close)")
def test_client_close_reaches_the_app_as_disconnect(serve: Any) -> None:
    recorder = probes.Recorder()
    with serve(recorder) as base:
        with opened(base) as ws:
            ws.send("one")
            assert recv(ws, "the echo of 'one'") == "one"
            ws.close(4001, "client is done")
            assert ws.close_code == 4001, (
                f"expected the server to answer the client's close frame with the same code 4001, got {ws.close_code!r}"
            )
        wait_until(
            lambda: any(m.get("type") == "websocket.disconnect" for m in recorder.received),
            timeout=CLIENT_TIMEOUT,
            what="the app receiving websocket.disconnect after the client closed",
        )
        types = [m.get("type") for m in recorder.received]
    assert types[:3] == ["websocket.connect", "websocket.receive", "websocket.disconnect"], (
        f"expected the app to receive connect, receive, disconnect; got {types!r}"
    )
    receive, disconnect = recorder.received[1], recorder.received[2]
    assert receive.get("text") == "one" and receive.get("bytes") is None, f"expected {{'text': 'one', 'bytes': None}}, got {receive!r}"
    assert disconnect.get("code") == 4001, f"expected websocket.disconnect with code 4001, got {disconnect!r}"
    assert disconnect.get("reason") == "client is done", f"expected the reason 'client is done' (ASGI spec 2.5), got {disconnect.get('reason')!r}"


@pytest.mark.spec("ASGI WebSocket §Send; RFC 6455 §5.1 (one TCP connection per client, served concurrently)")
def test_serves_many_clients_at_once(serve: Any) -> None:
    with serve(probes.echo) as base, contextlib.ExitStack() as stack:
        clients = [stack.enter_context(opened(base, f"/{i}")) for i in range(10)]
        for i, ws in enumerate(clients):
            ws.send(f"client {i}")
        for i, ws in reversed(list(enumerate(clients))):
            got = recv(ws, f"client {i}'s echo")
            assert got == f"client {i}", f"expected 'client {i}' back on connection {i}, got {got!r}"


# --- frame by frame -------------------------------------------------------------------------


@pytest.mark.spec("RFC 6455 §5.5.2 (ping), §5.5.3 (pong); §5.1 (server frames unmasked)")
def test_ping_is_answered_with_pong(serve: Any) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        client.open("/")
        client.send(bytes(client.frames.ping(b"are you there?")))
        frame = client.next_frame("a pong")
        assert frame.opcode == WsOpcode.PONG, f"expected a pong frame (opcode 0xA), got {frame.opcode!r}"
        assert frame.payload == b"are you there?", f"expected the pong to carry the ping's payload, got {frame.payload!r}"
        client.send(bytes(client.frames.send_data("after the ping")))
        opcode, payload = client.next_message("the echo after the ping")
        assert (opcode, payload) == (WsOpcode.TEXT, "after the ping"), f"expected the text echo 'after the ping', got {opcode!r} {payload!r}"


@pytest.mark.spec("RFC 6455 §5.4 (fragmentation; control frames between fragments); ASGI WebSocket (whole messages)")
def test_fragments_are_joined_into_one_message(serve: Any) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        client.open("/")
        sender = client_frames()
        wire = sender.send_data("Hello, ", fin=False) + sender.ping(b"mid") + sender.send_data("frag", fin=False) + sender.send_data("ments!", fin=True)
        client.send(bytes(wire))
        frame = client.next_frame("the pong for the ping between the fragments")
        assert frame.opcode == WsOpcode.PONG, f"expected the pong first (the message is not complete before its last fragment), got {frame.opcode!r}"
        opcode, payload = client.next_message("the echo of the fragmented message")
        assert (opcode, payload) == (WsOpcode.TEXT, "Hello, fragments!"), (
            f"expected one text message 'Hello, fragments!', got {opcode!r} {payload!r} "
            "(collect the fragments until FIN, and only then give the app one websocket.receive)"
        )
        binary = client_frames()
        client.send(bytes(binary.send_data(b"\x00" * 100, fin=False) + binary.send_data(b"\x01" * 70_000, fin=True)))
        opcode, payload = client.next_message("the echo of a fragmented binary message")
        assert opcode == WsOpcode.BINARY and payload == b"\x00" * 100 + b"\x01" * 70_000, (
            f"expected one binary message of 70100 bytes, got {opcode!r} with {len(payload)} bytes"
        )


@pytest.mark.spec("RFC 6455 §5.5.1, §7.1.1 (closing handshake: answer, then the server closes TCP)")
def test_close_handshake_then_the_server_closes_tcp(serve: Any) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        client.open("/")
        client.send(bytes(client.frames.close(1000, "bye")))
        frame = client.next_frame("the server's close frame in answer")
        assert frame.opcode == WsOpcode.CLOSE, f"expected a close frame in answer to ours, got {frame.opcode!r}"
        assert frame.payload[0] == CloseReason.NORMAL_CLOSURE, f"expected the answer to carry code 1000, got {frame.payload!r}"
        client.expect_eof("the server to close the TCP connection after the closing handshake")


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        pytest.param(None, "the closing handshake (our close frame, its answer)", id="close-handshake"),
        pytest.param(b"\x81\x05Hello", "a protocol error (an unmasked frame)", id="protocol-error"),
    ],
)
@pytest.mark.spec("RFC 6455 §5.5.1 (after sending and receiving a close, MUST close TCP), §7.1.1, §7.1.7")
def test_the_server_closes_tcp_even_while_the_app_is_busy(serve: Any, wire: bytes | None, why: str) -> None:
    app = probes.Deaf()
    try:
        with serve(app) as base, raw(base) as client:
            client.open("/")
            client.send(bytes(client.frames.close(1000, "bye")) if wire is None else wire)
            frame = client.next_frame(f"a close frame after {why}")
            assert frame.opcode == WsOpcode.CLOSE, f"expected a close frame after {why}, got {frame.opcode!r}"
            client.expect_eof(
                f"the server to close the TCP connection after {why}, even though the app has not returned: "
                "close the writer yourself, do not wait for the app"
            )
            app.release.set()
    finally:
        app.release.set()


@pytest.mark.spec("RFC 6455 §5.5.1, §7.1.1, §7.1.2 (the closing handshake: wait for the client's close frame)")
def test_a_server_close_waits_for_the_client_answer(serve: Any) -> None:
    with serve(probes.hang_up) as base, raw(base) as client:
        client.open("/")
        assert client.next_message("'goodbye'") == (WsOpcode.TEXT, "goodbye")
        code = client.expect_close("the app's close frame (4000)")
        assert code == 4000, f"expected the app's close code 4000, got {code}"
        client.sock.settimeout(0.3)
        try:
            early = client.sock.recv(65536)
        except TimeoutError:
            early = None  # still open: the server waits for our answer, as it should
        except ConnectionResetError:
            early = b""
        finally:
            client.sock.settimeout(CLIENT_TIMEOUT)
        assert early is None, (
            f"expected the server to keep the connection open for the client's answering close frame (it waits up to "
            f"CLOSE_TIMEOUT seconds), but it {'closed TCP at once' if not early else f'sent {early!r}'}: in finish(), "
            "wait for the reader task before you cancel it"
        )
        client.send(bytes(client.frames.close(4000)))
        client.expect_eof("the server to close the TCP connection once the client answered its close frame")


@pytest.mark.parametrize(
    ("wire", "code", "why"),
    [
        pytest.param(b"\x81\x05Hello", 1002, "a client frame without a mask", id="unmasked"),
        pytest.param(b"\xc1\x80\x00\x00\x00\x00", 1002, "a frame with RSV1 set and no extension", id="rsv1"),
        pytest.param(b"\x80\x80\x00\x00\x00\x00", 1002, "a continuation frame with nothing to continue", id="stray-continuation"),
        pytest.param(b"\x01\x80\x00\x00\x00\x00" + b"\x81\x80\x00\x00\x00\x00", 1002, "a new message before the last one's final fragment", id="interleaved-messages"),
        pytest.param(None, 1007, "a text message that is not UTF-8", id="invalid-utf8"),
    ],
)
@pytest.mark.spec("RFC 6455 §5.1 (clients must mask), §5.2, §5.4, §8.1 (UTF-8), §7.1.7 (fail the connection), §7.4.1")
def test_protocol_errors_close_the_connection_with_a_code(serve: Any, wire: bytes | None, code: int, why: str) -> None:
    if wire is None:
        wire = masked_frame(0x81, b"\xff\xfe bad utf-8")
    with serve(probes.echo) as base, raw(base) as client:
        client.open("/")
        client.send(wire)
        got = client.expect_close(f"a close frame with code {code} after {why}")
        assert got == code, f"expected close code {code} after {why}, got {got}"
        client.expect_eof(f"the server to drop the TCP connection after {why}")


# --- a real framework -----------------------------------------------------------------------


@pytest.mark.spec("ASGI WebSocket (a framework's WebSocketRoute on your server)")
def test_starlette_app_over_http_and_websocket(serve: Any) -> None:
    with serve(probes.make_starlette_app()) as base:
        response = httpx.get(base + "/", timeout=CLIENT_TIMEOUT)
        assert (response.status_code, response.text) == (200, "home page"), (
            f"expected GET / to answer 200 'home page', got {response.status_code} {response.text[:60]!r}"
        )
        with opened(base, "/shout") as ws:
            for text in ["hello", "again"]:
                ws.send(text)
                got = recv(ws, "Starlette's answer")
                assert got == text.upper(), f"expected {text.upper()!r} from the Starlette endpoint, got {got!r}"
        with opened(base, "/sum/lobby") as ws:
            ws.send(json.dumps([1, 2, 3.5]))
            answer = json.loads(recv(ws, "the JSON sum"))
            assert answer == {"sum": 6.5, "room": "lobby"}, f"expected {{'sum': 6.5, 'room': 'lobby'}}, got {answer!r}"
            code, reason = closed_with(ws, "Starlette's close (1000, 'sum sent')")
            assert (code, reason) == (1000, "sum sent"), f"expected close 1000 'sum sent', got {code!r} {reason!r}"
        status = None
        try:
            with connect(ws_url(base, "/no-such-route"), open_timeout=CLIENT_TIMEOUT, close_timeout=2):
                pass
        except InvalidStatus as exc:
            status = exc.response.status_code
        assert status == 403, f"expected a WebSocket to an unknown Starlette route to be refused with 403, got {status!r}"


@pytest.mark.spec("running it by hand: python -m websocket_server module:app --port N")
def test_runs_from_the_command_line() -> None:
    # The child imports the same websocket_server this test did (yours, or the solution) first.
    folders = [os.path.dirname(os.path.abspath(module.__file__ or "")) for module in (websocket_server, probes)]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(folders))}
    argv = python_argv("-m", "websocket_server", "websocket_server_probes:echo", "--port", "0")
    with subprocess_serving(argv, ready=r"Serving on http://127\.0\.0\.1:(?P<port>\d+)", env=env, name="python -m websocket_server") as base:
        with opened(base, "/") as ws:
            ws.send("from the command line")
            got = recv(ws, "the echo")
            assert got == "from the command line", f"expected the echo 'from the command line', got {got!r}"
