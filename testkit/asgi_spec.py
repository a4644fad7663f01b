"""One ASGI message validator the tests share, for both sides of the ``(scope, receive, send)`` call.

The ASGI specs (ASGI 3.0, HTTP & WebSocket 2.x, lifespan 2.0) are a set of message formats plus a
small state machine per scope type. This module checks both, so every test that runs an app sees a
broken rule as one plain sentence with the spec section, and not as a confused peer three calls later.

- :func:`checked_app` wraps an *app* under test. Every message the app sends is checked against its
  scope type's state machine *before* it is passed on; a violation raises :class:`ASGIViolation` (an
  ``AssertionError``) from the app's own ``await send(...)``, so the student's line is in the traceback.
- :class:`ServerChecks` wraps a *probe app* served by a *server* under test. It checks the scope and
  every message the server hands to ``receive()``, and (on request) that ``send()`` raises after the
  response is complete. A server turns an app's exception into a 500, so it does not raise: it records,
  and the test calls :meth:`ServerChecks.raise_first` after the request.
- :func:`check_scope` and :func:`checked_receive` are the same server-side checks, for a test that
  drives a server's ``receive`` in process.

Only the rules the specs state are checked; extension messages (``http.response.trailers``,
``http.response.pathsend``, ``websocket.http.response.*``) are accepted exactly when the scope's
``extensions`` advertise them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

# RFC 9110 §5.6.2: a field name is a token; ASGI adds "lowercased". No ':' so no HTTP/2 pseudo-header.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Z]+")
# RFC 9110 §5.5: a field value never holds CR, LF or NUL (they would split or end the header line).
_BAD_VALUE = re.compile(rb"[\r\n\x00]")
# RFC 6455 §7.4: the codes an endpoint may send. 1004-1006 and 1015 are reserved, never on the wire.
_SENDABLE_CLOSE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


class ASGIViolation(AssertionError):
    """A message, scope or call order that the ASGI spec forbids: a sentence, the message, the section."""

    def __init__(self, sentence: str, message: Any = None, *, spec: str) -> None:
        self.sentence, self.message, self.spec = sentence, message, spec
        shown = "" if message is None else f"\n  the message: {_shortened(repr(message))}"
        super().__init__(f"{sentence}{shown}\n  see {spec}")


def _shortened(text: str, limit: int = 400) -> str:
    """``text`` cut to ``limit`` characters: a 512 KiB request body would bury the sentence."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters in all)"


# --- shared field checks ---------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_headers(headers: Any, who: str, message: Any, spec: str) -> list[tuple[bytes, bytes]]:
    """Every header a (name, value) pair of bytes, the name a lowercase token; returns them as tuples."""
    try:
        pairs = list(headers)
    except TypeError:
        raise ASGIViolation(f"{who} sent headers that are not an iterable of [name, value] pairs", message, spec=spec) from None
    checked = []
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise ASGIViolation(f"{who} sent a header that is not a [name, value] pair: {pair!r}", message, spec=spec) from None
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise ASGIViolation(
                f"{who} sent a header whose name or value is not bytes: {pair!r} (ASGI headers are byte strings)",
                message,
                spec=spec,
            )
        if name != name.lower():
            raise ASGIViolation(
                f"{who} sent the header name {name!r} with capitals: ASGI header names must be lowercased",
                message,
                spec=spec,
            )
        if not _TOKEN.fullmatch(name):
            raise ASGIViolation(
                f"{who} sent {name!r}, which is not a header name (a token: RFC 9110 §5.1)",
                message,
                spec=spec,
            )
        if _BAD_VALUE.search(value):
            raise ASGIViolation(
                f"{who} sent the {name.decode()} value {value!r}, which holds CR, LF or NUL (RFC 9110 §5.5)",
                message,
                spec=spec,
            )
        checked.append((name, value))
    return checked


def _extensions(scope: Message) -> Any:
    return scope.get("extensions") or {}


# --- the app side: what an app may send ------------------------------------------------------------


