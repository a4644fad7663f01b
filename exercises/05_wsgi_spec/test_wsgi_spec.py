"""Exercise 05 is graded by the two checkers in the standard library, and by close() tracking.

- ``wsgiref.validate.validator`` wraps every app: it checks both sides of PEP 3333 on each call.
- ``wsgiref.handlers.SimpleHandler`` runs the apps the way a real server does (it writes a real HTTP
  response to a buffer) and is stricter where the validator is blind: a second ``start_response``
  without ``exc_info``, hop-by-hop headers, a status without a reason phrase. Our ``StrictHandler``
  records every error the server logged, and can play a client that goes away mid-response.
- ``TrackedChunks`` and ``TrackingFile`` count their ``close()`` calls: a missing ``close()`` is
  otherwise invisible (CPython closes a garbage generator, never a forgotten file or a custom class).
"""

from __future__ import annotations

import gc
import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.handlers import SimpleHandler
from wsgiref.util import FileWrapper, setup_testing_defaults
from wsgiref.validate import validator

import pytest

import wsgi_spec

# The validator only *warns* about some mistakes (a status without a reason phrase, say): make them fail.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

TEXT_PLAIN = "text/plain; charset=utf-8"


# ------------------------------------------------------------------------------------- the harness


def make_environ(method: str = "GET", path: str = "/", query: str = "", **extra: Any) -> dict[str, Any]:
    """A complete WSGI environ, the way wsgiref.util builds one for tests."""
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query}
    environ.update(extra)
    setup_testing_defaults(environ)
    return environ


@dataclass
class Called:
    """One call of an app through the validator: every start_response call, the body, what went to wsgi.errors."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    result: Any = None
    errors: io.StringIO = field(default_factory=io.StringIO)

    @property
    def status(self) -> str:
        return self.calls[-1][0]

    @property
    def headers(self) -> list[tuple[str, str]]:
        return self.calls[-1][1]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def call(app: Callable[..., Any], environ: dict[str, Any], *, read: int | None = None) -> Called:
    """Call ``validator(app)`` like a server, read ``read`` chunks (all when None), then close the body.

    The app's own result object is kept in ``Called.result`` (the validator wraps what it returns).
    """
    called = Called(errors=environ["wsgi.errors"])

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        called.calls.append((status, headers, exc_info))
        return lambda data: None

    def keep_result(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        called.result = app(environ, start_response)
        return called.result

    body = validator(keep_result)(environ, start_response)
    try:
        for chunk in body:
            called.chunks.append(chunk)
            if read is not None and len(called.chunks) >= read:
                break
    finally:
        body.close()
    assert called.calls, "expected the app to call start_response, it never did"
    return called


class ClientOutput(io.BytesIO):
    """The socket a server writes to; with ``leave_after``, a client that hangs up after that many body writes."""

    def __init__(self, leave_after: int | None = None) -> None:
        super().__init__()
        self.leave_after = leave_after
        self.body_writes = 0

    def write(self, data: Any) -> int:
        if self.leave_after is not None and b"\r\n\r\n" in self.getvalue():
            if self.body_writes >= self.leave_after:
                raise BrokenPipeError("the test client went away")
            self.body_writes += 1
        return super().write(data)


class StrictHandler(SimpleHandler):
    """wsgiref's server core, writing to a buffer, recording what it logs instead of printing it."""

    os_environ: dict[str, str] = {}  # do not copy the test process's environment into environ

    def __init__(self, environ: dict[str, Any], *, file_wrapper: bool = True, leave_after: int | None = None) -> None:
        self.output = ClientOutput(leave_after)
        self.errors = io.StringIO()
        super().__init__(io.BytesIO(b""), self.output, self.errors, environ, multithread=False, multiprocess=False)
        if not file_wrapper:
            self.wsgi_file_wrapper = None
        self.logged: list[BaseException] = []

    def log_exception(self, exc_info: Any) -> None:
        self.logged.append(exc_info[1])


