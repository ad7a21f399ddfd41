"""Sampling: filters on hand-made distributions, seeded draws, generate, greedy, beam search."""

from __future__ import annotations

import itertools
import math
import re

from fractions import Fraction

import numpy as np
import pytest
import torch

from llm_book.model import GPTConfig, GPTOutput
from llm_book.probability import sequence_log_probs
from llm_book.sampling import (
    apply_temperature,
    beam_search,
    filter_logits,
    generate,
    greedy,
    sample_next,
    top_k_filter,
    top_p_filter,
)

PROBS = torch.tensor([0.5, 0.3, 0.15, 0.05])
LOGITS = PROBS.log()


def kept(filtered: torch.Tensor) -> list[int]:
    """Indices that a filter left finite."""
    return torch.isfinite(filtered).nonzero().flatten().tolist()


def arg_error(name: str, value) -> str:
    """Regex for a message that names the argument and the value received."""
    return rf"`{name}` \(={re.escape(repr(value))}\)"


# ----------------------------------------------------------------------------
# Temperature
# ----------------------------------------------------------------------------
def test_temperature_divides_the_logits():
    logits = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(apply_temperature(logits, 2.0), torch.tensor([0.5, 1.0, 1.5]))
    assert torch.equal(apply_temperature(logits, 1.0), logits)


def test_temperature_sharpens_and_flattens():
    p_cold = torch.softmax(apply_temperature(LOGITS, 0.5), -1)
    p_hot = torch.softmax(apply_temperature(LOGITS, 2.0), -1)
    # T = 0.5 squares the probabilities (then renormalises); T = 2 takes square roots.
    torch.testing.assert_close(p_cold, PROBS**2 / (PROBS**2).sum())
    torch.testing.assert_close(p_hot, PROBS.sqrt() / PROBS.sqrt().sum())
    assert p_cold[0] > PROBS[0] > p_hot[0]


@pytest.mark.parametrize("temperature, error", [(0, ValueError), (0.0, ValueError), (-1, ValueError),
                                                (float("nan"), ValueError), (float("inf"), ValueError),
                                                (np.float64("nan"), ValueError), (True, TypeError),
                                                ("1", TypeError), (None, TypeError)])
def test_bad_temperature(temperature, error):
    pattern = arg_error("temperature", temperature) + r" has to be a strictly positive.*use `greedy`"
    if error is TypeError:
        pattern += f"; got {type(temperature).__name__}"
    with pytest.raises(error, match=pattern):
        apply_temperature(LOGITS, temperature)
    with pytest.raises(error, match=pattern):
        sample_next(LOGITS, temperature=temperature)


def test_temperature_accepts_numpy_and_other_real_numbers():
    expected = apply_temperature(LOGITS, 0.5)
    for t in (np.float32(0.5), np.float64(0.5), Fraction(1, 2)):
        torch.testing.assert_close(apply_temperature(LOGITS, t), expected)
    assert torch.equal(apply_temperature(LOGITS, np.int64(1)), LOGITS)


def test_temperature_rejects_a_tensor_with_a_hint():
    with pytest.raises(TypeError, match=r"`temperature` \(=tensor\(0.5000\)\) .* got a 0-d Tensor; "
                                        r"pass a plain number, e.g. `.item\(\)`"):
        apply_temperature(LOGITS, torch.tensor(0.5))


