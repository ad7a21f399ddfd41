"""Pictures of the ideas: diagrams drawn with matplotlib from code.

A picture before the formula (Jay Alammar's way): a Transformer block, the
split of Q, K and V into heads, the pretrain -> fine-tune pipeline, what a
causal mask lets each position see.  They are drawn from code, not loaded from
image files, so they show the same on the website, on GitHub, in Jupyter and
in Colab (where a relative image path does not resolve).

Each function takes ``ax=None`` (a new figure when None) and returns the
``Axes``; it never calls ``plt.show()``.  Labels use the article's notation.
Colours are the colour-blind-safe Okabe-Ito palette of ``llm_book.plotting``.
Helpers shared by the diagrams (``box``, ``arrow``) are at the top.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from llm_book.plotting import OKABE_ITO


def canvas(ax=None, width: float = 8.0, height: float = 5.0, figsize: tuple[float, float] | None = None):
    """An empty drawing area with data coordinates ``[0, width] x [0, height]`` and no axes shown."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize or (width, height))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def box(ax, x: float, y: float, w: float, h: float, text: str, color: str = OKABE_ITO[0],
        fontsize: float = 10, alpha: float = 1.0, text_color: str = "black"):
    """A rounded box with its lower left corner at (x, y) and ``text`` in its middle; returns the patch.

    ``alpha`` is the opacity of the fill (1: solid); the outline stays solid.
    """
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                           facecolor=(*to_rgb(color), alpha), edgecolor=color, linewidth=1.5)
    ax.add_patch(patch)
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, color=text_color)
    return patch


def arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = "#444444",
          style: str = "-|>", linewidth: float = 1.4, connectionstyle: str = "arc3,rad=0"):
    """An arrow from ``start`` to ``end`` (data coordinates); returns the patch."""
    patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color,
                            linewidth=linewidth, connectionstyle=connectionstyle, shrinkA=0, shrinkB=0)
    ax.add_patch(patch)
    return patch


# --- Chapter 2: the pretrain -> fine-tune pipeline ---

def pretrain_finetune_pipeline(ax=None):
    """The two-stage recipe (GPT, BERT) and the three ways to use a pretrained model.

    Top row: unlabelled text -> pretraining (next-word prediction, self-supervised) -> pretrained
    weights.  Bottom row, from those weights: fine-tuning (a head, every weight updated on a few
    labels), a linear probe (the body frozen), and in-context learning (examples in the prompt, no
    gradient update at all).
    """
    ax = canvas(ax, width=12.0, height=6.2, figsize=(11, 5.7))
    blue, orange, green, red, purple = OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[3], OKABE_ITO[4]
    ax.text(0.1, 5.95, "Stage 1: pretraining (once, expensive)", fontsize=11, weight="bold", va="center")
    box(ax, 0.2, 4.2, 3.2, 1.3, "lots of unlabelled text\n(no labels: the next word\nis the target)", blue,
        text_color="white")
    box(ax, 4.4, 4.2, 3.2, 1.3, "pretraining\nminimise $-\\log P(w_t \\mid w_{<t})$\n(self-supervised)", blue,
        text_color="white")
    box(ax, 8.6, 4.2, 3.2, 1.3, "pretrained model\nweights $\\theta_0$", green, fontsize=11, text_color="white")
    arrow(ax, (3.45, 4.85), (4.35, 4.85))
    arrow(ax, (7.65, 4.85), (8.55, 4.85))
    ax.text(0.1, 3.45, "Stage 2: adapt to a task", fontsize=11, weight="bold", va="center")
    uses = [(0.2, "fine-tuning\nnew head + every weight\nupdated on a few labels", orange, "black"),
            (4.4, "linear probe\nbody frozen; train only\na linear layer on labels", purple, "black"),
            (8.6, "in-context learning\nexamples in the prompt;\nno gradient update", red, "white")]
    for x, text, colour, text_colour in uses:
        box(ax, x, 1.6, 3.2, 1.3, text, colour, text_color=text_colour)
        arrow(ax, (10.2, 4.15), (x + 1.6, 2.95))
    box(ax, 0.2, 0.1, 7.4, 0.9, "a few labelled examples (x, y)", orange)
    arrow(ax, (1.8, 1.05), (1.8, 1.55))
    arrow(ax, (6.0, 1.05), (6.0, 1.55))
    box(ax, 8.6, 0.1, 3.2, 0.9, "a prompt: k examples + query", red, text_color="white")
    arrow(ax, (10.2, 1.05), (10.2, 1.55))
    return ax


