"""Execution time of every chapter notebook, slowest first, and the total.

    python -m benchmarks.notebooks [book/05a_*.ipynb ...]

Each notebook runs top to bottom in a fresh kernel, as nbval runs it; nothing is
saved except the
times themselves, in benchmarks/notebook_times.json (the teachers' guide shows
them).  The book's budget: at most 45 s per notebook and 4 minutes in all on a
2-core CPU.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the test suite runs the notebooks (conftest.py)
os.environ.setdefault("MKL_NUM_THREADS", "1")
BUDGET_EACH, BUDGET_TOTAL = 45.0, 240.0


def run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted((ROOT / "book").glob("*.ipynb"))
    times = {}
    for path in paths:
        times[path.name] = run(path)
        print(f"  ran {path.name} in {times[path.name]:.1f} s", file=sys.stderr, flush=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{'notebook':40} {'seconds':>8}  budget {BUDGET_EACH:.0f} s")
    for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        flag = "" if seconds <= BUDGET_EACH else "  OVER"
        print(f"{name:40} {seconds:8.1f}{flag}")
    total = sum(times.values())
    print(f"{'total':40} {total:8.1f}  budget {BUDGET_TOTAL:.0f} s{'' if total <= BUDGET_TOTAL else '  OVER'}")
    if not argv:  # a full run: keep the figures for the teachers' guide
        import json

        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
        (ROOT / "benchmarks" / "notebook_times.json").write_text(json.dumps(
            {"machine": machine, "seconds": {k: round(v, 1) for k, v in sorted(times.items())}},
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
