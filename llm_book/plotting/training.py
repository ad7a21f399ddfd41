"""Measurements of learning: loss curves, accuracy against the number of labelled examples, and
validation loss against model size (scaling laws).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from llm_book.plotting._common import OKABE_ITO, _as_array, _axes


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


def plot_accuracy_vs_labels(n_labels: Sequence[int], accuracies: Mapping[str, Sequence[float]],
                            spread: Mapping[str, Sequence[float]] | None = None,
                            chance: float | None = None, ax=None, title: str | None = None,
                            chance_label: str = "chance",
                            points: Mapping[str, Sequence[Sequence[float]]] | None = None):
    """Test accuracy against the number of labelled examples, one line per method (log-2 x axis).

    Args:
        n_labels: the label-set sizes, e.g. ``[8, 16, 32, 64, 128]``.
        accuracies: ``{method: one mean accuracy per size}``.
        spread: optional ``{method: one half-width per size}`` drawn as a band (e.g. min/max over seeds).
        chance: accuracy of a classifier that ignores its input, drawn as a dotted line.
        chance_label: what that line is called in the legend (e.g. "majority class").
        points: optional ``{method: one list of single-run accuracies per size}`` (e.g. one per seed),
            drawn as small dots beside the line so the reader sees the spread itself.
    """
    x = _as_array(n_labels)
    if x.ndim != 1 or len(x) == 0 or (x <= 0).any():
        raise ValueError("`n_labels` has to be a non-empty list of positive sizes")
    if not accuracies:
        raise ValueError("`accuracies` is empty; give at least one {method: accuracies}")
    ax = _axes(ax, (6, 3.6))
    for i, (name, acc) in enumerate(accuracies.items()):
        y = _as_array(acc)
        if y.shape != x.shape:
            raise ValueError(f"`accuracies[{name!r}]` needs one value per size ({len(x)}), got {len(y)}")
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        ax.plot(x, y, "o-", color=colour, label=name)
        if spread is not None and name in spread:
            half = _as_array(spread[name])
            ax.fill_between(x, y - half, np.minimum(y + half, 1.0), color=colour, alpha=0.2)
        if points is not None and name in points:
            if len(points[name]) != len(x):
                raise ValueError(f"`points[{name!r}]` needs one list of runs per size ({len(x)}), "
                                 f"got {len(points[name])}")
            shift = 2 ** (0.06 * (i - (len(accuracies) - 1) / 2))   # side by side on the log-2 axis
            for size, runs in zip(x, points[name]):
                runs = _as_array(runs)
                ax.plot(np.full(len(runs), size * shift), runs, linestyle="none", marker=".",
                        color=colour, alpha=0.6, markersize=7)
    if chance is not None:
        ax.axhline(chance, color="gray", ls=":", label=f"{chance_label} ({chance:.2f})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{int(v)}" for v in x])
    ax.set_xlabel("number of labelled examples")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return ax


_LOSS_TICKS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4,
               5, 6, 7, 8, 10, 12, 15, 20]


def plot_scaling_law(parameters: Sequence[float], losses: Sequence[float],
                     laws: Mapping[str, object] | None = None, extrapolate_to: float | None = None,
                     ax=None, title: str | None = None):
    """Validation loss against model size on log-log axes, with fitted power laws.

    Args:
        parameters: model sizes N.
        losses: one loss per size.
        laws: optional ``{label: law}``; each law is a callable N -> loss (``llm_book.scaling.PowerLaw``),
            drawn over the measured range and, dashed, up to ``extrapolate_to``.
    """
    n, y = _as_array(parameters), _as_array(losses)
    if n.ndim != 1 or n.shape != y.shape or len(n) == 0 or (n <= 0).any() or (y <= 0).any():
        raise ValueError("`parameters` and `losses` have to be positive, 1-D and of the same length")
    ax = _axes(ax, (6.5, 4))
    ax.plot(n, y, "o", color=OKABE_ITO[7], ms=7, label="measured", zorder=3)
    top = max(n.max(), extrapolate_to or 0)
    for i, (label, law) in enumerate((laws or {}).items()):
        colour = OKABE_ITO[(i + 1) % len(OKABE_ITO)]
        inside = np.geomspace(n.min(), n.max(), 100)
        ax.plot(inside, law(inside), color=colour, lw=1.6, label=label)
        if top > n.max():
            outside = np.geomspace(n.max(), top, 50)
            ax.plot(outside, law(outside), color=colour, lw=1.2, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    # A loss spans less than a decade: label it at round values (1.2, 1.4, ..., 2, 2.5, 3),
    # written plainly (2.5 rather than 2.5 x 10^0); only those inside the view are drawn.
    ax.yaxis.set_major_locator(FixedLocator(_LOSS_TICKS))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("non-embedding parameters N (log scale)")
    ax.set_ylabel("validation loss (nats / token, log scale)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
