"""Exercise 06 is graded in three layers: the helpers called by hand with a socket-like ``wsgi.input``,
the whole API through httpx's ``WSGITransport`` with ``wsgiref.validate.validator`` around it, then
served over TCP by waitress and gunicorn (chunked uploads, HEAD on kept-alive connections)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import httpx
import pytest

import first_wsgi_app
from first_wsgi_app import BadRequest, UnsupportedMediaType
from testkit.serving import CLIENT_TIMEOUT, GUNICORN_READY, gunicorn_argv, subprocess_serving
from testkit.wsgi_peers import KeptAlive, waitress_serving

# The validator only *warns* about some mistakes (a status without a reason phrase, say): make them fail.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


# ------------------------------------------------------------------------------------- the harness


class SocketInput:
    """A ``wsgi.input`` that behaves like a keep-alive socket: asking for more than the client sent blocks.

    Instead of blocking forever, it fails the test with the reason.
    """

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.size = len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError(
                "wsgi.input.read() was called without a size: on a real connection it waits for the client to "
                "close, which a keep-alive client never does. Read exactly CONTENT_LENGTH bytes: read(length)"
            )
        if self.stream.tell() + size > self.size:
            raise AssertionError(
                f"wsgi.input.read({size}) asked for more bytes than the client sent: on a real socket it would "
                "wait forever. Never read past CONTENT_LENGTH, and read nothing when there is no CONTENT_LENGTH"
            )
        return self.stream.read(size)

    def readline(self, size: int = -1) -> bytes:
        raise AssertionError("expected read(CONTENT_LENGTH), not readline(): a JSON body need not end with a newline")


def make_environ(body: bytes = b"", *, content_length: str | None = None, content_type: str | None = None, sent: bytes | None = None) -> dict[str, Any]:
    """An environ for a POST of ``body``; ``sent`` is everything on the socket (the body and what follows it)."""
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": "/tasks", "QUERY_STRING": ""}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = SocketInput(body if sent is None else sent)
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    return environ


NEXT_REQUEST = b"GET /tasks HTTP/1.1\r\nHost: example.com\r\n\r\n"  # a pipelined request behind the body


class FreshApp:
    """A new ``make_app()``, made on the first request: an unwritten make_app() fails inside the test."""

    def __init__(self) -> None:
        self.app: Callable[..., Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.app is None:
            self.app = first_wsgi_app.make_app()
        return self.app(environ, start_response)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A fresh application (its own empty store), validated, driven in-process by httpx."""
    transport = httpx.WSGITransport(app=validator(FreshApp()))
    with httpx.Client(transport=transport, base_url="http://testserver", timeout=5.0) as client:
        yield client


def create(client: httpx.Client, title: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/tasks", json={"title": title, **fields})
    assert response.status_code == 201, f"expected POST /tasks to answer 201, got {response.status_code} {response.text!r}"
    return response.json()


def check_json_error(response: httpx.Response, status: int, what: str) -> None:
    assert response.status_code == status, f"expected {what} to answer {status}, got {response.status_code} {response.text!r}"
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), f"expected the {status} as JSON (application/json), got {content_type!r}"
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    assert isinstance(error, str) and error, f'expected a body like {{"error": "a sentence"}}, got {response.text!r}'


# --------------------------------------------------------------------------------------- read_body


@pytest.mark.spec("PEP 3333 §Input and Error Streams; §environ Variables (CONTENT_LENGTH)")
def test_read_body_reads_exactly_content_length() -> None:
    body = b'{"title": "one"}'
    got = first_wsgi_app.read_body(make_environ(content_length=str(len(body)), sent=body + NEXT_REQUEST))
    assert got == body, f"expected the {len(body)} body bytes {body!r}, got {got!r}"


@pytest.mark.spec("PEP 3333 §environ Variables (CONTENT_LENGTH may be empty or absent)")
@pytest.mark.parametrize("content_length", [None, "", "0"], ids=["absent", "empty", "zero"])
def test_read_body_without_a_length_is_empty(content_length: str | None) -> None:
    got = first_wsgi_app.read_body(make_environ(content_length=content_length, sent=NEXT_REQUEST))
    assert got == b"", f"expected b'' when CONTENT_LENGTH is {content_length!r}, got {got!r}"


