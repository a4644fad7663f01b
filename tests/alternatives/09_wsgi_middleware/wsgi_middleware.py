"""Exercise 09 — WSGI middleware (an alternative solution).

A middleware is a WSGI application that wraps another one: the application to the server above it,
the server to the application below it (PEP 3333 §Middleware: Components That Play Both Sides).

Here the plumbing is written once, in the base class ``Middleware``: its ``__call__`` hands the app
a forwarding ``start_response`` (``exc_info`` passed on, the real ``write`` returned), passes the
body through untouched, and wraps it only when a middleware must act on ``close()``. Each of the
five middleware only fills in hooks:

    on_request(exchange)                   -> None, or a reply (status, headers, body) that answers
                                              the request without calling the app
    on_response(exchange, status, headers) -> the headers to send instead
    on_close(exchange)                     -> the request is over (the body was closed, or the app raised)

The headers these middleware add are written in lower case: HTTP field names are case-insensitive
(RFC 9110 §5.1), and that is how HTTP/2 and HTTP/3 send them anyway.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hmac
import re
import sys
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Headers = list[tuple[str, str]]
Reply = tuple[str, Headers, bytes]
"""An answer a middleware gives by itself: status, headers, the whole body."""

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON_KEY = "request_id"
"""Where RequestIDMiddleware puts the id for the application (PEP 3333 allows extra environ keys)."""


# --------------------------------------------------------------------------------------------
# Small tools on header lists.
# --------------------------------------------------------------------------------------------


def _without(headers: Headers, name: str) -> Headers:
    """``headers`` minus every field called ``name`` (any case)."""
    return [(key, value) for key, value in headers if key.lower() != name.lower()]


def _with_vary(headers: Headers, token: str) -> Headers:
    """Add ``token`` to the response's Vary list (RFC 9110 §12.5.5), merged into the app's own field."""
    varies = [value for key, value in headers if key.lower() == "vary"]
    listed = {part.strip().lower() for value in varies for part in value.split(",")}
    if "*" in listed or token.lower() in listed:
        return headers  # "Vary: *" already says "everything"; and no token twice
    merged = ", ".join([*varies, token])
    return [*_without(headers, "vary"), ("vary", merged)]


def _text_reply(status: str, text: str, headers: Headers | None = None) -> Reply:
    body = text.encode("utf-8")
    return status, [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body))), *(headers or [])], body


# --------------------------------------------------------------------------------------------
# The shared plumbing.
# --------------------------------------------------------------------------------------------


class ClosingIterator:
    """Pass an iterable through chunk by chunk, and run callbacks once when the server closes it.

    ``close()`` closes the inner iterable (when it has a ``close``) and then runs each callback in
    order; all of them run even if one raises, and a second ``close()`` does nothing.
    """

    def __init__(self, iterable: Iterable[bytes], *callbacks: Callable[[], None]) -> None:
        self._iterable = iterable
        self._iterator = iter(iterable)  # iter() of a generator runs none of its code yet
        self._callbacks = callbacks
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._iterator)  # one chunk at a time: no reading ahead, no buffering

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # An ExitStack runs what it holds last-in first-out, and runs all of it even if one raises.
        with contextlib.ExitStack() as stack:
            for callback in reversed(self._callbacks):
                stack.callback(callback)
            inner_close = getattr(self._iterable, "close", None)
            if inner_close is not None:
                stack.callback(inner_close)


@dataclass
class Exchange:
    """One request passing through one middleware: what its hooks share."""

    environ: dict
    started: float = field(default_factory=time.perf_counter)
    status: str | None = None
    """The status the server accepted last (after an ``exc_info`` call, the replacement)."""
    notes: dict[str, Any] = field(default_factory=dict)
    """Whatever a middleware computes on the way in and needs on the way out."""

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class Middleware:
    """The base of the middleware below: a WSGI app wrapping ``app``, customised through hooks."""

    on_close: Callable[[Exchange], None] | None = None
    """Set by a middleware that must act when the request is over; the body is wrapped only then."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def on_request(self, exchange: Exchange) -> Reply | None:
        return None

    def on_response(self, exchange: Exchange, status: str, headers: Headers) -> Headers:
        return headers

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        exchange = Exchange(environ)

        def forwarding_start_response(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], Any]:
            write = start_response(status, self.on_response(exchange, status, list(headers)), exc_info)
            # Only now: if the server re-raised exc_info, the status it had already sent still stands.
            exchange.status = status
            return write

        try:
            reply = self.on_request(exchange)
            if reply is not None:
                status, headers, body = reply
                start_response(status, headers)
                exchange.status = status
                # An answer to HEAD has no content, whoever makes it (RFC 9110 §9.3.2).
                sends_body = body and environ.get("REQUEST_METHOD") != "HEAD"
                result: Iterable[bytes] = [body] if sends_body else []
            else:
                result = self.app(environ, forwarding_start_response)
        except Exception:
            if self.on_close is not None:
                self.on_close(exchange)  # the request is over too, just badly: log it, then let it go up
            raise
        if self.on_close is None:
            return result  # the app's own iterable, so the server sees its close() (and any file_wrapper)
        return ClosingIterator(result, functools.partial(self.on_close, exchange))


