"""Exercise 21 (an alternative solution) — run a WSGI app under ASGI, streaming both ways.

The obvious bridge lets the worker thread call ``receive()`` and ``send()`` itself through
``asyncio.run_coroutine_threadsafe``. This one keeps **every ASGI call on the loop, in the task the
server gave the app**, and lets the worker thread touch only thread-safe structures::

    event loop: the app's own task                      worker thread (WSGI)
    ──────────────────────────────                      ────────────────────
    reader task: receive() ──feed──►  _BodyBuffer  ◄──read── wsgi.input.read(n)
        (reads ahead up to HIGH_WATER bytes, then waits; after the body, it waits for
         http.disconnect and marks the buffer ``gone``)
    pump: send(message)  ◄──────────  _Outbox  ◄───post──── start_response / write / the iterable
        (each posted message is acknowledged through a concurrent Future, so the thread
         streams at the pace the server takes the chunks, and learns of a failed send)

Other choices that differ from the obvious ones, all allowed by PEP 3333 and ASGI:

- ``SERVER_PROTOCOL`` follows the scope's ``http_version`` (PEP 3333: "the version of the protocol
  the client used"), repeated ``Cookie`` fields join with ``"; "`` (RFC 6265 §5.4), and header names
  with ``_`` are dropped (they would be indistinguishable from ``-`` in ``HTTP_*`` keys);
- the thread pool is made on first use, and shut down at lifespan shutdown (remade if needed).

Spec: PEP 3333 (§environ Variables, §Unicode Issues, §Input and Error Streams, §The start_response()
Callable, §Buffering and Streaming, §Error Handling), ASGI 3.0 HTTP 2.4 and Lifespan 2.0.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

HIGH_WATER = 64 * 1024
"""Request-body bytes the loop reads ahead of the WSGI app before it waits for the app to catch up."""
ACK_POLL = 0.5
"""Seconds between checks, while a worker waits for a send, that the loop is still there."""


class ClientDisconnected(OSError):
    """Raised into the WSGI app when the client has gone: by ``wsgi.input`` and by ``write()``."""


# ---------------------------------------------------------------------------------------------------
# The request side: a buffer the loop fills and the worker drains
# ---------------------------------------------------------------------------------------------------


class _BodyBuffer:
    """The request body between the two worlds. ``feed``/``disconnect`` run on the loop; ``take``
    runs in the worker thread and blocks until it can answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._cond = threading.Condition()
        self._data = bytearray()
        self._scanned = 0  # bytes of _data already searched for b"\n" (no quadratic rescans)
        self.ended = False  # the last http.request message (more_body false) has arrived
        self._hungry = False  # the worker is blocked waiting for bytes: read on, whatever the mark
        self.gone = threading.Event()  # the client left (or the request was abandoned)
        self.wants_more = asyncio.Event()  # the reader may call receive(); cleared above HIGH_WATER
        self.wants_more.set()

    # --- loop side ---------------------------------------------------------------------------------

    def feed(self, chunk: bytes, more_body: bool) -> None:
        with self._cond:
            if self.ended:
                return
            self._data += chunk
            self.ended = not more_body
            if len(self._data) >= HIGH_WATER and not self.ended and not self._hungry:
                self.wants_more.clear()  # enough buffered: let the client wait (backpressure)
            self._cond.notify_all()

    def disconnect(self) -> None:
        with self._cond:
            self.gone.set()
            self._cond.notify_all()

    # --- worker side -------------------------------------------------------------------------------

    def take(self, size: int, *, line: bool = False) -> bytes:
        """Up to ``size`` bytes (``size < 0``: until the end), or up to a newline when ``line``."""
        with self._cond:
            while True:
                cut = self._cut(size, line)
                if cut is not None:
                    break
                if self.gone.is_set():
                    raise ClientDisconnected("the client left before the request body was complete")
                # This call needs more than the buffer holds (read() to the end, a long line):
                # the high-water mark must not stop the reader now, or both sides would wait.
                self._hungry = True
                self._resume()
                self._cond.wait()
            self._hungry = False
            taken = bytes(self._data[:cut])
            del self._data[:cut]
            self._scanned = 0
            if len(self._data) < HIGH_WATER:
                self._resume()
            return taken

    def _resume(self) -> None:
        if not self.wants_more.is_set():
            self._loop.call_soon_threadsafe(self.wants_more.set)

    def _cut(self, size: int, line: bool) -> int | None:
        """How many bytes answer the call now, or ``None`` if it must wait for more."""
        have = len(self._data)
        if line:
            newline = self._data.find(b"\n", self._scanned)
            if newline >= 0:
                end = newline + 1
                return end if size < 0 else min(end, size)
            self._scanned = have
        if 0 <= size <= have:
            return size
        return have if self.ended else None


