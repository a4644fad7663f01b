"""Exercise 17 — WebSockets over ASGI: echo, a chat room, a bouncer, and one app for HTTP and WebSocket.

A second, independent solution: messages are taken apart with ``match`` statements, the chat room
numbers its connections and broadcasts to all members at once (``asyncio.gather``, so one slow or
broken member neither delays nor breaks the others), the bouncer compares tokens in constant time and
refuses with close code 1008 (policy violation), and ``make_app()`` returns a routing object whose
table is keyed by ``(scope type, path)``.

Note: this module is not named ``websockets.py`` on purpose — that name belongs to the ``websockets``
library the tests use as a client.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MEMBERS_TOKEN = "let-me-in"
"""The query-string token ``members_only`` asks for: ``ws://host/?token=let-me-in``."""

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
"""RFC 6455 §7.4.1: "an endpoint is going away, such as a server going down": a closed room."""
"""RFC 6455 §7.4.1. Before accept the client sees HTTP 403 whatever the code; it documents why."""


def _require_websocket(scope: Scope) -> None:
    # ASGI §Protocol Specifications: raise on a scope type we do not speak (uvicorn sends "lifespan").
    if scope["type"] != "websocket":
        raise ValueError(f"this app speaks only 'websocket', not {scope['type']!r}")


def _query_value(scope: Scope, name: str) -> str | None:
    """The first non-empty value of ``name`` in the query string, percent-decoded as UTF-8."""
    # query_string is raw bytes; percent-encoded text is ASCII, and latin-1 never fails on stray bytes.
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if key == name and value:
            return value
    return None


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then send each message straight back, text as text and bytes as bytes, until disconnect."""
    _require_websocket(scope)
    while True:
        match await receive():
            case {"type": "websocket.connect"}:
                await send({"type": "websocket.accept"})
            case {"type": "websocket.receive", "text": str() as text}:
                await send({"type": "websocket.send", "text": text})
            case {"type": "websocket.receive", "bytes": bytes() as data}:
                await send({"type": "websocket.send", "bytes": data})
            case {"type": "websocket.disconnect"}:
                return  # the client is gone: nothing more may be sent


def client_name(scope: Scope) -> str:
    """The ``name`` in the query string (``/chat?name=Ada%20L`` -> ``"Ada L"``); ``"anonymous"`` if absent or empty."""
    return _query_value(scope, "name") or "anonymous"


class ChatRoom:
    """A chat room as an ASGI app: every instance is one room, with its own members.

    ``ada`` joins: the others get ``"* ada joined"``, then she gets ``"* welcome, ada"``; her ``"hi"``
    reaches every other member as ``"ada: hi"``; when she leaves, the others get ``"* ada left"``.
    """

    def __init__(self) -> None:
        # connection number -> (name, its send). All connections run on one event loop, so the dict
        # needs no lock as long as nothing awaits between reading and changing it.
        self.members: dict[int, tuple[str, Send]] = {}
        self._numbers = itertools.count(1)
        self.closed = False

    async def broadcast(self, text: str, *, skip: int | None = None) -> None:
        """Send ``text`` to every member except ``skip``, all at once."""
        message = {"type": "websocket.send", "text": text}
        # A snapshot: members may come and go while the sends are awaited.
        sends = [send(message) for number, (_, send) in list(self.members.items()) if number != skip]
        # A member whose connection just broke must not break the sender's loop: its own task sees
        # the disconnect and removes it.
        await asyncio.gather(*sends, return_exceptions=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One client's visit: connect, join, relay its messages, leave."""
        _require_websocket(scope)
        if (await receive())["type"] != "websocket.connect":
            return  # gone before it even asked to connect
        if self.closed:  # a closed room: refuse before accept (HTTP 403; the code is never seen)
            await send({"type": "websocket.close", "code": GOING_AWAY})
            return
        await send({"type": "websocket.accept"})
        name, number = client_name(scope), next(self._numbers)
        self.members[number] = (name, send)  # in the room before anyone hears of it
        try:
            await self.broadcast(f"* {name} joined", skip=number)
            await send({"type": "websocket.send", "text": f"* welcome, {name}"})
            while True:
                match await receive():
                    case {"type": "websocket.receive", "text": str() as text}:
                        await self.broadcast(f"{name}: {text}", skip=number)
                    case {"type": "websocket.disconnect"}:
                        break
                    case _:
                        pass  # the room speaks text: binary messages are not relayed
        finally:
            # Never in the room after its connection is gone (close() may have emptied it already).
            self.members.pop(number, None)
            await self.broadcast(f"* {name} left")

    async def close(self) -> None:
        """Close the room: every open WebSocket gets 1001 Going Away, all at once; newcomers get 403."""
        self.closed = True
        # A fresh, empty room from now on: nothing later is broadcast to a connection closed here.
        leaving, self.members = self.members, {}
        message = {"type": "websocket.close", "code": GOING_AWAY, "reason": "server closing the room"}
        await asyncio.gather(*(send(dict(message)) for _, send in leaving.values()), return_exceptions=True)


