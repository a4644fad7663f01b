"""Exercise 21 is graded three ways, from the inside out.

- ``build_environ`` directly: the PEP 3333 environ for hand-made ASGI scopes, checked by
  ``wsgiref.validate``'s own environ checks.
- the adapter message by message, with ``asgiref.testing.ApplicationCommunicator`` playing the ASGI
  server and probe WSGI apps (``adapters_apps.py``) holding threading events the tests control: this
  is how the tests see that the request body is fed as it arrives and the response leaves chunk by
  chunk, that ``write()``, ``exc_info`` and ``close()`` follow PEP 3333.
- a real Flask app, wrapped in ``wsgiref.validate.validator`` inside your adapter, served over TCP by
  uvicorn and by *your own* ASGI server from exercise 15, driven by httpx: every answer must match
  what asgiref's ``WsgiToAsgi`` gives for the same request under uvicorn (the ``reference`` test proves
  that asgiref itself answers like Flask does without any adapter).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from wsgiref.validate import check_environ, validator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from asgiref.testing import ApplicationCommunicator
from asgiref.wsgi import WsgiToAsgi as AsgirefWsgiToAsgi

import adapters
import adapters_apps as apps
from testkit import asgi
from testkit.asgi_spec import ASGIViolation, CheckedApp
from testkit.prerequisites import own_serving
from testkit.serving import CLIENT_TIMEOUT, STOP_TIMEOUT, uvicorn_serving, wait_until

T = TypeVar("T")
WAIT = 3.0
"""Seconds a test waits for one message from the adapter (the probe apps wait 5 s for a gate)."""


# --- helpers ---------------------------------------------------------------------------------------


run = functools.partial(asgi.run, timeout=10)  # a WSGI app runs in a thread: give it room
# The scope of a request to testserver:8000 from port 51000: the environ tests below expect these values.
http_scope = functools.partial(asgi.http_scope, host=b"testserver:8000", client=("127.0.0.1", 51000), spec_version="2.4")


@pytest.fixture
def probe() -> Iterator[apps.Probe]:
    yield apps.Probe()


class CheckedAdapter(CheckedApp):
    """Your adapter, with every message it sends checked against the ASGI spec (``checked_app``):
    ``http.response.start`` once with an int status and lowercase byte headers, then bytes bodies until
    ``more_body`` is false, nothing after; lifespan answered once each, when asked. ``close()`` is yours."""

    def close(self) -> None:
        self.app.close()


@pytest.fixture
def make_adapter(probe: apps.Probe) -> Iterator[Callable[..., Any]]:
    """Build your ``WsgiToAsgi``; afterwards open every gate, ``close()`` it, and check no thread is left.

    Each adapter comes inside :class:`CheckedAdapter`: a message that breaks the ASGI spec raises at
    the adapter's own ``send``; a test that serves it over TCP calls ``raise_first()`` afterwards, since
    the server turns that exception into a 500."""
    before = set(threading.enumerate())
    made: list[Any] = []

    def make(app: Any, **options: Any) -> Any:
        adapter = adapters.WsgiToAsgi(app, **options)
        made.append(adapter)
        return CheckedAdapter(adapter, what="your WsgiToAsgi")

    yield make
    probe.gate.set()  # let any probe app still waiting finish at once
    apps.STREAM_GATE.release.set()
    for adapter in made:
        closer = threading.Thread(target=adapter.close, daemon=True)
        closer.start()
        closer.join(STOP_TIMEOUT)
        assert not closer.is_alive(), f"close() did not return within {STOP_TIMEOUT:g} s"
    wait_until(
        lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
        timeout=STOP_TIMEOUT,
        what="every thread your adapter started ending once close() was called (close() shuts the pool down)",
    )
    apps.STREAM_GATE.reset()


class Talk:
    """One request through an adapter, message by message, with ApplicationCommunicator as the server."""

    def __init__(self, adapter: Any, scope: dict[str, Any]) -> None:
        self.communicator = ApplicationCommunicator(adapter, scope)
        self.messages: list[dict[str, Any]] = []

    async def send(self, body: bytes = b"", more_body: bool = False) -> None:
        await self.communicator.send_input({"type": "http.request", "body": body, "more_body": more_body})

    async def next(self, waiting_for: str) -> dict[str, Any]:
        """The adapter's next message; the adapter's own exception if it raised instead (once every message
        it sent before has been read); a failure if it returned without one or sent nothing for ``WAIT`` s.

        Unlike ``receive_output``, which only looks at the adapter's task once its timeout has run out,
        this waits for whichever comes first, a message or the adapter's end: a test learns at once."""
        queue, task = self.communicator.output_queue, self.communicator.future
        if queue.empty() and not task.done():
            getter = asyncio.ensure_future(queue.get())
            try:
                await asyncio.wait({getter, task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()  # a cancelled Queue.get() leaves any message in the queue
                    await asyncio.gather(getter, return_exceptions=True)
            if getter.done() and not getter.cancelled():
                self.messages.append(getter.result())
                return self.messages[-1]
        if not queue.empty():
            self.messages.append(queue.get_nowait())
            return self.messages[-1]
        if not task.done():
            task.cancel()  # as receive_output does on a timeout: stop the adapter, nobody reads its answer
            await asyncio.gather(task, return_exceptions=True)
            pytest.fail(f"expected {waiting_for} from the adapter; nothing came within {WAIT:g} s (so far: {self.messages!r})")
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]  # the adapter (the app) raised: Talk.rest() returns it
        pytest.fail(f"expected {waiting_for} from the adapter; it returned without sending it (so far: {self.messages!r})")

    async def rest(self) -> tuple[list[dict[str, Any]], BaseException | None]:
        """Every message until the response is complete, and the exception the adapter raised, if any."""
        try:
            while not (self.messages and self.messages[-1].get("type") == "http.response.body"
                       and not self.messages[-1].get("more_body", False)):
                await self.next("the rest of the response")
        except ASGIViolation:
            raise  # a message that broke the ASGI spec is never the app's allowed error
        except Exception as exc:  # (pytest.fail is a BaseException: it passes through)  # the adapter (the app) raised: ApplicationCommunicator re-raises it
            return self.messages, exc
        return self.messages, None

    def start(self) -> dict[str, Any]:
        starts = [m for m in self.messages if m.get("type") == "http.response.start"]
        assert starts, f"expected an http.response.start message, got {self.messages!r}"
        return starts[0]

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m.get("type") == "http.response.body")


