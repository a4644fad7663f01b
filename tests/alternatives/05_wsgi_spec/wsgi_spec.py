"""Exercise 05 (alternative) — the WSGI spec, corner by corner.

Four small applications, each about one part of PEP 3333 that "Hello, world" never touches:

- ``environ_app``: what the server puts in ``environ`` (§environ Variables);
- ``streaming_app``: a generator as the response body, and ``close()`` when the server stops early;
- ``FileIterable`` and ``make_file_app``: an iterable class with ``close()``, and the server's own
  ``wsgi.file_wrapper`` (§Optional Platform-Specific File Handling);
- ``make_guarded_app``: error handling with ``exc_info``, written here as an iterator *class* (the
  other shape PEP 3333 allows for a body), so that every step of the protocol is a visible method.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, BinaryIO
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

TEXT_PLAIN = ("Content-Type", "text/plain; charset=utf-8")
DEFAULT_CHUNKS = 5
MAX_CHUNKS = 10_000  # a query string must not make the server stream forever
BLOCK_SIZE = 8192


# ------------------------------------------------------------------------------------------ environ


def environ_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Show the request's ``environ``: one ``f"{key}: {value!r}"`` line per key, sorted by key."""
    text = "".join(f"{key}: {environ[key]!r}\n" for key in sorted(environ))
    body = text.encode("utf-8")  # measure the bytes, not the characters (repr keeps non-ASCII)
    start_response(
        "200 OK",
        [
            TEXT_PLAIN,
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),  # a mirror of one request: no cache should keep it
        ],
    )
    return (body,)


# ---------------------------------------------------------------------------------------- streaming


def _chunk_count(query_string: str) -> int | None:
    """``n`` from the query (the last one wins, as in most frameworks); None when it is not a count."""
    values = parse_qs(query_string, keep_blank_values=True).get("n")
    if not values:
        return DEFAULT_CHUNKS
    if not re.fullmatch(r"[0-9]{1,6}", values[-1]) or int(values[-1]) > MAX_CHUNKS:
        return None
    return int(values[-1])


def streaming_app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    """Stream ``n`` chunks (``?n=3``, 5 by default), ``b"chunk 0\\n"``, ...: a generator.

    No ``Content-Length`` and no ``Transfer-Encoding``: framing a stream is the server's choice.
    When the stream ends, however it ends, one line goes to ``wsgi.errors``:
    ``stream closed after {yielded} of {n} chunks``. A ``?n=`` that is not a count up to
    ``MAX_CHUNKS`` gets ``400 Bad Request`` (and no stream).
    """
    n = _chunk_count(environ.get("QUERY_STRING", ""))
    if n is None:
        message = f"n must be a whole number from 0 to {MAX_CHUNKS}\n".encode()
        start_response("400 Bad Request", [TEXT_PLAIN, ("Content-Length", str(len(message)))])
        yield message
        return
    # Proxies such as nginx buffer responses by default; this asks them to pass chunks on as they come.
    start_response("200 OK", [TEXT_PLAIN, ("X-Accel-Buffering", "no")])
    yielded = 0
    try:
        while yielded < n:
            # Count before yielding: if the server calls close() while we are paused here, this
            # chunk was handed over (its write may have failed, but it left our hands).
            yielded += 1
            yield b"chunk %d\n" % (yielded - 1)
    finally:
        # Runs on exhaustion and on close() (GeneratorExit at the paused yield) alike.
        environ["wsgi.errors"].write(f"stream closed after {yielded} of {n} chunks\n")


# -------------------------------------------------------------------------------------------- files


class FileIterable:
    """Serve a binary file object as a WSGI body: blocks of ``block_size`` bytes, then ``close()``.

    Shaped like ``wsgiref.util.FileWrapper``: ``filelike`` and ``block_size`` attributes.
    """

    def __init__(self, filelike: BinaryIO, block_size: int = 8192) -> None:
        """Keep the file and the block size; read nothing yet (the server may never iterate)."""
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        """Blocks of ``filelike.read(block_size)`` until it returns ``b""``; the file stays open."""
        # iter(callable, sentinel) calls read() until it returns the sentinel, which it never yields.
        return iter(partial(self.filelike.read, self.block_size), b"")

    def close(self) -> None:
        """Close the file (PEP 3333 §Specification Details); calling it again does no harm."""
        self.filelike.close()


