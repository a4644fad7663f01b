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

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


async def send_response(
    send: Send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8", headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a whole response: ``http.response.start`` then one ``http.response.body``.

    ASGI HTTP §Response Start: ``{"type": "http.response.start", "status": <int>, "headers": [...]}``,
    where every header is a ``(name, value)`` pair of **bytes** and names **must be lowercased**.
    Send ``content-type`` (the ``content_type`` argument), ``content-length`` (the body's size, as
    ASCII digits), then the extra ``headers`` given, in that order.

    ASGI HTTP §Response Body: ``{"type": "http.response.body", "body": <bytes>}``. ``more_body``
    defaults to False, which completes the response: one body message is enough here.
    """
    raise NotImplementedError("write send_response() in hello_asgi.py")


async def read_body(receive: Receive) -> bytes:
    """Read every ``http.request`` message until ``more_body`` is False; return the joined body.

    ASGI HTTP §Request: a body may arrive in several ``http.request`` messages. In each, ``body`` is
    optional (default ``b""``) and so is ``more_body`` (default ``False``); while ``more_body`` is
    True, more pieces follow. Stop calling ``receive()`` after the last piece: on a real server the
    next ``receive()`` waits until the client disconnects.

    ASGI HTTP §Disconnect: if ``receive()`` returns ``{"type": "http.disconnect"}`` instead, the
    client is gone and the body will never be complete: raise ``ClientDisconnected``.
    """
    raise NotImplementedError("write read_body() in hello_asgi.py")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /`` says hello, ``POST /echo`` sends the request body back; the rest is 404 or 405.

    - ``scope["type"]`` other than ``"http"``: raise an exception (any). ASGI §Protocol
      Specifications asks apps to reject the protocols they do not understand; for ``"lifespan"``
      this tells the server "not supported", and it carries on without it.
    - ``GET /``: ``200``, ``content-type: text/plain; charset=utf-8``, body ``b"Hello, world!"``.
    - ``POST /echo``: read the whole body with ``read_body`` and answer ``200`` with the same bytes
      and the request's ``content-type`` (``b"application/octet-stream"`` when it has none). Request
      headers are in ``scope["headers"]``, a list of ``(name, value)`` bytes pairs.
      If the client disconnects first (``ClientDisconnected``), return quietly: send nothing, raise
      nothing.
    - another method on ``/`` or ``/echo``: ``405``, body ``b"Method Not Allowed"``, and an ``allow``
      header naming the one method the path takes (``b"GET"`` or ``b"POST"``).
    - any other path: ``404``, body ``b"Not Found"``.

    The path to match is ``scope["path"]`` (already percent-decoded, without the query string).
    """
    raise NotImplementedError("write app() in hello_asgi.py")
