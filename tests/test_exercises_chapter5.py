"""Chapter 5's exercise checkers: right answers pass, typical mistakes get their hint, stubs get a hint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llm_book.exercises import check_5_1, check_5_2, check_5_3, check_5_4, check_5_5
from llm_book.sampling import top_p_filter
from llm_book.training import lr_at
from checker_helpers import assert_hint, assert_right, catalogue_tests, expect, global_state
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("checker", [check_5_1, check_5_2, check_5_3, check_5_4, check_5_5])
def test_stub_gets_the_not_written_yet_hint(checker, capsys):
    verdict = checker(stub)
    assert not verdict
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_5_1, check_5_2, check_5_3, check_5_4, check_5_5])
def test_not_a_function(checker, capsys):
    assert not checker(42)
    assert "expected a function" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# 5.1 padding mask
# ----------------------------------------------------------------------------
def padded_attention(q, k, v, padding_mask, fill=float("-inf"), scale=True, axis="keys"):
    scores = q @ k.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(q.shape[-1])
    if axis == "none":  # every score masked: all -inf rows
        return padded_attention(q, k, v, torch.zeros_like(padding_mask))
    mask = padding_mask[:, None, None, :] if axis == "keys" else padding_mask[:, None, :, None]
    scores = scores * mask if fill == 0 else scores.masked_fill(~mask, fill)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def weights_masked_after_softmax(q, k, v, padding_mask):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    weights = weights * padding_mask[:, None, None, :]
    return weights @ v, weights


def test_5_1_right(capsys):
    expect(check_5_1(padded_attention), capsys, True, "Right")


def test_5_1_right_with_the_package(capsys):
    from llm_book.attention import scaled_dot_product_attention

    expect(check_5_1(lambda q, k, v, m: scaled_dot_product_attention(q, k, v, m[:, None, None, :])),
           capsys, True)


@pytest.mark.parametrize("mistake, hint", [
    (lambda q, k, v, m: padded_attention(q, k, v, m, fill=0), "exp(0) = 1"),
    (lambda q, k, v, m: padded_attention(q, k, v, m, scale=False), "forgot the scaling"),
    (lambda q, k, v, m: padded_attention(q, k, v, m, axis="queries"), "queries (rows) instead of keys"),
    (lambda q, k, v, m: padded_attention(q, k, v, torch.ones_like(m)), "padding keys"),
    (weights_masked_after_softmax, "still sum to 1"),
    (lambda q, k, v, m: padded_attention(q, k, v, m, fill=-1e9, axis="none"), "NaN in the weights"),
    (lambda q, k, v, m: padded_attention(q, k, v, m)[0], "return two things"),
    (lambda q, k, v, m: (q, q), "wrong shapes"),
])
def test_5_1_mistakes(mistake, hint, capsys):
    expect(check_5_1(mistake), capsys, False, hint)


def test_5_1_in_place(capsys):
    def in_place(q, k, v, m):
        q.mul_(2)
        return padded_attention(q / 2, k, v, m)

    expect(check_5_1(in_place), capsys, False, "in place")


# ----------------------------------------------------------------------------
# 5.2 parameter count
# ----------------------------------------------------------------------------
def count(vocab, block, layers, c, tied=True, position=True, layernorm=True, biases=True, hidden=4):
    per_block = 4 * c * c + c * hidden * c * 2
    if biases:
        per_block += 4 * c + hidden * c + c
    if layernorm:
        per_block += 2 * 2 * c
    total = vocab * c + layers * per_block
    total += 0 if tied else vocab * c
    total += block * c if position else 0
    total += 2 * c if layernorm else 0
    return total


def test_5_2_right(capsys):
    expect(check_5_2(count), capsys, True, "Right")


@pytest.mark.parametrize("kwargs, hint", [
    ({"tied": False}, "shares its weights"),
    ({"position": False}, "position embedding"),
    ({"layernorm": False}, "LayerNorms are missing"),
    ({"biases": False}, "biases are missing"),
    ({"hidden": 1}, "4 x n_embd"),
])
def test_5_2_mistakes(kwargs, hint, capsys):
    expect(check_5_2(lambda *a: count(*a, **kwargs)), capsys, False, hint)


def test_5_2_other_wrong_number_and_wrong_type(capsys):
    expect(check_5_2(lambda *a: count(*a) + 1), capsys, False, "expected")
    expect(check_5_2(lambda *a: "many"), capsys, False, "one number")


# ----------------------------------------------------------------------------
# 5.3 learning-rate schedule
# ----------------------------------------------------------------------------
def schedule(step, lr, warmup, total, min_lr, late=False, to_zero=False):
    if step < warmup:
        return lr * (step if late else step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    low = 0.0 if to_zero else min_lr
    return low + 0.5 * (lr - low) * (1 + math.cos(math.pi * progress))


def test_5_3_right(capsys):
    expect(check_5_3(schedule), capsys, True, "Right")


@pytest.mark.parametrize("fn, hint", [
    (lambda *a: schedule(*a, late=True), "one step late"),
    (lambda *a: schedule(*a, to_zero=True), "goes to 0, not to min_lr"),
    (lambda s, lr, w, t, m: lr, "rise linearly"),
    (lambda s, lr, w, t, m: schedule(s, lr, w, t, m) if s < t else lr, "stay at min_lr"),
    (lambda s, lr, w, t, m: schedule(s, lr, w, t, m) if s < w else
     m + 0.5 * (lr - m) * (1 + math.cos(math.pi * s / t)), "progress through the decay"),
    (lambda *a: None, "one number"),
])
def test_5_3_mistakes(fn, hint, capsys):
    expect(check_5_3(fn), capsys, False, hint)


# ----------------------------------------------------------------------------
# 5.4 top-k
# ----------------------------------------------------------------------------
def my_top_k(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def test_5_4_right(capsys):
    expect(check_5_4(my_top_k), capsys, True, "Right")


def top_k_by_indices(logits, k):  # drops ties at the k-th value
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, torch.topk(logits, k, dim=-1).indices, True)
    return logits.masked_fill(~keep, float("-inf"))


def top_k_flattened(logits, k):
    flat = logits.reshape(-1)
    kth = torch.topk(flat, k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))


@pytest.mark.parametrize("fn, hint", [
    (lambda lg, k: my_top_k(lg, k).masked_fill(my_top_k(lg, k) == float("-inf"), 0.0), "not 0"),
    (lambda lg, k: torch.softmax(my_top_k(lg, k), -1), "not probabilities"),
    (lambda lg, k: my_top_k(lg, k + 1) if k < 12 else my_top_k(lg, k), "keeps"),
    (top_k_by_indices, "ties are all kept"),
    (top_k_flattened, "each row"),
    (lambda lg, k: my_top_k(lg, k) * 2, "logits changed"),
    (lambda lg, k: my_top_k(lg, k)[0], "wrong shape"),
])
def test_5_4_mistakes(fn, hint, capsys):
    expect(check_5_4(fn), capsys, False, hint)


def test_5_4_in_place(capsys):
    def in_place(logits, k):
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        return logits.masked_fill_(logits < kth, float("-inf"))

    expect(check_5_4(in_place), capsys, False, "in place")


# ----------------------------------------------------------------------------
# 5.5 top-p
# ----------------------------------------------------------------------------
def my_top_p(logits, p, crossing=True, ascending=False):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=not ascending)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass = probs.cumsum(-1)
    remove = (mass - probs >= p) if crossing else (mass > p)
    remove[..., 0] = False
    remove = torch.zeros_like(remove).scatter(-1, order, remove)
    return logits.masked_fill(remove, float("-inf"))


def test_5_5_right(capsys):
    expect(check_5_5(my_top_p), capsys, True, "Right")


def test_5_5_package_passes(capsys):
    expect(check_5_5(top_p_filter), capsys, True)


@pytest.mark.parametrize("fn, hint", [
    (lambda lg, p: my_top_p(lg, p, crossing=False), "Too few"),
    (lambda lg, p: my_top_p(lg, p, ascending=True), "nothing was removed"),
    (lambda lg, p: top_p_filter(lg, min(1.0, p + 0.2)), "Too many"),
    (lambda lg, p: torch.softmax(my_top_p(lg, p), -1), "not probabilities"),
    (lambda lg, p: lg.clone(), "nothing was removed"),
])
def test_5_5_mistakes(fn, hint, capsys):
    expect(check_5_5(fn), capsys, False, hint)


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
CHECKERS = [check_5_1, check_5_2, check_5_3, check_5_4, check_5_5]
RIGHT_ANSWERS = {check_5_1: padded_attention, check_5_2: count, check_5_3: schedule,
                 check_5_4: my_top_k, check_5_5: my_top_p}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


@pytest.mark.parametrize("answer", [lambda *a: torch.tensor(lr_at(*a)), lambda *a: np.float32(lr_at(*a)),
                                    lambda *a: torch.tensor([lr_at(*a)], dtype=torch.float32)])
def test_5_3_a_float32_rate_is_right(answer, capsys):
    assert_right(capsys, check_5_3, answer)


@pytest.mark.parametrize("answer", [lambda *a: np.int64(count(*a)), lambda *a: torch.tensor(count(*a)),
                                    lambda *a: np.float32(count(*a))])
def test_5_2_a_count_as_numpy_or_torch_is_right(answer, capsys):
    assert_right(capsys, check_5_2, answer)


def test_5_2_leaves_the_global_generator_alone(capsys):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)  # a state the checker's own seeding would not restore by chance
        before = global_state()
        check_5_2(count)
        assert global_state() == before


@pytest.mark.parametrize("fill, phrase", [(float("nan"), "contains nan"), (float("inf"), "contains +inf")])
def test_5_4_removed_tokens_have_to_be_minus_inf(fill, phrase, capsys):
    assert_hint(capsys, check_5_4, lambda lg, k: my_top_k(lg, k).nan_to_num(nan=fill, neginf=fill), phrase)


def test_5_4_a_float64_answer_is_right(capsys):
    assert_right(capsys, check_5_4, lambda lg, k: my_top_k(lg.double(), k))


def test_5_1_a_vector_where_a_pair_is_expected(capsys):
    assert_hint(capsys, check_5_1, lambda q, k, v, m: torch.ones(4), "return two things")
