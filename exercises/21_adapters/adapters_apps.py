"""The WSGI apps the tests run through your adapter (and through asgiref's). You never edit this.

- ``flask_app``: a real Flask app: JSON, forms, redirects, cookies, 404/405, an error page, a
  streamed response, ``url_for`` behind a ``root_path``.
- small probe apps, each doing one thing the adapter must get right (``write()``, ``exc_info``,
  ``close()``, reading ``wsgi.input`` piece by piece), with threading events the tests control.

The adapter runs the apps in threads of the test process, so the tests read what they saw directly.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, stream_with_context, url_for

GATE_TIMEOUT = 5.0
"""Seconds a probe app waits for the test to open a gate before it gives up and carries on."""


# ---------------------------------------------------------------------------------------------------
# The Flask app
# ---------------------------------------------------------------------------------------------------

flask_app = Flask("adapters_flask")
# A limit makes werkzeug read wsgi.input in sized pieces even when the adapter says the stream
# ends by itself (wsgi.input_terminated): wsgiref's validator rejects read() without a size.
flask_app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024


class StreamGate:
    """Lets a test hold the Flask stream between its first and last chunk."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.finished = threading.Event()

    def reset(self) -> None:
        self.release.clear()
        self.finished.clear()


STREAM_GATE = StreamGate()


@flask_app.get("/")
def index() -> Response:
    return Response("Hello from Flask!", mimetype="text/plain")


@flask_app.get("/hello/<name>")
def hello(name: str) -> Any:
    greeting = request.args.get("greeting", "Hello")
    return jsonify(greeting=f"{greeting}, {name}!", script_name=request.script_root, path=request.path)


@flask_app.get("/café")
def cafe() -> Response:
    # Reached only if PATH_INFO is the UTF-8 bytes of the path as latin-1 (PEP 3333 §Unicode Issues).
    return Response("un café, s'il vous plaît", mimetype="text/plain")


@flask_app.post("/echo")
def echo() -> Any:
    body = request.get_data()
    return jsonify(
        length=len(body),
        content_type=request.content_type,
        sha=hash_of(body),
        json=request.get_json(silent=True),
        query=request.query_string.decode("latin-1"),
    )


@flask_app.post("/form")
def form() -> Any:
    return jsonify(fields=request.form.to_dict(flat=False))


@flask_app.get("/headers")
def headers() -> Any:
    wanted = ["X-Custom", "X-Tag", "User-Agent"]
    return jsonify({name: request.headers.get(name) for name in wanted} | {"cookies": dict(request.cookies)})


@flask_app.get("/where")
def where() -> Any:
    return jsonify(url=url_for("hello", name="ada"), root=request.script_root, path=request.path)


@flask_app.get("/cookies")
def cookies() -> Response:
    response = Response("two cookies", mimetype="text/plain")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    return response


@flask_app.get("/go")
def go() -> Response:
    return redirect("/hello/redirected", code=302)


@flask_app.route("/only-get", methods=["GET"])
def only_get() -> str:
    return "only GET here"


@flask_app.get("/boom")
def boom() -> str:
    raise RuntimeError("the Flask view failed on purpose")


@flask_app.get("/stream")
def stream() -> Response:
    def generate() -> Iterator[str]:
        yield "first chunk\n"
        # Held here until the test has seen the first chunk arrive (or GATE_TIMEOUT passes).
        STREAM_GATE.release.wait(GATE_TIMEOUT)
        for i in range(3):
            yield f"chunk {i}\n"
        STREAM_GATE.finished.set()

    return Response(stream_with_context(generate()), mimetype="text/plain")


def hash_of(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Probe apps
# ---------------------------------------------------------------------------------------------------


class Probe:
    """What a probe app saw and did, for the test to read; events for the test to open."""

    def __init__(self) -> None:
        self.environ: dict[str, Any] | None = None
        self.reads: list[bytes] = []
        self.closed = threading.Event()
        self.gate = threading.Event()
        self.reached = threading.Event()
        self.threads: set[str] = set()
        self.errors: list[BaseException] = []
        self.yielded = 0


def environ_app(probe: Probe) -> Any:
    """Answers with nothing much, and keeps the environ it was given."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        probe.environ = dict(environ)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    return app


def latin1_app(probe: Probe) -> Any:
    """A status and a header value with a character past ASCII: WSGI strings are latin-1 (PEP 3333)."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 D\xe9j\xe0 vu", [("Content-Type", "text/plain"), ("X-Name", "caf\xe9")])
        return [b"ok"]

    return app


