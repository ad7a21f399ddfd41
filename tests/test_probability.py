"""The chain rule, log-probabilities of text under a model, perplexity, language_fit."""

from __future__ import annotations

import math
import re

from fractions import Fraction

import numpy as np
import pytest
import torch

from llm_book.probability import (
    chain_rule,
    language_cross_entropy,
    language_fit,
    model_sentence_probability,
    next_token_distribution,
    perplexity,
    sequence_log_probs,
)

V = 11


@pytest.fixture
def uniform_gpt(tiny_gpt):
    """A GPT that gives every token the same probability: zero token embeddings (tied) give zero logits."""
    with torch.no_grad():
        tiny_gpt.wte.weight.zero_()
    return tiny_gpt


def random_ids(batch: int, t: int, seed: int = 0, vocab: int = V) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, t), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------
# chain_rule
# ----------------------------------------------------------------------------
def test_chain_rule_article_numbers():
    assert chain_rule([0.2, 0.4, 0.6, 0.8]) == pytest.approx([0.2, 0.08, 0.048, 0.0384], abs=1e-12)
    assert chain_rule([]) == []
    assert chain_rule([1, 0, 0.5]) == [1, 0, 0]


@pytest.mark.parametrize("bad, error", [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), (np.float32(1.5), ValueError),
                                        (True, TypeError), ("0.5", TypeError), (None, TypeError)])
def test_chain_rule_rejects_non_probabilities(bad, error):
    pattern = rf"`conditionals\[1\]` \(={re.escape(repr(bad))}\) has to be a probability in \[0, 1\]"
    if error is TypeError:
        pattern += f"; got {type(bad).__name__}"
    with pytest.raises(error, match=pattern):
        chain_rule([0.5, bad, 0.5])


def test_chain_rule_accepts_numpy_and_torch_probabilities():
    # Before, np.float32(0.4) was refused as "not a probability in [0, 1]".
    values = [0.2, np.float32(0.4), np.float64(0.6), torch.tensor(0.8).item(), Fraction(1, 2)]
    assert chain_rule(values) == pytest.approx([0.2, 0.08, 0.048, 0.0384, 0.0192], rel=1e-6)


def test_chain_rule_agrees_with_the_language(lang):
    words = "The cats that the dog chased sleep on a sofa <eos>".split()
    assert chain_rule(lang.conditional_probs(words))[-1] == pytest.approx(
        lang.sentence_probability(words), rel=1e-12)


# ----------------------------------------------------------------------------
# sequence_log_probs
# ----------------------------------------------------------------------------
def test_sequence_log_probs_is_log_softmax_gathered(tiny_gpt):
    idx = random_ids(3, 7)
    out = sequence_log_probs(tiny_gpt, idx)
    assert out.shape == (3, 6)
    log_probs = torch.log_softmax(tiny_gpt(idx).logits, dim=-1)
    for b in range(3):
        for t in range(6):
            assert out[b, t].item() == pytest.approx(log_probs[b, t, idx[b, t + 1]].item(), abs=1e-6)
    assert (out <= 0).all()


def test_sequence_log_probs_restores_training_mode(tiny_gpt):
    tiny_gpt.train()
    sequence_log_probs(tiny_gpt, random_ids(1, 3))
    assert tiny_gpt.training


@pytest.mark.parametrize("idx, shape", [(torch.tensor([[3]]), r"\(1, 1\)"), (torch.tensor([1, 2, 3]), r"\(3,\)"),
                                        ([[1, 2]], "list")])
def test_sequence_log_probs_needs_two_tokens(tiny_gpt, idx, shape):
    with pytest.raises(ValueError, match=rf"`idx` has to be a \(batch, T\) tensor of token ids with T >= 2, "
                                         rf"got {shape}"):
        sequence_log_probs(tiny_gpt, idx)


# ----------------------------------------------------------------------------
# perplexity
# ----------------------------------------------------------------------------
def test_perplexity_is_exp_of_mean_negative_log_probability():
    log_probs = torch.tensor([[math.log(0.5), math.log(0.25)], [math.log(0.125), math.log(1.0)]])
    assert perplexity(log_probs) == pytest.approx(math.exp(-log_probs.mean().item()), rel=1e-6)
    assert perplexity(log_probs) == pytest.approx(2 ** 1.5, rel=1e-6)
    assert perplexity(torch.zeros(4)) == 1.0


