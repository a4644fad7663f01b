"""Exercise 03 (alternative) — what frameworks do: a web server from a listening socket.

The same loop every server runs (listen, accept, read, answer, close), built on ``selectors``
instead of socket timeouts:

- ``serve_forever()`` waits on the listening socket *and* on a wake-up socket pair, so
  ``shutdown()`` interrupts it at once instead of waiting for the next poll;
- each client's bytes are read non-blocking, each wait bounded by one deadline for the whole request;
- a client that is too slow gets ``408 Request Timeout`` before the server hangs up (RFC 9110 §15.5.9);
- when the server answers before it has read the whole request (400, 431, 501) it closes gently:
  half-close, then drain what the client still sends (RFC 9112 §9.6), so the client sees the answer.

Try it: ``python -m socket_server --port 8000`` then ``curl -v http://127.0.0.1:8000/``.
"""

from __future__ import annotations

import argparse
import logging
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus

Handler = Callable[[str, str], tuple[int, list[tuple[str, str]], bytes]]
"""``handler(method, path) -> (status, headers, body)``: what the server calls for every request."""

DEFAULT_TIMEOUT = 5.0
"""Seconds a client has to send its whole request (head and body) once connected."""

MAX_HEAD = 64 * 1024
"""Bytes of request head the server reads at most (a head that never ends must not eat memory)."""

RECV_SIZE = 32 * 1024
LINGER = 1.0
"""Seconds a gentle close waits for the client to finish sending before the socket is closed."""

SERVER_NAME = "callable-katas-socket/1.0"

logger = logging.getLogger("socket_server")

_HEAD_END = re.compile(rb"\r?\n\r?\n")  # CR LF CR LF, or bare LFs (RFC 9112 §2.2)
_LINE_END = re.compile(rb"\r?\n")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) HTTP/[0-9]\.[0-9]")
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*(.*)")
_DIGITS = re.compile(r"[0-9]+")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF, NUL and the other controls
# The server owns the message framing: a handler's own copy of these would contradict ours.
_FRAMING = {"content-length", "connection", "transfer-encoding"}

_PAGES = {"/": b"Hello, world"}


