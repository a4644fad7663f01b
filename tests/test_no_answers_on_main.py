"""No answer on `main`: a reference solution's own code appears in no file that students receive.

A course copy's `main` gets the stubs, the given modules, the READMEs, the tests, the grader and the
test toolkit; the reference solutions stay on the private `solutions` branch. A stub may give what
its own exercise gives (signatures, docstrings, helpers); it must never carry another exercise's
answer (08's stub once shipped 07's parser, 16 shipped a copy of 15's server). An exercise that
builds on an earlier one imports the student's own module instead (``builds_on``).

What counts as a copy: a run of ``RUN`` consecutive significant lines (stripped, not blank, not a
comment, at least ``SHORTEST`` characters) of a reference solution, not all of them given by its own
stub, found in the same order in a shipped file. Single idiomatic lines
(``await send({"type": "http.response.start", ...})``) are everywhere and prove nothing; five in a
row are somebody's answer.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = 5
SHORTEST = 12
# What a course copy's main receives (see copier.yml): these folders, and template/'s own files.
SHIPPED_FOLDERS = ("exercises", "grader", "testkit", "bench")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".json", ".jinja", ".yml", ".sh", ""}


def significant_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if len(line) >= SHORTEST and not line.startswith("#"):
            lines.append(line)
    return lines


def runs(lines: list[str]) -> set[tuple[str, ...]]:
    return {tuple(lines[i : i + RUN]) for i in range(len(lines) - RUN + 1)}


def shipped_files() -> list[Path]:
    files = [p for folder in SHIPPED_FOLDERS for p in (REPO / folder).rglob("*") if p.is_file()]
    template = REPO / "template"
    files += [p for p in template.rglob("*") if p.is_file() and p.relative_to(template).parts[0] not in SHIPPED_FOLDERS]
    return [p for p in files if "__pycache__" not in p.parts and p.suffix in TEXT_SUFFIXES]


def test_no_reference_solution_is_copied_into_what_students_receive():
    where_runs_are: dict[tuple[str, ...], set[Path]] = {}
    for path in shipped_files():
        for run in runs(significant_lines(path)):
            where_runs_are.setdefault(run, set()).add(path)

    copies: dict[tuple[Path, Path], tuple[int, tuple[str, ...]]] = {}
    for solution in sorted((REPO / "solutions").rglob("*.py")):
        own_stub = REPO / "exercises" / solution.parent.name / solution.name
        given = set(significant_lines(own_stub)) if own_stub.is_file() else set()
        for run in runs(significant_lines(solution)):
            if all(line in given for line in run):
                continue  # the stub gives these lines: helpers, the command line, signatures
            for path in where_runs_are.get(run, ()):
                if path != own_stub:
                    count, example = copies.get((solution, path), (0, run))
                    copies[(solution, path)] = (count + 1, example)

    report = [
        f"{solution.relative_to(REPO)} -> {path.relative_to(REPO)}: {count} run(s) of {RUN} lines, e.g.\n"
        + "".join(f"        {line}\n" for line in example)
        for (solution, path), (count, example) in sorted(copies.items())
    ]
    assert not report, (
        "reference solutions' own code is on main (students would receive it). Import the student's own "
        "module instead (builds_on), or write the given code differently:\n" + "\n".join(report)
    )


def test_the_check_finds_a_copy(tmp_path):
    # The rule must be able to fail: a stub that pastes five lines of a reference is caught.
    reference = REPO / "solutions" / "15_asgi_server" / "asgi_server.py"
    lines = significant_lines(reference)
    stub_lines = set(significant_lines(REPO / "exercises" / "15_asgi_server" / "asgi_server.py"))
    start = next(i for i in range(len(lines) - RUN) if not all(line in stub_lines for line in lines[i : i + RUN]))
    pasted = tmp_path / "pasted.py"
    pasted.write_text("\n".join(f"    {line}" for line in lines[start : start + RUN]) + "\n")
    assert runs(significant_lines(pasted)) & runs(lines)
