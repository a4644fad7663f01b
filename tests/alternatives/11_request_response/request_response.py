"""Exercise 11 (alternative) — Request and Response objects.

How this one differs from the obvious version:

- ``Headers`` copies nothing: each lookup turns the header name into its environ key
  (``X-Thing`` → ``HTTP_X_THING``) and reads the environ; iteration turns keys back into names.
- ``Request`` caches each parsed value with ``functools.cached_property``, and the body also in
  the environ, so a second ``Request`` over the same environ (a middleware's, then the app's) still
  finds it. With no ``CONTENT_LENGTH``, a server that marks its input ``wsgi.input_terminated``
  (gunicorn, mod_wsgi) has its body read to the end in pieces.
- A ``Response`` renders its head when called, so the body may change until then. A status that
  ``http.HTTPStatus`` does not know is named after its class (RFC 9110 §15: ``599 Server Error``);
  cookie attributes go in the order Path, Domain, Expires, Max-Age, SameSite, Secure, HttpOnly;
  JSON is compact and refuses NaN; a Location is encoded by a regular expression that also repairs
  a stray ``%``.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

# ----------------------------------------------------------------------------------------------
# Requests
# ----------------------------------------------------------------------------------------------


def _text(native: str) -> str:
    """A native string (bytes as latin-1 characters, PEP 3333 §Unicode Issues) as real text.

    Taken as it is when it is not one (some gateways, httpx's WSGITransport among them, pass text
    already) or when the bytes underneath are not UTF-8."""
    try:
        return native.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return native


class MultiDict(Mapping[str, str]):
    """A read-only mapping where a key may repeat: ``d[k]``/``d.get(k)`` the first value, ``getall`` all."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = tuple(pairs)
        self._first: dict[str, str] = {}
        for key, value in self._pairs:
            self._first.setdefault(key, value)

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getall(self, key: str) -> list[str]:
        return [value for k, value in self._pairs if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"MultiDict({list(self._pairs)!r})"


class Headers(Mapping[str, str]):
    """The request headers, read from the environ on each lookup, names case-insensitive (RFC 9110 §5.1)."""

    _UNPREFIXED = ("CONTENT_TYPE", "CONTENT_LENGTH")  # PEP 3333: these two come without HTTP_

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    @classmethod
    def _key(cls, name: str) -> str:
        key = name.upper().replace("-", "_")
        return key if key in cls._UNPREFIXED else "HTTP_" + key

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        key = self._key(name)
        value = self._environ.get(key)
        if value is None or (value == "" and key in self._UNPREFIXED):  # an empty CONTENT_TYPE means none
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        for key, value in self._environ.items():
            if key.startswith("HTTP_"):
                key = key[5:]
            elif key not in self._UNPREFIXED or not value:
                continue
            yield "-".join(part.capitalize() for part in key.split("_"))  # HTTP_X_THING → X-Thing

    def __len__(self) -> int:
        return sum(1 for _ in self)


def parse_cookie_header(header: str) -> dict[str, str]:
    """``a=1; b="2"; a=3`` → ``{"a": "1", "b": "2"}`` (RFC 6265 §4.2.1, forgiving as §5.4 asks)."""
    cookies: dict[str, str] = {}
    for piece in header.split(";"):
        name, equals, value = piece.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            continue  # junk, or "=nameless"
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, value)  # the first is the most specific (RFC 6265 §5.4, point 2)
    return cookies


# credentials = "Bearer" 1*SP b64token   (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1)
_BEARER = re.compile(r"bearer +([A-Za-z0-9\-._~+/]+=*)[ \t]*", re.IGNORECASE)
_READ_SIZE = 64 * 1024


