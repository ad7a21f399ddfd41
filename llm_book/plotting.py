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
        threshold = 0.6 * float(w.max())
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if w[i, j] > threshold else "white")
    if highlight is not None:
        i, j = highlight
        if not (0 <= i < w.shape[0] and 0 <= j < w.shape[1]):
            raise ValueError(f"`highlight` (={highlight!r}) has to be a (query, key) cell inside the "
                             f"{w.shape[0]}x{w.shape[1]} matrix")
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=OKABE_ITO[3],
                                   linewidth=2.5, zorder=3))
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


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


def _labelled_probs(probs, tokens: Sequence[str] | None, name: str = "probs") -> np.ndarray:
    p = _as_array(probs)
    if p.ndim != 1:
        raise ValueError(f"`{name}` has to be 1-D (vocab,), got shape {p.shape}")
    if tokens is None or len(tokens) != len(p):
        n = None if tokens is None else len(tokens)
        raise ValueError(f"`tokens` has to give one label per entry of `{name}` ({len(p)}), got {n}")
    return p


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


# --- Chapters 2 and 3: flowcharts, generation steps, information flow, similarity, label curves ---

_MERMAID_NODE = r"([A-Za-z_][\w]*)\s*(?:\[([^\]]*)\]|\{([^}]*)\}|\(([^)]*)\))?"


def parse_mermaid(source: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]], str]:
    """Read a simple Mermaid flowchart (``graph LR``/``TD`` with ``A[text] --> B{text}`` lines).

    Returns:
        ``(nodes, edges, direction)``: ``{id: (text, shape)}`` with shape "box", "diamond"
        or "round"; ``[(from_id, to_id), ...]`` in order; "LR" or "TD".
    """
    import re

    if not isinstance(source, str) or not source.strip():
        raise ValueError("`source` has to be the text of a Mermaid flowchart, got an empty value")
    lines = [ln.strip() for ln in source.strip().splitlines() if ln.strip() and not ln.strip().startswith("%%")]
    header = re.fullmatch(r"(?:graph|flowchart)\s+(LR|RL|TD|TB|BT)", lines[0])
    if header is None:
        raise ValueError(f"`source` has to start with 'graph LR' or 'graph TD', got {lines[0]!r}")
    direction = "LR" if header.group(1) in ("LR", "RL") else "TD"
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str]] = []

    def node(match) -> str:
        ident, box, diamond, rnd = match.groups()
        text, shape = ((box, "box") if box is not None else (diamond, "diamond") if diamond is not None
                       else (rnd, "round") if rnd is not None else (None, "box"))
        if ident not in nodes or text is not None:
            nodes[ident] = (text if text is not None else nodes.get(ident, (ident, shape))[0], shape)
        return ident

    for line in lines[1:]:
        parts = re.split(r"\s*-->\s*", line)
        ids = []
        for part in parts:
            match = re.fullmatch(_MERMAID_NODE, part)
            if match is None:
                raise ValueError(f"cannot read {part!r} in the line {line!r}; expected A[text], "
                                 f"A{{text}} or A, joined by -->")
            ids.append(node(match))
        edges.extend(zip(ids, ids[1:]))
    return nodes, edges, direction


