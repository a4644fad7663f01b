"""Exercise 16 is graded from both sides of the lifespan protocol.

The app side (``lifespan.py``) runs under ``asgi_lifespan.LifespanManager`` (the manager test suites
use), under a hand-driven lifespan call that shows every message, and under uvicorn with
``lifespan="on"``. The server side (``lifespan_server.py``) serves probe apps that speak lifespan by
hand, and a Starlette app with a lifespan context manager. Every server test that uvicorn can run
runs against uvicorn first (the ``[uvicorn]`` cases): they prove the test, and are not graded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from asgi_lifespan import LifespanManager

import lifespan
import lifespan_apps as apps
import lifespan_server
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

    async def go() -> tuple[Any, bool]:
        call = LifespanCall(app, lifespan_scope({}))
        answer = await call.ask({"type": "lifespan.startup"})
        return answer, await call.ended()

    answer, ended = run_async(go, what="your LifespanApp's lifespan call")
    assert answer is not None and answer.get("type") == "lifespan.startup.failed", (
        f"expected lifespan.startup.failed when a startup handler raises, got {answer!r}"
    )
    assert "the database is down" in str(answer.get("message", "")), (
        f"expected the message to say what went wrong ('the database is down'), got {answer.get('message')!r}"
    )
    assert ended, "expected the lifespan call to end after lifespan.startup.failed (re-raise the handler's error)"


@pytest.mark.spec("ASGI Lifespan §Shutdown Failed")
def test_a_failing_shutdown_handler_answers_shutdown_failed() -> None:
    app = lifespan.LifespanApp()

    @app.on_shutdown
    async def flush(state: dict[str, Any]) -> None:
        raise OSError("the disk is full")

    async def go() -> tuple[Any, Any]:
        call = LifespanCall(app, lifespan_scope({}))
        started = await call.ask({"type": "lifespan.startup"})
        stopped = await call.ask({"type": "lifespan.shutdown"})
        await call.ended()
        return started, stopped

    started, stopped = run_async(go, what="your LifespanApp's lifespan call")
    assert started == {"type": "lifespan.startup.complete"}, f"expected lifespan.startup.complete, got {started!r}"
    assert stopped is not None and stopped.get("type") == "lifespan.shutdown.failed", (
        f"expected lifespan.shutdown.failed when a shutdown handler raises, got {stopped!r}"
    )
    assert "the disk is full" in str(stopped.get("message", "")), f"expected the message to say 'the disk is full', got {stopped!r}"


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


# ==================================================================== the server side: lifespan_server.py

SERVERS = [
    pytest.param("uvicorn", marks=pytest.mark.reference, id="uvicorn"),
    pytest.param("yours", id="lifespan_server"),
]


@contextlib.contextmanager
def run_server(server: Any, *, wait_until_started: bool = True) -> Iterator[list[BaseException]]:
    """Run ``server.serve_forever()`` in a thread; yield the list its exception lands in; then stop it.

    Waits until ``server.started`` is set (the server accepts connections) or serve_forever() ended.
    """
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.serve_forever()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve, name="lifespan_server", daemon=True)
    thread.start()
    try:
        if wait_until_started:
            wait_until(lambda: server.started.is_set() or not thread.is_alive(), timeout=10, what="your server starting")
            if failure:
                raise AssertionError(f"serve_forever() failed before serving: {failure[0]!r}") from failure[0]
        yield failure
    finally:
        stopper = threading.Thread(target=server.shutdown, name="stop lifespan_server", daemon=True)
        stopper.start()
        stopper.join(STOP_TIMEOUT)
        thread.join(STOP_TIMEOUT)
        server.server_close()
        if stopper.is_alive() or thread.is_alive():
            pytest.fail(f"your server did not stop within {STOP_TIMEOUT:g} s of shutdown()")


@contextlib.contextmanager
def serve(kind: str, app: Any, *, lifespan: str = "on") -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and a free port with uvicorn or your Server; yield the base URL."""
    SEEN.clear()
    if kind == "uvicorn":
        with uvicorn_serving(app, lifespan=lifespan) as url:
            yield url
    else:
        server = lifespan_server.Server(app, HOST, 0)
        with run_server(server) as failure:
            yield f"http://{HOST}:{server.server_address[1]}"
        if failure:
            raise AssertionError(f"serve_forever() raised {failure[0]!r}") from failure[0]


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
        "give each request scope a copy of the state the lifespan startup filled"
    )