@dataclass
class Served:
    """What StrictHandler put on the wire, what it logged, and what the app returned."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    logged: list[BaseException]
    errors: str
    app_headers: list[list[tuple[str, str]]]
    result: Any

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def no_errors(self) -> None:
        if self.logged:
            pytest.fail(f"expected the server to log no error, it logged {self.logged[0]!r}{explain(self.logged[0])}")


def explain(error: BaseException) -> str:
    text = str(error)
    if "Headers already set" in text:
        return ": start_response was called a second time without exc_info (PEP 3333: only with exc_info)"
    if "Hop-by-hop" in text:
        return ": an application must not send hop-by-hop headers such as Connection or Transfer-Encoding"
    if "Status" in text:
        return ": a status is a str like '200 OK': three digits, a space, the reason phrase"
    return ""


def serve(app: Callable[..., Any], environ: dict[str, Any] | None = None, **handler_options: Any) -> Served:
    """Run ``validator(app)`` under StrictHandler once and take the HTTP response it wrote apart."""
    environ = environ if environ is not None else make_environ()
    app_headers: list[list[tuple[str, str]]] = []
    results: list[Any] = []

    def observed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def recording_start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            app_headers.append(list(headers))
            return start_response(status, headers, *exc_info)

        results.append(app(environ, recording_start_response))
        return results[-1]

    handler = StrictHandler(environ, **handler_options)
    handler.run(validator(observed))
    raw = handler.output.getvalue()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("iso-8859-1").split("\r\n") if head else ["", ""]
    headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines if line)]
    return Served(
        status=status_line.partition(" ")[2],
        headers=headers,
        body=body,
        logged=handler.logged,
        errors=handler.errors.getvalue(),
        app_headers=app_headers,
        result=results[0] if results else None,
    )


class TrackedChunks:
    """An iterable body (not a generator) that counts close() calls; with ``fail_at``, raises ``ProduceError`` there."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.close_calls = 0

    def __iter__(self) -> Iterator[bytes]:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise ProduceError(f"failed at chunk {i}")
            yield chunk
        if self.fail_at == len(self.chunks):
            raise ProduceError(f"failed at chunk {self.fail_at}")

    def close(self) -> None:
        self.close_calls += 1


class ProduceError(Exception):
    """The error our ``produce`` functions raise: the guarded app must turn it into a 500."""


