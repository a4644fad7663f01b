"""Exercise 22, part two: the capstone app (``mini_framework_capstone.py``) on real servers.

The capstone is written against your framework. Every HTTP scenario runs over TCP, driven by httpx,
under the two reference servers, uvicorn and hypercorn, and under **your own server from exercise 15**
(``asgi_server.Server``). The WebSocket echo runs under uvicorn, hypercorn and your server from
exercise 18 (``websocket_serving.Server``:
your 15, with your 18's WebSocket hook). Those runs are graded too: they are your framework on your
server. When the exercise a run needs is missing, unfinished, or raises when it is imported, the run
fails with one sentence that names it (15 or 18) and says to finish it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import traceback
from collections.abc import Iterator
from types import ModuleType
from typing import Any, NoReturn

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import mini_framework_capstone as capstone
from testkit.asgi import MemoryWriter
from testkit.asgi_spec import checked_app
from testkit.prerequisites import PrerequisiteMissing, earlier, fail_prerequisite, finished
from testkit.serving import ASGI_SERVERS, CLIENT_TIMEOUT, HOST, asgi_serving, serving

REFERENCES = [pytest.param(name, id=name) for name in ASGI_SERVERS]  # uvicorn, hypercorn
HTTP_SERVERS = [*REFERENCES, pytest.param("asgi_server", id="your-server-15")]
WS_SERVERS = [*REFERENCES, pytest.param("websocket_serving", id="your-server-18")]
MODULES = {"15": "asgi_server", "18": "websocket_server"}


def not_finished(exercise: str, exc: NotImplementedError) -> NoReturn:
    """Fail with the one sentence: ``exercise`` (15 or 18) is not finished, in its stub's own words."""
    with finished(MODULES[exercise], exercise):
        raise exc
    raise AssertionError("unreachable")  # finished() turns a NotImplementedError into the sentence


def owner(exc: BaseException, modules: dict[str, ModuleType]) -> str | None:
    """Which exercise's module (by number) raised ``exc`` itself, if one of ``modules`` did."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = os.path.abspath(frames[-1].filename) if frames else ""
    return next((number for number, module in modules.items() if os.path.abspath(module.__file__ or "") == where), None)


async def _refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest app: 204 for HTTP, a refusal (403) for a WebSocket."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.close"})
    else:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def offline(serve: Any, head: bytes) -> NotImplementedError | None:
    """``await serve(reader, writer)`` on one request ``head``, without a socket: its NotImplementedError, if any."""

    async def once() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(head)
        reader.feed_eof()
        await asyncio.wait_for(serve(reader, MemoryWriter()), 2)

    try:
        asyncio.run(once())
    except NotImplementedError as exc:
        return exc
    except Exception:
        return None  # any other trouble shows in the test itself, in its own words
    return None


HTTP_HEAD = b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"


def usable(server: str) -> dict[str, ModuleType]:
    """The modules ``server`` runs on (``{"15": asgi_server}``, and ``"18"`` for WebSocket), tried offline first."""
    modules = {"15": earlier("asgi_server", "15")}
    if server == "websocket_serving":
        modules["18"] = earlier("websocket_server", "18")
    problem = offline(lambda r, w: modules["15"].serve_connection(_refuse, r, w), HTTP_HEAD)
    if problem is not None:
        not_finished("15", problem)
    if "18" in modules:
        try:
            hook = modules["18"].upgrade_handler(_refuse)
        except NotImplementedError as exc:
            not_finished("18", exc)
        problem = offline(lambda r, w: hook(_WsRequest(), r, w), b"")
        if problem is not None:
            not_finished("18", problem)
    return modules


class _WsRequest:
    """The upgrade request of WS_HEAD, with the fields of exercise 15's HTTPRequest."""

    method, target, http_version, body = "GET", b"/", "1.1", b""
    headers = [
        (b"host", b"probe"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
    ]

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in reversed(self.headers) if key == name), None)


