"""Exercise 05 — the WSGI spec, corner by corner.

Four small applications, each about one part of PEP 3333 that "Hello, world" never touches:

- ``environ_app``: what the server puts in ``environ`` (§environ Variables);
- ``streaming_app``: a generator as the response body, produced while the server sends it, and
  ``close()`` when the server stops early (§Specification Details, §Buffering and Streaming);
- ``FileIterable`` and ``make_file_app``: an iterable class with ``close()``, and the server's own
  ``wsgi.file_wrapper`` (§Optional Platform-Specific File Handling);
- ``make_guarded_app``: error handling with ``exc_info`` (§The start_response() Callable, §Error Handling).

The server's side of the contract, which your apps can rely on:

- ``start_response`` may be called again only with ``exc_info``; before any body byte is sent, the
  new status and headers replace the old ones; after, ``start_response`` re-raises the error.
- The server sends the headers only when the body produces its first non-empty bytes.
- The server calls the body's ``close()`` (when it has one) once it is done with it, whether it
  read it all, or stopped early (an error, the client went away).

Applications must not send hop-by-hop headers (``Connection``, ``Transfer-Encoding``, ``Keep-Alive``,
...): how the bytes travel is the server's business (§Other HTTP Features).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]  # mutants: skip (given in the stub)
Environ = dict[str, Any]  # mutants: skip (given in the stub)

TEXT_PLAIN = ("Content-Type", "text/plain; charset=utf-8")  # mutants: skip (given in the stub)


# ------------------------------------------------------------------------------------------ environ


def environ_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Show the request's ``environ``: one line per key, sorted by key, ``f"{key}: {value!r}"``.

    ``200 OK``, ``Content-Type: text/plain; charset=utf-8``, a correct ``Content-Length`` and the
    body encoded as UTF-8, every line ending with ``"\\n"``. For example::

        PATH_INFO: '/hello'
        REQUEST_METHOD: 'GET'
        wsgi.version: (1, 0)

    (PEP 3333 §environ Variables lists the keys a server must provide.)
    """
    text = "".join(f"{key}: {environ[key]!r}\n" for key in sorted(environ))
    # repr() keeps non-ASCII characters: in UTF-8 they take more than one byte each.
    body = text.encode("utf-8")
    start_response("200 OK", [TEXT_PLAIN, ("Content-Length", str(len(body)))])
    return [body]


# ---------------------------------------------------------------------------------------- streaming


def streaming_app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    """Stream ``n`` chunks, ``b"chunk 0\\n"``, ``b"chunk 1\\n"``, ..., one per item: a generator.

    ``n`` comes from the query string (``?n=3``, also among other parameters: ``?mode=fast&n=3``),
    5 when absent. Call
    ``start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])`` inside the
    generator, before the first ``yield``: the server sends nothing before the first chunk anyway.
    No ``Content-Length`` (a stream's length is not known in advance) and no ``Transfer-Encoding``:
    chunked encoding, or closing the connection, is the server's choice, not the application's.

    When the generator finishes, however it finishes, write one line to ``environ["wsgi.errors"]``:
    ``f"stream closed after {yielded} of {n} chunks\\n"``, where ``yielded`` counts the chunks the
    generator has yielded: all ``n`` when the server read to the end, fewer when the server called
    ``close()`` early (a generator's ``close()`` raises ``GeneratorExit`` at the paused ``yield``:
    a ``try``/``finally`` around the loop sees it).
    """
    n = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["5"])[0])
    start_response("200 OK", [TEXT_PLAIN])
    yielded = 0
    try:
        for i in range(n):
            yielded += 1
            yield f"chunk {i}\n".encode("ascii")
    finally:
        # Runs at the end of the loop and on close() (GeneratorExit) alike.
        environ["wsgi.errors"].write(f"stream closed after {yielded} of {n} chunks\n")


# -------------------------------------------------------------------------------------------- files


class FileIterable:
    """Serve a binary file object as a WSGI body: blocks of ``block_size`` bytes, then ``close()``.

    The same shape as ``wsgiref.util.FileWrapper`` and the ``wsgi.file_wrapper`` a server may offer:
    keep the file as ``self.filelike`` and the size as ``self.block_size``. Iterating yields
    ``filelike.read(block_size)`` until it returns ``b""`` (never yield that empty block), and
    ``close()`` closes the file: the server calls it when it is done, even when it stops early.
    """

    def __init__(self, filelike: BinaryIO, block_size: int = 8192) -> None:
        """Keep the file and the block size; read nothing yet (the server may never iterate)."""
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        """Yield ``filelike.read(block_size)`` until it returns ``b""``; leave the file open."""
        while block := self.filelike.read(self.block_size):
            yield block

    def close(self) -> None:
        """Close the file: the server calls this once it is done with the body (PEP 3333 §Specification Details)."""
        self.filelike.close()


def make_file_app(path: str | os.PathLike[str], content_type: str = "application/octet-stream") -> Callable[..., Iterable[bytes]]:
    """Return a WSGI application that serves the file at ``path`` on every request.

    Each request opens the file (binary), answers ``200 OK`` with ``Content-Type: content_type`` and
    ``Content-Length`` (the file's size), and returns the file wrapped for streaming: in
    ``environ["wsgi.file_wrapper"](file, 8192)`` when the server offers one (it may send the file
    faster, e.g. with ``sendfile()``), otherwise in ``FileIterable(file, 8192)``.
    """

    def file_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        f = open(path, "rb")
        try:
            size = os.fstat(f.fileno()).st_size
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(size))])
        except BaseException:
            f.close()  # nobody else will: the wrapper that would close it was never returned
            raise
        wrapper = environ.get("wsgi.file_wrapper", FileIterable)
        return wrapper(f, 8192)

    return file_app


# ------------------------------------------------------------------------------------------- errors


def make_guarded_app(produce: Callable[[Environ], Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Return a WSGI application that streams ``produce(environ)`` and turns its errors into a 500.

    The application (write it as a generator):

    1. calls ``start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])``;
    2. yields every chunk of ``produce(environ)``;
    3. if that raises an ``Exception`` (calling ``produce`` or iterating it), calls
       ``start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")],
       sys.exc_info())`` and yields ``b"Internal Server Error"``.

    Step 3 is exactly what ``exc_info`` is for (PEP 3333 §Error Handling). Before any body byte went
    out, the server replaces the 200 with the 500. After, the headers are on the wire: the server's
    ``start_response`` re-raises the error, and your application lets it propagate (the server logs
    it and drops the connection). Never call ``start_response`` a second time without ``exc_info``.

    4. Whatever happens, when the iterable that ``produce`` returned has a ``close()`` method, call it
       (once) when you are done with it: a wrapper owes its inner iterable the ``close()`` the server
       owes the wrapper.
    """

    def guarded_app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [TEXT_PLAIN])
        chunks: Iterable[bytes] | None = None
        try:
            chunks = produce(environ)
            for chunk in chunks:
                yield chunk
        except Exception:
            # Raises here (on purpose) if a chunk was already sent: then the error propagates.
            start_response("500 Internal Server Error", [TEXT_PLAIN], sys.exc_info())
            yield b"Internal Server Error"
        finally:
            # Also runs on GeneratorExit, when the server closes us early.
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    return guarded_app


def main(argv: list[str] | None = None) -> None:  # mutants: skip (given in the stub)
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


if __name__ == "__main__":  # mutants: skip (given in the stub)
    main()
