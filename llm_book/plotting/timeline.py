"""Landmark models on a timeline: parameter counts against release date, one marker per
architecture, each name placed where it overlaps nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_book.plotting._common import OKABE_ITO, _axes


_ARCH_STYLE = {"decoder-only": ("o", 0), "encoder-only": ("s", 2), "encoder-decoder": ("^", 1),
               "mixture of experts": ("D", 3)}


def plot_landmark_timeline(models: Sequence, ax=None, title: str | None = None):
    """Parameter counts of landmark models against their release date, log scale, one marker per architecture.

    Args:
        models: objects with ``name``, ``year``, ``architecture``, ``parameters`` and
            ``active_parameters`` (``llm_book.landmarks.load_landmarks()``); a ``date`` (fractional
            year, from the release month) places a model within its year, otherwise it sits mid-year.
            A model whose parameter count is None is listed in a note instead of drawn; for a
            mixture of experts a hollow marker shows the parameters active per token.

    Names are written level, each placed beside its marker where it overlaps no other name and no
    marker; the y-axis spans the drawn sizes and no more.
    """
    models = list(models)
    if not models:
        raise ValueError("`models` is empty; pass llm_book.landmarks.load_landmarks()")
    ax = _axes(ax, (10, 5))
    drawn = [m for m in models if m.parameters is not None]
    missing = [m.name for m in models if m.parameters is None]
    seen, points, links = set(), [], []
    for m in drawn:
        x = float(getattr(m, "date", m.year + 0.5))
        marker, colour = _ARCH_STYLE.get(m.architecture, ("x", 7))
        label = m.architecture if m.architecture not in seen else None
        seen.add(m.architecture)
        ax.plot(x, m.parameters, marker, color=OKABE_ITO[colour], ms=8, label=label, ls="none", zorder=3)
        points.append((x, m.parameters))
        if m.active_parameters is not None:
            ax.plot([x, x], [m.active_parameters, m.parameters], color=OKABE_ITO[colour], lw=1, ls=":")
            ax.plot(x, m.active_parameters, marker, mfc="white", mec=OKABE_ITO[colour], ms=7, ls="none",
                    label="active per token (MoE)" if "active" not in seen else None, zorder=3)
            seen.add("active")
            points.append((x, m.active_parameters))
            links.append((x, m.active_parameters, m.parameters))
    ax.set_yscale("log")
    ax.set_xlabel("release date (first paper or announcement)")
    ax.set_ylabel("parameters (log scale)")
    years = sorted({int(np.floor(x)) for x, _ in points} | {m.year for m in models})
    starts = years + [years[-1] + 1]                # a tick on the 1st of January of each year
    ax.set_xticks(starts, [str(y) for y in starts])
    ax.set_xlim(years[0] - 0.05, years[-1] + 1.08)  # room for a marker in January or December
    ax.grid(True, which="major", axis="x", alpha=0.3)
    sizes = [p for _, p in points] or [1.0]
    ax.set_ylim(min(sizes) / 2.5, max(sizes) * 3)
    ax.grid(True, which="major", axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    _place_labels(ax, [(m.name, float(getattr(m, "date", m.year + 0.5)), m.parameters) for m in drawn], points,
                  links)
    if missing:
        ax.text(0.99, 0.02, "size not published: " + ", ".join(missing), transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="gray")
    return ax


def _place_labels(ax, labels, points, links=(), fontsize: float = 8):
    """Write each ``(text, x, y)`` beside its point, at the first offset overlapping no label, marker or edge.

    ``links`` are vertical lines ``(x, y0, y1)`` (data coordinates) that a label must not cross either.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_pixels = ax.transData.transform
    box_of_axes = ax.get_window_extent(renderer)
    marker_r = 6 * fig.dpi / 72                       # half a marker, in pixels
    markers = [to_pixels((x, y)) for x, y in points]
    lines = [(to_pixels((x, y0)), to_pixels((x, y1))) for x, y0, y1 in links]
    taken = []
    # (dx, dy) in points, horizontal alignment, vertical alignment: right, left, above, below...
    offsets = [((6, 0), "left", "center"), ((-6, 0), "right", "center"), ((0, 7), "center", "bottom"),
               ((0, -7), "center", "top"), ((6, 7), "left", "bottom"), ((6, -7), "left", "top"),
               ((-6, 7), "right", "bottom"), ((-6, -7), "right", "top")]

    def clashes(bb):
        if bb.x0 < box_of_axes.x0 or bb.x1 > box_of_axes.x1 or bb.y0 < box_of_axes.y0 or bb.y1 > box_of_axes.y1:
            return True
        if any(bb.overlaps(other) for other in taken):
            return True
        if any(bb.x0 - 2 < a[0] < bb.x1 + 2 and bb.y0 < max(a[1], b[1]) and min(a[1], b[1]) < bb.y1
               for a, b in lines):
            return True
        return any(bb.x0 - marker_r < px < bb.x1 + marker_r and bb.y0 - marker_r < py < bb.y1 + marker_r
                   for px, py in markers)

    for text, x, y in labels:
        for (dx, dy), ha, va in offsets:
            t = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, va=va,
                            fontsize=fontsize)
            bb = t.get_window_extent(renderer).expanded(1.05, 1.1)
            if not clashes(bb):
                break
            t.remove()
        else:  # nowhere free: keep the first place
            (dx, dy), ha, va = offsets[0]
            t = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, va=va,
                            fontsize=fontsize)
            bb = t.get_window_extent(renderer)
        taken.append(bb)
