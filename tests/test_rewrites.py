"""The warm process's rewritten test modules: made before a fork, taken by the fork, never stale."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _pytest.assertion import rewrite

from grader import rewrites


@pytest.fixture
def installed(monkeypatch):
    """rewrites.install() as in a warm process without bytecode caches, undone afterwards."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(rewrite, "_rewrite_test", rewrite._rewrite_test)
    monkeypatch.setattr(rewrites, "_rewrite", None)
    monkeypatch.setattr(rewrites, "_kept", {})
    assert rewrites.install()
    return rewrite


def course_with_tests(tmp_path: Path) -> Path:
    exercise = tmp_path / "exercises" / "01_adder"
    exercise.mkdir(parents=True)
    (tmp_path / "exercises" / "conftest.py").write_text("import pytest\n")
    (exercise / "test_adder.py").write_text("def test_adds():\n    assert 1 + 1 == 2\n")
    (exercise / "adder.py").write_text("def add(a, b):\n    assert a\n    return a + b\n")
    return exercise


def test_a_run_finds_its_test_files_conftests_and_plugins(tmp_path):
    exercise = course_with_tests(tmp_path)
    found = rewrites._modules_of_run([str(exercise), "-p", "grader.plugin", "-p", "no:cacheprovider", "-m", "not x"], tmp_path)
    assert exercise / "test_adder.py" in found
    assert tmp_path / "exercises" / "conftest.py" in found
    assert any(p.name == "plugin.py" and p.parent.name == "grader" for p in found)  # named with -p
    assert exercise / "adder.py" not in found  # the student's module is no test module: never rewritten here


def test_a_fork_takes_the_prepared_module_and_an_edited_one_is_rewritten_afresh(installed, tmp_path):
    exercise = course_with_tests(tmp_path)
    test_file = exercise / "test_adder.py"
    rewrites.prepare([str(exercise)], str(tmp_path))
    _, prepared = installed._rewrite_test(test_file, None)
    _, again = installed._rewrite_test(test_file, None)
    assert again is prepared  # made once, before the fork, and shared

    test_file.write_text("def test_adds():\n    assert 2 + 2 == 4\n")
    _, edited = installed._rewrite_test(test_file, None)
    assert edited is not prepared  # the edit is seen: what was kept is for the old source only


def test_a_run_with_the_assertion_pass_hook_rewrites_for_itself(installed, tmp_path):
    exercise = course_with_tests(tmp_path)
    rewrites.prepare([str(exercise)], str(tmp_path))
    _, prepared = installed._rewrite_test(exercise / "test_adder.py", None)

    class PassHookConfig:
        def getini(self, name):
            return name == "enable_assertion_pass_hook"

    _, own = installed._rewrite_test(exercise / "test_adder.py", PassHookConfig())
    assert own is not prepared


def test_nothing_is_installed_where_pytest_keeps_its_own_cache(monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(rewrites, "_rewrite", None)
    monkeypatch.setattr(rewrite, "_rewrite_test", rewrite._rewrite_test)
    assert not rewrites.install()
    rewrites.prepare(["."], ".")  # and preparing is then a no-op
