"""Exercise 11 is graded in-process with ``wsgiref.validate.validator`` around every app, through
httpx's ``WSGITransport`` — and with direct environs from ``wsgiref.util.setup_testing_defaults``
where the request must be something httpx would not send (latin-1 paths, extra bytes after the body).
Cookies are cross-checked against ``http.cookies.SimpleCookie`` and httpx's cookie jar.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import httpx
import pytest

import request_response
from testkit.serving import CLIENT_TIMEOUT, GUNICORN_READY, gunicorn_argv, subprocess_serving
from request_response import EmptyResponse, HTMLResponse, JSONResponse, RedirectResponse, Request, Response

# Any WSGIWarning from the validator (a status without a reason phrase...) fails the test.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def client(app: Callable) -> httpx.Client:
    transport = httpx.WSGITransport(app=validator(app))
    return httpx.Client(transport=transport, base_url="http://testserver", timeout=CLIENT_TIMEOUT)


def inspect(look: Callable[[Request], Any], method: str = "GET", url: str = "/", **kwargs: Any) -> Any:
    """Send a request through httpx and return ``look(Request(environ))``, computed inside the app."""
    seen: list[Any] = []

    def app(environ, start_response):
        seen.append(look(Request(environ)))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    with client(app) as c:
        c.request(method, url, **kwargs)
    return seen[0]


def make_environ(path: str = "/", method: str = "GET", body: bytes | None = None, **extra: str) -> dict:
    environ: dict = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": ""}
    environ.update(extra)
    if body is not None:
        environ["wsgi.input"] = io.BytesIO(body)
    setup_testing_defaults(environ)
    return environ


def call(app: Callable, environ: dict | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run ``validator(app)`` on a direct environ: (status line, headers, body)."""
    seen: list = []

    def start_response(status, headers, exc_info=None):
        seen[:] = [status, headers]
        return lambda data: None

    iterable = validator(app)(environ or make_environ(), start_response)
    try:
        body = b"".join(iterable)
    finally:
        iterable.close()
    return seen[0], seen[1], body


def serve(response: Response) -> Callable:
    """An app that answers every request with ``response``."""
    return lambda environ, start_response: response(environ, start_response)


def values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