def hello_app(method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The default handler: ``/`` (any method) says ``b"Hello, world"``, anything else is ``404``."""
    content_type = [("Content-Type", "text/plain; charset=utf-8")]
    page = _PAGES.get(path)
    if page is None:
        return 404, content_type, b"Not Found\n"
    return 200, content_type, page


class _Reject(Exception):
    """The request cannot be served: answer ``status`` with ``message`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _ClientGone(Exception):
    """The client closed its side before the request was complete: there is no one to answer."""


class _DeadlineReader:
    """Reads one client's bytes into ``buffer``; every wait shares a single deadline."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.deadline = time.monotonic() + timeout
        self.buffer = bytearray()
        self.received = 0  # every byte seen, kept or dropped
        sock.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)

    def fill(self) -> None:
        """Append the next bytes that arrive; ``_ClientGone`` on EOF, ``TimeoutError`` past the deadline."""
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise TimeoutError("the client did not send its request in time")
            try:
                chunk = self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                continue  # woken up with nothing to read after all
            if not chunk:
                raise _ClientGone
            self.buffer += chunk
            self.received += len(chunk)
            return

    def skip(self, count: int) -> None:
        """Read and drop ``count`` bytes (the body: nobody here needs it, but it must leave the socket)."""
        while len(self.buffer) < count:
            count -= len(self.buffer)
            self.buffer.clear()  # keep memory flat whatever the body's size
            self.fill()
        del self.buffer[:count]

    def close(self) -> None:
        self._selector.close()


class SocketServer:
    """A blocking HTTP/1.1 server: one connection at a time, one request per connection.

    Shaped like :class:`socketserver.TCPServer`: ``server_address``, ``serve_forever()``,
    ``shutdown()`` and ``server_close()``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Bind ``(host, port)`` (IPv4, TCP) and listen; ``server_address`` is what was bound."""
        self.handler = handler or hello_app
        self.timeout = timeout
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # A restarted server may rebind at once, while old connections sit in TIME_WAIT.
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(64)
            self.socket.setblocking(False)  # accept() only after the selector says a client waits
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        # shutdown() writes one byte here to wake serve_forever() out of select().
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop_requested = False
        self._stopped = threading.Event()
        self._stopped.set()  # not serving yet: shutdown() has nothing to wait for

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept and answer connections one after another until :meth:`shutdown`.

        The wake-up socket makes ``shutdown()`` immediate; ``poll_interval`` only bounds how long
        a lost wake-up could go unnoticed.
        """
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._stop_requested:
                    for key, _ in selector.select(poll_interval):
                        if key.fileobj is self.socket and not self._stop_requested:
                            self._accept_one()
        finally:
            self._stop_requested = False
            self._drain_wakeups()
            self._stopped.set()

    def _accept_one(self) -> None:
        try:
            conn, _ = self.socket.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return  # the client gave up between select() and accept()
        with conn:
            try:
                self.handle_connection(conn)
            except Exception:
                # Whatever one client does (or makes us do), the next one must still be served.
                logger.exception("error while handling a connection")

    def handle_connection(self, conn: socket.socket) -> None:
        """Answer the one request on ``conn``; the caller closes ``conn`` afterwards."""
        reader = _DeadlineReader(conn, self.timeout)
        try:
            try:
                method, path = self._read_request(reader)
            except _ClientGone:
                return
            except TimeoutError:
                self._send(conn, 408, [("Content-Type", "text/plain; charset=utf-8")], b"Request Timeout\n")
                if reader.received:
                    self._linger(reader)
                return
            except _Reject as reject:
                self._send(conn, reject.status, [("Content-Type", "text/plain; charset=utf-8")], f"{reject}\n".encode())
                self._linger(reader)
                return
            status, headers, body = self._call_handler(method, path)
            self._send(conn, status, headers, body, head_only=method == "HEAD")
        except _ClientGone:
            return  # it hung up while we lingered
        except OSError as exc:
            logger.info("connection lost: %s", exc)
        finally:
            reader.close()

    def _read_request(self, reader: _DeadlineReader) -> tuple[str, str]:
        """Read the head and the body; return ``(method, path)``. ``_Reject`` when malformed."""
        searched = 0
        while (end := _HEAD_END.search(reader.buffer, searched)) is None:
            if len(reader.buffer) > MAX_HEAD:
                raise _Reject(431, "Request Header Fields Too Large")  # RFC 6585 §5
            searched = max(0, len(reader.buffer) - 3)  # the end may straddle two recv()s
            reader.fill()
        head = bytes(reader.buffer[: end.start()])
        del reader.buffer[: end.end()]
        request_line, *field_lines = _LINE_END.split(head)

        line = _REQUEST_LINE.fullmatch(request_line)
        if line is None:
            raise _Reject(400, f"Bad Request: the request line is not 'METHOD target HTTP/x.y': {request_line!r}")
        method, target = line[1].decode("ascii"), line[2].decode("iso-8859-1")
        path = self._path_of(target)

        lengths = set()
        for field_line in field_lines:
            name, colon, value = field_line.decode("iso-8859-1").partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                raise _Reject(400, f"Bad Request: malformed header line {field_line!r}")
            if name.lower() == "transfer-encoding":
                raise _Reject(501, "Not Implemented: this server cannot read a Transfer-Encoding body")
            if name.lower() == "content-length":
                lengths.update(part.strip(" \t") for part in value.split(","))
        if lengths:
            # One value, 1*DIGIT: anything else is how request smuggling starts (RFC 9112 §6.3).
            if len(lengths) > 1 or not _DIGITS.fullmatch(next(iter(lengths))):
                raise _Reject(400, f"Bad Request: invalid Content-Length {sorted(lengths)!r}")
            reader.skip(int(lengths.pop()))
        return method, path

    @staticmethod
    def _path_of(target: str) -> str:
        """The path the handler sees: the target without its query (origin- or absolute-form)."""
        if target == "*":
            return "*"  # OPTIONS * (RFC 9112 §3.2.4)
        if not target.startswith("/"):
            absolute = _ABSOLUTE_FORM.fullmatch(target)
            if absolute is None:
                raise _Reject(400, f"Bad Request: the target must start with '/': {target!r}")
            target = absolute[1] if absolute[1].startswith("/") else "/" + absolute[1]
        return target.partition("?")[0]

    def _call_handler(self, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            status, headers, body = self.handler(method, path)
            if not isinstance(status, int) or not isinstance(body, (bytes, bytearray)):
                raise TypeError(f"the handler must return (int, headers, bytes), got {status!r}, {type(body).__name__}")
            for name, value in headers:
                if not _TOKEN.fullmatch(name) or _UNSAFE_VALUE.search(value):
                    raise ValueError(f"the handler returned an unsafe header {name!r}: {value!r}")
            return status, list(headers), bytes(body)
        except Exception:
            logger.exception("the handler failed on %s %s", method, path)
            return 500, [("Content-Type", "text/plain; charset=utf-8")], b"Internal Server Error\n"

    def _send(
        self,
        conn: socket.socket,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        head_only: bool = False,
    ) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Date: {formatdate(usegmt=True)}",  # RFC 9110 §6.6.1: an origin server with a clock sends Date
            f"Server: {SERVER_NAME}",
        ]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in _FRAMING]
        lines.append("Connection: close")
        if status < 200 or status == 204:
            body = b""  # 1xx and 204 never carry a body nor a Content-Length (RFC 9110 §8.6)
        elif status == 304:
            body = b""  # a 304's length would be the stored representation's: leave it out
        else:
            lines.append(f"Content-Length: {len(body)}")
        if head_only:
            body = b""  # HEAD: the same head as GET, no content (RFC 9110 §9.3.2)
        conn.settimeout(self.timeout)  # a client that never reads must not hold us forever
        conn.sendall("\r\n".join(lines).encode("iso-8859-1") + b"\r\n\r\n" + body)

    def _linger(self, reader: _DeadlineReader) -> None:
        """Close gently: stop sending, then drop what the client still sends, for a short while.

        Closing with unread bytes makes the kernel send a reset, which can destroy the response we
        just sent before the client reads it (RFC 9112 §9.6).
        """
        try:
            reader.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        reader.deadline = time.monotonic() + LINGER
        reader.sock.setblocking(False)
        try:
            while True:
                reader.fill()
                reader.buffer.clear()
        except (TimeoutError, _ClientGone, OSError):
            pass

    def _drain_wakeups(self) -> None:
        self._wake_r.setblocking(False)
        try:
            while self._wake_r.recv(64):
                pass
        except (BlockingIOError, OSError):
            pass

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop, and wait until it has (call it from another thread)."""
        self._stop_requested = True
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # already closed: serve_forever is not running
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket: new connections are refused from now on."""
        self.socket.close()
        self._wake_r.close()
        self._wake_w.close()


def make_server(
    host: str,
    port: int,
    handler: Handler | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> SocketServer:
    """A :class:`SocketServer` listening on ``(host, port)``, answering with ``handler`` (default
    :func:`hello_app`), giving each client ``timeout`` seconds to send its request."""
    return SocketServer(host, port, handler, timeout=timeout)


def main(argv: list[str] | None = None) -> None:
    """``python -m socket_server [--host 127.0.0.1] [--port 8000] [--timeout 5]``."""
    parser = argparse.ArgumentParser(prog="python -m socket_server", description="Say 'Hello, world' over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on, 0 for any free one (default: 8000)")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"seconds a client has to send its request (default: {DEFAULT_TIMEOUT:g})"
    )
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, timeout=args.timeout)
    host, port = server.server_address[:2]
    print(f"Serving on http://{host}:{port} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
