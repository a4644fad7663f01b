"""Exercise 12 is graded by the clock, with wide margins, and by the answers themselves.

The apps are first called in-process (``wsgiref.validate`` for WSGI, ``httpx.ASGITransport`` for ASGI),
then served for real: the WSGI app by wsgiref's one-thread ``WSGIServer``, the ASGI app by uvicorn,
each driven by an ``httpx.AsyncClient`` sending its requests all at once. Every message the ASGI
app sends is checked by the course's ASGI validator (``testkit.asgi_spec``): an int status, header
names as lowercase bytes, a bytes body. The cases marked ``reference`` run the same test with the
course's own apps, to prove the test and its margins.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import httpx
import pytest

import why_async
from testkit.asgi import run
from testkit.asgi_spec import checked_app
from testkit.serving import CLIENT_TIMEOUT, HOST, serving, uvicorn_serving

T = TypeVar("T")


# --- helpers ---------------------------------------------------------------------------------------


async def fetch_together(
    paths: Sequence[str], *, base_url: str, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[float, list[httpx.Response]]:
    """GET every path at the same time; return (seconds until the last answer, the responses)."""
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=CLIENT_TIMEOUT) as client:
        start = time.perf_counter()
        responses = await asyncio.gather(*(client.get(path) for path in paths))
        return time.perf_counter() - start, list(responses)


def check_answer(status: int, headers: dict[str, str], body: bytes, path: str) -> None:
    """The slow endpoint's answer: 200, JSON with a right Content-Length, {"path": ..., "waited": DELAY}."""
    assert status == 200, f"expected status 200 for GET {path}, got {status}" + (
        " (the app raised: see the captured output for the traceback)" if status == 500 else ""
    )
    content_type = headers.get("content-type", "")
    assert content_type.split(";")[0].strip() == "application/json", (
        f"expected Content-Type: application/json, got {content_type!r}"
    )
    length = headers.get("content-length")
    assert length == str(len(body)), f"expected Content-Length: {len(body)} (the body's size), got {length!r}"
    try:
        document = json.loads(body)
    except ValueError:
        pytest.fail(f"expected a JSON body, got {body[:80]!r}")
    expected = {"path": path, "waited": why_async.DELAY}
    assert document == expected, f"expected {expected!r}, got {document!r}"


def check_responses(paths: Sequence[str], responses: Iterable[httpx.Response]) -> None:
    for path, response in zip(paths, responses, strict=True):
        headers = {name.lower(): value for name, value in response.headers.items()}
        check_answer(response.status_code, headers, response.content, path)


