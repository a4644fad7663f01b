"""Exercise 07 — build a WSGI server.

A WSGI server is the other half of the contract you have been writing apps for. It owns the socket:
it reads an HTTP request off the wire, turns it into an ``environ`` dict, calls the application with
``environ`` and a ``start_response`` callable, and writes what the application returns back to the
client. Everything Flask or Django ever sees of HTTP comes through these few steps::

    bytes on the socket --parse_request--> Request --build_environ--> environ
    app(environ, start_response) --call_app--> status line, headers, body bytes --> socket

This server speaks HTTP/1.0-style: one request per connection, answered with ``Connection: close``,
so "the body is finished" simply means "the server closed the connection". Exercise 08 adds
HTTP/1.1 keep-alive and chunked bodies on top of it.

Spec: PEP 3333 (§environ Variables, §Input and Error Streams, §The start_response() Callable,
§Buffering and Streaming, §Error Handling, §Unicode Issues) and RFC 9112 (§2, §3, §5, §6.3).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_LINE = 65536
"""Longest request line or header line we accept, in bytes (a client could otherwise send forever)."""
MAX_HEADERS = 100
"""Most header lines we accept in one request."""
CONNECTION_TIMEOUT = 10.0
"""Seconds a client may stay silent before the server gives up on its connection."""
SERVER_SOFTWARE = "callable-katas-wsgi/0.7"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client waits for after 'Expect: 100-continue' (RFC 9110 §15.2.1)."""

TOKEN_CHARACTERS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""RFC 9110 §5.6.2: a method or a header name is a "token", one or more of these characters."""


class BadRequest(ValueError):
    """The bytes on the wire are not an HTTP/1.x request: the server answers 400 and closes."""


@dataclass
class Request:
    """The head of one HTTP request, taken apart (the body stays on the connection)."""

    method: str
    """The method, e.g. ``"GET"``."""
    target: str
    """The request target exactly as sent, still percent-encoded: ``"/caf%C3%A9?q=1"``."""
    version: str
    """The protocol version, e.g. ``"HTTP/1.1"``."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Every header as a ``(name, value)`` pair in order, repeats kept, bytes decoded as latin-1."""


# ---------------------------------------------------------------------------------------------
# Step 1: read the head of a request off the connection.
# ---------------------------------------------------------------------------------------------


def parse_request(rfile: BinaryIO) -> Request | None:
    r"""Read one request head (request line, header lines, empty line) from ``rfile``.

    ``rfile`` is the connection as a binary file (``sock.makefile("rb")``; in the tests an
    ``io.BytesIO``): ``rfile.readline(limit)`` gives one line *with* its ``\r\n``, ``b""`` at the end.

    - The request line is ``METHOD SP target SP HTTP/1.x`` (RFC 9112 §3): exactly three parts, the
      method a token (``TOKEN_CHARACTERS``), the version ``HTTP/1.0`` or ``HTTP/1.1``.
    - Each header line is ``Name: value`` (RFC 9112 §5): the name is a token (so no space before
      the colon), the value is stripped of spaces and tabs. Keep the pairs in order, repeats too.
    - An empty line ends the head. Stop there: the body stays unread in ``rfile`` for wsgi.input.
    - Decode bytes as latin-1 (one byte, one character): HTTP heads are bytes, not UTF-8 text.
    - Refuse lines longer than ``MAX_LINE`` or more than ``MAX_HEADERS`` headers; an empty target or
      one with control characters (RFC 9112 §3.2); a CR or NUL inside a header value (RFC 9110 §5.5);
      a Content-Length that is not plain ASCII digits (``"²".isdigit()`` is true!) or that disagrees
      with another Content-Length line (RFC 9112 §6.3).
    - Refuse a missing, repeated or invalid ``Host`` (RFC 9112 §3.2, a MUST): an HTTP/1.1 request
      without one, any request with two ``Host`` lines (even equal ones, whatever the case of the
      name: ``Host`` and ``host`` are one field), or a ``Host`` that is not ``host[:port]`` (RFC 9110
      §7.2: a name or IPv4 address of letters, digits and ``-._~!$&'()*+,;=%``, or an IPv6 literal
      such as ``[::1]``; then optionally ``:`` and digits; so no space, ``/`` or ``@``) is a
      BadRequest. An empty value (``Host:``) is valid, and an HTTP/1.0 request may leave ``Host`` out.
    - Refuse nothing else: a ``Transfer-Encoding`` header, say, is a well-formed head. What a server
      does with the body is the server's decision (exercise 08 reuses this function and decodes
      chunked bodies).

    Returns ``None`` when the connection is closed before the first byte (a client that connected
    and left without a word). Raises ``BadRequest`` when the head is malformed, or when the
    connection closes in the middle of it.
    """
    raise NotImplementedError("write parse_request() in wsgi_server.py")


