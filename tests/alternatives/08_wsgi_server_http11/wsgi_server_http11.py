"""Exercise 08 (alternative) — an HTTP/1.1 WSGI server: one selector loop and a pool of workers.

It builds on exercise 07 (``wsgi_server``): request heads are read by 07's ``parse_request`` and each
environ starts as 07's ``build_environ`` made it. 07 is imported when a server is made, never when this
module is: the framing below (chunks, wsgi.input, the response) stands alone.

The obvious design gives each connection a thread that sleeps in ``recv()`` between requests. This
one parks idle keep-alive connections in a ``selectors`` loop — one thread watches them all — and
hands a connection to a worker of a bounded pool only when its next request starts to arrive, so an
idle connection costs a file descriptor, not a thread (gunicorn's ``gthread`` worker works the same
way). Three more choices differ from the obvious ones:

- every byte source is a ``_Buffered`` with a visible buffer: the socket (so the server can tell a
  pipelined request is already waiting), a Content-Length body, and a chunked body decoded as a
  *stream*, a piece at a time, never whole;
- a response without Content-Length whose iterable has exactly one piece gets a Content-Length
  computed (PEP 3333 §Handling the Content-Length Header); only longer bodies are chunked;
- the headers the server adds are written in lower case, before the app's, with ``Date`` and
  ``Server``; chunk sizes are lower-case hex. HTTP field names and hex digits are case-insensitive.

Spec: RFC 9112 §2.2, §3, §5, §6, §7.1, §9.3, §9.6; RFC 9110 §6.4.1, §8.6, §10.1.1, §15.2.1;
PEP 3333.
"""

from __future__ import annotations

import argparse
import email.utils
import importlib
import io
import queue
import re
import selectors
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_LINE = 8192
"""Longest request line, header line or chunk-size line accepted, in bytes (line end included)."""
MAX_HEADERS = 100
"""Most header (or trailer) lines accepted in one request."""
KEEP_ALIVE_TIMEOUT = 15.0
"""Seconds an idle connection may wait for its next request. Idle connections cost no thread here,
so this can be longer than in a thread-per-connection server."""
IO_TIMEOUT = 10.0
"""Seconds a request in progress may stall on one read or write before the server gives up on it."""
WORKERS = 32
"""Worker threads: requests served at the same time. Idle connections do not count against it."""
SHUTDOWN_GRACE = 1.0
"""Seconds shutdown() lets in-flight requests finish before it cuts their connections."""
MAX_DRAIN = 1 << 20
"""Most unread body bytes the server reads and throws away to reuse a connection; past it, it closes."""
READ_SIZE = 32 * 1024
SERVER_SOFTWARE = "callable-katas-wsgi-alt/0.8"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 9110 §5.6.2
# field-line = field-name ":" OWS field-value OWS           (RFC 9112 §5); no space before the colon
_FIELD_LINE = re.compile(rf"({_TOKEN}):[ \t]*(.*?)[ \t]*")
_FIELD_NAME = re.compile(_TOKEN)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # in a field value: never CR, LF, NUL (RFC 9110 §5.5)
# chunk-size [ chunk-ext ] CRLF: hex digits only (int(x, 16) would also take "0x5", " 5", "5_0")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")
_STATUS = re.compile(r"([1-5]\d\d) [^\x00-\x08\x0a-\x1f\x7f]*")
_HTTP11 = re.compile(r"HTTP/1\.[1-9]")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}
)


class BadFraming(ValueError):
    """The request body's framing is broken or unacceptable: answer ``status`` and close."""

    status = "400 Bad Request"


class UnsupportedCoding(BadFraming):
    status = "501 Not Implemented"  # RFC 9112 §6.1: a transfer coding the server does not understand


def _header(request: Any, name: str) -> str | None:
    """All values of header ``name`` (any case) of a 07 ``Request``, joined with ", "; None when absent."""
    name = name.lower()
    values = [v for n, v in request.headers if n.lower() == name]
    return ", ".join(values) if values else None


def _http10_server() -> ModuleType:
    """Exercise 07's module, imported on demand: ``wsgi_server`` on sys.path, else the sibling folder."""
    try:
        return importlib.import_module("wsgi_server")
    except ModuleNotFoundError as exc:
        if exc.name != "wsgi_server":
            raise
    sibling = Path(__file__).resolve().parent.parent / "07_wsgi_server"
    if str(sibling) not in sys.path:
        sys.path.append(str(sibling))
    return importlib.import_module("wsgi_server")


