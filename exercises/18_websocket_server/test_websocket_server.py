"""Exercise 18 is graded in two rounds; only the second runs on your exercise 15.

First the protocol core, sans-IO: the pure functions, ``FrameDecoder`` and ``MessageAssembler``, fed
bytes by the test (whole, in 10-byte pieces and one byte at a time, so that every partial path runs)
and checked against RFC 6455's own examples and against ``wsproto`` and ``websockets`` as independent
implementations. None of it needs exercise 15: it grades this exercise whatever state 15 is in.

Then the bridge, over TCP: ``websocket_serving.Server`` (your exercise-15 ``Server`` with your
``upgrade_handler`` as its ``upgrade`` hook) serves the probe apps of ``websocket_server_probes.py`` and
a Starlette app on 127.0.0.1 and a free port; the ``websockets`` client connects as a browser would, and
a hand-driven client sends exact frames (built by ``wsproto`` or by hand) and checks the server's bytes.
Every black-box test also runs against uvicorn (marked ``reference``) to prove the test itself. When your
exercise 15 is missing, unfinished, or raises when it is imported, these tests fail with one sentence
that says so (the last test proves it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import h11
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.utils import accept_key as websockets_accept_key
from wsproto.frame_protocol import CloseReason, FrameDecoder as WsprotoFrameDecoder, FrameProtocol, Opcode as WsOpcode, ParseFailed

import websocket_server
import websocket_server_probes as probes
from testkit.asgi import MemoryWriter
from testkit.asgi_spec import ServerChecks, check_scope
from testkit.peers import peer_deviation
from testkit.prerequisites import PrerequisiteMissing, earlier, fail_prerequisite, finished
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


def client_frames() -> FrameProtocol:
    """wsproto's frame layer, client side: it masks what it builds and refuses masked server frames."""
    return FrameProtocol(client=True, extensions=[])


def xor(payload: bytes, mask: bytes) -> bytes:
    """RFC 6455 §5.3 masking, the test's own (so that a frame built by hand does not use yours)."""
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def by_hand(first: int, payload: bytes, *, length: bytes | None = None, mask: bytes | None = RFC_MASK) -> bytes:
    """A client frame built by hand: ``first`` byte, the MASK bit with the 7-bit length (or ``length``,
    the second byte and extended length exactly as given), the mask, the masked payload."""
    if length is None:
        length = bytes([len(payload)])
    if mask is None:
        return bytes([first]) + length + payload
    return bytes([first, length[0] | 0x80]) + length[1:] + mask + xor(payload, mask)


# ---------------------------------------------------------------------------------------------
# The protocol core, sans-IO: keys, masks, frames out
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
    expected = xor(payload, mask)
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


# ---------------------------------------------------------------------------------------------
# The protocol core, sans-IO: frames in (FrameDecoder)
# ---------------------------------------------------------------------------------------------

PIECES = [pytest.param(None, id="whole"), pytest.param(10, id="10-byte-pieces"), pytest.param(1, id="1-byte-pieces")]


def pieces(wire: bytes, size: int | None) -> list[bytes]:
    """``wire`` as a socket might deliver it: whole, or cut every ``size`` bytes."""
    step = size or max(len(wire), 1)
    return [wire[start : start + step] for start in range(0, len(wire), step)]


def decode(wire: bytes, piece: int | None = None, **kwargs: Any) -> list[Frame]:
    """Feed ``wire`` to a new FrameDecoder of yours (whole or in ``piece``-byte pieces); every frame it gave."""
    decoder = websocket_server.FrameDecoder(**kwargs)
    frames: list[Frame] = []
    for data in pieces(wire, piece):
        got = decoder.feed(data)
        assert isinstance(got, list), f"expected feed() to return a list of frames, got {type(got).__name__}"
        frames += got
    return frames


def triples(frames: list[Frame]) -> list[tuple[int, bool, bytes]]:
    return [(int(frame.opcode), bool(frame.fin), bytes(frame.payload)) for frame in frames]


def wsproto_reads(wire: bytes) -> list[tuple[int, bool, bytes]]:
    """What wsproto's server-side frame decoder reads in ``wire``: (opcode, fin, payload) per frame."""
    decoder = WsprotoFrameDecoder(client=False, extensions=[])
    decoder.receive_bytes(wire)
    frames, opcode, payload = [], None, b""
    while (frame := decoder.process_buffer()) is not None:
        opcode = int(frame.opcode) if opcode is None else opcode  # a frame may come in parts
        payload += frame.payload
        if frame.frame_finished:
            frames.append((opcode, frame.message_finished, payload))
            opcode, payload = None, b""
    return frames


def refusal(wire: bytes, piece: int | None = None, **kwargs: Any) -> tuple[int | None, list[Frame]]:
    """Feed ``wire`` until your decoder raises: the ProtocolError's code (``None``: it never raised), and the frames before."""
    decoder = websocket_server.FrameDecoder(**kwargs)
    frames: list[Frame] = []
    try:
        for data in pieces(wire, piece):
            frames += decoder.feed(data)
    except ProtocolError as exc:
        return getattr(exc, "code", None), frames
    return None, frames


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.spec("RFC 6455 §5.2, §5.3, §5.7 (a masked frame)")
def test_frame_decoder_reads_and_unmasks_the_rfc_example(piece: int | None) -> None:
    frames = decode(RFC_MASKED_HELLO, piece)
    assert len(frames) == 1 and isinstance(frames[0], Frame), f"expected one Frame from the RFC's masked 'Hello', got {frames!r}"
    frame = frames[0]
    assert (frame.fin, frame.opcode, frame.payload) == (True, Opcode.TEXT, b"Hello"), (
        f"expected fin=True, opcode=TEXT (1), payload=b'Hello' unmasked; got {frame!r}"
    )


@pytest.mark.spec("RFC 6455 §5.2 (a frame arrives in pieces: keep the bytes until it is whole)")
def test_frame_decoder_waits_for_a_whole_frame() -> None:
    decoder = websocket_server.FrameDecoder()
    assert decoder.feed(b"") == [], "expected feed(b'') to give no frame"
    for end in range(1, len(RFC_MASKED_HELLO)):
        got = decoder.feed(RFC_MASKED_HELLO[end - 1 : end])
        assert got == [], f"expected no frame after {end} of its {len(RFC_MASKED_HELLO)} bytes, got {got!r}"
    got = decoder.feed(RFC_MASKED_HELLO[-1:] + RFC_MASKED_HELLO[:3])  # the last byte, and the start of the next frame
    assert triples(got) == [(0x1, True, b"Hello")], f"expected the frame once its last byte came, got {got!r}"
    got = decoder.feed(RFC_MASKED_HELLO[3:])
    assert triples(got) == [(0x1, True, b"Hello")], (
        f"expected the second frame, whose first bytes came with the first one's last, got {got!r}: keep what is "
        "left over after a frame for the next one"
    )