async def members_only(scope: Scope, receive: Receive, send: Send) -> None:
    """Only ``?token=let-me-in`` gets in (a greeting, then close 1000 "that is all"); others get 403."""
    _require_websocket(scope)
    if (await receive())["type"] != "websocket.connect":
        return
    token = _query_value(scope, "token") or ""
    # compare_digest: how long the comparison takes does not reveal how much of the token was right.
    if not hmac.compare_digest(token.encode("utf-8"), MEMBERS_TOKEN.encode("utf-8")):
        # Close *before* accept: the server refuses the handshake with HTTP 403 (ASGI WebSocket §Close).
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "welcome, member"})
    await send({"type": "websocket.close", "code": 1000, "reason": "that is all"})


PAGE = b"""<!doctype html>
<meta charset="utf-8">
<title>chat</title>
<ul id="log"></ul>
<form id="form"><input id="text" autocomplete="off"><button>send</button></form>
<script>
  const name = prompt("your name?") || "anonymous";
  const ws = new WebSocket(`ws://${location.host}/chat?name=${encodeURIComponent(name)}`);
  const log = (text) => { const li = document.createElement("li"); li.textContent = text; document.getElementById("log").append(li); };
  ws.onmessage = (event) => log(event.data);
  ws.onclose = () => log("* disconnected");
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    ws.send(input.value); log(`${name}: ${input.value}`); input.value = "";
  };
</script>
"""

WEBSOCKET_PATHS = ("/echo", "/chat")


async def _respond(send: Send, status: int, body: bytes, content_type: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    """The HTTP half of ``make_app``: the page at ``/``, 426 on the WebSocket paths, 404 elsewhere."""
    text = b"text/plain; charset=utf-8"
    path, method = scope["path"], scope["method"]
    if path in WEBSOCKET_PATHS:
        # RFC 9110 §15.5.22: name the protocol in Upgrade; §7.8: whoever sends Upgrade also lists it
        # in Connection, so that intermediaries do not forward it.
        upgrade = ((b"upgrade", b"websocket"), (b"connection", b"upgrade"))
        await _respond(send, 426, b"Upgrade Required: this path speaks WebSocket\n", text, upgrade)
    elif path != "/":
        await _respond(send, 404, b"Not Found\n", text)
    elif method in ("GET", "HEAD"):  # HEAD: the server leaves the body out (RFC 9110 §9.3.2)
        await _respond(send, 200, PAGE, b"text/html; charset=utf-8")
    else:
        await _respond(send, 405, b"Method Not Allowed\n", text, ((b"allow", b"GET, HEAD"),))


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """A WebSocket to a path nobody serves: refuse the handshake (the client sees 403)."""
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})


class _Site:
    """The app ``make_app()`` returns: WebSocket routes by path, everything HTTP to ``http()``."""

    def __init__(self) -> None:
        self.websocket_routes: dict[str, ASGIApp] = {"/echo": echo, "/chat": ChatRoom()}  # one room for all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await http(scope, receive, send)
        elif kind == "websocket":
            await self.websocket_routes.get(scope["path"], _refuse)(scope, receive, send)
        else:
            # ASGI §Protocol Specifications; uvicorn then goes on without lifespan.
            raise ValueError(f"unsupported ASGI scope type {kind!r}")


def make_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """One ASGI app for both protocols: HTTP to ``http()``, WebSocket ``/echo`` and ``/chat`` (one
    shared room), other WebSocket paths refused; any other scope type raises ``ValueError``."""
    return _Site()
