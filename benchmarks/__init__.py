"""Benchmarks, run by hand (not in CI): ``python -m benchmarks.<name>``.

* ``notebooks``: execution time of every chapter notebook, slowest first, and the total.
* ``training``: time for the toy-language GPT to come within 3% and 1% of the entropy floor.
* ``generation``: tokens per second with and without the key/value cache.
* ``attention``: the book's attention against PyTorch's fused kernel.

Figures measured on the project's 2-core machine are in benchmarks/README.md.
"""
