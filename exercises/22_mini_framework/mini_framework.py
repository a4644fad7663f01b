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

Given: ``HTTPException``, ``WebSocketDisconnect``, ``State``, ``call_maybe_async`` and the converter
table. Everything else is yours; the names and signatures are what the tests and the capstone use.

Spec: ASGI 3.0 HTTP & WebSocket spec 2.5 (§HTTP Connection Scope, §Request, §Response Start,
§Response Body, §WebSocket Connect/Accept/Receive/Send/Close/Disconnect), ASGI Lifespan 2.0,
RFC 9110 (§15 status codes, §10.2.1 Allow, §9.3.2 HEAD, §15.4 redirects).
"""

from __future__ import annotations

import inspect
import json  # noqa: F401  (the imports are the ones the solution uses)
import re
import sys  # noqa: F401
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl  # noqa: F401

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
    """What a request and a WebSocket have in common: the scope, read through friendly properties."""

    def __init__(self, scope: Scope) -> None:
        """Keep the scope; ``path_params`` are ``scope["path_params"]`` (the router puts them there)."""
        raise NotImplementedError("write HTTPConnection.__init__() in mini_framework.py")

    @property
    def path(self) -> str:
        """``scope["path"]``: already percent-decoded text (``/users/J%C3%BCrgen`` -> ``/users/Jürgen``)."""
        raise NotImplementedError("write the HTTPConnection.path property in mini_framework.py")

    @property
    def query_params(self) -> dict[str, str]:
        """The query string parsed (``?a=1&b=two`` -> ``{"a": "1", "b": "two"}``); a repeated key keeps its last value."""
        raise NotImplementedError("write the HTTPConnection.query_params property in mini_framework.py")

    @property
    def headers(self) -> dict[str, str]:
        """Header names in lower case; a repeated header joined with ``", "`` (RFC 9110 §5.3)."""
        raise NotImplementedError("write the HTTPConnection.headers property in mini_framework.py")

    @property
    def state(self) -> State:
        """``scope["state"]`` (created empty if missing) behind attributes: what lifespan startup and
        middleware put there (ASGI Lifespan §Lifespan State). Use the ``State`` class given above."""
        raise NotImplementedError("write the HTTPConnection.state property in mini_framework.py")


class Request(HTTPConnection):
    """One HTTP request: the scope, and the body read from ``receive`` on demand (once)."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        """Keep ``receive`` for ``body()``; nothing is read yet."""
        raise NotImplementedError("write Request.__init__() in mini_framework.py")

    @property
    def method(self) -> str:
        """``scope["method"]``, upper case: ``"GET"``, ``"POST"``, ..."""
        raise NotImplementedError("write the Request.method property in mini_framework.py")

    async def body(self) -> bytes:
        """The whole body: ``http.request`` messages joined until ``more_body`` is false (ASGI HTTP
        §Request). Cached: a second call (or ``json()`` after ``body()``) must not call ``receive`` again."""
        raise NotImplementedError("write Request.body() in mini_framework.py")

    async def json(self) -> Any:
        """The body parsed as JSON; a body that is not JSON is the client's mistake:
        ``raise HTTPException(400, ...)``."""
        raise NotImplementedError("write Request.json() in mini_framework.py")


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
        raise NotImplementedError("write Response.__init__() in mini_framework.py")

    def render(self, content: Any) -> bytes:
        """``None`` -> ``b""``; bytes as they are; text encoded with ``charset`` (UTF-8)."""
        raise NotImplementedError("write Response.render() in mini_framework.py")

    def raw_headers(self, *, content_length: bool = True) -> list[tuple[bytes, bytes]]:
        """The ASGI headers: lower-case byte names, plus ``content-type`` (``; charset=utf-8`` for
        ``text/*``) and ``content-length`` unless given, and never a length on 204/304."""
        raise NotImplementedError("write Response.raw_headers() in mini_framework.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Two messages: ``http.response.start`` (status, headers), then one ``http.response.body``."""
        raise NotImplementedError("write Response.__call__() in mini_framework.py")


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """``json.dumps`` of the content, as UTF-8 bytes."""
        raise NotImplementedError("write JSONResponse.render() in mini_framework.py")


class RedirectResponse(Response):
    """``307 Temporary Redirect`` by default: the client repeats the same method (RFC 9110 §15.4.8)."""

    def __init__(self, url: str, status_code: int = 307, headers: dict[str, str] | None = None) -> None:
        """An empty body and a ``location`` header."""
        raise NotImplementedError("write RedirectResponse.__init__() in mini_framework.py")


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
        raise NotImplementedError("write StreamingResponse.__init__() in mini_framework.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start without Content-Length, one ``http.response.body`` (``more_body=True``) per piece, then
        an empty last one (``more_body=False``)."""
        raise NotImplementedError("write StreamingResponse.__call__() in mini_framework.py")


# ---------------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------------


class WebSocket(HTTPConnection):
    """One WebSocket connection, with the ASGI messages (WebSocket spec §Connect ... §Close) behind methods."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Keep ``receive`` and ``send``; remember whether it was accepted and whether it is closed."""
        raise NotImplementedError("write WebSocket.__init__() in mini_framework.py")

    async def accept(self, subprotocol: str | None = None) -> None:
        """Receive ``websocket.connect`` (always the first message), then send ``websocket.accept``."""
        raise NotImplementedError("write WebSocket.accept() in mini_framework.py")

    async def _receive_data(self) -> Message:
        """The next ``websocket.receive``; ``websocket.disconnect`` raises ``WebSocketDisconnect(code)``."""
        raise NotImplementedError("write WebSocket._receive_data() in mini_framework.py")

    async def receive_text(self) -> str:
        """The ``text`` of the next message (WebSocket §Receive)."""
        raise NotImplementedError("write WebSocket.receive_text() in mini_framework.py")

    async def receive_bytes(self) -> bytes:
        """The ``bytes`` of the next message."""
        raise NotImplementedError("write WebSocket.receive_bytes() in mini_framework.py")

    async def send_text(self, data: str) -> None:
        """``{"type": "websocket.send", "text": data}``."""
        raise NotImplementedError("write WebSocket.send_text() in mini_framework.py")

    async def send_bytes(self, data: bytes) -> None:
        """``{"type": "websocket.send", "bytes": data}``."""
        raise NotImplementedError("write WebSocket.send_bytes() in mini_framework.py")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send ``websocket.close`` once: after accept it closes; before, it refuses the handshake (the
        server answers 403, WebSocket §Close)."""
        raise NotImplementedError("write WebSocket.close() in mini_framework.py")


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
    raise NotImplementedError("write compile_path() in mini_framework.py")


class Route:
    """One route: a path pattern, a handler, the methods it answers (a GET route answers HEAD too)."""

    def __init__(self, path: str, handler: Callable[..., Any], methods: Iterable[str] | None, kind: str = "http") -> None:
        raise NotImplementedError("write Route.__init__() in mini_framework.py")

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted path parameters if ``path`` matches (``{"id": 42}``), else ``None``."""
        raise NotImplementedError("write Route.match() in mini_framework.py")


# ---------------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------------


async def call_maybe_async(function: Callable[..., Any], *args: Any) -> Any:
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class App:
    """The framework's ASGI app: routes, hooks and middleware."""

    def __init__(self) -> None:
        """No routes, hooks or middleware yet. (Tests and the capstone may set attributes on the app.)"""
        raise NotImplementedError("write App.__init__() in mini_framework.py")

    # --- registering -------------------------------------------------------------------------------

    def route(self, path: str, methods: Iterable[str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator: ``@app.route("/tasks/{id:int}", methods=["PUT", "DELETE"])`` registers the
        handler (``GET`` when ``methods`` is None) and returns it unchanged. Converters: ``str`` (the
        default, no ``/``), ``int`` (digits, converted), ``path`` (anything, ``/`` included)."""
        raise NotImplementedError("write App.route() in mini_framework.py")

    def get(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``@app.get(path)`` is ``@app.route(path, methods=["GET"])``; post, put, patch, delete likewise."""
        raise NotImplementedError("write App.get() in mini_framework.py")

    def post(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        raise NotImplementedError("write App.post() in mini_framework.py")

    def put(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        raise NotImplementedError("write App.put() in mini_framework.py")

    def patch(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        raise NotImplementedError("write App.patch() in mini_framework.py")

    def delete(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        raise NotImplementedError("write App.delete() in mini_framework.py")

    def websocket(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``@app.websocket("/ws/{room}")``: the handler gets a ``WebSocket`` (``async def h(websocket)``)."""
        raise NotImplementedError("write App.websocket() in mini_framework.py")

    def on_startup(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        """A decorator: run ``hook()`` (sync or async, no arguments) at lifespan startup, in order."""
        raise NotImplementedError("write App.on_startup() in mini_framework.py")

    def on_shutdown(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        """A decorator: run ``hook()`` at lifespan shutdown, in order."""
        raise NotImplementedError("write App.on_shutdown() in mini_framework.py")

    def add_middleware(self, cls: type, **options: Any) -> None:
        """Wrap the app in ``cls(app, **options)``; the last one added is the outermost, as in Starlette."""
        raise NotImplementedError("write App.add_middleware() in mini_framework.py")

    # --- serving -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: build the middleware stack once (``cls(app, **options)`` for each, the
        first added innermost), then pass every call through it to ``dispatch``."""
        raise NotImplementedError("write App.__call__() in mini_framework.py")

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """By ``scope["type"]``: ``lifespan``, ``http`` or ``websocket``."""
        raise NotImplementedError("write App.dispatch() in mini_framework.py")

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Find the response (``respond``), turn an ``HTTPException`` into ``JSONResponse({"detail": ...})``
        with its status and headers, any other exception into a 500 ``{"detail": "Internal Server
        Error"}``, and send it. HEAD: the same answer as GET, without body bytes."""
        raise NotImplementedError("write App.handle_http() in mini_framework.py")

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        """Try the routes in order: call the first whose path and method match with a ``Request``
        (``path_params`` in its scope). A dict or list result becomes a ``JSONResponse``. A path that
        matched only with other methods: 405 with ``Allow``; nothing matched: 404."""
        raise NotImplementedError("write App.respond() in mini_framework.py")

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the matching websocket route with a ``WebSocket``; close it (1000) if the handler
        returns with it open, 1011 if it raises. No route: receive the connect, send a close (403).
        Only websocket routes count: an HTTP route on the same path is no route here."""
        raise NotImplementedError("write App.handle_websocket() in mini_framework.py")

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI Lifespan 2.0: run the startup hooks, wait, run the shutdown hooks."""
        raise NotImplementedError("write App.lifespan() in mini_framework.py")


def without_body(send: Send) -> Send:
    """For HEAD: the same status and headers as GET, no body bytes (RFC 9110 §9.3.2). Pass every
    message on with its ``body`` emptied: the last one (``more_body`` False) still ends the response."""

    raise NotImplementedError("write without_body() in mini_framework.py")
