"""Exercise 11 — Request and Response objects.

Every framework hides ``environ`` and ``start_response`` behind two classes. ``Request(environ)`` is a
read-only view of the environ with the parsing done once: query string, form, JSON, headers, cookies,
the bearer token, the body. A ``Response`` holds a status, headers and a body, and is itself a WSGI
application — ``return Response("hi")(environ, start_response)`` — which is how Django's and
Werkzeug's responses work too.

Everything here is plain standard library: ``urllib.parse`` for queries and forms, ``json``,
``http.HTTPStatus`` for reason phrases, ``email.utils`` for HTTP dates.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

# ----------------------------------------------------------------------------------------------
# Requests
# ----------------------------------------------------------------------------------------------


class MultiDict(Mapping[str, str]):
    """A read-only mapping where a key may have several values, in order (``?tag=a&tag=b``).

    ``d[key]`` and ``d.get(key)`` give the FIRST value (``d[key]`` raises ``KeyError`` when absent;
    ``get`` comes free from ``Mapping`` once ``__getitem__`` works); ``d.getall(key)`` gives every
    value (``[]`` when absent); ``d.multi_items()`` gives every ``(key, value)`` pair in order;
    ``len(d)`` and ``iter(d)`` count and list each key once.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        raise NotImplementedError("write MultiDict.__init__ in request_response.py")

    def __getitem__(self, key: str) -> str:
        raise NotImplementedError("write MultiDict.__getitem__ in request_response.py")

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError("write MultiDict.__iter__ in request_response.py")

    def __len__(self) -> int:
        raise NotImplementedError("write MultiDict.__len__ in request_response.py")

    def getall(self, key: str) -> list[str]:
        raise NotImplementedError("write MultiDict.getall in request_response.py")

    def multi_items(self) -> list[tuple[str, str]]:
        raise NotImplementedError("write MultiDict.multi_items in request_response.py")


class Headers(Mapping[str, str]):
    """The request headers from the environ, looked up case-insensitively (RFC 9110 §5.1).

    PEP 3333 §environ Variables: a header ``X-Thing`` arrives as ``HTTP_X_THING``, except
    ``Content-Type`` and ``Content-Length``, which arrive as ``CONTENT_TYPE`` and ``CONTENT_LENGTH``
    (without ``HTTP_``; skip them when empty). ``headers["x-thing"]``, ``headers["X-Thing"]`` and
    ``headers.get("X-THING")`` all find it; ``"x-thing" in headers`` too.
    """

    def __init__(self, environ: Mapping[str, Any]) -> None:
        raise NotImplementedError("write Headers.__init__ in request_response.py")

    def __getitem__(self, name: str) -> str:
        raise NotImplementedError("write Headers.__getitem__ in request_response.py")

    def __contains__(self, name: object) -> bool:
        raise NotImplementedError("write Headers.__contains__ in request_response.py")

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError("write Headers.__iter__ in request_response.py")

    def __len__(self) -> int:
        raise NotImplementedError("write Headers.__len__ in request_response.py")


