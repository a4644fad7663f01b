"""Exercise 16, the server side — add the lifespan protocol to an ASGI server.

Before a server accepts its first connection it calls the app once more, with a scope of type
``"lifespan"`` that lasts as long as the server runs. Through that one call's ``receive``/``send``
the server says "starting" and "stopping", and the app answers "done" or "failed"::

    server                                   app(scope={"type": "lifespan", "state": {}}, ...)
    receive() -> {"type": "lifespan.startup"}      connects to the database, fills state
             <- {"type": "lifespan.startup.complete"}   (or .failed, with a message)
    ... accept connections; every request scope gets a shallow copy of state ...
    receive() -> {"type": "lifespan.shutdown"}     closes the database
             <- {"type": "lifespan.shutdown.complete"}  (or .failed)

An app that does not support lifespan raises (or returns) when it sees the scope: the server then
simply carries on without it (ASGI Lifespan 2.0 §Scope).

The HTTP half of the server is given (``lifespan_http.py``, exercise 15's reference). You write
the ``Lifespan`` class and the order of things in ``Server.serve()``.

Spec: ASGI Lifespan 2.0 (§Scope, §Startup, §Startup Complete, §Startup Failed, §Shutdown, §Shutdown
Complete, §Shutdown Failed, §Lifespan State).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import socket
import sys
import threading
from typing import Any

from lifespan_http import ASGIApp, Message, serve_connection

LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}


class LifespanStartupFailed(RuntimeError):
    """The app answered ``lifespan.startup.failed``: the server must not serve. ``str()`` is its message."""


class Lifespan:
    """One ``lifespan`` call of the app, run in a task, driven by ``startup()`` and ``shutdown()``.

    How the two sides talk: the app's call is ``app(self.scope(), receive, send)`` running in its own
    task (it lasts as long as the server). Its ``receive()`` hands out the events the server puts in an
    ``asyncio.Queue``; its ``send()`` puts the app's answers where ``startup()``/``shutdown()`` wait
    for them. Add whatever attributes you need.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.supported = True
        """False once the app showed it does not speak lifespan: then nothing more is sent to it."""

    def scope(self) -> dict[str, Any]:
        """The lifespan scope (§Scope): type, asgi, and the ``state`` dict that requests get copies of."""
        return {"type": "lifespan", "asgi": dict(LIFESPAN_ASGI), "state": self.state}

    async def startup(self) -> None:
        """Start the app's lifespan call and send ``{"type": "lifespan.startup"}``; return once the app
        answers ``lifespan.startup.complete`` (§Startup, §Startup Complete).

        - ``lifespan.startup.failed``: raise ``LifespanStartupFailed(message)`` (§Startup Failed: the
          server prints the message and exits).
        - The call raises, or returns, before answering: the app does not support lifespan (§Scope:
          "the server must continue but not send any lifespan events"). Set ``supported`` to False,
          print a line saying so, and return normally.
        """
        raise NotImplementedError("write Lifespan.startup() in lifespan_server.py")

    async def shutdown(self) -> None:
        """Send ``{"type": "lifespan.shutdown"}`` and wait for ``lifespan.shutdown.complete`` (§Shutdown).

        ``lifespan.shutdown.failed``: print its message (the server is stopping anyway). Send nothing
        to an app that does not support lifespan. Then let the app's call end (wait a moment, then
        cancel the task): nothing may outlive the server.
        """
        raise NotImplementedError("write Lifespan.shutdown() in lifespan_server.py")


class Server:
    """``Server(app, host, port)`` as in exercise 15, with the app's lifespan around the serving.

    ``started`` is set once the server accepts connections (after the lifespan startup).
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.app = app
        self.socket = socket.create_server((host, port))
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.state: dict[str, Any] | None = None
        self.started = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = False
        self._serving_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._connections: set[asyncio.Task[Any]] = set()

    def serve_forever(self) -> None:
        """Serve until ``shutdown()``; raises ``LifespanStartupFailed`` if the app's startup failed."""
        asyncio.run(self.serve())

    async def serve(self) -> None:
        """Run the lifespan around the serving, in this order (ASGI Lifespan §Startup, §Shutdown):

        1. ``self.prepare()``, so that ``shutdown()`` can reach this loop from another thread;
        2. the lifespan startup, with a fresh state dict, *before* accepting connections: requests may
           rely on what startup made. On ``LifespanStartupFailed``: close ``self.socket`` and re-raise;
        3. ``self.state = `` the lifespan state (every request gets a shallow copy of it);
        4. ``listener = await self.accept_connections()``, ``await self.wait_until_stopping()``;
        5. ``listener.close()``, ``await self.close_connections()``;
        6. the lifespan shutdown, *after* the last connection closed: requests may still need the
           resources that shutdown releases.

        Whatever happens, end with ``self._stopped.set()`` (``shutdown()`` waits for it).
        """
        raise NotImplementedError("write Server.serve() in lifespan_server.py")

    # -------- given: the machinery of exercise 15's Server --------------------------------------------

    def prepare(self) -> None:
        """Remember the loop and thread, so that ``shutdown()`` can reach them from any thread."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            self._serving_thread = threading.current_thread()
            self._stopped.clear()
            if self._stop_requested:
                self._stopping.set()

    async def accept_connections(self) -> asyncio.AbstractServer:
        """Start accepting on the bound socket; sets ``started``. Close the result to stop accepting."""
        listener = await asyncio.start_server(self._on_connection, sock=self.socket)
        self.started.set()
        return listener

    async def wait_until_stopping(self) -> None:
        assert self._stopping is not None
        await self._stopping.wait()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await serve_connection(self.app, reader, writer, state=self.state, stopping=self._stopping)
        finally:
            self._connections.discard(task)

    async def close_connections(self, grace: float = 3.0) -> None:
        """Idle connections close at once; busy ones get ``grace`` seconds to finish, then are cancelled."""
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=grace)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=grace)

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to stop; from another thread, also wait until it has."""
        with self._lock:
            self._stop_requested = True
            loop, stopping, thread = self._loop, self._stopping, self._serving_thread
        if loop is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stopping.set)
        if threading.current_thread() is not thread:
            self._stopped.wait(10)

    def server_close(self) -> None:
        self.socket.close()


# ---------------------------------------------------------------------------------------------------
# The command line: python -m lifespan_server module:app --port 8000
# ---------------------------------------------------------------------------------------------------


def import_app(spec: str) -> ASGIApp:
    """``"package.module:attribute"`` -> the object, the way uvicorn and gunicorn name an app."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise SystemExit(f"lifespan_server: expected module:attribute, got {spec!r}")
    app: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        app = getattr(app, name)
    return app


def run(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM; exit with status 3 (as uvicorn does) if startup fails."""
    server = Server(app, host, port)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.shutdown())
    bound_host, bound_port = server.server_address
    print(f"lifespan_server: starting on http://{bound_host}:{bound_port} (press Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except LifespanStartupFailed as exc:
        print(f"lifespan_server: the app's lifespan startup failed: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(3) from None
    finally:
        server.server_close()
    print("lifespan_server: stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lifespan_server", description="Serve an ASGI app, with lifespan.")
    parser.add_argument("app", help="the app to serve, as module:attribute (e.g. myapp:app)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    args = parser.parse_args(argv)
    sys.path.insert(0, ".")
    run(import_app(args.app), args.host, args.port)


if __name__ == "__main__":
    main()
