"""Exercise 17 is graded two ways: message by message in-process, and over real TCP under uvicorn.

In-process, ``asgiref.testing.ApplicationCommunicator`` plays the server: it hands your app the
messages a server would (``websocket.connect``, ``websocket.receive``, ...) and shows what your app
sends back. Over TCP, uvicorn serves your app and the ``websockets`` library is the client, exactly as
a browser would connect; ``httpx`` makes the plain HTTP requests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.testing import ApplicationCommunicator
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

import websocket_apps
from testkit.serving import ASGI_SERVERS, CLIENT_TIMEOUT, asgi_serving, uvicorn_serving, wait_until

# uvicorn needs a WebSocket implementation; both are installed with the course.
WS_IMPLEMENTATIONS = ["websockets-sansio", "wsproto"]


# ---------------------------------------------------------------------------------------------
# In-process: the app and a pretend server, message by message
# ---------------------------------------------------------------------------------------------


def websocket_scope(path: str = "/", query_string: bytes = b"") -> dict[str, Any]:
    """The scope a server builds for ``ws://testserver{path}?{query_string}`` (ASGI WebSocket §Scope)."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "state": {},
    }


OUTPUT_TIMEOUT = 3.0
"""Seconds an app that is still running may take to send the message a test waits for."""


async def next_output(communicator: ApplicationCommunicator, waiting_for: str) -> dict[str, Any]:
    """The next message the app sends; a plain failure if it sends nothing within ``OUTPUT_TIMEOUT``.

    An app that has already ended (it returned, or raised) will send nothing more: that fails at once,
    with its own error when it raised, instead of after the whole wait.
    """
    queue, app_task = communicator.output_queue, communicator.future
    getting = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getting, app_task}, timeout=OUTPUT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    finally:
        getting.cancel()  # a message not taken stays in the queue
    if getting.done() and not getting.cancelled():
        return getting.result()
    if not queue.empty():  # sent just before the app ended
        return queue.get_nowait()
    if app_task.done():
        error = None if app_task.cancelled() else app_task.exception()
        if error is not None:
            raise error  # what the app raised is the failure (NotImplementedError: write it first)
        pytest.fail(f"expected the app to send {waiting_for}, but it returned without sending it")
    pytest.fail(f"expected the app to send {waiting_for}, but it sent nothing within {OUTPUT_TIMEOUT:g} s")


async def accepted(app: Any, scope: dict[str, Any]) -> ApplicationCommunicator:
    """Start ``app``, send it ``websocket.connect`` and check it answers ``websocket.accept``."""
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "websocket.connect"})
    message = await next_output(communicator, "websocket.accept (the answer to websocket.connect)")
    assert message.get("type") == "websocket.accept", (
        f"expected {{'type': 'websocket.accept'}} in answer to websocket.connect, got {message!r}"
    )
    return communicator


async def finish(communicator: ApplicationCommunicator) -> None:
    """Tell the app the client left, and let it end (or cancel it)."""
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    with contextlib.suppress(asyncio.TimeoutError):
        await communicator.wait(timeout=1)


@pytest.mark.spec("ASGI WebSocket §Connect - websocket.connect, §Accept - websocket.accept")
def test_echo_accepts_the_connection() -> None:
    async def scenario() -> None:
        communicator = await accepted(websocket_apps.echo, websocket_scope("/echo"))
        await finish(communicator)

    asyncio.run(scenario())


@pytest.mark.spec("ASGI WebSocket §Receive - websocket.receive, §Send - websocket.send")
def test_echo_sends_text_back_as_text() -> None:
    async def scenario() -> None:
        communicator = await accepted(websocket_apps.echo, websocket_scope("/echo"))
        await communicator.send_input({"type": "websocket.receive", "text": "hello", "bytes": None})
        message = await next_output(communicator, "the echo of 'hello'")
        assert message.get("type") == "websocket.send" and message.get("text") == "hello", (
            f"expected {{'type': 'websocket.send', 'text': 'hello'}}, got {message!r}"
        )
        assert message.get("bytes") is None, (
            f"a text message must come back as text only, got bytes={message.get('bytes')!r} too"
        )
        await finish(communicator)

    asyncio.run(scenario())


@pytest.mark.spec("ASGI WebSocket §Receive - websocket.receive, §Send - websocket.send")
def test_echo_sends_bytes_back_as_bytes() -> None:
    async def scenario() -> None:
        communicator = await accepted(websocket_apps.echo, websocket_scope("/echo"))
        await communicator.send_input({"type": "websocket.receive", "bytes": b"\x00\xffbin", "text": None})
        message = await next_output(communicator, "the echo of b'\\x00\\xffbin'")
        assert message.get("type") == "websocket.send" and message.get("bytes") == b"\x00\xffbin", (
            f"expected {{'type': 'websocket.send', 'bytes': b'\\x00\\xffbin'}}, got {message!r} "
            "(a binary message has its payload under 'bytes' and 'text' is None)"
        )
        assert message.get("text") is None, f"a binary message must come back as bytes only, got text={message.get('text')!r}"
        await finish(communicator)

    asyncio.run(scenario())