# --------------------------------------------------------------------------------------------
# The five middleware.
# --------------------------------------------------------------------------------------------


# What a log line may show of a URL unescaped; the rest is percent-encoded, so that a "%0A" in a
# path cannot start a forged log line, and a space cannot break the line's fields.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?%"  # QUERY_STRING is still encoded as the client sent it


class LoggingMiddleware(Middleware):
    """Write one line per request, ``GET /items?page=2 200 3.1ms``, when the response is closed.

    The path is ``SCRIPT_NAME + PATH_INFO`` (re-encoded as it was on the wire), plus ``?`` and the
    query when there is one; the status is the last one the app gave, ``500`` if it raised first.
    The line goes to ``stream``, or to ``environ["wsgi.errors"]`` (PEP 3333 §environ Variables).
    """

    def __init__(self, app: WSGIApp, stream: IO[str] | None = None) -> None:
        super().__init__(app)
        self.stream = stream

    def on_close(self, exchange: Exchange) -> None:  # type: ignore[override]
        environ = exchange.environ
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        target = urllib.parse.quote(path.encode("latin-1"), safe=_PATH_SAFE) or "/"
        if query := environ.get("QUERY_STRING"):
            target += "?" + urllib.parse.quote(query.encode("latin-1"), safe=_QUERY_SAFE)
        code = exchange.status[:3] if exchange.status else "500"
        stream = self.stream if self.stream is not None else environ["wsgi.errors"]
        stream.write(f"{environ.get('REQUEST_METHOD', '-')} {target} {code} {exchange.elapsed_ms():.1f}ms\n")
        stream.flush()


_BASIC_CREDENTIALS = re.compile(r"basic +([A-Za-z0-9+/]+=*) *", re.IGNORECASE | re.ASCII)
"""RFC 7617 §2 / RFC 9110 §11.4: the scheme (any case), then the base64 token68."""


def _nfc(text: str) -> bytes:
    # RFC 7617 §2.1: with charset="UTF-8", user-ids and passwords compare in Normalization Form C.
    return unicodedata.normalize("NFC", text).encode("utf-8")


