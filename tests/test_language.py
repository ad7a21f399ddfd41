"""ToyLanguage: the exact ground truth every later chapter grades models against."""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from llm_book import set_seed
from llm_book.language import EOS
from llm_book.probability import chain_rule

ARTICLE_PREFIX = "The cat sat on the".split()


# ----------------------------------------------------------------------------
# set_seed (lives in llm_book/__init__.py; tested here with the other basics)
# ----------------------------------------------------------------------------
def _draws():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_set_seed_makes_random_numpy_and_torch_repeatable():
    set_seed(1234)
    first = _draws()
    set_seed(1234)
    assert _draws() == first
    set_seed(4321)
    assert _draws() != first


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError),
                                         ("3", TypeError), (None, TypeError), (True, TypeError)])
def test_set_seed_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match=rf"`seed` \(={re.escape(repr(seed))}\) has to be an integer from 0 to 2\*\*32 - 1"):
        set_seed(seed)


def test_set_seed_accepts_a_numpy_integer():
    set_seed(np.int64(1234))
    first = _draws()
    set_seed(1234)
    assert _draws() == first


# ----------------------------------------------------------------------------
# Vocabulary and the article's numbers
# ----------------------------------------------------------------------------
def test_vocab_size_and_special_words(lang):
    assert 20 <= len(lang.vocab) <= 100
    assert len(set(lang.vocab)) == len(lang.vocab)
    assert EOS in lang.vocab and lang.eos == EOS
    assert lang.vocab[0] == "The"


def test_every_sentence_starts_with_The_and_ends_with_eos(lang):
    for words, p in lang.sentences():
        assert words[0] == "The"
        assert words[-1] == EOS and EOS not in words[:-1]
        assert p > 0
    assert lang.next_token_probs([]) == {"The": 1.0}


@pytest.mark.parametrize("prefix, word, expected", [
    ("The", "cat", 0.2),
    ("The cat", "sat", 0.4),
    ("The cat sat", "on", 0.6),
    ("The cat sat on", "the", 0.8),
])
def test_article_conditionals(lang, prefix, word, expected):
    assert lang.next_token_probs(prefix.split())[word] == pytest.approx(expected, abs=1e-12)


def test_article_sentence_probability(lang):
    assert lang.sentence_probability(ARTICLE_PREFIX) == pytest.approx(0.0384, abs=1e-12)
    assert lang.sentence_probability([]) == 1.0
    assert lang.sentence_probability(["The", "sat"]) == 0.0


def test_conditional_probs_running_product_is_sentence_probability(lang):
    assert lang.conditional_probs(ARTICLE_PREFIX) == pytest.approx([0.2, 0.4, 0.6, 0.8], abs=1e-12)
    for words in lang.sample(200, seed=7) + [ARTICLE_PREFIX, "The cat sat sat on".split()]:
        product = chain_rule(lang.conditional_probs(words))[-1]
        assert product == pytest.approx(lang.sentence_probability(words), rel=1e-9, abs=1e-15)


def test_conditional_probs_requires_The_first(lang):
    with pytest.raises(ValueError, match=r"`words` has to start with 'The', got \['cat'\]"):
        lang.conditional_probs(["cat", "sat"])
    with pytest.raises(ValueError, match=r"`words` has to start with 'The', got \[\]"):
        lang.conditional_probs([])


# ----------------------------------------------------------------------------
# next_token_probs
# ----------------------------------------------------------------------------
def test_next_token_probs_sum_to_one_for_every_reachable_prefix(lang):
    prefixes = {tuple(words[:t]) for words, _ in lang.sentences()[::7] for t in range(len(words))}
    assert len(prefixes) > 100
    for prefix in prefixes:
        probs = lang.next_token_probs(list(prefix))
        assert math.fsum(probs.values()) == pytest.approx(1.0, abs=1e-12)
        assert all(p > 0 for p in probs.values())
        assert set(probs) <= set(lang.vocab)


def test_impossible_prefix_raises_naming_the_word(lang):
    with pytest.raises(ValueError, match=r"impossible.*after \['The'\] the word 'sat' cannot follow"):
        lang.next_token_probs(["The", "sat"])
    with pytest.raises(ValueError, match=r"impossible.*the word 'cat' cannot follow.*\['The'\]"):
        lang.next_token_probs(["cat"])


def test_unknown_word_raises(lang):
    with pytest.raises(ValueError, match=r"`prefix` contains the unknown word 'zebra'"):
        lang.next_token_probs(["The", "zebra"])
    with pytest.raises(ValueError, match=r"`words` contains the unknown word 'zebra'"):
        lang.sentence_probability(["The", "zebra"])


def test_nothing_follows_the_end_token(lang):
    with pytest.raises(ValueError, match=r"already ends with the end token '<eos>'"):
        lang.next_token_probs("The cat sat <eos>".split())
    with pytest.raises(ValueError, match=r"impossible.*the word 'The' cannot follow"):
        lang.next_token_probs("The cat sat <eos> The".split())


