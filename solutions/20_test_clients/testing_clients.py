"""Exercise 20 — test clients without a framework, the reference solution.

A test client is a pretend server that lives in the test's own process: it builds what a server
would hand the app (an environ, a scope and its receive/send pair), calls the app directly, and
collects the answer. No socket, no thread, no httpx.
"""

from __future__ import annotations

import asyncio
import io
import json as jsonlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

HeadersArg = Mapping[str, str] | Sequence[tuple[str, str]] | None  # mutants: skip (given in the stub)
QueryArg = str | Mapping[str, str] | Sequence[tuple[str, str]] | None  # mutants: skip (given in the stub)

DEFAULT_HOST = "testserver"  # mutants: skip (given in the stub)
TIMEOUT = 5.0  # mutants: skip (given in the stub)


# --- shared pieces ---------------------------------------------------------------------------------


class Headers:
    """Response headers: names compared case-insensitively, repeats kept, order kept."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = [(str(name), str(value)) for name, value in pairs]

    def get_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self._pairs if key.lower() == name]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_list(name)
        return ", ".join(values) if values else default  # RFC 9110 §5.3: repeats combine with ", "

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_list(name))

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


@dataclass
class TestResponse:
    """What the app answered: the status code, the headers and the whole body."""

    __test__ = False  # mutants: skip (given in the stub) — a class called Test* that is not a test: pytest, leave it alone

    status_code: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def text(self) -> str:
        content_type = self.headers.get("content-type", "") or ""
        charset = "utf-8"
        for param in content_type.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        return self.body.decode(charset, errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def header_pairs(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def split_target(path: str, query: QueryArg) -> tuple[str, str]:
    """``("/a%20b", "x=1&y=2")`` from a path that may carry ``?...`` and an extra ``query``."""
    path, _, query_string = path.partition("?")
    if query:
        extra = query if isinstance(query, str) else urlencode(list(query.items()) if isinstance(query, Mapping) else list(query))
        query_string = f"{query_string}&{extra}" if query_string else extra
    return path or "/", query_string


def body_and_headers(body: bytes, json: Any, headers: HeadersArg) -> tuple[bytes, list[tuple[str, str]]]:
    pairs = header_pairs(headers)
    if json is not None:
        body = jsonlib.dumps(json).encode()
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("Content-Type", "application/json"))
    return body, pairs


# --- WSGI ------------------------------------------------------------------------------------------


def make_environ(
    method: str = "GET",  # mutants: skip (given in the stub)
    path: str = "/",  # mutants: skip (given in the stub)
    *,
    query: QueryArg = None,
    headers: HeadersArg = None,
    body: bytes = b"",
    scheme: str = "http",
    server_name: str = DEFAULT_HOST,
    server_port: int | None = None,
    script_name: str = "",
) -> dict[str, Any]:
    """A complete PEP 3333 environ for one request."""
    raw_path, query_string = split_target(path, query)
    port = server_port or (443 if scheme == "https" else 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": script_name,
        # PEP 3333 §Unicode Issues: the URL-decoded bytes, each byte one latin-1 character.
        "PATH_INFO": unquote(raw_path, encoding="latin-1"),
        "QUERY_STRING": query_string,  # stays percent-encoded
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    default_host = server_name if port == (443 if scheme == "https" else 80) else f"{server_name}:{port}"
    pairs = header_pairs(headers)
    if not any(name.lower() == "host" for name, _ in pairs):
        pairs.insert(0, ("Host", default_host))
    if body and not any(name.lower() == "content-length" for name, _ in pairs):
        pairs.append(("Content-Length", str(len(body))))
    for name, value in pairs:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key  # CGI: Content-Type and Content-Length have no HTTP_ prefix
        # A repeated header becomes one value, joined with ", " (RFC 9110 §5.3).
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ


class WSGITestClient:
    """Call a WSGI app directly, as a server would, and collect a TestResponse."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def request(
        self,
        method: str,
        path: str,
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        body: bytes = b"",
        json: Any = None,
    ) -> TestResponse:
        body, pairs = body_and_headers(body, json, headers)
        environ = make_environ(method, path, query=query, headers=pairs, body=body)
        started: list[Any] = []  # [status, headers] once start_response was called
        chunks: list[bytes] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info is not None:
                # Nothing has left for a client yet (we buffer everything), so the app may replace
                # its status and headers. A real server re-raises once headers are on the wire.
                exc_info = None  # PEP 3333: drop the reference, avoid a cycle with the traceback
            elif started:
                raise AssertionError("start_response() called a second time without exc_info (PEP 3333)")
            started[:] = [status, list(response_headers)]
            return chunks.append  # write(): its data comes before the iterable's

        result = self.app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # PEP 3333: always, even when iterating raised
        if not started:
            raise AssertionError("the app returned without calling start_response()")
        status, response_headers = started
        return TestResponse(int(status.split(" ", 1)[0]), Headers(response_headers), b"".join(chunks))

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)


