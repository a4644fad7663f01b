"""``grader bench EX``: how fast is my server? The student's server and a reference, side by side.

For the server exercises (07 and 08: WSGI, against wsgiref; 15: ASGI, against uvicorn) each server
runs the same tiny app in a process of its own, and this process sends it a bounded load on the
loopback interface: a fixed number of requests from a few client threads, stopped early at a time
cap. It prints requests per second and latency percentiles for both, measured in the same run.

The numbers are for comparison on one machine, not absolute truths: the client is Python too. One
pattern gets a diagnosis (:func:`diagnose`): a median near 40 ms on kept-alive connections while the
reference answers in a millisecond is Nagle's algorithm meeting delayed ACKs, and the fix is one line.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from grader.course import Course, CourseError, Exercise

# Which exercises can be benchmarked: the kind of server, and how the student's module makes one.
BENCHABLE = {
    "wsgi_server": ("wsgi", "make_server"),
    "wsgi_server_http11": ("wsgi", "make_server"),
    "asgi_server": ("asgi", "Server"),
}
BODY = b"Hello, world!\n"
READY_PREFIX = "bench server listening on port "


# --- the apps and the server processes ---------------------------------------------------------------


def wsgi_app(environ: dict, start_response) -> list[bytes]:  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


async def asgi_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def serve(kind: str, which: str, module_dir: str, module: str, factory: str) -> None:
    """Run one server on 127.0.0.1, a free port, until killed; print the port when ready."""
    if which == "reference" and kind == "wsgi":
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

        server = make_server("127.0.0.1", 0, wsgi_app, handler_class=QuietHandler)
        print(f"{READY_PREFIX}{server.server_address[1]}", flush=True)
        server.serve_forever()
    elif which == "reference":
        import uvicorn

        config = uvicorn.Config(asgi_app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise SystemExit("uvicorn did not start")
            time.sleep(0.01)
        print(f"{READY_PREFIX}{server.servers[0].sockets[0].getsockname()[1]}", flush=True)
        thread.join()
    else:
        sys.path.insert(0, module_dir)
        student = __import__(module)
        app = wsgi_app if kind == "wsgi" else asgi_app
        if kind == "wsgi":
            server = getattr(student, factory)("127.0.0.1", 0, app)
        else:
            server = getattr(student, factory)(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = _wait_for_port(server, thread)
        print(f"{READY_PREFIX}{port}", flush=True)
        thread.join()


def _wait_for_port(server: object, thread: threading.Thread) -> int:
    """The student's ``server_address`` may read 0 until the socket is bound: wait for a real port."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        port = getattr(server, "server_address", ("", 0))[1]
        if port:
            return int(port)
        if not thread.is_alive():
            raise SystemExit("serve_forever() returned before the server was ready")
        time.sleep(0.01)
    raise SystemExit("the server never reported its port in server_address")


# --- the load ------------------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    problem: str = ""
    closed: int = 0  # responses after which the server closed the connection (no keep-alive)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def load(port: int, name: str, *, requests: int, concurrency: int, seconds: float) -> Figures:
    """Send up to ``requests`` GETs from ``concurrency`` threads, stopping at ``seconds``."""
    figures = Figures(name)
    lock = threading.Lock()
    remaining = [requests]
    deadline = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                try:
                    connection.request("GET", "/")
                    response = connection.getresponse()
                    body = response.read()
                    if response.status != 200 or body != BODY:
                        raise ValueError(f"got {response.status} {body[:40]!r}")
                    if response.will_close:
                        connection.close()
                        with lock:
                            figures.closed += 1
                except (OSError, ValueError, http.client.HTTPException):
                    connection.close()
                    with lock:
                        figures.errors += 1
                    continue
                with lock:
                    figures.latencies.append(time.perf_counter() - started)
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 10)
    figures.elapsed = time.perf_counter() - started
    return figures


# --- running it ----------------------------------------------------------------------------------------