@pytest.mark.parametrize(
    ("size", "piece"),
    [(0, 1), (125, 1), (126, 1), (300, 1), (0, 10), (125, 10), (126, 10), (65535, 10), (65536, 10), (200_000, None), (200_000, 4096)],
    ids=lambda value: "whole" if value is None else str(value),
)
@pytest.mark.spec("RFC 6455 §5.2 (payload length: 7 bits, 7+16 bits, 7+64 bits)")
def test_frame_decoder_reads_every_length(size: int, piece: int | None) -> None:
    payload = os.urandom(size)
    wire = bytes(client_frames().send_data(payload))  # masked, as a browser would send it
    frames = decode(wire, piece)
    assert len(frames) == 1, f"expected one frame of {size} bytes fed in {piece or 'one'}-byte pieces, got {len(frames)} frames"
    assert len(frames[0].payload) == size, f"expected a {size}-byte payload, got {len(frames[0].payload)} bytes"
    assert frames[0].payload == payload, f"the {size}-byte payload differs from what wsproto sent: did you unmask it?"


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.spec("RFC 6455 §5.2, §5.4 (a message in fragments, a control frame between them)")
def test_frame_decoder_reads_several_frames_in_order(piece: int | None) -> None:
    wsproto = client_frames()
    wire = bytes(wsproto.send_data("Hel", fin=False) + wsproto.ping(b"?") + wsproto.send_data("lo", fin=True))
    got = triples(decode(wire, piece))
    expected = [(0x1, False, b"Hel"), (0x9, True, b"?"), (0x0, True, b"lo")]
    assert got == expected, (
        f"expected three frames (opcode, fin, payload) {expected!r}, got {got!r} "
        "(each frame is its header, its extended length, its mask, then exactly its payload)"
    )


def random_client_traffic(rng: random.Random, *, large: bool) -> bytes:
    """A browser's worth of frames: text and binary messages in fragments, pings and pongs between."""
    sender = client_frames()
    wire = bytearray()
    sizes = [0, 1, 5, 125, 126, 127, 300] + ([65535, 65536, 70_000] if large else [])
    for _ in range(12):
        parts = rng.randint(1, 3)
        text = rng.random() < 0.5
        for index in range(parts):
            size = rng.choice(sizes)
            data: str | bytes = "é" * (size // 2) if text else os.urandom(size)
            wire += sender.send_data(data, fin=index == parts - 1)
            if rng.random() < 0.3:
                wire += sender.ping(os.urandom(rng.randint(0, 125)))
            if rng.random() < 0.2:
                wire += sender.pong(b"unsolicited")
    wire += sender.close(1000, "done")
    return bytes(wire)


@pytest.mark.parametrize("cut", ["whole", "1-byte-pieces", "10-byte-pieces", "random-pieces"])
@pytest.mark.spec("RFC 6455 §5.2-5.5 (framing), judged by wsproto's own decoder")
def test_frame_decoder_agrees_with_wsproto(cut: str) -> None:
    rng = random.Random(6455)
    wire = random_client_traffic(rng, large=cut in ("whole", "10-byte-pieces"))
    expected = wsproto_reads(wire)
    decoder = websocket_server.FrameDecoder()
    got: list[Frame] = []
    position = 0
    while position < len(wire):
        step = {"whole": len(wire), "1-byte-pieces": 1, "10-byte-pieces": 10}.get(cut) or rng.randint(1, 40)
        got += decoder.feed(wire[position : position + step])
        position += step
    mismatch = next((i for i, (a, b) in enumerate(zip(triples(got), expected)) if a != b), None)
    assert len(got) == len(expected) and mismatch is None, (
        f"expected the {len(expected)} frames wsproto reads in the same bytes, got {len(got)}"
        + ("" if mismatch is None else f"; frame {mismatch} differs: expected {expected[mismatch][:2]} with "
           f"{len(expected[mismatch][2])} bytes, got {triples(got)[mismatch][:2]} with {len(got[mismatch].payload)} bytes")
    )


@pytest.mark.parametrize("piece", [pytest.param(None, id="whole"), pytest.param(1, id="1-byte-pieces")])
@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(by_hand(0xC1, b""), id="rsv1-bit"),
        pytest.param(by_hand(0xA1, b""), id="rsv2-bit"),
        pytest.param(by_hand(0x91, b""), id="rsv3-bit"),
        pytest.param(by_hand(0x83, b""), id="reserved-opcode-0x3"),
        pytest.param(by_hand(0x87, b""), id="reserved-opcode-0x7"),
        pytest.param(by_hand(0x8B, b""), id="reserved-opcode-0xb"),
        pytest.param(by_hand(0x8F, b""), id="reserved-opcode-0xf"),
        pytest.param(by_hand(0x09, b"p"), id="fragmented-ping"),
        pytest.param(by_hand(0x89, b"x" * 126, length=b"\x7e\x00\x7e"), id="ping-over-125-bytes"),
        pytest.param(by_hand(0x08, b"\x03\xe8"), id="fragmented-close"),
        pytest.param(by_hand(0x88, b"\x03\xe8" + b"x" * 124, length=b"\x7e\x00\x7e"), id="close-over-125-bytes"),
        pytest.param(by_hand(0x81, b"Hello", mask=None), id="unmasked-text"),
        pytest.param(by_hand(0x89, b"", mask=None), id="unmasked-ping"),
        pytest.param(by_hand(0x82, b"x" * 125, length=b"\x7e\x00\x7d"), id="125-in-16-bits"),
        pytest.param(by_hand(0x82, b"x" * 5, length=b"\x7e\x00\x05"), id="5-in-16-bits"),
        pytest.param(by_hand(0x82, b"x" * 65535, length=b"\x7f" + (65535).to_bytes(8, "big")), id="65535-in-64-bits"),
        pytest.param(by_hand(0x82, b"x" * 125, length=b"\x7f" + (125).to_bytes(8, "big")), id="125-in-64-bits"),
        pytest.param(b"\x82\xff\x80" + b"\x00" * 7 + RFC_MASK, id="64-bit-length-top-bit-set"),
    ],
)
@pytest.mark.spec("RFC 6455 §5.1 (clients mask), §5.2 (RSV bits, reserved opcodes, minimal lengths, the 64-bit top bit), §5.5")
def test_frame_decoder_refuses_frames_the_protocol_forbids(wire: bytes, piece: int | None) -> None:
    with pytest.raises(ParseFailed):  # the test's own claim, checked: wsproto refuses this frame too
        wsproto_reads(wire)
    code, frames = refusal(wire, piece)
    assert code == 1002, (
        f"expected ProtocolError with code 1002 (protocol error) for {wire[:12].hex(' ')}..., got "
        + (f"code {code!r}" if code is not None else f"no error and frames {frames!r}")
    )


