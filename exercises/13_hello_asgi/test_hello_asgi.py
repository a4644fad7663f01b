"""Exercise 13 is graded three ways, from the inside out.

- message by message with ``asgiref.testing.ApplicationCommunicator``, which plays the server: it
  feeds ``receive()`` exactly the events a test chooses (a body in pieces, a disconnect) and shows
  every message the app sends;
- request by request with ``httpx.ASGITransport`` (an in-process HTTP client for ASGI apps);
- over real TCP, served by uvicorn and by hypercorn, the reference ASGI servers: the app must
  behave the same on both.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import httpx
import pytest
from asgiref.testing import ApplicationCommunicator

import hello_asgi
from testkit.asgi import http_scope, run
from testkit.asgi_spec import checked_app, checked_send
from testkit.serving import ASGI_SERVERS, CLIENT_TIMEOUT, asgi_serving

T = TypeVar("T")
TEXT = b"text/plain; charset=utf-8"


# --- helpers ---------------------------------------------------------------------------------------


async def next_message(communicator: ApplicationCommunicator, what: str, timeout: float = 2) -> dict[str, Any]:
    """The app's next message; if the app raises or returns instead, say so at once."""
    queue, app = communicator.output_queue, communicator.future
    deadline = asyncio.get_running_loop().time() + timeout
    while queue.empty():
        if app.done():
            app.result()  # raises the app's own exception, if it raised one
            pytest.fail(f"expected {what} from the app, but app() returned without sending it")
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"expected {what} from the app, but it sent nothing within {timeout:g} s")
        await asyncio.sleep(0.005)
    return queue.get_nowait()


async def finished(communicator: ApplicationCommunicator, after: str) -> None:
    """Wait up to 2 s for app() to return; fail in plain words if it is still running or raised.

    (Not ``communicator.wait()``: on a timeout it cancels the app and returns as if all went well.)
    """
    app = communicator.future
    done, _ = await asyncio.wait({app}, timeout=2)
    if not done:
        app.cancel()
        await asyncio.wait({app}, timeout=1)
        pytest.fail(f"expected app() to return {after}, but it was still running 2 s later")
    if app.cancelled():
        pytest.fail(f"expected app() to return {after}, but it was cancelled")
    exc = app.exception()
    if exc is not None:
        raise exc


def sent_after(communicator: ApplicationCommunicator) -> list[dict[str, Any]]:
    """Every message still waiting in the communicator's output queue."""
    messages = []
    while not communicator.output_queue.empty():
        messages.append(communicator.output_queue.get_nowait())
    return messages


def check_start(message: dict[str, Any], status: int) -> list[tuple[bytes, bytes]]:
    """Check an ``http.response.start`` message; return its headers as a list of tuples."""
    assert message.get("type") == "http.response.start", f"expected an 'http.response.start' message first, got {message!r}"
    got = message.get("status")
    assert type(got) is int, f"expected the status as an int (ASGI uses 200, not '200 OK'), got {got!r}"
    assert got == status, f"expected status {status}, got {got}"
    headers = [tuple(pair) for pair in message.get("headers", [])]
    for pair in headers:
        assert len(pair) == 2 and all(isinstance(part, bytes) for part in pair), (
            f"expected every header as a (name, value) pair of bytes, got {pair!r}"
        )
        assert pair[0] == pair[0].lower(), f"expected header names in lower case (ASGI requires it), got {pair[0]!r}"
    return headers  # type: ignore[return-value]


def check_final_body(message: dict[str, Any], body: bytes) -> None:
    assert message.get("type") == "http.response.body", f"expected an 'http.response.body' message, got {message!r}"
    assert message.get("body", b"") == body, f"expected body {body!r}, got {message.get('body', b'')!r}"
    assert not message.get("more_body", False), "expected more_body False (or missing) on the last body message"


