"""Tests that run on a student's earlier exercise: import it, or say in one sentence what to finish.

Some exercises grow the student's own code: 08 serves HTTP/1.1 with the request parsing of their 07,
16 adds lifespan to their 15 server, 18 adds WebSocket to it, 22 runs the capstone on their 15 and 18.
The parts of an exercise that stand alone (its sans-IO core) are graded whatever state the earlier
exercise is in; the tests that need the earlier exercise call :func:`earlier` and, when it cannot be
used, fail with one sentence that names the exercise and the command to run, instead of a traceback
from somebody else's file::

    asgi_server = earlier("asgi_server", "15")        # the student's module, imported
    ...
    with finished("asgi_server", "15"):              # a NotImplementedError inside means "finish 15"
        server = asgi_server.Server(app, HOST, 0)

:func:`own_serving` does both for a server and serves an app on it, for 21's and 22's integration runs.

``exercise.toml``'s ``builds_on`` names the same exercises, so that ``grader`` can say it up front.
"""

from __future__ import annotations

import contextlib
import importlib
import traceback
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest


class PrerequisiteMissing(AssertionError):
    """An earlier exercise this test runs on cannot be used yet; ``str()`` says which and why."""


def _sentence(module: str, exercise: str, why: str) -> str:
    return (
        f"this test runs on your exercise {exercise} ({module}.py), which {why}: "
        f"run `grader check {exercise}` and finish it first"
    )


def earlier(module: str, exercise: str) -> ModuleType:
    """Import ``module`` of exercise ``exercise`` (the student's, or a solution when grading one).

    Fails the current test with one sentence when the module is missing, does not import, or raises
    while it is imported; the sentence shows the last line of the student's own traceback.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise PrerequisiteMissing(_sentence(module, exercise, f"imports {exc.name!r}, which is not there")) from None
        raise PrerequisiteMissing(_sentence(module, exercise, "is not in this folder")) from None
    except Exception as exc:  # a SyntaxError or a crash at import time is the earlier exercise's problem
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        at = f" (line {where[0].lineno} of {where[0].filename.rsplit('/', 1)[-1]})" if where else ""
        raise PrerequisiteMissing(
            _sentence(module, exercise, f"raises {type(exc).__name__}: {exc}{at} when it is imported")
        ) from None


@contextlib.contextmanager
def finished(module: str, exercise: str) -> Iterator[None]:
    """Turn a ``NotImplementedError`` from the earlier exercise's stub into the one sentence."""
    try:
        yield
    except NotImplementedError as exc:
        raise PrerequisiteMissing(_sentence(module, exercise, f"is not finished yet ({exc})")) from None


def fail_prerequisite(exc: PrerequisiteMissing) -> None:
    """``pytest.fail`` with the sentence alone: no traceback into the toolkit, no "during handling"."""
    raise pytest.fail.Exception(str(exc), pytrace=False) from None


class _Watched:
    """A student's server with a note of whether its ``serve_forever()`` is still the stub's."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.server_address = server.server_address
        self.unfinished: NotImplementedError | None = None

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        except NotImplementedError as exc:
            self.unfinished = exc
            raise

    def shutdown(self) -> None:
        if self.unfinished is None:
            self.server.shutdown()

    def server_close(self) -> None:
        close = getattr(self.server, "server_close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def own_serving(module: str, exercise: str, app: Any, *, factory: str = "Server") -> Iterator[str]:
    """Serve ``app`` on the student's own server from an earlier exercise; yield its base URL.

    ``module.factory(app, "127.0.0.1", 0)`` makes the server (exercise 15's ``asgi_server.Server``).
    Whatever part of it is unfinished (the import, the constructor, ``serve_forever()``), the test
    fails with the one sentence of :func:`earlier` instead of a connection error.
    """
    from testkit.serving import HOST, serving

    try:
        loaded = earlier(module, exercise)
        with finished(module, exercise):
            watched = _Watched(getattr(loaded, factory)(app, HOST, 0))
    except PrerequisiteMissing as exc:
        fail_prerequisite(exc)
    try:
        with serving(watched, name=f"your {module}.{factory}") as url:
            try:
                yield url
            except Exception as exc:  # a stub's serve_forever() shows up as a refused connection, or worse
                if watched.unfinished is not None and not isinstance(exc, PrerequisiteMissing):
                    fail_prerequisite(PrerequisiteMissing(_sentence(module, exercise, f"is not finished yet ({watched.unfinished})")))
                raise
    except AssertionError as exc:
        if isinstance(exc.__cause__, NotImplementedError):
            fail_prerequisite(PrerequisiteMissing(_sentence(module, exercise, f"is not finished yet ({exc.__cause__})")))
        raise
