"""Exercise 03 — what frameworks do: a web server from a listening socket.

Before Flask, before gunicorn, before WSGI, a web server is this loop::

    listen on a port
    forever:
        accept a connection
        read the request head (it may arrive in pieces) and the body
        work out a response
        send it, close the connection

That is all "a server" means. Every framework and every application server does this (and much
more: threads, keep-alive, streaming) before your code runs. Here you write the loop by hand, with
``socket`` only: no ``http.server``, no ``socketserver``.

A *handler* decides what to answer: ``handler(method, path) -> (status, headers, body)``. The
server does everything else: it reads the request, calls the handler, adds ``Content-Length`` and
``Connection: close``, writes the response and closes. The default handler says the book's
"Hello, world". (Split like this, you can already see the shape WSGI will give it in Part II:
the server on one side, an application callable on the other.)

Try it: ``python -m socket_server --port 8000`` then ``curl -v http://127.0.0.1:8000/``.
"""

from __future__ import annotations

import argparse
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus

Handler = Callable[[str, str], tuple[int, list[tuple[str, str]], bytes]]  # mutants: skip (given in the stub)
"""``handler(method, path) -> (status, headers, body)``: what the server calls for every request."""

DEFAULT_TIMEOUT = 5.0  # mutants: skip (given in the stub)
"""Seconds a client has to send its whole request (head and body) once connected.

This server answers one connection at a time, so a client that connects and says nothing would
block everyone behind it. After this many seconds the server gives up on it and closes the
connection. Five seconds is generous for a real client and short enough to notice.
"""

MAX_HEAD = 64 * 1024  # mutants: skip (given in the stub)
"""Bytes of request head the server reads at most (a head that never ends must not eat memory)."""