@pytest.mark.spec("wsgi.input_terminated (gunicorn): a de-chunked upload has no CONTENT_LENGTH; read to the end")
def test_read_body_reads_a_terminated_input_to_its_end() -> None:
    body = b'{"title": "sent in chunks"}'
    environ = make_environ()
    environ["wsgi.input"] = io.BytesIO(body)  # the server removed the chunks; the stream ends with the body
    environ["wsgi.input_terminated"] = True
    got = first_wsgi_app.read_body(environ)
    assert got == body, (
        f"expected the whole de-chunked body {body!r}, got {got!r}: with no CONTENT_LENGTH and "
        "wsgi.input_terminated true, read wsgi.input to its end"
    )
    environ["wsgi.input_terminated"] = False
    environ["wsgi.input"] = SocketInput(NEXT_REQUEST)
    got = first_wsgi_app.read_body(environ)
    assert got == b"", f"expected b'' with no CONTENT_LENGTH and wsgi.input_terminated false, got {got!r}"


@pytest.mark.spec("RFC 9112 §6.3 (an invalid Content-Length is an error)")
@pytest.mark.parametrize("content_length", ["abc", "-1", "1.5"])
def test_read_body_rejects_a_bad_content_length(content_length: str) -> None:
    with pytest.raises(BadRequest):
        first_wsgi_app.read_body(make_environ(b"{}", content_length=content_length))


# ---------------------------------------------------------------------------------- parse_json_body


@pytest.mark.spec("RFC 9110 §8.3.1 (media types are case-insensitive, parameters allowed)")
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_parse_json_body_parses_json(content_type: str) -> None:
    body = '{"title": "café", "done": true}'.encode()
    got = first_wsgi_app.parse_json_body(make_environ(body, content_length=str(len(body)), content_type=content_type))
    assert got == {"title": "café", "done": True}, f"expected {{'title': 'café', 'done': True}}, got {got!r}"


