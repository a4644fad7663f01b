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
import socket
from collections.abc import Callable

# What the reference solution also uses (uncomment what you need):
# import re                      # to find the end of the head, b"\r\n\r\n" or bare b"\n\n"
# import threading               # a threading.Event, so shutdown() can wait for serve_forever()
# import time                    # time.monotonic(), for one deadline per client
# from http import HTTPStatus    # HTTPStatus(404).phrase == "Not Found"

Handler = Callable[[str, str], tuple[int, list[tuple[str, str]], bytes]]
"""``handler(method, path) -> (status, headers, body)``: what the server calls for every request."""

DEFAULT_TIMEOUT = 5.0
"""Seconds a client has to send its whole request (head and body) once connected.

This server answers one connection at a time, so a client that connects and says nothing would
block everyone behind it. After this many seconds the server gives up on it and closes the
connection. Five seconds is generous for a real client and short enough to notice.
"""

MAX_HEAD = 64 * 1024
"""Bytes of request head the server reads at most (a head that never ends must not eat memory)."""


def hello_app(method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The default handler: the book's first application, without any framework.

    ``/`` (whatever the method) answers ``200`` with ``Content-Type: text/plain`` and the body
    ``b"Hello, world"``; any other path answers ``404`` (``text/plain``, a short message).
    The server adds ``Content-Length`` and ``Connection: close``: the handler does not.
    """
    raise NotImplementedError("write hello_app() in socket_server.py")


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

        Set ``SO_REUSEADDR`` before ``bind()``: a restarted server must not fail with "Address already
        in use" while old connections linger in ``TIME_WAIT``. When ``bind()`` fails, close the socket,
        then let the ``OSError`` go up: leak nothing.
        """
        raise NotImplementedError("write SocketServer.__init__() in socket_server.py")

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Accept connections one after another and answer each, until :meth:`shutdown` is called.

        ``accept()`` blocks; to notice ``shutdown()`` the loop wakes up every ``poll_interval``
        seconds (``settimeout`` on the listening socket: ``accept()`` then raises ``TimeoutError``)
        and checks a flag. Each accepted connection is handled by :meth:`handle_connection` and
        closed, whatever happens: a client that misbehaves must never stop the server.
        """
        raise NotImplementedError("write SocketServer.serve_forever() in socket_server.py")

    def handle_connection(self, conn: socket.socket) -> None:
        """Answer the one request on ``conn``; the caller (``serve_forever``) closes ``conn`` afterwards.

        1. Read until the empty line that ends the head (``\\r\\n\\r\\n``; a bare ``\\n\\n`` is fine
           too, RFC 9112 §2.2). ``recv`` returns what has arrived so far, sometimes a single byte:
           read in a loop and search everything collected so far. ``recv`` returning ``b""`` means
           the client closed: answer nothing. A head that passes ``MAX_HEAD`` bytes without its empty
           line is answered ``431 Request Header Fields Too Large`` (RFC 9110 §5.4, RFC 6585 §5).
        2. The client has ``self.timeout`` seconds for its whole request (``conn.settimeout``, with
           one deadline for all the ``recv`` calls). On ``TimeoutError`` close without answering:
           the next client is waiting.
        3. Take the request line apart (``METHOD /path?query HTTP/1.1``, RFC 9112 §3); anything else
           is answered ``400 Bad Request``. The handler gets the path without the query string.
        4. With a ``Content-Length``, read that many body bytes too, and drop them: closing a socket
           that still holds unread bytes makes the kernel reset the connection, and the client may
           lose the response (RFC 9112 §9.6). Answer only once the whole body has arrived (its last
           byte may come in a ``recv`` of its own). A ``Content-Length`` that is not plain digits
           (``-1``, ``+0``: ``int()`` takes them) is answered ``400`` (RFC 9112 §6.3).
        5. Call the handler; if it raises, answer ``500 Internal Server Error`` instead.
        6. Send ``HTTP/1.1 <status> <reason>``, the handler's headers, ``Content-Length: <len(body)>``,
           ``Connection: close``, an empty line and the body, every line ending in ``\\r\\n``
           (RFC 9112 §4, §6.2, §9.6). ``http.HTTPStatus(status).phrase`` is the reason; for a status
           it does not know (``299``) the reason is empty: ``HTTP/1.1 299 `` (RFC 9112 §4).
        """
        raise NotImplementedError("write SocketServer.handle_connection() in socket_server.py")

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop, and wait until it has (call it from another thread).

        The connection in progress is answered first: ``shutdown()`` returns only after that.
        """
        raise NotImplementedError("write SocketServer.shutdown() in socket_server.py")

    def server_close(self) -> None:
        """Close the listening socket: new connections are refused from now on."""
        raise NotImplementedError("write SocketServer.server_close() in socket_server.py")


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
