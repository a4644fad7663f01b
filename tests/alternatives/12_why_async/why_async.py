"""Exercise 12 (alternative) — why WSGI can't have nice things.

One endpoint, written twice around one shared piece: ``slow_answer(path)`` builds the response
(status, headers, body) that both apps send; only the way they *wait* differs.

- ``wsgi_app`` returns a generator: the wait and ``start_response`` happen when the server iterates
  the body, as PEP 3333 allows ("the application may call start_response when its iterable is first
  iterated"). Either way, the thread of the server is held for the whole ``time.sleep``.
- ``asgi_app`` awaits ``asyncio.sleep``: while one request waits, the loop runs the others.
- ``measure`` starts the ``n`` requests in an ``asyncio.TaskGroup`` (the first failure cancels the
  rest) on a client allowed ``n`` connections, so that all of them really are in flight together.

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
from collections.abc import Callable, Iterator
from typing import Any

import httpx

DELAY = 0.5
"""Seconds the pretend database takes to answer. Read when a request arrives: the tests change it."""


def slow_answer(path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """What the endpoint answers once its wait is over: status, headers (names in lower case), body."""
    body = json.dumps({"path": path, "waited": DELAY}, separators=(",", ":")).encode("utf-8")
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),  # a pretend database read: never serve a stale copy
    ]
    return 200, headers, body


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    """The slow endpoint as a WSGI app: ``time.sleep(DELAY)``, then the JSON answer."""
    time.sleep(DELAY)  # the thread that iterates this body can do nothing else meanwhile
    _, headers, body = slow_answer(environ["PATH_INFO"])
    start_response("200 OK", headers)
    yield body


async def asgi_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """The same endpoint as an ASGI app: ``await asyncio.sleep(DELAY)``, then the same answer."""
    if scope["type"] != "http":
        raise ValueError(f"this app speaks HTTP only, not {scope['type']!r}")
    await asyncio.sleep(DELAY)  # hands the loop back to the other requests while this one waits
    status, headers, body = slow_answer(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def measure(url: str, n: int) -> float:
    """Send ``n`` GETs to ``url`` at once; the seconds until the last answer. ``HTTPStatusError`` on a failure."""

    async def fetch(client: httpx.AsyncClient) -> None:
        response = await client.get(url)
        response.raise_for_status()  # timing failures is meaningless

    # httpx opens at most 100 connections by default and queues the rest: allow n, so all are in flight.
    limits = httpx.Limits(max_connections=max(n, 1), max_keepalive_connections=max(n, 1))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(n):
                    group.create_task(fetch(client))
        except* httpx.HTTPStatusError as failures:
            raise failures.exceptions[0] from None
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Serve one of the apps, or time a server: see the module docstring."""
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


if __name__ == "__main__":
    main()
