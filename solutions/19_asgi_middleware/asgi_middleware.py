"""Exercise 19 — ASGI middleware, the reference solution.

Every middleware here has the same skeleton: keep the app, look at ``scope["type"]`` first and hand
anything that is not ``http`` (``lifespan``, and ``websocket`` except for BearerAuthMiddleware) to the
app untouched, and change the response by giving the app a ``send`` of our own.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]  # mutants: skip (given in the stub)
Message = MutableMapping[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]  # mutants: skip (given in the stub)

REQUEST_ID_HEADER = b"x-request-id"  # mutants: skip (given in the stub)
REQUEST_ID_STATE_KEY = "request_id"  # mutants: skip (given in the stub)
USER_STATE_KEY = "user"  # mutants: skip (given in the stub)

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def header_value(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower-case bytes), or None."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value
    return None


def scope_with_state(scope: Scope, **values: Any) -> dict[str, Any]:
    """A copy of ``scope`` whose ``state`` is a copy of the old one plus ``values``.

    ASGI 3.0 §Middleware: copy the scope rather than change the one you were given; the layers
    above (and the server) still hold it.
    """
    return {**scope, "state": {**scope.get("state", {}), **values}}


class TimingMiddleware:
    """``Server-Timing: app;dur=<ms>`` on every HTTP response: the time until ``http.response.start``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                milliseconds = (time.perf_counter() - started) * 1000
                # A new message and a new list: the app may reuse its own.
                headers = [*message.get("headers", []), (b"server-timing", f"app;dur={milliseconds:.1f}".encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


class RequestIDMiddleware:
    """Keep a sane incoming ``X-Request-ID`` or make one; ``scope["state"]["request_id"]``; one response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (header_value(scope, REQUEST_ID_HEADER) or b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Exactly one X-Request-ID: drop the app's, then add ours.
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope_with_state(scope, **{REQUEST_ID_STATE_KEY: request_id}), receive, send_with_id)


class BearerAuthMiddleware:
    """Only requests with ``Authorization: Bearer <a known token>`` reach the app (RFC 6750)."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: Mapping[str, str],
        exempt_paths: Collection[str] = (),
        realm: str = "api",
    ) -> None:
        self.app = app
        self.tokens = dict(tokens)
        self.exempt_paths = frozenset(exempt_paths)
        self.realm = realm

    def user_for(self, authorization: bytes | None) -> str | None:
        """The user a well-formed, known bearer token belongs to, else None."""
        scheme, _, token = (authorization or b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        for known, user in self.tokens.items():
            # compare_digest takes as long for a near miss as for a wild guess.
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        authorization = header_value(scope, b"authorization")
        user = self.user_for(authorization)
        if user is not None:
            await self.app(scope_with_state(scope, **{USER_STATE_KEY: user}), receive, send)
        elif scope["type"] == "websocket":
            # Refuse the handshake: wait for the client's connect, then close before any accept.
            # The server answers the handshake with 403 (ASGI WebSocket §Close - send event).
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008, "reason": "Bearer token required"})
        else:
            await self.challenge(send, sent_credentials=authorization is not None)

    async def challenge(self, send: Send, *, sent_credentials: bool) -> None:
        """401 with the Bearer challenge; ``error="invalid_token"`` only when a token was sent (RFC 6750 §3.1)."""
        challenge = f'Bearer realm="{self.realm}"'
        if sent_credentials:
            challenge += ', error="invalid_token"'
        body = b"401 Unauthorized: a valid bearer token is required\n"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", challenge.encode()),
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def accepts_gzip(accept_encoding: str) -> bool:
    """Does ``Accept-Encoding`` allow gzip? (RFC 9110 §12.5.3: an explicit ``gzip`` wins over ``*``.)"""
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        # An empty item (", ," is allowed, RFC 9110 §5.6.1) lands under "", which is never looked up.
        coding, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding.lower()] = quality
    quality = qualities.get("gzip", qualities.get("*", 0.0))
    return quality > 0


class GZipMiddleware:
    """Compress responses with gzip, chunk by chunk, when the client accepts it."""

    def __init__(self, app: ASGIApp, minimum_size: int = 500, compresslevel: int = 6) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not accepts_gzip((header_value(scope, b"accept-encoding") or b"").decode("latin-1")):
            await self.app(scope, receive, send)
            return

        start: Message | None = None  # held back until the first body message tells us what to do
        compressor: Any = None  # a zlib compress object once we decided to compress
        passing_through = False  # decided not to compress: forward everything as it comes

        async def gzip_send(message: Message) -> None:
            nonlocal start, compressor, passing_through
            kind = message["type"]
            if kind == "http.response.start":
                headers = message.get("headers", [])
                if any(k.lower() == b"content-encoding" for k, _ in headers):
                    passing_through = True  # already encoded (gzip, br, ...): never encode twice
                    await send(message)
                else:
                    start = message
                return
            if kind != "http.response.body" or passing_through:
                await send(message)
                return
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            if compressor is None:
                assert start is not None, "http.response.body before http.response.start"
                if not more_body and len(body) < self.minimum_size:
                    # The whole body in one small message: gzip would save nothing. (Nothing follows
                    # a last body message, so there is no need to note that we pass through.)
                    await send(start)
                    await send(message)
                    return
                # wbits=31: a gzip header and trailer around the deflate stream (RFC 1952).
                compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 31)
                headers = [
                    (k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"vary")
                ]
                vary = [v for k, v in start.get("headers", []) if k.lower() == b"vary"]
                headers += [(b"content-encoding", b"gzip"), (b"vary", b", ".join([*vary, b"Accept-Encoding"]))]
                if not more_body:
                    # One message: we know the whole compressed body, so we can say how long it is.
                    data = compressor.compress(body) + compressor.flush()
                    headers.append((b"content-length", str(len(data)).encode()))
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": data})
                    return
                # A streamed body: its length is unknown, so no Content-Length (the server will chunk).
                await send({**start, "headers": headers})
            if more_body:
                # Z_SYNC_FLUSH pushes out everything compressed so far: the client can decode this
                # chunk now, instead of waiting for zlib to fill its internal buffer.
                data = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH)
            else:
                data = compressor.compress(body) + compressor.flush()  # Z_FINISH: the gzip trailer
            await send({"type": "http.response.body", "body": data, "more_body": more_body})

        await self.app(scope, receive, gzip_send)


def build_middleware_stack(app: ASGIApp, middleware: Sequence[Callable[[ASGIApp], ASGIApp]]) -> ASGIApp:
    """``build_middleware_stack(app, [A, B])`` is ``A(B(app))``: the first in the list is the outermost."""
    for factory in reversed(middleware):  # wrap the innermost first
        app = factory(app)
    return app


if __name__ == "__main__":  # pragma: no cover - a manual demo: python asgi_middleware.py  # mutants: skip (given in the stub)
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
