"""Exercise 02 is graded byte for byte, and against h11: a strict, independent HTTP/1.1 implementation.

h11 reads the same request bytes your ``parse_request`` reads (both must agree), h11 writes requests
your ``parse_request`` must take apart, and h11 reads every response your ``build_response`` writes.
"""

from __future__ import annotations

import h11
import pytest

from http_parse import BadRequest, HTTPRequest, build_response, parse_request

# ---------------------------------------------------------------------------------------------
# Helpers: run h11 on bytes, and describe a wrong answer in plain words.
# ---------------------------------------------------------------------------------------------


def h11_reads_request(raw: bytes) -> tuple[h11.Request, bytes]:
    """Let h11 (as a server) read the first request in ``raw``: its head and its body."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    head = conn.next_event()
    assert isinstance(head, h11.Request), f"the test's own request is broken: h11 read {head!r}"
    body = b""
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data), f"the test's own request is broken: h11 read {event!r}"
        body += event.data
    return head, body


def h11_writes_request(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """The bytes h11 (as a client) sends for this request."""
    conn = h11.Connection(h11.CLIENT)
    raw = conn.send(h11.Request(method=method, target=target, headers=headers))
    if body:
        raw += conn.send(h11.Data(data=body))
    return raw + conn.send(h11.EndOfMessage())


def h11_reads_response(raw: bytes) -> tuple[h11.Response, bytes]:
    """Let h11 (as a client that sent ``GET /``) read ``raw`` as the response; fail in plain words."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "example.com")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    try:
        head = conn.next_event()
        if head is h11.NEED_DATA:
            pytest.fail(f"h11 could not find the end of the head in {raw!r}: does it end with \\r\\n\\r\\n?")
        body = b""
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                pytest.fail(
                    f"h11 expected more body bytes than {raw!r} holds: is Content-Length the body's length in bytes?"
                )
            body += event.data
    except h11.RemoteProtocolError as exc:
        pytest.fail(f"h11 refused your response {raw!r}: {exc}")
    assert isinstance(head, h11.Response), f"expected h11 to read a response, it read {head!r}"
    return head, body


def expect_bad_request(raw: bytes, why: str, *, shown: str | None = None, hint: str = "") -> None:
    """``parse_request(raw)`` must raise BadRequest (with a message), and nothing else.

    ``shown`` stands for the bytes in the message where their repr is too long to read (a head of
    8 kB: ``describe_head(raw)``), and a request parsed from them is then told by its sizes, not its
    repr. ``hint`` goes after "expected BadRequest" when a request was parsed: where the rule is written.
    """
    sent = repr(raw) if shown is None else shown
    try:
        request = parse_request(raw)
    except BadRequest as exc:
        assert str(exc).strip(), f"expected BadRequest to say what is wrong ({why}), got an empty message"
        return
    except Exception as exc:
        pytest.fail(f"{why}: sent {sent}, expected BadRequest, got {type(exc).__name__}: {exc}")
    if shown is None:
        parsed = repr(request)
    else:
        parsed = f"with a {len(request.target)}-byte target and {len(request.headers)} headers"
    pytest.fail(f"{why}: sent {sent}, expected BadRequest{hint}, got a parsed request {parsed}")


# ---------------------------------------------------------------------------------------------
# parse_request: the request line, the headers, the body.
# ---------------------------------------------------------------------------------------------

SIMPLE_GET = b"GET /hello HTTP/1.1\r\nHost: example.com\r\n\r\n"
POST_WITH_BODY = (
    b"POST /tasks?notify=yes HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: 17\r\n"
    b"\r\n"
    b'{"title": "kata"}'
)
HEADERS_AS_SENT = (
    b"GET / HTTP/1.1\r\n"
    b"host: example.com\r\n"
    b"Accept:text/html\r\n"
    b"X-Tag:   first  \t\r\n"
    b"x-tag: second\r\n"
    b"X-Empty:\r\n"
    b"X-Size: XL\r\n"
    b"\r\n"
)
BARE_LF = b"POST /lf HTTP/1.1\nHost: example.com\nContent-Length: 4\n\nab\r\n"
PIPELINED = (
    b"POST /first HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
    b"GET /second HTTP/1.1\r\nHost: example.com\r\n\r\n"
)


