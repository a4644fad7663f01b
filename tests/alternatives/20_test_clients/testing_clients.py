"""Exercise 20 (an alternative solution) — test clients for WSGI and ASGI apps, without a server.

Where this one differs from the obvious design:

- ``ASGITestClient`` runs its event loop **in a background thread** (the way Starlette's TestClient
  runs its portal) and hands each call over with ``asyncio.run_coroutine_threadsafe``. The lifespan
  task and WebSocket sessions therefore keep running between calls, as under a real server.
- The lifespan and a WebSocket share one helper, ``_Conversation``: an app task with an inbox
  queue (its ``receive``) and an outbox queue (its ``send``).
- ``PATH_INFO`` comes from ``unquote_to_bytes(...).decode("latin-1")``: the same result for a
  percent-encoded path, and still "bytes as latin-1" for a path with raw non-ASCII characters.
- The WSGI side follows PEP 3333 to the letter on ``exc_info``: once body bytes exist, the headers
  count as sent, and a late ``start_response(..., exc_info)`` re-raises the app's error.
- ``Host`` carries the port when it is not the scheme's default (RFC 9110 §7.2).
"""

from __future__ import annotations

import asyncio
import io
import json as jsonlib
import string
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message as MimeHeader
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlencode

HeadersArg = Mapping[str, str] | Sequence[tuple[str, str]] | None
"""Request headers: a dict, or a list of ``(name, value)`` pairs when a name repeats."""
QueryArg = str | Mapping[str, str] | Sequence[tuple[str, str]] | None
"""A query: a ready-made, percent-encoded string (``"q=a%20b"``), or a dict / list of pairs to encode."""

DEFAULT_HOST = "testserver"
"""The host name test clients use (httpx's too): ``SERVER_NAME``, ``Host``, ``scope["server"]``."""
TIMEOUT = 5.0
"""Seconds an ASGITestClient call may wait for the app before giving up."""

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Characters that may stay as they are in a request target: printable ASCII. Anything else
# (non-ASCII text, spaces, controls) is percent-encoded as UTF-8, as a real client would send it.
_TARGET_SAFE = string.punctuation


# --- shared pieces ---------------------------------------------------------------------------------


class Headers:
    """Response headers: ``(name, value)`` str pairs in order, repeats kept, names case-insensitive."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs: list[tuple[str, str]] = []
        self._by_name: dict[str, list[str]] = {}  # lower-case name -> its values, in order
        for name, value in pairs:
            self._pairs.append((name, value))
            self._by_name.setdefault(name.lower(), []).append(value)

    def get_list(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), ()))

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._by_name.get(name.lower())
        return ", ".join(values) if values else default  # RFC 9110 §5.3

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __iter__(self) -> Any:
        return iter(name for name, _ in self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


@dataclass
class TestResponse:
    """What the app answered: the status code, the headers and the whole body."""

    __test__ = False  # a class called Test* that is not a test: pytest, leave it alone

    status_code: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def charset(self) -> str:
        """The ``charset`` parameter of Content-Type (RFC 9110 §8.3.2), UTF-8 when there is none."""
        content_type = self.headers.get("content-type")
        if not content_type:
            return "utf-8"
        parsed = MimeHeader()
        parsed["content-type"] = content_type  # the stdlib MIME parser handles quoting and case
        return parsed.get_content_charset() or "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:  # a charset Python does not know: the body is most likely UTF-8
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def _header_pairs(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _split_target(path: str, query: QueryArg) -> tuple[str, str]:
    """``path`` as sent on the request line (percent-encoded, no query) and the whole query string."""
    raw_path, _, inline = path.partition("?")
    raw_path = quote(raw_path, safe=_TARGET_SAFE) or "/"
    if query is None or isinstance(query, str):
        extra = query or ""
    else:
        extra = urlencode(list(query.items()) if isinstance(query, Mapping) else list(query))
    return raw_path, "&".join(part for part in (inline, extra) if part)


def _host(name: str, port: int, scheme: str) -> str:
    return name if DEFAULT_PORTS.get(scheme) == port else f"{name}:{port}"


def _with_body(headers: list[tuple[str, str]], body: bytes, json: Any) -> tuple[list[tuple[str, str]], bytes]:
    """``json=`` turned into the body (and its Content-Type unless one is given)."""
    if json is None:
        return headers, body
    names = {name.lower() for name, _ in headers}
    if "content-type" not in names:
        headers = [*headers, ("Content-Type", "application/json")]
    return headers, jsonlib.dumps(json).encode("utf-8")


# --- WSGI ------------------------------------------------------------------------------------------


def make_environ(
    method: str = "GET",
    path: str = "/",
    *,
    query: QueryArg = None,
    headers: HeadersArg = None,
    body: bytes = b"",
    scheme: str = "http",
    server_name: str = DEFAULT_HOST,
    server_port: int | None = None,
    script_name: str = "",
) -> dict[str, Any]:
    """A complete PEP 3333 environ for one request — one that ``wsgiref.validate`` accepts."""
    port = DEFAULT_PORTS.get(scheme, 80) if server_port is None else server_port
    raw_path, query_string = _split_target(path, query)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": script_name,
        # PEP 3333 §Unicode Issues: the URL's decoded *bytes*, one latin-1 character each.
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query_string,
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
    for name, value in _header_pairs(headers):
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value.encode("latin-1")  # PEP 3333: environ strings hold latin-1 code points only
        # A repeated field is one value joined with ", " (RFC 9110 §5.3).
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    environ.setdefault("HTTP_HOST", _host(server_name, port, scheme))
    if body:
        environ.setdefault("CONTENT_LENGTH", str(len(body)))
    return environ


class _WSGIExchange:
    """One WSGI call seen from the server's side: start_response, write() and the collected body."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.headers_sent = False  # true once body bytes exist: from then on the head is final

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    # PEP 3333 §Error Handling: too late to change the status, re-raise the app's error.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # avoid the traceback <-> frame reference cycle
        elif self.status is not None:
            raise RuntimeError("start_response() was called a second time without exc_info (PEP 3333)")
        self.status, self.headers = status, list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise RuntimeError("write() was called before start_response()")
        self.add(data)

    def add(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"a WSGI body is bytes, the app gave {type(data).__name__}")
        if data:
            if self.status is None:
                raise RuntimeError("the app produced body bytes before calling start_response()")
            self.headers_sent = True
            self.chunks.append(bytes(data))

    def response(self) -> TestResponse:
        if self.status is None:
            raise RuntimeError("the app returned without calling start_response()")
        code = int(self.status.split(" ", 1)[0])
        return TestResponse(code, Headers(self.headers), b"".join(self.chunks))


