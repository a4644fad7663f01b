"""Exercise 02 — HTTP is just text: parse a request, build a response.

Every server starts here. Bytes arrive on a socket; before any framework can hand you
``request.method`` someone has to take those bytes apart. And on the way back someone has to turn
``(200, headers, body)`` into the exact bytes a browser expects. That someone is you, this time.

A request on the wire (RFC 9112 §2.1): a request line, field lines ("headers"), an empty line, and
maybe a body. Every line ends with CR LF::

    POST /tasks?notify=yes HTTP/1.1\r\n         <- request line: method SP target SP version
    Host: example.com\r\n                       <- field line: name ":" OWS value OWS
    Content-Type: application/json\r\n
    Content-Length: 16\r\n
    \r\n                                        <- the empty line ends the head
    {"title": "kata"}                           <- the body: exactly Content-Length bytes

The rules this module follows (each one is a test):

- Lines end with CR LF. As RFC 9112 §2.2 allows ("a recipient MAY recognize a single LF as a line
  terminator and ignore any preceding CR"), ``parse_request`` also accepts a bare LF; a CR anywhere
  else in the head is an error. ``build_response`` always writes CR LF.
- Head bytes are decoded as ISO-8859-1 (latin-1): every byte maps to one character, so nothing can
  fail to decode, and the original bytes come back with ``.encode("latin-1")`` (WSGI does the same).
- Anything malformed raises :class:`BadRequest`: a server answers it with ``400 Bad Request``
  instead of guessing. Guessing is how request smuggling happens (RFC 9112 §11.2).
- A head has limits, :data:`MAX_LINE` and :data:`MAX_HEADERS` below: a server that keeps reading a
  line that never ends, or headers that never stop, runs out of memory for one client's sake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus

MAX_LINE = 8190  # mutants: skip (given in the stub)
"""The longest request line or field line ``parse_request`` accepts, in bytes, not counting the
line end (CR LF or a bare LF). RFC 9112 §3 and RFC 9110 §4.1 ask a recipient to take lines of at
least 8000 octets; gunicorn stops at 8190 for a field line (``limit_request_field_size``)."""

MAX_HEADERS = 100  # mutants: skip (given in the stub)
"""The most field lines one request may carry; every line counts, repeats and ``Host`` included
(gunicorn's ``limit_request_fields`` is 100 too)."""


class BadRequest(ValueError):  # mutants: skip (given in the stub)
    """The bytes are not a valid HTTP/1.1 request; a server answers ``400 Bad Request``.

    The message says what was wrong, in plain words (``"header line without a colon: 'oops'"``).
    """


@dataclass
class HTTPRequest:
    """One parsed request."""

    method: str
    """``"GET"``, ``"POST"``, ... exactly as sent: methods are case-sensitive (RFC 9110 §9.1)."""
    target: str
    """The request target exactly as sent: ``"/search?q=wsgi"``."""
    path: str
    """The target up to ``?``, not percent-decoded: ``"/search"``."""
    query: str
    """The target after the first ``?``, without it, not decoded: ``"q=wsgi"`` (``""`` if none)."""
    version: str
    """``"HTTP/1.1"`` or ``"HTTP/1.0"``."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Every field line as ``(name, value)``, in order, repeats kept, names as sent, values stripped."""
    body: bytes = b""  # mutants: skip (given in the stub)
    """Exactly ``Content-Length`` bytes (``b""`` without Content-Length)."""

    def get_header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name``, whatever its case; ``default`` when it is absent.

        Field names are case-insensitive (RFC 9110 §5.1): ``get_header("content-type")`` finds
        ``Content-Type``. When the name appears on several lines, the values are joined with
        ``", "`` in order, which is what a list-valued field means (RFC 9110 §5.3).
        """
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        return ", ".join(values) if values else default


# RFC 9110 §5.6.2: token = 1*tchar. Methods and field names are tokens.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive).
VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
# A request target is visible ASCII only: no spaces, no control characters (RFC 3986 §2).
TARGET = re.compile(r"[!-~]+")
# RFC 9112 §3.2.2: absolute-form starts with a scheme and "//authority".
ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
# RFC 9110 §8.6: Content-Length = 1*DIGIT. No sign, no spaces inside: int() is far too lenient.
DIGITS = re.compile(r"[0-9]+")


def parse_request(raw: bytes) -> HTTPRequest:
    """Take one HTTP/1.1 request apart. ``raw`` holds the whole request (more bytes are ignored).

    - The request line is ``method SP target SP version`` (RFC 9112 §3), single spaces, a token
      for the method and ``HTTP/x.y`` for the version. The target is origin-form (``/path?query``),
      absolute-form (``http://host/path?query``, RFC 9112 §3.2.2: ``path`` is then ``/path``) or
      ``*`` (``OPTIONS *``). Split it at the first ``?`` into ``path`` and ``query``; decode neither.
    - A field line is ``name ":" OWS value OWS`` (RFC 9112 §5). The name is a token with *no*
      whitespace before the colon (§5.1: a server MUST reject that); the value loses its leading
      and trailing spaces and tabs. A line starting with a space or tab is an obsolete "line
      folding" (§5.2): reject it.
    - An HTTP/1.1 request carries exactly one ``Host`` (RFC 9112 §3.2: "MUST respond with a 400").
    - The body is exactly ``Content-Length`` bytes (RFC 9112 §6.3). Content-Length is digits only;
      several lines (or a list like ``5, 5``) must all agree. Anything after the body belongs to the
      next request and is ignored. Without Content-Length there is no body.
    - ``Transfer-Encoding`` (chunked bodies) is beyond this exercise (exercise 08 decodes it): a
      server that cannot find where a body ends must not guess, so raise ``BadRequest``.
    - Limits (RFC 9110 §5.4: a server MUST answer a 4xx to field lines larger than it wishes to
      process): a request line or a field line longer than ``MAX_LINE`` bytes (its line end not
      counted), or more than ``MAX_HEADERS`` field lines, is a ``BadRequest``. Exactly
      ``MAX_LINE`` bytes, or exactly ``MAX_HEADERS`` lines, is fine. A full server would answer
      ``414 URI Too Long`` (RFC 9112 §3) or ``431 Request Header Fields Too Large`` (RFC 6585 §5);
      this exercise has one error, so ``BadRequest`` it is.

    Raises :class:`BadRequest` with a plain message for anything else.
    """
    lines, rest = split_head(raw)
    request_line, *field_lines = [line.decode("iso-8859-1") for line in lines]
    method, target, version = parse_request_line(request_line)
    path, query = split_target(target)
    headers = [parse_field_line(line) for line in field_lines]

    request = HTTPRequest(method, target, path, query, version, headers)
    hosts = [value for name, value in headers if name.lower() == "host"]
    if version == "HTTP/1.1" and len(hosts) != 1:
        raise BadRequest(f"an HTTP/1.1 request needs exactly one Host header, got {len(hosts)}")
    if request.get_header("transfer-encoding") is not None:
        raise BadRequest("Transfer-Encoding is not supported here: send a Content-Length")

    length = content_length(request)
    if len(rest) < length:
        raise BadRequest(f"the body is shorter than Content-Length: {len(rest)} of {length} bytes")
    request.body = rest[:length]
    return request


def split_head(raw: bytes) -> tuple[list[bytes], bytes]:
    """Cut ``raw`` into the head's lines (without line ends) and everything after the empty line."""
    lines: list[bytes] = []
    start = 0
    while True:
        end = raw.find(b"\n", start)
        if end == -1:
            raise BadRequest("incomplete request: no empty line ends the head")
        line = raw[start:end]
        start = end + 1
        if line.endswith(b"\r"):  # CR LF, or a bare LF (RFC 9112 §2.2 lets us accept both)
            line = line[:-1]
        if b"\r" in line or b"\0" in line:
            raise BadRequest(f"a bare CR or a NUL inside a line: {line!r}")
        if not line:
            if not lines:
                continue  # RFC 9112 §2.2: ignore empty lines before the request line
            return lines, raw[start:]
        # Check each limit as soon as it is passed: the rest of a hostile head is never looked at.
        if len(line) > MAX_LINE:
            raise BadRequest(f"a head line of {len(line)} bytes: the limit is {MAX_LINE} ({line[:40]!r}...)")
        lines.append(line)
        if len(lines) - 1 > MAX_HEADERS:  # the first line is the request line, the rest are fields
            raise BadRequest(f"more than {MAX_HEADERS} header lines")


def parse_request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequest(f"a request line is 'METHOD target HTTP/1.1', got {line!r}")
    method, target, version = parts
    if not TOKEN.fullmatch(method):
        raise BadRequest(f"not a valid method: {method!r}")
    if not TARGET.fullmatch(target):
        raise BadRequest(f"not a valid request target: {target!r}")
    if not VERSION.fullmatch(version):
        raise BadRequest(f"not an HTTP version like 'HTTP/1.1': {version!r}")
    return method, target, version


def split_target(target: str) -> tuple[str, str]:
    """``/a/b?x=1`` -> ``("/a/b", "x=1")``; absolute-form loses its scheme and authority."""
    if target == "*":
        return "*", ""
    absolute = ABSOLUTE_FORM.match(target)
    if absolute:
        target = target[absolute.end() :]
        if not target.startswith("/"):
            target = "/" + target  # "http://host" and "http://host?x" mean the root path
    elif not target.startswith("/"):
        raise BadRequest(f"a request target starts with '/': got {target!r}")
    path, _, query = target.partition("?")
    return path, query


def parse_field_line(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon:
        raise BadRequest(f"header line without a colon: {line!r}")
    # A token holds no whitespace, so this one check also rejects the two cases RFC 9112 names:
    # whitespace between the name and the colon (§5.1, "MUST reject") and a line that starts with
    # whitespace, an obsolete line folding (§5.2).
    if not TOKEN.fullmatch(name):
        raise BadRequest(f"not a valid header name (a token: no spaces, no tabs): {name!r}")
    return name, value.strip(" \t")


def content_length(request: HTTPRequest) -> int:
    """The body length the request declares (0 without Content-Length); every copy must agree."""
    declared = request.get_header("content-length")  # several lines come back joined by ", "
    if declared is None:
        return 0
    values = {value.strip(" \t") for value in declared.split(",")}
    for value in values:
        if not DIGITS.fullmatch(value):
            raise BadRequest(f"Content-Length must be digits only, got {value!r}")
    lengths = {int(value) for value in values}
    if len(lengths) != 1:
        raise BadRequest(f"conflicting Content-Length values: {declared!r}")
    return lengths.pop()


# Responses with these statuses never have a body (RFC 9110 §6.4.1), so no Content-Length is added.
NO_BODY = {204, 304}


def build_response(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    reason: str | None = None,
) -> bytes:
    """Turn a status, headers and a body into the bytes of an HTTP/1.1 response.

    ``HTTP/1.1 <status> <reason>\\r\\n``, then ``Name: value\\r\\n`` for every header in order, then
    ``\\r\\n``, then the body (RFC 9112 §4, §5). Every line ends with CR LF, never a bare LF.

    - ``reason`` defaults to the standard phrase from :class:`http.HTTPStatus` (404 -> "Not Found");
      for a code it does not know, the reason is empty but the space before it stays (RFC 9112 §4).
    - A ``Content-Length: <len(body)>`` header is appended after the given headers unless one is
      already there (any case). 1xx, 204 and 304 responses have no body (RFC 9110 §6.4.1): no
      Content-Length is added to them, and a non-empty body for them is a ``ValueError``.
    - A header name must be a token and no name, value or reason may contain CR, LF or NUL: one
      that does would let a caller inject headers of their own ("response splitting", RFC 9110
      §5.5). Raise ``ValueError``.

    Names and values are encoded as ISO-8859-1.
    """
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""  # RFC 9112 §4: the reason phrase may be empty; the SP before it is not
    check_text(reason, "reason phrase")

    no_body = status < 200 or status in NO_BODY
    if no_body and body:
        raise ValueError(f"a {status} response has no body, got {len(body)} bytes")

    headers = list(headers)  # never change the caller's list
    for name, value in headers:
        if not TOKEN.fullmatch(name):
            raise ValueError(f"not a valid header name: {name!r}")
        check_text(value, f"value of header {name!r}")
    if not no_body and not any(name.lower() == "content-length" for name, _ in headers):
        headers.append(("Content-Length", str(len(body))))

    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("iso-8859-1") + body


def check_text(text: str, what: str) -> None:
    if any(char in text for char in "\r\n\0"):
        raise ValueError(f"CR, LF or NUL in the {what}: {text!r} would split the response")