@pytest.mark.spec("RFC 9112 §3 (request line)")
def test_parses_the_request_line() -> None:
    request = parse_request(SIMPLE_GET)
    assert isinstance(request, HTTPRequest), f"expected an HTTPRequest, got {type(request).__name__}"
    got = (request.method, request.target, request.version)
    assert got == ("GET", "/hello", "HTTP/1.1"), (
        f"expected method 'GET', target '/hello', version 'HTTP/1.1', got {got!r}"
    )
    assert request.headers == [("Host", "example.com")], f"expected [('Host', 'example.com')], got {request.headers!r}"
    assert request.body == b"", f"expected no body (there is no Content-Length), got {request.body!r}"


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        pytest.param("/", "/", "", id="root"),
        pytest.param("/a/b?x=1&y=2", "/a/b", "x=1&y=2", id="path-and-query"),
        pytest.param("/search?", "/search", "", id="empty-query"),
        pytest.param("/a?b?c", "/a", "b?c", id="second-question-mark"),
        pytest.param("/caf%C3%A9?q=a%20b", "/caf%C3%A9", "q=a%20b", id="not-decoded"),
        pytest.param("http://example.com/a/b?c=d", "/a/b", "c=d", id="absolute-form"),
        pytest.param("http://example.com", "/", "", id="absolute-form-without-path"),
        pytest.param("http://example.com?c=d", "/", "c=d", id="absolute-form-query-only"),
        pytest.param("*", "*", "", id="asterisk-form"),
    ],
)
@pytest.mark.spec("RFC 9112 §3.2 (request target)")
def test_splits_the_target_into_path_and_query(target: str, path: str, query: str) -> None:
    method = "OPTIONS" if target == "*" else "GET"
    request = parse_request(f"{method} {target} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode())
    assert request.target == target, f"expected target {target!r} kept exactly as sent, got {request.target!r}"
    got = (request.path, request.query)
    assert got == (path, query), (
        f"for target {target!r}, expected path {path!r} and query {query!r}, got {got!r} "
        "(split at the first '?'; decode nothing; absolute-form drops 'scheme://host', and an empty path is '/')"
    )


@pytest.mark.spec("RFC 9112 §5 (field lines)")
def test_keeps_every_header_as_sent() -> None:
    request = parse_request(HEADERS_AS_SENT)
    expected = [
        ("host", "example.com"),
        ("Accept", "text/html"),
        ("X-Tag", "first"),
        ("x-tag", "second"),
        ("X-Empty", ""),
        ("X-Size", "XL"),
    ]
    assert request.headers == expected, (
        f"expected {expected!r}, got {request.headers!r}: keep a list of (name, value) in order, names "
        "as sent, repeats kept, each value without the spaces and tabs around it (a dict loses repeats)"
    )


@pytest.mark.spec("RFC 9110 §5.1 (field names are case-insensitive), §5.3 (repeated fields)")
def test_get_header_ignores_case() -> None:
    request = HTTPRequest(
        method="GET",
        target="/",
        path="/",
        query="",
        version="HTTP/1.1",
        headers=[("Content-Type", "text/plain"), ("Accept", "text/html"), ("accept", "application/json")],
    )
    got = request.get_header("content-type")
    assert got == "text/plain", f"expected get_header('content-type') to find 'Content-Type: text/plain', got {got!r}"
    got = request.get_header("ACCEPT")
    assert got == "text/html, application/json", (
        f"expected the two Accept lines joined as 'text/html, application/json', got {got!r}"
    )
    assert request.get_header("x-missing") is None, (
        f"expected None for a missing header, got {request.get_header('x-missing')!r}"
    )
    assert request.get_header("x-missing", "fallback") == "fallback", "expected the default for a missing header"


@pytest.mark.spec("RFC 9112 §6.3 (message body length)")
def test_reads_the_body_by_content_length() -> None:
    request = parse_request(POST_WITH_BODY)
    assert (request.method, request.path, request.query) == ("POST", "/tasks", "notify=yes"), (
        f"expected POST /tasks with query 'notify=yes', got {request.method!r} {request.path!r} {request.query!r}"
    )
    assert request.body == b'{"title": "kata"}', f"expected the 17 body bytes, got {request.body!r}"


@pytest.mark.spec("RFC 9112 §6.3 (message body length)")
def test_stops_at_content_length() -> None:
    request = parse_request(PIPELINED)
    assert request.path == "/first", f"expected the first request (/first), got {request.path!r}"
    assert request.body == b"hello", (
        f"expected body b'hello' (Content-Length: 5), got {request.body!r}: the bytes after the body "
        "are the next request on the same connection, not part of this one"
    )
    request = parse_request(b"GET /first HTTP/1.1\r\nHost: example.com\r\n\r\nGET /second HTTP/1.1\r\n")
    assert request.body == b"", (
        f"expected no body for a GET without Content-Length, got {request.body!r}: the bytes after its head "
        "are the next request"
    )


@pytest.mark.spec("RFC 9112 §6.3 (identical Content-Length values); RFC 9110 §8.6")
@pytest.mark.parametrize(
    "lengths",
    [pytest.param([b"5, 5"], id="a-list"), pytest.param([b"5", b"5"], id="two-lines")],
)
def test_accepts_content_length_copies_that_agree(lengths: list[bytes]) -> None:
    head = b"".join(b"Content-Length: %s\r\n" % length for length in lengths)
    raw = b"POST /twice HTTP/1.1\r\nHost: example.com\r\n" + head + b"\r\nhello"
    try:
        request = parse_request(raw)
    except BadRequest as exc:
        pytest.fail(f"expected {b' and '.join(lengths)!r} to be read as one length, 5 (the copies agree), got BadRequest: {exc}")
    assert request.body == b"hello", (
        f"expected the body b'hello', got {request.body!r}: split the Content-Length values at ',' and strip each"
    )


@pytest.mark.spec("RFC 9112 §2.2 (a recipient MAY accept a bare LF)")
def test_accepts_bare_lf_line_ends() -> None:
    try:
        request = parse_request(BARE_LF)
    except BadRequest as exc:
        pytest.fail(f"expected a request with bare LF line ends to be accepted (this course's choice), got BadRequest: {exc}")
    got = (request.method, request.path, request.headers)
    expected = ("POST", "/lf", [("Host", "example.com"), ("Content-Length", "4")])
    assert got == expected, f"expected {expected!r}, got {got!r}"
    assert request.body == b"ab\r\n", (
        f"expected the body b'ab\\r\\n' untouched (line-end rules stop at the empty line), got {request.body!r}"
    )


@pytest.mark.spec("RFC 9110 §5.5 (field values: obs-text)")
def test_decodes_the_head_as_latin1() -> None:
    request = parse_request(b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Name: caf\xe9 \xff\r\n\r\n")
    got = request.get_header("X-Name")
    assert got == "caf\xe9 \xff", (
        f"expected the bytes b'caf\\xe9 \\xff' decoded as ISO-8859-1, 'café ÿ', got {got!r} "
        "(UTF-8 fails on such bytes: latin-1 maps every byte to one character)"
    )


GOOD_REQUESTS = [
    pytest.param(SIMPLE_GET, id="simple-get"),
    pytest.param(POST_WITH_BODY, id="post-with-body"),
    pytest.param(HEADERS_AS_SENT, id="headers-as-sent"),
    pytest.param(BARE_LF, id="bare-lf"),
    pytest.param(PIPELINED, id="pipelined"),
    pytest.param(b"GET / HTTP/1.0\r\n\r\n", id="http-1.0-without-host"),
    pytest.param(b"GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n", id="absolute-form"),
    pytest.param(b"DELETE /tasks/7 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n", id="zero-length"),
    # Methods are case-sensitive (RFC 9110 §9.1): "get" is a valid token, kept exactly as sent.
    pytest.param(b"get / HTTP/1.1\r\nHost: example.com\r\n\r\n", id="lowercase-method-kept"),
    # Field names are case-insensitive (RFC 9110 §5.1): these still carry one Host and a body.
    pytest.param(
        b"POST /lower HTTP/1.1\r\nhost: example.com\r\ncontent-length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n",
        id="lowercase-content-length",
    ),
    pytest.param(
        b"POST /upper HTTP/1.1\r\nHOST: example.com\r\nCONTENT-LENGTH: 3\r\n\r\nabcdef",
        id="uppercase-content-length",
    ),
]


@pytest.mark.parametrize("raw", GOOD_REQUESTS)
@pytest.mark.spec("RFC 9112 §2 to §6 (h11 as an independent parser)")
def test_agrees_with_h11_on_the_same_bytes(raw: bytes) -> None:
    expected, expected_body = h11_reads_request(raw)
    request = parse_request(raw)
    got = (request.method, request.target, request.version)
    want = (expected.method.decode(), expected.target.decode(), "HTTP/" + expected.http_version.decode())
    assert got == want, f"h11 read method, target, version {want!r}, you read {got!r}"
    want_headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in expected.headers.raw_items()]
    assert request.headers == want_headers, f"h11 read the headers {want_headers!r}, you read {request.headers!r}"
    assert request.body == expected_body, f"h11 read the body {expected_body!r}, you read {request.body!r}"


H11_REQUESTS = [
    pytest.param("GET", "/", [("Host", "example.com")], b"", id="get"),
    pytest.param(
        "POST",
        "/tasks?notify=yes",
        [("Host", "example.com"), ("Content-Type", "application/json"), ("Content-Length", "17")],
        b'{"title": "kata"}',
        id="post-json",
    ),
    pytest.param(
        "PUT",
        "/files/a.bin",
        [("Host", "example.com"), ("X-Tag", "a"), ("X-Tag", "b"), ("Content-Length", "4")],
        b"\x00\r\n\xff",
        id="put-binary-repeats",
    ),
    pytest.param(
        "DELETE",
        "/caf%C3%A9?q=a%20b",
        [("Host", "example.com:8080"), ("User-Agent", "h11"), ("Accept", "*/*")],
        b"",
        id="delete-encoded",
    ),
]


@pytest.mark.parametrize(("method", "target", "headers", "body"), H11_REQUESTS)
@pytest.mark.spec("RFC 9112 §3, §5, §6 (requests written by h11)")
def test_parses_requests_that_h11_writes(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = h11_writes_request(method, target, headers, body)
    request = parse_request(raw)
    got = (request.method, request.target, request.path, request.version)
    want = (method, target, target.partition("?")[0], "HTTP/1.1")
    assert got == want, f"h11 sent {raw!r}: expected method, target, path, version {want!r}, got {got!r}"
    assert request.headers == headers, f"h11 sent the headers {headers!r}, you read {request.headers!r}"
    assert request.body == body, f"h11 sent the body {body!r}, you read {request.body!r}"


MALFORMED = [
    pytest.param(b"", "empty input has no request line", id="empty"),
    pytest.param(b"\r\n\r\n", "empty lines only: there is no request line", id="only-empty-lines"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n", "the head never ends (no empty line)", id="unfinished-head"),
    pytest.param(b"GET /\r\nHost: x\r\n\r\n", "a request line has three parts", id="two-parts"),
    pytest.param(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "parts are separated by one SP (RFC 9112 §3)", id="double-space"),
    pytest.param(b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", "a tab is not the SP of a request line (RFC 9112 §3)", id="tab-separator"),
    pytest.param(b"GET / HTTP/1.1\r\r\nHost: x\r\n\r\n", "a bare CR before the CR LF (RFC 9112 §2.2)", id="bare-cr-in-request-line"),
    pytest.param(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", "a target cannot contain a space", id="four-parts"),
    pytest.param(b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", "a target cannot hold a control character", id="control-in-target"),
    pytest.param(b"GET / HTTP/1\r\nHost: x\r\n\r\n", "the version is HTTP/<digit>.<digit>", id="version-HTTP/1"),
    pytest.param(b"GET / HTTX/1.1\r\nHost: x\r\n\r\n", "the version starts with 'HTTP/'", id="version-HTTX"),
    pytest.param(b"GET / http/1.1\r\nHost: x\r\n\r\n", "'HTTP' is case-sensitive (RFC 9112 §2.3)", id="version-lowercase"),
    pytest.param(b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", "a method is a token: '@' is not allowed", id="method-not-a-token"),
    pytest.param(b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n", "an origin-form target starts with '/'", id="target-without-slash"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\noops\r\n\r\n", "a header line without a colon", id="header-without-colon"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n",
        "whitespace between a header name and the colon MUST be rejected (RFC 9112 §5.1)",
        id="space-before-colon",
    ),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n: nameless\r\n\r\n", "a header name cannot be empty", id="empty-header-name"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nX@Tag: a\r\n\r\n", "a header name is a token: '@' is not allowed (RFC 9110 §5.6.2)",
        id="header-name-not-a-token",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nX Tag: a\r\n\r\n", "a header name is a token: no space inside (RFC 9110 §5.6.2)",
        id="space-in-header-name",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n  continued\r\n\r\n",
        "a line starting with whitespace is obsolete line folding (RFC 9112 §5.2)",
        id="obs-fold",
    ),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", "a bare CR is not a line end (RFC 9112 §2.2)", id="bare-cr"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "a NUL in a field value (RFC 9110 §5.5)", id="nul-in-value"),
    pytest.param(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "an HTTP/1.1 request without Host (RFC 9112 §3.2)", id="missing-host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Host headers (RFC 9112 §3.2)", id="two-hosts"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        "two Host headers, whatever their case (RFC 9112 §3.2; RFC 9110 §5.1)",
        id="two-hosts-any-case",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "Content-Length is digits only", id="length-not-a-number"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nx", "a negative Content-Length", id="length-negative"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        "'+5' is not 1*DIGIT (int() accepts it; the spec does not)",
        id="length-with-plus",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5X\r\n\r\nhello", "'5X' is not 1*DIGIT", id="length-with-a-letter"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", "an empty Content-Length is not 1*DIGIT", id="length-empty"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello", "'5 5' is not 1*DIGIT", id="length-inner-space"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\nhe",
        "byte 0xb2 is the latin-1 superscript two: str.isdigit() accepts it, 1*DIGIT means 0-9 only (RFC 9110 §8.6)",
        id="length-superscript-digit",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xd9\xa5\r\n\r\nhello",
        "the UTF-8 bytes of an Arabic-Indic five: int() reads it as 5, 1*DIGIT means 0-9 only (RFC 9110 §8.6)",
        id="length-non-ascii-digit",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "two different Content-Length values (RFC 9112 §6.3: a smuggling risk)",
        id="length-conflicting",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
        "a Content-Length list with different values",
        id="length-conflicting-list",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\nCONTENT-LENGTH: 6\r\n\r\nhello!",
        "two different Content-Length values, names in different case (RFC 9110 §5.1, RFC 9112 §6.3)",
        id="length-conflicting-any-case",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello", "the body is shorter than Content-Length", id="body-too-short"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "Transfer-Encoding is not supported in this exercise (exercise 08 decodes chunked bodies)",
        id="transfer-encoding",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nTRANSFER-ENCODING: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "Transfer-Encoding in any case (RFC 9110 §5.1) is not supported in this exercise",
        id="transfer-encoding-uppercase",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "Content-Length beside Transfer-Encoding is the classic smuggling request: never trust the length (RFC 9112 §6.3, §11.2)",
        id="length-and-transfer-encoding",
    ),
]


@pytest.mark.parametrize(("raw", "why"), MALFORMED)
@pytest.mark.spec("RFC 9112 §3, §5, §6.3 (a server answers 400 Bad Request)")
def test_rejects_malformed_requests(raw: bytes, why: str) -> None:
    expect_bad_request(raw, why)


# ---------------------------------------------------------------------------------------------
# parse_request: the limits on the head (the stub's MAX_LINE and MAX_HEADERS, the README's numbers).
# ---------------------------------------------------------------------------------------------

MAX_LINE = 8190  # bytes in a request line or a field line, its line end (CR LF or LF) not counted
MAX_HEADERS = 100  # field lines in one request, Host and repeats included


def request_line_of(length: int) -> bytes:
    """A valid ``GET /aaa...a HTTP/1.1`` of exactly ``length`` bytes."""
    return b"GET /" + b"a" * (length - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"


def head_at_limit(rule: str, over: int, eol: bytes) -> bytes:
    """A valid request whose one long part is at the limit (``over=0``) or ``over`` past it."""
    fields = [b"Host: example.com"]
    request_line = b"GET / HTTP/1.1"
    if rule == "request-line":
        request_line = request_line_of(MAX_LINE + over)
    elif rule == "header-line":
        fields.append(b"X-Long: " + b"a" * (MAX_LINE + over - len(b"X-Long: ")))
    else:  # header count: ~95-byte lines, so the head (9.5 kB) is longer than MAX_LINE: the limits are per line
        fields += [b"X-Field-%03d: %s" % (n, b"v" * 80) for n in range(MAX_HEADERS - 1 + over)]
    return eol.join([request_line, *fields]) + eol + eol


def describe_head(raw: bytes) -> str:
    """A long head in a few words: its start and end (escaped), its longest line and its field lines."""
    lines = raw.split(b"\n")[:-2]  # the head's lines; the last two pieces are the empty line and the body
    longest = max(len(line.removesuffix(b"\r")) for line in lines)
    return (
        f"{len(raw)} bytes, {raw[:40]!r} ... {raw[-30:]!r}: longest line {longest} bytes without its line end, "
        f"{len(lines) - 1} field lines"
    )


LINE_ENDS = [pytest.param(b"\r\n", id="crlf"), pytest.param(b"\n", id="lf")]
LIMITS = [
    pytest.param("request-line", id="request-line"),
    pytest.param("header-line", id="header-line"),
    pytest.param("header-count", id="header-count"),
]


@pytest.mark.parametrize("eol", LINE_ENDS)
@pytest.mark.parametrize("rule", LIMITS)
@pytest.mark.spec("RFC 9112 §3, RFC 9110 §4.1 (support lines of at least 8000 octets), §5.4 (field limits)")
def test_accepts_a_head_at_the_limits(rule: str, eol: bytes) -> None:
    raw = head_at_limit(rule, 0, eol)
    expected, _ = h11_reads_request(raw)  # h11 takes these bytes too: they are a valid request
    try:
        request = parse_request(raw)
    except BadRequest as exc:
        pytest.fail(
            f"sent {describe_head(raw)}; expected it accepted, got BadRequest: {exc}. The limits are "
            f"{MAX_LINE} bytes per line (the CR LF or LF not counted) and {MAX_HEADERS} field lines: exactly "
            "that is fine, only more is refused, and they hold for each line, not for the whole head"
        )
    got = (request.target, len(request.headers))
    want = (expected.target.decode(), len(expected.headers))
    assert got == want, f"h11 read the target and the header count {want[0][:30]!r}..., {want[1]}, you read {got[0][:30]!r}..., {got[1]}"


@pytest.mark.parametrize("eol", LINE_ENDS)
@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("request-line", id="request-line-too-long"),
        pytest.param("header-line", id="header-line-too-long"),
        pytest.param("header-count", id="too-many-headers"),
    ],
)
@pytest.mark.spec("RFC 9112 §3 (414), RFC 9110 §5.4 (field limits: a 4xx), RFC 6585 §5 (431)")
def test_refuses_a_head_over_the_limits(rule: str, eol: bytes) -> None:
    raw = head_at_limit(rule, 1, eol)
    limit = f"more than {MAX_HEADERS} field lines" if rule == "header-count" else f"a line of more than {MAX_LINE} bytes"
    expect_bad_request(raw, limit, shown=describe_head(raw), hint=" (the stub's MAX_LINE and MAX_HEADERS)")


# ---------------------------------------------------------------------------------------------
# build_response: the status line, the headers, Content-Length, CR LF.
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 9112 §4 (status line)")
def test_builds_the_status_line() -> None:
    raw = build_response(200, [], b"")
    assert isinstance(raw, bytes), f"expected bytes, got {type(raw).__name__}"
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), f"expected the response to start with b'HTTP/1.1 200 OK\\r\\n', got {raw!r}"


@pytest.mark.parametrize(
    ("status", "reason", "status_line"),
    [
        pytest.param(404, None, b"HTTP/1.1 404 Not Found\r\n", id="404"),
        pytest.param(418, None, b"HTTP/1.1 418 I'm a Teapot\r\n", id="418"),
        pytest.param(500, None, b"HTTP/1.1 500 Internal Server Error\r\n", id="500"),
        pytest.param(201, "Made It", b"HTTP/1.1 201 Made It\r\n", id="given-reason"),
        pytest.param(299, None, b"HTTP/1.1 299 \r\n", id="unknown-code"),
    ],
)
@pytest.mark.spec("RFC 9112 §4 (status line: reason-phrase)")
def test_picks_the_reason_phrase(status: int, reason: str | None, status_line: bytes) -> None:
    raw = build_response(status, [], b"", reason=reason)
    got = raw.split(b"\r\n", 1)[0] + b"\r\n"
    assert got == status_line, (
        f"expected the status line {status_line!r}, got {got!r} (the default reason is "
        "http.HTTPStatus(status).phrase; an unknown code has an empty reason after its space)"
    )


BYTE_FOR_BYTE = [
    pytest.param(
        (200, [("Content-Type", "text/plain")], b"Hello, world"),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello, world",
        id="hello",
    ),
    pytest.param(
        (404, [], b""),
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        id="empty-404",
    ),
    pytest.param(
        (200, [("content-length", "5"), ("X-Kata", "02")], b"hello"),
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nX-Kata: 02\r\n\r\nhello",
        id="length-given",
    ),
    pytest.param(
        (200, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], "café".encode()),
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\ncaf\xc3\xa9",
        id="repeats-and-utf8-body",
    ),
    pytest.param(
        (103, [("Link", "</style.css>; rel=preload")], b""),
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        id="1xx-has-no-length",
    ),
    pytest.param(
        (199, [], b""),
        b"HTTP/1.1 199 \r\n\r\n",
        id="199-is-still-1xx",
    ),
    pytest.param(
        (200, [("Vary", "X-Requested-With")], b"ok"),
        b"HTTP/1.1 200 OK\r\nVary: X-Requested-With\r\nContent-Length: 2\r\n\r\nok",
        id="any-letter-in-a-value",
    ),
    pytest.param(
        (204, [("X-Kata", "02")], b""),
        b"HTTP/1.1 204 No Content\r\nX-Kata: 02\r\n\r\n",
        id="204-has-no-length",
    ),
    pytest.param(
        (304, [("ETag", '"v1"')], b""),
        b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n',
        id="304-has-no-length",
    ),
]


@pytest.mark.parametrize(("args", "expected"), BYTE_FOR_BYTE)
@pytest.mark.spec("RFC 9112 §4, §5, §6.2 (Content-Length); RFC 9110 §8.6")
def test_builds_responses_byte_for_byte(args: tuple[int, list[tuple[str, str]], bytes], expected: bytes) -> None:
    status, headers, body = args
    given = list(headers)
    got = build_response(status, headers, body)
    assert got == expected, (
        f"expected {expected!r}, got {got!r}. Content-Length is the body's length in bytes, added after "
        "the given headers unless one is there already (any case); 1xx, 204 and 304 never get one"
    )
    assert headers == given, f"build_response changed the caller's header list: it is now {headers!r}"


@pytest.mark.spec("RFC 9112 §2.1 (CRLF line ends)")
def test_every_line_ends_with_crlf() -> None:
    raw = build_response(201, [("Content-Type", "text/plain"), ("Location", "/tasks/7")], b"line one\nline two\n")
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"expected an empty line (\\r\\n\\r\\n) to end the head, got {raw!r}"
    lines = head.split(b"\r\n")
    bare = [line for line in lines if b"\n" in line or b"\r" in line]
    assert not bare, f"expected every head line to end with \\r\\n, found a bare LF or CR in {bare!r}"
    assert len(lines) == 4, f"expected 4 head lines (status, 2 headers, Content-Length), got {lines!r}"
    assert body == b"line one\nline two\n", f"expected the body untouched, got {body!r}"


H11_RESPONSES = [
    pytest.param(200, [("Content-Type", "text/plain")], b"Hello, world", None, id="hello"),
    pytest.param(404, [("Content-Type", "text/html; charset=utf-8")], b"<h1>Not Found</h1>", None, id="404"),
    pytest.param(201, [("Location", "/tasks/7")], b"{}", "Made It", id="given-reason"),
    pytest.param(200, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], bytes(range(256)) * 64, None, id="binary"),
    pytest.param(204, [("X-Kata", "02")], b"", None, id="204"),
]


@pytest.mark.parametrize(("status", "headers", "body", "reason"), H11_RESPONSES)
@pytest.mark.spec("RFC 9112 §4 to §6 (h11 as an independent parser)")
def test_h11_reads_what_you_build(status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None) -> None:
    raw = build_response(status, headers, body, reason=reason)
    response, got_body = h11_reads_response(raw)
    assert response.status_code == status, f"h11 read status {response.status_code}, expected {status}"
    if reason is not None:
        assert response.reason == reason.encode(), f"h11 read reason {response.reason!r}, expected {reason!r}"
    got_headers = [(name.decode(), value.decode()) for name, value in response.headers.raw_items()]
    without_length = [(name, value) for name, value in got_headers if name.lower() != "content-length"]
    assert without_length == headers, f"h11 read the headers {got_headers!r}, expected {headers!r} (plus Content-Length)"
    assert got_body == body, f"h11 read a body of {len(got_body)} bytes, expected {len(body)}: {got_body[:40]!r}..."


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param([("X-Next", "/home\r\nSet-Cookie: admin=1")], None, id="crlf-in-value"),
        pytest.param([("X-Next", "/home\nSet-Cookie: admin=1")], None, id="lf-in-value"),
        pytest.param([("Set-Cookie: admin=1\r\nX-Next", "/home")], None, id="crlf-in-name"),
        pytest.param([], "OK\r\nSet-Cookie: admin=1", id="crlf-in-reason"),
        pytest.param([("X-Next", "/home\x00")], None, id="nul-in-value"),
        pytest.param([], "OK\x00", id="nul-in-reason"),
        pytest.param([("X Next", "/home")], None, id="space-in-name"),
        pytest.param([("X-Next:", "/home")], None, id="colon-in-name"),
        pytest.param([("", "/home")], None, id="empty-name"),
    ],
)
@pytest.mark.spec("RFC 9110 §5.5 (no CR, LF or NUL in values), §5.6.2 (a field name is a token)")
def test_refuses_to_split_the_response(headers: list[tuple[str, str]], reason: str | None) -> None:
    try:
        raw = build_response(200, headers, b"", reason=reason)
    except ValueError:
        return
    except Exception as exc:
        pytest.fail(f"expected ValueError, got {type(exc).__name__}: {exc}")
    pytest.fail(
        f"headers {headers!r}, reason {reason!r}: expected ValueError, got {raw!r}. A CR, LF or NUL in "
        "a header or the reason, or a name that is not a token, lets whoever chose that text add "
        "headers of their own (response splitting)"
    )


@pytest.mark.parametrize("status", [pytest.param(code, id=str(code)) for code in (100, 103, 199, 204, 304)])
@pytest.mark.spec("RFC 9110 §6.4.1, §15.2 (1xx), §15.3.5 (204), §15.4.5 (304): no body")
def test_refuses_a_body_where_none_is_allowed(status: int) -> None:
    try:
        raw = build_response(status, [], b"surprise")
    except ValueError:
        return
    except Exception as exc:
        pytest.fail(f"expected ValueError, got {type(exc).__name__}: {exc}")
    pytest.fail(
        f"expected ValueError for a {status} with a body, got {raw!r}: a client reads no body after a "
        "1xx, 204 or 304, so these bytes would be taken for the next response"
    )