async def wait_event(event: threading.Event, timeout: float = WAIT) -> bool:
    """Wait for a threading.Event without blocking the event loop (the adapter needs it running)."""
    return await asyncio.to_thread(event.wait, timeout)


def is_body_chunk(message: dict[str, Any], body: bytes) -> bool:
    return message.get("type") == "http.response.body" and message.get("body") == body


# ============================================================================ build_environ


@pytest.mark.spec("PEP 3333 §environ Variables")
def test_build_environ_has_every_required_key() -> None:
    scope = http_scope(
        "POST",
        "/tasks/7",
        query_string=b"verbose=1&q=a%20b",
        headers=[(b"content-type", b"application/json"), (b"content-length", b"2"), (b"x-request-id", b"abc")],
    )
    environ = adapters.build_environ(scope, apps_input())
    expected = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/tasks/7",
        "QUERY_STRING": "verbose=1&q=a%20b",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "51000",
        "HTTP_HOST": "testserver:8000",
        "HTTP_X_REQUEST_ID": "abc",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    wrong = {key: environ.get(key, "(missing)") for key, value in expected.items() if environ.get(key, "(missing)") != value}
    assert not wrong, f"expected {{{', '.join(f'{k!r}: {expected[k]!r}' for k in wrong)}}}, got {wrong!r}"
    for key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        assert key not in environ, f"{key} must not be in the environ: Content-Type and Content-Length become CONTENT_TYPE and CONTENT_LENGTH"
    for key in ("wsgi.input", "wsgi.errors"):
        assert key in environ, f"expected {key!r} in the environ, it is missing"
    try:
        check_environ(environ)
    except AssertionError as exc:
        pytest.fail(f"wsgiref.validate rejects the environ: {exc}")


