"""Figures of the applications (Chapter 6) and of calibration (Chapter 8): scores of several models
per category (dialogue, summarisation), a translation's alignment with Chinese labels (and the
font that draws them), and reliability diagrams.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from llm_book.plotting._common import OKABE_ITO, _as_array, _axes, _matrix, _outline_cell, _write_values


# Fonts that can draw Chinese, most wanted first (Debian's fonts-noto-cjk, macOS, Windows).
_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "Source Han Sans SC",
                 "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "PingFang SC", "Heiti SC",
                 "Microsoft YaHei", "SimHei", "Arial Unicode MS")


def cjk_font() -> str | None:
    """The family name of an installed font that can draw Chinese characters, or None.

    Looks in matplotlib's font list first; a font installed after matplotlib built its
    cache (e.g. ``apt-get install fonts-noto-cjk``) is found among the system's font
    files and registered for this session.
    """
    from matplotlib import font_manager

    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        for family in _CJK_FAMILIES:
            if family in names:
                return family
        return next((name for name in sorted(names) if "CJK" in name), None)

    found = known()
    if found is None:
        pattern = re.compile(r"cjk|wqy|sourcehan|simhei|msyh|pingfang", re.I)
        paths = sorted(p for p in font_manager.findSystemFonts() if pattern.search(p))
        # Regular sans-serif faces first: they read best as small labels.
        for path in sorted(paths, key=lambda p: ("Serif" in p, "Bold" in p)):
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # an unreadable font file: try the next one
                continue
        found = known()
    return found


def plot_grouped_scores(scores: Mapping[str, Mapping[str, float]], ax=None, ylabel: str = "accuracy",
                        title: str | None = None, ylim: tuple[float, float] | None = (0.0, 1.25)):
    """Grouped bars: one group per category, one bar per model, the value written on each bar.

    Args:
        scores: ``{model: {category: value}}``; every model needs the same categories.
    """
    if not scores:
        raise ValueError("`scores` is empty; give {model: {category: value}}")
    categories = list(next(iter(scores.values())))
    for name, row in scores.items():
        if list(row) != categories:
            raise ValueError(f"`scores[{name!r}]` has categories {list(row)}, expected {categories}")
    n = len(scores)
    ax = _axes(ax, (1.3 * len(categories) * max(1, n / 2) + 2, 3.4))
    width = 0.8 / n
    for i, (name, row) in enumerate(scores.items()):
        x = np.arange(len(categories)) + (i - (n - 1) / 2) * width
        values = [row[c] for c in categories]
        ax.bar(x, values, width=width, color=OKABE_ITO[i % len(OKABE_ITO)], label=name)
        for xi, v in zip(x, values):
            ax.text(xi, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(categories)), categories)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, loc="upper center", ncol=n)  # above the bars (ylim leaves room)
    if title:
        ax.set_title(title)
    return ax


def plot_alignment(weights, source_tokens: Sequence[str], target_tokens: Sequence[str], ax=None,
                   gold=None, fallback_labels: Sequence[str] | None = None, title: str | None = None,
                   annotate: bool = True, cmap: str = "viridis"):
    """Attention from target words (rows) to source words (columns): a translation's alignment.

    Chinese labels need a CJK font.  When ``cjk_font()`` finds none, the rows are
    labelled with ``fallback_labels`` (e.g. pinyin) instead, so no glyph goes missing.

    Args:
        weights: ``(n_target, n_source)`` attention weights.
        source_tokens, target_tokens: the labels.
        gold: optional ``(n_target, n_source)`` 0/1 reference alignment, drawn as outlined cells.
        fallback_labels: row labels to use without a CJK font (default: ``target_tokens``).
        annotate: write each weight in its cell.
    """
    w = _matrix(weights, "weights", (len(target_tokens), len(source_tokens)), "(target x source)")
    if fallback_labels is not None and len(fallback_labels) != len(target_tokens):
        raise ValueError(f"`fallback_labels` needs one label per target token ({len(target_tokens)}), "
                         f"got {len(fallback_labels)}")
    ax = _axes(ax, (0.62 * len(source_tokens) + 2.2, 0.42 * len(target_tokens) + 1.4))
    im = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(1e-9, float(w.max())))
    font = cjk_font()
    rows = list(target_tokens) if font or fallback_labels is None else list(fallback_labels)
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    if font:
        for label in ax.get_yticklabels():
            label.set_fontfamily([font, "DejaVu Sans"])
    if annotate and w.size <= 400:
        _write_values(ax, w, 0.6 * float(w.max()), fontsize=8)   # 8 pt: readable white on dark cells
    if gold is not None:
        g = _as_array(gold)
        if g.shape != w.shape:
            raise ValueError(f"`gold` has to have the shape of `weights` {w.shape}, got {g.shape}")
        for i, j in zip(*np.nonzero(g)):
            _outline_cell(ax, i, j, lw=1.6, edgecolor=OKABE_ITO[1])
    ax.set_xlabel("source word (English)")
    ax.set_ylabel("target word being written")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_reliability_diagram(bins: Mapping[str, object], ax=None, title: str | None = None):
    """Reliability diagram: mean predicted probability against mean truth, per bin.

    Args:
        bins: ``{label: ReliabilityBins}`` (``llm_book.calibration.reliability_bins``); each is drawn
            as a line whose markers grow with the bin's share of the weight; the legend, below the
            axes so it hides no point, gives its ECE. The first is drawn with filled markers, the
            others with open markers of other shapes and dashed lines, so that one lying on top of
            another still shows. Points on the diagonal are perfectly calibrated; below it,
            over-confident.
    """
    if not bins:
        raise ValueError("`bins` is empty; give {label: reliability_bins(...)}")
    ax = _axes(ax, (5, 6))
    ax.plot([0, 1], [0, 1], color="gray", ls=":", label="perfectly calibrated")
    colours = [OKABE_ITO[i] for i in (0, 3, 2, 4, 1, 5, 7)]  # blue, vermillion, green, pink, ...
    markers = ["o", "s", "^", "D", "v", "P", "X"]
    for i, (label, b) in enumerate(bins.items()):
        pred, obs, weight = _as_array(b.predicted), _as_array(b.observed), _as_array(b.weight)
        full = weight > 0
        share = weight[full] / weight[full].sum()
        colour, marker = colours[i % len(colours)], markers[i % len(markers)]
        ax.plot(pred[full], obs[full], "-" if i == 0 else "--", color=colour, lw=1.2, marker=marker,
                ms=5, mfc=colour if i == 0 else "none", label=f"{label} (ECE {b.ece:.4f})")
        ax.scatter(pred[full], obs[full], s=15 + 400 * np.sqrt(share), marker=marker, zorder=3 + (i > 0),
                   **({"color": colour, "alpha": 0.6} if i == 0 else
                      {"facecolors": "none", "edgecolors": colour, "linewidths": 1.5}))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted probability (per bin)")
    ax.set_ylabel("mean true probability (per bin)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    if title:
        ax.set_title(title)
    return ax