def empty_chunks_app(probe: Probe) -> Any:
    """Yields empty chunks between (and before) the real ones: PEP 3333 lets an app yield b""."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"", b"one ", b"", b"two", b""]

    return app


class TrackingBody:
    """A response iterable with ``close()`` that records the call (PEP 3333: the server must call it)."""

    def __init__(self, chunks: list[bytes], probe: Probe, *, fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.probe = probe
        self.fail_after = fail_after

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if self.fail_after is not None and index == self.fail_after:
                raise RuntimeError("the response iterable failed on purpose")
            yield chunk

    def close(self) -> None:
        self.probe.closed.set()


def tracking_app(probe: Probe, *, fail_after: int | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> TrackingBody:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return TrackingBody([b"one ", b"two ", b"three"], probe, fail_after=fail_after)

    return app


class EndlessBody:
    """Streams a chunk every 20 ms until closed (or for ``GATE_TIMEOUT``); records ``close()``."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def __iter__(self) -> Iterator[bytes]:
        deadline = time.monotonic() + GATE_TIMEOUT
        while time.monotonic() < deadline and not self.probe.gate.is_set():
            self.probe.yielded += 1
            yield b"tick\n"
            self.probe.gate.wait(0.02)  # a tick every 20 ms, and none once the test opens the gate

    def close(self) -> None:
        self.probe.closed.set()


def endless_app(probe: Probe) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> EndlessBody:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return EndlessBody(probe)

    return app


def gated_app(probe: Probe) -> Any:
    """Yields one chunk, then waits for the test to open ``probe.gate`` before the last one."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"before the gate\n"
        probe.reached.set()
        probe.gate.wait(GATE_TIMEOUT)
        yield b"after the gate\n"

    return app


def write_app(probe: Probe) -> Any:
    """Uses the legacy ``write()`` callable, then returns an iterable too (PEP 3333 §start_response)."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        probe.reached.set()
        probe.gate.wait(GATE_TIMEOUT)
        write(b"twice, ")
        return [b"then returned"]

    return app


def late_error_app(probe: Probe) -> Any:
    """Fails before any body byte: replaces its 200 with a 500 through ``exc_info`` (allowed)."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "yes")])
        yield b""  # an empty chunk: the headers must still be held back (PEP 3333 §Buffering)
        try:
            raise ValueError("failed after start_response, before any body")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"replaced by an error page"

    return app


def too_late_error_app(probe: Probe) -> Any:
    """Fails after the body has begun: ``start_response(..., exc_info)`` must re-raise the error."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial body"
        try:
            raise ValueError("failed in the middle of the body")
        except ValueError:
            try:
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
            except BaseException as exc:  # what PEP 3333 says happens: the original error, re-raised
                probe.errors.append(exc)
                raise
        probe.errors.append(AssertionError("start_response(..., exc_info) returned instead of raising"))
        yield b"this must never be sent"

    return app


def twice_app(probe: Probe) -> Any:
    """Calls ``start_response`` twice without ``exc_info``: a fatal error (PEP 3333)."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
        except Exception as exc:
            probe.errors.append(exc)
            raise
        return [b"the second start_response was accepted"]

    return app


def reader_app(probe: Probe, plan: list[Any]) -> Any:
    """Reads ``wsgi.input`` following ``plan`` (("read", n), ("readline",), ("iter",), ("readlines",) ...), keeps
    each result in ``probe.reads``, signals ``probe.reached`` after the first, then echoes them."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        for step in plan:
            if step[0] == "read":
                probe.reads.append(stream.read(*step[1:]))
            elif step[0] == "readline":
                probe.reads.append(stream.readline(*step[1:]))
            elif step[0] == "iter":
                probe.reads.extend(list(stream))
            elif step[0] == "readlines":
                probe.reads.extend(stream.readlines(*step[1:]))
            probe.reached.set()
        body = json.dumps([r.decode("latin-1") for r in probe.reads]).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def barrier_app(probe: Probe, barrier: threading.Barrier) -> Any:
    """Every request waits until ``barrier.parties`` requests are in the app at the same time."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        probe.threads.add(threading.current_thread().name)
        try:
            barrier.wait()
            answer = b"together"
        except threading.BrokenBarrierError:
            answer = b"alone"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
        return [answer]

    return app
