"""testkit.asgi_spec: every rule it checks, each shown broken once and kept once.

An app is a list of messages it sends (``scripted``); the validator must let a correct list through
unchanged and stop a broken one at the offending ``send``, naming the spec section.
"""

from __future__ import annotations

import re
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.asgi import http_scope, run
from testkit.asgi_spec import (
    ASGIViolation,
    ServerChecks,
    check_scope,
    checked_app,
    checked_receive,
    checked_send,
    send_error_after_end,
)
from testkit.serving import CLIENT_TIMEOUT, uvicorn_serving

START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
BODY = {"type": "http.response.body", "body": b"hi"}
WS_SCOPE = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/", "headers": [], "subprotocols": ["chat"]}
LIFESPAN = {"type": "lifespan", "asgi": {"version": "3.0"}}


def scripted(*messages: dict[str, Any]) -> Any:
    """An app that sends ``messages`` in order (after one receive() for lifespan)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            if message.get("type", "").startswith("lifespan."):
                await receive()
            await send(message)

    return app


def drive(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``checked_app(app)`` once; return what reached the server's send."""
    passed: list[dict[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(incoming, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        passed.append(message)

    run(checked_app(app)(scope, receive, send))
    return passed


GOOD_HTTP = [
    [START, BODY],
    [START, {"type": "http.response.body", "body": b"h", "more_body": True}, {"type": "http.response.body", "body": b"", "more_body": True}, {"type": "http.response.body"}],
    [{"type": "http.response.start", "status": 204}, {"type": "http.response.body"}],
    [{"type": "http.response.start", "status": 200, "headers": [[b"content-length", b"2"]]}, BODY],
    [{"type": "http.response.start", "status": 599, "headers": ((b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"))}, BODY],
]

BAD_HTTP = {
    "body first": ([BODY], "before 'http.response.start'", "§Response Start"),
    "two starts": ([START, START], "second 'http.response.start'", "§Response Start"),
    "after the end": ([START, BODY, BODY], "after the response was complete", "§Response Body"),
    "status str": ([{**START, "status": "200 OK"}], "an int", "§Response Start"),
    "status bool": ([{**START, "status": True}], "an int", "§Response Start"),
    "status 600": ([{**START, "status": 600}], "100 to 599", "RFC 9110 §15"),
    "str header name": ([{**START, "headers": [("content-type", b"x")]}], "not bytes", "§Response Start"),
    "str header value": ([{**START, "headers": [(b"content-type", "x")]}], "not bytes", "§Response Start"),
    "capital name": ([{**START, "headers": [(b"Content-Type", b"x")]}], "lowercased", "§Response Start"),
    "not a pair": ([{**START, "headers": [(b"a", b"b", b"c")]}], "not a [name, value] pair", "§Response Start"),
    "header injection": ([{**START, "headers": [(b"x-a", b"1\r\nx-b: 2")]}], "CR, LF or NUL", "RFC 9110 §5.5"),
    "pseudo header": ([{**START, "headers": [(b":status", b"200")]}], "not a header name", "RFC 9110 §5.1"),
    "str body": ([START, {"type": "http.response.body", "body": "hi"}], "bytes (encode text", "§Response Body"),
    "more_body str": ([START, {"type": "http.response.body", "body": b"", "more_body": "no"}], "a bool", "§Response Body"),
    "too long": ([{**START, "headers": [(b"content-length", b"1")]}, BODY], "after announcing content-length 1", "RFC 9110 §8.6"),
    "too short": ([{**START, "headers": [(b"content-length", b"3")]}, BODY], "announced content-length 3", "RFC 9110 §8.6"),
    "two lengths": ([{**START, "headers": [(b"content-length", b"1"), (b"content-length", b"2")]}], "two different", "RFC 9110 §8.6"),
    "websocket type": ([{"type": "websocket.accept"}], "which an HTTP app cannot send", "§Response Start"),
    "trailers unoffered": ([{**START, "trailers": True}], "does not offer", "§Response Trailers"),
}


@pytest.mark.parametrize("messages", GOOD_HTTP)
def test_correct_http_responses_pass_unchanged(messages: list[dict[str, Any]]) -> None:
    assert drive(scripted(*messages), http_scope()) == messages


@pytest.mark.parametrize("name", list(BAD_HTTP))
def test_each_broken_http_rule_is_caught(name: str) -> None:
    messages, sentence, section = BAD_HTTP[name]
    with pytest.raises(ASGIViolation) as caught:
        drive(scripted(*messages), http_scope())
    assert sentence in str(caught.value) and section in str(caught.value), str(caught.value)


def test_a_head_response_may_announce_a_length_it_does_not_send() -> None:
    messages = [{"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]}, {"type": "http.response.body"}]
    assert drive(scripted(*messages), http_scope("HEAD")) == messages
    with pytest.raises(ASGIViolation):
        drive(scripted(*messages), http_scope("GET"))


def test_the_violation_is_raised_at_the_apps_own_send_and_nothing_is_passed_on() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": "text"})  # the offending line

    passed: list[Any] = []

    async def send(message: Any) -> None:
        passed.append(message)

    async def receive() -> Any:
        return {"type": "http.request"}

    with pytest.raises(ASGIViolation) as caught:
        run(checked_app(app)(http_scope(), receive, send))
    assert passed == [START], f"the broken message must not reach the server, got {passed!r}"
    frames = [frame.line for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert any("the offending line" in (line or "") for line in frames), frames


def test_a_swallowed_violation_is_raised_when_the_app_returns() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await send(BODY)
        except Exception:
            pass
        await send(START)
        await send(BODY)

    with pytest.raises(ASGIViolation, match="before 'http.response.start'"):
        drive(app, http_scope())


def test_a_violation_the_app_turns_into_its_own_error_is_still_the_violation() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await send(BODY)
        except Exception as exc:
            raise RuntimeError("send failed") from exc

    with pytest.raises(ASGIViolation, match="before 'http.response.start'"):
        drive(app, http_scope())


def test_checked_send_checks_code_handed_a_bare_send() -> None:
    passed: list[Any] = []

    async def send(message: Any) -> None:
        passed.append(message)

    async def respond(send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"a", "more_body": 0})

    with pytest.raises(ASGIViolation, match="a bool"):
        run(respond(checked_send(send, http_scope())))
    assert passed == [START]


def test_extension_messages_only_where_the_scope_offers_them() -> None:
    pathsend = [START, {"type": "http.response.pathsend", "path": "/etc/hostname"}]
    with pytest.raises(ASGIViolation):
        drive(scripted(*pathsend), http_scope())
    assert drive(scripted(*pathsend), http_scope(extensions={"http.response.pathsend": {}})) == pathsend
    trailers = [{**START, "trailers": True}, BODY, {"type": "http.response.trailers", "headers": [(b"x-t", b"1")]}]
    assert drive(scripted(*trailers), http_scope(extensions={"http.response.trailers": {}})) == trailers


GOOD_WS = [
    [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "hi"}, {"type": "websocket.send", "bytes": b"\x00"}, {"type": "websocket.close"}],
    [{"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]}, {"type": "websocket.close", "code": 4000, "reason": "bye"}],
    [{"type": "websocket.close", "code": 1008}],
    [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "", "bytes": None}, {"type": "websocket.close", "code": 1012}],
]

BAD_WS = {
    "send before accept": [{"type": "websocket.send", "text": "hi"}],
    "two accepts": [{"type": "websocket.accept"}, {"type": "websocket.accept"}],
    "both bytes and text": [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "a", "bytes": b"a"}],
    "neither": [{"type": "websocket.accept"}, {"type": "websocket.send"}],
    "text as bytes": [{"type": "websocket.accept"}, {"type": "websocket.send", "text": b"a"}],
    "after close": [{"type": "websocket.accept"}, {"type": "websocket.close"}, {"type": "websocket.send", "text": "a"}],
    "code 1006": [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1006}],
    "code 1005": [{"type": "websocket.close", "code": 1005}],
    "code str": [{"type": "websocket.close", "code": "1000"}],
    "long reason": [{"type": "websocket.accept"}, {"type": "websocket.close", "reason": "x" * 124}],
    "subprotocol not offered": [{"type": "websocket.accept", "subprotocol": "other"}],
    "http message": [{"type": "http.response.start", "status": 200}],
    "denial without extension": [{"type": "websocket.http.response.start", "status": 403}],
}


@pytest.mark.parametrize("messages", GOOD_WS)
def test_correct_websocket_sessions_pass(messages: list[dict[str, Any]]) -> None:
    assert drive(scripted(*messages), WS_SCOPE) == messages


@pytest.mark.parametrize("name", list(BAD_WS))
def test_each_broken_websocket_rule_is_caught(name: str) -> None:
    with pytest.raises(ASGIViolation, match="ASGI WebSocket"):
        drive(scripted(*BAD_WS[name]), WS_SCOPE)


def test_a_denial_response_where_the_extension_is_offered() -> None:
    scope = {**WS_SCOPE, "extensions": {"websocket.http.response": {}}}
    denial = [{"type": "websocket.http.response.start", "status": 403, "headers": []}, {"type": "websocket.http.response.body", "body": b"no"}]
    assert drive(scripted(*denial), scope) == denial
    with pytest.raises(ASGIViolation):
        drive(scripted(*denial, {"type": "websocket.accept"}), scope)


def test_lifespan_answers_once_each_when_asked() -> None:
    good = [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.failed", "message": "db"}]
    assert drive(scripted(*good), LIFESPAN) == good

    async def eager(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "lifespan.startup.complete"})  # before receive() said lifespan.startup

    for app in (eager, scripted({"type": "lifespan.startup.complete"}, {"type": "lifespan.startup.complete"}), scripted({"type": "lifespan.ready"})):
        with pytest.raises(ASGIViolation, match="ASGI Lifespan"):
            drive(app, LIFESPAN)


# --- the server side -------------------------------------------------------------------------------


def test_check_scope_accepts_a_complete_scope_and_names_each_bad_key() -> None:
    check_scope(http_scope())
    check_scope(WS_SCOPE)
    check_scope(LIFESPAN)
    for key, bad in [("method", "get"), ("path", b"/"), ("raw_path", "/"), ("query_string", ""), ("headers", [(b"Host", b"x")]),
                     ("headers", [("host", "x")]), ("client", ("127.0.0.1", "5000")), ("http_version", "1"), ("root_path", None),
                     ("asgi", {"version": "4.0"})]:  # fmt: skip
        with pytest.raises(ASGIViolation, match=key if key != "headers" else "header") as caught:
            check_scope(http_scope(**{key: bad}) if key not in ("method", "path") else {**http_scope(), key: bad})
        assert "Connection Scope" in str(caught.value)
    scope = http_scope()
    del scope["query_string"]
    with pytest.raises(ASGIViolation, match="without 'query_string'"):
        check_scope(scope)


def test_checked_receive_follows_the_http_request_stream() -> None:
    def replay(*messages: dict[str, Any]) -> None:
        pending = list(messages)

        async def receive() -> dict[str, Any]:
            return pending.pop(0)

        async def read_all() -> None:
            checked = checked_receive(receive, http_scope())
            for _ in messages:
                await checked()

        run(read_all())

    replay({"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.request"}, {"type": "http.disconnect"}, {"type": "http.disconnect"})
    for broken, sentence in [
        ([{"type": "http.request", "body": "a"}], "bytes"),
        ([{"type": "http.request", "more_body": 1}], "a bool"),
        ([{"type": "http.request"}, {"type": "http.request"}], "only 'http.disconnect' may follow"),
        ([{"type": "http.disconnect"}, {"type": "http.request"}], "keeps returning 'http.disconnect'"),
        ([{"type": "websocket.connect"}], "'http.request' or 'http.disconnect'"),
    ]:
        with pytest.raises(ASGIViolation, match=sentence):
            replay(*broken)


def test_a_huge_message_is_shortened_in_the_sentence() -> None:
    """A server that hands a 512 KiB body as a bytearray: the failure is the sentence, not a megabyte."""
    receive = checked_receive(scripted_receive({"type": "http.request", "body": bytearray(512 * 1024)}), http_scope())
    with pytest.raises(ASGIViolation) as caught:
        run(receive())
    text = str(caught.value)
    assert "request body of type bytearray" in text and "ASGI HTTP §Request" in text
    assert len(text) < 1000, f"expected the message cut short, got {len(text)} characters"


def scripted_receive(*messages: dict[str, Any]) -> Any:
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    return receive


async def _complete_then_probe(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_send_error_after_end_reports_what_send_did() -> None:
    async def lenient(message: Any) -> None:
        pass

    async def strict(message: Any) -> None:
        raise RuntimeError("the response is complete")

    assert run(send_error_after_end(lenient, http_scope())) is None
    assert isinstance(run(send_error_after_end(strict, http_scope())), RuntimeError)


def test_server_checks_on_uvicorn_records_nothing_and_catches_a_broken_server() -> None:
    checks = ServerChecks(_complete_then_probe, what="uvicorn", send_after_end=True)
    with uvicorn_serving(checks, lifespan="off") as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        response = client.post("/?q=1", content=b"body")
    assert (response.status_code, response.content) == (200, b"ok")
    checks.raise_first()  # uvicorn keeps every rule checked here
    assert checks.scopes and checks.scopes[0]["query_string"] == b"q=1"

    # A server that hands the method in lower case and accepts a late send: both are recorded.
    broken = ServerChecks(_complete_then_probe, send_after_end=True)

    async def receive() -> Any:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        pass

    run(broken({**http_scope(), "method": "post"}, receive, send))
    assert len(broken.violations) == 2, broken.violations
    with pytest.raises(ASGIViolation, match="uppercase"):
        broken.raise_first()


def test_a_served_app_keeps_its_violation_for_the_test() -> None:
    app = checked_app(scripted({**START, "headers": [(b"Content-Type", b"text/plain")]}, BODY))
    with uvicorn_serving(app, lifespan="off") as url, httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        status = client.get("/").status_code
    assert status == 500, f"uvicorn answers an app that raised with 500, got {status}"
    with pytest.raises(ASGIViolation, match="lowercased"):
        app.raise_first()


def reading(count: int) -> Any:
    """A probe app that calls receive() ``count`` times."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(count):
            await receive()

    return app


@pytest.mark.parametrize(
    ("scope", "incoming", "sentence"),
    [
        (WS_SCOPE, [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "a"}, {"type": "websocket.disconnect", "code": 1000}], None),
        (WS_SCOPE, [{"type": "websocket.receive", "text": "a"}], "starts with 'websocket.connect'"),
        (WS_SCOPE, [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "a", "bytes": b"a"}], "both of bytes and text"),
        (WS_SCOPE, [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": "1000"}], "an int"),
        (WS_SCOPE, [{"type": "websocket.connect"}, {"type": "websocket.receive", "bytes": bytearray(b"a")}], "bytes of type bytearray"),
        (WS_SCOPE, [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": b"a"}], "text of type bytes"),
        (WS_SCOPE, [{"type": "websocket.connect"}, {"type": "websocket.receive"}], "neither of bytes and text"),
        ({k: v for k, v in WS_SCOPE.items() if k != "path"}, [], "without 'path'"),
        ({**WS_SCOPE, "headers": [(b"Sec-WebSocket-Key", b"x")]}, [], "with capitals"),
        (LIFESPAN, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}, {"type": "lifespan.shutdown"}], "startup once, then shutdown once"),
        (WS_SCOPE, [{"type": "websocket.connect"}, {"type": "websocket.disconnect"}, {"type": "websocket.receive", "text": "a"}], "after connect"),
        (LIFESPAN, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}], None),
        (LIFESPAN, [{"type": "lifespan.shutdown"}], "expected 'lifespan.startup'"),
        (LIFESPAN, [{"type": "lifespan.startup"}, {"type": "lifespan.startup"}], "expected 'lifespan.shutdown'"),
        ({**WS_SCOPE, "subprotocols": "chat"}, [], "a list of str"),
        ({**LIFESPAN, "state": []}, [], "a dict"),
        ({**LIFESPAN, "type": "http2"}, [], "'http', 'websocket' or 'lifespan'"),
    ],
)
def test_server_checks_follow_websocket_and_lifespan(scope: dict[str, Any], incoming: list[dict[str, Any]], sentence: str | None) -> None:
    pending = list(incoming)

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: Any) -> None:
        pass

    checks = ServerChecks(reading(len(incoming)))
    run(checks(scope, receive, send))
    if sentence is None:
        checks.raise_first()
    else:
        with pytest.raises(ASGIViolation, match=re.escape(sentence)):
            checks.raise_first()


# --- the exercises apply it: a server bug only these checks see fails the exercise's own tests ---------

FIFTEEN, EIGHTEEN = ("15_asgi_server", "asgi_server.py"), ("18_websocket_server", "websocket_server.py")

# (id, the exercise, the file edited, the text replaced, its replacement, the tests to run (-k), what the failure says).
# A bytearray compares equal to the bytes it holds: no assertion on a value sees it, the type check does.
ONLY_THE_CHECKS_SEE = [
    ("15-chunked-body-as-bytearray", FIFTEEN, FIFTEEN, 'return b"".join(chunks)', 'return bytearray(b"".join(chunks))',
     "passes_request_bodies", "request body of type bytearray"),
    ("18-binary-message-as-bytearray", EIGHTEEN, EIGHTEEN, 'data = b"".join(self.fragments)', 'data = bytearray().join(self.fragments)',
     "binary_message_reaches_the_app", "bytes of type bytearray in 'websocket.receive'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("exercise", "where", "old", "new", "selection", "said"), [pytest.param(*case[1:], id=case[0]) for case in ONLY_THE_CHECKS_SEE]
)
def test_the_exercises_check_what_a_server_hands_their_probe_apps(
    tmp_path: Path, exercise: tuple[str, str], where: tuple[str, str], old: str, new: str, selection: str, said: str,
    run_exercise_tests: Callable[..., subprocess.CompletedProcess[str]], edited_reference: Callable[..., Path],
) -> None:
    # The reference of 15 and 18 (18 runs on 15), once as it is and once with the edit.
    unchanged = edited_reference(tmp_path / "unchanged", (FIFTEEN, EIGHTEEN), where, old, old)
    passed = run_exercise_tests(unchanged, exercise[0], selection)
    assert passed.returncode == 0, f"expected the unchanged reference to pass {selection!r}:\n{passed.stdout[-3000:]}"
    broken = run_exercise_tests(edited_reference(tmp_path / "broken", (FIFTEEN, EIGHTEEN), where, old, new), exercise[0], selection)
    assert broken.returncode == 1, f"expected the tests {selection!r} to fail on the broken copy:\n{broken.stdout[-3000:]}"
    assert said in broken.stdout, f"expected the failure to say {said!r}:\n{broken.stdout[-3000:]}"
