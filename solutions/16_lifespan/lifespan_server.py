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

LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}  # mutants: skip (given in the stub)


class LifespanStartupFailed(RuntimeError):  # mutants: skip (given in the stub)
    """The app answered ``lifespan.startup.failed``: the server must not serve. ``str()`` is its message."""


class Lifespan:
    """One ``lifespan`` call of the app, run in a task, driven by ``startup()`` and ``shutdown()``.

    ``receive()`` hands the app the events the server puts in a queue; ``send()`` wakes whichever of
    ``startup()`` or ``shutdown()`` waits for the answer.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app  # mutants: skip (given in the stub)
        self.state = state  # mutants: skip (given in the stub)
        self.supported = True  # mutants: skip (given in the stub)
        """False once the app showed it does not speak lifespan: then nothing more is sent to it."""
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._answers: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None]  # the app's lifespan call: startup() makes it, and always runs first

    def scope(self) -> dict[str, Any]:  # mutants: skip (given in the stub)
        """The lifespan scope (§Scope): type, asgi, and the ``state`` dict that requests get copies of."""
        return {"type": "lifespan", "asgi": dict(LIFESPAN_ASGI), "state": self.state}

    async def startup(self) -> None:
        """Start the app's lifespan call and send ``lifespan.startup``; return when it completed.

        Raises ``LifespanStartupFailed`` on ``lifespan.startup.failed``. If the app raises or returns
        before answering, it does not support lifespan: note it and return, the server goes on.
        """
        self._task = asyncio.ensure_future(self._run_app())
        answer = await self._ask({"type": "lifespan.startup"})
        if answer["type"] == "lifespan.startup.failed":
            raise LifespanStartupFailed(answer.get("message", "") or "the app's lifespan startup failed")
        if answer["type"] != "lifespan.startup.complete":
            self.supported = False
            print("lifespan_server: the app does not support lifespan; serving without it", file=sys.stderr)

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the answer (a failure is printed, not raised: the
        server is stopping anyway). Nothing is sent to an app that does not support lifespan."""
        if self.supported and not self._task.done():
            answer = await self._ask({"type": "lifespan.shutdown"})
            if answer["type"] == "lifespan.shutdown.failed":
                print(f"lifespan_server: the app's lifespan shutdown failed: {answer.get('message', '')}", file=sys.stderr)
        # The app's lifespan call should return after shutdown.complete; do not wait for it forever.
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout=2)
        self._task.cancel()

    async def _ask(self, event: Message) -> Message:
        """Put ``event`` in the app's queue; wait for its answer, or for the app's call to end."""
        await self._events.put(event)
        answer = asyncio.ensure_future(self._answers.get())
        await asyncio.wait([answer, self._task], return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        return {"type": "lifespan.ended"}  # the app returned or raised without answering

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope(), self._receive, self._send)
        except Exception as exc:
            # Before startup completed this is how an app says "no lifespan here" (§Scope). After a
            # .failed answer it is the app re-raising its own error: it was already reported.
            if self.supported:
                print(f"lifespan_server: the app raised in its lifespan call: {exc!r}", file=sys.stderr)

    async def _receive(self) -> Message:
        return await self._events.get()

    async def _send(self, message: Message) -> None:
        # The app's answer (...complete or ...failed): startup() or shutdown() is waiting for it.
        await self._answers.put(message)


class Server:
    """``Server(app, host, port)`` as in exercise 15, with the app's lifespan around the serving.

    ``started`` is set once the server accepts connections (after the lifespan startup).
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:  # mutants: skip (given in the stub)
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

    def serve_forever(self) -> None:  # mutants: skip (given in the stub)
        """Serve until ``shutdown()``; raises ``LifespanStartupFailed`` if the app's startup failed."""
        asyncio.run(self.serve())

    async def serve(self) -> None:
        """Lifespan startup, then accept connections until asked to stop, then close the connections,
        then lifespan shutdown. On ``LifespanStartupFailed``: close the socket and raise, serving nothing."""
        self.prepare()
        try:
            lifespan = Lifespan(self.app, state={})
            try:
                await lifespan.startup()  # before accepting: requests may rely on what startup made
            except LifespanStartupFailed:
                self.socket.close()
                raise
            self.state = lifespan.state
            listener = await self.accept_connections()
            try:
                await self.wait_until_stopping()
            finally:
                listener.close()
                await self.close_connections()
            await lifespan.shutdown()  # after the last connection: requests may still need the resources
        finally:
            self._stopped.set()

    # -------- given: the machinery of exercise 15's Server --------------------------------------------

    def prepare(self) -> None:  # mutants: skip (given in the stub)
        """Remember the loop and thread, so that ``shutdown()`` can reach them from any thread."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            self._serving_thread = threading.current_thread()
            self._stopped.clear()
            if self._stop_requested:
                self._stopping.set()

    async def accept_connections(self) -> asyncio.AbstractServer:  # mutants: skip (given in the stub)
        """Start accepting on the bound socket; sets ``started``. Close the result to stop accepting."""
        listener = await asyncio.start_server(self._on_connection, sock=self.socket)
        self.started.set()
        return listener

    async def wait_until_stopping(self) -> None:  # mutants: skip (given in the stub)
        assert self._stopping is not None
        await self._stopping.wait()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # mutants: skip (given in the stub)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await serve_connection(self.app, reader, writer, state=self.state, stopping=self._stopping)
        finally:
            self._connections.discard(task)

    async def close_connections(self, grace: float = 3.0) -> None:  # mutants: skip (given in the stub)
        """Idle connections close at once; busy ones get ``grace`` seconds to finish, then are cancelled."""
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=grace)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=grace)

    def shutdown(self) -> None:  # mutants: skip (given in the stub)
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

    def server_close(self) -> None:  # mutants: skip (given in the stub)
        self.socket.close()


# ---------------------------------------------------------------------------------------------------
# The command line: python -m lifespan_server module:app --port 8000
# ---------------------------------------------------------------------------------------------------


def import_app(spec: str) -> ASGIApp:  # mutants: skip (given in the stub)
    """``"package.module:attribute"`` -> the object, the way uvicorn and gunicorn name an app."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise SystemExit(f"lifespan_server: expected module:attribute, got {spec!r}")
    app: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        app = getattr(app, name)
    return app


def run(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:  # mutants: skip (given in the stub)
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


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
    parser = argparse.ArgumentParser(prog="python -m lifespan_server", description="Serve an ASGI app, with lifespan.")
    parser.add_argument("app", help="the app to serve, as module:attribute (e.g. myapp:app)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    args = parser.parse_args(argv)
    sys.path.insert(0, ".")
    run(import_app(args.app), args.host, args.port)


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
