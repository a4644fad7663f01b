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

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MEMBERS_TOKEN = "let-me-in"
"""The query-string token ``members_only`` asks for: ``ws://host/?token=let-me-in``."""


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept every connection and send each message straight back, text as text, bytes as bytes.

    Wait for ``websocket.connect``, answer ``websocket.accept``, then loop: a ``websocket.receive``
    carries either ``"text"`` (a ``str``) or ``"bytes"`` (a ``bytes``) — the other key is absent or
    ``None`` — and the echo must keep the kind (ASGI WebSocket §Receive, §Send). Return when
    ``websocket.disconnect`` arrives: the client is gone and nothing more may be sent.
    """
    raise NotImplementedError("write echo() in websocket_apps.py")


def client_name(scope: Scope) -> str:
    """The ``name`` in the query string (``/chat?name=ada`` -> ``"ada"``), percent-decoded; ``"anonymous"`` if absent."""
    raise NotImplementedError("write client_name() in websocket_apps.py")


class ChatRoom:
    """A chat room as an ASGI app: every instance is one room, with its own members.

    Protocol (all text messages):

    - a newcomer ``ada`` (``?name=ada``) is added to the room, the others get ``"* ada joined"``,
      and only then does ada get ``"* welcome, ada"`` — so when a client has its welcome, it is
      in the room and every member already knows;
    - a message ``"hi"`` from ada reaches every *other* member as ``"ada: hi"`` (not ada herself),
      and every member hears all of ada's messages in the order she sent them, however long a
      member's ``send`` takes (await each one: a send finishes before the next message to it);
    - when ada disconnects she leaves the room and the others get ``"* ada left"``;
    - ``await room.close()`` ends the room: every open WebSocket in it is closed with 1001.
    """

    def __init__(self) -> None:
        # One entry per connected client, e.g. {connection id: (name, its send)}. Each connection
        # runs in its own task, but all on one event loop: no lock is needed as long as nothing
        # awaits between reading and changing this dict.
        self.members: dict[int, tuple[str, Send]] = {}
        self.closed = False  # set by close(): from then on the room lets no one in

    async def broadcast(self, text: str, *, skip: int | None = None) -> None:
        """Send ``text`` to every member except ``skip``.

        A member's ``send`` may raise (its connection just broke: servers raise an ``OSError``, ASGI
        spec 2.4). That must not stop the message reaching the others, nor end the connection of the
        member who is broadcasting: catch it, and let the broken member's own task see its disconnect.
        """
        raise NotImplementedError("write ChatRoom.broadcast() in websocket_apps.py")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One client's whole visit: connect, join, relay its messages, leave.

        Add the client to ``self.members`` *before* announcing it and welcoming it; remove it when
        ``websocket.disconnect`` arrives (use ``try``/``finally``: a member must never stay in the
        room after its connection is gone), then tell the others it left.

        If something raises in a visit (its ``receive()`` fails, a bug), leave the room and let the
        error out of ``__call__``: ending that connection is then the server's job (it logs the error;
        hypercorn closes with 1011, Internal Error, RFC 6455 §7.4.1). Swallowing it hides the bug.

        Once the room is closed (``self.closed``), refuse a newcomer before accept: answer its
        ``websocket.connect`` with ``websocket.close`` (the client sees HTTP 403) and return.
        """
        raise NotImplementedError("write ChatRoom.__call__() in websocket_apps.py")

    async def close(self) -> None:
        """Close the room while members are still connected (the app shuts down, the room is over).

        - Every member still in the room gets ``{"type": "websocket.close", "code": 1001, "reason": ...}``:
          1001 is Going Away (RFC 6455 §7.4.1: "such as a server going down"), the reason a short text
          of your choice. A member whose ``send`` raises (its connection just broke) does not stop the
          others, and ``close()`` does not raise for it.
        - The close is the last message the room sends to each of them (ASGI WebSocket §Close: after
          ``websocket.close`` the connection is over, and a server raises on a later ``send``): empty
          ``self.members``, so that nothing that happens afterwards (a message one of them sent just
          before, a ``* left`` when their disconnects arrive) goes to a closed connection.
        - Set ``self.closed``: a newcomer is refused from then on (HTTP 403, see ``__call__``).

        Each member's own task still ends the usual way: the server answers the close handshake and
        hands it ``websocket.disconnect``; its ``finally:`` runs; it returns.
        """
        raise NotImplementedError("write ChatRoom.close() in websocket_apps.py")


async def members_only(scope: Scope, receive: Receive, send: Send) -> None:
    """Let in only clients that bring ``?token=let-me-in``; greet them, then hang up politely.

    Without the token, reject the connection **before accepting it**: answer ``websocket.connect``
    with ``websocket.close``. The server then refuses the handshake with HTTP 403 (ASGI WebSocket
    §Close: "If this is sent before the socket is accepted, the server must close the connection
    with a HTTP 403 error code"). The client never gets a WebSocket at all.

    With the token: accept, send the text ``"welcome, member"``, then close the WebSocket yourself
    with code 1000 and reason ``"that is all"`` (``websocket.close`` after accept, RFC 6455 §7.4).
    """
    raise NotImplementedError("write members_only() in websocket_apps.py")


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
    raise NotImplementedError("write make_app() in websocket_apps.py")


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    """The HTTP half of ``make_app``: the page, 426 on the WebSocket paths, 404 elsewhere."""
    raise NotImplementedError("write http() in websocket_apps.py")
