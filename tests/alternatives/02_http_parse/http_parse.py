"""Exercise 02 (alternative) — HTTP is just text: parse a request, build a response.

This version reads the head with regular expressions that follow the ABNF of RFC 9112 (one
pattern per rule: request-line, field-line, Content-Length), and writes a response by streaming
lines into a ``bytearray``.

- Lines end with CR LF; as RFC 9112 §2.2 allows, a bare LF is accepted too, and empty lines
  before the request line are skipped (§2.2: a server SHOULD ignore at least one).
- Head bytes are decoded as ISO-8859-1, so nothing fails to decode.
- Anything malformed raises :class:`BadRequest` (RFC 9112 §11.2: guessing is how smuggling happens).
- The limits (``MAX_LINE``, ``MAX_HEADERS``) are checked once the head is cut into lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus

MAX_LINE = 8190
"""The longest request line or field line, in bytes, its line end not counted (RFC 9112 §3, RFC 9110 §4.1)."""

MAX_HEADERS = 100
"""The most field lines in one request, each line counted (RFC 9110 §5.4)."""

_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_TOKEN = re.compile(f"{_TCHAR}+")
# request-line = method SP request-target SP HTTP-version   (RFC 9112 §3, §2.3: "HTTP" is case-sensitive)
_REQUEST_LINE = re.compile(rf"(?P<method>{_TCHAR}+) (?P<target>[^ ]+) (?P<version>HTTP/(?P<major>\d)\.(?P<minor>\d))")
# field-line = field-name ":" OWS field-value OWS           (RFC 9112 §5; no space before the colon)
_FIELD_LINE = re.compile(rf"(?P<name>{_TCHAR}+):[ \t]*(?P<value>.*?)[ \t]*")
# absolute-form = scheme "://" authority path-abempty [ "?" query ]   (RFC 9112 §3.2.2, RFC 3986 §3)
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*(?P<rest>[/?].*)?")
# Host = uri-host [ ":" port ]: an IP literal in brackets or a reg-name  (RFC 9110 §7.2, RFC 3986 §3.2.2)
_HOST_VALUE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?")
# The end of the head: a line end followed by an empty line (CR LF, or a bare LF).
_HEAD_END = re.compile(rb"\n\r?\n")
_LEADING_EMPTY_LINES = re.compile(rb"(?:\r?\n)*")
_LINE_END = re.compile(r"\r?\n")
# Control characters other than HTAB are not field-vchar or obs-text (RFC 9110 §5.5).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_VISIBLE = re.compile(r"[\x21-\x7e\x80-\xff]+")  # what a request-target may hold: no spaces, no controls


class BadRequest(ValueError):
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
    body: bytes = b""
    """Exactly ``Content-Length`` bytes (``b""`` without Content-Length)."""

    def get_header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name``, whatever its case; ``default`` when it is absent.

        Several lines of the same name are joined with ``", "`` in order (RFC 9110 §5.3).
        """
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        return ", ".join(values) if values else default


def _split_target(method: str, target: str) -> tuple[str, str]:
    """``(path, query)`` for the three target forms a server sees (RFC 9112 §3.2)."""
    if not _VISIBLE.fullmatch(target):
        raise BadRequest(f"the request target holds a control character: {target!r}")
    if target == "*":
        if method != "OPTIONS":
            raise BadRequest(f"the asterisk-form target '*' is only for OPTIONS, not {method}")
        return "*", ""
    if not target.startswith("/"):
        absolute = _ABSOLUTE_FORM.fullmatch(target)
        if absolute is None:
            raise BadRequest(f"the request target must start with '/' (or be absolute-form): {target!r}")
        target = absolute["rest"] or ""
        if not target.startswith("/"):
            target = "/" + target  # "http://host" and "http://host?q" have the path "/" (RFC 9110 §4.2.3)
    path, _, query = target.partition("?")
    return path, query


