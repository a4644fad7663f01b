"""Exercise 20 grades your test clients by making them agree with httpx's own in-process transports.

For every request of a battery, the same real app (Flask for WSGI, Starlette for ASGI) answers twice:
once through ``httpx.WSGITransport`` / ``httpx.ASGITransport``, once through your client; the status,
the headers that matter and the body must be the same. Where httpx does not follow the spec
(it drops ``write()`` data, decodes PATH_INFO as UTF-8, keeps only the last of repeated request
headers, never sends lifespan or WebSocket scopes), the tests grade the spec itself: PEP 3333,
``wsgiref.validate``, ASGI HTTP/WebSocket 2.5 and Lifespan 2.0, with ``asgi_lifespan.LifespanManager``
and ``httpx_ws`` as the references.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar
from wsgiref.util import request_uri
from wsgiref.validate import check_environ, validator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

import testing_clients
from testkit.asgi_spec import ServerChecks, checked_app
from testkit.serving import CLIENT_TIMEOUT
from testing_clients_apps import flask_app, make_starlette_app

T = TypeVar("T")
LIMIT = 5.0


# --- helpers ---------------------------------------------------------------------------------------


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call your code in a thread, so that code which never returns fails in seconds, in plain words."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(*args, **kwargs))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name=what, daemon=True)
    thread.start()
    thread.join(LIMIT)
    if thread.is_alive():
        pytest.fail(
            f"{what} was still running after {LIMIT:g} s: does your client wait for a message the app "
            "never sends (or give http.disconnect before the response is over)?"
        )
    if failure:
        raise failure[0]
    return result[0]


def with_client(app: Any, use: Callable[[Any], T], *, what: str) -> T:
    """Make an ASGITestClient, use it, and always close it (its event loop must not outlive the test)."""
    # Your client plays the server: every scope and receive() message it hands the app is checked
    # against the ASGI spec (testkit.asgi_spec), and the first one that breaks it fails the test.
    checks = ServerChecks(app, what="your ASGITestClient")
    client = call("ASGITestClient(app)", testing_clients.ASGITestClient, checks)
    finished = threading.Event()  # set once `use` returned or raised, in time or not

    def use_then_mark(client: Any) -> T:
        try:
            return use(client)
        finally:
            finished.set()

    try:
        result = call(what, use_then_mark, client)
    except BaseException as exc:
        if checks.violations:  # what went wrong began with a message the app should never have had
            raise checks.violations[0] from exc
        raise
    finally:
        # A call that timed out may still be running the client's loop in its thread: closing the
        # loop under it would fail too. Any other way out (returned, raised), close the client,
        # wherever its loop runs (a loop in a background thread of its own is always running).
        if finished.is_set():
            call("client.close()", client.close)
    checks.raise_first()
    return result


# The request battery: (method, path, keyword arguments for our clients)
BATTERY = [
    ("GET", "/hello", {}),
    ("GET", "/echo?q=a%20b&q=c&slash=%2F&name=caf%C3%A9", {}),
    ("GET", "/echo", {"query": {"q": "a b", "t": "ü/&"}}),
    ("GET", "/echo", {"query": [("tag", "x"), ("tag", "y")]}),
    ("POST", "/echo", {"body": b"hello, body", "headers": {"Content-Type": "text/plain"}}),
    ("PUT", "/echo", {"body": "ü".encode() * 1000, "headers": {"content-type": "application/octet-stream", "X-Custom": "yes"}}),
    ("DELETE", "/echo", {"headers": [("X-One", "1"), ("x-two", "2")]}),
    ("GET", "/cookies", {}),
    ("GET", "/redirect", {}),
    ("GET", "/missing", {}),
    ("GET", "/stream", {}),
]
BATTERY_IDS = [f"{method} {path} {'+'.join(kwargs)}".strip() for method, path, kwargs in BATTERY]


def as_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Our clients' keyword arguments, spelt the httpx way."""
    return {"params": kwargs.get("query"), "headers": kwargs.get("headers"), "content": kwargs.get("body")}


def check_agree(ours: Any, theirs: httpx.Response, what: str) -> None:
    assert isinstance(ours, testing_clients.TestResponse), f"expected a TestResponse from {what}, got {type(ours).__name__}"
    assert ours.status_code == theirs.status_code, f"{what}: expected status {theirs.status_code} (as httpx), got {ours.status_code!r}"
    for name in ("content-type", "location", "set-cookie", "x-multi"):
        expected, got = theirs.headers.get_list(name), ours.headers.get_list(name)
        assert got == expected, (
            f"{what}: expected headers.get_list({name!r}) == {expected!r} (as httpx), got {got!r}"
            + (" (keep every repeat, in order)" if len(expected) > 1 else "")
        )
        if expected:
            upper = ours.headers.get(name.title())
            assert upper == theirs.headers.get(name), f"{what}: expected headers.get({name.title()!r}) == {theirs.headers.get(name)!r}, got {upper!r} (names are case-insensitive)"
    assert ours.body == theirs.content, f"{what}: expected body {theirs.content[:80]!r} (as httpx), got {ours.body[:80]!r}"


# --- Headers and TestResponse ----------------------------------------------------------------------