@pytest.mark.parametrize(
    ("size", "length"),
    [(126, b"\x7e\x00\x7e"), (65535, b"\x7e\xff\xff"), (65536, b"\x7f" + (65536).to_bytes(8, "big"))],
    ids=["126-in-16-bits", "65535-in-16-bits", "65536-in-64-bits"],
)
@pytest.mark.spec("RFC 6455 §5.2 (the shortest form of each length is the legal one)")
def test_frame_decoder_reads_the_shortest_form_of_a_length(size: int, length: bytes) -> None:
    payload = os.urandom(size)
    got = triples(decode(by_hand(0x82, payload, length=length), 10))
    assert got == [(0x2, True, payload)], (
        f"expected one {size}-byte binary frame for the length {length.hex(' ')} (its shortest form), got "
        f"{[(o, f, len(p)) for o, f, p in got]!r}"
    )


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.spec("RFC 6455 §5.5 (control frames: a payload of 125 bytes or less)")
def test_frame_decoder_reads_a_control_frame_of_125_bytes(piece: int | None) -> None:
    wire = bytes(client_frames().ping(b"p" * 125))
    code, frames = refusal(wire, piece)
    assert code is None, f"expected a ping of exactly 125 bytes to be allowed (the limit is 125 or less), got ProtocolError {code}"
    assert triples(frames) == [(0x9, True, b"p" * 125)], f"expected a ping with 125 bytes, got {frames!r}"


@pytest.mark.spec("RFC 6455 §5.2 (a 64-bit length, top bit clear, is legal), §7.4.1 (1009: message too big)")
def test_frame_decoder_refuses_a_huge_64_bit_length_before_its_payload() -> None:
    header = b"\x82\xff\x40" + b"\x00" * 7  # 2**62 bytes: legal, but far over any max_size; no mask, no payload yet
    code, frames = refusal(header, 1, max_size=1000)
    assert code == 1009, (
        f"expected ProtocolError with code 1009 (too big) as soon as the 2**62-byte length was read, before any payload; "
        f"got {'no error' if code is None else f'code {code!r}'} (only a set top bit, 2**63, makes it 1002)"
    )


@pytest.mark.spec("RFC 6455 §7.4.1 (1009: message too big)")
def test_frame_decoder_reads_a_frame_of_exactly_max_size() -> None:
    payload = os.urandom(1000)
    code, frames = refusal(bytes(client_frames().send_data(payload)), 10, max_size=1000)
    assert code is None, f"expected a 1000-byte frame to be read with max_size=1000 (only longer ones are too big), got code {code}"
    assert triples(frames) == [(0x2, True, payload)], "expected the 1000-byte payload back, unmasked"


@pytest.mark.spec("RFC 6455 §7.4.1 (1009: message too big)")
def test_frame_decoder_refuses_a_frame_over_max_size_before_its_payload() -> None:
    wire = bytes(client_frames().send_data(b"x" * 1001))
    code, _ = refusal(wire[:4], 1, max_size=1000)  # the header and the 16-bit length: no mask, no payload yet
    assert code == 1009, (
        f"expected ProtocolError with code 1009 (message too big) for a 1001-byte frame with max_size=1000, as soon as "
        f"its length was read; got {'no error' if code is None else f'code {code!r}'}: do not wait for a payload you will refuse"
    )


# ---------------------------------------------------------------------------------------------
# The protocol core, sans-IO: messages in (MessageAssembler)
# ---------------------------------------------------------------------------------------------


def assemble(frames: list[Frame], **kwargs: Any) -> list[dict[str, Any] | None]:
    """What your MessageAssembler's add() returns for each frame, in order."""
    assembler = websocket_server.MessageAssembler(**kwargs)
    return [assembler.add(frame) for frame in frames]


def assembly_error(frames: list[Frame], **kwargs: Any) -> tuple[int | None, int]:
    """The code of the ProtocolError your assembler raised (``None``: none), and how many frames it took first."""
    assembler = websocket_server.MessageAssembler(**kwargs)
    for index, frame in enumerate(frames):
        try:
            assembler.add(frame)
        except ProtocolError as exc:
            return getattr(exc, "code", None), index
    return None, len(frames)


def received(message: Any) -> tuple[Any, Any, Any]:
    """(type, text, bytes) of a websocket.receive message: an absent key is None (ASGI WebSocket §Receive)."""
    assert isinstance(message, dict), f"expected a message dict, got {message!r}"
    return message.get("type"), message.get("text"), message.get("bytes")


@pytest.mark.spec("ASGI WebSocket §Receive (text, bytes); RFC 6455 §5.6 (data frames)")
def test_message_assembler_gives_whole_messages() -> None:
    text, binary, empty = assemble(
        [Frame(Opcode.TEXT, "héllo ✓".encode()), Frame(Opcode.BINARY, b"\x00\x01\xff"), Frame(Opcode.TEXT, b"")]
    )
    assert received(text) == ("websocket.receive", "héllo ✓", None), f"expected {{'type': 'websocket.receive', 'text': 'héllo ✓'}}, got {text!r}"
    assert received(binary) == ("websocket.receive", None, b"\x00\x01\xff"), (
        f"expected {{'type': 'websocket.receive', 'bytes': b'\\x00\\x01\\xff'}} for a binary frame, got {binary!r}"
    )
    assert received(empty) == ("websocket.receive", "", None), f"expected an empty text message to give 'text': '', got {empty!r}"


