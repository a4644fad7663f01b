"""Exercise 14 — your first ASGI app: the tasks API of exercise 06, async, plus a live stream.

A second, independent solution. The app is an object (``TasksApp``, an async ``__call__``) instead
of a closure, routes go through a table keyed by ``(route, method)``, and the stream listens for
``http.disconnect`` through the watcher *task itself* (``asyncio.wait`` on it, with the interval as
timeout) instead of an ``asyncio.Event``.

The routes::

    GET    /tasks          200  the list of tasks, in creation order; ?done=true / ?done=false filters
    POST   /tasks          201  create one from {"title": ..., "done": ...}; location: /tasks/{id}
    GET    /tasks/{id}     200  one task
    PATCH  /tasks/{id}     200  change "title" and/or "done"
    DELETE /tasks/{id}     204  no body
    GET    /stream         200  a text stream: "tick 1\\n", "tick 2\\n", ... one every ?interval= seconds
                                (default 1), ?count= of them (default: until the client disconnects)

Errors, in the order they are checked: 404, 405 (with ``allow``), 415, 400; each as
``{"error": "a sentence"}`` JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

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


class MethodNotAllowed(HTTPError):
    """405, carrying the methods the route does take, for the ``allow`` header (RFC 9110 §15.5.6)."""

    status = 405

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


def parse_query(scope: Scope) -> dict[str, list[str]]:
    """The query string as ``{name: [value, ...]}``, values in the order they came, blanks kept."""
    # Percent-encoded text is ASCII, and latin-1 never fails on stray bytes; parse_qsl then decodes
    # the escapes as UTF-8 and "+" as a space.
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return query


async def send_json(send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON response: ``http.response.start``, then one ``http.response.body``."""
    # Compact, and real UTF-8 rather than \\u escapes: the length counts the encoded bytes.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": start_headers + list(headers or [])})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    """Join the ``http.request`` pieces until ``more_body`` is False; ``ClientDisconnected`` on disconnect."""
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("the client left in the middle of the body")
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return bytes(body)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN and Infinity; RFC 8259 does not


async def parse_json_body(scope: Scope, receive: Receive) -> Any:
    """415 unless the request says ``application/json`` (checked before reading); 400 unless UTF-8 JSON."""
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
    media_type = content_type.split(b";", 1)[0].strip().lower()  # parameters may follow (RFC 9110 §8.3.1)
    if media_type != b"application/json":
        raise UnsupportedMediaType(f"expected content-type application/json, got {content_type.decode('latin-1')!r}")
    body = await read_body(receive)
    try:
        # utf-8-sig: a parser may ignore a byte order mark (RFC 8259 §8.1); anything not UTF-8 is refused.
        return json.loads(body.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise BadRequest(f"the body is not valid UTF-8 JSON: {exc}") from None


async def _until_disconnect(receive: Receive) -> None:
    """Return when the client has gone; whatever else ``receive()`` says (a body) is skipped."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def stream_ticks(receive: Receive, send: Send, count: int | None, interval: float) -> None:
    """Stream ``tick 1\\n``, ``tick 2\\n``, ...: each its own body message, ``interval`` s apart,
    ``count`` of them (``None``: until the client leaves); on ``http.disconnect``, stop at once."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    # receive() returns only when the client says something: listen in a task of its own. Its being
    # done *is* the disconnect; waiting on it with a timeout is both the pause and the check.
    gone = asyncio.ensure_future(_until_disconnect(receive))
    try:
        for n in itertools.count(1) if count is None else range(1, count + 1):
            if n > 1:
                await asyncio.wait({gone}, timeout=interval)
            if gone.done():
                gone.result()  # re-raises if receive() itself failed
                return  # nobody is listening: send nothing more
            await send({"type": "http.response.body", "body": b"tick %d\n" % n, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()


TASK_PATH = re.compile(r"/tasks/([0-9]+)")
ALLOWED = {"collection": ["GET", "POST"], "item": ["GET", "PATCH", "DELETE"], "stream": ["GET"]}

_ROUTES = [(re.compile(r"/tasks"), "collection"), (TASK_PATH, "item"), (re.compile(r"/stream"), "stream")]
_WHOLE_NUMBER = re.compile(r"[0-9]+")  # stricter than int(), which takes "+3", " 3" and "1_000"


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None  # a repeated parameter: the last one wins


def _check_title(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest('"title" must be a non-empty string')
    return value


def _check_done(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest('"done" must be true or false')
    return value


class TasksApp:
    """The tasks API as an ASGI app: one instance, one store (ids start at 1)."""

    def __init__(self) -> None:
        self.tasks: dict[int, dict[str, Any]] = {}  # dicts keep insertion order: creation order
        self.ids = itertools.count(1)
        self.handlers: dict[tuple[str, str], Callable[..., Awaitable[None]]] = {
            ("collection", "GET"): self.list_tasks,
            ("collection", "POST"): self.create_task,
            ("item", "GET"): self.get_task,
            ("item", "PATCH"): self.patch_task,
            ("item", "DELETE"): self.delete_task,
            ("stream", "GET"): self.stream,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"this app speaks only 'http', not {scope['type']!r}")  # ASGI §Protocol Specifications
        try:
            route, args = self.route(scope["path"])
            handler = self.handlers.get((route, scope["method"]))
            if handler is None:
                raise MethodNotAllowed(f"{scope['method']} is not allowed on {scope['path']}", ALLOWED[route])
            await handler(scope, receive, send, *args)
        except ClientDisconnected:
            return  # the client left while sending its body: nobody to answer
        except MethodNotAllowed as error:
            allow = ", ".join(error.allowed).encode("ascii")
            await send_json(send, error.status, {"error": error.message}, [(b"allow", allow)])
        except HTTPError as error:
            await send_json(send, error.status, {"error": error.message})

    def route(self, path: str) -> tuple[str, tuple[Any, ...]]:
        for pattern, name in _ROUTES:
            if match := pattern.fullmatch(path):
                return name, tuple(int(group) for group in match.groups())
        raise NotFound(f"no route for {path}")

    def find(self, task_id: int) -> dict[str, Any]:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise NotFound(f"no task {task_id}") from None

    # -- the handlers ---------------------------------------------------------------------------

    async def list_tasks(self, scope: Scope, receive: Receive, send: Send) -> None:
        done = _last(parse_query(scope), "done")
        wanted = {None: None, "true": True, "false": False}
        if done not in wanted:
            raise BadRequest(f"done must be true or false, got {done!r}")
        want = wanted[done]
        await send_json(send, 200, [task for task in self.tasks.values() if want is None or task["done"] is want])

    async def create_task(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = await parse_json_body(scope, receive)
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        title = _check_title(data.get("title"))
        done = _check_done(data["done"]) if "done" in data else False
        task = {"id": next(self.ids), "title": title, "done": done}
        self.tasks[task["id"]] = task
        await send_json(send, 201, task, [(b"location", f"/tasks/{task['id']}".encode("ascii"))])

    async def get_task(self, scope: Scope, receive: Receive, send: Send, task_id: int) -> None:
        await send_json(send, 200, self.find(task_id))

    async def patch_task(self, scope: Scope, receive: Receive, send: Send, task_id: int) -> None:
        task = self.find(task_id)  # 404 comes before 415 and 400
        data = await parse_json_body(scope, receive)
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        # Check everything before changing anything: a refused PATCH leaves the task as it was.
        changes = {}
        if "title" in data:
            changes["title"] = _check_title(data["title"])
        if "done" in data:
            changes["done"] = _check_done(data["done"])
        task.update(changes)
        await send_json(send, 200, task)

    async def delete_task(self, scope: Scope, receive: Receive, send: Send, task_id: int) -> None:
        self.find(task_id)
        del self.tasks[task_id]
        # 204: no content, so no content-type either (RFC 9110 §15.3.5).
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_query(scope)
        count_text, interval_text = _last(query, "count"), _last(query, "interval")
        count = None
        if count_text is not None:
            if not _WHOLE_NUMBER.fullmatch(count_text):
                raise BadRequest(f"count must be a whole number >= 0, got {count_text!r}")
            count = int(count_text)
        interval = 1.0
        if interval_text is not None:
            try:
                interval = float(interval_text)
            except ValueError:
                interval = -1.0
            if not (math.isfinite(interval) and interval >= 0):  # NaN and inf are floats too
                raise BadRequest(f"interval must be a number of seconds >= 0, got {interval_text!r}")
        await stream_ticks(receive, send, count, interval)


def make_app() -> ASGIApp:
    """Return a new tasks application with its own empty store (ids start at 1)."""
    return TasksApp()


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
