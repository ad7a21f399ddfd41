"""pytest setup for the whole repository: unit tests in tests/, notebooks in book/ (nbval)."""

import os

# One thread per process, for the tests and for the notebook kernels nbval starts (they
# inherit this environment): with `-n 2` on a 2-core machine the two workers share the
# cores, and two thread pools each would fight and run several times slower.
# This is about the harness only: where the thread count matters for the book's tiny models,
# llm_book chooses it itself (llm_book.threads), so readers with PyTorch's default threads get
# the same speed-up. Stored outputs do not depend on it: tests/test_notebooks_other_kernels.py
# runs every notebook again with two threads and PyTorch's plain kernels.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