class _HTTPResponse:
    """ASGI HTTP: one ``http.response.start``, then body messages until ``more_body`` is false."""

    def __init__(self, scope: Message, who: str) -> None:
        self.scope, self.who = scope, who
        self.state = "start"  # start -> body -> (trailers) -> done
        self.declared: int | None = None  # the Content-Length the app announced, if any
        self.sent = 0
        self.trailers = False

    def check(self, message: Message) -> None:
        kind = message.get("type")
        who = self.who
        if self.state == "done":
            raise ASGIViolation(
                f"{who} sent {kind!r} after the response was complete (a body with more_body False)",
                message,
                spec="ASGI HTTP §Response Body",
            )
        if kind == "http.response.start":
            if self.state != "start":
                raise ASGIViolation(
                    f"{who} sent a second 'http.response.start': a response starts once",
                    message,
                    spec="ASGI HTTP §Response Start",
                )
            self._check_start(message)
            self.state = "body"
        elif kind == "http.response.body":
            if self.state != "body":
                raise ASGIViolation(
                    f"{who} sent 'http.response.body' before 'http.response.start'",
                    message,
                    spec="ASGI HTTP §Response Start",
                )
            self._check_body(message)
        elif kind == "http.response.pathsend" and kind in _extensions(self.scope) and self.state == "body":
            self.state = "trailers" if self.trailers else "done"
        elif kind == "http.response.trailers" and self.state == "trailers":
            _check_headers(message.get("headers", []), who, message, "ASGI HTTP §Response Trailers")
            if not message.get("more_trailers", False):
                self.state = "done"
        elif kind in _extensions(self.scope) and self.state != "start":
            pass  # another extension the scope advertises (http.response.debug, push): its own spec
        else:
            raise ASGIViolation(
                f"{who} sent {kind!r}, which an HTTP app cannot send here: 'http.response.start' first, "
                "then 'http.response.body' until more_body is False",
                message,
                spec="ASGI HTTP §Response Start, §Response Body",
            )

    def _check_start(self, message: Message) -> None:
        who, status = self.who, message.get("status")
        if not _is_int(status):
            raise ASGIViolation(
                f"{who} sent the status {status!r}: ASGI wants an int (200, not '200 OK')",
                message,
                spec="ASGI HTTP §Response Start",
            )
        if not 100 <= status <= 599:
            raise ASGIViolation(
                f"{who} sent the status {status}: an HTTP status code is three digits, 100 to 599 (RFC 9110 §15)",
                message,
                spec="ASGI HTTP §Response Start",
            )
        headers = _check_headers(message.get("headers", []), who, message, "ASGI HTTP §Response Start")
        lengths = {value for name, value in headers if name == b"content-length"}
        if len(lengths) > 1:
            raise ASGIViolation(
                f"{who} sent two different content-length headers: {sorted(lengths)!r} (RFC 9110 §8.6)",
                message,
                spec="ASGI HTTP §Response Start",
            )
        # A HEAD, 204 or 304 response announces a length but carries no content (RFC 9110 §8.6, §9.3.2).
        if lengths and self.scope.get("method") != "HEAD" and status not in (204, 304):
            (length,) = lengths
            if not length.isdigit():
                raise ASGIViolation(
                    f"{who} sent content-length {length!r}, which is not a number of bytes (RFC 9110 §8.6)",
                    message,
                    spec="ASGI HTTP §Response Start",
                )
            self.declared = int(length)
        trailers = message.get("trailers", False)
        if not isinstance(trailers, bool):
            raise ASGIViolation(
                f"{who} sent trailers={trailers!r}: it is a bool",
                message,
                spec="ASGI HTTP §Response Start",
            )
        if trailers and "http.response.trailers" not in _extensions(self.scope):
            raise ASGIViolation(
                f"{who} asked for trailers, which this server does not offer (no 'http.response.trailers' "
                "extension in the scope)",
                message,
                spec="ASGI HTTP §Response Trailers",
            )
        self.trailers = trailers

    def _check_body(self, message: Message) -> None:
        who, body, more = self.who, message.get("body", b""), message.get("more_body", False)
        if not isinstance(body, bytes):
            hint = " (encode text first: 'text'.encode())" if isinstance(body, str) else ""
            raise ASGIViolation(
                f"{who} sent a body of type {type(body).__name__}: ASGI bodies are bytes{hint}",
                message,
                spec="ASGI HTTP §Response Body",
            )
        if not isinstance(more, bool):
            raise ASGIViolation(
                f"{who} sent more_body={more!r}: it is a bool",
                message,
                spec="ASGI HTTP §Response Body",
            )
        self.sent += len(body)
        if self.declared is not None and self.sent > self.declared:
            raise ASGIViolation(
                f"{who} sent {self.sent} body bytes after announcing content-length {self.declared} (RFC 9110 §8.6)",
                message,
                spec="ASGI HTTP §Response Body",
            )
        if not more:
            if self.declared is not None and self.sent != self.declared:
                raise ASGIViolation(
                    f"{who} ended the body after {self.sent} bytes, having announced content-length "
                    f"{self.declared} (RFC 9110 §8.6)",
                    message,
                    spec="ASGI HTTP §Response Body",
                )
            self.state = "trailers" if self.trailers else "done"


