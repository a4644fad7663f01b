"""Exercise 22 — roll your own mini-framework: everything Starlette does for you, in one small file.

An ASGI framework is an ASGI app that turns ``(scope, receive, send)`` into something friendlier::

    server ──► middleware (last added = outermost) ──► App.router
                                                        ├─ "lifespan":  startup / shutdown hooks
                                                        ├─ "http":      match a route ──► handler(Request) ──► Response
                                                        └─ "websocket": match a route ──► handler(WebSocket)

- ``Request`` wraps the scope and ``receive`` (method, path, query, headers, body, JSON).
- ``Response`` and its family are themselves ASGI apps: ``await response(scope, receive, send)``.
- Routes are patterns like ``/tasks/{id:int}``, compiled to regular expressions; a path that matches
  with the wrong method is a 405 with ``Allow``, a path that matches nothing a 404.
- ``HTTPException`` lets a handler stop with an error response from anywhere.

Spec: ASGI 3.0 HTTP & WebSocket spec 2.5 (§HTTP Connection Scope, §Request, §Response Start,
§Response Body, §WebSocket Connect/Accept/Receive/Send/Close/Disconnect), ASGI Lifespan 2.0,
RFC 9110 (§15 status codes, §10.2.1 Allow, §9.3.2 HEAD, §15.4 redirects).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]  # mutants: skip (given in the stub)


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------


class HTTPException(Exception):  # mutants: skip (given in the stub)
    """Raise it in a handler to answer ``status_code`` with ``{"detail": detail}`` as JSON."""

    def __init__(self, status_code: int, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.detail = detail if detail is not None else HTTPStatus(status_code).phrase
        self.headers = headers or {}
        super().__init__(status_code, self.detail)


class WebSocketDisconnect(Exception):  # mutants: skip (given in the stub)
    """Raised by ``WebSocket.receive_*`` when the client has gone (``websocket.disconnect``)."""

    def __init__(self, code: int = 1000) -> None:
        self.code = code
        super().__init__(code)


# ---------------------------------------------------------------------------------------------------
# Request and connection details shared by HTTP and WebSocket
# ---------------------------------------------------------------------------------------------------


class State:  # mutants: skip (given in the stub)
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
    """What a request and a WebSocket have in common: the scope, read through friendly properties."""

    def __init__(self, scope: Scope) -> None:
        """Keep the scope; ``path_params`` are ``scope["path_params"]`` (the router puts them there)."""
        self.scope = scope
        self.path_params: dict[str, Any] = scope.get("path_params", {})

    @property
    def path(self) -> str:
        """``scope["path"]``: already percent-decoded text (``/users/J%C3%BCrgen`` -> ``/users/Jürgen``)."""
        return self.scope["path"]

    @property
    def query_params(self) -> dict[str, str]:
        """The query string parsed (``?a=1&b=two`` -> ``{"a": "1", "b": "two"}``); a repeated key keeps its last value."""
        return dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))

    @property
    def headers(self) -> dict[str, str]:
        """Header names in lower case; a repeated header joined with ``", "`` (RFC 9110 §5.3)."""
        headers: dict[str, str] = {}
        for name, value in self.scope.get("headers", []):
            key, text = bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return headers

    @property
    def state(self) -> State:
        """``scope["state"]`` (created empty if missing) behind attributes: what lifespan startup and
        middleware put there (ASGI Lifespan §Lifespan State). Use the ``State`` class given above."""
        return State(self.scope.setdefault("state", {}))


class Request(HTTPConnection):
    """One HTTP request: the scope, and the body read from ``receive`` on demand (once)."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        """Keep ``receive`` for ``body()``; nothing is read yet."""
        super().__init__(scope)
        self._receive = receive
        self._body: bytes | None = None

    @property
    def method(self) -> str:
        """``scope["method"]``, upper case: ``"GET"``, ``"POST"``, ..."""
        return self.scope["method"]

    async def body(self) -> bytes:
        """The whole body: ``http.request`` messages joined until ``more_body`` is false (ASGI HTTP
        §Request). Cached: a second call (or ``json()`` after ``body()``) must not call ``receive`` again."""
        if self._body is None:
            chunks = []
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    raise HTTPException(400, "the client went away before sending the body")
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body parsed as JSON; a body that is not JSON is the client's mistake:
        ``raise HTTPException(400, ...)``."""
        try:
            return json.loads(await self.body())
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "the request body is not valid JSON") from None