class Watched:
    """Your server, noting a NotImplementedError from ``serve_forever()`` or ``shutdown()``."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.server_address = server.server_address
        self.unfinished: NotImplementedError | None = None

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        except NotImplementedError as exc:
            self.unfinished = exc
            raise

    def shutdown(self) -> None:
        if self.unfinished is not None:
            return  # serve_forever() never ran: nothing to stop
        try:
            self.server.shutdown()
        except NotImplementedError as exc:
            self.unfinished = exc

    def server_close(self) -> None:
        with contextlib.suppress(NotImplementedError):
            self.server.server_close()


@contextlib.contextmanager
def _own(app: Any, server: str) -> Iterator[str]:
    modules = usable(server)
    if server == "websocket_serving":
        import websocket_serving  # given in exercise 18: your 15's Server, your 18's hook

        make = websocket_serving.Server
    else:
        make = modules["15"].Server
    try:
        watched = Watched(make(app, HOST, 0))
    except NotImplementedError as exc:
        number = owner(exc, modules)
        if number is None:
            raise
        not_finished(number, exc)
    try:
        with serving(watched, name=f"your {server}.Server") as url:
            yield url
    except BaseException:
        if watched.unfinished is not None:
            not_finished("15", watched.unfinished)  # serve_forever() and shutdown() are exercise 15's
        raise


@contextlib.contextmanager
def served(app: Any, server: str) -> Iterator[str]:
    """Serve ``app`` on ``server``; yield the base URL. Every message the app sends is checked on the way
    out (``testkit.asgi_spec``): a server would turn a broken one into its own 500, so the sentence is
    raised here, after the requests."""
    checked = checked_app(app, what="your framework (running the capstone)")
    if server in ASGI_SERVERS:
        with asgi_serving(server, checked, lifespan="on") as url:
            yield url
    else:
        try:
            with _own(checked, server) as url:
                yield url
        except PrerequisiteMissing as exc:
            fail_prerequisite(exc)
    checked.raise_first()


def check(response: httpx.Response, status: int, what: str) -> None:
    assert response.status_code == status, (
        f"{what}: expected status {status}, got {response.status_code} with body {response.text[:300]!r}"
    )


# ============================================================================ HTTP


@pytest.mark.spec("The capstone: pages, 404, middleware headers")
@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_capstone_home_404_and_middleware(server: str) -> None:
    app = capstone.make_app()  # a fresh app (an empty task list) for each test
    with served(app, server) as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        home = client.get("/")
        missing = client.get("/no/such/page")
    check(home, 200, "GET /")
    assert home.headers.get("content-type", "").startswith("text/html"), f"GET /: expected an HTML page, got {home.headers.get('content-type')!r}"
    assert "<h1>Tasks</h1>" in home.text, f"GET /: expected the page, got {home.text[:200]!r}"
    assert home.headers.get("x-powered-by") == "capstone", (
        f"GET /: expected the header X-Powered-By: capstone added by the middleware (add_middleware with name='capstone'), "
        f"got {home.headers.get('x-powered-by')!r}"
    )
    check(missing, 404, "GET /no/such/page")
    assert missing.json() == {"detail": "Not Found"}, f"GET /no/such/page: expected {{'detail': 'Not Found'}}, got {missing.text!r}"


@pytest.mark.spec("The capstone: a JSON tasks API (RFC 9110 §9.3 methods, §15 status codes)")
@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_capstone_tasks_crud(server: str) -> None:
    app = capstone.make_app()  # a fresh app (an empty task list) for each test
    with served(app, server) as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        created = client.post("/tasks", json={"title": "write the adapter"})
        check(created, 201, "POST /tasks")
        task = created.json()
        assert task == {"id": 1, "title": "write the adapter", "done": False}, f"POST /tasks: expected the new task, got {task!r}"
        assert created.headers.get("location") == "/tasks/1", f"POST /tasks: expected Location /tasks/1, got {created.headers.get('location')!r}"
        check(client.post("/tasks", json={"title": "second"}), 201, "POST /tasks (second)")

        shown = client.get("/tasks/1")
        check(shown, 200, "GET /tasks/1")
        assert shown.json()["title"] == "write the adapter", f"GET /tasks/1: got {shown.json()!r}"

        patched = client.patch("/tasks/1", json={"done": True})
        check(patched, 200, "PATCH /tasks/1")
        assert patched.json()["done"] is True, f"PATCH /tasks/1: expected done true, got {patched.json()!r}"

        done = client.get("/tasks", params={"done": "true"})
        check(done, 200, "GET /tasks?done=true")
        assert [t["id"] for t in done.json()["tasks"]] == [1], f"GET /tasks?done=true: expected only task 1, got {done.json()!r}"

        deleted = client.delete("/tasks/1")
        check(deleted, 204, "DELETE /tasks/1")
        assert deleted.content == b"", f"DELETE /tasks/1: expected an empty 204, got {deleted.content!r}"
        gone = client.get("/tasks/1")
        check(gone, 404, "GET /tasks/1 after DELETE")
        assert gone.json() == {"detail": "no task 1"}, f"expected the HTTPException's detail, got {gone.text!r}"

        check(client.get("/tasks/abc"), 404, "GET /tasks/abc ({task_id:int} must not match 'abc')")
        check(client.post("/tasks", json={"title": ""}), 422, "POST /tasks with an empty title")
        check(client.post("/tasks", content=b"{oops", headers={"content-type": "application/json"}), 400, "POST /tasks with broken JSON")
        remaining = client.get("/tasks")
        assert [t["title"] for t in remaining.json()["tasks"]] == ["second"], f"GET /tasks: expected only 'second' left, got {remaining.json()!r}"


@pytest.mark.spec("The capstone: path params, redirects, 405 + Allow, streaming, HEAD")
@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_capstone_notes_redirect_405_and_stream(server: str) -> None:
    app = capstone.make_app()  # a fresh app (an empty task list) for each test
    with served(app, server) as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        note = client.get("/notes/guides/asgi.txt")
        redirect = client.get("/old-tasks")
        wrong_method = client.put("/tasks")
        stream = client.get("/count/200")
        head = client.head("/")
        echoed = client.post("/echo-headers", content=b"posted body", headers={"X-Client": "katas"})
    check(note, 200, "GET /notes/guides/asgi.txt ({name:path} takes slashes)")
    assert note.text == "scope, receive, send: that is all.", f"GET /notes/guides/asgi.txt: got {note.text!r}"
    check(redirect, 301, "GET /old-tasks")
    assert redirect.headers.get("location") == "/tasks", f"GET /old-tasks: expected Location /tasks, got {redirect.headers.get('location')!r}"
    check(wrong_method, 405, "PUT /tasks")
    allow = {m.strip() for m in wrong_method.headers.get("allow", "").split(",")}
    assert {"GET", "POST"} <= allow, f"PUT /tasks: expected Allow with GET and POST, got {wrong_method.headers.get('allow')!r}"
    check(stream, 200, "GET /count/200")
    assert stream.text == "".join(f"{i}\n" for i in range(1, 201)), f"GET /count/200: expected 1..200, one per line, got {stream.text[:100]!r}..."
    check(head, 200, "HEAD /")
    assert head.content == b"", f"HEAD /: expected no body, got {head.content[:100]!r}"
    check(echoed, 200, "POST /echo-headers")
    assert echoed.json() == {"method": "POST", "x-client": "katas", "body": "posted body"}, f"POST /echo-headers: got {echoed.text!r}"


@pytest.mark.spec("ASGI Lifespan §Startup, §Shutdown, under uvicorn (lifespan='on') and hypercorn")
@pytest.mark.parametrize("server", REFERENCES)
def test_capstone_startup_and_shutdown_under_a_real_server(server: str) -> None:
    app = capstone.make_app()
    with served(app, server) as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        during = list(app.lifecycle)
        check(client.get("/"), 200, "GET /")
    assert during == ["startup"], f"expected the startup hook to have run before {server} served, got {during!r}"
    assert app.lifecycle == ["startup", "shutdown"], f"expected the shutdown hook when {server} stopped, got {app.lifecycle!r}"


# ============================================================================ WebSocket


def ws_url(url: str, path: str) -> str:
    return url.replace("http://", "ws://", 1) + path


@pytest.mark.spec("ASGI WebSocket §Accept, §Receive, §Send, §Close; RFC 6455 §7.4 (1000)")
@pytest.mark.parametrize("server", WS_SERVERS)
def test_capstone_websocket_echo(server: str) -> None:
    app = capstone.make_app()  # a fresh app (an empty task list) for each test
    with served(app, server) as url:
        try:
            with connect(ws_url(url, "/ws/echo"), open_timeout=CLIENT_TIMEOUT, close_timeout=CLIENT_TIMEOUT) as ws:
                ws.send("hello")
                first = ws.recv(timeout=CLIENT_TIMEOUT)
                ws.send("again")
                second = ws.recv(timeout=CLIENT_TIMEOUT)
                ws.send("bye")
                last = ws.recv(timeout=CLIENT_TIMEOUT)
                with pytest.raises(ConnectionClosed):
                    ws.recv(timeout=CLIENT_TIMEOUT)
                code = ws.close_code
        except TimeoutError:
            pytest.fail("the WebSocket echo did not answer within 5 s (does WebSocket.receive_text() / send_text() talk ASGI?)")
        except InvalidStatus as exc:
            pytest.fail(f"the WebSocket handshake was refused with {exc.response.status_code}: is the @app.websocket route matched?")
    assert (first, second, last) == ("echo: hello", "echo: again", "goodbye"), f"expected the echoes and 'goodbye', got {(first, second, last)!r}"
    assert code == 1000, f"expected the server to close with 1000 after 'bye', got {code!r}"


@pytest.mark.spec("ASGI WebSocket §Close (close before accept = 403)")
@pytest.mark.parametrize("server", REFERENCES)
def test_capstone_websocket_unknown_path_is_refused(server: str) -> None:
    app = capstone.make_app()
    with served(app, server) as url:
        with pytest.raises((InvalidStatus, ConnectionClosed)) as caught:
            with connect(ws_url(url, "/ws/nowhere"), open_timeout=CLIENT_TIMEOUT, close_timeout=CLIENT_TIMEOUT) as ws:
                ws.recv(timeout=CLIENT_TIMEOUT)
    error = caught.value
    assert isinstance(error, InvalidStatus) and error.response.status_code == 403, (
        f"expected the handshake for an unknown WebSocket path to be refused with 403, got {error!r}"
    )
