"""Exercise 21 — run a WSGI app under ASGI: ``WsgiToAsgi``, streaming both ways.

A WSGI app is a blocking function: it reads ``wsgi.input`` with ``read()`` calls that wait for bytes,
and hands its body back as an iterable that may take its time between chunks. An ASGI server runs one
event loop that must never wait on anything. The adapter keeps them apart with a thread pool::

    event loop (ASGI)                          worker thread (WSGI)
    ─────────────────                          ────────────────────
    await adapter(scope, receive, send)
      └─ run_in_executor(run_app) ───────────► environ = build_environ(scope, WsgiInput(...))
                                               result = wsgi_app(environ, start_response)
         receive()  ◄── run_coroutine_threadsafe ── wsgi.input.read(n) needs more bytes
         send(...)  ◄── run_coroutine_threadsafe ── for chunk in result: (one message per chunk)
                                               result.close()   (always)

Nothing is buffered: each ``http.request`` message reaches ``wsgi.input`` as it arrives, and each
chunk the app yields leaves as one ``http.response.body`` message with ``more_body=True``.

Spec: PEP 3333 (§environ Variables, §Input and Error Streams, §The start_response() Callable,
§Buffering and Streaming, §Error Handling) on the WSGI side; ASGI 3.0 HTTP & WebSocket spec 2.5
(§HTTP Connection Scope, §Request, §Response Start, §Response Body, §Disconnect) and Lifespan 2.0 on
the ASGI side.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
Environ = dict[str, Any]  # mutants: skip (given in the stub)
StartResponse = Callable[..., Callable[[bytes], None]]  # mutants: skip (given in the stub)
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]  # mutants: skip (given in the stub)


class ClientDisconnected(OSError):  # mutants: skip (given in the stub)
    """Raised into the WSGI app when the client has gone: by ``wsgi.input`` and by ``write()``."""


def call_in_loop(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` on ``loop`` (running in another thread) and wait here for its result."""
    return asyncio.run_coroutine_threadsafe(awaitable, loop).result()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# The request side: environ and wsgi.input
# ---------------------------------------------------------------------------------------------------


class WsgiInput:
    """``wsgi.input``: a blocking file-like object fed by ``receive()`` as the body arrives.

    Its methods run in the worker thread. When the bytes at hand do not answer a call, it asks the
    event loop for the next ``http.request`` message and *waits* for it: this is the one place where
    WSGI's blocking reads meet ASGI's events (PEP 3333 §Input and Error Streams).
    """

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        self._receive = receive
        self._loop = loop
        self._buffer = bytearray()  # received, not yet read by the app
        self._more = True  # false once the last http.request (more_body false) has arrived

    @property
    def complete(self) -> bool:
        """True once the last ``http.request`` message has arrived."""
        return not self._more

    def end(self) -> None:
        """Read no more messages: whatever comes next is not body (the caller knows there is none)."""
        self._more = False

    def _fill(self) -> bool:
        """Append the next message's body to the buffer; false at the end of the body."""
        if not self._more:
            return False
        message = call_in_loop(self._loop, self._receive())
        if message["type"] == "http.disconnect":
            self._more = False
            raise ClientDisconnected("the client went away before sending the whole body")
        self._buffer += message.get("body", b"")
        self._more = message.get("more_body", False)
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when ``size`` is -1 or None); ``b""`` at the end."""
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, ``b"\\n"`` included, even when it arrived split across several messages."""
        limit = None if size is None or size < 0 else size
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                length = end + 1
                break
            if limit is not None and len(self._buffer) >= limit:
                length = limit
                break
            if not self._fill():
                length = len(self._buffer)
                break
        if limit is not None:
            length = min(length, limit)
        return self._take(length)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> WsgiInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def build_environ(scope: Scope, wsgi_input: Any) -> Environ:
    """The PEP 3333 environ for an ASGI ``http`` scope (PEP 3333 §environ Variables).

    WSGI strings are "bytes in a str": every byte of the URL becomes one latin-1 character, so a
    request for ``/caf%C3%A9`` reaches the app as ``PATH_INFO == "/caf\\xc3\\xa9"`` (what Flask expects
    before it decodes ``/café``). ASGI's ``path`` is already text, so go back to the bytes: from
    ``raw_path`` when the server gives it (it keeps a non-UTF-8 ``%FF`` intact), else ``path`` in UTF-8.
    """
    raw_path = scope.get("raw_path")
    if raw_path is not None:
        path_bytes = unquote_to_bytes(bytes(raw_path))  # ASGI: the path only, no query string
    else:
        path_bytes = scope["path"].encode("utf-8")
    script_name = scope.get("root_path", "").encode("utf-8")
    # ASGI's path includes root_path; WSGI splits them: SCRIPT_NAME + PATH_INFO is the whole path.
    if script_name and path_bytes.startswith(script_name):
        path_bytes = path_bytes[len(script_name) :]

    server = scope.get("server")
    if server and server[1] is not None:
        server_name, server_port = server
    else:  # a Unix socket (no port) or no server given: PEP 3333 still needs both (as asgiref)
        server_name, server_port = "localhost", 80

    environ: Environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name.decode("latin-1"),
        "PATH_INFO": path_bytes.decode("latin-1"),
        "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin-1"),
        "SERVER_NAME": str(server_name),
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": wsgi_input,
        # The ASGI server has already taken the transfer framing away: wsgi.input ends where the
        # body ends, so even a chunked upload (no CONTENT_LENGTH) can be read to b"" (mod_wsgi's key).
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])

    for raw_name, raw_value in scope.get("headers", []):
        name = bytes(raw_name).decode("latin-1").upper().replace("-", "_")
        value = bytes(raw_value).decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        if key in environ:  # a repeated header: one comma-separated field (RFC 9110 §5.3)
            separator = "; " if key == "HTTP_COOKIE" else ", "  # cookies join with "; " (RFC 6265 §5.4)
            environ[key] += separator + value
        else:
            environ[key] = value
    return environ