# ---------------------------------------------------------------------------
# Chapter 3: the pre-LayerNorm Transformer block, and Q/K/V split into heads
# ---------------------------------------------------------------------------
_GREY = "#CCCCCC"  # neutral boxes (inputs, weight matrices); ``box`` fills with its colour


def _add_circle(ax, x: float, y: float, r: float = 0.22, color: str = "#444444"):
    """The residual addition: a circled plus on the residual stream."""
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor=color, linewidth=1.5, zorder=3))
    ax.text(x, y, "+", ha="center", va="center", fontsize=13, zorder=4)


def transformer_block(ax=None, n_layer: str = "N"):
    """A pre-LayerNorm decoder block (GPT-2's order), stacked ``n_layer`` times, between embedding and output.

    The residual stream runs straight up; each sub-layer reads ``LN(x)`` on a side branch and adds its
    output back: ``x <- x + Attention(LN(x))``, then ``x <- x + FFN(LN(x))``.

    Args:
        ax: the Axes to draw on (a new figure when None).
        n_layer: how the stacking is written in the frame's label ("N", or a number).

    Returns:
        The Axes.
    """
    ax = canvas(ax, width=9.0, height=10.9, figsize=(6.2, 7.5))
    green, purple = OKABE_ITO[2], OKABE_ITO[4]
    sx = 3.0                                                        # the residual stream's x
    bx, bw = 4.4, 3.4                                               # side-branch boxes
    ax.text(sx, 0.3, r"tokens $x_1, \dots, x_T$", ha="center", va="center", fontsize=10)
    arrow(ax, (sx, 0.45), (sx, 0.8))
    box(ax, 1.2, 0.8, 3.6, 0.7, "token embedding + position embedding", color=OKABE_ITO[5], fontsize=9)
    # the block frame
    frame = FancyBboxPatch((0.25, 1.95), 8.4, 6.05, boxstyle="round,pad=0.02,rounding_size=0.15",
                           facecolor="none", edgecolor="#888888", linestyle="--", linewidth=1.2)
    ax.add_patch(frame)
    ax.text(8.5, 7.85, f"one block (pre-LN), repeated × {n_layer}", ha="right", va="top", fontsize=9,
            fontweight="bold", color="#555555")
    # residual stream: embedding -> add 1 -> add 2 -> out of the block
    add1, add2 = 4.35, 7.0
    arrow(ax, (sx, 1.5), (sx, add1 - 0.22), color="#222222", linewidth=2.2)
    arrow(ax, (sx, add1 + 0.22), (sx, add2 - 0.22), color="#222222", linewidth=2.2)
    ax.text(sx - 0.15, 2.9, "residual\nstream $x$", ha="right", va="center", fontsize=9, color="#222222")
    # each branch: LayerNorm -> sub-layer (attention, then FFN) -> added back to the stream
    attention, ffn = "masked multi-head\nself-attention", "FFN\n" + r"$\mathrm{GELU}(xW_1+b_1)W_2+b_2$"
    for fork, ln_y, sub_y, sub_text, color, add, label in (
            (2.35, 2.1, 2.95, attention, OKABE_ITO[6], add1, r"$x + \mathrm{Attn}(\mathrm{LN}(x))$"),
            (5.0, 4.75, 5.6, ffn, green, add2, r"$x + \mathrm{FFN}(\mathrm{LN}(x))$")):
        arrow(ax, (sx, fork), (bx, fork))                                   # the branch reads the stream
        box(ax, bx, ln_y, bw, 0.5, "LayerNorm", color=purple, fontsize=9)
        arrow(ax, (bx + bw / 2, ln_y + 0.5), (bx + bw / 2, sub_y))
        box(ax, bx, sub_y, bw, 0.95, sub_text, color=color, fontsize=9)
        arrow(ax, (bx + bw / 2, sub_y + 0.95), (bx + bw / 2, add), style="-")
        arrow(ax, (bx + bw / 2, add), (sx + 0.22, add))
        _add_circle(ax, sx, add)
        ax.text(sx - 0.35, add, label, ha="right", va="center", fontsize=9)
    # after the stack: final LayerNorm, output layer, softmax
    arrow(ax, (sx, add2 + 0.22), (sx, 8.4), color="#222222", linewidth=2.2)
    box(ax, 1.7, 8.4, 2.6, 0.5, r"final LayerNorm ($\mathrm{ln_f}$)", color=purple, fontsize=9)
    arrow(ax, (sx, 8.9), (sx, 9.25))
    box(ax, 1.2, 9.25, 3.6, 0.6, "linear (to the vocabulary) + softmax", color=OKABE_ITO[1], fontsize=9)
    arrow(ax, (sx, 9.85), (sx, 10.25))
    ax.text(sx, 10.55, r"$P(x_{t+1} \mid x_1, \dots, x_t)$ at every position $t$", ha="center", va="center",
            fontsize=10)
    return ax


