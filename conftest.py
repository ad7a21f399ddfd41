"""pytest setup for the whole repository: unit tests in tests/, notebooks in book/ (nbval)."""

import os

if "PYTEST_XDIST_WORKER" in os.environ:
    # With `-n 2` on a 2-core machine, two workers (and the notebook kernels they start,
    # which inherit this environment) share the cores: one thread each, or torch's
    # thread pools fight and the suite runs several times slower.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
