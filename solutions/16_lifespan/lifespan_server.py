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

This file is the lifespan driver, sans-IO: ``Lifespan`` talks to the app's lifespan call, and
``serve_with_lifespan(app, serve)`` puts startup, serving and shutdown in order around any
``serve``. ``lifespan_serving.py`` (given) runs it around the exercise-15 server.

Spec: ASGI Lifespan 2.0 (§Scope, §Startup, §Startup Complete, §Startup Failed, §Shutdown, §Shutdown
Complete, §Shutdown Failed, §Lifespan State).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]  # mutants: skip (given in the stub)
Serve = Callable[[dict[str, Any] | None], Awaitable[None]]  # mutants: skip (given in the stub)
"""``serve(state)``: serves HTTP with that lifespan state (``None``: the app has no lifespan) until told to stop."""

LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}  # mutants: skip (given in the stub)


class LifespanStartupFailed(RuntimeError):  # mutants: skip (given in the stub)
    """The app answered ``lifespan.startup.failed``: the server must not serve. ``str()`` is its message."""


def log(text: str) -> None:
    """One line for whoever runs the server: on stderr, where a process manager keeps diagnostics."""
    print(f"lifespan: {text}", file=sys.stderr, flush=True)


class Lifespan:
    """One ``lifespan`` call of the app, run in a task, driven by ``startup()`` and ``shutdown()``.

    ``receive()`` hands the app the events the server puts in a queue; ``send()`` puts its answers in
    another, where ``startup()`` or ``shutdown()`` waits for them.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any], *, shutdown_timeout: float = 5.0) -> None:
        self.app = app  # mutants: skip (given in the stub)
        self.state = state  # mutants: skip (given in the stub)
        self.supported = True  # mutants: skip (given in the stub)
        """False once the app showed it does not speak lifespan: then nothing more is sent to it."""
        self.shutdown_timeout = shutdown_timeout  # mutants: skip (given in the stub)
        """Seconds ``shutdown()`` may take in all: a server asked to stop must stop, answer or not."""
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._answers: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None]  # the app's lifespan call: startup() makes it, and always runs first

    def scope(self) -> dict[str, Any]:  # mutants: skip (given in the stub)
        """The lifespan scope (§Scope): type, asgi, and the ``state`` dict that requests get copies of."""
        return {"type": "lifespan", "asgi": dict(LIFESPAN_ASGI), "state": self.state}

    async def startup(self) -> None:
        """Start the app's lifespan call and send ``lifespan.startup``; return when it completed.

        Raises ``LifespanStartupFailed`` on ``lifespan.startup.failed``. If the app raises or returns
        before answering, it does not support lifespan: note it and return, the server goes on. No
        time limit: a startup may be slow on purpose (migrations), and serving early would be wrong.
        """
        self._task = asyncio.ensure_future(self._run_app())
        answer = await self._ask({"type": "lifespan.startup"})
        if answer is None:
            self.supported = False
            log("the app does not support lifespan; serving without it")
        elif answer["type"] == "lifespan.startup.failed":
            raise LifespanStartupFailed(answer.get("message", "") or "the app's lifespan startup failed")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the answer, then for the call to end; within
        ``shutdown_timeout`` seconds in all, after which the call is cancelled. A failure is printed,
        not raised: the server is stopping anyway. Nothing is sent to an app without lifespan."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        if self.supported:  # a call that already ended answers nothing: _ask() sees that at once
            answer = await self._ask({"type": "lifespan.shutdown"}, timeout=self.shutdown_timeout)
            if answer is None:
                log(f"the app did not answer lifespan.shutdown (waited up to {self.shutdown_timeout:g} s)")
            elif answer["type"] == "lifespan.shutdown.failed":
                log(f"the app's lifespan shutdown failed: {answer.get('message', '')}")
        # The call usually returns right after its answer (an app may still close a pool first):
        # give it the rest of the time, then cancel it, so that nothing outlives the server.
        await asyncio.wait([self._task], timeout=max(0.0, deadline - loop.time()))
        self._task.cancel()

    async def _ask(self, event: Message, timeout: float | None = None) -> Message | None:
        """Put ``event`` in the app's queue; return its answer, or ``None`` when the call ended first
        (or ``timeout`` seconds passed)."""
        await self._events.put(event)
        answer = asyncio.ensure_future(self._answers.get())
        await asyncio.wait([answer, self._task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        return None

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope(), self._events.get, self._answers.put)
        except Exception as exc:
            # Before any answer this is how an app says "no lifespan here" (§Scope); after a .failed
            # answer it is the app re-raising its own error (as Starlette does). Say which error.
            log(f"the app raised in its lifespan call: {exc!r}")


async def serve_with_lifespan(app: ASGIApp, serve: Serve) -> None:
    """Startup, then ``serve(state)``, then shutdown, also when serving raised or was cancelled.

    A failed startup raises ``LifespanStartupFailed`` before anything is served.
    """
    lifespan = Lifespan(app, {})
    await lifespan.startup()  # before serving: requests may rely on what startup made
    try:
        await serve(lifespan.state if lifespan.supported else None)
    finally:
        await lifespan.shutdown()  # after serving: requests in flight may still need the resources
