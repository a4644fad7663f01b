"""Exercise 13 — the ASGI spec: a hello-and-echo app written against the bare protocol.

An ASGI application is one async callable (ASGI 3.0 §Applications)::

    async def app(scope, receive, send): ...

- ``scope`` describes the connection: for HTTP, one request (``type``, ``method``, ``path``,
  ``query_string``, ``headers`` as lowercase ``(bytes, bytes)`` pairs, ...).
- ``await receive()`` returns the next event from the client: ``http.request`` messages carrying the
  body in pieces (``more_body=True`` means "more to come"), then ``http.disconnect``.
- ``await send(message)`` sends an event back: one ``http.response.start`` (status and headers),
  then one or more ``http.response.body`` (the last with ``more_body`` False or missing).

Try it by hand (from ``exercises/13_hello_asgi/``)::

    uvicorn hello_asgi:app --port 8000
    curl -i http://127.0.0.1:8000/
    curl -i -X POST --data-binary 'echo me' -H 'Content-Type: text/plain' http://127.0.0.1:8000/echo
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)


class ClientDisconnected(Exception):  # mutants: skip (given in the stub)
    """The client went away before the request body was complete."""


async def send_response(
    send: Send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8", headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a whole response: ``http.response.start`` then one ``http.response.body``."""
    # The body is known in full, so say how long it is: the server need not chunk it.
    all_headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii"))]
    all_headers += headers or []
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    # more_body defaults to False: this one message completes the response.
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    """Read every ``http.request`` message until ``more_body`` is False; return the joined body."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("the client disconnected before sending the whole body")
        if message["type"] != "http.request":
            # ASGI §Error Handling: an app that receives an invalid event should raise.
            raise RuntimeError(f"expected an http.request message, got {message['type']!r}")
        parts.append(message.get("body", b""))  # "body" is optional: it defaults to b""
        if not message.get("more_body", False):  # so is "more_body": it defaults to False
            return b"".join(parts)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:  # servers should lowercase names, but are not required to
            return value
    return None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /`` says hello, ``POST /echo`` sends the request body back; the rest is 404 or 405."""
    if scope["type"] != "http":
        # ASGI §Protocol Specifications: reject protocols you do not understand with an exception.
        # For "lifespan" this tells the server "not supported", and it carries on without it.
        raise ValueError(f"hello_asgi only speaks HTTP, not {scope['type']!r}")

    routes = {"/": "GET", "/echo": "POST"}
    path, method = scope["path"], scope["method"]
    if path not in routes:
        await send_response(send, 404, b"Not Found")
    elif method != routes[path]:
        await send_response(send, 405, b"Method Not Allowed", headers=[(b"allow", routes[path].encode())])
    elif path == "/":
        await send_response(send, 200, b"Hello, world!")
    else:
        try:
            body = await read_body(receive)
        except ClientDisconnected:
            return  # nobody is listening any more: send nothing, and stop quietly
        content_type = _header(scope, b"content-type") or b"application/octet-stream"
        await send_response(send, 200, body, content_type=content_type)