@pytest.mark.spec("RFC 9110 §15.5.16 (415 Unsupported Media Type)")
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonp"])
def test_parse_json_body_needs_the_json_media_type(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        first_wsgi_app.parse_json_body(make_environ(b"{}", content_length="2", content_type=content_type))
    assert raised.value.status == "415 Unsupported Media Type", f"expected status '415 Unsupported Media Type', got {raised.value.status!r}"


@pytest.mark.spec("RFC 9110 §15.5.1 (400 Bad Request); RFC 8259 (JSON)")
@pytest.mark.parametrize("body", [b"", b"{nope", b'{"title": "x"', b"\xff\xfe\xfd"], ids=["empty", "not-json", "cut-short", "not-utf8"])
def test_parse_json_body_rejects_what_is_not_json(body: bytes) -> None:
    with pytest.raises(BadRequest) as raised:
        first_wsgi_app.parse_json_body(make_environ(body, content_length=str(len(body)), content_type="application/json"))
    assert raised.value.status == "400 Bad Request", f"expected status '400 Bad Request', got {raised.value.status!r}"


# ------------------------------------------------------------------------------------ json_response


def start_json_response(data: Any, extra_headers: list[tuple[str, str]] | None = None) -> tuple[list[tuple[Any, ...]], Any]:
    calls: list[tuple[Any, ...]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        calls.append((status, headers))
        return lambda data: None

    return calls, first_wsgi_app.json_response(start_response, "201 Created", data, extra_headers)


@pytest.mark.spec("PEP 3333 §The start_response() Callable; RFC 8259 §8.1 (JSON is UTF-8)")
def test_json_response_starts_a_json_response() -> None:
    data = {"title": "café ✓", "done": False}
    calls, result = start_json_response(data)
    assert len(calls) == 1, f"expected json_response to call start_response once, got {len(calls)} calls"
    status, headers = calls[0]
    assert status == "201 Created", f"expected the status it was given, '201 Created', got {status!r}"
    assert isinstance(result, list) and all(isinstance(chunk, bytes) for chunk in result), (
        f"expected a list of bytes to return from the application, got {result!r}"
    )
    body = b"".join(result)
    assert json.loads(body) == data, f"expected the body to be {data!r} as JSON, got {body!r}"
    header_map = {name.lower(): value for name, value in headers}
    assert header_map.get("content-type") == "application/json", f"expected Content-Type 'application/json', got {header_map.get('content-type')!r}"
    assert header_map.get("content-length") == str(len(body)), (
        f"expected 'Content-Length: {len(body)}' (bytes of the encoded body), got {header_map.get('content-length')!r}"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable")
def test_json_response_adds_extra_headers() -> None:
    calls, _ = start_json_response({"id": 1}, [("Location", "/tasks/1")])
    headers = calls[0][1]
    names = [name.lower() for name, _ in headers]
    assert ("Location", "/tasks/1") in headers, f"expected the extra header ('Location', '/tasks/1'), got {headers!r}"
    assert "content-type" in names and "content-length" in names, f"expected Content-Type and Content-Length as well, got {headers!r}"


# ---------------------------------------------------------------------------------------- the API


@pytest.mark.spec("RFC 9110 §9.3.1 (GET)")
def test_the_task_list_starts_empty(client: httpx.Client) -> None:
    response = client.get("/tasks")
    assert response.status_code == 200, f"expected GET /tasks to answer 200, got {response.status_code} {response.text!r}"
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"expected Content-Type application/json, got {response.headers.get('content-type')!r}"
    )
    assert response.json() == [], f"expected an empty JSON list [], got {response.text!r}"


@pytest.mark.spec("RFC 9110 §15.3.2 (201 Created, Location)")
def test_post_creates_a_task(client: httpx.Client) -> None:
    response = client.post("/tasks", json={"title": "write a WSGI app"})
    assert response.status_code == 201, f"expected 201 Created, got {response.status_code} {response.text!r}"
    assert response.json() == {"id": 1, "title": "write a WSGI app", "done": False}, (
        f'expected {{"id": 1, "title": "write a WSGI app", "done": false}}, got {response.text!r}'
    )
    assert response.headers.get("location") == "/tasks/1", f"expected 'Location: /tasks/1', got {response.headers.get('location')!r}"
    second = create(client, "test it", done=True)
    assert second == {"id": 2, "title": "test it", "done": True}, f'expected {{"id": 2, "title": "test it", "done": true}}, got {second!r}'


@pytest.mark.spec("RFC 9110 §9.3.1 (GET)")
def test_get_returns_one_task_and_the_list_in_order(client: httpx.Client) -> None:
    first, second, third = (create(client, title) for title in ("one", "two", "three"))
    response = client.get("/tasks/2")
    assert (response.status_code, response.json()) == (200, second), f"expected 200 {second!r}, got {response.status_code} {response.text!r}"
    listed = client.get("/tasks").json()
    assert listed == [first, second, third], f"expected the tasks in creation order {[first, second, third]!r}, got {listed!r}"


@pytest.mark.spec("RFC 5789 (PATCH)")
def test_patch_changes_only_what_it_is_given(client: httpx.Client) -> None:
    create(client, "draft")
    response = client.patch("/tasks/1", json={"done": True})
    assert response.status_code == 200, f"expected PATCH to answer 200, got {response.status_code} {response.text!r}"
    expected = {"id": 1, "title": "draft", "done": True}
    assert response.json() == expected, f"expected {expected!r}, got {response.text!r}"
    response = client.patch("/tasks/1", json={"title": "final"})
    expected = {"id": 1, "title": "final", "done": True}
    assert response.json() == expected, f"expected {expected!r} (done kept), got {response.text!r}"
    stored = client.get("/tasks/1").json()
    assert stored == expected, f"expected GET to see the change {expected!r}, got {stored!r}"


@pytest.mark.spec("RFC 9110 §9.3.5 (DELETE), §15.3.5 (204 No Content)")
def test_delete_answers_204_and_the_task_is_gone(client: httpx.Client) -> None:
    create(client, "one")
    keep = create(client, "two")
    response = client.delete("/tasks/1")
    assert response.status_code == 204, f"expected DELETE to answer 204, got {response.status_code} {response.text!r}"
    assert response.content == b"", f"expected no body with a 204, got {response.content!r}"
    check_json_error(client.get("/tasks/1"), 404, "GET of a deleted task")
    check_json_error(client.delete("/tasks/1"), 404, "a second DELETE")
    listed = client.get("/tasks").json()
    assert listed == [keep], f"expected only {[keep]!r} left, got {listed!r}"


@pytest.mark.spec("RFC 9110 §15.5.5 (404 Not Found)")
@pytest.mark.parametrize("path", ["/", "/nope", "/tasks/", "/tasks/abc", "/tasks/1/extra", "/tasks/99"])
def test_unknown_routes_and_tasks_are_404(client: httpx.Client, path: str) -> None:
    create(client, "one")
    check_json_error(client.get(path), 404, f"GET {path}")


@pytest.mark.spec("RFC 9110 §15.5.6 (405 Method Not Allowed, with Allow)")
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/tasks", {"GET", "POST"}),
        ("DELETE", "/tasks", {"GET", "POST"}),
        ("PUT", "/tasks/1", {"GET", "PATCH", "DELETE"}),
        ("POST", "/tasks/1", {"GET", "PATCH", "DELETE"}),
    ],
)
def test_a_wrong_method_is_405_with_allow(client: httpx.Client, method: str, path: str, allowed: set[str]) -> None:
    create(client, "one")
    response = client.request(method, path, json={"title": "x"})
    check_json_error(response, 405, f"{method} {path}")
    allow = response.headers.get("allow")
    got = {m.strip() for m in allow.split(",")} if allow else set()
    # HEAD is answered wherever GET is, so an Allow that lists it too is right as well.
    assert got - {"HEAD"} == allowed, f"expected 'Allow: {', '.join(sorted(allowed))}' (any order, HEAD optional), got {allow!r}"


