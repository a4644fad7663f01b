"""Exercise 09 — WSGI middleware.

A middleware is a WSGI application that wraps another one. To the server above it, it *is* the
application: it takes ``(environ, start_response)`` and returns an iterable of bytes. To the
application below it, it *is* the server: it hands down an ``environ`` and a ``start_response``.
PEP 3333 §Middleware: Components That Play Both Sides.

Every middleware here can touch the request on the way in (read or add ``environ`` keys), the
status and headers on the way out (by handing the inner app its own ``start_response``), and the
end of the response (by wrapping the iterable and acting in ``close()``). What it must never do is
break the contract in between:

- return the inner app's body *without reading it all first*: a streaming app must still stream;
- make sure ``close()`` of the inner iterable is called, exactly once, when the server closes ours;
- give the inner app a ``start_response`` that forwards ``exc_info`` and returns the ``write()``
  callable of the real one (PEP 3333 §The start_response() Callable).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]  # mutants: skip (given in the stub)

REQUEST_ID_HEADER = "X-Request-ID"  # mutants: skip (given in the stub)
REQUEST_ID_ENVIRON_KEY = "request_id"  # mutants: skip (given in the stub)
"""Where RequestIDMiddleware puts the id for the application (PEP 3333 allows extra environ keys)."""


class ClosingIterator:
    """Pass an iterable through chunk by chunk, and run callbacks once when the server closes it.

    This is the one tool every middleware that must act *after* the body needs: it neither reads
    ahead nor buffers, and its ``close()`` always closes the inner iterable first (PEP 3333 requires
    the server to call ``close()``; we must pass that call on).
    """

    def __init__(self, iterable: Iterable[bytes], *callbacks: Callable[[], None]) -> None:
        self._iterable = iterable
        self._iterator: Iterator[bytes] | None = None
        self._callbacks = callbacks
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._iterable)
        return next(self._iterator)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            for callback in self._callbacks:
                callback()


def _header(environ: dict, name: str) -> str | None:
    """A request header from the environ: 'Access-Control-Request-Method' -> HTTP_ACCESS_CONTROL_REQUEST_METHOD."""
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


class LoggingMiddleware:
    """Write one line per request: ``METHOD PATH STATUS DURATIONms``, e.g. ``GET /items?page=2 200 3.1ms``.

    The line is written when the server calls ``close()`` on the response: only then is the status
    certainly known (a generator app calls ``start_response`` on its first ``next()``) and the
    duration complete (the body may take a long time to stream).
    """

    def __init__(self, app: WSGIApp, stream: IO[str] | None = None) -> None:
        self.app = app
        self.stream = stream

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        # Read what we log *now*: an inner layer (a Mount) may change its copy of the path.
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        method = environ["REQUEST_METHOD"]
        stream = self.stream if self.stream is not None else environ["wsgi.errors"]
        seen = {"status": "500"}  # if the app fails before start_response, the server answers 500

        def logging_start_response(status, headers, exc_info=None):
            seen["status"] = status.partition(" ")[0]
            return start_response(status, headers, exc_info)

        def log() -> None:
            duration_ms = (time.perf_counter() - started) * 1000
            stream.write(f"{method} {path} {seen['status']} {duration_ms:.1f}ms\n")

        try:
            body = self.app(environ, logging_start_response)
        except BaseException:
            log()
            raise
        return ClosingIterator(body, log)


class BasicAuthMiddleware:
    """Let a request through only with valid HTTP Basic credentials (RFC 7617).

    ``Authorization: Basic base64(user ":" password)``, the pair encoded as UTF-8. Without valid
    credentials, answer ``401 Unauthorized`` with ``WWW-Authenticate: Basic realm="..."`` and never
    call the app; with them, set ``REMOTE_USER`` (CGI's name, PEP 3333 §environ Variables) and call it.
    ``REMOTE_USER`` is a native string: the user name's UTF-8 bytes decoded as latin-1 (``zoë`` is
    ``"zo\xc3\xab"``), as every environ string is (PEP 3333 §Unicode Issues).
    """

    def __init__(self, app: WSGIApp, users: dict[str, str], realm: str = "Restricted") -> None:
        self.app = app
        self.users = dict(users)
        self.realm = realm

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        user = self.authenticate(environ.get("HTTP_AUTHORIZATION", ""))
        if user is None:
            body = b"401 Unauthorized: valid credentials are required\n"
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("WWW-Authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'),
                ],
            )
            # HEAD gets the same headers, Content-Length included, and no content (RFC 9110 §9.3.2).
            return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
        environ["REMOTE_USER"] = user
        return self.app(environ, start_response)

    def authenticate(self, authorization: str) -> str | None:
        """Return the user name when the header carries a known user and the right password."""
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "basic":  # auth schemes are case-insensitive (RFC 9110 §11.1)
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        # The user-id cannot contain ':', the password can: split at the first one (RFC 7617 §2).
        user, colon, password = decoded.partition(":")
        if not colon or user not in self.users:
            return None
        # compare_digest takes the same time wherever the strings differ: no timing leak.
        if not hmac.compare_digest(password.encode("utf-8"), self.users[user].encode("utf-8")):
            return None
        # A WSGI environ holds "native strings": text as latin-1 code points (PEP 3333 §Unicode Issues).
        return user.encode("utf-8").decode("latin-1")


class CORSMiddleware:
    """Cross-Origin Resource Sharing (Fetch standard §3.2, "CORS protocol").

    - A request with an allowed ``Origin`` gets ``Access-Control-Allow-Origin`` (the origin itself, or
      ``*`` when every origin is allowed) on its response.
    - A *preflight* — ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method`` — is answered
      here, without calling the app: ``204`` with the allowed methods, headers and max age when all
      asked for is allowed, ``400`` without any ``Access-Control-*`` header otherwise.
    - A response that depends on the ``Origin`` carries ``Vary: Origin`` so caches keep one per origin.
    """

    def __init__(
        self,
        app: WSGIApp,
        allow_origins: Sequence[str] = ("*",),
        allow_methods: Sequence[str] = ("GET", "HEAD", "POST"),
        allow_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        self.allow_all_origins = "*" in allow_origins
        self.allow_origins = frozenset(allow_origins)
        self.allow_methods = [m.upper() for m in allow_methods]
        self.allow_headers = frozenset(h.lower() for h in allow_headers)
        self.max_age = max_age

    def origin_allowed(self, origin: str) -> bool:
        return self.allow_all_origins or origin in self.allow_origins

    def allow_origin_value(self, origin: str) -> str:
        return "*" if self.allow_all_origins else origin

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        origin = _header(environ, "Origin")
        if origin is None:
            return self.app(environ, start_response)  # not a CORS request: nothing to do
        if environ["REQUEST_METHOD"] == "OPTIONS" and _header(environ, "Access-Control-Request-Method"):
            return self.preflight(environ, origin, start_response)

        def cors_start_response(status, headers, exc_info=None):
            headers = [(n, v) for n, v in headers if n.lower() != "access-control-allow-origin"]
            if self.origin_allowed(origin):
                headers.append(("Access-Control-Allow-Origin", self.allow_origin_value(origin)))
            if not self.allow_all_origins:
                # The answer depends on Origin. A field line of our own adds to the app's Vary list
                # (RFC 9110 §5.3, §12.5.5), so whatever the app varies on stays.
                headers.append(("Vary", "Origin"))
            return start_response(status, headers, exc_info)

        return self.app(environ, cors_start_response)

    def preflight(self, environ: dict, origin: str, start_response: Callable) -> Iterable[bytes]:
        method = _header(environ, "Access-Control-Request-Method").strip().upper()
        requested = [h.strip() for h in (_header(environ, "Access-Control-Request-Headers") or "").split(",")]
        requested = [h for h in requested if h]
        headers_ok = all(h.lower() in self.allow_headers for h in requested)
        vary = [("Vary", "Origin")] if not self.allow_all_origins else []
        if not (self.origin_allowed(origin) and method in self.allow_methods and headers_ok):
            body = b"CORS preflight refused\n"
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *vary],
            )
            return [body]
        headers = [
            ("Access-Control-Allow-Origin", self.allow_origin_value(origin)),
            ("Access-Control-Allow-Methods", ", ".join(self.allow_methods)),
            ("Access-Control-Max-Age", str(self.max_age)),
            *vary,
        ]
        if requested:
            headers.append(("Access-Control-Allow-Headers", ", ".join(requested)))
        # 204 has no content: no Content-Type, no Content-Length (RFC 9110 §8.6, §15.3.5).
        start_response("204 No Content", headers)
        return []


_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class RequestIDMiddleware:
    """Give every request an id: keep a sane incoming ``X-Request-ID``, or make a new one.

    The id goes into ``environ["request_id"]`` for the app and into the response's ``X-Request-ID``
    header, so a client, a log line and a bug report can be matched up.
    An incoming id is kept only when it is 1–128 characters of letters, digits and ``._:-``: it ends
    up in logs and headers, so anything else is replaced.
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        environ[REQUEST_ID_ENVIRON_KEY] = request_id

        def request_id_start_response(status, headers, exc_info=None):
            headers = [(n, v) for n, v in headers if n.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.app(environ, request_id_start_response)


class TimingMiddleware:
    """Add ``Server-Timing: app;dur=<milliseconds>`` (W3C Server Timing) to every response.

    The duration runs from the call to the moment the app calls ``start_response``: headers leave
    before the body, so that is all a header can report (the log line can report the whole thing).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()

        def timing_start_response(status, headers, exc_info=None):
            duration_ms = (time.perf_counter() - started) * 1000
            headers = [*headers, ("Server-Timing", f"app;dur={duration_ms:.1f}")]
            return start_response(status, headers, exc_info)

        return self.app(environ, timing_start_response)


def build_middleware_stack(app: WSGIApp, middleware: Sequence[Callable[[WSGIApp], WSGIApp]]) -> WSGIApp:
    """Wrap ``app`` in every middleware: the FIRST in the list is the OUTERMOST.

    ``build_middleware_stack(app, [A, B])`` is ``A(B(app))``: a request meets A first, then B, then
    the app; the response comes back through B, then A. Each item is a callable taking the app to wrap
    (a class, or ``functools.partial(CORSMiddleware, allow_origins=[...])`` to pass options).
    """
    for factory in reversed(middleware):
        app = factory(app)
    return app


if __name__ == "__main__":  # pragma: no cover - a manual demo: python wsgi_middleware.py  # mutants: skip (given in the stub)
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