def qkv_heads(ax=None, T: int = 6, C: int = 64, n_head: int = 4):
    """The projections to queries, keys and values, and their split into heads of width ``d_k = C / n_head``.

    Args:
        ax: the Axes to draw on (a new figure when None).
        T, C, n_head: the sizes written on the picture (sequence length, model width, number of heads).

    Returns:
        The Axes.
    """
    if C % n_head:
        raise ValueError(f"`C` (={C}) has to be divisible by `n_head` (={n_head}).")
    d_k = C // n_head
    ax = canvas(ax, width=13.3, height=6.4, figsize=(10.5, 5.1))
    heads = [OKABE_ITO[i % 7] for i in (1, 2, 4, 5, 0, 3, 6)][:n_head] if n_head <= 7 else [OKABE_ITO[1]] * n_head
    box(ax, 0.1, 2.55, 1.7, 1.3, f"$h = \\mathrm{{LN}}(x)$\n$T \\times C$\n({T} × {C})", color=_GREY, fontsize=9)
    rows = [("Q", "W^Q", 4.6), ("K", "W^K", 2.8), ("V", "W^V", 1.0)]
    mx, mw = 4.0, 3.6                                              # the Q, K, V matrices
    for name, weight, y in rows:
        arrow(ax, (1.8, 3.2), (2.4, y + 0.4), connectionstyle="arc3,rad=0")
        box(ax, 2.4, y, 1.1, 0.8, f"$\\times\\, {weight}$\n$C \\times C$", color=_GREY, fontsize=9)
        arrow(ax, (3.5, y + 0.4), (mx - 0.05, y + 0.4))
        seg = mw / n_head
        for i in range(n_head):
            box(ax, mx + i * seg + 0.03, y, seg - 0.06, 0.8, f"${name}_{{{i + 1}}}$", color=heads[i], fontsize=9)
        ax.text(mx + mw / 2, y + 0.88, f"${name} = h\\,{weight}$:  $T \\times C$", ha="center", va="bottom",
                fontsize=9)
    ax.text(mx + mw / 2, 0.55, f"split into {n_head} heads of $d_k = C/h = {d_k}$ columns each",
            ha="center", va="center", fontsize=9)
    # one head's attention
    hx = 8.45
    box(ax, hx, 2.25, 2.65, 1.9, "each head $i$:\n"
        r"$\mathrm{softmax}\left(Q_i K_i^\top / \sqrt{d_k}\right) V_i$"
        "\n$T \\times d_k$", color=OKABE_ITO[6], fontsize=9)
    for _, _, y in rows:
        arrow(ax, (mx + mw + 0.05, y + 0.4), (hx, 3.2))
    box(ax, 11.5, 2.25, 1.65, 1.9, "concatenate\nthe heads,\n" r"$\times\, W^O$" "\n" r"$T \times C$",
        color=_GREY, fontsize=9)
    arrow(ax, (hx + 2.65, 3.2), (11.5, 3.2))
    ax.text(12.32, 1.75, "output", ha="center", va="center", fontsize=9)
    ax.text(hx + 1.32, 4.55, "(causal mask: $-\\infty$\nabove the diagonal)", ha="center", va="bottom", fontsize=8,
            color="#555555")
    return ax


