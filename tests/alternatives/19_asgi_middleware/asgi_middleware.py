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

import functools
import hashlib
import hmac
import re
import string
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

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


Headers = list[tuple[bytes, bytes]]


# --- shared pieces -----------------------------------------------------------------------------------


class Middleware:
    """The shape the four share: scopes of ``handles`` types go to ``handle()``, all others to the app untouched."""

    handles: ClassVar[frozenset[str]] = frozenset({"http"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in self.handles:
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)  # lifespan and the like: not our business

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def header_values(headers: Iterable[Sequence[bytes]], name: bytes) -> list[bytes]:
    """Every value of header ``name`` (compared case-insensitively), in order."""
    return [bytes(value) for key, value in headers if bytes(key).lower() == name]


def without(headers: Iterable[Sequence[bytes]], *names: bytes) -> Headers:
    """A new header list without any of ``names`` (lower case)."""
    return [(bytes(key), bytes(value)) for key, value in headers if bytes(key).lower() not in names]


def with_state(scope: Scope, **values: Any) -> dict[str, Any]:
    """A copy of ``scope`` whose ``state`` is a copy of the old one plus ``values`` (ASGI 3.0 §Middleware)."""
    return {**scope, "state": {**(scope.get("state") or {}), **values}}


def rewriting_start(send: Send, rewrite: Callable[[Message], Message]) -> Send:
    """A ``send`` that passes every message on, the ``http.response.start`` one through ``rewrite`` first."""

    async def send_rewritten(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = rewrite(message)
        await send(message)

    return send_rewritten


# --- TimingMiddleware --------------------------------------------------------------------------------


class TimingMiddleware(Middleware):
    """Add ``Server-Timing: app;dur=<milliseconds>`` (W3C Server Timing) to every HTTP response.

    The duration runs from the call until the app sends ``http.response.start`` (the headers leave
    before the body, so that is all a header can report), with one decimal. Ours is a header of its
    own, put first; any ``server-timing`` the app sent is kept after it.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.perf_counter_ns()  # integer nanoseconds: no float rounding on long uptimes

        def stamp(start: Message) -> Message:
            milliseconds = (time.perf_counter_ns() - began) / 1_000_000
            timing = (b"server-timing", f"app;dur={milliseconds:.1f}".encode("ascii"))
            return {**start, "headers": [timing, *start.get("headers", [])]}

        await self.app(scope, receive, rewriting_start(send, stamp))


# --- RequestIDMiddleware -----------------------------------------------------------------------------

REQUEST_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._:-")
MAX_REQUEST_ID_LENGTH = 128


def sane_request_id(raw: bytes | None) -> str | None:
    """``raw`` as text if it is a safe id (1-128 letters, digits or ``._:-``), else ``None``."""
    if raw is None:
        return None
    text = raw.decode("latin-1")  # any byte decodes; the character check below rejects the odd ones
    if 1 <= len(text) <= MAX_REQUEST_ID_LENGTH and REQUEST_ID_CHARACTERS.issuperset(text):
        return text
    return None


class RequestIDMiddleware(Middleware):
    """Give every HTTP request an id: keep a sane incoming ``X-Request-ID``, or make a new one.

    The id reaches the app as ``scope["state"]["request_id"]`` (in a copy of the scope) and the
    client as exactly one ``x-request-id`` response header, put first, replacing any the app set.
    A fresh id is a canonical UUID4 string (``8-4-4-4-12`` hex digits, 36 characters).
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = header_values(scope.get("headers", []), REQUEST_ID_HEADER)
        # Only the first one counts: a second copy is as likely to be forged as the first is.
        request_id = sane_request_id(incoming[0] if incoming else None) or str(uuid.uuid4())

        def label(start: Message) -> Message:
            headers = without(start.get("headers", []), REQUEST_ID_HEADER)
            return {**start, "headers": [(REQUEST_ID_HEADER, request_id.encode("ascii")), *headers]}

        await self.app(with_state(scope, **{REQUEST_ID_STATE_KEY: request_id}), receive, rewriting_start(send, label))


# --- BearerAuthMiddleware ----------------------------------------------------------------------------

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; b64token = 1*( ALPHA / DIGIT / "-" / "." /
# "_" / "~" / "+" / "/" ) *"=". The scheme is case-insensitive (RFC 9110 §11.1).
BEARER_CREDENTIALS = re.compile(rb"[ \t]*bearer +(?P<token>[A-Za-z0-9\-._~+/]+=*)[ \t]*", re.IGNORECASE)


def quoted(text: str) -> str:
    """``text`` as an HTTP quoted-string (RFC 9110 §5.6.4): backslash before ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BearerAuthMiddleware(Middleware):
    """Let a request through only with ``Authorization: Bearer <token>`` for a known token (RFC 6750).

    Tokens are compared as SHA-256 digests with ``hmac.compare_digest``, against *every* known token
    with no early exit: neither the length of a guess, nor how much of it was right, nor which token
    it resembled shows in the time taken. More than one ``Authorization`` header is refused as
    invalid: it is a singleton field, and two of them are ambiguous.

    HTTP without a valid token gets a ``401`` and the RFC 6750 §3 challenge (with
    ``error="invalid_token"`` and an ``error_description`` when credentials were sent, §3.1); a
    WebSocket gets ``websocket.close`` 1008 before any accept, which the server turns into a 403.
    Paths in ``exempt_paths`` pass without questions; ``lifespan`` passes untouched.
    """

    handles = frozenset({"http", "websocket"})

    def __init__(
        self,
        app: ASGIApp,
        tokens: Mapping[str, str],
        exempt_paths: Collection[str] = (),
        realm: str = "api",
    ) -> None:
        super().__init__(app)
        self.digests = [(self._digest(token.encode("utf-8")), user) for token, user in tokens.items()]
        self.exempt_paths = frozenset(exempt_paths)
        self.realm = realm

    @staticmethod
    def _digest(token: bytes) -> bytes:
        return hashlib.sha256(token).digest()

    def user_for(self, authorization: list[bytes]) -> str | None:
        """The user whose token the ``Authorization`` header(s) carry, or ``None``."""
        if len(authorization) != 1:
            return None
        match = BEARER_CREDENTIALS.fullmatch(authorization[0])
        if match is None:
            return None
        guess = self._digest(match["token"])
        found: str | None = None
        for digest, user in self.digests:  # no break: the time taken is the same whichever matched
            if hmac.compare_digest(digest, guess):
                found = user
        return found

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        authorization = header_values(scope.get("headers", []), b"authorization")
        user = self.user_for(authorization)
        if user is not None:
            await self.app(with_state(scope, **{USER_STATE_KEY: user}), receive, send)
        elif scope["type"] == "websocket":
            await self.refuse_websocket(receive, send)
        else:
            await self.refuse_http(send, credentials_sent=bool(authorization))

    async def refuse_http(self, send: Send, *, credentials_sent: bool) -> None:
        challenge = f"Bearer realm={quoted(self.realm)}"
        if credentials_sent:  # §3.1: no error code when the client sent no credentials at all
            challenge += ', error="invalid_token", error_description="The access token is missing, unknown or malformed"'
        body = b"401 Unauthorized: this resource needs a valid bearer token.\n"
        headers: Headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"www-authenticate", challenge.encode("latin-1")),
            (b"cache-control", b"no-store"),  # RFC 6750 §5.3 spirit: never cache an auth exchange
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def refuse_websocket(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client already left: there is no handshake to refuse
        # A close before accept: the server answers the handshake with 403 (ASGI WebSocket §Close).
        await send({"type": "websocket.close", "code": 1008, "reason": "a valid bearer token is required"})


# --- GZipMiddleware ----------------------------------------------------------------------------------

# One Accept-Encoding member: a coding (or "*") and its parameters, of which only q matters
# (RFC 9110 §12.5.3); a qvalue is "0" ["." 0*3DIGIT] or "1" ["." 0*3"0"] (§12.4.2).
ACCEPT_MEMBER = re.compile(r"\s*(?P<coding>[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?P<params>(?:;[^,]*)?)")
QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def accepted_codings(accept_encoding: str) -> dict[str, float]:
    """``"br;q=1.0, gzip ; q=0.8"`` -> ``{"br": 1.0, "gzip": 0.8}``; codings lowercased, no q = 1.

    A member that does not parse, or whose q is not a valid qvalue, is ignored: it cannot be trusted
    to mean "acceptable".
    """
    qualities: dict[str, float] = {}
    for member in accept_encoding.split(","):
        match = ACCEPT_MEMBER.fullmatch(member)
        if match is None:
            continue  # empty (", ,") or malformed
        quality: float | None = 1.0
        for param in match["params"].split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = float(value.strip()) if QVALUE.fullmatch(value.strip()) else None
        if quality is None:
            continue
        coding = match["coding"].lower()
        if coding == "x-gzip":  # RFC 9110 §8.4.1.3: a recipient treats "x-gzip" as "gzip"
            coding = "gzip"
        # The same coding twice (gzip and x-gzip, say): the more generous entry wins.
        qualities[coding] = max(quality, qualities.get(coding, quality))
    return qualities


def accepts_gzip(headers: Iterable[Sequence[bytes]]) -> bool:
    """Does the request's ``Accept-Encoding`` allow gzip? An explicit ``gzip`` entry wins over ``*``."""
    values = header_values(headers, b"accept-encoding")
    if not values:
        return False  # no header: RFC 9110 says "any", but an old client may not decode: play safe
    qualities = accepted_codings(",".join(value.decode("latin-1") for value in values))
    quality = qualities.get("gzip", qualities.get("*", 0.0))
    return quality > 0


def vary_with_accept_encoding(headers: Headers) -> Headers:
    """The headers with ``accept-encoding`` added to the app's ``vary`` (one header, its values kept)."""
    listed = [item.strip() for value in header_values(headers, b"vary") for item in value.split(b",") if item.strip()]
    if any(item == b"*" or item.lower() == b"accept-encoding" for item in listed):
        return headers  # already varies on it, or on everything
    return [*without(headers, b"vary"), (b"vary", b", ".join([*listed, b"Accept-Encoding"]))]


def weakened_etag(headers: Headers) -> Headers:
    """A strong ``etag`` made weak: the gzip bytes are not the bytes it names (RFC 9110 §8.8.1, §8.8.3)."""
    return [(key, b"W/" + value if key.lower() == b"etag" and value.startswith(b'"') else value) for key, value in headers]


class GZipResponse:
    """One response on its way through ``GZipMiddleware``: holds the start until the first body says how.

    ``send`` is its only entry point. ``self.held`` keeps the ``http.response.start`` until the first
    body message decides; ``self.compressor`` is ``None`` unless the response is being compressed.
    """

    def __init__(self, send: Send, *, minimum_size: int, compresslevel: int) -> None:
        self.downstream = send
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.held: Message | None = None
        self.compressor: Any = None  # a zlib compress object once we compress

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = message.get("headers", [])
            # Already encoded, or a byte range of the unencoded body: both must stay as they are.
            if header_values(headers, b"content-encoding") or header_values(headers, b"content-range"):
                await self.downstream(message)
            else:
                self.held = message
        elif self.held is not None and kind == "http.response.body":
            await self.decide(message)
        elif self.compressor is not None and kind == "http.response.body":
            await self.downstream(self.compressed(message))
        else:
            if self.held is not None:  # something else (trailers, an extension): no gzip after all
                start, self.held = self.held, None
                await self.downstream(start)
            await self.downstream(message)

    async def decide(self, first: Message) -> None:
        """The first body message came: compress the response, or send it as the app made it."""
        start, self.held = self.held, None
        assert start is not None
        body = first.get("body", b"")
        if not first.get("more_body", False) and len(body) < self.minimum_size:
            await self.downstream(start)  # one small message: gzip would save little, or even grow it
            await self.downstream(first)
            return
        self.compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 31)  # 31: gzip format (RFC 1952)
        compressed = self.compressed(first)
        headers = weakened_etag(vary_with_accept_encoding(without(start.get("headers", []), b"content-length")))
        headers.append((b"content-encoding", b"gzip"))
        if not first.get("more_body", False):
            # The whole body is here: its compressed length is known, so the server need not chunk.
            headers.append((b"content-length", str(len(compressed["body"])).encode("ascii")))
        await self.downstream({**start, "headers": headers})
        await self.downstream(compressed)

    def compressed(self, message: Message) -> Message:
        """``message`` with its body compressed: sync-flushed mid-stream, finished with the trailer at the end."""
        body = bytes(message.get("body", b""))
        more = message.get("more_body", False)
        if more:
            # Z_SYNC_FLUSH hands over everything so far, so the client can decode this piece now.
            # An empty piece has nothing to flush: send it empty rather than a bare flush marker.
            data = self.compressor.compress(body) + self.compressor.flush(zlib.Z_SYNC_FLUSH) if body else b""
        else:
            data = self.compressor.compress(body) + self.compressor.flush()
        return {**message, "body": data, "more_body": more}


class GZipMiddleware(Middleware):
    """Compress HTTP responses with gzip when the client accepts it — chunk by chunk, never buffering.

    Compresses when the request's ``Accept-Encoding`` allows gzip (q-values respected; ``x-gzip``
    counts as ``gzip``), the response has no ``content-encoding`` (nor ``content-range``), and its
    body is not one single message under ``minimum_size`` bytes. The work for each response is done
    by a ``GZipResponse``: the ``http.response.start`` waits there until the first body decides.
    """

    def __init__(self, app: ASGIApp, minimum_size: int = 500, compresslevel: int = 6) -> None:
        super().__init__(app)
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not accepts_gzip(scope.get("headers", [])):
            await self.app(scope, receive, send)
            return
        response = GZipResponse(send, minimum_size=self.minimum_size, compresslevel=self.compresslevel)
        await self.app(scope, receive, response.send)


def build_middleware_stack(app: ASGIApp, middleware: Sequence[Callable[[ASGIApp], ASGIApp]]) -> ASGIApp:
    """Wrap ``app`` in every middleware: the FIRST in the list is the OUTERMOST.

    ``[A, B]`` gives ``A(B(app))``: folding from the end of the list, each layer wraps the stack so
    far. An empty list gives back ``app`` itself.
    """
    return functools.reduce(lambda inner, wrap: wrap(inner), reversed(middleware), app)


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
