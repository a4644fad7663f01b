"""Exercises 15 and 21: each rule's tests fail on a copy of the reference that breaks that one rule.

Each case copies the reference (``solutions/15_asgi_server/asgi_server.py`` or
``solutions/21_adapters/adapters.py``), makes one textual edit (code a student could write), and runs
the exercise's tests that grade that rule on it: they must fail, and say why. The unchanged reference
must pass the same tests, so a failure is the edit's, not the machine's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVER, ADAPTERS = ("15_asgi_server", "asgi_server.py"), ("21_adapters", "adapters.py")

NODELAY = 'writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)'
ON_CONNECTION = "    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:\n"
ONE_AT_A_TIME = (
    "    _one_at_a_time: asyncio.Lock | None = None\n\n"
    + ON_CONNECTION
    + "        Server._one_at_a_time = Server._one_at_a_time or asyncio.Lock()\n"
    "        async with Server._one_at_a_time:  # every other client waits for this one to leave\n"
    "            await self._serve_alone(reader, writer)\n\n"
    + ON_CONNECTION.replace("_on_connection", "_serve_alone")
)

# (id, the exercise and its file, the text replaced, its replacement, the tests to run (-k), what the failure must say)
BROKEN = [
    ("nagle-on", SERVER, NODELAY, NODELAY.replace("NODELAY, 1", "NODELAY, 0"), "nagle", "Nagle's algorithm"),
    # socket.create_server() makes sockets with proto 0, so asyncio's own TCP_NODELAY skips them: Nagle stays on.
    ("nodelay-removed", SERVER, NODELAY, "pass", "nagle", "Nagle's algorithm"),
    ("serves-one-client-at-a-time", SERVER, ON_CONNECTION, ONE_AT_A_TIME, "trickling", "must not block the event loop"),
    ("413-named-as-rfc-7231", SERVER, "RENAMED.get(status) or ", "", "names_413", "Content Too Large"),
    ("body-sent-to-head", SERVER, 'no_body = request.method == "HEAD"', "no_body = False", "head_even", "RFC 9110 §9.3.2"),
    (
        "keeps-http-1-0-with-transfer-encoding-alive",
        SERVER,
        'if request.header(b"transfer-encoding") and request.http_version == "1.0":',
        "if False:",
        "http_1_0_request_with_transfer_encoding",
        "RFC 9112 §6.1",
    ),
    ("utf-8-response-headers", ADAPTERS, 'value.encode("latin-1")) for name', 'value.encode("utf-8")) for name', "latin1", "latin-1"),
    ("utf-8-environ-headers", ADAPTERS, 'value = bytes(raw_value).decode("latin-1")', 'value = bytes(raw_value).decode("utf-8", "replace")', "latin1", "latin-1"),
    ("sends-empty-chunks", ADAPTERS, "if chunk:  # headers go out", "if True:  # headers go out", "empty_chunks", "non-empty chunk"),
]


@pytest.mark.parametrize(("where", "old", "new", "selection", "said"), [pytest.param(*case[1:], id=case[0]) for case in BROKEN])
def test_the_rules_tests_fail_on_a_reference_that_breaks_it(
    tmp_path: Path, where: tuple[str, str], old: str, new: str, selection: str, said: str,
    run_exercise_tests: Callable[..., subprocess.CompletedProcess[str]], edited_reference: Callable[..., Path],
) -> None:
    # 21 imports the 15 server it builds on: it is copied too.
    broken = run_exercise_tests(edited_reference(tmp_path, (SERVER, ADAPTERS), where, old, new), where[0], selection)
    assert broken.returncode == 1, f"expected the tests {selection!r} to fail on the broken copy:\n{broken.stdout[-3000:]}"
    assert said in broken.stdout, f"expected the failure to say {said!r}:\n{broken.stdout[-3000:]}"


@pytest.mark.parametrize("where", [SERVER, ADAPTERS], ids=lambda where: where[0])
def test_the_same_tests_pass_on_the_reference(
    where: tuple[str, str], run_exercise_tests: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    selection = " or ".join(sorted({case[4] for case in BROKEN if case[1] == where}))
    passed = run_exercise_tests(REPO / "solutions", where[0], selection)
    assert passed.returncode == 0, f"expected the reference to pass {selection!r}:\n{passed.stdout[-3000:]}"