@pytest.mark.spec("RFC 6455 §5.4 (fragmentation), §8.1 (UTF-8: a character may be split between fragments)")
def test_message_assembler_joins_fragments() -> None:
    check = "✓".encode()  # three bytes: the fragments below cut it in two
    frames = [
        Frame(Opcode.TEXT, b"Hello, ", fin=False),
        Frame(Opcode.CONTINUATION, b"frag" + check[:1], fin=False),
        Frame(Opcode.CONTINUATION, check[1:] + b"ments!", fin=True),
        Frame(Opcode.BINARY, b"\x00" * 100, fin=False),
        Frame(Opcode.CONTINUATION, b"\x01" * 70, fin=True),
    ]
    got = assemble(frames)
    assert got[:2] == [None, None] and got[3] is None, (
        f"expected add() to return None until a message's last fragment (FIN) came, got {got!r}"
    )
    assert received(got[2]) == ("websocket.receive", "Hello, frag✓ments!", None), (
        f"expected one text message 'Hello, frag✓ments!' from the three fragments, got {got[2]!r} (join the payloads, then "
        "decode: the ✓ was cut between two fragments)"
    )
    assert received(got[4]) == ("websocket.receive", None, b"\x00" * 100 + b"\x01" * 70), (
        f"expected the next message, binary, to start afresh and give its 170 bytes, got {got[4]!r}"
    )


@pytest.mark.parametrize(
    ("frames", "why"),
    [
        pytest.param([Frame(Opcode.CONTINUATION, b"x")], "a continuation frame with nothing to continue", id="stray-continuation"),
        pytest.param(
            [Frame(Opcode.TEXT, b"a"), Frame(Opcode.CONTINUATION, b"b")],
            "a continuation after a message that had ended",
            id="continuation-after-fin",
        ),
        pytest.param(
            [Frame(Opcode.TEXT, b"a", fin=False), Frame(Opcode.TEXT, b"b")], "a new text message before the last one's final fragment", id="text-inside-text"
        ),
        pytest.param(
            [Frame(Opcode.BINARY, b"a", fin=False), Frame(Opcode.TEXT, b"b")],
            "a text message before the binary one's final fragment",
            id="text-inside-binary",
        ),
    ],
)
@pytest.mark.spec("RFC 6455 §5.4 (fragments: one message at a time), §7.4.1 (1002)")
def test_message_assembler_refuses_fragments_out_of_order(frames: list[Frame], why: str) -> None:
    code, taken = assembly_error(frames)
    assert (code, taken) == (1002, len(frames) - 1), (
        f"expected ProtocolError 1002 at the last frame for {why}, got "
        + ("no error" if code is None else f"code {code!r} at frame {taken}")
    )


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param([Frame(Opcode.TEXT, b"\xff\xfe bad utf-8")], id="one-frame"),
        pytest.param([Frame(Opcode.TEXT, b"ok ", fin=False), Frame(Opcode.CONTINUATION, b"\xc3")], id="cut-at-the-end"),
        pytest.param([Frame(Opcode.TEXT, b"\xed\xa0\x80", fin=True)], id="a-surrogate"),
    ],
)
@pytest.mark.spec("RFC 6455 §8.1 (text is UTF-8), §7.4.1 (1007: invalid data)")
def test_message_assembler_refuses_text_that_is_not_utf8(frames: list[Frame]) -> None:
    code, _ = assembly_error(frames)
    assert code == 1007, f"expected ProtocolError 1007 (invalid data) for a text message that is not UTF-8, got {'no error' if code is None else f'code {code!r}'}"
    binary = assemble([Frame(Opcode.BINARY, b"\xff\xfe")])[0]
    assert received(binary)[2] == b"\xff\xfe", f"expected any bytes at all in a binary message, got {binary!r}"


@pytest.mark.spec("RFC 6455 §7.4.1 (1009: message too big), §5.4 (the limit counts every fragment of a message)")
def test_message_assembler_counts_a_whole_message_against_max_size() -> None:
    fits = [Frame(Opcode.BINARY, b"a" * 600, fin=False), Frame(Opcode.CONTINUATION, b"b" * 400)]
    got = assemble(fits * 2, max_size=1000)
    assert got[0] is None and got[2] is None and all(received(m)[2] == b"a" * 600 + b"b" * 400 for m in (got[1], got[3])), (
        f"expected two messages of exactly max_size=1000 bytes (in two fragments each) to be accepted, got "
        f"{[None if m is None else len(m.get('bytes') or b'') for m in got]!r}: count each message from 0"
    )
    code, taken = assembly_error([Frame(Opcode.TEXT, b"a" * 600, fin=False), Frame(Opcode.CONTINUATION, b"b" * 401, fin=False)], max_size=1000)
    assert (code, taken) == (1009, 1), (
        f"expected ProtocolError 1009 (too big) at the fragment that takes the message to 1001 bytes (max_size=1000), "
        f"before its last fragment; got {'no error' if code is None else f'code {code!r} at frame {taken}'}"
    )
    code, _ = assembly_error([Frame(Opcode.BINARY, b"x" * 1001)], max_size=1000)
    assert code == 1009, f"expected ProtocolError 1009 for a single 1001-byte frame with max_size=1000, got {code!r}"


# ---------------------------------------------------------------------------------------------
# The protocol core, sans-IO: close payloads, the handshake, the scope
# ---------------------------------------------------------------------------------------------


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


def upgrade_request(*, method: str = "GET", http_version: str = "1.1", **changes: str | None) -> websocket_server.Request:
    """A browser's upgrade request (RFC 6455 §4.1), with ``changes`` to its headers (``None`` leaves one out)."""
    fields: dict[str, str | None] = {
        "host": "127.0.0.1",
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec_websocket_key": RFC_KEY,
        "sec_websocket_version": "13",
    }
    fields.update(changes)
    headers = [(name.replace("_", "-").encode(), value.encode("latin-1")) for name, value in fields.items() if value is not None]
    return websocket_server.Request(method=method, target=b"/chat", http_version=http_version, headers=headers)


@pytest.mark.parametrize(
    ("request_", "what"),
    [
        pytest.param(upgrade_request(), "the RFC's own request", id="rfc"),
        pytest.param(upgrade_request(connection="keep-alive, Upgrade"), "Connection: keep-alive, Upgrade (Firefox)", id="several-tokens"),
        pytest.param(upgrade_request(connection="upgrade"), "Connection: upgrade, in lower case", id="lowercase"),
    ],
)
@pytest.mark.spec("RFC 6455 §4.2.1 (the client's handshake); RFC 9110 §7.6.1 (Connection is a list, case-insensitive)")
def test_handshake_error_accepts_a_valid_upgrade(request_: websocket_server.Request, what: str) -> None:
    got = websocket_server.handshake_error(request_)
    assert got is None, f"expected handshake_error() to accept {what} (None), got {got!r}"


