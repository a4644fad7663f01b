"""Exercise 06 — your first WSGI app: a JSON API for a task list, with no framework.

The routes::

    GET    /tasks          200  the list of tasks, in creation order
    POST   /tasks          201  create one from {"title": ..., "done": ...}; Location: /tasks/{id}
    GET    /tasks/{id}     200  one task
    PATCH  /tasks/{id}     200  change "title" and/or "done"
    DELETE /tasks/{id}     204  no body

A task is ``{"id": 1, "title": "write a WSGI app", "done": false}``. Every response with a body is
JSON (``Content-Type: application/json``), errors included: ``{"error": "a sentence"}``.
A ``HEAD`` of any path answers what a ``GET`` would, headers and all, with no body (RFC 9110 §9.3.2).

The errors, in the order the application checks for them::

    404 Not Found               no such route
    405 Method Not Allowed      the route exists, the method does not: list the allowed ones in Allow
    404 Not Found               no such task (GET, PATCH or DELETE of /tasks/{id})
    415 Unsupported Media Type  a POST or PATCH whose Content-Type is not application/json
    400 Bad Request             the body is not JSON, or not a valid task
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]  # mutants: skip (given in the stub)
Environ = dict[str, Any]  # mutants: skip (given in the stub)
Application = Callable[[Environ, StartResponse], Iterable[bytes]]  # mutants: skip (given in the stub)


class HTTPError(Exception):  # mutants: skip (given in the stub)
    """An error the application answers with a status and a JSON ``{"error": message}`` body."""

    status = "500 Internal Server Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HTTPError):  # mutants: skip (given in the stub)
    status = "400 Bad Request"


class NotFound(HTTPError):  # mutants: skip (given in the stub)
    status = "404 Not Found"


class UnsupportedMediaType(HTTPError):  # mutants: skip (given in the stub)
    status = "415 Unsupported Media Type"


def read_body(environ: Environ) -> bytes:
    """Read the request body: exactly ``CONTENT_LENGTH`` bytes of ``environ["wsgi.input"]``.

    A missing or empty ``CONTENT_LENGTH`` means there is no body: return ``b""`` without touching
    ``wsgi.input``. On a real connection ``wsgi.input`` is the socket: a ``read()`` with no size, or
    one asking for more bytes than the client sent, waits forever for bytes that never come (PEP 3333
    §Input and Error Streams: "the application should not attempt to read more data than is
    specified by the CONTENT_LENGTH variable"). A ``CONTENT_LENGTH`` that is not a whole number
    ``>= 0`` raises ``BadRequest``.

    One exception: a chunked upload has no ``CONTENT_LENGTH``, and a server that removes the chunked
    framing (gunicorn, your exercise 08) sets ``environ["wsgi.input_terminated"]`` to ``True``: its
    ``wsgi.input`` then ends where the body ends, so read it to its end (``read()``).
    """
    raw_length = environ.get("CONTENT_LENGTH", "").strip()
    if not raw_length:
        # A server that removed chunked framing says so: the stream then ends where the body does.
        return environ["wsgi.input"].read() if environ.get("wsgi.input_terminated") else b""
    if not (raw_length.isascii() and raw_length.isdigit()):  # also rejects "-1", "+5" and "1.5"
        raise BadRequest(f"invalid Content-Length: {raw_length!r}")
    return environ["wsgi.input"].read(int(raw_length))  # read(0) is b"" at once, even on a socket


def parse_json_body(environ: Environ) -> Any:
    """Return the request body parsed as JSON.

    The ``CONTENT_TYPE`` must be ``application/json``; parameters such as ``; charset=utf-8`` may
    follow, and media types are case-insensitive (RFC 9110 §8.3.1). Any other type, or none, raises
    ``UnsupportedMediaType``. A body that is empty, not UTF-8, or not JSON raises ``BadRequest``.
    """
    media_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {environ.get('CONTENT_TYPE', '')!r}")
    body = read_body(environ)
    try:
        # ValueError covers both json.JSONDecodeError and UnicodeDecodeError.
        return json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def json_response(
    start_response: StartResponse,
    status: str,
    data: Any,
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """Start a JSON response and return its body, ready to be returned by the application.

    ``data`` becomes UTF-8 JSON; the headers are ``Content-Type: application/json`` and
    ``Content-Length`` (the body's length in bytes), followed by ``extra_headers``. Call it as
    ``return json_response(start_response, "200 OK", task)``.
    """
    body = json.dumps(data).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(extra_headers or [])
    start_response(status, headers)
    return [body]


TASK_PATH = re.compile(r"/tasks/([0-9]+)")
ALLOWED = {"collection": ["GET", "POST"], "item": ["GET", "PATCH", "DELETE"]}


def make_app() -> Application:
    """Return a new tasks application with its own empty store (ids start at 1).

    ``application = make_app()`` is the one a server runs; tests call ``make_app()`` for a fresh store.
    Validation: a new task needs a non-empty string ``"title"``; ``"done"`` is optional (``false``)
    and must be a boolean; a PATCH may carry either or both (other keys are ignored, ``"id"`` too).
    The body must be a JSON object. Anything else is a ``400``.

    ``HEAD`` is answered as ``GET`` is (status and headers, ``Content-Length`` included) with no body
    at all (RFC 9110 §9.3.2): on a kept-alive connection the client reads no body after a HEAD
    answer, so bytes sent anyway would be taken for the start of the next response.
    """
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

    def respond(environ: Environ, start_response: StartResponse, method: str) -> list[bytes]:
        nonlocal next_id
        path = environ.get("PATH_INFO", "")
        try:
            if path == "/tasks":
                route, task_id = "collection", None
            elif match := TASK_PATH.fullmatch(path):
                route, task_id = "item", int(match.group(1))
            else:
                raise NotFound(f"no route for {path}")

            if method not in ALLOWED[route]:
                allow = ", ".join(ALLOWED[route])
                return json_response(
                    start_response, "405 Method Not Allowed", {"error": f"{method} is not allowed here"}, [("Allow", allow)]
                )

            if route == "collection" and method == "GET":
                return json_response(start_response, "200 OK", list(tasks.values()))
            if route == "collection":  # POST
                changes = validated(parse_json_body(environ), partial=False)
                task = {"id": next_id, "title": changes["title"], "done": changes.get("done", False)}
                tasks[next_id] = task
                next_id += 1
                return json_response(start_response, "201 Created", task, [("Location", f"/tasks/{task['id']}")])

            assert task_id is not None
            if method == "GET":
                return json_response(start_response, "200 OK", find(task_id))
            if method == "PATCH":
                task = find(task_id)  # a missing task is a 404 whatever the body says
                task.update(validated(parse_json_body(environ), partial=True))
                return json_response(start_response, "200 OK", task)
            # DELETE: 204 has no body, so no Content-Type either (RFC 9110 §15.3.5).
            find(task_id)
            del tasks[task_id]
            start_response("204 No Content", [])
            return []
        except HTTPError as error:
            return json_response(start_response, error.status, {"error": error.message})

    def application(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "HEAD":
            # HEAD is a GET whose body is not sent (RFC 9110 §9.3.2): the headers, Content-Length
            # included, describe that body, but on a kept-alive connection the client reads none.
            respond(environ, start_response, "GET")
            return []
        return respond(environ, start_response, environ["REQUEST_METHOD"])

    return application


application = make_app()


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
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


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
