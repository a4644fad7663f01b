"""Exercise 04 — hello, WSGI: a whole web application in one function.

A WSGI application (PEP 3333) is a callable that a server calls once per request::

    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello, world"]

- ``environ`` is a plain ``dict`` describing the request: CGI-style keys such as ``REQUEST_METHOD``,
  ``PATH_INFO``, ``QUERY_STRING`` and ``HTTP_*`` headers, plus ``wsgi.*`` keys from the server.
- ``start_response(status, headers)`` hands the server the status line (``"200 OK"``: a ``str`` with
  the code, one space, the reason) and the headers (a ``list`` of ``(name, value)`` ``str`` tuples).
- The return value is an *iterable of bytes*: the server writes each item to the socket in turn.

Any server that speaks WSGI can run it: ``gunicorn hello_wsgi:application``, or the standard
library's ``wsgiref`` (``python hello_wsgi.py --port 8000``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer every request, as PEP 3333 §The Application/Framework Side describes.

    - ``/`` answers ``200 OK``, ``Content-Type: text/plain; charset=utf-8`` and the body ``Hello, world``.
    - ``/echo`` and every path under it (``/echo/anything``) answers ``200 OK``, text/plain, with the
      request method, one space, the path and (when there is one) ``?`` and the query string:
      ``POST /echo/notes?draft=1``. Send the path back as the bytes the client sent: the server
      decoded them as latin-1 to make ``PATH_INFO`` a ``str`` (PEP 3333 §Unicode Issues), so
      ``.encode("latin-1")`` gives those bytes back exactly.
    - Any other path answers ``404 Not Found``, text/plain, with the body ``Not Found``.

    Every response carries ``Content-Length``: the length of the body in **bytes**, as a ``str``.

    A ``HEAD`` request gets the same status and headers as the same request with ``GET`` would
    (``Content-Length`` included) and no body at all (RFC 9110 §9.3.2): a server that passes the body
    on would corrupt the next response on a kept-alive connection.
    """
    raise NotImplementedError("write application() in hello_wsgi.py")


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