@pytest.mark.spec("ASGI WebSocket §Disconnect - websocket.disconnect")
def test_echo_returns_when_the_client_leaves() -> None:
    async def scenario() -> None:
        communicator = await accepted(websocket_apps.echo, websocket_scope("/echo"))
        await communicator.send_input({"type": "websocket.disconnect", "code": 1001})
        try:
            await communicator.wait(timeout=1)
        except asyncio.TimeoutError:
            pytest.fail(
                "expected echo() to return after websocket.disconnect, but it was still running 1 s later "
                "(after a disconnect, receive() has nothing more to give: leave the loop)"
            )

    asyncio.run(scenario())


@pytest.mark.spec("ASGI WebSocket §Receive - websocket.receive, §Send - websocket.send")
def test_echo_talks_to_a_real_client_in_process() -> None:
    """httpx-ws speaks WebSocket to the app directly: no server, no socket."""

    async def scenario() -> None:
        transport = ASGIWebSocketTransport(websocket_apps.echo)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            async with aconnect_ws("/echo", client) as ws:
                for text in ["one", "two", "three"]:
                    await ws.send_text(text)
                got = [await ws.receive_text(timeout=CLIENT_TIMEOUT) for _ in range(3)]
                assert got == ["one", "two", "three"], f"expected the three echoes in order, got {got!r}"
                await ws.send_bytes(b"\x01\x02")
                back = await ws.receive_bytes(timeout=CLIENT_TIMEOUT)
                assert back == b"\x01\x02", f"expected b'\\x01\\x02' back, got {back!r}"

    asyncio.run(asyncio.wait_for(scenario(), timeout=CLIENT_TIMEOUT * 2))


@pytest.mark.spec("ASGI WebSocket §Scope (query_string); RFC 3986 §2.1 (percent-encoding)")
def test_client_name_reads_the_query_string() -> None:
    cases = [(b"name=ada", "ada"), (b"name=Ada%20L", "Ada L"), (b"x=1&name=bob", "bob"), (b"", "anonymous"), (b"x=1", "anonymous")]
    for query_string, expected in cases:
        got = websocket_apps.client_name(websocket_scope("/chat", query_string))
        assert got == expected, (
            f"expected client_name() of query string {query_string!r} to be {expected!r}, got {got!r}"
            + (" (no name in the query string: 'anonymous')" if expected == "anonymous" else "")
        )


@pytest.mark.spec("ASGI WebSocket §Disconnect - websocket.disconnect")
def test_chat_member_leaves_the_room_on_disconnect() -> None:
    room = websocket_apps.ChatRoom()

    async def scenario() -> None:
        communicator = await accepted(room, websocket_scope("/chat", b"name=ada"))
        welcome = await next_output(communicator, "'* welcome, ada'")
        assert welcome.get("text") == "* welcome, ada", f"expected {{'type': 'websocket.send', 'text': '* welcome, ada'}}, got {welcome!r}"
        assert len(room.members) == 1, f"expected ada in room.members while she is connected, got {room.members!r}"
        await finish(communicator)

    asyncio.run(scenario())
    assert room.members == {}, (
        f"expected room.members to be empty after ada's websocket.disconnect, got {room.members!r} "
        "(remove the member in a finally: block)"
    )


class Visitor:
    """One client of a ChatRoom played by hand: its own receive(), and a send() that writes to a shared log.

    Every ``websocket.send`` any visitor's connection makes lands in ``log`` as ``(name, text)``, in the
    order the room made them: that shows the order across connections, which no single client can see.
    """

    def __init__(self, room: Any, name: str, log: list[tuple[str, str]]) -> None:
        self.name, self.log, self.broken = name, log, False
        self.first: str | None = None  # the type of the first message the room sent this client
        self.closed: dict[str, Any] | None = None  # the websocket.close the room sent this client
        self.late: list[dict[str, Any]] = []  # what the room tried to send after that close
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.ensure_future(room(websocket_scope("/chat", f"name={name}".encode()), self.receive, self.send))
        # What the call raised is read by the test that wants it; never left "never retrieved".
        self.task.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def receive(self) -> dict[str, Any]:
        item = await self.inbox.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if self.first is None:
            self.first = kind
        if self.closed is not None:  # after websocket.close the connection is over: a server raises
            self.late.append(message)
            raise RuntimeError(f"{kind!r} sent to {self.name} after websocket.close")
        if kind in ("websocket.send", "websocket.close") and self.broken:
            raise OSError(f"{self.name}'s connection is gone")  # a server raises on send (ASGI 2.4: an OSError)
        if kind == "websocket.send":
            self.log.append((self.name, message.get("text")))
        elif kind == "websocket.close":
            self.closed = message

    async def settled(self) -> None:
        """Let every task run until the room is quiet (a few turns of the loop; nothing here sleeps)."""
        for _ in range(20):
            await asyncio.sleep(0)


def chat_scenario(scenario: Any) -> None:
    async def bounded() -> None:
        try:
            await asyncio.wait_for(scenario(), 5)
        except asyncio.TimeoutError:
            pytest.fail("the chat room was still busy after 5 s")

    asyncio.run(bounded())


