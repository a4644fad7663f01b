#!/usr/bin/env bash
# Gradescope: builds the autograder image once. The zip's contents (this course) are in /autograder/source.
# Make the zip from the `solutions` branch (it has the held-back tests), outside the copy so that
# `copier update` finds the copy clean (the steps: callable-katas' README.md, "For instructors", "Grading"):
#   git archive --format=zip -o ../autograder.zip --add-file=autograder/setup.sh --add-file=autograder/run_autograder solutions
set -euo pipefail
cd /autograder/source

# Python 3.11 or newer: Gradescope's Ubuntu 24.04 base image has 3.12; older images get 3.11 from apt.
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        PYTHON="$candidate"
        break
    fi
done
if [ -z "$PYTHON" ]; then
    apt-get update -q
    apt-get install -y -q python3.11 python3.11-venv
    PYTHON=python3.11
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
    apt-get update -q
    apt-get install -y -q "$(basename "$PYTHON")-venv" || apt-get install -y -q python3-venv
fi
apt-get install -y -q git >/dev/null 2>&1 || true

"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --quiet --upgrade pip
# Editable, like the students' install: the grader grades the course folder it was installed from.
/autograder/venv/bin/python -m pip install --quiet -e /autograder/source
# The zip holds the reference solutions and the held-back tests: from now on only root reads them
# (the grader, as root; the student's code runs as `nobody`).
/autograder/venv/bin/python -m grader.held_back seal /autograder/source
