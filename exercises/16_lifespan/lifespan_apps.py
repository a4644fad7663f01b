"""The probe apps of the server-side tests: your ``Lifespan`` drives them, your server serves them.

They speak the lifespan protocol by hand, without your ``lifespan.py``, so that the server-side tests
grade only the server side; each server test runs them under uvicorn first, to prove the test.
``SEEN`` collects what they observed, in order (the server runs in a thread of the test process, so
the test reads it directly). You never edit this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


class Seen:
    """What the apps saw, in order, with a way to wait for an entry."""

    def __init__(self) -> None:
        self.entries: list[Any] = []
        self.changed = threading.Condition()

    def add(self, entry: Any) -> None:
        with self.changed:
            self.entries.append(entry)
            self.changed.notify_all()

    def clear(self) -> None:
        with self.changed:
            self.entries.clear()

    def wait_for(self, entry: Any, timeout: float) -> bool:
        """Wait until ``entry`` has been added; false if it was not within ``timeout`` seconds."""
        with self.changed:
            return self.changed.wait_for(lambda: entry in self.entries, timeout)


SEEN = Seen()
STARTUP_GATE = threading.Event()
"""``gated_startup_app`` does not finish its startup until a test sets this."""


async def respond(send: Any, body: bytes, status: int = 200, content_type: bytes = b"text/plain") -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def state_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Startup puts a greeting in the state; requests answer with it. /leak also writes to its state."""
    if scope["type"] == "lifespan":
        SEEN.add(("lifespan scope", scope.get("type"), dict(scope.get("asgi", {})), type(scope.get("state")).__name__))
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "hello from startup"
                SEEN.add("startup")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                SEEN.add("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                SEEN.add("shutdown complete sent")  # the server took the answer without raising
                return
    elif scope["type"] == "http":
        state = scope.get("state", {})
        SEEN.add("request")
        leaked = "written by a request" in state
        if scope["path"] == "/leak":
            state["written by a request"] = True
        await respond(send, f"{state.get('greeting')}; leaked={leaked}".encode())


async def slow_request_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Requests take half a second; startup and shutdown are recorded in SEEN between them."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                SEEN.add("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        SEEN.add("request started")
        await asyncio.sleep(0.5)  # the work: the server is asked to stop while this request runs
        SEEN.add("request done")
        await respond(send, b"done")


async def gated_startup_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Startup waits for STARTUP_GATE; requests record themselves. A server that serves too early shows."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                SEEN.add("startup began")
                while not STARTUP_GATE.is_set():
                    await asyncio.sleep(0.01)
                SEEN.add("startup done")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                SEEN.add("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        SEEN.add("request")
        await respond(send, b"served")


async def listener_probe_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A request that stays in flight while the server stops, trying new connections to the server's
    own port meanwhile: it answers (and records) ``refused`` once one is refused, ``still accepting``
    if none was within two seconds."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        SEEN.add("request started")
        host, port = scope["server"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2
        result = "still accepting"
        while loop.time() < deadline:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
            except (OSError, asyncio.TimeoutError):
                result = "refused"
                break
            writer.close()
            await asyncio.sleep(0.02)
        SEEN.add(result)
        await respond(send, result.encode())


FAILURE_MESSAGE = "the database is down (on purpose)"


async def failing_startup_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers lifespan.startup with lifespan.startup.failed: the server must not serve."""
    if scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.failed", "message": FAILURE_MESSAGE})
        return
    SEEN.add("request")
    await respond(send, b"should never be served")


SHUTDOWN_FAILURE_MESSAGE = "could not flush the cache (on purpose)"


async def failing_shutdown_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Starts fine; answers lifespan.shutdown with lifespan.shutdown.failed and a message."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.failed", "message": SHUTDOWN_FAILURE_MESSAGE})
                return
    elif scope["type"] == "http":
        await respond(send, b"served")


async def lingering_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """After lifespan.shutdown.complete its lifespan call still takes a moment (0.1 s) to return."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                await asyncio.sleep(0.1)  # the last of the cleanup
                SEEN.add("lifespan call returned")
                return
    elif scope["type"] == "http":
        await respond(send, b"served")


async def answers_then_hangs_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers lifespan.shutdown.complete, then its call never returns (a cleanup thread it waits on is stuck)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    SEEN.add("lifespan call cancelled")
                    raise
    elif scope["type"] == "http":
        await respond(send, b"served")


async def silent_shutdown_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Starts fine, then never answers lifespan.shutdown: its call waits until it is cancelled."""
    if scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        try:
            await receive()  # lifespan.shutdown, which it never answers
            await asyncio.Event().wait()  # hung, the way a cleanup stuck on a dead database is
        except asyncio.CancelledError:
            SEEN.add("lifespan call cancelled")
            raise
    elif scope["type"] == "http":
        await respond(send, b"served")


async def no_lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that supports HTTP only and says so the usual way: it raises on any other scope."""
    assert scope["type"] == "http", "this app only speaks HTTP"
    await respond(send, b"served without lifespan")


async def returns_on_lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Another HTTP-only app: it returns at once on any other scope."""
    if scope["type"] != "http":
        return
    await respond(send, b"served without lifespan")


# ----------------------------------------------------------------- a Starlette app with a lifespan


@contextlib.asynccontextmanager
async def starlette_lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    SEEN.add("starlette startup")
    yield {"greeting": "hello from a Starlette lifespan", "started": True}  # becomes request.state
    SEEN.add("starlette shutdown")


async def starlette_home(request: Request) -> JSONResponse:
    return JSONResponse({"greeting": request.state.greeting, "started": request.state.started})


async def starlette_plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("plain")


starlette_app = Starlette(
    routes=[Route("/", starlette_home), Route("/plain", starlette_plain)],
    lifespan=starlette_lifespan,
)
