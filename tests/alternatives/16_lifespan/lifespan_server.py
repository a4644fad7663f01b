"""Exercise 16, the server side — add the lifespan protocol to an ASGI server.

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

This is the driver only, sans-IO: ``lifespan_serving.py`` (given) runs ``serve_with_lifespan`` around
the exercise-15 server's ``serve()``.

Spec: ASGI Lifespan 2.0 (§Scope, §Startup, §Startup Complete, §Startup Failed, §Shutdown, §Shutdown
Complete, §Shutdown Failed, §Lifespan State).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Serve = Callable[[dict[str, Any] | None], Awaitable[None]]

LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}


class LifespanStartupFailed(RuntimeError):
    """The app answered ``lifespan.startup.failed``: the server must not serve. ``str()`` is its message."""


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

    def __init__(self, app: ASGIApp, state: dict[str, Any], *, shutdown_timeout: float = 5.0) -> None:
        self.app = app
        self.state = state
        self.supported = True
        """False once the app showed it does not speak lifespan: then nothing more is sent to it."""
        self.shutdown_timeout = shutdown_timeout
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

    async def _ask(self, event: Message) -> Message | CallEnded:
        """Put ``event`` for the app and wait for its answer (or learn that its call ended)."""
        self._answer = asyncio.get_running_loop().create_future()
        self._events.put_nowait(event)
        return await asyncio.shield(self._answer)  # a cancelled wait must not cancel the future itself

    async def _cancel_call(self) -> None:
        """Cancel what is left of the app's call and wait until it has ended: nothing outlives the server."""
        task = self._task
        if task is not None and not task.done():
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
        await self._cancel_call()
        if kind == "lifespan.startup.failed":
            raise LifespanStartupFailed(str(answer.get("message", "")))
        raise LifespanStartupFailed(f"the app answered lifespan.startup with {kind!r}")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown``, wait for ``...complete`` and for the call to return (§Shutdown).

        All within one ``shutdown_timeout`` deadline (``asyncio.timeout``): a server asked to stop
        must stop. Nothing is sent to an app that does not support lifespan, or whose call ended.
        """
        task = self._task
        answer: Message | CallEnded | None = None
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                if self.supported and task is not None and not task.done():
                    answer = await self._ask({"type": "lifespan.shutdown"})
                    self._report(answer)
                if task is not None:
                    await asyncio.wait({task})  # it usually returns right after its answer
        except TimeoutError:
            if answer is None and self.supported:
                say(f"the app did not answer lifespan.shutdown within {self.shutdown_timeout:g} s: cancelling it")
        finally:
            await self._cancel_call()

    @staticmethod
    def _report(answer: Message | CallEnded) -> None:
        if isinstance(answer, CallEnded):
            say(f"the lifespan call {answer} instead of answering lifespan.shutdown")
        elif answer.get("type") == "lifespan.shutdown.failed":
            say(f"the app's lifespan shutdown failed: {answer.get('message', '')}")
        elif answer.get("type") != "lifespan.shutdown.complete":
            say(f"the app answered lifespan.shutdown with {answer.get('type')!r}")


async def serve_with_lifespan(app: ASGIApp, serve: Serve) -> None:
    """``async with Lifespan(...)``: the startup on entry, the shutdown on exit, whatever ends the serving.

    A failed startup raises from ``__aenter__``, so the body (``serve``) never runs and no shutdown is sent.
    """
    async with Lifespan(app, {}) as lifespan:
        await serve(lifespan.state if lifespan.supported else None)