def test_plain_string_is_a_type_error(lang):
    with pytest.raises(TypeError, match=r"`prefix` has to be a list of words.*split\(\)"):
        lang.next_token_probs("The cat")
    with pytest.raises(TypeError, match=r"`words` has to be a list of words"):
        lang.sentence_probability("The cat")


# ----------------------------------------------------------------------------
# Sentences, sampling, entropy
# ----------------------------------------------------------------------------
def test_sentence_probabilities_sum_to_one(lang):
    sentences = lang.sentences()
    assert math.fsum(p for _, p in sentences) == pytest.approx(1.0, abs=1e-12)
    assert len({tuple(w) for w, _ in sentences}) == len(sentences)
    for words, p in sentences[::50]:
        assert lang.sentence_probability(words) == pytest.approx(p, rel=1e-12)
    assert lang.max_length == max(len(w) for w, _ in sentences)


def test_sample_is_deterministic_for_a_seed(lang):
    assert lang.sample(50, seed=3) == lang.sample(50, seed=3)
    assert lang.sample(50, seed=3) != lang.sample(50, seed=4)
    assert lang.sample(0, seed=3) == []


def test_samples_are_sentences_of_the_language(lang):
    for words in lang.sample(300, seed=11):
        assert words[0] == "The" and words[-1] == EOS
        assert lang.sentence_probability(words) > 0


@pytest.mark.parametrize("n", [-1, 2.0, True, "5"])
def test_sample_rejects_bad_n(lang, n):
    with pytest.raises(ValueError, match=rf"`n` \(={re.escape(repr(n))}\) has to be a non-negative integer"):
        lang.sample(n, seed=0)


def test_sampled_second_word_frequencies_match_exact_probabilities(lang):
    samples = lang.sample(20000, seed=0)
    counts = Counter(words[1] for words in samples)
    exact = lang.next_token_probs(["The"])
    assert set(counts) == set(exact)
    for word, p in exact.items():
        assert counts[word] / len(samples) == pytest.approx(p, abs=0.01)


def test_entropy_per_token_matches_monte_carlo_estimate(lang):
    samples = lang.sample(20000, seed=1)
    mean_nll = np.mean([-math.log(lang.sentence_probability(w)) for w in samples])
    mean_predicted = np.mean([len(w) - 1 for w in samples])
    estimate = mean_nll / mean_predicted
    assert lang.entropy_per_token() == pytest.approx(estimate, rel=0.02)
    # A sanity range: more than zero (it is random), less than log(vocab) (uniform guessing).
    assert 0 < lang.entropy_per_token() < math.log(len(lang.vocab))


# ----------------------------------------------------------------------------
# The long-range dependency that a bigram model cannot capture
# ----------------------------------------------------------------------------
SINGULAR = {"sleeps", "runs", "eats"}
PLURAL = {"sleep", "run", "eat"}


def test_verb_agrees_with_subject_across_the_relative_clause(lang):
    after_cats = lang.next_token_probs("The cats that the dog chased".split())
    after_cat = lang.next_token_probs("The cat that the dogs chased".split())
    assert PLURAL <= set(after_cats) and not SINGULAR & set(after_cats)
    assert SINGULAR <= set(after_cat) and not PLURAL & set(after_cat)


def test_no_function_of_the_previous_word_alone_is_exact(lang):
    # Two prefixes that end in the same word, "chased", need different next-word
    # distributions, so a bigram model P(w | previous word) is wrong on at least one.
    a = lang.next_token_probs("The cats that the dog chased".split())
    b = lang.next_token_probs("The cat that the dogs chased".split())
    assert a != b

    # The best bigram model (exact bigram counts of the language) puts probability on
    # the verb form that disagrees with the subject.
    counts: dict[str, Counter] = defaultdict(Counter)
    for words, p in lang.sentences():
        for prev, nxt in zip(words, words[1:]):
            counts[prev][nxt] += p
    after_chased = counts["chased"]
    total = sum(after_chased.values())
    bigram = {w: c / total for w, c in after_chased.items()}
    assert bigram.get("sleeps", 0) > 0.01 and bigram.get("sleep", 0) > 0.01
    assert a.get("sleeps", 0.0) == 0.0 and b.get("sleep", 0.0) == 0.0


def test_place_depends_on_the_subject(lang):
    cat = lang.next_token_probs("The cat sat on the".split())
    bird = lang.next_token_probs("The bird sat on the".split())
    assert cat["mat"] == pytest.approx(0.5) and bird["branch"] == pytest.approx(0.6)
    assert "branch" not in cat


def test_repr_mentions_sizes(lang):
    text = repr(lang)
    assert f"{len(lang.vocab)} words" in text and f"{len(lang.sentences())} sentences" in text


def test_conditional_probs_names_an_unknown_word(lang):
    with pytest.raises(ValueError, match=r"`words` contains the unknown word 'zebra'"):
        lang.conditional_probs(["The", "zebra", "sat"])