# ---------------------------------------------------------------------------------------------------
# Responses: each one is an ASGI app
# ---------------------------------------------------------------------------------------------------


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
        """Render ``content`` to bytes now (``render``); ``media_type`` overrides the class's."""
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.body = self.render(content)
        self.headers = dict(headers or {})

    def render(self, content: Any) -> bytes:
        """``None`` -> ``b""``; bytes as they are; text encoded with ``charset`` (UTF-8)."""
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        return str(content).encode(self.charset)

    def raw_headers(self, *, content_length: bool = True) -> list[tuple[bytes, bytes]]:
        """The ASGI headers: lower-case byte names, plus ``content-type`` (``; charset=utf-8`` for
        ``text/*``) and ``content-length`` unless given, and never a length on 204/304."""
        headers = [(name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in self.headers.items()]
        names = {name for name, _ in headers}
        if self.media_type is not None and b"content-type" not in names:
            content_type = self.media_type
            if content_type.startswith("text/"):
                content_type += f"; charset={self.charset}"  # text needs its charset (RFC 9110 §8.3.2)
            headers.append((b"content-type", content_type.encode("latin-1")))
        # No body on 204 and 304, and so no Content-Length either (RFC 9110 §8.6).
        if content_length and b"content-length" not in names and self.status_code not in (204, 304):
            headers.append((b"content-length", str(len(self.body)).encode("latin-1")))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Two messages: ``http.response.start`` (status, headers), then one ``http.response.body``."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers()})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class PlainTextResponse(Response):  # mutants: skip (given in the stub)
    media_type = "text/plain"


class HTMLResponse(Response):  # mutants: skip (given in the stub)
    media_type = "text/html"


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """``json.dumps`` of the content, as UTF-8 bytes."""
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RedirectResponse(Response):
    """``307 Temporary Redirect`` by default: the client repeats the same method (RFC 9110 §15.4.8)."""

    def __init__(self, url: str, status_code: int = 307, headers: dict[str, str] | None = None) -> None:
        """An empty body and a ``location`` header."""
        super().__init__(b"", status_code, {**(headers or {}), "location": url})


class StreamingResponse(Response):
    """A body of unknown length, sent piece by piece as an (async) iterable produces it."""

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        """Keep ``content``, an async iterable or a plain iterable of bytes or str."""
        super().__init__(None, status_code, headers, media_type)
        self.content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start without Content-Length, one ``http.response.body`` (``more_body=True``) per piece, then
        an empty last one (``more_body=False``)."""
        # No Content-Length: the server frames the body (chunked, or close) as the pieces come.
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers(content_length=False)})
        if isinstance(self.content, AsyncIterable):
            async for chunk in self.content:
                await send({"type": "http.response.body", "body": self.render(chunk), "more_body": True})
        else:
            for chunk in self.content:
                await send({"type": "http.response.body", "body": self.render(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# ---------------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------------


class WebSocket(HTTPConnection):
    """One WebSocket connection, with the ASGI messages (WebSocket spec §Connect ... §Close) behind methods."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Keep ``receive`` and ``send``; remember whether it was accepted and whether it is closed."""
        super().__init__(scope)
        self._receive = receive
        self._send = send
        self.closed = False  # (whether it was accepted, nothing here needs to know)

    async def accept(self, subprotocol: str | None = None) -> None:
        """Receive ``websocket.connect`` (always the first message), then send ``websocket.accept``."""
        message = await self._receive()  # websocket.connect comes first, always
        if message["type"] != "websocket.connect":
            raise RuntimeError(f"expected websocket.connect, got {message['type']!r}")
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol})

    async def _receive_data(self) -> Message:
        """The next ``websocket.receive``; ``websocket.disconnect`` raises ``WebSocketDisconnect(code)``."""
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise WebSocketDisconnect(message.get("code", 1000))
        return message

    async def receive_text(self) -> str:
        """The ``text`` of the next message (WebSocket §Receive)."""
        message = await self._receive_data()
        if message.get("text") is None:
            raise WebSocketDisconnect(1003)  # a binary message where text was expected
        return message["text"]

    async def receive_bytes(self) -> bytes:
        """The ``bytes`` of the next message."""
        message = await self._receive_data()
        if message.get("bytes") is None:
            raise WebSocketDisconnect(1003)
        return message["bytes"]

    async def send_text(self, data: str) -> None:
        """``{"type": "websocket.send", "text": data}``."""
        await self._send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """``{"type": "websocket.send", "bytes": data}``."""
        await self._send({"type": "websocket.send", "bytes": data})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send ``websocket.close`` once: after accept it closes; before, it refuses the handshake (the
        server answers 403, WebSocket §Close)."""
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})


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
    pattern, converters, position = "^", {}, 0
    for match in PARAM.finditer(path):
        name, kind = match.group(1), match.group(2) or "str"
        if kind not in CONVERTERS:
            raise ValueError(f"unknown converter {kind!r} in {path!r} (use str, int or path)")
        regex, convert = CONVERTERS[kind]
        pattern += re.escape(path[position : match.start()]) + f"(?P<{name}>{regex})"
        converters[name] = convert
        position = match.end()
    pattern += re.escape(path[position:]) + "$"
    return re.compile(pattern), converters


class Route:
    """One route: a path pattern, a handler, the methods it answers (a GET route answers HEAD too)."""

    def __init__(self, path: str, handler: Callable[..., Any], methods: Iterable[str] | None, kind: str = "http") -> None:
        self.path = path
        self.handler = handler
        self.kind = kind
        self.methods = {m.upper() for m in (methods or ["GET"])}
        if "GET" in self.methods:
            self.methods.add("HEAD")  # a GET route answers HEAD too (RFC 9110 §9.3.2)
        self.regex, self.converters = compile_path(path)

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted path parameters if ``path`` matches (``{"id": 42}``), else ``None``."""
        found = self.regex.match(path)
        if found is None:
            return None
        return {name: self.converters[name](value) for name, value in found.groupdict().items()}