def call_wsgi(app: Callable[..., Any], path: str) -> tuple[int, dict[str, str], bytes]:
    """Call a WSGI app the way a server would, wrapped in wsgiref's validator (PEP 3333 checks)."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    environ["QUERY_STRING"] = ""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started.append((status, headers))
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    assert started, "the app returned without calling start_response()"
    status, headers = started[-1]
    return int(status.split()[0]), {name.lower(): value for name, value in headers}, body


def check_does_not_block(app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """10 requests of 0.2 s through ASGITransport, all at once: together they must take far less than 2 s."""
    monkeypatch.setattr(why_async, "DELAY", 0.2)
    paths = [f"/users/{i}" for i in range(10)]
    transport = httpx.ASGITransport(app=checked_app(app, what="asgi_app"))
    elapsed, responses = run(
        fetch_together(paths, base_url="http://testserver", transport=transport),
        timeout=10,
        what="10 requests to asgi_app through httpx.ASGITransport",
    )
    check_responses(paths, responses)
    assert elapsed < 1.0, (
        f"expected 10 requests of 0.2 s each, sent at once, to take about 0.2 s, got {elapsed:.2f} s: "
        "they ran one after another. Inside async def, wait with `await asyncio.sleep(DELAY)`; "
        "time.sleep() stops the whole event loop, and every other request with it"
    )


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output quiet


# --- the course's own apps, for the reference cases -------------------------------------------------


def reference_wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    time.sleep(why_async.DELAY)
    body = json.dumps({"path": environ["PATH_INFO"], "waited": why_async.DELAY}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class ReferenceAsgiApp:
    """The slow endpoint, counting how many requests it is serving at once. ``/broken`` answers 500;
    ``/one-missing`` answers 404 to the second request that arrives and 200 to the others."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.answered = 0
        self.arrived = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.in_flight += 1
        self.arrived += 1
        arrival = self.arrived
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(why_async.DELAY)
            status = 500 if scope["path"] == "/broken" else 404 if scope["path"] == "/one-missing" and arrival == 2 else 200
            body = json.dumps({"path": scope["path"], "waited": why_async.DELAY}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            # Counted before the last send: once the client has the whole answer, so has this count
            # (the server runs in another thread, which may resume after the client has returned).
            self.answered += 1
            await send({"type": "http.response.body", "body": body})
        finally:
            self.in_flight -= 1


# --- the endpoint, in-process ----------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §Specification Details")
def test_wsgi_app_answers_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(why_async, "DELAY", 0.2)
    start = time.perf_counter()
    status, headers, body = call_wsgi(why_async.wsgi_app, "/users/7")
    elapsed = time.perf_counter() - start
    check_answer(status, headers, body, "/users/7")
    assert elapsed >= 0.18, (
        f"expected the answer after DELAY = 0.2 s (the pretend database call), got it after {elapsed:.2f} s: "
        "call time.sleep(DELAY), reading DELAY inside the function"
    )


@pytest.mark.spec("ASGI HTTP §Response Start, §Response Body")
def test_asgi_app_answers_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(why_async, "DELAY", 0.2)
    elapsed, responses = run(
        fetch_together(["/users/7"], base_url="http://testserver", transport=httpx.ASGITransport(app=checked_app(why_async.asgi_app, what="asgi_app"))),
        timeout=5,
        what="GET /users/7 through httpx.ASGITransport",
    )
    check_responses(["/users/7"], responses)
    assert elapsed >= 0.18, (
        f"expected the answer after DELAY = 0.2 s, got it after {elapsed:.2f} s: await asyncio.sleep(DELAY) first"
    )


@pytest.mark.spec("ASGI 3.0 §Applications")
def test_asgi_app_waits_without_blocking_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    check_does_not_block(why_async.asgi_app, monkeypatch)


@pytest.mark.spec("ASGI 3.0 §Applications (an app raises for a scope type it does not understand)")
def test_asgi_app_refuses_other_scope_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(why_async, "DELAY", 0.01)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/ws", "raw_path": b"/ws", "query_string": b"",
             "headers": [], "scheme": "ws", "subprotocols": []}

    async def attempt() -> str:
        try:
            await why_async.asgi_app(scope, receive, send)
        except NotImplementedError:
            raise
        except Exception:
            return "raised"
        return "returned"

    got = run(attempt(), timeout=5, what="asgi_app with a websocket scope")
    http_messages = [m.get("type") for m in sent if str(m.get("type", "")).startswith("http.")]
    assert got == "raised" and not http_messages, (
        f"expected asgi_app to raise for scope['type'] == 'websocket' and send nothing, got it {got} after sending "
        f"{http_messages}: this app speaks HTTP only, check scope['type'] first"
    )


# --- measure() -------------------------------------------------------------------------------------


