"""Exercise 19 — ASGI middleware.

An ASGI middleware is an ASGI application that wraps another one (ASGI 3.0 §Middleware). To the
server above it, it *is* the application: ``await middleware(scope, receive, send)``. To the
application below it, it *is* the server: it calls ``await self.app(scope, receive, send)`` with
the same three things, or with its own versions of them.

The shape of almost every middleware::

    class SomeMiddleware:
        def __init__(self, app, **options):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":            # lifespan, websocket: not our business
                await self.app(scope, receive, send)
                return

            async def my_send(message):
                if message["type"] == "http.response.start":
                    ...                            # look at / change status and headers
                await send(message)

            await self.app(scope, receive, my_send)

Four rules this exercise grades:

- **Pass what you do not handle.** A server sends ``lifespan`` (and ``websocket``) scopes through the
  whole stack: a middleware that only knows HTTP must call ``self.app`` with them unchanged, or the
  app never hears about startup and shutdown (ASGI Lifespan §Scope).
- **Copy the scope, never change it.** To hand the app something more (a request id, a user), build
  a new scope: ``{**scope, "state": {**scope.get("state", {}), "request_id": rid}}``. The spec says
  middleware should make a copy of the scope rather than mutate it (ASGI 3.0 §Middleware).
- **Build new messages.** To add a header, send ``{**message, "headers": [*old_headers, new]}``;
  do not ``append`` to the app's own list. Header names are lower-case ``bytes`` (ASGI HTTP §Response
  Start).
- **Do not buffer a stream.** A response may come as many ``http.response.body`` messages with
  ``more_body: True``: pass each one on when it comes (compressed, for gzip), so a streamed response
  stays streamed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_STATE_KEY = "request_id"
"""RequestIDMiddleware hands the id to the app as ``scope["state"]["request_id"]``.