class Request:
    """A view of one request's environ: parsed on first use, the body read once (see the exercise)."""

    BODY_KEY = "request_response.body"
    """Where the body, once read, is kept in the environ for any other Request over it."""

    def __init__(self, environ: dict) -> None:
        self.environ = environ

    @property
    def method(self) -> str:
        return self.environ.get("REQUEST_METHOD", "GET").upper()

    @cached_property
    def path(self) -> str:
        return _text(self.environ.get("SCRIPT_NAME", "") + self.environ.get("PATH_INFO", ""))

    @property
    def query_string(self) -> str:
        return self.environ.get("QUERY_STRING", "")

    @cached_property
    def query(self) -> MultiDict:
        return MultiDict(parse_qsl(_text(self.query_string), keep_blank_values=True))

    @cached_property
    def headers(self) -> Headers:
        return Headers(self.environ)

    @cached_property
    def content_type(self) -> str:
        return self.environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()

    @cached_property
    def content_length(self) -> int | None:
        raw = self.environ.get("CONTENT_LENGTH", "").strip()
        return int(raw) if raw.isascii() and raw.isdigit() else None  # "", "-1", "abc": none given

    @cached_property
    def body(self) -> bytes:
        if self.BODY_KEY in self.environ:
            return self.environ[self.BODY_KEY]
        stream = self.environ["wsgi.input"]
        length = self.content_length
        pieces: list[bytes] = []
        if length is not None:
            # Exactly CONTENT_LENGTH bytes: the next request may sit right behind them.
            while length > 0 and (piece := stream.read(min(length, _READ_SIZE))):
                pieces.append(piece)
                length -= len(piece)
        elif self.environ.get("wsgi.input_terminated"):
            # The server promises end-of-file at the end of the body (e.g. a chunked upload).
            while piece := stream.read(_READ_SIZE):
                pieces.append(piece)
        body = b"".join(pieces)
        self.environ[self.BODY_KEY] = body
        return body

    @cached_property
    def form(self) -> MultiDict:
        if self.content_type != "application/x-www-form-urlencoded":
            return MultiDict()
        text = self.body.decode("utf-8", errors="replace")
        return MultiDict(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"))

    def json(self) -> Any:
        return json.loads(self.body)  # JSONDecodeError and UnicodeDecodeError are ValueErrors

    @cached_property
    def cookies(self) -> dict[str, str]:
        return parse_cookie_header(self.environ.get("HTTP_COOKIE", ""))

    @cached_property
    def bearer_token(self) -> str | None:
        match = _BEARER.fullmatch(self.environ.get("HTTP_AUTHORIZATION", "").strip())
        return match.group(1) if match else None


# ----------------------------------------------------------------------------------------------
# Responses
# ----------------------------------------------------------------------------------------------

_CLASS_PHRASES = {1: "Informational", 2: "Success", 3: "Redirection", 4: "Client Error", 5: "Server Error"}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )   (RFC 6265 §4.1.1)
_COOKIE_VALUE = re.compile(r'[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*|"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"')
_ATTRIBUTE_VALUE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")  # any CHAR but CTLs or ";" (RFC 6265 §4.1.1)
_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
# What may stay in a URL as is (RFC 3986 §2: unreserved, reserved, and "%" starting an escape).
_URL_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
_NO_BODY = (204, 304)