class BasicAuthMiddleware(Middleware):
    """Let a request through only with valid HTTP Basic credentials (RFC 7617).

    Valid: ``environ["REMOTE_USER"]`` is the user name. Anything else answers ``401`` with a
    ``WWW-Authenticate`` challenge, and the app is not called.
    """

    def __init__(self, app: WSGIApp, users: dict[str, str], realm: str = "Restricted") -> None:
        super().__init__(app)
        self._passwords = {_nfc(user): _nfc(password) for user, password in users.items()}
        quoted_realm = realm.replace("\\", "\\\\").replace('"', '\\"')  # a quoted-string (RFC 9110 §5.6.4)
        # charset="UTF-8" (RFC 7617 §2.1) tells the client how we will decode the pair.
        self._challenge = f'Basic realm="{quoted_realm}", charset="UTF-8"'

    def _user(self, authorization: str) -> str | None:
        """The user the header proves, as a native string (its bytes as sent, in latin-1), or ``None``."""
        match = _BASIC_CREDENTIALS.fullmatch(authorization)
        if match is None:
            return None
        try:
            pair = base64.b64decode(match[1], validate=True)
            pair.decode("utf-8")  # RFC 7617 §2.1: the pair is UTF-8; anything else is refused
        except ValueError:  # binascii.Error and UnicodeDecodeError both are
            return None
        user, colon, password = pair.partition(b":")  # the user-id has no colon, the password may
        if not colon:
            return None
        expected = self._passwords.get(_nfc(user.decode("utf-8")))
        # Compare even for an unknown user, so the time taken does not tell which users exist.
        matches = hmac.compare_digest(_nfc(password.decode("utf-8")), expected if expected is not None else b"\0" * 32)
        # PEP 3333 §Unicode Issues: environ strings carry bytes, one latin-1 code point each.
        return user.decode("latin-1") if matches and expected is not None else None

    def on_request(self, exchange: Exchange) -> Reply | None:
        user = self._user(exchange.environ.get("HTTP_AUTHORIZATION", ""))
        if user is None:
            return _text_reply("401 Unauthorized", "Authentication required.\n", [("www-authenticate", self._challenge)])
        exchange.environ["REMOTE_USER"] = user
        return None


class CORSMiddleware(Middleware):
    """Cross-Origin Resource Sharing (the Fetch standard, §3.2 "CORS protocol").

    Preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are answered here,
    ``204`` or ``400``, without the app. Other requests with an allowed ``Origin`` get
    ``Access-Control-Allow-Origin`` on the app's answer. Unless every origin is allowed, any
    response to a request with an ``Origin`` says ``Vary: Origin``: it depends on it.
    """

    def __init__(
        self,
        app: WSGIApp,
        allow_origins: Sequence[str] = ("*",),
        allow_methods: Sequence[str] = ("GET", "HEAD", "POST"),
        allow_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        super().__init__(app)
        self.any_origin = "*" in allow_origins
        self.allow_origins = frozenset(allow_origins)
        self.allow_methods = tuple(allow_methods)  # methods are case-sensitive (RFC 9110 §9.1)
        self.allow_headers = frozenset(name.lower() for name in allow_headers)
        self.max_age = max_age

    def _allow_origin_value(self, origin: str) -> str | None:
        if self.any_origin:
            return "*"
        return origin if origin in self.allow_origins else None

    def _vary(self, headers: Headers, *tokens: str) -> Headers:
        if self.any_origin:
            return headers  # "*" is the same answer for everyone
        for token in tokens:
            headers = _with_vary(headers, token)
        return headers

    def on_request(self, exchange: Exchange) -> Reply | None:
        environ = exchange.environ
        origin = environ.get("HTTP_ORIGIN")
        method = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        if not origin or method is None or environ["REQUEST_METHOD"] != "OPTIONS":
            return None  # not a preflight: the app answers
        requested = [name.strip().lower() for name in environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "").split(",")]
        requested = [name for name in requested if name]
        allow_origin = self._allow_origin_value(origin)
        # The answer depends on all three request fields, not on Origin alone.
        vary = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")

        refusal = None
        if allow_origin is None:
            refusal = f"origin {origin!r} is not allowed"
        elif method.strip() not in self.allow_methods:
            refusal = f"method {method.strip()!r} is not allowed"
        elif not set(requested) <= self.allow_headers:
            refusal = f"headers {sorted(set(requested) - self.allow_headers)!r} are not allowed"
        if refusal is not None:
            status, headers, body = _text_reply("400 Bad Request", f"CORS preflight refused: {refusal}.\n")
            return status, self._vary(headers, *vary), body

        headers = [
            ("access-control-allow-origin", allow_origin),
            ("access-control-allow-methods", ", ".join(self.allow_methods)),
            ("access-control-max-age", str(self.max_age)),
        ]
        if requested:
            headers.append(("access-control-allow-headers", ", ".join(requested)))
        # 204: no content, so neither Content-Type nor Content-Length (RFC 9110 §8.6, §15.3.5).
        return "204 No Content", self._vary(headers, *vary), b""

    def on_response(self, exchange: Exchange, status: str, headers: Headers) -> Headers:
        origin = exchange.environ.get("HTTP_ORIGIN")
        if not origin:
            return headers  # not a CORS request: nothing changes
        allow_origin = self._allow_origin_value(origin)
        if allow_origin is not None:
            # Exactly one such field: a browser refuses a response that repeats it.
            headers = [*_without(headers, "access-control-allow-origin"), ("access-control-allow-origin", allow_origin)]
        return self._vary(headers, "Origin")


