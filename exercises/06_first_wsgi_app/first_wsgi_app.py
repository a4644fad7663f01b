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

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
Application = Callable[[Environ, StartResponse], Iterable[bytes]]


class HTTPError(Exception):
    """An error the application answers with a status and a JSON ``{"error": message}`` body."""

    status = "500 Internal Server Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HTTPError):
    status = "400 Bad Request"


class NotFound(HTTPError):
    status = "404 Not Found"


class UnsupportedMediaType(HTTPError):
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
    raise NotImplementedError("write read_body() in first_wsgi_app.py")


def parse_json_body(environ: Environ) -> Any:
    """Return the request body parsed as JSON.

    The ``CONTENT_TYPE`` must be ``application/json``; parameters such as ``; charset=utf-8`` may
    follow, and media types are case-insensitive (RFC 9110 §8.3.1). Any other type, or none, raises
    ``UnsupportedMediaType``. A body that is empty, not UTF-8, or not JSON raises ``BadRequest``.
    """
    raise NotImplementedError("write parse_json_body() in first_wsgi_app.py")


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
    raise NotImplementedError("write json_response() in first_wsgi_app.py")


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
    raise NotImplementedError("write make_app() in first_wsgi_app.py")


# Once make_app() works, replace this whole function with the one line:  application = make_app()
def application(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The application a server runs (``gunicorn first_wsgi_app:application``): ``make_app()``'s."""
    raise NotImplementedError("write make_app() in first_wsgi_app.py, then set application = make_app()")


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