@pytest.mark.parametrize("temperature", [1e-40, 1e-300, 5e-324])
def test_tiny_temperature_gives_the_greedy_choice(temperature):
    # logits / 1e-40 overflows float32 to inf, and softmax of inf is NaN: before, multinomial failed.
    logits = torch.tensor([[1.0, 2.0, 3.0], [4.0, -1.0, 0.5]])
    out = apply_temperature(logits, temperature)
    assert out.dtype == logits.dtype and not torch.isnan(out).any()
    probs = torch.softmax(out, dim=-1)
    torch.testing.assert_close(probs, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    for seed in range(5):
        draw = sample_next(logits, temperature=temperature, generator=torch.Generator().manual_seed(seed))
        assert draw.tolist() == [2, 0]


def test_tiny_temperature_shares_the_mass_between_tied_maxima():
    probs = torch.softmax(apply_temperature(torch.tensor([3.0, 1.0, 3.0]), 1e-40), dim=-1)
    torch.testing.assert_close(probs, torch.tensor([0.5, 0.0, 0.5]))


def test_small_temperature_on_float16_logits():
    # 100 / 0.001 = 1e5 is beyond float16's largest number (65504).
    logits = torch.tensor([[100.0, 99.0, 3.0], [1.0, 5.0, 4.0]], dtype=torch.float16)
    out = apply_temperature(logits, 0.001)
    assert out.dtype == torch.float16 and not torch.isnan(out).any()
    assert sample_next(logits, temperature=0.001).tolist() == [0, 1]


def test_float64_logits_beyond_the_range_of_float32():
    # Found by tests/test_properties.py: [1, 1] / 1e-40 = [1e40, 1e40] is a float64 number, but
    # sample_next's float32 softmax turned it into inf and multinomial failed.
    logits = torch.tensor([[1.0, 1.0, 0.0], [1e39, 3e39, 2e39]], dtype=torch.float64)
    for seed in range(4):
        ids = sample_next(logits, temperature=1e-40, generator=torch.Generator().manual_seed(seed))
        assert ids[0].item() in (0, 1) and ids[1].item() == 1


def test_temperature_that_does_not_overflow_is_a_plain_division():
    logits = torch.tensor([[1.0, -2.0, 3.0]])
    assert torch.equal(apply_temperature(logits, 0.01), logits / 0.01)


# ----------------------------------------------------------------------------
# Top-k
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("k, expected", [(1, [0]), (2, [0, 1]), (3, [0, 1, 2]), (4, [0, 1, 2, 3]),
                                         (100, [0, 1, 2, 3])])
def test_top_k_keeps_the_k_largest(k, expected):
    out = top_k_filter(LOGITS, k)
    assert kept(out) == expected
    assert torch.equal(out[expected], LOGITS[expected])  # kept logits unchanged
    assert (out[torch.isinf(out)] == float("-inf")).all()


def test_top_k_keeps_ties():
    logits = torch.tensor([1.0, 3.0, 3.0, 0.0, 3.0])
    assert kept(top_k_filter(logits, 1)) == [1, 2, 4]
    assert kept(top_k_filter(logits, 4)) == [0, 1, 2, 4]


@pytest.mark.parametrize("k, error", [(0, ValueError), (-1, ValueError), (np.int64(0), ValueError),
                                      (1.5, TypeError), (2.0, TypeError), (True, TypeError),
                                      (None, TypeError), ("3", TypeError), (np.float64(3), TypeError)])
def test_bad_k(k, error):
    pattern = arg_error("k", k) + r" has to be an integer >= 1"
    if error is TypeError:
        pattern += f".*; got {type(k).__name__}"
    with pytest.raises(error, match=pattern):
        top_k_filter(LOGITS, k)


@pytest.mark.parametrize("k", [np.int64(2), np.int32(2), np.uint8(2), torch.tensor(2).item()])
def test_top_k_accepts_numpy_integers(k):
    assert torch.equal(top_k_filter(LOGITS, k), top_k_filter(LOGITS, 2))
    assert torch.equal(sample_next(LOGITS, top_k=k, generator=torch.Generator().manual_seed(0)),
                       sample_next(LOGITS, top_k=2, generator=torch.Generator().manual_seed(0)))


# ----------------------------------------------------------------------------
# Top-p
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("p, n_kept", [(0.3, 1), (0.5, 1), (0.51, 2), (0.7, 2), (0.8, 2), (0.81, 3),
                                       (0.95, 3), (0.96, 4), (1.0, 4), (1, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_p_keeps_the_smallest_set_reaching_p(p, n_kept, dtype):
    out = top_p_filter(PROBS.to(dtype).log(), p)
    assert kept(out) == list(range(n_kept))
    assert out.dtype == dtype


def test_top_p_does_not_depend_on_the_order_of_the_vocabulary():
    order = torch.tensor([2, 0, 3, 1])
    out = top_p_filter(LOGITS[order], 0.7)
    assert kept(out) == [1, 3]  # where 0.5 and 0.3 went


def test_top_p_breaks_ties_by_index():
    # Four equal tokens, p = 0.5: two are enough, and the first two in vocabulary order are kept
    # (the browser's explorer does the same).
    assert kept(top_p_filter(torch.zeros(4), 0.5)) == [0, 1]
    # each 2.0 has probability 0.237: three are needed, the first three of the four
    assert kept(top_p_filter(torch.tensor([[0.0, 2.0, 2.0, 2.0, 2.0]]), 0.5)[0]) == [1, 2, 3]


def test_top_p_one_keeps_even_tiny_probabilities():
    logits = torch.tensor([0.0, -30.0, -40.0])
    assert kept(top_p_filter(logits, 1.0)) == [0, 1, 2]


@pytest.mark.parametrize("p, error", [(0, ValueError), (0.0, ValueError), (-0.5, ValueError),
                                      (1.1, ValueError), (float("nan"), ValueError),
                                      (np.float32("nan"), ValueError), (True, TypeError),
                                      ("0.9", TypeError), (None, TypeError)])
def test_bad_p(p, error):
    pattern = arg_error("p", p) + r" has to be a float in \(0, 1\]"
    if error is TypeError:
        pattern += f".*; got {type(p).__name__}"
    with pytest.raises(error, match=pattern):
        top_p_filter(LOGITS, p)


@pytest.mark.parametrize("p", [np.float32(0.7), np.float64(0.7), Fraction(7, 10)])
def test_top_p_accepts_numpy_floats(p):
    assert kept(top_p_filter(LOGITS, p)) == [0, 1]


# ----------------------------------------------------------------------------
# All filters: inputs untouched, batches, never empty, bad logits
# ----------------------------------------------------------------------------
FILTERS = {
    "temperature": lambda x: apply_temperature(x, 0.7),
    "top_k": lambda x: top_k_filter(x, 2),
    "top_p": lambda x: top_p_filter(x, 0.6),
    "all": lambda x: filter_logits(x, temperature=0.7, top_k=3, top_p=0.6),
}


@pytest.mark.parametrize("name", FILTERS)
def test_filters_never_modify_their_input(name):
    logits = torch.randn(3, 7, generator=torch.Generator().manual_seed(0))
    before = logits.clone()
    out = FILTERS[name](logits)
    assert torch.equal(logits, before)
    assert out.data_ptr() != logits.data_ptr()


@pytest.mark.parametrize("name", FILTERS)
def test_filters_treat_batch_rows_independently(name):
    logits = torch.randn(4, 9, generator=torch.Generator().manual_seed(1))
    logits[2] = torch.tensor([5.0, 0, 0, 0, 0, 0, 0, 0, 0])  # a peaked row next to flat ones
    batched = FILTERS[name](logits)
    for i in range(4):
        torch.testing.assert_close(batched[i], FILTERS[name](logits[i]), atol=0, rtol=0)


@pytest.mark.parametrize("dtype, small, large, temperature", [
    (torch.float64, 1e-300, 1.0, 5e-324),
    (torch.float32, 1.0, 1e10, 1e-30),
])
def test_a_tiny_temperature_shifts_only_the_rows_that_overflow(dtype, small, large, temperature):
    # Row 1 overflows and is shifted so that its largest logit is 0; row 0 does not overflow, so it
    # must come out exactly as it does alone (found by hypothesis: the whole batch used to be shifted).
    logits = torch.tensor([[0.0, small], [large, large]], dtype=dtype)
    batched = apply_temperature(logits, temperature)
    for i in range(2):
        torch.testing.assert_close(batched[i], apply_temperature(logits[i], temperature), atol=0, rtol=0)
    assert batched[0, 1] == small / temperature                  # unshifted
    assert torch.equal(batched[1], torch.zeros(2, dtype=dtype))  # shifted: the two ties share the mass


@pytest.mark.parametrize("name", FILTERS)
def test_filters_never_leave_nothing(name):
    logits = torch.randn(5, 6, generator=torch.Generator().manual_seed(2))
    assert torch.isfinite(FILTERS[name](logits)).any(dim=-1).all()
    assert kept(top_p_filter(LOGITS, 1e-9)) == [0]


def test_filter_logits_applies_temperature_then_top_k_then_top_p():
    # Temperature 0.5 turns [0.5, 0.3, 0.15, 0.05] into about [0.68, 0.25, 0.06, 0.007]:
    # top-p 0.9 then keeps 2 tokens, which top-p alone (on the raw probabilities) would not.
    assert kept(top_p_filter(LOGITS, 0.9)) == [0, 1, 2]
    assert kept(filter_logits(LOGITS, temperature=0.5, top_p=0.9)) == [0, 1]
    assert kept(filter_logits(LOGITS, temperature=2.0, top_k=3, top_p=0.99)) == [0, 1, 2]


@pytest.mark.parametrize("fn", [lambda x: apply_temperature(x, 1.0), lambda x: top_k_filter(x, 1),
                                lambda x: top_p_filter(x, 0.5), lambda x: sample_next(x)])
def test_logits_of_the_wrong_rank_or_type(fn):
    with pytest.raises(ValueError, match=r"`logits` has to be 1-D \(vocab,\) or 2-D \(batch, vocab\), "
                                         r"got shape \(2, 3, 4\)"):
        fn(torch.zeros(2, 3, 4))
    with pytest.raises(TypeError, match=r"`logits` has to be a floating-point tensor, got dtype torch.int64"):
        fn(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match=r"`logits` has to be a torch.Tensor, got list"):
        fn([0.0, 1.0])


ALL_LOGIT_FUNCTIONS = [lambda x: apply_temperature(x, 1.0), lambda x: top_k_filter(x, 1),
                       lambda x: top_p_filter(x, 0.5), lambda x: filter_logits(x, 0.7, 2, 0.9),
                       lambda x: sample_next(x)]


@pytest.mark.parametrize("fn", ALL_LOGIT_FUNCTIONS)
def test_nan_logits_are_refused(fn):
    # Before, NaN went through every filter unchanged (top-k even kept it in place of a real token).
    logits = torch.tensor([[1.0, float("nan"), 3.0], [0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"`logits` holds NaN at 1 of 6 positions; a NaN logit has no "
                                         r"probability"):
        fn(logits)


@pytest.mark.parametrize("fn", ALL_LOGIT_FUNCTIONS)
def test_positive_infinite_logits_and_empty_rows_are_refused(fn):
    with pytest.raises(ValueError, match=r"`logits` holds \+inf at 1 of 3 positions; logits have to be "
                                         r"finite, or -inf for a removed token"):
        fn(torch.tensor([1.0, float("inf"), 3.0]))
    with pytest.raises(ValueError, match=r"a row of `logits` is -inf everywhere: it keeps no token"):
        fn(torch.tensor([[1.0, 2.0], [float("-inf"), float("-inf")]]))
    with pytest.raises(ValueError, match=r"`logits` has an empty vocabulary axis, shape \(2, 0\)"):
        fn(torch.zeros(2, 0))


@pytest.mark.parametrize("fn", ALL_LOGIT_FUNCTIONS[:4])
def test_filters_accept_logits_already_at_minus_inf(fn):
    logits = torch.tensor([[1.0, float("-inf"), 3.0, 2.0]])
    out = fn(logits)
    assert out[0, 1] == float("-inf") and torch.isfinite(out).any()


# ----------------------------------------------------------------------------
# sample_next
# ----------------------------------------------------------------------------
N_DRAWS = 20000


def frequencies(ids: torch.Tensor, vocab: int) -> torch.Tensor:
    return torch.bincount(ids, minlength=vocab).double() / ids.numel()


def test_sample_next_frequencies_match_softmax():
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    g = torch.Generator().manual_seed(0)
    ids = sample_next(logits.expand(N_DRAWS, -1), generator=g)
    assert ids.shape == (N_DRAWS,)
    torch.testing.assert_close(frequencies(ids, 5), torch.softmax(logits.double(), -1), atol=0.015, rtol=0)


def test_sample_next_with_filters_draws_only_kept_tokens():
    g = torch.Generator().manual_seed(1)
    ids = sample_next(LOGITS.expand(N_DRAWS, -1), temperature=0.5, top_k=3, top_p=0.9, generator=g)
    expected = torch.softmax(filter_logits(LOGITS, 0.5, 3, 0.9).double(), -1)
    assert expected[2:].sum() == 0
    torch.testing.assert_close(frequencies(ids, 4), expected, atol=0.015, rtol=0)


def test_sample_next_is_repeatable_with_a_seeded_generator():
    logits = torch.randn(8, 6, generator=torch.Generator().manual_seed(3))
    draw = lambda seed: sample_next(logits, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(5), draw(5))
    assert not all(torch.equal(draw(5), draw(s)) for s in range(6, 10))


def test_sample_next_one_row():
    out = sample_next(torch.tensor([0.0, 100.0, 0.0]))
    assert out.shape == () and out.item() == 1


@pytest.mark.parametrize("kwargs, name, error", [({"top_k": 0}, "k", ValueError),
                                                 ({"top_k": 1.5}, "k", TypeError),
                                                 ({"top_p": 0}, "p", ValueError),
                                                 ({"top_p": 1.1}, "p", ValueError),
                                                 ({"top_p": float("nan")}, "p", ValueError)])
def test_sample_next_checks_filter_arguments(kwargs, name, error):
    value = next(iter(kwargs.values()))
    with pytest.raises(error, match=arg_error(name, value)):
        sample_next(LOGITS, **kwargs)


# ----------------------------------------------------------------------------
# generate and greedy on a tiny random GPT
# ----------------------------------------------------------------------------
@pytest.fixture
def peaked_gpt(tiny_config, make_gpt):
    """A random GPT whose next-token distributions are far from uniform.

    Scaling the (tied) token embedding by 10 scales the logits: the top token
    gets about 0.6 of the probability and leads the runner-up by more than 0.3
    in logits, so argmax has clear winners and cached/uncached rounding
    differences (~1e-6) cannot flip a choice, while sampling stays random.
    """
    model = make_gpt(tiny_config, seed=1)
    with torch.no_grad():
        model.wte.weight.mul_(10.0)
    return model


@pytest.fixture
def prompt():
    return torch.tensor([[1, 2, 3], [4, 4, 0]])


def test_generate_shape_and_prompt_kept(peaked_gpt, prompt):
    out = generate(peaked_gpt, prompt, 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 8) and out.dtype == prompt.dtype
    assert torch.equal(out[:, :3], prompt)
    assert ((out >= 0) & (out < 11)).all()
    assert torch.equal(generate(peaked_gpt, prompt, 0), prompt)


def test_generate_is_repeatable_with_a_seeded_generator(peaked_gpt, prompt):
    run = lambda seed: generate(peaked_gpt, prompt, 8, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(run(0), run(0))
    assert not all(torch.equal(run(0), run(s)) for s in range(1, 5))


def test_greedy_equals_argmax_stepping(peaked_gpt, prompt):
    out = greedy(peaked_gpt, prompt, 6)
    by_hand = prompt
    with torch.no_grad():
        for _ in range(6):
            next_id = peaked_gpt(by_hand).logits[:, -1].argmax(-1)
            by_hand = torch.cat([by_hand, next_id[:, None]], dim=1)
    assert torch.equal(out, by_hand)


def test_generate_at_low_temperature_is_greedy(peaked_gpt, prompt):
    out = generate(peaked_gpt, prompt, 6, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, greedy(peaked_gpt, prompt, 6))
    out = generate(peaked_gpt, prompt, 6, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, greedy(peaked_gpt, prompt, 6))


@pytest.mark.parametrize("seed", [0, 1])
def test_cache_fills_the_whole_block_at_the_edge(peaked_gpt, prompt, seed):
    # 3 + 10 tokens, but only 3 + 10 - 1 = 12 = block_size go through the model: the last is never fed.
    cached = greedy(peaked_gpt, prompt, 10, use_cache=True)
    assert cached.shape == (2, 13) and torch.equal(cached, greedy(peaked_gpt, prompt, 10))
    run = lambda cache: generate(peaked_gpt, prompt, 10, temperature=1.5, use_cache=cache,  # noqa: E731
                                 generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(True), run(False))


def test_cache_gives_identical_tokens_greedy(peaked_gpt, prompt):
    assert torch.equal(greedy(peaked_gpt, prompt, 9, use_cache=True), greedy(peaked_gpt, prompt, 9))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cache_gives_identical_tokens_sampling(peaked_gpt, prompt, seed):
    run = lambda cache: generate(peaked_gpt, prompt, 9, temperature=1.5, use_cache=cache,  # noqa: E731
                                 generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(True), run(False))


def test_cache_must_fit_in_block_size(peaked_gpt, prompt):
    with pytest.raises(ValueError, match=r"with `use_cache=True` the prompt \(3 tokens\) plus `max_new_tokens` "
                                         r"\(11\) minus 1 .* has to fit in the model's block_size \(12\)"):
        generate(peaked_gpt, prompt, 11, use_cache=True)
    # Without a cache the model slides a window over longer text.
    assert greedy(peaked_gpt, prompt, 20).shape == (2, 23)


def test_eos_stops_a_row_and_repeats(peaked_gpt, prompt):
    plain = greedy(peaked_gpt, prompt, 8)
    eos_id = plain[0, 4].item()  # row 0's second new token
    out = greedy(peaked_gpt, prompt, 8, eos_id=eos_id)
    for row in range(2):
        new = plain[row, 3:].tolist()
        stop = new.index(eos_id) if eos_id in new else len(new) - 1
        assert out[row, 3:3 + stop + 1].tolist() == new[:stop + 1]  # the same up to the first eos
        assert (out[row, 3 + stop + 1:] == eos_id).all()            # then only eos
    assert out.shape[1] <= plain.shape[1]


def test_eos_stops_early_when_every_row_finished(peaked_gpt, prompt):
    one = prompt[:1]
    first = greedy(peaked_gpt, one, 1)[0, -1].item()
    out = greedy(peaked_gpt, one, 8, eos_id=first)
    assert out.shape == (1, 4) and out[0, -1].item() == first
    sampled = generate(peaked_gpt, one, 8, eos_id=first, use_cache=True,
                       generator=torch.Generator().manual_seed(0))
    assert sampled[0, -1].item() == first and (sampled[0, 3:] == first).sum() == 1


def test_generate_restores_training_mode(peaked_gpt, prompt):
    peaked_gpt.train()
    generate(peaked_gpt, prompt, 2)
    beam_search(peaked_gpt, prompt[:1], 2, 2)
    assert peaked_gpt.training
    peaked_gpt.eval()
    greedy(peaked_gpt, prompt, 2)
    assert not peaked_gpt.training


def test_generate_argument_errors(peaked_gpt, prompt):
    with pytest.raises(ValueError, match=arg_error("max_new_tokens", -1) + " has to be a non-negative integer"):
        generate(peaked_gpt, prompt, -1)
    with pytest.raises(ValueError, match=r"`idx` has to be a \(batch, T\) tensor of token ids with T >= 1, "
                                         r"got \(3,\)"):
        greedy(peaked_gpt, torch.tensor([1, 2, 3]), 2)
    with pytest.raises(ValueError, match=arg_error("temperature", 0.0)):
        generate(peaked_gpt, prompt, 2, temperature=0.0)
    with pytest.raises(ValueError, match=arg_error("k", 0)):
        generate(peaked_gpt, prompt, 2, top_k=0)
    with pytest.raises(ValueError, match=arg_error("p", 1.5)):
        generate(peaked_gpt, prompt, 2, top_p=1.5)
    with pytest.raises(TypeError, match=arg_error("max_new_tokens", "2") + ".*; got str"):
        greedy(peaked_gpt, prompt, "2")


def test_generate_accepts_numpy_numbers(peaked_gpt, prompt):
    def draw(**kwargs):
        return generate(peaked_gpt, prompt, **kwargs, generator=torch.Generator().manual_seed(0))

    expected = draw(max_new_tokens=3, temperature=0.8, top_k=3, top_p=0.9, eos_id=1)
    got = draw(max_new_tokens=np.int64(3), temperature=np.float32(0.8), top_k=np.int32(3),
               top_p=np.float64(0.9), eos_id=np.int64(1))
    assert torch.equal(got, expected)
    assert torch.equal(greedy(peaked_gpt, prompt, np.int16(3)), greedy(peaked_gpt, prompt, 3))


@pytest.mark.parametrize("decode", [
    lambda m, p, e: generate(m, p, 3, eos_id=e),
    lambda m, p, e: greedy(m, p, 3, eos_id=e),
    lambda m, p, e: beam_search(m, p[:1], 2, 3, eos_id=e),
])
def test_eos_id_has_to_be_a_token_id_of_the_model(peaked_gpt, prompt, decode):
    last = peaked_gpt.config.vocab_size - 1
    with pytest.raises(TypeError, match=arg_error("eos_id", "<eos>") + rf" has to be a token id, an integer "
                                        rf"from 0 to vocab_size - 1 = {last}, or None; for a word use its "
                                        r"id, e.g. `tokenizer.eos_id`; got str"):
        decode(peaked_gpt, prompt, "<eos>")
    for bad in (last + 1, 999, -1):
        with pytest.raises(ValueError, match=arg_error("eos_id", bad) + " has to be a token id"):
            decode(peaked_gpt, prompt, bad)
    for bad in (1.0, True):
        with pytest.raises(TypeError, match=arg_error("eos_id", bad) + " has to be a token id"):
            decode(peaked_gpt, prompt, bad)


# ----------------------------------------------------------------------------
# Beam search
# ----------------------------------------------------------------------------
VOCAB4 = 4


@pytest.fixture
def gpt4(make_gpt):
    """A vocabulary of 4: small enough to score every continuation."""
    model = make_gpt(GPTConfig(vocab_size=VOCAB4, block_size=8, n_layer=2, n_head=2, n_embd=16), seed=2)
    with torch.no_grad():
        model.wte.weight.mul_(10.0)
    return model


def exhaustive_best(model, prompt: list[int], steps: int, eos_id: int | None = None):
    """Score every continuation of ``steps`` tokens (cut after eos): ``[(log_prob, tail)]``, best first."""
    scored = []
    for tail in itertools.product(range(VOCAB4), repeat=steps):
        if eos_id is not None and eos_id in tail:
            tail = tail[:tail.index(eos_id) + 1]
        seq = torch.tensor([prompt + list(tail)])
        score = sequence_log_probs(model, seq)[0, len(prompt) - 1:].sum().item()
        scored.append((score, list(tail)))
    scored = sorted(set((s, tuple(t)) for s, t in scored), reverse=True)
    return scored


def test_beam_width_one_is_greedy(gpt4):
    prompt = torch.tensor([[0, 1]])
    tokens, log_prob = beam_search(gpt4, prompt, beam_width=1, max_new_tokens=5)
    expected = greedy(gpt4, prompt, 5)
    assert torch.equal(tokens, expected)
    assert log_prob == pytest.approx(sequence_log_probs(gpt4, expected)[0, 1:].sum().item(), abs=1e-5)


@pytest.mark.parametrize("eos_id", [None, 2])
def test_wide_beam_finds_the_exhaustive_best(gpt4, eos_id):
    steps = 3
    scored = exhaustive_best(gpt4, [0, 1], steps, eos_id)
    (best_score, best_tail), (second_score, _) = scored[0], scored[1]
    assert best_score - second_score > 1e-3  # a unique winner, so the test can tell
    tokens, log_prob = beam_search(gpt4, torch.tensor([0, 1]), beam_width=VOCAB4**steps,
                                   max_new_tokens=steps, eos_id=eos_id)
    assert tokens.tolist() == [[0, 1, *best_tail]]
    assert log_prob == pytest.approx(best_score, abs=1e-5)


class BigramLM(torch.nn.Module):
    """A hand-made model whose next-token distribution depends on the last token only.

    From token 0, greedy takes 1 (0.6) and then faces a flat distribution (best 0.3):
    0.18 in all.  Taking 2 (0.4) first leads to 3 with 0.95: 0.38.  Greedy misses it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.config = GPTConfig(vocab_size=4, block_size=8, n_layer=1, n_head=1, n_embd=4)
        table = torch.tensor([[0.0, 0.6, 0.4, 0.0],
                              [0.25, 0.3, 0.2, 0.25],
                              [0.02, 0.02, 0.01, 0.95],
                              [0.25, 0.25, 0.25, 0.25]])
        self.register_buffer("log_table", table.clamp_min(1e-9).log())

    def forward(self, idx: torch.Tensor, cache=None) -> GPTOutput:
        return GPTOutput(self.log_table[idx])  # (B, T, vocab)


def test_beam_search_finds_what_greedy_misses():
    model = BigramLM()
    prompt = torch.tensor([[0]])
    tokens, log_prob = beam_search(model, prompt, beam_width=1, max_new_tokens=2)
    assert tokens.tolist() == [[0, 1, 1]] and log_prob == pytest.approx(math.log(0.6 * 0.3), abs=1e-5)
    tokens, log_prob = beam_search(model, prompt, beam_width=2, max_new_tokens=2)
    assert tokens.tolist() == [[0, 2, 3]] and log_prob == pytest.approx(math.log(0.4 * 0.95), abs=1e-5)
    assert greedy(model, prompt, 2).tolist() == [[0, 1, 1]]


def test_beam_search_finished_hypotheses_stop_growing():
    # With eos_id = 1, "0 1" ends at 0.6 and beats every longer sequence (0.4 * 0.95 = 0.38).
    tokens, log_prob = beam_search(BigramLM(), torch.tensor([[0]]), beam_width=2, max_new_tokens=3, eos_id=1)
    assert tokens.tolist() == [[0, 1]] and log_prob == pytest.approx(math.log(0.6), abs=1e-5)


def test_beam_search_errors(gpt4):
    prompt = torch.tensor([[0, 1]])
    for width, error in ((0, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=arg_error("beam_width", width) + " has to be an integer >= 1"):
            beam_search(gpt4, prompt, width, 3)
    with pytest.raises(ValueError, match=r"`idx` has to hold one prompt \(batch 1\) for beam search, got batch 2"):
        beam_search(gpt4, torch.zeros(2, 3, dtype=torch.long), 2, 3)
    with pytest.raises(TypeError, match=arg_error("max_new_tokens", 2.0) + ".*; got float"):
        beam_search(gpt4, prompt, 2, 2.0)


def test_beam_search_zero_new_tokens_returns_the_prompt(gpt4):
    tokens, log_prob = beam_search(gpt4, torch.tensor([[0, 1]]), 3, 0)
    assert tokens.tolist() == [[0, 1]] and log_prob == 0.0