def _status_line(code: int) -> str:
    if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 599:
        raise ValueError(f"a status is an int from 100 to 599, got {code!r}")
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = _CLASS_PHRASES[code // 100]
    return f"{code} {phrase}"


def _header_list(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    for name, value in pairs:
        if not (isinstance(name, str) and _TOKEN.fullmatch(name) and isinstance(value, str)) or _HEADER_UNSAFE.search(value):
            raise ValueError(f"invalid header {(name, value)!r} (a CR or LF would split the response)")
    return pairs


def _http_date(when: _dt.datetime | float) -> str:
    if isinstance(when, _dt.datetime):
        when = when.replace(tzinfo=_dt.timezone.utc) if when.tzinfo is None else when.astimezone(_dt.timezone.utc)
        return email.utils.format_datetime(when, usegmt=True)
    return email.utils.formatdate(float(when), usegmt=True)


def _encode_url(url: str) -> str:
    """Percent-encode (as UTF-8) what a URL may not hold; keep its punctuation and valid escapes."""
    return _URL_UNSAFE.sub(lambda m: "".join(f"%{byte:02X}" for byte in m.group().encode("utf-8")), url)


class Response:
    """A status, headers and a body, sent when called as a WSGI app (see the exercise)."""

    media_type: str | None = "text/plain"
    charset = "utf-8"

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.body = self.render(body)
        self.status = status
        self.status_line = _status_line(status)  # a bad status fails here, where the caller is
        self.headers = _header_list(headers)
        if not any(name.lower() == "content-type" for name, _ in self.headers):
            media_type = content_type or self.media_type
            if media_type is not None:
                if media_type.startswith("text/") and "charset=" not in media_type.lower():
                    media_type += f"; charset={self.charset}"
                self.headers.append(("Content-Type", media_type))

    def render(self, body: Any) -> bytes:
        """The body as bytes; subclasses turn other things (data, HTML) into bytes here."""
        if isinstance(body, str):
            return body.encode(self.charset)
        if isinstance(body, (bytes, bytearray, memoryview)):
            return bytes(body)
        raise TypeError(f"a response body is bytes or str, got {type(body).__name__}")

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
        """Add one ``Set-Cookie`` header (RFC 6265 §4.1) with the attributes that are set."""
        if not _TOKEN.fullmatch(name or ""):
            raise ValueError(f"a cookie name is a token (no spaces, separators or '='), got {name!r}")
        if not _COOKIE_VALUE.fullmatch(value):
            raise ValueError(f"a cookie value may not hold spaces, '\"', ',', ';' or '\\', got {value!r}; quote() it first")
        parts = [f"{name}={value}"]
        for attribute, text in (("Path", path), ("Domain", domain)):
            if text is not None:
                if not _ATTRIBUTE_VALUE.fullmatch(text):
                    raise ValueError(f"a cookie {attribute} may not hold ';' or control characters, got {text!r}")
                parts.append(f"{attribute}={text}")
        if expires is not None:
            parts.append(f"Expires={_http_date(expires)}")
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if samesite is not None:
            if samesite.lower() not in _SAMESITE:
                raise ValueError(f"samesite is 'Strict', 'Lax' or 'None', got {samesite!r}")
            parts.append(f"SameSite={_SAMESITE[samesite.lower()]}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        self.headers.append(("Set-Cookie", "; ".join(parts)))

    def delete_cookie(
        self, name: str, *, path: str | None = "/", domain: str | None = None, secure: bool = False, samesite: str | None = None
    ) -> None:
        """Overwrite the cookie with an empty one that is already expired (RFC 6265 §3.1).

        ``secure``/``samesite``: a browser only lets a cookie set with them be replaced by one with them."""
        self.set_cookie(name, "", max_age=0, expires=0, path=path, domain=domain, secure=secure, samesite=samesite)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        bodyless = self.status < 200 or self.status in _NO_BODY  # RFC 9110 §8.6, §15.3.5, §15.4.5
        headers = [(n, v) for n, v in self.headers if n.lower() != "content-length"]
        if bodyless:
            headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
        else:
            headers.append(("Content-Length", str(len(self.body))))
        start_response(self.status_line, headers)
        if bodyless or environ.get("REQUEST_METHOD") == "HEAD":
            return ()
        return (self.body,)


class HTMLResponse(Response):
    """``text/html; charset=utf-8``."""

    media_type = "text/html"


class JSONResponse(Response):
    """``data`` as compact UTF-8 JSON, ``application/json`` (no charset: JSON is UTF-8, RFC 8259 §8.1)."""

    media_type = "application/json"

    def __init__(
        self,
        data: Any,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        self.data = data
        super().__init__(data, status, headers)

    def render(self, body: Any) -> bytes:
        # allow_nan=False: NaN and Infinity are not JSON (RFC 8259 §6), and parsers refuse them.
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


class RedirectResponse(Response):
    """``Location: <location>`` (percent-encoded), 302 by default, any 3xx; ``ValueError`` otherwise."""

    def __init__(
        self,
        location: str,
        status: int = 302,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if not isinstance(status, int) or not 300 <= status <= 399:
            raise ValueError(f"a redirect has a 3xx status, got {status!r}")
        self.location = _encode_url(location)
        super().__init__(f"Redirecting to {self.location}\n", status, headers)
        self.headers.append(("Location", self.location))


class EmptyResponse(Response):
    """``204 No Content``: no body, no Content-Type, no Content-Length."""

    media_type = None

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        super().__init__(b"", 204, headers)


if __name__ == "__main__":  # pragma: no cover - a manual demo: python request_response.py
    from html import escape
    from urllib.parse import quote, unquote
    from wsgiref.simple_server import make_server

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        response: Response
        if request.path == "/login" and request.method == "POST":
            response = RedirectResponse("/", status=303)
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
