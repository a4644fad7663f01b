"""Exercise 22, part two: the capstone app (``mini_framework_capstone.py``) on real servers.

The capstone is written against your framework. Every HTTP scenario runs over TCP, driven by httpx,
twice: under uvicorn, and under **your own server from exercise 15** (``asgi_server.Server``). The
WebSocket echo runs under uvicorn (exercise 15's server speaks no WebSocket) and under your
WebSocket server from exercise 18 (``websocket_server.Server``). Those runs are graded too: they are
your framework on your server. If exercise 15 or 18 is not in this course copy, its runs are
skipped; if it is still a stub, they fail and say so.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import mini_framework_capstone as capstone
from testkit.serving import CLIENT_TIMEOUT, HOST, serving, uvicorn_serving

HTTP_SERVERS = [pytest.param("uvicorn", id="uvicorn"), pytest.param("asgi_server", id="your-server-15")]
WS_SERVERS = [pytest.param("uvicorn", id="uvicorn"), pytest.param("websocket_server", id="your-server-18")]
FINISH = "this test runs the capstone on your own server from exercise {number}: finish {number} first"


class Watched:
    """Your server, with a note of whether ``serve_forever()`` is still a stub."""

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
        if self.unfinished is None:
            self.server.shutdown()

    def server_close(self) -> None:
        close = getattr(self.server, "server_close", None)
        if close is not None:
            close()


def own_server(module_name: str, number: int, app: Any) -> Watched:
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"exercise {number} ({module_name}) is not part of this course copy: no server of your own to run on")
    module = importlib.import_module(module_name)  # an error inside your module shows as itself
    if module_name == "websocket_server":
        # Exercise 18 gives its Server; the WebSocket parts are the student's. Probe one of them.
        try:
            module.accept_key("dGhlIHNhbXBsZSBub25jZQ==")
        except NotImplementedError:
            pytest.fail(FINISH.format(number=number))
    try:
        return Watched(module.Server(app, HOST, 0))
    except NotImplementedError:
        pytest.fail(FINISH.format(number=number))


@contextlib.contextmanager
def served(app: Any, server: str) -> Iterator[str]:
    """Serve ``app`` on ``server``; yield the base URL."""
    if server == "uvicorn":
        with uvicorn_serving(app, lifespan="on") as url:
            yield url
        return
    number = 15 if server == "asgi_server" else 18
    watched = own_server(server, number, app)
    try:
        with serving(watched, name=f"your {server}.Server") as url:
            try:
                yield url
            except (httpx.HTTPError, OSError, TimeoutError):
                if watched.unfinished is not None:
                    pytest.fail(FINISH.format(number=number))
                raise
    except AssertionError as exc:
        if isinstance(exc.__cause__, NotImplementedError):
            pytest.fail(FINISH.format(number=number))
        raise


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


@pytest.mark.spec("ASGI Lifespan §Startup, §Shutdown, under uvicorn (lifespan='on')")
def test_capstone_startup_and_shutdown_under_uvicorn() -> None:
    app = capstone.make_app()
    with served(app, "uvicorn") as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        during = list(app.lifecycle)
        check(client.get("/"), 200, "GET /")
    assert during == ["startup"], f"expected the startup hook to have run before uvicorn served, got {during!r}"
    assert app.lifecycle == ["startup", "shutdown"], f"expected the shutdown hook when uvicorn stopped, got {app.lifecycle!r}"


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
def test_capstone_websocket_unknown_path_is_refused() -> None:
    app = capstone.make_app()
    with served(app, "uvicorn") as url:
        with pytest.raises((InvalidStatus, ConnectionClosed)) as caught:
            with connect(ws_url(url, "/ws/nowhere"), open_timeout=CLIENT_TIMEOUT, close_timeout=CLIENT_TIMEOUT) as ws:
                ws.recv(timeout=CLIENT_TIMEOUT)
    error = caught.value
    assert isinstance(error, InvalidStatus) and error.response.status_code == 403, (
        f"expected the handshake for an unknown WebSocket path to be refused with 403, got {error!r}"
    )
