"""Exercise 16, the app side — startup and shutdown handlers over the ASGI lifespan protocol.

A server calls an app with a ``"lifespan"`` scope once, for as long as the server runs. The app
loops on ``receive()``: ``lifespan.startup`` means "get ready" (open the database pool, load the
model), ``lifespan.shutdown`` means "clean up". It answers each with ``...complete`` or
``...failed``. Whatever startup puts in ``scope["state"]`` reaches every request scope as a copy::

    app = LifespanApp(http_app)

    @app.on_startup
    async def open_pool(state):
        state["pool"] = await create_pool()

    @app.on_shutdown
    async def close_pool(state):
        await state["pool"].close()

    async def http_app(scope, receive, send):
        pool = scope["state"]["pool"]
        ...

Spec: ASGI Lifespan 2.0 (§Scope, §Startup, §Startup Complete, §Startup Failed, §Shutdown,
§Shutdown Complete, §Shutdown Failed, §Lifespan State).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[dict[str, Any]], Any]
"""A startup or shutdown handler: ``handler(state)``, a plain function or a coroutine function."""


@dataclass
class Phase:
    """One of the two lifespan events: its handlers, how to answer, and whether to stop at a failure."""

    event: str
    """The event that starts the phase: ``"lifespan.startup"`` or ``"lifespan.shutdown"``."""
    stop_at_first_failure: bool
    """Startup stops at the first failure (later handlers may need what it failed to make); shutdown
    runs every handler anyway, so one failed clean-up does not leave the others undone."""
    handlers: list[Handler] = field(default_factory=list)

    async def run(self, state: dict[str, Any]) -> list[BaseException]:
        """Call the handlers in order with ``state``; return the exceptions they raised."""
        failures: list[BaseException] = []
        for handler in self.handlers:
            try:
                result = handler(state)
                if inspect.isawaitable(result):  # a coroutine function, or a plain one returning an awaitable
                    await result
            except Exception as exc:
                failures.append(exc)
                if self.stop_at_first_failure:
                    break
        return failures


def describe(failures: list[BaseException]) -> str:
    """A ``...failed`` message that says what went wrong: ``"ConnectionRefusedError: the database is down"``."""
    return "; ".join(f"{type(exc).__name__}: {exc}" for exc in failures)


class LifespanApp:
    """Wraps an ASGI app: ``http`` and ``websocket`` scopes go to it, ``lifespan`` is handled here."""

    def __init__(self, app: ASGIApp | None = None) -> None:
        """``app`` answers the ``http`` (and ``websocket``) scopes; without one, requests get a 404."""
        self.app: ASGIApp = app if app is not None else no_app
        self.phases = {
            "lifespan.startup": Phase("lifespan.startup", stop_at_first_failure=True),
            "lifespan.shutdown": Phase("lifespan.shutdown", stop_at_first_failure=False),
        }

    def on_startup(self, handler: Handler) -> Handler:
        """Decorator: run ``handler(state)`` at startup, after the handlers registered before it."""
        self.phases["lifespan.startup"].handlers.append(handler)
        return handler  # unchanged, so the decorated name still is the function

    def on_shutdown(self, handler: Handler) -> Handler:
        """Decorator: run ``handler(state)`` at shutdown, in the order registered."""
        self.phases["lifespan.shutdown"].handlers.append(handler)
        return handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: ``lifespan`` scopes go to ``self.lifespan()``, the others to the wrapped app."""
        handle = self.lifespan if scope["type"] == "lifespan" else self.app
        await handle(scope, receive, send)

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The lifespan loop: answer each event, return after ``lifespan.shutdown`` is answered.

        Each event runs its ``Phase`` on ``scope["state"]`` (a fresh dict if the server sent none:
        the same one for both events) and answers ``<event>.complete``, or ``<event>.failed`` with a
        message naming every error, then re-raises (the first error, or all of them as an
        ``ExceptionGroup``), as Starlette does.
        """
        state = scope.get("state")
        if state is None:
            state = {}
        while True:
            message = await receive()
            phase = self.phases.get(message["type"])
            if phase is None:
                continue  # not an event of Lifespan 2.0: nothing to answer
            failures = await phase.run(state)
            if failures:
                await send({"type": f"{phase.event}.failed", "message": describe(failures)})
                if len(failures) == 1:
                    raise failures[0]
                raise ExceptionGroup(f"{len(failures)} {phase.event} handlers failed", failures)
            await send({"type": f"{phase.event}.complete"})
            if phase.event == "lifespan.shutdown":
                return


async def no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Stand-in for a missing wrapped app: a 404 for a request, a refused handshake for a WebSocket."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1000})  # before accept: the client sees a 403
        return
    await not_found(scope, receive, send)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """What a LifespanApp without a wrapped app answers to a request (given)."""
    body = b"Not Found"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})
