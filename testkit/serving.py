"""What the exercise tests share to run servers safely: start, wait until ready, stop, prove it stopped.

The rules every server test follows (see CURRICULUM.md, "Pitfalls of grading student servers"):

- bind 127.0.0.1 (never "localhost", which may resolve to ::1) on port 0, and read the port back;
- wait on a readiness signal (a flag, a printed line, a connect that succeeds), never on a fixed sleep;
- give every client call an explicit timeout (``CLIENT_TIMEOUT``);
- stop every server, join its thread or process with a time limit, and fail with a plain sentence
  when the student's server does not stop.

Only tests import this module: the grader's status path never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testkit import wire

HOST = "127.0.0.1"
CLIENT_TIMEOUT = 5.0
"""Seconds any single client call in a test may take."""
READY_TIMEOUT = 10.0
"""Seconds a server may take to start listening."""
STOP_TIMEOUT = 5.0
"""Seconds a server may take to stop once asked."""


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.01) -> None:
    """Poll ``condition`` until it is true, or fail the test saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


def wait_for_port(port: int, *, host: str = HOST, timeout: float = READY_TIMEOUT) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""

    def accepting() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(accepting, timeout=timeout, what=f"a server listening on {host}:{port}")


def _stop_thread(thread: threading.Thread, stop: Callable[[], Any], *, name: str) -> None:
    """Call ``stop`` (in its own thread: a broken ``shutdown()`` may block forever) and join ``thread``."""
    errors: list[BaseException] = []

    def call_stop() -> None:
        try:
            stop()
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    stopper = threading.Thread(target=call_stop, name=f"stop {name}", daemon=True)
    stopper.start()
    stopper.join(STOP_TIMEOUT)
    thread.join(STOP_TIMEOUT)
    if errors:
        raise AssertionError(f"{name}: stopping the server raised {errors[0]!r}") from errors[0]
    if stopper.is_alive() or thread.is_alive():
        pytest.fail(
            f"{name} did not stop within {STOP_TIMEOUT:g} s of being asked to: "
            "shutdown() must make serve_forever() return, and serve_forever() must then close its socket"
        )


@contextlib.contextmanager
def serving(server: Any, *, name: str = "the server", poll_interval: float | None = None) -> Iterator[str]:
    """Run ``server.serve_forever()`` in a thread; yield its base URL; then ``shutdown()`` it and check.

    ``server`` is anything shaped like ``wsgiref.simple_server.WSGIServer``: a ``server_address``
    (host, port) tuple, ``serve_forever()`` and ``shutdown()``; a ``server_close()`` is called if present.
    Pass ``poll_interval`` only to stdlib ``socketserver`` servers: their ``shutdown()`` waits up to one
    poll interval (0.5 s by default), which adds up over a test suite.
    """
    serve_kwargs = {} if poll_interval is None else {"poll_interval": poll_interval}
    host, port = server.server_address[:2]
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.serve_forever(**serve_kwargs)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        wait_for_port(port, host=host)
        with wire.watching(host, port, name):
            yield f"http://{host}:{port}"
    finally:
        _stop_thread(thread, server.shutdown, name=name)
        close = getattr(server, "server_close", None)
        if close is not None:
            close()
    if failure:
        raise AssertionError(f"{name}: serve_forever() raised {failure[0]!r}") from failure[0]