def _parse_fields(lines: list[str]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            raise BadRequest(f"obsolete line folding (a line starting with whitespace) is refused: {line!r}")
        match = _FIELD_LINE.fullmatch(line)
        if match is None:
            name, colon, _ = line.partition(":")
            if not colon:
                raise BadRequest(f"header line without a colon: {line!r}")
            if name != name.rstrip(" \t"):
                raise BadRequest(f"whitespace before the colon in a header line: {line!r}")
            raise BadRequest(f"the header name {name!r} is not a token")
        if _CONTROL.search(match["value"]):
            raise BadRequest(f"a control character in the value of {match['name']!r}")
        headers.append((match["name"], match["value"]))
    return headers


def _content_length(request: HTTPRequest) -> int:
    """The one length every Content-Length line (and list element) agrees on; 0 without any."""
    values = {
        element.strip(" \t")
        for name, value in request.headers
        if name.lower() == "content-length"
        for element in value.split(",")
    }
    if not values:
        return 0
    for value in values:
        # 1*DIGIT only: int() would also take "+5", " 5" and "5_0" (RFC 9110 §8.6).
        if not re.fullmatch(r"[0-9]+", value):
            raise BadRequest(f"Content-Length must be digits only, got {value!r}")
    if len({int(v) for v in values}) > 1:
        raise BadRequest(f"conflicting Content-Length values: {sorted(values)!r}")
    return int(values.pop())


def parse_request(raw: bytes) -> HTTPRequest:
    """Take one HTTP/1.1 request apart. ``raw`` holds the whole request (more bytes are ignored).

    Raises :class:`BadRequest` with a plain message for anything malformed (see the README).
    """
    raw = raw[_LEADING_EMPTY_LINES.match(raw).end():]
    end = _HEAD_END.search(raw)
    if end is None:
        raise BadRequest("the head does not end with an empty line" if raw else "no request line: the input is empty")
    head = raw[: end.start()].decode("iso-8859-1")
    head = head[:-1] if head.endswith("\r") else head  # the CR of the last line's CR LF
    rest = raw[end.end():]
    if "\r" in head.replace("\r\n", ""):
        raise BadRequest("a bare CR in the head (only CR LF or LF end a line)")
    lines = _LINE_END.split(head)  # latin-1: one character per byte, and no line end kept
    longest = max(lines, key=len)
    if len(longest) > MAX_LINE:
        # RFC 9112 §3 (414) and RFC 6585 §5 (431) for a real server; one error here.
        raise BadRequest(f"a line of the head holds {len(longest)} bytes, more than {MAX_LINE}: {longest[:32]!r}...")
    if len(lines) > MAX_HEADERS + 1:
        raise BadRequest(f"{len(lines) - 1} header lines: at most {MAX_HEADERS} are read (RFC 9110 §5.4)")
    request_line, *field_lines = lines

    line = _REQUEST_LINE.fullmatch(request_line)
    if line is None:
        raise BadRequest(f"the request line is not 'METHOD target HTTP/x.y': {request_line!r}")
    path, query = _split_target(line["method"], line["target"])
    request = HTTPRequest(
        method=line["method"],
        target=line["target"],
        path=path,
        query=query,
        version=line["version"],
        headers=_parse_fields(field_lines),
    )

    hosts = [value for name, value in request.headers if name.lower() == "host"]
    # RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with several.
    if len(hosts) > 1:
        raise BadRequest(f"{len(hosts)} Host headers: a request carries exactly one")
    if not hosts and (int(line["major"]), int(line["minor"])) >= (1, 1):
        raise BadRequest("an HTTP/1.1 request must carry a Host header")
    if hosts and not _HOST_VALUE.fullmatch(hosts[0]):
        raise BadRequest(f"the Host header is not host[:port]: {hosts[0]!r}")

    if request.get_header("transfer-encoding") is not None:
        raise BadRequest("Transfer-Encoding is not supported here: the end of the body cannot be found")
    length = _content_length(request)
    if len(rest) < length:
        raise BadRequest(f"the body has {len(rest)} bytes, Content-Length says {length}")
    request.body = rest[:length]
    return request


def _check_text(what: str, text: str) -> None:
    if _CONTROL.search(text):
        # A CR or LF would end the line early and let the caller add headers (RFC 9110 §5.5).
        raise ValueError(f"{what} holds a control character (CR, LF, NUL, ...): {text!r}")


def build_response(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    reason: str | None = None,
) -> bytes:
    """Turn a status, headers and a body into the bytes of an HTTP/1.1 response.

    The reason defaults to :class:`http.HTTPStatus`'s phrase (empty for an unknown code). A
    ``Content-Length`` is appended unless given; 1xx, 204 and 304 never get one, nor a body.
    A non-token name, or a control character in a name, value or reason, raises ``ValueError``.
    """
    if not (isinstance(status, int) and 100 <= status <= 999):
        raise ValueError(f"a status code is three digits, got {status!r}")  # RFC 9110 §15
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""  # an unregistered code: the reason is empty, its leading space stays (RFC 9112 §4)
    _check_text("the reason phrase", reason)
    bodiless = status < 200 or status in (204, 304)  # RFC 9110 §6.4.1
    if bodiless and body:
        raise ValueError(f"a {status} response has no body, got {len(body)} bytes")

    out = bytearray(f"HTTP/1.1 {status} {reason}\r\n".encode("iso-8859-1"))
    has_length = False
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"a header name must be a token, got {name!r}")
        _check_text(f"the value of header {name!r}", value)
        has_length = has_length or name.lower() == "content-length"
        try:
            out += f"{name}: {value}\r\n".encode("iso-8859-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name!r} holds a character outside ISO-8859-1: {value!r}") from None
    if not (has_length or bodiless):
        out += f"Content-Length: {len(body)}\r\n".encode("ascii")
    out += b"\r\n"
    out += body
    return bytes(out)
