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