@pytest.mark.spec("the stub's ChatRoom: the others hear '* ada joined' before ada gets her welcome")
def test_chat_announces_a_newcomer_before_welcoming_it() -> None:
    room, log = websocket_apps.ChatRoom(), []

    async def scenario() -> None:
        ada = Visitor(room, "ada", log)
        await ada.settled()
        bob = Visitor(room, "bob", log)
        await bob.settled()
        for visitor in (ada, bob):
            visitor.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait([ada.task, bob.task], timeout=2)

    chat_scenario(scenario)
    joined, welcome = ("ada", "* bob joined"), ("bob", "* welcome, bob")
    assert joined in log and welcome in log, f"expected ada to get '* bob joined' and bob '* welcome, bob', got {log!r}"
    assert log.index(joined) < log.index(welcome), (
        f"expected '* bob joined' to go to ada before '* welcome, bob' goes to bob, got the sends in this order: {log!r} "
        "(announce, then welcome: once a client has its welcome, every member already knows it is there)"
    )


@pytest.mark.spec("the stub's ChatRoom.__call__ (try/finally: never in the room after the connection is gone; let the error out)")
def test_chat_removes_a_member_whose_connection_breaks() -> None:
    room, log = websocket_apps.ChatRoom(), []
    broke = ConnectionResetError("bob's connection broke")
    errors: list[Any] = []

    async def scenario() -> list[str]:
        ada = Visitor(room, "ada", log)
        await ada.settled()
        bob = Visitor(room, "bob", log)
        await bob.settled()
        bob.inbox.put_nowait(broke)  # his receive() raises
        await asyncio.wait([bob.task], timeout=2)
        errors.append(bob.task.exception() if bob.task.done() and not bob.task.cancelled() else "still running")
        await ada.settled()
        names = sorted(str(entry[0]) for entry in room.members.values())
        ada.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait([ada.task], timeout=2)
        return names

    names: list[list[str]] = []

    async def run() -> None:
        names.append(await scenario())

    chat_scenario(run)
    assert names[0] == ["ada"], (
        f"expected only ada left in room.members once bob's receive() raised, got the names {names[0]!r} "
        "(remove the member in a finally: block, whatever ended its connection: a disconnect or an error)"
    )
    assert errors[0] is broke, (
        f"expected ChatRoom.__call__ to let the error of bob's receive() out ({broke!r}), got {errors[0]!r}: "
        "leave the room in a finally: block and do not catch the error (the server logs it and ends the connection)"
    )


@pytest.mark.spec("the stub's ChatRoom.broadcast (a member whose send raises does not stop the others)")
def test_chat_broadcast_goes_on_past_a_broken_member() -> None:
    room, log = websocket_apps.ChatRoom(), []

    async def scenario() -> BaseException | None:
        ghost = Visitor(room, "ghost", log)
        await ghost.settled()
        ghost.broken = True  # in the room, but its connection is gone: every send to it raises now
        ada = Visitor(room, "ada", log)
        await ada.settled()
        bob = Visitor(room, "bob", log)
        await bob.settled()
        ada.inbox.put_nowait({"type": "websocket.receive", "text": "hi all", "bytes": None})
        await ada.settled()
        error = ada.task.exception() if ada.task.done() and not ada.task.cancelled() else None
        for visitor in (ghost, ada, bob):
            visitor.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait([ghost.task, ada.task, bob.task], timeout=2)
        return error

    error: list[BaseException | None] = []

    async def run() -> None:
        error.append(await scenario())

    chat_scenario(run)
    assert error[0] is None, (
        f"expected ada's connection to go on when a send to another member raised, but it ended with {error[0]!r}: "
        "one broken member must not break the sender (catch the error of each member's send in broadcast)"
    )
    assert ("bob", "ada: hi all") in log, (
        f"expected bob to get 'ada: hi all' although the send to ghost (whose connection is gone) raised, got {log!r}"
    )


class SlowVisitor(Visitor):
    """A visitor whose ``send`` takes a varying while (2, 1, 3, 2, 1, ... turns of the loop), as a
    real connection's does when its socket buffer is full. A message counts as heard when its send
    finishes: sends started side by side and never awaited one by one would finish out of order."""

    sends = 0

    async def send(self, message: dict[str, Any]) -> None:
        self.sends += 1
        for _ in range(3 - self.sends % 3):
            await asyncio.sleep(0)
        await super().send(message)


async def until(done: Any, turns: int = 5000) -> None:
    """Let the loop run until ``done()`` is true, or ``turns`` turns have passed (nothing here sleeps)."""
    for _ in range(turns):
        if done():
            return
        await asyncio.sleep(0)


@pytest.mark.spec("the stub's ChatRoom: every member hears all of a sender's messages, in the order sent")
def test_chat_keeps_each_senders_order_over_many_messages() -> None:
    room, log = websocket_apps.ChatRoom(), []
    sent = {name: [f"{name} #{n}" for n in range(25)] for name in ("ada", "bob")}

    def heard(listener: str, sender: str) -> list[str]:
        return [text.removeprefix(f"{sender}: ") for who, text in log if who == listener and text.startswith(f"{sender}: ")]

    async def scenario() -> None:
        visitors = [Visitor(room, "ada", log), Visitor(room, "bob", log), SlowVisitor(room, "carol", log),
                    SlowVisitor(room, "dave", log)]
        for visitor in visitors:
            await visitor.settled()
        for ada_says, bob_says in zip(sent["ada"], sent["bob"]):  # both talk at once, each in its own order
            visitors[0].inbox.put_nowait({"type": "websocket.receive", "text": ada_says, "bytes": None})
            visitors[1].inbox.put_nowait({"type": "websocket.receive", "text": bob_says, "bytes": None})
        await until(lambda: all(len(heard(listener, sender)) >= 25 for listener in ("carol", "dave")
                                for sender in ("ada", "bob")))
        for visitor in visitors:
            visitor.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait([visitor.task for visitor in visitors], timeout=2)

    chat_scenario(scenario)
    for listener, senders in [("ada", ["bob"]), ("bob", ["ada"]), ("carol", ["ada", "bob"]), ("dave", ["ada", "bob"])]:
        for sender in senders:
            got = heard(listener, sender)
            assert got == sent[sender], (
                f"expected {listener} to hear {sender}'s 25 messages in the order {sender} sent them "
                f"({sent[sender][:3]} ...), got {len(got)}: {got[:6]} ... (await each member's send in broadcast, "
                "and each broadcast before the next message: a send that is started and not awaited can finish "
                "after a later one)"
            )


