"""Exercise 10 — routing without a framework.

A router is a WSGI application that looks at ``PATH_INFO`` and ``REQUEST_METHOD`` and hands the
request to another WSGI application: the *handler* of the first route whose pattern matches. That is
all `@app.route` ever was. What makes it right:

- patterns with parameters, ``/users/{id:int}``, compiled once into regular expressions;
- ``404 Not Found`` when no pattern matches, ``405 Method Not Allowed`` with an ``Allow`` header when a
  pattern matches but not for this method (RFC 9110 §15.5.6 requires the ``Allow``);
- the captured parameters handed to the handler in the environ, under the documented key
  ``environ["router.params"]`` and the community convention ``environ["wsgiorg.routing_args"]``;
- ``Mount``: a whole application under a prefix, moving the prefix from ``PATH_INFO`` to
  ``SCRIPT_NAME`` so the mounted app knows where it lives (PEP 3333 §URL Reconstruction).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]  # mutants: skip (given in the stub)

PARAMS_KEY = "router.params"  # mutants: skip (given in the stub)
ROUTING_ARGS_KEY = "wsgiorg.routing_args"  # mutants: skip (given in the stub)

# name -> (regular expression for one match, function turning the matched text into the value)
CONVERTERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "str": (r"[^/]+", str),  # one path segment, never empty
    "int": (r"[0-9]+", int),  # digits only: "/users/abc" is simply not this route
    "path": (r".*", str),  # the rest of the path, slashes included
}

_PARAM = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")


def to_text(native: str) -> str:
    """A WSGI "native string" (bytes as latin-1 code points, PEP 3333 §Unicode Issues) as real text.

    Servers decode the raw path bytes as latin-1 so no byte is lost; URLs carry UTF-8, so undo that.
    """
    return native.encode("latin-1").decode("utf-8", errors="replace")


def to_native(text: str) -> str:
    """Real text as a WSGI native string: UTF-8 bytes, one latin-1 character per byte."""
    return text.encode("utf-8").decode("latin-1")


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], dict[str, Callable[[str], object]]]:
    """``"/users/{id:int}"`` -> a regex with a named group per parameter, and each one's converter."""
    regex, converters, position = "", {}, 0
    for match in _PARAM.finditer(pattern):
        name, converter = match.group(1), match.group(2) or "str"
        if converter not in CONVERTERS:
            raise ValueError(f"unknown converter {converter!r} in {pattern!r}: use one of {sorted(CONVERTERS)}")
        regex += re.escape(pattern[position : match.start()])
        regex += f"(?P<{name}>{CONVERTERS[converter][0]})"
        converters[name] = CONVERTERS[converter][1]
        position = match.end()
    regex += re.escape(pattern[position:])
    return re.compile(regex), converters


class Route:
    """One pattern, the methods it answers and the WSGI app (handler) that answers them."""

    def __init__(self, pattern: str, handler: WSGIApp, methods: Iterable[str]) -> None:
        self.handler = handler
        self.methods = {m.upper() for m in methods}
        if "GET" in self.methods:
            self.methods.add("HEAD")  # a GET resource answers HEAD too (RFC 9110 §9.3.2)
        self.regex, self.converters = compile_pattern(pattern)

    def match(self, path: str) -> dict[str, object] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {name: convert(found.group(name)) for name, convert in self.converters.items()}


def plain_response(
    environ: dict, start_response: Callable, status: str, text: str, headers: Sequence[tuple[str, str]] = ()
) -> list[bytes]:
    """A short text/plain answer of our own (404, 405, a redirect).

    For HEAD it sends the same headers, Content-Length included (the length a GET would get), and no
    body: RFC 9110 §9.3.2 forbids content in any answer to HEAD, and a server that keeps the
    connection alive would read those bytes as the start of the next answer.
    """
    body = text.encode("utf-8")
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *headers],
    )
    return [] if environ["REQUEST_METHOD"].upper() == "HEAD" else [body]