@contextlib.contextmanager
def uvicorn_serving(app: Any, **config: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread (the reference ASGI server); yield its base URL."""
    import uvicorn

    config.setdefault("lifespan", "auto")
    config.setdefault("log_level", "warning")
    server = _prompt_uvicorn()(uvicorn.Config(app, host=HOST, port=0, **config))
    # uvicorn installs signal handlers only in the main thread; it is never the main thread here.
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_until(
        lambda: server.started or not thread.is_alive(),
        timeout=READY_TIMEOUT,
        what="uvicorn starting",
    )
    if not server.started:
        thread.join(STOP_TIMEOUT)
        pytest.fail("uvicorn stopped before it was ready (did the app's lifespan startup fail?)")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with wire.watching(HOST, port, "uvicorn"):
            yield f"http://{HOST}:{port}"
    finally:

        _stop_thread(thread, server.ask_to_exit, name="uvicorn")


@functools.cache  # made on first use: only the tests that use uvicorn import it
def _prompt_uvicorn() -> type:
    import asyncio

    import uvicorn

    class PromptUvicorn(uvicorn.Server):
        """uvicorn's server, woken to exit at once rather than on its next tick.

        uvicorn looks at ``should_exit`` every 0.1 s; a suite that starts and stops it a hundred times
        spends a third of each start and stop waiting for one. Here the loop waits on an event instead,
        and still ticks once a second, which is how often uvicorn refreshes its ``Date`` header.
        """

        _loop: asyncio.AbstractEventLoop | None = None
        _wake: asyncio.Event | None = None

        async def main_loop(self) -> None:
            self._wake = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            counter = 0
            should_exit = await self.on_tick(counter)  # (after _wake exists: see ask_to_exit)
            while not should_exit:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                counter += 10  # on_tick refreshes the Date header on every tenth tick
                should_exit = await self.on_tick(counter)

        def ask_to_exit(self) -> None:
            """Stop the server from another thread, as setting ``should_exit`` does, but now."""
            self.should_exit = True  # first: a loop not yet waiting sees it on its next on_tick
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None:
                with contextlib.suppress(RuntimeError):  # the loop has closed: it has exited already
                    loop.call_soon_threadsafe(wake.set)

        async def shutdown(self, sockets: Any = None) -> None:
            """uvicorn's shutdown, without its fixed 0.1 s pause when no connection or task is left.

            uvicorn sleeps 0.1 s after asking its connections to close, even when there are none;
            with none, what is left of its shutdown is closing the listeners and the lifespan's end.
            """
            if self.server_state.connections or self.server_state.tasks:
                await super().shutdown(sockets)
                return
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for server in self.servers:
                await server.wait_closed()
            if not self.force_exit:
                await self.lifespan.shutdown()

    return PromptUvicorn


@contextlib.contextmanager
def hypercorn_serving(app: Any, **config: Any) -> Iterator[str]:
    """Run ``app`` under hypercorn in a thread (the second reference ASGI server); yield its base URL.

    ``config`` sets attributes of ``hypercorn.config.Config`` (``graceful_timeout``,
    ``keep_alive_timeout``, ...). Hypercorn always tries the lifespan protocol first and carries on
    without it when the app raises, as uvicorn's ``lifespan="auto"`` does.

    Hypercorn prints the port it bound but offers no way to read it back, so the listening socket is
    bound here (127.0.0.1, port 0) and handed to it. Its ``shutdown_trigger`` is both signals: hypercorn
    awaits it once every socket is listening (ready), and returns from ``serve()`` when it completes
    (stop). The server has stopped when its thread has ended and the port refuses connections.
    """
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    unknown = sorted(key for key in config if not hasattr(Config, key))
    if unknown:
        raise TypeError(f"hypercorn_serving: hypercorn's Config has no setting {unknown[0]!r}")
    config.setdefault("loglevel", "WARNING")
    config.setdefault("graceful_timeout", 1.0)  # open keep-alive connections hold a shutdown this long
    # Its lifespan waits default to 60 s: an app that never answers lifespan must fail well inside ours.
    config.setdefault("startup_timeout", READY_TIMEOUT / 2)
    config.setdefault("shutdown_timeout", STOP_TIMEOUT / 2)
    listening = socket.create_server((HOST, 0))
    port = listening.getsockname()[1]
    hypercorn_config = _prebound_config(listening)
    for key, value in config.items():
        setattr(hypercorn_config, key, value)

    ready = threading.Event()
    failure: list[BaseException] = []
    loop_and_stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []  # filled once it is ready

    async def until_stopped() -> None:
        stop = asyncio.Event()
        loop_and_stop.append((asyncio.get_running_loop(), stop))
        ready.set()
        await stop.wait()

    def run() -> None:
        try:  # its own event loop, in its own thread; mode="asgi": a stub must not be taken for WSGI
            asyncio.run(serve(app, hypercorn_config, shutdown_trigger=until_stopped, mode="asgi"))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="hypercorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: ready.is_set() or not thread.is_alive(), timeout=READY_TIMEOUT, what="hypercorn starting")
        if not ready.is_set():
            thread.join(STOP_TIMEOUT)
            reason = f": {failure[0]!r}" if failure else ""
            pytest.fail(f"hypercorn stopped before it was ready (did the app's lifespan startup fail?){reason}")
        with wire.watching(HOST, port, "hypercorn"):
            yield f"http://{HOST}:{port}"
    finally:

        def ask_to_exit() -> None:
            for loop, stop in loop_and_stop:
                loop.call_soon_threadsafe(stop.set)

        _stop_thread(thread, ask_to_exit, name="hypercorn")
        listening.close()  # hypercorn closed it when it stopped; closing twice is harmless
    if failure:
        raise AssertionError(f"hypercorn: serve() raised {failure[0]!r}") from failure[0]
    _assert_refuses_connections(port, name="hypercorn")


ASGI_SERVERS = ("uvicorn", "hypercorn")
"""The reference ASGI servers: an app exercise's served tests run on each (parametrize over this)."""


@contextlib.contextmanager
def asgi_serving(server: str, app: Any, *, lifespan: str = "auto") -> Iterator[str]:
    """Serve ``app`` on the reference ASGI server named ``server`` (one of ``ASGI_SERVERS``), same settings.

    ``lifespan`` is uvicorn's switch: ``"auto"`` (try it, carry on if the app raises), ``"on"`` (the app
    must answer it), ``"off"`` (never sent). Hypercorn always behaves as ``"auto"``; for ``"off"`` the
    lifespan scope ends here, before the app sees it. Either server cancels an app still running 1 s
    after it is asked to stop (an endless stream must not hold the test).
    """
    if server == "uvicorn":
        with uvicorn_serving(app, lifespan=lifespan, timeout_graceful_shutdown=1) as url:
            yield url
    elif server == "hypercorn":
        with hypercorn_serving(_without_lifespan(app) if lifespan == "off" else app, graceful_timeout=1.0) as url:
            yield url
    else:
        raise ValueError(f"asgi_serving: no reference ASGI server {server!r}; choose one of {', '.join(ASGI_SERVERS)}")


def _without_lifespan(app: Any) -> Any:
    """``app``, except that a lifespan scope returns at once (hypercorn then serves without lifespan)."""

    async def http_and_websocket_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)

    return http_and_websocket_only