class TrackingFile(io.BytesIO):
    """A binary file in memory that counts close() calls."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.close_calls = 0

    def close(self) -> None:
        self.close_calls += 1
        super().close()


# ----------------------------------------------------------------------------------------- environ


@pytest.mark.spec("PEP 3333 §environ Variables")
def test_environ_app_lists_every_key_sorted() -> None:
    environ = make_environ("POST", "/hello", "a=1", HTTP_X_TRACE="abc", CONTENT_TYPE="text/plain")
    called = call(wsgi_spec.environ_app, environ)
    assert called.status == "200 OK", f"expected status '200 OK', got {called.status!r}"
    assert called.header("Content-Type") == TEXT_PLAIN, f"expected Content-Type {TEXT_PLAIN!r}, got {called.header('Content-Type')!r}"
    # The validator swapped wsgi.input and wsgi.errors for checking wrappers in this same dict, before the app ran.
    expected = "".join(f"{key}: {environ[key]!r}\n" for key in sorted(environ))
    got = called.body.decode("utf-8", "replace")
    assert got == expected, f"expected one 'KEY: repr(value)' line per key, sorted:\n{expected}\ngot:\n{got}"


@pytest.mark.spec("PEP 3333 §Unicode Issues; RFC 9110 §8.6 (Content-Length)")
def test_environ_app_content_length_counts_bytes() -> None:
    called = call(wsgi_spec.environ_app, make_environ("GET", "/caf\xc3\xa9"))
    length = called.header("Content-Length")
    assert length == str(len(called.body)), (
        f"expected 'Content-Length: {len(called.body)}' (the UTF-8 body's length in bytes), got {length!r}: "
        "repr() of PATH_INFO '/caf\\xc3\\xa9' keeps non-ASCII characters, which take two bytes each in UTF-8"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (served by wsgiref.handlers)")
def test_environ_app_runs_under_a_real_server_core() -> None:
    served = serve(wsgi_spec.environ_app, make_environ("GET", "/x", HTTP_X_TRACE="abc"))
    served.no_errors()
    assert served.status == "200 OK", f"expected status '200 OK', got {served.status!r}"
    for line in (b"HTTP_X_TRACE: 'abc'\n", b"PATH_INFO: '/x'\n", b"wsgi.version: (1, 0)\n"):
        assert line in served.body, f"expected the line {line!r} in the body, got {served.body[:300]!r}..."


# --------------------------------------------------------------------------------------- streaming


@pytest.mark.spec("PEP 3333 §Buffering and Streaming")
def test_streaming_app_yields_one_chunk_per_item() -> None:
    called = call(wsgi_spec.streaming_app, make_environ(query="n=3"))
    expected = [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n"]
    assert called.chunks == expected, f"expected the chunks {expected!r} as separate items, got {called.chunks!r}"
    called = call(wsgi_spec.streaming_app, make_environ())
    assert len(called.chunks) == 5, f"expected 5 chunks when the query has no n, got {len(called.chunks)}: {called.chunks!r}"


@pytest.mark.spec("PEP 3333 §environ Variables (QUERY_STRING)")
def test_streaming_app_finds_n_among_other_parameters() -> None:
    called = call(wsgi_spec.streaming_app, make_environ(query="mode=fast&n=2&x="))
    expected = [b"chunk 0\n", b"chunk 1\n"]
    assert called.chunks == expected, (
        f"for QUERY_STRING 'mode=fast&n=2&x=', expected the chunks {expected!r}, got {called.chunks!r}: "
        "the query string is a list of name=value pairs joined by '&' (urllib.parse.parse_qs reads it)"
    )


@pytest.mark.spec("PEP 3333 §Other HTTP Features (no hop-by-hop headers); §Handling the Content-Length Header")
def test_streaming_app_leaves_framing_to_the_server() -> None:
    served = serve(wsgi_spec.streaming_app, make_environ(query="n=4"))
    served.no_errors()
    assert served.status == "200 OK", f"expected status '200 OK', got {served.status!r}"
    names = [name.lower() for name, _ in served.app_headers[0]]
    assert "content-length" not in names and "transfer-encoding" not in names, (
        f"expected neither Content-Length nor Transfer-Encoding from a streaming app, got {served.app_headers[0]!r}: "
        "how the stream is framed (chunked, or closing the connection) is the server's choice"
    )
    assert served.body == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n", f"expected 4 chunks on the wire, got {served.body!r}"


@pytest.mark.spec("PEP 3333 §Specification Details (close())")
def test_streaming_app_reports_how_far_it_got() -> None:
    called = call(wsgi_spec.streaming_app, make_environ(query="n=3"))
    got = called.errors.getvalue()
    assert got == "stream closed after 3 of 3 chunks\n", (
        f"expected 'stream closed after 3 of 3 chunks\\n' in wsgi.errors once the body was read to the end, got {got!r}"
    )
    called = call(wsgi_spec.streaming_app, make_environ(query="n=5"), read=2)
    got = called.errors.getvalue()
    assert got == "stream closed after 2 of 5 chunks\n", (
        f"expected 'stream closed after 2 of 5 chunks\\n' when the server read 2 chunks and called close(), got {got!r}: "
        "close() raises GeneratorExit at the paused yield; a try/finally around the loop runs then"
    )


@pytest.mark.spec("PEP 3333 §Specification Details (close())")
def test_streaming_app_notices_a_client_that_leaves() -> None:
    served = serve(wsgi_spec.streaming_app, make_environ(query="n=5"), leave_after=2)
    served.no_errors()
    assert served.errors == "stream closed after 3 of 5 chunks\n", (
        "expected 'stream closed after 3 of 5 chunks\\n' in wsgi.errors (two chunks sent, the third yielded but "
        f"its write failed, then the server called close()), got {served.errors!r}"
    )


# ------------------------------------------------------------------------------------------- files


@pytest.mark.spec("PEP 3333 §Optional Platform-Specific File Handling")
def test_file_iterable_yields_blocks_and_leaves_the_file_open() -> None:
    f = TrackingFile(b"0123456789")
    blocks = list(wsgi_spec.FileIterable(f, 4))
    assert blocks == [b"0123", b"4567", b"89"], f"expected the blocks [b'0123', b'4567', b'89'] (no empty block), got {blocks!r}"
    assert f.close_calls == 0, "expected the file to stay open after iterating: closing it is close()'s job"


@pytest.mark.spec("PEP 3333 §Specification Details (close())")
def test_file_iterable_close_closes_the_file() -> None:
    f = TrackingFile(b"0123456789")
    body = wsgi_spec.FileIterable(f, 4)
    next(iter(body))
    body.close()
    assert f.close_calls == 1, f"expected FileIterable.close() to close the file once, got {f.close_calls} close() calls"
    assert body.filelike is f and body.block_size == 4, "expected the attributes filelike and block_size, like wsgiref's FileWrapper"
    default = wsgi_spec.FileIterable(TrackingFile(b"")).block_size
    assert default == 8192, f"expected FileIterable(filelike) to default to block_size 8192, got {default!r}"


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 256)  # 64 KiB: eight blocks of 8192
    return path


@pytest.mark.spec("PEP 3333 §Optional Platform-Specific File Handling")
def test_file_app_serves_the_file_in_a_file_iterable(data_file: Path) -> None:
    called = call(wsgi_spec.make_file_app(data_file, "image/png"), make_environ())
    assert called.status == "200 OK", f"expected status '200 OK', got {called.status!r}"
    assert called.header("Content-Type") == "image/png", f"expected Content-Type 'image/png', got {called.header('Content-Type')!r}"
    assert called.header("Content-Length") == str(data_file.stat().st_size), (
        f"expected 'Content-Length: {data_file.stat().st_size}' (the file's size), got {called.header('Content-Length')!r}"
    )
    assert called.body == data_file.read_bytes(), "expected the body to be the file's bytes"
    assert isinstance(called.result, wsgi_spec.FileIterable), (
        f"expected a FileIterable as the body when environ has no 'wsgi.file_wrapper', got {type(called.result).__name__}"
    )
    assert called.result.block_size == 8192, (
        f"expected FileIterable(file, 8192), got a block_size of {called.result.block_size!r}"
    )
    assert called.result.filelike.closed, "expected the file to be closed once the server called close()"


@pytest.mark.spec("PEP 3333 §Optional Platform-Specific File Handling (wsgi.file_wrapper)")
def test_file_app_uses_the_servers_file_wrapper(data_file: Path) -> None:
    block_sizes: list[int] = []

    class ServerWrapper(FileWrapper):
        """A server's own wrapper (it could send the file with sendfile()); it records the block size asked for."""

        def __init__(self, filelike: Any, block_size: int = 8192) -> None:  # positional, as PEP 3333 calls it
            block_sizes.append(block_size)
            super().__init__(filelike, block_size)

    called = call(wsgi_spec.make_file_app(data_file), make_environ(**{"wsgi.file_wrapper": ServerWrapper}))
    assert isinstance(called.result, ServerWrapper), (
        f"expected the body to be environ['wsgi.file_wrapper'](file, block_size), got {type(called.result).__name__}"
    )
    assert block_sizes == [8192], f"expected one call environ['wsgi.file_wrapper'](file, 8192), got block sizes {block_sizes!r}"
    content_type = called.header("Content-Type")
    assert content_type == "application/octet-stream", (
        f"expected make_file_app(path) to default to Content-Type 'application/octet-stream', got {content_type!r}"
    )
    assert called.body == data_file.read_bytes(), "expected the body to be the file's bytes"


