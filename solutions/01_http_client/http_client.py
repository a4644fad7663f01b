"""Exercise 01 — an HTTP client on a bare socket.

HTTP/1.1 is text over a TCP connection. Your client opens a socket, writes a request as bytes,
reads until the server closes the connection, and takes the answer apart. No ``http.client``, no
``urllib``, no ``requests``: only ``socket``.

A request looks like this on the wire (every line ends with CR LF, an empty line ends the head)::

    GET /hello?name=ada HTTP/1.1\r\n
    Host: 127.0.0.1:8000\r\n
    Connection: close\r\n
    \r\n

and a response like this::

    HTTP/1.1 200 OK\r\n
    Content-Type: text/plain\r\n
    Content-Length: 13\r\n
    \r\n
    Hello, world!
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class RawResponse:  # mutants: skip (given in the stub)
    """What came back: the status line taken apart, the headers in order, and the body bytes."""

    status: int
    """The status code, e.g. ``200``."""
    reason: str
    """The reason phrase, e.g. ``"OK"`` (may be empty)."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Every header as a ``(name, value)`` pair, in the order received, repeats kept, names as sent."""
    body: bytes = b""
    """Everything after the empty line that ends the head."""


def raw_http_request(host: str, port: int, path: str) -> RawResponse:
    """Send ``GET path HTTP/1.1`` to ``host:port`` over a plain socket and return the response.

    The request must carry a ``Host`` header (``host:port``; HTTP/1.1 requires it, RFC 9112 §3.2)
    and ``Connection: close``, so that the server closes the connection after answering: then
    "the response is complete" simply means "``recv`` returned ``b''``".

    ``path`` is sent exactly as given, query string included (``/search?q=wsgi``).
    """
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request.encode("ascii"))
        raw = read_until_closed(sock)

    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
    _version, status, reason = (status_line.split(" ", 2) + [""])[:3]
    headers = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    return RawResponse(status=int(status), reason=reason, headers=headers, body=body)


def read_until_closed(sock: socket.socket) -> bytes:
    """Collect every byte until the peer closes: ``recv`` returns ``b''`` only then."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
