"""testkit.wsgi_peers: waitress serves an app in-process, keeps connections alive, stops for good."""

from __future__ import annotations

import logging
import socket

import h11
import httpx
import pytest

from testkit import wire
from testkit.serving import CLIENT_TIMEOUT, HOST
from testkit.wsgi_peers import waitress_serving


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def broken(environ, start_response):
    raise RuntimeError("the probe app broke on purpose")


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_serves_an_app_and_keeps_the_connection_alive() -> None:
    with waitress_serving(hello) as url:
        assert url.startswith(f"http://{HOST}:")
        sock = socket.create_connection((HOST, port_of(url)), timeout=CLIENT_TIMEOUT)
        with sock:
            conn = h11.Connection(h11.CLIENT)
            for _ in range(2):  # two requests on one connection
                sock.sendall(conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")])))
                sock.sendall(conn.send(h11.EndOfMessage()))
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(sock.recv(65536))
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                assert body == b"hello"
                conn.start_next_cycle()


def test_is_stopped_and_refuses_connections_afterwards() -> None:
    with waitress_serving(hello) as url:
        port = port_of(url)
        assert httpx.get(url, timeout=CLIENT_TIMEOUT).text == "hello"
    with pytest.raises(OSError):
        socket.create_connection((HOST, port), timeout=1).close()


def test_logs_go_to_the_failure_record_not_the_terminal(caplog: pytest.LogCaptureFixture) -> None:
    wire.rewind()
    with caplog.at_level(logging.DEBUG), waitress_serving(broken) as url:
        response = httpx.get(url, timeout=CLIENT_TIMEOUT)
        assert response.status_code == 500
        output = wire.report()["output"]
    assert "the probe app broke on purpose" in output, f"expected waitress's traceback on the record, got {output!r}"
    assert "the probe app broke on purpose" not in caplog.text, "waitress's log reached the root logger"
    # After the block, the loggers are as they were.
    assert logging.getLogger("waitress").propagate is True