# --- ASGI ------------------------------------------------------------------------------------------


def make_scope(
    method: str = "GET",  # mutants: skip (given in the stub)
    path: str = "/",  # mutants: skip (given in the stub)
    *,
    query: QueryArg = None,
    headers: HeadersArg = None,
    scheme: str = "http",
    server: tuple[str, int] = (DEFAULT_HOST, 80),
    client: tuple[str, int] = ("127.0.0.1", 50000),  # mutants: skip (given in the stub)
    root_path: str = "",
) -> dict[str, Any]:
    """A complete ASGI HTTP connection scope for one request."""
    raw_path, query_string = split_target(path, query)
    pairs = header_pairs(headers)
    if not any(name.lower() == "host" for name, _ in pairs):
        host, port = server
        default_port = 443 if scheme == "https" else 80
        pairs.insert(0, ("host", host if port == default_port else f"{host}:{port}"))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": scheme,
        "path": unquote(raw_path),  # ASGI: percent-decoded, then UTF-8 decoded
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query_string.encode("latin-1"),
        "root_path": root_path,
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs],
        "client": client,
        "server": server,
    }


class WebSocketDisconnected(Exception):
    """The app closed the WebSocket (or refused it); ``code`` is the close code."""

    def __init__(self, code: int, reason: str = "") -> None:  # mutants: skip (given in the stub)
        super().__init__(f"the app closed the WebSocket with code {code} {reason}".strip())
        self.code = code
        self.reason = reason


class ASGITestClient:
    """Drive an ASGI app in-process: HTTP requests, the lifespan, WebSockets.

    The client owns one event loop and runs it only while a call waits for something
    (``run_until_complete``). Tasks started on it — the app's lifespan, a WebSocket session —
    simply pause between calls and go on at the next one.
    """

    def __init__(self, app: Callable[..., Any], *, timeout: float = TIMEOUT) -> None:
        self.app = app
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.state: dict[str, Any] = {}  # the lifespan state; each request gets a shallow copy
        self._lifespan: tuple[asyncio.Task[Any], asyncio.Queue[Any], asyncio.Queue[Any]] | None = None

    def run(self, awaitable: Any) -> Any:
        """Run the loop until ``awaitable`` is done, or fail after ``timeout`` seconds."""
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, self.timeout))

    # HTTP

    def request(
        self,
        method: str,
        path: str,
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        body: bytes = b"",
        json: Any = None,
    ) -> TestResponse:
        body, pairs = body_and_headers(body, json, headers)
        if body and not any(name.lower() == "content-length" for name, _ in pairs):
            pairs.append(("content-length", str(len(body))))
        scope = make_scope(method, path, query=query, headers=pairs)
        scope["state"] = dict(self.state)
        return self.run(self._http(scope, body))

    async def _http(self, scope: dict[str, Any], body: bytes) -> TestResponse:
        response_done = asyncio.Event()
        body_sent = False
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await response_done.wait()  # the client "leaves" only once the response is over
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    response_done.set()

        await self.app(scope, receive, send)
        if not start:
            raise AssertionError("the app returned without sending http.response.start")
        headers = Headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in start.get("headers", []))
        return TestResponse(start["status"], headers, b"".join(chunks))

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    # Lifespan

    def __enter__(self) -> ASGITestClient:
        to_app: asyncio.Queue[Any] = asyncio.Queue()
        from_app: asyncio.Queue[Any] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        task = self.loop.create_task(self.app(scope, to_app.get, from_app.put))
        to_app.put_nowait({"type": "lifespan.startup"})
        message = self.run(next_message(from_app, task))
        if message is None:
            # The app raised (or returned) instead of answering: it does not support lifespan.
            # ASGI Lifespan §Scope: the server carries on without it.
            return self
        if message["type"] == "lifespan.startup.failed":
            self.close()
            raise RuntimeError(f"lifespan startup failed: {message.get('message', '')}")
        self._lifespan = (task, to_app, from_app)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._lifespan is not None:
                task, to_app, from_app = self._lifespan
                self._lifespan = None
                to_app.put_nowait({"type": "lifespan.shutdown"})
                message = self.run(next_message(from_app, task))
                if message is not None and message["type"] == "lifespan.shutdown.failed":
                    raise RuntimeError(f"lifespan shutdown failed: {message.get('message', '')}")
        finally:
            self.close()

    def close(self) -> None:
        """Cancel whatever the app still runs on our loop, then close the loop."""
        if self.loop.is_closed():
            return
        pending = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    # WebSocket

    def websocket_connect(self, path: str, *, headers: HeadersArg = None) -> WebSocketSession:
        scope = make_scope(path=path, headers=headers, scheme="ws")
        del scope["method"]
        scope.update(type="websocket", subprotocols=[], state=dict(self.state))
        scope["asgi"] = {"version": "3.0", "spec_version": "2.5"}
        return WebSocketSession(self, scope)


