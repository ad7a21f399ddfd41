"""Heatmaps of who looks at whom: attention weights, binary attention masks, similarity matrices.

Rows are queries (or the first set of labels), columns keys; small matrices get their values
written in the cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_book.plotting._common import OKABE_ITO, _axes, _matrix, _outline_cell, _write_values


def plot_attention(weights, query_tokens: Sequence[str], key_tokens: Sequence[str] | None = None,
                   ax=None, title: str | None = None, annotate: bool = True, cmap: str = "viridis",
                   colorbar: bool = True, vmax: float | None = None,
                   highlight: tuple[int, int] | None = None):
    """Heatmap of attention weights: rows are queries (who looks), columns keys (who is looked at).

    Args:
        weights: ``(T_q, T_k)`` array or tensor (one head).
        query_tokens, key_tokens: labels (``key_tokens`` defaults to ``query_tokens``).
        annotate: write each weight in its cell (for small matrices).
        colorbar: draw this panel's own colour bar; False for panels that share one (pass the same
            ``vmax`` to each, then ``fig.colorbar(ax.images[0], ax=axes)``).
        vmax: the weight drawn in the brightest colour (default: this matrix's largest weight).
        highlight: ``(query, key)`` cell to outline, e.g. the one the text is about.
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    w = _matrix(weights, "weights", (len(query_tokens), len(key_tokens)), "to match the token labels")
    ax = _axes(ax, (0.6 * len(key_tokens) + 1.5, 0.5 * len(query_tokens) + 1))
    im = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(1e-9, float(w.max()) if vmax is None else vmax))
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(query_tokens)), query_tokens)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if annotate and w.size <= 144:
        _write_values(ax, w, 0.6 * float(w.max()), fontsize=7)
    if highlight is not None:
        i, j = highlight
        if not (0 <= i < w.shape[0] and 0 <= j < w.shape[1]):
            raise ValueError(f"`highlight` (={highlight!r}) has to be a (query, key) cell inside the "
                             f"{w.shape[0]}x{w.shape[1]} matrix")
        _outline_cell(ax, i, j, edgecolor=OKABE_ITO[3], linewidth=2.5, zorder=3)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_mask(mask, query_tokens: Sequence[str], key_tokens: Sequence[str] | None = None, ax=None,
              title: str | None = None, color: str = OKABE_ITO[0]):
    """A binary attention mask: a filled cell means "the row (query) may attend to the column (key)".

    Two states need no colour scale: filled or empty, with a light grid, and no colourbar.

    Args:
        mask: ``(T_q, T_k)`` array or tensor; nonzero (or True) where attention is allowed.
        query_tokens, key_tokens: labels (``key_tokens`` defaults to ``query_tokens``).
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    m = _matrix(mask, "mask", (len(query_tokens), len(key_tokens)), "to match the token labels")
    ax = _axes(ax, (0.5 * len(key_tokens) + 1.5, 0.5 * len(query_tokens) + 1))
    from matplotlib.colors import ListedColormap

    ax.imshow(m != 0, cmap=ListedColormap(["white", color]), vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(query_tokens)), query_tokens)
    ax.set_xticks(np.arange(-0.5, len(key_tokens)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(query_tokens)), minor=True)
    ax.grid(True, which="minor", color="#999999", lw=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("key (may be attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_similarity_matrix(similarity, row_labels: Sequence[str], col_labels: Sequence[str] | None = None,
                           ax=None, title: str | None = None, vmin: float = -1.0, vmax: float = 1.0,
                           annotate: bool = True, cmap: str = "cividis"):
    """Heatmap of a similarity matrix (e.g. cosine similarities of sentence embeddings)."""
    col_labels = row_labels if col_labels is None else col_labels
    s = _matrix(similarity, "similarity", (len(row_labels), len(col_labels)), "to match the labels")
    ax = _axes(ax, (0.5 * len(col_labels) + 2.5, 0.45 * len(row_labels) + 1.5))
    im = ax.imshow(s, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
    if annotate and s.size <= 256:
        _write_values(ax, s, (vmin + vmax) / 2, fontsize=6.5)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    return ax
