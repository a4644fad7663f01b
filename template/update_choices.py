"""Write the generated parts of the course-copy template from the exercises that exist.

Copier cannot glob, so the lists that depend on exercises/ are generated here and committed:

- copier.yml, block ``choices``: the ``exercises`` question's choices and default (all of them);
- copier.yml, block ``exercise_info``: each exercise's title, part and chapter (for the copy's README);
- copier.yml, block ``validator``: the ``exercises`` question refuses an exercise without the ones it
  ``builds_on`` (each exercise.toml), in one sentence;
- copier.yml, block ``precheck``: a never-asked first question that refuses, in one line and before
  anything is written, an unknown exercise in ``--data`` and a destination that already holds files;
- copier.yml, block ``skip_if_exists``: every file a student edits (each exercise.toml's ``files``), so
  ``copier update`` never touches them;
- template/pyproject.toml.jinja, blocks ``dependencies`` and ``markers``: copied from pyproject.toml,
  so a course copy installs exactly what the course needs;
- exercises/held_back.json, whole: how many held-back tests (held_back/NN_slug/, see
  grader/held_back.py) each exercise has. Copies get it on ``main``, the tests themselves only on
  ``solutions``, so a student is told "3 more tests run at grading time" and sees none of them.

Run it from anywhere after adding an exercise (`git add` it first: in a git checkout only exercises
whose exercise.toml git tracks are offered) or changing dependencies:

    python template/update_choices.py          # rewrite the blocks
    python template/update_choices.py --check  # exit 1 and show what is stale (tests/test_course_copy.py)

Each block sits between a ``# >>> generated: NAME`` and a ``# <<< generated: NAME`` line; nothing
outside the blocks is touched (exercises/held_back.json is generated whole).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISE_FOLDER = re.compile(r"^\d{2}_[a-z0-9_]+$")


class GenerateError(Exception):
    """Something in exercises/ or pyproject.toml that the generator cannot use."""


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _tracked(root: Path) -> set[str] | None:
    """The paths under exercises/ that git tracks (committed or added), or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--", "exercises"],
            capture_output=True, check=True, timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.decode("utf-8", "surrogateescape").split("\0")) - {""}


