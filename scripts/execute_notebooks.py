"""Re-run notebooks top to bottom and store their outputs (what the website, GitHub and Colab show).

    python scripts/execute_notebooks.py                 # every notebook in book/
    python scripts/execute_notebooks.py book/04_*.ipynb # some of them

Run it after editing a chapter, then commit the notebook with its outputs;
nbval (in the test command) checks that a fresh run still gives them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

# Kernels inherit this: one thread, as the test suite runs the notebooks (see conftest.py).
# Checked outputs must not depend on it (tests/test_notebooks_other_kernels.py checks them
# with two threads and other CPU kernels): a figure from a long floating-point computation
# goes in a `# NBVAL_IGNORE_OUTPUT` cell with an assert and a tolerance.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted((ROOT / "book").glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
