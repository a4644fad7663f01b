"""Real WSGI servers that run an application inside the test process: waitress.

gunicorn runs in its own process (``testkit.serving.gunicorn_argv``) because it forks workers;
waitress is a threaded server with no forking, so it runs on a thread here, like wsgiref does,
and an application it serves can be any callable the test builds (a probe, the student's app
wrapped in ``wsgiref.validate.validator``).

waitress is stricter than wsgiref where it matters to the course: it keeps connections alive, so an
application that sends a body on a HEAD answer corrupts the *next* response on the connection, and
it reads chunked request bodies itself and marks them with ``wsgi.input_terminated``.

:class:`KeptAlive` is the client for that: one connection, several requests, h11 judging the bytes.

Only tests import this module.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import h11
import pytest

from testkit import wire
from testkit.serving import CLIENT_TIMEOUT, HOST, STOP_TIMEOUT

WsgiApp = Callable[..., Any]

# What waitress logs (an application's traceback, "too few bytes for Content-Length") belongs on the
# failing test's record, not on the terminal of every passing one.
_WAITRESS_LOGGERS = ("waitress", "waitress.queue")


class _ToWatch(logging.Handler):
    """Send waitress's log lines to the wire record of the server being watched."""

    def __init__(self, watch: wire.Watch) -> None:
        super().__init__()
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        for line in self.format(record).splitlines():
            self.watch.printed(f"waitress: {line}")


@contextlib.contextmanager
def _quiet_waitress(watch: wire.Watch) -> Iterator[None]:
    handler = _ToWatch(watch)
    saved = []
    for name in _WAITRESS_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.addHandler(handler)
        logger.propagate = False  # not to the root logger, so not to the terminal
    try:
        yield
    finally:
        for logger, propagate in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def waitress_serving(app: WsgiApp, *, threads: int = 4, **adjustments: Any) -> Iterator[str]:
    """Serve ``app`` with waitress on 127.0.0.1, port 0, in a thread; yield its base URL; then stop it.

    ``adjustments`` are waitress's own settings (``channel_timeout=...``). The server is stopped from
    its own thread (waitress's socket map is not thread-safe), and the test fails with a plain
    sentence if it does not stop, or if its listening socket is still open afterwards.
    """
    import waitress
    from waitress import wasyncore

    socket_map: dict[int, Any] = {}
    server = waitress.create_server(app, map=socket_map, host=HOST, port=0, threads=threads, **adjustments)
    port = server.effective_port
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        # server.run() loops until the process ends; one poll at a time lets the stop flag end it.
        try:
            while not stop.is_set():
                wasyncore.loop(timeout=1.0, map=socket_map, use_poll=True, count=1)
        except BaseException as exc:  # reported in the test's own thread
            failure.append(exc)
        finally:
            server.task_dispatcher.shutdown(timeout=STOP_TIMEOUT)
            wasyncore.close_all(socket_map)

    with wire.watching(HOST, port, "waitress") as watch, _quiet_waitress(watch):
        thread = threading.Thread(target=run, name="waitress", daemon=True)
        thread.start()
        try:
            # Readiness: create_server() has already bound and listen()ed, so a connection made now
            # waits in the backlog until the loop accepts it; nothing to poll for.
            yield f"http://{HOST}:{port}"
        finally:
            stop.set()
            # Wake the poll at once instead of after its timeout. A loop that ended already has
            # closed the trigger: what ended it is reported below.
            with contextlib.suppress(OSError):
                server.pull_trigger()
            thread.join(2 * STOP_TIMEOUT)  # the loop's last poll, then the dispatcher's shutdown
    if thread.is_alive():
        pytest.fail(f"waitress did not stop within {2 * STOP_TIMEOUT:g} s of being asked to")
    if server.socket is not None or _accepts(port):
        pytest.fail(f"waitress stopped but still accepts connections on port {port}")
    if failure:
        raise AssertionError(f"waitress: its loop raised {failure[0]!r}") from failure[0]


# ------------------------------------------------------------------ one kept-alive connection, judged by h11


@dataclass
class Answer:
    """One response read off a kept-alive connection: its status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class KeptAlive:
    """A client connection that stays open across requests, with h11 as the judge of the bytes.

    h11 knows that a HEAD answer and a 204 carry no body whatever their ``Content-Length`` says
    (RFC 9112 §6.3), so bytes an application sends there anyway stay on the connection and show up
    as the start of the *next* answer: :meth:`request` then fails saying so.
    """

    def __init__(self, url: str, *, name: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.name = name
        self.sock = socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT)
        self.h11 = h11.Connection(h11.CLIENT)
        self.history: list[str] = []  # "HEAD /tasks", ...: what came before on this connection

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> KeptAlive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> Answer:
        """Send one request on the connection and read its whole answer (``Transfer-Encoding: chunked``
        when ``headers`` says so, else ``Content-Length`` for a body)."""
        what = f"{method} {target}"
        sent_headers = [("Host", "127.0.0.1"), *(headers or [])]
        chunked = any(k.lower() == "transfer-encoding" for k, _ in sent_headers)
        if body and not chunked:
            sent_headers.append(("Content-Length", str(len(body))))
        if self.h11.our_state is h11.DONE:
            self._next_cycle(what)
        data = self.h11.send(h11.Request(method=method, target=target, headers=sent_headers))
        if body:
            data += self.h11.send(h11.Data(data=body))
        data += self.h11.send(h11.EndOfMessage())
        self.sock.sendall(data)
        answer = self._read(what)
        self.history.append(what)
        return answer

    def _next_cycle(self, what: str) -> None:
        if self.h11.their_state is not h11.DONE:
            raise AssertionError(f"{self.name} closed the connection before {what}: the previous answer ended it")
        try:
            self.h11.start_next_cycle()
        except h11.LocalProtocolError:
            raise AssertionError(
                f"{self.name} did not keep the connection alive after {self.history[-1]}, so {what} cannot be "
                "sent on it: an answer whose Content-Length does not match its body makes a server close it"
            ) from None

    def _read(self, what: str) -> Answer:
        received = bytearray()
        status, answer_headers, body = 0, {}, bytearray()
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                before = f" after {self.history[-1]}" if self.history else ""
                raise AssertionError(
                    f"the answer to {what}{before} on a kept-alive connection to {self.name} is not HTTP "
                    f"(h11: {exc}). Bytes sent past the end of the previous "
                    "answer land at the start of the next: a HEAD answer has no body at all (RFC 9110 §9.3.2), "
                    "and a body is exactly Content-Length bytes (RFC 9112 §6.3)"
                ) from None
            if event is h11.NEED_DATA:
                try:
                    chunk = self.sock.recv(65536)
                except TimeoutError:
                    raise AssertionError(
                        f"{self.name} sent no complete answer to {what} within {CLIENT_TIMEOUT:g} s; got "
                        f"{bytes(received[:200])!r}"
                    ) from None
                received += chunk
                self.h11.receive_data(chunk)
            elif isinstance(event, h11.Response):
                status = event.status_code
                answer_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, answer_headers, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError(f"{self.name} closed the connection instead of answering {what}")