def exercises(root: Path = ROOT) -> list[tuple[str, dict]]:
    """(folder name, exercise.toml) for every exercise in course order.

    In a git checkout only exercises whose exercise.toml git tracks count (`git add` an exercise
    before re-running this), so work in progress in a shared tree is never offered to course copies.
    """
    tracked = _tracked(root)
    found = []
    for folder in sorted((root / "exercises").iterdir()):
        if not (folder.is_dir() and EXERCISE_FOLDER.match(folder.name)):
            continue
        meta_file = folder / "exercise.toml"
        if not meta_file.is_file() or (tracked is not None and f"exercises/{folder.name}/exercise.toml" not in tracked):
            # An exercise being written: not offered until it has its metadata and git knows it.
            continue
        try:
            meta = tomllib.loads(meta_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise GenerateError(f"{meta_file.relative_to(root)}: {error}") from None
        files = meta.get("files")
        if not (isinstance(files, list) and files and all(isinstance(f, str) for f in files)):
            raise GenerateError(f"{meta_file.relative_to(root)}: `files` must be a non-empty list of file names")
        found.append((folder.name, meta))
    if not found:
        raise GenerateError(f"no exercises with an exercise.toml in {root / 'exercises'}")
    return found


def untracked_exercises(root: Path = ROOT) -> list[str]:
    """Exercise folders with an exercise.toml that git does not track yet (so not offered)."""
    tracked = _tracked(root)
    if tracked is None:
        return []
    return [
        folder.name
        for folder in sorted((root / "exercises").iterdir())
        if EXERCISE_FOLDER.match(folder.name)
        and (folder / "exercise.toml").is_file()
        and f"exercises/{folder.name}/exercise.toml" not in tracked
    ]


def copier_blocks(found: list[tuple[str, dict]]) -> dict[str, list[str]]:
    choices = ["choices:"]
    for name, meta in found:
        label = f"{name[:2]} · {meta.get('title') or name[3:]}"
        choices.append(f"  {_q(label)}: {_q(name)}")
    choices.append("default:")
    choices += [f"  - {_q(name)}" for name, _ in found]

    info = ["default:"]
    for name, meta in found:
        fields = {
            "title": str(meta.get("title", name[3:])),
            "part": meta.get("part", 0),
            "chapter": str(meta.get("chapter", "")),
        }
        inline = ", ".join(f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in fields.items())
        info.append(f"  {_q(name)}: {{{inline}}}")

    skip = [f"- exercises/{name}/{file}" for name, meta in found for file in meta["files"]]
    return {
        "choices": choices, "exercise_info": info, "skip_if_exists": skip, "validator": validator(found),
        "precheck": precheck(found),
    }


def precheck(found: list[tuple[str, dict]]) -> list[str]:
    """The ``precheck`` question's ``when``: refuse bad input in one line, before copier writes anything.

    copier answers an unknown choice in ``--data`` (and a failed validator) with a Python traceback, and
    finds files already in the destination only while it writes, one conflict at a time. This
    question comes first and is never asked; copier renders its ``when`` before any other question is
    parsed. Jinja cannot raise, so calling an undefined value (``none[sentence]()``) stands in for
    ``raise``: copier turns that error into a one-line message (``'None' has no attribute '<sentence>'``)
    and exit status 1. ``fileglob`` (jinja2-ansible-filters, always loaded by copier) lists the files
    the destination already holds (two folders deep; ``.git/`` is allowed: an empty clone is fine).
    A destination with ``.copier-answers.yml`` is a course already (``copier update``, ``recopy``):
    only the exercise names are checked there.
    """
    names = json.dumps([name for name, _ in found])
    by_number = {name[:2]: name for name, _ in found}
    template = (
        "{%- set data = _copier_conf.data -%}"
        "{%- set given = data.get('exercises') or [] -%}"
        "{%- set given = (given | from_yaml) if given is string else given -%}"
        f"{{%- set unknown = given | reject('in', {names}) | list -%}}"
        "{%- set dst = _copier_conf.dst_path | string -%}"
        "{%- if unknown -%}"
        "{{ none['course copy refused: ' ~ (unknown | join(', ')) ~ ' is not an exercise of this course "
        "(the names are like 01_http_client; see the choices in copier.yml)']() }}"
        "{%- elif 'exercises' in data and not given -%}"
        "{{ none['course copy refused: choose at least one exercise']() }}"
    )
    # The validator's builds_on rule, for --data (the validator itself answers --data with a traceback).
    for name, meta in found:
        for number in meta.get("builds_on", []):
            earlier = by_number.get(number, number)
            template += (
                f'{{%- elif "{name}" in given and "{earlier}" not in given -%}}'
                f'{{{{ none["course copy refused: {name} builds on the students\' own {earlier} '
                f'(its tests run on it): choose {earlier} too"]() }}}}'
            )
    template += (
        "{%- elif not ((dst ~ '/.copier-answers.yml') | fileglob) -%}"
        "{%- set found = ((dst ~ '/*') | fileglob) + ((dst ~ '/.[!.]*') | fileglob) + ((dst ~ '/*/*') | fileglob) -%}"
        "{%- if found -%}"
        "{{ none['course copy refused: the destination ' ~ dst ~ ' already holds files (' "
        "~ (found | map('replace', dst ~ '/', '') | sort | join(', ') | truncate(120)) ~ '); nothing was written: "
        "copy into a new or empty folder (a freshly cloned empty repository is fine)']() }}"
        "{%- endif -%}"
        "{%- endif -%}"
        "false"
    )
    return [f"when: {_q(template)}"]


def validator(found: list[tuple[str, dict]]) -> list[str]:
    """The ``exercises`` question's validator: at least one, and never one without what it builds on.

    16's tests run on the student's own 15 (``builds_on`` in exercise.toml), so a copy with 16 and
    without 15 could never pass: copier refuses that choice with one sentence.
    """
    by_number = {name[:2]: name for name, _ in found}
    template = "{% if not exercises %}choose at least one exercise"
    for name, meta in found:
        for number in meta.get("builds_on", []):
            earlier = by_number.get(number)
            if earlier is None:
                raise GenerateError(f"exercises/{name}/exercise.toml: builds_on names {number}, which is not offered")
            template += (
                f'{{% elif "{name}" in exercises and "{earlier}" not in exercises %}}'
                f"{name} builds on the students' own {earlier} (its tests run on it): choose {earlier} too"
            )
    return [f"validator: {_q(template + '{% endif %}')}"]


def _toml_array_lines(pyproject_text: str, key: str) -> list[str]:
    """The lines of a multi-line ``key = [ ... ]`` array in pyproject.toml, verbatim."""
    match = re.search(rf"^{re.escape(key)} = \[\n(.*?)^\]", pyproject_text, re.MULTILINE | re.DOTALL)
    if not match:
        raise GenerateError(f"pyproject.toml: no multi-line `{key} = [` ... `]` array")
    return [f"{key} = ["] + match.group(1).rstrip("\n").split("\n") + ["]"]


def pyproject_blocks(root: Path = ROOT) -> dict[str, list[str]]:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    return {key: _toml_array_lines(text, key) for key in ("dependencies", "markers")}


def replace_blocks(text: str, blocks: dict[str, list[str]], where: str) -> str:
    for name, lines in blocks.items():
        pattern = re.compile(
            rf"^(?P<indent>[ \t]*)# >>> generated: {re.escape(name)}\n.*?^[ \t]*# <<< generated: {re.escape(name)}\n",
            re.MULTILINE | re.DOTALL,
        )
        match = pattern.search(text)
        if not match:
            raise GenerateError(f"{where}: no '# >>> generated: {name}' ... '# <<< generated: {name}' block")
        indent = match.group("indent")
        body = "".join(f"{indent}{line}\n" if line else "\n" for line in lines)
        new = f"{indent}# >>> generated: {name}\n{body}{indent}# <<< generated: {name}\n"
        text = text[: match.start()] + new + text[match.end() :]
    return text


def held_back_counts(root: Path = ROOT) -> str:
    """The text of exercises/held_back.json, from held_back/ (the counting lives in grader.held_back)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from grader import held_back

    for path in sorted((root / "exercises").glob(f"*/{held_back.PREFIX}*.py")):
        raise GenerateError(
            f"{path.relative_to(root).as_posix()}: test files named {held_back.PREFIX}* are held back: "
            f"move it to {held_back.FOLDER}/{path.parent.name}/, or rename it"
        )
    try:
        return held_back.counts_text(root)
    except (held_back.HeldBackError, OSError, UnicodeDecodeError) as error:
        raise GenerateError(str(error)) from None


def targets(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file with its up-to-date text."""
    copier_yml = root / "copier.yml"
    pyproject_jinja = root / "template" / "pyproject.toml.jinja"
    return {
        copier_yml: replace_blocks(copier_yml.read_text(encoding="utf-8"), copier_blocks(exercises(root)), "copier.yml"),
        pyproject_jinja: replace_blocks(
            pyproject_jinja.read_text(encoding="utf-8"), pyproject_blocks(root), "template/pyproject.toml.jinja"
        ),
        root / "exercises" / "held_back.json": held_back_counts(root),
    }


def _current_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def stale(root: Path = ROOT) -> str:
    """A unified diff of what ``update_choices.py`` would change; empty when everything is current."""
    diff = []
    for path, new in targets(root).items():
        old = _current_text(path)
        rel = path.relative_to(root).as_posix()
        diff += difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{rel}", f"b/{rel}")
    return "".join(diff)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a generated block is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.check:
            diff = stale(root)
            if diff:
                sys.stdout.write(diff)
                print("stale: run `python template/update_choices.py`", file=sys.stderr)
                return 1
            print("copier.yml, template/pyproject.toml.jinja and exercises/held_back.json are up to date")
            return 0
        changed = []
        for path, new in targets(root).items():
            if _current_text(path) != new:
                path.write_text(new, encoding="utf-8")
                changed.append(path.relative_to(root).as_posix())
    except GenerateError as error:
        print(f"update_choices.py: {error}", file=sys.stderr)
        return 2
    names = ", ".join(name for name, _ in exercises(root))
    print(f"{'updated ' + ', '.join(changed) if changed else 'nothing to update'} (exercises: {names})")
    if untracked := untracked_exercises(root):
        print(f"not offered until git knows them (git add them, then run this again): {', '.join(untracked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
