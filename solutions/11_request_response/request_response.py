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
import json as _json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from email.utils import format_datetime, formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

# ----------------------------------------------------------------------------------------------
# Requests
# ----------------------------------------------------------------------------------------------


class MultiDict(Mapping[str, str]):
    """A read-only mapping where a key may have several values, in order (``?tag=a&tag=b``).

    ``d[key]`` and ``d.get(key)`` give the FIRST value; ``d.getall(key)`` gives them all (``[]`` when
    the key is absent); ``d.multi_items()`` gives every ``(key, value)`` pair.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = list(pairs)
        self._lists: dict[str, list[str]] = {}
        for key, value in self._pairs:
            self._lists.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> str:
        return self._lists[key][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)

    def getall(self, key: str) -> list[str]:
        return list(self._lists.get(key, []))

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


class Headers(Mapping[str, str]):
    """The request headers from the environ, looked up case-insensitively (RFC 9110 §5.1).

    PEP 3333 §environ Variables: a header ``X-Thing`` arrives as ``HTTP_X_THING``, except
    ``Content-Type`` and ``Content-Length``, which arrive as ``CONTENT_TYPE`` and ``CONTENT_LENGTH``.
    """

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                self._headers[key[5:].replace("_", "-").lower()] = value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                self._headers[key.replace("_", "-").lower()] = value

    def __getitem__(self, name: str) -> str:
        return self._headers[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._headers

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)


def native_to_text(value: str) -> str:
    """A WSGI native string (bytes as latin-1 code points, PEP 3333 §Unicode Issues) as real text."""
    return value.encode("latin-1").decode("utf-8", errors="replace")


class Request:
    """A view of one request's environ. Everything is parsed on first use and kept."""

    def __init__(self, environ: dict) -> None:
        self.environ = environ
        self._body: bytes | None = None
        self._form: MultiDict | None = None

    @property
    def method(self) -> str:
        return self.environ["REQUEST_METHOD"].upper()

    @property
    def path(self) -> str:
        """The full path as real text: SCRIPT_NAME + PATH_INFO, with the latin-1 tunnel undone."""
        return native_to_text(self.environ.get("SCRIPT_NAME", "") + self.environ.get("PATH_INFO", "")) or "/"

    @property
    def query_string(self) -> str:
        return self.environ.get("QUERY_STRING", "")

    @property
    def query(self) -> MultiDict:
        # QUERY_STRING is a native string like PATH_INFO: raw UTF-8 bytes (curl sends ?q=café as is)
        # arrive one latin-1 character each, so undo that first; parse_qsl then decodes %XX as UTF-8.
        # keep_blank_values: "?flag=" and "?flag" mean "flag is there, empty", not "no flag".
        return MultiDict(parse_qsl(native_to_text(self.query_string), keep_blank_values=True))

    @property
    def headers(self) -> Headers:
        return Headers(self.environ)

    @property
    def content_type(self) -> str:
        """The media type alone, lower-cased: ``"application/json; charset=utf-8"`` -> ``"application/json"``."""
        return self.environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        value = self.environ.get("CONTENT_LENGTH", "")
        return int(value) if value else None

    @property
    def body(self) -> bytes:
        """The body: exactly CONTENT_LENGTH bytes, read from wsgi.input once and then kept.

        Never ``read()`` without a size: PEP 3333 lets the server give a stream that blocks past the
        end of the body (the next request of a keep-alive connection may be there). Without a
        CONTENT_LENGTH there is no body, unless the server sets ``wsgi.input_terminated``: then the
        stream ends where the body does (gunicorn, for a chunked upload), so read it to the end.
        """
        if self._body is None:
            stream = self.environ["wsgi.input"]
            chunks = []
            if self.content_length is None and self.environ.get("wsgi.input_terminated"):
                while chunk := stream.read(65536):
                    chunks.append(chunk)
            else:
                remaining = self.content_length or 0
                while remaining > 0:
                    chunk = stream.read(remaining)  # may give fewer bytes than asked: loop
                    if not chunk:  # the client sent less than it announced
                        break
                    chunks.append(chunk)
                    remaining -= len(chunk)
            self._body = b"".join(chunks)
        return self._body

    @property
    def form(self) -> MultiDict:
        """Fields of an ``application/x-www-form-urlencoded`` body; empty for any other content type."""
        if self._form is None:
            if self.content_type == "application/x-www-form-urlencoded":
                text = self.body.decode("utf-8", errors="replace")
                self._form = MultiDict(parse_qsl(text, keep_blank_values=True))
            else:
                self._form = MultiDict()
        return self._form

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return _json.loads(self.body)

    @property
    def cookies(self) -> dict[str, str]:
        """``Cookie: a=1; b=2`` as ``{"a": "1", "b": "2"}`` (RFC 6265 §4.2.1, §5.4).

        Parsed by hand, forgivingly: ``http.cookies.SimpleCookie`` drops every cookie after one it
        does not like. A pair without ``=`` is skipped; a repeated name keeps its first value (the
        browser sends the most specific cookie first).
        """
        cookies: dict[str, str] = {}
        for piece in self.environ.get("HTTP_COOKIE", "").split(";"):
            name, equals, value = piece.strip().partition("=")
            name, value = name.strip(), value.strip()
            if not equals or not name:
                continue
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]  # cookie-value may be wrapped in DQUOTEs (RFC 6265 §4.1.1)
            cookies.setdefault(name, value)
        return cookies

    @property
    def bearer_token(self) -> str | None:
        """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1), or None."""
        scheme, _, token = self.environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():  # schemes are case-insensitive (RFC 9110 §11.1)
            return None
        return token.strip()


