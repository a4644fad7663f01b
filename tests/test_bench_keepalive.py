"""scripts/bench_keepalive.py: the reference server 15 under `ab -k`-style HTTP/1.0 keep-alive load.

It must end (every read is bounded), print req/s and p50 for the reference and uvicorn from the same
run, and tell a server that keeps an HTTP/1.0 connection open without saying so (the `ab -k` hang).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "bench_keepalive.py"
REFERENCE = REPO / "solutions" / "15_asgi_server" / "asgi_server.py"
ROW = r"^{name}\s+(?P<rate>\d+)\s+(?P<p50>[\d.]+|nan)\s+(?:[\d.]+|nan)\s+(?P<ok>\d+)\s+(?P<closes>\d+)\s+(?P<hangs>\d+)\s+(?P<errors>\d+)$"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), "--connections", "2", "--requests", "20", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def row(output: str, name: str) -> dict[str, str]:
    found = re.search(ROW.format(name=re.escape(name)), output, re.MULTILINE)
    assert found, f"expected a row of figures for {name}:\n{output}"
    return found.groupdict()


def test_the_reference_serves_every_keep_alive_request_beside_uvicorn() -> None:
    done = bench()
    assert done.returncode == 0, f"expected exit status 0:\n{done.stdout}\n{done.stderr}"
    ours, uvicorn = row(done.stdout, "asgi_server (15_asgi_server)"), row(done.stdout, "uvicorn")
    for figures in (ours, uvicorn):
        assert (figures["ok"], figures["hangs"], figures["errors"]) == ("40", "0", "0"), done.stdout
        assert int(figures["rate"]) > 0 and float(figures["p50"]) > 0, done.stdout
    assert ours["closes"] == "0", f"expected the reference to keep every HTTP/1.0 keep-alive connection:\n{done.stdout}"


def test_a_server_that_keeps_http_1_0_alive_silently_is_a_hang(tmp_path: Path) -> None:
    said = 'headers.append((b"connection", b"keep-alive"))'
    text = REFERENCE.read_text(encoding="utf-8")
    assert text.count(said) == 1, "the reference no longer says keep-alive this way: update this test"
    folder = tmp_path / "15_asgi_server"
    folder.mkdir()
    (folder / "asgi_server.py").write_text(text.replace(said, "pass"), encoding="utf-8")
    done = bench("--timeout", "0.5", "--module-dir", str(folder))
    assert done.returncode == 1, f"expected exit status 1 for a hang:\n{done.stdout}\n{done.stderr}"
    assert row(done.stdout, "asgi_server (15_asgi_server)")["hangs"] == "40", done.stdout
    assert "`ab -k` would wait for ever" in done.stdout, done.stdout


def test_bad_arguments_get_one_sentence_and_status_2() -> None:
    done = bench("--connections", "0")
    assert done.returncode == 2 and "--connections must be 1-64" in done.stderr and "Traceback" not in done.stderr
