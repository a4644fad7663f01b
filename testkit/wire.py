"""What went over the wire in one test: the bytes its client sent a server, and the bytes it got back.

When a test that drives a server fails, the student needs the server's side of the story: what the
test sent, what came back, and what the server printed. The serving helpers (:mod:`testkit.serving`)
put each server they run under :func:`watching`; while one is watched, every connection the test
opens to it with ``socket.create_connection`` — httpx, websockets' sync client and the tests' own
raw sockets all connect that way — is *tapped*: the socket keeps working as before, and a copy of
each ``send``/``sendall``/``recv``/``recv_into`` lands on the current :class:`Tape` (bounded).

The grader's plugin rewinds the tape as each test starts (:func:`rewind`) and reads it when one fails
(:func:`report`): the last connection's bytes, escaped, and a command that sends the same request by
hand (:mod:`testkit.replay`). Only the test's client side is tapped, never the server's own sockets:
what is recorded is exactly what a client saw.

This is a diagnostic, not evidence: the student's code runs in the same process and could change
what is recorded here, which changes nothing but what the failure shows.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

KEPT = 64 * 1024
"""Bytes kept per direction of one connection (what a failure shows is smaller still)."""
CONNECTIONS = 64
"""Connections kept per test: a test that opens thousands keeps its first ones."""
OUTPUT_LINES = 400
"""Lines of a server process's output kept per test."""

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Connection:
    """One tapped connection: the server it went to, and the bytes each way (the first ``KEPT``)."""

    server: str
    host: str
    port: int
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)
    sent_total: int = 0
    received_total: int = 0

    def note(self, direction: str, data: bytes | bytearray | memoryview) -> None:
        kept: bytearray = getattr(self, direction)
        size = len(data)
        setattr(self, f"{direction}_total", getattr(self, f"{direction}_total") + size)
        room = KEPT - len(kept)
        if room > 0:
            kept += bytes(data[:room])


@dataclass
class Tape:
    """Everything recorded during one test."""

    servers: list[str] = field(default_factory=list)  # the servers watched, in the order they started
    connections: list[Connection] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # lines a server process printed while watched
    opened: int = 0  # connections opened, kept or not

    def last_exchange(self) -> tuple[int, Connection] | None:
        """The last connection that carried any bytes (1-based position), else the last one opened."""
        for index in range(len(self.connections) - 1, -1, -1):
            connection = self.connections[index]
            if connection.sent_total or connection.received_total:
                return index + 1, connection
        return (len(self.connections), self.connections[-1]) if self.connections else None


_lock = threading.Lock()
_tape = Tape()
_watched: dict[int, list[tuple[str, str]]] = {}  # port -> (host, server name), innermost watch last
_tapped: weakref.WeakKeyDictionary[socket.socket, Connection] = weakref.WeakKeyDictionary()
_create_connection = socket.create_connection  # the real one, kept before any tap is installed


def rewind() -> None:
    """Start a new tape (the grader's plugin calls this as each test starts)."""
    global _tape
    with _lock:
        # A server that outlives a test (a module's fixture) is still watched in the next one.
        _tape = Tape(servers=[stack[-1][1] for stack in _watched.values()])
        _tapped.clear()


class Watch:
    """One server under watch: what it prints is recorded only while the watch lasts."""

    def __init__(self, host: str, port: int, name: str) -> None:
        self.host, self.port, self.name = host, port, name
        self.active = True

    def printed(self, line: str) -> None:
        """A line the server printed (its process's output): kept on the current test's tape."""
        output = _tape.output
        if self.active and len(output) < OUTPUT_LINES:
            output.append(f"{line.rstrip()}\n")


@contextlib.contextmanager
def watching(host: str, port: int, name: str) -> Iterator[Watch]:
    """Tap the test's connections to ``host:port`` while the block runs; ``name`` says whose server it is."""
    watch = Watch(host, port, name)
    with _lock:
        _tape.servers.append(name)
        _watched.setdefault(port, []).append((host, name))
        socket.create_connection = _tapping_create_connection
    try:
        yield watch
    finally:
        watch.active = False
        with _lock:
            stack = _watched.get(port, [])
            if (host, name) in stack:
                stack.remove((host, name))
            if not stack:
                _watched.pop(port, None)
            if not _watched:
                socket.create_connection = _create_connection


def _tapping_create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
    sock = _create_connection(address, *args, **kwargs)
    host, port = str(address[0]), int(address[1])
    with _lock:
        watched = _watched.get(port, [None])[-1]
        if watched is None or not (host == watched[0] or {host, watched[0]} <= LOOPBACK):
            return sock
        _tape.opened += 1
        if len(_tape.connections) >= CONNECTIONS:
            return sock
        connection = Connection(server=watched[1], host=host, port=port)
        _tape.connections.append(connection)
        _tapped[sock] = connection
    sock.__class__ = _TappedSocket  # same layout: only the methods below differ
    return sock


def _note(sock: socket.socket, direction: str, data: bytes | bytearray | memoryview) -> None:
    with _lock:
        connection = _tapped.get(sock)
        if connection is not None and data:
            connection.note(direction, data)


class _TappedSocket(socket.socket):
    """A client socket whose bytes are copied onto the tape; it behaves as a plain socket otherwise."""

    __slots__ = ()

    def send(self, data: Any, *args: Any) -> int:
        sent = super().send(data, *args)
        _note(self, "sent", memoryview(data)[:sent])
        return sent

    def sendall(self, data: Any, *args: Any) -> None:
        _note(self, "sent", memoryview(data))  # before: a failure halfway still shows what was meant
        super().sendall(data, *args)

    def recv(self, size: int, *args: Any) -> bytes:
        data = super().recv(size, *args)
        _note(self, "received", data)
        return data

    def recv_into(self, buffer: Any, size: int = 0, *args: Any) -> int:
        count = super().recv_into(buffer, size, *args)
        _note(self, "received", memoryview(buffer)[:count])
        return count


def report() -> dict[str, str]:
    """The current test's exchange, ready to show: ``{}`` when it watched no server.

    Keys: ``server`` (whose), ``connection`` ("2 of 3"), ``sent`` and ``received`` (escaped and
    bounded, see :func:`testkit.replay.shown`), ``replay`` (a command that sends the same request),
    ``output`` (what a server process printed).
    """
    from testkit.replay import command, shown

    current = _tape
    if not current.servers:
        return {}
    found: dict[str, str] = {"server": current.servers[-1], "output": "".join(current.output)}
    last = current.last_exchange()
    if last is not None:
        position, connection = last
        found.update(
            server=connection.server,
            connection=f"{position} of {current.opened}",
            sent=shown(bytes(connection.sent), connection.sent_total),
            received=shown(bytes(connection.received), connection.received_total),
            replay=command(bytes(connection.sent)),
        )
    return found


def last_received() -> bytes:
    """The bytes the last connection received: what "your server sent" shows when a client gave up."""
    last = _tape.last_exchange()
    return bytes(last[1].received) if last is not None else b""
