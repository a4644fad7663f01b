"""Exercise 10 (alternative) — routing without a framework, by walking path segments.

Instead of turning each whole pattern into one regular expression, a pattern is cut at its slashes
into *segments*, each matched on its own against the request path cut the same way:

- a literal segment (``users``) is compared as a string;
- a segment holding parameters (``{id:int}``, ``v{major:int}.{minor:int}``) is matched by a small
  regular expression made from its converters, and only that segment;
- a ``{rest:path}`` parameter takes one or more whole segments, slashes included (greedy, like ``.*``).

Converters are objects in a registry (``Router(converters={...})`` adds more). The HEAD answer runs
the GET handler at once and drops its body; ``405`` lists the ``Allow`` methods in the order the
routes declared them. Handlers, like mounted apps, get a copy of the environ.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

PARAMS_KEY = "router.params"
"""``environ["router.params"]``: this router's matched parameters, e.g. ``{"id": 42}``, converted."""
ROUTING_ARGS_KEY = "wsgiorg.routing_args"
"""``environ["wsgiorg.routing_args"]``: ``(positional_args, named_args)``; named args of outer routers are kept."""


# --------------------------------------------------------------------------------------------
# Converters
# --------------------------------------------------------------------------------------------


class Converter:
    """What one ``{name:kind}`` matches inside a segment (``regex``) and what the handler gets."""

    def __init__(self, regex: str, to_python: Callable[[str], Any] = str) -> None:
        self.regex = regex
        self.to_python = to_python


class PathConverter(Converter):
    """``{rest:path}``: whole segments, as many as the pattern leaves, slashes included."""

    def __init__(self) -> None:
        super().__init__(".*")


CONVERTERS: Mapping[str, Converter] = {
    "str": Converter(r"[^/]+"),
    "int": Converter(r"[0-9]+", int),  # ASCII digits only: str.isdigit() would also take "²" or "٣"
    "path": PathConverter(),
}

_PARAMETER = re.compile(r"\{([^{}]*)\}")


# --------------------------------------------------------------------------------------------
# Patterns, compiled into segment matchers
# --------------------------------------------------------------------------------------------


class _Segment:
    """A segment with parameters in it: ``{id:int}`` or ``v{major:int}.{minor:int}``."""

    def __init__(self, regex: str, converters: dict[str, Converter]) -> None:
        self._regex = re.compile(regex)
        self._converters = converters

    def match(self, text: str) -> dict[str, Any] | None:
        found = self._regex.fullmatch(text)
        if found is None:
            return None
        return {name: self._converters[name].to_python(value) for name, value in found.groupdict().items()}


class _Rest:
    """A ``{name:path}`` segment: one or more whole segments of the path, joined with ``/``."""

    def __init__(self, name: str) -> None:
        self.name = name


Matcher = str | _Segment | _Rest


def compile_pattern(pattern: str, converters: Mapping[str, Converter] = CONVERTERS) -> tuple[Matcher, ...]:
    """Cut ``pattern`` at its slashes into matchers; ``ValueError`` for a pattern that cannot work."""
    names: set[str] = set()
    matchers: list[Matcher] = []
    for text in pattern.split("/"):
        pieces = _PARAMETER.split(text)  # literal, name:kind, literal, name:kind, ..., literal
        literals, specs = pieces[0::2], pieces[1::2]
        if any("{" in lit or "}" in lit for lit in literals):
            raise ValueError(f"unbalanced braces in route pattern {pattern!r}")
        if not specs:
            matchers.append(text)
            continue
        regex, used = "", {}
        for literal, spec in zip(literals, specs + [None]):
            regex += re.escape(literal)
            if spec is None:
                break
            name, _, kind = spec.partition(":")
            kind = kind or "str"
            if not name.isidentifier() or name in names:
                raise ValueError(f"parameter name {name!r} in {pattern!r} must be a new Python identifier")
            if kind not in converters:
                raise ValueError(f"unknown converter {kind!r} in {pattern!r}; known: {', '.join(sorted(converters))}")
            names.add(name)
            used[name] = converters[kind]
            regex += f"(?P<{name}>{converters[kind].regex})"
        if any(isinstance(c, PathConverter) for c in used.values()):
            if len(specs) > 1 or literals != ["", ""]:
                raise ValueError(f"a path parameter takes whole segments, alone between slashes, in {pattern!r}")
            matchers.append(_Rest(next(iter(used))))
        else:
            matchers.append(_Segment(regex, used))
    return tuple(matchers)