def causal_mask_diagram(tokens=("The", "cat", "sat", "on", "the", "mat"), highlight: int | None = 2, ax=None):
    """What a causal mask (因果掩码) lets each position see: a grid of queries (rows) by keys (columns).

    A cell ✓ is a score $q_t \\cdot k_s / \\sqrt{d_k}$ that is kept (key $s \\le t$); a grey cell is a future
    key whose score is set to $-\\infty$ before the softmax, so its weight is exactly 0.

    Args:
        tokens: the sentence, one label per position.
        highlight: the row (0-based) to outline and explain, or None.
    """
    tokens = list(tokens)
    T = len(tokens)
    if T < 2:
        raise ValueError(f"`tokens` needs at least 2 positions to show a mask, got {T}")
    if highlight is not None and not 0 <= highlight < T:
        raise ValueError(f"`highlight` (={highlight!r}) has to be a row between 0 and {T - 1}, or None")
    s = 0.7                                                         # cell size
    gx, top = 2.2, 0.9 + T * s                                      # grid: left edge, top edge
    ax = canvas(ax, width=gx + T * s + 7.4, height=top + 1.5, figsize=(10.5, 0.7 * (top + 1.5)))
    for t in range(T):                                              # rows: the query position t
        y = top - (t + 1) * s
        ax.text(gx - 0.12, y + s / 2, f"$x_{{{t + 1}}}$ {tokens[t]}", ha="right", va="center", fontsize=10)
        for k in range(T):                                          # columns: the key position k
            x = gx + k * s
            seen = k <= t
            face = (*plt.matplotlib.colors.to_rgb(OKABE_ITO[0]), 0.35) if seen else (0.88, 0.88, 0.88, 1.0)
            ax.add_patch(plt.Rectangle((x, y), s, s, facecolor=face, edgecolor="white", linewidth=1.5,
                                       hatch=None if seen else "///"))
            ax.text(x + s / 2, y + s / 2, "✓" if seen else r"$-\infty$", ha="center", va="center",
                    fontsize=11 if seen else 8, color="black" if seen else "#666666")
    for k in range(T):
        ax.text(gx + k * s + s / 2, top + 0.1, f"$x_{{{k + 1}}}$ {tokens[k]}", ha="left", va="bottom",
                fontsize=9, rotation=45, rotation_mode="anchor")
    ax.text(gx + T * s / 2, 0.35, "key $s$: the position looked at", ha="center", va="center", fontsize=10)
    ax.text(0.25, top - T * s / 2, "query $t$: the position looking", ha="center", va="center", fontsize=10,
            rotation=90)
    tx = gx + T * s + 0.5                                           # the explanation on the right
    kept = (*plt.matplotlib.colors.to_rgb(OKABE_ITO[0]), 0.35)
    ax.add_patch(plt.Rectangle((tx, top - 1.0), 0.45, 0.45, facecolor=kept, edgecolor="white"))
    ax.text(tx + 0.225, top - 0.775, "✓", ha="center", va="center", fontsize=11)
    ax.text(tx + 0.65, top - 0.78, "kept: the score $q_t \\cdot k_s/\\sqrt{d_k}$, key $s \\leq t$",
            ha="left", va="center", fontsize=10)
    ax.add_patch(plt.Rectangle((tx, top - 1.75), 0.45, 0.45, facecolor=(0.88, 0.88, 0.88, 1.0), edgecolor="white",
                               hatch="///"))
    ax.text(tx + 0.225, top - 1.525, r"$-\infty$", ha="center", va="center", fontsize=8, color="#666666")
    ax.text(tx + 0.65, top - 1.53, "future key $s > t$: score set to $-\\infty$,\nso its softmax weight is 0",
            ha="left", va="center", fontsize=10)
    ax.text(tx, top - 2.55, "Each row's weights sum to 1 over its ✓ cells.\n"
            "Row 1 sees only itself: its weights are [1, 0, …, 0].", ha="left", va="center", fontsize=10)
    if highlight is not None:
        y = top - (highlight + 1) * s
        ax.add_patch(plt.Rectangle((gx, y), T * s, s, fill=False, edgecolor=OKABE_ITO[3], linewidth=2.5))
        seen = ", ".join(f"$x_{{{k + 1}}}$" for k in range(highlight + 1))
        ax.text(tx, top - 3.6, f"Row {highlight + 1} (outlined): {tokens[highlight]!r} sees {seen},\n"
                f"so its output can predict $x_{{{highlight + 2}}}$"
                + (f" ({tokens[highlight + 1]!r})" if highlight + 1 < T else "") + " without seeing it.",
                ha="left", va="center", fontsize=10, color=OKABE_ITO[3])
    return ax


# ---------------------------------------------------------------------------
# Chapter 5: the GPT block as llm_book.model builds it, and the key/value cache
# ---------------------------------------------------------------------------