def close_code(visitor: Visitor) -> Any:
    """The code of the websocket.close the room sent ``visitor`` (ASGI: 1000 when the key is left out)."""
    return None if visitor.closed is None else visitor.closed.get("code", 1000)


@pytest.mark.spec("the stub's ChatRoom.close; ASGI WebSocket §Close - websocket.close; RFC 6455 §7.4.1 (1001 Going Away)")
def test_chat_close_closes_every_open_websocket_with_1001() -> None:
    room, log = websocket_apps.ChatRoom(), []
    after: dict[str, Any] = {}

    async def scenario() -> None:
        ada = Visitor(room, "ada", log)
        await ada.settled()
        bob = Visitor(room, "bob", log)
        await bob.settled()
        after["visitors"] = (ada, bob)
        await room.close()
        after["members"] = dict(room.members)
        # Afterwards: a message bob sent before he saw the close, then both disconnects arrive.
        bob.inbox.put_nowait({"type": "websocket.receive", "text": "still there?", "bytes": None})
        await bob.settled()
        for visitor in (ada, bob):
            visitor.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
        await asyncio.wait([ada.task, bob.task], timeout=2)

    chat_scenario(scenario)
    for visitor in after["visitors"]:
        assert close_code(visitor) == 1001, (
            f"expected close() to send {visitor.name} {{'type': 'websocket.close', 'code': 1001, 'reason': ...}} "
            f"(1001 Going Away, RFC 6455 §7.4.1), got {visitor.closed!r}"
            + (" (no websocket.close at all)" if visitor.closed is None else "")
        )
        reason = visitor.closed.get("reason") if visitor.closed else None
        assert reason is None or isinstance(reason, str), f"expected the close reason to be a str, got {reason!r}"
    assert after["members"] == {}, (
        f"expected room.members to be empty once close() returned, got {after['members']!r}"
    )
    for visitor in after["visitors"]:
        assert visitor.late == [], (
            f"expected nothing more sent to {visitor.name} after her websocket.close, got {visitor.late!r} "
            "(the close is the last message: empty self.members in close(), so that a message in flight and "
            "the '* left' of the others reach no closed connection)"
        )
        task = visitor.task
        assert task.done(), f"expected {visitor.name}'s visit to end when her websocket.disconnect arrived after the close"
        error = None if task.cancelled() else task.exception()
        assert error is None, f"expected {visitor.name}'s visit to end without an error after the close, got {error!r}"


@pytest.mark.spec("the stub's ChatRoom.close (a member whose send raises does not stop the others)")
def test_chat_close_goes_on_past_a_broken_member() -> None:
    room, log = websocket_apps.ChatRoom(), []
    after: dict[str, Any] = {}

    async def scenario() -> None:
        ghost = Visitor(room, "ghost", log)
        await ghost.settled()
        ghost.broken = True  # its connection is gone: every send to it raises now
        ada = Visitor(room, "ada", log)
        await ada.settled()
        try:
            await room.close()
        except OSError as exc:
            after["raised"] = exc
        after["ada"] = ada
        for visitor in (ghost, ada):
            visitor.inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
        await asyncio.wait([ghost.task, ada.task], timeout=2)

    chat_scenario(scenario)
    assert "raised" not in after, (
        f"expected close() to go on when the send to a broken member raised, it raised {after['raised']!r}"
    )
    assert close_code(after["ada"]) == 1001, (
        f"expected ada's WebSocket closed with 1001 although the close to ghost (whose connection is gone) "
        f"raised, got {after['ada'].closed!r}"
    )


@pytest.mark.spec("the stub's ChatRoom.__call__ (a closed room refuses before accept); ASGI WebSocket §Close")
def test_chat_refuses_newcomers_once_closed() -> None:
    room, log = websocket_apps.ChatRoom(), []
    after: dict[str, Any] = {}

    async def scenario() -> None:
        ada = Visitor(room, "ada", log)
        await ada.settled()
        await room.close()
        after["welcomed"] = len(log)  # ada's welcome, before the close
        eve = Visitor(room, "eve", log)
        await eve.settled()
        after["eve"], after["members"] = eve, dict(room.members)
        ada.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
        eve.inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
        await asyncio.wait([ada.task, eve.task], timeout=2)

    chat_scenario(scenario)
    eve = after["eve"]
    assert eve.first == "websocket.close", (
        f"expected a newcomer to a closed room to get websocket.close in answer to websocket.connect "
        f"(refused before accept: HTTP 403), got {eve.first!r} first"
    )
    assert after["members"] == {}, f"expected no one in a closed room, got the members {after['members']!r}"
    assert not log[after["welcomed"]:], (
        f"expected no chat message once the room is closed, got {log[after['welcomed']:]!r} (a refused newcomer "
        "joins nothing: no '* eve joined', no welcome)"
    )


