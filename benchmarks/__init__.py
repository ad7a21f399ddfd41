"""Benchmarks, run by hand (not in CI): ``python -m benchmarks.<name>``.

* ``generation``: tokens per second with and without the key/value cache.
"""
