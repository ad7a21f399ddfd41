"""How many CPU threads PyTorch uses for the book's tiny models.

PyTorch splits every matrix product over all the CPU's cores.  For the book's
models (a few hundred thousand parameters, matrices of 64 x 64) the work per
product is so small that waking a second thread costs more than it saves, and
on a busy machine the threads wait for each other: one thread is faster.  One
thread also makes a training run give the same numbers whatever the machine's
thread count.

So the package's loops (``train``, generation, the exact evaluations) run a
small model on the CPU inside ``threads_for(model)``, which sets one thread
and restores the reader's setting afterwards.  A large model, or one on a
GPU, keeps the reader's setting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")

SMALL_MODEL_PARAMETERS = 2_000_000
"""Models with fewer parameters than this count as small: one CPU thread is fastest for them."""


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with PyTorch's CPU threads set to ``n``, then restore the previous setting.

    ``n=None`` leaves the setting alone.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"`n` (={n!r}) has to be a positive integer (a number of threads) or None")
    previous = torch.get_num_threads()
    if n is not None and n != previous:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def threads_for(model: torch.nn.Module) -> int | None:
    """1 for a small model on the CPU; None (keep the reader's setting) for a large one or a GPU."""
    first = next(iter(model.parameters()), None)
    if first is None or first.device.type != "cpu":
        return None
    n_parameters = sum(p.numel() for p in model.parameters())
    return 1 if n_parameters < SMALL_MODEL_PARAMETERS else None


@contextmanager
def model_threads(model: torch.nn.Module) -> Iterator[None]:
    """``with model_threads(model):`` runs the block with ``threads_for(model)`` CPU threads."""
    with cpu_threads(threads_for(model)):
        yield


def runs_model_threads(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: ``fn(model, ...)`` runs inside ``model_threads(model)``."""

    @functools.wraps(fn)
    def wrapper(model, *args, **kwargs):
        with model_threads(model):
            return fn(model, *args, **kwargs)

    return wrapper