# ---------------------------------------------------------------------------------------------
# Over TCP: uvicorn serves the app, the websockets library is the client
# ---------------------------------------------------------------------------------------------


def ws_url(base: str, path: str) -> str:
    return "ws" + base.removeprefix("http") + path


@contextlib.contextmanager
def opened(base: str, path: str) -> Iterator[ClientConnection]:
    """Open a WebSocket to ``path``; fail with a plain sentence if the handshake does not complete."""
    try:
        ws = connect(ws_url(base, path), open_timeout=CLIENT_TIMEOUT, close_timeout=2)
    except InvalidStatus as exc:
        status = exc.response.status_code
        cause = (
            "your app raised before accepting (see the uvicorn log above)"
            if status == 500
            else "your app sent websocket.close instead of websocket.accept"
            if status == 403
            else "the app did not accept"
        )
        pytest.fail(f"expected the WebSocket handshake for {path} to succeed (101), got HTTP {status}: {cause}")
    except (InvalidHandshake, TimeoutError, OSError) as exc:
        pytest.fail(f"expected the WebSocket handshake for {path} to succeed, got {exc!r}")
    with ws:
        yield ws


def recv(ws: ClientConnection, expecting: str) -> str | bytes:
    """The next message, or a plain failure if none comes within ``CLIENT_TIMEOUT``."""
    try:
        return ws.recv(timeout=CLIENT_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"expected {expecting}, but nothing came within {CLIENT_TIMEOUT:g} s")
    except ConnectionClosed as exc:
        pytest.fail(f"expected {expecting}, but the connection closed ({exc})")


def rejection_status(base: str, path: str) -> int | None:
    """The HTTP status of a refused handshake, or ``None`` if the WebSocket was accepted."""
    try:
        with connect(ws_url(base, path), open_timeout=CLIENT_TIMEOUT, close_timeout=2):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.parametrize("ws_impl", WS_IMPLEMENTATIONS)
@pytest.mark.spec("RFC 6455 §5.6 (data frames: text and binary); ASGI WebSocket §Send - websocket.send")
def test_echo_over_uvicorn(ws_impl: str) -> None:
    messages: list[str | bytes] = ["hello", "héllo wörld ✓", b"\x00\x01\xfe\xff", "x" * 100_000, b"y" * 70_000, ""]
    with uvicorn_serving(websocket_apps.echo, ws=ws_impl) as base, opened(base, "/echo") as ws:
        for message in messages:
            ws.send(message)
            got = recv(ws, f"the echo of {message[:20]!r}")
            assert type(got) is type(message), (
                f"expected a {'text' if isinstance(message, str) else 'binary'} message back, "
                f"got a {'text' if isinstance(got, str) else 'binary'} one: keep 'text' as text and 'bytes' as bytes"
            )
            assert got == message, f"expected {message[:40]!r} back, got {got[:40]!r}"


# --- the chat room --------------------------------------------------------------------------


@contextlib.contextmanager
def chat_server() -> Iterator[str]:
    with uvicorn_serving(websocket_apps.ChatRoom(), ws="websockets-sansio") as base:
        yield base


@contextlib.contextmanager
def member(base: str, name: str, path: str = "/") -> Iterator[ClientConnection]:
    """Join the room at ``path`` as ``name`` and wait for the welcome: from then on the member is in the room."""
    with opened(base, f"{path}?name={name}") as ws:
        welcome = recv(ws, f"'* welcome, {name}' on joining")
        assert welcome == f"* welcome, {name}", f"expected '* welcome, {name}' first, got {welcome!r}"
        yield ws


@pytest.mark.spec("ASGI WebSocket §Scope (query_string); RFC 3986 §2.1 (percent-encoding)")
def test_chat_welcomes_the_newcomer_by_name() -> None:
    with chat_server() as base, opened(base, "/?name=Ada%20Lovelace") as ws:
        welcome = recv(ws, "a welcome")
        assert welcome == "* welcome, Ada Lovelace", (
            f"expected '* welcome, Ada Lovelace', got {welcome!r} "
            "(the name comes from scope['query_string'], which is raw bytes: decode and unquote it)"
        )


@pytest.mark.spec("ASGI WebSocket §Send - websocket.send (to another connection)")
def test_chat_tells_the_others_who_joined() -> None:
    with chat_server() as base, member(base, "ada") as ada, member(base, "bob"):
        got = recv(ada, "'* bob joined' when bob joins")
        assert got == "* bob joined", f"expected ada to be told '* bob joined', got {got!r}"


@pytest.mark.spec("ASGI WebSocket §Receive - websocket.receive, §Send - websocket.send")
def test_chat_broadcasts_a_message_to_the_others() -> None:
    with chat_server() as base, member(base, "ada") as ada, member(base, "bob") as bob:
        recv(ada, "'* bob joined'")
        ada.send("hi bob")
        got = recv(bob, "ada's message")
        assert got == "ada: hi bob", f"expected bob to get 'ada: hi bob', got {got!r}"