# Letters, digits and ._:- only, 1 to 128 of them: safe in a header, a log line or a file name.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIDMiddleware(Middleware):
    """Give every request an id: keep a sane incoming ``X-Request-ID``, or make a new one (a UUID).

    The id is in ``environ["request_id"]`` for the app, and in exactly one ``X-Request-ID`` response
    header (the app's own is replaced).
    """

    def on_request(self, exchange: Exchange) -> Reply | None:
        incoming = exchange.environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        exchange.notes["request_id"] = exchange.environ[REQUEST_ID_ENVIRON_KEY] = request_id
        return None

    def on_response(self, exchange: Exchange, status: str, headers: Headers) -> Headers:
        return [*_without(headers, REQUEST_ID_HEADER), (REQUEST_ID_HEADER.lower(), exchange.notes["request_id"])]


class TimingMiddleware(Middleware):
    """Add ``Server-Timing: app;dur=<milliseconds>`` (W3C Server Timing), up to ``start_response``.

    Headers leave before the body, so that is all a header can measure. The app's own
    ``Server-Timing`` fields stay: ours is one more.
    """

    def on_response(self, exchange: Exchange, status: str, headers: Headers) -> Headers:
        return [*headers, ("server-timing", f"app;dur={exchange.elapsed_ms():.3f}")]


def build_middleware_stack(app: WSGIApp, middleware: Sequence[Callable[[WSGIApp], WSGIApp]]) -> WSGIApp:
    """Wrap ``app`` in every middleware: the FIRST in the list is the OUTERMOST.

    ``[A, B]`` gives ``A(B(app))``: folding from the end of the list wraps the innermost first.
    An empty list gives back ``app`` itself.
    """
    return functools.reduce(lambda inner, wrap: wrap(inner), reversed(middleware), app)


if __name__ == "__main__":  # pragma: no cover - a manual demo: python wsgi_middleware.py
    from functools import partial
    from wsgiref.simple_server import make_server

    def hello(environ, start_response):
        # REMOTE_USER is a native string, the name's UTF-8 bytes as latin-1 (PEP 3333): decode it back.
        user = environ.get("REMOTE_USER", "stranger").encode("latin-1").decode("utf-8")
        body = f"Hello, {user} ({environ['request_id']})\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    stack = build_middleware_stack(
        hello,
        [
            RequestIDMiddleware,
            partial(LoggingMiddleware, stream=sys.stderr),
            TimingMiddleware,
            partial(CORSMiddleware, allow_origins=["http://localhost:3000"]),
            partial(BasicAuthMiddleware, users={"ada": "lovelace", "zoë": "pässwörd"}, realm="katas"),
        ],
    )
    with make_server("127.0.0.1", 8000, stack) as httpd:
        print("Serving on http://127.0.0.1:8000 (users ada/lovelace and zoë/pässwörd)")
        httpd.serve_forever()