@pytest.mark.parametrize(
    ("request_", "what"),
    [
        pytest.param(upgrade_request(method="POST"), "a POST (the handshake is a GET)", id="post"),
        pytest.param(upgrade_request(http_version="1.0"), "an HTTP/1.0 request (RFC 6455 asks for 1.1)", id="http-1.0"),
        pytest.param(upgrade_request(connection="keep-alive"), "a Connection header that does not list upgrade", id="no-connection-upgrade"),
        pytest.param(upgrade_request(connection=None), "no Connection header at all", id="no-connection"),
        pytest.param(upgrade_request(sec_websocket_key=None), "no Sec-WebSocket-Key", id="no-key"),
        pytest.param(upgrade_request(sec_websocket_key=base64.b64encode(b"x" * 15).decode()), "a key of 15 bytes", id="key-15-bytes"),
        pytest.param(upgrade_request(sec_websocket_key=base64.b64encode(b"x" * 17).decode()), "a key of 17 bytes", id="key-17-bytes"),
        pytest.param(upgrade_request(sec_websocket_key="not base64 at all!"), "a key that is not base64", id="key-not-base64"),
        pytest.param(upgrade_request(sec_websocket_key=RFC_KEY[:10] + "*" + RFC_KEY[10:]), "a key with a stray character", id="key-stray-character"),
    ],
)
@pytest.mark.spec("RFC 6455 §4.2.1 (a GET over HTTP/1.1, Connection: Upgrade, a key of 16 bytes), §4.2.2 (400)")
def test_handshake_error_refuses_a_malformed_upgrade(request_: websocket_server.Request, what: str) -> None:
    got = websocket_server.handshake_error(request_)
    assert got is not None and got[0] == 400, (
        f"expected handshake_error() to refuse {what} with (400, ...), got {got!r} "
        "(decode the key with base64.b64decode(key, validate=True): it must give exactly 16 bytes)"
    )


@pytest.mark.parametrize("version", ["8", None], ids=["version-8", "no-version"])
@pytest.mark.spec("RFC 6455 §4.2.2 step 4, §4.4 (another version: 426, and Sec-WebSocket-Version: 13)")
def test_handshake_error_names_the_version_it_speaks(version: str | None) -> None:
    got = websocket_server.handshake_error(upgrade_request(sec_websocket_version=version))
    assert got is not None and got[0] in (400, 426), f"expected (426, ...) (or 400) for Sec-WebSocket-Version {version!r}, got {got!r}"
    named = [bytes(value) for name, value in got[1] if bytes(name).lower() == b"sec-websocket-version"]
    assert named == [b"13"], f"expected a Sec-WebSocket-Version: 13 header with the refusal, got headers {got[1]!r}"