class _WebSocket:
    """ASGI WebSocket: accept (or close, or a denial response) first; send only while open; close once."""

    def __init__(self, scope: Message, who: str) -> None:
        self.scope, self.who = scope, who
        self.state = "connecting"  # connecting -> open | denial -> closed

    def check(self, message: Message) -> None:
        kind, who = message.get("type"), self.who
        if self.state == "closed":
            raise ASGIViolation(
                f"{who} sent {kind!r} after the WebSocket was closed",
                message,
                spec="ASGI WebSocket §Close - send event",
            )
        if kind == "websocket.accept":
            if self.state != "connecting":
                raise ASGIViolation(
                    f"{who} sent 'websocket.accept' twice, or after a denial response: accept once, first",
                    message,
                    spec="ASGI WebSocket §Accept - send event",
                )
            self._check_accept(message)
            self.state = "open"
        elif kind == "websocket.send":
            if self.state != "open":
                raise ASGIViolation(
                    f"{who} sent 'websocket.send' before 'websocket.accept'",
                    message,
                    spec="ASGI WebSocket §Accept - send event",
                )
            data, text = message.get("bytes"), message.get("text")
            if (data is None) == (text is None):
                raise ASGIViolation(
                    f"{who} sent 'websocket.send' with {'both' if data is not None else 'neither'} of bytes and "
                    "text: exactly one is not None",
                    message,
                    spec="ASGI WebSocket §Send - send event",
                )
            if data is not None and not isinstance(data, bytes):
                raise ASGIViolation(
                    f"{who} sent bytes of type {type(data).__name__}: a binary frame is bytes",
                    message,
                    spec="ASGI WebSocket §Send - send event",
                )
            if text is not None and not isinstance(text, str):
                raise ASGIViolation(
                    f"{who} sent text of type {type(text).__name__}: a text frame is str",
                    message,
                    spec="ASGI WebSocket §Send - send event",
                )
        elif kind == "websocket.close":
            if self.state == "denial":
                raise ASGIViolation(
                    f"{who} sent 'websocket.close' in the middle of a denial response",
                    message,
                    spec="ASGI WebSocket §Denial Response",
                )
            self._check_close(message)
            self.state = "closed"
        elif kind == "websocket.http.response.start" and "websocket.http.response" in _extensions(self.scope):
            if self.state != "connecting":
                raise ASGIViolation(
                    f"{who} sent a denial response after accepting (or twice)",
                    message,
                    spec="ASGI WebSocket §Denial Response",
                )
            status = message.get("status")
            if not _is_int(status) or not 100 <= status <= 599:
                raise ASGIViolation(
                    f"{who} sent the denial status {status!r}: an int, 100 to 599",
                    message,
                    spec="ASGI WebSocket §Denial Response",
                )
            _check_headers(message.get("headers", []), who, message, "ASGI WebSocket §Denial Response")
            self.state = "denial"
        elif kind == "websocket.http.response.body" and self.state == "denial":
            body, more = message.get("body", b""), message.get("more_body", False)
            if not isinstance(body, bytes) or not isinstance(more, bool):
                raise ASGIViolation(
                    f"{who} sent a denial body that is not bytes, or a more_body that is not a bool",
                    message,
                    spec="ASGI WebSocket §Denial Response",
                )
            if not more:
                self.state = "closed"
        else:
            raise ASGIViolation(
                f"{who} sent {kind!r}, which a WebSocket app cannot send here (websocket.accept, websocket.send, websocket.close)",
                message,
                spec="ASGI WebSocket §Accept, §Send, §Close",
            )

    def _check_accept(self, message: Message) -> None:
        who, chosen = self.who, message.get("subprotocol")
        if chosen is not None:
            offered = self.scope.get("subprotocols") or []
            if not isinstance(chosen, str) or chosen not in offered:
                raise ASGIViolation(
                    f"{who} accepted the subprotocol {chosen!r}, which the client did not offer "
                    f"({list(offered)!r}; RFC 6455 §4.2.2)",
                    message,
                    spec="ASGI WebSocket §Accept - send event",
                )
        _check_headers(message.get("headers", []), who, message, "ASGI WebSocket §Accept - send event")

    def _check_close(self, message: Message) -> None:
        who, code, reason = self.who, message.get("code", 1000), message.get("reason")
        if not _is_int(code):
            raise ASGIViolation(
                f"{who} sent the close code {code!r}: an int",
                message,
                spec="ASGI WebSocket §Close - send event",
            )
        if code not in _SENDABLE_CLOSE and not 3000 <= code <= 4999:
            raise ASGIViolation(
                f"{who} sent the close code {code}, which an endpoint may not send (RFC 6455 §7.4: 1000-1003, "
                "1007-1014, 3000-4999)",
                message,
                spec="ASGI WebSocket §Close - send event",
            )
        if reason is not None:
            if not isinstance(reason, str):
                raise ASGIViolation(
                    f"{who} sent a close reason of type {type(reason).__name__}: a str",
                    message,
                    spec="ASGI WebSocket §Close - send event",
                )
            if len(reason.encode("utf-8")) > 123:
                raise ASGIViolation(
                    f"{who} sent a close reason of {len(reason.encode())} bytes: at most 123 fit in a close frame "
                    "(RFC 6455 §5.5)",
                    message,
                    spec="ASGI WebSocket §Close - send event",
                )


