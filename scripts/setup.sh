#!/usr/bin/env bash
# Install everything the book needs and build the website (_build/html/index.html).
# Works from a clean clone. Uses the CPU build of PyTorch (torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# The CPU wheel first, so that no requirement below pulls a multi-GB CUDA build.
"$PYTHON" -m pip install --quiet "torch==2.13.0"
"$PYTHON" -m pip install --quiet -r requirements.txt -e .
jupyter-book build . --warningiserror --nitpick --keep-going
echo "Website built: $(pwd)/_build/html/index.html"
