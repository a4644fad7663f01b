"""Held-back tests for 02: run at grading time only (see grader/held_back.py).

They grade rules the README and the stub state, from angles the shipped tests do not show: a body
is bytes (the head's rules stop at the empty line), a value is stripped at its ends only, and a
Content-Length counts bytes, not characters.
"""

from __future__ import annotations

import h11
import pytest

from http_parse import BadRequest, build_response, parse_request

pytestmark = pytest.mark.held_back


@pytest.mark.spec("RFC 9112 §6.3 (message body length); RFC 9112 §2.2 applies to the head only")
def test_held_back_a_body_is_bytes_as_sent() -> None:
    body = b"\x00\r\xff\n\r\n\x80"  # a NUL, a bare CR, an empty "line": none of it is the head's business
    raw = b"PUT /blob HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n" % len(body) + body + b"NEXT"
    try:
        request = parse_request(raw)
    except BadRequest as exc:
        pytest.fail(f"expected the body {body!r} to be taken as it is (a bare CR or a NUL is refused in the head only), got BadRequest: {exc}")
    assert request.body == body, f"expected the body {body!r} byte for byte, got {request.body!r}"


@pytest.mark.spec("RFC 9112 §5 (field-line = field-name \":\" OWS field-value OWS)")
def test_held_back_a_value_is_stripped_at_its_ends_only() -> None:
    request = parse_request(b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Words: \t one  two\tthree \t\r\n\r\n")
    got = request.get_header("x-words")
    assert got == "one  two\tthree", (
        f"expected 'one  two\\tthree' (only the spaces and tabs around the value go), got {got!r}"
    )


@pytest.mark.spec("RFC 9110 §8.6 (Content-Length counts octets)")
def test_held_back_content_length_counts_bytes() -> None:
    body = "naïve café ☕".encode()
    raw = build_response(200, [("Content-Type", "text/plain; charset=utf-8")], body)
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "example.com")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    head = conn.next_event()
    lengths = [value for name, value in getattr(head, "headers", []) if name == b"content-length"]
    assert lengths == [str(len(body)).encode()], (
        f"expected Content-Length: {len(body)} (the body's bytes; it has {len(body.decode())} characters), "
        f"got {lengths!r} in {raw!r}"
    )