def parse_101(raw: bytes, key: str) -> tuple[Any, bytes]:
    """Read a 101 response with h11 as the client that sent the upgrade: the response, and what follows it."""
    conn = h11.Connection(our_role=h11.CLIENT)
    headers = [("Host", "test"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    conn.send(h11.Request(method="GET", target="/chat", headers=headers))
    conn.send(h11.EndOfMessage())
    conn.receive_data(bytes(raw))
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        pytest.fail(f"the 101 response is not valid HTTP/1.1 ({exc}): {bytes(raw)[:200]!r}")
    assert isinstance(event, h11.InformationalResponse) and event.status_code == 101, (
        f"expected a complete '101 Switching Protocols' head, got {event!r} from {bytes(raw)[:200]!r}"
    )
    return event, conn.trailing_data[0]


@pytest.mark.parametrize("subprotocol", ["chat.v2", None])
@pytest.mark.spec("RFC 6455 §4.2.2 step 5 (the server's opening handshake); ASGI WebSocket §Accept")
def test_handshake_response_completes_the_handshake(subprotocol: str | None) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    raw = websocket_server.handshake_response(upgrade_request(sec_websocket_key=key), subprotocol, [(b"x-probe", b"picked")])
    response, rest = parse_101(raw, key)
    headers = {bytes(name).lower(): bytes(value) for name, value in response.headers}
    assert rest == b"", f"expected nothing after the 101 head's empty line, got {rest!r}"
    assert headers.get(b"upgrade", b"").lower() == b"websocket", f"expected 'Upgrade: websocket', got {headers.get(b'upgrade')!r}"
    assert b"upgrade" in headers.get(b"connection", b"").lower(), f"expected 'Connection: Upgrade', got {headers.get(b'connection')!r}"
    expected = websockets_accept_key(key).encode()
    assert headers.get(b"sec-websocket-accept") == expected, f"expected 'Sec-WebSocket-Accept: {expected.decode()}', got {headers.get(b'sec-websocket-accept')!r}"
    assert headers.get(b"sec-websocket-protocol") == (subprotocol.encode() if subprotocol else None), (
        f"expected Sec-WebSocket-Protocol {subprotocol!r} (only when the app chose one), got {headers.get(b'sec-websocket-protocol')!r}"
    )
    assert headers.get(b"x-probe") == b"picked", f"expected the app's extra header 'x-probe: picked', got headers {response.headers!r}"


@pytest.mark.spec("ASGI WebSocket §Connection Scope")
def test_websocket_scope_from_a_request() -> None:
    request = websocket_server.Request(
        method="GET",
        target=b"/caf%C3%A9/room?x=1&y=%20",
        http_version="1.1",
        headers=[
            (b"host", b"example.test"),
            (b"sec-websocket-protocol", b"chat.v1, chat.v2"),
            (b"sec-websocket-protocol", b"chat.v3"),
        ],
    )
    scope = websocket_server.websocket_scope(request, ("10.0.0.1", 5555), ("127.0.0.1", 8000))
    check_scope(scope, what="websocket_scope()")  # every key of its type; then the values, one by one
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
    bare = websocket_server.websocket_scope(websocket_server.Request(method="GET", target=b"/", headers=[]), None, None)
    check_scope(bare, what="websocket_scope() of a request without a query or subprotocols")
    assert (bare.get("query_string"), bare.get("subprotocols")) == (b"", []), (
        f"expected query_string b'' and subprotocols [] for a request without either, got {bare.get('query_string')!r}, {bare.get('subprotocols')!r}"
    )


@pytest.mark.spec("ASGI WebSocket §Connection Scope (path: decoded; raw_path: as sent)")
def test_websocket_scope_of_a_path_that_is_not_utf8() -> None:
    request = websocket_server.Request(method="GET", target=b"/caf%FF", http_version="1.1", headers=[(b"host", b"x")])
    try:
        scope = websocket_server.websocket_scope(request, None, None)
    except Exception as exc:
        pytest.fail(f"expected a scope for the path /caf%FF (not UTF-8 once decoded), got {exc!r}: decode with errors='replace'")
    assert scope.get("raw_path") == b"/caf%FF", f"expected raw_path b'/caf%FF', as sent, got {scope.get('raw_path')!r}"
    assert isinstance(scope.get("path"), str) and scope["path"].startswith("/caf"), (
        f"expected path to be text starting '/caf' (the bad byte replaced), got {scope.get('path')!r}"
    )


# ---------------------------------------------------------------------------------------------
# The hook, offline: upgrade_handler() on a reader and writer of the test's own
# ---------------------------------------------------------------------------------------------


def run_hook(app: Any, request: websocket_server.Request, data: bytes = b"") -> tuple[Any, MemoryWriter, asyncio.StreamReader]:
    """``await upgrade_handler(app)(request, reader, writer)`` with ``data`` (then the end) in the reader.

    The app runs inside :class:`ServerChecks`: the scope and every ``receive()`` message are checked."""
    writer = MemoryWriter()
    checks = ServerChecks(app, what="your upgrade_handler()")

    async def go() -> tuple[Any, asyncio.StreamReader]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await websocket_server.upgrade_handler(checks)(request, reader, writer), reader

    answer, reader = run_async(go(), "the upgrade hook")
    checks.raise_first()
    return answer, writer, reader


@pytest.mark.spec("RFC 9110 §7.8 (Upgrade names a protocol); the stub's upgrade_handler()")
def test_the_hook_leaves_other_upgrades_to_http() -> None:
    request = upgrade_request(upgrade="h2c", connection="Upgrade, HTTP2-Settings")
    answer, writer, reader = run_hook(probes.echo, request, b"the next request")
    assert answer is False, f"expected the hook to answer False for 'Upgrade: h2c' (not a WebSocket: exercise 15 serves it), got {answer!r}"
    assert (bytes(writer.data), writer.closed) == (b"", False), (
        f"expected the hook to leave the connection alone for a request that is not its own, but it wrote "
        f"{bytes(writer.data)!r}{' and closed the writer' if writer.closed else ''}"
    )


@pytest.mark.spec("ASGI WebSocket §Close (before accept: 403); the stub's upgrade_handler()")
def test_the_hook_takes_a_websocket_request_and_closes_the_writer() -> None:
    answer, writer, _ = run_hook(probes.bouncer, upgrade_request())
    assert answer is True, f"expected the hook to answer True once it ran a WebSocket request (the connection was its own), got {answer!r}"
    assert bytes(writer.data).startswith(b"HTTP/1.1 403 "), f"expected the bouncer's refusal, a 403, got {bytes(writer.data)[:80]!r}"
    assert writer.closed, "expected the hook to close the writer when the WebSocket was over (exercise 15 writes nothing more)"


# ---------------------------------------------------------------------------------------------
# The bridge, over TCP, on your exercise 15 (websocket_serving.Server)
# ---------------------------------------------------------------------------------------------

_fifteen_checked: dict[str, NotImplementedError | None] = {}


def unfinished_fifteen(exc: NotImplementedError) -> NoReturn:
    """Fail with the one sentence: exercise 15 is not finished (``exc`` is its stub's own words)."""
    with finished("asgi_server", "15"):
        raise exc
    raise AssertionError("unreachable")  # finished() always turns a NotImplementedError into the sentence


def raised_in(exc: BaseException, module: ModuleType) -> bool:
    """Was ``exc`` raised by code in ``module``'s own file (rather than by a caller of it)?"""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames and module.__file__) and os.path.abspath(frames[-1].filename) == os.path.abspath(module.__file__ or "")


async def _probe_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _first_unfinished(fifteen: ModuleType) -> NotImplementedError | None:
    """Serve one request with your 15's serve_connection(), offline: its NotImplementedError, if it raised one."""

    async def one_request() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        reader.feed_eof()
        await asyncio.wait_for(fifteen.serve_connection(_probe_app, reader, MemoryWriter()), 2)

    try:
        asyncio.run(one_request())
    except NotImplementedError as exc:
        return exc
    except Exception:
        return None  # something else: the tests themselves will show it, in their own words
    return None


def usable_fifteen() -> ModuleType:
    """Your exercise 15 (``asgi_server``), imported, and tried once on one request; else the one sentence."""
    fifteen = earlier("asgi_server", "15")
    where = fifteen.__file__ or "asgi_server"
    if where not in _fifteen_checked:
        _fifteen_checked[where] = _first_unfinished(fifteen)
    if _fifteen_checked[where] is not None:
        unfinished_fifteen(_fifteen_checked[where])
    return fifteen


class Watched:
    """Your server, noting a NotImplementedError from exercise 15's ``serve_forever()`` or ``shutdown()``."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.server_address = server.server_address
        self.unfinished: NotImplementedError | None = None

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        except NotImplementedError as exc:
            self.unfinished = exc
            raise

    def shutdown(self) -> None:
        if self.unfinished is not None:
            return  # serve_forever() never ran: there is nothing to stop
        try:
            self.server.shutdown()
        except NotImplementedError as exc:
            self.unfinished = exc

    def server_close(self) -> None:
        with contextlib.suppress(NotImplementedError):
            self.server.server_close()


@contextlib.contextmanager
def _on_your_fifteen(app: Any, **options: Any) -> Iterator[str]:
    fifteen = usable_fifteen()
    import websocket_serving  # given: your 15's Server, with your upgrade_handler() as its hook

    try:
        server = Watched(websocket_serving.Server(app, HOST, 0, **options))
    except NotImplementedError as exc:
        if raised_in(exc, fifteen):
            unfinished_fifteen(exc)
        raise  # your exercise 18's own: upgrade_handler()
    try:
        with serving(server, name="websocket_serving.Server (your exercise 15, your hook)") as base:
            yield base
    except BaseException:
        if server.unfinished is not None:
            unfinished_fifteen(server.unfinished)
        raise


@contextlib.contextmanager
def on_your_fifteen(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` on ``websocket_serving.Server``: your exercise 15 with your hook. Yield the base URL.

    When exercise 15 cannot be used (missing, unfinished, raising on import), fail with one sentence.
    """
    try:
        with _on_your_fifteen(app, **options) as base:
            yield base
    except PrerequisiteMissing as exc:
        fail_prerequisite(exc)


@contextlib.contextmanager
def served(app: Any, server: str, ws: str = "websockets-sansio", **options: Any) -> Iterator[str]:
    """Serve ``app`` on uvicorn or on yours, inside :class:`ServerChecks`: every scope and every
    ``receive()`` message the server hands the app is checked against the ASGI spec (a ``websocket``
    scope's keys and types, ``websocket.connect`` first, each ``websocket.receive`` with exactly one of
    ``bytes``/``text``, an int close code), not only the ones a test asserts on. The first violation
    fails the test once serving ends."""
    checks = ServerChecks(app, what="uvicorn" if server == "uvicorn" else "your server", send_after_end=True)
    if server == "uvicorn":
        with uvicorn_serving(checks, ws=ws) as base:
            yield base
    else:
        with on_your_fifteen(checks, **options) as base:
            yield base
    checks.raise_first()


@pytest.fixture(params=["yours", pytest.param("uvicorn", marks=pytest.mark.reference)])
def serve(request: pytest.FixtureRequest) -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with serve(app) as base_url:`` runs ``app`` on your exercise 15 + 18 (graded) or uvicorn (reference).

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
def test_max_size_counts_a_whole_message() -> None:
    # Only your server, with a small limit: websocket_serving.Server(..., max_size=1000) -> upgrade_handler(app, max_size=1000).

    def fragments(first: int, second: int) -> bytes:
        sender = client_frames()
        return bytes(sender.send_data(b"a" * first, fin=False) + sender.send_data(b"b" * second, fin=True))

    with served(probes.echo, "yours", max_size=1000) as base:
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
@pytest.mark.parametrize("how", ["closed", "reset"])
@pytest.mark.spec("RFC 6455 §7.1.5, §7.4.1 (1006: closed without a close frame); ASGI WebSocket §Disconnect")
def test_a_dropped_connection_reaches_the_app_as_1006(serve: Any, how: str) -> None:
    recorder = probes.Recorder()
    # uvicorn's websockets implementation reports 1006 here (its others say 1005, "no status code").
    with serve(recorder, ws="websockets") as base:
        with raw(base) as client:
            client.open("/")
            client.send(bytes(client.frames.send_data("one")))
            assert client.next_message("the echo of 'one'") == (WsOpcode.TEXT, "one")
            if how == "reset":  # close with an RST: the server's next read fails with ConnectionResetError
                client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
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
            # §5.5.1: echoing the code is "typical", not required: any close frame answers ours.
            assert ws.close_code in (4001, 1000), (
                f"expected the server to answer the client's close frame (4001) with a close frame, its code echoed "
                f"or 1000, got {ws.close_code!r}"
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


@pytest.mark.parametrize(
    "code",
    [999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000],
    ids=lambda code: f"code-{code}",
)
@pytest.mark.spec("RFC 6455 §7.4.1 (1004 reserved; 1005, 1006, 1015 never on the wire), §7.4.2 (ranges), §7.1.7; the IANA registry")
def test_a_close_code_that_may_not_be_sent_fails_the_connection(serve: Any, code: int) -> None:
    with serve(probes.echo) as base, raw(base) as client:
        client.open("/")
        client.send(masked_frame(0x88, code.to_bytes(2, "big")))
        got = client.expect_close(f"a close frame with code 1002 after a client close frame with code {code}")
        assert got == 1002, (
            f"expected close code 1002 (protocol error) in answer to a close frame carrying {code}, which no endpoint may "
            f"send, got {got}: check the code with is_valid_close_code() in parse_close_payload()"
        )
        client.expect_eof(f"the server to drop the TCP connection after a close frame with code {code}")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        pytest.param(b"", 1005, id="no-code"),
        pytest.param((1012).to_bytes(2, "big"), 1012, id="1012-service-restart"),
        pytest.param((1013).to_bytes(2, "big"), 1013, id="1013-try-again-later"),
        pytest.param((1014).to_bytes(2, "big"), 1014, id="1014-bad-gateway"),
        pytest.param((3000).to_bytes(2, "big"), 3000, id="3000-registered"),
        pytest.param((4999).to_bytes(2, "big") + b"bye", 4999, id="4999-private"),
    ],
)
@pytest.mark.spec("RFC 6455 §7.4.1-2 and the IANA registry (1012-1014, 3000-4999 may be sent), §5.5.1; ASGI WebSocket §Disconnect (1005: no code)")
def test_a_valid_close_code_reaches_the_app(serve: Any, payload: bytes, code: int) -> None:
    recorder = probes.Recorder()
    with serve(recorder) as base, raw(base) as client:
        client.open("/")
        client.send(masked_frame(0x88, payload))
        # Read by hand, not by wsproto: wsproto 1.2 predates 1014 in the IANA registry and refuses it.
        wire = b""
        while chunk := client._recv("the server's close frame, then the end of the TCP connection"):
            wire += chunk
        assert len(wire) >= 2 and wire[0] == 0x88 and not wire[1] & 0x80 and len(wire) == 2 + (wire[1] & 0x7F), (
            f"expected one unmasked close frame in answer to ours (code {code}), then the end of TCP, got {wire[:40]!r}"
        )
        answer = int.from_bytes(wire[2:4], "big") if wire[1] & 0x7F >= 2 else 1005
        # §5.5.1: the answer is any close frame; echoing the code is "typical", not required.
        assert answer in (code, 1000), (
            f"expected the server to answer our close frame (code {code}) with its code or 1000, got {answer}"
            + (": 1002 means your server refused a code that may be sent" if answer == 1002 else "")
        )
        wait_until(
            lambda: any(m.get("type") == "websocket.disconnect" for m in recorder.received),
            timeout=CLIENT_TIMEOUT,
            what="the app receiving websocket.disconnect after the client's close frame",
        )
    disconnect = next(m for m in recorder.received if m.get("type") == "websocket.disconnect")
    assert disconnect.get("code") == code, (
        f"expected websocket.disconnect with code {code}, got {disconnect!r}"
        + (" (an empty close payload means no code: report 1005)" if code == 1005 else "")
    )


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
        pytest.param(by_hand(0x83, b""), 1002, "a frame with the reserved opcode 0x3", id="reserved-opcode-0x3"),
        pytest.param(by_hand(0x8B, b""), 1002, "a frame with the reserved opcode 0xB", id="reserved-opcode-0xb"),
        pytest.param(by_hand(0x09, b"p"), 1002, "a fragmented ping (FIN clear)", id="fragmented-ping"),
        pytest.param(by_hand(0x89, b"x" * 126, length=b"\x7e\x00\x7e"), 1002, "a ping of 126 bytes (over 125)", id="ping-over-125-bytes"),
        pytest.param(b"\x82\xff\x80" + b"\x00" * 7 + RFC_MASK, 1002, "a 64-bit length with its top bit set", id="64-bit-length-top-bit-set"),
    ],
)
@pytest.mark.spec("RFC 6455 §5.1 (clients must mask), §5.2, §5.4, §8.1 (UTF-8), §7.1.7 (fail the connection), §7.4.1")
def test_protocol_errors_close_the_connection_with_a_code(
    serve: Any, wire: bytes | None, code: int, why: str, request: pytest.FixtureRequest
) -> None:
    if wire is None:
        wire = masked_frame(0x81, b"\xff\xfe bad utf-8")
    deviation = None
    if request.node.callspec.params.get("serve") == "uvicorn" and "top bit" in why:
        deviation = "uvicorn (websockets) reads a 64-bit length with its top bit set as a huge length: 1009, not 1002"
    with serve(probes.echo) as base, raw(base) as client:
        client.open("/")
        client.send(wire)
        got = client.expect_close(f"a close frame with code {code} after {why}")
        with peer_deviation(deviation):
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