def hello_app(method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The default handler: the book's first application, without any framework.

    ``/`` (whatever the method) answers ``200`` with ``Content-Type: text/plain`` and the body
    ``b"Hello, world"``; any other path answers ``404`` (``text/plain``, a short message).
    The server adds ``Content-Length`` and ``Connection: close``: the handler does not.
    """
    if path == "/":
        return 200, [("Content-Type", "text/plain")], b"Hello, world"
    return 404, [("Content-Type", "text/plain")], b"Not Found"


class SocketServer:
    """A blocking HTTP/1.1 server: one connection at a time, one request per connection.

    Shaped like :class:`socketserver.TCPServer` (and so like wsgiref's server): ``server_address``,
    ``serve_forever()``, ``shutdown()`` and ``server_close()``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Create the listening socket (IPv4, TCP), bind it to ``(host, port)`` and listen.

        Port ``0`` asks the OS for a free port: ``server_address`` is the ``(host, port)`` actually
        bound, read back with ``getsockname()``, so the caller can connect at once (connections
        wait in the listen backlog until ``serve_forever()`` accepts them).
        """
        self.handler: Handler = handler or hello_app
        self.timeout = timeout
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # Without SO_REUSEADDR a restarted server waits minutes for the old port (TIME_WAIT).
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen()
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[str, int] = self.socket.getsockname()  # AF_INET: (host, port)
        self._shutdown_requested = False
        self._stopped = threading.Event()
        self._stopped.set()  # not serving yet: shutdown() must not wait

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Accept connections one after another and answer each, until :meth:`shutdown` is called.

        ``accept()`` blocks; to notice ``shutdown()`` the loop wakes up every ``poll_interval``
        seconds (``settimeout`` on the listening socket: ``accept()`` then raises ``TimeoutError``)
        and checks a flag. Each accepted connection is handled by :meth:`handle_connection` and
        closed, whatever happens: a client that misbehaves must never stop the server.
        """
        self._stopped.clear()
        try:
            self.socket.settimeout(poll_interval)
            while not self._shutdown_requested:
                try:
                    conn, _address = self.socket.accept()
                except TimeoutError:
                    continue  # nobody came: look at the flag again
                with conn:
                    try:
                        self.handle_connection(conn)
                    except OSError:
                        pass  # the client went away mid-answer: its problem, not the server's
        finally:
            self._shutdown_requested = False
            self._stopped.set()

    def handle_connection(self, conn: socket.socket) -> None:
        """Answer the one request on ``conn``; the caller (``serve_forever``) closes ``conn`` afterwards.

        1. Read until the empty line that ends the head (``\\r\\n\\r\\n``; a bare ``\\n\\n`` is fine
           too, RFC 9112 §2.2). ``recv`` returns what has arrived so far, sometimes a single byte:
           read in a loop and search everything collected so far. ``recv`` returning ``b""`` means
           the client closed: answer nothing.
        2. The client has ``self.timeout`` seconds for its whole request (``conn.settimeout``, with
           one deadline for all the ``recv`` calls). On ``TimeoutError`` close without answering:
           the next client is waiting.
        3. Take the request line apart (``METHOD /path?query HTTP/1.1``, RFC 9112 §3); anything else
           is answered ``400 Bad Request``. The handler gets the path without the query string.
        4. With a ``Content-Length``, read that many body bytes too, and drop them: closing a socket
           that still holds unread bytes makes the kernel reset the connection, and the client may
           lose the response (RFC 9112 §9.6).
        5. Call the handler; if it raises, answer ``500 Internal Server Error`` instead.
        6. Send ``HTTP/1.1 <status> <reason>``, the handler's headers, ``Content-Length: <len(body)>``,
           ``Connection: close``, an empty line and the body, every line ending in ``\\r\\n``
           (RFC 9112 §4, §6.2, §9.6). ``http.HTTPStatus(status).phrase`` is the reason.
        """
        deadline = time.monotonic() + self.timeout
        try:
            found = read_head(conn, deadline)
        except TimeoutError:
            return  # a silent or too slow client: give up on it, the next one is waiting
        except HeadTooLarge:
            conn.sendall(response(431, [], b"Request header fields too large"))
            return
        if found is None:
            return  # closed before sending a whole head (a port probe does that): nothing to answer
        head, rest = found

        try:
            method, path, length = parse_head(head)
        except ValueError as exc:
            conn.sendall(response(400, [("Content-Type", "text/plain")], f"Bad Request: {exc}".encode()))
            return
        # Read (and drop) the body before answering: closing a socket with unread bytes in it makes
        # the kernel send a reset, which can destroy the response before the client reads it.
        try:
            read_body(conn, length - len(rest), deadline)
        except TimeoutError:
            return

        try:
            status, headers, body = self.handler(method, path)
        except Exception:
            # A handler bug is the server's 500, not a dead server (RFC 9110 §15.6.1).
            status, headers, body = 500, [("Content-Type", "text/plain")], b"Internal Server Error"
        conn.sendall(response(status, headers, body))

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop, and wait until it has (call it from another thread)."""
        self._shutdown_requested = True
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket: new connections are refused from now on."""
        self.socket.close()


class HeadTooLarge(Exception):
    """The head went past MAX_HEAD bytes without an empty line."""


# The empty line that ends the head: CR LF CR LF, or bare LF line ends (RFC 9112 §2.2 allows them).
END_OF_HEAD = re.compile(rb"\r?\n\r?\n")


def read_head(conn: socket.socket, deadline: float) -> tuple[bytes, bytes] | None:
    """Read until the empty line: ``(head, bytes after it)``, or None if the client closed first.

    ``recv`` returns whatever has arrived, one byte or many: keep reading and searching.
    Raises ``TimeoutError`` once ``deadline`` passes.
    """
    buffer = b""
    while True:
        end = END_OF_HEAD.search(buffer)
        if end:
            return buffer[: end.start()], buffer[end.end() :]
        if len(buffer) > MAX_HEAD:
            raise HeadTooLarge
        chunk = recv_before(conn, 65536, deadline)
        if not chunk:
            return None
        buffer += chunk


def read_body(conn: socket.socket, missing: int, deadline: float) -> None:
    """Read ``missing`` more bytes (the body's unread part) and drop them."""
    while missing > 0:
        chunk = recv_before(conn, min(missing, 65536), deadline)
        if not chunk:
            return
        missing -= len(chunk)


def recv_before(conn: socket.socket, size: int, deadline: float) -> bytes:
    """``conn.recv(size)``, but raise ``TimeoutError`` at ``deadline`` (one clock for the request)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    conn.settimeout(remaining)
    return conn.recv(size)


def parse_head(head: bytes) -> tuple[str, str, int]:
    """``(method, path, content_length)`` from the head; ValueError for what a 400 answers."""
    request_line, *field_lines = re.split(r"\r?\n", head.decode("iso-8859-1"))
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/") or not parts[1].startswith(("/", "*")):
        raise ValueError(f"a request line is 'METHOD /path HTTP/1.1', got {request_line!r}")
    method, target, _version = parts
    path = target.partition("?")[0]  # route on the path: the query string is the handler's business

    length = 0
    for line in field_lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"header line without a colon: {line!r}")
        if name.lower() == "content-length":
            value = value.strip(" \t")
            if not value.isascii() or not value.isdigit():
                raise ValueError(f"Content-Length must be digits, got {value!r}")
            length = int(value)
        elif name.lower() == "transfer-encoding":
            raise ValueError("Transfer-Encoding is not supported: send a Content-Length")
    return method, path, length


def response(status: int, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """The bytes of a complete response that ends the connection (RFC 9112 §4, §6.2, §9.6)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + body


def make_server(  # mutants: skip (given in the stub)
    host: str,
    port: int,
    handler: Handler | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> SocketServer:
    """A :class:`SocketServer` listening on ``(host, port)``, answering with ``handler`` (default
    :func:`hello_app`), giving each client ``timeout`` seconds to send its request."""
    return SocketServer(host, port, handler, timeout=timeout)


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
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


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