def gpt_block_code(ax=None):
    """The ``GPT`` of ``llm_book.model``, each box labelled with the attribute that computes it.

    ``wte`` + ``wpe`` -> ``blocks[i]`` (``ln_1`` -> ``attn`` (``query``, ``key``, ``value`` -> heads -> ``out``)
    added to the stream, then ``ln_2`` -> ``mlp`` (``fc`` -> ``act`` -> ``proj``) added) -> ``ln_f`` ->
    ``lm_head``; with the shapes of the tensors between them.

    Returns:
        The Axes.
    """
    ax = canvas(ax, width=11.6, height=11.6, figsize=(8.0, 8.0))
    green, purple, sky = OKABE_ITO[2], OKABE_ITO[4], OKABE_ITO[5]
    sx, bx, bw = 3.3, 5.3, 4.6                                      # residual stream x; branch boxes
    ax.text(sx, 0.25, "idx: token ids (B, T)", ha="center", va="center", fontsize=9, family="monospace")
    arrow(ax, (sx, 0.42), (sx, 0.75))
    box(ax, 1.0, 0.75, 2.1, 0.6, "wte(idx)\ntoken emb.", color=sky, fontsize=8)
    box(ax, 3.5, 0.75, 2.1, 0.6, "wpe(positions)\nposition emb.", color=sky, fontsize=8)
    arrow(ax, (2.05, 1.35), (sx - 0.2, 1.68))
    arrow(ax, (4.55, 1.35), (sx + 0.2, 1.68))
    _add_circle(ax, sx, 1.85, r=0.18)
    ax.text(sx + 0.35, 2.1, "x: (B, T, C)", ha="left", va="center", fontsize=8, family="monospace")
    frame = FancyBboxPatch((0.1, 2.45), 11.3, 5.7, boxstyle="round,pad=0.02,rounding_size=0.15",
                           facecolor="none", edgecolor="#888888", linestyle="--", linewidth=1.2)
    ax.add_patch(frame)
    ax.text(11.3, 8.05, "blocks[i], i = 0 … n_layer − 1", ha="right", va="top", fontsize=9,
            fontweight="bold", color="#555555", family="monospace")
    add1, add2 = 5.0, 7.6
    arrow(ax, (sx, 2.03), (sx, add1 - 0.2), color="#222222", linewidth=2.2)
    arrow(ax, (sx, add1 + 0.2), (sx, add2 - 0.2), color="#222222", linewidth=2.2)
    ax.text(sx - 0.2, 3.6, "residual\nstream x", ha="right", va="center", fontsize=9)
    for fork, ln_name, sub_y, sub_text, color, add, label in (
            (2.75, "ln_1", 3.55, "attn: query, key, value\n→ split into heads → attention\n→ merge → out",
             OKABE_ITO[6], add1, "x + attn(ln_1(x))"),
            (5.4, "ln_2", 6.2, "mlp: fc (C → 4C) → act (GELU)\n→ proj (4C → C)", green, add2,
             "x + mlp(ln_2(x))")):
        arrow(ax, (sx, fork), (bx, fork))
        box(ax, bx, fork - 0.22, bw, 0.45, ln_name + " (LayerNorm)", color=purple, fontsize=8)
        arrow(ax, (bx + bw / 2, fork + 0.23), (bx + bw / 2, sub_y))
        box(ax, bx, sub_y, bw, 0.9 if ln_name == "ln_1" else 0.7, sub_text, color=color, fontsize=8)
        top = sub_y + (0.9 if ln_name == "ln_1" else 0.7)
        arrow(ax, (bx + bw / 2, top), (bx + bw / 2, add), style="-")
        arrow(ax, (bx + bw / 2, add), (sx + 0.22, add))
        _add_circle(ax, sx, add)
        ax.text(sx - 0.3, add, label, ha="right", va="center", fontsize=8, family="monospace")
    arrow(ax, (sx, add2 + 0.22), (sx, 8.55), color="#222222", linewidth=2.2)
    box(ax, 2.0, 8.55, 2.6, 0.5, "ln_f (LayerNorm)", color=purple, fontsize=8)
    arrow(ax, (sx, 9.05), (sx, 9.4))
    box(ax, 1.3, 9.4, 4.0, 0.6, "lm_head (C → vocab)\nweight tied to wte", color=OKABE_ITO[1], fontsize=8)
    arrow(ax, (sx, 10.0), (sx, 10.4))
    ax.text(sx, 10.7, "logits: (B, T, vocab)", ha="center", va="center", fontsize=9, family="monospace")
    ax.text(6.2, 9.7, "attribute names are those of\nllm_book.model.GPT; C = n_embd", ha="left", va="center",
            fontsize=8, color="#555555")
    return ax


