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

The shape of almost every middleware::

    class SomeMiddleware:
        def __init__(self, app):
            self.app = app

        def __call__(self, environ, start_response):
            # ... look at / add to environ ...
            def my_start_response(status, headers, exc_info=None):
                # ... look at / change status and headers ...
                return start_response(status, headers, exc_info)   # forward exc_info, return write
            return self.app(environ, my_start_response)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON_KEY = "request_id"
"""Where RequestIDMiddleware puts the id for the application (PEP 3333 allows extra environ keys)."""


class ClosingIterator:
    """Pass an iterable through chunk by chunk, and run callbacks once when the server closes it.

    A tool for the middleware that must act *after* the body (LoggingMiddleware): it must neither
    read ahead nor buffer (``__next__`` takes one chunk from the inner iterable), and its ``close()``
    must close the inner iterable — when it has a ``close`` — and then run each callback, once, even
    if ``close()`` is called twice. PEP 3333 §Specification Details: the server calls ``close()``;
    a middleware has to pass that call on.
    """

    def __init__(self, iterable: Iterable[bytes], *callbacks: Callable[[], None]) -> None:
        raise NotImplementedError("write ClosingIterator.__init__ in wsgi_middleware.py")

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("write ClosingIterator.__iter__ in wsgi_middleware.py")

    def __next__(self) -> bytes:
        raise NotImplementedError("write ClosingIterator.__next__ in wsgi_middleware.py")

    def close(self) -> None:
        raise NotImplementedError("write ClosingIterator.close in wsgi_middleware.py")


class LoggingMiddleware:
    """Write one line per request: ``METHOD PATH STATUS DURATIONms``, e.g. ``GET /items?page=2 200 3.1ms``.

    - ``PATH`` is ``SCRIPT_NAME + PATH_INFO``, plus ``"?" + QUERY_STRING`` when there is one.
    - ``STATUS`` is the three-digit code the app gave to ``start_response`` (the last one, if it
      called it again with ``exc_info``); ``500`` if the app raised before calling it.
    - ``DURATION`` is in milliseconds with one decimal, from the call until the response is closed.
    - The line ends with ``"\\n"`` and goes to ``stream``, or to ``environ["wsgi.errors"]`` when
      ``stream`` is None (PEP 3333 §environ Variables: the server's error/log stream).

    Write the line when the server calls ``close()`` on the response, not when the app returns: a
    generator app calls ``start_response`` only on its first ``next()``, and a streamed body may
    take far longer than the call. If the app raises, log (status 500) and re-raise.
    """

    def __init__(self, app: WSGIApp, stream: IO[str] | None = None) -> None:
        raise NotImplementedError("write LoggingMiddleware.__init__ in wsgi_middleware.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write LoggingMiddleware.__call__ in wsgi_middleware.py")


class BasicAuthMiddleware:
    """Let a request through only with valid HTTP Basic credentials (RFC 7617).

    The client sends ``Authorization: Basic <base64 of "user:password">``, the pair encoded as UTF-8
    (RFC 7617 §2.1). The scheme name is case-insensitive (RFC 9110 §11.1); the user-id cannot
    contain ``:`` but the password can, so split at the *first* colon (RFC 7617 §2).

    - Valid: set ``environ["REMOTE_USER"]`` to the user name (CGI's variable, PEP 3333 §environ
      Variables) and call the app. Like every environ string it is a *native string* (PEP 3333
      §Unicode Issues): bytes carried in a ``str``, one latin-1 code point per byte, the way a server
      puts every header in the environ. So it is the user name's UTF-8 bytes decoded as latin-1:
      ``ada`` stays ``"ada"``, ``zoë`` becomes ``"zo\xc3\xab"`` (``'zoÃ«'``), and an app gets the
      name back with ``environ["REMOTE_USER"].encode("latin-1").decode("utf-8")``.
    - Missing, malformed (bad base64 too!), unknown user or wrong password: do NOT call the app;
      answer ``401 Unauthorized`` with ``WWW-Authenticate: Basic realm="<realm>"`` (RFC 9110 §11.6.1,
      RFC 7617 §2), a ``text/plain`` body and its ``Content-Length``. To a ``HEAD``, the same
      headers and no body: no answer to HEAD carries content (RFC 9110 §9.3.2).

    Compare passwords with ``hmac.compare_digest`` so the time taken does not leak the password.
    """

    def __init__(self, app: WSGIApp, users: dict[str, str], realm: str = "Restricted") -> None:
        raise NotImplementedError("write BasicAuthMiddleware.__init__ in wsgi_middleware.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write BasicAuthMiddleware.__call__ in wsgi_middleware.py")