def plot_flowchart(source: str, labels: Mapping[str, str] | None = None,
                   notes: Mapping[str, str] | None = None, ax=None, title: str | None = None):
    """Draw a Mermaid flowchart with matplotlib (no JavaScript needed, so it shows everywhere).

    Nodes are placed in columns (``graph LR``) or rows (``graph TD``) by their
    distance from the start; decision nodes (``{...}``) are drawn as diamonds.

    Args:
        source: the Mermaid text (see ``parse_mermaid``).
        labels: optional ``{node id: text}`` replacing a node's text (e.g. a translation).
        notes: optional ``{node id: text}`` written in small type under a node (e.g. a shape).
    """
    from matplotlib.patches import FancyBboxPatch, Polygon

    nodes, edges, direction = parse_mermaid(source)
    labels, notes = dict(labels or {}), dict(notes or {})
    for name, mapping in (("labels", labels), ("notes", notes)):
        unknown = sorted(set(mapping) - set(nodes))
        if unknown:
            raise ValueError(f"`{name}` names nodes {unknown} that the chart does not have; "
                             f"its nodes are {list(nodes)}")
    depth = {n: 0 for n in nodes}
    for _ in range(len(nodes)):  # longest distance from a start node (the chart has no cycles)
        for a, b in edges:
            depth[b] = max(depth[b], depth[a] + 1)
    columns: dict[int, list[str]] = {}
    for n in nodes:
        columns.setdefault(depth[n], []).append(n)
    width = max(columns) + 1
    height = max(len(c) for c in columns.values())
    pos = {}
    for d, members in columns.items():
        for i, n in enumerate(members):
            offset = (len(members) - 1) / 2 - i
            pos[n] = (d * 2.2, offset * 1.3) if direction == "LR" else (-offset * 2.4, -d * 1.4)
    if ax is None:
        size = (2.2 * width + 1, 1.3 * height + 1.2) if direction == "LR" else (2.4 * height + 1, 1.4 * width + 1)
        _, ax = plt.subplots(figsize=size)
    half_w, half_h = 0.95, 0.42
    for n, (x, y) in pos.items():
        text, shape = nodes[n]
        text = labels.get(n, text)
        if shape == "diamond":
            patch = Polygon([(x - half_w, y), (x, y + 0.55), (x + half_w, y), (x, y - 0.55)],
                            closed=True, facecolor=OKABE_ITO[1], alpha=0.35, edgecolor="black")
        else:
            patch = FancyBboxPatch((x - half_w, y - half_h), 2 * half_w, 2 * half_h,
                                   boxstyle="round,pad=0.02,rounding_size=0.15" if shape == "round"
                                   else "square,pad=0.02", facecolor=OKABE_ITO[5], alpha=0.35,
                                   edgecolor="black")
        ax.add_patch(patch)
        ax.text(x, y + (0.1 if n in notes else 0), text, ha="center", va="center", fontsize=8.5)
        if n in notes:
            ax.text(x, y - 0.25, notes[n], ha="center", va="center", fontsize=7, color=OKABE_ITO[3],
                    family="monospace")
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        if direction == "LR":
            start, end = (xa + half_w, ya), (xb - half_w, yb)
        else:
            start, end = (xa, ya - half_h), (xb, yb + half_h)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color="black", lw=1, shrinkA=1, shrinkB=1))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.1, max(xs) + 1.1)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def plot_generation_steps(prompt: Sequence[str], steps: Sequence[tuple[Mapping[str, float], str]],
                          top: int = 4, ax=None, title: str | None = None):
    """Generation word by word, as a chart of the choices: one column per step.

    Each column lists the ``top`` most probable next words with their
    probabilities; the word actually chosen is filled in colour and joined to
    the next step's choice by an arrow (a chosen word outside the top ones is added).

    Args:
        prompt: the words the generation started from.
        steps: one ``({word: probability}, chosen word)`` per generated word.
        top: candidates shown per step.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"`top` (={top!r}) has to be a positive integer")
    if len(steps) == 0:
        raise ValueError("`steps` is empty; give one (probabilities, chosen word) per generated word")
    columns = []
    for i, step in enumerate(steps):
        if len(step) != 2 or not isinstance(step[0], Mapping):
            raise ValueError(f"`steps[{i}]` has to be a pair ({{word: probability}}, chosen word)")
        probs, chosen = step
        if chosen not in probs:
            raise ValueError(f"`steps[{i}]`: the chosen word {chosen!r} is not among its probabilities")
        ranked = sorted(probs.items(), key=lambda kv: -kv[1])[:top]
        if chosen not in dict(ranked):
            ranked[-1] = (chosen, probs[chosen])
        columns.append((ranked, chosen))
    n = len(columns)
    ax = _axes(ax, (1.45 * (n + 1) + 0.5, 0.55 * top + 1.4))
    ax.text(0, 0, " ".join(prompt) if len(prompt) <= 3 else "… " + " ".join(prompt[-2:]),
            ha="center", va="center", fontsize=9, fontweight="bold",
            bbox=dict(boxstyle="round", facecolor="white", edgecolor="black"))
    previous = (0, 0)
    for j, (ranked, chosen) in enumerate(columns, start=1):
        for r, (word, p) in enumerate(ranked):
            y = -r * 0.55
            is_chosen = word == chosen
            ax.text(j * 1.45, y, f"{word}\n{p:.2f}", ha="center", va="center", fontsize=8,
                    bbox=dict(boxstyle="round", facecolor=OKABE_ITO[1] if is_chosen else "white",
                              edgecolor="black" if is_chosen else "#AAAAAA", alpha=0.9))
            if is_chosen:
                ax.annotate("", xy=(j * 1.45 - 0.42, y), xytext=(previous[0] + 0.42, previous[1]),
                            arrowprops=dict(arrowstyle="-|>", color=OKABE_ITO[3], lw=1.3))
                previous = (j * 1.45, y)
    ax.set_xlim(-0.8, n * 1.45 + 0.8)
    ax.set_ylim(-(top - 1) * 0.55 - 0.5, 0.5)
    ax.axis("off")
    ax.set_title(title or "each step: the most probable next words; the chosen one is filled")
    return ax


def plot_information_flow(tokens: Sequence[str], kind: str = "rnn", source: int | None = None,
                          target: int | None = None, causal: bool = True, ax=None,
                          title: str | None = None):
    """How information can travel between the words of a sentence in one layer.

    ``kind="rnn"``: each word's state feeds only the next one (a chain), so word i
    reaches word j after j - i steps.  ``kind="attention"``: every word is joined
    directly to every word it may attend to (only earlier ones when ``causal``).
    The path from ``source`` to ``target`` is drawn in colour.
    """
    if kind not in ("rnn", "attention"):
        raise ValueError(f"`kind` (={kind!r}) has to be 'rnn' or 'attention'")
    n = len(tokens)
    for name, value in (("source", source), ("target", target)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n):
            raise ValueError(f"`{name}` (={value!r}) has to be a word index from 0 to {n - 1}")
    from matplotlib.patches import FancyArrowPatch

    ax = _axes(ax, (1.0 * n + 1, 2.4))
    for i, tok in enumerate(tokens):
        ax.text(i, 0, tok, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", facecolor="white",
                          edgecolor=OKABE_ITO[3] if i in (source, target) else "black"))
    on_path = set()
    if source is not None and target is not None:
        if kind == "rnn":
            lo, hi = sorted((source, target))
            on_path = {(i, i + 1) for i in range(lo, hi)}
        else:
            on_path = {(min(source, target), max(source, target))}
    if kind == "rnn":
        for i in range(n - 1):
            hot = (i, i + 1) in on_path
            ax.annotate("", xy=(i + 1 - 0.35, 0), xytext=(i + 0.35, 0),
                        arrowprops=dict(arrowstyle="-|>", lw=2 if hot else 1,
                                        color=OKABE_ITO[3] if hot else "#777777"))
    else:
        for i in range(n):
            for j in range(i + 1, n):
                hot = (i, j) in on_path
                arc = FancyArrowPatch((i, 0.25), (j, 0.25), connectionstyle=f"arc3,rad=-{0.25 + 0.02 * (j - i)}",
                                      arrowstyle="-|>" if causal else "<|-|>", mutation_scale=8,
                                      lw=2 if hot else 0.6, color=OKABE_ITO[3] if hot else "#999999",
                                      zorder=3 if hot else 1)
                ax.add_patch(arc)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(-0.5, 0.35 + 0.16 * n if kind == "attention" else 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title)
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
        middle = (vmin + vmax) / 2
        for i in range(s.shape[0]):
            for j in range(s.shape[1]):
                ax.text(j, i, f"{s[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                        color="black" if s[i, j] > middle else "white")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
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


# --- Chapters 1, 7 and 8: landmark models, scaling laws, calibration ---

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


# --- Chapter 6: applications (question answering, translation alignment) ---

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
    import re

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
        threshold = 0.6 * float(w.max())
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                        color="black" if w[i, j] > threshold else "white")
    if gold is not None:
        g = _as_array(gold)
        if g.shape != w.shape:
            raise ValueError(f"`gold` has to have the shape of `weights` {w.shape}, got {g.shape}")
        for i, j in zip(*np.nonzero(g)):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.6,
                                       edgecolor=OKABE_ITO[1]))
    ax.set_xlabel("source word (English)")
    ax.set_ylabel("target word being written")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax
