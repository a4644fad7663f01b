"""Exercise 06 — your first WSGI app: a JSON API for a task list, with no framework (an alternative).

The routes::

    GET    /tasks          200  the list of tasks, in creation order
    POST   /tasks          201  create one from {"title": ..., "done": ...}; Location: /tasks/{id}
    GET    /tasks/{id}     200  one task
    PATCH  /tasks/{id}     200  change "title" and/or "done"
    DELETE /tasks/{id}     204  no body

Unlike a closure with an if-chain, the application here is an object: ``TaskAPI.__call__`` looks
the path up in a route table, each route maps methods to handler methods (so the ``Allow`` header
of a 405 is simply the table's keys), and handlers return ``(status, data, headers)``.

The errors, in the order the application checks for them::

    404 Not Found               no such route
    405 Method Not Allowed      the route exists, the method does not: list the allowed ones in Allow
    404 Not Found               no such task (GET, PATCH or DELETE of /tasks/{id})
    415 Unsupported Media Type  a POST or PATCH whose Content-Type is not application/json
    400 Bad Request             the body is not JSON, or not a valid task
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
Application = Callable[[Environ, StartResponse], Iterable[bytes]]

MAX_BODY = 1024 * 1024
"""Largest request body we read, in bytes: a task is tiny, and memory is not free."""

_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit(), which also says yes to '²' and '٣'


class HTTPError(Exception):
    """An error the application answers with a status and a JSON ``{"error": message}`` body."""

    status = "500 Internal Server Error"

    def __init__(self, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or []


class BadRequest(HTTPError):
    status = "400 Bad Request"


class NotFound(HTTPError):
    status = "404 Not Found"


class MethodNotAllowed(HTTPError):
    status = "405 Method Not Allowed"


class ContentTooLarge(HTTPError):
    status = "413 Content Too Large"  # RFC 9110 §15.5.14


class UnsupportedMediaType(HTTPError):
    status = "415 Unsupported Media Type"


def _read_to_the_end(stream: Any) -> bytes:
    """Read a self-terminating ``wsgi.input`` in blocks, refusing more than ``MAX_BODY`` bytes."""
    pieces: list[bytes] = []
    size = 0
    while block := stream.read(65536):
        size += len(block)
        if size > MAX_BODY:
            raise ContentTooLarge(f"the body may be at most {MAX_BODY} bytes")
        pieces.append(block)
    return b"".join(pieces)


def read_body(environ: Environ) -> bytes:
    """Read exactly ``CONTENT_LENGTH`` bytes of ``wsgi.input`` (``b""`` without a length).

    Never reads past the length: on a real connection that would wait forever (PEP 3333 §Input and
    Error Streams). A length that is not a whole number is a ``BadRequest``.
    """
    declared = (environ.get("CONTENT_LENGTH") or "").strip()
    if not declared:
        if environ.get("wsgi.input_terminated"):
            return _read_to_the_end(environ["wsgi.input"])  # a de-chunked upload: the stream ends with the body
        return b""  # no length, no body: and wsgi.input is not touched at all
    if not _DIGITS.fullmatch(declared):
        raise BadRequest(f"Content-Length must be a whole number of bytes, got {declared!r}")
    length = int(declared)
    if length > MAX_BODY:
        raise ContentTooLarge(f"the body may be at most {MAX_BODY} bytes, this one is {length}")
    return environ["wsgi.input"].read(length) if length else b""


def _is_json(content_type: str) -> bool:
    """``application/json``, any parameters, any case (RFC 9110 §8.3.1)."""
    media_type, _, _parameters = content_type.partition(";")
    return media_type.strip().lower() == "application/json"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json would accept NaN/Infinity; RFC 8259 does not


def parse_json_body(environ: Environ) -> Any:
    """Return the request body parsed as JSON.

    ``UnsupportedMediaType`` unless ``CONTENT_TYPE`` is ``application/json`` (parameters allowed,
    any case); ``BadRequest`` for a body that is empty, not UTF-8, or not JSON (RFC 8259).
    """
    content_type = environ.get("CONTENT_TYPE") or ""
    if not _is_json(content_type):
        raise UnsupportedMediaType(f"the body must be application/json, got {content_type or 'no Content-Type'!r}")
    body = read_body(environ)
    try:
        # utf-8-sig: RFC 8259 §8.1 lets a parser ignore a byte order mark; anything else must be UTF-8.
        return json.loads(body.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise BadRequest(f"the body is not UTF-8 JSON: {exc}") from None


def json_response(
    start_response: StartResponse,
    status: str,
    data: Any,
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """Start a JSON response (``Content-Type``, ``Content-Length``, then ``extra_headers``); return its body."""
    # Compact and UTF-8 (RFC 8259 §8.1), rather than the \\u escapes json.dumps uses by default.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, headers + list(extra_headers or []))
    return [body]


Task = dict[str, Any]
Reply = tuple[str, Any, list[tuple[str, str]]]
"""What a handler returns: status, the data to send as JSON (``None``: no body), extra headers."""


def _checked_fields(data: Any, *, creating: bool) -> dict[str, Any]:
    """The task fields of a request body, validated; other keys (``"id"`` too) are ignored."""
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(data).__name__}")
    fields = {key: data[key] for key in ("title", "done") if key in data}
    if creating and "title" not in fields:
        raise BadRequest('a new task needs a "title"')
    if "title" in fields and not (isinstance(fields["title"], str) and fields["title"]):
        raise BadRequest('"title" must be a non-empty string')
    if "done" in fields and not isinstance(fields["done"], bool):
        raise BadRequest('"done" must be true or false')
    return fields


class TaskAPI:
    """The tasks application: a WSGI callable object with its own store."""

    def __init__(self) -> None:
        self._tasks: dict[int, Task] = {}  # dicts keep insertion order: the list is in creation order
        self._ids = itertools.count(1)
        # The route table: a path pattern, and the handler of each method it allows.
        self._routes: list[tuple[re.Pattern[str], dict[str, Callable[..., Reply]]]] = [
            # HEAD runs the GET handler (its body is dropped in __call__), and Allow lists it too.
            (re.compile(r"/tasks"), {"GET": self._list, "HEAD": self._list, "POST": self._create}),
            (re.compile(r"/tasks/([0-9]+)"),
             {"GET": self._show, "HEAD": self._show, "PATCH": self._update, "DELETE": self._delete}),
        ]

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = self._answer(environ, start_response)
        # HEAD: the GET's status and headers, and not one byte of its body (RFC 9110 §9.3.2).
        return [] if environ["REQUEST_METHOD"] == "HEAD" else body

    def _answer(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            status, data, headers = self._dispatch(environ)
        except HTTPError as error:
            return json_response(start_response, error.status, {"error": error.message}, error.headers)
        if data is None:
            start_response(status, headers)  # 204: no body, so no Content-Type either (RFC 9110 §15.3.5)
            return []
        return json_response(start_response, status, data, headers)

    def _dispatch(self, environ: Environ) -> Reply:
        path = environ.get("PATH_INFO") or "/"
        method = environ["REQUEST_METHOD"]
        for pattern, handlers in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                allow = ", ".join(sorted(handlers))
                raise MethodNotAllowed(f"{method} is not allowed on {path}; use {allow}", [("Allow", allow)])
            return handler(environ, *(int(group) for group in match.groups()))
        # PATH_INFO carries UTF-8 bytes as latin-1 characters (PEP 3333): show the text the client meant.
        raise NotFound(f"nothing at {path.encode('latin-1').decode('utf-8', 'replace')}")

    def _task(self, task_id: int) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise NotFound(f"there is no task {task_id}") from None

    def _list(self, environ: Environ) -> Reply:
        return "200 OK", list(self._tasks.values()), []

    def _create(self, environ: Environ) -> Reply:
        fields = _checked_fields(parse_json_body(environ), creating=True)
        task_id = next(self._ids)  # taken only once the body is valid: no gaps from bad requests
        task = self._tasks[task_id] = {"id": task_id, "title": fields["title"], "done": fields.get("done", False)}
        # Where this app is mounted matters: SCRIPT_NAME is part of the task's URL (PEP 3333).
        prefix = urllib.parse.quote(environ.get("SCRIPT_NAME", "").encode("latin-1"))
        return "201 Created", task, [("Location", f"{prefix}/tasks/{task_id}")]

    def _show(self, environ: Environ, task_id: int) -> Reply:
        return "200 OK", self._task(task_id), []

    def _update(self, environ: Environ, task_id: int) -> Reply:
        task = self._task(task_id)  # 404 before 415/400: the documented order
        try:
            fields = _checked_fields(parse_json_body(environ), creating=False)
        except UnsupportedMediaType as error:
            error.headers.append(("Accept-Patch", "application/json"))  # RFC 5789 §3.1
            raise
        task.update(fields)  # only after every field passed: a 400 changes nothing
        return "200 OK", task, []

    def _delete(self, environ: Environ, task_id: int) -> Reply:
        del self._tasks[self._task(task_id)["id"]]
        return "204 No Content", None, []


def make_app() -> Application:
    """Return a new tasks application with its own empty store (ids start at 1)."""
    return TaskAPI()


application = make_app()


def main(argv: list[str] | None = None) -> None:
    """Serve ``application`` with wsgiref: ``python first_wsgi_app.py --port 8000``."""
    from wsgiref.simple_server import make_server

    parser = argparse.ArgumentParser(description="Serve the tasks API with wsgiref.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    with make_server(args.host, args.port, application) as httpd:
        print(f"Serving on http://{args.host}:{httpd.server_address[1]} (Ctrl-C to stop)", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