@pytest.mark.spec("RFC 9110 §5.1 (names are case-insensitive), §5.3 (repeats combine with ', ')")
def test_headers_read_like_httpx() -> None:
    pairs = [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-Empty", "")]
    ours = call("Headers(pairs)", testing_clients.Headers, pairs)
    theirs = httpx.Headers(pairs)
    for name in ("content-type", "SET-COOKIE", "x-empty", "x-missing"):
        expected = (theirs.get_list(name), theirs.get(name), name in theirs)
        got = (ours.get_list(name), ours.get(name), name in ours)
        assert got == expected, f"for {name!r}: expected (get_list, get, in) == {expected!r} (as httpx.Headers), got {got!r}"
        if name in theirs:
            assert ours[name] == theirs[name], f"expected headers[{name!r}] == {theirs[name]!r} (as httpx.Headers), got {ours[name]!r}"
        else:
            try:
                value = ours[name]
            except KeyError:
                pass
            else:
                pytest.fail(f"expected headers[{name!r}] to raise KeyError (there is no such header), got {value!r}")
    assert ours.get("x-missing", "fallback") == "fallback", f"expected get('x-missing', 'fallback') to give the default, got {ours.get('x-missing', 'fallback')!r}"
    assert list(ours.items()) == pairs, f"expected items() to be the pairs as given, in order, got {list(ours.items())!r}"


@pytest.mark.spec("RFC 9110 §8.3.2 (the charset parameter)")
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain; charset=iso-8859-1", "café".encode("latin-1")),
        ('text/plain; Charset="UTF-16"', "café".encode("utf-16")),
        ("text/plain; charset=iso-8859-1; format=flowed", "café".encode("latin-1")),
        ("text/plain", "café".encode()),
    ],
    ids=["latin-1", "quoted-utf-16", "charset-then-another-parameter", "no-charset"],
)
def test_response_text_uses_the_charset(content_type: str, body: bytes) -> None:
    headers = call("Headers(pairs)", testing_clients.Headers, [("Content-Type", content_type)])
    response = testing_clients.TestResponse(200, headers, body)
    expected = httpx.Response(200, headers=[("Content-Type", content_type)], content=body).text
    got = call("TestResponse.text", lambda: response.text)
    assert got == expected, f"expected .text {expected!r} for Content-Type {content_type!r} (as httpx), got {got!r}: decode with the charset parameter, UTF-8 without one"