@pytest.mark.spec("ASGI WebSocket §Send - websocket.send")
def test_chat_does_not_send_a_message_back_to_its_sender() -> None:
    with chat_server() as base, member(base, "ada") as ada, member(base, "bob") as bob:
        recv(ada, "'* bob joined'")
        ada.send("first")
        recv(bob, "ada's message")
        bob.send("second")
        got = recv(ada, "bob's message")
        assert got == "bob: second", (
            f"expected ada's next message to be 'bob: second', got {got!r} "
            "(a message goes to the *others*: skip the member who sent it)"
        )


@pytest.mark.spec("ASGI WebSocket §Disconnect - websocket.disconnect")
def test_chat_tells_the_others_who_left() -> None:
    with chat_server() as base, member(base, "ada") as ada:
        with member(base, "bob"):
            recv(ada, "'* bob joined'")
        got = recv(ada, "'* bob left' after bob closed his connection")
        assert got == "* bob left", f"expected '* bob left', got {got!r}"
        # The room goes on without bob: a newcomer and ada can still talk.
        with member(base, "carol") as carol:
            recv(ada, "'* carol joined'")
            ada.send("still here")
            got = recv(carol, "ada's message after bob left")
            assert got == "ada: still here", (
                f"expected carol to get 'ada: still here', got {got!r} (did bob stay in the room after he left?)"
            )


@pytest.mark.spec("ASGI WebSocket §Send - websocket.send")
def test_chat_reaches_every_other_member() -> None:
    with chat_server() as base, member(base, "ada") as ada, member(base, "bob") as bob:
        recv(ada, "'* bob joined'")
        with member(base, "carol") as carol:
            assert recv(ada, "'* carol joined'") == "* carol joined"
            assert recv(bob, "'* carol joined'") == "* carol joined"
            carol.send("hello all")
            for name, ws in [("ada", ada), ("bob", bob)]:
                got = recv(ws, f"carol's message at {name}")
                assert got == "carol: hello all", f"expected {name} to get 'carol: hello all', got {got!r}"


@pytest.mark.spec("the stub's ChatRoom: every member hears all of a sender's messages, in the order sent")
def test_chat_keeps_the_order_of_many_messages_over_uvicorn() -> None:
    sent = {name: [f"{name} #{n}" for n in range(40)] for name in ("ada", "bob")}
    with chat_server() as base, member(base, "ada") as ada, member(base, "bob") as bob:
        recv(ada, "'* bob joined'")
        with member(base, "carol") as carol:
            recv(ada, "'* carol joined'")
            recv(bob, "'* carol joined'")
            for ada_says, bob_says in zip(sent["ada"], sent["bob"]):  # no waiting: the room must keep up
                ada.send(ada_says)
                bob.send(bob_says)
            heard = {"ada": [recv(ada, "bob's messages") for _ in sent["bob"]],
                     "bob": [recv(bob, "ada's messages") for _ in sent["ada"]],
                     "carol": [recv(carol, "ada's and bob's messages") for _ in range(80)]}
    for listener, sender in [("ada", "bob"), ("bob", "ada"), ("carol", "ada"), ("carol", "bob")]:
        got = [text.removeprefix(f"{sender}: ") for text in heard[listener] if str(text).startswith(f"{sender}: ")]
        assert got == sent[sender], (
            f"expected {listener} to hear {sender}'s 40 messages in the order sent ({sent[sender][:2]} ...), "
            f"got {len(got)}: {got[:6]} ..."
        )


class BreakingOn:
    """``room``, served with a ``receive()`` that raises when the client sends ``word``: an error inside one
    visit. ``errors`` records what came out of the room's ``__call__`` on its way to the server."""

    def __init__(self, word: str, room: Any) -> None:
        self.word, self.room, self.errors = word, room, []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return  # lifespan: nothing to start

        async def receive_or_break() -> dict[str, Any]:
            message = await receive()
            if message.get("text") == self.word:
                raise RuntimeError(f"the test broke this connection's receive() on {self.word!r}")
            return message

        try:
            await self.room(scope, receive_or_break, send)
        except Exception as exc:
            self.errors.append(exc)
            raise


@pytest.mark.parametrize("server", ASGI_SERVERS)
@pytest.mark.spec("the stub's ChatRoom.__call__ (leave the room, let the error out); RFC 6455 §7.4.1")
def test_chat_error_in_one_visit_ends_only_that_connection(server: str) -> None:
    app = BreakingOn("boom", websocket_apps.ChatRoom())
    with asgi_serving(server, app) as base, member(base, "ada") as ada, member(base, "bob") as bob:
        recv(ada, "'* bob joined'")
        bob.send("boom")
        try:
            got = bob.recv(timeout=CLIENT_TIMEOUT)
        except ConnectionClosed:
            pass  # the close code is the server's choice: hypercorn sends 1011, uvicorn 0.54 drops the TCP connection (1006)
        except TimeoutError:
            pytest.fail(f"expected bob's connection to end after his visit raised, nothing came within {CLIENT_TIMEOUT:g} s")
        else:
            pytest.fail(f"expected bob's connection to end after his visit raised, got the message {got!r}")
        assert [type(exc) for exc in app.errors] == [RuntimeError], (
            f"expected the error of bob's receive() to come out of ChatRoom.__call__ to {server}, got {app.errors!r}: "
            "do not catch it (the server logs it and ends that connection, hypercorn with 1011 Internal Error)"
        )
        with member(base, "carol") as carol:
            names = sorted(str(entry[0]) for entry in app.room.members.values())
            ada.send("still here")
            got = recv(carol, "ada's message after bob's error")
        assert names == ["ada", "carol"], f"expected bob out of the room after his error, got the members {names!r}"
        assert got == "ada: still here", f"expected the room to go on after bob's error, carol got {got!r}"