class CountingInput:
    """A wsgi.input that counts what is read from it (and refuses read() without a size)."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.bytes_read = 0

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        return self.stream.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self.stream.readlines(hint)

    def __iter__(self):
        return iter(self.stream)


# --------------------------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §environ Variables (REQUEST_METHOD, PATH_INFO, QUERY_STRING)")
def test_request_method_path_and_query_string() -> None:
    got = inspect(lambda r: (r.method, r.path, r.query_string), "POST", "/search?q=wsgi&page=2")
    assert got == ("POST", "/search", "q=wsgi&page=2"), f"expected ('POST', '/search', 'q=wsgi&page=2'), got {got!r}"


@pytest.mark.spec("PEP 3333 §URL Reconstruction, §Unicode Issues")
def test_request_path_is_full_and_decoded() -> None:
    # /app/café as a server delivers it: mounted at /app, the UTF-8 bytes of é as two latin-1 characters.
    request = Request(make_environ(path="/caf\xc3\xa9", SCRIPT_NAME="/app"))
    assert request.path == "/app/café", (
        f"expected '/app/café', got {request.path!r}: the path is SCRIPT_NAME + PATH_INFO, and both hold bytes "
        "as latin-1 characters (.encode('latin-1').decode('utf-8'))"
    )


@pytest.mark.spec("PEP 3333 §Unicode Issues")
def test_request_path_that_is_not_utf8() -> None:
    # /caf%E9: é as one latin-1 byte, which is not UTF-8: the client's mistake, not a reason to crash.
    try:
        path = Request(make_environ(path="/caf\xe9")).path
    except Exception as exc:
        pytest.fail(f"Request.path raised {exc!r} for PATH_INFO '/caf\\xe9' (not UTF-8): decode with errors='replace'")
    assert isinstance(path, str) and path.startswith("/caf"), f"expected the path as text, got {path!r}"


@pytest.mark.spec("RFC 3986 §3.4 (query), WHATWG URL §5.1 (application/x-www-form-urlencoded parsing)")
def test_request_query() -> None:
    def look(r: Request) -> dict:
        q = r.query
        return {
            "q": q.get("q"),
            "tag": q.get("tag"),
            "tags": q.getall("tag"),
            "empty": q.get("empty"),
            "missing": q.get("missing", "default"),
            "none": q.getall("missing"),
            "item": q["q"],
        }

    got = inspect(look, "GET", "/s?q=hello+world%21&tag=a&tag=b&empty=")
    expected = {"q": "hello world!", "tag": "a", "tags": ["a", "b"], "empty": "", "missing": "default", "none": [], "item": "hello world!"}
    assert got == expected, (
        f"expected {expected}, got {got}: .get gives the first value, .getall all of them, '+' is a space, "
        "and a blank value is kept"
    )


@pytest.mark.spec("PEP 3333 §Unicode Issues (QUERY_STRING is a native string), RFC 3986 §2.1")
def test_request_query_is_decoded_from_its_native_string() -> None:
    # curl sends ?q=café as raw UTF-8 bytes; the server hands them over one latin-1 character per byte.
    request = Request(make_environ(QUERY_STRING="raw=caf\xc3\xa9&escaped=caf%C3%A9"))
    got = (request.query.get("raw"), request.query.get("escaped"))
    assert got == ("café", "café"), (
        f"expected raw=café and escaped=café from QUERY_STRING 'raw=caf\\xc3\\xa9&escaped=caf%C3%A9', got {got!r}: "
        "QUERY_STRING is a native string like PATH_INFO, so .encode('latin-1').decode('utf-8') it before parsing, "
        "and percent-escapes are UTF-8 too"
    )


@pytest.mark.spec("PEP 3333 §Unicode Issues; WHATWG URL §5.1 (UTF-8 decode without BOM or fail)")
@pytest.mark.parametrize("query", ["q=caf%E9&x=1", "q=caf\xe9&x=1"], ids=["escaped-latin-1", "raw-latin-1"])
def test_request_query_that_is_not_utf8(query: str) -> None:
    try:
        parsed = Request(make_environ(QUERY_STRING=query)).query
        got = (parsed.get("x"), parsed.get("q", "")[:3])
    except Exception as exc:
        pytest.fail(f"Request.query raised {exc!r} for QUERY_STRING {query!r} (not UTF-8): decode with errors='replace'")
    assert got == ("1", "caf"), f"expected x='1' and q='caf…' from QUERY_STRING {query!r}, got {got!r}"


@pytest.mark.spec("(the MultiDict contract: a Mapping with repeated keys)")
def test_multidict_keys_length_and_pairs() -> None:
    got = inspect(lambda r: (sorted(r.query), len(r.query), r.query.multi_items()), "GET", "/s?tag=a&q=x&tag=b")
    expected = (["q", "tag"], 2, [("tag", "a"), ("q", "x"), ("tag", "b")])
    assert got == expected, (
        f"expected the keys ['q', 'tag'] (each once), len 2 and multi_items() {expected[2]} (every pair, in order), "
        f"got keys {got[0]}, len {got[1]} and {got[2]}"
    )


@pytest.mark.spec("RFC 9110 §5.1 (field names are case-insensitive), PEP 3333 §environ Variables")
def test_request_headers_are_case_insensitive() -> None:
    def look(r: Request) -> tuple:
        h = r.headers
        return (h["x-custom-thing"], h["X-Custom-Thing"], h.get("X-CUSTOM-THING"), "x-custom-thing" in h,
                h.get("content-type"), h.get("Content-Length"), h.get("x-missing", "none"))

    got = inspect(look, "POST", "/", headers={"X-Custom-Thing": "yes", "Content-Type": "text/csv"}, content=b"a,b")
    assert got == ("yes", "yes", "yes", True, "text/csv", "3", "none"), (
        f"expected every spelling of X-Custom-Thing to find 'yes', and Content-Type/Content-Length (CONTENT_TYPE "
        f"and CONTENT_LENGTH in the environ, without HTTP_) to be there, got {got!r}"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (HTTP_ variables, CONTENT_TYPE, CONTENT_LENGTH)")
def test_request_headers_are_only_the_headers() -> None:
    headers = Request(make_environ(HTTP_X_THING="1", CONTENT_TYPE="", CONTENT_LENGTH="")).headers
    names = sorted(name.lower() for name in headers)
    assert names == ["host", "x-thing"] and len(headers) == 2, (
        f"expected exactly the headers Host and X-Thing, got {names} (len {len(headers)}): only HTTP_* keys are "
        "headers, plus CONTENT_TYPE and CONTENT_LENGTH when they are not empty; REQUEST_METHOD or wsgi.input are not"
    )
    missing = [name for name in ("x-missing", "content-type", "request-method") if name in headers]
    assert missing == [], f"expected {missing} not to be `in` the headers"


@pytest.mark.spec("RFC 9110 §8.3 (Content-Type), §8.6 (Content-Length)")
def test_request_content_type_and_length() -> None:
    got = inspect(lambda r: (r.content_type, r.content_length), "POST", "/", content=b"{}",
                  headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert got == ("application/json", 2), f"expected ('application/json', 2), got {got!r}"
    got = inspect(lambda r: (r.content_type, r.content_length), "GET", "/")
    assert got == ("", None), f"expected ('', None) for a GET without a body, got {got!r}"


@pytest.mark.spec("PEP 3333 §Input and Error Streams")
def test_request_body() -> None:
    got = inspect(lambda r: r.body, "PUT", "/", content=b"\x00binary\xffbody")
    assert got == b"\x00binary\xffbody", f"expected the body bytes b'\\x00binary\\xffbody', got {got!r}"
    got = inspect(lambda r: r.body, "GET", "/")
    assert got == b"", f"expected b'' for a request without a body, got {got!r}"


@pytest.mark.spec("PEP 3333 §Input and Error Streams (read no more than CONTENT_LENGTH)")
def test_request_body_stops_at_content_length() -> None:
    # On a keep-alive connection the next request may follow the body on the same stream.
    stream = CountingInput(b"name=ada" + b"GET /next HTTP/1.1\r\n")
    request = Request(make_environ(method="POST", CONTENT_LENGTH="8", **{"wsgi.input": stream}))
    assert request.body == b"name=ada", f"expected the 8 bytes of CONTENT_LENGTH, b'name=ada', got {request.body!r}"
    assert stream.bytes_read == 8, f"expected 8 bytes read from wsgi.input, got {stream.bytes_read}: read(CONTENT_LENGTH)"


@pytest.mark.spec("PEP 3333 §Input and Error Streams (no CONTENT_LENGTH: no body)")
def test_request_without_content_length_reads_nothing() -> None:
    stream = CountingInput(b"GET /next HTTP/1.1\r\n")
    body = Request(make_environ(method="POST", **{"wsgi.input": stream})).body
    assert (body, stream.bytes_read) == (b"", 0), (
        f"expected b'' and nothing read from wsgi.input without CONTENT_LENGTH, got {body!r} after reading "
        f"{stream.bytes_read} bytes: what follows may be the next request"
    )


@pytest.mark.spec("PEP 3333 §Input and Error Streams; wsgi.input_terminated (gunicorn, chunked uploads)")
def test_request_body_of_a_terminated_input() -> None:
    # What gunicorn gives an app for a chunked upload: no CONTENT_LENGTH, and a stream that ends with the body.
    stream = CountingInput(b"chunked upload, decoded")
    environ = make_environ(method="POST", **{"wsgi.input": stream, "wsgi.input_terminated": True})
    body = Request(environ).body
    assert body == b"chunked upload, decoded", (
        f"expected the whole body b'chunked upload, decoded', got {body!r}: without CONTENT_LENGTH but with "
        "environ['wsgi.input_terminated'] true, the stream ends where the body ends, so read it to the end"
    )


ECHO_APP = """
from request_response import JSONResponse, Request