@pytest.mark.spec("PEP 3333 §Handling the Content-Length Header (the file as it is now)")
def test_file_app_opens_the_file_on_every_request(data_file: Path) -> None:
    app = wsgi_spec.make_file_app(data_file)
    first = call(app, make_environ())
    assert first.body == data_file.read_bytes(), "expected the first response to carry the file's bytes"
    data_file.write_bytes(b"a new, shorter file\n")
    second = call(app, make_environ())
    assert (second.header("Content-Length"), second.body) == ("20", b"a new, shorter file\n"), (
        f"after the file changed, expected 'Content-Length: 20' and its new bytes, got "
        f"{second.header('Content-Length')!r} and {second.body[:40]!r}: open the file (and measure it) on every "
        "request, not once in make_file_app, whose file the first request's close() has closed"
    )


@pytest.mark.spec("PEP 3333 §Specification Details (close())")
@pytest.mark.parametrize("file_wrapper", [True, False], ids=["server-wrapper", "FileIterable"])
def test_file_app_closes_the_file_when_the_client_leaves(data_file: Path, file_wrapper: bool) -> None:
    served = serve(wsgi_spec.make_file_app(data_file), file_wrapper=file_wrapper, leave_after=1)
    served.no_errors()
    assert served.result is not None and hasattr(served.result, "filelike"), (
        f"expected the body to be a file wrapper with a filelike attribute, got {served.result!r}"
    )
    assert served.result.filelike.closed, "expected the file to be closed after the client went away mid-download"