class Request:
    """A view of one request's environ. Parse on first use; read the body only once.

    Attributes (properties are a good fit):

    - ``environ``: the environ itself.
    - ``method``: ``REQUEST_METHOD``, upper-case.
    - ``path``: ``SCRIPT_NAME + PATH_INFO`` as real text. Both are native strings — bytes as latin-1
      characters (PEP 3333 §Unicode Issues) — so undo that: ``.encode("latin-1").decode("utf-8")``.
    - ``query_string``: ``QUERY_STRING`` as sent (still percent-encoded).
    - ``query``: a ``MultiDict`` of it, blank values kept (``urllib.parse.parse_qsl(...,
      keep_blank_values=True)``): ``?q=hello+world&tag=a&tag=b&flag=``. ``QUERY_STRING`` is a native
      string too: a client may send ``?q=café`` as raw UTF-8 bytes, so decode it like the path
      before parsing; percent-escapes (``caf%C3%A9``) are UTF-8 as well. Bytes that are not UTF-8
      become ``"\ufffd"`` (``errors="replace"``, what ``parse_qsl`` does for escapes): never raise.
    - ``headers``: a ``Headers``.
    - ``content_type``: the media type alone, lower-cased (``"application/json"`` for
      ``application/json; charset=utf-8``); ``""`` when there is none.
    - ``content_length``: ``CONTENT_LENGTH`` as an int, or None when missing or empty.
    - ``body``: exactly ``CONTENT_LENGTH`` bytes from ``wsgi.input`` (``b""`` without one), read the
      first time and kept. Never call ``read()`` without a size: past the body the stream may block,
      or hold the next request (PEP 3333 §Input and Error Streams); ``wsgiref.validate`` forbids it.
      One exception: with no ``CONTENT_LENGTH`` and ``environ["wsgi.input_terminated"]`` true
      (gunicorn, for a chunked upload), the stream ends where the body ends: read it, in pieces
      (``read(65536)``), until it gives ``b""``.
    - ``form``: a ``MultiDict`` of an ``application/x-www-form-urlencoded`` body (decoded as UTF-8,
      with ``errors="replace"``: a body that is not UTF-8 must not raise); empty for any other
      content type. Compare ``content_type``, not the raw header: a media type is case-insensitive
      and may carry parameters (``; charset=UTF-8``, RFC 9110 §8.3.1).
    - ``json()``: the body parsed as JSON; raises ``ValueError`` when it is not JSON.
    - ``cookies``: ``Cookie: a=1; b=2`` as ``{"a": "1", "b": "2"}`` (RFC 6265 §4.2.1): split at ``;``,
      then at the first ``=`` (a value may contain ``=``), strip spaces, drop pieces without ``=``,
      unwrap a value in double quotes, keep the first of a repeated name.
    - ``bearer_token``: the token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1; the scheme is
      case-insensitive, RFC 9110 §11.1), or None for no header, another scheme or no token.
    """

    def __init__(self, environ: dict) -> None:
        raise NotImplementedError("write Request.__init__ in request_response.py")

    @property
    def method(self) -> str:
        raise NotImplementedError("write Request.method in request_response.py")

    @property
    def path(self) -> str:
        raise NotImplementedError("write Request.path in request_response.py")

    @property
    def query_string(self) -> str:
        raise NotImplementedError("write Request.query_string in request_response.py")

    @property
    def query(self) -> MultiDict:
        raise NotImplementedError("write Request.query in request_response.py")

    @property
    def headers(self) -> Headers:
        raise NotImplementedError("write Request.headers in request_response.py")

    @property
    def content_type(self) -> str:
        raise NotImplementedError("write Request.content_type in request_response.py")

    @property
    def content_length(self) -> int | None:
        raise NotImplementedError("write Request.content_length in request_response.py")

    @property
    def body(self) -> bytes:
        raise NotImplementedError("write Request.body in request_response.py")

    @property
    def form(self) -> MultiDict:
        raise NotImplementedError("write Request.form in request_response.py")

    def json(self) -> Any:
        raise NotImplementedError("write Request.json in request_response.py")

    @property
    def cookies(self) -> dict[str, str]:
        raise NotImplementedError("write Request.cookies in request_response.py")

    @property
    def bearer_token(self) -> str | None:
        raise NotImplementedError("write Request.bearer_token in request_response.py")


# ----------------------------------------------------------------------------------------------
# Responses
# ----------------------------------------------------------------------------------------------


