"""Exercise 14 — your first ASGI app: the tasks API of exercise 06, async, plus a live stream.

The routes::

    GET    /tasks          200  the list of tasks, in creation order; ?done=true / ?done=false filters
    POST   /tasks          201  create one from {"title": ..., "done": ...}; location: /tasks/{id}
    GET    /tasks/{id}     200  one task
    PATCH  /tasks/{id}     200  change "title" and/or "done"
    DELETE /tasks/{id}     204  no body
    GET    /stream         200  a text stream: "tick 1\\n", "tick 2\\n", ... one every ?interval= seconds
                                (default 1), ?count= of them (default: until the client disconnects)

A task is ``{"id": 1, "title": "write an ASGI app", "done": false}``. Every response with a body is
JSON (``content-type: application/json``), errors included: ``{"error": "a sentence"}``, except the
stream, which is ``text/plain; charset=utf-8``.

The errors, in the order the application checks for them::

    404 Not Found               no such route, or no such task
    405 Method Not Allowed      the route exists, the method does not: list the allowed ones in allow
    415 Unsupported Media Type  a POST or PATCH whose content-type is not application/json
    400 Bad Request             the body is not JSON, not a valid task, or a query value is invalid

Try it by hand (from ``exercises/14_first_asgi_app/``)::

    python -m first_asgi_app --port 8000         # or: uvicorn --factory first_asgi_app:make_app
    curl -i -X POST -H 'Content-Type: application/json' -d '{"title": "learn ASGI"}' http://127.0.0.1:8000/tasks
    curl -i 'http://127.0.0.1:8000/tasks?done=false'
    curl -N 'http://127.0.0.1:8000/stream?interval=0.5'     # Ctrl-C: the app sees http.disconnect
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HTTPError(Exception):
    """An error the application answers with ``status`` and a JSON ``{"error": message}`` body."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HTTPError):
    status = 400


class NotFound(HTTPError):
    status = 404


class UnsupportedMediaType(HTTPError):
    status = 415


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


def parse_query(scope: Scope) -> dict[str, list[str]]:
    """The query string as ``{name: [value, ...]}``: ``b"done=true&tag=a&tag=b"`` gives two keys.

    ASGI HTTP §Connection Scope: ``scope["query_string"]`` is **bytes**, the part of the URL after
    ``?``, still percent-encoded (``b"tag=caf%C3%A9&q=a+b"``). ``urllib.parse.parse_qs`` does the
    decoding (``%C3%A9`` → ``é`` as UTF-8, ``+`` → space) but wants a ``str``: decode the bytes as
    ``"latin-1"`` first (percent-encoded text is plain ASCII). Keep blank values (``"?tag="`` gives
    ``{"tag": [""]}``: ``keep_blank_values=True``). A missing or empty query string gives ``{}``.
    """
    raise NotImplementedError("write parse_query() in first_asgi_app.py")