# ---------------------------------------------------------------------------------------------------
# The response side: start_response, write() and the iterable, in the worker thread
# ---------------------------------------------------------------------------------------------------


class WsgiResponse:
    """``start_response`` and ``write`` for one request, turning them into ASGI messages.

    The status and headers wait until the first non-empty chunk (or the end of the body): until
    then the app may still replace them by calling ``start_response`` again with ``exc_info``
    (PEP 3333 §The start_response() Callable, §Error Handling).
    """

    def __init__(self, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        self._send = send
        self._loop = loop
        self.start: Message | None = None  # the http.response.start to send, once there is one
        self.started = False  # ... and whether it has gone out
        self.disconnected = threading.Event()  # set by the watcher when http.disconnect arrives

    def send(self, message: Message) -> None:
        if self.disconnected.is_set():
            # Some servers (uvicorn) silently drop what is sent after the client left: without
            # this check an endless stream would run forever for nobody.
            raise ClientDisconnected("the client went away")
        try:
            call_in_loop(self._loop, self._send(message))
        except OSError as exc:  # ASGI 2.4: send() raises OSError once the client has gone
            raise ClientDisconnected("the client went away") from exc

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.started:
                    # Too late to change the status: re-raise the app's error (PEP 3333 §Error Handling).
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # avoid a reference cycle through the traceback
        elif self.start is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        code = int(status.split(" ", 1)[0])
        self.start = {
            "type": "http.response.start",
            "status": code,
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        }
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: send ``data`` now, the head first if it has not gone."""
        if not data:
            return
        self.send_head()
        self.send({"type": "http.response.body", "body": bytes(data), "more_body": True})

    def send_head(self) -> None:
        if not self.started:
            if self.start is None:
                raise AssertionError("the WSGI app sent a body (or returned) without calling start_response()")
            self.started = True
            self.send(self.start)

    def finish(self) -> None:
        """The body is complete: send the head if it is still waiting, then the last (empty) message."""
        self.send_head()
        self.send({"type": "http.response.body", "body": b"", "more_body": False})


def has_body(scope: Scope) -> bool:
    """Does the request announce a body (RFC 9112 §6.3: Content-Length > 0, or Transfer-Encoding)?"""
    for name, value in scope.get("headers", []):
        name = bytes(name).lower()
        if name == b"transfer-encoding" or (name == b"content-length" and bytes(value).strip() not in (b"", b"0")):
            return True
    return False


async def watch_for_disconnect(receive: Receive, disconnected: threading.Event) -> None:
    """Wait for ``http.disconnect`` (ASGI HTTP §Disconnect) while the response streams out."""
    while (await receive())["type"] != "http.disconnect":
        pass
    disconnected.set()


# ---------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------


class WsgiToAsgi:
    """An ASGI app that runs ``wsgi_app`` in a pool of ``max_workers`` threads.

    ``http`` scopes run the WSGI app; ``lifespan`` is answered (there is nothing to start or
    stop); any other scope (``websocket``) is refused with ``ValueError``:
    WSGI has no way to speak it.
    """

    def __init__(self, wsgi_app: WSGIApp, max_workers: int = 8) -> None:
        self.wsgi_app = wsgi_app
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        # Created on first use, so an adapter that was closed (or never used) can serve again.
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="wsgi-to-asgi")
            return self._executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"a WSGI app cannot handle a {scope['type']!r} scope")
        loop = asyncio.get_running_loop()
        # The whole WSGI call, from environ to close(), runs in one worker thread; the loop waits
        # without blocking, and serves every other request meanwhile.
        await loop.run_in_executor(self._pool(), self.run_app, scope, receive, send, loop)

    def run_app(self, scope: Scope, receive: Receive, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        """Call the WSGI app for one request, in a worker thread (PEP 3333 §Specification Details)."""
        wsgi_input = WsgiInput(receive, loop)
        environ = build_environ(scope, wsgi_input)
        response = WsgiResponse(send, loop)
        watcher = None
        result = self.wsgi_app(environ, response.start_response)
        try:
            for chunk in result:
                if chunk:  # headers go out with the first non-empty chunk, not before
                    if watcher is None and (wsgi_input.complete or not has_body(scope)):
                        # The body is all in (or there is none): from now on receive() can only
                        # say http.disconnect, so a task on the loop may wait for it.
                        wsgi_input.end()
                        watcher = asyncio.run_coroutine_threadsafe(
                            watch_for_disconnect(receive, response.disconnected), loop
                        )
                    response.send_head()
                    # One message per chunk, at once: streaming, not buffering (PEP 3333 §Buffering).
                    response.send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
            response.finish()
        except ClientDisconnected:
            pass  # nobody is listening any more: stop iterating, and close() below
        finally:
            if watcher is not None:
                watcher.cancel()
            close = getattr(result, "close", None)
            if close is not None:
                close()  # always, whatever happened (PEP 3333: the server must call it)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI Lifespan 2.0: a WSGI app has nothing to start or stop; answer both."""
        while (event := await receive())["type"] != "lifespan.shutdown":
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    def close(self) -> None:
        """Shut the thread pool down, waiting for running calls; a later request starts a new pool."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown()
