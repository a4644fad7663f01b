"""Exercise 01 (alternative) — an HTTP client on a bare socket.

Reads into one growing ``bytearray`` with ``recv_into`` and takes the head apart with regular
expressions that mirror the grammar of RFC 9112 §4 (status line) and §5 (field lines).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field

# status-line = HTTP-version SP status-code SP [ reason-phrase ]   (RFC 9112 §4)
# Some servers drop the SP before an empty reason, so it is optional here too.
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?\Z", re.DOTALL)
# field-line = field-name ":" OWS field-value OWS                   (RFC 9112 §5)
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*\Z", re.DOTALL)
_CHUNK = 16 * 1024  # bytes per recv_into; any size works, the loop gathers the rest


@dataclass
class RawResponse:
    """What came back: the status line taken apart, the headers in order, and the body bytes."""

    status: int
    """The status code, e.g. ``200``."""
    reason: str
    """The reason phrase, e.g. ``"OK"`` (may be empty)."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Every header as a ``(name, value)`` pair, in the order received, repeats kept, names as sent."""
    body: bytes = b""
    """Everything after the empty line that ends the head."""


def _host_header(host: str, port: int) -> str:
    # An IPv6 literal needs brackets in Host, or its colons would read as the port (RFC 3986 §3.2.2).
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _read_until_close(sock: socket.socket) -> bytes:
    """Every byte the peer sends, until it closes its side (``recv`` returns nothing)."""
    data = bytearray()
    buffer = memoryview(bytearray(_CHUNK))
    while True:
        n = sock.recv_into(buffer)
        if n == 0:
            return bytes(data)
        data += buffer[:n]


def _parse(raw: bytes) -> RawResponse:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"the server closed before the end of the head: {raw[:80]!r}")
    status_line, *field_lines = head.split(b"\r\n")
    match = _STATUS_LINE.match(status_line)
    if match is None:
        raise ValueError(f"not an HTTP/1.x status line: {status_line!r}")
    headers = []
    for line in field_lines:
        pair = _FIELD_LINE.match(line)
        if pair is None:
            raise ValueError(f"malformed header line: {line!r}")
        # Field values are octets; ISO-8859-1 maps each byte to one character, losslessly.
        headers.append((pair[1].decode("ascii"), pair[2].decode("iso-8859-1")))
    reason = (match[4] or b"").decode("iso-8859-1")
    return RawResponse(int(match[3]), reason, headers, body)


def raw_http_request(host: str, port: int, path: str) -> RawResponse:
    """Send ``GET path HTTP/1.1`` to ``host:port`` over a plain socket and return the response.

    The request carries ``Host`` (required by RFC 9112 §3.2) and ``Connection: close``, so the
    response ends when the server closes the connection. ``path`` is sent exactly as given.
    """
    # Header names are case-insensitive (RFC 9110 §5.1) and their order is free: lower case here.
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"connection: close\r\n"
        f"host: {_host_header(host, port)}\r\n"
        f"user-agent: callable-katas-raw/1.0\r\n"
        f"accept: */*\r\n"
        "\r\n"
    )
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request.encode("ascii"))
        # No half-close (SHUT_WR) here: some servers read an early EOF as the client giving up.
        return _parse(_read_until_close(sock))