@pytest.mark.spec("RFC 9110 §7.8 (an Upgrade the server does not take is ignored); your exercise 15 serves plain HTTP")
def test_an_upgrade_to_another_protocol_is_served_as_http(serve: Any) -> None:
    with serve(probes.make_starlette_app()) as base, raw(base) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        data = b""
        while b"home page" not in data:
            chunk = client._recv("the answer to a GET with Upgrade: h2c")
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"home page"), (
        f"expected an ordinary 200 'home page' for a GET asking to upgrade to h2c (not a WebSocket: the hook answers "
        f"False and exercise 15 serves it), got {data[:200]!r}"
    )


@pytest.mark.spec("running it by hand: python -m websocket_serving module:app --port N")
def test_runs_from_the_command_line() -> None:
    try:
        fifteen = usable_fifteen()
    except PrerequisiteMissing as exc:
        fail_prerequisite(exc)
    import websocket_serving

    # The child imports the same modules this test did (yours, or the solutions) first.
    modules = (websocket_server, websocket_serving, fifteen, probes)
    folders = [os.path.dirname(os.path.abspath(module.__file__ or "")) for module in modules]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(folders))}
    argv = python_argv("-m", "websocket_serving", "websocket_server_probes:echo", "--port", "0")
    ready = r"websocket_serving: serving on http://127\.0\.0\.1:(?P<port>\d+)"
    with subprocess_serving(argv, ready=ready, env=env, name="python -m websocket_serving") as base:
        with opened(base, "/") as ws:
            ws.send("from the command line")
            got = recv(ws, "the echo")
            assert got == "from the command line", f"expected the echo 'from the command line', got {got!r}"