@pytest.mark.spec("ASGI Lifespan §Lifespan State (a shallow copy per request)")
@pytest.mark.parametrize("kind", SERVERS)
def test_each_request_gets_its_own_copy_of_the_state(kind: str) -> None:
    with serve(kind, apps.state_app) as url, httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        client.get(url + "/leak")
        text = client.get(url + "/").text
    assert text == "hello from startup; leaked=False", (
        f"expected a key one request wrote into its state not to reach the next request, got {text!r}: "
        "give each request a shallow copy (dict(state))"
    )


@pytest.mark.spec("ASGI Lifespan §Startup (before the server accepts connections)")
def test_startup_completes_before_any_request_is_served() -> None:
    SEEN.clear()
    apps.STARTUP_GATE.clear()
    server = lifespan_server.Server(apps.gated_startup_app, HOST, 0)
    answers: list[Any] = []

    def request() -> None:
        try:
            answers.append(httpx.get(f"http://{HOST}:{server.server_address[1]}/", timeout=CLIENT_TIMEOUT).text)
        except Exception as exc:
            answers.append(exc)

    with run_server(server, wait_until_started=False) as failure:
        try:
            wait_until(lambda: "startup began" in SEEN.entries or bool(failure), timeout=5, what="the lifespan startup beginning")
            if failure:
                raise AssertionError(f"serve_forever() raised {failure[0]!r}") from failure[0]
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
        "await the startup before you start accepting connections"
    )


@pytest.mark.spec("ASGI Lifespan §Startup Failed")
def test_a_failed_startup_stops_the_server() -> None:
    SEEN.clear()
    server = lifespan_server.Server(apps.failing_startup_app, HOST, 0)
    port = server.server_address[1]
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.serve_forever()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve, name="lifespan_server", daemon=True)
    thread.start()
    thread.join(5)
    try:
        assert not thread.is_alive(), "expected serve_forever() to end when the app answered lifespan.startup.failed"
        assert failure, "expected serve_forever() to raise when the app answered lifespan.startup.failed"
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
    pytest.param(["-m", "lifespan_server"], id="lifespan_server"),
]


@pytest.mark.spec("ASGI Lifespan §Startup Failed (log the message and exit)")
@pytest.mark.parametrize("args", CLI)
def test_a_failed_startup_ends_the_command_line_with_the_message(args: list[str]) -> None:
    folders = [str(Path(lifespan_server.__file__).parent), str(Path(apps.__file__).parent)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*folders, os.environ.get("PYTHONPATH", "")]), "PYTHONUNBUFFERED": "1"}
    try:
        finished = subprocess.run(
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
    printed = finished.stdout + finished.stderr
    assert finished.returncode != 0, f"expected a non-zero exit status after a failed startup, got 0. It printed:\n{printed}"
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


@pytest.mark.spec("ASGI Lifespan §Scope (an app that does not support lifespan); the stub's Lifespan.supported")
@pytest.mark.parametrize(
    ("app", "supported"),
    [(apps.state_app, True), (apps.no_lifespan_app, False), (apps.returns_on_lifespan_app, False)],
    ids=["speaks-lifespan", "raises", "returns"],
)
def test_lifespan_notes_whether_the_app_supports_it(app: Any, supported: bool) -> None:
    SEEN.clear()

    async def go() -> bool:
        call = lifespan_server.Lifespan(app, {})
        await call.startup()
        noted = call.supported
        await call.shutdown()
        return noted

    noted = run_async(go, what="Lifespan.startup() and shutdown()")
    assert noted is supported, (
        f"expected Lifespan.supported to be {supported} after startup() for an app that "
        f"{'answers lifespan.startup.complete' if supported else 'ends its lifespan call without answering'}, got {noted!r}"
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


@pytest.mark.spec("the stub's Lifespan.shutdown() (let the app's call end: wait a moment, then cancel)")
def test_shutdown_lets_the_lifespan_call_end() -> None:
    # Only your server: uvicorn cancels what is left of the call as soon as it has its answer.
    with serve("yours", apps.lingering_app):
        pass
    assert "lifespan call returned" in SEEN.entries, (
        "expected the server to give the app's lifespan call a moment to return after lifespan.shutdown.complete "
        f"(it needs 0.1 s), got {SEEN.entries!r}: wait for the task (with a timeout) before you cancel it"
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
        "stop accepting, let the connections finish, and only then run the shutdown"
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
        f"in flight), got {answers!r}: close the listener (listener.close()) before you wait for the connections"
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
