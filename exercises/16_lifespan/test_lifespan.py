"""Exercise 16 is graded from both sides of the lifespan protocol, in three parts.

- The app side (``lifespan.py``) runs under ``asgi_lifespan.LifespanManager`` (the manager test
  suites use), under a hand-driven lifespan call that shows every message, and under uvicorn with
  ``lifespan="on"``.
- The lifespan driver (``lifespan_server.py``: ``Lifespan`` and ``serve_with_lifespan``) is sans-IO:
  it meets probe apps that speak lifespan by hand and a fake ``serve(state)``, no socket, and never
  your exercise 15, so these tests grade whatever state exercise 15 is in.
- The whole server (``lifespan_serving.Server``, given: your exercise-15 ``asgi_server.Server`` with
  your ``serve_with_lifespan`` around its ``serve()``) serves the probe apps and a Starlette app.
  These need your exercise 15: when it is missing, unfinished or does not import, they fail with
  one sentence that says so. Every one that uvicorn can run runs against uvicorn first (the
  ``[uvicorn]`` cases): they prove the test, and are not graded.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
from asgi_lifespan import LifespanManager

import lifespan
import lifespan_apps as apps
import lifespan_server
from testkit.asgi_spec import ServerChecks
from testkit.prerequisites import PrerequisiteMissing, earlier, finished
from testkit.serving import CLIENT_TIMEOUT, HOST, STOP_TIMEOUT, python_argv, uvicorn_serving, wait_until
from lifespan_apps import SEEN

T = TypeVar("T")


def run_async(make: Callable[[], Awaitable[T]], *, what: str, timeout: float = 5.0) -> T:
    """Run a coroutine on a fresh loop; one that never finishes fails in seconds, in words."""

    async def bounded() -> T:
        try:
            return await asyncio.wait_for(make(), timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"{what} was still waiting after {timeout:g} s")

    return asyncio.run(bounded())


WATCHED: list[ServerChecks] = []


@pytest.fixture(autouse=True)
def fresh_watch() -> Iterator[None]:
    WATCHED.clear()
    yield
    WATCHED.clear()


def watched(app: Any, what: str = "your lifespan driver") -> ServerChecks:
    """``app`` inside :class:`ServerChecks`: the scope and every ``receive()`` message your driver (or
    server) hands it are checked against the ASGI spec (the lifespan scope's ``asgi`` and ``state``;
    ``lifespan.startup`` once, then ``lifespan.shutdown`` once; each HTTP scope and message)."""
    checks = ServerChecks(app, what=what, send_after_end=True)
    WATCHED.append(checks)
    return checks


def raise_what_the_checks_saw() -> None:
    """The first violation any watched app recorded in this test, as the test's failure."""
    for checks in WATCHED:
        checks.raise_first()


# ============================================================================ the app side: lifespan.py


