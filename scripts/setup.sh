#!/usr/bin/env bash
# Install everything the book needs and build the website (_build/html/index.html).
# Works from a clean clone. Uses the CPU build of PyTorch (torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Python: the CPU wheel of torch first, so that nothing below pulls a multi-GB CUDA build.
"$PYTHON" -m pip install --quiet "torch==2.13.0"
"$PYTHON" -m pip install --quiet -r requirements.txt -e ".[classroom]"

# The scripts the website and the slides serve themselves (MathJax, require.js, d3, jQuery, the
# widget manager, reveal.js), from the npm registry at the versions in package.json / package-lock.json;
# fetch_assets.py also writes the explorers' model file from the shipped checkpoint (llm_book.web).
npm ci --no-audit --no-fund --loglevel=error
"$PYTHON" scripts/fetch_assets.py

# The website, from the notebooks' stored outputs; any warning fails the build.
jupyter-book build . --warningiserror --nitpick --keep-going
echo "Website built: $(pwd)/_build/html/index.html"