class WsgiInput:
    """``wsgi.input`` (PEP 3333 §Input and Error Streams): blocking reads over the body buffer."""

    def __init__(self, buffer: _BodyBuffer) -> None:
        self._buffer = buffer

    def read(self, size: int | None = -1) -> bytes:
        return self._buffer.take(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._buffer.take(-1 if size is None else size, line=True)

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


async def _read_requests(receive: Receive, buffer: _BodyBuffer) -> None:
    """Feed the buffer from ``receive()`` as the body arrives; afterwards, watch for the client leaving."""
    try:
        while True:
            await buffer.wants_more.wait()
            message = await receive()
            if message["type"] == "http.request":
                buffer.feed(bytes(message.get("body", b"")), bool(message.get("more_body", False)))
            elif message["type"] == "http.disconnect":
                return  # ASGI HTTP §Disconnect
    finally:
        buffer.disconnect()  # also when cancelled or failing: a blocked read must not wait forever


def _header_text(value: bytes) -> str:
    return bytes(value).decode("latin-1")


def build_environ(scope: Scope, wsgi_input: Any) -> Environ:
    """The PEP 3333 environ for an ASGI ``http`` scope (PEP 3333 §environ Variables)."""
    root_path = scope.get("root_path", "")
    scheme = scope.get("scheme", "http")
    environ: Environ = {
        "REQUEST_METHOD": scope["method"].upper(),
        "SCRIPT_NAME": root_path.encode("utf-8").decode("latin-1"),
        "PATH_INFO": _path_info(scope),
        "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": wsgi_input,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        # The server has removed the transfer framing: the stream ends where the body ends.
        "wsgi.input_terminated": True,
    }
    server = scope.get("server")
    if server and server[1] is not None:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = str(server[0]), str(server[1])
    else:  # a Unix socket, or no server at all: name the host the client asked for
        host = next((_header_text(v) for k, v in scope.get("headers", []) if bytes(k).lower() == b"host"), "localhost")
        name, colon, port = host.rpartition(":")
        if not colon or not port.isdigit():  # no port (an IPv6 literal has colons of its own)
            name, port = host, "443" if scheme == "https" else "80"
        environ["SERVER_NAME"], environ["SERVER_PORT"] = name, port
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        if client[1] is not None:
            environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", []):
        name = _header_text(raw_name).lower()
        if "_" in name:
            continue  # x_user would pose as x-user in HTTP_X_USER: drop it (as nginx and gunicorn do)
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = _header_text(raw_value)
        if key in environ:
            # RFC 9110 §5.3 joins repeats with a comma; a Cookie list uses "; " (RFC 6265 §5.4).
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + value
        environ[key] = value
    return environ


def _path_info(scope: Scope) -> str:
    """PATH_INFO: the path's *bytes* after the root path, one latin-1 character each (§Unicode Issues)."""
    root_path = scope.get("root_path", "")
    path = scope["path"]  # decoded text, root_path included (ASGI HTTP §HTTP Connection Scope)
    rest = path[len(root_path):] if root_path and path.startswith(root_path) else path
    raw_path = scope.get("raw_path")
    if raw_path:
        # raw_path holds the bytes that came in: with the root path (most servers) or without it
        # (a proxy that stripped it). Use whichever agrees with `path`; a middleware that rewrote
        # `path` without raw_path wins, and then the text is all there is.
        received = unquote_to_bytes(bytes(raw_path).decode("latin-1"))
        root = root_path.encode("utf-8")
        for candidate in (received[len(root):] if root and received.startswith(root) else None, received):
            if candidate is not None and candidate.decode("utf-8", "replace") == rest:
                return candidate.decode("latin-1")
    return rest.encode("utf-8").decode("latin-1")


# ---------------------------------------------------------------------------------------------------
# The response side: messages posted from the worker, sent by the app's task
# ---------------------------------------------------------------------------------------------------


class _Outbox:
    """Messages from the worker thread to the loop, each acknowledged once ``send()`` returned."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[tuple[Message, concurrent.futures.Future[None]]] = asyncio.Queue()
        self._closed = False  # touched on the loop only

    # --- worker side -------------------------------------------------------------------------------

    def post(self, message: Message) -> None:
        """Hand ``message`` to the loop and wait until it is sent (or has failed)."""
        ack: concurrent.futures.Future[None] = concurrent.futures.Future()
        try:
            self._loop.call_soon_threadsafe(self._accept, message, ack)
        except RuntimeError:  # the loop is closed: the server has gone
            raise ClientDisconnected("the ASGI server's event loop has closed") from None
        while True:
            try:
                return ack.result(ACK_POLL)
            except concurrent.futures.TimeoutError:
                # A loop that closes with our callback still queued never answers: do not hang.
                if self._loop.is_closed():
                    raise ClientDisconnected("the ASGI server's event loop has closed") from None

    # --- loop side ---------------------------------------------------------------------------------

    def _accept(self, message: Message, ack: concurrent.futures.Future[None]) -> None:
        if self._closed:
            ack.set_exception(ClientDisconnected("the request is over: nothing more can be sent"))
        else:
            self._queue.put_nowait((message, ack))

    async def get(self) -> tuple[Message, concurrent.futures.Future[None]]:
        return await self._queue.get()

    def close(self) -> None:
        self._closed = True
        while not self._queue.empty():
            _, ack = self._queue.get_nowait()
            ack.set_exception(ClientDisconnected("the request is over: nothing more can be sent"))


class WsgiResponse:
    """``start_response`` and ``write`` for one request, turned into posted ASGI messages.

    The head waits for the first non-empty chunk (PEP 3333 §Buffering and Streaming), so that
    ``start_response(..., exc_info)`` can still replace it until then.
    """

    def __init__(self, outbox: _Outbox, gone: threading.Event) -> None:
        self._outbox = outbox
        self._gone = gone
        self._head: Message | None = None
        self.head_sent = False

    def send(self, message: Message) -> None:
        if self._gone.is_set():
            raise ClientDisconnected("the client has gone")
        self._outbox.post(message)

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])  # PEP 3333 §Error Handling
            finally:
                exc_info = None  # break the frame <-> traceback cycle
        elif self._head is not None:
            raise RuntimeError("start_response() called a second time without exc_info (PEP 3333)")
        self._head = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        }
        return self.write

    def _send_head(self) -> None:
        if self._head is None:
            raise RuntimeError("the WSGI app produced its body before calling start_response()")
        if not self.head_sent:
            self.send(self._head)
            self.head_sent = True

    def write(self, data: bytes) -> None:
        if data:
            self._send_head()
            self.send({"type": "http.response.body", "body": bytes(data), "more_body": True})

    def finish(self) -> None:
        self._send_head()
        self.send({"type": "http.response.body", "body": b"", "more_body": False})


# ---------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------


class WsgiToAsgi:
    """An ASGI app that runs ``wsgi_app`` in a pool of at most ``max_workers`` threads."""

    def __init__(self, wsgi_app: WSGIApp, max_workers: int = 8) -> None:
        self.wsgi_app = wsgi_app
        self.max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="wsgi")
            return self._pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            raise ValueError(f"a WSGI app cannot speak {scope['type']!r}: WsgiToAsgi serves HTTP only")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})  # a WSGI app has nothing to start
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.close)  # let running calls finish, off the loop
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        buffer = _BodyBuffer(loop)
        outbox = _Outbox(loop)
        reader = asyncio.ensure_future(_read_requests(receive, buffer))
        worker = loop.run_in_executor(self._executor(), self._run_app, scope, buffer, outbox)
        getter: asyncio.Future[Any] | None = None
        try:
            # The pump: send what the worker posts, until the worker is done.
            while True:
                getter = getter or asyncio.ensure_future(outbox.get())
                await asyncio.wait({getter, worker}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    message, ack = getter.result()
                    getter = None
                    try:
                        await send(message)
                    except OSError as exc:  # ASGI HTTP 2.4: send() on a disconnected client
                        buffer.disconnect()
                        ack.set_exception(ClientDisconnected(str(exc)))
                    except BaseException as exc:
                        ack.set_exception(exc if isinstance(exc, Exception) else ClientDisconnected("cancelled"))
                        raise
                    else:
                        ack.set_result(None)
                elif worker.done():
                    break  # (the worker waits for each ack, so nothing is left in the outbox)
        finally:
            if getter is not None:
                getter.cancel()
            outbox.close()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        worker.result()  # the app's own exception goes up to the server

    def _run_app(self, scope: Scope, buffer: _BodyBuffer, outbox: _Outbox) -> None:
        """One WSGI call, in a worker thread (PEP 3333 §Specification Details)."""
        response = WsgiResponse(outbox, buffer.gone)
        environ = build_environ(scope, WsgiInput(buffer))
        try:
            result = self.wsgi_app(environ, response.start_response)
        except ClientDisconnected:
            return  # the app stopped because the client left: not an error
        try:
            for chunk in result:
                if buffer.gone.is_set():
                    return  # the client left mid-stream: stop producing
                response.write(chunk)
            if not buffer.gone.is_set():
                response.finish()
        except ClientDisconnected:
            return
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # PEP 3333: whatever happened

    def close(self) -> None:
        """Shut the thread pool down, waiting for running calls. A later request makes a new pool."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