class _Lifespan:
    """ASGI lifespan: answer ``lifespan.startup`` once, then ``lifespan.shutdown`` once, each when asked."""

    def __init__(self, scope: Message, who: str) -> None:
        self.scope, self.who = scope, who
        self.asked: str | None = None  # "startup" or "shutdown": the event waiting for an answer
        self.answered: set[str] = set()

    def received(self, message: Message) -> None:
        kind = message.get("type")
        if kind in ("lifespan.startup", "lifespan.shutdown"):
            self.asked = kind.removeprefix("lifespan.")

    def check(self, message: Message) -> None:
        kind, who = str(message.get("type")), self.who
        phase, _, outcome = kind.removeprefix("lifespan.").partition(".")
        if phase not in ("startup", "shutdown") or outcome not in ("complete", "failed"):
            raise ASGIViolation(
                f"{who} sent {kind!r}: a lifespan app sends lifespan.startup.complete|failed, then "
                "lifespan.shutdown.complete|failed",
                message,
                spec="ASGI Lifespan §Startup, §Shutdown",
            )
        if phase in self.answered:
            raise ASGIViolation(
                f"{who} answered lifespan.{phase} twice",
                message,
                spec=f"ASGI Lifespan §{phase.title()} - receive event",
            )
        if self.asked != phase:
            raise ASGIViolation(
                f"{who} sent {kind!r} before receive() returned 'lifespan.{phase}'",
                message,
                spec=f"ASGI Lifespan §{phase.title()} - receive event",
            )
        failure = message.get("message", "")
        if outcome == "failed" and not isinstance(failure, str):
            raise ASGIViolation(
                f"{who} sent a failure message of type {type(failure).__name__}: a str",
                message,
                spec=f"ASGI Lifespan §{phase.title()} Failed - send event",
            )
        self.answered.add(phase)
        self.asked = None


def _machine(scope: Message, who: str) -> Any:
    kind = scope.get("type")
    if kind == "http":
        return _HTTPResponse(scope, who)
    if kind == "websocket":
        return _WebSocket(scope, who)
    if kind == "lifespan":
        return _Lifespan(scope, who)
    return None  # a scope type nobody here specifies: pass it through unchecked


def checked_send(send: Send, scope: Message, *, what: str = "your code") -> Send:
    """``send``, checked as :func:`checked_app` checks an app's: for code handed a bare ``send``."""
    return _send_through(send, _machine(scope, what), what)


