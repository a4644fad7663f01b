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
from typing import Any

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]  # mutants: skip (given in the stub)
Handler = Callable[[dict[str, Any]], Any]  # mutants: skip (given in the stub)
"""A startup or shutdown handler: ``handler(state)``, a plain function or a coroutine function."""


class LifespanApp:
    """Wraps an ASGI app: ``http`` and ``websocket`` scopes go to it, ``lifespan`` is handled here."""

    def __init__(self, app: ASGIApp | None = None) -> None:
        self.app = app
        self.startup_handlers: list[Handler] = []
        self.shutdown_handlers: list[Handler] = []

    def on_startup(self, handler: Handler) -> Handler:
        """Decorator: run ``handler(state)`` at startup, after the handlers registered before it."""
        self.startup_handlers.append(handler)
        return handler  # a decorator that returns the function keeps its name usable (and stackable)

    def on_shutdown(self, handler: Handler) -> Handler:
        """Decorator: run ``handler(state)`` at shutdown, in the order registered."""
        self.shutdown_handlers.append(handler)
        return handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)
        else:
            await not_found(scope, receive, send)

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The lifespan loop: answer each event, return after ``lifespan.shutdown`` is answered.

        A failing handler is answered with ``...failed`` and its message, then re-raised, as Starlette
        does: a server reads the message, and a test manager (asgi-lifespan) sees the exception.
        """
        # A server without state support sends no "state": the handlers still get a dict to use,
        # it just reaches no request.
        state = scope.get("state")
        if state is None:
            state = {}
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await run_handlers(self.startup_handlers, state)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": describe(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await run_handlers(self.shutdown_handlers, state)
                except Exception as exc:
                    await send({"type": "lifespan.shutdown.failed", "message": describe(exc)})
                    raise
                await send({"type": "lifespan.shutdown.complete"})
                return


async def run_handlers(handlers: list[Handler], state: dict[str, Any]) -> None:
    """Call each handler with ``state`` in order; await the ones that return an awaitable."""
    for handler in handlers:
        result = handler(state)
        if inspect.isawaitable(result):
            await result


def describe(exc: BaseException) -> str:
    """The message of a ``...failed`` event: what went wrong, in one line."""
    return f"{type(exc).__name__}: {exc}"


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:  # mutants: skip (given in the stub)
    """What a LifespanApp without an inner app answers to a request."""
    body = b"Not Found"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})
