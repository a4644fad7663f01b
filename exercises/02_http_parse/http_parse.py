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

from dataclasses import dataclass, field
from http import HTTPStatus  # noqa: F401 (build_response needs it)

MAX_LINE = 8190
"""The longest request line or field line ``parse_request`` accepts, in bytes, not counting the
line end (CR LF or a bare LF). RFC 9112 §3 and RFC 9110 §4.1 ask a recipient to take lines of at
least 8000 octets; gunicorn stops at 8190 for a field line (``limit_request_field_size``)."""

MAX_HEADERS = 100
"""The most field lines one request may carry; every line counts, repeats and ``Host`` included
(gunicorn's ``limit_request_fields`` is 100 too)."""


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

        Field names are case-insensitive (RFC 9110 §5.1): ``get_header("content-type")`` finds
        ``Content-Type``. When the name appears on several lines, the values are joined with
        ``", "`` in order, which is what a list-valued field means (RFC 9110 §5.3).
        """
        raise NotImplementedError("write HTTPRequest.get_header() in http_parse.py")


def parse_request(raw: bytes) -> HTTPRequest:
    """Take one HTTP/1.1 request apart. ``raw`` holds the whole request (more bytes are ignored).

    - The request line is ``method SP target SP version`` (RFC 9112 §3), single spaces, a token
      for the method and ``HTTP/x.y`` for the version. The target is origin-form (``/path?query``),
      absolute-form (``http://host/path?query``, RFC 9112 §3.2.2: ``path`` is then ``/path``) or
      ``*`` (``OPTIONS *``). Split it at the first ``?`` into ``path`` and ``query``; decode neither.
      An absolute-form target without a path (``http://host``, ``http://host?q``) has the path ``/``;
      a control character in the target is a ``BadRequest``.
    - A field line is ``name ":" OWS value OWS`` (RFC 9112 §5). The name is a token with *no*
      whitespace before the colon (§5.1: a server MUST reject that); the value loses its leading
      and trailing spaces and tabs. A line starting with a space or tab is an obsolete "line
      folding" (§5.2): reject it.
    - A bare CR (one not ending a line, RFC 9112 §2.2) or a NUL (RFC 9110 §5.5) anywhere in the
      head is a ``BadRequest``.
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
    raise NotImplementedError("write parse_request() in http_parse.py")


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
    raise NotImplementedError("write build_response() in http_parse.py")