# ---------------------------------------------------------------------------------------------
# Step 2: the environ, and wsgi.input.
# ---------------------------------------------------------------------------------------------


class RequestBody:
    """``wsgi.input``: the request body, read straight from the connection, and not a byte more.

    PEP 3333 §Input and Error Streams: ``read(size)``, ``readline()``, ``readlines(hint)`` and
    iteration. The connection holds whatever the client sends next, so reading past the body's
    ``length`` would steal those bytes, or block forever waiting for bytes that never come: count
    the bytes left and, at zero, "simulate an end-of-file condition" (return ``b""``).
    ``read()`` with no size (or -1, or None) reads the rest of the body.
    """

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        raise NotImplementedError("write RequestBody in wsgi_server.py")

    def read(self, size: int | None = -1) -> bytes:
        raise NotImplementedError("write RequestBody.read() in wsgi_server.py")

    def readline(self, size: int | None = -1) -> bytes:
        raise NotImplementedError("write RequestBody.readline() in wsgi_server.py")

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        raise NotImplementedError("write RequestBody.readlines() in wsgi_server.py")

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("write RequestBody.__iter__() in wsgi_server.py")


def build_environ(request: Request, rfile: BinaryIO, server_address: tuple[str, int]) -> dict[str, Any]:
    r"""Build the PEP 3333 ``environ`` for ``request``; ``wsgi.input`` reads its body from ``rfile``.

    PEP 3333 §environ Variables. Every value of a CGI key is a ``str``:

    - ``REQUEST_METHOD``; ``SCRIPT_NAME`` ``""`` (the app is mounted at the root);
    - ``PATH_INFO``: the target before ``?``, percent-decoded **to bytes**, then each byte carried as
      one character (latin-1): ``/caf%C3%A9`` becomes ``"/caf\xc3\xa9"`` (PEP 3333 §Unicode Issues:
      a "native string"; Flask turns it back into ``/café``). ``urllib.parse.unquote_to_bytes``;
    - ``QUERY_STRING``: the part after ``?`` exactly as sent (``""`` when there is none);
    - ``SERVER_NAME``, ``SERVER_PORT`` (a str!) from ``server_address``; ``SERVER_PROTOCOL``;
    - each header as ``HTTP_`` + name upper-cased with ``-`` turned into ``_`` (repeats joined with
      ``,``), except ``Content-Type`` and ``Content-Length``: ``CONTENT_TYPE``, ``CONTENT_LENGTH``;
    - but **drop a header whose name holds an underscore**: ``X_User: evil`` would become
      ``HTTP_X_USER`` just like ``X-User: admin``, so a client could forge a header that a proxy in
      front of you checked (gunicorn and waitress drop them, and nginx and Apache by default);
    - ``wsgi.version`` ``(1, 0)``, ``wsgi.url_scheme`` ``"http"``, ``wsgi.input`` (a ``RequestBody``
      of Content-Length bytes, 0 when absent), ``wsgi.errors`` (``sys.stderr``),
      ``wsgi.multithread``, ``wsgi.multiprocess``, ``wsgi.run_once`` (bools: what is true of this server?).

    ``REMOTE_ADDR`` and ``REMOTE_PORT`` (the client's address) are not here: only the server knows
    the peer, so it adds them (see ``WSGIServer.serve_forever``).
    """
    raise NotImplementedError("write build_environ() in wsgi_server.py")


# ---------------------------------------------------------------------------------------------
# Step 3: call the application and send what it answers.
# ---------------------------------------------------------------------------------------------


