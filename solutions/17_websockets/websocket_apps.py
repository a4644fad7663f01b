"""Exercise 17 — WebSockets over ASGI: echo, a chat room, a bouncer, and one app for HTTP and WebSocket.

An HTTP request is one message in, one message out. A WebSocket is a conversation: once the
handshake is done, either side may send a message at any time, for as long as both like. ASGI
models it with the same three arguments as HTTP — ``scope``, ``receive``, ``send`` — and a
different set of messages (ASGI WebSocket spec 2.5):

    server -> app   {"type": "websocket.connect"}                         the client asks to open
    app -> server   {"type": "websocket.accept"}                          yes: the handshake completes
    app -> server   {"type": "websocket.close", "code": 1000}             no (before accept: HTTP 403)
    server -> app   {"type": "websocket.receive", "text": "hi"}           a text message ...
    server -> app   {"type": "websocket.receive", "bytes": b"\\x00"}       ... or a binary one
    app -> server   {"type": "websocket.send", "text": "hi"}              (or "bytes": b"...")
    server -> app   {"type": "websocket.disconnect", "code": 1000}        the client is gone
    app -> server   {"type": "websocket.close", "code": 1000, "reason": "bye"}   the app hangs up

The scope is ``{"type": "websocket", "path": "/chat", "query_string": b"name=ada", "headers": [...],
"subprotocols": [...], ...}``. Note: this module is not named ``websockets.py`` on purpose — that
name belongs to the ``websockets`` library the tests use as a client.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

Scope = dict[str, Any]  # mutants: skip (given in the stub)
Message = dict[str, Any]  # mutants: skip (given in the stub)
Receive = Callable[[], Awaitable[Message]]  # mutants: skip (given in the stub)
Send = Callable[[Message], Awaitable[None]]  # mutants: skip (given in the stub)

MEMBERS_TOKEN = "let-me-in"  # mutants: skip (given in the stub)
"""The query-string token ``members_only`` asks for: ``ws://host/?token=let-me-in``."""


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept every connection and send each message straight back, text as text, bytes as bytes.

    Wait for ``websocket.connect``, answer ``websocket.accept``, then loop: a ``websocket.receive``
    carries either ``"text"`` (a ``str``) or ``"bytes"`` (a ``bytes``) — the other key is absent or
    ``None`` — and the echo must keep the kind (ASGI WebSocket §Receive, §Send). Return when
    ``websocket.disconnect`` arrives: the client is gone and nothing more may be sent.
    """
    message = await receive()
    if message["type"] != "websocket.connect":  # the client left before the handshake finished
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        # Exactly one of "text" and "bytes" is set; keep the kind the client used.
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def client_name(scope: Scope) -> str:
    """The ``name`` in the query string (``/chat?name=ada`` -> ``"ada"``), percent-decoded; ``"anonymous"`` if absent."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query.get("name", ["anonymous"])[0]


class ChatRoom:
    """A chat room as an ASGI app: every instance is one room, with its own members.

    Protocol (all text messages):

    - a newcomer ``ada`` (``?name=ada``) is added to the room, the others get ``"* ada joined"``,
      and only then does ada get ``"* welcome, ada"`` — so when a client has its welcome, it is
      in the room and every member already knows;
    - a message ``"hi"`` from ada reaches every *other* member as ``"ada: hi"`` (not ada herself);
    - when ada disconnects she leaves the room and the others get ``"* ada left"``;
    - ``await room.close()`` ends the room: every open WebSocket in it is closed with 1001.
    """

    def __init__(self) -> None:  # mutants: skip (given in the stub)
        # One entry per connected client: its name and the send() that reaches it.
        # Each connection runs in its own task, but all on one event loop: no locks needed,
        # as long as nothing awaits between reading and changing this dict.
        self.members: dict[int, tuple[str, Send]] = {}
        self.closed = False  # set by close(): from then on the room lets no one in

    async def broadcast(self, text: str, *, skip: int | None = None) -> None:
        """Send ``text`` to every member except ``skip``."""
        # Copy first: a send awaits, and another task may join or leave meanwhile.
        for member_id, (_name, member_send) in list(self.members.items()):
            if member_id == skip:
                continue
            try:
                await member_send({"type": "websocket.send", "text": text})
            except Exception:
                # That client is going away; its own task will see websocket.disconnect and
                # announce it. One broken member must not stop the message reaching the others.
                pass

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One client's whole visit: connect, join, relay its messages, leave.

        Add the client to ``self.members`` *before* announcing it and welcoming it; remove it when
        ``websocket.disconnect`` arrives (use ``try``/``finally``: a member must never stay in the
        room after its connection is gone), then tell the others it left.
        """
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if self.closed:
            await send({"type": "websocket.close"})  # before accept: the server answers HTTP 403
            return
        await send({"type": "websocket.accept"})
        name = client_name(scope)
        me = id(send)  # unique while this connection lives
        self.members[me] = (name, send)
        try:
            await self.broadcast(f"* {name} joined", skip=me)
            await send({"type": "websocket.send", "text": f"* welcome, {name}"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:  # a chat is text: ignore binary messages
                    continue
                await self.broadcast(f"{name}: {text}", skip=me)
        finally:
            # Leave even if something above raised, or the room would keep a dead member.
            self.members.pop(me, None)
        await self.broadcast(f"* {name} left")

    async def close(self) -> None:
        """Close every member's WebSocket with 1001 (Going Away), and let no one in from then on."""
        self.closed = True
        # Empty the room first: whatever happens after this (a message in flight, the members'
        # own "* left") must reach no closed connection, and a send after websocket.close raises.
        leaving = list(self.members.values())
        self.members.clear()
        for _name, member_send in leaving:
            try:
                await member_send({"type": "websocket.close", "code": 1001, "reason": "the room is closed"})
            except Exception:
                pass  # that connection broke already: the others must still be told