@pytest.fixture
def reference_server(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(why_async, "DELAY", 0.3)
    app = ReferenceAsgiApp()
    with uvicorn_serving(app, lifespan="off") as url:
        yield app, url


def test_measure_waits_for_every_answer(reference_server: Any) -> None:
    app, url = reference_server
    seconds = run(why_async.measure(url + "/", 5), timeout=10, what="measure(url, 5)")
    assert isinstance(seconds, float), f"expected measure() to return the seconds as a float, got {seconds!r}"
    assert app.answered == 5, f"expected the server to have answered 5 requests when measure() returned, got {app.answered}"
    assert seconds >= 0.27, (
        f"expected at least 0.3 s (every answer takes that long), got {seconds:.3f} s: "
        "start the clock before sending and stop it after the last answer arrived"
    )


def test_measure_sends_the_requests_together(reference_server: Any) -> None:
    app, url = reference_server
    seconds = run(why_async.measure(url + "/", 10), timeout=10, what="measure(url, 10)")
    assert app.answered == 10, f"expected the server to have answered 10 requests, got {app.answered}"
    assert app.most_in_flight >= 5, (
        f"expected the 10 requests to be in flight together, but the server never saw more than "
        f"{app.most_in_flight} at once: start them all with asyncio.gather() instead of awaiting each in turn"
    )
    assert seconds < 1.5, f"expected 10 concurrent answers of 0.3 s each in well under 1.5 s, got {seconds:.2f} s"


@pytest.mark.spec("RFC 9110 §15.3 (2xx: success), §15.6 (5xx: server error)")
def test_measure_refuses_to_time_failures(reference_server: Any) -> None:
    _, url = reference_server
    with pytest.raises(httpx.HTTPStatusError):
        run(why_async.measure(url + "/broken", 2), timeout=10, what="measure(url + '/broken', 2)")


@pytest.mark.spec("RFC 9110 §15.3 (2xx: success), §15.5.5 (404: a client error is no success either)")
def test_measure_refuses_when_any_one_answer_fails(reference_server: Any) -> None:
    app, url = reference_server
    try:
        seconds = run(why_async.measure(url + "/one-missing", 4), timeout=10, what="measure(url + '/one-missing', 4)")
    except httpx.HTTPStatusError as exc:
        assert exc.response.status_code == 404, f"expected the HTTPStatusError of the 404 answer, got {exc!r}"
        return
    pytest.fail(
        f"expected measure() to raise httpx.HTTPStatusError: 1 of the 4 answers was a 404 (the others 200), "
        f"but it returned {seconds!r}. Check every response (response.raise_for_status()), not only the first "
        f"or the last, and count any status outside 2xx as a failure (server saw {app.arrived} requests)"
    )


# --- served for real -------------------------------------------------------------------------------

STUDENT = "your app"


@pytest.mark.spec("PEP 3333 §Specification Details")
@pytest.mark.parametrize("which", [pytest.param("reference", marks=pytest.mark.reference, id="reference"), STUDENT])
def test_a_one_thread_wsgi_server_answers_one_request_at_a_time(monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    monkeypatch.setattr(why_async, "DELAY", 0.25)
    app = why_async.wsgi_app if which == STUDENT else reference_wsgi_app
    paths = [f"/users/{i}" for i in range(4)]
    # wsgiref's WSGIServer handles one connection at a time (no ThreadingMixIn): the WSGI model.
    server = make_server(HOST, 0, app, server_class=WSGIServer, handler_class=QuietHandler)
    with serving(server, name="wsgiref's WSGIServer", poll_interval=0.01) as url:
        elapsed, responses = run(fetch_together(paths, base_url=url), timeout=10, what="4 requests to wsgiref")
    check_responses(paths, responses)
    assert elapsed >= 0.9, (
        f"expected 4 requests of 0.25 s on a one-thread server to take at least 4 x 0.25 s, got {elapsed:.2f} s: "
        "does wsgi_app really time.sleep(DELAY) before answering?"
    )


@pytest.mark.spec("ASGI 3.0 §Applications")
@pytest.mark.parametrize("which", [pytest.param("reference", marks=pytest.mark.reference, id="reference"), STUDENT])
def test_uvicorn_answers_20_slow_requests_in_about_the_time_of_one(monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    app = why_async.asgi_app if which == STUDENT else ReferenceAsgiApp()
    if which == STUDENT:
        # An app that blocks the loop would hold uvicorn for 20 x 0.5 s: find out in-process first.
        check_does_not_block(app, monkeypatch)
    monkeypatch.setattr(why_async, "DELAY", 0.5)
    paths = [f"/users/{i}" for i in range(20)]
    checked = checked_app(app, what="asgi_app")
    with uvicorn_serving(checked, lifespan="off", timeout_graceful_shutdown=1) as url:
        elapsed, responses = run(fetch_together(paths, base_url=url), timeout=10, what="20 requests to uvicorn")
    checked.raise_first()  # uvicorn turned a broken message into its own 500: show the rule instead
    check_responses(paths, responses)
    assert elapsed >= 0.45, f"expected every answer to wait DELAY = 0.5 s, but all 20 came in {elapsed:.2f} s"
    assert elapsed < 2.5, (
        f"expected 20 concurrent requests of 0.5 s each to take about 0.5 s on one event loop, got {elapsed:.2f} s "
        "(one at a time would take 10 s)"
    )