# --- make_environ ----------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §environ Variables")
def test_make_environ_passes_the_validator() -> None:
    for args, kwargs in [
        (("GET", "/"), {}),
        (("POST", "/items"), {"query": "page=2", "headers": {"Content-Type": "application/json", "X-Trace": "1"}, "body": b'{"a": 1}'}),
    ]:
        environ = call("make_environ()", testing_clients.make_environ, *args, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                check_environ(environ)
            except (AssertionError, Warning) as exc:
                pytest.fail(f"expected make_environ{args} to pass wsgiref.validate.check_environ, but it says: {exc}")
        for key in ("wsgi.input", "wsgi.errors", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR"):
            assert key in environ, f"expected {key!r} in the environ (PEP 3333 §environ Variables), got keys {sorted(environ)}"
        try:
            ipaddress.ip_address(environ["REMOTE_ADDR"])
        except ValueError:
            pytest.fail(f"expected REMOTE_ADDR to be an IP address (the pretend client's, e.g. '127.0.0.1'), got {environ['REMOTE_ADDR']!r}")
        flags = {key: environ.get(key) for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once")}
        assert flags == dict.fromkeys(flags, False), (
            f"expected wsgi.multithread, wsgi.multiprocess and wsgi.run_once all False, got {flags!r}: the client calls the app "
            "in the caller's own thread and process, and more than once"
        )


def captured_environ(app_call: Callable[[Callable], Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def probe(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app_call(probe)
    return seen


COMPARED_KEYS = [
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
    "wsgi.version", "wsgi.url_scheme", "CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_HOST", "HTTP_X_CUSTOM", "body",
]


@pytest.mark.spec("PEP 3333 §environ Variables")
def test_make_environ_agrees_with_httpx() -> None:
    body = b"name=ada&lang=en"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Custom": "yes"}

    def with_httpx(app: Callable) -> None:
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
            client.post("/a%20b/c?q=1%202&r=", headers=headers, content=body)

    def with_ours(app: Callable) -> None:
        environ = testing_clients.make_environ("POST", "/a%20b/c?q=1%202&r=", headers=headers, body=body)
        app(environ, lambda status, headers, exc_info=None: None)

    theirs = captured_environ(with_httpx)
    ours = call("make_environ()", captured_environ, with_ours)
    for key in COMPARED_KEYS:
        assert ours.get(key) == theirs.get(key), f"expected environ[{key!r}] == {theirs.get(key)!r} (as httpx), got {ours.get(key)!r}"


@pytest.mark.parametrize(
    ("base_url", "kwargs"),
    [("https://testserver", {"scheme": "https"}), ("http://testserver:8080", {"server_port": 8080})],
    ids=["https", "port 8080"],
)
@pytest.mark.spec("PEP 3333 §environ Variables, §URL Reconstruction; RFC 9110 §7.2 (Host)")
def test_make_environ_scheme_and_port(base_url: str, kwargs: dict[str, Any]) -> None:
    def with_httpx(app: Callable) -> None:
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=base_url, timeout=CLIENT_TIMEOUT) as client:
            client.get("/a?b=1")

    def with_ours(app: Callable) -> None:
        app(testing_clients.make_environ("GET", "/a?b=1", **kwargs), lambda status, headers, exc_info=None: None)

    theirs = captured_environ(with_httpx)
    ours = call(f"make_environ(**{kwargs!r})", captured_environ, with_ours)
    for key in ("wsgi.url_scheme", "SERVER_NAME", "SERVER_PORT", "HTTP_HOST"):
        assert ours.get(key) == theirs.get(key), (
            f"make_environ(**{kwargs!r}): expected environ[{key!r}] == {theirs.get(key)!r} (as httpx at {base_url}), got {ours.get(key)!r}"
            + (" (Host carries ':port' only when it is not the scheme's default)" if key == "HTTP_HOST" else "")
        )
    url = request_uri(ours)
    assert url == f"{base_url}/a?b=1", f"expected the URL rebuilt from your environ (PEP 3333 §URL Reconstruction) to be {base_url}/a?b=1, got {url!r}"
    given = call("make_environ(headers={'Host': ...})", testing_clients.make_environ, "GET", "/", headers={"Host": "example.com"}, **kwargs)
    assert given.get("HTTP_HOST") == "example.com", f"expected a Host header given to be HTTP_HOST as it is, 'example.com', got {given.get('HTTP_HOST')!r}"


@pytest.mark.spec("PEP 3333 §Unicode Issues (PATH_INFO is latin-1 of the decoded bytes)")
def test_make_environ_decodes_the_path_as_latin1() -> None:
    environ = call("make_environ()", testing_clients.make_environ, "GET", "/caf%C3%A9?x=%C3%A9")
    assert environ["PATH_INFO"] == "/caf\xc3\xa9", (
        f"expected PATH_INFO '/caf\\xc3\\xa9' (the bytes of 'é' in UTF-8, one latin-1 character each), got {environ['PATH_INFO']!r}: "
        "unquote(path, encoding='latin-1')"
    )
    assert environ["QUERY_STRING"] == "x=%C3%A9", f"expected QUERY_STRING still percent-encoded 'x=%C3%A9', got {environ['QUERY_STRING']!r}"


@pytest.mark.spec("PEP 3333 §environ Variables; RFC 9110 §5.3 (repeated fields combine with ', ')")
def test_make_environ_joins_repeated_headers() -> None:
    environ = call("make_environ()", testing_clients.make_environ, "GET", "/", headers=[("X-Tag", "a"), ("x-tag", "b")])
    assert environ.get("HTTP_X_TAG") == "a, b", f"expected HTTP_X_TAG 'a, b' (both values, joined), got {environ.get('HTTP_X_TAG')!r}"


@pytest.mark.spec("RFC 9110 §8.6 (no Content-Length without content; one given is kept); PEP 3333 §environ Variables")
def test_make_environ_content_length() -> None:
    def with_httpx(app: Callable) -> None:
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
            client.get("/")

    theirs = captured_environ(with_httpx).get("CONTENT_LENGTH") or None
    get = call("make_environ('GET', '/')", testing_clients.make_environ, "GET", "/")
    got = get.get("CONTENT_LENGTH") or None
    assert got == theirs, f"expected no CONTENT_LENGTH (or an empty one) on a GET without a body (as httpx), got {got!r}"
    given = call("make_environ(body=..., headers={'Content-Length': ...})", testing_clients.make_environ, "POST", "/", body=b"hello", headers={"Content-Length": "5"})
    assert given.get("CONTENT_LENGTH") == "5", f"expected a Content-Length given to be CONTENT_LENGTH as it is, '5', got {given.get('CONTENT_LENGTH')!r}"


@pytest.mark.spec("RFC 9112 §3.2.1 (an empty path is sent as '/')")
def test_an_empty_path_is_the_root() -> None:
    environ = call("make_environ('GET', '?q=1')", testing_clients.make_environ, "GET", "?q=1")
    assert (environ.get("PATH_INFO"), environ.get("QUERY_STRING")) == ("/", "q=1"), (
        f"expected PATH_INFO '/' and QUERY_STRING 'q=1' for the target '?q=1' (a client sends an empty path as '/'), "
        f"got {environ.get('PATH_INFO')!r} and {environ.get('QUERY_STRING')!r}"
    )
    scope = call("make_scope('GET', '?q=1')", testing_clients.make_scope, "GET", "?q=1")
    assert (scope.get("path"), scope.get("raw_path")) == ("/", b"/"), f"expected path '/' and raw_path b'/' for the target '?q=1', got {scope.get('path')!r} and {scope.get('raw_path')!r}"


# --- WSGITestClient --------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "kwargs"), BATTERY, ids=BATTERY_IDS)
@pytest.mark.spec("PEP 3333 §Specification Details")
def test_wsgi_client_agrees_with_httpx_on_flask(method: str, path: str, kwargs: dict[str, Any]) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=flask_app), base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
        theirs = client.request(method, path, **as_httpx(kwargs))
    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, flask_app)
    ours = call(f"WSGITestClient.request({method!r}, {path!r})", client.request, method, path, **kwargs)
    check_agree(ours, theirs, f"{method} {path} on Flask")


@pytest.mark.spec("PEP 3333 §Specification Details")
def test_wsgi_client_get_post_text_json() -> None:
    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, flask_app)
    hello = call("client.get('/hello')", client.get, "/hello")
    assert hello.text == "Hello, world!", f"expected .text 'Hello, world!', got {hello.text!r}"
    posted = call("client.post('/echo', ...)", client.post, "/echo", body="é".encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    got = posted.json()
    assert (got["method"], got["body"]) == ("POST", "é"), f"expected .json() to show method POST and body 'é', got {got!r}"
    sent = call("client.post('/echo', json=...)", client.post, "/echo", json={"n": [1, 2]})
    assert json.loads(sent.json()["body"]) == {"n": [1, 2]} and sent.json()["content_type"] == "application/json", (
        f"expected json= to send the JSON body with Content-Type application/json, got {sent.json()!r}"
    )


@pytest.mark.spec("RFC 9110 §8.3 (Content-Type): json= adds application/json unless a Content-Type is given")
@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"X-Trace": "1"}, "application/json"), ({"content-type": "application/merge-patch+json"}, "application/merge-patch+json")],
    ids=["other-header", "content-type-given"],
)
def test_json_content_type(headers: dict[str, str], expected: str) -> None:
    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, flask_app)
    sent = call("client.post('/echo', json=..., headers=...)", client.post, "/echo", json={"n": 1}, headers=headers).json()
    assert sent["content_type"] == expected, (
        f"expected post(json=..., headers={headers!r}) to reach the app with Content-Type {expected!r} (one given wins, "
        f"as in httpx), got {sent['content_type']!r}"
    )


