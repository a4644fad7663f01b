#!/usr/bin/env bash
# Gradescope: builds the autograder image once. The zip's contents (this course) are in /autograder/source.
# Make the zip on the `main` branch of the course copy (see README.md, "Grading on Gradescope"):
#   git archive --format=zip -o autograder.zip --add-file=autograder/setup.sh --add-file=autograder/run_autograder HEAD
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
