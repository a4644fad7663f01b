"""The Host rule of RFC 9112 §3.2, as the course's servers keep it: the requests that break it, and some that do not.

"A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request message that
lacks a Host header field and to any request message that contains more than one Host header field
line or a Host header field with an invalid field value." A valid value is ``uri-host [":" port]``
(RFC 9110 §7.2, RFC 3986 §3.2.2). Exercise 07 (and 08 through it) and exercise 15 grade the same
rule, so their cases live here, once: each is ``(id, the request head, what is wrong or right with it)``.
Only tests import this module.
"""

from __future__ import annotations

BAD_HOST_CASES: list[tuple[str, bytes, str]] = [
    ("missing-host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "an HTTP/1.1 request without Host"),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
     "two Host lines: which site is the request for?"),
    ("two-hosts-any-case", b"GET / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n",
     "two Host lines, even equal ones: 'Host' and 'host' name the same field"),
    ("two-hosts-in-http-1.0", b"GET / HTTP/1.0\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
     "two Host lines, in any version: HTTP/1.0 may leave Host out, not send two"),
    ("host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "a Host with a space is not host[:port]"),
    ("host-with-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", "a Host with userinfo ('u@') is not host[:port]"),
    ("host-with-path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "a Host with a path ('/b') is not host[:port]"),
    ("host-port-not-digits", b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", "a port is digits only"),
]

GOOD_HOST_CASES: list[tuple[str, bytes, str]] = [
    ("http-1.0-without-host", b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", "HTTP/1.0 may leave Host out"),
    ("empty-host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "an empty Host is valid: a target with no authority"),
    ("ipv6-host", b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", "an IPv6 literal in brackets is a host"),
    ("host-with-port", b"GET / HTTP/1.1\r\nHost: example.test:8080\r\n\r\n", "a host, ':' and digits"),
    ("host-name-in-lower-case", b"GET / HTTP/1.1\r\nhost: 127.0.0.1:8000\r\n\r\n",
     "'host' is the Host field: names are case-insensitive (RFC 9110 §5.1)"),
]