@pytest.mark.spec("PEP 3333 §The start_response() Callable; §Error Handling")
def test_file_app_lets_a_start_response_error_propagate(data_file: Path) -> None:
    # The validator's start_response rejects a header value with a line break (header injection).
    app = wsgi_spec.make_file_app(data_file, "text/plain\r\nX-Injected: yes")
    gc.collect()  # older garbage first: the warnings recorded below are this call's own
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            call(app, make_environ())
        except AssertionError as exc:
            message = str(exc)
        else:
            pytest.fail("expected the error that start_response raised to propagate out of the app, the app returned a body")
        gc.collect()  # the error is gone: a file nobody closed warns when it is collected
    assert "Bad header value" in message, (
        f"expected start_response's own error ('Bad header value ...') to propagate out of the app, got {message}: "
        "an app that swallows it returns a body with no status set (clean up if you must, then re-raise)"
    )
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning) and str(data_file) in str(w.message)]
    assert not leaked, (
        f"expected the file to be closed when start_response raised, got {leaked[0]!r}: there is no body for "
        "the server to close(), so the app must close the file itself before the error goes up"
    )


# ------------------------------------------------------------------------------------------ errors


def produce_from(body: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda environ: body


def produce_fails(environ: dict[str, Any]) -> Any:
    raise ProduceError("failed before producing anything")


@pytest.mark.spec("PEP 3333 §The start_response() Callable")
def test_guarded_app_streams_what_produce_yields() -> None:
    chunks = TrackedChunks([b"all ", b"good"])
    called = call(wsgi_spec.make_guarded_app(produce_from(chunks)), make_environ())
    assert len(called.calls) == 1 and called.status == "200 OK", f"expected one start_response('200 OK', ...), got {called.calls!r}"
    assert called.header("Content-Type") == TEXT_PLAIN, f"expected Content-Type {TEXT_PLAIN!r}, got {called.header('Content-Type')!r}"
    assert called.body == b"all good", f"expected the body b'all good', got {called.body!r}"


@pytest.mark.spec("PEP 3333 §The start_response() Callable")
def test_guarded_app_hands_produce_the_request() -> None:
    produce = lambda environ: [environ["PATH_INFO"].encode("latin-1"), b"?", environ["QUERY_STRING"].encode("latin-1")]  # noqa: E731
    called = call(wsgi_spec.make_guarded_app(produce), make_environ(path="/who", query="me=1"))
    assert called.body == b"/who?me=1", (
        f"expected the body b'/who?me=1' from a produce that echoes PATH_INFO and QUERY_STRING, got {called.body!r}: "
        "call produce(environ) with the request's own environ"
    )


@pytest.mark.spec("PEP 3333 §Specification Details (close() only when the iterable has one)")
@pytest.mark.parametrize(
    "make_body",
    [lambda: [b"a ", b"list"], lambda: (chunk for chunk in [b"a ", b"list"]), lambda: (b"a ", b"list")],
    ids=["list", "generator", "tuple"],
)
def test_guarded_app_takes_any_iterable(make_body: Callable[[], Any]) -> None:
    called = call(wsgi_spec.make_guarded_app(produce_from(make_body())), make_environ())
    assert [call[0] for call in called.calls] == ["200 OK"], (
        f"expected one start_response('200 OK', ...), got the statuses {[call[0] for call in called.calls]!r}: "
        "a list or a tuple has no close(), so call close() only when the iterable has one"
    )
    assert called.body == b"a list", f"expected the body b'a list', got {called.body!r}"


class Abort(BaseException):
    """Not an ``Exception`` (like KeyboardInterrupt or SystemExit): no app may turn it into a 500."""


@pytest.mark.spec("PEP 3333 §Error Handling (catch Exception, not BaseException)")
def test_guarded_app_lets_what_is_not_an_exception_through() -> None:
    def produce_aborts(environ: dict[str, Any]) -> Any:
        raise Abort("the process is stopping")

    calls: list[str] = []
    app = wsgi_spec.make_guarded_app(produce_aborts)
    body: Any = None
    with pytest.raises(Abort):  # from the call or from the first next(): both are fine for a server
        try:
            body = app(make_environ(), lambda status, headers, exc_info=None: calls.append(status))
            list(body)
        finally:
            getattr(body, "close", lambda: None)()
    assert all(status == "200 OK" for status in calls), (
        f"expected no start_response but '200 OK' before a BaseException (KeyboardInterrupt, SystemExit) went up, "
        f"got the statuses {calls!r}: catch Exception, so that Ctrl-C still stops the server"
    )


@pytest.mark.spec("PEP 3333 §Error Handling")
def test_guarded_app_passes_exc_info_on_an_early_error() -> None:
    called = call(wsgi_spec.make_guarded_app(produce_fails), make_environ())
    assert len(called.calls) == 2, f"expected start_response twice (200, then 500 with exc_info), got {len(called.calls)} calls"
    status, headers, exc_info = called.calls[1]
    assert status == "500 Internal Server Error", f"expected the second status '500 Internal Server Error', got {status!r}"
    assert headers == [("Content-Type", TEXT_PLAIN)], (
        f"expected the 500's headers [('Content-Type', {TEXT_PLAIN!r})] (they replace the 200's), got {headers!r}"
    )
    assert isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], ProduceError), (
        f"expected exc_info to be sys.exc_info() for the error produce raised, got {exc_info!r}"
    )
    assert called.body == b"Internal Server Error", f"expected the body b'Internal Server Error', got {called.body!r}"


