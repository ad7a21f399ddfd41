"""Plot helpers: they draw what they are given, return their Axes, and reject mismatched input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from llm_book import plotting  # noqa: E402

ARTICLE_CHART = """graph LR
A[输入文本] --> B[Embedding层]
B --> C[Self-Attention层]
C --> D[前馈神经网络层]
D --> E[输出表示]
E --> F{任务}
F --> G[文本生成]
F --> H[文本分类]
F --> I[问答]
F --> J[...]"""


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------
# Chapters 2 and 3: flowchart, generation steps, information flow, similarity, label curves
# ----------------------------------------------------------------------------
def test_parse_mermaid_reads_the_articles_chart():
    nodes, edges, direction = plotting.parse_mermaid(ARTICLE_CHART)
    assert direction == "LR"
    assert list(nodes) == list("ABCDEFGHIJ")
    assert nodes["A"] == ("输入文本", "box") and nodes["F"] == ("任务", "diamond")
    assert edges[:2] == [("A", "B"), ("B", "C")] and ("F", "J") in edges and len(edges) == 9


def test_parse_mermaid_chains_and_bare_ids():
    nodes, edges, direction = plotting.parse_mermaid("graph TD\nA[start] --> B(round) --> C\nC --> A")
    assert direction == "TD" and nodes["B"] == ("round", "round") and nodes["C"] == ("C", "box")
    assert edges == [("A", "B"), ("B", "C"), ("C", "A")]


def test_parse_mermaid_errors():
    with pytest.raises(ValueError, match="`source` has to start with 'graph LR' or 'graph TD'"):
        plotting.parse_mermaid("sequenceDiagram\nA->>B: hi")
    with pytest.raises(ValueError, match="cannot read 'A -- B'"):
        plotting.parse_mermaid("graph LR\nA -- B")
    with pytest.raises(ValueError, match="has to be the text of a Mermaid flowchart"):
        plotting.parse_mermaid("")


def test_plot_flowchart_draws_every_node_with_labels_and_notes():
    labels = {"A": "Input text", "F": "Task"}
    ax = plotting.plot_flowchart(ARTICLE_CHART, labels=labels, notes={"B": "(1, 6, 64)"}, title="chart")
    texts = [t.get_text() for t in ax.texts]
    assert "Input text" in texts and "Task" in texts and "(1, 6, 64)" in texts and "Embedding层" in texts
    assert len(ax.patches) == 10                                  # one shape per node
    assert sum(1 for t in ax.texts if getattr(t, "arrow_patch", None) is not None) == 9   # one arrow per edge
    with pytest.raises(ValueError, match=r"`notes` names nodes \['Z'\] that the chart does not have"):
        plotting.plot_flowchart(ARTICLE_CHART, notes={"Z": "?"})


def test_plot_generation_steps_highlights_the_choices():
    steps = [({"cat": 0.2, "cats": 0.2, "dog": 0.15, "fox": 0.05}, "cats"),
             ({"sat": 0.4, "that": 0.2, "sleep": 0.2}, "that")]
    ax = plotting.plot_generation_steps(["The"], steps, top=2)
    texts = [t.get_text() for t in ax.texts]
    assert "cats\n0.20" in texts and "that\n0.20" in texts and "The" in texts
    assert "dog\n0.15" not in texts                             # only the top 2 per step
    with pytest.raises(ValueError, match=r"the chosen word 'bird' is not among its probabilities"):
        plotting.plot_generation_steps(["The"], [({"cat": 1.0}, "bird")])
    with pytest.raises(ValueError, match="`steps` is empty"):
        plotting.plot_generation_steps(["The"], [])
    with pytest.raises(ValueError, match=r"`top` \(=0\) has to be a positive integer"):
        plotting.plot_generation_steps(["The"], steps, top=0)


def test_plot_information_flow_both_kinds():
    words = "The cats that the dog chased sleep".split()
    rnn = plotting.plot_information_flow(words, "rnn", 1, 6)
    assert sum(1 for t in rnn.texts if getattr(t, "arrow_patch", None) is not None) == len(words) - 1
    attention = plotting.plot_information_flow(words, "attention", 1, 6)
    assert len(attention.patches) == len(words) * (len(words) - 1) // 2
    with pytest.raises(ValueError, match=r"`kind` \(='cnn'\) has to be 'rnn' or 'attention'"):
        plotting.plot_information_flow(words, "cnn")
    with pytest.raises(ValueError, match=r"`target` \(=7\) has to be a word index from 0 to 6"):
        plotting.plot_information_flow(words, "rnn", 0, 7)


def test_plot_similarity_matrix():
    sim = torch.eye(3)
    ax = plotting.plot_similarity_matrix(sim, ["a", "b", "c"], title="s")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert "1.00" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match=r"`similarity` has to be 2-D \(2, 2\) to match the labels"):
        plotting.plot_similarity_matrix(sim, ["a", "b"])


def test_plot_accuracy_vs_labels():
    ax = plotting.plot_accuracy_vs_labels([8, 16, 32], {"pretrained": [0.9, 1.0, 1.0], "scratch": [0.7, 0.9, 1.0]},
                                          spread={"scratch": [0.05, 0.02, 0.0]}, chance=0.25)
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "chance (0.25)"
    with pytest.raises(ValueError, match=r"`accuracies\['a'\]` needs one value per size \(3\), got 2"):
        plotting.plot_accuracy_vs_labels([8, 16, 32], {"a": [0.5, 0.6]})
    with pytest.raises(ValueError, match="`accuracies` is empty"):
        plotting.plot_accuracy_vs_labels([8], {})
    with pytest.raises(ValueError, match="`n_labels` has to be a non-empty list of positive sizes"):
        plotting.plot_accuracy_vs_labels([0, 8], {"a": [0.5, 0.6]})


# --- Chapters 1, 7 and 8: landmark timeline, scaling law, reliability diagram ---


def test_plot_landmark_timeline_draws_every_published_size():
    from llm_book.landmarks import load_landmarks

    models = load_landmarks()
    ax = plotting.plot_landmark_timeline(models, title="t")
    names = {t.get_text() for t in ax.texts}
    assert {m.name for m in models if m.parameters is not None} <= names
    assert any("GPT-4" in t.get_text() and "not published" in t.get_text() for t in ax.texts)
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    with pytest.raises(ValueError, match=r"`models` is empty"):
        plotting.plot_landmark_timeline([])


def test_plot_landmark_timeline_places_models_by_date_with_no_overlapping_names():
    from llm_book.landmarks import load_landmarks

    models = load_landmarks()
    fig, ax = plt.subplots(figsize=(10, 5))
    plotting.plot_landmark_timeline(models, ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    names = {m.name: m for m in models if m.parameters is not None}
    labels = [t for t in ax.texts if t.get_text() in names]
    for t in labels:  # each name points at its model's release date, not at its place in the list
        assert t.xy[0] == pytest.approx(names[t.get_text()].date)
    boxes = [t.get_window_extent(renderer) for t in labels]
    overlapping = [(a.get_text(), b.get_text()) for i, a in enumerate(labels) for j, b in enumerate(labels)
                   if i < j and boxes[i].overlaps(boxes[j])]
    assert not overlapping
    low, high = ax.get_ylim()  # the axis spans the sizes drawn, not empty decades above them
    assert high < 3.01 * max(m.parameters for m in names.values()) < 1e13
    plt.close(fig)


def test_plot_scaling_law_draws_points_and_fits():
    from llm_book.scaling import PowerLaw

    n, loss = [1e3, 1e4, 1e5], [3.0, 2.5, 2.1]
    ax = plotting.plot_scaling_law(n, loss, laws={"fit": PowerLaw(5.0, 0.08)}, extrapolate_to=1e6)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.lines) == 3, "points, the fit, and its dashed extrapolation"
    assert ax.lines[2].get_linestyle() == "--"
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    shown = [t for t in ax.get_yticks() if low <= t <= high]
    assert len(shown) >= 4, "a loss axis spanning less than a decade still gets several labelled ticks"
    assert {t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high} >= {"2.5", "3"}
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"`parameters` and `losses` have to be positive"):
        plotting.plot_scaling_law([1e3, 1e4], [1.0])


def test_plot_reliability_diagram_labels_each_ece():
    from llm_book.calibration import reliability_bins

    p = torch.tensor([0.1, 0.4, 0.8, 0.9])
    bins = {"model": reliability_bins(p, p), "worse": reliability_bins(p, torch.tensor([0.0, 1.0, 0.0, 1.0]))}
    ax = plotting.plot_reliability_diagram(bins)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "model (ECE 0.0000)" in labels and any(label.startswith("worse (ECE") for label in labels)
    ax.figure.canvas.draw()
    legend_box, axes_box = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend_box.y1 <= axes_box.y0, "the legend sits below the axes, over no point"
    first, second = ax.lines[1], ax.lines[2]
    assert first.get_marker() != second.get_marker() and first.get_color() != second.get_color()
    assert second.get_linestyle() == "--" and second.get_markerfacecolor() == "none"  # the one beneath shows
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"`bins` is empty"):
        plotting.plot_reliability_diagram({})


# --- Chapter 6: grouped scores, CJK font lookup, translation alignment ---

def test_cjk_font_is_a_known_family_or_none():
    from matplotlib import font_manager

    font = plotting.cjk_font()
    assert font is None or font in {f.name for f in font_manager.fontManager.ttflist}


def test_plot_grouped_scores_draws_one_bar_per_model_and_category():
    scores = {"pretrained": {"all": 0.7, "where": 0.2}, "scratch": {"all": 1.0, "where": 0.98}}
    ax = plotting.plot_grouped_scores(scores, title="t")
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.7, 0.2, 1.0, 0.98]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all", "where"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pretrained", "scratch"]
    with pytest.raises(ValueError, match=r"`scores` is empty"):
        plotting.plot_grouped_scores({})
    with pytest.raises(ValueError, match=r"`scores\['b'\]` has categories \['y'\], expected \['x'\]"):
        plotting.plot_grouped_scores({"a": {"x": 1.0}, "b": {"y": 1.0}})


def test_plot_alignment_labels_gold_boxes_and_no_missing_glyphs(monkeypatch):
    import warnings

    weights = torch.tensor([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    gold = torch.tensor([[0, 1, 0], [1, 0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would be a warning
        ax = plotting.plot_alignment(weights, ["The", "cat", "sat"], ["猫", "坐下"], gold=gold,
                                     fallback_labels=["māo", "zuòxià"], title="t")
        ax.figure.canvas.draw()
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == (["猫", "坐下"] if plotting.cjk_font() else ["māo", "zuòxià"])
    assert len([p for p in ax.patches if not p.get_fill()]) == 3  # one box per gold link
    # Without a CJK font the rows fall back to pinyin.
    monkeypatch.setattr(plotting.applications, "cjk_font", lambda: None)  # where plot_alignment looks it up
    ax = plotting.plot_alignment(weights, ["The", "cat", "sat"], ["猫", "坐下"], fallback_labels=["māo", "zuòxià"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["māo", "zuòxià"]


def test_plot_alignment_errors():
    with pytest.raises(ValueError, match=r"`weights` has to be 2-D \(2, 3\) \(target x source\), got shape \(3, 2\)"):
        plotting.plot_alignment(torch.zeros(3, 2), ["a", "b", "c"], ["x", "y"])
    with pytest.raises(ValueError, match=r"`fallback_labels` needs one label per target token \(2\), got 1"):
        plotting.plot_alignment(torch.zeros(2, 3), ["a", "b", "c"], ["x", "y"], fallback_labels=["x"])
    with pytest.raises(ValueError, match=r"`gold` has to have the shape of `weights`"):
        plotting.plot_alignment(torch.zeros(2, 3), ["a", "b", "c"], ["x", "y"], gold=torch.zeros(3, 3))


# --- Chapter 2 (second edition): the exact distribution stands out; seeds shown as points ---

def test_plot_distributions_draws_the_reference_as_an_outline_not_a_bar():
    tokens = ["a", "b", "c", "d"]
    ax = plotting.plot_distributions({"exact": [0.5, 0.3, 0.2, 0.0], "model": [0.4, 0.4, 0.1, 0.1],
                                      "other": [0.25, 0.25, 0.25, 0.25]}, tokens, top=3, reference="exact")
    outlines = [p for p in ax.patches if p.get_facecolor()[3] == 0]
    assert len(outlines) == 3 and len(ax.patches) == 3 * 3          # 3 outlines + 2 models x 3 tokens
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["exact", "model", "other"]
    assert len(ax.lines) == 1                                        # the reference's markers
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"`reference` \(='truth'\) has to be one of the labels"):
        plotting.plot_distributions({"exact": [0.5, 0.3, 0.2, 0.0]}, tokens, reference="truth")


def test_plot_accuracy_vs_labels_points_and_baseline_label():
    ax = plotting.plot_accuracy_vs_labels([8, 16], {"a": [0.8, 0.9]}, points={"a": [[0.7, 0.9], [0.85, 0.95]]},
                                          chance=0.39, chance_label="majority class")
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "majority class (0.39)"
    assert len(ax.lines) == 1 + 2 + 1                                 # the line, one dot group per size, baseline
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"`points\['a'\]` needs one list of runs per size \(2\), got 1"):
        plotting.plot_accuracy_vs_labels([8, 16], {"a": [0.8, 0.9]}, points={"a": [[0.7]]})


# ----------------------------------------------------------------------------
# Chapter 4: attention panels sharing one colour bar, the chain rule as one overlaid chart
# ----------------------------------------------------------------------------
def test_plot_attention_shared_colour_bar_and_highlight():
    fig, axes = plt.subplots(1, 2)
    weights = torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    for ax in axes:
        plotting.plot_attention(weights, ["a", "b"], ax=ax, colorbar=False, vmax=1.0, highlight=(1, 0))
    assert len(fig.axes) == 2                                   # no colour bar of their own
    assert axes[0].images[0].get_clim() == (0.0, 1.0)
    outlines = [p for p in axes[0].patches if isinstance(p, matplotlib.patches.Rectangle)]
    assert len(outlines) == 1 and outlines[0].get_xy() == (-0.5, 0.5)
    plotting.plot_attention(weights, ["a", "b"])                # the default keeps its own colour bar
    assert len(plt.gcf().axes) == 2
    with pytest.raises(ValueError, match="highlight"):
        plotting.plot_attention(weights, ["a", "b"], highlight=(2, 0))


def test_plot_chain_rule_overlays_exact_and_model_on_linear_bars():
    words = "The cat sat on the".split()
    fig, ax = plt.subplots()
    top = plotting.plot_chain_rule(words, [0.2, 0.4, 0.6, 0.8], ax=ax, model_conditionals=[0.2, 0.42, 0.59, 0.8])
    assert top.get_yscale() == "linear" and len(top.patches) == 8      # exact and model bars, one chart
    product = [a for a in fig.axes if a is not top]
    assert len(product) == 1 and product[0].get_yscale() == "log"
    assert product[0].lines[0].get_ydata()[-1] == pytest.approx(0.0384)
    assert len(product[0].lines) == 2
    with pytest.raises(ValueError, match="model_conditionals"):
        plotting.plot_chain_rule(words, [0.2, 0.4, 0.6, 0.8], model_conditionals=[0.2])
    with pytest.raises(ValueError, match="one probability per word"):
        plotting.plot_chain_rule(words, [0.2])


def test_plot_mask_draws_two_states_and_no_colourbar():
    import torch

    from llm_book.attention import causal_mask

    fig, ax = plt.subplots()
    plotting.plot_mask(causal_mask(3), ["a", "b", "c"], title="causal")
    ax = plt.gca()
    image = ax.images[0].get_array()
    assert image.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert len(ax.figure.axes) == 1 and ax.get_title() == "causal"  # no colourbar axes
    with pytest.raises(ValueError, match=r"`mask` has to be 2-D \(3, 2\)"):
        plotting.plot_mask(torch.ones(3, 3), ["a", "b", "c"], ["x", "y"])
    plt.close("all")


# ----------------------------------------------------------------------------
# The package: one module per kind of figure, every public name importable from llm_book.plotting
# ----------------------------------------------------------------------------

PLOTTING_MODULES = ["_common", "attention", "distributions", "flowcharts", "training", "timeline", "applications"]


def test_all_lists_every_public_function_of_the_submodules():
    import importlib
    import inspect

    defined = set()
    for name in PLOTTING_MODULES:
        module = importlib.import_module(f"llm_book.plotting.{name}")
        defined |= {n for n, obj in vars(module).items()
                    if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not n.startswith("_")}
    assert defined and defined <= set(plotting.__all__), sorted(defined - set(plotting.__all__))
    assert len(plotting.__all__) == len(set(plotting.__all__))
    for name in plotting.__all__:
        assert getattr(plotting, name) is not None
    assert "OKABE_ITO" in plotting.__all__ and len(plotting.OKABE_ITO) == 8


def test_each_plotting_module_reads_in_one_sitting():
    from pathlib import Path

    folder = Path(plotting.__file__).parent
    assert sorted(p.stem for p in folder.glob("*.py")) == sorted(PLOTTING_MODULES + ["__init__"])
    for path in folder.glob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines < 300, f"{path.name} has {lines} lines; split it by topic"