@pytest.mark.spec("PEP 3333 §Unicode Issues")
def test_wsgi_client_reaches_a_unicode_route() -> None:
    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, flask_app)
    response = call("client.get('/caf%C3%A9')", client.get, "/caf%C3%A9")
    assert (response.status_code, response.text) == (200, "café"), (
        f"expected Flask's /café route to answer 200 'café', got {response.status_code} {response.text!r}: "
        "PATH_INFO must hold the decoded bytes as latin-1 (httpx's WSGITransport gets this one wrong)"
    )


@pytest.mark.spec("PEP 3333 §Buffering and Streaming (the write() callable)")
def test_wsgi_client_collects_write_then_the_iterable() -> None:
    def app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"then ", b"", b"returned"]

    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, validator(app))
    body = call("client.get('/')", client.get, "/").body
    assert body == b"written, then returned", (
        f"expected b'written, then returned', got {body!r}: start_response must return a write() that adds to the body "
        "(httpx's WSGITransport drops it)"
    )


class ClosingBody:
    def __init__(self) -> None:
        self.closed = 0

    def __iter__(self) -> Any:
        yield b"some "
        yield b"body"

    def close(self) -> None:
        self.closed += 1


@pytest.mark.spec("PEP 3333 §Specification Details (close())")
def test_wsgi_client_closes_the_iterable_once() -> None:
    body = ClosingBody()

    def app(environ: dict[str, Any], start_response: Callable) -> ClosingBody:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, app)
    response = call("client.get('/')", client.get, "/")
    assert response.body == b"some body", f"expected b'some body', got {response.body!r}"
    assert body.closed == 1, f"expected the app's iterable to be closed exactly once, got {body.closed} close() calls"


@pytest.mark.spec("PEP 3333 §The start_response() Callable (exc_info)")
def test_wsgi_client_lets_exc_info_replace_the_status() -> None:
    def app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("the body failed")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]

    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, validator(app))
    response = call("client.get('/')", client.get, "/")
    assert (response.status_code, response.body) == (500, b"sorry"), (
        f"expected 500 b'sorry' (a second start_response with exc_info, before any body, replaces the first), got {response.status_code} {response.body!r}"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable (a second call without exc_info is an error)")
def test_wsgi_client_refuses_a_second_start_response() -> None:
    raised: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            start_response("201 Created", [("Content-Type", "text/plain")])
        except Exception as exc:  # noqa: BLE001 - which exception is the student's choice
            raised.append(exc)
        return [b"body"]

    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, app)
    try:
        call("client.get('/')", client.get, "/")
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - reporting the broken app as well is fine
        pass
    assert raised, "expected the second start_response() call without exc_info to raise (PEP 3333 calls it an error); it returned"


@pytest.mark.parametrize(("method", "path", "kwargs"), BATTERY[:2] + BATTERY[4:6], ids=BATTERY_IDS[:2] + BATTERY_IDS[4:6])
@pytest.mark.spec("PEP 3333 (wsgiref.validate checks the server side too)")
def test_wsgi_client_satisfies_the_validator(method: str, path: str, kwargs: dict[str, Any]) -> None:
    client = call("WSGITestClient(app)", testing_clients.WSGITestClient, validator(flask_app))
    try:
        response = call(f"client.request({method!r}, {path!r})", client.request, method, path, **kwargs)
    except AssertionError as exc:
        pytest.fail(f"expected wsgiref.validate to accept your client as a server, but it says: {exc}")
    assert response.status_code == 200, f"expected 200, got {response.status_code}"


# --- make_scope and ASGITestClient: HTTP -----------------------------------------------------------


async def capture_scope(scope: dict[str, Any], receive: Any, send: Any) -> None:
    CAPTURED.append(scope)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


CAPTURED: list[dict[str, Any]] = []


HTTP_SPEC_VERSIONS = ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5")
"""The published versions of the ASGI HTTP & WebSocket spec (its scopes' asgi["spec_version"])."""
LIFESPAN_SPEC_VERSIONS = ("1.0", "2.0")


def check_spec_version(scope: dict[str, Any], versions: tuple[str, ...]) -> None:
    asgi = scope.get("asgi", {})
    got = asgi.get("spec_version", versions[0])  # missing means the first version
    assert got in versions, f"expected scope['asgi']['spec_version'] to be one of the spec's versions {versions}, got {got!r}"


@pytest.mark.spec("ASGI HTTP §HTTP Connection Scope")
def test_make_scope_agrees_with_httpx() -> None:
    CAPTURED.clear()
    path = "/caf%C3%A9/a%20b?q=1%202&name=%C3%A9"

    async def with_httpx() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked_app(capture_scope)), base_url="http://testserver") as client:
            await client.put(path, headers={"X-Custom": "yes"})

    asyncio.run(asyncio.wait_for(with_httpx(), CLIENT_TIMEOUT))
    theirs = CAPTURED[0]
    ours = call("make_scope()", testing_clients.make_scope, "PUT", path, headers={"X-Custom": "yes"})
    for key in ("type", "http_version", "method", "scheme", "path", "raw_path", "query_string", "root_path"):
        assert ours.get(key) == theirs.get(key), f"expected scope[{key!r}] == {theirs.get(key)!r} (as httpx), got {ours.get(key)!r}"
    assert ours.get("asgi", {}).get("version") == "3.0", f"expected scope['asgi']['version'] == '3.0', got {ours.get('asgi')!r}"
    check_spec_version(ours, HTTP_SPEC_VERSIONS)
    headers = ours.get("headers", [])
    assert all(isinstance(k, bytes) and isinstance(v, bytes) and k == k.lower() for k, v in headers), (
        f"expected headers as (bytes, bytes) pairs with lower-case names, got {headers!r}"
    )
    assert (b"x-custom", b"yes") in headers and any(k == b"host" for k, _ in headers), f"expected x-custom and host headers, got {headers!r}"
    for key in ("server", "client"):
        value = ours.get(key)
        assert isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], int), (
            f"expected scope[{key!r}] as a (host, port) pair, got {value!r}"
        )


