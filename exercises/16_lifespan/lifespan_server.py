"""Exercise 16, the server side — drive an app's lifespan, around the server you built in exercise 15.

Before a server accepts its first connection it calls the app once more, with a scope of type
``"lifespan"`` that lasts as long as the server runs. Through that one call's ``receive``/``send``
the server says "starting" and "stopping", and the app answers "done" or "failed"::

    server                                   app(scope={"type": "lifespan", "state": {}}, ...)
    receive() -> {"type": "lifespan.startup"}      connects to the database, fills state
             <- {"type": "lifespan.startup.complete"}   (or .failed, with a message)
    ... serve HTTP; every request scope gets a shallow copy of state ...
    receive() -> {"type": "lifespan.shutdown"}     closes the database
             <- {"type": "lifespan.shutdown.complete"}  (or .failed)

An app that does not support lifespan raises (or returns) when it sees the scope: the server then
simply carries on without it (ASGI Lifespan 2.0 §Scope).

This file is the lifespan *driver*, and it knows nothing about sockets (sans-IO, the way h11 knows
nothing about them either): ``Lifespan`` talks to the app's lifespan call, and
``serve_with_lifespan(app, serve)`` puts startup, serving and shutdown in order around ``serve``,
whatever ``serve`` is. The tests grade it with a fake ``serve`` that only records what it was given.

The network half is yours already: ``lifespan_serving.py`` (given, you do not edit it) makes
``Server``, a subclass of your exercise-15 ``asgi_server.Server``, whose ``serve()`` is::

    await serve_with_lifespan(self.app, serve)    # serve(state): self.state = state, then your
                                                  # exercise-15 serve(), which copies the state
                                                  # into every request scope

Spec: ASGI Lifespan 2.0 (§Scope, §Startup, §Startup Complete, §Startup Failed, §Shutdown, §Shutdown
Complete, §Shutdown Failed, §Lifespan State).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Serve = Callable[[dict[str, Any] | None], Awaitable[None]]
"""``serve(state)``: serves HTTP with that lifespan state (``None``: the app has no lifespan) until told to stop."""

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

    def __init__(self, app: ASGIApp, state: dict[str, Any], *, shutdown_timeout: float = 5.0) -> None:
        self.app = app
        self.state = state
        self.supported = True
        """False once the app showed it does not speak lifespan: then nothing more is sent to it."""
        self.shutdown_timeout = shutdown_timeout
        """Seconds ``shutdown()`` may take in all: a server asked to stop must stop, answer or not."""

    def scope(self) -> dict[str, Any]:
        """The lifespan scope (§Scope): type, asgi, and the ``state`` dict that requests get copies of."""
        return {"type": "lifespan", "asgi": dict(LIFESPAN_ASGI), "state": self.state}

    async def startup(self) -> None:
        """Start the app's lifespan call and send ``{"type": "lifespan.startup"}``; return once the app
        answers ``lifespan.startup.complete`` (§Startup, §Startup Complete). Wait as long as that takes:
        a startup may legitimately be slow (migrations, loading a model), and uvicorn waits too.

        - ``lifespan.startup.failed``: raise ``LifespanStartupFailed(message)`` (§Startup Failed: the
          server prints the message and exits).
        - The call raises, or returns, before answering: the app does not support lifespan (§Scope:
          "the server must continue but not send any lifespan events"). Set ``supported`` to False,
          print a line saying so, and return normally.
        """
        raise NotImplementedError("write Lifespan.startup() in lifespan_server.py")

    async def shutdown(self) -> None:
        """Send ``{"type": "lifespan.shutdown"}`` and wait for ``lifespan.shutdown.complete`` (§Shutdown).

        - ``lifespan.shutdown.failed``: print its message (the server is stopping anyway: do not raise).
        - Send nothing to an app that does not support lifespan.
        - Then let the app's call end: it may need a moment after its answer to return by itself, so
          wait for it, then cancel the task if it still runs. Nothing may outlive the server.
        - An app that never answers, or whose call never returns: all of this takes at most about
          ``shutdown_timeout`` seconds; then print a line saying the app did not answer, and cancel.
        """
        raise NotImplementedError("write Lifespan.shutdown() in lifespan_server.py")


async def serve_with_lifespan(app: ASGIApp, serve: Serve) -> None:
    """Run ``app``'s lifespan around ``await serve(state)``, in this order (§Startup, §Shutdown):

    1. the startup (a ``Lifespan`` with a fresh state dict), *before* serving: requests may rely on
       what startup made. On ``LifespanStartupFailed`` never call ``serve``: let the exception out;
    2. ``await serve(state)``: ``state`` is the lifespan's state dict (the one the app filled), or
       ``None`` when the app does not support lifespan (its requests then get no ``"state"`` at all);
    3. the shutdown, only *after* ``serve`` returned: requests may still need the resources that
       shutdown releases. Also when ``serve`` raised or was cancelled (the server stops either way):
       run the shutdown, then let ``serve``'s exception out.
    """
    raise NotImplementedError("write serve_with_lifespan() in lifespan_server.py")