def kv_cache_diagram(ax=None, T: int = 4, n_layer: int = 2):
    """The key/value cache during generation: what is stored and what one step computes.

    Stored, for every layer: the keys and the values of the ``T`` tokens so far, each a tensor of shape
    ``(batch, heads, T, head_dim)``.  One step feeds only the new token ``x_{T+1}``: each layer computes its
    query, key and value (one position), appends the key and value to the cache, and the new query
    attends over all ``T + 1`` cached keys.

    Returns:
        The Axes.
    """
    if T < 1 or n_layer < 1:
        raise ValueError(f"`T` (={T}) and `n_layer` (={n_layer}) have to be at least 1")
    s = 0.8                                                         # cell width
    gx = 2.3                                                        # left edge of the cached cells
    width = gx + (T + 1) * s + 6.4
    height = 1.6 + n_layer * 2.6 + 1.2
    ax = canvas(ax, width=width, height=height, figsize=(0.78 * width, 0.78 * height))
    blue, orange = OKABE_ITO[0], OKABE_ITO[1]
    ax.text(0.1, height - 0.4, "KV cache: per layer, keys and values of the tokens so far, shape "
            "(batch, heads, T, head_dim)", fontsize=10, fontweight="bold", va="center")
    tx = gx + (T + 1) * s + 0.5                                     # the explanations on the right
    for layer in range(n_layer):
        y0 = 1.6 + (n_layer - 1 - layer) * 2.6
        ax.text(0.1, y0 + 1.95, f"layer {layer}  (blocks[{layer}].attn)", fontsize=9, va="center")
        for row, name in ((1, "k"), (0, "v")):
            y = y0 + row * 0.85
            ax.text(gx - 0.15, y + 0.35, f"{name.upper()} cache", ha="right", va="center", fontsize=9)
            for t in range(T):
                box(ax, gx + t * s + 0.04, y, s - 0.08, 0.7, f"${name}_{{{t + 1}}}$", color=blue, alpha=0.35,
                    fontsize=9)
            box(ax, gx + T * s + 0.04, y, s - 0.08, 0.7, f"${name}_{{{T + 1}}}$", color=orange, fontsize=9)
        box(ax, tx, y0 + 0.2, 1.0, 0.9, f"$q_{{{T + 1}}}$", color=orange, fontsize=10)
        arrow(ax, (tx - 0.05, y0 + 0.95), (gx + (T + 1) * s + 0.05, y0 + 1.2), connectionstyle="arc3,rad=0.2")
        ax.text(tx + 1.2, y0 + 0.65, f"the new query attends over\nall {T + 1} keys (stored + new),\n"
                f"weights the {T + 1} values", ha="left", va="center", fontsize=8)
    box(ax, gx + T * s + 0.04, 0.25, s - 0.08, 0.7, f"$x_{{{T + 1}}}$", color=orange, fontsize=9)
    ax.text(gx + T * s - 0.15, 0.6, f"one step feeds only the new token $x_{{{T + 1}}}$:", ha="right", va="center",
            fontsize=9)
    ax.text(tx, 0.6, f"computed this step (orange): $q$, $k$, $v$ of\n$x_{{{T + 1}}}$ only, in every layer; "
            "$k$ and $v$\nare appended to the cache (T → T + 1)", ha="left", va="center", fontsize=8)
    ax.text(gx, 1.2, f"stored (blue): $x_1 … x_{T}$, computed at earlier steps, never again",
            ha="left", va="center", fontsize=8, color="#333333")
    return ax


# --- Chapter 12: the modern block's changes, one picture each ---

