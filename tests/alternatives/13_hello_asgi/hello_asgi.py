"""Exercise 13 — the ASGI spec: a hello-and-echo app written against the bare protocol.

A second, independent solution: the routes are a table (path -> the one method it takes and its
handler) instead of an if-chain, and the body is read through an async generator of its pieces.

Try it by hand (from ``exercises/13_hello_asgi/``)::

    uvicorn hello_asgi:app --port 8000
    curl -i http://127.0.0.1:8000/
    curl -i -X POST --data-binary 'echo me' -H 'Content-Type: text/plain' http://127.0.0.1:8000/echo
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

TEXT = b"text/plain; charset=utf-8"


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


async def send_response(
    send: Send, status: int, body: bytes, content_type: bytes = TEXT, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a whole response: ``http.response.start`` (content-type, content-length, the extra
    headers, in that order), then one ``http.response.body`` that completes it."""
    all_headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    # ASGI wants lower-case names; lowering the caller's costs nothing and keeps the rule in one place.
    all_headers += [(name.lower(), value) for name, value in headers or ()]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def body_pieces(receive: Receive) -> AsyncIterator[bytes]:
    """Yield each piece of the request body; stop after the one with ``more_body`` false.

    ``receive()`` is never called after the last piece: on a real server that call would only
    return once the client hangs up.
    """
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("the client left before the body was complete")
        if message["type"] != "http.request":
            raise ValueError(f"not a body piece: {message['type']!r}")  # ASGI 3.0 §Error Handling
        yield message.get("body", b"")  # both keys are optional (ASGI HTTP §Request)
        if not message.get("more_body", False):
            return


async def read_body(receive: Receive) -> bytes:
    """Every ``http.request`` piece joined; ``ClientDisconnected`` on ``http.disconnect``."""
    return b"".join([piece async for piece in body_pieces(receive)])


# --- the handlers ----------------------------------------------------------------------------------


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send_response(send, 200, b"Hello, world!")


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    try:
        body = await read_body(receive)
    except ClientDisconnected:
        return  # nobody is left to answer
    # The first Content-Type the client sent; bytes of unknown kind otherwise.
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), b"application/octet-stream")
    await send_response(send, 200, body, content_type=content_type)


ROUTES: dict[str, tuple[str, Handler]] = {
    "/": ("GET", hello),
    "/echo": ("POST", echo),
}
"""path -> (the one method it answers, its handler)."""


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /`` says hello, ``POST /echo`` sends the request body back; the rest is 404 or 405."""
    if scope["type"] != "http":
        # ASGI §Protocol Specifications: reject what we do not speak. For "lifespan" the server then
        # knows it is unsupported and carries on without it.
        raise RuntimeError(f"hello_asgi speaks only 'http', not {scope['type']!r}")
    route = ROUTES.get(scope["path"])
    if route is None:
        await send_response(send, 404, b"Not Found")
        return
    method, handler = route
    if scope["method"] != method:
        await send_response(send, 405, b"Method Not Allowed", headers=[(b"allow", method.encode("ascii"))])
        return
    await handler(scope, receive, send)
