"""Count-based n-gram models: counts, smoothing, cross-entropy, sampling, and their error messages."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest

from llm_book.ngram import NGramModel

VOCAB = ["The", "cat", "dog", "sat", "<eos>"]
CORPUS = [
    ["The", "cat", "sat", "<eos>"],
    ["The", "cat", "sat", "<eos>"],
    ["The", "cat", "<eos>"],
    ["The", "dog", "sat", "<eos>"],
]


def fitted(n, k=0.0):
    return NGramModel(n, VOCAB, k=k).fit(CORPUS)


def test_bigram_maximum_likelihood_by_hand():
    m = fitted(2)
    p = m.next_token_probs(["The"])
    # "The" is followed by cat 3 times and dog once
    assert p["cat"] == pytest.approx(3 / 4) and p["dog"] == pytest.approx(1 / 4)
    assert p["sat"] == 0.0 and p["<eos>"] == 0.0
    # "cat" is followed by sat twice and <eos> once
    assert m.next_token_probs(["The", "cat"])["sat"] == pytest.approx(2 / 3)
    assert m.count(("cat",), "sat") == 2 and m.count(("cat",), "dog") == 0


def test_unigram_ignores_the_context():
    m = fitted(1)
    total = sum(len(s) for s in CORPUS)  # 15 words
    assert m.next_token_probs(["The"])["sat"] == pytest.approx(3 / total)
    assert m.next_token_probs(["The", "cat"]) == m.next_token_probs([])
    assert m.context_of(["The", "cat"]) == ()


def test_trigram_pads_the_start_with_bos():
    m = fitted(3)
    assert m.context_of([]) == ("<s>", "<s>")
    assert m.context_of(["The"]) == ("<s>", "The")
    assert m.next_token_probs([])["The"] == 1.0
    # ("The", "cat") -> sat 2, <eos> 1
    assert m.next_token_probs(["The", "cat"])["<eos>"] == pytest.approx(1 / 3)


def test_add_k_smoothing_formula():
    k = 0.5
    m = fitted(2, k=k)
    v = len(VOCAB)
    p = m.next_token_probs(["The"])
    assert p["cat"] == pytest.approx((3 + k) / (4 + k * v))
    assert p["sat"] == pytest.approx(k / (4 + k * v))
    assert sum(p.values()) == pytest.approx(1.0)


def test_unseen_context_gives_the_uniform_distribution():
    # "sat" followed by "<eos>" only; "<eos>" is never a context
    for k in (0.0, 1.0):
        p = fitted(2, k=k).next_token_probs(["The", "cat", "sat", "<eos>"])
        assert all(v == pytest.approx(1 / len(VOCAB)) for v in p.values())


def test_fit_adds_counts_and_does_not_modify_sentences():
    corpus = copy.deepcopy(CORPUS)
    m = NGramModel(2, VOCAB).fit(corpus).fit(corpus)
    assert corpus == CORPUS
    assert m.num_sentences == 8
    assert m.next_token_probs(["The"])["cat"] == pytest.approx(3 / 4)


def test_conditional_probs_and_cross_entropy_by_hand():
    m = fitted(2)
    words = ["The", "cat", "sat", "<eos>"]
    cond = m.conditional_probs(words)
    assert cond == pytest.approx([3 / 4, 2 / 3, 1.0])
    expected = -(math.log(3 / 4) + math.log(2 / 3) + math.log(1.0)) / 3
    assert m.cross_entropy([words]) == pytest.approx(expected)


def test_cross_entropy_is_infinite_without_smoothing_and_finite_with_it():
    unseen = [["The", "dog", "<eos>"]]  # "dog" is never followed by <eos> in training
    assert fitted(2).cross_entropy(unseen) == math.inf
    assert math.isfinite(fitted(2, k=0.1).cross_entropy(unseen))


def test_counts_approach_the_exact_probabilities(lang):
    m = NGramModel(3, lang.vocab).fit(lang.sample(3000, seed=0))
    # After "sat on" the determiner is "the" with probability 0.8, whatever the subject.
    assert m.next_token_probs(["The", "cat", "sat", "on"])["the"] == pytest.approx(0.8, abs=0.03)
    for prefix in (["The"], ["The", "dogs", "that"]):
        p = m.next_token_probs(prefix)
        assert sum(p.values()) == pytest.approx(1.0)


def test_bigram_cannot_see_the_subject(lang):
    # The long-range dependency: a bigram gives both subjects the same verb distribution.
    m = NGramModel(2, lang.vocab).fit(lang.sample(2000, seed=0))
    plural = m.next_token_probs("The cats that the dog chased".split())
    singular = m.next_token_probs("The cat that the dogs chased".split())
    assert plural == singular
    assert plural["sleeps"] > 0 and plural["sleep"] > 0


def test_sample_is_repeatable_and_stops_at_eos(lang):
    m = NGramModel(2, lang.vocab).fit(lang.sample(500, seed=0))
    a = m.sample(["The"], 20, seed=3)
    assert a == m.sample(["The"], 20, seed=3)
    assert a[0] == "The" and a[-1] == "<eos>" and a.count("<eos>") == 1
    assert all(w in lang.vocab for w in a)
    assert m.sample(["The"], 0, seed=1) == ["The"]
    assert len(m.sample(["The"], 2, eos=None, seed=1)) == 3


def test_repr_names_the_order():
    assert "trigram" in repr(fitted(3)) and "4-gram" in repr(NGramModel(4, VOCAB))


@pytest.mark.parametrize("n, error", [(0, ValueError), (-1, ValueError), (np.int64(0), ValueError),
                                      (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_bad_n(n, error):
    with pytest.raises(error, match=rf"`n` \(={re.escape(repr(n))}\) has to be a positive integer"):
        NGramModel(n, VOCAB)


@pytest.mark.parametrize("k, error", [(-0.1, ValueError), (float("nan"), ValueError),
                                      (float("inf"), ValueError), (np.float32("inf"), ValueError),
                                      (True, TypeError), ("1", TypeError), (None, TypeError)])
def test_bad_k(k, error):
    # Before, k = inf was accepted and every probability came out NaN (inf / inf).
    with pytest.raises(error, match=rf"`k` \(={re.escape(repr(k))}\) has to be a non-negative, finite number"):
        NGramModel(2, VOCAB, k=k)


def test_k_so_large_that_the_denominator_overflows():
    with pytest.raises(ValueError, match=r"`k` \(=1e\+308\) is too large: k \* len\(vocab\) overflows a float"):
        NGramModel(2, VOCAB, k=1e308)


def test_numpy_numbers_are_accepted():
    sentences = [["The", "cat", "<eos>"]] * 3 + [["The", "dog", "<eos>"]]
    plain = NGramModel(2, VOCAB, k=0.5).fit(sentences)
    numpy = NGramModel(np.int64(2), VOCAB, k=np.float32(0.5)).fit(sentences)
    assert numpy.next_token_probs(["The"]) == plain.next_token_probs(["The"])
    assert isinstance(numpy.n, int) and isinstance(numpy.k, float)
    assert numpy.sample(["The"], np.int64(3), seed=0) == plain.sample(["The"], 3, seed=0)
    assert plain.sample(["The"], 3, seed=np.int64(4)) == plain.sample(["The"], 3, seed=4)
    with pytest.raises(TypeError, match=r"`seed` \(='s'\) has to be an integer or None"):
        plain.sample(["The"], 3, seed="s")
    with pytest.raises(TypeError, match=r"`max_new_tokens` \(=3.0\) has to be a non-negative integer; got float"):
        plain.sample(["The"], 3.0)


def test_bad_vocab_and_bos():
    with pytest.raises(ValueError, match="`vocab` has to be a non-empty list of words"):
        NGramModel(2, [])
    with pytest.raises(ValueError, match="`vocab` has to be a non-empty list of words"):
        NGramModel(2, "abc")
    with pytest.raises(ValueError, match="`vocab` has duplicate words"):
        NGramModel(2, ["a", "a"])
    with pytest.raises(ValueError, match=r"`bos` \(='The'\) is a word of `vocab`"):
        NGramModel(2, VOCAB, bos="The")


def test_word_errors():
    m = fitted(2)
    with pytest.raises(ValueError, match=r"`prefix` contains the unknown word 'fox'"):
        m.next_token_probs(["The", "fox"])
    with pytest.raises(TypeError, match=r"`prefix` has to be a list of words, got the string 'The cat'"):
        m.next_token_probs("The cat")
    with pytest.raises(ValueError, match=r"`sentences\[1\]` contains the unknown word 'fox'"):
        NGramModel(2, VOCAB).fit([["The", "cat"], ["The", "fox"]])
    with pytest.raises(ValueError, match="`sentences` has to be a non-empty list of sentences"):
        NGramModel(2, VOCAB).fit([])
    with pytest.raises(ValueError, match=r"call `fit\(sentences\)` first"):
        NGramModel(2, VOCAB).next_token_probs(["The"])
    with pytest.raises(ValueError, match="`words` needs at least 2 words"):
        m.conditional_probs(["The"])
    with pytest.raises(ValueError, match="`sentences` has to be a non-empty list"):
        m.cross_entropy([])
    with pytest.raises(ValueError, match="no word after a first one to predict"):
        m.cross_entropy([["The"]])
    with pytest.raises(ValueError, match=r"`max_new_tokens` \(=-1\) has to be a non-negative integer"):
        m.sample(["The"], -1)