@pytest.mark.spec("RFC 9110 §15.5.16 (415 Unsupported Media Type)")
@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [("POST", "/tasks", {"Content-Type": "text/plain"}), ("POST", "/tasks", {}), ("PATCH", "/tasks/1", {"Content-Type": "text/plain"})],
    ids=["post-text", "post-no-type", "patch-text"],
)
def test_a_body_that_is_not_json_is_415(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> None:
    task = create(client, "one")
    response = client.request(method, path, content=b'{"title": "sneaky"}', headers=headers)
    check_json_error(response, 415, f"{method} {path} with Content-Type {headers.get('Content-Type')!r}")
    listed = client.get("/tasks").json()
    assert listed == [task], f"expected the store unchanged, {[task]!r}, got {listed!r}"


@pytest.mark.spec("RFC 9110 §15.5.1 (400 Bad Request)")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/tasks", b"{nope"),
        ("POST", "/tasks", b'["a list"]'),
        ("POST", "/tasks", b"{}"),
        ("POST", "/tasks", b'{"title": ""}'),
        ("POST", "/tasks", b'{"title": 5}'),
        ("POST", "/tasks", b'{"title": "x", "done": "yes"}'),
        ("PATCH", "/tasks/1", b"{nope"),
        ("PATCH", "/tasks/1", b'{"done": 1}'),
        ("PATCH", "/tasks/1", b'{"title": null}'),
    ],
    ids=["bad-json", "not-an-object", "no-title", "empty-title", "title-not-str", "done-not-bool",
         "patch-bad-json", "patch-done-not-bool", "patch-title-null"],
)
def test_a_bad_body_is_400(client: httpx.Client, method: str, path: str, body: bytes) -> None:
    task = create(client, "one")
    response = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    check_json_error(response, 400, f"{method} {path} with {body!r}")
    listed = client.get("/tasks").json()
    assert listed == [task], f"expected the store unchanged, {[task]!r}, got {listed!r}"


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD: the GET's status and headers, no content)")
@pytest.mark.parametrize("path", ["/tasks", "/tasks/1", "/tasks/99", "/nope"], ids=["list", "task", "no-task", "no-route"])
def test_head_answers_as_get_with_no_body(client: httpx.Client, path: str) -> None:
    create(client, "one")
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code, f"HEAD {path}: expected the status a GET gets, {get.status_code}, got {head.status_code} {head.text!r}"
    assert head.content == b"", (
        f"HEAD {path}: expected no body at all (RFC 9110 §9.3.2), got {head.content!r}: on a kept-alive "
        "connection the client reads no body after a HEAD answer, so those bytes would start the next response"
    )
    for name in ("content-type", "content-length"):
        assert head.headers.get(name) == get.headers.get(name), (
            f"HEAD {path}: expected the {name} a GET gets, {get.headers.get(name)!r}, got {head.headers.get(name)!r}"
        )
    listed = client.get("/tasks").json()
    assert [task["title"] for task in listed] == ["one"], f"expected HEAD to change nothing, got the tasks {listed!r}"


@pytest.mark.spec("RFC 9110 §15.5.5 (404 Not Found)")
def test_patch_of_a_missing_task_is_404(client: httpx.Client) -> None:
    check_json_error(client.patch("/tasks/7", json={"done": True}), 404, "PATCH /tasks/7 (no such task)")


@pytest.mark.spec("PEP 3333 §The Application/Framework Side (an application is any callable)")
def test_every_app_has_its_own_store() -> None:
    first = httpx.Client(transport=httpx.WSGITransport(app=validator(FreshApp())), base_url="http://a")
    second = httpx.Client(transport=httpx.WSGITransport(app=validator(FreshApp())), base_url="http://b")
    with first, second:
        create(first, "only in the first")
        listed = second.get("/tasks").json()
    assert listed == [], f"expected a second make_app() to start empty, got {listed!r}: keep the store inside make_app()"