def _is_http11(version: str) -> bool:
    """HTTP/1.1 or a later 1.x: a client that understands persistence and chunks."""
    return _HTTP11.fullmatch(version) is not None


# ---------------------------------------------------------------------------------------------
# Byte sources: one buffered base for the socket, a Content-Length body and a chunked body.
# ---------------------------------------------------------------------------------------------


class _Buffered:
    """A binary reader over a buffer that ``_fill()`` tops up; subclasses say where bytes come from.

    ``read``/``readline``/``readlines``/iteration are the PEP 3333 §Input and Error Streams methods.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def _fill(self) -> bool:
        """Append more bytes to ``self._buf``; False at the end of the source."""
        raise NotImplementedError

    @property
    def buffered(self) -> bool:
        """Bytes already read from the source but not yet handed out."""
        return bool(self._buf)

    def read1(self, size: int | None = -1) -> bytes:
        """What one step of the source gives, without waiting for more (b"" at its end)."""
        if not self._buf:
            self._fill()
        return self._take(len(self._buf) if size is None or size < 0 else size)

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buf))
        while len(self._buf) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = None if size is None or size < 0 else size
        searched = 0  # the buffer before this offset has no b"\n": never scan it twice
        while True:
            newline = self._buf.find(b"\n", searched)
            if newline >= 0:
                end = newline + 1
                break
            if limit is not None and len(self._buf) >= limit:
                end = limit
                break
            searched = len(self._buf)
            if not self._fill():
                end = len(self._buf)
                break
        return self._take(end if limit is None else min(end, limit))

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class SocketReader(_Buffered):
    """The connection's bytes, read with ``recv``; ``buffered`` tells if a pipelined request is here."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._sock.recv(READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True


class RequestBody(_Buffered):
    """A body of exactly ``length`` bytes from ``rfile``: never reads a byte past it."""

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        super().__init__()
        self._rfile = rfile
        self.remaining = length  # bytes still on the connection

    def _fill(self) -> bool:
        if self.remaining == 0:
            return False
        data = _read_some(self._rfile, min(self.remaining, READ_SIZE))
        if not data:
            # A short body is not a complete request: never hand the app a truncated one as if whole.
            raise BadFraming(f"the connection closed with {self.remaining} bytes of the body missing")
        self.remaining -= len(data)
        self._buf += data
        return True


class ChunkedBody(_Buffered):
    r"""A ``Transfer-Encoding: chunked`` body decoded as it is read (RFC 9112 §7.1).

    Only what the reader asks for is decoded (at most ``READ_SIZE`` bytes at a time), so a large
    upload never sits in memory whole. The last chunk's trailer fields end up in ``trailers``.
    """

    def __init__(self, rfile: BinaryIO) -> None:
        super().__init__()
        self._rfile = rfile
        self._left = 0  # bytes of the current chunk still on the connection
        self.done = False
        self.trailers: list[tuple[str, str]] = []

    def _fill(self) -> bool:
        if self.done:
            return False
        if self._left == 0:
            # Chunk framing is read strictly (CRLF, hex only): lenient chunk parsing is a smuggling vector.
            line = _read_line(self._rfile, strict=True)
            if line is None:
                raise BadFraming("the connection closed before the last chunk")
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                raise BadFraming(f"expected a chunk size in hex, got {line[:40]!r}")
            self._left = int(match.group(1), 16)
            if self._left == 0:
                self.trailers = _read_fields(self._rfile)  # up to the empty line that ends the body
                self.done = True
                return False
        data = _read_some(self._rfile, min(self._left, READ_SIZE))
        if not data:
            raise BadFraming("the connection closed in the middle of a chunk")
        self._left -= len(data)
        self._buf += data
        if self._left == 0 and self._rfile.read(2) != b"\r\n":
            raise BadFraming("chunk data must be followed by CRLF")
        return True