def _send_through(send: Send, machine: Any, what: str) -> Send:
    async def checked(message: Message) -> None:
        __tracebackhide__ = True  # pytest: end the traceback at the app's own `await send(...)`
        if machine is not None:
            if not isinstance(message, MutableMapping) or not isinstance(message.get("type"), str):
                raise ASGIViolation(
                    f"{what} sent {message!r}: every message is a dict with a 'type'",
                    spec="ASGI 3.0 §Applications",
                )
            try:
                machine.check(message)
            except ASGIViolation as violation:
                raise violation.with_traceback(None) from None  # the checker's own frames teach nothing
        await send(message)

    return checked


class CheckedApp:
    """An ASGI app that runs ``app`` with every message it sends checked (see :func:`checked_app`).

    ``violations`` keeps every violation raised, for a test whose app a real server runs: the server
    turns the exception into a 500, so the test calls :meth:`raise_first` after its requests to show
    the sentence instead of the bare status.
    """

    def __init__(self, app: App, *, what: str = "your app") -> None:
        self.app, self.what = app, what
        self.violations: list[ASGIViolation] = []

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        machine = _machine(scope, self.what)
        inner_send = _send_through(send, machine, self.what)
        broken: list[ASGIViolation] = []

        async def remembered_send(message: Message) -> None:
            __tracebackhide__ = True
            try:
                await inner_send(message)
            except ASGIViolation as violation:
                broken.append(violation)
                self.violations.append(violation)
                raise

        async def watched_receive() -> Message:
            message = await receive()
            if isinstance(machine, _Lifespan):
                machine.received(message)
            return message

        try:
            await self.app(scope, watched_receive, remembered_send)
        except Exception as exc:
            if broken and exc is not broken[0]:
                raise broken[0] from exc  # the app turned the violation into an error of its own
            raise
        if broken:
            raise broken[0]  # the app swallowed it: a rule once broken stays broken

    def raise_first(self) -> None:
        """Raise the first violation any call saw, if any."""
        if self.violations:
            raise self.violations[0]


def checked_app(app: App, *, what: str = "your app") -> CheckedApp:
    """``app``, with every message it sends checked against its scope type's ASGI state machine.

    A violation raises :class:`ASGIViolation` from the app's ``await send(...)`` (nothing is passed on),
    so the app's own line is in the traceback. If the app swallows that exception, it is raised again
    when the app returns.
    """
    return CheckedApp(app, what=what)


# --- the server side: what a server may hand an app ------------------------------------------------


def check_scope(scope: Any, *, what: str = "your server") -> None:
    """Raise :class:`ASGIViolation` unless ``scope`` has every key of its type, each of its type."""
    if not isinstance(scope, MutableMapping):
        raise ASGIViolation(
            f"{what} passed a scope of type {type(scope).__name__}: a dict",
            spec="ASGI 3.0 §Connection Scope",
        )
    kind = scope.get("type")
    asgi = scope.get("asgi")
    if not isinstance(asgi, MutableMapping) or asgi.get("version", "2.0") not in ("2.0", "3.0") or not isinstance(asgi.get("spec_version", "2.0"), str):
        raise ASGIViolation(
            f"{what} gave scope['asgi'] = {asgi!r}: a dict with 'version' '3.0' (and 'spec_version' a str)",
            scope,
            spec="ASGI 3.0 §Connection Scope",
        )

    def need(key: str, ok: Callable[[Any], bool], wants: str, *, optional: bool = False) -> None:
        if key not in scope:
            if optional:
                return
            raise ASGIViolation(f"{what} gave a {kind!r} scope without {key!r} ({wants})", scope, spec=section)
        if not ok(scope[key]):
            raise ASGIViolation(f"{what} gave scope[{key!r}] = {scope[key]!r}: expected {wants}", scope, spec=section)

    def address(value: Any) -> bool:  # [host, port]; a unix socket server is [path, None]
        if value is None:
            return True
        try:
            host, port = value
        except (TypeError, ValueError):
            return False
        return isinstance(host, str) and (port is None or _is_int(port))

    if kind == "lifespan":
        section = "ASGI Lifespan §Scope"
        need("state", lambda v: isinstance(v, MutableMapping), "a dict", optional=True)
        return
    if kind not in ("http", "websocket"):
        raise ASGIViolation(
            f"{what} gave a scope of type {kind!r}: 'http', 'websocket' or 'lifespan'",
            scope,
            spec="ASGI 3.0 §Connection Scope",
        )
    section = "ASGI HTTP §HTTP Connection Scope" if kind == "http" else "ASGI WebSocket §WebSocket Connection Scope"
    need("http_version", lambda v: v in ("1.0", "1.1", "2", "3"), "'1.0', '1.1', '2' or '3'", optional=kind == "websocket")
    if kind == "http":
        need("method", lambda v: isinstance(v, str) and bool(_METHOD.fullmatch(v)), "the method as an uppercase str ('GET')")
    need("scheme", lambda v: isinstance(v, str) and v != "", "a non-empty str", optional=True)
    need("path", lambda v: isinstance(v, str), "a str (percent-decoded)")
    need("raw_path", lambda v: v is None or isinstance(v, bytes), "bytes (the path as it came) or None", optional=True)
    need("query_string", lambda v: isinstance(v, bytes), "bytes (after '?', not decoded)", optional=kind == "websocket")
    need("root_path", lambda v: isinstance(v, str), "a str", optional=True)
    need("headers", lambda v: isinstance(v, (list, tuple)), "a list of [name, value] pairs")
    _check_headers(scope["headers"], what, scope, section)
    need("client", address, "[host, port]: a str and an int, or None", optional=True)
    need("server", address, "[host, port]: a str and an int (or None), or None", optional=True)
    need("state", lambda v: isinstance(v, MutableMapping), "a dict", optional=True)
    need("extensions", lambda v: v is None or isinstance(v, MutableMapping), "a dict", optional=True)
    if kind == "websocket":
        need("subprotocols", lambda v: isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v), "a list of str", optional=True)