class Closable:
    """``room`` served, with the event loop it runs on (so the test can call ``room.close()`` there) and a
    count of the visits still running."""

    def __init__(self, room: Any) -> None:
        self.room, self.loop, self.visits = room, None, 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return  # lifespan: nothing to start
        self.loop = asyncio.get_running_loop()
        self.visits += 1
        try:
            await self.room(scope, receive, send)
        finally:
            self.visits -= 1

    def close_room(self) -> None:
        """``await room.close()`` on the server's loop, from the test's thread."""
        assert self.loop is not None, "expected a member to have joined before the room is closed"
        closing = asyncio.run_coroutine_threadsafe(self.room.close(), self.loop)
        try:
            closing.result(timeout=CLIENT_TIMEOUT)
        except concurrent.futures.TimeoutError:
            closing.cancel()
            pytest.fail(f"expected room.close() to return, it was still running after {CLIENT_TIMEOUT:g} s")


@pytest.mark.parametrize("server", ASGI_SERVERS)
@pytest.mark.spec("the stub's ChatRoom.close; ASGI WebSocket §Close; RFC 6455 §7.4.1 (1001 Going Away)")
def test_chat_close_ends_every_open_websocket_over_a_real_server(server: str) -> None:
    app = Closable(websocket_apps.ChatRoom())
    with asgi_serving(server, app) as base, member(base, "ada") as ada, member(base, "bob") as bob:
        recv(ada, "'* bob joined'")
        app.close_room()
        for name, ws in [("ada", ada), ("bob", bob)]:
            try:
                got = ws.recv(timeout=CLIENT_TIMEOUT)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                assert code == 1001, (
                    f"expected {name}'s WebSocket to be closed with code 1001 (Going Away) by room.close(), got "
                    f"{'no close frame (the TCP connection was dropped)' if code is None else f'code {code}'}"
                )
            except TimeoutError:
                pytest.fail(f"expected {name}'s WebSocket to close after room.close(), it stayed open {CLIENT_TIMEOUT:g} s")
            else:
                pytest.fail(f"expected {name}'s WebSocket to close after room.close(), got the message {got!r}")
        status = rejection_status(base, "/?name=eve")
        assert status == 403, (
            f"expected a newcomer to the closed room to be refused with HTTP 403, got "
            f"{'an accepted WebSocket' if status is None else status}"
        )
        wait_until(lambda: app.visits == 0, timeout=CLIENT_TIMEOUT,
                   what=f"every member's visit ending after room.close() on {server} (each gets websocket.disconnect)")


@pytest.mark.spec("ASGI §Applications (the app is a callable: its state is yours to keep)")
def test_chat_rooms_are_separate() -> None:
    with chat_server() as base_one, chat_server() as base_two:
        with member(base_one, "ada") as ada, member(base_two, "bob") as bob, member(base_one, "carol") as carol:
            recv(ada, "'* carol joined'")
            bob.send("anyone?")
            carol.send("hi ada")
            got = recv(ada, "carol's message")
            assert got == "carol: hi ada", (
                f"expected ada to get only her own room's 'carol: hi ada', got {got!r} "
                "(keep the members on the ChatRoom instance, not in a module global)"
            )


# --- reject before accept -------------------------------------------------------------------


@pytest.mark.spec("ASGI WebSocket §Close - websocket.close (before accept)")
def test_members_only_answers_connect_with_close() -> None:
    async def scenario() -> None:
        communicator = ApplicationCommunicator(websocket_apps.members_only, websocket_scope("/"))
        await communicator.send_input({"type": "websocket.connect"})
        message = await next_output(communicator, "websocket.close (no token: reject)")
        assert message.get("type") == "websocket.close", (
            f"expected {{'type': 'websocket.close', ...}} in answer to a connect without the token, got {message!r}"
        )
        with contextlib.suppress(asyncio.TimeoutError):
            await communicator.wait(timeout=1)

    asyncio.run(scenario())


@pytest.mark.spec("ASGI WebSocket §Close - websocket.close: before accept, the server answers HTTP 403")
def test_members_only_refuses_the_handshake_with_403() -> None:
    with uvicorn_serving(websocket_apps.members_only, ws="websockets-sansio") as base:
        for path in ["/", "/?token=wrong"]:
            status = rejection_status(base, path)
            assert status == 403, (
                f"expected the handshake for {path} to be refused with HTTP 403, got "
                f"{'an accepted WebSocket' if status is None else status}"
            )


@pytest.mark.spec("ASGI WebSocket §Close - websocket.close (code, reason); RFC 6455 §7.4.1")
def test_members_only_greets_a_member_then_closes_with_1000() -> None:
    with uvicorn_serving(websocket_apps.members_only, ws="websockets-sansio") as base:
        with opened(base, f"/?token={websocket_apps.MEMBERS_TOKEN}") as ws:
            greeting = recv(ws, "'welcome, member'")
            assert greeting == "welcome, member", f"expected 'welcome, member', got {greeting!r}"
            try:
                extra = ws.recv(timeout=CLIENT_TIMEOUT)
            except TimeoutError:
                pytest.fail(f"expected the app to close the WebSocket after the greeting, it stayed open {CLIENT_TIMEOUT:g} s")
            except ConnectionClosed as exc:
                code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
                assert (code, reason) == (1000, "that is all"), (
                    f"expected a close frame with code 1000 and reason 'that is all', got code {code!r} reason {reason!r} "
                    "(send {'type': 'websocket.close', 'code': 1000, 'reason': 'that is all'})"
                )
            else:
                pytest.fail(f"expected the connection to close after the greeting, got another message {extra!r}")


