"""The apps the tests serve with your server (and with uvicorn, to prove each test). You never edit this.

Each probe app does one thing, and some break the ASGI rules on purpose, so the tests can see what
your server does about it. ``SEEN`` collects what the apps observed (the server runs in a thread of
the test process, so the test reads it directly).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


class Seen:
    """What the apps saw: scopes, events and exceptions, with a way to wait for a new entry."""

    def __init__(self) -> None:
        self.entries: list[Any] = []
        self.changed = threading.Condition()

    def add(self, entry: Any) -> None:
        with self.changed:
            self.entries.append(entry)
            self.changed.notify_all()

    def clear(self) -> None:
        with self.changed:
            self.entries.clear()

    def wait_for(self, entry: Any, timeout: float) -> bool:
        """Wait until ``entry`` has been added; false if it was not within ``timeout`` seconds."""
        with self.changed:
            return self.changed.wait_for(lambda: entry in self.entries, timeout)


SEEN = Seen()


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """200, a fixed body and a Content-Length."""
    if scope["type"] != "http":
        return
    body = b"Hello, world!"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


APP_DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"


async def dated_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Like hello_app, but the app gives its own ``date`` (the example of RFC 9110 §5.6.7)."""
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"2"), (b"date", APP_DATE)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def closing_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Like hello_app, but the app itself asks to close: ``connection: close``."""
    if scope["type"] != "http":
        return
    body = b"Goodbye!"
    headers = [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def not_modified_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """304 Not Modified: a response that never has a body (RFC 9110 §15.4.5), and no Content-Length."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", b'"v1"')]})
    await send({"type": "http.response.body", "body": b""})


async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Takes half a second to answer: a server asked to stop meanwhile must let it finish."""
    if scope["type"] != "http":
        return
    SEEN.add("slow app started")
    await asyncio.sleep(0.5)
    body = b"worth the wait"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def slow_stream_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Streams ``first``, takes half a second, then ``last``: busy for a while, and visibly so."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
    await asyncio.sleep(0.5)
    await send({"type": "http.response.body", "body": b"last\n"})


async def slow_echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the body, streams ``first``, takes a third of a second, then sends the body back."""
    if scope["type"] != "http":
        return
    body, more_body = b"", True
    while more_body:
        message = await receive()
        body, more_body = body + message.get("body", b""), message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
    await asyncio.sleep(0.3)
    await send({"type": "http.response.body", "body": body})


async def scope_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Records the scope it was called with, answers 204."""
    if scope["type"] != "http":
        return
    SEEN.add(scope)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body (every http.request message) and sends it back with a Content-Length."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def parts_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """No Content-Length: the body goes out in three parts, so the server must frame it (chunked)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for part in (b"one,", b"two,", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def fails_before_start_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Raises before sending anything: the server must answer 500 itself."""
    if scope["type"] != "http":
        return
    raise RuntimeError("this app fails before the response starts (on purpose)")


async def no_response_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Returns without sending anything: the server must answer 500 itself."""
    return None


async def fails_mid_body_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Starts a response, sends part of the body, then raises: the server can only close the connection."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("this app fails in the middle of its body (on purpose)")


async def too_long_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Says Content-Length: 4, then sends 6 bytes in two parts: the 2 extra must never reach the wire."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
    await send({"type": "http.response.body", "body": b"ok", "more_body": True})
    await send({"type": "http.response.body", "body": b"ay!!"})


async def too_short_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Says Content-Length: 10, then ends after 5 bytes: only a close tells the client the body broke."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
    await send({"type": "http.response.body", "body": b"short"})


async def rule_breaker_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Tries sends in the wrong order; reports which ones the server refused with an exception.

    The body is a JSON object: for each wrong send, true if ``send()`` raised. After the response is
    complete it tries one more body message and records the outcome in ``SEEN``.
    """
    if scope["type"] != "http":
        return
    refused: dict[str, bool] = {}

    async def attempt(name: str, message: dict[str, Any]) -> bool:
        try:
            await send(message)
        except Exception:
            refused[name] = True
            return True
        refused[name] = False
        return False

    await attempt("body before start", {"type": "http.response.body", "body": b"too early"})
    await attempt("unknown event type", {"type": "http.response.unknown"})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await attempt("second start", {"type": "http.response.start", "status": 500, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(refused).encode()})
    after = await attempt("body after complete", {"type": "http.response.body", "body": b"too late"})
    SEEN.add(("body after complete refused", after))


async def waits_for_disconnect_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the body, then waits on receive(): it must get http.disconnect when the client leaves."""
    if scope["type"] != "http":
        return
    SEEN.add("request received")
    while (await receive())["type"] != "http.disconnect":
        pass
    SEEN.add("disconnect seen")


async def disconnect_after_response_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers, then calls receive() twice more: both must say http.disconnect (the response is complete)."""
    if scope["type"] != "http":
        return
    first = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
    later = [await receive(), await receive()]
    SEEN.add(("after response", first["type"], [message["type"] for message in later]))


async def endless_stream_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Streams chunks until the client leaves; notices it by http.disconnect or an OSError from send()."""
    if scope["type"] != "http":
        return
    await receive()  # the (empty) request body
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    disconnected = asyncio.ensure_future(receive())
    try:
        while not disconnected.done():
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.01)
    except OSError:
        pass
    finally:
        disconnected.cancel()
        SEEN.add("stream ended")


# ----------------------------------------------------------------------------- a real Starlette app


async def homepage(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world", "method": request.method})


async def greet(request: Request) -> JSONResponse:
    return JSONResponse({"name": request.path_params["name"], "query": dict(request.query_params)})


async def numbers(request: Request) -> StreamingResponse:
    async def count():
        for n in range(1, 6):
            yield f"{n}\n"

    return StreamingResponse(count(), media_type="text/plain")


async def upload(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(f"{len(body)} bytes, {body.count(b'x')} x")


starlette_app = Starlette(
    routes=[
        Route("/", homepage),
        Route("/greet/{name}", greet),
        Route("/numbers", numbers),
        Route("/upload", upload, methods=["POST"]),
    ]
)