class _Incoming:
    """What a server hands ``receive()``, one message at a time, for each scope type."""

    def __init__(self, scope: Message, who: str) -> None:
        self.kind, self.who = scope.get("type"), who
        self.state = "start"

    def check(self, message: Any) -> None:
        who = self.who
        if not isinstance(message, MutableMapping):
            raise ASGIViolation(
                f"{who} returned {message!r} from receive(): every message is a dict with a 'type'",
                spec="ASGI 3.0 §Applications",
            )
        kind = message.get("type")
        if self.kind == "http":
            self._http(kind, message)
        elif self.kind == "websocket":
            self._websocket(kind, message)
        elif self.kind == "lifespan":
            expected = "lifespan.startup" if self.state == "start" else "lifespan.shutdown"
            if kind != expected or self.state == "done":
                raise ASGIViolation(
                    f"{who} returned {kind!r} from receive(); expected {expected!r} (startup once, then shutdown "
                    "once)",
                    message,
                    spec="ASGI Lifespan §Startup, §Shutdown",
                )
            self.state = "up" if self.state == "start" else "done"

    def _http(self, kind: Any, message: Message) -> None:
        who = self.who
        if kind == "http.disconnect":
            self.state = "gone"
            return
        if self.state == "gone":
            raise ASGIViolation(
                f"{who} returned {kind!r} from receive() after 'http.disconnect': once gone, receive() keeps "
                "returning 'http.disconnect'",
                message,
                spec="ASGI HTTP §Disconnect - receive event",
            )
        if self.state == "ended":
            raise ASGIViolation(
                f"{who} returned {kind!r} from receive() after the last body piece (more_body False): only "
                "'http.disconnect' may follow",
                message,
                spec="ASGI HTTP §Disconnect - receive event",
            )
        if kind != "http.request":
            raise ASGIViolation(
                f"{who} returned {kind!r} from receive() on an HTTP connection: 'http.request' or 'http.disconnect'",
                message,
                spec="ASGI HTTP §Request - receive event",
            )
        body, more = message.get("body", b""), message.get("more_body", False)
        if not isinstance(body, bytes):
            raise ASGIViolation(
                f"{who} handed a request body of type {type(body).__name__}: bytes",
                message,
                spec="ASGI HTTP §Request - receive event",
            )
        if not isinstance(more, bool):
            raise ASGIViolation(
                f"{who} handed more_body={more!r}: a bool",
                message,
                spec="ASGI HTTP §Request - receive event",
            )
        if not more:
            self.state = "ended"

    def _websocket(self, kind: Any, message: Message) -> None:
        who = self.who
        if self.state == "start":
            if kind != "websocket.connect":
                raise ASGIViolation(
                    f"{who} returned {kind!r} first from receive(): a WebSocket starts with 'websocket.connect'",
                    message,
                    spec="ASGI WebSocket §Connect - receive event",
                )
            self.state = "open"
        elif kind == "websocket.receive" and self.state == "open":
            data, text = message.get("bytes"), message.get("text")
            if (data is None) == (text is None):
                raise ASGIViolation(
                    f"{who} handed 'websocket.receive' with {'both' if data is not None else 'neither'} of bytes "
                    "and text: exactly one is not None",
                    message,
                    spec="ASGI WebSocket §Receive - receive event",
                )
            if not isinstance(data, (bytes, type(None))) or not isinstance(text, (str, type(None))):
                wrong, wants = ("bytes", "bytes") if data is not None else ("text", "str")
                raise ASGIViolation(
                    f"{who} handed {wrong} of type {type(data if data is not None else text).__name__} in "
                    f"'websocket.receive': a {'binary' if wrong == 'bytes' else 'text'} message is {wants}",
                    message,
                    spec="ASGI WebSocket §Receive - receive event",
                )
        elif kind == "websocket.disconnect":
            code = message.get("code", 1005)
            if not _is_int(code):
                raise ASGIViolation(
                    f"{who} handed a close code of type {type(code).__name__}: an int",
                    message,
                    spec="ASGI WebSocket §Disconnect - receive event",
                )
            self.state = "gone"
        else:
            raise ASGIViolation(
                f"{who} returned {kind!r} from receive() here: after connect, 'websocket.receive' or "
                "'websocket.disconnect'",
                message,
                spec="ASGI WebSocket §Receive, §Disconnect",
            )


