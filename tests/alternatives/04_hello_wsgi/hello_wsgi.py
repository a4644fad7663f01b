"""Exercise 04 (alternative) — hello, WSGI: a whole web application in one function.

This version is a *generator* function: calling it returns an iterable at once, and the body runs
on the first ``next()``. PEP 3333 allows exactly that: ``start_response`` must be called before the
first body string is yielded, not before the application returns. Routing is a small table
looked up by path.

Any server that speaks WSGI can run it: ``gunicorn hello_wsgi:application``, or the standard
library's ``wsgiref`` (``python hello_wsgi.py --port 8000``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

StartResponse = Callable[..., Any]
View = Callable[[dict[str, Any]], tuple[str, bytes]]


def _hello(environ: dict[str, Any]) -> tuple[str, bytes]:
    return "200 OK", b"Hello, world"


def _echo(environ: dict[str, Any]) -> tuple[str, bytes]:
    # The path as the client sent it: the part that routed to us (SCRIPT_NAME) plus our part.
    text = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if query:
        text += "?" + query
    # Native strings hold the request bytes decoded as latin-1 (PEP 3333 §Unicode Issues):
    # encoding them the same way gives the client's bytes back, UTF-8 or not.
    return "200 OK", f"{environ['REQUEST_METHOD']} {text}".encode("latin-1")


def _not_found(environ: dict[str, Any]) -> tuple[str, bytes]:
    return "404 Not Found", b"Not Found"


_EXACT: dict[str, View] = {"/": _hello, "": _hello, "/echo": _echo}
_PREFIXES: dict[str, View] = {"/echo/": _echo}


def _route(path: str) -> View:
    view = _EXACT.get(path)
    if view is not None:
        return view
    for prefix, view in _PREFIXES.items():
        if path.startswith(prefix):
            return view
    return _not_found


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
    """Answer every request, as PEP 3333 §The Application/Framework Side describes.

    ``/`` says ``Hello, world``; ``/echo`` and ``/echo/...`` send back the method, the path and
    ``?query`` (when there is one); anything else is ``404 Not Found``. All text/plain, all with a
    ``Content-Length`` in bytes.
    """
    status, body = _route(environ.get("PATH_INFO", ""))(environ)
    # Header names are case-insensitive (RFC 9110 §5.1); WSGI passes them through as given.
    start_response(
        status,
        [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", str(len(body))),
            # The echo reflects what the client typed: forbid browsers from sniffing it as HTML.
            ("x-content-type-options", "nosniff"),
        ],
    )
    if environ["REQUEST_METHOD"] != "HEAD":  # HEAD: same headers as GET, no content (RFC 9110 §9.3.2)
        yield body


def main(argv: list[str] | None = None) -> None:
    """Serve ``application`` with the standard library's reference server, ``wsgiref``."""
    from wsgiref.simple_server import make_server

    parser = argparse.ArgumentParser(description="Serve hello_wsgi.application with wsgiref.")
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