@pytest.mark.parametrize(
    ("base_url", "kwargs"),
    [
        ("http://testserver", {}),
        ("http://testserver:8000", {"server": ("testserver", 8000)}),
        ("https://testserver", {"scheme": "https", "server": ("testserver", 443)}),
        ("http://testserver:443", {"server": ("testserver", 443)}),
    ],
    ids=["default", "port 8000", "https", "http on 443"],
)
@pytest.mark.spec("ASGI HTTP §HTTP Connection Scope (headers); RFC 9110 §7.2 (Host)")
def test_make_scope_host_header(base_url: str, kwargs: dict[str, Any]) -> None:
    CAPTURED.clear()

    async def with_httpx() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked_app(capture_scope)), base_url=base_url) as client:
            await client.get("/x")

    asyncio.run(asyncio.wait_for(with_httpx(), CLIENT_TIMEOUT))
    expected = [value for name, value in CAPTURED[0]["headers"] if name == b"host"]
    ours = call(f"make_scope(**{kwargs!r})", testing_clients.make_scope, "GET", "/x", **kwargs)
    got = [value for name, value in ours.get("headers", []) if name == b"host"]
    assert got == expected, f"make_scope(**{kwargs!r}): expected the host header {expected!r} (as httpx at {base_url}), got {got!r} (':port' only when not the default)"
    given = call("make_scope(headers={'Host': ...})", testing_clients.make_scope, "GET", "/x", headers={"Host": "example.com"}, **kwargs)
    got = [value for name, value in given.get("headers", []) if name == b"host"]
    assert got == [b"example.com"], f"expected a Host header given to be the only host header, [b'example.com'], got {got!r}"


@pytest.mark.parametrize(("method", "path", "kwargs"), BATTERY, ids=BATTERY_IDS)
@pytest.mark.spec("ASGI HTTP §Request, §Response Start, §Response Body")
def test_asgi_client_agrees_with_httpx_on_starlette(method: str, path: str, kwargs: dict[str, Any]) -> None:
    app = make_starlette_app()

    async def with_httpx() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked_app(app)), base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
            return await client.request(method, path, **as_httpx(kwargs))

    theirs = asyncio.run(asyncio.wait_for(with_httpx(), CLIENT_TIMEOUT))
    ours = with_client(app, lambda client: client.request(method, path, **kwargs), what=f"ASGITestClient.request({method!r}, {path!r})")
    check_agree(ours, theirs, f"{method} {path} on Starlette")


@pytest.mark.spec("ASGI HTTP §HTTP Connection Scope (path is decoded UTF-8)")
def test_asgi_client_get_post_and_unicode() -> None:
    app = make_starlette_app()

    def use(client: Any) -> tuple[Any, Any, Any]:
        return client.get("/caf%C3%A9"), client.post("/echo", json={"n": 1}), client.get("/echo", headers=[("X-Tag", "a"), ("X-Tag", "b")])

    cafe, posted, tags = with_client(app, use, what="ASGITestClient get/post")
    assert (cafe.status_code, cafe.text) == (200, "café"), f"expected /caf%C3%A9 to reach the /café route, got {cafe.status_code} {cafe.text!r}"
    assert json.loads(posted.json()["body"]) == {"n": 1} and posted.json()["content_type"] == "application/json", (
        f"expected post(json=...) to send the JSON body with content-type application/json, got {posted.json()!r}"
    )
    assert tags.json()["headers"].get("x-tag") == "a, b", f"expected both X-Tag headers to reach the app, got {tags.json()['headers']!r}"


@pytest.mark.spec("ASGI HTTP §HTTP Connection Scope (headers); RFC 9110 §8.6 (Content-Length)")
@pytest.mark.parametrize("given", [False, True], ids=["added", "given"])
def test_asgi_client_sends_content_length(given: bool) -> None:
    CAPTURED.clear()
    headers = {"Content-Length": "5"} if given else None
    with_client(capture_scope, lambda client: client.post("/", body=b"hello", headers=headers), what="ASGITestClient.post('/', body=b'hello')")
    lengths = [value for name, value in CAPTURED[0].get("headers", []) if name == b"content-length"]
    assert lengths == [b"5"], f"expected one content-length header b'5' for a 5-byte body (added unless given), got {lengths!r}"


@pytest.mark.spec("ASGI HTTP §HTTP Connection Scope (method uppercased), §Disconnect - receive event")
def test_asgi_client_plays_the_server_by_the_spec() -> None:
    # Every scope and message your client hands an app is checked (with_client), so this only has to
    # ask for what the battery never does: a method in lower case, and receive() after the end.
    CAPTURED.clear()
    with_client(capture_scope, lambda client: client.request("patch", "/"), what="ASGITestClient.request('patch', '/')")
    assert CAPTURED[0].get("method") == "PATCH", f"expected scope['method'] 'PATCH' (ASGI: uppercased), got {CAPTURED[0].get('method')!r}"
    later: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("http only")
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        for _ in range(3):
            later.append(await asyncio.wait_for(receive(), 1))

    with_client(app, lambda client: client.get("/"), what="ASGITestClient.get('/') to an app that calls receive() after the end")
    kinds = [message.get("type") for message in later]
    assert kinds == ["http.disconnect"] * 3, f"expected every receive() after the response to return http.disconnect, got {kinds!r}"


