"""Exercise 20 — testing without a framework: test clients for WSGI and ASGI apps.

A test client is a pretend server that lives in the test's own process. It builds exactly what a
server would hand the app — an ``environ`` and a ``start_response`` for WSGI, a ``scope`` and a
``receive``/``send`` pair for ASGI — calls the app *directly*, and collects the answer into a small
``TestResponse``. No socket, no server thread, no httpx: that is all ``werkzeug.test``,
``starlette.testclient`` and ``httpx.WSGITransport`` do underneath.

You write (top to bottom is a good order):

- ``Headers`` and ``TestResponse``: what a client gives back;
- ``make_environ()`` and ``WSGITestClient``: PEP 3333 from the server's side;
- ``make_scope()`` and ``ASGITestClient``: ASGI HTTP, then the lifespan (``with client:``), then
  WebSockets (``client.websocket_connect(path)``, a ``WebSocketSession``).

The module name is ``testing_clients`` and not ``test_clients``: pytest would take a
``test_*.py`` file for a file of tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HeadersArg = Mapping[str, str] | Sequence[tuple[str, str]] | None
"""Request headers: a dict, or a list of ``(name, value)`` pairs when a name repeats."""
QueryArg = str | Mapping[str, str] | Sequence[tuple[str, str]] | None
"""A query: a ready-made, percent-encoded string (``"q=a%20b"``), or a dict / list of pairs to encode."""

DEFAULT_HOST = "testserver"
"""The host name test clients use (httpx's too): ``SERVER_NAME``, ``Host``, ``scope["server"]``."""
TIMEOUT = 5.0
"""Seconds an ASGITestClient call may wait for the app before giving up."""


# --- shared pieces ---------------------------------------------------------------------------------


class Headers:
    """Response headers: a list of ``(name, value)`` str pairs, in order, repeats kept.

    Names compare case-insensitively (RFC 9110 §5.1): ``headers.get("content-type")`` finds a
    ``Content-Type`` header. The same reading rules as ``httpx.Headers``:

    - ``get_list(name)``: every value of ``name``, in order (``[]`` if none) — two ``Set-Cookie``
      headers give two values;
    - ``get(name, default=None)`` and ``headers[name]``: all values joined with ``", "`` (RFC 9110
      §5.3); ``headers[name]`` raises ``KeyError`` when there is none;
    - ``name in headers``; ``items()``: the pairs, as a list.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        raise NotImplementedError("write Headers.__init__ in testing_clients.py")

    def get_list(self, name: str) -> list[str]:
        raise NotImplementedError("write Headers.get_list in testing_clients.py")

    def get(self, name: str, default: str | None = None) -> str | None:
        raise NotImplementedError("write Headers.get in testing_clients.py")

    def __getitem__(self, name: str) -> str:
        raise NotImplementedError("write Headers.__getitem__ in testing_clients.py")

    def __contains__(self, name: object) -> bool:
        raise NotImplementedError("write Headers.__contains__ in testing_clients.py")

    def items(self) -> list[tuple[str, str]]:
        raise NotImplementedError("write Headers.items in testing_clients.py")


@dataclass
class TestResponse:
    """What the app answered: the status code, the headers and the whole body.

    ``text`` decodes ``body`` with the ``charset`` of ``Content-Type`` (UTF-8 when there is none);
    ``json()`` parses ``body`` as JSON.
    """

    __test__ = False  # a class called Test* that is not a test: pytest, leave it alone

    status_code: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def text(self) -> str:
        raise NotImplementedError("write TestResponse.text in testing_clients.py")

    def json(self) -> Any:
        raise NotImplementedError("write TestResponse.json in testing_clients.py")


# --- WSGI ------------------------------------------------------------------------------------------


def make_environ(
    method: str = "GET",
    path: str = "/",
    *,
    query: QueryArg = None,
    headers: HeadersArg = None,
    body: bytes = b"",
    scheme: str = "http",
    server_name: str = DEFAULT_HOST,
    server_port: int | None = None,
    script_name: str = "",
) -> dict[str, Any]:
    """A complete PEP 3333 environ for one request — one that ``wsgiref.validate`` accepts.

    - ``path`` is what goes on the request line: percent-encoded, and it may carry ``?query``.
      ``PATH_INFO`` is that path *decoded*, each decoded byte one latin-1 character (PEP 3333
      §Unicode Issues): ``urllib.parse.unquote(path, encoding="latin-1")``; ``/caf%C3%A9`` becomes
      ``'/caf\\xc3\\xa9'``, which is how Flask finds its ``/café`` route. ``QUERY_STRING`` stays
      percent-encoded: the part after ``?``, plus ``query`` (a string as it is; a dict or pairs
      through ``urllib.parse.urlencode``), joined with ``&``.
    - ``REQUEST_METHOD``, ``SCRIPT_NAME``, ``SERVER_NAME``, ``SERVER_PORT`` (a *string*; 80 for
      http and 443 for https by default), ``SERVER_PROTOCOL`` (``HTTP/1.1``), ``REMOTE_ADDR``.
    - ``wsgi.version`` ``(1, 0)``, ``wsgi.url_scheme``, ``wsgi.input`` (an ``io.BytesIO`` of
      ``body``), ``wsgi.errors`` (a text stream, e.g. ``io.StringIO()``), ``wsgi.multithread``,
      ``wsgi.multiprocess``, ``wsgi.run_once`` (``False``).
    - Headers (PEP 3333 §environ Variables, CGI): ``Content-Type`` → ``CONTENT_TYPE``,
      ``Content-Length`` → ``CONTENT_LENGTH``, any other ``X-Thing`` → ``HTTP_X_THING``. A repeated
      header becomes one value joined with ``", "`` (RFC 9110 §5.3). Add ``Host`` (``HTTP_HOST``,
      ``testserver``) unless given, and ``CONTENT_LENGTH`` when there is a body.
    """
    raise NotImplementedError("write make_environ() in testing_clients.py")


class WSGITestClient:
    """Call a WSGI app directly, as a server would, and return a ``TestResponse``.

    ``request(method, path, *, query=None, headers=None, body=b"", json=None)``: build the environ
    with ``make_environ`` (``json=`` serializes a value as the body, with ``Content-Type:
    application/json``), then play the server (PEP 3333 §Specification Details):

    - give the app a ``start_response(status, headers, exc_info=None)`` that records the status
      (``"404 Not Found"`` → ``404``) and headers, and **returns a ``write(data)`` callable** whose
      data is part of the body, before what the iterable yields;
    - a second ``start_response`` call is allowed only with ``exc_info`` (then it replaces the
      first: nothing has reached a client yet); without it, raise;
    - iterate over what the app returns, keeping every chunk; then **always** call its ``close()``
      if it has one (``try``/``finally``), exactly once.

    ``get(path, **kw)`` and ``post(path, **kw)`` are ``request("GET"/"POST", path, **kw)``. The
    client never follows a redirect: a 302 comes back as a 302.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        raise NotImplementedError("write WSGITestClient.__init__ in testing_clients.py")

    def request(
        self,
        method: str,
        path: str,
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        body: bytes = b"",
        json: Any = None,
    ) -> TestResponse:
        raise NotImplementedError("write WSGITestClient.request in testing_clients.py")

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        raise NotImplementedError("write WSGITestClient.get in testing_clients.py")

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        raise NotImplementedError("write WSGITestClient.post in testing_clients.py")


# --- ASGI ------------------------------------------------------------------------------------------


def make_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query: QueryArg = None,
    headers: HeadersArg = None,
    scheme: str = "http",
    server: tuple[str, int] = (DEFAULT_HOST, 80),
    client: tuple[str, int] = ("127.0.0.1", 50000),
    root_path: str = "",
) -> dict[str, Any]:
    """A complete ASGI HTTP connection scope for one request (ASGI HTTP §HTTP Connection Scope).

    ``type`` ``"http"``, ``asgi`` ``{"version": "3.0", "spec_version": "2.3"}``, ``http_version``
    ``"1.1"``, ``method`` (upper case), ``scheme``, ``root_path``, ``server`` and ``client`` as
    ``(host, port)`` pairs, and:

    - ``path``: percent-decoded *and* UTF-8 decoded (``urllib.parse.unquote(path)``):
      ``/caf%C3%A9`` → ``"/café"``. Unlike WSGI's latin-1 trick, ASGI gives real text;
    - ``raw_path``: the path as sent, in bytes (``b"/caf%C3%A9"``), without the query;
    - ``query_string``: bytes, still percent-encoded (same rules as ``make_environ``);
    - ``headers``: a list of ``(name, value)`` **bytes** pairs, names in **lower case**, repeats
      kept as separate pairs; add ``host`` unless given.
    """
    raise NotImplementedError("write make_scope() in testing_clients.py")


