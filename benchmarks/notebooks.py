"""Execution time of every chapter notebook, as readers run it and as the tests run it.

    python -m benchmarks.notebooks [book/05a_*.ipynb ...]

Each notebook runs top to bottom in a fresh kernel twice, one run right after
the other so that both see the same machine:

* **reader mode**: the kernel gets PyTorch's default number of threads, as in
  Jupyter or Colab (no ``OMP_NUM_THREADS``);
* **test mode**: ``OMP_NUM_THREADS=1``, as the test suite runs the notebooks
  (``conftest.py``; two pytest workers share the two cores).

Nothing is saved except the times, in ``benchmarks/notebook_times.json`` (the
teachers' guide shows them).  Each run **merges** its results into that file: the
notebooks it ran get new entries (reader and test seconds, the date measured and
the machine), every other notebook keeps its entry, so
``python -m benchmarks.notebooks book/04_mathematics.ipynb`` updates Chapter 4 only.
The book's budget, in reader mode on a 2-core CPU: at most 30 s per notebook and
240 s for Chapters 1-9 together.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_EACH, BUDGET_TOTAL = 30.0, 240.0
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
MODES = {"reader": None, "test": "1"}   # the thread setting each mode gives the kernel
TIMES_FILE = ROOT / "benchmarks" / "notebook_times.json"


def merge_times(old: dict, times: dict[str, dict[str, float]], machine: str, date: str) -> dict:
    """``old`` (the file's contents, ``{"notebooks": {name: entry}}``) with an entry for each notebook of
    ``times`` replaced or added: ``{"reader_s", "test_s", "measured" (YYYY-MM-DD), "machine"}``; the other
    notebooks' entries are kept as they are."""
    if not isinstance(old, dict) or not isinstance(old.get("notebooks", {}), dict):
        raise ValueError(f"`old` has to be the contents of notebook_times.json, {{'notebooks': {{...}}}}; "
                         f"got {type(old).__name__}")
    entries = dict(old.get("notebooks", {}))
    for name, t in times.items():
        entries[name] = {"reader_s": round(t["reader"], 1), "test_s": round(t["test"], 1),
                         "measured": date, "machine": machine}
    return {"notebooks": dict(sorted(entries.items()))}


def run(path: Path, threads: str | None) -> float:
    """Seconds to run ``path`` top to bottom in a fresh kernel with ``threads`` (None: PyTorch's default)."""
    saved = {name: os.environ.pop(name, None) for name in THREAD_VARIABLES}
    if threads is not None:
        os.environ.update({name: threads for name in THREAD_VARIABLES})
    try:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        return time.perf_counter() - start
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def is_chapter(name: str) -> bool:
    """Chapters 1-9 (``01_...`` to ``09_...``), the part of the book the total budget is for."""
    return name[:2].isdigit() and 1 <= int(name[:2]) <= 9


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted((ROOT / "book").glob("*.ipynb"))
    times: dict[str, dict[str, float]] = {}
    for path in paths:
        times[path.name] = {mode: run(path, threads) for mode, threads in MODES.items()}
        print(f"  ran {path.name}: " + ", ".join(f"{m} {s:.1f} s" for m, s in times[path.name].items()),
              file=sys.stderr, flush=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
              f"PyTorch's default {torch.get_num_threads()} threads, CPU kernels {torch.backends.cpu.get_cpu_capability()}"
    print(f"machine: {machine}")
    print(f"{'notebook':28} {'reader mode':>12} {'test mode':>10} {'ratio':>6}   budget {BUDGET_EACH:.0f} s (reader mode)")
    for name, t in sorted(times.items(), key=lambda kv: -kv[1]["reader"]):
        flag = "" if t["reader"] <= BUDGET_EACH else "  OVER"
        print(f"{name:28} {t['reader']:12.1f} {t['test']:10.1f} {t['reader'] / t['test']:6.2f}{flag}")
    for label, keep in (("chapters 1-9", is_chapter), ("all notebooks", lambda name: True)):
        reader = sum(t["reader"] for n, t in times.items() if keep(n))
        test = sum(t["test"] for n, t in times.items() if keep(n))
        budget = f"   budget {BUDGET_TOTAL:.0f} s{'' if reader <= BUDGET_TOTAL else '  OVER'}" \
            if label == "chapters 1-9" else ""
        print(f"{label:28} {reader:12.1f} {test:10.1f} {reader / max(test, 1e-9):6.2f}{budget}")
    old = json.loads(TIMES_FILE.read_text()) if TIMES_FILE.is_file() else {}
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    TIMES_FILE.write_text(json.dumps(merge_times(old, times, machine, date), indent=1) + "\n")
    print(f"merged {len(times)} notebook(s) into {TIMES_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