def checked_receive(receive: Receive, scope: Message, *, what: str = "your server") -> Receive:
    """``receive``, with every message it returns checked against the spec for ``scope``'s type."""
    incoming = _Incoming(scope, what)

    async def checked() -> Message:
        message = await receive()
        incoming.check(message)
        return message

    return checked


async def send_error_after_end(send: Send, scope: Message) -> BaseException | None:
    """Send one more message after the response ended; return what ``send`` raised (``None`` if nothing).

    A server's ``send()`` must refuse it: after the end, a message is an invalid event (ASGI 3.0
    §Error Handling), and once the client is gone it raises an ``OSError`` (ASGI HTTP §Disconnected
    Client - send exception).
    """
    extra = {"type": "websocket.send", "text": "late"} if scope.get("type") == "websocket" else {"type": "http.response.body", "body": b"late"}
    try:
        await send(extra)
    except Exception as exc:
        return exc
    return None


class ServerChecks:
    """A probe app, served by a server under test, that checks what the server hands it.

    ``ServerChecks(probe)`` is an ASGI app: it checks the scope and every ``receive()`` message, then
    runs ``probe``. With ``send_after_end=True`` it also sends once more after the probe completed its
    HTTP response, and records a violation when ``send`` accepts it. The server would turn an exception
    into a 500, so nothing is raised in the app: call :meth:`raise_first` once the request is done.
    """

    def __init__(self, app: App, *, what: str = "your server", send_after_end: bool = False) -> None:
        self.app, self.what, self.send_after_end = app, what, send_after_end
        self.violations: list[ASGIViolation] = []
        self.scopes: list[Message] = []

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        try:
            check_scope(scope, what=self.what)
        except ASGIViolation as violation:
            self.violations.append(violation)
        incoming = _Incoming(scope, self.what)
        ended = False

        async def watched_receive() -> Message:
            message = await receive()
            try:
                incoming.check(message)
            except ASGIViolation as violation:
                self.violations.append(violation)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal ended
            await send(message)
            if message.get("type") == "http.response.body" and not message.get("more_body", False):
                ended = True

        await self.app(scope, watched_receive, watched_send)
        if self.send_after_end and ended:
            if await send_error_after_end(send, scope) is None:
                self.violations.append(
                    ASGIViolation(
                        f"{self.what}'s send() accepted a message after the response was complete: it must raise",
                        spec="ASGI 3.0 §Error Handling",
                    )
                )

    def raise_first(self) -> None:
        """Raise the first violation seen, if any (call it after the request is done)."""
        if self.violations:
            raise self.violations[0]