class CORSMiddleware:
    """Cross-Origin Resource Sharing (the Fetch standard, §3.2 "CORS protocol").

    Request headers arrive in the environ as ``HTTP_ORIGIN``, ``HTTP_ACCESS_CONTROL_REQUEST_METHOD``,
    ``HTTP_ACCESS_CONTROL_REQUEST_HEADERS`` (PEP 3333 §environ Variables).

    - No ``Origin`` header: not a CORS request; call the app and change nothing.
    - A *preflight* is ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``. Answer it
      here, never calling the app:
        * allowed (origin allowed, method in ``allow_methods``, every name in
          ``Access-Control-Request-Headers`` in ``allow_headers`` — compared case-insensitively):
          ``204 No Content`` with ``Access-Control-Allow-Origin``, ``Access-Control-Allow-Methods``
          (comma-separated), ``Access-Control-Allow-Headers`` (the requested names, when any were
          requested) and ``Access-Control-Max-Age`` (``max_age`` seconds). A 204 has no body, so no
          Content-Type and no Content-Length (RFC 9110 §8.6).
        * refused: ``400 Bad Request`` with a short text body and no ``Access-Control-*`` header.
    - Any other request with an ``Origin``: call the app; if the origin is allowed add
      ``Access-Control-Allow-Origin`` to its response, replacing one the app set (there must be
      exactly one). A refused origin still gets its answer, just
      without the header: it is the *browser* that hides the response from the page.

    ``Access-Control-Allow-Origin`` is ``*`` when ``"*"`` is in ``allow_origins``, else the origin
    itself. In that second case the response depends on the request's ``Origin``: add ``Origin`` to
    the ``Vary`` header (RFC 9110 §12.5.5), keeping whatever ``Vary`` the app already sent, so a
    cache never serves one origin's answer to another.
    """

    def __init__(
        self,
        app: WSGIApp,
        allow_origins: Sequence[str] = ("*",),
        allow_methods: Sequence[str] = ("GET", "HEAD", "POST"),
        allow_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        raise NotImplementedError("write CORSMiddleware.__init__ in wsgi_middleware.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write CORSMiddleware.__call__ in wsgi_middleware.py")


class RequestIDMiddleware:
    """Give every request an id: keep a sane incoming ``X-Request-ID``, or make a new one.

    - Incoming ``X-Request-ID`` (``environ["HTTP_X_REQUEST_ID"]``) of 1–128 characters, all letters,
      digits or ``._:-``: keep it. Anything else, or none: generate one (``uuid.uuid4().hex``).
      The id ends up in logs and headers, so a client must not be able to put just anything there.
    - Put it in ``environ["request_id"]`` (``REQUEST_ID_ENVIRON_KEY``) for the app.
    - Put it in the response as exactly one ``X-Request-ID`` header (replace one the app set).

    Header names are case-insensitive (RFC 9110 §5.1): the app's ``x-request-id`` is the same
    header as ``X-Request-ID`` — compare names lower-cased, in every middleware here.
    """

    def __init__(self, app: WSGIApp) -> None:
        raise NotImplementedError("write RequestIDMiddleware.__init__ in wsgi_middleware.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write RequestIDMiddleware.__call__ in wsgi_middleware.py")


class TimingMiddleware:
    """Add ``Server-Timing: app;dur=<milliseconds>`` (W3C Server Timing) to every response.

    The duration runs from the call until the app calls ``start_response`` — headers leave before
    the body, so that is all a header can report. Add a header of your own and keep any
    ``Server-Timing`` the app sent (a response may carry several).
    """

    def __init__(self, app: WSGIApp) -> None:
        raise NotImplementedError("write TimingMiddleware.__init__ in wsgi_middleware.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write TimingMiddleware.__call__ in wsgi_middleware.py")


def build_middleware_stack(app: WSGIApp, middleware: Sequence[Callable[[WSGIApp], WSGIApp]]) -> WSGIApp:
    """Wrap ``app`` in every middleware: the FIRST in the list is the OUTERMOST.

    ``build_middleware_stack(app, [A, B])`` is ``A(B(app))``: a request meets A first, then B, then
    the app; the response comes back through B, then A. Each item is a callable that takes the app
    to wrap — a class, or ``functools.partial(CORSMiddleware, allow_origins=[...])`` to pass options.
    An empty list gives back ``app`` itself.
    """
    raise NotImplementedError("write build_middleware_stack() in wsgi_middleware.py")


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
