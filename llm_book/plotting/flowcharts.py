"""Schematic charts drawn with matplotlib (so they show everywhere, with no JavaScript): Mermaid
flowcharts, generation word by word as a chart of choices, and how information travels between
words in an RNN or through attention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt

from llm_book.plotting._common import OKABE_ITO, _axes


_MERMAID_NODE = r"([A-Za-z_][\w]*)\s*(?:\[([^\]]*)\]|\{([^}]*)\}|\(([^)]*)\))?"


def parse_mermaid(source: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]], str]:
    """Read a simple Mermaid flowchart (``graph LR``/``TD`` with ``A[text] --> B{text}`` lines).

    Returns:
        ``(nodes, edges, direction)``: ``{id: (text, shape)}`` with shape "box", "diamond"
        or "round"; ``[(from_id, to_id), ...]`` in order; "LR" or "TD".
    """
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
