"""llm_book.diagrams: each diagram draws without error, returns its Axes and shows the labels it promises."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from llm_book.diagrams import arrow, box, canvas  # noqa: E402


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_canvas_box_and_arrow():
    ax = canvas(width=4, height=3)
    assert ax.get_xlim() == (0, 4) and ax.get_ylim() == (0, 3)
    box(ax, 1, 1, 2, 1, "LayerNorm")
    arrow(ax, (2, 2), (2, 3))
    assert texts(ax) == ["LayerNorm"] and len(ax.patches) == 2
    plt.close(ax.figure)


def test_pretrain_finetune_pipeline_shows_both_stages_and_three_uses():
    from llm_book.diagrams import pretrain_finetune_pipeline

    ax = pretrain_finetune_pipeline()
    shown = " ".join(texts(ax))
    for phrase in ("Stage 1: pretraining", "Stage 2", "fine-tuning", "linear probe", "in-context learning",
                   "no gradient update", "self-supervised"):
        assert phrase in shown, phrase
    plt.close(ax.figure)
    fig, ax = plt.subplots()
    assert pretrain_finetune_pipeline(ax=ax) is ax
    plt.close(fig)


def test_transformer_block_shows_the_pre_ln_order():
    from llm_book.diagrams import transformer_block

    ax = transformer_block(n_layer="N")
    shown = " ".join(texts(ax))
    for label in ("LayerNorm", "masked multi-head", "FFN", r"x + \mathrm{Attn}(\mathrm{LN}(x))",
                  r"x + \mathrm{FFN}(\mathrm{LN}(x))", "repeated × N", "final LayerNorm", "softmax"):
        assert label in shown, label
    assert texts(ax).count("LayerNorm") == 2 and texts(ax).count("+") == 2   # one LN and one sum per sub-layer
    plt.close(ax.figure)


def test_qkv_heads_splits_into_heads_of_width_d_k():
    import pytest

    from llm_book.diagrams import qkv_heads

    ax = qkv_heads(T=6, C=64, n_head=4)
    shown = texts(ax)
    for name in "QKV":
        assert [f"${name}_{{{i}}}$" for i in range(1, 5)] == [t for t in shown if t.startswith(f"${name}_")]
    assert any("d_k = C/h = 16" in t for t in shown)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"`C` \(=64\) has to be divisible by `n_head` \(=5\)"):
        qkv_heads(C=64, n_head=5)


def test_causal_mask_diagram_marks_the_past_kept_and_the_future_masked():
    import pytest

    from llm_book.diagrams import causal_mask_diagram

    ax = causal_mask_diagram(["The", "cat", "sat", "on"], highlight=1)
    shown = texts(ax)
    assert shown.count("✓") == 4 * 5 // 2 + 1                  # the lower triangle, plus the legend's
    assert shown.count(r"$-\infty$") == 4 * 3 // 2 + 1         # the future, plus the legend's
    assert any("'cat' sees $x_{1}$, $x_{2}$" in t for t in shown)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="highlight"):
        causal_mask_diagram(["a", "b"], highlight=2)
    with pytest.raises(ValueError, match="at least 2"):
        causal_mask_diagram(["a"])


def test_box_alpha_is_the_fill_opacity():
    ax = canvas()
    solid, light = box(ax, 0, 0, 1, 1, "a"), box(ax, 2, 0, 1, 1, "b", alpha=0.2)
    assert solid.get_facecolor()[3] == 1.0 and light.get_facecolor()[3] == 0.2
    assert light.get_edgecolor()[3] == 1.0
    plt.close(ax.figure)


def test_gpt_block_code_names_the_attributes_of_llm_book_model():
    from llm_book.diagrams import gpt_block_code
    from llm_book.model import GPT, GPTConfig

    ax = gpt_block_code()
    shown = " ".join(texts(ax))
    names = ("wte", "wpe", "blocks[i]", "ln_1", "attn", "query", "key", "value", "out", "ln_2", "mlp", "fc",
             "act", "proj", "ln_f", "lm_head")
    for name in names:
        assert name in shown, name
    model = GPT(GPTConfig(vocab_size=10, n_embd=8, n_head=2, n_layer=1, block_size=4))
    block = model.blocks[0]
    for module, attrs in ((model, ("wte", "wpe", "ln_f", "lm_head")), (block, ("ln_1", "attn", "ln_2", "mlp")),
                          (block.attn, ("query", "key", "value", "out")), (block.mlp, ("fc", "act", "proj"))):
        for attr in attrs:                                          # the names on the picture exist in the code
            assert hasattr(module, attr), attr
    plt.close(ax.figure)


def test_kv_cache_diagram_shows_stored_and_new_keys_and_values():
    import pytest

    from llm_book.diagrams import kv_cache_diagram

    ax = kv_cache_diagram(T=4, n_layer=2)
    shown = texts(ax)
    assert shown.count("$k_{1}$") == 2 and shown.count("$v_{4}$") == 2   # stored, in each of the 2 layers
    assert shown.count("$q_{5}$") == 2 and shown.count("$k_{5}$") == 2   # the new token's q and k per layer
    assert any("(batch, heads, T, head_dim)" in t for t in shown)
    assert not any("$q_{4}$" in t for t in shown)                        # no query for the stored tokens
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="at least 1"):
        kv_cache_diagram(T=0)


def test_rope_rotation_diagram_shows_the_same_angle_for_the_same_distance():
    import pytest

    from llm_book.diagrams import rope_rotation_diagram

    fig = rope_rotation_diagram(pairs=((2, 5), (6, 9)), step=0.3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["m=2, n=5: angle between = 0.50 rad", "m=6, n=9: angle between = 0.50 rad"]
    assert "q at m=6" in texts(fig.axes[1]) and "k at n=9" in texts(fig.axes[1])
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    assert rope_rotation_diagram(axes=axes) is fig
    plt.close(fig)
    with pytest.raises(ValueError, match=r"`step` \(=0\) has to be a positive angle"):
        rope_rotation_diagram(step=0)
    with pytest.raises(ValueError, match=r"`pairs` .* non-empty sequence of \(m, n\)"):
        rope_rotation_diagram(pairs=())
    fig, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match=r"`axes` has 3 Axes; `pairs` needs 2"):
        rope_rotation_diagram(axes=axes)
    plt.close(fig)


def test_grouped_query_diagram_links_each_query_head_to_its_kv_head():
    import pytest

    from llm_book.diagrams import grouped_query_diagram

    ax = grouped_query_diagram(n_query=8, kv_heads=(8, 2, 1))
    shown = " ".join(texts(ax))
    for phrase in ("multi-head", "grouped-query", "multi-query", "k1,v1", "16 head", "4 head", "2 head",
                   "4× fewer", "8× fewer"):
        assert phrase in shown, phrase
    assert len(ax.lines) == 3 * 8                                   # one line per query head and row
    plt.close(ax.figure)
    with pytest.raises(ValueError,
                       match=r"`kv_heads` \(=\(3,\)\) has to hold counts that divide `n_query` \(=8\)"):
        grouped_query_diagram(kv_heads=(3,))
    with pytest.raises(ValueError, match=r"`n_query` \(=0\)"):
        grouped_query_diagram(n_query=0)


def test_mlp_dataflow_diagram_shows_gelu_mlp_and_swiglu():
    from llm_book.diagrams import mlp_dataflow_diagram

    ax = mlp_dataflow_diagram()
    shown = " ".join(texts(ax))
    for phrase in ("fc: C → 4C", "GELU", "proj: 4C → C", "gate: C → H", "up: C → H", "SiLU", "×", "down: H → C"):
        assert phrase in shown, phrase
    plt.close(ax.figure)
    fig, ax = plt.subplots()
    assert mlp_dataflow_diagram(ax=ax) is ax
    plt.close(fig)