# ---------------------------------------------------------------------------------------------
# The proof: without a usable exercise 15, the core still grades and the rest says so in one sentence
# ---------------------------------------------------------------------------------------------

NOT_FINISHED_15 = '''
"""An exercise 15 that is not finished (the test's own stand-in)."""


class Server:
    def __init__(self, app, host="127.0.0.1", port=8000):
        raise NotImplementedError("write Server.__init__() in asgi_server.py")


async def serve_connection(app, reader, writer, *, state=None, stopping=None, upgrade=None):
    raise NotImplementedError("write serve_connection() in asgi_server.py")
'''

FIFTEENS = {
    "missing": (None, "is not in this folder"),
    "unfinished": (NOT_FINISHED_15, "is not finished yet (write serve_connection() in asgi_server.py)"),
    "crashes-on-import": ("raise RuntimeError('half-written')\n", "raises RuntimeError: half-written (line 1 of asgi_server.py) when it is imported"),
}
SANS_IO = "test_accept_key_matches_the_rfc_example"
ON_FIFTEEN = ["test_handshake_answers_101_with_the_accept_key[yours]", "test_runs_from_the_command_line"]


@pytest.mark.reference
@pytest.mark.parametrize("fifteen", list(FIFTEENS))
def test_without_a_usable_exercise_15_the_core_still_grades(fifteen: str, tmp_path: Path) -> None:
    """Runs three of these tests in a child pytest, on this exercise's module and a broken exercise 15."""
    source, why = FIFTEENS[fifteen]
    here = Path(__file__).resolve().parent
    course = tmp_path / "course"
    shutil.copytree(here, course / "exercises" / here.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(here.parent / "conftest.py", course / "exercises" / "conftest.py")
    shutil.copy(websocket_server.__file__ or "", course / "exercises" / here.name / "websocket_server.py")  # yours, or a solution
    (course / "pytest.ini").write_text("[pytest]\nmarkers =\n    spec(section): graded\n    reference: proves a test\n")
    if source is not None:
        (course / "exercises" / "15_asgi_server").mkdir()
        (course / "exercises" / "15_asgi_server" / "asgi_server.py").write_text(source)
    report = tmp_path / "report.xml"
    env = {name: value for name, value in os.environ.items() if name != "KATA_SOLUTIONS"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    selected = " or ".join(name.replace("[", " and ").rstrip("]") for name in [SANS_IO, *ON_FIFTEEN])
    test_file = course / "exercises" / here.name / Path(__file__).name
    argv = [sys.executable, "-m", "pytest", str(test_file), "-p", "pytest_timeout", "-p", "no:cacheprovider"]
    argv += ["--import-mode=importlib", f"--rootdir={course}", "-q", "-k", selected, f"--junitxml={report}"]
    child = subprocess.run(argv, cwd=course, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert report.is_file(), f"the child pytest wrote no report:\n{child.stdout[-2000:]}\n{child.stderr[-2000:]}"
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        outcomes[case.get("name")] = None if failure is None else (failure.get("message") or "") + "\n" + (failure.text or "")
    assert set(outcomes) == {SANS_IO, *ON_FIFTEEN}, f"expected the three selected tests to run, got {sorted(outcomes)!r}:\n{child.stdout[-2000:]}"
    sentence = f"this test runs on your exercise 15 (asgi_server.py), which {why}: run `grader check 15` and finish it first"
    own = outcomes[SANS_IO]
    assert own is None or "exercise 15" not in own, f"expected {SANS_IO} to grade this exercise alone, but it failed with: {own}"
    for name in ON_FIFTEEN:
        failed = outcomes[name]
        assert failed is not None and sentence in failed, f"expected {name} to fail with {sentence!r}, got: {failed}"
        assert "Traceback" not in failed and 'File "' not in failed and "asgi_server.py:" not in failed, (
            f"expected {name} to fail with the sentence alone, without a traceback, got: {failed}"
        )
