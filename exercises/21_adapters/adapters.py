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

The pieces below are a suggested structure: the tests call only ``build_environ`` and ``WsgiToAsgi``
(its constructor, ``await adapter(scope, receive, send)`` and ``close()``).

Spec: PEP 3333 (§environ Variables, §Input and Error Streams, §The start_response() Callable,
§Buffering and Streaming, §Error Handling) on the WSGI side; ASGI 3.0 HTTP & WebSocket spec 2.5
(§HTTP Connection Scope, §Request, §Response Start, §Response Body, §Disconnect) and Lifespan 2.0 on
the ASGI side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class ClientDisconnected(OSError):
    """Raised into the WSGI app when the client has gone: by ``wsgi.input`` and by ``write()``."""


def call_in_loop(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` on ``loop`` (running in another thread) and wait here for its result.

    This is the bridge from the worker thread to the event loop:
    ``asyncio.run_coroutine_threadsafe(awaitable, loop).result()``. Never call it from the loop's
    own thread: it would wait for itself forever.
    """
    raise NotImplementedError("write call_in_loop() in adapters.py")


# ---------------------------------------------------------------------------------------------------
# The request side: environ and wsgi.input
# ---------------------------------------------------------------------------------------------------


class WsgiInput:
    """``wsgi.input``: a blocking file-like object fed by ``receive()`` as the body arrives.

    Its methods run in the worker thread. When the bytes at hand do not answer a call, it asks the
    event loop for the next ``http.request`` message (``call_in_loop(loop, receive())``) and *waits*
    for it; ``more_body`` false means the body has ended, and reads then return what is left, then
    ``b""``. An ``http.disconnect`` instead of a body message raises ``ClientDisconnected``.
    PEP 3333 §Input and Error Streams lists the methods: ``read(size)``, ``readline(size)``,
    ``readlines(hint)`` and ``__iter__`` (``read()`` without a size reads to the end).
    """

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        raise NotImplementedError("write WsgiInput.__init__() in adapters.py")

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when ``size`` is -1 or None); ``b""`` at the end.

        ``read(3)`` on a body sent as ``b"ab"`` then ``b"cdef"`` returns ``b"abc"``: gather bytes across
        messages until there are enough, or the body has ended."""
        raise NotImplementedError("write WsgiInput.read() in adapters.py")

    def readline(self, size: int | None = -1) -> bytes:
        """One line, ``b"\\n"`` included, even when it arrived split across several messages."""
        raise NotImplementedError("write WsgiInput.readline() in adapters.py")

    def readlines(self, hint: int = -1) -> list[bytes]:
        raise NotImplementedError("write WsgiInput.readlines() in adapters.py")

    def __iter__(self) -> WsgiInput:
        raise NotImplementedError("write WsgiInput.__iter__() in adapters.py")

    def __next__(self) -> bytes:
        """The next line; ``StopIteration`` at the end of the body."""
        raise NotImplementedError("write WsgiInput.__next__() in adapters.py")


def build_environ(scope: Scope, wsgi_input: Any) -> Environ:
    """The PEP 3333 environ for an ASGI ``http`` scope (PEP 3333 §environ Variables).

    - ``REQUEST_METHOD``; ``QUERY_STRING`` (the raw ``query_string`` bytes as latin-1);
      ``SERVER_NAME``/``SERVER_PORT`` from ``scope["server"]`` (strings); ``SERVER_PROTOCOL``
      (``"HTTP/1.1"``); ``REMOTE_ADDR``/``REMOTE_PORT`` from ``scope["client"]``.
    - ``SCRIPT_NAME`` and ``PATH_INFO``: ASGI's ``path`` *includes* ``root_path``; WSGI splits them.
      ``SCRIPT_NAME`` is ``root_path``, ``PATH_INFO`` the rest.
    - WSGI strings are "bytes in a str" (PEP 3333 §Unicode Issues): every byte of the URL becomes one
      latin-1 character, so a request for ``/caf%C3%A9`` reaches the app as ``"/caf\\xc3\\xa9"`` (Flask
      decodes that back to ``/café``). ASGI's ``path`` is already decoded text, so go back to bytes:
      ``urllib.parse.unquote_to_bytes(raw_path)`` when the server gives ``raw_path``, else
      ``path.encode("utf-8")``; then ``.decode("latin-1")``.
    - one ``HTTP_<NAME>`` key per request header (upper case, ``-`` becomes ``_``), except
      ``Content-Type`` and ``Content-Length``, which are ``CONTENT_TYPE`` and ``CONTENT_LENGTH``. A
      repeated header becomes one comma-separated value (RFC 9110 §5.3).
    - ``wsgi.version`` ``(1, 0)``, ``wsgi.url_scheme`` (the scope's ``scheme``), ``wsgi.input``,
      ``wsgi.errors`` (``sys.stderr``), ``wsgi.multithread`` True, ``wsgi.multiprocess`` False,
      ``wsgi.run_once`` False.
    - ``wsgi.input_terminated`` True: the server has already removed the transfer framing, so
      ``wsgi.input`` ends where the body ends; werkzeug (Flask) reads a body without
      ``CONTENT_LENGTH`` (a chunked upload) only when this key says so.
    """
    raise NotImplementedError("write build_environ() in adapters.py")


# ---------------------------------------------------------------------------------------------------
# The response side: start_response, write() and the iterable, in the worker thread
# ---------------------------------------------------------------------------------------------------


class WsgiResponse:
    """``start_response`` and ``write`` for one request, turning them into ASGI messages.

    ``start_response`` only *remembers* the status and headers (as an ``http.response.start``
    message: status an ``int``, header names lower-case bytes). The message goes out with the first
    non-empty chunk, or at the end of the body, never before (PEP 3333 §Buffering and Streaming):
    until then the app may still replace it by calling ``start_response`` again with ``exc_info``.
    """

    def __init__(self, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        raise NotImplementedError("write WsgiResponse.__init__() in adapters.py")

    def send(self, message: Message) -> None:
        """Send one ASGI message from the worker thread (``call_in_loop(loop, send(message))``)."""
        raise NotImplementedError("write WsgiResponse.send() in adapters.py")

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333 §The start_response() Callable, §Error Handling.

        - first call: remember the status (``"404 Not Found"`` -> ``404``) and headers; return ``write``.
        - with ``exc_info``, before anything was sent: replace them. After the head went out: it is
          too late, so ``raise exc_info[1].with_traceback(exc_info[2])``.
        - a second call *without* ``exc_info`` is a fatal error: raise.
        """
        raise NotImplementedError("write WsgiResponse.start_response() in adapters.py")

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: send ``data`` at once (the head first if it has not gone)."""
        raise NotImplementedError("write WsgiResponse.write() in adapters.py")

    def finish(self) -> None:
        """The body is complete: send the head if it is still waiting, then the last message
        (``more_body`` false)."""
        raise NotImplementedError("write WsgiResponse.finish() in adapters.py")


# ---------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------


class WsgiToAsgi:
    """An ASGI app that runs ``wsgi_app`` in a pool of ``max_workers`` threads.

    ``http`` scopes run the WSGI app; ``lifespan`` is answered (``lifespan.startup.complete``, then
    ``lifespan.shutdown.complete``: a WSGI app has nothing to start); any other scope (``websocket``)
    raises ``ValueError``: WSGI cannot speak it.
    """

    def __init__(self, wsgi_app: WSGIApp, max_workers: int = 8) -> None:
        """Keep the app; make (or plan to make) a ``concurrent.futures.ThreadPoolExecutor`` of
        ``max_workers`` threads: never more WSGI calls than that at once."""
        raise NotImplementedError("write WsgiToAsgi.__init__() in adapters.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``run_app`` in the pool and wait for it without blocking the loop:
        ``await loop.run_in_executor(pool, self.run_app, scope, receive, send, loop)``."""
        raise NotImplementedError("write WsgiToAsgi.__call__() in adapters.py")

    def run_app(self, scope: Scope, receive: Receive, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        """One WSGI call, in a worker thread (PEP 3333 §Specification Details).

        Build the environ, call the app, send each non-empty chunk of its iterable as its own
        ``http.response.body`` with ``more_body=True`` as soon as it comes, finish the body, and
        call the iterable's ``close()`` if it has one, *whatever happens* (``try``/``finally``).
        An exception from the app goes up to the ASGI server (which answers 500 if nothing was sent).

        When the client goes away mid-stream (``http.disconnect``, ASGI HTTP §Disconnect), stop
        iterating: once the body is all received (or there is none), a task on the loop may wait on
        ``receive()`` for ``http.disconnect`` and set a ``threading.Event`` you check before each send.
        """
        raise NotImplementedError("write WsgiToAsgi.run_app() in adapters.py")

    def close(self) -> None:
        """Shut the thread pool down, waiting for running calls (``executor.shutdown()``)."""
        raise NotImplementedError("write WsgiToAsgi.close() in adapters.py")