class Router:
    """A WSGI app that dispatches on path and method to handler WSGI apps.

    Routes are tried in the order they were added; the first match wins.
    """

    def __init__(self) -> None:
        self.entries: list[Route | Mount] = []

    def add_route(self, pattern: str, handler: WSGIApp, methods: Sequence[str] = ("GET",)) -> None:
        self.entries.append(Route(pattern, handler, methods))

    def route(self, pattern: str, methods: Sequence[str] = ("GET",)) -> Callable[[WSGIApp], WSGIApp]:
        def decorator(handler: WSGIApp) -> WSGIApp:
            self.add_route(pattern, handler, methods)
            return handler  # unchanged: the function stays callable and testable on its own

        return decorator

    def get(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        return self.route(pattern, ["GET"])

    def post(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        return self.route(pattern, ["POST"])

    def put(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        return self.route(pattern, ["PUT"])

    def patch(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        return self.route(pattern, ["PATCH"])

    def delete(self, pattern: str) -> Callable[[WSGIApp], WSGIApp]:
        return self.route(pattern, ["DELETE"])

    def mount(self, prefix: str, app: WSGIApp) -> None:
        self.entries.append(Mount(prefix, app))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        native_path = environ.get("PATH_INFO", "") or "/"
        path = to_text(native_path)
        method = environ["REQUEST_METHOD"].upper()
        allowed: set[str] = set()
        for entry in self.entries:
            if isinstance(entry, Mount):
                if entry.matches(native_path):
                    return entry(environ, start_response)
                continue
            params = entry.match(path)
            if params is None:
                continue
            if method not in entry.methods:
                allowed |= entry.methods  # remember: the path exists, maybe for other methods
                continue
            environ[PARAMS_KEY] = params
            args, kwargs = environ.get(ROUTING_ARGS_KEY, ((), {}))
            environ[ROUTING_ARGS_KEY] = (args, {**kwargs, **params})  # nested routers add up
            if method == "HEAD":
                return head(entry.handler, environ, start_response)
            return entry.handler(environ, start_response)
        if allowed:
            return plain_response(
                environ, start_response, "405 Method Not Allowed", "405 Method Not Allowed\n", [("Allow", ", ".join(sorted(allowed)))]
            )
        return plain_response(environ, start_response, "404 Not Found", "404 Not Found\n")


def head(handler: WSGIApp, environ: dict, start_response: Callable) -> list[bytes]:
    """Run the GET handler and drop its body: same headers, no content (RFC 9110 §9.3.2).

    The body is still iterated, because a generator handler calls start_response only then; and
    the handler gets a ``write()`` that drops what it is given, for the same reason.
    """

    def start_without_body(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
        start_response(status, headers, exc_info)
        return lambda data: None  # what a GET handler write()s is body too: none of it for HEAD

    body = handler(environ, start_without_body)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return []


class Mount:
    """Serve ``app`` under ``prefix``: ``/api/users/7`` reaches it as SCRIPT_NAME ``/api``, PATH_INFO ``/users/7``.

    The prefix matches whole segments only (``/api`` and ``/api/...``, never ``/apiary``). The app
    gets a *copy* of the environ: the layers outside keep seeing the request as it came.
    """

    def __init__(self, prefix: str, app: WSGIApp) -> None:
        self.prefix = to_native(prefix.rstrip("/"))  # "/api/" and "/api" mean the same
        self.app = app

    def matches(self, path_info: str) -> bool:
        return path_info == self.prefix or path_info.startswith(self.prefix + "/")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path_info = environ.get("PATH_INFO", "")
        if not self.matches(path_info):
            return plain_response(environ, start_response, "404 Not Found", "404 Not Found\n")
        environ = dict(environ)
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
        environ["PATH_INFO"] = path_info[len(self.prefix) :]
        return self.app(environ, start_response)


# Characters a path may carry unescaped (RFC 3986 §3.3 pchar, plus "/"); everything else gets %XX.
_PATH_SAFE = "/:@!$&'()*+,;="


class TrailingSlashMiddleware:
    """Give every URL one spelling: redirect ``/items/`` to ``/items`` (or, with ``trailing_slash=True``,
    ``/items`` to ``/items/``).

    ``301 Moved Permanently`` for GET and HEAD; ``308 Permanent Redirect`` for the other methods,
    because a client may turn a 301 POST into a GET and lose the body, and must not do so for a 308
    (RFC 9110 §15.4.2, §15.4.9). The ``Location`` keeps ``SCRIPT_NAME`` (a mounted app redirects inside
    its mount) and the query string, and is percent-encoded again (PATH_INFO arrived decoded).
    """

    def __init__(self, app: WSGIApp, trailing_slash: bool = False) -> None:
        self.app = app
        self.trailing_slash = trailing_slash

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self.trailing_slash:
            wanted = path if path.endswith("/") else path + "/"
        else:
            wanted = path.rstrip("/") or path  # "/" (and "") stay as they are: nothing to strip
        if wanted == path:
            return self.app(environ, start_response)
        location = quote((environ.get("SCRIPT_NAME", "") + wanted).encode("latin-1"), safe=_PATH_SAFE)
        if environ.get("QUERY_STRING"):
            location += "?" + environ["QUERY_STRING"]
        if environ["REQUEST_METHOD"].upper() in ("GET", "HEAD"):
            status = "301 Moved Permanently"
        else:
            status = "308 Permanent Redirect"
        return plain_response(environ, start_response, status, f"Moved to {location}\n", [("Location", location)])


if __name__ == "__main__":  # pragma: no cover - a manual demo: python routing.py  # mutants: skip (given in the stub)
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