@pytest.mark.spec("PEP 3333 §Unicode Issues, §URL Reconstruction; ASGI HTTP §HTTP Connection Scope (raw_path)")
@pytest.mark.parametrize(
    ("path", "raw_path", "expected"),
    [
        ("/café", b"/caf%C3%A9", "/caf\xc3\xa9"),
        ("/café", None, "/caf\xc3\xa9"),
        ("/a b/c", b"/a%20b/c", "/a b/c"),
        ("/caf\ufffd", b"/caf%E9", "/caf\xe9"),
    ],
    ids=["from-raw_path", "from-path", "percent-decoded", "non-utf8-from-raw_path"],
)
def test_build_environ_path_info_is_bytes_as_latin1(path: str, raw_path: bytes | None, expected: str) -> None:
    scope = http_scope("GET", path, raw_path=raw_path)
    if raw_path is None:
        del scope["raw_path"]  # raw_path is optional in ASGI: then path is all there is
    environ = adapters.build_environ(scope, apps_input())
    got = environ.get("PATH_INFO")
    assert got == expected, (
        f"expected PATH_INFO {expected!r}, got {got!r}: WSGI strings carry bytes as latin-1, so the path's "
        "UTF-8 bytes each become one character (path.encode('utf-8').decode('latin-1'))"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (SCRIPT_NAME, PATH_INFO); ASGI HTTP §HTTP Connection Scope (root_path)")
@pytest.mark.parametrize(
    ("path", "expected"),
    [("/api/hello/ada", ("/api", "/hello/ada")), ("/hello/ada", ("/api", "/hello/ada"))],
    ids=["path-under-root_path", "path-without-root_path"],
)
def test_build_environ_splits_root_path_into_script_name(path: str, expected: tuple[str, str]) -> None:
    environ = adapters.build_environ(http_scope("GET", path, root_path="/api"), apps_input())
    got = (environ.get("SCRIPT_NAME"), environ.get("PATH_INFO"))
    assert got == expected, (
        f"for path {path!r} under root_path '/api': expected (SCRIPT_NAME, PATH_INFO) {expected!r}, got {got!r}: ASGI's "
        "path includes root_path; WSGI's SCRIPT_NAME is root_path and PATH_INFO the rest. A path that does not "
        "start with root_path (older servers sent it so) is PATH_INFO whole, as asgiref's adapter does"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (HTTP_ Variables); RFC 9110 §5.3 (field order); RFC 6265 §5.4 (Cookie)")
def test_build_environ_joins_repeated_headers() -> None:
    scope = http_scope("GET", "/", headers=[(b"x-tag", b"a"), (b"cookie", b"a=1"), (b"accept", b"text/html"), (b"x-tag", b"b"), (b"cookie", b"b=2")])
    environ = adapters.build_environ(scope, apps_input())
    got = environ.get("HTTP_X_TAG")
    assert isinstance(got, str) and [v.strip() for v in got.split(",")] == ["a", "b"], (
        f"expected both X-Tag values in one comma-separated HTTP_X_TAG, in order ('a, b'), got {got!r}"
    )
    assert environ.get("HTTP_ACCEPT") == "text/html", f"expected HTTP_ACCEPT 'text/html', got {environ.get('HTTP_ACCEPT')!r}"
    assert environ.get("HTTP_COOKIE") == "a=1; b=2", (
        f"expected two Cookie headers (as HTTP/2 sends them) joined with '; ' into HTTP_COOKIE 'a=1; b=2' (RFC 6265 §5.4: "
        f"a cookie list is separated by '; ', not ', '), got {environ.get('HTTP_COOKIE')!r}"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (wsgi.url_scheme); ASGI HTTP §HTTP Connection Scope (scheme defaults to http)")
def test_build_environ_url_scheme() -> None:
    scope = http_scope()
    scope["scheme"] = "https"
    got = adapters.build_environ(scope, apps_input()).get("wsgi.url_scheme")
    assert got == "https", f"expected wsgi.url_scheme 'https' for a scope with scheme 'https', got {got!r}"
    del scope["scheme"]
    got = adapters.build_environ(scope, apps_input()).get("wsgi.url_scheme")
    assert got == "http", f"expected wsgi.url_scheme 'http' for a scope without scheme (ASGI: it defaults to 'http'), got {got!r}"


@pytest.mark.spec("PEP 3333 §environ Variables (SERVER_NAME, SERVER_PORT are never empty); ASGI HTTP §HTTP Connection Scope (server)")
@pytest.mark.parametrize("server", [None, ["/tmp/app.sock", None]], ids=["no-server", "unix-socket"])
def test_build_environ_without_a_server_address(server: Any) -> None:
    scope = http_scope()
    scope["server"] = server
    environ = adapters.build_environ(scope, apps_input())
    name, port = environ.get("SERVER_NAME"), environ.get("SERVER_PORT")
    assert isinstance(name, str) and name and ":" not in name and "/" not in name, (
        f"expected a host name in SERVER_NAME when scope['server'] is {server!r} (PEP 3333 requires it; asgiref says "
        f"'localhost'), got {name!r}"
    )
    assert isinstance(port, str) and port.isdigit(), f"expected SERVER_PORT as a string of digits when scope['server'] is {server!r}, got {port!r}"


@pytest.mark.spec("PEP 3333 §Unicode Issues (native strings: each byte one latin-1 character), §environ Variables (HTTP_ Variables)")
def test_build_environ_decodes_header_bytes_as_latin1() -> None:
    scope = http_scope("GET", "/", headers=[(b"x-name", "café".encode("utf-8")), (b"x-raw", b"\xff\x80")])
    environ = adapters.build_environ(scope, apps_input())
    got = (environ.get("HTTP_X_NAME"), environ.get("HTTP_X_RAW"))
    assert got == ("caf\xc3\xa9", "\xff\x80"), (
        f"expected HTTP_X_NAME 'caf\\xc3\\xa9' and HTTP_X_RAW '\\xff\\x80' (each byte one character: "
        f"value.decode('latin-1')), got {got!r}: a WSGI string carries the bytes, never a UTF-8 decoding of them"
    )


def apps_input() -> Any:
    """A stand-in for wsgi.input: build_environ only puts it in the environ."""
    import io

    return io.BytesIO(b"{}")


# ============================================================================ the adapter, message by message


@pytest.mark.spec("ASGI HTTP §Response Start, §Response Body; PEP 3333 §Specification Details")
def test_adapter_answers_one_request(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.environ_app(probe))

    async def go() -> Talk:
        talk = Talk(adapter, http_scope("GET", "/hello", query_string=b"x=1"))
        await talk.send()
        _, error = await talk.rest()
        if error:
            raise error
        return talk

    talk = run(go(), what="one GET through your adapter")
    start = talk.start()
    assert start.get("status") == 200, f"expected status 200 (an int), got {start.get('status')!r}"
    headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
    assert (b"content-type", b"text/plain") in headers, (
        f"expected the header (b'content-type', b'text/plain') (ASGI header names are lower-case bytes), got {headers!r}"
    )
    assert talk.body() == b"ok", f"expected the body b'ok', got {talk.body()!r}"
    assert probe.environ is not None and probe.environ.get("PATH_INFO") == "/hello", (
        f"expected the app to see PATH_INFO '/hello', got {probe.environ and probe.environ.get('PATH_INFO')!r}"
    )


@pytest.mark.spec("PEP 3333 §Input and Error Streams; ASGI HTTP §Request")
@pytest.mark.parametrize("plan", [[("read", 5), ("read", 5)], [("readline", 5), ("read",)]], ids=["read(5)", "readline(5)"])
def test_request_body_reaches_wsgi_input_as_it_arrives(make_adapter: Callable[..., Any], probe: apps.Probe, plan: list[Any]) -> None:
    adapter = make_adapter(apps.reader_app(probe, plan))
    first = f"{plan[0][0]}({plan[0][1]})"
    scope = http_scope("POST", "/upload", headers=[(b"content-length", b"10")])

    async def go() -> tuple[bool, list[bytes], bytes]:
        talk = Talk(adapter, scope)
        await talk.send(b"hello", more_body=True)
        reached = await wait_event(probe.reached)
        seen_then = list(probe.reads)
        await talk.send(b"world", more_body=False)
        _, error = await talk.rest()
        if error:
            raise error
        return reached, seen_then, talk.body()

    reached, seen_then, body = run(go(), what="a POST whose body comes in two messages")
    assert reached and seen_then == [b"hello"], (
        f"expected wsgi.input.{first} to return b'hello' as soon as the first http.request message arrived, "
        f"while the second was still to come; after {WAIT:g} s the app had read {seen_then!r}. Feed wsgi.input "
        "from receive() as the messages arrive: do not wait for the whole body before calling the app"
    )
    assert json.loads(body) == ["hello", "world"], f"expected the app to read 'hello' then 'world', got {body!r}"


@pytest.mark.spec("PEP 3333 §Input and Error Streams (read, readline, __iter__)")
@pytest.mark.parametrize(
    ("pieces", "plan", "expected"),
    [
        ([b"ab", b"cdef", b"g"], [("read", 3), ("read", 3), ("read", 3), ("read", 3)], ["abc", "def", "g", ""]),
        ([b"first li", b"ne\nsecond", b" line\nlast"], [("readline",), ("readline",), ("read",)], ["first line\n", "second line\n", "last"]),
        ([b"a\nb", b"\nc"], [("iter",)], ["a\n", "b\n", "c"]),
        ([b"a\nb", b"\nc"], [("readlines",)], ["a\n", "b\n", "c"]),
        ([b"a\n\nb"], [("readline",), ("readline",), ("readline",)], ["a\n", "\n", "b"]),
        ([b"abc", b"def\nrest"], [("readline", 4), ("readline",), ("read",)], ["abcd", "ef\n", "rest"]),
        ([b"abc"], [("read", 0), ("readline", 0), ("read",)], ["", "", "abc"]),
    ],
    ids=["read-size", "readline-then-read-all", "iterate-lines", "readlines", "empty-line", "readline-size", "size-0"],
)
def test_wsgi_input_reads_across_messages(
    make_adapter: Callable[..., Any], probe: apps.Probe, pieces: list[bytes], plan: list[Any], expected: list[str]
) -> None:
    adapter = make_adapter(apps.reader_app(probe, plan))
    total = sum(len(p) for p in pieces)
    scope = http_scope("POST", "/", headers=[(b"content-length", str(total).encode())])

    async def go() -> bytes:
        talk = Talk(adapter, scope)
        for index, piece in enumerate(pieces):
            await talk.send(piece, more_body=index < len(pieces) - 1)
        _, error = await talk.rest()
        if error:
            raise error
        return talk.body()

    body = run(go(), what="a body sent in several http.request messages")
    got = json.loads(body)
    calls = ", ".join(f"{step[0]}({', '.join(map(str, step[1:]))})" for step in plan)
    assert got == expected, (
        f"the app called {calls} on wsgi.input while the body came as {pieces!r}: expected {expected!r}, "
        f"got {got!r}. A read must gather bytes across messages until it can answer (or the body ends)"
    )


@pytest.mark.spec("ASGI HTTP §Request (more_body defaults to False)")
def test_a_body_message_without_more_body_is_the_last(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.reader_app(probe, [("read",)]))
    scope = http_scope("POST", "/", headers=[(b"content-length", b"5")])

    async def go() -> bytes:
        talk = Talk(adapter, scope)
        await talk.communicator.send_input({"type": "http.request", "body": b"hello"})  # no more_body: the last
        _, error = await talk.rest()
        if error:
            raise error
        return talk.body()

    body = run(go(), what="a body in one http.request message without more_body")
    assert json.loads(body) == ["hello"], f"expected read() to give b'hello' and end there (more_body is False when missing), got {body!r}"


def interleaved_app(probe: apps.Probe) -> Any:
    """Answers its first line before it reads the request body, then echoes the body (PEP 3333 allows it)."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"reading\n"
        probe.reached.set()
        yield b"got " + environ["wsgi.input"].read() + b"\n"

    return app


@pytest.mark.spec("PEP 3333 §Input and Error Streams (the app may read the body after its first chunk); ASGI HTTP §Request")
@pytest.mark.parametrize(
    ("method", "headers", "pieces"),
    [
        ("POST", [(b"content-length", b"10")], [b"hello", b"world"]),
        ("POST", [(b"Content-Length", b"10")], [b"hello", b"world"]),
        ("POST", [(b"transfer-encoding", b"chunked")], [b"hello", b"world"]),
        ("GET", [], []),
    ],
    ids=["content-length", "Content-Length-capitalised", "chunked", "no-body"],
)
def test_the_body_can_be_read_after_the_first_chunk(
    make_adapter: Callable[..., Any], probe: apps.Probe, method: str, headers: list[tuple[bytes, bytes]], pieces: list[bytes]
) -> None:
    adapter = make_adapter(interleaved_app(probe))

    async def go() -> bytes:
        talk = Talk(adapter, http_scope(method, "/", headers=headers))
        await talk.send(pieces[0] if pieces else b"", more_body=len(pieces) > 1)
        await talk.next("http.response.start")
        await talk.next("the first chunk, sent before the app reads its body")
        for index, piece in enumerate(pieces[1:], start=2):
            await talk.send(piece, more_body=index < len(pieces))
        _, error = await talk.rest()
        if error:
            raise error
        return talk.body()

    body = run(go(), what=f"a {method} whose app answers before it reads the body")
    expected = b"reading\ngot " + b"".join(pieces) + b"\n"
    assert body == expected, (
        f"expected {expected!r}, got {body!r}: an app may read wsgi.input after its first chunk, so the body must still "
        "reach it then; only once the body is all in (or there is none) may the adapter wait for http.disconnect"
    )


@pytest.mark.spec("ASGI HTTP §Disconnect; PEP 3333 §Input and Error Streams (ClientDisconnected from wsgi.input)")
def test_disconnect_during_the_body_raises_in_wsgi_input(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            probe.reads.append(environ["wsgi.input"].read(10))
        except Exception as exc:  # noqa: BLE001 - what the read raised is what the test looks at
            probe.errors.append(exc)
        probe.reached.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"nobody listens"]

    adapter = make_adapter(app)
    scope = http_scope("POST", "/upload", headers=[(b"content-length", b"10")])

    async def go() -> bool:
        talk = Talk(adapter, scope)
        await talk.send(b"hello", more_body=True)
        await talk.communicator.send_input({"type": "http.disconnect"})
        reached = await wait_event(probe.reached)
        try:
            await talk.communicator.wait(WAIT)  # let the adapter finish as it likes: nobody reads its answer
        except Exception:  # noqa: BLE001
            pass
        return reached

    reached = run(go(), what="a POST whose client leaves halfway through the body")
    assert reached, f"expected wsgi.input.read(10) to return or raise within {WAIT:g} s of http.disconnect; it was still waiting"
    assert probe.errors and isinstance(probe.errors[0], adapters.ClientDisconnected), (
        f"expected wsgi.input.read(10) to raise ClientDisconnected when http.disconnect came after 5 of the 10 bytes, "
        f"got reads {probe.reads!r} and errors {probe.errors!r}: a short body must not pass for the whole one"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable (it must be called before the first body byte)")
def test_a_body_before_start_response_is_an_error(make_adapter: Callable[..., Any]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return [b"a body with no status"]

    adapter = make_adapter(app)

    async def go() -> tuple[list[Any], BaseException | None]:
        talk = Talk(adapter, http_scope())
        await talk.send()
        error: BaseException | None = None
        try:
            await talk.communicator.wait(WAIT)  # the adapter's end, raised or returned
        except Exception as exc:  # noqa: BLE001 - the adapter (the app) raised: that is allowed
            error = exc
        messages = []
        while not talk.communicator.output_queue.empty():
            messages.append(talk.communicator.output_queue.get_nowait())
        return messages, error

    messages, error = run(go(), what="an app that never calls start_response")
    if isinstance(error, (NotImplementedError, ASGIViolation)):
        raise error  # the error must be the adapter's own refusal, not a broken message it sent on
    assert all(isinstance(m, dict) and m.get("type", "").startswith("http.response.") for m in messages), (
        f"expected only http.response.* messages from the adapter, got {messages!r}"
    )
    starts = [m for m in messages if m.get("type") == "http.response.start"]
    assert error is not None or (starts and starts[0].get("status", 0) >= 500), (
        f"expected an app that yields its body without calling start_response() to be an error (raise, so the server "
        f"answers 500, or answer 500 yourself), got {messages!r}"
    )
    assert b"no status" not in b"".join(m.get("body", b"") for m in messages if m.get("type") == "http.response.body"), (
        f"expected the body of an app that never called start_response() not to be sent, got {messages!r}"
    )


@pytest.mark.spec("PEP 3333 §Buffering and Streaming; ASGI HTTP §Response Body (more_body)")
def test_response_streams_chunk_by_chunk(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.gated_app(probe))

    async def go() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        before = asyncio.all_tasks()
        talk = Talk(adapter, http_scope())
        await talk.send()
        start = await talk.next("http.response.start")
        first = await talk.next(
            "the first chunk while the app still holds back the last one (send each chunk as its own "
            "http.response.body with more_body=True as soon as the app yields it: do not collect the body)"
        )
        probe.gate.set()
        messages, error = await talk.rest()
        if error:
            raise error
        await talk.communicator.wait(WAIT)
        # A task the adapter cancelled ends on its next turn of the loop: wait for that, not for a fixed time.
        cancelling = [t for t in asyncio.all_tasks() - before if t.cancelling() and t is not asyncio.current_task()]
        if cancelling:
            await asyncio.wait(cancelling, timeout=WAIT)
        left = [t for t in asyncio.all_tasks() - before if not t.done()]
        assert not left, f"expected no task of the adapter's left running once the request is over, got {left!r}"
        return start, first, messages

    start, first, messages = run(go(), what="a streamed response")
    assert start.get("type") == "http.response.start" and start.get("status") == 200, f"expected http.response.start with status 200 first, got {start!r}"
    assert is_body_chunk(first, b"before the gate\n") and first.get("more_body") is True, (
        f"expected {{'type': 'http.response.body', 'body': b'before the gate\\n', 'more_body': True}}, got {first!r}"
    )
    body = b"".join(m.get("body", b"") for m in messages if m.get("type") == "http.response.body")
    assert body == b"before the gate\nafter the gate\n", f"expected the whole body in order, got {body!r}"
    assert messages[-1].get("more_body", False) is False, f"expected the last message to end the body (more_body false), got {messages[-1]!r}"


@pytest.mark.spec("PEP 3333 §Unicode Issues (status and headers are latin-1 strings); ASGI HTTP §Response Start (byte strings)")
def test_response_headers_are_encoded_as_latin1(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.latin1_app(probe))

    async def go() -> Talk:
        talk = Talk(adapter, http_scope())
        await talk.send()
        _, error = await talk.rest()
        if error:
            raise error
        return talk

    start = run(go(), what="an app whose status and header hold 'é'").start()
    headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
    assert start.get("status") == 200 and (b"x-name", b"caf\xe9") in headers, (
        f"expected status 200 and the header (b'x-name', b'caf\\xe9') (the app's 'caf\\xe9' encoded as latin-1: one "
        f"byte per character, not UTF-8's two), got {start.get('status')!r} and {headers!r}"
    )


@pytest.mark.spec("PEP 3333 §Buffering and Streaming (an empty chunk may be yielded); the README (one message per non-empty chunk)")
def test_empty_chunks_send_no_message(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.empty_chunks_app(probe))

    async def go() -> list[dict[str, Any]]:
        talk = Talk(adapter, http_scope())
        await talk.send()
        messages, error = await talk.rest()
        if error:
            raise error
        return messages

    messages = run(go(), what="an app that yields b'' between its chunks")
    streamed = [m.get("body", b"") for m in messages if m.get("type") == "http.response.body" and m.get("more_body", False)]
    assert streamed == [b"one ", b"two"], (
        f"expected one http.response.body with more_body=True per non-empty chunk (b'one ', b'two'), got {streamed!r}: "
        "skip the empty ones (an empty message only ends the body, with more_body=False)"
    )


@pytest.mark.spec("PEP 3333 §The write() Callable, §Buffering and Streaming")
def test_write_sends_at_once(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.write_app(probe))

    async def go() -> tuple[dict[str, Any], bytes]:
        talk = Talk(adapter, http_scope())
        await talk.send()
        await talk.next("http.response.start, sent by the first write()")
        first = await talk.next("the bytes of the first write(), before the app has gone on (write() sends at once)")
        probe.gate.set()
        _, error = await talk.rest()
        if error:
            raise error
        return first, talk.body()

    first, body = run(go(), what="an app that uses write()")
    assert is_body_chunk(first, b"written "), f"expected the first write()'s bytes b'written ' in their own message, got {first!r}"
    assert body == b"written twice, then returned", (
        f"expected b'written twice, then returned' (write() output, then the returned iterable), got {body!r}"
    )


@pytest.mark.spec("PEP 3333 §Error Handling, §Buffering and Streaming (headers wait for the first non-empty chunk)")
def test_exc_info_replaces_headers_not_yet_sent(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.late_error_app(probe))

    async def go() -> Talk:
        talk = Talk(adapter, http_scope())
        await talk.send()
        _, error = await talk.rest()
        if error:
            raise error
        return talk

    talk = run(go(), what="an app that replaces its headers with exc_info")
    start = talk.start()
    names = [bytes(k).lower() for k, _ in start.get("headers", [])]
    assert start.get("status") == 500 and b"x-first" not in names, (
        f"expected the replacement status 500 without the first call's X-First header, got status "
        f"{start.get('status')!r} with headers {names!r}: the headers must wait for the first non-empty "
        "chunk (b'' does not count), so that start_response(..., exc_info) can still replace them"
    )
    assert talk.body() == b"replaced by an error page", f"expected the error page body, got {talk.body()!r}"


@pytest.mark.spec("PEP 3333 §Error Handling (exc_info after the headers were sent)")
def test_exc_info_after_the_body_began_reraises(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.too_late_error_app(probe))

    async def go() -> Talk:
        talk = Talk(adapter, http_scope())
        await talk.send()
        await talk.rest()  # the adapter may end the body or raise: either is fine here
        return talk

    talk = run(go(), what="an app that fails in the middle of its body")
    assert probe.errors, "the app never got to call start_response(..., exc_info): did the adapter stop iterating early?"
    error = probe.errors[0]
    assert isinstance(error, ValueError) and "middle of the body" in str(error), (
        f"expected start_response(..., exc_info) to re-raise the app's own ValueError once the headers were "
        f"sent (PEP 3333: raise exc_info[1].with_traceback(exc_info[2])), got {error!r}"
    )
    statuses = [m.get("status") for m in talk.messages if m.get("type") == "http.response.start"]
    assert statuses == [200], f"expected exactly one http.response.start (200), got statuses {statuses!r}"
    assert b"never be sent" not in talk.body(), f"expected nothing after the error, got the body {talk.body()!r}"


@pytest.mark.spec("PEP 3333 §The start_response() Callable (a second call without exc_info is a fatal error)")
def test_second_start_response_without_exc_info_fails(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.twice_app(probe))

    async def go() -> Talk:
        talk = Talk(adapter, http_scope())
        await talk.send()
        await talk.rest()
        return talk

    talk = run(go(), what="an app that calls start_response twice")
    assert probe.errors, (
        "expected the second start_response() without exc_info to raise (PEP 3333 calls it a fatal error); "
        f"it returned, and the adapter sent {talk.messages!r}"
    )
    assert b"was accepted" not in talk.body(), f"expected no 200 answer, got the body {talk.body()!r}"


@pytest.mark.spec("PEP 3333 §Specification Details (close() must be called)")
@pytest.mark.parametrize("fail_after", [None, 1], ids=["complete", "iterable-raises"])
def test_close_is_always_called(make_adapter: Callable[..., Any], probe: apps.Probe, fail_after: int | None) -> None:
    adapter = make_adapter(apps.tracking_app(probe, fail_after=fail_after))

    async def go() -> tuple[Talk, BaseException | None, bool]:
        talk = Talk(adapter, http_scope())
        await talk.send()
        _, error = await talk.rest()
        return talk, error, await wait_event(probe.closed)

    talk, error, closed = run(go(), what="a response whose iterable has close()")
    if fail_after is None:
        assert error is None, f"expected the response to complete, the adapter raised {error!r}"
        assert talk.body() == b"one two three", f"expected b'one two three', got {talk.body()!r}"
        assert closed, "expected the iterable's close() to be called once the body was sent; it never was"
    else:
        assert closed, (
            "expected close() to be called even though iterating the body raised; it never was "
            "(call it in a finally: block)"
        )


def body_then_endless_app(probe: apps.Probe) -> Any:
    """Reads the whole request body first, then streams without end (like endless_app)."""
    endless = apps.endless_app(probe)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        probe.reads.append(environ["wsgi.input"].read())
        return endless(environ, start_response)

    return app


@pytest.mark.spec("ASGI HTTP §Disconnect; PEP 3333 §Specification Details (close())")
@pytest.mark.parametrize(
    ("method", "headers", "body", "make_app"),
    [
        ("GET", [], b"", apps.endless_app),
        ("POST", [(b"content-length", b"0")], b"", apps.endless_app),
        ("POST", [(b"content-length", b"4")], b"data", body_then_endless_app),
    ],
    ids=["get", "post-empty-body", "post-body-read-first"],
)
def test_client_disconnect_stops_an_endless_stream(
    make_adapter: Callable[..., Any], probe: apps.Probe, method: str, headers: list[tuple[bytes, bytes]], body: bytes, make_app: Any
) -> None:
    adapter = make_adapter(make_app(probe))

    async def go() -> tuple[bool, int]:
        talk = Talk(adapter, http_scope(method, "/", headers=headers))
        await talk.send(body)
        await talk.next("http.response.start")
        await talk.next("the first chunk of an endless stream")
        await talk.communicator.send_input({"type": "http.disconnect"})
        closed = await wait_event(probe.closed)
        count = probe.yielded
        probe.gate.set()
        return closed, count

    closed, count = run(go(), what="a stream the client leaves")
    assert closed, (
        f"expected the endless iterable to be closed within {WAIT:g} s of http.disconnect; it was still "
        f"producing ({count} chunks so far). Once the body is received, wait for http.disconnect on the "
        "event loop and stop iterating when it comes (uvicorn silently drops what is sent after it)"
    )


@pytest.mark.spec("PEP 3333 §Thread Support (wsgi.multithread); ASGI §Applications (never block the loop)")
def test_requests_run_side_by_side_in_worker_threads(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    barrier = threading.Barrier(4, timeout=WAIT)
    adapter = make_adapter(apps.barrier_app(probe, barrier), max_workers=4)

    async def go() -> list[str]:
        transport = httpx.ASGITransport(app=adapter)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
            answers = await asyncio.gather(*(client.get(f"/{i}") for i in range(4)))
        return [a.text for a in answers]

    texts = run(go(), what="four requests at once")
    assert texts == ["together"] * 4, (
        f"expected four requests to be inside the WSGI app at the same time, got {texts!r}: run each call in "
        "a worker thread (loop.run_in_executor with a pool of max_workers) and never block the event loop"
    )
    assert threading.main_thread().name not in probe.threads, "the WSGI app ran in the event loop's thread"


@pytest.mark.spec("PEP 3333 §Thread Support; the pool's size is max_workers")
def test_max_workers_limits_the_pool(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    peak = 0
    inside = 0
    lock = threading.Lock()
    two_inside, three_inside = threading.Event(), threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        nonlocal peak, inside
        with lock:
            inside += 1
            peak = max(peak, inside)
            if inside == 2:
                two_inside.set()
            if inside > 2:
                three_inside.set()
        probe.gate.wait(apps.GATE_TIMEOUT)  # held inside until the test has seen who got in
        with lock:
            inside -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    adapter = make_adapter(app, max_workers=2)

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=adapter)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=CLIENT_TIMEOUT) as client:
            answers = asyncio.gather(*(client.get("/") for _ in range(6)))
            assert await wait_event(two_inside), "expected two calls inside the app at once with max_workers=2, never saw two"
            # Two are held inside and four wait: a third worker would let one in at once. Give it the chance.
            assert not await wait_event(three_inside, 0.3), "expected at most 2 calls inside the app with max_workers=2, a third got in"
            probe.gate.set()
            return [a.status_code for a in await answers]

    statuses = run(go(), what="six requests at once with max_workers=2")
    assert statuses == [200] * 6, f"expected six 200 answers, got {statuses!r}"
    assert peak == 2, f"expected at most (and, with six waiting, exactly) 2 calls in the app at once with max_workers=2, got {peak}"


@pytest.mark.spec("ASGI Lifespan §Startup, §Shutdown")
def test_lifespan_is_answered(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.environ_app(probe))

    async def go() -> None:
        async with LifespanManager(adapter, startup_timeout=WAIT, shutdown_timeout=WAIT):
            pass

    try:
        run(go(), what="a lifespan startup and shutdown")
    except Exception as exc:
        if isinstance(exc, NotImplementedError):
            raise
        pytest.fail(
            f"expected lifespan.startup.complete and lifespan.shutdown.complete, got {exc!r}: a WSGI app has "
            "nothing to start, but the adapter must still answer the lifespan scope (and may shut its pool down)"
        )


@pytest.mark.spec("close(): shut the pool down, waiting for running calls (ThreadPoolExecutor.shutdown(wait=True))")
def test_close_waits_for_running_calls(make_adapter: Callable[..., Any], probe: apps.Probe) -> None:
    adapter = make_adapter(apps.gated_app(probe))
    HOLD = 0.3  # seconds close() must still be waiting while the app is held at its gate

    async def go() -> tuple[bool, bool, bool]:
        talk = Talk(adapter, http_scope())
        await talk.send()
        await talk.next("http.response.start")
        await talk.next("the first chunk, before the app waits at its gate")
        closer = threading.Thread(target=adapter.close, name="adapter.close()", daemon=True)
        closer.start()
        await asyncio.to_thread(closer.join, HOLD)
        waited = closer.is_alive()
        probe.gate.set()
        _, error = await talk.rest()
        if error:
            raise error
        await asyncio.to_thread(closer.join, WAIT)
        return waited, closer.is_alive(), talk.body() == b"before the gate\nafter the gate\n"

    waited, still_closing, whole = run(go(), what="close() while a request is still running")
    assert waited, (
        f"expected close() to wait for the request still running in the pool; it returned within {HOLD:g} s "
        "while the app was held mid-body (executor.shutdown() waits; shutdown(wait=False) does not)"
    )
    assert whole, "expected the running request to finish its body after close() was called"
    assert not still_closing, f"expected close() to return once the running request was over; after {WAIT:g} s it was still waiting"


# ============================================================================ Flask over TCP


class ValidatorErrors(list):  # type: ignore[type-arg]
    """What wsgiref.validate found wrong with what the adapter gave the app (or did with its answer)."""


def checked(app: Any, errors: ValidatorErrors) -> Any:
    """``validator(app)``, with every assertion it raises kept for the test to show in words."""
    validated = validator(app)

    def wrapper(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            result = validated(environ, start_response)
        except AssertionError as exc:
            errors.append(exc)
            raise
        return CheckedIterable(result, errors)

    return wrapper


class CheckedIterable:
    def __init__(self, result: Any, errors: ValidatorErrors) -> None:
        self.result = result
        self.errors = errors

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.result
        except AssertionError as exc:
            self.errors.append(exc)
            raise

    def close(self) -> None:
        try:
            self.result.close()
        except AssertionError as exc:
            self.errors.append(exc)
            raise


UPLOAD = bytes(range(256)) * 1024  # 256 KiB: more than one http.request message from uvicorn

REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("GET", "/hello/Ada?greeting=Hi", {}),
    ("GET", "/caf%C3%A9", {}),
    ("POST", "/echo?x=1", {"content": b'{"tasks": [1, 2], "name": "Ada"}', "headers": {"content-type": "application/json"}}),
    ("POST", "/echo", {"content": UPLOAD, "headers": {"content-type": "application/octet-stream"}}),
    ("POST", "/form", {"data": {"name": "Ada Lovelace", "tag": ["x", "y"]}}),
    ("GET", "/headers", {"headers": {"X-Custom": "kept", "Cookie": "a=1; b=2", "User-Agent": "katas"}}),
    ("GET", "/cookies", {}),
    ("GET", "/go", {}),
    ("POST", "/only-get", {}),
    ("GET", "/missing", {}),
    ("GET", "/boom", {}),
    ("HEAD", "/", {}),
    ("GET", "/stream", {}),
]
ROOT_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [("GET", "/where", {}), ("GET", "/hello/grace", {})]
SERVER_HEADERS = {"date", "server", "connection", "transfer-encoding", "keep-alive"}
"""Headers the server owns (framing, its name, the time): only the app's own headers are compared."""

Answer = tuple[int, list[tuple[str, str]], bytes]


def ask_all(base_url: str, requests: list[tuple[str, str, dict[str, Any]]]) -> list[Answer]:
    apps.STREAM_GATE.release.set()  # no holding back here: /stream is compared whole
    answers = []
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT, follow_redirects=False) as client:
        for method, path, options in requests:
            response = client.request(method, path, **options)
            headers = sorted((k.lower(), v) for k, v in response.headers.multi_items() if k.lower() not in SERVER_HEADERS)
            answers.append((response.status_code, headers, response.content))
    return answers


def first_difference(
    requests: list[tuple[str, str, dict[str, Any]]],
    got: list[Answer],
    expected: list[Answer],
    *,
    yardstick: str = "asgiref's adapter",
) -> str | None:
    for (method, path, _), mine, theirs in zip(requests, got, expected):
        if mine == theirs:
            continue
        if mine[0] != theirs[0]:
            return f"{method} {path}: expected status {theirs[0]} (as {yardstick} answers), got {mine[0]}; body {mine[2][:200]!r}"
        if mine[1] != theirs[1]:
            missing = [h for h in theirs[1] if h not in mine[1]]
            extra = [h for h in mine[1] if h not in theirs[1]]
            return f"{method} {path}: the headers differ from {yardstick}'s: missing {missing!r}, unexpected {extra!r}"
        return f"{method} {path}: expected the body {theirs[2][:200]!r}, got {mine[2][:200]!r}"
    return None


def in_fresh_context(app: Any) -> Any:
    """Run each call of ``app`` in an empty ``contextvars`` context.

    asgiref 3.9+ keeps its thread executor in a context variable that leaks from one request to the
    next on a keep-alive connection under uvicorn, and then fails every other request with
    "CurrentThreadExecutor already quit or is broken" (django/asgiref#491, #526). A fresh context per
    call sidesteps that bug; it changes nothing else.
    """

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        task = asyncio.get_running_loop().create_task(app(scope, receive, send), context=contextvars.Context())
        await task

    return wrapped


@pytest.fixture(scope="module")
def asgiref_answers() -> dict[str, list[Answer]]:
    """What asgiref's WsgiToAsgi answers under uvicorn: the yardstick for your adapter."""
    reference = CheckedApp(in_fresh_context(AsgirefWsgiToAsgi(apps.flask_app)), what="asgiref's WsgiToAsgi")
    with uvicorn_serving(reference, lifespan="off") as url:
        plain = ask_all(url, REQUESTS)
    with uvicorn_serving(reference, lifespan="off", root_path="/api") as url:
        rooted = ask_all(url, ROOT_REQUESTS)
    reference.raise_first()  # the same ASGI checks as yours: they hold for asgiref
    apps.STREAM_GATE.reset()
    return {"plain": plain, "rooted": rooted}


@pytest.mark.reference
def test_asgiref_answers_like_flask_itself(asgiref_answers: dict[str, list[Answer]]) -> None:
    """Proves the yardstick: asgiref's adapter under uvicorn gives what Flask's own test client gives.

    (Not httpx.WSGITransport: it puts the path in PATH_INFO as decoded text, not latin-1 bytes, so
    ``/caf%C3%A9`` misses Flask's ``/café`` route there.)
    """
    client = apps.flask_app.test_client(use_cookies=False)  # keep the Cookie header as sent
    apps.STREAM_GATE.release.set()
    direct = []
    for method, path, options in REQUESTS:
        werkzeug_options = {"headers": options.get("headers", {})}
        if "json" in options:
            werkzeug_options["json"] = options["json"]
        elif "content" in options:
            werkzeug_options["data"] = options["content"]
        elif "data" in options:
            werkzeug_options["data"] = options["data"]
        response = client.open(path, method=method, **werkzeug_options)
        headers = sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() not in SERVER_HEADERS)
        direct.append((response.status_code, headers, response.get_data()))
    apps.STREAM_GATE.reset()
    difference = first_difference(REQUESTS, asgiref_answers["plain"], direct, yardstick="Flask's test client")
    assert difference is None, difference


@pytest.mark.spec("PEP 3333 (the whole protocol, checked by wsgiref.validate); ASGI HTTP 2.4")
def test_flask_under_uvicorn_matches_asgiref(
    make_adapter: Callable[..., Any], asgiref_answers: dict[str, list[Answer]]
) -> None:
    errors = ValidatorErrors()
    adapter = make_adapter(checked(apps.flask_app, errors))
    with uvicorn_serving(adapter, lifespan="off") as url:
        plain = ask_all(url, REQUESTS)
    with uvicorn_serving(adapter, lifespan="off", root_path="/api") as url:
        rooted = ask_all(url, ROOT_REQUESTS)
    adapter.raise_first()
    assert not errors, f"wsgiref.validate, wrapped around Flask inside your adapter, found: {errors[0]}"
    difference = first_difference(REQUESTS, plain, asgiref_answers["plain"])
    assert difference is None, difference
    difference = first_difference(ROOT_REQUESTS, rooted, asgiref_answers["rooted"])
    assert difference is None, f"under root_path '/api': {difference} (SCRIPT_NAME comes from root_path)"


@pytest.mark.spec("PEP 3333 §Buffering and Streaming, over TCP")
def test_flask_stream_reaches_the_client_before_it_ends(make_adapter: Callable[..., Any]) -> None:
    errors = ValidatorErrors()
    adapter = make_adapter(checked(apps.flask_app, errors))
    apps.STREAM_GATE.reset()
    with uvicorn_serving(adapter, lifespan="off") as url:
        with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
            with client.stream("GET", "/stream") as response:
                pieces = response.iter_raw()
                try:
                    first = next(pieces)
                except httpx.ReadTimeout:
                    pytest.fail(f"no body byte arrived within {CLIENT_TIMEOUT:g} s while Flask held back its last chunks")
                finished_early = apps.STREAM_GATE.finished.is_set()
                apps.STREAM_GATE.release.set()
                rest = b"".join(pieces)
    adapter.raise_first()
    assert not finished_early, (
        "the first bytes reached the client only after Flask's generator had finished: the adapter buffered "
        "the body. Send each chunk as the app yields it"
    )
    assert first.startswith(b"first chunk\n"), f"expected the stream to begin with b'first chunk\\n', got {first!r}"
    assert first + rest == b"first chunk\nchunk 0\nchunk 1\nchunk 2\n", f"expected the whole stream, got {first + rest!r}"
    assert not errors, f"wsgiref.validate found: {errors[0]}"


@pytest.mark.spec("PEP 3333 §Input and Error Streams; wsgi.input_terminated (the server ends the stream)")
def test_flask_reads_a_chunked_upload(make_adapter: Callable[..., Any]) -> None:
    errors = ValidatorErrors()
    adapter = make_adapter(checked(apps.flask_app, errors))
    pieces = [bytes([i]) * 10_000 for i in range(20)]
    with uvicorn_serving(adapter, lifespan="off") as url:
        with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
            # A generator body: httpx sends it chunked, without Content-Length.
            response = client.post("/echo", content=iter(pieces), headers={"content-type": "application/octet-stream"})
    adapter.raise_first()
    assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.text[:200]!r}"
    length = response.json().get("length")
    assert length == 200_000, (
        f"expected Flask to read all 200000 bytes of a chunked upload, it read {length}: without CONTENT_LENGTH "
        "werkzeug reads wsgi.input only if environ['wsgi.input_terminated'] is true (your stream ends by itself)"
    )
    assert not errors, f"wsgiref.validate found: {errors[0]}"


# ============================================================================ on your own server (exercise 15)


@pytest.mark.spec("ASGI HTTP 2.4 on both sides: your server (15) and your adapter (21)")
def test_flask_on_your_asgi_server_matches_asgiref(
    make_adapter: Callable[..., Any], asgiref_answers: dict[str, list[Answer]]
) -> None:
    errors = ValidatorErrors()
    adapter = make_adapter(checked(apps.flask_app, errors))
    with own_serving("asgi_server", "15", adapter) as url:
        answers = ask_all(url, REQUESTS)
    adapter.raise_first()
    assert not errors, f"wsgiref.validate, wrapped around Flask inside your adapter, found: {errors[0]}"
    difference = first_difference(REQUESTS, answers, asgiref_answers["plain"])
    assert difference is None, f"on your exercise-15 server: {difference}"
