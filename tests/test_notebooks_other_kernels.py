"""Every notebook again under nbval, on other arithmetic than the main run's.

The main run (``pytest`` collecting ``book/``) uses this processor's best kernels
(AVX-512 or AVX2) and one thread.  Readers and CI machines differ: another
processor, another thread count, and the last digits of a long floating-point
computation change with them.  Stored outputs must not depend on that: exact
quantities are compared digit for digit, chaotic ones are asserted with a
tolerance inside their cell.  This test re-runs every notebook with PyTorch's
plain (non-vectorised) kernels and two threads, so a drift shows on every
submission, not on the next machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
OTHER_ARITHMETIC = {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_outputs_do_not_depend_on_kernels_or_threads(path):
    env = {**os.environ, **OTHER_ARITHMETIC}
    env.pop("PYTEST_XDIST_WORKER", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "-o", "addopts=", "--nbval", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
         "--nbval-cell-timeout=300", str(path.relative_to(ROOT))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, (
        f"{path.name} under {OTHER_ARITHMETIC}: stored outputs differ "
        f"(assert chaotic figures with a tolerance in the cell instead of printing them in a checked cell)\n"
        + result.stdout[-6000:] + result.stderr[-2000:]
    )