# --- HTTP and WebSocket in one app ----------------------------------------------------------


@pytest.mark.spec("ASGI §Applications (scope type); ASGI HTTP §Response Start")
def test_app_serves_the_page_over_http() -> None:
    with uvicorn_serving(websocket_apps.make_app(), ws="websockets-sansio") as base:
        response = httpx.get(base + "/", timeout=CLIENT_TIMEOUT)
    assert response.status_code == 200, f"expected GET / to answer 200, got {response.status_code}"
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("text/html"), f"expected a text/html page, got Content-Type {content_type!r}"
    assert "<script" in response.text, "expected the page to carry the chat client's <script>"


@pytest.mark.spec("ASGI HTTP §Response Start; RFC 9110 §15.5.5 (404), §8.3 (Content-Type)")
def test_app_answers_404_to_other_http_paths() -> None:
    with uvicorn_serving(websocket_apps.make_app(), ws="websockets-sansio") as base:
        response = httpx.get(base + "/nowhere", timeout=CLIENT_TIMEOUT)
    assert response.status_code == 404, f"expected GET /nowhere to answer 404, got {response.status_code}"
    assert response.headers.get("content-type"), (
        f"expected the 404's body to name its Content-Type (RFC 9110 §8.3), got headers {dict(response.headers)!r}"
    )


@pytest.mark.spec("RFC 9110 §15.5.22 (426 Upgrade Required), §8.3 (Content-Type)")
def test_app_asks_plain_http_on_a_websocket_path_to_upgrade() -> None:
    with uvicorn_serving(websocket_apps.make_app(), ws="websockets-sansio") as base:
        for path in ["/echo", "/chat"]:
            response = httpx.get(base + path, timeout=CLIENT_TIMEOUT)
            assert response.status_code == 426, (
                f"expected a plain HTTP GET {path} to answer 426 Upgrade Required, got {response.status_code} "
                "(the path is the same, the scope type is 'http', not 'websocket')"
            )
            upgrade = response.headers.get("upgrade", "")
            assert upgrade.lower() == "websocket", f"expected header 'Upgrade: websocket', got {upgrade!r}"
            assert response.headers.get("content-type"), (
                f"expected the 426's body to name its Content-Type (RFC 9110 §8.3), got headers {dict(response.headers)!r}"
            )


@pytest.mark.spec("ASGI §Applications (scope type dispatch); ASGI WebSocket §Scope (path)")
def test_app_echoes_on_the_echo_path() -> None:
    with uvicorn_serving(websocket_apps.make_app(), ws="websockets-sansio") as base, opened(base, "/echo") as ws:
        ws.send("ping?")
        assert (got := recv(ws, "the echo")) == "ping?", f"expected 'ping?' back from /echo, got {got!r}"
        ws.send(b"\x00")
        assert (got := recv(ws, "the binary echo")) == b"\x00", f"expected b'\\x00' back from /echo, got {got!r}"


@pytest.mark.spec("ASGI §Applications (scope type dispatch); ASGI WebSocket §Scope (path)")
def test_app_chats_on_the_chat_path() -> None:
    with uvicorn_serving(websocket_apps.make_app(), ws="websockets-sansio") as base:
        with member(base, "ada", "/chat") as ada, member(base, "bob", "/chat") as bob:
            got = recv(ada, "'* bob joined'")
            assert got == "* bob joined", (
                f"expected ada to see '* bob joined', got {got!r} (both /chat clients must share one room)"
            )
            bob.send("hey")
            assert (got := recv(ada, "bob's message")) == "bob: hey", f"expected 'bob: hey', got {got!r}"


@pytest.mark.spec("ASGI WebSocket §Close - websocket.close (before accept: HTTP 403)")
def test_app_refuses_websockets_on_other_paths() -> None:
    with uvicorn_serving(websocket_apps.make_app(), ws="websockets-sansio") as base:
        status = rejection_status(base, "/nowhere")
    assert status == 403, (
        f"expected a WebSocket to /nowhere to be refused with HTTP 403, got "
        f"{'an accepted WebSocket' if status is None else status} "
        "(answer websocket.connect with websocket.close)"
    )


@pytest.mark.spec("ASGI §Protocol Specifications (reject a scope type you do not understand)")
def test_app_raises_on_an_unknown_scope_type() -> None:
    app = websocket_apps.make_app()

    async def scenario() -> BaseException | None:
        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def send(message: dict[str, Any]) -> None:
            pass

        try:
            await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send), timeout=1)
        except asyncio.TimeoutError:
            pytest.fail("expected the app to raise at once for a 'lifespan' scope, it was still running after 1 s")
        except Exception as exc:
            return exc
        return None

    raised = asyncio.run(scenario())
    assert raised is not None and not isinstance(raised, NotImplementedError), (
        f"expected the app to raise an exception for scope type 'lifespan', got {raised!r}"
    )