@pytest.mark.spec("ASGI HTTP §Disconnect (only after the response)")
def test_asgi_client_says_disconnect_after_the_response() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("http only")
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        try:  # the response is not over: receive() must not answer yet
            seen.append(await asyncio.wait_for(receive(), 0.1))
        except asyncio.TimeoutError:
            pass
        await send({"type": "http.response.body", "body": b"b"})
        seen.append(await receive())  # the response is over: the client has left

    response = with_client(app, lambda client: client.post("/", body=b"data"), what="ASGITestClient.post('/')")
    assert response.body == b"ab", f"expected the two body messages joined, b'ab', got {response.body!r}"
    assert seen[0].get("type") == "http.request" and seen[0].get("body") == b"data", f"expected http.request with body b'data' first, got {seen[0]!r}"
    assert len(seen) == 2 and seen[1].get("type") == "http.disconnect", (
        f"expected receive() to wait while the response is still going, and to give http.disconnect only once it "
        f"is complete; after the request the app received {seen[1:]!r}"
    )


@pytest.mark.spec("ASGI 3.0 §Error Handling")
def test_asgi_client_raises_the_app_error() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise LookupError("boom from the app")

    with pytest.raises(LookupError, match="boom from the app"):
        with_client(app, lambda client: client.get("/"), what="ASGITestClient.get('/')")


@pytest.mark.spec("ASGI 3.0 §Applications (no server in between)")
def test_clients_need_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_socket(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("your client connected or bound a socket: a test client calls the app directly, with no server in between")

    wsgi = call("WSGITestClient(app)", testing_clients.WSGITestClient, flask_app)
    monkeypatch.setattr(socket.socket, "connect", no_socket)  # asyncio's own socketpair() still works
    monkeypatch.setattr(socket.socket, "bind", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    assert call("WSGITestClient.get('/hello')", wsgi.get, "/hello").status_code == 200, "expected 200 from Flask's /hello"
    response = with_client(make_starlette_app(), lambda client: client.get("/hello"), what="ASGITestClient.get('/hello')")
    assert response.status_code == 200, "expected 200 from Starlette's /hello"
    for name in ("httpx", "requests", "starlette.testclient", "werkzeug.test", "http.client"):
        assert name not in testing_clients.__dict__, f"expected testing_clients not to use {name}: build the clients yourself"


# --- ASGITestClient: lifespan ----------------------------------------------------------------------


@pytest.mark.spec("ASGI Lifespan §Startup, §Shutdown, §Lifespan State")
def test_lifespan_agrees_with_lifespan_manager() -> None:
    reference_events: list[str] = []
    reference_app = make_starlette_app(reference_events)

    async def with_manager() -> Any:
        async with LifespanManager(checked_app(reference_app)) as manager:
            inside = list(reference_events)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked_app(manager.app)), base_url="http://testserver") as client:
                return inside, (await client.get("/state")).json()

    reference = asyncio.run(asyncio.wait_for(with_manager(), CLIENT_TIMEOUT))
    reference += (list(reference_events),)

    events: list[str] = []

    def use(client: Any) -> tuple[list[str], Any]:
        entered = client.__enter__()
        assert entered is client, "expected `with ASGITestClient(app) as client:` to give the client itself"
        inside = list(events)
        state = client.get("/state").json()
        client.__exit__(None, None, None)
        return inside, state

    inside, state = with_client(make_starlette_app(events), use, what="`with client:` (startup), client.get('/state'), leaving it (shutdown)")
    ours = (inside, state, list(events))
    assert ours == reference, (
        "expected (events inside the with, /state, events after) to be what LifespanManager gives:\n"
        f"  {reference}\ngot\n  {ours}\n(startup on __enter__, shutdown on __exit__, each request sees a copy of scope['state'])"
    )