@pytest.mark.spec("PEP 3333 §The Application/Framework Side")
def test_the_module_application_is_ready_to_serve() -> None:
    transport = httpx.WSGITransport(app=validator(first_wsgi_app.application))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        response = client.get("/tasks")
    assert response.status_code == 200 and isinstance(response.json(), list), (
        f"expected first_wsgi_app.application (= make_app()) to answer GET /tasks with 200 and a list, "
        f"got {response.status_code} {response.text!r}"
    )


# ------------------------------------------------------------------- served by real servers, over TCP

GUNICORN = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn does not run on Windows (it needs fork())")


@contextlib.contextmanager
def served_by(name: str) -> Iterator[str]:
    """The API served by ``name``: waitress (a fresh ``make_app()``), or gunicorn running the module's
    ``application`` with sync workers (``gunicorn``) or threads and keep-alive (``gunicorn-gthread``).

    No validator here: wsgiref.validate refuses ``wsgi.input.read()`` with no size, which is what a
    ``wsgi.input_terminated`` stream is read with."""
    if name == "waitress":
        with waitress_serving(FreshApp()) as url:
            yield url
        return
    module_dir = os.path.dirname(os.path.abspath(first_wsgi_app.__file__))
    workers = ["--worker-class", "gthread", "--threads", "2"] if name == "gunicorn-gthread" else []
    argv = gunicorn_argv("--graceful-timeout", "2", *workers, "first_wsgi_app:application", chdir=module_dir)
    with subprocess_serving(argv, ready=GUNICORN_READY, name=name) as url:
        yield url


@pytest.mark.spec("RFC 9112 §7.1 (chunked transfer coding); wsgi.input_terminated (gunicorn, waitress)")
@pytest.mark.parametrize(
    "server", ["waitress", pytest.param("gunicorn", marks=GUNICORN), pytest.param("gunicorn-gthread", marks=GUNICORN)]
)
def test_a_chunked_upload_creates_a_task_under_a_real_server(server: str) -> None:
    # A generator body makes httpx send it chunked, with no Content-Length: gunicorn then gives the app
    # no CONTENT_LENGTH and sets wsgi.input_terminated; waitress de-chunks it and counts the length.
    pieces = [b'{"title": ', b'"sent in chunks", ', b'"done": true}']
    with served_by(server) as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as http:
        response = http.post("/tasks", content=iter(pieces), headers={"Content-Type": "application/json"})
        assert response.request.headers.get("transfer-encoding") == "chunked"  # the test's own premise
        assert response.status_code == 201, (
            f"{server}: expected a chunked POST /tasks to answer 201, got {response.status_code} {response.text!r}: "
            "with no CONTENT_LENGTH and wsgi.input_terminated true, read wsgi.input to its end"
        )
        listed = http.get("/tasks").json()
    expected = [{"id": 1, "title": "sent in chunks", "done": True}]
    assert listed == expected, f"{server}: expected GET /tasks to list {expected!r}, got {listed!r}"


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD: no content); RFC 9112 §9.3 (persistent connections)")
@pytest.mark.parametrize("server", ["waitress", pytest.param("gunicorn-gthread", marks=GUNICORN)])
def test_head_keeps_a_kept_alive_connection_right_under_a_real_server(server: str) -> None:
    # h11 reads no body after a HEAD answer: body bytes sent anyway become the start of the next answer.
    json_type = [("Content-Type", "application/json")]
    with served_by(server) as url, KeptAlive(url, name=server) as connection:
        steps: list[tuple[str, str, list[tuple[str, str]], bytes, int]] = [
            ("HEAD", "/tasks", [], b"", 200),
            ("POST", "/tasks", json_type, b'{"title": "one"}', 201),
            ("HEAD", "/tasks/1", [], b"", 200),
            ("HEAD", "/tasks/99", [], b"", 404),
            ("HEAD", "/nope", [], b"", 404),
            ("GET", "/tasks/1", [], b"", 200),
        ]
        for method, path, headers, body, status in steps:
            answer = connection.request(method, path, headers, body)
            assert answer.status == status, (
                f"{method} {path} on a kept-alive connection to {server}: expected {status}, got {answer.status} {answer.body!r}"
            )
            if method == "HEAD":
                assert answer.body == b"", f"HEAD {path}: expected no body, got {answer.body!r}"
        assert json.loads(answer.body) == {"id": 1, "title": "one", "done": False}, (
            f"expected GET /tasks/1 to answer the task created on this connection, got {answer.body!r}"
        )
