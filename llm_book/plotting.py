"""Figures the chapters share.

Every helper takes ``ax=None`` (a new figure when None), returns the ``Axes``,
never calls ``plt.show()``, labels axes with the tokens and uses
colour-blind-safe colours (viridis / cividis and the Okabe-Ito palette).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

# Okabe-Ito: distinguishable with every common form of colour blindness.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _axes(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_array(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def plot_attention(weights, query_tokens: Sequence[str], key_tokens: Sequence[str] | None = None,
                   ax=None, title: str | None = None, annotate: bool = True, cmap: str = "viridis"):
    """Heatmap of attention weights: rows are queries (who looks), columns keys (who is looked at).

    Args:
        weights: ``(T_q, T_k)`` array or tensor (one head).
        query_tokens, key_tokens: labels (``key_tokens`` defaults to ``query_tokens``).
        annotate: write each weight in its cell (for small matrices).
    """
    w = _as_array(weights)
    key_tokens = query_tokens if key_tokens is None else key_tokens
    if w.ndim != 2 or w.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(
            f"`weights` has to be 2-D ({len(query_tokens)}, {len(key_tokens)}) to match the token "
            f"labels, got shape {w.shape}"
        )
    ax = _axes(ax, (0.6 * len(key_tokens) + 1.5, 0.5 * len(query_tokens) + 1))
    im = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(1e-9, float(w.max())))
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(query_tokens)), query_tokens)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if annotate and w.size <= 144:
        threshold = 0.6 * float(w.max())
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if w[i, j] > threshold else "white")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_chain_rule(words: Sequence[str], conditionals: Sequence[float], ax=None,
                    title: str | None = None):
    """Bars of P(w_t | w_<t) for each word after the first, and the running product on a log axis.

    Args:
        words: the sentence, e.g. ``["The", "cat", "sat", "on", "the"]``.
        conditionals: one probability per word after the first (``len(words) - 1`` values).
    """
    p = _as_array(conditionals)
    if len(p) != len(words) - 1:
        raise ValueError(
            f"`conditionals` needs one probability per word after the first: {len(words) - 1} "
            f"for {len(words)} words, got {len(p)}"
        )
    ax = _axes(ax, (1.1 * len(p) + 2, 3.5))
    labels = [f"P({w} | {' '.join(words[:t + 1]) if t < 2 else '… ' + words[t]})"
              for t, w in enumerate(words[1:])]
    x = np.arange(len(p))
    bars = ax.bar(x, p, color=OKABE_ITO[0], label="P(word | words before)")
    for bar, value in zip(bars, p):
        ax.text(bar.get_x() + bar.get_width() / 2, value, f"{value:.3g}", ha="center", va="bottom",
                fontsize=8)
    running = np.cumprod(p)
    ax.plot(x, np.clip(running, 1e-12, None), "o-", color=OKABE_ITO[3], label="running product")
    for xi, value in zip(x, running):
        ax.annotate(f"{value:.3g}", (xi, max(value, 1e-12)), textcoords="offset points",
                    xytext=(0, -14), ha="center", fontsize=8, color=OKABE_ITO[3])
    ax.set_yscale("log")
    ax.set_ylim(min(1e-4, max(running.min(), 1e-12)) / 2, 1.5)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("probability (log scale)")
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_next_token_distribution(probs: Mapping[str, float] | Sequence[float],
                                 tokens: Sequence[str] | None = None, ax=None, top: int | None = 15,
                                 highlight: Sequence[str] = (), reference: Mapping[str, float] | None = None,
                                 title: str | None = None):
    """Bars of a next-token distribution, most probable first.

    Args:
        probs: ``{token: probability}``, or a sequence of probabilities with ``tokens``.
        top: show only the ``top`` most probable tokens (None: all).
        highlight: tokens drawn in a second colour.
        reference: optional second distribution (e.g. the exact one) drawn as markers.
    """
    if isinstance(probs, Mapping):
        items = list(probs.items())
    else:
        values = _as_array(probs)
        if tokens is None or len(tokens) != len(values):
            raise ValueError("`tokens` has to give one label per probability when `probs` is a sequence")
        items = list(zip(tokens, values.tolist()))
    items.sort(key=lambda kv: -kv[1])
    if top is not None:
        items = items[:top]
    names = [k for k, _ in items]
    values = [v for _, v in items]
    ax = _axes(ax, (0.45 * len(names) + 2, 3))
    colours = [OKABE_ITO[1] if n in highlight else OKABE_ITO[0] for n in names]
    ax.bar(range(len(names)), values, color=colours, label="model" if reference else None)
    if reference is not None:
        ax.plot(range(len(names)), [reference.get(n, 0.0) for n in names], "D", color=OKABE_ITO[3],
                label="exact")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("probability")
    ax.set_ylim(0, max(values + [reference.get(n, 0) for n in names] if reference else values) * 1.15)
    if title:
        ax.set_title(title)
    return ax


def plot_loss_curve(losses: Sequence[float], floor: float | None = None, ax=None,
                    eval_steps: Sequence[int] = (), eval_losses: Sequence[float] = (),
                    smooth: int = 20, title: str | None = None):
    """Training loss per step (raw and a moving average), evaluations, and an optional floor line."""
    y = _as_array(losses)
    ax = _axes(ax, (6, 3.5))
    ax.plot(np.arange(1, len(y) + 1), y, color=OKABE_ITO[5], alpha=0.4, lw=0.8, label="training loss")
    if smooth > 1 and len(y) >= smooth:
        avg = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(smooth, len(y) + 1), avg, color=OKABE_ITO[0], lw=1.5,
                label=f"moving average ({smooth} steps)")
    if len(eval_steps):
        ax.plot(eval_steps, eval_losses, "o-", color=OKABE_ITO[1], label="evaluation")
    if floor is not None:
        ax.axhline(floor, color=OKABE_ITO[3], ls="--", label=f"entropy floor {floor:.3f}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
