"""HTML views: deterministic, escaped, and checked arguments."""

from __future__ import annotations

import pytest

from llm_book.html_views import summary_html


def test_summary_html_highlights_and_numbers_the_chosen_sentences():
    sentences = ["First <b>sentence</b>.", "Second one.", "Third & last."]
    page = summary_html(sentences, [2, 0], scores=[0.5, 0.1, 0.9], title="A <title>")
    assert page == summary_html(sentences, [2, 0], scores=[0.5, 0.1, 0.9], title="A <title>")  # deterministic
    assert "First &lt;b&gt;sentence&lt;/b&gt;." in page and "Third &amp; last." in page
    assert "A &lt;title&gt;" in page
    assert page.count("background: #fde2b3") == 2
    assert page.index("<b>[1]</b> First") < page.index("<b>[2]</b> Third")  # numbered in document order
    assert "0.900" in page and "width: 100%" in page and "width: 0%" in page


def test_summary_html_without_scores():
    page = summary_html(["Only one."], [0])
    assert "score" not in page and "<b>[1]</b> Only one." in page


def test_summary_html_errors():
    with pytest.raises(ValueError, match=r"`sentences` has to be a non-empty list"):
        summary_html([], [])
    with pytest.raises(ValueError, match=r"`chosen` holds 3, not a sentence index in 0 .. 1"):
        summary_html(["a", "b"], [3])
    with pytest.raises(ValueError, match=r"`scores` has 1 values for 2 sentences"):
        summary_html(["a", "b"], [0], scores=[0.1])
