"""Exercise 22 (an alternative solution) — a mini ASGI framework in one file.

The shape differs from the obvious one on purpose:

- routes are compiled by *splitting* the pattern on its ``{name:conv}`` parameters, and the router
  asks every route for a ``Match`` verdict (full, path-only or none) instead of an if-chain;
- the ASGI entry point dispatches on ``scope["type"]`` through a dict of handlers;
- the middleware stack is built lazily with ``functools.reduce`` and rebuilt if middleware is added;
- plain (sync) iterables of a ``StreamingResponse`` are advanced in a worker thread, so a slow
  generator never blocks the event loop;
- ``Allow`` lists ``HEAD`` too (a GET route answers it), JSON is ASCII-escaped (still UTF-8 bytes),
  the framework's own headers come after the handler's, and a refused WebSocket closes with 1008.

Spec: ASGI 3.0 HTTP & WebSocket spec 2.5, ASGI Lifespan 2.0, RFC 9110 (§5.3, §8.3, §8.6, §9.3.2,
§10.2.1, §15).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import json
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("mini_framework")


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------


class HTTPException(Exception):
    """Raise it in a handler to answer ``status_code`` with ``{"detail": detail}`` as JSON."""

    def __init__(self, status_code: int, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.detail = detail if detail is not None else HTTPStatus(status_code).phrase
        self.headers = headers or {}
        super().__init__(status_code, self.detail)


class WebSocketDisconnect(Exception):
    """Raised by ``WebSocket.receive_*`` when the client has gone (``websocket.disconnect``)."""

    def __init__(self, code: int = 1000) -> None:
        self.code = code
        super().__init__(code)


class ClientDisconnect(Exception):
    """The client left (``http.disconnect``) before its request body was complete: nobody to answer."""


# ---------------------------------------------------------------------------------------------------
# Request and connection details shared by HTTP and WebSocket
# ---------------------------------------------------------------------------------------------------


class State:
    """Attribute access to a dict: ``request.state.user`` is ``scope["state"]["user"]``."""

    def __init__(self, data: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"state has no {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._data[name] = value


class HTTPConnection:
    """What a request and a WebSocket share: the scope, read through properties computed on demand."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.path_params: dict[str, Any] = scope.get("path_params", {})

    @property
    def path(self) -> str:
        return self.scope["path"]

    @functools.cached_property
    def query_params(self) -> dict[str, str]:
        # dict() over the pairs keeps the last value of a repeated key; blank values are values too.
        raw = self.scope.get("query_string", b"").decode("latin-1")
        return dict(parse_qsl(raw, keep_blank_values=True))

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        # Repeated fields combine into one comma-separated value (RFC 9110 §5.3).
        values: dict[str, list[str]] = {}
        for name, value in self.scope.get("headers", []):
            values.setdefault(bytes(name).decode("latin-1").lower(), []).append(bytes(value).decode("latin-1"))
        return {name: ", ".join(parts) for name, parts in values.items()}

    @property
    def state(self) -> State:
        return State(self.scope.setdefault("state", {}))


_UNREAD = object()


class Request(HTTPConnection):
    """One HTTP request; its body is pulled from ``receive`` the first time it is asked for."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        super().__init__(scope)
        self._receive = receive
        self._body: bytes | None = None
        self._json: Any = _UNREAD

    @property
    def method(self) -> str:
        return self.scope["method"].upper()

    async def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.stream()])
        return self._body

    async def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives, one ``http.request`` message at a time (ASGI HTTP §Request)."""
        if self._body is not None:
            yield self._body
            return
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect("the client left before the body was complete")
            if message.get("body"):
                yield message["body"]
            if not message.get("more_body", False):
                return

    async def json(self) -> Any:
        if self._json is _UNREAD:
            try:
                self._json = json.loads(await self.body())
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
                raise HTTPException(400, f"the request body is not valid JSON: {exc}") from None
        return self._json


# ---------------------------------------------------------------------------------------------------
# Responses: each one is an ASGI app
# ---------------------------------------------------------------------------------------------------

# RFC 9110 §8.6: a 204 (or 304) carries no content, so no Content-Length either; 1xx neither.
_NO_LENGTH = {204, 304}


