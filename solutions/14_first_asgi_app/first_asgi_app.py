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

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]  # mutants: skip (given in the stub)


class HTTPError(Exception):  # mutants: skip (given in the stub)
    """An error the application answers with ``status`` and a JSON ``{"error": message}`` body."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HTTPError):  # mutants: skip (given in the stub)
    status = 400


class NotFound(HTTPError):  # mutants: skip (given in the stub)
    status = 404


class UnsupportedMediaType(HTTPError):  # mutants: skip (given in the stub)
    status = 415


class ClientDisconnected(Exception):  # mutants: skip (given in the stub)
    """The client went away before the request body was complete."""


def parse_query(scope: Scope) -> dict[str, list[str]]:
    """The query string as ``{name: [value, ...]}``: ``b"done=true&tag=a&tag=b"`` → two keys."""
    # query_string is bytes, still percent-encoded (ASGI HTTP §Connection Scope). After percent-
    # decoding it is plain ASCII, so latin-1 decodes it losslessly; parse_qs then percent-decodes
    # the names and values as UTF-8. keep_blank_values keeps "?tag=" as [""].
    return parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


async def send_json(send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON response: ``http.response.start``, then one ``http.response.body``."""
    body = json.dumps(data).encode("utf-8")
    all_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    all_headers += headers or []
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    """Join the ``http.request`` pieces until ``more_body`` is False (exercise 13's read_body)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("the client disconnected before sending the whole body")
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value
    return b""


async def parse_json_body(scope: Scope, receive: Receive) -> Any:
    """Check the content-type, read the whole body, and parse it as JSON."""
    # Check the type before reading: no need to read a megabyte we are going to refuse.
    content_type = _header(scope, b"content-type").decode("latin-1")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(f"expected content-type application/json, got {content_type!r}")
    body = await read_body(receive)
    try:
        # ValueError covers both json.JSONDecodeError and UnicodeDecodeError.
        return json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def _number(query: dict[str, list[str]], name: str, kind: type, default: Any) -> Any:
    if name not in query:
        return default
    raw = query[name][0]
    try:
        value = kind(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None
    if not value >= 0:  # also refuses float("nan")
        raise BadRequest(f"{name} must be 0 or more, got {raw!r}")
    return value


async def stream_ticks(receive: Receive, send: Send, count: int | None, interval: float) -> None:
    """Send ``tick 1\\n``, ``tick 2\\n``, ... each as its own body message, until done or disconnected."""
    # receive() only returns when the client says something: for a GET, after the (empty) request
    # body, that is http.disconnect. A separate task waits for it while this one streams.
    disconnected = asyncio.Event()

    async def watch_for_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected.set()

    watcher = asyncio.create_task(watch_for_disconnect())
    try:
        # No content-length: the length is unknown, so the server chooses chunked encoding.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        tick = 0
        while count is None or tick < count:
            if tick:
                # Sleep for the interval, but wake up at once if the client goes away.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(disconnected.wait(), interval)
            if disconnected.is_set():
                return  # nobody is listening: stop quietly, without finishing the response
            tick += 1
            await send({"type": "http.response.body", "body": f"tick {tick}\n".encode(), "more_body": True})
        # "body" defaults to b"" and "more_body" to False: this empty message ends the response.
        await send({"type": "http.response.body"})
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


TASK_PATH = re.compile(r"/tasks/([0-9]+)")  # mutants: skip (given in the stub)
ALLOWED = {"collection": ["GET", "POST"], "item": ["GET", "PATCH", "DELETE"], "stream": ["GET"]}  # mutants: skip (given in the stub)


def make_app() -> ASGIApp:
    """Return a new tasks application with its own empty store (ids start at 1)."""
    tasks: dict[int, dict[str, Any]] = {}  # insertion-ordered: the list comes out in creation order
    next_id = 1

    def validated(data: Any, *, partial: bool) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        changes: dict[str, Any] = {}
        if "title" in data or not partial:
            title = data.get("title")
            if not isinstance(title, str) or not title.strip():
                raise BadRequest('"title" must be a non-empty string')
            changes["title"] = title
        if "done" in data:
            if not isinstance(data["done"], bool):
                raise BadRequest('"done" must be true or false')
            changes["done"] = data["done"]
        return changes

    def find(task_id: int) -> dict[str, Any]:
        if task_id not in tasks:
            raise NotFound(f"no task {task_id}")
        return tasks[task_id]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal next_id
        if scope["type"] != "http":
            raise ValueError(f"this app only speaks HTTP, not {scope['type']!r}")  # ASGI §Protocol Specifications
        method, path = scope["method"], scope["path"]
        try:
            if path == "/tasks":
                route, task_id = "collection", None
            elif match := TASK_PATH.fullmatch(path):
                route, task_id = "item", int(match.group(1))
            elif path == "/stream":
                route, task_id = "stream", None
            else:
                raise NotFound(f"no route for {path}")

            if method not in ALLOWED[route]:
                allow = ", ".join(ALLOWED[route]).encode()
                await send_json(send, 405, {"error": f"{method} is not allowed here"}, [(b"allow", allow)])
                return

            if route == "stream":
                query = parse_query(scope)
                count = _number(query, "count", int, None)
                interval = _number(query, "interval", float, 1.0)
                await stream_ticks(receive, send, count, interval)
            elif route == "collection" and method == "GET":
                selected = list(tasks.values())
                done = parse_query(scope).get("done")
                if done is not None:
                    if done[0] not in ("true", "false"):
                        raise BadRequest(f"done must be true or false, got {done[0]!r}")
                    selected = [task for task in selected if task["done"] == (done[0] == "true")]
                await send_json(send, 200, selected)
            elif route == "collection":  # POST
                changes = validated(await parse_json_body(scope, receive), partial=False)
                task = {"id": next_id, "title": changes["title"], "done": changes.get("done", False)}
                tasks[next_id] = task
                next_id += 1
                await send_json(send, 201, task, [(b"location", f"/tasks/{task['id']}".encode())])
            elif method == "GET":
                await send_json(send, 200, find(task_id))
            elif method == "PATCH":
                task = find(task_id)  # a missing task is a 404 whatever the body says
                task.update(validated(await parse_json_body(scope, receive), partial=True))
                await send_json(send, 200, task)
            else:  # DELETE: 204 has no body, so no content-type either (RFC 9110 §15.3.5)
                find(task_id)
                del tasks[task_id]
                await send({"type": "http.response.start", "status": 204})  # "headers" defaults to []
                await send({"type": "http.response.body"})  # and "body" to b"": nothing
        except HTTPError as error:
            await send_json(send, error.status, {"error": error.message})
        except ClientDisconnected:
            return  # the client left in the middle of its body: nobody to answer

    return app


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
    """Serve a fresh app with uvicorn: ``python -m first_asgi_app --port 8000``. (Already written.)"""
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the tasks API with uvicorn.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(make_app(), host=args.host, port=args.port)


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
