"""Your exercise-15 server, with your exercise-16 lifespan driver around it (given: you do not edit it).

    python -m lifespan_serving lifespan_apps:starlette_app --port 8000

``Server`` *is* your ``asgi_server.Server``: the same socket bound in ``__init__``, the same
connections, the same ``shutdown()`` and ``server_close()``. Only ``serve()`` changes: it hands your
exercise-15 ``serve()`` to ``serve_with_lifespan()`` (``lifespan_server.py``), so that the startup
runs before it and the shutdown after it. The one thing it needs from exercise 15 beyond serving
is ``self.state``: your ``Server`` passes it to every request (``build_scope`` copies it).

It relies only on what exercise 15's stub and README promise: ``Server(app, host, port)``,
``server_address``, ``state``, ``async serve()``, ``serve_forever()`` (which runs ``serve()``),
``shutdown()`` from any thread, also before serving began, and ``server_close()``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

import asgi_server
from lifespan_server import ASGIApp, LifespanStartupFailed, serve_with_lifespan

STARTUP_FAILURE = 3
"""The exit status when the app's startup failed: uvicorn's, so process managers treat both alike."""


class Server(asgi_server.Server):
    """Your exercise-15 ``Server``, with the app's lifespan around its serving.

    ``started`` is set once the lifespan startup completed and serving begins. The socket has
    listened since ``__init__``: a client that connects earlier waits in its backlog, and is served
    only after the startup (ASGI Lifespan §Startup).
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
        super().__init__(app, host, port)
        self.started = threading.Event()

    async def serve(self) -> None:
        """Startup, your exercise-15 ``serve()``, shutdown; a failed startup closes the socket and raises."""
        try:
            await serve_with_lifespan(self.app, self._serve_http)
        except LifespanStartupFailed:
            self.server_close()  # a server that will not serve should not even accept a connection
            raise

    async def _serve_http(self, state: dict[str, Any] | None) -> None:
        """``serve(state)`` for ``serve_with_lifespan``: what exercise 15 does, with the startup's state."""
        self.state = state
        self.started.set()
        await super().serve()


# ---------------------------------------------------------------------------------------------------
# The command line: python -m lifespan_serving module:app --port 8000
# ---------------------------------------------------------------------------------------------------


def run(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve ``app`` until Ctrl-C or SIGTERM; the exit status: 0, or 3 when its startup failed."""
    server = Server(app, host, port)

    def stop(signum: int, frame: object) -> None:
        server.shutdown()  # graceful, as in exercise 15: busy responses finish, then the lifespan shutdown

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    address = "http://%s:%d" % server.server_address
    print(f"lifespan_serving: starting on {address} (press Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except LifespanStartupFailed as failure:
        print(f"lifespan_serving: the app's lifespan startup failed: {failure}", file=sys.stderr, flush=True)
        return STARTUP_FAILURE
    finally:
        server.server_close()
    print("lifespan_serving: stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lifespan_serving", description="Serve an ASGI app, with lifespan.")
    parser.add_argument("app", help="the app to serve, as module:attribute (e.g. myapp:app)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    options = parser.parse_args(argv)
    sys.path.insert(0, ".")  # find module:app in the current folder, as uvicorn does
    app = asgi_server.import_app(options.app)  # given in exercise 15's stub
    raise SystemExit(run(app, options.host, options.port))


if __name__ == "__main__":
    main()