class Response:
    """A status, headers and a body; call it as a WSGI app to send it.

    - ``body``: bytes, or a str encoded as UTF-8 (``Content-Length`` counts BYTES: ``"héllo"`` is 6).
    - ``status``: an int; the status line gets its reason phrase from ``http.HTTPStatus``
      (``"404 Not Found"``), or any phrase (``"599 Unknown"``) for a code it does not know.
    - ``headers``: a dict or a list of pairs, kept in ``self.headers`` as a list of ``(name, value)``
      (a list, because ``Set-Cookie`` repeats).
    - ``content_type``: given, or ``media_type`` of the class — ``text/plain`` here — with
      ``; charset=utf-8`` added to ``text/*`` types. Not added when ``headers`` already has one.

    As a WSGI app (``response(environ, start_response)``): ``start_response`` with the status line,
    the headers and ``Content-Length``; return ``[body]``. For ``HEAD``, the same headers and no
    body (RFC 9110 §9.3.2). A 1xx, 204 or 304 has no body and no Content-Length (RFC 9110 §8.6).
    """

    media_type: str | None = "text/plain"
    charset = "utf-8"

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> None:
        raise NotImplementedError("write Response.__init__ in request_response.py")

    def set_cookie(
        self,
        name: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: _dt.datetime | float | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Add one ``Set-Cookie`` header (RFC 6265 §4.1): ``name=value; Max-Age=60; Expires=...;
        Domain=...; Path=/; Secure; HttpOnly; SameSite=Lax`` — only the attributes that are set.

        - ``name`` must be a token (letters, digits and ``!#$%&'*+-.^_`|~``) and ``value`` cookie-octets
          (no spaces, ``"``, ``,``, ``;`` or ``\\``): raise ``ValueError`` otherwise (RFC 6265 §4.1.1).
        - ``expires``: a datetime (naive means UTC) or a Unix timestamp, written as an HTTP-date,
          ``Tue, 01 Jan 2030 00:00:00 GMT`` (``email.utils.format_datetime(dt, usegmt=True)`` or
          ``email.utils.formatdate(ts, usegmt=True)``).
        - ``samesite``: ``"Strict"``, ``"Lax"`` or ``"None"`` (any case), else ``ValueError``.
        """
        raise NotImplementedError("write Response.set_cookie in request_response.py")

    def delete_cookie(self, name: str, *, path: str | None = "/", domain: str | None = None) -> None:
        """Ask the browser to drop a cookie: the same name, path and domain, an empty value,
        ``Max-Age=0`` and an ``Expires`` in the past (RFC 6265 §3.1)."""
        raise NotImplementedError("write Response.delete_cookie in request_response.py")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raise NotImplementedError("write Response.__call__ in request_response.py")


class HTMLResponse(Response):
    """A Response whose content type is ``text/html; charset=utf-8``."""

    media_type = "text/html"


class JSONResponse(Response):
    """``data`` serialised as JSON, UTF-8, non-ASCII kept as is (``ensure_ascii=False``), with the
    content type ``application/json`` — no charset parameter: JSON is always UTF-8 (RFC 8259 §8.1)."""

    media_type = "application/json"

    def __init__(
        self,
        data: Any,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        raise NotImplementedError("write JSONResponse.__init__ in request_response.py")


class RedirectResponse(Response):
    """A redirect: ``Location: <location>``, status 302 by default, any 3xx allowed (``ValueError``
    for another status), and a short text body.

    A URL is ASCII (RFC 3986 §2.1) and a WSGI header value latin-1: percent-encode what is not,
    keeping the URL's own punctuation and existing escapes — ``quote(location,
    safe=":/?#[]@!$&'()*+,;=%~")`` turns ``/café`` into ``/caf%C3%A9``.
    """

    def __init__(
        self,
        location: str,
        status: int = 302,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        raise NotImplementedError("write RedirectResponse.__init__ in request_response.py")


class EmptyResponse(Response):
    """``204 No Content``: no body, so no Content-Type and no Content-Length (RFC 9110 §15.3.5, §8.6).
    ``wsgiref.validate`` rejects a 204 with a Content-Type."""

    media_type = None

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        raise NotImplementedError("write EmptyResponse.__init__ in request_response.py")


if __name__ == "__main__":  # pragma: no cover - a manual demo: python request_response.py
    from html import escape
    from urllib.parse import unquote
    from wsgiref.simple_server import make_server

    def app(environ, start_response):
        request = Request(environ)
        if request.path == "/login" and request.method == "POST":
            response = RedirectResponse("/", status=303)
            # quote(): a cookie value may not hold spaces, commas, semicolons...
            response.set_cookie("user", quote(request.form.get("name", "anonymous"), safe=""), httponly=True, samesite="Lax")
        elif request.path == "/logout":
            response = RedirectResponse("/", status=303)
            response.delete_cookie("user")
        elif request.path == "/api":
            response = JSONResponse({"query": dict(request.query), "cookies": request.cookies, "token": request.bearer_token})
        elif request.path == "/":
            user = escape(unquote(request.cookies.get("user", "stranger")))
            response = HTMLResponse(
                f"<h1>Hello, {user}</h1><form method=post action=/login><input name=name><button>log in</button></form>"
                "<a href=/logout>log out</a>"
            )
        else:
            response = Response("not found\n", status=404)
        return response(environ, start_response)

    with make_server("127.0.0.1", 8000, app) as httpd:
        print("Serving on http://127.0.0.1:8000")
        httpd.serve_forever()
