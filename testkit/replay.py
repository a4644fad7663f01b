"""Showing bytes to a person, and the command that sends the same request by hand.

- :func:`shown`: bytes as text a student can read — one line per line of the message, ``\\r`` and
  ``\\n`` and every unprintable byte escaped, bounded in lines and bytes;
- :func:`command`: a ``curl`` line for a request curl can send as it is, otherwise a
  ``printf … | nc`` line that sends the exact bytes (a malformed request, a chunked upload).

Both are for failures (:func:`testkit.wire.report`): what the student reads, then tries.
"""

from __future__ import annotations

import re
import shlex

SHOWN_BYTES = 4096
SHOWN_LINES = 40
REPLAY_HOST = "127.0.0.1"
REPLAY_PORT = 8000
"""Where the replayed request goes: the port the course's servers listen on when run by hand."""
COMMAND_LIMIT = 1000
"""Characters a replay command may take; a longer request is not worth typing."""

_ESCAPES = {0x5C: "\\\\", 0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}


def escape(data: bytes) -> str:
    """``data`` as printable ASCII: ``\\r``, ``\\n``, ``\\t``, ``\\\\`` and ``\\xNN`` for the rest."""
    return "".join(_ESCAPES.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data)


def shown(data: bytes, total: int | None = None, *, limit: int = SHOWN_BYTES, lines: int = SHOWN_LINES) -> str:
    """``data`` escaped, one line per line of the message (each ends at its ``\\n``), bounded.

    ``total`` is how many bytes there were in all (``data`` may be only the first of them); a note
    at the end says how many are not shown. Nothing at all reads ``(nothing)``.
    """
    total = len(data) if total is None else total
    if not total:
        return "(nothing)"
    head = data[:limit]
    parts = head.splitlines(keepends=True)
    kept = parts[:lines]
    text = "\n".join(escape(part) for part in kept)
    hidden = total - sum(len(part) for part in kept)
    if hidden > 0:
        text += f"\n… and {hidden:,} more byte{'s' if hidden != 1 else ''}"
    return text


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/1\.[01]")
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
# Headers curl sends on its own (or that would change what it shows): left out of the command.
_CURL_SETS = {b"host", b"user-agent", b"accept", b"accept-encoding", b"content-length"}


def command(request: bytes) -> str:
    """A shell command that sends ``request`` (its first request) to ``REPLAY_HOST:REPLAY_PORT``.

    ``""`` when there is no request, or the command would be too long to be worth typing.
    """
    if not request:
        return ""
    line = _curl(request) or _netcat(request)
    return line if len(line) <= COMMAND_LIMIT else ""


def _curl(request: bytes) -> str:
    """The request as a ``curl`` command, or ``""`` when curl could not send exactly these bytes."""
    head, separator, rest = request.partition(b"\r\n\r\n")
    if not separator:
        return ""
    first, *fields = head.split(b"\r\n")
    parts = first.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1].startswith(b"/"):
        return ""
    method, target, version = parts
    if not _VERSION.fullmatch(version) or not _PRINTABLE.fullmatch(target):
        return ""
    headers: list[tuple[bytes, bytes]] = []
    for field in fields:
        name, colon, value = field.partition(b":")
        if not colon or not _TOKEN.fullmatch(name) or not _PRINTABLE.fullmatch(value):
            return ""
        headers.append((name, value.strip()))
    names = {name.lower() for name, _ in headers}
    if b"transfer-encoding" in names or b"upgrade" in names or b"expect" in names:
        return ""  # curl frames these its own way: send the bytes instead
    length = next((value for name, value in headers if name.lower() == b"content-length"), b"0")
    if not length.isdigit():
        return ""
    body = rest[: int(length)]
    if len(body) < int(length) or not _PRINTABLE.fullmatch(body):
        return ""
    words = ["curl", "-i"]
    if version == b"HTTP/1.0":
        words.append("--http1.0")
    if method == b"HEAD":
        words.append("--head")  # -X HEAD would wait for a body that never comes
    elif method != b"GET" or body:
        words += ["-X", method.decode()]
    for name, value in headers:
        lowered = name.lower()
        keep_host = lowered == b"host" and not value.startswith((b"127.0.0.1", b"localhost"))
        if lowered in _CURL_SETS and not keep_host and not (lowered == b"accept" and value != b"*/*"):
            continue
        if lowered == b"connection" and value.lower() == b"keep-alive":
            continue
        words += ["-H", f"{name.decode()}: {value.decode()}"]
    if body:
        words += ["--data-binary", body.decode()]
    text = target.decode()
    if re.search(r"[\[\]{}]", text):
        words.append("--globoff")
    if "/." in text:
        words.append("--path-as-is")
    words.append(f"http://{REPLAY_HOST}:{REPLAY_PORT}{text}")
    return shlex.join(words)


def _netcat(request: bytes) -> str:
    """``printf '…' | nc HOST PORT``: the exact bytes, for a request curl cannot send as it is."""
    return f"printf '{_printf_escape(request)}' | nc {REPLAY_HOST} {REPLAY_PORT}"


def _printf_escape(data: bytes) -> str:
    """``data`` as a single-quoted ``printf`` format: its escapes, ``%%``, octal for the unprintable."""
    out = []
    for byte in data:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif byte == ord("%"):
            out.append("%%")
        elif byte == ord("'"):
            out.append("'\\''")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)
