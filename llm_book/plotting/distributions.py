"""Probabilities over words: the chain rule, a next-token distribution, several distributions side
by side (e.g. one per temperature), what a sampling filter keeps, and sampled frequencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from llm_book.plotting._common import OKABE_ITO, _as_array, _axes, _labelled_probs


def plot_chain_rule(words: Sequence[str], conditionals: Sequence[float], ax=None,
                    title: str | None = None, model_conditionals: Sequence[float] | None = None,
                    model_label: str = "tiny GPT"):
    """The chain rule as one chart: P(w_t | w_<t) per word (top), the running product (below).

    Top: one bar per word after the first on a linear 0-1 axis (a bar's length is its
    probability), the exact factors and, when given, a model's beside them.  Below, sharing the
    words: the running product on a log axis (it only goes down), exact and model overlaid.

    Args:
        words: the sentence, e.g. ``["The", "cat", "sat", "on", "the"]``.
        conditionals: one probability per word after the first (``len(words) - 1`` values).
        ax: where to draw; it is split into the two panels (a new figure when None).
        model_conditionals: optionally a model's estimates of the same factors.
        model_label: the model's name in the legend.

    Returns:
        the top Axes (the running product is ``fig.axes`` after it).
    """
    p = _as_array(conditionals)
    if len(p) != len(words) - 1:
        raise ValueError(
            f"`conditionals` needs one probability per word after the first: {len(words) - 1} "
            f"for {len(words)} words, got {len(p)}"
        )
    q = None if model_conditionals is None else _as_array(model_conditionals)
    if q is not None and q.shape != p.shape:
        raise ValueError(f"`model_conditionals` needs {len(p)} probabilities, like `conditionals`, "
                         f"got {len(q)}")
    if ax is None:
        fig = plt.figure(figsize=(1.0 * len(p) + 3, 4.6))
        spec = fig.add_gridspec(2, 1, height_ratios=[3, 2], hspace=0.08)
    else:
        fig = ax.figure
        spec = ax.get_subplotspec().subgridspec(2, 1, height_ratios=[3, 2], hspace=0.08)
        ax.remove()
    ax = fig.add_subplot(spec[0])
    ax_product = fig.add_subplot(spec[1], sharex=ax)
    labels = [f"P({w} | {' '.join(words[:t + 1]) if t < 2 else '… ' + words[t]})"
              for t, w in enumerate(words[1:])]
    x = np.arange(len(p))
    series = [("exact", p, OKABE_ITO[0], "o-")] + ([] if q is None else [(model_label, q, OKABE_ITO[1], "s--")])
    width = 0.8 / len(series)
    for i, (name, values, colour, _) in enumerate(series):
        offset = (i - (len(series) - 1) / 2) * width
        bars = ax.bar(x + offset, values, width=width, color=colour, label=f"{name}: P(word | words before)",
                      hatch=None if i == 0 else "//", edgecolor="white" if i == 0 else "black", linewidth=0.5)
        for bar, value in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, value + 0.02, f"{value:.2f}", ha="center",
                    va="bottom", fontsize=7)
    ax.set_ylim(0, 1.1)                                  # room for a label on a bar of 1, no more
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("probability")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(series), fontsize=8, frameon=False,
              borderaxespad=0.2)                         # above the axes, under the title
    title_pad = 20
    ax.tick_params(labelbottom=False)
    lowest = 1.0
    for name, values, colour, style in series:
        running = np.clip(np.cumprod(values), 1e-300, None)
        lowest = min(lowest, float(running.min()))
        exact = name == "exact"
        ax_product.plot(x, running, style, color="black" if exact else colour, linewidth=2 if exact else 1.5,
                        markerfacecolor="black" if exact else "none", label=f"{name}: running product")
    ax_product.set_yscale("log")
    ax_product.set_ylim(lowest / 4, 1.5)
    ax_product.set_ylabel("running product\n(log scale)")
    ax_product.legend(loc="lower left", fontsize=8, frameon=False)
    ax_product.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax_product.set_xlim(-0.6, len(p) - 0.4)
    if title:
        ax.set_title(title, pad=title_pad)
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


def plot_distributions(distributions: Mapping[str, Sequence[float]], tokens: Sequence[str], ax=None,
                       top: int | None = 12, title: str | None = None, reference: str | None = None):
    """Several distributions over the same tokens as grouped bars (e.g. one per temperature).

    Args:
        distributions: ``{label: probabilities (vocab,)}``; the first one orders the tokens
            (most probable first).
        tokens: one label per vocabulary entry.
        top: show only the ``top`` tokens most probable under the first distribution.
        reference: optional label of the distribution the others are compared with (e.g. the exact
            one): drawn as a black outline around each token's group and a black marker on top,
            not as one more coloured bar.
    """
    if not distributions:
        raise ValueError("`distributions` is empty; give at least one {label: probabilities}")
    if reference is not None and reference not in distributions:
        raise ValueError(f"`reference` (={reference!r}) has to be one of the labels {list(distributions)}")
    arrays = {label: _labelled_probs(p, tokens, f"distributions[{label!r}]")
              for label, p in distributions.items()}
    first = next(iter(arrays.values()))
    order = np.argsort(-first, kind="stable")[: top or len(first)]
    bars = {label: p for label, p in arrays.items() if label != reference}
    n = max(1, len(bars))
    ax = _axes(ax, (0.5 * len(order) * max(1, n / 3) + 2, 3.2))
    width = 0.8 / n
    if reference is not None:
        x = np.arange(len(order))
        ax.bar(x, arrays[reference][order], width=0.9, facecolor="none", edgecolor="black",
               linewidth=1.6, zorder=3, label=reference)
        positive = arrays[reference][order] > 0          # no marker on the axis where the reference is 0
        ax.plot(x[positive], arrays[reference][order][positive], linestyle="none", marker="v", color="black",
                markersize=6, zorder=4)
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(n)]   # colour-blind-safe, easy to tell apart
    for i, (label, p) in enumerate(bars.items()):
        ax.bar(np.arange(len(order)) + (i - (n - 1) / 2) * width, p[order], width=width,
               color=colours[i], label=label)
    ax.set_xticks(range(len(order)), [tokens[i] for i in order], rotation=45, ha="right")
    ax.set_ylabel("probability")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_filtered_distribution(before: Sequence[float], after: Sequence[float], tokens: Sequence[str],
                               ax=None, top: int | None = 15, title: str | None = None):
    """What a sampling filter does: the distribution before it and the one actually sampled from.

    Tokens the filter removed (probability 0 after it) get a grey bar and a grey
    label; kept tokens show their renormalised probability as a coloured bar
    beside the original one.

    Args:
        before: ``(vocab,)`` probabilities before temperature and filters (e.g. the model's).
        after: ``(vocab,)`` probabilities sampled from (zero for removed tokens).
        tokens: one label per vocabulary entry.
        top: show only the ``top`` tokens most probable under ``before``.
    """
    b = _labelled_probs(before, tokens, "before")
    a = _labelled_probs(after, tokens, "after")
    order = np.argsort(-b, kind="stable")[: top or len(b)]
    x = np.arange(len(order))
    kept = a[order] > 0
    ax = _axes(ax, (0.5 * len(order) + 2, 3.2))
    ax.bar(x - 0.2, b[order], width=0.4, color=np.where(kept, OKABE_ITO[5], "#BBBBBB"),
           label="before (model, T = 1)")
    ax.bar(x + 0.2, a[order], width=0.4, color=OKABE_ITO[0], label="sampled from (after)")
    ax.set_xticks(x, [tokens[i] for i in order], rotation=45, ha="right")
    for label, keep in zip(ax.get_xticklabels(), kept):
        if not keep:
            label.set_color("#888888")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.12 * max(float(b[order].max()), float(a[order].max()), 1e-9))
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title if title else f"{int(kept.sum())} of the {len(order)} shown tokens kept")
    return ax


def plot_sample_frequencies(samples, probs: Sequence[float], tokens: Sequence[str], ax=None,
                            top: int | None = 12, title: str | None = None):
    """Frequencies of sampled token ids (bars) against the probabilities they were drawn from (markers).

    Args:
        samples: 1-D integer token ids that were sampled.
        probs: ``(vocab,)`` the distribution they were drawn from.
        tokens: one label per vocabulary entry.
    """
    p = _labelled_probs(probs, tokens)
    s = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples).reshape(-1)
    if s.size == 0 or not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= len(p):
        raise ValueError(f"`samples` has to hold at least one integer token id in 0..{len(p) - 1}")
    freq = np.bincount(s, minlength=len(p)) / s.size
    order = np.argsort(-p, kind="stable")[: top or len(p)]
    x = np.arange(len(order))
    ax = _axes(ax, (0.5 * len(order) + 2, 3.2))
    ax.bar(x, freq[order], color=OKABE_ITO[0], label=f"sampled frequency (n = {s.size:,})")
    ax.plot(x, p[order], "D", color=OKABE_ITO[3], label="probability")
    ax.set_xticks(x, [tokens[i] for i in order], rotation=45, ha="right")
    ax.set_ylabel("probability / frequency")
    ax.set_ylim(0, 1.15 * max(float(freq[order].max()), float(p[order].max())))
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