def bench(
    course: Course,
    exercise: Exercise,
    out: TextIO,
    *,
    requests: int = 2000,
    concurrency: int = 4,
    seconds: float = 10.0,
) -> int:
    from testkit.serving import subprocess_serving  # the same start/ready/stop rules as the tests

    if exercise.slug not in BENCHABLE:
        names = ", ".join(sorted(BENCHABLE))
        raise CourseError(f"{exercise.label} has no server to benchmark; bench works for {names}")
    kind, factory = BENCHABLE[exercise.slug]
    reference = "wsgiref" if kind == "wsgi" else "uvicorn"
    results: list[Figures] = []
    for which, name in (("reference", reference), ("student", f"yours ({exercise.slug})")):
        argv = [sys.executable, "-m", "bench", kind, which, str(exercise.path), exercise.slug, factory]
        print(f"benchmarking {name}: up to {requests} requests, {concurrency} clients, {seconds:g} s at most …", file=out, flush=True)
        try:
            with subprocess_serving(argv, ready=READY_PREFIX + r"(?P<port>\d+)", cwd=course.root, name=name) as url:
                port = int(url.rsplit(":", 1)[1])
                results.append(load(port, name, requests=requests, concurrency=concurrency, seconds=seconds))
        except BaseException as exc:  # pytest.fail() raises an Outcome, not an Exception
            if isinstance(exc, KeyboardInterrupt):
                raise
            message = str(exc).strip().splitlines()
            results.append(Figures(name, problem=" ".join(message[-3:]) or type(exc).__name__))
    render(results, out)
    return 0 if all(not f.problem for f in results) else 1


def render(results: list[Figures], out: TextIO) -> None:
    print(f"\n{'server':<28} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'ok':>6} {'errors':>6}", file=out)
    for f in results:
        if f.problem:
            print(f"{f.name:<28} did not run: {f.problem}", file=out)
            continue
        print(
            f"{f.name:<28} {f.rate:>9.0f} {f.percentile(50):>8.2f} {f.percentile(90):>8.2f} "
            f"{f.percentile(99):>8.2f} {len(f.latencies):>6} {f.errors:>6}",
            file=out,
        )
    if len(results) == 2 and all(f.rate for f in results):
        ratio = results[1].rate / results[0].rate
        print(f"\nyours serves {ratio:.2f}× the requests per second of {results[0].name}, in this run.", file=out)
    if results and statistics.fmean([f.errors for f in results]) > 0:
        print("errors are requests that failed or got a wrong answer; a correct server has none.", file=out)
    if len(results) == 2 and (diagnosis := diagnose(*results)):
        print(f"\n{diagnosis}", file=out)


# --- why it is slow ------------------------------------------------------------------------------------

DELAYED_ACK_MS = (30.0, 60.0)  # Linux delays an ACK by 40 ms at least; a median in this range is that wait
FAR_LOWER = 5  # the reference's median is at most a fifth of the student's: the client is not the cause
MANY_TIMES = 10  # ...or the student's is this many times the reference's, and at least MIN_NAGLE_MS
MIN_NAGLE_MS = 20.0


def diagnose(reference: Figures, student: Figures) -> str:
    """Why the student's server is slow, when the figures show a known cause; else ``""``.

    Nagle's algorithm (RFC 896) keeps a small segment back while an earlier one is unacknowledged;
    the client's delayed ACK (RFC 1122 §4.2.3.2) waits up to 40 ms (Linux) for data to ride along. A
    server that writes a response in two small pieces (the head, then the body) on a connection it
    keeps alive meets both on every request: the body waits for the ACK of the head, which waits
    for its timer. A server that closes each connection, or the reference, does not.
    """
    if reference.problem or student.problem or not reference.latencies or not student.latencies:
        return ""
    if student.closed * 2 > len(student.latencies):  # it closed most connections: no kept-alive pattern
        return ""
    mine, theirs = student.percentile(50), reference.percentile(50)
    near_40 = DELAYED_ACK_MS[0] <= mine <= DELAYED_ACK_MS[1]
    many_times = mine >= MANY_TIMES * theirs and mine >= MIN_NAGLE_MS
    if not (near_40 or many_times) or theirs * FAR_LOWER > mine:
        return ""
    why = textwrap.fill(
        f"Your median latency is {mine:.0f} ms on kept-alive connections, against {theirs:.2f} ms for "
        f"{reference.name}: that is Nagle's algorithm meeting delayed ACKs. Your server writes each response "
        "in small pieces (the head, then the body); the kernel holds the second piece back until the client "
        "acknowledges the first, and the client delays that ACK by about 40 ms, hoping to send it along "
        "with data. Turn Nagle off on every connection you accept:",
        width=100,
    )
    return (
        f"{why}\n"
        "    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
        "with asyncio streams, on the connection's socket:\n"
        '    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n'
        "(or write the head and the body in one write)."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description="one bench server (internal)")
    parser.add_argument("kind", choices=["wsgi", "asgi"])
    parser.add_argument("which", choices=["reference", "student"])
    parser.add_argument("module_dir")
    parser.add_argument("module")
    parser.add_argument("factory")
    args = parser.parse_args(argv)
    os.chdir(Path(args.module_dir))
    serve(args.kind, args.which, args.module_dir, args.module, args.factory)