async def asgi_request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=checked_app(hello_asgi.app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
        return await client.request(method, path, **kwargs)


def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    return run(asgi_request(method, path, **kwargs), what=f"{method} {path} through httpx.ASGITransport")


# --- send_response() -------------------------------------------------------------------------------


@pytest.mark.spec("ASGI HTTP §Response Start, §Response Body")
def test_send_response_sends_start_then_body() -> None:
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    run(hello_asgi.send_response(checked_send(send, http_scope()), 201, b"made it", headers=[(b"x-extra", b"1")]))
    assert len(messages) == 2, f"expected exactly 2 messages (start, then body), got {len(messages)}: {messages!r}"
    headers = check_start(messages[0], 201)
    expected = [(b"content-type", TEXT), (b"content-length", b"7"), (b"x-extra", b"1")]
    assert headers == expected, f"expected headers {expected!r}, got {headers!r}"
    check_final_body(messages[1], b"made it")

    messages.clear()
    run(hello_asgi.send_response(checked_send(send, http_scope()), 200, b"{}", content_type=b"application/json"))
    headers = check_start(messages[0], 200)
    assert (b"content-type", b"application/json") in headers, f"expected the content_type argument to be sent, got {headers!r}"


# --- GET / -----------------------------------------------------------------------------------------


@pytest.mark.spec("ASGI 3.0 §Applications")
def test_hello_through_asgi_transport() -> None:
    response = request("GET", "/")
    assert response.status_code == 200, f"expected status 200 for GET /, got {response.status_code}"
    assert response.headers.get("content-type") == TEXT.decode(), (
        f"expected Content-Type: text/plain; charset=utf-8, got {response.headers.get('content-type')!r}"
    )
    assert response.content == b"Hello, world!", f"expected b'Hello, world!', got {response.content!r}"


@pytest.mark.spec("ASGI HTTP §Response Start, §Response Body")
def test_hello_message_by_message() -> None:
    async def scenario() -> None:
        communicator = ApplicationCommunicator(checked_app(hello_asgi.app), http_scope("GET", "/"))
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        headers = check_start(await next_message(communicator, "http.response.start"), 200)
        assert (b"content-length", b"13") in headers, f"expected a content-length of 13, got {headers!r}"
        check_final_body(await next_message(communicator, "http.response.body"), b"Hello, world!")
        await finished(communicator, after="once the response was complete")

    run(scenario())


@pytest.mark.spec("RFC 9110 §15.5.5 (404 Not Found)")
def test_an_unknown_path_is_404() -> None:
    response = request("GET", "/nowhere")
    assert response.status_code == 404, f"expected status 404 for GET /nowhere, got {response.status_code}"
    assert response.content == b"Not Found", f"expected body b'Not Found', got {response.content!r}"


@pytest.mark.spec("RFC 9110 §15.5.6 (405 Method Not Allowed), §10.2.1 (Allow)")
def test_a_wrong_method_is_405_with_allow() -> None:
    for method, path, allow in [("POST", "/", "GET"), ("DELETE", "/", "GET"), ("GET", "/echo", "POST")]:
        response = request(method, path)
        assert response.status_code == 405, f"expected status 405 for {method} {path}, got {response.status_code}"
        assert response.headers.get("allow") == allow, (
            f"expected 'Allow: {allow}' on the 405 for {method} {path}, got {response.headers.get('allow')!r}"
        )
        assert response.content == b"Method Not Allowed", (
            f"expected the body b'Method Not Allowed' on the 405 for {method} {path}, got {response.content!r}"
        )


# --- read_body() -----------------------------------------------------------------------------------


def scripted_receive(messages: list[dict[str, Any]]) -> Any:
    """A receive() that returns ``messages`` in order, then fails the test if called again."""
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if not pending:
            pytest.fail(
                "read_body() called receive() again after the last piece (more_body False): "
                "on a real server that call would wait until the client hangs up"
            )
        return pending.pop(0)

    return receive


@pytest.mark.spec("ASGI HTTP §Request - receive event")
def test_read_body_joins_the_pieces() -> None:
    receive = scripted_receive(
        [
            {"type": "http.request", "body": b"Hello, ", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b"world", "more_body": True},
            {"type": "http.request", "body": b"!", "more_body": False},
        ]
    )
    body = run(hello_asgi.read_body(receive))
    assert body == b"Hello, world!", f"expected the pieces joined: b'Hello, world!', got {body!r}"

    # Both keys are optional: "body" defaults to b"" and "more_body" to False.
    receive = scripted_receive([{"type": "http.request", "more_body": True}, {"type": "http.request", "body": b"last"}])
    body = run(hello_asgi.read_body(receive))
    assert body == b"last", f"expected b'last' (a missing 'body' is b'', a missing 'more_body' is False), got {body!r}"


@pytest.mark.spec("ASGI HTTP §Disconnect - receive event")
def test_read_body_raises_when_the_client_disconnects() -> None:
    receive = scripted_receive([{"type": "http.request", "body": b"half a bo", "more_body": True}, {"type": "http.disconnect"}])
    with pytest.raises(hello_asgi.ClientDisconnected):
        run(hello_asgi.read_body(receive), timeout=2, what="read_body(), given http.disconnect (it should raise ClientDisconnected),")


@pytest.mark.spec("ASGI 3.0 §Error Handling")
def test_read_body_raises_on_an_event_it_does_not_expect() -> None:
    # Not a body piece: a WebSocket event has no place in an HTTP request's receive() stream.
    odd = {"type": "websocket.receive", "text": "hi"}
    body = run(hello_asgi.read_body(scripted_receive([{"type": "http.request", "body": b"whole"}])))
    assert body == b"whole", f"expected read_body() to read a one-piece body first, b'whole', got {body!r}"
    receive = scripted_receive([{"type": "http.request", "body": b"half", "more_body": True}, odd])

    async def scenario() -> BaseException | bytes:
        try:
            return await hello_asgi.read_body(receive)
        except Exception as exc:
            return exc

    got = run(scenario(), timeout=2, what="read_body(), given a 'websocket.receive' event,")
    assert isinstance(got, BaseException), (
        f"expected read_body() to raise on a {odd['type']!r} event (neither http.request nor http.disconnect), "
        f"but it returned {got!r}: ASGI §Error Handling says an app that receives an invalid event should raise"
    )


# --- POST /echo ------------------------------------------------------------------------------------


@pytest.mark.spec("ASGI HTTP §Request - receive event")
def test_echo_through_asgi_transport() -> None:
    response = request("POST", "/echo", content=b"echo me", headers={"Content-Type": "text/x-kata"})
    assert response.status_code == 200, f"expected status 200 for POST /echo, got {response.status_code}"
    assert response.content == b"echo me", f"expected the request body back, b'echo me', got {response.content!r}"
    assert response.headers.get("content-type") == "text/x-kata", (
        f"expected the request's Content-Type back (text/x-kata), got {response.headers.get('content-type')!r}"
    )
    response = request("POST", "/echo", content=b"\x00\xff")
    assert response.content == b"\x00\xff", f"expected the bytes back untouched, got {response.content!r}"
    assert response.headers.get("content-type") == "application/octet-stream", (
        "expected Content-Type: application/octet-stream when the request has none, "
        f"got {response.headers.get('content-type')!r}"
    )


@pytest.mark.spec("ASGI HTTP §Request - receive event (more_body)")
def test_echo_waits_for_the_last_piece() -> None:
    async def scenario() -> None:
        scope = http_scope("POST", "/echo", headers=[(b"content-type", b"text/plain")])
        communicator = ApplicationCommunicator(checked_app(hello_asgi.app), scope)
        await communicator.send_input({"type": "http.request", "body": b"one, ", "more_body": True})
        await communicator.send_input({"type": "http.request", "body": b"two, ", "more_body": True})
        assert await communicator.receive_nothing(timeout=0.2), (
            f"expected no answer while more_body is True (more pieces to come), got {sent_after(communicator)!r}"
        )
        await communicator.send_input({"type": "http.request", "body": b"three", "more_body": False})
        check_start(await next_message(communicator, "http.response.start"), 200)
        check_final_body(await next_message(communicator, "http.response.body"), b"one, two, three")
        await finished(communicator, after="once the response was complete")

    run(scenario())


@pytest.mark.spec("ASGI HTTP §Disconnect - receive event")
def test_echo_stops_when_the_client_disconnects() -> None:
    async def scenario() -> None:
        communicator = ApplicationCommunicator(checked_app(hello_asgi.app), http_scope("POST", "/echo"))
        await communicator.send_input({"type": "http.request", "body": b"half a bo", "more_body": True})
        await communicator.send_input({"type": "http.disconnect"})
        try:
            await finished(communicator, after="once receive() said http.disconnect")
        except Exception as exc:
            pytest.fail(
                f"expected app() to return quietly after http.disconnect, but it raised {exc!r}: "
                "catch ClientDisconnected in app() and return"
            )
        leftovers = sent_after(communicator)
        assert leftovers == [], f"expected no response to a client that is gone, got {leftovers!r}"

    run(scenario())


# --- other protocols -------------------------------------------------------------------------------


@pytest.mark.spec("ASGI 3.0 §Protocol Specifications")
def test_other_protocols_are_rejected() -> None:
    assert request("GET", "/").status_code == 200, "expected GET / to work first (status 200)"
    sent: list[dict[str, Any]] = []
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "websocket.connect"}
        await asyncio.Event().wait()  # nothing more ever comes
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/", "raw_path": b"/",
             "query_string": b"", "root_path": "", "headers": [], "subprotocols": [],
             # Not a websocket key: here so that an app that skips the type check cannot fail by accident.
             "method": "GET"}  # fmt: skip

    async def scenario() -> BaseException | None:
        try:
            # The bare app: the validator would refuse an HTTP message on a websocket scope before it
            # reached `send`, so an app that skips the type check would still seem to send nothing.
            await asyncio.wait_for(hello_asgi.app(scope, receive, send), 2)
        except TimeoutError:
            pytest.fail("expected app() to raise for a 'websocket' scope, but it was still waiting 2 s later")
        except Exception as exc:
            return exc
        return None

    raised = run(scenario())
    assert raised is not None, "expected app() to raise an exception for a 'websocket' scope, but it returned"
    assert sent == [], f"expected nothing sent on a protocol the app does not speak, got {sent!r}"