class Response:
    """A complete response: ``await response(scope, receive, send)`` sends it (ASGI HTTP §Response Start/Body)."""

    media_type: str | None = None
    charset = "utf-8"

    def __init__(
        self,
        content: bytes | str | None = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers = dict(headers or {})
        if media_type is not None:
            self.media_type = media_type
        self.body = self.render(content)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, (bytes, bytearray, memoryview)):
            return bytes(content)
        return str(content).encode(self.charset)

    def content_type(self) -> str | None:
        if self.media_type is None:
            return None
        if self.media_type.startswith("text/") and "charset=" not in self.media_type:
            return f"{self.media_type}; charset={self.charset}"
        return self.media_type

    def raw_headers(self, *, content_length: bool = True) -> list[tuple[bytes, bytes]]:
        # The handler's own headers first; the framework only fills in what they leave out.
        pairs = [(name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in self.headers.items()]
        given = {name for name, _ in pairs}
        if content_length and b"content-length" not in given and self.status_code not in _NO_LENGTH and self.status_code >= 200:
            pairs.append((b"content-length", str(len(self.body)).encode("ascii")))
        content_type = self.content_type()
        if content_type is not None and b"content-type" not in given:
            pairs.append((b"content-type", content_type.encode("latin-1")))
        return pairs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers()})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"


class JSONResponse(Response):
    media_type = "application/json"  # RFC 8259 §11: no charset parameter; JSON is UTF-8

    def render(self, content: Any) -> bytes:
        # ensure_ascii escapes non-ASCII as \\uXXXX: plain ASCII is valid UTF-8, and safe anywhere.
        return json.dumps(content, ensure_ascii=True).encode("utf-8")


class RedirectResponse(Response):
    """``307 Temporary Redirect`` by default: the client repeats the same method (RFC 9110 §15.4.8)."""

    def __init__(self, url: str, status_code: int = 307, headers: dict[str, str] | None = None) -> None:
        super().__init__(None, status_code, headers)
        # A field value must be visible ASCII: percent-encode anything else, keep URL syntax as is.
        self.headers["location"] = quote(str(url), safe=":/%#?=@[]!$&'()*+,;~")


async def _pieces(content: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[Any]:
    """Iterate ``content`` without blocking the loop: a plain iterable advances in a worker thread."""
    if isinstance(content, AsyncIterable):
        async for piece in content:
            yield piece
        return
    iterator: Iterator[Any] = iter(content)
    done = object()
    while (piece := await asyncio.to_thread(next, iterator, done)) is not done:
        yield piece


class StreamingResponse(Response):
    """A body of unknown length, sent piece by piece as an (async) iterable produces it."""

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, media_type)
        self.content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Some servers silently drop what is sent after the client left (ASGI HTTP §Disconnect), so
        # an endless stream would run forever: race the stream against http.disconnect.
        stream = asyncio.ensure_future(self._stream(send))
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        try:
            done, _ = await asyncio.wait({stream, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, watcher):
                task.cancel()
            await asyncio.gather(stream, watcher, return_exceptions=True)
        if stream in done:
            stream.result()  # an error from the content goes up, as any handler error does

    async def _stream(self, send: Send) -> None:
        # No Content-Length: the server frames the body (chunked on HTTP/1.1, RFC 9112 §7.1).
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers(content_length=False)})
        async for piece in _pieces(self.content):
            chunk = self.render(piece)
            if chunk:  # an empty message would say nothing
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    """Return once the client has gone; a request body nobody read is drained on the way."""
    while (await receive())["type"] != "http.disconnect":
        pass


# ---------------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------------


class _WSState(enum.Enum):
    CONNECTING = "connecting"  # websocket.connect not received yet
    HANDSHAKE = "handshake"    # connect received, neither accepted nor refused
    OPEN = "open"
    CLOSED = "closed"          # we sent websocket.close, or the client disconnected


