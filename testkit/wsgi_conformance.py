"""The server side of PEP 3333, as exercises 07 and 08 grade it in the student's ``call_app``.

Both exercises write ``call_app(app, environ, send, ...)``: call a WSGI application, hand it a
``start_response``, and send what it returns. The rules that function must keep are the same in
both (07 frames with ``Connection: close``, 08 with keep-alive and chunks, which changes only what
the bytes look like), so the probe applications and the checks live here, once:

- a second ``start_response`` without ``exc_info`` is an error (§The start_response() Callable);
- ``exc_info`` before the headers are sent replaces them; after, it re-raises (§Error Handling);
- ``write()`` still sends (§The write() Callable);
- the headers wait for the first non-empty chunk (§Buffering and Streaming);
- the iterable's ``close()`` is called exactly once, whatever happens (§Specification Details);
- an application that raises gets a 500 and its traceback goes to ``wsgi.errors`` (§Error Handling);
- an application that never calls ``start_response`` gets a 500 (§The start_response() Callable).

Each exercise's test keeps its own name and its own framing checks, and calls these for the rest.
Only tests import this module.
"""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

StartResponse = Callable[..., Any]
Send = Callable[[bytes], None]

IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
"""RFC 9110 §5.6.7's IMF-fixdate, the one form a server may send in ``Date``."""


def within(seconds: float, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``function(*args, **kwargs)`` in a thread; fail in plain words if it is still running after ``seconds``."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(function(*args, **kwargs))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{what} was still running after {seconds:g} s (is it waiting for bytes that never come?)")
    if failure:
        raise failure[0]
    return result[0]


class Recorder:
    """A ``send`` for call_app that records every piece of bytes it is given.

    ``fail_after`` makes it a client that hangs up: the send after that many raises ``BrokenPipeError``.
    """

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[bytes] = []
        self.fail_after = fail_after

    def __call__(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise BrokenPipeError(32, "Broken pipe (the test's client hung up)")
        self.sent.append(bytes(data))

    @property
    def raw(self) -> bytes:
        return b"".join(self.sent)


def gone(data: bytes) -> None:
    """A ``send`` for a client that has gone away."""
    raise BrokenPipeError(32, "Broken pipe")


def base_environ(method: str = "GET", protocol: str = "HTTP/1.1", *, multithread: bool = False) -> dict[str, Any]:
    """A minimal valid environ, built here (not by the student's build_environ) for the call_app tests."""
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": protocol,
        "HTTP_HOST": "127.0.0.1:8080",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


# ------------------------------------------------------------------------------ the probe applications


def writing_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """Sends ``b"Hello, "`` through ``write()``, then ``b"world!"`` as the iterable: ``b"Hello, world!"``."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"Hello, ")
    return [b"world", b"!"]


def check_second_start_response_raises(run: Callable[[Callable[..., Any]], Any]) -> None:
    """``run(app)`` calls the student's call_app: a second start_response without exc_info must raise."""
    outcome: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
        except Exception:
            outcome.append("raised")
        else:
            outcome.append("accepted")
        return [b"ok"]

    run(app)
    assert outcome == ["raised"], (
        "expected the second start_response() call without exc_info to raise (PEP 3333: 'a fatal error'), "
        f"got: it was {outcome[0] if outcome else 'never reached'}"
    )


def exc_info_before_headers_app(status: str, headers: list[tuple[str, str]]) -> Callable[..., list[bytes]]:
    """Starts a 200 text/html, fails, then calls start_response(status, headers, exc_info): body ``b"sorry"``."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise ValueError("the template failed")
        except ValueError:
            start_response(status, headers, sys.exc_info())
        return [b"sorry"]

    return app


class FailsAfterHeaders:
    """Sends a 200 and ``b"first part"``, then fails and calls start_response with exc_info.

    PEP 3333: once the headers are sent, that call must re-raise the app's own exception, and
    ``b"should never be sent"`` (yielded after it) must never reach the client.
    """

    NEVER = b"should never be sent"

    def __init__(self) -> None:
        self.error = ValueError("failed half-way")
        self.outcome: list[object] = []

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first part"
        try:
            raise self.error
        except ValueError:
            try:
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
            except BaseException as exc:
                self.outcome.append(exc)
                raise
            self.outcome.append("returned")
        yield self.NEVER

    def check_reraised(self) -> None:
        """The exc_info call re-raised the app's own exception."""
        assert self.outcome and self.outcome[0] is self.error, (
            "expected start_response(..., exc_info) to re-raise the app's own exception once the headers are "
            f"sent, got {self.outcome[0] if self.outcome else 'no call'!r}"
        )


class Closing:
    """An app whose iterable records close(); it can fail half-way."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.closed = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Closing:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self

    def __iter__(self) -> Iterator[bytes]:
        yield b"one "
        if self.fail:
            raise RuntimeError("the app broke while streaming")
        yield b"two"

    def close(self) -> None:
        self.closed += 1

    def check_closed_once(self, case: str) -> None:
        assert self.closed == 1, (
            f"expected the iterable's close() to be called exactly once ({case}), got {self.closed} calls: "
            "call it in a finally: block"
        )


CLOSE_CASES = ["success", "error-while-iterating", "client-gone"]
"""The ways a response ends: its iterable must be closed in each (the test ids of both exercises)."""


def failing_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """Raises before start_response: the server answers 500 and logs the traceback."""
    raise KeyError("no such task")


NEVER_STARTS_BODIES = {"a-body": [b"a body, but start_response() was never called"], "no-body": []}
"""What an app that never calls start_response returns: with a body and without (the test ids of both exercises)."""


def never_starting_app(body: list[bytes]) -> Callable[..., list[bytes]]:
    """Returns ``body`` without ever calling start_response: there is no status to send, so the server answers 500."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return list(body)

    return app


def check_traceback_logged(environ: dict[str, Any]) -> None:
    logged = environ["wsgi.errors"].getvalue()
    assert "KeyError" in logged, f"expected the traceback to be written to environ['wsgi.errors'], got {logged[:200]!r}"


def check_headers_wait_for_the_first_non_empty_chunk(run: Callable[[Callable[..., Any], Recorder], Any]) -> Recorder:
    """``run(app, send)`` calls the student's call_app with ``send``: nothing goes out before ``b"data"``."""
    send = Recorder()
    seen: dict[str, int] = {}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        seen["after start_response"] = len(send.raw)
        yield b""
        seen["after an empty chunk"] = len(send.raw)
        yield b"data"
        seen["after b'data'"] = len(send.raw)

    run(app, send)
    assert seen.get("after start_response") == 0 and seen.get("after an empty chunk") == 0, (
        f"expected nothing sent before the first non-empty chunk, got {seen!r} bytes sent at each step: "
        "start_response only records the status and headers"
    )
    assert seen.get("after b'data'", 0) > 0, (
        "expected the head and b'data' to be sent as soon as the app yielded b'data', "
        f"got {seen!r} bytes sent at each step"
    )
    return send