def test_uniform_model_has_perplexity_vocab_size(uniform_gpt):
    log_probs = sequence_log_probs(uniform_gpt, random_ids(4, 10))
    torch.testing.assert_close(log_probs, torch.full((4, 9), -math.log(V)))
    assert perplexity(log_probs) == pytest.approx(V, rel=1e-5)


def test_perplexity_with_a_mask():
    log_probs = torch.tensor([[math.log(0.5), math.log(0.01)], [math.log(0.5), math.log(0.5)]])
    mask = torch.tensor([[True, False], [True, True]])
    assert perplexity(log_probs, mask) == pytest.approx(2.0, rel=1e-6)
    assert perplexity(log_probs) > 2.0  # the masked-out 0.01 would have counted


def test_perplexity_errors():
    with pytest.raises(ValueError, match=r"`log_probs` has to be a non-empty tensor"):
        perplexity(torch.tensor([]))
    with pytest.raises(ValueError, match=r"`log_probs` has to be a non-empty tensor"):
        perplexity([-1.0])
    with pytest.raises(ValueError, match=r"`log_probs` holds positive values; log-probabilities are <= 0"):
        perplexity(torch.tensor([-1.0, 0.5]))
    log_probs = torch.full((2, 3), -1.0)
    with pytest.raises(ValueError, match=r"`mask` has to be a boolean tensor shaped like `log_probs` \(2, 3\)"):
        perplexity(log_probs, torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`mask` has to be a boolean tensor shaped like `log_probs` \(2, 3\)"):
        perplexity(log_probs, torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"`mask` keeps no position"):
        perplexity(log_probs, torch.zeros(2, 3, dtype=torch.bool))
    # Before: a list mask gave AttributeError, NaN gave a NaN perplexity, -800 an OverflowError.
    with pytest.raises(ValueError, match=r"`mask` has to be a boolean tensor shaped like `log_probs` \(2, 3\)"):
        perplexity(log_probs, [[True] * 3] * 2)
    with pytest.raises(ValueError, match=r"`log_probs` holds NaN; log-probabilities are numbers <= 0"):
        perplexity(torch.tensor([-1.0, float("nan")]))
    assert perplexity(torch.tensor([-800.0, -900.0])) == math.inf
    assert perplexity(torch.tensor([-1.0, float("-inf")])) == math.inf


# ----------------------------------------------------------------------------
# Word-level helpers and language_fit
# ----------------------------------------------------------------------------
def test_next_token_distribution_covers_the_vocabulary(toy_gpt):
    model, tok = toy_gpt
    dist = next_token_distribution(model, tok, ["The", "cat", "sat", "on"])
    assert list(dist) == tok.vocab
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-5)
    expected = torch.softmax(model(torch.tensor([tok.encode(["The", "cat", "sat", "on"])])).logits[0, -1], -1)
    assert list(dist.values()) == pytest.approx(expected.tolist(), abs=1e-6)


def test_model_sentence_probability_is_the_chain_rule(toy_gpt):
    model, tok = toy_gpt
    words = "The cat sat on the".split()
    conditionals = [next_token_distribution(model, tok, words[:t])[words[t]] for t in range(1, len(words))]
    assert model_sentence_probability(model, tok, words) == pytest.approx(chain_rule(conditionals)[-1], rel=1e-4)


@pytest.fixture(scope="module")
def short_tokenizer(toy_gpt):
    """21 of the toy GPT's 35 words: the ids of the first 21 words agree, the rest are missing."""
    from llm_book.tokenizer import WordTokenizer

    _, tok = toy_gpt
    words = tok.vocab[:20] + [tok.eos]
    return WordTokenizer(words, eos=tok.eos)


def test_a_tokenizer_of_another_vocabulary_is_refused(toy_gpt, short_tokenizer, lang):
    # Before, next_token_distribution silently returned 21 probabilities that summed to 0.109.
    model, tok = toy_gpt
    pattern = (r"the tokenizer has 21 words but the model predicts 35 tokens \(config.vocab_size or the "
               r"width of its logits\); use the tokenizer the model was trained with")
    with pytest.raises(ValueError, match=pattern):
        next_token_distribution(model, short_tokenizer, ["The", "cat"])
    with pytest.raises(ValueError, match=pattern):
        model_sentence_probability(model, short_tokenizer, ["The", "cat"])
    with pytest.raises(ValueError, match=pattern):
        language_fit(model, short_tokenizer, lang, n_sentences=5)
    with pytest.raises(ValueError, match=pattern):
        language_cross_entropy(model, short_tokenizer, lang)