class WSGITestClient:
    """Call a WSGI app directly, as a server would, and return a ``TestResponse``."""

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
        pairs, body = _with_body(_header_pairs(headers), body, json)
        environ = make_environ(method, path, query=query, headers=pairs, body=body)
        exchange = _WSGIExchange()
        result = self.app(environ, exchange.start_response)
        try:
            for chunk in result:
                exchange.add(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # PEP 3333: always, once, whatever happened while iterating
        return exchange.response()

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)


# --- ASGI ------------------------------------------------------------------------------------------


def make_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query: QueryArg = None,
    headers: HeadersArg = None,
    scheme: str = "http",
    server: tuple[str, int] = (DEFAULT_HOST, 80),
    client: tuple[str, int] = ("127.0.0.1", 50000),
    root_path: str = "",
) -> dict[str, Any]:
    """A complete ASGI HTTP connection scope for one request (ASGI HTTP §HTTP Connection Scope)."""
    raw_path, query_string = _split_target(path, query)
    pairs = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in _header_pairs(headers)]
    if not any(name == b"host" for name, _ in pairs):
        # RFC 9110 §7.2: a user agent sends Host first.
        pairs.insert(0, (b"host", _host(server[0], server[1], scheme).encode("latin-1")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": scheme,
        "path": unquote(raw_path),  # real text: percent-decoded, then UTF-8 decoded
        "raw_path": raw_path.encode("ascii"),
        "query_string": query_string.encode("latin-1"),
        "root_path": root_path,
        "headers": pairs,
        "server": tuple(server),
        "client": tuple(client),
    }


class WebSocketDisconnected(Exception):
    """The app closed the WebSocket (or refused it before accepting); ``code`` is the close code."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"the app closed the WebSocket with code {code} {reason}".strip())
        self.code = code
        self.reason = reason


class LifespanFailed(RuntimeError):
    """The app answered ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


class _Conversation:
    """An app task on the loop, talking through two queues: ``inbox`` is its receive, ``outbox`` its send.

    Create it inside a coroutine running on the client's loop.
    """

    def __init__(self, app: Callable[..., Any], scope: dict[str, Any]) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(app(scope, self.inbox.get, self.outbox.put))

    async def next_message(self) -> dict[str, Any] | None:
        """The app's next message, or ``None`` when its task ended first (then see ``self.task``)."""
        if self.outbox.empty() and not self.task.done():
            getter = asyncio.ensure_future(self.outbox.get())
            try:
                await asyncio.wait({getter, self.task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                getter.cancel()  # a cancelled Queue.get() takes nothing out of the queue
            if getter.done() and not getter.cancelled():
                return getter.result()
        return None if self.outbox.empty() else self.outbox.get_nowait()

    async def finish(self, last_message: dict[str, Any], timeout: float) -> None:
        """Give the app ``last_message`` and let its task end; cancel it if it will not."""
        if not self.task.done():
            await self.inbox.put(last_message)
            done, _ = await asyncio.wait({self.task}, timeout=timeout)
            if not done:
                self.task.cancel()
                await asyncio.wait({self.task})


class ASGITestClient:
    """Drive an ASGI app in-process: HTTP requests, the lifespan, WebSockets. All methods are plain.

    The client's event loop runs in a daemon thread of its own for the client's whole life; each
    call is handed to it with ``run()`` and waited for here. ``close()`` stops it.
    """

    def __init__(self, app: Callable[..., Any], *, timeout: float = TIMEOUT) -> None:
        self.app = app
        self.timeout = timeout
        self.state: dict[str, Any] = {}
        self._lifespan: _Conversation | None = None
        self._closed = False
        # The loop belongs to its thread: it is private, so that no one runs it from elsewhere.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ASGITestClient loop", daemon=True)
        self._thread.start()

    def run(self, awaitable: Any) -> Any:
        """Run ``awaitable`` on the client's loop, within ``timeout`` seconds, and return its result."""
        if self._closed or threading.current_thread() is self._thread:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # it will never run: say so quietly, not with "never awaited"
            if self._closed:
                raise RuntimeError("this ASGITestClient is closed")
            raise RuntimeError("run() called from the client's own loop: it would wait for itself forever")

        async def bounded() -> Any:
            try:
                return await asyncio.wait_for(awaitable, self.timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"the app did not answer within {self.timeout:g} s") from None

        return asyncio.run_coroutine_threadsafe(bounded(), self._loop).result()

    # --- HTTP ------------------------------------------------------------------------------------

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
        pairs, body = _with_body(_header_pairs(headers), body, json)
        if body and not any(name.lower() == "content-length" for name, _ in pairs):
            pairs.append(("content-length", str(len(body))))
        scope = make_scope(method, path, query=query, headers=pairs)
        scope["state"] = dict(self.state)  # Lifespan §Lifespan State: each request gets a copy
        return self.run(self._exchange(scope, body))

    async def _exchange(self, scope: dict[str, Any], body: bytes) -> TestResponse:
        complete = asyncio.get_running_loop().create_future()  # resolved by the last body message
        request_message: dict[str, Any] | None = {"type": "http.request", "body": body, "more_body": False}
        status: int | None = None
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal request_message
            if request_message is not None:
                message, request_message = request_message, None
                return message
            # ASGI HTTP §Disconnect: the client leaves once it has the whole answer. shield():
            # an app that gives up waiting (a cancelled receive) must not cancel `complete` itself.
            await asyncio.shield(complete)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                if status is not None:
                    raise RuntimeError("the app sent http.response.start twice")
                status = int(message["status"])
                headers.extend((bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in message.get("headers", []))
            elif kind == "http.response.body":
                if status is None:
                    raise RuntimeError("the app sent http.response.body before http.response.start")
                if complete.done():
                    raise RuntimeError("the app sent http.response.body after its response was complete")
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    complete.set_result(None)
            else:
                raise RuntimeError(f"unexpected message {kind!r} on an HTTP connection")

        await self.app(scope, receive, send)
        if status is None or not complete.done():
            raise RuntimeError("the app returned before its response was complete")
        return TestResponse(status, Headers(headers), b"".join(chunks))

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    # --- lifespan --------------------------------------------------------------------------------

    def __enter__(self) -> ASGITestClient:
        try:
            self._lifespan = self.run(self._startup())
        except BaseException:
            self.close()  # the `with` block will not run, so __exit__ will not clean up
            raise
        return self

    async def _startup(self) -> _Conversation | None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        conversation = _Conversation(self.app, scope)
        await conversation.inbox.put({"type": "lifespan.startup"})
        answer = await conversation.next_message()
        if answer is None:
            # The app raised or returned instead of answering: it does not do lifespan (Lifespan §Scope).
            if not conversation.task.cancelled():
                conversation.task.exception()  # retrieved, so asyncio does not log it
            return None
        if answer["type"] == "lifespan.startup.failed":
            raise LifespanFailed(f"lifespan startup failed: {answer.get('message', '')}")
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"expected lifespan.startup.complete, the app sent {answer['type']!r}")
        return conversation

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._lifespan is not None:
                self.run(self._shutdown(self._lifespan))
        finally:
            self._lifespan = None
            self.close()

    async def _shutdown(self, conversation: _Conversation) -> None:
        await conversation.inbox.put({"type": "lifespan.shutdown"})
        answer = await conversation.next_message()
        if answer is None:
            conversation.task.result()  # it ended instead of answering: show why, if it raised
            raise RuntimeError("the app ended its lifespan without answering lifespan.shutdown")
        if answer["type"] == "lifespan.shutdown.failed":
            raise LifespanFailed(f"lifespan shutdown failed: {answer.get('message', '')}")
        if answer["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"expected lifespan.shutdown.complete, the app sent {answer['type']!r}")

    def close(self) -> None:
        """Cancel whatever the app still runs on the loop, stop the loop and its thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop).result(self.timeout)
            except TimeoutError:
                pass  # something blocks the loop itself: stop it anyway, as far as it lets us
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self.timeout)
        if not self._loop.is_running():
            self._loop.close()

    # --- WebSocket -------------------------------------------------------------------------------

    def websocket_connect(self, path: str, *, headers: HeadersArg = None) -> WebSocketSession:
        scope = make_scope("GET", path, headers=headers, scheme="ws")
        del scope["method"]  # a WebSocket scope has none (WebSocket §Connection Scope)
        scope.update(
            type="websocket",
            asgi={"version": "3.0", "spec_version": "2.5"},
            subprotocols=[],
            state=dict(self.state),
        )
        return WebSocketSession(self, scope)


async def _cancel_all() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class WebSocketSession:
    """One WebSocket between the test and the app (ASGI WebSocket §Connection Scope onwards)."""

    def __init__(self, client: ASGITestClient, scope: dict[str, Any]) -> None:
        self.client = client
        self.scope = scope
        self.closed = False
        self.subprotocol: str | None = None
        self._conversation: _Conversation = client.run(self._open())

    async def _open(self) -> _Conversation:
        conversation = _Conversation(self.client.app, self.scope)
        await conversation.inbox.put({"type": "websocket.connect"})
        answer = await conversation.next_message()
        if answer is not None and answer["type"] == "websocket.accept":
            self.subprotocol = answer.get("subprotocol")
            return conversation
        self.closed = True
        if answer is None:
            conversation.task.result()  # it raised: that is the answer
            raise WebSocketDisconnected(1006, "the app returned without accepting")
        if answer["type"] == "websocket.close":
            # Refused before accept (a server would answer 403). Let the app end cleanly.
            await conversation.finish({"type": "websocket.disconnect", "code": answer.get("code", 1000)}, self.client.timeout)
            raise WebSocketDisconnected(answer.get("code", 1000), answer.get("reason") or "")
        raise RuntimeError(f"expected websocket.accept or websocket.close, the app sent {answer['type']!r}")

    def send_text(self, text: str) -> None:
        self._put({"type": "websocket.receive", "text": text})

    def send_bytes(self, data: bytes) -> None:
        self._put({"type": "websocket.receive", "bytes": bytes(data)})

    def _put(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise RuntimeError("this WebSocket is closed")
        self.client.run(self._conversation.inbox.put(message))

    def _next(self) -> dict[str, Any]:
        if self.closed:
            raise RuntimeError("this WebSocket is closed")
        message = self.client.run(self._conversation.next_message())
        if message is None:
            self.closed = True
            self._conversation.task.result()  # an app that raised: its error, here
            raise WebSocketDisconnected(1000, "the app returned")  # as a server closes after it
        if message["type"] == "websocket.close":
            self.closed = True
            self.client.run(self._conversation.finish({"type": "websocket.disconnect", "code": message.get("code", 1000)}, self.client.timeout))
            raise WebSocketDisconnected(message.get("code", 1000), message.get("reason") or "")
        if message["type"] != "websocket.send":
            raise RuntimeError(f"expected websocket.send, the app sent {message['type']!r}")
        return message

    def receive_text(self) -> str:
        message = self._next()
        if message.get("text") is None:
            raise TypeError("expected a text message, the app sent bytes (use receive_bytes())")
        return message["text"]

    def receive_bytes(self) -> bytes:
        message = self._next()
        if message.get("bytes") is None:
            raise TypeError("expected a binary message, the app sent text (use receive_text())")
        return message["bytes"]

    def close(self, code: int = 1000) -> None:
        """Leave: the app gets ``websocket.disconnect`` and may finish. Closing twice does nothing."""
        conversation = self._conversation
        self.closed = True
        if conversation.task.done() or self.client._closed:
            return
        self.client.run(conversation.finish({"type": "websocket.disconnect", "code": code}, self.client.timeout))
        if not conversation.task.cancelled() and conversation.task.exception() is not None:
            raise conversation.task.exception()  # type: ignore[misc]

    def __enter__(self) -> WebSocketSession:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
