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

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[dict[str, Any]], Any]
"""A startup or shutdown handler: ``handler(state)``, a plain function or a coroutine function."""


class LifespanApp:
    """Wraps an ASGI app: ``http`` and ``websocket`` scopes go to it, ``lifespan`` is handled here."""

    def __init__(self, app: ASGIApp | None = None) -> None:
        """``app`` answers the ``http`` (and ``websocket``) scopes; without one, requests get a 404."""
        raise NotImplementedError("write LifespanApp.__init__() in lifespan.py")

    def on_startup(self, handler: Handler) -> Handler:
        """Decorator: run ``handler(state)`` at startup, after the handlers registered before it.

        Return ``handler`` itself, so the decorated name still is the function.
        """
        raise NotImplementedError("write LifespanApp.on_startup() in lifespan.py")

    def on_shutdown(self, handler: Handler) -> Handler:
        """Decorator: run ``handler(state)`` at shutdown, in the order registered."""
        raise NotImplementedError("write LifespanApp.on_shutdown() in lifespan.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: ``lifespan`` scopes go to ``self.lifespan()``, the others to the wrapped app."""
        raise NotImplementedError("write LifespanApp.__call__() in lifespan.py")

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The lifespan loop: answer each event, return after ``lifespan.shutdown`` is answered.

        - ``lifespan.startup``: call each startup handler with ``scope["state"]`` (a fresh dict if the
          server sent none), awaiting those that return an awaitable; then send
          ``{"type": "lifespan.startup.complete"}`` (§Startup Complete).
        - ``lifespan.shutdown``: the same with the shutdown handlers, then
          ``{"type": "lifespan.shutdown.complete"}`` (§Shutdown Complete), and return.
        - A handler raises: send ``{"type": "lifespan.startup.failed", "message": ...}`` (or
          ``shutdown.failed``) with a message that says what went wrong, then re-raise, as Starlette
          does: a server reads the message, a test manager (asgi-lifespan) sees the exception.
        """
        raise NotImplementedError("write LifespanApp.lifespan() in lifespan.py")


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """What a LifespanApp without a wrapped app answers to a request (given)."""
    body = b"Not Found"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})