def rope_rotation_diagram(pairs=((2, 5), (6, 9)), step: float = 0.3, axes=None):
    """RoPE on one pair of dimensions: the query turned by ``m * step``, the key by ``n * step``.

    One panel per ``(m, n)`` in ``pairs``.  Each shows the unrotated query and key (dashed, grey), the rotated
    query at position ``m`` and key at position ``n`` (solid), and the angle between the rotated two.  When
    two pairs have the same ``m - n`` the angle between them, and so their dot product, is the same.

    Args:
        pairs: ``(m, n)`` positions of the query and the key, one panel each.
        step: the angle (radians) this pair of dimensions turns per position (``theta ** (-2i/d)``).
        axes: a sequence of ``len(pairs)`` Axes (a new figure when None).

    Returns:
        The Figure.
    """
    import math

    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError(f"`pairs` (={pairs}) has to be a non-empty sequence of (m, n) positions")
    if not step > 0:
        raise ValueError(f"`step` (={step}) has to be a positive angle in radians")
    if axes is None:
        fig, axes = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs), 3.7))
        axes = [axes] if len(pairs) == 1 else list(axes)
    elif len(axes) != len(pairs):
        raise ValueError(f"`axes` has {len(axes)} Axes; `pairs` needs {len(pairs)}")
    blue, orange = OKABE_ITO[0], OKABE_ITO[1]
    q_angle, k_angle, q_len, k_len = 0.25, -0.15, 1.0, 0.8            # the unrotated query and key
    for ax, (m, n) in zip(axes, pairs):
        ax.set_xlim(-1.2, 1.2)
        ax.set_ylim(-1.2, 1.2)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.plot([-1.1, 1.1], [0, 0], color="#cccccc", linewidth=0.8)
        ax.plot([0, 0], [-1.1, 1.1], color="#cccccc", linewidth=0.8)
        for a, r, color in ((q_angle, q_len, blue), (k_angle, k_len, orange)):
            arrow(ax, (0, 0), (r * math.cos(a), r * math.sin(a)), color=color, linewidth=1.0).set_linestyle("--")
        qa, ka = q_angle + m * step, k_angle + n * step
        arrow(ax, (0, 0), (q_len * math.cos(qa), q_len * math.sin(qa)), color=blue, linewidth=2.2)
        arrow(ax, (0, 0), (k_len * math.cos(ka), k_len * math.sin(ka)), color=orange, linewidth=2.2)
        ax.text(1.12 * q_len * math.cos(qa), 1.12 * q_len * math.sin(qa), f"q at m={m}", color=blue,
                ha="center", va="center", fontsize=9)
        ax.text(1.22 * k_len * math.cos(ka), 1.22 * k_len * math.sin(ka), f"k at n={n}", color=orange,
                ha="center", va="center", fontsize=9)
        lo, hi = sorted((qa, ka))
        ts = [lo + (hi - lo) * i / 30 for i in range(31)]
        ax.plot([0.35 * math.cos(t) for t in ts], [0.35 * math.sin(t) for t in ts], color="#444444", linewidth=1.2)
        gap = abs(qa - ka)
        ax.set_title(f"m={m}, n={n}: angle between = {gap:.2f} rad", fontsize=9.5)
    fig = axes[0].figure
    fig.text(0.5, 0.02, "dashed: q and k before rotation; solid: q turned by m·θ, k by n·θ "
             f"(θ = {step} rad per position)", ha="center", fontsize=8.5, color="#444444")
    return fig


def grouped_query_diagram(ax=None, n_query: int = 8, kv_heads=(8, 2, 1)):
    """Multi-head, grouped-query and multi-query attention: which query heads share which key/value head.

    One row per entry of ``kv_heads``: ``n_query`` query heads on top, the key/value heads below, a line from
    each query head to the key/value head it reads.  The right column gives the KV cache per token and layer
    in head vectors (a key and a value per key/value head).

    Args:
        ax: the Axes to draw on (a new figure when None).
        n_query: the number of query heads.
        kv_heads: key/value head counts, one row each; each has to divide ``n_query``.

    Returns:
        The Axes.
    """
    if n_query < 1:
        raise ValueError(f"`n_query` (={n_query}) has to be at least 1")
    kv_heads = tuple(kv_heads)
    if not kv_heads or any(k < 1 or n_query % k for k in kv_heads):
        raise ValueError(f"`kv_heads` (={kv_heads}) has to hold counts that divide `n_query` (={n_query})")
    names = {n_query: "multi-head", 1: "multi-query"}
    s = 0.7                                                          # one head's box width
    width = 2.6 + n_query * s + 3.2
    height = 0.6 + 2.3 * len(kv_heads)
    ax = canvas(ax, width=width, height=height, figsize=(0.85 * width, 0.85 * height))
    blue, orange = OKABE_ITO[0], OKABE_ITO[1]
    x0 = 2.4
    for row, n_kv in enumerate(kv_heads):
        y = height - 0.4 - 2.3 * (row + 1) + 0.3
        name = names.get(n_kv, "grouped-query")
        ax.text(0.1, y + 1.0, f"{name}\n{n_query} q, {n_kv} kv", ha="left", va="center", fontsize=9,
                fontweight="bold")
        group = n_query // n_kv
        kv_w = s * group                                             # a kv head sits under its group
        for h in range(n_query):
            box(ax, x0 + h * s + 0.05, y + 1.45, s - 0.1, 0.5, f"q{h}", color=blue, alpha=0.35, fontsize=7.5)
        for j in range(n_kv):
            cx = x0 + j * kv_w + kv_w / 2
            bw = min(kv_w - 0.1, 1.2)
            box(ax, cx - bw / 2, y, bw, 0.55, f"k{j},v{j}", color=orange, alpha=0.55, fontsize=7.5)
            for h in range(j * group, (j + 1) * group):
                ax.plot([x0 + h * s + s / 2, cx], [y + 1.45, y + 0.55], color="#666666", linewidth=0.9)
        ax.text(x0 + n_query * s + 0.3, y + 0.95, f"KV cache per token\nand layer: {2 * n_kv} head\n"
                f"vectors ({n_query // n_kv}× fewer\nthan multi-head)" if n_kv != n_query else
                f"KV cache per token\nand layer: {2 * n_kv} head\nvectors", ha="left", va="center", fontsize=8)
    return ax


