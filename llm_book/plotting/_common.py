"""What every figure shares: the colour-blind-safe palette, a new figure when no ``Axes`` is given,
numbers from tensors on any device, and the checks that give a mismatched input a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

# Okabe-Ito: distinguishable with every common form of colour blindness.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _axes(ax, figsize):
    """``ax``, or the Axes of a new figure ``figsize`` inches large when ``ax`` is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_array(x) -> np.ndarray:
    """Floats from a tensor on any device and of any dtype (bfloat16 too), a list of them, or numbers."""
    if hasattr(x, "detach"):                      # a tensor, perhaps on a GPU
        x = x.detach().cpu().double().numpy()
    elif isinstance(x, (list, tuple)) and any(hasattr(v, "detach") for v in x):
        x = [_as_array(v) for v in x]             # e.g. losses kept as 0-d tensors
    return np.asarray(x, dtype=float)


def _matrix(x, name: str, shape: tuple[int, int], labels: str) -> np.ndarray:
    """``x`` as a 2-D float array of ``shape``, or a ValueError naming ``name`` and the ``labels`` it must match."""
    m = _as_array(x)
    if m.ndim != 2 or m.shape != shape:
        raise ValueError(f"`{name}` has to be 2-D {shape} {labels}, got shape {m.shape}")
    return m


def _labelled_probs(probs, tokens: Sequence[str] | None, name: str = "probs") -> np.ndarray:
    """``probs`` as a 1-D float array with one label in ``tokens`` per entry, or a ValueError naming ``name``."""
    p = _as_array(probs)
    if p.ndim != 1:
        raise ValueError(f"`{name}` has to be 1-D (vocab,), got shape {p.shape}")
    if tokens is None or len(tokens) != len(p):
        n = None if tokens is None else len(tokens)
        raise ValueError(f"`tokens` has to give one label per entry of `{name}` ({len(p)}), got {n}")
    return p


def _write_values(ax, m: np.ndarray, threshold: float, fontsize: float):
    """Write each entry of the matrix ``m`` in its cell: black on cells above ``threshold``, white below."""
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=fontsize,
                    color="black" if m[i, j] > threshold else "white")


def _outline_cell(ax, i: int, j: int, **style):
    """Outline the cell of row ``i`` and column ``j`` of an ``imshow`` matrix (``style``: edgecolor, lw...)."""
    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, **style))
