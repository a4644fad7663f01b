"""Exercise 04 is graded three ways: called by hand with the WSGI validator around it, through
httpx's in-process ``WSGITransport``, and served over real TCP by wsgiref, waitress and gunicorn."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import httpx
import pytest

import hello_wsgi
from testkit.serving import CLIENT_TIMEOUT, GUNICORN_READY, HOST, gunicorn_argv, serving, subprocess_serving
from testkit.wsgi_peers import KeptAlive, waitress_serving

# The validator only *warns* about some mistakes (a status without a reason phrase, say): make them fail.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


@dataclass
class Called:
    """What one call of the application did: the start_response arguments and the body it produced."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    result: Any = None
    chunks: list[Any] = field(default_factory=list)

    @property
    def status(self) -> Any:
        return self.calls[0][0]

    @property
    def headers(self) -> Any:
        return self.calls[0][1]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


def make_environ(method: str = "GET", path: str = "/", query: str = "") -> dict[str, Any]:
    """A complete WSGI environ, the way wsgiref.util builds one for tests."""
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query}
    setup_testing_defaults(environ)
    return environ


def call(app: Callable[..., Any], environ: dict[str, Any]) -> Called:
    """Call ``app`` the way a server does: with our own start_response, then iterate and close the result."""
    called = Called()

    def start_response(status: Any, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        called.calls.append((status, headers, exc_info))
        return lambda data: None

    called.result = app(environ, start_response)
    try:
        for chunk in called.result:
            called.chunks.append(chunk)
    finally:
        close = getattr(called.result, "close", None)
        if close is not None:
            close()
    assert len(called.calls) == 1, (
        f"expected start_response to be called exactly once, got {len(called.calls)} calls"
    )
    return called


@pytest.mark.spec("PEP 3333 §The Application/Framework Side")
def test_returns_an_iterable_of_bytes() -> None:
    called = call(hello_wsgi.application, make_environ())
    assert not isinstance(called.result, (str, bytes)), (
        f"expected an iterable of bytes such as [b'Hello, world'], got a bare {type(called.result).__name__}: "
        "a server iterating over it would send one character (or one byte) at a time"
    )
    assert called.chunks and all(isinstance(c, bytes) for c in called.chunks), (
        f"expected the iterable to yield bytes, got {called.chunks!r} (encode text with .encode('utf-8'))"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable")
def test_calls_start_response_with_a_status_and_a_header_list() -> None:
    called = call(hello_wsgi.application, make_environ())
    assert called.status == "200 OK", f"expected the status str '200 OK', got {called.status!r}"
    headers = called.headers
    assert type(headers) is list, f"expected the headers as a list, got a {type(headers).__name__}: {headers!r}"
    for item in headers:
        assert type(item) is tuple and len(item) == 2 and all(type(part) is str for part in item), (
            f"expected every header to be a (name, value) tuple of two str, got {item!r}"
        )


@pytest.mark.spec("PEP 3333 §The Application/Framework Side")
def test_says_hello_world_as_plain_text() -> None:
    called = call(hello_wsgi.application, make_environ())
    assert called.body == b"Hello, world", f"expected the body b'Hello, world', got {called.body!r}"
    content_type = called.header("Content-Type")
    assert content_type is not None and content_type.startswith("text/plain"), (
        f"expected a Content-Type header starting with 'text/plain', got {content_type!r}"
    )


@pytest.mark.spec("RFC 9110 §8.6 (Content-Length); PEP 3333 §Handling the Content-Length Header")
def test_sends_a_correct_content_length() -> None:
    called = call(hello_wsgi.application, make_environ())
    length = called.header("Content-Length")
    assert length == str(len(called.body)), (
        f"expected 'Content-Length: {len(called.body)}' (the body's length in bytes, as a str), got {length!r}"
    )


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD: the GET's headers, no content)")
@pytest.mark.parametrize(("path", "status"), [("/", "200 OK"), ("/nope", "404 Not Found")], ids=["hello", "not-found"])
def test_head_gets_the_headers_and_no_body(path: str, status: str) -> None:
    get = call(validator(hello_wsgi.application), make_environ("GET", path))
    head = call(validator(hello_wsgi.application), make_environ("HEAD", path))
    assert head.calls[0][0] == status, f"HEAD {path}: expected the status {status!r}, got {head.calls[0][0]!r}"
    assert head.body == b"", f"HEAD {path}: expected no body at all (RFC 9110 §9.3.2), got {head.body!r}"
    expected = get.header("Content-Length")
    assert head.header("Content-Length") == expected, (
        f"HEAD {path}: expected the Content-Length a GET gets ({expected!r}), got {head.header('Content-Length')!r}"
    )


@pytest.mark.spec("PEP 3333 (checked by wsgiref.validate)")
@pytest.mark.parametrize(
    ("method", "path", "query"), [("GET", "/", ""), ("POST", "/echo/x", "a=1"), ("GET", "/nope", "")], ids=["hello", "echo", "not-found"]
)
def test_passes_the_wsgi_validator(method: str, path: str, query: str) -> None:
    # The validator raises AssertionError, with its reason, on anything PEP 3333 forbids.
    called = call(validator(hello_wsgi.application), make_environ(method, path, query))
    assert called.status.split(" ", 1)[0] in ("200", "404"), f"expected status 200 or 404, got {called.status!r}"


@pytest.mark.spec("PEP 3333 §environ Variables (PATH_INFO may be empty at the application's root)")
def test_an_empty_path_info_is_the_root() -> None:
    environ = make_environ("GET", "")
    environ["SCRIPT_NAME"] = "/app"  # mounted under /app, and the client asked for /app
    called = call(validator(hello_wsgi.application), environ)
    assert (called.status, called.body) == ("200 OK", b"Hello, world"), (
        f"expected 200 OK b'Hello, world' when PATH_INFO is '' (the root of an app mounted at /app), got "
        f"{called.status!r} {called.body!r}: an empty PATH_INFO means '/'"
    )


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=validator(hello_wsgi.application))
    with httpx.Client(transport=transport, base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
        yield client


@pytest.mark.spec("PEP 3333 §The Application/Framework Side")
def test_httpx_gets_hello_world(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200, f"expected status 200, got {response.status_code}"
    assert response.text == "Hello, world", f"expected 'Hello, world', got {response.text!r}"


@pytest.mark.spec("PEP 3333 §environ Variables (REQUEST_METHOD, PATH_INFO, QUERY_STRING)")
def test_echo_route_sends_back_method_path_and_query(client: httpx.Client) -> None:
    response = client.post("/echo/notes", params={"draft": "1"})
    assert (response.status_code, response.text) == (200, "POST /echo/notes?draft=1"), (
        f"expected 200 'POST /echo/notes?draft=1', got {response.status_code} {response.text!r} "
        "(PATH_INFO holds the path without the query; the query is in QUERY_STRING)"
    )
    response = client.get("/echo")
    assert (response.status_code, response.text) == (200, "GET /echo"), (
        f"expected 200 'GET /echo' (no '?' when there is no query), got {response.status_code} {response.text!r}"
    )


@pytest.mark.spec("RFC 9110 §15.5.5 (404 Not Found)")
def test_unknown_paths_are_404(client: httpx.Client) -> None:
    for path in ("/nope", "/echoes", "/hello/world"):
        response = client.get(path)
        assert (response.status_code, response.text) == (404, "Not Found"), (
            f"expected GET {path} to answer 404 'Not Found', got {response.status_code} {response.text!r}"
        )
        assert response.headers.get("content-type", "").startswith("text/plain"), (
            f"expected the 404 to be text/plain too, got {response.headers.get('content-type')!r}"
        )


@pytest.mark.spec("PEP 3333 §Unicode Issues")
def test_echo_sends_the_path_bytes_back_unchanged() -> None:
    # The client asked for /echo/café in UTF-8: the server decoded each byte as one latin-1 character.
    called = call(validator(hello_wsgi.application), make_environ("GET", "/echo/caf\xc3\xa9"))
    expected = "GET /echo/café".encode()
    assert called.body == expected, (
        f"expected the body {expected!r} (the bytes the client sent), got {called.body!r}: "
        "PATH_INFO is a latin-1 'bytes in a str'; .encode('latin-1') turns it back into those bytes"
    )
    assert called.header("Content-Length") == str(len(expected)), (
        f"expected 'Content-Length: {len(expected)}' (bytes, not characters), got {called.header('Content-Length')!r}"
    )


# ---------------------------------------------------------------- over real TCP, by real servers


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def recording(app: Callable[..., Any], errors: list[BaseException]) -> Callable[..., Any]:
    """Pass calls through to ``app``, remembering what it raised (a server would only answer 500)."""

    def recorded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            return app(environ, start_response)
        except BaseException as exc:
            errors.append(exc)
            raise

    return recorded


NO_GUNICORN = "gunicorn does not run on Windows (it needs fork() and Unix signals); the wsgiref case covers the same ground"


@dataclass
class Served:
    url: str
    name: str
    errors: list[BaseException]

    def explain(self, response: httpx.Response) -> str:
        return self.explain_status(response.status_code)

    def explain_status(self, status: int) -> str:
        if status != 500:
            return ""
        if self.errors:
            return f" (your application raised {self.errors[0]!r})"
        return f" ({self.name} answers 500 when the application raises: run it by hand to see the traceback)"


GUNICORN = pytest.mark.skipif(sys.platform == "win32", reason=NO_GUNICORN)


@contextlib.contextmanager
def served_by(name: str) -> Iterator[Served]:
    """``hello_wsgi.application`` served over TCP by ``name``: wsgiref, waitress (both with the
    validator around the app), gunicorn (sync workers) or gunicorn-gthread (threads, keep-alive)."""
    errors: list[BaseException] = []
    if name == "wsgiref":
        app = recording(validator(hello_wsgi.application), errors)
        httpd = make_server(HOST, 0, app, handler_class=QuietHandler)
        with serving(httpd, name="wsgiref", poll_interval=0.01) as url:
            yield Served(url, "wsgiref", errors)
    elif name == "waitress":
        with waitress_serving(recording(validator(hello_wsgi.application), errors)) as url:
            yield Served(url, "waitress", errors)
    else:
        module_dir = os.path.dirname(os.path.abspath(hello_wsgi.__file__))
        workers = ["--worker-class", "gthread", "--threads", "2"] if name == "gunicorn-gthread" else []
        argv = gunicorn_argv("--graceful-timeout", "2", *workers, "hello_wsgi:application", chdir=module_dir)
        with subprocess_serving(argv, ready=GUNICORN_READY, name=name) as url:
            yield Served(url, name, errors)


@pytest.fixture(params=["wsgiref", "waitress", pytest.param("gunicorn", marks=GUNICORN)])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with served_by(request.param) as server:
        yield server


@pytest.fixture(params=["waitress", pytest.param("gunicorn-gthread", marks=GUNICORN)])
def kept_alive(request: pytest.FixtureRequest) -> Iterator[Served]:
    """A server that keeps connections alive (wsgiref and gunicorn's sync workers close each one)."""
    with served_by(request.param) as server:
        yield server


@pytest.mark.spec("PEP 3333 §Specification Overview (any server runs any application)")
def test_a_real_server_serves_it_over_tcp(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=CLIENT_TIMEOUT) as client:
        response = client.get("/")
        assert response.status_code == 200, f"expected {served.name} to answer 200, got {response.status_code}{served.explain(response)}"
        assert response.content == b"Hello, world", f"expected b'Hello, world', got {response.content!r}"
        assert response.headers.get("content-length") == "12", (
            f"expected 'Content-Length: 12' on the wire, got {response.headers.get('content-length')!r}"
        )
        response = client.get("/nope")
        assert response.status_code == 404, f"expected {served.name} to answer 404 for /nope, got {response.status_code}{served.explain(response)}"


@pytest.mark.spec("PEP 3333 §Unicode Issues")
def test_a_real_server_echoes_a_utf8_path(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=CLIENT_TIMEOUT) as client:
        response = client.get("/echo/caf%C3%A9", params={"q": "1"})
    expected = "GET /echo/café?q=1".encode()
    assert response.status_code == 200, f"expected {served.name} to answer 200, got {response.status_code}{served.explain(response)}"
    assert response.content == expected, (
        f"expected the body {expected!r}, got {response.content!r}: the server decoded the path's bytes "
        "as latin-1 into PATH_INFO, so .encode('latin-1') gives back the UTF-8 bytes the client sent"
    )


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD: no content); RFC 9112 §9.3 (persistent connections)")
def test_a_real_server_keeps_the_connection_right_after_head(kept_alive: Served) -> None:
    # h11 reads no body after a HEAD answer: body bytes sent anyway become the start of the next answer.
    with KeptAlive(kept_alive.url, name=kept_alive.name) as connection:
        for method, path, status, body in [
            ("HEAD", "/", 200, b""),
            ("GET", "/", 200, b"Hello, world"),
            ("HEAD", "/nope", 404, b""),
            ("HEAD", "/echo/x", 200, b""),
            ("GET", "/echo/x", 200, b"GET /echo/x"),
        ]:
            answer = connection.request(method, path)
            assert (answer.status, answer.body) == (status, body), (
                f"{method} {path} on a kept-alive connection to {kept_alive.name}: expected {status} {body!r}, "
                f"got {answer.status} {answer.body!r}{kept_alive.explain_status(answer.status)}"
            )