@pytest.mark.spec("PEP 3333 §Error Handling; §The start_response() Callable")
@pytest.mark.parametrize(
    "make_produce",
    [lambda: produce_fails, lambda: produce_from(TrackedChunks([b"never sent"], fail_at=0))],
    ids=["produce-raises", "first-chunk-raises"],
)
def test_guarded_app_turns_an_early_error_into_a_500(make_produce: Callable[[], Any]) -> None:
    served = serve(wsgi_spec.make_guarded_app(make_produce()))
    served.no_errors()
    assert served.status == "500 Internal Server Error", f"expected status '500 Internal Server Error' on the wire, got {served.status!r}"
    assert served.body == b"Internal Server Error", f"expected the body b'Internal Server Error', got {served.body!r}"


@pytest.mark.spec("PEP 3333 §Error Handling (exc_info after the headers were sent)")
def test_guarded_app_lets_a_late_error_propagate() -> None:
    served = serve(wsgi_spec.make_guarded_app(produce_from(TrackedChunks([b"partial "], fail_at=1))))
    assert served.status == "200 OK", f"expected the 200 that was already sent, got {served.status!r}"
    assert served.body == b"partial ", (
        f"expected only b'partial ' on the wire, got {served.body!r}: once the headers are sent, the response cannot "
        "become an error page; start_response(..., exc_info) re-raises and the error must propagate"
    )
    assert len(served.logged) == 1 and isinstance(served.logged[0], ProduceError), (
        f"expected the server to log the ProduceError itself, it logged {served.logged!r}"
        + (explain(served.logged[0]) if served.logged else ": did the app swallow the error?")
    )


@pytest.mark.spec("PEP 3333 §Specification Details (close()); §Middleware (pass close() on)")
@pytest.mark.parametrize(
    ("make_chunks", "leave_after"),
    [
        (lambda: TrackedChunks([b"all ", b"good"]), None),
        (lambda: TrackedChunks([b"never sent"], fail_at=0), None),
        (lambda: TrackedChunks([b"partial "], fail_at=1), None),
        (lambda: TrackedChunks([b"one ", b"two ", b"three"]), 1),
    ],
    ids=["read-to-the-end", "early-error", "late-error", "client-leaves"],
)
def test_guarded_app_closes_what_produce_returned(make_chunks: Callable[[], TrackedChunks], leave_after: int | None) -> None:
    chunks = make_chunks()
    serve(wsgi_spec.make_guarded_app(produce_from(chunks)), leave_after=leave_after)
    assert chunks.close_calls == 1, (
        f"expected close() on the iterable produce returned exactly once, got {chunks.close_calls} calls: "
        "call it in a finally around the loop (only a generator is closed for you when it is garbage)"
    )