def test_vocabulary_check_reads_the_logits_of_a_model_without_config(toy_gpt, short_tokenizer):
    model, _ = toy_gpt

    class NoConfig(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, idx):
            return self.inner(idx)

    with pytest.raises(ValueError, match=r"the tokenizer has 21 words but the model predicts 35 tokens"):
        next_token_distribution(NoConfig().eval(), short_tokenizer, ["The", "cat"])  # eval: leave toy_gpt so
    assert not model.training


@pytest.mark.parametrize("prefix", [[], (), "The cat"])
def test_next_token_distribution_needs_a_list_of_words(toy_gpt, prefix):
    model, tok = toy_gpt
    with pytest.raises(ValueError, match=rf"`prefix` has to be a non-empty list of words \(the model predicts "
                                         rf"what follows at least one word, e.g. \['The'\]\), got "
                                         rf"{re.escape(repr(prefix))}"):
        next_token_distribution(model, tok, prefix)


@pytest.mark.parametrize("words", [[], ["The"], "The cat"])
def test_model_sentence_probability_needs_two_words(toy_gpt, words):
    model, tok = toy_gpt
    with pytest.raises(ValueError, match=rf"`words` has to be a list of at least 2 words \(the first is given, "
                                         rf"the others are scored\), got {re.escape(repr(words))}"):
        model_sentence_probability(model, tok, words)


@pytest.mark.parametrize("n, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                      (True, TypeError), ("10", TypeError)])
def test_language_fit_needs_a_positive_number_of_sentences(toy_gpt, lang, n, error):
    model, tok = toy_gpt
    with pytest.raises(error, match=rf"`n_sentences` \(={re.escape(repr(n))}\) has to be a positive integer "
                                    rf"\(sentences to sample\)"):
        language_fit(model, tok, lang, n_sentences=n)


def test_language_fit_accepts_a_numpy_count(toy_gpt, lang):
    model, tok = toy_gpt
    assert language_fit(model, tok, lang, n_sentences=np.int64(20)) == language_fit(model, tok, lang,
                                                                                   n_sentences=20)
    # Before, a numpy seed failed inside random.Random ("The only supported seed types are ...").
    assert language_fit(model, tok, lang, n_sentences=20, seed=np.int64(5)) == \
        language_fit(model, tok, lang, n_sentences=20, seed=5)
    with pytest.raises(TypeError, match=r"`seed` \(=1.5\) has to be an integer .*; got float"):
        language_fit(model, tok, lang, n_sentences=20, seed=1.5)


def test_language_fit_of_a_uniform_model(lang):
    from llm_book.model import GPT, GPTConfig
    from llm_book.tokenizer import WordTokenizer

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(lang.vocab), block_size=16, n_layer=1, n_head=1, n_embd=8)).eval()
    with torch.no_grad():
        model.wte.weight.zero_()
    fit = language_fit(model, WordTokenizer(lang.vocab), lang, n_sentences=200, seed=0)
    assert fit["cross_entropy"] == pytest.approx(math.log(len(lang.vocab)), rel=1e-5)
    assert fit["entropy"] == lang.entropy_per_token()
    # KL(p || uniform) = log V - H(p) per position: between 0 and log V.
    assert 0.5 < fit["kl"] < math.log(len(lang.vocab))


def test_language_fit_of_the_shipped_model(toy_gpt, lang):
    model, tok = toy_gpt
    fit = language_fit(model, tok, lang, n_sentences=300, seed=5)
    assert set(fit) == {"kl", "cross_entropy", "entropy"}
    assert 0 <= fit["kl"] < 0.05
    assert fit["cross_entropy"] == pytest.approx(fit["entropy"], rel=0.1)
    assert language_fit(model, tok, lang, n_sentences=300, seed=5) == fit  # seeded: repeatable


def test_language_cross_entropy_in_chunks_equals_one_pass(toy_gpt, lang):
    model, tok = toy_gpt
    whole = language_cross_entropy(model, tok, lang)
    assert abs(language_cross_entropy(model, tok, lang, chunk=500) - whole) < 1e-12
    assert not model.training
    with pytest.raises(ValueError, match=r"`chunk` \(=0\) has to be a positive integer or None"):
        language_cross_entropy(model, tok, lang, chunk=0)
