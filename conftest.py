"""pytest setup for the whole repository: unit tests in tests/, notebooks in book/ (nbval)."""

import os

# One thread per process, for the tests and for the notebook kernels nbval starts (they
# inherit this environment):
# - with `-n 2` on a 2-core machine the two workers share the cores, and two thread
#   pools each would fight and run several times slower;
# - a notebook that trains gives bit-identical results only with the thread count it was
#   stored with, and scripts/execute_notebooks.py stores them with one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