async def next_message(queue: asyncio.Queue[Any], task: asyncio.Task[Any]) -> dict[str, Any] | None:
    """The app's next message, or None when the app's task ends first (its exception is taken)."""
    getter = asyncio.ensure_future(queue.get())
    await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        return getter.result()
    getter.cancel()
    if not task.cancelled():
        task.exception()  # taken, so asyncio does not log "exception was never retrieved"
    return None


class WebSocketSession:
    """One WebSocket between the test and the app; made by ``ASGITestClient.websocket_connect``."""

    def __init__(self, client: ASGITestClient, scope: dict[str, Any]) -> None:
        self.client = client
        self.to_app: asyncio.Queue[Any] = asyncio.Queue()
        self.from_app: asyncio.Queue[Any] = asyncio.Queue()
        self.task = client.loop.create_task(client.app(scope, self.to_app.get, self.from_app.put))
        self.to_app.put_nowait({"type": "websocket.connect"})
        message = self._next()
        if message["type"] == "websocket.close":  # closed before accept: the handshake is refused
            self.close()
            raise WebSocketDisconnected(message.get("code", 1000), message.get("reason") or "")
        if message["type"] != "websocket.accept":
            raise AssertionError(f"expected websocket.accept or websocket.close first, got {message!r}")

    def _next(self) -> dict[str, Any]:
        message = self.client.run(next_message(self.from_app, self.task))
        if message is None:
            if not self.task.cancelled() and self.task.exception() is not None:
                raise self.task.exception()  # type: ignore[misc]
            raise AssertionError("the app returned without sending a WebSocket message")
        return message

    def send_text(self, text: str) -> None:
        self.to_app.put_nowait({"type": "websocket.receive", "text": text})

    def send_bytes(self, data: bytes) -> None:
        self.to_app.put_nowait({"type": "websocket.receive", "bytes": data})

    def receive(self) -> dict[str, Any]:
        message = self._next()
        if message["type"] == "websocket.close":
            raise WebSocketDisconnected(message.get("code", 1000), message.get("reason") or "")
        return message

    def receive_text(self) -> str:
        message = self.receive()
        if message.get("text") is None:
            raise AssertionError(f"expected a text message, got {message!r}")
        return message["text"]

    def receive_bytes(self) -> bytes:
        message = self.receive()
        if message.get("bytes") is None:
            raise AssertionError(f"expected a bytes message, got {message!r}")
        return message["bytes"]

    def close(self, code: int = 1000) -> None:
        """Tell the app the client left, and wait (bounded) for it to finish."""
        if not self.task.done():
            self.to_app.put_nowait({"type": "websocket.disconnect", "code": code})
            try:
                self.client.run(asyncio.shield(self.task))
            except (TimeoutError, asyncio.TimeoutError):
                self.task.cancel()
        if not self.task.cancelled() and self.task.done():
            self.task.exception()

    def __enter__(self) -> WebSocketSession:  # mutants: skip (given in the stub)
        return self

    def __exit__(self, *exc_info: Any) -> None:  # mutants: skip (given in the stub)
        self.close()
