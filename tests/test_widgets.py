"""The sampling and chain-rule figures, the plots they draw, and Chapter 11's chat box, without a front end.

(The explorers that replaced the ipywidgets ones run in the browser: tests/test_explorers.py and
tests/test_browser.py.)
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from llm_book.plotting import plot_distributions, plot_filtered_distribution, plot_sample_frequencies
from llm_book.widgets import sampled_continuations, sampling_figure


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bar_heights(ax) -> np.ndarray:
    return np.array([patch.get_height() for patch in ax.patches])


# ----------------------------------------------------------------------------
# plot helpers
# ----------------------------------------------------------------------------
TOKENS = ["a", "b", "c", "d"]


def test_plot_distributions_groups_one_bar_per_token_and_distribution():
    ax = plot_distributions({"T = 1": [0.1, 0.6, 0.3, 0.0], "T = 2": [0.2, 0.4, 0.3, 0.1]}, TOKENS, top=3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "c", "a"]  # ordered by the first
    assert np.allclose(bar_heights(ax), [0.6, 0.3, 0.1, 0.4, 0.3, 0.2])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["T = 1", "T = 2"]


def test_plot_distributions_errors():
    with pytest.raises(ValueError, match="`distributions` is empty"):
        plot_distributions({}, TOKENS)
    with pytest.raises(ValueError, match=r"`tokens` has to give one label per entry of `distributions\['x'\]` \(3\)"):
        plot_distributions({"x": [0.2, 0.3, 0.5]}, TOKENS)


def test_plot_filtered_distribution_greys_removed_tokens():
    before = torch.tensor([0.1, 0.5, 0.3, 0.1])
    after = torch.tensor([0.0, 0.625, 0.375, 0.0])
    ax = plot_filtered_distribution(before, after, TOKENS)
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == ["b", "c", "a", "d"]
    assert np.allclose(bar_heights(ax), [0.5, 0.3, 0.1, 0.1, 0.625, 0.375, 0.0, 0.0])
    grey = matplotlib.colors.to_rgba("#888888")
    assert [matplotlib.colors.to_rgba(t.get_color()) == grey for t in labels] == [False, False, True, True]
    assert ax.get_title() == "2 of the 4 shown tokens kept"


def test_plot_filtered_distribution_errors():
    with pytest.raises(ValueError, match=r"`before` has to be 1-D \(vocab,\), got shape \(1, 4\)"):
        plot_filtered_distribution([[0.25] * 4], [0.25] * 4, TOKENS)
    with pytest.raises(ValueError, match=r"one label per entry of `after` \(3\), got 4"):
        plot_filtered_distribution([0.25] * 4, [0.5, 0.25, 0.25], TOKENS)


def test_plot_sample_frequencies_counts_the_samples():
    ax = plot_sample_frequencies(torch.tensor([1, 1, 2, 1]), [0.2, 0.5, 0.3, 0.0], TOKENS)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "c", "a", "d"]
    assert np.allclose(bar_heights(ax), [0.75, 0.25, 0.0, 0.0])
    assert any("n = 4" in t.get_text() for t in ax.get_legend().get_texts())


@pytest.mark.parametrize("samples", [[], [0.5, 1.0], [0, 4], [-1]])
def test_plot_sample_frequencies_rejects_bad_samples(samples):
    with pytest.raises(ValueError, match=r"`samples` has to hold at least one integer token id in 0\.\.3"):
        plot_sample_frequencies(np.array(samples), [0.25] * 4, TOKENS)


# ----------------------------------------------------------------------------
# sampling_figure and sampled_continuations
# ----------------------------------------------------------------------------
def test_sampling_figure_shows_before_and_after(toy_gpt):
    model, tokenizer = toy_gpt
    ax = sampling_figure(model, tokenizer, ["The"], top_k=3, top=10)
    heights = bar_heights(ax)
    before, after = heights[:10], heights[10:]
    assert np.isclose(before.sum(), 1.0, atol=0.02)           # the 10 most probable hold nearly all
    assert (after > 0).sum() == 3 and np.isclose(after.sum(), 1.0, atol=1e-5)
    assert "top-k = 3" in ax.get_title() and "top-p = off" in ax.get_title()


def test_sampling_figure_zero_k_and_unit_p_mean_off(toy_gpt):
    model, tokenizer = toy_gpt
    off = bar_heights(sampling_figure(model, tokenizer, ["The", "cat"]))
    plt.close("all")
    zero = bar_heights(sampling_figure(model, tokenizer, ["The", "cat"], top_k=0, top_p=1.0))
    assert np.allclose(off, zero)
    half = len(off) // 2
    assert np.allclose(off[:half], off[half:], atol=1e-6)     # T = 1, no filter: nothing changes


def test_sampling_figure_temperature_flattens(toy_gpt):
    model, tokenizer = toy_gpt
    hot = bar_heights(sampling_figure(model, tokenizer, ["The"], temperature=3.0, top=8))
    assert hot[8] < hot[0]                                    # the top token loses probability


@pytest.mark.parametrize("kwargs, pattern", [
    ({"temperature": 0.0}, r"`temperature` \(=0\.0\) has to be a strictly positive"),
    ({"top_k": -1}, r"`k` \(=-1\) has to be an integer >= 1"),
    ({"top_p": 0.0}, r"`p` \(=0\.0\) has to be a float in \(0, 1\]"),
])
def test_sampling_figure_checks_settings(toy_gpt, kwargs, pattern):
    model, tokenizer = toy_gpt
    with pytest.raises(ValueError, match=pattern):
        sampling_figure(model, tokenizer, ["The"], **kwargs)


def test_sampling_figure_unknown_word(toy_gpt):
    model, tokenizer = toy_gpt
    with pytest.raises(ValueError, match="unknown word 'zebra'"):
        sampling_figure(model, tokenizer, ["The", "zebra"])


def test_sampled_continuations_are_seeded_sentences(toy_gpt):
    model, tokenizer = toy_gpt
    lines = sampled_continuations(model, tokenizer, ["The", "cats"], n=4, seed=3)
    assert len(lines) == 4
    assert all(line.startswith("The cats ") for line in lines)
    assert all(line.endswith("<eos>") and line.count("<eos>") == 1 for line in lines)
    assert sampled_continuations(model, tokenizer, ["The", "cats"], n=4, seed=3) == lines
    assert any(sampled_continuations(model, tokenizer, ["The", "cats"], n=4, seed=s) != lines for s in range(4, 8))


def test_sampled_continuations_with_top_k_one_is_greedy(toy_gpt):
    from llm_book.sampling import greedy

    model, tokenizer = toy_gpt
    lines = sampled_continuations(model, tokenizer, ["The"], n=3, top_k=1)
    best = greedy(model, torch.tensor([[0]]), 15, eos_id=tokenizer.eos_id)[0]
    words = tokenizer.decode(best)
    expected = " ".join(words[: words.index("<eos>") + 1])
    assert lines == [expected] * 3


# ----------------------------------------------------------------------------
# Chapter 6: the chat box
# ----------------------------------------------------------------------------
def test_chat_box_sends_messages_and_shows_the_conversation():
    from llm_book.dialogue import ChatSession
    from llm_book.pretrained import load_qa_gpt
    from llm_book.widgets import chat_box

    session = ChatSession(*load_qa_gpt())
    box = chat_box(session)
    text, send = box.children[0].children
    log = box.children[1]
    assert "Tell me a story" in log.value
    text.value = "The cat sat on the mat."           # Enter: the value arrives, the message is sent
    assert text.value == "" and len(session.transcript) == 1
    text.value = "Where did the cat sit?"
    send.click()                                     # already sent by the value change: not twice
    assert len(session.transcript) == 2
    assert "<b>model:</b> on the mat" in log.value and "Where did the cat sit?" in log.value
    text.value = "   "
    assert len(session.transcript) == 2              # blank messages are not sent