def match_segments(matchers: Sequence[Matcher], parts: Sequence[str]) -> dict[str, Any] | None:
    """The parameters if ``parts`` (the path cut at its slashes) fit ``matchers`` exactly, else None."""
    params: dict[str, Any] = {}
    for index, matcher in enumerate(matchers):
        if isinstance(matcher, _Rest):
            after = matchers[index + 1 :]
            # Greedy, like the regex ".*": take as many segments as still leave the rest a match.
            for end in range(len(parts), index, -1):
                tail = match_segments(after, parts[end:])
                if tail is not None:
                    return {**params, matcher.name: "/".join(parts[index:end]), **tail}
            return None
        if index >= len(parts):
            return None
        if isinstance(matcher, str):
            if matcher != parts[index]:
                return None
            continue
        found = matcher.match(parts[index])
        if found is None:
            return None
        params.update(found)
    return params if len(parts) == len(matchers) else None


# --------------------------------------------------------------------------------------------
# Small helpers: text answers, native strings
# --------------------------------------------------------------------------------------------


def _plain(environ: dict, start_response: Callable, status: str, text: str, headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    """A short text/plain answer; no body for HEAD, whose headers still say how long it would be."""
    body = text.encode("utf-8")
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *headers],
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _as_text(native: str) -> str:
    """PATH_INFO as real text (PEP 3333 §Unicode Issues: bytes carried as latin-1 characters).

    A path that is not a latin-1 native string, or not UTF-8 underneath, is taken as it is: some
    gateways (httpx's WSGITransport among them) already hand over decoded text."""
    try:
        return native.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return native


def _wire_bytes(native: str) -> bytes:
    try:
        return native.encode("latin-1")
    except UnicodeEncodeError:  # real text from a gateway that decoded it already
        return native.encode("utf-8")


