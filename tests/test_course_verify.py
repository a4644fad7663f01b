"""The whole course, proven: `grader verify` — every stub fails, every solution passes, nothing missing."""

from __future__ import annotations


def test_grader_verify_passes_on_the_whole_course(grader_on_the_course):
    completed = grader_on_the_course("verify", timeout=3600)
    assert completed.returncode == 0, f"grader verify failed:\n{completed.stdout}\n{completed.stderr}"
    assert "every stub fails, every solution passes" in completed.stdout
