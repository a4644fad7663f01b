"""Exercise 09 is graded in-process: every layer sits between two ``wsgiref.validate.validator``s.

``validator(Middleware(validator(app)))``: the outer validator checks that your middleware behaves as
a WSGI *application* towards the server; the inner one checks that it behaves as a WSGI *server*
towards the app (a valid environ, a proper ``start_response``, ``close()`` passed on). Requests come
from httpx's ``WSGITransport`` (which drops ``write()`` data: those cases use a direct environ from
``wsgiref.util.setup_testing_defaults`` and a strict ``start_response`` of our own).
"""

from __future__ import annotations

import base64
import io
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import httpx
import pytest

from testkit.serving import CLIENT_TIMEOUT
from wsgi_middleware import (
    BasicAuthMiddleware,
    CORSMiddleware,
    LoggingMiddleware,
    RequestIDMiddleware,
    TimingMiddleware,
    build_middleware_stack,
)

# Any WSGIWarning from the validator (a status without a reason phrase, an odd environ) fails the test.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

ORIGIN = "https://app.example"
LOG_LINE = re.compile(r"(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+(?:\.\d+)?)ms")


# --------------------------------------------------------------------------------------------
# Helpers: probe apps, a strict start_response, an iterable that counts and tracks close().
# --------------------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Probe:
    """A plain app: ``200 OK`` text/plain ``hello``; remembers every environ it was called with."""

    def __init__(self, status: str = "200 OK", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.headers = headers or []
        self.environs: list[dict] = []

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self.environs.append(dict(environ))
        start_response(self.status, [("Content-Type", "text/plain"), ("Content-Length", "5"), *self.headers])
        return [b"hello"]

    @property
    def calls(self) -> int:
        return len(self.environs)


class TrackedBody:
    """The body of a streaming app: counts the chunks it has produced and the calls to close()."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.produced = 0
        self.closed = 0

    def __iter__(self) -> TrackedBody:
        return self

    def __next__(self) -> bytes:
        if self.produced >= len(self.chunks):
            raise StopIteration
        self.produced += 1
        return self.chunks[self.produced - 1]

    def close(self) -> None:
        self.closed += 1


class StreamingApp:
    def __init__(self) -> None:
        self.body = TrackedBody([b"one ", b"two ", b"three"])

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self.body


def make_environ(method: str = "GET", path: str = "/", query: str = "", headers: dict[str, str] | None = None) -> dict:
    environ: dict = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    return environ


@dataclass
class Answer:
    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    written: list[bytes] = field(default_factory=list)


def drive(app: Callable, environ: dict) -> Answer:
    """Be a strict server: validator around ``app``, start_response checked, body read, close() called."""
    answer = Answer()

    def start_response(status, headers, exc_info=None):
        if answer.status and exc_info is None:
            raise AssertionError(
                "start_response was called a second time without exc_info, which PEP 3333 forbids: "
                "does your start_response pass exc_info on to the server's?"
            )
        answer.status, answer.headers = status, list(headers)
        return answer.written.append

    iterable = validator(app)(environ, start_response)
    try:
        answer.body = b"".join(iterable)
    finally:
        iterable.close()
    return answer


def header_values(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


def tokens(values: Iterable[str]) -> set[str]:
    return {t.strip().lower() for v in values for t in v.split(",") if t.strip()}


def client(app: Callable) -> httpx.Client:
    """httpx talking to ``validator(app)`` in-process."""
    transport = httpx.WSGITransport(app=validator(app))
    return httpx.Client(transport=transport, base_url="http://testserver", timeout=CLIENT_TIMEOUT)


def get(app: Callable, path: str = "/", **kwargs) -> httpx.Response:
    with client(app) as c:
        return c.get(path, **kwargs)


# --------------------------------------------------------------------------------------------
# RequestIDMiddleware
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §environ Variables (extra keys), §The start_response() Callable")
def test_request_id_is_generated_and_shared_with_the_app() -> None:
    probe = Probe()
    response = get(RequestIDMiddleware(validator(probe)))
    ids = header_values(response.headers.multi_items(), "X-Request-ID")
    assert len(ids) == 1 and ids[0], f"expected one non-empty X-Request-ID response header, got {ids!r}"
    seen = probe.environs[0].get("request_id") if probe.calls else None
    assert seen == ids[0], (
        f"expected the app to find the same id in environ['request_id'], got {seen!r} (header {ids[0]!r})"
    )


@pytest.mark.spec("PEP 3333 §environ Variables")
def test_request_ids_are_unique() -> None:
    app = RequestIDMiddleware(validator(Probe()))
    with client(app) as c:
        ids = [c.get("/").headers.get("X-Request-ID") for _ in range(20)]
    assert None not in ids and len(set(ids)) == 20, f"expected 20 different ids for 20 requests, got {ids!r}"


@pytest.mark.spec("PEP 3333 §environ Variables (HTTP_ variables)")
def test_request_id_from_the_client_is_kept() -> None:
    probe = Probe()
    response = get(RequestIDMiddleware(validator(probe)), headers={"X-Request-ID": "trace-42.a:b_c"})
    assert response.headers.get("X-Request-ID") == "trace-42.a:b_c", (
        f"expected the client's X-Request-ID 'trace-42.a:b_c' back, got {response.headers.get('X-Request-ID')!r}"
    )
    assert probe.environs[0].get("request_id") == "trace-42.a:b_c", (
        f"expected environ['request_id'] == 'trace-42.a:b_c', got {probe.environs[0].get('request_id')!r}"
    )


@pytest.mark.spec("PEP 3333 §environ Variables")
@pytest.mark.parametrize("unsafe", ["x" * 200, "has space", "quote\"d", ""], ids=["too-long", "space", "quote", "empty"])
def test_unsafe_request_id_is_replaced(unsafe: str) -> None:
    response = get(RequestIDMiddleware(validator(Probe())), headers={"X-Request-ID": unsafe})
    got = response.headers.get("X-Request-ID")
    assert got and got != unsafe, (
        f"expected a freshly generated id instead of the unsafe {unsafe[:40]!r}, got {got!r}: keep an incoming "
        "id only when it is 1-128 characters of letters, digits and ._:-"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable")
def test_request_id_header_appears_once() -> None:
    probe = Probe(headers=[("X-Request-ID", "made-by-the-app")])
    response = get(RequestIDMiddleware(validator(probe)), headers={"X-Request-ID": "abc"})
    ids = header_values(response.headers.multi_items(), "X-Request-ID")
    assert ids == ["abc"], f"expected exactly one X-Request-ID header, 'abc', got {ids!r}: replace the app's one"


@pytest.mark.spec("RFC 9110 §5.1 (field names are case-insensitive)")
@pytest.mark.parametrize("app_name", ["x-request-id", "X-REQUEST-ID"])
def test_request_id_replaces_the_apps_header_in_any_case(app_name: str) -> None:
    probe = Probe(headers=[(app_name, "made-by-the-app")])
    answer = drive(RequestIDMiddleware(validator(probe)), make_environ(headers={"X-Request-ID": "abc"}))
    ids = header_values(answer.headers, "X-Request-ID")
    assert ids == ["abc"], (
        f"the app sent '{app_name}: made-by-the-app'; expected exactly one X-Request-ID, 'abc', got {ids!r}: "
        "header names are case-insensitive (RFC 9110 §5.1), compare them lower-cased"
    )


@pytest.mark.spec("(the stub's rule: an incoming id of 1-128 characters is kept)")
@pytest.mark.parametrize("length, kept", [(1, True), (128, True), (129, False)], ids=["1", "128", "129"])
def test_request_id_length_limit(length: int, kept: bool) -> None:
    incoming = "a" * length
    got = get(RequestIDMiddleware(validator(Probe())), headers={"X-Request-ID": incoming}).headers.get("X-Request-ID")
    assert (got == incoming) is kept, (
        f"an incoming X-Request-ID of {length} characters should be {'kept' if kept else 'replaced'} "
        f"(1-128 are kept), got {'it back' if got == incoming else repr(got)}"
    )


# --------------------------------------------------------------------------------------------
# TimingMiddleware
# --------------------------------------------------------------------------------------------


def server_timing(response: httpx.Response) -> dict[str, float]:
    metrics = {}
    for value in header_values(response.headers.multi_items(), "Server-Timing"):
        for entry in value.split(","):
            name, *params = [p.strip() for p in entry.split(";")]
            for param in params:
                key, _, number = param.partition("=")
                if key == "dur":
                    metrics[name] = float(number)
    return metrics


@pytest.mark.spec("W3C Server Timing §3 (The Server-Timing header field)")
def test_timing_header_measures_the_app() -> None:
    def slow(environ, start_response):
        time.sleep(0.1)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slow"]

    response = get(TimingMiddleware(validator(slow)))
    raw = header_values(response.headers.multi_items(), "Server-Timing")
    try:
        metrics = server_timing(response)
    except ValueError:
        pytest.fail(f"expected a header like 'Server-Timing: app;dur=123.4', got {raw!r}")
    assert "app" in metrics, f"expected a header like 'Server-Timing: app;dur=123.4', got {raw!r}"
    assert 95 <= metrics["app"] < 60_000, (
        f"the app slept 100 ms before start_response, but Server-Timing says app;dur={metrics['app']} "
        "(milliseconds, measured from the call to start_response)"
    )


@pytest.mark.spec("W3C Server Timing §3 (several metrics, several headers)")
def test_timing_keeps_the_app_metrics() -> None:
    probe = Probe(headers=[("Server-Timing", "db;dur=12")])
    metrics = server_timing(get(TimingMiddleware(validator(probe))))
    assert set(metrics) >= {"db", "app"}, f"expected both the app's 'db' metric and your 'app' one, got {metrics!r}"


# --------------------------------------------------------------------------------------------
# LoggingMiddleware
# --------------------------------------------------------------------------------------------


def log_lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def only_line(stream: io.StringIO) -> re.Match[str]:
    lines = log_lines(stream)
    assert len(lines) == 1, f"expected exactly one log line for one request, got {lines!r}"
    match = LOG_LINE.fullmatch(lines[0])
    assert match, f"expected a line like 'GET /items/7?verbose=1 200 3.1ms', got {lines[0]!r}"
    return match


@pytest.mark.spec("PEP 3333 §environ Variables (REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING)")
def test_logs_one_line_per_request() -> None:
    stream = io.StringIO()
    response = get(LoggingMiddleware(validator(Probe("404 Not Found")), stream=stream), "/items/7?verbose=1")
    assert response.status_code == 404, f"expected the app's 404 to pass through, got {response.status_code}"
    match = only_line(stream)
    got = (match["method"], match["path"], match["status"])
    assert got == ("GET", "/items/7?verbose=1", "404"), f"expected GET /items/7?verbose=1 404, got {' '.join(got)}"


@pytest.mark.spec("PEP 3333 §The start_response() Callable (called from the iterable)")
def test_logs_the_status_of_a_generator_app() -> None:
    def lazy(environ, start_response):
        # A generator: none of this runs until the server asks for the first chunk.
        start_response("201 Created", [("Content-Type", "text/plain")])
        yield b"made"

    stream = io.StringIO()
    response = get(LoggingMiddleware(validator(lazy), stream=stream))
    assert response.status_code == 201, f"expected 201 to pass through, got {response.status_code}"
    status = only_line(stream)["status"]
    assert status == "201", (
        f"expected status 201 in the log line, got {status}: a generator app calls start_response only when "
        "its body is iterated, so log in close(), not when the app returns"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable (exc_info replaces the status)")
def test_logs_the_status_that_replaced_the_first() -> None:
    def fails_after_start(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("something broke before the body")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]

    stream = io.StringIO()
    drive(LoggingMiddleware(validator(fails_after_start), stream=stream), make_environ())
    status = only_line(stream)["status"]
    assert status == "500", (
        f"the app called start_response('200 OK') and then, with exc_info, '500 Internal Server Error'; "
        f"expected 500 in the log line (the status the client got), got {status}"
    )


@pytest.mark.spec("PEP 3333 §Specification Details (close() ends the request)")
def test_logs_the_duration_of_a_streamed_body() -> None:
    def slow_stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        time.sleep(0.15)
        yield b"second"

    stream = io.StringIO()
    get(LoggingMiddleware(validator(slow_stream), stream=stream))
    ms = float(only_line(stream)["ms"])
    assert 140 <= ms < 60_000, (
        f"the body took 150 ms to stream but the log says {ms} ms: measure in milliseconds, from the call "
        "until close(), when the response is done"
    )


@pytest.mark.spec("PEP 3333 §environ Variables (wsgi.errors; SCRIPT_NAME + PATH_INFO is the path)")
def test_logs_to_wsgi_errors_by_default() -> None:
    environ = make_environ(path="/default")
    environ["SCRIPT_NAME"] = "/api"  # the app is mounted under /api
    errors = io.StringIO()
    environ["wsgi.errors"] = errors
    drive(LoggingMiddleware(validator(Probe())), environ)
    lines = log_lines(errors)
    assert len(lines) == 1 and LOG_LINE.fullmatch(lines[0]), (
        f"expected one log line in environ['wsgi.errors'] when no stream is given, got {lines!r}"
    )
    path = LOG_LINE.fullmatch(lines[0])["path"]
    assert path == "/api/default", (
        f"expected the path '/api/default' (SCRIPT_NAME + PATH_INFO, and no '?' without a query), got {path!r}"
    )


@pytest.mark.spec("PEP 3333 §Error Handling")
def test_logs_500_when_the_app_raises() -> None:
    def broken(environ, start_response):
        raise RuntimeError("the app is broken")

    stream = io.StringIO()
    app = validator(LoggingMiddleware(validator(broken), stream=stream))
    with pytest.raises(RuntimeError, match="the app is broken"):
        app(make_environ(path="/broken"), lambda *a: None)
    match = only_line(stream)
    assert (match["path"], match["status"]) == ("/broken", "500"), (
        f"expected '/broken 500' in the log line for an app that raised, got {match[0]!r} (log, then re-raise)"
    )


# --------------------------------------------------------------------------------------------
# BasicAuthMiddleware
# --------------------------------------------------------------------------------------------


def remote_user_app(environ, start_response):
    body = environ.get("REMOTE_USER", "<none>").encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.spec("RFC 7617 §2, RFC 9110 §15.5.2 (401) and §11.6.1 (WWW-Authenticate)")
def test_basic_auth_asks_for_credentials() -> None:
    probe = Probe()
    response = get(BasicAuthMiddleware(validator(probe), users={"ada": "lovelace"}, realm="katas"))
    assert response.status_code == 401, f"expected 401 without an Authorization header, got {response.status_code}"
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.lower().startswith("basic ") and 'realm="katas"' in challenge, (
        f"expected 'WWW-Authenticate: Basic realm=\"katas\"', got {challenge!r}"
    )
    assert probe.calls == 0, "the app was called for a request without credentials: answer 401 yourself"
    content_type = response.headers.get("Content-Type", "")
    assert content_type.startswith("text/plain"), f"expected the 401 to have a text/plain body, got Content-Type {content_type!r}"
    length = response.headers.get("Content-Length")
    assert length == str(len(response.content)), (
        f"expected 'Content-Length: {len(response.content)}' (the 401 body's length in bytes), got {length!r}"
    )


@pytest.mark.spec("RFC 9110 §9.3.2 (no content in an answer to HEAD), §15.5.2 (401)")
def test_basic_auth_401_to_head_has_no_body() -> None:
    probe = Probe()
    answer = drive(BasicAuthMiddleware(validator(probe), users={"ada": "lovelace"}), make_environ(method="HEAD"))
    assert answer.status.startswith("401") and probe.calls == 0, (
        f"expected 401 without calling the app for a HEAD without credentials, got {answer.status!r}"
    )
    assert header_values(answer.headers, "WWW-Authenticate"), "expected the WWW-Authenticate challenge on the HEAD's 401 too"
    assert answer.body == b"", (
        f"expected no body in the 401 answer to HEAD, got {answer.body!r}: RFC 9110 §9.3.2 forbids content in any "
        "answer to HEAD (keep the headers, Content-Length included, and send no body)"
    )


@pytest.mark.spec("RFC 7617 §2, PEP 3333 §environ Variables (REMOTE_USER)")
def test_basic_auth_lets_a_valid_user_in() -> None:
    app = BasicAuthMiddleware(validator(remote_user_app), users={"ada": "lovelace", "alan": "turing"}, realm="katas")
    response = get(app, auth=("alan", "turing"))
    assert response.status_code == 200, f"expected 200 for valid credentials, got {response.status_code}"
    assert response.text == "alan", f"expected the app to see REMOTE_USER='alan', got {response.text!r}"


@pytest.mark.spec("RFC 7617 §2")
@pytest.mark.parametrize("user, password", [("ada", "wrong"), ("nobody", "lovelace"), ("ada", "")])
def test_basic_auth_refuses_bad_credentials(user: str, password: str) -> None:
    probe = Probe()
    response = get(BasicAuthMiddleware(validator(probe), users={"ada": "lovelace"}), auth=(user, password))
    assert response.status_code == 401, f"expected 401 for user {user!r} password {password!r}, got {response.status_code}"
    assert probe.calls == 0, "the app was called although the credentials were wrong"
    challenge = response.headers.get("WWW-Authenticate", "")
    assert 'realm="Restricted"' in challenge, (
        f"expected the default realm of the stub's signature, 'Basic realm=\"Restricted\"', got {challenge!r}"
    )


@pytest.mark.spec("RFC 7617 §2, RFC 9110 §11.4 (Authorization)")
@pytest.mark.parametrize(
    "authorization",
    ["Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer abc", "Basic",
     "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Basic YWRh!" + base64.b64encode(b"ada:lovelace").decode()[4:]],
    ids=["bad-base64", "no-colon", "other-scheme", "no-credentials", "not-utf8", "valid-base64-with-a-stray-character"],
)
def test_basic_auth_survives_malformed_headers(authorization: str) -> None:
    probe = Probe()
    app = BasicAuthMiddleware(validator(probe), users={"ada": "lovelace"})
    try:
        response = get(app, headers={"Authorization": authorization})
    except Exception as exc:
        pytest.fail(f"Authorization: {authorization!r} made the middleware raise {exc!r}: answer 401 instead")
    assert response.status_code == 401, f"expected 401 for Authorization: {authorization!r}, got {response.status_code}"


@pytest.mark.spec("RFC 9110 §11.1 (scheme is case-insensitive), RFC 7617 §2 (split at the first colon)")
def test_basic_auth_lowercase_scheme_and_colon_in_password() -> None:
    app = BasicAuthMiddleware(validator(remote_user_app), users={"ada": "love:lace"})
    credentials = base64.b64encode(b"ada:love:lace").decode()
    response = get(app, headers={"Authorization": "basic " + credentials})
    assert response.status_code == 200, (
        f"expected 200 for 'basic ...' with password 'love:lace', got {response.status_code}: the scheme name is "
        "case-insensitive and only the first ':' separates user and password"
    )


@pytest.mark.spec("RFC 7617 §2.1 (UTF-8)")
def test_basic_auth_decodes_utf8() -> None:
    app = BasicAuthMiddleware(validator(Probe()), users={"zoë": "pässwörd"})
    response = get(app, auth=("zoë", "pässwörd"))  # httpx encodes the pair as UTF-8
    assert response.status_code == 200, (
        f"expected 200 for user 'zoë' with password 'pässwörd', got {response.status_code}: decode the base64 "
        "bytes as UTF-8 (RFC 7617 §2.1)"
    )


@pytest.mark.spec("PEP 3333 §Unicode Issues (native strings), §environ Variables (REMOTE_USER); RFC 7617 §2.1")
@pytest.mark.parametrize("user", [pytest.param("zoë", id="latin-letter"), pytest.param("李雷", id="beyond-latin-1")])
def test_basic_auth_remote_user_is_a_native_string(user: str) -> None:
    probe = Probe()
    authorization = basic(user, "s3cret")  # the pair's UTF-8 bytes in base64 (RFC 7617 §2.1), as httpx and curl send it
    answer = drive(
        BasicAuthMiddleware(validator(probe), users={user: "s3cret"}), make_environ(headers={"Authorization": authorization})
    )
    assert answer.status.startswith("200") and probe.calls == 1, (
        f"expected user {user!r} with the right password let through, got {answer.status!r}: decode the base64 "
        "bytes as UTF-8 (RFC 7617 §2.1)"
    )
    got = probe.environs[0].get("REMOTE_USER")
    expected = user.encode("utf-8").decode("latin-1")
    assert got == expected, (
        f"sent Authorization: {authorization} (user {user!r}, UTF-8 bytes {user.encode()!r}); expected REMOTE_USER "
        f"{expected!r}, got {got!r}. An environ value is a native string, bytes in a str one latin-1 code point "
        "each (PEP 3333 §Unicode Issues), like every header a server puts there: the name's UTF-8 bytes decoded "
        "as latin-1, which the app turns back with .encode('latin-1').decode('utf-8')"
    )


# --------------------------------------------------------------------------------------------
# CORSMiddleware
# --------------------------------------------------------------------------------------------


def cors(app: Callable, **options) -> CORSMiddleware:
    options.setdefault("allow_origins", [ORIGIN])
    return CORSMiddleware(validator(app), **options)


def preflight_headers(method: str = "PUT", headers: str | None = None, origin: str = ORIGIN) -> dict[str, str]:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return sent


@pytest.mark.spec("Fetch §3.2.1 (a CORS request carries Origin)")
def test_cors_leaves_same_origin_requests_alone() -> None:
    probe = Probe()
    response = get(cors(probe))
    assert response.status_code == 200 and response.content == b"hello", "expected the app's answer untouched"
    added = [k for k in response.headers if k.lower().startswith("access-control-")]
    assert not added, f"expected no Access-Control-* header without an Origin, got {added!r}"


@pytest.mark.spec("Fetch §3.2.3 (Access-Control-Allow-Origin), RFC 9110 §12.5.5 (Vary)")
def test_cors_allows_a_listed_origin() -> None:
    response = get(cors(Probe()), headers={"Origin": ORIGIN})
    assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN, (
        f"expected Access-Control-Allow-Origin: {ORIGIN}, got {response.headers.get('Access-Control-Allow-Origin')!r}"
    )
    vary = tokens(header_values(response.headers.multi_items(), "Vary"))
    assert "origin" in vary, f"expected 'Origin' in Vary (the answer depends on it), got {sorted(vary)}"


@pytest.mark.spec("Fetch §3.2.3 (one Access-Control-Allow-Origin: a single origin, or *); RFC 9110 §5.1")
@pytest.mark.parametrize("app_name", ["Access-Control-Allow-Origin", "access-control-allow-origin"])
def test_cors_allow_origin_appears_once(app_name: str) -> None:
    response = get(cors(Probe(headers=[(app_name, "https://other.example")])), headers={"Origin": ORIGIN})
    values = header_values(response.headers.multi_items(), "Access-Control-Allow-Origin")
    assert values == [ORIGIN], (
        f"expected exactly one Access-Control-Allow-Origin, {ORIGIN!r}, when the app had set its own, got {values!r}: "
        "a browser refuses a response whose Access-Control-Allow-Origin is not a single origin"
    )


@pytest.mark.spec("Fetch §3.2.3 (Access-Control-Allow-Origin: *)")
def test_cors_wildcard_origin() -> None:
    response = get(cors(Probe(), allow_origins=["*"]), headers={"Origin": "https://anyone.example"})
    assert response.headers.get("Access-Control-Allow-Origin") == "*", (
        f"expected Access-Control-Allow-Origin: * when every origin is allowed, got {response.headers.get('Access-Control-Allow-Origin')!r}"
    )


@pytest.mark.spec("Fetch §3.2.5 (the CORS check happens in the browser)")
def test_cors_refused_origin_gets_no_header() -> None:
    probe = Probe()
    response = get(cors(probe), headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers, (
        f"expected no Access-Control-Allow-Origin for an origin not in the list, got {response.headers.get('Access-Control-Allow-Origin')!r}"
    )
    assert probe.calls == 1 and response.status_code == 200, "expected the app to answer as usual"


@pytest.mark.spec("RFC 9110 §12.5.5 (Vary is a list)")
@pytest.mark.parametrize("app_vary", ["Accept-Encoding", "Accept-Encoding, Origin"], ids=["without-origin", "with-origin"])
def test_cors_keeps_the_app_vary(app_vary: str) -> None:
    response = get(cors(Probe(headers=[("Vary", app_vary)])), headers={"Origin": ORIGIN})
    assert response.status_code == 200, f"expected the app's 200 with the app's 'Vary: {app_vary}', got {response.status_code}"
    vary = tokens(header_values(response.headers.multi_items(), "Vary"))
    assert vary == {"accept-encoding", "origin"}, (
        f"expected Vary to list Accept-Encoding and Origin (the app sent 'Vary: {app_vary}'), got {sorted(vary)}"
    )


@pytest.mark.spec("Fetch §3.2.2 (CORS-preflight request), §3.2.3 (its response)")
def test_cors_answers_a_preflight() -> None:
    probe = Probe()
    app = cors(probe, allow_methods=["GET", "PUT"], allow_headers=["X-Token", "Content-Type"], max_age=321)
    with client(app) as c:
        response = c.options("/items/1", headers=preflight_headers("PUT", "x-token, content-type"))
    assert probe.calls == 0, "the app was called for a preflight: answer it in the middleware"
    assert 200 <= response.status_code < 300, f"expected a 2xx (204) answer to an allowed preflight, got {response.status_code}"
    h = response.headers
    assert h.get("Access-Control-Allow-Origin") == ORIGIN, f"expected Access-Control-Allow-Origin: {ORIGIN}, got {h.get('Access-Control-Allow-Origin')!r}"
    methods = tokens([h.get("Access-Control-Allow-Methods", "")])
    assert "put" in methods and methods <= {"get", "put"}, (
        f"expected PUT in Access-Control-Allow-Methods, a comma-separated list of the allowed GET and PUT, "
        f"got {h.get('Access-Control-Allow-Methods')!r}"
    )
    allowed = tokens([h.get("Access-Control-Allow-Headers", "")])
    assert {"x-token", "content-type"} <= allowed, (
        f"expected x-token and content-type in Access-Control-Allow-Headers, got {h.get('Access-Control-Allow-Headers')!r}"
    )
    assert h.get("Access-Control-Max-Age") == "321", f"expected Access-Control-Max-Age: 321, got {h.get('Access-Control-Max-Age')!r}"
    assert "origin" in tokens(header_values(h.multi_items(), "Vary")), "expected Vary: Origin on the preflight answer"


@pytest.mark.spec("Fetch §3.2.3 (a preflight that fails)")
@pytest.mark.parametrize(
    "sent",
    [
        preflight_headers("DELETE"),
        preflight_headers("PUT", "x-token, x-secret"),
        preflight_headers("PUT", origin="https://evil.example"),
    ],
    ids=["method-not-allowed", "header-not-allowed", "origin-not-allowed"],
)
def test_cors_refuses_a_preflight(sent: dict[str, str]) -> None:
    probe = Probe()
    app = cors(probe, allow_methods=["GET", "PUT"], allow_headers=["X-Token"])
    with client(app) as c:
        response = c.options("/items/1", headers=sent)
    assert probe.calls == 0, "the app was called for a preflight: answer it in the middleware"
    assert response.status_code == 400, f"expected 400 for a preflight asking for what is not allowed, got {response.status_code}"
    added = [k for k in response.headers if k.lower().startswith("access-control-")]
    assert not added, f"expected no Access-Control-* header on a refused preflight, got {added!r}"
    content_type = response.headers.get("Content-Type", "")
    assert response.content and content_type.startswith("text/plain"), (
        f"expected a short text/plain body with the 400, got Content-Type {content_type!r} and {response.content[:60]!r}"
    )


@pytest.mark.spec("Fetch §3.2.2, §3.2.3; the defaults of the stub's CORSMiddleware signature")
def test_cors_defaults() -> None:
    probe = Probe()
    app = CORSMiddleware(validator(probe))  # allow_origins ("*",), allow_methods GET HEAD POST, max_age 600
    with client(app) as c:
        allowed = c.options("/", headers=preflight_headers("POST", origin="https://anyone.example"))
        refused = c.options("/", headers=preflight_headers("PUT", origin="https://anyone.example"))
    h = allowed.headers
    got = (allowed.status_code, h.get("Access-Control-Allow-Origin"), tokens([h.get("Access-Control-Allow-Methods", "")]),
           h.get("Access-Control-Max-Age"))
    expected = (204, "*", {"get", "head", "post"}, "600")
    assert got == expected, (
        f"expected the defaults (every origin, GET/HEAD/POST, 600 s) to answer a POST preflight with "
        f"(status, Allow-Origin, Allow-Methods, Max-Age) = {expected!r}, got {got!r}"
    )
    assert refused.status_code == 400, f"expected a PUT preflight refused by the default methods, got {refused.status_code}"
    assert probe.calls == 0, "the app was called for a preflight: answer it in the middleware"


@pytest.mark.spec("Fetch §3.2.2 (a preflight has Access-Control-Request-Method)")
def test_cors_plain_options_reaches_the_app() -> None:
    probe = Probe()
    with client(cors(probe)) as c:
        c.options("/", headers={"Origin": ORIGIN})
    assert probe.calls == 1, "an OPTIONS request without Access-Control-Request-Method is not a preflight: call the app"


# --------------------------------------------------------------------------------------------
# build_middleware_stack
# --------------------------------------------------------------------------------------------


class Recorder:
    """A middleware that writes down when the request, the response and close() pass through it."""

    def __init__(self, name: str, log: list[str], app: Callable) -> None:
        self.name, self.log, self.app = name, log, app

    def __call__(self, environ, start_response):
        self.log.append(f"request {self.name}")

        def recording_start_response(status, headers, exc_info=None):
            self.log.append(f"response {self.name}")
            return start_response(status, [*headers, ("X-Layer", self.name)], exc_info)

        body = self.app(environ, recording_start_response)
        return RecordingClose(body, lambda: self.log.append(f"close {self.name}"))


class RecordingClose:
    def __init__(self, body, on_close):
        self.body, self.on_close = body, on_close

    def __iter__(self):
        return iter(self.body)

    def close(self):
        self.on_close()
        self.body.close()


@pytest.mark.spec("PEP 3333 §Middleware: Components That Play Both Sides")
def test_stack_of_nothing_is_the_app() -> None:
    probe = Probe()
    assert build_middleware_stack(probe, []) is probe, "expected build_middleware_stack(app, []) to give back app itself"


@pytest.mark.spec("PEP 3333 §Middleware: Components That Play Both Sides")
def test_stack_first_is_outermost() -> None:
    log: list[str] = []

    def app(environ, start_response):
        log.append("app")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def layer(name: str) -> Callable:
        return lambda inner: validator(Recorder(name, log, inner))

    stack = build_middleware_stack(validator(app), [layer("A"), layer("B"), layer("C")])
    answer = drive(stack, make_environ())
    expected = ["request A", "request B", "request C", "app", "response C", "response B", "response A",
                "close A", "close B", "close C"]
    assert log == expected, (
        f"expected the first middleware of the list to be the outermost:\n  {expected}\ngot\n  {log}"
    )
    assert header_values(answer.headers, "X-Layer") == ["C", "B", "A"], "expected the headers added inside-out: C, B, A"


@pytest.mark.spec("Fetch §3.2.2 (a preflight carries no credentials)")
def test_stack_order_matters() -> None:
    users = {"ada": "lovelace"}
    cors_outside = build_middleware_stack(
        validator(Probe()),
        [lambda a: validator(CORSMiddleware(a, allow_origins=[ORIGIN], allow_methods=["GET", "PUT"])),
         lambda a: validator(BasicAuthMiddleware(a, users=users))],
    )
    auth_outside = build_middleware_stack(
        validator(Probe()),
        [lambda a: validator(BasicAuthMiddleware(a, users=users)),
         lambda a: validator(CORSMiddleware(a, allow_origins=[ORIGIN], allow_methods=["GET", "PUT"]))],
    )
    with client(cors_outside) as c:
        first = c.options("/", headers=preflight_headers("PUT")).status_code
    with client(auth_outside) as c:
        second = c.options("/", headers=preflight_headers("PUT")).status_code
    assert (first, second) == (204, 401), (
        f"expected [CORS, BasicAuth] to answer a preflight (204) and [BasicAuth, CORS] to refuse it (401), "
        f"got {first} and {second}: the first middleware in the list must be the outermost"
    )


@pytest.mark.spec("PEP 3333 §Middleware: Components That Play Both Sides")
def test_full_stack() -> None:
    stream = io.StringIO()
    factories = [
        RequestIDMiddleware,
        partial(LoggingMiddleware, stream=stream),
        TimingMiddleware,
        partial(CORSMiddleware, allow_origins=[ORIGIN]),
        partial(BasicAuthMiddleware, users={"ada": "lovelace"}),
    ]
    stack = build_middleware_stack(validator(remote_user_app), [lambda a, f=f: validator(f(a)) for f in factories])
    with client(stack) as c:
        refused = c.get("/private", headers={"Origin": ORIGIN})
        allowed = c.get("/private", headers={"Origin": ORIGIN}, auth=("ada", "lovelace"))
    assert (refused.status_code, allowed.status_code) == (401, 200), (
        f"expected 401 without and 200 with credentials, got {refused.status_code} and {allowed.status_code}"
    )
    assert allowed.text == "ada", f"expected the app to see REMOTE_USER 'ada', got {allowed.text!r}"
    for response in (refused, allowed):
        for name in ("X-Request-ID", "Server-Timing", "Access-Control-Allow-Origin"):
            assert name in response.headers, (
                f"expected {name} on the {response.status_code} response too: every layer outside BasicAuth sees it"
            )
    statuses = [m["status"] for m in map(LOG_LINE.fullmatch, log_lines(stream)) if m]
    assert statuses == ["401", "200"], f"expected two log lines with 401 and 200, got {log_lines(stream)!r}"


# --------------------------------------------------------------------------------------------
# What every middleware must get right (each case runs for each of the five).
# --------------------------------------------------------------------------------------------

EVERY_MIDDLEWARE = [
    pytest.param(lambda app: LoggingMiddleware(app, stream=io.StringIO()), {}, id="logging"),
    pytest.param(lambda app: BasicAuthMiddleware(app, users={"ada": "lovelace"}), {"Authorization": basic("ada", "lovelace")}, id="basic_auth"),
    pytest.param(lambda app: CORSMiddleware(app, allow_origins=[ORIGIN]), {"Origin": ORIGIN}, id="cors"),
    pytest.param(lambda app: RequestIDMiddleware(app), {}, id="request_id"),
    pytest.param(lambda app: TimingMiddleware(app), {}, id="timing"),
]


@pytest.mark.spec("PEP 3333 §Buffering and Streaming (middleware must not block iteration)")
@pytest.mark.parametrize("wrap, headers", EVERY_MIDDLEWARE)
def test_every_middleware_streams(wrap: Callable, headers: dict[str, str]) -> None:
    inner = StreamingApp()
    app = validator(wrap(validator(inner)))
    iterable = app(make_environ(headers=headers), lambda status, headers, exc_info=None: (lambda data: None))
    try:
        first = next(iter(iterable))
        assert first == b"one ", f"expected the first chunk b'one ', got {first!r}"
        assert inner.body.produced == 1, (
            f"after the first chunk was handed out, the app had produced {inner.body.produced} chunks: "
            "pass the iterable through, do not read it all (b''.join, list()) before returning"
        )
    finally:
        iterable.close()


@pytest.mark.spec("PEP 3333 §Specification Details (close())")
@pytest.mark.parametrize("wrap, headers", EVERY_MIDDLEWARE)
def test_every_middleware_passes_close_on(wrap: Callable, headers: dict[str, str]) -> None:
    inner = StreamingApp()
    app = validator(wrap(validator(inner)))
    iterable = app(make_environ(headers=headers), lambda status, headers, exc_info=None: (lambda data: None))
    next(iter(iterable))
    iterable.close()  # the client went away after the first chunk: the server closes early
    assert inner.body.closed == 1, (
        f"expected the app's iterable to be closed once when the server closed the response, got {inner.body.closed} "
        "calls: return the app's iterable itself, or wrap it in an object whose close() calls the app's close()"
    )


@pytest.mark.spec("PEP 3333 §The start_response() Callable (exc_info)")
@pytest.mark.parametrize("wrap, headers", EVERY_MIDDLEWARE)
def test_every_middleware_forwards_exc_info(wrap: Callable, headers: dict[str, str]) -> None:
    def fails_after_start(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("something broke before the body")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]

    answer = drive(wrap(validator(fails_after_start)), make_environ(headers=headers))
    assert answer.status.startswith("500"), f"expected the second start_response's 500 to win, got {answer.status!r}"


@pytest.mark.spec("PEP 3333 §The write() Callable")
@pytest.mark.parametrize("wrap, headers", EVERY_MIDDLEWARE)
def test_every_middleware_returns_write(wrap: Callable, headers: dict[str, str]) -> None:
    def old_style(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]

    try:
        answer = drive(wrap(validator(old_style)), make_environ(headers=headers))
    except TypeError as exc:
        pytest.fail(f"calling write() failed with {exc!r}: your start_response must return the server's write callable")
    assert answer.written == [b"written "], f"expected the server to receive b'written ' through write(), got {answer.written!r}"
    assert answer.body == b"returned", f"expected the body b'returned', got {answer.body!r}"


@pytest.mark.spec("PEP 3333 §Middleware: Components That Play Both Sides")
@pytest.mark.parametrize("wrap, headers", EVERY_MIDDLEWARE)
def test_every_middleware_keeps_the_answer(wrap: Callable, headers: dict[str, str]) -> None:
    probe = Probe("202 Accepted", headers=[("X-App", "kept")])
    response = get(wrap(validator(probe)), "/path?q=1", headers=headers)
    assert response.status_code == 202 and response.content == b"hello", (
        f"expected the app's 202 b'hello' to pass through, got {response.status_code} {response.content[:40]!r}"
    )
    assert response.headers.get("X-App") == "kept", "expected the app's own X-App header to be kept"
    environ = probe.environs[0]
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/path", "q=1"), "expected the app to see the request's path and query"
