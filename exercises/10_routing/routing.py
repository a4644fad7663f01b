"""Exercise 10 — routing without a framework.

A router is a WSGI application that looks at ``PATH_INFO`` and ``REQUEST_METHOD`` and hands the
request to another WSGI application: the *handler* of the first route whose pattern matches. That is
all ``@app.route`` ever was. What makes it right:

- patterns with parameters, ``/users/{id:int}``, compiled once into regular expressions;
- ``404 Not Found`` when no pattern matches, ``405 Method Not Allowed`` with an ``Allow`` header when a
  pattern matches but not for this method (RFC 9110 §15.5.6 requires the ``Allow``);
- the captured parameters handed to the handler in the environ, under the documented key
  ``environ["router.params"]`` and the community convention ``environ["wsgiorg.routing_args"]``;
- ``Mount``: a whole application under a prefix, moving the prefix from ``PATH_INFO`` to
  ``SCRIPT_NAME`` so the mounted app knows where it lives (PEP 3333 §URL Reconstruction).

A handler is a plain WSGI app: ``handler(environ, start_response)``.

One trap: ``PATH_INFO`` is a "native string" (PEP 3333 §Unicode Issues). The server decoded the
URL's bytes as latin-1, so ``/café`` (sent as ``/caf%C3%A9``) arrives as ``"/caf\\xc3\\xa9"``. Turn it
back into real text with ``path.encode("latin-1").decode("utf-8")`` before matching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

PARAMS_KEY = "router.params"
"""``environ["router.params"]``: the matched parameters, e.g. ``{"id": 42}``, already converted."""
ROUTING_ARGS_KEY = "wsgiorg.routing_args"
"""``environ["wsgiorg.routing_args"]``: ``(positional_args, named_args)``, the wsgiorg routing_args
convention; a router puts its parameters in the named dict (keeping any an outer router put there)."""


class Router:
    """A WSGI app that dispatches on path and method to handler WSGI apps.

    Patterns: literal text plus parameters in braces, each matched by a converter:

    =================  ==========================  ============================
    ``{name}``         one path segment (no ``/``)  ``str``  (same as ``{name:str}``)
    ``{id:int}``       digits only                  ``int`` (``/users/abc`` does not match)
    ``{rest:path}``    the rest, slashes included   ``str``
    =================  ==========================  ============================

    The whole path must match (``re.fullmatch``); routes are tried in the order they were added and
    the first match wins. An unknown converter raises ``ValueError`` when the route is added.

    Answers: the handler, with ``environ["router.params"]`` and ``environ["wsgiorg.routing_args"]``
    set; ``404 Not Found`` (text/plain) when nothing matches; ``405 Method Not Allowed`` with
    ``Allow: GET, HEAD, POST`` (every method of every route matching the path) when the path matches
    but not the method. A route that answers GET also answers HEAD (RFC 9110 §9.3.2): call the GET
    handler with a ``start_response`` whose ``write()`` drops its bytes, iterate and close its body,
    and send none of it.

    No answer to HEAD carries a body — the router's own 404 and 405 neither (same status and
    headers as for GET, nothing after them): RFC 9110 §9.3.2, and a server that keeps the
    connection alive (waitress) would read those bytes as the start of the next answer.
    """

    def __init__(self) -> None:
        raise NotImplementedError("write Router.__init__ in routing.py")

    def add_route(self, pattern: str, handler: WSGIApp, methods: Sequence[str] = ("GET",)) -> None:
        """Add a route: ``pattern`` served by ``handler`` for ``methods`` (upper-case them)."""
        raise NotImplementedError("write Router.add_route in routing.py")

    def route(self, pattern: str, methods: Sequence[str] = ("GET",)) -> Callable[[WSGIApp], WSGIApp]:
        """A decorator: ``@router.route("/users/{id:int}", methods=["GET", "PUT"])``.

        It registers the function and returns it unchanged.
        """
        raise NotImplementedError("write Router.route in routing.py")

    def get(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        """``@router.get(pattern)`` is ``@router.route(pattern, methods=["GET"])``."""
        raise NotImplementedError("write Router.get in routing.py")

    def post(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        """``@router.post(pattern)`` is ``@router.route(pattern, methods=["POST"])``."""
        raise NotImplementedError("write Router.post in routing.py")

    def put(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        raise NotImplementedError("write Router.put in routing.py")

    def patch(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        raise NotImplementedError("write Router.patch in routing.py")

    def delete(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        raise NotImplementedError("write Router.delete in routing.py")

    def mount(self, prefix: str, app: WSGIApp) -> None:
        """Serve ``app`` under ``prefix`` (see ``Mount``), tried in order with the routes."""
        raise NotImplementedError("write Router.mount in routing.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write Router.__call__ in routing.py")


class Mount:
    """Serve ``app`` under ``prefix``: ``/api/users/7`` reaches it as SCRIPT_NAME ``/api``, PATH_INFO ``/users/7``.

    PEP 3333 §URL Reconstruction: ``SCRIPT_NAME + PATH_INFO`` is the whole path; ``SCRIPT_NAME`` is
    where the app is mounted. So move the prefix from the front of ``PATH_INFO`` to the end of
    ``SCRIPT_NAME`` — what ``wsgiref.util.shift_path_info`` does one segment at a time:

    ==================  =============================  ===============
    request path        inner SCRIPT_NAME               inner PATH_INFO
    ==================  =============================  ===============
    ``/api/users/7``    ``/api``                        ``/users/7``
    ``/api/``           ``/api``                        ``/``
    ``/api``            ``/api``                        ``""``
    ``/apiary``         not mounted here: ``404 Not Found``
    ==================  =============================  ===============

    A prefix written with a trailing slash (``"/api/"``) means the same as without. An outer
    ``SCRIPT_NAME`` is kept (``/outer`` + ``/api``). Give the app a *copy* of the environ: the layers
    outside (a logging middleware) must keep seeing the request as it came. Its 404, like the
    router's, has no body when the request is a HEAD.
    """

    def __init__(self, prefix: str, app: WSGIApp) -> None:
        raise NotImplementedError("write Mount.__init__ in routing.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write Mount.__call__ in routing.py")


class TrailingSlashMiddleware:
    """Give every URL one spelling: redirect ``/items/`` to ``/items`` (or, with ``trailing_slash=True``,
    ``/items`` to ``/items/``). The root ``/`` is never redirected; a path already in the right
    form goes to the app untouched.

    - ``301 Moved Permanently`` for GET and HEAD; ``308 Permanent Redirect`` for every other method,
      because a client may turn a 301 POST into a GET and lose the body, and must not for a 308
      (RFC 9110 §15.4.2, §15.4.9).
    - ``Location``: ``SCRIPT_NAME`` + the new path (a mounted app redirects inside its mount),
      percent-encoded again — PATH_INFO arrived decoded, so ``/a b/`` becomes ``/a%20b``
      (``urllib.parse.quote`` on the latin-1 bytes) — plus ``"?" + QUERY_STRING`` when there is one.
    - A short text/plain body with its Content-Length — and, for HEAD, the same headers and no body
      (RFC 9110 §9.3.2).
    """

    def __init__(self, app: WSGIApp, trailing_slash: bool = False) -> None:
        raise NotImplementedError("write TrailingSlashMiddleware.__init__ in routing.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write TrailingSlashMiddleware.__call__ in routing.py")


if __name__ == "__main__":  # pragma: no cover - a manual demo: python routing.py
    import json
    from wsgiref.simple_server import make_server

    def text(start_response, status, body):
        data = body.encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]

    router = Router()

    @router.get("/")
    def index(environ, start_response):
        return text(start_response, "200 OK", "try /users/42, /files/a/b.txt, /users/abc, /users/42/\n")

    @router.get("/users/{id:int}")
    def user(environ, start_response):
        return text(start_response, "200 OK", json.dumps(environ[PARAMS_KEY]) + "\n")

    @router.get("/files/{rest:path}")
    def files(environ, start_response):
        return text(start_response, "200 OK", f"file {environ[PARAMS_KEY]['rest']}\n")

    app = TrailingSlashMiddleware(router)
    with make_server("127.0.0.1", 8000, app) as httpd:
        print("Serving on http://127.0.0.1:8000")
        httpd.serve_forever()