def make_file_app(path: str | os.PathLike[str], content_type: str = "application/octet-stream") -> Callable[..., Iterable[bytes]]:
    """Return a WSGI application that serves the file at ``path`` on every request.

    The file is opened per request; its size comes from the open file (``fstat``), so the length
    matches what is read even if the path is replaced meanwhile. The body is the server's
    ``wsgi.file_wrapper`` when it offers one, else a :class:`FileIterable`. A missing file is a 404.
    """

    def file_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            f = open(path, "rb")  # noqa: SIM115 (the body's close() closes it, not a with block)
        except (FileNotFoundError, IsADirectoryError):
            message = b"Not Found\n"
            start_response("404 Not Found", [TEXT_PLAIN, ("Content-Length", str(len(message)))])
            return [message]
        try:
            size = os.fstat(f.fileno()).st_size
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(size))])
            wrapper = environ.get("wsgi.file_wrapper") or FileIterable
            return wrapper(f, BLOCK_SIZE)
        except BaseException:
            f.close()  # nobody will get a body to close: do not leak the file
            raise

    return file_app


# ------------------------------------------------------------------------------------------- errors


class _GuardedBody:
    """The body of a guarded app: the inner chunks, or an error page when they fail.

    Iterating calls ``next()`` on the inner iterator; an ``Exception`` from it becomes a second
    ``start_response`` with ``exc_info``. Before any body byte was sent the server swaps the 200
    for the 500 and we send the error page; after, the server's ``start_response`` re-raises the
    error, and it propagates out of ``__next__`` to the server.
    """

    _ERROR_PAGE = b"Internal Server Error"

    def __init__(self, produce: Callable[[Environ], Iterable[bytes]], environ: Environ, start_response: StartResponse) -> None:
        self._start_response = start_response
        self._inner: Iterable[bytes] | None = None
        self._closed = False
        start_response("200 OK", [TEXT_PLAIN])
        try:
            self._inner = produce(environ)
            self._chunks: Iterator[bytes] = iter(self._inner)
        except Exception:
            self._chunks = self._fail()

    def _fail(self) -> Iterator[bytes]:
        """Report the error being handled right now; what is left to send is the error page."""
        self._start_response("500 Internal Server Error", [TEXT_PLAIN], sys.exc_info())
        return iter((self._ERROR_PAGE,))

    def __iter__(self) -> _GuardedBody:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            raise  # the normal end, not an error (StopIteration is an Exception too)
        except Exception:
            self._chunks = self._fail()
            return next(self._chunks)

    def close(self) -> None:
        """Pass the server's ``close()`` on to what ``produce`` returned, exactly once."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def make_guarded_app(produce: Callable[[Environ], Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Return a WSGI application that streams ``produce(environ)`` and turns its errors into a 500.

    ``200 OK`` text/plain first; an ``Exception`` from ``produce`` or from its iterable becomes
    ``start_response("500 Internal Server Error", ..., sys.exc_info())`` and the body
    ``b"Internal Server Error"`` (or propagates, when the headers were already sent). What
    ``produce`` returned is closed once, when the server closes the body.
    """

    def guarded_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return _GuardedBody(produce, environ, start_response)

    return guarded_app


def main(argv: list[str] | None = None) -> None:
    """Serve one of the apps with wsgiref: ``python wsgi_spec.py environ|stream|file|guarded|broken``."""
    from wsgiref.simple_server import make_server

    parser = argparse.ArgumentParser(description="Serve one of the wsgi_spec apps with wsgiref.")
    parser.add_argument("app", choices=["environ", "stream", "file", "guarded", "broken"])
    parser.add_argument("path", nargs="?", default=__file__, help="the file the 'file' app serves")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    def fails_halfway(environ: Environ) -> Iterator[bytes]:
        yield b"so far so good\n"
        raise RuntimeError("and then it broke")

    apps = {
        "environ": environ_app,
        "stream": streaming_app,
        "file": make_file_app(args.path, "text/plain; charset=utf-8"),
        "guarded": make_guarded_app(lambda environ: [b"%d" % (1 // 0)]),  # fails before any byte
        "broken": make_guarded_app(fails_halfway),  # fails after the headers went out
    }
    with make_server("127.0.0.1", args.port, apps[args.app]) as httpd:
        print(f"Serving {args.app} on http://127.0.0.1:{httpd.server_address[1]} (Ctrl-C to stop)", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