async def send_json(send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON response: ``http.response.start``, then one ``http.response.body``.

    ``data`` becomes UTF-8 JSON (``json.dumps(data).encode("utf-8")``). The headers are
    ``(b"content-type", b"application/json")``, ``(b"content-length", <the body's size>)``, then the
    extra ``headers`` given: ``(bytes, bytes)`` pairs, lower-case names (ASGI HTTP §Response Start).
    """
    raise NotImplementedError("write send_json() in first_asgi_app.py")


async def read_body(receive: Receive) -> bytes:
    """Join the ``http.request`` pieces until ``more_body`` is False (exercise 13's read_body).

    ``body`` defaults to ``b""`` and ``more_body`` to False; on ``http.disconnect`` raise
    ``ClientDisconnected`` (ASGI HTTP §Request, §Disconnect).
    """
    raise NotImplementedError("write read_body() in first_asgi_app.py")


async def parse_json_body(scope: Scope, receive: Receive) -> Any:
    """Check the content-type, read the whole body, and parse it as JSON.

    The request's ``content-type`` header (in ``scope["headers"]``, a list of ``(bytes, bytes)``
    pairs) must be ``application/json``; parameters such as ``; charset=utf-8`` may follow, and
    media types are case-insensitive (RFC 9110 §8.3.1). Any other type, or none, raises
    ``UnsupportedMediaType`` *before* the body is read. A body that is not UTF-8 JSON raises
    ``BadRequest``.
    """
    raise NotImplementedError("write parse_json_body() in first_asgi_app.py")


async def stream_ticks(receive: Receive, send: Send, count: int | None, interval: float) -> None:
    """Stream ``tick 1\\n``, ``tick 2\\n``, ...: each line its own body message, until done or disconnected.

    Send ``http.response.start`` (``200``, ``content-type: text/plain; charset=utf-8``, and *no*
    content-length: the length is unknown, so the server picks chunked encoding). Then, for each
    tick, ``{"type": "http.response.body", "body": b"tick 1\\n", "more_body": True}``, waiting
    ``interval`` seconds *between* ticks (not before the first). After ``count`` ticks (``None``:
    never) finish the response with ``{"type": "http.response.body", "body": b"", "more_body": False}``.

    The client may leave at any time, and an endless stream must then stop, or it runs forever.
    ``receive()`` tells you, with ``{"type": "http.disconnect"}`` (ASGI HTTP §Disconnect). But
    ``receive()`` only returns when something happens, so you cannot simply call it between ticks:
    start a separate task (``asyncio.create_task``) that awaits ``receive()`` and sets an
    ``asyncio.Event`` on ``http.disconnect``. The streaming loop checks the event before each tick
    and waits for it instead of sleeping (``asyncio.wait_for(event.wait(), interval)``), so a
    disconnect stops it at once. Then return quietly (no exception, nothing more sent), and cancel
    the watcher task whatever happens (``try``/``finally``). Do not count on ``send()`` failing
    after a disconnect: servers are not required to make it fail, and uvicorn does not.
    """
    raise NotImplementedError("write stream_ticks() in first_asgi_app.py")


TASK_PATH = re.compile(r"/tasks/([0-9]+)")
ALLOWED = {"collection": ["GET", "POST"], "item": ["GET", "PATCH", "DELETE"], "stream": ["GET"]}


def make_app() -> ASGIApp:
    """Return a new tasks application with its own empty store (ids start at 1).

    Each call returns a new ``async def app(scope, receive, send)`` closed over its own store: the
    tests call ``make_app()`` for a fresh one. The routes and errors are in the module docstring.

    - ``scope["type"]`` other than ``"http"``: raise (ASGI §Protocol Specifications).
    - Routing: ``scope["path"]`` (decoded, without the query) and ``scope["method"]``; ``TASK_PATH``
      matches ``/tasks/{id}``; ``ALLOWED`` lists each route's methods, for 405 and its ``allow``
      header (``b"GET, POST"``).
    - Validation: a new task needs a non-empty string ``"title"``; ``"done"`` is optional
      (``false``) and must be a boolean; a PATCH may carry either or both (other keys are ignored,
      ``"id"`` too). The body must be a JSON object. Anything else is a ``400``.
    - ``GET /tasks?done=true`` lists only the done tasks, ``?done=false`` the others; any other
      value of ``done`` is a ``400``. Read the query with ``parse_query``.
    - ``GET /stream``: ``?count=`` a whole number >= 0 (default: endless), ``?interval=`` a number of
      seconds >= 0 (default 1); anything else is a ``400``. Then ``stream_ticks``.
    - An ``HTTPError`` becomes ``send_json(send, error.status, {"error": error.message})``; a
      ``ClientDisconnected`` while reading a body means: return, sending nothing.
    - ``DELETE`` answers ``204`` with no body and no content-type (RFC 9110 §15.3.5).
    """
    raise NotImplementedError("write make_app() in first_asgi_app.py")


def main(argv: list[str] | None = None) -> None:
    """Serve a fresh app with uvicorn: ``python -m first_asgi_app --port 8000``. (Already written.)"""
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the tasks API with uvicorn.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