def call_app(app: WSGIApp, environ: dict[str, Any], send: Callable[[bytes], Any]) -> None:
    r"""Run ``app`` for one request and send the response through ``send`` (e.g. ``sock.sendall``).

    PEP 3333 §The start_response() Callable, §Buffering and Streaming, §Error Handling:

    - ``start_response(status, headers, exc_info=None)`` only *records* status and headers, and
      returns ``write(data)``, which sends data at once (the head first, if it has not gone yet).
    - The head (``HTTP/1.0 200 OK\r\n``, each header ``Name: value\r\n``, then ``\r\n``; encode it
      as latin-1) goes out with the first **non-empty** chunk, or at the end if the body is empty.
      Add ``Connection: close`` (one request per connection) and a ``Date`` if the app gave none
      (``email.utils.formatdate(usegmt=True)``).
    - A second ``start_response`` call without ``exc_info`` is an error: raise. With ``exc_info``
      before the head was sent, it replaces status and headers; after, it re-raises
      ``exc_info[1]`` (with ``exc_info[2]`` as traceback): the status line cannot be taken back.
    - Call the iterable's ``close()`` (if it has one) whatever happens: success, an exception while
      iterating, or ``send`` failing because the client went away (an ``OSError``).
    - An exception from the app: write its traceback to ``environ["wsgi.errors"]``; if no header was
      sent yet, answer ``500 Internal Server Error`` instead. Never let it kill the server.
    """
    raise NotImplementedError("write call_app() in wsgi_server.py")


# ---------------------------------------------------------------------------------------------
# Step 4: the server — accept, answer, close, again.
# ---------------------------------------------------------------------------------------------


class WSGIServer:
    """A one-connection-at-a-time WSGI server, shaped like ``wsgiref.simple_server.WSGIServer``.

    The tests run ``serve_forever()`` in a thread, then call ``shutdown()`` from another thread and
    ``server_close()``: ``serve_forever()`` must notice the request within a fraction of a second
    (wait for a connection with a timeout: ``selectors`` or ``sock.settimeout``, then check a flag).
    """

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        """Bind and listen at once (``socket.create_server``), so ``self.server_address`` holds the
        real ``(host, port)`` even for port 0 (any free port)."""
        raise NotImplementedError("write WSGIServer.__init__() in wsgi_server.py")

    def serve_forever(self) -> None:
        """Accept and answer connections, one after the other, until ``shutdown()`` is called.

        For each connection: ``parse_request`` (a ``BadRequest`` gets a 400 answer), ``build_environ``,
        ``call_app(app, environ, conn.sendall)``, then close the connection. A client that vanishes or
        sends garbage must never stop the server: catch ``OSError`` per connection, and give each
        connection a timeout (``conn.settimeout(CONNECTION_TIMEOUT)``, read when the connection is
        accepted) so a silent client cannot block it, or the clients after it, for ever.

        Two things only the server can do, between ``parse_request`` and ``call_app``:

        - add the client's address to the environ (PEP 3333 §environ Variables, the CGI variables):
          ``REMOTE_ADDR`` (``"127.0.0.1"``) and ``REMOTE_PORT`` (its port, as a str), from the
          address ``accept()`` returned;
        - answer ``Expect: 100-continue`` at once (RFC 9110 §10.1.1): a client that sends it holds its
          body back until it reads ``CONTINUE`` (curl waits a whole second, on every upload over
          1 MB). This server reads no body lazily, so send ``CONTINUE`` before calling the app when
          the request is ``HTTP/1.1``, has an ``Expect`` header of ``100-continue`` (any case) and a
          body (a Content-Length above 0). Never to an HTTP/1.0 request: it knows no 1xx answers,
          and RFC 9110 says to ignore its expectation.
        """
        raise NotImplementedError("write WSGIServer.serve_forever() in wsgi_server.py")

    def shutdown(self) -> None:
        """Ask ``serve_forever()`` to stop, and wait until it has (called from another thread)."""
        raise NotImplementedError("write WSGIServer.shutdown() in wsgi_server.py")

    def server_close(self) -> None:
        """Close the listening socket."""
        raise NotImplementedError("write WSGIServer.server_close() in wsgi_server.py")


def make_server(host: str, port: int, app: WSGIApp) -> WSGIServer:
    """Create a server for ``app`` bound to ``host:port`` (port 0: any free port), not yet serving.

    Like ``wsgiref.simple_server.make_server``: the caller runs ``serve_forever()``.
    """
    raise NotImplementedError("write make_server() in wsgi_server.py")


# ---------------------------------------------------------------------------------------------
# Run by hand: python -m wsgi_server module:callable --port 8000 (given: it only needs make_server)
# ---------------------------------------------------------------------------------------------


def load_app(spec: str) -> WSGIApp:
    """Import ``"module:callable"`` (like gunicorn's APP_MODULE) from the current folder."""
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, ".")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "application")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wsgi_server", description="Serve a WSGI app.")
    parser.add_argument("app", help="the app to serve, as module:callable (e.g. wsgi_server_flask_app:app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, load_app(args.app))
    host, port = server.server_address
    print(f"Serving on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