async def members_only(scope: Scope, receive: Receive, send: Send) -> None:
    """Let in only clients that bring ``?token=let-me-in``; greet them, then hang up politely.

    Without the token, reject the connection **before accepting it**: answer ``websocket.connect``
    with ``websocket.close``. The server then refuses the handshake with HTTP 403 (ASGI WebSocket
    §Close: "If this is sent before the socket is accepted, the server must close the connection
    with a HTTP 403 error code"). The client never gets a WebSocket at all.

    With the token: accept, send the text ``"welcome, member"``, then close the WebSocket yourself
    with code 1000 and reason ``"that is all"`` (``websocket.close`` after accept, RFC 6455 §7.4).
    """
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token") != [MEMBERS_TOKEN]:
        # Before accept the server answers HTTP 403: no close code would ever reach the client.
        await send({"type": "websocket.close"})
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "welcome, member"})
    await send({"type": "websocket.close", "code": 1000, "reason": "that is all"})


PAGE = (  # mutants: skip (given in the stub)
    b"""<!doctype html>
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
)

WEBSOCKET_PATHS = ("/echo", "/chat")  # mutants: skip (given in the stub)


def make_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """One ASGI app for both protocols, dispatching on ``scope["type"]``.

    - ``http``: ``GET /`` answers 200 with the chat page (``text/html; charset=utf-8``);
      ``/echo`` and ``/chat`` answer 426 Upgrade Required with ``Upgrade: websocket`` (they speak
      WebSocket only, RFC 9110 §15.5.22); any other path answers 404.
    - ``websocket``: ``/echo`` is ``echo``, ``/chat`` is one ``ChatRoom`` shared by every client
      of this app; any other path is rejected before accept (the client sees 403).
    - any other scope type (``lifespan``, ...): raise ``ValueError`` — the ASGI spec asks apps to
      raise on a scope type they do not understand, and servers such as uvicorn then go on without it.
    """
    room = ChatRoom()  # one room per app, shared by all its /chat clients

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await http(scope, receive, send)
        elif scope["type"] == "websocket":
            if scope["path"] == "/echo":
                await echo(scope, receive, send)
            elif scope["path"] == "/chat":
                await room(scope, receive, send)
            else:
                await receive()  # websocket.connect
                # Close before accept: the server refuses the handshake with HTTP 403, so no close
                # code ever reaches the client (ASGI WebSocket §Close); the default will do.
                await send({"type": "websocket.close"})
        else:
            raise ValueError(f"unsupported scope type {scope['type']!r}")

    return app


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    """The HTTP half of ``make_app``: the page, 426 on the WebSocket paths, 404 elsewhere."""
    if scope["path"] == "/":
        status, headers, body = 200, [(b"content-type", b"text/html; charset=utf-8")], PAGE
    elif scope["path"] in WEBSOCKET_PATHS:
        body = b"this path speaks WebSocket only\n"
        status, headers = 426, [(b"content-type", b"text/plain"), (b"upgrade", b"websocket")]
    else:
        status, headers, body = 404, [(b"content-type", b"text/plain")], b"not found\n"
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

