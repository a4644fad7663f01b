"""Driving ASGI code from a synchronous test: a bounded event loop and complete scopes.

- :func:`run` runs one coroutine on a fresh loop and fails in plain words when it takes too long, so a
  student's ``await receive()`` that never returns costs seconds, not the exercise's time limit;
- :class:`MemoryWriter` stands in for an ``asyncio.StreamWriter``: it collects what a server writes
  and notes ``close()``, so a connection can be served without a socket;
- :func:`http_scope` builds a *complete* HTTP connection scope (every key of ASGI HTTP §HTTP
  Connection Scope), so an app that reads a key the spec promises never fails on the test's account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], *, timeout: float = 5, what: str = "the test") -> T:
    """Run ``coroutine`` on a fresh event loop, failing in plain words if it takes over ``timeout`` s."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        pytest.fail(f"{what} had not finished after {timeout:g} s")


def http_scope(
    method: str = "GET",
    path: str = "/",
    *,
    raw_path: bytes | None = None,
    query_string: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    root_path: str = "",
    host: bytes = b"testserver",
    client: tuple[str, int] = ("127.0.0.1", 50000),
    spec_version: str = "2.3",
    **extra: Any,
) -> dict[str, Any]:
    """A complete HTTP connection scope, as ASGI HTTP §HTTP Connection Scope describes it.

    The ``host`` header comes first, then ``headers``; ``extra`` adds keys (``state=...``).
    """
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8") if raw_path is None else raw_path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": [(b"host", host), *(headers or [])],
        "client": client,
        "server": ("127.0.0.1", 8000),
        **extra,
    }


class MemoryWriter:
    """What a connection's writer does, in memory: it collects what is written, and notes ``close()``."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def writelines(self, lines: list[bytes]) -> None:
        for line in lines:
            self.write(line)

    async def drain(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)