# --- over TCP, with uvicorn and hypercorn --------------------------------------------------------


@pytest.mark.parametrize("server", ASGI_SERVERS)
@pytest.mark.spec("ASGI HTTP §Request - receive event")
def test_served_by_a_real_server(server: str) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: the server hands it over in several http.request messages
    # lifespan="auto": the server tries the lifespan protocol first; an app that raises is fine.
    app = checked_app(hello_asgi.app)
    with asgi_serving(server, app, lifespan="auto") as url:
        with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
            hello = client.get("/")
            echo = client.post("/echo", content=big, headers={"Content-Type": "application/x-big"})
            missing = client.get("/nowhere")
    app.raise_first()  # a message the ASGI spec forbids, which the server answered with a 500
    assert (hello.status_code, hello.content) == (200, b"Hello, world!"), (
        f"expected 200 b'Hello, world!' for GET /, got {hello.status_code} {hello.content[:40]!r}"
    )
    assert echo.status_code == 200, f"expected status 200 for POST /echo, got {echo.status_code}"
    assert len(echo.content) == len(big) and echo.content == big, (
        f"expected the 1 MiB body back byte for byte, got {len(echo.content)} bytes: keep reading while more_body is True"
    )
    assert echo.headers.get("content-type") == "application/x-big", (
        f"expected Content-Type: application/x-big back, got {echo.headers.get('content-type')!r}"
    )
    assert missing.status_code == 404, f"expected status 404 for GET /nowhere, got {missing.status_code}"