# ----------------------------------------------------------------------------------------------
# Responses
# ----------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
_COOKIE_VALUE = re.compile(r'[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*')  # RFC 6265 §4.1.1 cookie-octet
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def status_line(status: int) -> str:
    """``404`` -> ``"404 Not Found"``: PEP 3333 wants the code and a reason phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"  # any code is allowed; the phrase is only for humans


class Response:
    """A status, headers and a body; call it as a WSGI app to send it."""

    media_type: str | None = "text/plain"
    charset = "utf-8"

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        if isinstance(headers, Mapping):
            headers = headers.items()
        self.headers: list[tuple[str, str]] = [(str(n), str(v)) for n, v in (headers or [])]
        self.body = self.render(body)
        if content_type is None and self.media_type is not None:
            content_type = self.media_type
            if content_type.startswith("text/"):
                content_type += f"; charset={self.charset}"
        if content_type is not None and not any(n.lower() == "content-type" for n, _ in self.headers):
            self.headers.append(("Content-Type", content_type))

    def render(self, body: Any) -> bytes:
        return body.encode(self.charset) if isinstance(body, str) else bytes(body)

    def has_body(self) -> bool:
        # 1xx, 204 and 304 never carry content, nor a Content-Length (RFC 9110 §8.6, §6.4.1).
        return not (self.status < 200 or self.status in (204, 304))

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
        """Add a ``Set-Cookie`` header (RFC 6265 §4.1), one per cookie."""
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"a cookie name must be a token (RFC 6265 §4.1.1), got {name!r}")
        if not _COOKIE_VALUE.fullmatch(value):
            raise ValueError(
                f"a cookie value may not hold spaces, quotes, commas, semicolons or backslashes, got {value!r}: "
                "encode it first (base64, or urllib.parse.quote)"
            )
        parts = [f"{name}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            if isinstance(expires, _dt.datetime):
                expires_utc = expires.astimezone(_dt.timezone.utc) if expires.tzinfo else expires.replace(tzinfo=_dt.timezone.utc)
                parts.append(f"Expires={format_datetime(expires_utc, usegmt=True)}")
            else:
                parts.append(f"Expires={formatdate(expires, usegmt=True)}")
        if domain:
            parts.append(f"Domain={domain}")
        if path:
            parts.append(f"Path={path}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            if samesite.lower() not in _SAMESITE:
                raise ValueError(f"samesite must be 'Strict', 'Lax' or 'None', got {samesite!r}")
            parts.append(f"SameSite={_SAMESITE[samesite.lower()]}")
        self.headers.append(("Set-Cookie", "; ".join(parts)))

    def delete_cookie(self, name: str, *, path: str | None = "/", domain: str | None = None) -> None:
        """Ask the browser to drop a cookie: same name, path and domain, already expired (RFC 6265 §3.1)."""
        self.set_cookie(name, "", max_age=0, expires=0, path=path, domain=domain)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        headers = list(self.headers)
        if self.has_body():
            headers.append(("Content-Length", str(len(self.body))))
        start_response(status_line(self.status), headers)
        if environ.get("REQUEST_METHOD", "GET").upper() == "HEAD" or not self.has_body():
            return []  # HEAD: the GET's headers, Content-Length included, and no content (RFC 9110 §9.3.2)
        return [self.body]


class HTMLResponse(Response):
    """``text/html; charset=utf-8``."""

    media_type = "text/html"


class JSONResponse(Response):
    """``data`` serialised as compact UTF-8 JSON, ``application/json`` (RFC 8259 §8.1: no charset)."""

    media_type = "application/json"

    def __init__(
        self,
        data: Any,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(data, status=status, headers=headers)

    def render(self, data: Any) -> bytes:
        return _json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Characters a URL may carry unescaped (RFC 3986 §2.2 reserved + unreserved, and "%" of an escape).
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


class RedirectResponse(Response):
    """A redirect to ``location`` (302 by default; any 3xx). Non-ASCII in the URL is percent-encoded:
    header values are latin-1 on the wire in WSGI, and a URL is ASCII (RFC 3986 §2.1)."""

    def __init__(
        self,
        location: str,
        status: int = 302,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if not 300 <= status < 400:
            raise ValueError(f"a redirect has a 3xx status, got {status}")
        url = quote(location, safe=_URL_SAFE)
        super().__init__(f"Redirecting to {url}\n", status=status, headers=headers)
        self.headers.append(("Location", url))


class EmptyResponse(Response):
    """``204 No Content``: no body, so no Content-Type and no Content-Length (RFC 9110 §15.3.5, §8.6)."""

    media_type = None

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        super().__init__(b"", status=204, headers=headers)


if __name__ == "__main__":  # pragma: no cover - a manual demo: python request_response.py  # mutants: skip (given in the stub)
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
