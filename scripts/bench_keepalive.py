#!/usr/bin/env python3
"""Does the reference ASGI server (exercise 15) survive `ab -k`? HTTP/1.0 keep-alive load beside uvicorn.

`ab -k` speaks HTTP/1.0 with `Connection: keep-alive`, and reuses a connection only when the response
says `connection: keep-alive`; otherwise it waits for the server to close it. A server that keeps an
HTTP/1.0 connection open without saying so (RFC 9112 §9.3) makes `ab -k` hang. This script is that
client, in Python (so it runs where `ab` is not installed), with a bound on everything:

- N connections (`--connections`, default 4), each a thread sending M requests (`--requests`, default
  500) one after another, `GET / HTTP/1.0` with `Connection: keep-alive`, on 127.0.0.1 only;
- a response that says keep-alive is read by its Content-Length and the connection reused; one that
  does not is read to the close, and the client reconnects (counted as `closes`);
- no read waits more than `--timeout` seconds (default 2): a server that neither says keep-alive nor
  closes is a `hang`, counted, and that connection is dropped, so the run always ends.

Each server (the reference in `solutions/15_asgi_server`, or `--module-dir`, then uvicorn) runs the
same tiny app in a process of its own (`python -m bench`, as `grader bench` does), one after the other.
It prints requests per second and p50/p90 latency for both, measured in the same run; exit status 0
when both answered every request with no hang and no error, 1 otherwise, 2 for bad arguments.

Run it from the repository: `python scripts/bench_keepalive.py [--connections N] [--requests M]`.
The figures depend on what else the machine runs: say so when you quote them.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import BODY, READY_PREFIX  # noqa: E402  (the app every bench server runs, and its ready line)

REQUEST = b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


class Hang(Exception):
    """The server neither said keep-alive nor closed within the timeout: where `ab -k` would wait forever."""


@dataclass
class Figures:
    name: str
    latencies: list[float] = field(default_factory=list)
    closes: int = 0
    hangs: int = 0
    errors: int = 0
    elapsed: float = 0.0
    problem: str = ""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")


def connect(port: int, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def exchange(sock: socket.socket, buffered: bytes) -> tuple[bool, bytes]:
    """Send one request, read its response; return whether the connection may be reused, and extra bytes."""
    sock.sendall(REQUEST)
    data = buffered
    while b"\r\n\r\n" not in data:
        data += receive(sock, "the response head")
    head, _, rest = data.partition(b"\r\n\r\n")
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    kept = b"keep-alive" in {option.strip() for option in fields.get(b"connection", b"").split(b",")}
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
        raise ValueError(f"not a 200: {head[:60]!r}")
    if not kept:  # like ab: no keep-alive in the answer, so the body (and the exchange) ends at the close
        while chunk := receive(sock, "the close of a connection not kept alive", closing=True):
            rest += chunk
        if rest != BODY:
            raise ValueError(f"wrong body {rest[:40]!r}")
        return False, b""
    length = int(fields.get(b"content-length", b"-1"))
    while len(rest) < length:
        rest += receive(sock, "the body")
    if length < 0 or rest[:length] != BODY:
        raise ValueError(f"wrong body {rest[:40]!r} (content-length {length})")
    return True, rest[length:]


def receive(sock: socket.socket, what: str, *, closing: bool = False) -> bytes:
    try:
        chunk = sock.recv(65536)
    except TimeoutError:
        raise Hang(f"waiting for {what}") from None
    if not chunk and not closing:
        raise ConnectionError(f"closed while waiting for {what}")
    return chunk


def load(port: int, name: str, *, connections: int, requests: int, timeout: float) -> Figures:
    """``connections`` threads, each sending ``requests`` keep-alive requests in a row."""
    figures = Figures(name)
    lock = threading.Lock()

    def client() -> None:
        sock: socket.socket | None = None
        buffered = b""
        for _ in range(requests):
            started = time.perf_counter()
            try:
                sock = sock or connect(port, timeout)
                reused, buffered = exchange(sock, buffered)
            except Hang:
                failure = "hangs"
            except (OSError, ValueError):
                failure = "errors"
            else:
                with lock:
                    figures.latencies.append(time.perf_counter() - started)
                    figures.closes += not reused
                if reused:
                    continue
                failure = ""
            if sock is not None:  # not reused, or broken: the next request opens a new connection
                sock.close()
            sock, buffered = None, b""
            if failure:
                with lock:
                    setattr(figures, failure, getattr(figures, failure) + 1)
        if sock is not None:
            sock.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # each read is bounded by the timeout, so every thread ends
    figures.elapsed = time.perf_counter() - started
    return figures


def run(module_dir: Path, *, connections: int, requests: int, timeout: float) -> list[Figures]:
    from testkit.serving import subprocess_serving  # the same start/ready/stop rules as the tests

    servers = [
        ("student", f"asgi_server ({module_dir.name})"),
        ("reference", "uvicorn"),
    ]
    results = []
    for which, name in servers:
        argv = [sys.executable, "-m", "bench", "asgi", which, str(module_dir), "asgi_server", "Server"]
        print(f"loading {name}: {connections} connections × {requests} HTTP/1.0 keep-alive requests …", flush=True)
        try:
            with subprocess_serving(argv, ready=READY_PREFIX + r"(?P<port>\d+)", cwd=REPO, name=name) as url:
                port = int(url.rsplit(":", 1)[1])
                results.append(load(port, name, connections=connections, requests=requests, timeout=timeout))
        except BaseException as exc:  # pytest.fail() raises an Outcome, not an Exception
            if isinstance(exc, KeyboardInterrupt):
                raise
            results.append(Figures(name, problem=" ".join(str(exc).strip().splitlines()[-3:]) or type(exc).__name__))
    return results


def render(results: list[Figures], timeout: float) -> None:
    print(f"\n{'server':<34} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'ok':>6} {'closes':>7} {'hangs':>6} {'errors':>6}")
    for f in results:
        if f.problem:
            print(f"{f.name:<34} did not run: {f.problem}")
            continue
        print(
            f"{f.name:<34} {f.rate:>8.0f} {f.percentile(50):>8.2f} {f.percentile(90):>8.2f} "
            f"{len(f.latencies):>6} {f.closes:>7} {f.hangs:>6} {f.errors:>6}"
        )
    if any(f.hangs for f in results):
        print(
            f"\na hang is a response that neither said 'connection: keep-alive' nor was followed by the close "
            f"within {timeout:g} s: `ab -k` would wait for ever (RFC 9112 §9.3)."
        )
    print("closes: responses without keep-alive, after which the client reconnected (allowed, but slower).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections (default 4)")
    parser.add_argument("--requests", type=int, default=500, help="requests per connection (default 500)")
    parser.add_argument("--timeout", type=float, default=2.0, help="the longest wait for one read, in seconds")
    parser.add_argument(
        "--module-dir", type=Path, default=REPO / "solutions" / "15_asgi_server",
        help="the folder of the asgi_server.py to load (default: the reference)",
    )
    args = parser.parse_args(argv)
    if not (1 <= args.connections <= 64 and 1 <= args.requests <= 100_000 and 0 < args.timeout <= 30):
        parser.error("--connections must be 1-64, --requests 1-100000 and --timeout above 0, at most 30")
    if not (args.module_dir / "asgi_server.py").is_file():
        parser.error(f"there is no asgi_server.py in {args.module_dir}")
    results = run(args.module_dir.resolve(), connections=args.connections, requests=args.requests, timeout=args.timeout)
    render(results, args.timeout)
    return 0 if all(not (f.problem or f.hangs or f.errors) for f in results) else 1


if __name__ == "__main__":
    sys.exit(main())