``scope["state"]`` is where ASGI apps keep per-request values (ASGI Lifespan §Scope: the server
gives every request a shallow copy of the lifespan state); Starlette shows it as ``request.state``,
so a Starlette route reads ``request.state.request_id``.
"""
USER_STATE_KEY = "user"
"""BearerAuthMiddleware hands the user a token belongs to as ``scope["state"]["user"]``."""


class TimingMiddleware:
    """Add ``Server-Timing: app;dur=<milliseconds>`` (W3C Server Timing) to every HTTP response.

    The duration runs from the call until the app sends ``http.response.start``: the headers leave
    before the body, so that is all a header can report. Write it with one decimal (``app;dur=12.3``).
    Add a header of your own and keep any ``server-timing`` the app sent (a response may carry
    several). Scopes other than ``http`` go to the app untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        raise NotImplementedError("write TimingMiddleware.__init__ in asgi_middleware.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError("write TimingMiddleware.__call__ in asgi_middleware.py")


class RequestIDMiddleware:
    """Give every HTTP request an id: keep a sane incoming ``X-Request-ID``, or make a new one.

    - Incoming ``x-request-id`` header of 1–128 characters, all letters, digits or ``._:-``: keep
      it. Anything else, or none: generate one (``uuid.uuid4().hex``). The id ends up in logs and
      headers, so a client must not be able to put just anything there.
    - Hand it to the app in a *copy* of the scope, as ``scope["state"]["request_id"]``
      (``REQUEST_ID_STATE_KEY``); keep whatever else ``state`` held.
    - Put it in the response as exactly one ``x-request-id`` header (replace one the app set).

    Scopes other than ``http`` go to the app untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        raise NotImplementedError("write RequestIDMiddleware.__init__ in asgi_middleware.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError("write RequestIDMiddleware.__call__ in asgi_middleware.py")


class BearerAuthMiddleware:
    """Let a request through only with ``Authorization: Bearer <token>`` for a known token (RFC 6750).

    ``tokens`` maps each valid token to the user it belongs to. The scheme name is case-insensitive
    (RFC 9110 §11.1). Compare tokens with ``hmac.compare_digest``, so the time taken does not tell
    an attacker how much of a guess was right.

    - A path in ``exempt_paths`` (compared with ``scope["path"]`` exactly, e.g. ``"/health"``): call
      the app, no questions asked.
    - HTTP, valid token: call the app with a *copy* of the scope where ``scope["state"]["user"]``
      (``USER_STATE_KEY``) is the token's user.
    - HTTP, anything else: do NOT call the app; answer ``401`` with a ``text/plain`` body, its
      ``content-length``, and the challenge (RFC 6750 §3):
        * no ``Authorization`` header at all: ``www-authenticate: Bearer realm="<realm>"`` — no
          error code when the client sent no credentials (RFC 6750 §3.1);
        * a header that is not a known bearer token (wrong token, another scheme, garbage):
          ``www-authenticate: Bearer realm="<realm>", error="invalid_token"``.
    - WebSocket, valid token: call the app (with the user in the state, as for HTTP).
    - WebSocket, anything else: refuse the handshake without calling the app: ``await receive()``
      the ``websocket.connect`` message, then send ``{"type": "websocket.close", "code": 1008}``
      *before* any accept (1008 is "policy violation", RFC 6455 §7.4.1). The server turns a close
      before accept into an HTTP 403 (ASGI WebSocket §Close - send event).
    - Any other scope (``lifespan``): to the app, untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        tokens: Mapping[str, str],
        exempt_paths: Collection[str] = (),
        realm: str = "api",
    ) -> None:
        raise NotImplementedError("write BearerAuthMiddleware.__init__ in asgi_middleware.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError("write BearerAuthMiddleware.__call__ in asgi_middleware.py")


class GZipMiddleware:
    """Compress HTTP responses with gzip when the client accepts it — chunk by chunk, never buffering.

    **When** (else pass every message on unchanged):

    - the request's ``accept-encoding`` allows gzip (RFC 9110 §12.5.3): a ``gzip`` entry with a
      quality above 0, or no ``gzip`` entry and a ``*`` entry above 0. ``gzip;q=0`` means "never
      gzip"; an explicit ``gzip`` entry wins over ``*``. No header at all: no gzip;
    - the response has no ``content-encoding`` yet (an already-encoded body is left alone);
    - the body is not one single small message: a first ``http.response.body`` with ``more_body``
      False and fewer than ``minimum_size`` bytes is sent as it is. (A streamed body — first message
      with ``more_body`` True — is always compressed: its size is not known in advance.)

    So hold back ``http.response.start`` until the first body message has told you which case it is.

    **How**, once you compress:

    - ``zlib.compressobj(compresslevel, zlib.DEFLATED, 31)``: ``wbits=31`` writes the gzip format
      (RFC 1952), header and trailer included.
    - Headers: add ``content-encoding: gzip`` and ``vary: Accept-Encoding`` (keep the app's ``vary``
      values in the same header), and drop the app's ``content-length``: it is the length of the
      uncompressed body. When the whole body came in one message, you may put the compressed length
      back; for a stream, leave it out and the server will use chunked encoding.
    - For each body message with ``more_body`` True: send ``compress(body) + flush(zlib.Z_SYNC_FLUSH)``
      with ``more_body`` True. The sync flush makes zlib hand over everything so far, so the client
      can decode this piece *now*. For the last message: ``compress(body) + flush()`` (the gzip
      trailer) with ``more_body`` False.

    Scopes other than ``http`` go to the app untouched.
    """

    def __init__(self, app: ASGIApp, minimum_size: int = 500, compresslevel: int = 6) -> None:
        raise NotImplementedError("write GZipMiddleware.__init__ in asgi_middleware.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError("write GZipMiddleware.__call__ in asgi_middleware.py")


def build_middleware_stack(app: ASGIApp, middleware: Sequence[Callable[[ASGIApp], ASGIApp]]) -> ASGIApp:
    """Wrap ``app`` in every middleware: the FIRST in the list is the OUTERMOST.

    ``build_middleware_stack(app, [A, B])`` is ``A(B(app))``: a request meets A first, then B, then
    the app; the response messages come back through B, then A. Each item is a callable that takes
    the app to wrap — a class, or ``functools.partial(BearerAuthMiddleware, tokens={...})`` to pass
    options. An empty list gives back ``app`` itself.
    """
    raise NotImplementedError("write build_middleware_stack() in asgi_middleware.py")


if __name__ == "__main__":  # pragma: no cover - a manual demo: python asgi_middleware.py
    import asyncio
    from functools import partial

    import uvicorn

    async def hello(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        state = scope.get("state", {})
        body = (f"Hello, {state.get('user', 'stranger')} ({state.get('request_id')})\n" * 40).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for line in body.splitlines(keepends=True)[:-1]:
            await send({"type": "http.response.body", "body": line, "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": body.splitlines(keepends=True)[-1]})

    stack = build_middleware_stack(
        hello,
        [
            RequestIDMiddleware,
            TimingMiddleware,
            GZipMiddleware,
            partial(BearerAuthMiddleware, tokens={"s3cret": "ada"}, exempt_paths=["/health"]),
        ],
    )
    uvicorn.run(stack, host="127.0.0.1", port=8000)