def lifespan_recorder(log: list[Any]) -> Any:
    """An app that notes its lifespan scope and every message it receives, and the state its request sees."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            asgi = scope.get("asgi", {})
            log.append(("asgi version", asgi.get("version")))
            log.append(("scope", asgi.get("spec_version", "1.0") in LIFESPAN_SPEC_VERSIONS, isinstance(scope.get("state"), dict)))
            while True:
                message = await receive()
                log.append(("received", message.get("type")))
                if message.get("type") == "lifespan.startup":
                    scope["state"]["ready"] = True
                    await send({"type": "lifespan.startup.complete"})
                elif message.get("type") == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
                else:
                    return  # not a lifespan message: nothing sensible to answer
        log.append(("request", dict(scope.get("state") or {})))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


@pytest.mark.spec("ASGI Lifespan §Scope, §Startup - receive event, §Shutdown - receive event, §Lifespan State")
def test_lifespan_messages_agree_with_lifespan_manager() -> None:
    reference: list[Any] = []

    async def with_manager() -> None:
        async with LifespanManager(checked_app(lifespan_recorder(reference))) as manager:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked_app(manager.app)), base_url="http://testserver") as client:
                await client.get("/")

    asyncio.run(asyncio.wait_for(with_manager(), CLIENT_TIMEOUT))
    ours: list[Any] = []

    def use(client: Any) -> None:
        with client:
            client.get("/")

    with_client(lifespan_recorder(ours), use, what="`with client:` and a request around a lifespan app")
    versions = [entry[1] for entry in ours if entry[0] == "asgi version"]
    assert versions == ["3.0"], f"expected the lifespan scope's asgi['version'] '3.0' (every ASGI scope has it), got {versions!r}"
    ours = [entry for entry in ours if entry[0] != "asgi version"]
    reference = [entry for entry in reference if entry[0] != "asgi version"]
    assert ours == reference, (
        f"expected the app to see (scope, messages received, the request's state) as under LifespanManager:\n  {reference}\n"
        f"got\n  {ours}\n(a lifespan scope with a spec_version of Lifespan's and a state dict; {{'type': 'lifespan.startup'}}, then "
        "{'type': 'lifespan.shutdown'})"
    )


@pytest.mark.spec("ASGI Lifespan §Scope (an app may not support lifespan: carry on)")
def test_lifespan_not_supported_is_fine() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"{scope['type']} is not supported")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"still here"})

    def use(client: Any) -> Any:
        with client as entered:
            return entered is client, client.get("/")

    entered, response = with_client(app, use, what="`with client:` around an app without lifespan")
    assert entered, "expected `with ASGITestClient(app) as client:` to give the client itself, lifespan or not"
    assert response.body == b"still here", f"expected requests to work when the app does not support lifespan, got {response.body!r}"


@pytest.mark.spec("ASGI Lifespan §Startup - send event (lifespan.startup.failed)")
def test_lifespan_startup_failure_raises() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    def use(client: Any) -> str:
        try:
            with client:
                return "entered"
        except Exception as exc:  # noqa: BLE001 - which exception is the student's choice
            return f"raised {exc}"

    got = with_client(app, use, what="`with client:` around a failing startup")
    assert got.startswith("raised") and "no database" in got, (
        f"expected `with client:` to raise an exception carrying the app's message 'no database', got: {got}"
    )


@pytest.mark.spec("ASGI Lifespan §Shutdown - send event (lifespan.shutdown.failed)")
def test_lifespan_shutdown_failure_raises() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            raise ValueError("lifespan only")
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})

    def use(client: Any) -> str:
        try:
            with client:
                pass
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - which exception is the student's choice
            return f"raised {exc}"
        return "left quietly"

    got = with_client(app, use, what="`with client:` around a failing shutdown")
    assert got.startswith("raised") and "could not flush" in got, (
        f"expected leaving `with client:` to raise an exception carrying the app's message 'could not flush', got: {got}"
    )


@pytest.mark.spec("ASGITestClient.close(): cancel what the app still runs on the loop")
def test_close_cancels_what_the_app_still_runs() -> None:
    log: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            while True:
                await receive()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    def use(client: Any) -> None:
        client.websocket_connect("/left-open")  # never closed: close() must end it

    with_client(app, use, what="a WebSocket left open")
    assert log == ["cancelled"], (
        f"expected client.close() to cancel the app's task still waiting on receive() (and to let it run its "
        f"cancellation), got {log!r}"
    )


# --- ASGITestClient: WebSocket ---------------------------------------------------------------------


@pytest.mark.spec("ASGI WebSocket §Connect, §Accept, §Receive, §Send, §Disconnect")
def test_websocket_agrees_with_httpx_ws() -> None:
    texts = ["one", "two", "ünï"]

    async def with_httpx_ws() -> list[str]:
        async with httpx.AsyncClient(transport=ASGIWebSocketTransport(checked_app(make_starlette_app())), base_url="http://testserver") as client:
            async with aconnect_ws("/ws", client) as ws:
                got = []
                for text in texts:
                    await ws.send_text(text)
                    got.append(await ws.receive_text(timeout=CLIENT_TIMEOUT))
                return got

    reference = asyncio.run(asyncio.wait_for(with_httpx_ws(), CLIENT_TIMEOUT))

    def use(client: Any) -> list[str]:
        ws = client.websocket_connect("/ws")
        got = []
        for text in texts:
            ws.send_text(text)
            got.append(ws.receive_text())
        ws.close()
        return got

    ours = with_client(make_starlette_app(), use, what="a WebSocket echo through websocket_connect('/ws')")
    assert ours == reference, f"expected the echoes {reference!r} (as httpx_ws), got {ours!r}"


@pytest.mark.spec("ASGI WebSocket §Close - send event")
def test_websocket_close_from_the_app() -> None:
    def use(client: Any) -> Any:
        ws = client.websocket_connect("/ws")
        ws.send_text("bye")
        try:
            ws.receive_text()
        except testing_clients.WebSocketDisconnected as exc:
            return exc.code
        finally:
            ws.close()
        return "no exception"

    got = with_client(make_starlette_app(), use, what="receive_text() after the app closed")
    assert got == 1000, f"expected receive_text() to raise WebSocketDisconnected with code 1000 once the app closed, got {got!r}"


@pytest.mark.spec("ASGI WebSocket §Close - send event (close before accept refuses the handshake)")
def test_websocket_refused_before_accept() -> None:
    def use(client: Any) -> Any:
        try:
            client.websocket_connect("/private")
        except testing_clients.WebSocketDisconnected as exc:
            return exc.code
        return "connected"

    got = with_client(make_starlette_app(), use, what="websocket_connect('/private')")
    assert got == 1008, f"expected websocket_connect() to raise WebSocketDisconnected with code 1008 (the app closed before accepting), got {got!r}"


@pytest.mark.spec("ASGI WebSocket §Receive - receive event (bytes)")
def test_websocket_bytes_and_context_manager() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket", f"expected a websocket scope, got {scope['type']!r}"
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        APP_SAW.append(message)
        await send({"type": "websocket.send", "bytes": message.get("bytes", b"")[::-1]})
        message = await receive()
        APP_SAW.append(message)

    APP_SAW.clear()

    def use(client: Any) -> bytes:
        with client.websocket_connect("/raw") as ws:
            ws.send_bytes(b"\x00\x01\x02")
            return ws.receive_bytes()

    got = with_client(app, use, what="a bytes WebSocket")
    assert got == b"\x02\x01\x00", f"expected the app's answer b'\\x02\\x01\\x00', got {got!r}"
    first = APP_SAW[0] if APP_SAW else {}
    assert (first.get("type"), first.get("bytes"), first.get("text")) == ("websocket.receive", b"\x00\x01\x02", None), (
        f"expected send_bytes() to give the app {{'type': 'websocket.receive', 'bytes': b'\\x00\\x01\\x02'}}, got {first!r}"
    )
    assert len(APP_SAW) == 2 and APP_SAW[1].get("type") == "websocket.disconnect", (
        f"expected the app to receive websocket.disconnect when the `with` block ends, got {APP_SAW[1:]!r}"
    )
    assert APP_SAW[1].get("code") == 1000, f"expected close() to disconnect with code 1000 (its default, a normal closure), got {APP_SAW[1]!r}"


@pytest.mark.spec("ASGI WebSocket §Connection Scope")
def test_websocket_scope() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    def use(client: Any) -> None:
        ws = client.websocket_connect("/room/caf%C3%A9?x=%C3%A9", headers={"X-Token": "t"})
        ws.close()

    with_client(app, use, what="websocket_connect('/room/caf%C3%A9?x=%C3%A9')")
    scope = seen[0] if seen else {}
    expected = {"type": "websocket", "scheme": "ws", "path": "/room/café", "raw_path": b"/room/caf%C3%A9", "query_string": b"x=%C3%A9"}
    wrong = {key: scope.get(key) for key in expected if scope.get(key) != expected[key]}
    assert not wrong, f"expected the websocket scope to have {expected!r}, got {wrong!r}"
    assert scope.get("asgi", {}).get("version") == "3.0", f"expected scope['asgi']['version'] == '3.0', got {scope.get('asgi')!r}"
    check_spec_version(scope, HTTP_SPEC_VERSIONS)
    assert isinstance(scope.get("subprotocols", []), list), f"expected subprotocols as a list, got {scope.get('subprotocols')!r}"
    assert (b"x-token", b"t") in scope.get("headers", []), f"expected the header (b'x-token', b't'), got {scope.get('headers')!r}"


@pytest.mark.spec("ASGI WebSocket §Accept, §Close (the app answers websocket.connect with accept or close)")
def test_websocket_send_before_accept_is_an_error() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "too early"})
        await receive()

    def use(client: Any) -> str:
        try:
            client.websocket_connect("/early")
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - which exception is the student's choice
            return f"raised {type(exc).__name__}"
        return "connected"

    got = with_client(app, use, what="websocket_connect() to an app that sends before accepting")
    assert got.startswith("raised"), (
        "expected websocket_connect() to raise when the app's first message is neither websocket.accept nor "
        "websocket.close (here websocket.send); it connected"
    )


@pytest.mark.spec("ASGI 3.0 §Error Handling (the app's exception reaches the test)")
def test_websocket_app_error_reaches_the_test() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        raise LookupError(f"boom on {message.get('text')}")

    def use(client: Any) -> str:
        ws = client.websocket_connect("/boom")
        ws.send_text("hi")
        try:
            ws.receive_text()
        except LookupError as exc:
            return str(exc)
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001
            return f"{type(exc).__name__}: {exc}"
        return "no exception"

    got = with_client(app, use, what="receive_text() from an app that raises")
    assert got == "boom on hi", f"expected receive_text() to raise the app's own LookupError('boom on hi'), got {got}"


@pytest.mark.spec("ASGI WebSocket §Close - send event (code defaults to 1000; reason)")
@pytest.mark.parametrize("accepted", [True, False], ids=["after-accept", "before-accept"])
@pytest.mark.parametrize(("close", "expected"), [({}, (1000, "")), ({"code": 4001, "reason": "go away"}, (4001, "go away"))], ids=["no-code", "code-and-reason"])
def test_websocket_close_code_and_reason(close: dict[str, Any], expected: tuple[int, str], accepted: bool) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if accepted:
            await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", **close})
        await receive()

    def use(client: Any) -> Any:
        try:
            ws = client.websocket_connect("/closing")
        except testing_clients.WebSocketDisconnected as exc:
            return exc.code, exc.reason
        try:
            ws.receive_text()
        except testing_clients.WebSocketDisconnected as exc:
            return exc.code, exc.reason
        finally:
            ws.close()
        return "no exception"

    got = with_client(app, use, what="receive_text() once the app closed")
    assert got == expected, f"expected WebSocketDisconnected with (code, reason) {expected!r} for websocket.close {close!r}, got {got!r}"


@pytest.mark.spec("ASGI WebSocket §Send - send event (exactly one of bytes or text is non-None)")
@pytest.mark.parametrize(
    ("message", "method"),
    [({"bytes": b"raw", "text": None}, "receive_text"), ({"bytes": None, "text": "words"}, "receive_bytes")],
    ids=["bytes-to-receive_text", "text-to-receive_bytes"],
)
def test_websocket_receive_of_the_wrong_kind_raises(message: dict[str, Any], method: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", **message})
        await receive()

    def use(client: Any) -> str:
        ws = client.websocket_connect("/kinds")
        try:
            got = getattr(ws, method)()
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - which exception is the student's choice
            return f"raised {type(exc).__name__}"
        finally:
            ws.close()
        return f"returned {got!r}"

    got = with_client(app, use, what=f"{method}() of a message of the other kind")
    assert got.startswith("raised"), f"expected {method}() to raise for the app's message {message!r} (it has none of that kind), got: {got}"


APP_SAW: list[dict[str, Any]] = []