def _assert_refuses_connections(port: int, *, name: str) -> None:
    """Fail unless nothing listens on ``port`` any more: a stopped server has closed its socket."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            pass
    except OSError:
        return
    pytest.fail(f"{name} said it had stopped, but port {port} still accepts connections")


def _prebound_config(listening: socket.socket) -> Any:
    """A hypercorn ``Config`` that serves on ``listening`` (already bound) instead of binding its own."""
    from hypercorn.config import Config, Sockets

    class PreboundConfig(Config):
        def create_sockets(self) -> Sockets:  # hypercorn calls it once lifespan startup is done
            listening.setblocking(False)
            return Sockets(secure_sockets=[], insecure_sockets=[listening], quic_sockets=[])

    return PreboundConfig()


@contextlib.contextmanager
def subprocess_serving(
    argv: list[str],
    *,
    ready: str,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    name: str | None = None,
) -> Iterator[str]:
    """Start a server process; yield the base URL it prints; then stop it and check it stopped.

    ``ready`` is a regular expression with a group named ``port`` matched against each line the
    process prints (stdout or stderr): that line is the readiness signal. The process gets its own
    process group, and the whole group is killed if SIGTERM does not stop it in time.
    """
    name = name or os.path.basename(argv[0])
    pattern = re.compile(ready)
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed = _ProcessOutput(process, name)
    try:
        port = printed.port(pattern)
        with wire.watching(HOST, port, name) as watch:
            printed.forward_to(watch)  # what it prints from now on is the server's side of a failure
            try:
                yield f"http://{HOST}:{port}"
            finally:
                _stop_process(process, name)
                printed.finish()  # its last words (a traceback as it stopped) are on the record too
    finally:
        _stop_process(process, name)
        if process.stdout is not None:
            process.stdout.close()


class _ProcessOutput:
    """The lines a server process prints, read on a thread (a buffered pipe and select() do not mix).

    Until the server is ready they wait in a queue for :meth:`port`; from :meth:`forward_to` on, each
    goes to the test's wire record instead, so that a failure can show what the server printed.
    """

    def __init__(self, process: subprocess.Popen[str], name: str) -> None:
        self.process, self.name = process, name
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.before: list[str] = []  # what it printed until it was ready
        self.lock = threading.Lock()
        self.watch: wire.Watch | None = None
        self.thread = threading.Thread(target=self._pump, name=f"{name} output", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                with self.lock:
                    if self.watch is not None:
                        self.watch.printed(line)
                    else:
                        self.lines.put(line)
        except (OSError, ValueError):  # the pipe was closed under us when the test stopped the process
            pass
        self.lines.put(None)

    def port(self, pattern: re.Pattern[str]) -> int:
        """Wait until a line matches ``pattern`` (its group ``port``); fail saying what it printed."""
        deadline = time.monotonic() + READY_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:  # the process exited
                break
            self.before.append(line)
            match = pattern.search(line)
            if match:
                return int(match.group("port"))
        shown = "".join(self.before[-20:]) or "(nothing)"
        pytest.fail(f"{self.name} did not say it was ready within {READY_TIMEOUT:g} s. It printed:\n{shown}")

    def finish(self, timeout: float = 1.0) -> None:
        """Wait a little for the last lines of a process that has stopped (its pipe then ends)."""
        self.thread.join(timeout)

    def forward_to(self, watch: wire.Watch) -> None:
        with self.lock:
            self.watch = watch
            for line in self.before:
                watch.printed(line)
            while True:
                try:
                    line = self.lines.get_nowait()
                except queue.Empty:
                    break
                if line is not None:
                    watch.printed(line)


def _stop_process(process: subprocess.Popen[str], name: str) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
            pytest.fail(f"{name} did not stop within {STOP_TIMEOUT:g} s of SIGTERM and had to be killed")
    # Children of the server (gunicorn's workers) share its process group: none may outlive it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def gunicorn_argv(*args: str, chdir: str | os.PathLike[str] | None = None) -> list[str]:
    """``python -m gunicorn`` bound to 127.0.0.1 on a free port, ready for :func:`subprocess_serving`.

    Pair it with ``ready=GUNICORN_READY``. Gunicorn 24+ opens a control socket at one fixed path per
    user; servers started side by side would fight over it, so it is switched off where it exists.
    """
    argv = python_argv("-m", "gunicorn", "--bind", f"{HOST}:0", "--workers", "1")
    if _gunicorn_has_control_socket():
        argv.append("--no-control-socket")
    if chdir is not None:
        argv += ["--chdir", str(chdir)]
    return argv + list(args)


GUNICORN_READY = r"Listening at: http://127\.0\.0\.1:(?P<port>\d+)"


def _gunicorn_has_control_socket() -> bool:
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:
        return False
    return any("--no-control-socket" in (getattr(setting, "cli", None) or []) for setting in KNOWN_SETTINGS)


def python_argv(*args: str) -> list[str]:
    """An argv that runs this same Python interpreter (so the same installed packages)."""
    return [sys.executable, *args]
