"""Reference peers that break a rule the course grades: prove the check on them, never weaken the rule.

A black-box server test first passes on a real server (uvicorn, gunicorn, wsgiref) in the same
suite. Where that server itself breaks the RFC rule being graded (uvicorn's own 400 carries no
``Date``), its case still runs, inside :func:`peer_deviation`: the check must *fail* on it. That
proves the check catches the fault on software nobody here wrote, and the day the peer keeps the rule
the case fails, so the mark comes off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def peer_deviation(reason: str | None) -> Iterator[None]:
    """A reference case whose peer breaks the rule graded (``reason`` says how): the check must catch it.

    ``reason`` ``None`` is an ordinary case: the check must pass.
    """
    if reason is None:
        yield
        return
    try:
        yield
    except AssertionError:
        return
    pytest.fail(f"expected the peer to break this rule ({reason}), it kept it: drop the deviation from the case")