def mlp_dataflow_diagram(ax=None):
    """GPT-2's MLP (x -> fc -> GELU -> proj) beside SwiGLU (gate and up read x; silu(gate) * up -> down).

    Attribute names are those of ``llm_book.model.MLP`` and ``llm_book.model.SwiGLU``; C = n_embd.

    Returns:
        The Axes.
    """
    ax = canvas(ax, width=10.0, height=6.4, figsize=(8.0, 5.1))
    blue, orange, green = OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2]
    # GELU MLP, left
    cx = 2.2
    ax.text(cx, 6.05, "GPT-2: MLP", ha="center", fontsize=11, fontweight="bold")
    ax.text(cx, 0.3, "x  (C)", ha="center", va="center", fontsize=10)
    arrow(ax, (cx, 0.5), (cx, 1.0))
    box(ax, cx - 1.2, 1.0, 2.4, 0.7, "fc: C → 4C", color=blue, alpha=0.35, fontsize=9)
    arrow(ax, (cx, 1.7), (cx, 2.4))
    box(ax, cx - 1.2, 2.4, 2.4, 0.7, "GELU", color=green, alpha=0.35, fontsize=9)
    arrow(ax, (cx, 3.1), (cx, 4.4))
    box(ax, cx - 1.2, 4.4, 2.4, 0.7, "proj: 4C → C", color=blue, alpha=0.35, fontsize=9)
    arrow(ax, (cx, 5.1), (cx, 5.6))
    ax.text(cx, 5.75, "out  (C)", ha="center", va="center", fontsize=10)
    # SwiGLU, right
    gx, ux, mx = 5.6, 8.6, 7.1
    ax.text(mx, 6.05, "Llama: SwiGLU", ha="center", fontsize=11, fontweight="bold")
    ax.text(mx, 0.3, "x  (C)", ha="center", va="center", fontsize=10)
    arrow(ax, (mx - 0.3, 0.5), (gx, 1.0))
    arrow(ax, (mx + 0.3, 0.5), (ux, 1.0))
    box(ax, gx - 1.1, 1.0, 2.2, 0.7, "gate: C → H", color=orange, alpha=0.45, fontsize=9)
    box(ax, ux - 1.1, 1.0, 2.2, 0.7, "up: C → H", color=blue, alpha=0.35, fontsize=9)
    arrow(ax, (gx, 1.7), (gx, 2.4))
    box(ax, gx - 1.1, 2.4, 2.2, 0.7, "SiLU: z·σ(z)", color=green, alpha=0.35, fontsize=9)
    arrow(ax, (gx, 3.1), (mx - 0.25, 3.55))
    arrow(ax, (ux, 1.7), (mx + 0.25, 3.55))
    _add_circle(ax, mx, 3.75, r=0.25)
    ax.texts[-1].set_text("×")
    arrow(ax, (mx, 4.0), (mx, 4.4))
    box(ax, mx - 1.2, 4.4, 2.4, 0.7, "down: H → C", color=blue, alpha=0.35, fontsize=9)
    arrow(ax, (mx, 5.1), (mx, 5.6))
    ax.text(mx, 5.75, "out  (C)", ha="center", va="center", fontsize=10)
    ax.text(mx + 0.4, 3.75, "gate · up,\nelement by element", ha="left", va="center", fontsize=8)
    ax.text(mx, -0.05, "H ≈ (2/3)·4C: three matrices, the same parameters", ha="center", va="center",
            fontsize=8, color="#444444")
    return ax