# ---------------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------------


async def call_maybe_async(function: Callable[..., Any], *args: Any) -> Any:  # mutants: skip (given in the stub)
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class App:
    """The framework's ASGI app: routes, hooks and middleware."""

    def __init__(self) -> None:
        """No routes, hooks or middleware yet. (Tests and the capstone may set attributes on the app.)"""
        self.routes: list[Route] = []
        self.startup_hooks: list[Callable[[], Any]] = []
        self.shutdown_hooks: list[Callable[[], Any]] = []
        self.middleware: list[tuple[type, dict[str, Any]]] = []
        self._stack: ASGIApp | None = None

    # --- registering -------------------------------------------------------------------------------

    def route(self, path: str, methods: Iterable[str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator: ``@app.route("/tasks/{id:int}", methods=["PUT", "DELETE"])`` registers the
        handler (``GET`` when ``methods`` is None) and returns it unchanged. Converters: ``str`` (the
        default, no ``/``), ``int`` (digits, converted), ``path`` (anything, ``/`` included)."""
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.routes.append(Route(path, handler, methods))
            return handler

        return register

    def get(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``@app.get(path)`` is ``@app.route(path, methods=["GET"])``; post, put, patch, delete likewise."""
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
        """``@app.websocket("/ws/{room}")``: the handler gets a ``WebSocket`` (``async def h(websocket)``)."""
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.routes.append(Route(path, handler, None, kind="websocket"))  # methods are HTTP's: never checked here
            return handler

        return register

    def on_startup(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        """A decorator: run ``hook()`` (sync or async, no arguments) at lifespan startup, in order."""
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        """A decorator: run ``hook()`` at lifespan shutdown, in order."""
        self.shutdown_hooks.append(hook)
        return hook

    def add_middleware(self, cls: type, **options: Any) -> None:
        """Wrap the app in ``cls(app, **options)``; the last one added is the outermost, as in Starlette."""
        if self._stack is not None:
            raise RuntimeError("add_middleware() after the app has started serving")
        self.middleware.append((cls, options))

    # --- serving -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: build the middleware stack once (``cls(app, **options)`` for each, the
        first added innermost), then pass every call through it to ``dispatch``."""
        if self._stack is None:
            # Built once, on the first call: the first middleware added ends up innermost.
            app: ASGIApp = self.dispatch
            for cls, options in self.middleware:
                app = cls(app, **options)
            self._stack = app
        await self._stack(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """By ``scope["type"]``: ``lifespan``, ``http`` or ``websocket``."""
        kind = scope["type"]
        if kind == "lifespan":
            await self.lifespan(receive, send)
        elif kind == "http":
            await self.handle_http(scope, receive, send)
        elif kind == "websocket":
            await self.handle_websocket(scope, receive, send)

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Find the response (``respond``), turn an ``HTTPException`` into ``JSONResponse({"detail": ...})``
        with its status and headers, any other exception into a 500 ``{"detail": "Internal Server
        Error"}``, and send it. HEAD: the same answer as GET, without body bytes."""
        if scope["method"] == "HEAD":
            send = without_body(send)
        try:
            response = await self.respond(scope, receive)
        except HTTPException as exc:
            response = JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)
        except Exception as exc:  # a bug in a handler: answer 500, and say so where the developer looks
            print(f"mini_framework: exception in handler for {scope['path']}: {exc!r}", file=sys.stderr)
            response = JSONResponse({"detail": "Internal Server Error"}, 500)
        await response(scope, receive, send)

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        """Try the routes in order: call the first whose path and method match with a ``Request``
        (``path_params`` in its scope). A dict or list result becomes a ``JSONResponse``. A path that
        matched only with other methods: 405 with ``Allow``; nothing matched: 404."""
        allowed: set[str] = set()
        for route in self.routes:
            if route.kind != "http":
                continue
            params = route.match(scope["path"])
            if params is None:
                continue
            if scope["method"] not in route.methods:
                allowed |= route.methods
                continue
            request = Request({**scope, "path_params": params}, receive)  # the same state dict as the server's
            result = await call_maybe_async(route.handler, request)
            if isinstance(result, (dict, list)):
                return JSONResponse(result)
            if not isinstance(result, Response):
                raise TypeError(f"the handler for {route.path} returned {type(result).__name__}, not a Response")
            return result
        if allowed:
            # The path exists, not with this method: 405 and the methods it has (RFC 9110 §15.5.6).
            raise HTTPException(405, headers={"allow": ", ".join(sorted(allowed))})
        raise HTTPException(404)

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the matching websocket route with a ``WebSocket``; close it (1000) if the handler
        returns with it open, 1011 if it raises. No route: receive the connect, send a close (403).
        Only websocket routes count: an HTTP route on the same path is no route here."""
        for route in self.routes:
            if route.kind != "websocket":
                continue
            params = route.match(scope["path"])
            if params is not None:
                websocket = WebSocket({**scope, "path_params": params}, receive, send)
                try:
                    await route.handler(websocket)
                except WebSocketDisconnect:
                    return  # the client left: nothing more to say
                except Exception as exc:
                    print(f"mini_framework: exception in websocket {scope['path']}: {exc!r}", file=sys.stderr)
                    await websocket.close(1011)  # 1011: the server met an unexpected condition (RFC 6455 §7.4.1)
                    return
                await websocket.close()  # the handler returned with the socket open: close it cleanly
                return
        # No route: refuse the handshake. A close before accept becomes a 403 (WebSocket spec §Close).
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1000})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI Lifespan 2.0: run the startup hooks, wait, run the shutdown hooks."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self.startup_hooks:
                        await call_maybe_async(hook)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    for hook in self.shutdown_hooks:
                        await call_maybe_async(hook)
                except Exception as exc:
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return


def without_body(send: Send) -> Send:
    """For HEAD: the same status and headers as GET, no body bytes (RFC 9110 §9.3.2). Pass every
    message on with its ``body`` emptied: the last one (``more_body`` False) still ends the response."""

    async def send_head_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head_only