class WebSocket(HTTPConnection):
    """One WebSocket connection, a small state machine over the ASGI ``websocket.*`` messages."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope)
        self._receive = receive
        self._send = send
        self._state = _WSState.CONNECTING

    @property
    def accepted(self) -> bool:
        return self._state is _WSState.OPEN

    @property
    def closed(self) -> bool:
        return self._state is _WSState.CLOSED

    async def _await_connect(self) -> None:
        """The first message is always ``websocket.connect`` (WebSocket §Connect)."""
        if self._state is _WSState.CONNECTING:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self._state = _WSState.CLOSED
                raise WebSocketDisconnect(message.get("code", 1005))
            if message["type"] != "websocket.connect":
                raise RuntimeError(f"expected websocket.connect first, got {message['type']!r}")
            self._state = _WSState.HANDSHAKE

    async def accept(self, subprotocol: str | None = None) -> None:
        await self._await_connect()
        if self._state is not _WSState.HANDSHAKE:
            raise RuntimeError(f"cannot accept a WebSocket that is {self._state.value}")
        message: Message = {"type": "websocket.accept"}
        if subprotocol is not None:
            message["subprotocol"] = subprotocol
        await self._send(message)
        self._state = _WSState.OPEN

    async def _receive_data(self) -> Message:
        if self._state is not _WSState.OPEN:
            raise RuntimeError("accept() the WebSocket before receiving from it")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self._state = _WSState.CLOSED
            raise WebSocketDisconnect(message.get("code", 1005))
        return message

    async def receive_text(self) -> str:
        message = await self._receive_data()
        if message.get("text") is None:
            raise TypeError("expected a text message, the client sent bytes (use receive_bytes())")
        return message["text"]

    async def receive_bytes(self) -> bytes:
        message = await self._receive_data()
        if message.get("bytes") is None:
            raise TypeError("expected a binary message, the client sent text (use receive_text())")
        return message["bytes"]

    async def _send_data(self, message: Message) -> None:
        if self._state is not _WSState.OPEN:
            raise RuntimeError("accept() the WebSocket before sending on it (or it is closed)")
        await self._send(message)

    async def send_text(self, data: str) -> None:
        await self._send_data({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._send_data({"type": "websocket.send", "bytes": data})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._state is _WSState.CLOSED:
            return  # once only: the connection is already over
        await self._await_connect()
        message: Message = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason
        self._state = _WSState.CLOSED
        await self._send(message)


# ---------------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------------

CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": (r"[^/]+", str),
    "int": (r"[0-9]+", int),
    "path": (r".*", str),
}
PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?}")


def compile_path(path: str) -> tuple[re.Pattern[str], dict[str, Callable[[str], Any]]]:
    """``/tasks/{id:int}`` -> ``^/tasks/(?P<id>[0-9]+)$`` and ``{"id": int}``."""
    # PARAM has two groups, so split() gives: literal, name, converter, literal, name, ...
    parts = PARAM.split(path)
    regex = [re.escape(parts[0])]
    convert: dict[str, Callable[[str], Any]] = {}
    for index in range(1, len(parts), 3):
        name, kind, literal = parts[index], parts[index + 1] or "str", parts[index + 2]
        if kind not in CONVERTERS:
            raise ValueError(f"unknown converter {kind!r} in route {path!r} (known: {', '.join(CONVERTERS)})")
        if name in convert:
            raise ValueError(f"the parameter {name!r} appears twice in route {path!r}")
        pattern, convert[name] = CONVERTERS[kind]
        regex.append(f"(?P<{name}>{pattern})")
        regex.append(re.escape(literal))
    return re.compile("^" + "".join(regex) + "$"), convert


class Match(enum.IntEnum):
    NONE = 0
    PATH = 1  # the path fits, the method does not: a 405 candidate
    FULL = 2


class Route:
    """One route: a path pattern, a handler, the methods it answers (a GET route answers HEAD too)."""

    def __init__(self, path: str, handler: Callable[..., Any], methods: Iterable[str] | None, kind: str = "http") -> None:
        self.path = path
        self.handler = handler
        self.kind = kind
        self.regex, self.converters = compile_path(path)
        if kind == "http":
            allowed = {m.upper() for m in (methods or ["GET"])}
            if "GET" in allowed:
                allowed.add("HEAD")  # RFC 9110 §9.3.2: HEAD is GET without the content
            self.methods: frozenset[str] = frozenset(allowed)
        else:
            self.methods = frozenset()

    def match(self, path: str) -> dict[str, Any] | None:
        found = self.regex.match(path)
        if found is None:
            return None
        return {name: self.converters[name](value) for name, value in found.groupdict().items()}

    def matches(self, scope: Scope) -> tuple[Match, dict[str, Any]]:
        """The verdict for a whole scope: its type, its path and (for HTTP) its method."""
        if scope["type"] != self.kind:
            return Match.NONE, {}
        params = self.match(scope["path"])
        if params is None:
            return Match.NONE, {}
        if self.kind == "http" and scope["method"].upper() not in self.methods:
            return Match.PATH, params
        return Match.FULL, params


# ---------------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------------


async def call_maybe_async(function: Callable[..., Any], *args: Any) -> Any:
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


# The order Allow lists methods in: the usual ones first, anything else alphabetically after.
_METHOD_ORDER = {m: i for i, m in enumerate(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])}


class App:
    """The framework's ASGI app: routes, hooks and middleware."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.startup_hooks: list[Callable[[], Any]] = []
        self.shutdown_hooks: list[Callable[[], Any]] = []
        self.middleware: list[tuple[type, dict[str, Any]]] = []
        self._stack: ASGIApp | None = None
        self._handlers: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
            "http": self.handle_http,
            "websocket": self.handle_websocket,
            "lifespan": lambda scope, receive, send: self.lifespan(receive, send),
        }

    # --- registering -------------------------------------------------------------------------------

    def _register(self, path: str, methods: Iterable[str] | None, kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.routes.append(Route(path, handler, methods, kind))
            return handler

        return decorator

    def route(self, path: str, methods: Iterable[str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._register(path, methods, "http")

    def get(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["GET"])

    def post(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["POST"])

    def put(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["PUT"])

    def patch(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["PATCH"])

    def delete(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, ["DELETE"])

    def websocket(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._register(path, None, "websocket")

    def on_startup(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        self.shutdown_hooks.append(hook)
        return hook

    def add_middleware(self, cls: type, **options: Any) -> None:
        self.middleware.append((cls, options))
        self._stack = None  # rebuilt on the next call, with the new one outermost

    # --- serving -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._stack is None:
            # Each middleware wraps what came before it: the first added ends up innermost.
            self._stack = functools.reduce(lambda app, entry: entry[0](app, **entry[1]), self.middleware, self.dispatch)
        await self._stack(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handlers.get(scope["type"])
        if handler is None:
            raise ValueError(f"mini_framework does not speak the {scope['type']!r} protocol")
        await handler(scope, receive, send)

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"].upper() == "HEAD":
            send = without_body(send)
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            response = await self.respond(scope, receive)
            await response(scope, receive, watched_send)
            return
        except ClientDisconnect:
            return  # nobody is left to read an answer
        except HTTPException as exc:
            if started:
                raise  # the status line is gone: the server can only cut the connection
            error = JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)
        except Exception:
            if started:
                raise
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            error = JSONResponse({"detail": "Internal Server Error"}, 500)
        await error(scope, receive, send)

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        allowed: set[str] = set()
        for route in self.routes:
            verdict, params = route.matches(scope)
            if verdict is Match.PATH:
                allowed |= route.methods
            elif verdict is Match.FULL:
                result = await call_maybe_async(route.handler, Request({**scope, "path_params": params}, receive))
                return _as_response(result)
        if allowed:
            listed = sorted(allowed, key=lambda m: (_METHOD_ORDER.get(m, len(_METHOD_ORDER)), m))
            raise HTTPException(405, headers={"allow": ", ".join(listed)})
        raise HTTPException(404)

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        for route in self.routes:
            verdict, params = route.matches(scope)
            if verdict is Match.FULL:
                break
        else:
            # No route: refuse the handshake (a close before accept: the server answers 403).
            await WebSocket(scope, receive, send).close(1008)
            return
        websocket = WebSocket({**scope, "path_params": params}, receive, send)
        try:
            await call_maybe_async(route.handler, websocket)
        except WebSocketDisconnect:
            return  # the client left: nothing to close
        except Exception:
            logger.exception("unhandled error in the WebSocket handler for %s", scope["path"])
            await websocket.close(1011)  # RFC 6455 §7.4.1: an unexpected condition on the server
            return
        await websocket.close(1000)  # returned with it open: a normal closure (a no-op if closed)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        phases = {
            "lifespan.startup": ("lifespan.startup", self.startup_hooks),
            "lifespan.shutdown": ("lifespan.shutdown", self.shutdown_hooks),
        }
        while True:
            message = await receive()
            prefix, hooks = phases[message["type"]]
            try:
                for hook in hooks:
                    await call_maybe_async(hook)
            except Exception as exc:
                logger.exception("a %s hook failed", prefix.removeprefix("lifespan."))
                await send({"type": f"{prefix}.failed", "message": f"{type(exc).__name__}: {exc}"})
                return
            await send({"type": f"{prefix}.complete"})
            if prefix == "lifespan.shutdown":
                return


def _as_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, (dict, list)):
        return JSONResponse(result)
    raise TypeError(f"a handler must return a Response, a dict or a list, not {type(result).__name__}")


def without_body(send: Send) -> Send:
    """For HEAD: the same status and headers as GET, no body bytes (RFC 9110 §9.3.2)."""

    async def send_head_only(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
        elif not message.get("more_body", False):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # a middle piece of the body: dropped

    return send_head_only
