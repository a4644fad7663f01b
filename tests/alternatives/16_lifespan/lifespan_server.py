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


SHUTDOWN_TIMEOUT = 5.0
"""Seconds the app gets to answer ``lifespan.shutdown``: a server asked to stop must stop."""

END_TIMEOUT = 1.0
"""Seconds the app's lifespan call gets to return once answered, before it is cancelled."""


def say(text: str) -> None:
    """One line of diagnostics, on stderr where a process manager keeps them."""
    print(f"lifespan_server: {text}", file=sys.stderr, flush=True)


class CallEnded:
    """What ``send()``'s place holds when the app's lifespan call ended without answering."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def __str__(self) -> str:
        return "returned" if self.error is None else f"raised {type(self.error).__name__}: {self.error}"


class Lifespan:
    """One ``lifespan`` call of the app, run in a task, driven by ``startup()`` and ``shutdown()``.

    The server's events wait in an ``asyncio.Queue`` for the app's ``receive()``. Each answer the
    server waits for is a *future*: the app's ``send()`` resolves it, or, if the call ends first, the
    task's wrapper does (with a ``CallEnded``), so one ``await`` covers both outcomes.

    Also an async context manager: ``async with Lifespan(app, state):`` runs the startup on entry
    and the shutdown on exit, so whatever happens while serving, the shutdown is not forgotten.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.supported = True
        """False once the app showed it does not speak lifespan: then nothing more is sent to it."""
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._answer: asyncio.Future[Message | CallEnded] | None = None
        self._task: asyncio.Task[None] | None = None

    def scope(self) -> dict[str, Any]:
        """The lifespan scope (§Scope): type, asgi, and the ``state`` dict that requests get copies of."""
        return {"type": "lifespan", "asgi": dict(LIFESPAN_ASGI), "state": self.state}

    async def __aenter__(self) -> Lifespan:
        await self.startup()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # --- the app's side of the call ------------------------------------------------------------

    async def _receive(self) -> Message:
        return await self._events.get()

    async def _send(self, message: Message) -> None:
        if self._answer is None or self._answer.done():
            say(f"ignoring a lifespan message nobody asked for: {message.get('type')!r}")
            return
        self._answer.set_result(message)

    async def _call(self) -> None:
        """The app's lifespan call; when it ends, whoever waits for an answer learns it never comes."""
        error: BaseException | None = None
        try:
            await self.app(self.scope(), self._receive, self._send)
        except Exception as exc:  # not CancelledError: that is us ending the call
            error = exc
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(CallEnded(error))
        elif error is not None and self.supported:
            # It answered first, then raised (as Starlette re-raises after a ...failed): already told.
            say(f"the lifespan call raised after answering: {type(error).__name__}: {error}")

    async def _ask(self, event: Message, timeout: float | None = None) -> Message | CallEnded | None:
        """Put ``event`` for the app and wait for its answer; ``None`` if ``timeout`` passed first."""
        self._answer = asyncio.get_running_loop().create_future()
        self._events.put_nowait(event)
        try:
            return await asyncio.wait_for(asyncio.shield(self._answer), timeout)
        except asyncio.TimeoutError:
            return None

    async def _end_call(self) -> None:
        """Let the app's call return by itself for a moment, then cancel it: nothing outlives the server."""
        task = self._task
        if task is None:
            return
        if not task.done():
            await asyncio.wait({task}, timeout=END_TIMEOUT)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- the server's side -----------------------------------------------------------------------

    async def startup(self) -> None:
        """Start the app's call and send ``lifespan.startup``; return once it answered ``...complete``.

        ``...failed`` raises ``LifespanStartupFailed(message)``; a call that ends without an answer
        means the app does not support lifespan: ``supported`` becomes False and serving goes on.
        """
        self._task = asyncio.create_task(self._call(), name="lifespan")
        answer = await self._ask({"type": "lifespan.startup"})
        if isinstance(answer, CallEnded):
            self.supported = False
            say(f"the app does not support lifespan (its lifespan call {answer}): serving without it")
            return
        assert answer is not None  # no timeout: a startup may legitimately take long (migrations...)
        kind = answer.get("type")
        if kind == "lifespan.startup.complete":
            return
        await self._end_call()
        if kind == "lifespan.startup.failed":
            raise LifespanStartupFailed(str(answer.get("message", "")))
        raise LifespanStartupFailed(f"the app answered lifespan.startup with {kind!r}")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for ``...complete`` (§Shutdown); say so if it failed.

        Nothing is sent to an app that does not support lifespan, or whose call already ended.
        Either way the call is then ended.
        """
        try:
            if self.supported and self._task is not None and not self._task.done():
                answer = await self._ask({"type": "lifespan.shutdown"}, timeout=SHUTDOWN_TIMEOUT)
                if answer is None:
                    say(f"the app did not answer lifespan.shutdown within {SHUTDOWN_TIMEOUT:g} s")
                elif isinstance(answer, CallEnded):
                    say(f"the lifespan call {answer} instead of answering lifespan.shutdown")
                elif answer.get("type") == "lifespan.shutdown.failed":
                    say(f"the app's lifespan shutdown failed: {answer.get('message', '')}")
                elif answer.get("type") != "lifespan.shutdown.complete":
                    say(f"the app answered lifespan.shutdown with {answer.get('type')!r}")
        finally:
            await self._end_call()


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
        """Run the lifespan around the serving, in this order (ASGI Lifespan §Startup, §Shutdown).

        ``async with Lifespan(...)`` does the startup before the listener opens (requests may rely
        on what it made) and the shutdown after the last connection closed (requests may still use
        what it releases). A failed startup closes the socket, so that nobody can even connect.
        """
        try:
            self.prepare()
            try:
                lifespan = Lifespan(self.app, {})
                async with lifespan:
                    self.state = lifespan.state
                    listener = await self.accept_connections()
                    try:
                        await self.wait_until_stopping()
                    finally:
                        listener.close()
                        await self.close_connections()
            except LifespanStartupFailed:
                self.socket.close()
                raise
        finally:
            self._stopped.set()

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
