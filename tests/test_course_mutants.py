"""The course's tests are strong: a fixed, small sample of mutants of every reference solution dies.

``grader mutants --all --max 8 --seed 1`` runs eight mutants per exercise (176 in all), so CI stays fast;
the full measurement is ``scripts/mutation_scores.py``, whose figures CONTRIBUTING.md records. A
survivor here is a rule of the spec or the README that no test grades: add the test, or, when no fair
test can see the change, acknowledge it with its reason in the solution's ``mutants.toml``.
"""

from __future__ import annotations


def test_a_sample_of_mutants_of_every_solution_is_killed(grader_on_the_course):
    completed = grader_on_the_course("mutants", "--all", "--max", "8", "--seed", "1", timeout=1800)
    assert completed.returncode == 0, f"grader mutants found survivors:\n{completed.stdout}\n{completed.stderr}"