def recording_app(log: list[str]) -> lifespan.LifespanApp:
    """A LifespanApp with two startup and two shutdown handlers (sync and async), all recorded in ``log``."""

    async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        greeting = scope.get("state", {}).get("greeting", "no state")
        body = greeting.encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    app = lifespan.LifespanApp(http_app)

    @app.on_startup
    async def connect(state: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        state["greeting"] = "hello from startup"
        log.append("startup: connect")

    @app.on_startup
    def warm_cache(state: dict[str, Any]) -> None:
        log.append("startup: warm cache")

    @app.on_shutdown
    def flush(state: dict[str, Any]) -> None:
        log.append("shutdown: flush")

    @app.on_shutdown
    async def disconnect(state: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        log.append(f"shutdown: disconnect ({state.get('greeting')})")

    return app


class LifespanCall:
    """Drives one lifespan call of an app by hand, the way a server does, and shows every message."""

    def __init__(self, app: Any, scope: dict[str, Any]) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.ensure_future(app(scope, self.inbox.get, self.outbox.put))

    async def ask(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Send ``event``; return the app's answer, or ``None`` if its call ended without one."""
        await self.inbox.put(event)
        answer = asyncio.ensure_future(self.outbox.get())
        await asyncio.wait([answer, self.task], return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        error = self.task.exception()
        if isinstance(error, NotImplementedError):
            raise error
        return None

    async def ended(self, timeout: float = 3.0) -> bool:
        """Did the app's lifespan call end (return or raise) within ``timeout`` seconds?"""
        done, _ = await asyncio.wait([self.task], timeout=timeout)
        if not done:
            self.task.cancel()
        return bool(done)

    def error(self) -> BaseException | None:
        """What the ended call raised (``None``: it returned, or has not ended)."""
        if not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()


def lifespan_scope(state: dict[str, Any]) -> dict[str, Any]:
    return {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}


@pytest.mark.spec("ASGI Lifespan §Startup, §Startup Complete")
def test_startup_handlers_run_in_order_on_startup() -> None:
    log: list[str] = []
    app = recording_app(log)

    async def go() -> list[str]:
        async with LifespanManager(app, startup_timeout=3, shutdown_timeout=3):
            return list(log)

    during = run_async(go, what="the LifespanManager around your LifespanApp")
    assert during == ["startup: connect", "startup: warm cache"], (
        f"expected both startup handlers to have run, in the order registered, once startup completed; got {during!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown, §Shutdown Complete")
def test_shutdown_handlers_run_in_order_on_shutdown() -> None:
    log: list[str] = []
    app = recording_app(log)

    async def go() -> tuple[list[str], list[str]]:
        async with LifespanManager(app, startup_timeout=3, shutdown_timeout=3):
            before = list(log)
        return before, list(log)

    before, after = run_async(go, what="the LifespanManager around your LifespanApp")
    assert not any(entry.startswith("shutdown") for entry in before), f"expected no shutdown handler before shutdown, got {before!r}"
    expected = ["shutdown: flush", "shutdown: disconnect (hello from startup)"]
    assert after[2:] == expected, (
        f"expected the shutdown handlers in the order registered, with the startup state, got {after[2:]!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Lifespan State")
def test_requests_see_the_state_startup_made() -> None:
    app = recording_app([])

    async def go() -> str:
        async with LifespanManager(app, startup_timeout=3, shutdown_timeout=3) as manager:
            transport = httpx.ASGITransport(app=manager.app)  # manager.app puts the state in each scope
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return (await client.get("/")).text

    text = run_async(go, what="a request to your LifespanApp")
    assert text == "hello from startup", (
        f"expected the request to read 'hello from startup' from scope['state'], got {text!r}: "
        "pass scope['state'] of the lifespan scope to the handlers"
    )


@pytest.mark.spec("Python decorators: the stub's on_startup/on_shutdown docstrings")
def test_the_decorators_give_back_the_handler() -> None:
    app = lifespan.LifespanApp()

    def connect(state: dict[str, Any]) -> None:
        pass

    async def disconnect(state: dict[str, Any]) -> None:
        pass

    got = (app.on_startup(connect), app.on_shutdown(disconnect))
    assert got == (connect, disconnect), (
        f"expected on_startup(handler) and on_shutdown(handler) to return the handler itself, got {got!r}: "
        "a decorator that returns None leaves the decorated name bound to None"
    )


@pytest.mark.spec("ASGI Lifespan §Scope (state is optional: a server may send none)")
def test_handlers_get_a_dict_when_the_server_sends_no_state() -> None:
    app = lifespan.LifespanApp()
    seen: list[Any] = []

    @app.on_startup
    def connect(state: dict[str, Any]) -> None:
        seen.append(type(state).__name__)
        state["pool"] = "connected"

    async def go() -> Any:
        call = LifespanCall(app, {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}})
        started = await call.ask({"type": "lifespan.startup"})
        await call.ask({"type": "lifespan.shutdown"})
        await call.ended()
        return started

    started = run_async(go, what="your LifespanApp's lifespan call")
    assert started == {"type": "lifespan.startup.complete"} and seen == ["dict"], (
        f"expected the startup handler to get a fresh dict when the scope has no 'state' (an older server), and "
        f"startup to complete; the handler got {seen!r} and the app answered {started!r}"
    )


@pytest.mark.spec("ASGI HTTP (a LifespanApp without an app answers 404)")
def test_requests_without_a_wrapped_app_get_404() -> None:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=lifespan.LifespanApp())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/")

    try:
        response = run_async(go, what="a request to a LifespanApp without an app")
    except Exception as exc:
        pytest.fail(f"expected a LifespanApp() without an app to answer a request with 404, but it failed: {exc!r}")
    assert response.status_code == 404, f"expected 404 Not Found from LifespanApp() without an app, got {response.status_code}"


@pytest.mark.spec("ASGI HTTP (requests pass through)")
def test_requests_pass_through_to_the_wrapped_app() -> None:
    app = recording_app([])

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.get("/")

    response = run_async(go, what="a request to your LifespanApp")
    assert (response.status_code, response.text) == (200, "no state"), (
        f"expected the wrapped app's answer (200 'no state'), got {response.status_code} {response.text!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Startup Complete, §Shutdown Complete")
def test_answers_each_lifespan_event() -> None:
    async def go() -> tuple[Any, Any, bool]:
        call = LifespanCall(recording_app([]), lifespan_scope({}))
        started = await call.ask({"type": "lifespan.startup"})
        stopped = await call.ask({"type": "lifespan.shutdown"})
        return started, stopped, await call.ended()

    started, stopped, ended = run_async(go, what="your LifespanApp's lifespan call")
    assert started == {"type": "lifespan.startup.complete"}, f"expected {{'type': 'lifespan.startup.complete'}}, got {started!r}"
    assert stopped == {"type": "lifespan.shutdown.complete"}, f"expected {{'type': 'lifespan.shutdown.complete'}}, got {stopped!r}"
    assert ended, "expected the lifespan call to return after it answered lifespan.shutdown"


@pytest.mark.spec("ASGI Lifespan §Startup Failed")
def test_a_failing_startup_handler_answers_startup_failed() -> None:
    app = lifespan.LifespanApp()

    @app.on_startup
    def connect(state: dict[str, Any]) -> None:
        raise ConnectionRefusedError("the database is down")

    async def go() -> tuple[Any, bool, BaseException | None]:
        call = LifespanCall(app, lifespan_scope({}))
        answer = await call.ask({"type": "lifespan.startup"})
        ended = await call.ended()
        return answer, ended, call.error()

    answer, ended, error = run_async(go, what="your LifespanApp's lifespan call")
    assert answer is not None and answer.get("type") == "lifespan.startup.failed", (
        f"expected lifespan.startup.failed when a startup handler raises, got {answer!r}"
    )
    assert "the database is down" in str(answer.get("message", "")), (
        f"expected the message to say what went wrong ('the database is down'), got {answer.get('message')!r}"
    )
    assert ended, "expected the lifespan call to end after lifespan.startup.failed (re-raise the handler's error)"
    assert isinstance(error, ConnectionRefusedError), (
        f"expected the lifespan call to re-raise the handler's ConnectionRefusedError after lifespan.startup.failed, "
        f"got {'a return' if error is None else repr(error)}: the stub's lifespan() says re-raise, as Starlette does"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown Failed")
def test_a_failing_shutdown_handler_answers_shutdown_failed() -> None:
    app = lifespan.LifespanApp()

    @app.on_shutdown
    async def flush(state: dict[str, Any]) -> None:
        raise OSError("the disk is full")

    async def go() -> tuple[Any, Any, bool, BaseException | None]:
        call = LifespanCall(app, lifespan_scope({}))
        started = await call.ask({"type": "lifespan.startup"})
        stopped = await call.ask({"type": "lifespan.shutdown"})
        ended = await call.ended()
        return started, stopped, ended, call.error()

    started, stopped, ended, error = run_async(go, what="your LifespanApp's lifespan call")
    assert started == {"type": "lifespan.startup.complete"}, f"expected lifespan.startup.complete, got {started!r}"
    assert stopped is not None and stopped.get("type") == "lifespan.shutdown.failed", (
        f"expected lifespan.shutdown.failed when a shutdown handler raises, got {stopped!r}"
    )
    assert "the disk is full" in str(stopped.get("message", "")), f"expected the message to say 'the disk is full', got {stopped!r}"
    assert ended and isinstance(error, OSError), (
        f"expected the lifespan call to re-raise the handler's OSError after lifespan.shutdown.failed, got "
        f"{'a call still running' if not ended else 'a return' if error is None else repr(error)}: "
        "the stub's lifespan() says re-raise, as Starlette does"
    )


@pytest.mark.spec("ASGI Lifespan (a real server: uvicorn with lifespan='on')")
def test_runs_under_uvicorn_with_lifespan_on() -> None:
    log: list[str] = []
    app = recording_app(log)
    with uvicorn_serving(app, lifespan="on") as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        text = client.get(url + "/").text
        during = list(log)
    assert during == ["startup: connect", "startup: warm cache"], f"expected the startup handlers before serving, got {during!r}"
    assert text == "hello from startup", f"expected the request to see the startup state under uvicorn, got {text!r}"
    assert log[2:] == ["shutdown: flush", "shutdown: disconnect (hello from startup)"], (
        f"expected the shutdown handlers to run when uvicorn stopped, got {log[2:]!r}"
    )


# ============================================================ the lifespan driver: lifespan_server.py
# Sans-IO: Lifespan and serve_with_lifespan() meet the probe apps and a fake serve(), never a socket,
# and never your exercise 15. These tests grade whatever state exercise 15 is in.


def drive(make: Callable[[], Awaitable[T]], *, what: str = "Lifespan.startup() and shutdown()", timeout: float = 5.0) -> T:
    """``run_async`` with a clean ``SEEN``; then the first ASGI violation a watched app saw, if any."""
    SEEN.clear()
    result = run_async(make, what=what, timeout=timeout)
    raise_what_the_checks_saw()
    return result


class FakeServe:
    """A stand-in for ``serve(state)``: records the state it got and when it ran; no socket anywhere.

    ``work`` is what it awaits while "serving" (by default a short pause, so that a shutdown that
    does not wait for serving to return shows itself); it records ``serving`` and ``served`` in SEEN.
    """

    def __init__(self, work: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.states: list[Any] = []
        self.work = work or (lambda: asyncio.sleep(0.05))

    async def __call__(self, state: dict[str, Any] | None) -> None:
        self.states.append(None if state is None else dict(state))
        SEEN.add("serving")
        await self.work()
        SEEN.add("served")


def with_lifespan(app: Any, serve: FakeServe) -> Callable[[], Awaitable[None]]:
    return lambda: lifespan_server.serve_with_lifespan(watched(app), serve)


@pytest.mark.spec("ASGI Lifespan §Scope")
def test_the_lifespan_call_gets_the_lifespan_scope() -> None:
    async def go() -> None:
        call = lifespan_server.Lifespan(watched(apps.state_app), {})
        await call.startup()
        await call.shutdown()

    drive(go)
    scopes = [entry for entry in SEEN.entries if entry[0] == "lifespan scope"]
    assert scopes, f"expected startup() to call the app with a lifespan scope, the app saw {SEEN.entries!r}"
    _, scope_type, asgi, state_type = scopes[0]
    assert (scope_type, asgi, state_type) == ("lifespan", {"version": "3.0", "spec_version": "2.0"}, "dict"), (
        f"expected the scope Lifespan.scope() gives (type 'lifespan', asgi 3.0/2.0, a state dict), got "
        f"type {scope_type!r}, asgi {asgi!r}, state a {state_type}"
    )


@pytest.mark.spec("ASGI Lifespan §Startup, §Startup Complete")
def test_startup_returns_once_the_app_answered() -> None:
    apps.STARTUP_GATE.clear()

    async def go() -> tuple[bool, dict[str, Any]]:
        call = lifespan_server.Lifespan(watched(apps.gated_startup_app), {})
        startup = asyncio.ensure_future(call.startup())
        try:
            await asyncio.sleep(0.2)  # the app is still starting: startup() must still be waiting
            early = startup.done()
        finally:
            apps.STARTUP_GATE.set()
        await startup
        await call.shutdown()
        return early, call.state

    early, _ = drive(go)
    assert not early, (
        "expected Lifespan.startup() to wait until the app answered lifespan.startup.complete, but it returned "
        "while the app's startup was still running: wait for the answer the app send()s"
    )

    async def filled() -> dict[str, Any]:
        call = lifespan_server.Lifespan(watched(apps.state_app), {})
        await call.startup()
        state = dict(call.state)
        await call.shutdown()
        return state

    state = drive(filled)
    assert state == {"greeting": "hello from startup"}, (
        f"expected the state dict to hold what the app's startup put in scope['state'] once startup() returned, got {state!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Startup Failed")
def test_a_failed_startup_raises_with_the_apps_message() -> None:
    async def go() -> BaseException | None:
        call = lifespan_server.Lifespan(watched(apps.failing_startup_app), {})
        try:
            await call.startup()
        except Exception as exc:
            return exc
        return None

    error = drive(go)
    assert isinstance(error, lifespan_server.LifespanStartupFailed), (
        f"expected Lifespan.startup() to raise LifespanStartupFailed when the app answered lifespan.startup.failed, got {error!r}"
    )
    assert apps.FAILURE_MESSAGE in str(error), (
        f"expected the exception to carry the app's message {apps.FAILURE_MESSAGE!r}, got {str(error)!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Scope (an app that does not support lifespan); the stub's Lifespan.supported")
@pytest.mark.parametrize(
    ("app", "supported"),
    [(apps.state_app, True), (apps.no_lifespan_app, False), (apps.returns_on_lifespan_app, False)],
    ids=["speaks-lifespan", "raises", "returns"],
)
def test_lifespan_notes_whether_the_app_supports_it(
    app: Any, supported: bool, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> bool:
        call = lifespan_server.Lifespan(watched(app), {})
        await call.startup()
        noted = call.supported
        await call.shutdown()
        return noted

    noted = drive(go)
    assert noted is supported, (
        f"expected Lifespan.supported to be {supported} after startup() for an app that "
        f"{'answers lifespan.startup.complete' if supported else 'ends its lifespan call without answering'}, got {noted!r}"
    )
    if not supported:
        out, err = capfd.readouterr()
        assert (out + err + caplog.text).strip(), (
            "expected startup() to print a line saying the app does not support lifespan, it printed nothing"
        )


@pytest.mark.spec("ASGI Lifespan §Shutdown, §Shutdown Complete")
def test_shutdown_sends_lifespan_shutdown_and_takes_the_answer() -> None:
    async def go() -> list[Any]:
        call = lifespan_server.Lifespan(watched(apps.state_app), {})
        await call.startup()
        before = list(SEEN.entries)
        await call.shutdown()
        return before

    before = drive(go)
    assert "shutdown" not in before, f"expected no lifespan.shutdown before shutdown(), the app saw {before!r}"
    assert "shutdown" in SEEN.entries, "expected Lifespan.shutdown() to send {'type': 'lifespan.shutdown'} to the app"
    assert "shutdown complete sent" in SEEN.entries, (
        "expected the app's send({'type': 'lifespan.shutdown.complete'}) to be taken, but it raised "
        "(ASGI Lifespan §Shutdown Complete: that is the answer shutdown() waits for)"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown Failed (the server logs the message)")
def test_a_failed_shutdown_is_printed(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> BaseException | None:
        call = lifespan_server.Lifespan(watched(apps.failing_shutdown_app), {})
        await call.startup()
        try:
            await call.shutdown()
        except Exception as exc:
            return exc
        return None

    error = drive(go)
    assert error is None, f"expected shutdown() to print a lifespan.shutdown.failed, not to raise; it raised {error!r}"
    out, err = capfd.readouterr()
    printed = out + err + caplog.text
    assert apps.SHUTDOWN_FAILURE_MESSAGE in printed, (
        f"expected shutdown() to print the app's lifespan.shutdown.failed message {apps.SHUTDOWN_FAILURE_MESSAGE!r}, "
        f"got:\n{printed[-1500:]}"
    )


@pytest.mark.spec("the stub's Lifespan.shutdown() (let the app's call end: wait for it, then cancel)")
def test_shutdown_lets_the_lifespan_call_end() -> None:
    # uvicorn cancels what is left of the call as soon as it has its answer: there is no [uvicorn] case.
    async def go() -> None:
        call = lifespan_server.Lifespan(watched(apps.lingering_app), {})
        await call.startup()
        await call.shutdown()

    drive(go)
    assert "lifespan call returned" in SEEN.entries, (
        "expected shutdown() to give the app's lifespan call a moment to return after lifespan.shutdown.complete "
        f"(it needs 0.1 s), got {SEEN.entries!r}: wait for the task (with a time limit) before you cancel it"
    )


@pytest.mark.spec("the stub's Lifespan.shutdown() (an app that never answers: give up after shutdown_timeout)")
def test_shutdown_gives_up_on_an_app_that_never_answers(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> list[Any]:
        call = lifespan_server.Lifespan(watched(apps.silent_shutdown_app), {}, shutdown_timeout=0.3)
        await call.startup()
        await call.shutdown()
        await asyncio.sleep(0.05)  # a cancelled task takes a turn of the loop to end
        return list(SEEN.entries)

    after = drive(go, what="Lifespan.shutdown() (shutdown_timeout=0.3) for an app that never answers", timeout=3)
    assert "lifespan call cancelled" in after, (
        f"expected shutdown() to cancel the app's lifespan call once it gave up waiting, got {after!r}: "
        "nothing may outlive the server"
    )
    out, err = capfd.readouterr()
    assert (out + err + caplog.text).strip(), "expected shutdown() to print a line saying the app did not answer, it printed nothing"


@pytest.mark.spec("the stub's Lifespan.shutdown() (nothing outlives the server: cancel a call that answered but never returns)")
def test_shutdown_cancels_a_call_that_answered_but_never_returns() -> None:
    # uvicorn cancels what is left of the call as soon as it has its answer: there is no [uvicorn] case.
    async def go() -> list[Any]:
        call = lifespan_server.Lifespan(watched(apps.answers_then_hangs_app), {}, shutdown_timeout=0.3)
        await call.startup()
        await call.shutdown()
        await asyncio.sleep(0.05)  # a cancelled task takes a turn of the loop to end
        return list(SEEN.entries)

    after = drive(go, what="Lifespan.shutdown() (shutdown_timeout=0.3) for an app whose call never returns", timeout=3)
    assert "lifespan call cancelled" in after, (
        f"expected shutdown() to cancel the app's lifespan call, which answered lifespan.shutdown.complete but never "
        f"returned, within shutdown_timeout; got {after!r}: wait for the task with a time limit, then cancel it"
    )


@pytest.mark.spec("ASGI Lifespan §Startup (before the server serves)")
def test_serve_with_lifespan_serves_only_after_the_startup() -> None:
    drive(with_lifespan(apps.state_app, FakeServe()), what="serve_with_lifespan()")
    order = [entry for entry in SEEN.entries if entry in ("startup", "serving")]
    assert order == ["startup", "serving"], (
        f"expected the lifespan startup to complete before serve(state) was called, got the order {order!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Lifespan State")
def test_serve_with_lifespan_serves_with_the_startup_state() -> None:
    serve = FakeServe()
    drive(with_lifespan(apps.state_app, serve), what="serve_with_lifespan()")
    assert serve.states == [{"greeting": "hello from startup"}], (
        f"expected serve() to be called once, with the state dict the app's startup filled, got {serve.states!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Scope (an app that does not support lifespan: no state)")
@pytest.mark.parametrize("app", [apps.no_lifespan_app, apps.returns_on_lifespan_app], ids=["raises", "returns"])
def test_serve_with_lifespan_serves_without_state_when_the_app_has_no_lifespan(app: Any) -> None:
    serve = FakeServe()
    drive(with_lifespan(app, serve), what="serve_with_lifespan()")
    assert serve.states == [None], (
        f"expected serve(None) for an app that does not support lifespan (it serves all the same), got {serve.states!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Startup Failed")
def test_serve_with_lifespan_never_serves_after_a_failed_startup() -> None:
    serve = FakeServe()

    async def go() -> BaseException | None:
        try:
            await lifespan_server.serve_with_lifespan(watched(apps.failing_startup_app), serve)
        except Exception as exc:
            return exc
        return None

    error = drive(go, what="serve_with_lifespan()")
    assert serve.states == [], f"expected serve() never to be called after lifespan.startup.failed, it was called with {serve.states!r}"
    assert isinstance(error, lifespan_server.LifespanStartupFailed) and apps.FAILURE_MESSAGE in str(error), (
        f"expected serve_with_lifespan() to raise LifespanStartupFailed({apps.FAILURE_MESSAGE!r}), got {error!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown (after serving)")
def test_serve_with_lifespan_shuts_down_after_serving() -> None:
    drive(with_lifespan(apps.state_app, FakeServe()), what="serve_with_lifespan()")
    order = [entry for entry in SEEN.entries if entry in ("served", "shutdown")]
    assert order == ["served", "shutdown"], (
        f"expected the lifespan shutdown once serve() returned, and only then, got the order {order!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown (also when serving failed)")
def test_serve_with_lifespan_shuts_down_when_serving_raises() -> None:
    async def crash() -> None:
        raise OSError("the network is gone (on purpose)")

    async def go() -> BaseException | None:
        try:
            await lifespan_server.serve_with_lifespan(watched(apps.state_app), FakeServe(crash))
        except Exception as exc:
            return exc
        return None

    error = drive(go, what="serve_with_lifespan()")
    assert "shutdown" in SEEN.entries, (
        f"expected the lifespan shutdown to run when serve() raised, the app saw {SEEN.entries!r}: use try/finally"
    )
    assert isinstance(error, OSError) and "on purpose" in str(error), (
        f"expected serve()'s own exception to come out of serve_with_lifespan() after the shutdown, got {error!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown (also when serving is cancelled: Ctrl-C under asyncio.run)")
def test_serve_with_lifespan_shuts_down_when_serving_is_cancelled() -> None:
    async def go() -> bool:
        serving = asyncio.Event()

        async def serve_forever() -> None:
            serving.set()
            await asyncio.Event().wait()

        task = asyncio.ensure_future(lifespan_server.serve_with_lifespan(watched(apps.state_app), FakeServe(serve_forever)))
        started = asyncio.ensure_future(serving.wait())
        await asyncio.wait([task, started], timeout=3, return_when=asyncio.FIRST_COMPLETED)  # until it serves (forever), or fails
        started.cancel()
        for _ in range(20):  # a few turns of the loop: a serve_with_lifespan() that does not await serve() ends here
            await asyncio.sleep(0)
        if task.done():
            task.result()  # raises what it raised
            pytest.fail("expected serve_with_lifespan() to serve until cancelled; it returned while serve() was still serving")
        task.cancel()
        await asyncio.wait([task], timeout=3)
        return task.cancelled()

    cancelled = drive(go, what="serve_with_lifespan(), cancelled while serving", timeout=8)
    assert "shutdown" in SEEN.entries, (
        f"expected the lifespan shutdown to run when serving was cancelled, the app saw {SEEN.entries!r}: use try/finally"
    )
    assert cancelled, "expected the cancellation to come out of serve_with_lifespan() after the shutdown (do not swallow it)"


# ====================================== the whole server: lifespan_serving.Server on your exercise 15
# lifespan_serving.py (given) is your asgi_server.Server with serve_with_lifespan() around serve().
# When exercise 15 cannot run yet, these fail with one sentence that says so.

SERVERS = [
    pytest.param("uvicorn", marks=pytest.mark.reference, id="uvicorn"),
    pytest.param("yours", id="lifespan_serving"),
]


def or_one_sentence(make: Callable[[], T]) -> T:
    """``make()``; a ``PrerequisiteMissing`` fails the test with its sentence alone.

    ``from None``: no traceback, and no "during handling of the above exception" either, also when
    it replaces a failure already on its way out (a stub's ``serve()`` shows up as a refused request).
    """
    try:
        return make()
    except PrerequisiteMissing as missing:
        raise pytest.fail.Exception(str(missing), pytrace=False) from None


def serving_module() -> ModuleType:
    """``lifespan_serving`` (given), which imports your exercise 15; or the one sentence when it cannot."""
    or_one_sentence(lambda: earlier("asgi_server", "15"))
    return importlib.import_module("lifespan_serving")


def make_server(app: Any) -> Any:
    """``lifespan_serving.Server(app, HOST, 0)``, bound by your exercise-15 ``Server.__init__``."""
    module = serving_module()

    def bind() -> Any:
        with finished("asgi_server", "15"):
            return module.Server(watched(app, "your server"), HOST, 0)

    return or_one_sentence(bind)


def fail_if_exercise_15_is_unfinished(error: BaseException) -> None:
    """A ``NotImplementedError`` raised inside ``asgi_server.py`` means a half-done 15: say that, in one sentence."""
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, NotImplementedError) and frames and Path(frames[-1].filename).name == "asgi_server.py":

        def reraise() -> None:
            with finished("asgi_server", "15"):
                raise error

        or_one_sentence(reraise)


class Running:
    """What ``run_server`` yields: the exception ``serve_forever()`` raised, if any, and whether it ended."""

    def __init__(self) -> None:
        self.failure: list[BaseException] = []
        self.ended = threading.Event()


@contextlib.contextmanager
def run_server(server: Any, *, wait_until_started: bool = True) -> Iterator[Running]:
    """Run ``server.serve_forever()`` in a thread; then ``shutdown()`` it, and prove it stopped.

    Waits until ``server.started`` is set (the startup completed) or serve_forever() ended.
    """
    running = Running()

    def serve() -> None:
        try:
            server.serve_forever()
        except BaseException as exc:
            running.failure.append(exc)
        finally:
            running.ended.set()

    thread = threading.Thread(target=serve, name="lifespan_serving", daemon=True)
    thread.start()
    try:
        if wait_until_started:
            wait_until(lambda: server.started.is_set() or running.ended.is_set(), timeout=10, what="your server starting")
            if running.failure:
                fail_if_exercise_15_is_unfinished(running.failure[0])
                raise AssertionError(f"serve_forever() failed before serving: {running.failure[0]!r}") from running.failure[0]
        yield running
    finally:
        stop_errors: list[BaseException] = []

        def stop() -> None:
            try:
                server.shutdown()
            except BaseException as exc:
                stop_errors.append(exc)

        stopper = threading.Thread(target=stop, name="stop lifespan_serving", daemon=True)
        stopper.start()
        stopper.join(STOP_TIMEOUT)
        thread.join(STOP_TIMEOUT)
        try:
            server.server_close()
        except BaseException as exc:
            stop_errors.append(exc)
        for error in [*stop_errors, *running.failure]:
            fail_if_exercise_15_is_unfinished(error)
        if stopper.is_alive() or thread.is_alive():
            pytest.fail(f"your server did not stop within {STOP_TIMEOUT:g} s of shutdown()")
        if stop_errors:
            raise AssertionError(f"stopping your server raised {stop_errors[0]!r}") from stop_errors[0]
    raise_what_the_checks_saw()


@contextlib.contextmanager
def serve(kind: str, app: Any, *, lifespan: str = "on") -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and a free port with uvicorn or your Server; yield the base URL."""
    SEEN.clear()
    if kind == "uvicorn":
        checks = ServerChecks(app, what="uvicorn", send_after_end=True)
        with uvicorn_serving(checks, lifespan=lifespan) as url:
            yield url
        checks.raise_first()
    else:
        server = make_server(app)
        with run_server(server) as running:
            yield f"http://{HOST}:{server.server_address[1]}"
        if running.failure:
            raise AssertionError(f"serve_forever() raised {running.failure[0]!r}") from running.failure[0]


@pytest.mark.reference
@pytest.mark.spec("builds_on: these tests run on your exercise 15; the driver tests above never need it")
@pytest.mark.parametrize("broken", ["missing", "crashes on import", "unfinished"])
def test_an_unusable_exercise_15_fails_these_tests_in_one_sentence(
    broken: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("asgi_server", "lifespan_serving", "lifespan_server"):
        monkeypatch.setitem(sys.modules, name, None)  # recorded, so that teardown puts back what was there
        del sys.modules[name]
    if broken == "missing":
        monkeypatch.setitem(sys.modules, "asgi_server", None)  # what an import finds when there is no file
    else:
        source = {
            "crashes on import": "raise RuntimeError('half-way through an edit')\n",
            "unfinished": "class Server:\n    def __init__(self, *args):\n"
            "        raise NotImplementedError('write Server.__init__() in asgi_server.py')\n",
        }[broken]
        (tmp_path / "asgi_server.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(pytest.fail.Exception) as failed:
        make_server(apps.state_app)
    message = str(failed.value)
    assert "your exercise 15" in message and "grader check 15" in message and "\n" not in message, (
        f"expected the one sentence that names exercise 15 and `grader check 15`, got {message!r}"
    )
    driver = importlib.import_module("lifespan_server")  # a fresh import, with exercise 15 unusable
    assert "asgi_server" not in vars(driver), "expected lifespan_server.py (the sans-IO driver) not to import exercise 15"


@pytest.mark.spec("ASGI Lifespan §Scope")
@pytest.mark.parametrize("kind", SERVERS)
def test_sends_the_lifespan_scope(kind: str) -> None:
    with serve(kind, apps.state_app):
        scopes = [entry for entry in SEEN.entries if entry[0] == "lifespan scope"]
    assert scopes, "expected the app to be called with a lifespan scope before serving"
    _, scope_type, asgi, state_type = scopes[0]
    assert scope_type == "lifespan", f"expected scope['type'] == 'lifespan', got {scope_type!r}"
    assert asgi.get("version") == "3.0" and str(asgi.get("spec_version", "")).startswith("2."), (
        f"expected scope['asgi'] == {{'version': '3.0', 'spec_version': '2.0'}}, got {asgi!r}"
    )
    assert state_type == "dict", f"expected scope['state'] to be a dict the app can fill, got a {state_type}"


@pytest.mark.spec("ASGI Lifespan §Lifespan State")
@pytest.mark.parametrize("kind", SERVERS)
def test_requests_see_the_startup_state(kind: str) -> None:
    with serve(kind, apps.state_app) as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        text = client.get(url + "/").text
    assert text.startswith("hello from startup"), (
        f"expected the request to read 'hello from startup' from scope['state'], got {text!r}: "
        "serve_with_lifespan() passes the state the startup filled to serve(state)"
    )


@pytest.mark.spec("ASGI Lifespan §Lifespan State (a shallow copy per request)")
@pytest.mark.parametrize("kind", SERVERS)
def test_each_request_gets_its_own_copy_of_the_state(kind: str) -> None:
    with serve(kind, apps.state_app) as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        client.get(url + "/leak")
        text = client.get(url + "/").text
    assert text == "hello from startup; leaked=False", (
        f"expected a key one request wrote into its state not to reach the next request, got {text!r}: "
        "your exercise-15 build_scope() gives each request a shallow copy (dict(state))"
    )


@pytest.mark.spec("ASGI Lifespan §Startup (before the server accepts connections)")
def test_startup_completes_before_any_request_is_served() -> None:
    SEEN.clear()
    apps.STARTUP_GATE.clear()
    server = make_server(apps.gated_startup_app)
    answers: list[Any] = []

    def request() -> None:
        try:
            answers.append(httpx.get(f"http://{HOST}:{server.server_address[1]}/", timeout=CLIENT_TIMEOUT).text)
        except Exception as exc:
            answers.append(exc)

    with run_server(server, wait_until_started=False) as running:
        try:
            wait_until(lambda: "startup began" in SEEN.entries or running.ended.is_set(), timeout=5, what="the lifespan startup beginning")
            if running.failure:
                raise AssertionError(f"serve_forever() raised {running.failure[0]!r}") from running.failure[0]
            client = threading.Thread(target=request, daemon=True)
            client.start()
            SEEN.wait_for("request", 0.3)  # give a too-early server the chance to show itself
        finally:
            apps.STARTUP_GATE.set()
        client.join(CLIENT_TIMEOUT + 1)
    assert answers == ["served"], f"expected the request to be served once startup completed, got {answers!r}"
    order = [entry for entry in SEEN.entries if entry in ("startup done", "request")]
    assert order == ["startup done", "request"], (
        f"expected the lifespan startup to complete before any request was served, got the order {order!r}: "
        "await the startup before you call serve(state)"
    )


@pytest.mark.spec("ASGI Lifespan §Startup, §Shutdown (a shutdown() that comes during the startup)")
def test_a_shutdown_during_the_startup_stops_the_server_after_it() -> None:
    # Only your server: this is how serve_with_lifespan() and your exercise-15 shutdown() meet.
    SEEN.clear()
    apps.STARTUP_GATE.clear()
    server = make_server(apps.gated_startup_app)
    with run_server(server, wait_until_started=False) as running:
        stopper = threading.Thread(target=server.shutdown, name="shutdown during the startup", daemon=True)
        try:
            wait_until(lambda: "startup began" in SEEN.entries or running.ended.is_set(), timeout=5, what="the lifespan startup beginning")
            if running.failure:
                raise AssertionError(f"serve_forever() raised {running.failure[0]!r}") from running.failure[0]
            stopper.start()  # e.g. SIGTERM while the app still connects to its database
            stopper.join(0.2)
        finally:
            apps.STARTUP_GATE.set()
        ended = running.ended.wait(STOP_TIMEOUT)
        stopper.join(STOP_TIMEOUT)
    assert ended, (
        f"expected serve_forever() to return once the startup completed, since shutdown() came during it; it was "
        f"still running {STOP_TIMEOUT:g} s later: serve_with_lifespan() calls serve(state), which returns at once "
        "(your exercise-15 Server remembers a shutdown() that came before its serve())"
    )
    assert "shutdown" in SEEN.entries, (
        f"expected the lifespan shutdown once the startup completed, even with nothing served, the app saw {SEEN.entries!r}"
    )


@pytest.mark.spec("ASGI Lifespan §Startup Failed")
def test_a_failed_startup_stops_the_server() -> None:
    SEEN.clear()
    server = make_server(apps.failing_startup_app)
    port = server.server_address[1]
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.serve_forever()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve, name="lifespan_serving", daemon=True)
    thread.start()
    thread.join(5)
    try:
        assert not thread.is_alive(), "expected serve_forever() to end when the app answered lifespan.startup.failed"
        assert failure, "expected serve_forever() to raise when the app answered lifespan.startup.failed"
        fail_if_exercise_15_is_unfinished(failure[0])
        assert isinstance(failure[0], lifespan_server.LifespanStartupFailed), (
            f"expected LifespanStartupFailed, got {failure[0]!r}"
        )
        assert apps.FAILURE_MESSAGE in str(failure[0]), (
            f"expected the exception to carry the app's message {apps.FAILURE_MESSAGE!r}, got {str(failure[0])!r}"
        )
        with pytest.raises(OSError):
            socket.create_connection((HOST, port), timeout=1).close()
            pytest.fail("expected the listening socket to be closed after the failed startup; it still accepts connections")
    finally:
        if thread.is_alive():
            server.shutdown()
            thread.join(STOP_TIMEOUT)
        server.server_close()


CLI = [
    pytest.param(["-m", "uvicorn", "--lifespan", "on"], marks=pytest.mark.reference, id="uvicorn"),
    pytest.param(["-m", "lifespan_serving"], id="lifespan_serving"),
]


@pytest.mark.spec("ASGI Lifespan §Startup Failed (log the message and exit)")
@pytest.mark.parametrize("args", CLI)
def test_a_failed_startup_ends_the_command_line_with_the_message(args: list[str]) -> None:
    folders = [str(Path(lifespan_server.__file__).parent), str(Path(apps.__file__).parent)]
    if "lifespan_serving" in args:
        make_server(apps.state_app).server_close()  # your exercise 15 can run (or the one sentence)
        folders.insert(1, str(Path(sys.modules["asgi_server"].__file__).parent))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*folders, os.environ.get("PYTHONPATH", "")]), "PYTHONUNBUFFERED": "1"}
    try:
        ended = subprocess.run(
            python_argv(*args, "lifespan_apps:failing_startup_app", "--host", HOST, "--port", "0"),
            cwd=folders[0],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"expected the server to exit when startup failed; it was still running after 10 s. It printed:\n{exc.stdout}{exc.stderr}")
    printed = ended.stdout + ended.stderr
    assert ended.returncode == 3, (
        f"expected exit status 3 after a failed startup (uvicorn's), got {ended.returncode}. It printed:\n{printed[-2000:]}"
    )
    assert apps.FAILURE_MESSAGE in printed, (
        f"expected the app's message {apps.FAILURE_MESSAGE!r} in what the server printed, got:\n{printed[-2000:]}"
    )


@pytest.mark.spec("ASGI Lifespan §Scope (an app that does not support lifespan)")
@pytest.mark.parametrize("app", [apps.no_lifespan_app, apps.returns_on_lifespan_app], ids=["raises", "returns"])
@pytest.mark.parametrize("kind", SERVERS)
def test_carries_on_when_the_app_does_not_support_lifespan(kind: str, app: Any) -> None:
    with serve(kind, app, lifespan="auto") as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        response = client.get(url + "/")
    assert (response.status_code, response.text) == (200, "served without lifespan"), (
        f"expected the server to serve an app that {'raises' if app is apps.no_lifespan_app else 'returns'} on the "
        f"lifespan scope, got {response.status_code} {response.text[:80]!r}: such an app does not support lifespan, "
        "and the server goes on without it"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown")
@pytest.mark.parametrize("kind", SERVERS)
def test_runs_the_shutdown_when_the_server_stops(kind: str) -> None:
    with serve(kind, apps.state_app) as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        client.get(url + "/")
        during = list(SEEN.entries)
    assert "shutdown" not in during, f"expected no lifespan.shutdown while serving, got {during!r}"
    assert "shutdown" in SEEN.entries, "expected lifespan.shutdown to reach the app when the server stopped"
    assert "shutdown complete sent" in SEEN.entries, (
        "expected the app's send({'type': 'lifespan.shutdown.complete'}) to be taken, but it raised "
        "(ASGI Lifespan §Shutdown Complete: that is the answer the server waits for)"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown Failed (the server logs the message)")
@pytest.mark.parametrize("kind", SERVERS)
def test_a_failed_shutdown_is_reported(kind: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    with serve(kind, apps.failing_shutdown_app) as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        assert client.get(url + "/").text == "served"
    out, err = capfd.readouterr()
    printed = out + err + caplog.text
    assert apps.SHUTDOWN_FAILURE_MESSAGE in printed, (
        f"expected the server to print the app's lifespan.shutdown.failed message {apps.SHUTDOWN_FAILURE_MESSAGE!r}, "
        f"got:\n{printed[-1500:]}"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown (after the connections close)")
@pytest.mark.parametrize("kind", SERVERS)
def test_shutdown_waits_for_requests_in_flight(kind: str) -> None:
    answers: list[Any] = []

    def request(url: str) -> None:
        try:
            answers.append(httpx.get(url + "/", timeout=CLIENT_TIMEOUT).text)
        except Exception as exc:
            answers.append(exc)

    with serve(kind, apps.slow_request_app) as url:
        client = threading.Thread(target=request, args=(url,), daemon=True)
        client.start()
        assert SEEN.wait_for("request started", CLIENT_TIMEOUT), "the request never reached the app"
        # leaving the block stops the server while the request is still running
    client.join(CLIENT_TIMEOUT)
    order = [entry for entry in SEEN.entries if entry in ("request done", "shutdown")]
    assert order == ["request done", "shutdown"], (
        f"expected the request in flight to finish before lifespan.shutdown, got {order!r}: "
        "run the shutdown only once serve(state) returned (your exercise-15 serve() lets connections finish)"
    )
    assert answers == ["done"], f"expected the request in flight to get its answer, got {answers!r}"


@pytest.mark.spec("ASGI Lifespan §Shutdown (stop accepting first)")
@pytest.mark.parametrize("kind", SERVERS)
def test_stops_accepting_connections_when_asked_to_stop(kind: str) -> None:
    answers: list[Any] = []

    def request(url: str) -> None:
        try:
            answers.append(httpx.get(url + "/", timeout=CLIENT_TIMEOUT).text)
        except Exception as exc:
            answers.append(exc)

    with serve(kind, apps.listener_probe_app) as url:
        client = threading.Thread(target=request, args=(url,), daemon=True)
        client.start()
        assert SEEN.wait_for("request started", CLIENT_TIMEOUT), "the request never reached the app"
        # leaving the block stops the server while the request (which tries new connections) still runs
    client.join(CLIENT_TIMEOUT)
    assert answers == ["refused"], (
        f"expected new connections to be refused once the server was asked to stop (while a request was still "
        f"in flight), got {answers!r}: your exercise-15 serve() closes its listener before it waits for the connections"
    )


@pytest.mark.spec("ASGI Lifespan §Lifespan State (a real framework)")
@pytest.mark.parametrize("kind", SERVERS)
def test_serves_a_starlette_app_with_a_lifespan(kind: str) -> None:
    with serve(kind, apps.starlette_app) as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        response = client.get(url + "/")
        during = list(SEEN.entries)
    assert response.status_code == 200, f"expected 200, got {response.status_code} {response.text[:200]!r}"
    assert response.json() == {"greeting": "hello from a Starlette lifespan", "started": True}, (
        f"expected request.state to carry what the lifespan yielded, got {response.text[:200]!r}"
    )
    assert during == ["starlette startup"], f"expected the Starlette lifespan to have started once, got {during!r}"
    assert SEEN.entries == ["starlette startup", "starlette shutdown"], (
        f"expected the Starlette lifespan to be closed when the server stopped, got {SEEN.entries!r}"
    )