def application(environ, start_response):
    request = Request(environ)
    answer = {"body": request.body.decode("latin-1"), "form": request.form.multi_items()}
    return JSONResponse(answer)(environ, start_response)
"""


@pytest.mark.spec("RFC 9112 §7.1 (chunked transfer coding); wsgi.input_terminated (gunicorn)")
@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn does not run on Windows (it needs fork())")
@pytest.mark.parametrize("workers", [[], ["--worker-class", "gthread", "--threads", "2"]], ids=["sync", "gthread"])
def test_a_chunked_form_under_gunicorn(tmp_path: Path, workers: list[str]) -> None:
    # gunicorn gives the app a chunked upload with no CONTENT_LENGTH and wsgi.input_terminated true.
    (tmp_path / "request_echo.py").write_text(ECHO_APP)
    module_dir = os.path.dirname(os.path.abspath(request_response.__file__))
    argv = gunicorn_argv("--graceful-timeout", "2", *workers, "--pythonpath", module_dir, "request_echo:application",
                         chdir=tmp_path)
    pieces = [b"name=Ada+", b"Lovelace&lang=py", b"&lang=c"]
    with subprocess_serving(argv, ready=GUNICORN_READY, name="gunicorn") as url, \
            httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as http:
        response = http.post("/", content=iter(pieces), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.request.headers.get("transfer-encoding") == "chunked"  # the test's own premise
    expected = {"body": "name=Ada+Lovelace&lang=py&lang=c", "form": [["name", "Ada Lovelace"], ["lang", "py"], ["lang", "c"]]}
    assert response.status_code == 200 and response.json() == expected, (
        f"expected a chunked form POST under gunicorn to give Request.body and .form {expected!r}, got "
        f"{response.status_code} {response.text[:200]!r}: with no CONTENT_LENGTH and environ['wsgi.input_terminated'] "
        "true, read wsgi.input to its end"
    )


class TrickleInput(CountingInput):
    """A wsgi.input whose read(size) gives at most 3 bytes at a time, as a file may (fewer than asked)."""

    def read(self, size: int) -> bytes:
        return super().read(min(size, 3))


@pytest.mark.spec("PEP 3333 §Input and Error Streams (read() may return fewer bytes than asked)")
def test_request_body_read_in_pieces() -> None:
    stream = TrickleInput(b"abcdefgNEXT")
    body = Request(make_environ(method="POST", CONTENT_LENGTH="7", **{"wsgi.input": stream})).body
    assert body == b"abcdefg", (
        f"expected all 7 bytes b'abcdefg' from a stream that gives 3 at a time, got {body!r}: read(n) may return "
        "fewer than n bytes, so keep reading until you have CONTENT_LENGTH of them"
    )


@pytest.mark.spec("PEP 3333 §Input and Error Streams (end of the stream)")
def test_request_body_shorter_than_announced() -> None:
    # The client announced 10 bytes and sent 4: the stream ends (b"") before CONTENT_LENGTH.
    environ = make_environ(method="POST", CONTENT_LENGTH="10", **{"wsgi.input": CountingInput(b"abcd")})
    outcome: list[Any] = []

    def read_body() -> None:
        try:
            outcome.append(Request(environ).body)
        except Exception as exc:  # refusing a short body (ValueError) is fine too
            outcome.append(exc)

    thread = threading.Thread(target=read_body, daemon=True)
    thread.start()
    thread.join(3)
    assert not thread.is_alive(), (
        "Request.body was still reading after 3 s for a body shorter than its CONTENT_LENGTH: read() gives b'' "
        "at the end of the stream, stop there"
    )
    assert outcome and (outcome[0] == b"abcd" or isinstance(outcome[0], ValueError)), (
        f"expected the 4 bytes that came, b'abcd' (or a ValueError), got {outcome[0] if outcome else None!r}"
    )


@pytest.mark.spec("PEP 3333 §Input and Error Streams (the stream can be read once)")
def test_request_body_is_read_once() -> None:
    stream = CountingInput(b'{"a": 1}')
    request = Request(make_environ(method="POST", CONTENT_LENGTH="8", CONTENT_TYPE="application/json", **{"wsgi.input": stream}))
    first, parsed, again, form = request.body, request.json(), request.body, request.form
    assert (first, parsed, again) == (b'{"a": 1}', {"a": 1}, b'{"a": 1}'), (
        f"expected body, json() and body again to agree, got {first!r}, {parsed!r}, {again!r}: "
        "wsgi.input can be read only once, keep what you read"
    )
    assert stream.bytes_read == 8 and len(form) == 0, f"expected 8 bytes read in all, got {stream.bytes_read}"


@pytest.mark.spec("WHATWG URL §5 (application/x-www-form-urlencoded), HTML §4.10.21.7")
def test_request_form() -> None:
    got = inspect(lambda r: (r.form.get("name"), r.form.getall("lang"), r.form.get("note")),
                  "POST", "/", data={"name": "Ada Lovelace & co", "lang": ["py", "c"], "note": "é"})
    assert got == ("Ada Lovelace & co", ["py", "c"], "é"), f"expected ('Ada Lovelace & co', ['py', 'c'], 'é'), got {got!r}"


@pytest.mark.spec("WHATWG URL §5.1 (application/x-www-form-urlencoded parsing keeps empty values)")
def test_request_form_keeps_blank_values() -> None:
    got = inspect(lambda r: (r.form.get("name"), r.form.get("note")), "POST", "/", content=b"name=&note=hi",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert got == ("", "hi"), f"expected the empty field 'name' kept as '' (a field left blank), got {got!r}"


@pytest.mark.spec("WHATWG URL §5.1 (UTF-8 decode without BOM or fail: replacement characters)")
def test_request_form_survives_bytes_that_are_not_utf8() -> None:
    environ = make_environ(method="POST", body=b"name=caf\xe9&x=1", CONTENT_LENGTH="14",
                           CONTENT_TYPE="application/x-www-form-urlencoded")
    try:
        form = Request(environ).form
        got = (form.get("x"), form.get("name", "")[:3])
    except Exception as exc:
        pytest.fail(f"Request.form raised {exc!r} for a body that is not UTF-8: decode with errors='replace'")
    assert got == ("1", "caf"), f"expected the fields x='1' and name='caf…', got {got!r}"


@pytest.mark.spec("RFC 9110 §8.3.1 (media type: case-insensitive, with parameters)")
@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded; charset=UTF-8", "Application/X-WWW-Form-URLEncoded"],
    ids=["with-charset", "mixed-case"],
)
def test_request_form_whatever_its_content_type_spelling(content_type: str) -> None:
    environ = make_environ(method="POST", body=b"name=ada", CONTENT_LENGTH="8", CONTENT_TYPE=content_type)
    got = Request(environ).form.get("name")
    assert got == "ada", (
        f"expected the form field name='ada' with Content-Type {content_type!r}, got {got!r}: compare the media "
        "type alone, lower-cased (Request.content_type), not the whole header"
    )


@pytest.mark.spec("WHATWG URL §5 (only that content type is a form)")
def test_request_form_needs_its_content_type() -> None:
    got = inspect(lambda r: (len(r.form), r.body), "POST", "/", content=b"name=ada", headers={"Content-Type": "text/plain"})
    assert got == (0, b"name=ada"), f"expected an empty form for a text/plain body (and the body intact), got {got!r}"


@pytest.mark.spec("RFC 8259 §8.1 (UTF-8)")
def test_request_json() -> None:
    data = {"name": "Zoë", "tags": [1, 2.5, None, True]}
    got = inspect(lambda r: r.json(), "POST", "/", json=data)
    assert got == data, f"expected {data}, got {got!r}"

    def bad(r: Request) -> str:
        try:
            r.json()
        except ValueError:
            return "ValueError"
        return "no error"

    assert inspect(bad, "POST", "/", content=b"{not json") == "ValueError", "expected json() to raise ValueError for b'{not json'"


@pytest.mark.spec("RFC 6265 §4.2.1 (Cookie), §5.4")
def test_request_cookies_from_httpx() -> None:
    jar = {"session": "abc123", "theme": "dark", "token": "eyJ0eXAi.x=="}
    with client(lambda e, s: (s("200 OK", [("Content-Type", "text/plain")]), [json.dumps(Request(e).cookies).encode()])[1]) as c:
        c.cookies.update(jar)
        got = c.get("/").json()
    assert got == jar, f"expected httpx's cookies {jar}, got {got}: split at ';', then at the FIRST '=' (a value may contain '=')"


@pytest.mark.spec("RFC 6265 §4.2.1 (Cookie), §4.1.1 (quoted cookie-value)")
def test_request_cookies_agree_with_simplecookie() -> None:
    header = 'a=1;b=two ; c="quoted"; d=x=y; e = spaced ; f=""'
    oracle = {name: morsel.value for name, morsel in SimpleCookie(header).items()}
    got = Request(make_environ(HTTP_COOKIE=header)).cookies
    assert got == oracle, f"for Cookie: {header} expected {oracle} (as http.cookies.SimpleCookie reads it), got {got}"


@pytest.mark.spec("RFC 6265 §4.1.1 (cookie-value: DQUOTE on both sides, or none)")
def test_request_cookies_half_quoted_values_are_kept() -> None:
    got = Request(make_environ(HTTP_COOKIE='a="abc; b=x"; c="')).cookies
    expected = {"a": '"abc', "b": 'x"', "c": '"'}
    assert got == expected, (
        f"expected {expected}, got {got}: unwrap a value only when a double quote opens AND closes it"
    )


@pytest.mark.spec("RFC 6265 §5.4 (be forgiving)")
def test_request_cookies_survive_junk() -> None:
    got = Request(make_environ(HTTP_COOKIE="junk; a=1; =nameless; b=2; a=3")).cookies
    assert got == {"a": "1", "b": "2"}, (
        f"expected {{'a': '1', 'b': '2'}} (pieces without a name or '=' skipped, the first 'a' kept: browsers send "
        f"the most specific cookie first), got {got}"
    )
    assert Request(make_environ()).cookies == {}, "expected {} without a Cookie header"


@pytest.mark.spec("RFC 6750 §2.1 (Bearer), RFC 9110 §11.1 (scheme is case-insensitive)")
@pytest.mark.parametrize(
    "authorization, token",
    [("Bearer abc.def-123", "abc.def-123"), ("bearer xyz", "xyz"), ("Basic YWRhOmxvdmVsYWNl", None), ("Bearer", None), (None, None)],
    ids=["bearer", "lowercase", "basic", "no-token", "no-header"],
)
def test_request_bearer_token(authorization: str | None, token: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    got = inspect(lambda r: r.bearer_token, "GET", "/", headers=headers)
    assert got == token, f"expected bearer_token {token!r} for Authorization: {authorization!r}, got {got!r}"


# --------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §The start_response() Callable")
def test_response_is_a_wsgi_app() -> None:
    with client(serve(Response("hello"))) as c:
        response = c.get("/")
    assert (response.status_code, response.content) == (200, b"hello"), f"expected 200 b'hello', got {response.status_code} {response.content!r}"
    assert response.headers.get("Content-Type") == "text/plain; charset=utf-8", (
        f"expected Content-Type 'text/plain; charset=utf-8', got {response.headers.get('Content-Type')!r}"
    )
    assert response.headers.get("Content-Length") == "5", f"expected Content-Length 5, got {response.headers.get('Content-Length')!r}"


@pytest.mark.spec("RFC 9110 §8.6 (Content-Length counts octets)")
def test_response_encodes_text_as_utf8() -> None:
    status, headers, body = call(Response("héllo → wörld"))
    assert body == "héllo → wörld".encode(), f"expected the UTF-8 bytes of 'héllo → wörld', got {body!r}"
    assert values(headers, "Content-Length") == [str(len(body))], (
        f"expected Content-Length {len(body)} (bytes, not characters), got {values(headers, 'Content-Length')}"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable (status)")
@pytest.mark.parametrize("code, line", [(201, "201 Created"), (404, "404 Not Found"), (418, "418 I'm a Teapot")])
def test_response_status_line(code: int, line: str) -> None:
    status, _, _ = call(Response("x", status=code))
    assert status == line, f"expected the status line {line!r}, got {status!r} (http.HTTPStatus(code).phrase)"


@pytest.mark.spec("PEP 3333 §The start_response() Callable (status needs a reason phrase)")
def test_response_unknown_status_still_has_a_phrase() -> None:
    status, _, _ = call(Response("x", status=599))
    assert re.fullmatch(r"599 \S.*", status), f"expected '599 <some phrase>', got {status!r}"


@pytest.mark.spec("PEP 3333 §The start_response() Callable (headers)")
def test_response_headers_and_content_type() -> None:
    response = Response(b"\x89PNG", status=201, headers={"X-One": "1"}, content_type="image/png")
    _, headers, body = call(response)
    assert body == b"\x89PNG", f"expected the bytes body as is, got {body!r}"
    assert values(headers, "Content-Type") == ["image/png"], f"expected Content-Type image/png only, got {values(headers, 'Content-Type')}"
    assert values(headers, "X-One") == ["1"], f"expected the X-One header from the dict, got {headers!r}"
    _, headers, _ = call(Response("a", headers=[("X-Two", "a"), ("X-Two", "b")]))
    assert values(headers, "X-Two") == ["a", "b"], f"expected both X-Two headers from a list of pairs, got {headers!r}"
    _, headers, _ = call(Response("a,b", headers={"content-type": "text/csv"}))
    assert values(headers, "Content-Type") == ["text/csv"], (
        f"expected only the Content-Type given in headers, text/csv, got {values(headers, 'Content-Type')}: "
        "add the default one only when the headers have none (in any case)"
    )


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD)")
def test_response_to_head_has_no_body() -> None:
    with client(serve(Response("twelve bytes"))) as c:
        response = c.head("/")
    assert response.content == b"", f"expected no body for HEAD, got {response.content!r}"
    assert response.headers.get("Content-Length") == "12", (
        f"expected the GET's Content-Length (12) on the HEAD response, got {response.headers.get('Content-Length')!r}"
    )


def call_unvalidated(app: Callable, environ: dict | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """Like ``call``, without the validator (it insists on a Content-Type for a 1xx)."""
    seen: list = []

    def start_response(status, headers, exc_info=None):
        seen[:] = [status, headers]
        return lambda data: None

    iterable = app(environ or make_environ(), start_response)
    try:
        body = b"".join(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    return seen[0], seen[1], body


@pytest.mark.spec("RFC 9110 §8.6 (Content-Length), §15.2 (1xx), §15.3.5 (204), §15.4.5 (304)")
@pytest.mark.parametrize("code", [100, 199, 204, 304])
def test_response_without_content(code: int) -> None:
    status, headers, body = call_unvalidated(Response("not for this status", status=code))
    assert status.startswith(f"{code} "), f"expected the status line to start with '{code} ', got {status!r}"
    assert body == b"" and values(headers, "Content-Length") == [], (
        f"expected a {code} response with no body and no Content-Length, got body {body!r} and headers {headers!r}: "
        "a 1xx, 204 or 304 never carries content"
    )
    status, headers, body = call_unvalidated(Response("x", status=200 if code < 200 else code - 1))
    assert body == b"x" and values(headers, "Content-Length") == ["1"], (
        f"expected a {status!r} response to carry its body b'x' with Content-Length 1, got {body!r} and {headers!r}"
    )


@pytest.mark.spec("RFC 8259 §8.1, RFC 8259 §11 (application/json)")
def test_json_response() -> None:
    data = {"name": "Zoë", "items": [1, 2, {"ok": True}], "none": None}
    with client(serve(JSONResponse(data, status=201))) as c:
        response = c.get("/")
    assert response.status_code == 201, f"expected status 201, got {response.status_code}"
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert media_type == "application/json", f"expected Content-Type application/json, got {response.headers.get('Content-Type')!r}"
    assert response.json() == data, f"expected the JSON of {data}, got {response.content[:80]!r}"
    assert "Zoë".encode() in response.content, "expected UTF-8 in the body, not \\u escapes (ensure_ascii=False)"
    assert response.headers.get("Content-Length") == str(len(response.content)), "expected a Content-Length matching the body"


@pytest.mark.spec("RFC 9110 §8.3 (Content-Type)")
def test_html_response() -> None:
    _, headers, body = call(HTMLResponse("<h1>Grüße</h1>"))
    assert values(headers, "Content-Type") == ["text/html; charset=utf-8"], f"expected text/html; charset=utf-8, got {values(headers, 'Content-Type')}"
    assert body == "<h1>Grüße</h1>".encode(), f"expected the UTF-8 HTML, got {body!r}"


@pytest.mark.spec("RFC 9110 §15.4.3 (302), §10.2.2 (Location)")
def test_redirect_response() -> None:
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/old":
            return RedirectResponse("/new?from=old")(environ, start_response)
        return Response("new place")(environ, start_response)

    with client(app) as c:
        first = c.get("/old")
        followed = c.get("/old", follow_redirects=True)
    assert (first.status_code, first.headers.get("Location")) == (302, "/new?from=old"), (
        f"expected 302 with Location /new?from=old, got {first.status_code} {first.headers.get('Location')!r}"
    )
    assert followed.text == "new place", f"expected httpx to follow the redirect to 'new place', got {followed.text!r}"
    status, _, _ = call(RedirectResponse("/x", status=303))
    assert status == "303 See Other", f"expected '303 See Other', got {status!r}"


@pytest.mark.spec("RFC 9110 §15.4 (3xx)")
def test_redirect_response_needs_a_3xx() -> None:
    for status in (200, 299, 400, 404):
        with pytest.raises(ValueError):
            RedirectResponse("/x", status=status)
            pytest.fail(f"expected RedirectResponse('/x', status={status}) to raise ValueError: a redirect is a 3xx")
    for status in (300, 307, 399):
        _, headers, _ = call(RedirectResponse("/x", status=status))
        got = values(headers, "Location")
        assert got == ["/x"], f"expected RedirectResponse('/x', status={status}) to be a redirect to /x, got Location {got}"


@pytest.mark.spec("RFC 3986 §2.1 (percent-encoding), PEP 3333 §Unicode Issues")
def test_redirect_response_encodes_the_url() -> None:
    _, headers, _ = call(RedirectResponse("/café?q=ü&x=%2F"))
    assert values(headers, "Location") == ["/caf%C3%A9?q=%C3%BC&x=%2F"], (
        f"expected Location '/caf%C3%A9?q=%C3%BC&x=%2F', got {values(headers, 'Location')}: percent-encode "
        "non-ASCII as UTF-8 and leave the URL's punctuation and existing escapes alone"
    )


@pytest.mark.spec("RFC 9110 §15.3.5 (204), §8.6")
def test_empty_response() -> None:
    status, headers, body = call(EmptyResponse(headers={"X-Done": "yes"}))
    assert status == "204 No Content", f"expected '204 No Content', got {status!r}"
    names = sorted(k.lower() for k, _ in headers)
    assert "content-type" not in names and "content-length" not in names, (
        f"expected no Content-Type and no Content-Length on a 204, got headers {names}"
    )
    assert body == b"" and values(headers, "X-Done") == ["yes"], f"expected an empty body and the X-Done header, got {body!r} {headers!r}"


# --------------------------------------------------------------------------------------------
# Cookies out
# --------------------------------------------------------------------------------------------


def set_cookie_headers(response: Response) -> list[str]:
    return values(call(response)[1], "Set-Cookie")


@pytest.mark.spec("RFC 6265 §4.1 (Set-Cookie)")
def test_set_cookie_reaches_the_cookie_jar() -> None:
    response = Response("ok")
    response.set_cookie("session", "abc123")
    response.set_cookie("theme", "dark")
    with client(serve(response)) as c:
        c.get("/")
        jar = dict(c.cookies)
    assert jar == {"session": "abc123", "theme": "dark"}, (
        f"expected httpx's cookie jar to hold session=abc123 and theme=dark, got {jar}: one Set-Cookie header per cookie"
    )


@pytest.mark.spec("RFC 6265 §4.1.1, §4.1.2 (cookie attributes)")
def test_set_cookie_attributes() -> None:
    response = Response("ok")
    response.set_cookie("sid", "xyz", max_age=3600, path="/app", domain="example.com", secure=True, httponly=True, samesite="strict")
    headers = set_cookie_headers(response)
    assert len(headers) == 1, f"expected one Set-Cookie header, got {headers!r}"
    morsel = SimpleCookie(headers[0]).get("sid")
    assert morsel is not None and morsel.value == "xyz", f"expected http.cookies to read sid=xyz from {headers[0]!r}"
    got = {k: morsel[k] for k in ("max-age", "path", "domain", "secure", "httponly", "samesite")}
    expected = {"max-age": "3600", "path": "/app", "domain": "example.com", "secure": True, "httponly": True, "samesite": "Strict"}
    assert got == expected, f"expected attributes {expected}, http.cookies read {got} from {headers[0]!r}"


@pytest.mark.spec("RFC 6265 §4.1.2.4 (Path), §4.1.2.5 (Secure), §4.1.2.6 (HttpOnly)")
def test_set_cookie_defaults() -> None:
    response = Response("ok")
    response.set_cookie("a", "1")
    headers = set_cookie_headers(response)
    morsel = SimpleCookie(headers[0]).get("a") if headers else None
    assert morsel is not None and morsel.value == "1", f"expected http.cookies to read a=1 from {headers!r}"
    got = {k: morsel[k] for k in ("path", "secure", "httponly", "max-age", "expires", "domain")}
    expected = {"path": "/", "secure": "", "httponly": "", "max-age": "", "expires": "", "domain": ""}
    assert got == expected, (
        f"expected set_cookie('a', '1') to give Path=/ and no other attribute, http.cookies read {got} from {headers[0]!r}"
    )


@pytest.mark.spec("RFC 6265bis §4.1.2.7 (SameSite)")
def test_set_cookie_samesite() -> None:
    response = Response("ok")
    for name, samesite in (("a", "lax"), ("b", "NONE"), ("c", "Strict")):
        response.set_cookie(name, "1", samesite=samesite, secure=True)
    got = [SimpleCookie(h)[n]["samesite"] for h, n in zip(set_cookie_headers(response), "abc")]
    assert got == ["Lax", "None", "Strict"], f"expected SameSite=Lax, None and Strict (any case given), got {got}"
    with pytest.raises(ValueError):
        Response("ok").set_cookie("a", "1", samesite="sometimes")
        pytest.fail("expected ValueError for samesite='sometimes': only Strict, Lax and None exist")


@pytest.mark.spec("RFC 6265 §5.1.1 (cookie dates), RFC 9110 §5.6.7 (HTTP-date)")
def test_set_cookie_expires_is_an_http_date() -> None:
    response = Response("ok")
    response.set_cookie("a", "1", expires=dt.datetime(2030, 1, 1, 12, 30, tzinfo=dt.timezone.utc))
    response.set_cookie("b", "2", expires=0)
    expires = [SimpleCookie(h)[n]["expires"] for h, n in zip(set_cookie_headers(response), "ab")]
    assert expires == ["Tue, 01 Jan 2030 12:30:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT"], (
        f"expected HTTP-dates like 'Tue, 01 Jan 2030 12:30:00 GMT', got {expires}"
    )


@pytest.mark.spec("RFC 6265 §4.1.1 (cookie-octet, token)")
@pytest.mark.parametrize("name, value", [("a", "has space"), ("a", "semi;colon"), ("a", 'quo"te'), ("bad name", "x"), ("a", "comma,")])
def test_set_cookie_refuses_what_cannot_be_sent(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        Response("ok").set_cookie(name, value)


@pytest.mark.spec("RFC 6265 §3.1 (removing a cookie)")
def test_delete_cookie_empties_the_jar() -> None:
    response = Response("bye")
    response.delete_cookie("session")
    with client(serve(response)) as c:
        c.cookies.set("session", "abc123", domain="testserver.local")
        c.cookies.set("other", "kept", domain="testserver.local")
        c.get("/")
        left = {cookie.name for cookie in c.cookies.jar}
    assert left == {"other"}, f"expected the jar to drop 'session' and keep 'other', got {sorted(left)}"


# --------------------------------------------------------------------------------------------
# Together
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §The Application/Framework Side")
def test_request_and_response_together() -> None:
    def app(environ, start_response):
        request = Request(environ)
        if request.method == "POST":
            response = JSONResponse({"hello": request.form.get("name"), "token": request.bearer_token}, status=201)
            response.set_cookie("seen", "yes", httponly=True)
        else:
            response = HTMLResponse(f"<p>{request.query.get('name', 'nobody')}</p>")
        return response(environ, start_response)

    with client(app) as c:
        page = c.get("/?name=ada")
        created = c.post("/", data={"name": "alan"}, headers={"Authorization": "Bearer t0k3n"})
    assert page.text == "<p>ada</p>", f"expected '<p>ada</p>', got {page.text!r}"
    assert created.status_code == 201 and created.json() == {"hello": "alan", "token": "t0k3n"}, (
        f"expected 201 {{'hello': 'alan', 'token': 't0k3n'}}, got {created.status_code} {created.text[:80]!r}"
    )
    assert c.cookies.get("seen") == "yes", "expected the 'seen' cookie in httpx's jar"
