"""Exercise 12 — why WSGI can't have nice things.

One endpoint, written twice. Every request waits ``DELAY`` seconds for a pretend database, then
answers with a little JSON document. Nothing is computed during the wait: the process only waits.

- ``wsgi_app`` waits with ``time.sleep``. A WSGI callable is a plain function: while it waits, the
  thread that called it can do nothing else. A server with one thread answers one request at a time.
- ``asgi_app`` waits with ``await asyncio.sleep``. While one request waits, the event loop runs the
  others: one thread, many requests in flight.

``measure(url, n)`` sends ``n`` requests at once and times them, so you can see the difference.

Try it by hand (from ``exercises/12_why_async/``)::

    python -m why_async wsgi --port 8000     # wsgiref's one-thread server
    python -m why_async asgi --port 8001     # uvicorn
    python -m why_async measure http://127.0.0.1:8000/ -n 10
    python -m why_async measure http://127.0.0.1:8001/ -n 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

DELAY = 0.5
"""Seconds the pretend database takes to answer. Read it when a request arrives: the tests change it."""


def _answer(path: str) -> bytes:
    return json.dumps({"path": path, "waited": DELAY}).encode("utf-8")


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The slow endpoint as a WSGI application (PEP 3333): wait with ``time.sleep(DELAY)``."""
    # The "database call": the thread sleeps, and with it everything this thread could have done.
    time.sleep(DELAY)
    body = _answer(environ.get("PATH_INFO", ""))  # PEP 3333: an empty PATH_INFO may be left out
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """The same endpoint as an ASGI application: wait with ``await asyncio.sleep(DELAY)``."""
    if scope["type"] != "http":
        # Only HTTP here; raising tells the server so (exercise 13 says more).
        raise ValueError(f"this app only speaks HTTP, not {scope['type']!r}")
    # The "database call": this coroutine is parked and the event loop serves other requests meanwhile.
    await asyncio.sleep(DELAY)
    body = _answer(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def measure(url: str, n: int) -> float:
    """Send ``n`` GET requests to ``url`` all at once; return the seconds until the last answer."""
    async with httpx.AsyncClient(timeout=30) as client:
        start = time.perf_counter()
        # gather() starts every request before waiting on any: they are all in flight together.
        responses = await asyncio.gather(*(client.get(url) for _ in range(n)))
        elapsed = time.perf_counter() - start
    for response in responses:
        response.raise_for_status()
    return elapsed


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
    """Serve one of the apps, or time a server: see the module docstring. (Already written.)"""
    parser = argparse.ArgumentParser(prog="python -m why_async", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("wsgi", "asgi"):
        serve = commands.add_parser(name, help=f"serve {name}_app")
        serve.add_argument("--host", default="127.0.0.1")
        serve.add_argument("--port", type=int, default=8000)
    timing = commands.add_parser("measure", help="time n concurrent requests")
    timing.add_argument("url")
    timing.add_argument("-n", type=int, default=10)
    args = parser.parse_args(argv)

    if args.command == "wsgi":
        from wsgiref.simple_server import make_server

        with make_server(args.host, args.port, wsgi_app) as server:  # one thread, like the test
            print(f"wsgiref serving wsgi_app on http://{args.host}:{args.port}/ (one thread)")
            server.serve_forever()
    elif args.command == "asgi":
        import uvicorn

        uvicorn.run(asgi_app, host=args.host, port=args.port, lifespan="off")
    else:
        seconds = asyncio.run(measure(args.url, args.n))
        print(f"{args.n} requests to {args.url} took {seconds:.2f} s")


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