def _read_some(rfile: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, without waiting for all of them when the file can say what it has
    (``read1``): an app reading a slowly streamed upload line by line gets each line as it comes."""
    read1 = getattr(rfile, "read1", None)
    return read1(size) if read1 is not None else rfile.read(size)


def _read_line(rfile: BinaryIO, *, strict: bool = False) -> bytes | None:
    """One line without its line end; None at end of file. A bare LF ends a line unless ``strict``
    (RFC 9112 §2.2 lets a recipient accept it)."""
    raw = rfile.readline(MAX_LINE + 1)
    if not raw:
        return None
    if not raw.endswith(b"\n"):
        raise BadFraming("line too long" if len(raw) > MAX_LINE else "the connection closed in the middle of a line")
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    if strict:
        raise BadFraming(f"expected a CRLF line end, got {raw[-20:]!r}")
    return raw[:-1]


def _read_fields(rfile: BinaryIO) -> list[tuple[str, str]]:
    """Field lines up to the empty line: a chunked body's trailers (the request's headers are 07's business)."""
    fields: list[tuple[str, str]] = []
    while (line := _read_line(rfile)) != b"":
        if line is None:
            raise BadFraming("the connection closed in the middle of the headers")
        if line[:1] in (b" ", b"\t"):
            raise BadFraming("obsolete line folding is not accepted (RFC 9112 §5.2)")
        match = _FIELD_LINE.fullmatch(line.decode("latin-1"))
        if match is None or _CONTROL.search(match.group(2)):
            raise BadFraming(f"a header line is 'Name: value', got {line[:60]!r}")
        if len(fields) == MAX_HEADERS:
            raise BadFraming("too many header lines")
        fields.append((match.group(1), match.group(2)))
    return fields


# ---------------------------------------------------------------------------------------------
# The environ: exercise 07's, and what HTTP/1.1 changes.
# ---------------------------------------------------------------------------------------------


def _content_length(request: Any) -> int | None:
    """The request's Content-Length, None when absent; BadFraming when invalid or contradictory."""
    # "5, 5" (or two lines of 5) is one length said twice (RFC 9112 §6.3); "5, 6" is a smuggling attempt.
    values = {v.strip() for name, raw in request.headers if name.lower() == "content-length" for v in raw.split(",")}
    if not values:
        return None
    if len(values) > 1 or not all(v.isdigit() and v.isascii() for v in values):
        raise BadFraming(f"bad Content-Length {sorted(values)!r}")
    return int(values.pop())


def build_environ(request: Any, wsgi_input: Any, server_address: tuple[str, int]) -> dict[str, Any]:
    """07's PEP 3333 environ for ``request``, with ``wsgi_input`` as wsgi.input and this server's traits."""
    # 07's environ brings its own wsgi.input: an empty one, since ours replaces it.
    environ: dict[str, Any] = _http10_server().build_environ(request, io.BytesIO(), server_address)
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.multithread"] = True  # workers of a pool run apps side by side
    environ["SERVER_SOFTWARE"] = SERVER_SOFTWARE
    if getattr(wsgi_input, "chunked", False):
        # No CONTENT_LENGTH to go by: tell frameworks the stream ends by itself (werkzeug reads it then).
        environ["wsgi.input_terminated"] = True
    return environ


# ---------------------------------------------------------------------------------------------
# Chunks, keep-alive, wsgi.input.
# ---------------------------------------------------------------------------------------------


def read_chunked_body(rfile: BinaryIO) -> bytes:
    r"""Decode a whole chunked body from ``rfile`` (RFC 9112 §7.1), stopping after its last empty line."""
    return ChunkedBody(rfile).read()


def encode_chunk(data: bytes) -> bytes:
    r"""One chunk: ``b"5\r\nhello\r\n"``; for ``b""`` the same format gives the last chunk ``b"0\r\n\r\n"``."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def keep_alive_requested(request: Any) -> bool:
    """HTTP/1.1 without the ``close`` connection option (RFC 9112 §9.3). HTTP/1.0 always closes here."""
    if not _is_http11(request.version):
        return False
    options = {option.strip().lower() for option in (_header(request, "Connection") or "").split(",")}
    return "close" not in options


class RequestInput(_Buffered):
    """``wsgi.input`` for HTTP/1.1: lazy, sends ``100 Continue`` on the first read, then streams the body."""

    def __init__(
        self,
        rfile: BinaryIO,
        *,
        length: int = 0,
        chunked: bool = False,
        send_continue: Callable[[bytes], Any] | None = None,
    ) -> None:
        super().__init__()
        self._rfile = rfile
        self._length = length
        self._chunked = chunked
        self.chunked = chunked  # build_environ reads it: a chunked body has no CONTENT_LENGTH
        self._send_continue = send_continue
        self._body: RequestBody | ChunkedBody | None = None  # opened on the app's first read
        self._broken = False

    def _fill(self) -> bool:
        if self._body is None:
            if self._send_continue is not None:
                self._send_continue(CONTINUE)  # the client holds its body back until it sees this
            self._body = ChunkedBody(self._rfile) if self._chunked else RequestBody(self._rfile, self._length)
        try:
            data = self._body.read1()
        except (BadFraming, OSError):
            self._broken = True  # the body's framing is lost: the connection cannot carry another request
            raise
        self._buf += data
        return bool(data)

    def finish(self) -> bool:
        """Read and discard what the app left of the body; False if the connection cannot be reused."""
        if self._broken:
            return False
        if self._body is None and self._send_continue is not None:
            return False  # "100 Continue" never went out: the client may or may not send its body
        if isinstance(self._body, RequestBody) and self._body.remaining > MAX_DRAIN:
            return False
        self._buf.clear()
        drained = 0
        try:
            while self._fill():
                drained += len(self._buf)
                self._buf.clear()
                if drained > MAX_DRAIN:
                    return False  # closing is cheaper than reading an upload nobody wants
        except (BadFraming, OSError):
            return False
        return True


def make_input(request: Any, rfile: BinaryIO, send: Callable[[bytes], Any]) -> RequestInput:
    """Decide how the body of ``request`` is framed (RFC 9112 §6.3) and build its ``wsgi.input``."""
    length = _content_length(request)
    codings = _header(request, "Transfer-Encoding")
    chunked = codings is not None
    if chunked:
        if length is not None:
            raise BadFraming("Transfer-Encoding with Content-Length: the length is ambiguous (RFC 9112 §6.1)")
        if not _is_http11(request.version):
            raise BadFraming("an HTTP/1.0 request with Transfer-Encoding has faulty framing (RFC 9112 §6.1)")
        if [c.strip().lower() for c in codings.split(",") if c.strip()] != ["chunked"]:
            raise UnsupportedCoding(f"unsupported transfer coding {codings!r}")
    has_body = chunked or bool(length)
    expects = (_header(request, "Expect") or "").strip().lower() == "100-continue"
    wants_continue = has_body and expects and _is_http11(request.version)
    return RequestInput(rfile, length=length or 0, chunked=chunked, send_continue=send if wants_continue else None)


# ---------------------------------------------------------------------------------------------
# The response: start_response, write(), and the HTTP/1.1 framing.
# ---------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    """Sending failed: the client went away, so there is nobody left to answer."""


def _check_headers(headers: Any) -> list[tuple[str, str]]:
    """PEP 3333 §The start_response() Callable: check at call time, so the app sees the error."""
    if not isinstance(headers, (list, tuple)):
        raise TypeError(f"response headers must be a list of (name, value) tuples, got {type(headers).__name__}")
    checked = []
    for item in headers:
        if not (isinstance(item, tuple) and len(item) == 2 and all(type(part) is str for part in item)):
            raise TypeError(f"a response header is a (str, str) tuple, got {item!r}")
        name, value = item
        if not _FIELD_NAME.fullmatch(name) or _CONTROL.search(value) or not _latin1(value):
            raise ValueError(f"invalid response header {item!r} (CR/LF in a header would split the response)")
        if name.lower() in _HOP_BY_HOP:
            raise ValueError(f"hop-by-hop header {name!r} is the server's business (PEP 3333 §Other HTTP Features)")
        checked.append((name, value))
    return checked


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class _Response:
    """One response in the making: ``start_response`` records it, the first body bytes send its head."""

    def __init__(self, environ: dict[str, Any], send: Callable[[bytes], Any], keep_alive: bool) -> None:
        self._send = send
        self._head_only = environ.get("REQUEST_METHOD") == "HEAD"
        self._http11 = _is_http11(environ.get("SERVER_PROTOCOL", ""))
        self.reusable = keep_alive
        self.status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._declared: int | None = None  # the app's Content-Length
        self.head_sent = False
        self._framing = ""  # "none" | "length" | "chunked" | "close", fixed when the head goes out
        self._left = 0  # with "length": bytes still allowed
        self.one_piece = False  # the app's iterable has len() 1: its length is the body's length

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])  # the status line cannot be taken back
            finally:
                exc_info = None  # no traceback cycle
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info (PEP 3333)")
        if not isinstance(status, str) or not _STATUS.fullmatch(status):
            raise ValueError(f"a status is '200 OK': three digits, a space, a reason; got {status!r}")
        checked = _check_headers(headers)
        lengths = {v.strip() for n, v in checked if n.lower() == "content-length"}
        if len(lengths) > 1 or not all(v.isdigit() and v.isascii() for v in lengths):
            raise ValueError(f"invalid Content-Length {sorted(lengths)!r}")
        self.status, self._headers = status, checked
        self._declared = int(lengths.pop()) if lengths else None
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333 §The write() Callable: the bytes are sent before it returns."""
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        self.body(data, one_piece=False)

    def body(self, data: bytes, *, one_piece: bool | None = None) -> None:
        if not isinstance(data, bytes):
            raise TypeError(f"a WSGI body is bytes, got {type(data).__name__}")
        if not data:
            return  # an empty piece says nothing: the head still waits for real bytes
        if self.status is None:
            raise AssertionError("the app yielded body bytes before calling start_response()")
        out = b""
        if not self.head_sent:
            single = self.one_piece if one_piece is None else one_piece
            out = self._head(len(data) if single else None)
        self._emit(out + self._frame(data))

    def finish(self) -> bool:
        """Send what is still owed (the head of an empty body, the last chunk); True if reusable."""
        if self.status is None:
            raise AssertionError("the app returned without calling start_response()")
        out = b"" if self.head_sent else self._head(0 if self.one_piece else None)
        if self._framing == "chunked":
            out += encode_chunk(b"")
        self._emit(out)
        if self._framing == "length" and self._left > 0:
            return False  # the client still waits for bytes that will not come: only closing says so
        return self.reusable

    def _emit(self, data: bytes) -> None:
        if data:
            try:
                self._send(data)
            except OSError as exc:
                raise _ClientGone() from exc

    def _frame(self, data: bytes) -> bytes:
        if self._framing == "none":
            return b""
        if self._framing == "length":
            data = data[: self._left]  # never more than declared: the excess would start the next response
            self._left -= len(data)
            return data
        if self._framing == "chunked":
            return encode_chunk(data)
        return data  # "close": the end of the connection ends the body

    def _head(self, known_length: int | None) -> bytes:
        """Fix the framing and build the head. ``known_length``: the whole body's size, if known now."""
        assert self.status is not None
        code = int(self.status[:3])
        no_body = self._head_only or code < 200 or code in (204, 304)  # RFC 9110 §6.4.1
        names = {name.lower() for name, _ in self._headers}
        headers = [(n, v) for n, v in self._headers if not (n.lower() == "content-length" and (code < 200 or code == 204))]
        ours: list[tuple[str, str]] = []
        if "date" not in names:
            ours.append(("date", email.utils.formatdate(usegmt=True)))
        if "server" not in names:
            ours.append(("server", SERVER_SOFTWARE))
        if no_body:
            self._framing = "none"
            if self._head_only and self._declared is None and known_length is not None:
                headers.append(("content-length", str(known_length)))  # what the GET would have said
        elif self._declared is not None:
            self._framing, self._left = "length", self._declared
        elif known_length is not None:
            self._framing, self._left = "length", known_length
            headers.append(("content-length", str(known_length)))
        elif self._http11:
            self._framing = "chunked"
            headers.append(("transfer-encoding", "chunked"))
        else:
            self._framing = "close"  # an HTTP/1.0 client knows no chunks: the close ends the body
            self.reusable = False
        if not self.reusable:
            headers.append(("connection", "close"))
        self.head_sent = True
        lines = [f"HTTP/1.1 {self.status}", *(f"{n}: {v}" for n, v in ours + headers), "", ""]
        return "\r\n".join(lines).encode("latin-1")


def _error_response(status: str, *, head_only: bool = False) -> bytes:
    """A complete plain-text error response that closes the connection."""
    body = f"{status}\n".encode()
    head = (
        f"HTTP/1.1 {status}\r\ndate: {email.utils.formatdate(usegmt=True)}\r\nserver: {SERVER_SOFTWARE}\r\n"
        f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)


def _has_one_piece(result: Any) -> bool:
    try:
        return len(result) == 1
    except TypeError:  # a generator: its length is unknown until it ends
        return False


def call_app(app: WSGIApp, environ: dict[str, Any], send: Callable[[bytes], Any], keep_alive: bool = True) -> bool:
    """Run ``app``, send its response framed for HTTP/1.1, and return True if the connection may be reused."""
    response = _Response(environ, send, keep_alive)
    try:
        result: Any = None
        try:
            result = app(environ, response.start_response)
            response.one_piece = not response.head_sent and _has_one_piece(result)
            for piece in result:
                response.body(piece)
        finally:
            if hasattr(result, "close"):
                result.close()  # PEP 3333: whatever happened
        return response.finish()
    except _ClientGone:
        return False
    except Exception as exc:
        errors = environ.get("wsgi.errors") or sys.stderr
        print(f"error in WSGI app for {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')!r}:", file=errors)
        traceback.print_exc(file=errors)
        if not response.head_sent:
            # Our own wsgi.input found the body malformed: that is the client's error, not the app's.
            status = exc.status if isinstance(exc, BadFraming) else "500 Internal Server Error"
            try:
                send(_error_response(status, head_only=environ.get("REQUEST_METHOD") == "HEAD"))
            except OSError:
                pass
        return False  # after an error, half a response may be out: only closing ends it cleanly


# ---------------------------------------------------------------------------------------------
# The server: a selector loop for idle connections, a worker pool for requests.
# ---------------------------------------------------------------------------------------------


class _Connection:
    """A client connection: its socket, the buffered reader over it, and since when it has been idle."""

    def __init__(self, sock: socket.socket, peer: Any) -> None:
        self.sock = sock
        self.peer = peer
        self.reader = SocketReader(sock)
        self.idle_since = time.monotonic()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class ThreadedWSGIServer:
    """An HTTP/1.1 WSGI server: a selector loop watches idle connections, a pool serves requests.

    ``serve_forever()`` runs the loop: it accepts connections and watches every idle one; when one
    becomes readable (a request begins, or the client closes) it goes to a worker, which answers
    requests on it while they keep coming and then hands it back. ``shutdown()`` closes the idle
    connections, lets busy ones finish for ``SHUTDOWN_GRACE`` seconds, cuts the rest and joins
    every worker before ``serve_forever()`` returns.
    """

    def __init__(self, host: str, port: int, app: WSGIApp, *, workers: int = WORKERS) -> None:
        self.app = app
        self.workers = workers
        self._http10 = _http10_server()  # exercise 07: request heads and the environ's base
        self._listener = socket.create_server((host, port), backlog=256)
        self._listener.setblocking(False)
        self.server_address: tuple[str, int] = self._listener.getsockname()[:2]
        # Workers wake the loop by writing a byte here (the loop may be sleeping in select()).
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._handed_back: queue.SimpleQueue[_Connection] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._busy_changed = threading.Condition(self._lock)
        self._busy: set[_Connection] = set()  # connections a worker holds now
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._started = False

    # --- the loop --------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        self._started = True
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="wsgi-worker")
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        idle: set[_Connection] = set()
        try:
            while not self._stopping.is_set():
                for key, _ in selector.select(self._seconds_to_next_expiry(idle)):
                    if key.fileobj is self._listener:
                        self._accept(selector, idle)
                    elif key.fileobj is self._wake_r:
                        self._drain_wake()
                    else:
                        conn: _Connection = key.data
                        selector.unregister(conn.sock)
                        idle.discard(conn)
                        with self._lock:
                            self._busy.add(conn)
                        pool.submit(self._work, conn)
                self._take_back(selector, idle)
                self._expire(selector, idle)
        finally:
            for conn in idle:  # idle connections are closed at once (RFC 9112 §9.5)
                conn.close()
            selector.close()
            self._stop_workers(pool)
            self._stopped.set()

    def _accept(self, selector: selectors.BaseSelector, idle: set[_Connection]) -> None:
        while True:
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of file descriptors: keep serving the others
                print(f"accept failed: {exc}", file=sys.stderr)
                return
            # Chunked responses go out in small writes: no Nagle delay between them.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock, peer)
            selector.register(sock, selectors.EVENT_READ, conn)  # a worker only once it speaks
            idle.add(conn)

    def _take_back(self, selector: selectors.BaseSelector, idle: set[_Connection]) -> None:
        while True:
            try:
                conn = self._handed_back.get_nowait()
            except queue.Empty:
                return
            if self._stopping.is_set():
                conn.close()
            else:
                selector.register(conn.sock, selectors.EVENT_READ, conn)
                idle.add(conn)

    def _expire(self, selector: selectors.BaseSelector, idle: set[_Connection]) -> None:
        now = time.monotonic()
        for conn in [c for c in idle if now - c.idle_since >= KEEP_ALIVE_TIMEOUT]:
            selector.unregister(conn.sock)
            idle.discard(conn)
            conn.close()

    @staticmethod
    def _seconds_to_next_expiry(idle: set[_Connection]) -> float | None:
        if not idle:
            return None  # nothing to expire: sleep until a connection, a worker or shutdown() wakes us
        return max(0.0, min(c.idle_since for c in idle) + KEEP_ALIVE_TIMEOUT - time.monotonic())

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (the loop is awake anyway) or closed
            pass

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _stop_workers(self, pool: ThreadPoolExecutor) -> None:
        with self._lock:
            deadline = time.monotonic() + SHUTDOWN_GRACE
            while self._busy and (left := deadline - time.monotonic()) > 0:
                self._busy_changed.wait(left)
            for conn in self._busy:
                try:  # wakes a worker blocked in recv() or sendall() on a slow client
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:  # connections whose work was cancelled before it started
            for conn in self._busy:
                conn.close()
            self._busy.clear()
        while True:  # connections a worker handed back at the last moment
            try:
                self._handed_back.get_nowait().close()
            except queue.Empty:
                break

    # --- a worker ---------------------------------------------------------------------------------

    def _work(self, conn: _Connection) -> None:
        handed_back = False
        try:
            conn.sock.settimeout(IO_TIMEOUT)
            while self._exchange(conn) and not self._stopping.is_set():
                if not conn.reader.buffered:  # no pipelined request waiting: back to the loop
                    conn.idle_since = time.monotonic()
                    handed_back = True
                    break
        except Exception:
            traceback.print_exc(file=sys.stderr)
        finally:
            with self._lock:
                self._busy.discard(conn)
                self._busy_changed.notify_all()
            if handed_back:
                self._handed_back.put(conn)
                self._wake()
            else:
                conn.close()

    def _exchange(self, conn: _Connection) -> bool:
        """Answer one request on ``conn``; True if the connection may carry another."""
        sock = conn.sock
        http10 = self._http10
        try:
            request = http10.parse_request(conn.reader)  # looked up each time: 07's parser, as it is now
            if request is None:
                return False  # the client closed between requests
            wsgi_input = make_input(request, conn.reader, sock.sendall)
        except (http10.BadRequest, BadFraming) as exc:
            try:
                # 07's BadRequest may carry a status of its own (431, 501, ...); else it is a 400.
                sock.sendall(_error_response(getattr(exc, "status", "400 Bad Request")))
            except OSError:
                pass
            return False
        except OSError:  # reset, or too slow to send its head
            return False
        environ = build_environ(request, wsgi_input, self.server_address)
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = conn.peer[0], str(conn.peer[1])
        keep_alive = keep_alive_requested(request) and not self._stopping.is_set()
        reusable = call_app(self.app, environ, sock.sendall, keep_alive)
        return reusable and wsgi_input.finish()

    # --- stopping ---------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop serve_forever() (from another thread) and wait until it has returned."""
        self._stopping.set()
        self._wake()
        if self._started:  # if it has not started yet, it will see _stopping and return at once
            self._stopped.wait()

    def server_close(self) -> None:
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()


def make_server(host: str, port: int, app: WSGIApp) -> ThreadedWSGIServer:
    """An HTTP/1.1 server for ``app`` bound to ``host:port`` (port 0: any free port), not yet serving."""
    return ThreadedWSGIServer(host, port, app)


# ---------------------------------------------------------------------------------------------
# Run by hand: python -m wsgi_server_http11 module:callable --port 8000
# ---------------------------------------------------------------------------------------------


def load_app(spec: str) -> WSGIApp:
    """Import ``"module:callable"`` from the current folder (``application`` when no callable is named)."""
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, ".")
    return getattr(importlib.import_module(module_name), attr or "application")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wsgi_server_http11", description="Serve a WSGI app over HTTP/1.1.")
    parser.add_argument("app", help="the app to serve, as module:callable (e.g. wsgi_server_http11_apps:app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=WORKERS, help="requests served at the same time")
    args = parser.parse_args(argv)
    server = ThreadedWSGIServer(args.host, args.port, load_app(args.app), workers=args.workers)
    host, port = server.server_address
    print(f"Serving on http://{host}:{port} with {args.workers} worker threads", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
