"""`grader bench`: the student's server and the reference, side by side, under a bounded load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_EXERCISES = Path(__file__).resolve().parent.parent / "exercises"


@pytest.fixture
def server_course(fake_course):
    for name in ("07_wsgi_server", "15_asgi_server"):
        shutil.copytree(REPO_EXERCISES / name, fake_course.root / "exercises" / name)
    return fake_course


def solve(course, name, module):
    shutil.copy(REPO_EXERCISES.parent / "solutions" / name / module, course.root / "exercises" / name / module)


@pytest.mark.parametrize(
    ("name", "module", "reference"),
    [("07_wsgi_server", "wsgi_server.py", "wsgiref"), ("15_asgi_server", "asgi_server.py", "uvicorn")],
)
def test_bench_measures_both_servers(server_course, run_grader, name, module, reference):
    solve(server_course, name, module)
    code, out, err = run_grader("bench", name[:2], "--requests", "200", "--concurrency", "2", "--seconds", "5")
    assert code == 0, out + err
    rows = [line for line in out.splitlines() if line.startswith((reference, "yours (")) and "req/s" not in line]
    assert len(rows) == 2, out
    for row in rows:
        assert "did not run" not in row
        ok, errors = row.split()[-2:]
        assert (int(ok), int(errors)) == (200, 0), row
    assert "the requests per second of" in out


def test_bench_reports_a_server_that_does_not_start(server_course, run_grader):
    code, out, _ = run_grader("bench", "7", "--requests", "50", "--seconds", "2")
    assert code == 1
    assert "yours (wsgi_server)" in out and "did not run" in out and "NotImplementedError" in out


def test_bench_refuses_an_exercise_without_a_server(server_course, run_grader):
    server_course.add("01_adder")
    code, _, err = run_grader("bench", "1")
    assert code == 2 and "has no server to benchmark" in err


def test_bench_bounds_its_load(server_course, run_grader):
    code, _, err = run_grader("bench", "7", "--requests", "1000000")
    assert code == 2 and "outside 1..100000" in err


# --- the diagnosis: Nagle's algorithm meeting delayed ACKs ---------------------------------------------

from bench import Figures, diagnose  # noqa: E402

# A server that writes the head and the body with two send() calls on a kept-alive connection, with
# or without TCP_NODELAY: on Linux loopback the first waits ~40 ms for every response (measured below).
TWO_WRITES_SERVER = '''
import socket
import threading

NODELAY = False


class Server:
    def __init__(self, host, port, app):
        self.app = app
        self.listener = socket.create_server((host, port))
        self.server_address = self.listener.getsockname()

    def serve_forever(self):
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        if NODELAY:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        with conn:
            while True:
                while b"\\r\\n\\r\\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                _, _, buffer = buffer.partition(b"\\r\\n\\r\\n")
                head = []

                def start_response(status, headers, exc_info=None):
                    head.append(("HTTP/1.1 " + status + "\\r\\n").encode())
                    head.extend((name + ": " + value + "\\r\\n").encode() for name, value in headers)

                body = b"".join(self.app({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, start_response))
                conn.sendall(b"".join(head) + b"\\r\\n")  # the head...
                conn.sendall(body)  # ...and the body: a second small segment, which Nagle holds back


def make_server(host, port, app):
    return Server(host, port, app)
'''


def figures(name, p50_ms, count=100, closed=0):
    return Figures(name, latencies=[p50_ms / 1000] * count, elapsed=1.0, closed=closed)


def test_the_diagnosis_names_nagle_for_figures_measured_on_loopback():
    # Measured here: the two-writes server above, 44.07 ms median; with TCP_NODELAY, 0.15 ms.
    said = " ".join(diagnose(figures("wsgiref", 0.15), figures("yours (wsgi_server)", 44.07)).split())
    assert "Nagle's algorithm meeting delayed ACKs" in said
    assert "conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)" in said
    assert 'writer.get_extra_info("socket")' in said
    assert "44 ms" in said and "0.15 ms for wsgiref" in said


@pytest.mark.parametrize(
    ("reference_ms", "student_ms", "closed"),
    [
        (0.15, 0.9, 0),  # a bit slower: no diagnosis
        (12.0, 40.0, 0),  # the reference is slow too: the machine, not Nagle
        (0.15, 44.0, 100),  # it closed every connection: no keep-alive, no delayed-ACK pattern
        (0.15, 5.0, 0),  # 30x, but far below any delayed ACK
    ],
)
def test_no_diagnosis_where_the_figures_do_not_show_it(reference_ms, student_ms, closed):
    assert diagnose(figures("uvicorn", reference_ms), figures("yours", student_ms, closed=closed)) == ""


def test_the_diagnosis_for_many_times_the_reference_outside_30_to_60_ms():
    assert "Nagle" in diagnose(figures("uvicorn", 2.0), figures("yours", 80.0))


def bench_two_writes(server_course, run_grader, *, nodelay):
    module = server_course.root / "exercises" / "07_wsgi_server" / "wsgi_server.py"
    module.write_text(TWO_WRITES_SERVER.replace("NODELAY = False", f"NODELAY = {nodelay}"))
    code, out, err = run_grader("bench", "7", "--requests", "60", "--concurrency", "2", "--seconds", "10")
    assert code == 0, out + err
    [row] = [line for line in out.splitlines() if line.startswith("yours (")]
    return float(row.split()[3]), out  # the p50 column


def test_bench_diagnoses_a_real_server_without_tcp_nodelay(server_course, run_grader):
    p50, out = bench_two_writes(server_course, run_grader, nodelay=False)
    assert p50 >= 30, f"expected the delayed-ACK wait on loopback, measured a median of {p50} ms:\n{out}"
    assert "Nagle's algorithm meeting delayed ACKs" in " ".join(out.split()) and "TCP_NODELAY" in out
    p50, out = bench_two_writes(server_course, run_grader, nodelay=True)
    assert p50 < 10 and "Nagle" not in out, out