def _drop_body(app: WSGIApp, environ: dict, start_response: Callable) -> list[bytes]:
    """Run ``app`` for HEAD: its status and headers go out, its body (iterable or write()) does not."""

    def start_without_body(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
        start_response(status, headers, exc_info)
        return lambda data: None

    body = app(environ, start_without_body)
    try:
        for _ in body:  # a generator may call start_response, or do its work, only when iterated
            pass
    finally:
        if hasattr(body, "close"):
            body.close()
    return []


# --------------------------------------------------------------------------------------------
# Router, Mount, TrailingSlashMiddleware
# --------------------------------------------------------------------------------------------


class _Route:
    def __init__(self, pattern: str, matchers: tuple[Matcher, ...], methods: tuple[str, ...], handler: WSGIApp) -> None:
        self.pattern = pattern
        self.matchers = matchers
        self.methods = methods
        self.handler = handler
        # What this route answers, in its declared order; HEAD comes with GET (RFC 9110 §9.3.2).
        allow = list(methods)
        if "GET" in allow and "HEAD" not in allow:
            allow.insert(allow.index("GET") + 1, "HEAD")
        self.allow = tuple(allow)


class Router:
    """A WSGI app that dispatches on path and method to handler WSGI apps (see the module docstring).

    Routes and mounts are tried in the order they were added; the first that takes the request
    answers it. ``404`` when no pattern fits the path, ``405`` + ``Allow`` when some fit but not for
    this method.
    """

    def __init__(self, converters: Mapping[str, Converter] | None = None) -> None:
        self.converters = {**CONVERTERS, **(converters or {})}
        self._entries: list[_Route | Mount] = []

    def add_route(self, pattern: str, handler: WSGIApp, methods: Sequence[str] = ("GET",)) -> None:
        if isinstance(methods, str):
            methods = [methods]  # "GET" is one method, not three letters
        unique = tuple(dict.fromkeys(m.upper() for m in methods))
        if not unique:
            raise ValueError(f"route {pattern!r} needs at least one method")
        self._entries.append(_Route(pattern, compile_pattern(pattern, self.converters), unique, handler))

    def route(self, pattern: str, methods: Sequence[str] = ("GET",)) -> Callable[[WSGIApp], WSGIApp]:
        def register(handler: WSGIApp) -> WSGIApp:
            self.add_route(pattern, handler, methods)
            return handler

        return register

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
        self._entries.append(Mount(prefix, app))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        native = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"].upper()
        parts = _as_text(native).split("/")
        allow: dict[str, None] = {}  # an ordered set
        for entry in self._entries:
            if isinstance(entry, Mount):
                if entry.covers(native):
                    return entry(environ, start_response)
                continue
            params = match_segments(entry.matchers, parts)
            if params is None:
                continue
            if method in entry.allow:
                return self._dispatch(entry, params, environ, start_response, method)
            allow.update(dict.fromkeys(entry.allow))
        if allow:
            return _plain(environ, start_response, "405 Method Not Allowed", f"{method} is not allowed here\n",
                          [("Allow", ", ".join(allow))])
        return _plain(environ, start_response, "404 Not Found", "nothing here\n")

    @staticmethod
    def _dispatch(route: _Route, params: dict[str, Any], environ: dict, start_response: Callable, method: str) -> Iterable[bytes]:
        positional, named = environ.get(ROUTING_ARGS_KEY, ((), {}))
        inner = dict(environ)  # the caller's environ stays as it came
        inner[PARAMS_KEY] = params
        inner[ROUTING_ARGS_KEY] = (tuple(positional), {**named, **params})
        if method == "HEAD" and "HEAD" not in route.methods:
            return _drop_body(route.handler, inner, start_response)
        return route.handler(inner, start_response)


class Mount:
    """Serve ``app`` under ``prefix`` (real text, e.g. ``"/api"`` or ``"/café"``): the prefix moves from
    ``PATH_INFO`` to the end of ``SCRIPT_NAME`` in a copy of the environ; ``404`` outside it."""

    def __init__(self, prefix: str, app: WSGIApp) -> None:
        prefix = prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        # Compared with PATH_INFO, so kept in its native-string form: UTF-8 bytes as latin-1 characters.
        self.prefix = prefix.encode("utf-8").decode("latin-1")
        self.app = app

    def covers(self, path_info: str) -> bool:
        """Is ``path_info`` the prefix or below it (whole segments: ``/apiary`` is not under ``/api``)?"""
        return path_info == self.prefix or path_info.startswith(self.prefix + "/")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not self.covers(path):
            return _plain(environ, start_response, "404 Not Found", "nothing here\n")
        inner = dict(environ, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + self.prefix, PATH_INFO=path[len(self.prefix):])
        return self.app(inner, start_response)


class TrailingSlashMiddleware:
    """Redirect ``/items/`` to ``/items`` (``trailing_slash=True``: ``/items`` to ``/items/``): 301 for
    GET/HEAD, 308 for the rest; the root ``/`` is never redirected."""

    # RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; "/" separates segments.
    SAFE = "/:@!$&'()*+,;="

    def __init__(self, app: WSGIApp, trailing_slash: bool = False) -> None:
        self.app = app
        self.trailing_slash = trailing_slash

    def spelling(self, path: str) -> str | None:
        """The path as it should be written, or None when it already is."""
        if path == "/":
            return None
        if self.trailing_slash:
            return None if path.endswith("/") else path + "/"
        return (path.rstrip("/") or "/") if path.endswith("/") else None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        wanted = self.spelling(environ.get("PATH_INFO", ""))
        if wanted is None:
            return self.app(environ, start_response)
        target = environ.get("SCRIPT_NAME", "") + wanted
        # "//evil.example" would be read as another host (a protocol-relative URL): one slash only.
        target = "/" + target.lstrip("/")
        location = urllib.parse.quote(_wire_bytes(target), safe=self.SAFE)
        if environ.get("QUERY_STRING"):
            location += "?" + environ["QUERY_STRING"]
        permanent = "301 Moved Permanently" if environ["REQUEST_METHOD"] in ("GET", "HEAD") else "308 Permanent Redirect"
        return _plain(environ, start_response, permanent, f"see {location}\n", [("Location", location)])


if __name__ == "__main__":  # pragma: no cover - a manual demo: python routing.py
    import json
    from wsgiref.simple_server import make_server

    def answer(start_response: Callable, text: str) -> list[bytes]:
        data = text.encode()
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]

    router = Router()

    @router.get("/")
    def index(environ: dict, start_response: Callable) -> list[bytes]:
        return answer(start_response, "try /users/42, /files/a/b.txt, /users/abc, /users/42/\n")

    @router.get("/users/{id:int}")
    def user(environ: dict, start_response: Callable) -> list[bytes]:
        return answer(start_response, json.dumps(environ[PARAMS_KEY]) + "\n")

    @router.get("/files/{rest:path}")
    def files(environ: dict, start_response: Callable) -> list[bytes]:
        return answer(start_response, f"file {environ[PARAMS_KEY]['rest']}\n")

    with make_server("127.0.0.1", 8000, TrailingSlashMiddleware(router)) as httpd:
        print("Serving on http://127.0.0.1:8000")
        httpd.serve_forever()
