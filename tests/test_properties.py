"""Property-based tests (hypothesis): the sampling filters and the probability helpers.

Each property holds for every input, so hypothesis draws the inputs: random
logits of several shapes and dtypes, some already at -inf, ties, any k and p,
temperatures from 1e-30 to 1e4.  Derandomised, so a run sees the same examples as
the last one with the same modules imported: hypothesis also tries the numbers
written in the project's imported modules, so the examples on a pytest-xdist
worker depend on which test files ran there before.  The properties hold for
every input, so that must not matter.  A failure is reported once shrunk, without
the "explain" phase, which traces torch's code and can take long.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from llm_book.ngram import NGramModel
from llm_book.probability import (
    chain_rule,
    model_sentence_probability,
    next_token_distribution,
    perplexity,
    sequence_log_probs,
)
from llm_book.sampling import apply_temperature, filter_logits, sample_next, top_k_filter, top_p_filter

# Derandomised and without the example database: the same examples for the same imported modules.
FAST = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow])
MODEL = settings(FAST, max_examples=30)  # each example runs the toy GPT

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}


@st.composite
def logits_tensors(draw, min_vocab: int = 1, max_vocab: int = 12, dtypes=("float32", "float64", "float16"),
                   with_minus_inf: bool = True, distinct: bool = False) -> torch.Tensor:
    """1-D or 2-D logits; some entries may be -inf, never a whole row; ``distinct``: no ties per row."""
    batch = draw(st.integers(1, 3))
    vocab = draw(st.integers(min_vocab, max_vocab))
    dtype = draw(st.sampled_from(dtypes))
    values = draw(arrays(np.float64, (batch, vocab), elements=st.floats(-30, 30, allow_nan=False),
                         unique=distinct))
    logits = torch.tensor(values).to(DTYPES[dtype])
    if distinct:  # float16 rounding, or 0.0 and -0.0, may create ties
        assume(all(len(set(row.tolist())) == vocab for row in logits))
    if with_minus_inf and vocab > 1:
        removed = torch.tensor(draw(arrays(np.bool_, (batch, vocab))))
        removed[:, draw(st.integers(0, vocab - 1))] = False  # every row keeps at least one token
        logits = logits.masked_fill(removed, float("-inf"))
    return logits[0] if draw(st.booleans()) else logits


def is_distribution(probs: torch.Tensor) -> bool:
    probs = probs.double()
    return bool(torch.isfinite(probs).all() and (probs >= 0).all()
                and torch.allclose(probs.sum(-1), torch.ones(probs.shape[:-1], dtype=torch.float64),
                                   atol=1e-3))


temperatures = st.one_of(st.floats(1e-30, 1e4), st.sampled_from([1e-40, 5e-324, 1.0]))
ks = st.integers(1, 15)
ps = st.floats(0.0, 1.0, exclude_min=True)

FILTERS = {
    "temperature": st.builds(lambda t: (lambda x: apply_temperature(x, t)), temperatures),
    "top_k": st.builds(lambda k: (lambda x: top_k_filter(x, k)), ks),
    "top_p": st.builds(lambda p: (lambda x: top_p_filter(x, p)), ps),
    "all": st.builds(lambda t, k, p: (lambda x: filter_logits(x, t, k, p)), temperatures,
                     st.one_of(st.none(), ks), st.one_of(st.none(), ps)),
}


# ----------------------------------------------------------------------------
# Every filter: a valid distribution, at least one token, the input untouched
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", FILTERS)
@FAST
@given(data=st.data())
def test_filters_give_valid_distributions_and_leave_their_input(name, data):
    logits = data.draw(logits_tensors())
    fn = data.draw(FILTERS[name])
    before = logits.clone()
    out = fn(logits)
    assert torch.equal(logits, before)                              # never modified in place
    assert out.data_ptr() != logits.data_ptr()                      # a new tensor
    assert out.shape == logits.shape and out.dtype == logits.dtype
    assert not torch.isnan(out).any() and not (out == float("inf")).any()
    assert torch.isfinite(out).any(dim=-1).all()                    # at least one token per row
    assert not (torch.isfinite(out) & ~torch.isfinite(logits)).any()  # a removed token stays removed
    assert is_distribution(torch.softmax(out.double(), dim=-1))


@pytest.mark.parametrize("name", FILTERS)
@FAST
@given(data=st.data())
def test_filters_treat_rows_independently(name, data):
    logits = data.draw(logits_tensors())
    assume(logits.dim() == 2)
    fn = data.draw(FILTERS[name])
    out = fn(logits)
    for i in range(logits.shape[0]):
        assert torch.equal(out[i], fn(logits[i]))


# ----------------------------------------------------------------------------
# Top-k
# ----------------------------------------------------------------------------
@FAST
@given(logits=logits_tensors(distinct=True), k=ks)
def test_top_k_keeps_exactly_the_k_largest_without_ties(logits, k):
    out = top_k_filter(logits, k)
    finite_in, finite_out = torch.isfinite(logits), torch.isfinite(out)
    assert torch.equal(finite_out.sum(-1), finite_in.sum(-1).clamp(max=k))
    assert torch.equal(out[finite_out], logits[finite_out])         # kept logits unchanged
    rows_in, rows_out = logits.reshape(-1, logits.shape[-1]), out.reshape(-1, out.shape[-1])
    for row_in, row_out in zip(rows_in, rows_out):
        kept, removed = row_in[torch.isfinite(row_out)], row_in[~torch.isfinite(row_out)]
        if removed.numel() and kept.numel():
            assert kept.min() > removed.max()                       # the largest ones are kept


@FAST
@given(logits=logits_tensors(), k=ks)
def test_top_k_keeps_at_least_k_with_ties(logits, k):
    out = top_k_filter(logits, k)
    assert torch.equal(torch.isfinite(out).sum(-1) >= torch.isfinite(logits).sum(-1).clamp(max=k),
                       torch.ones_like(torch.isfinite(out).sum(-1), dtype=torch.bool))


@FAST
@given(logits=logits_tensors())
def test_top_k_of_the_whole_vocabulary_keeps_everything(logits):
    assert torch.equal(top_k_filter(logits, logits.shape[-1]), logits)


# ----------------------------------------------------------------------------
# Top-p
# ----------------------------------------------------------------------------
@FAST
@given(logits=logits_tensors(distinct=True, dtypes=("float32", "float64")), p=ps)
def test_top_p_keeps_the_smallest_most_probable_set_reaching_p(logits, p):
    out = top_p_filter(logits, p)
    rows_in, rows_out = logits.reshape(-1, logits.shape[-1]), out.reshape(-1, out.shape[-1])
    for row_in, row_out in zip(rows_in, rows_out):
        probs = torch.softmax(row_in.double(), -1)
        kept = torch.isfinite(row_out)
        assert torch.equal(row_out[kept], row_in[kept])
        removed = ~kept & torch.isfinite(row_in)
        kept_probs, removed_probs = probs[kept], probs[removed]
        if removed.any():
            assert row_in[kept].min() > row_in[removed].max()       # the most probable ones
        assert kept_probs.sum() >= p - 1e-6 or not removed_probs.numel()  # reaches p
        # smallest: without its least probable token the kept set would not reach p
        assert kept_probs.sum() - kept_probs.min() < p + 1e-6 or kept.sum() == 1


@FAST
@given(logits=logits_tensors())
def test_top_p_of_one_keeps_every_token(logits):
    assert torch.equal(top_p_filter(logits, 1.0), logits)


@FAST
@given(logits=logits_tensors(), p=ps)
def test_top_p_always_keeps_the_most_probable_token(logits, p):
    out = top_p_filter(logits, p)
    best = logits.argmax(dim=-1, keepdim=True)
    assert torch.isfinite(out.gather(-1, best)).all()


# ----------------------------------------------------------------------------
# Temperature
# ----------------------------------------------------------------------------
@FAST
@given(logits=logits_tensors(dtypes=("float32", "float64")), t=st.floats(0.05, 20))
def test_temperature_is_softmax_of_logits_over_t(logits, t):
    got = torch.softmax(apply_temperature(logits, t).double(), -1)
    expected = torch.softmax(logits.double() / t, -1)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@FAST
@given(logits=logits_tensors(), t=temperatures)
def test_temperature_keeps_the_order_of_the_tokens(logits, t):
    out = apply_temperature(logits, t)
    # a larger logit never gets a smaller value (ties may appear by rounding, never inversions)
    rows_in, rows_out = logits.reshape(-1, logits.shape[-1]).double(), out.reshape(-1, out.shape[-1]).double()
    for row_in, row_out in zip(rows_in, rows_out):
        order = torch.argsort(row_in, stable=True)
        assert (row_out[order].diff() >= 0).all() or not torch.isfinite(row_out[order]).all()
        finite = torch.isfinite(row_out)
        assert (row_out[order][finite[order]].diff() >= 0).all()


@FAST
@given(logits=logits_tensors(dtypes=("float32", "float64")), t=st.floats(1e-300, 1e-25))
def test_tiny_temperature_puts_all_the_mass_on_the_largest_logits(logits, t):
    # "Tiny" is relative to the gap: logits 1e-118 apart stay a near-tie even at T = 1e-26.  With every
    # other logit more than 50 T below the largest, each keeps less than e^-50 of the mass.
    for row in logits.reshape(-1, logits.shape[-1]).double():
        below = row[row < row.max()]
        assume(below.numel() == 0 or float(row.max() - below.max()) > 50 * t)
    probs = torch.softmax(apply_temperature(logits, t).double(), -1)
    assert is_distribution(probs)
    top = logits == logits.amax(dim=-1, keepdim=True)
    assert torch.allclose((probs * top).sum(-1), torch.ones(probs.shape[:-1], dtype=torch.float64))


@FAST
@given(logits=logits_tensors(dtypes=("float64",)), t1=st.floats(0.1, 10), t2=st.floats(0.1, 10))
def test_higher_temperature_never_lowers_the_entropy(logits, t1, t2):
    def entropy(t):
        p = torch.softmax(logits / t, -1)
        return -(p * p.clamp_min(1e-300).log()).sum(-1)

    low, high = sorted([t1, t2])
    assert (entropy(high) >= entropy(low) - 1e-9).all()


# ----------------------------------------------------------------------------
# filter_logits and sample_next
# ----------------------------------------------------------------------------
@FAST
@given(logits=logits_tensors(), t=temperatures, k=st.one_of(st.none(), ks), p=st.one_of(st.none(), ps))
def test_filter_logits_is_temperature_then_top_k_then_top_p(logits, t, k, p):
    expected = apply_temperature(logits, t)
    if k is not None:
        expected = top_k_filter(expected, k)
    if p is not None:
        expected = top_p_filter(expected, p)
    assert torch.equal(filter_logits(logits, t, k, p), expected)


@FAST
@given(logits=logits_tensors(), t=temperatures, k=st.one_of(st.none(), ks), p=st.one_of(st.none(), ps),
       seed=st.integers(0, 2**31))
def test_sample_next_draws_a_token_the_filters_kept(logits, t, k, p, seed):
    ids = sample_next(logits, t, k, p, generator=torch.Generator().manual_seed(seed))
    assert ids.shape == logits.shape[:-1] and ids.dtype == torch.long
    kept = torch.isfinite(filter_logits(logits, t, k, p))
    assert kept.gather(-1, ids[..., None]).all()


# ----------------------------------------------------------------------------
# Probability helpers
# ----------------------------------------------------------------------------
probabilities = st.floats(0.0, 1.0)


@FAST
@given(conditionals=st.lists(probabilities, max_size=12))
def test_chain_rule_is_the_running_product(conditionals):
    out = chain_rule(conditionals)
    assert len(out) == len(conditionals)
    assert all(0.0 <= x <= 1.0 for x in out)
    assert all(b <= a for a, b in zip(out, out[1:]))               # a longer text is never more likely
    for i, x in enumerate(out):
        assert x == pytest.approx(math.prod(conditionals[: i + 1]), rel=1e-12, abs=1e-300)


@FAST
@given(conditionals=st.lists(probabilities, min_size=1, max_size=12),
       as_type=st.sampled_from([float, np.float32, np.float64]))
def test_chain_rule_takes_any_float_type(conditionals, as_type):
    typed = [as_type(c) for c in conditionals]
    assert chain_rule(typed) == pytest.approx(chain_rule([float(c) for c in typed]), rel=1e-12)


@FAST
@given(log_probs=arrays(np.float64, st.integers(1, 20), elements=st.floats(-30, 0)))
def test_perplexity_is_exp_of_the_mean_negative_log_probability(log_probs):
    value = perplexity(torch.tensor(log_probs))
    assert value >= 1.0 - 1e-9
    assert value == pytest.approx(math.exp(-log_probs.mean()), rel=1e-5)


@FAST
@given(vocab=st.integers(1, 50))
def test_perplexity_of_a_uniform_guess_is_the_vocabulary_size(vocab):
    assert perplexity(torch.full((7,), -math.log(vocab))) == pytest.approx(vocab, rel=1e-5)


@pytest.fixture(scope="module")
def model_and_words(toy_gpt, lang):
    model, tok = toy_gpt
    return model, tok, [w for w, _ in lang.sentences()]


@MODEL
@given(data=st.data())
def test_next_token_distribution_is_a_distribution_over_the_vocabulary(model_and_words, data):
    model, tok, sentences = model_and_words
    sentence = data.draw(st.sampled_from(sentences))
    t = data.draw(st.integers(1, len(sentence) - 1))
    dist = next_token_distribution(model, tok, sentence[:t])
    assert list(dist) == tok.vocab
    assert all(0.0 <= p <= 1.0 for p in dist.values())
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-5)


@MODEL
@given(data=st.data())
def test_sentence_probability_is_the_chain_rule_of_next_token_distributions(model_and_words, data):
    model, tok, sentences = model_and_words
    # any word sequence, not only sentences of the language
    words = data.draw(st.lists(st.sampled_from(tok.vocab), min_size=2, max_size=8))
    conditionals = [next_token_distribution(model, tok, words[:t])[words[t]] for t in range(1, len(words))]
    expected = chain_rule(conditionals)[-1]
    assert model_sentence_probability(model, tok, words) == pytest.approx(expected, rel=1e-4, abs=1e-30)
    log_probs = sequence_log_probs(model, torch.tensor([tok.encode(words)]))
    assert log_probs.shape == (1, len(words) - 1) and (log_probs <= 0).all()
    assert log_probs[0].tolist() == pytest.approx([math.log(c) for c in conditionals], abs=1e-4)


@MODEL
@given(data=st.data())
def test_the_probabilities_of_every_continuation_sum_to_one(model_and_words, data):
    model, tok, _ = model_and_words
    prefix = data.draw(st.lists(st.sampled_from(tok.vocab), min_size=1, max_size=6))
    ids = torch.tensor([tok.encode(prefix) + [v] for v in range(len(tok))])   # every next word
    total = sequence_log_probs(model, ids)[:, -1].double().exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------
# N-gram models: every context gives a distribution, for any smoothing
# ----------------------------------------------------------------------------
NGRAM_VOCAB = ["The", "cat", "dog", "sat", "ran", "<eos>"]


@MODEL
@given(n=st.integers(1, 4), k=st.one_of(st.just(0), st.floats(0, 1e6)),
       sentences=st.lists(st.lists(st.sampled_from(NGRAM_VOCAB), min_size=1, max_size=6), min_size=1,
                          max_size=6),
       prefix=st.lists(st.sampled_from(NGRAM_VOCAB), max_size=5))
def test_ngram_next_token_probs_are_a_distribution(n, k, sentences, prefix):
    model = NGramModel(n, NGRAM_VOCAB, k=k).fit(sentences)
    probs = model.next_token_probs(prefix)
    assert list(probs) == NGRAM_VOCAB
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
    if len(prefix) >= 2:
        assert model.conditional_probs(prefix) == [model.next_token_probs(prefix[:t])[prefix[t]]
                                                   for t in range(1, len(prefix))]
