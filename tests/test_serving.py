"""testkit.serving's hypercorn helper: the second reference ASGI server the app exercises run on.

``hypercorn_serving`` keeps the contract of ``uvicorn_serving``: 127.0.0.1 on a port the kernel
chose, ready before the block runs, stopped (and proven stopped) when it ends, every connection the
test opens on the wire record, and a plain sentence when the app's startup fails.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest

from testkit import wire
from testkit.serving import ASGI_SERVERS, CLIENT_TIMEOUT, HOST, asgi_serving, hypercorn_serving


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: "hello" to every request; no lifespan (it raises, as many student apps do)."""
    if scope["type"] != "http":
        raise RuntimeError(f"only http, not {scope['type']}")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return False
    except OSError:
        return True


def test_serves_the_app_on_127_0_0_1_on_a_port_the_kernel_chose() -> None:
    with hypercorn_serving(hello) as url:
        assert url.startswith(f"http://{HOST}:"), f"expected a URL on {HOST}, got {url}"
        port = int(url.rsplit(":", 1)[1])
        assert port > 0, f"expected the real port, got {port}"
        response = httpx.get(url + "/", timeout=CLIENT_TIMEOUT)
    assert (response.status_code, response.text) == (200, "hello"), f"got {response.status_code} {response.text!r}"
    assert response.headers.get("server", "").startswith("hypercorn"), (
        f"expected hypercorn to answer, got server {response.headers.get('server')!r}"
    )


def test_two_servers_side_by_side_get_different_ports() -> None:
    with hypercorn_serving(hello) as first, hypercorn_serving(hello) as second:
        assert first != second, f"both servers on {first}"
        for url in (first, second):
            assert httpx.get(url, timeout=CLIENT_TIMEOUT).text == "hello"


def test_after_the_block_the_server_has_stopped_and_its_port_refuses_connections() -> None:
    with httpx.Client(timeout=CLIENT_TIMEOUT) as client:  # a kept-alive connection must not hold it open
        with hypercorn_serving(hello) as url:
            port = int(url.rsplit(":", 1)[1])
            assert client.get(url).status_code == 200
        assert _refuses(port), f"port {port} still accepts connections after hypercorn_serving returned"
    assert not [t for t in threading.enumerate() if t.name == "hypercorn"], "hypercorn's thread outlived the block"


def test_lifespan_startup_and_shutdown_both_run() -> None:
    events: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await hello(scope, receive, send)

    with hypercorn_serving(app) as url:
        assert events == ["lifespan.startup"], f"expected startup before the block, got {events}"
        assert httpx.get(url, timeout=CLIENT_TIMEOUT).status_code == 200
    assert events == ["lifespan.startup", "lifespan.shutdown"], f"expected shutdown when stopped, got {events}"


def test_a_failed_startup_is_one_sentence_not_a_hang() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(pytest.fail.Exception, match="hypercorn stopped before it was ready"):
        with hypercorn_serving(app):
            pass  # pragma: no cover - never reached


def test_an_unknown_setting_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="no setting 'keepalive'"):
        with hypercorn_serving(hello, keepalive=1):
            pass  # pragma: no cover - never reached


def test_settings_reach_hypercorn() -> None:
    with hypercorn_serving(hello, include_server_header=False) as url:
        response = httpx.get(url, timeout=CLIENT_TIMEOUT)
    assert "server" not in response.headers, f"expected no server header, got {response.headers.get('server')!r}"


def test_the_test_s_connections_are_on_the_wire_record() -> None:
    wire.rewind()
    try:
        with hypercorn_serving(hello) as url:
            httpx.get(url + "/recorded", timeout=CLIENT_TIMEOUT)
            recorded = wire.report()
        assert recorded.get("server") == "hypercorn", f"expected the exchange under 'hypercorn', got {recorded}"
        assert "GET /recorded" in recorded.get("sent", ""), f"expected the request on the record, got {recorded}"
        assert b"hello" in wire.last_received(), f"expected the response on the record, got {wire.last_received()!r}"
    finally:
        wire.rewind()


# --- asgi_serving: either reference server by name, with the same settings -------------------------


@pytest.mark.parametrize("server", ASGI_SERVERS)
def test_asgi_serving_runs_the_named_server(server: str) -> None:
    with asgi_serving(server, hello) as url:
        response = httpx.get(url, timeout=CLIENT_TIMEOUT)
    assert response.text == "hello", f"got {response.text!r}"
    assert server in response.headers.get("server", ""), f"expected {server} to answer, got {response.headers.get('server')!r}"


@pytest.mark.parametrize("server", ASGI_SERVERS)
@pytest.mark.parametrize("lifespan", ["auto", "off"])
def test_asgi_serving_lifespan_off_never_shows_the_app_a_lifespan_scope(server: str, lifespan: str) -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        await hello(scope, receive, send)

    with asgi_serving(server, app, lifespan=lifespan) as url:
        assert httpx.get(url, timeout=CLIENT_TIMEOUT).status_code == 200
    expected = ["http"] if lifespan == "off" else ["lifespan", "http"]
    assert seen == expected, f"lifespan={lifespan!r} on {server}: expected the app to see {expected}, got {seen}"


def test_asgi_serving_refuses_an_unknown_server_by_name() -> None:
    with pytest.raises(ValueError, match="no reference ASGI server 'daphne'"):
        with asgi_serving("daphne", hello):
            pass  # pragma: no cover - never reached