class WebSocketDisconnected(Exception):
    """The app closed the WebSocket (or refused it before accepting); ``code`` is the close code."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"the app closed the WebSocket with code {code} {reason}".strip())
        self.code = code
        self.reason = reason


class ASGITestClient:
    """Drive an ASGI app in-process: HTTP requests, the lifespan, WebSockets. All methods are plain
    (not ``async``): the client runs the event loop for you.

    **One loop, run on demand.** Make one loop in ``__init__`` (``asyncio.new_event_loop()``) and a
    ``run(awaitable)`` that does ``self.loop.run_until_complete(asyncio.wait_for(awaitable,
    self.timeout))``. Anything the app starts on that loop — its lifespan task, a WebSocket session
    (``self.loop.create_task(self.app(scope, receive, send))``) — simply pauses between your calls
    and goes on at the next one. ``close()`` cancels what is left and closes the loop.

    **HTTP** — ``request(method, path, *, query=None, headers=None, body=b"", json=None)``, ``get``,
    ``post``, as in WSGITestClient. Build the scope with ``make_scope`` (plus ``content-length``
    when there is a body, and ``scope["state"]``, a shallow copy of ``self.state``), then call the
    app with your own pair:

    - ``receive()``: first ``{"type": "http.request", "body": body, "more_body": False}``; after
      that, wait until the response is complete and *then* say ``{"type": "http.disconnect"}``
      (ASGI HTTP §Disconnect: the client leaves once it has its answer);
    - ``send(message)``: keep ``http.response.start`` (status, headers as bytes → decode latin-1)
      and join every ``http.response.body``; ``more_body`` False marks the end.

    An exception the app raises goes up to the caller (as httpx's transports do).

    **Lifespan** (ASGI Lifespan 2.0) — ``with ASGITestClient(app) as client:``. ``__enter__``
    starts the app with ``{"type": "lifespan", "asgi": {...}, "state": self.state}`` as a task,
    sends ``lifespan.startup`` and waits for the answer: ``lifespan.startup.complete`` → return
    ``self``; ``lifespan.startup.failed`` → raise an exception with the app's ``message``; the app
    raises or returns instead of answering → it does not support lifespan: carry on without it.
    ``__exit__`` sends ``lifespan.shutdown``, waits for ``lifespan.shutdown.complete``, then
    ``close()``\\ s the client. What the app puts in ``scope["state"]`` at startup, every request
    sees (a copy of it).

    **WebSocket** — ``websocket_connect(path, *, headers=None) -> WebSocketSession``.
    """

    def __init__(self, app: Callable[..., Any], *, timeout: float = TIMEOUT) -> None:
        raise NotImplementedError("write ASGITestClient.__init__ in testing_clients.py")

    def run(self, awaitable: Any) -> Any:
        raise NotImplementedError("write ASGITestClient.run in testing_clients.py")

    def request(
        self,
        method: str,
        path: str,
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        body: bytes = b"",
        json: Any = None,
    ) -> TestResponse:
        raise NotImplementedError("write ASGITestClient.request in testing_clients.py")

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        raise NotImplementedError("write ASGITestClient.get in testing_clients.py")

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        raise NotImplementedError("write ASGITestClient.post in testing_clients.py")

    def __enter__(self) -> ASGITestClient:
        raise NotImplementedError("write ASGITestClient.__enter__ (lifespan startup) in testing_clients.py")

    def __exit__(self, *exc_info: Any) -> None:
        raise NotImplementedError("write ASGITestClient.__exit__ (lifespan shutdown) in testing_clients.py")

    def close(self) -> None:
        raise NotImplementedError("write ASGITestClient.close in testing_clients.py")

    def websocket_connect(self, path: str, *, headers: HeadersArg = None) -> WebSocketSession:
        raise NotImplementedError("write ASGITestClient.websocket_connect in testing_clients.py")


class WebSocketSession:
    """One WebSocket between the test and the app (ASGI WebSocket §Connection Scope onwards).

    ``__init__`` gets the client and a websocket scope (``make_scope`` with ``type`` ``"websocket"``,
    ``scheme`` ``"ws"``, no ``method``, ``subprotocols`` ``[]``, ``asgi`` spec_version ``"2.5"``).
    It starts the app as a task on the client's loop with two ``asyncio.Queue``\\ s as its
    ``receive`` (``to_app.get``) and ``send`` (``from_app.put``), puts ``{"type":
    "websocket.connect"}`` in, and waits for the first message: ``websocket.accept`` → connected;
    ``websocket.close`` → the handshake is refused: raise ``WebSocketDisconnected(code)``.

    - ``send_text(text)`` / ``send_bytes(data)``: put a ``websocket.receive`` message for the app.
    - ``receive_text()`` / ``receive_bytes()``: run the loop until the app sends; a
      ``websocket.send`` gives its ``text`` / ``bytes``; a ``websocket.close`` raises
      ``WebSocketDisconnected(code)``. If the app's task ends (or raises) instead, say so: do not
      wait forever.
    - ``close(code=1000)``: put ``{"type": "websocket.disconnect", "code": code}`` and let the app
      finish. ``with client.websocket_connect(path) as ws:`` closes at the end of the block.
    """

    def __init__(self, client: ASGITestClient, scope: dict[str, Any]) -> None:
        raise NotImplementedError("write WebSocketSession.__init__ in testing_clients.py")

    def send_text(self, text: str) -> None:
        raise NotImplementedError("write WebSocketSession.send_text in testing_clients.py")

    def send_bytes(self, data: bytes) -> None:
        raise NotImplementedError("write WebSocketSession.send_bytes in testing_clients.py")

    def receive_text(self) -> str:
        raise NotImplementedError("write WebSocketSession.receive_text in testing_clients.py")

    def receive_bytes(self) -> bytes:
        raise NotImplementedError("write WebSocketSession.receive_bytes in testing_clients.py")

    def close(self, code: int = 1000) -> None:
        raise NotImplementedError("write WebSocketSession.close in testing_clients.py")

    def __enter__(self) -> WebSocketSession:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

