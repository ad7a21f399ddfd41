"""Chapter 5's exercise checkers: right answers pass, typical mistakes get their hint, stubs get a hint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llm_book.exercises import check_5_1, check_5_2, check_5_5, check_5_9, check_5_10
from llm_book.sampling import top_p_filter
from llm_book.training import lr_at
from checker_helpers import assert_hint, assert_right, catalogue_tests, expect, global_state
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("checker", [check_5_1, check_5_2, check_5_5, check_5_9, check_5_10])
def test_stub_gets_the_not_written_yet_hint(checker, capsys):
    verdict = checker(stub)
    assert not verdict
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_5_1, check_5_2, check_5_5, check_5_9, check_5_10])
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
# 5.5 learning-rate schedule
# ----------------------------------------------------------------------------
def schedule(step, lr, warmup, total, min_lr, late=False, to_zero=False):
    if step < warmup:
        return lr * (step if late else step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    low = 0.0 if to_zero else min_lr
    return low + 0.5 * (lr - low) * (1 + math.cos(math.pi * progress))


def test_5_5_right(capsys):
    expect(check_5_5(schedule), capsys, True, "Right")


@pytest.mark.parametrize("fn, hint", [
    (lambda *a: schedule(*a, late=True), "one step late"),
    (lambda *a: schedule(*a, to_zero=True), "goes to 0, not to min_lr"),
    (lambda s, lr, w, t, m: lr, "rise linearly"),
    (lambda s, lr, w, t, m: schedule(s, lr, w, t, m) if s < t else lr, "stay at min_lr"),
    (lambda s, lr, w, t, m: schedule(s, lr, w, t, m) if s < w else
     m + 0.5 * (lr - m) * (1 + math.cos(math.pi * s / t)), "progress through the decay"),
    (lambda *a: None, "one number"),
])
def test_5_5_mistakes(fn, hint, capsys):
    expect(check_5_5(fn), capsys, False, hint)


# ----------------------------------------------------------------------------
# 5.9 top-k
# ----------------------------------------------------------------------------
def my_top_k(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def test_5_9_right(capsys):
    expect(check_5_9(my_top_k), capsys, True, "Right")


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
def test_5_9_mistakes(fn, hint, capsys):
    expect(check_5_9(fn), capsys, False, hint)


def test_5_9_in_place(capsys):
    def in_place(logits, k):
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        return logits.masked_fill_(logits < kth, float("-inf"))

    expect(check_5_9(in_place), capsys, False, "in place")


# ----------------------------------------------------------------------------
# 5.10 top-p
# ----------------------------------------------------------------------------
def my_top_p(logits, p, crossing=True, ascending=False):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=not ascending)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass = probs.cumsum(-1)
    remove = (mass - probs >= p) if crossing else (mass > p)
    remove[..., 0] = False
    remove = torch.zeros_like(remove).scatter(-1, order, remove)
    return logits.masked_fill(remove, float("-inf"))


def test_5_10_right(capsys):
    expect(check_5_10(my_top_p), capsys, True, "Right")


def test_5_10_package_passes(capsys):
    expect(check_5_10(top_p_filter), capsys, True)


@pytest.mark.parametrize("fn, hint", [
    (lambda lg, p: my_top_p(lg, p, crossing=False), "Too few"),
    (lambda lg, p: my_top_p(lg, p, ascending=True), "nothing was removed"),
    (lambda lg, p: top_p_filter(lg, min(1.0, p + 0.2)), "Too many"),
    (lambda lg, p: torch.softmax(my_top_p(lg, p), -1), "not probabilities"),
    (lambda lg, p: lg.clone(), "nothing was removed"),
])
def test_5_10_mistakes(fn, hint, capsys):
    expect(check_5_10(fn), capsys, False, hint)


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
CHECKERS = [check_5_1, check_5_2, check_5_5, check_5_9, check_5_10]
RIGHT_ANSWERS = {check_5_1: padded_attention, check_5_2: count, check_5_5: schedule,
                 check_5_9: my_top_k, check_5_10: my_top_p}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


@pytest.mark.parametrize("answer", [lambda *a: torch.tensor(lr_at(*a)), lambda *a: np.float32(lr_at(*a)),
                                    lambda *a: torch.tensor([lr_at(*a)], dtype=torch.float32)])
def test_5_5_a_float32_rate_is_right(answer, capsys):
    assert_right(capsys, check_5_5, answer)


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
def test_5_9_removed_tokens_have_to_be_minus_inf(fill, phrase, capsys):
    assert_hint(capsys, check_5_9, lambda lg, k: my_top_k(lg, k).nan_to_num(nan=fill, neginf=fill), phrase)


def test_5_9_a_float64_answer_is_right(capsys):
    assert_right(capsys, check_5_9, lambda lg, k: my_top_k(lg.double(), k))


def test_5_1_a_vector_where_a_pair_is_expected(capsys):
    assert_hint(capsys, check_5_1, lambda q, k, v, m: torch.ones(4), "return two things")


# ============================================================================
# Notebooks 5a (5.3, 5.4) and 5c (5.11, 5.12)
# ============================================================================
from llm_book.exercises import check_5_3, check_5_4, check_5_11, check_5_12  # noqa: E402
from llm_book.exercises.chapter5 import _heads_attention  # noqa: E402

MINE = [check_5_3, check_5_4, check_5_11, check_5_12]


@pytest.mark.parametrize("checker", MINE)
def test_5a_5c_stub_and_not_a_function(checker, capsys):
    assert not checker(stub)
    assert "not written yet" in capsys.readouterr().out
    assert not checker(42)
    assert "expected a function" in capsys.readouterr().out


# 5.3 find the bug: the split into heads ---------------------------------
def fixed_attention(layer, x):
    B, T, C = x.shape
    H = layer.num_heads
    D = C // H
    q, k, v = (f(x).view(B, T, H, D).transpose(1, 2) for f in (layer.query, layer.key, layer.value))
    scores = (q @ k.transpose(-2, -1) / math.sqrt(D)).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(),
                                                                  float("-inf"))
    return layer.out((torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, C))


def test_5_3_right(capsys):
    expect(check_5_3(fixed_attention), capsys, True, "Right", "no longer move")
    expect(check_5_3(lambda layer, x: _heads_attention(layer, x)), capsys, True)


def test_5_3_calling_the_layer_is_not_an_answer(capsys):
    expect(check_5_3(lambda layer, x: layer(x)), capsys, False, "called the layer itself", "by hand")
    expect(check_5_3(lambda layer, x: layer.forward(x)), capsys, False, "called the layer itself")


@pytest.mark.parametrize("kwargs, hints", [
    ({"split_bug": True}, ["split into heads is still wrong", "positions 0-3 move"]),
    ({"split_bug": True, "merge_bug": True}, ["undoes the wrong split"]),
    ({"merge_bug": True}, ["merge is not", "positions 0-3 move"]),
    ({"scale": "model"}, ["width D, not of the model width"]),
    ({"scale": "none"}, ["no longer divided"]),
    ({"masked": False}, ["causal mask is gone"]),
])
def test_5_3_mistakes(kwargs, hints, capsys):
    expect(check_5_3(lambda layer, x: _heads_attention(layer, x, **kwargs)), capsys, False, *hints)


def test_5_3_other_mistakes(capsys):
    def strict(layer, x):  # position 0 sees nothing: a row of -inf
        T = x.shape[1]
        out = _heads_attention(layer, x, masked=False)
        return out + torch.where(torch.arange(T)[:, None] == 0, float("nan"), 0.0)

    expect(check_5_3(strict), capsys, False, "contains nan", "its own position")
    expect(check_5_3(lambda layer, x: _heads_attention(layer, x) + x[:, -1:].sum(-1, keepdim=True)), capsys,
           False, "still leaks")
    expect(check_5_3(lambda layer, x: _heads_attention(layer, x) * 1.01), capsys, False,
           "fix only the split into heads")
    expect(check_5_3(lambda layer, x: _heads_attention(layer, x)[:, :3]), capsys, False, "wrong shape")
    expect(check_5_3(lambda layer, x: x.mul_(2)), capsys, False, "in place")

    def weights_changed(layer, x):
        with torch.no_grad():
            layer.out.bias.zero_()
        return _heads_attention(layer, x)

    expect(check_5_3(weights_changed), capsys, False, "in place")


# 5.4 derive: attention FLOPs --------------------------------------------------
def attention_flops(T, n_head, head_size, products=1.0, projections=1.0):
    C = n_head * head_size
    return 4 * n_head * T * T * head_size * products, 8 * T * C * C * projections


def test_5_4_right(capsys):
    expect(check_5_4(attention_flops), capsys, True, "Right", "T > 2C")


@pytest.mark.parametrize("answer, hint", [
    (lambda T, H, D: attention_flops(T, H, D, products=0.5), "two products"),
    (lambda T, H, D: attention_flops(T, H, D, products=0.25), "a quarter of the measured"),
    (lambda T, H, D: attention_flops(T, H, D, products=H), "n_head too often"),
    (lambda T, H, D: attention_flops(T, H, D, products=1 / H), "heads are missing"),
    (lambda T, H, D: attention_flops(T, H, D, products=1 / T), "T^2"),
    (lambda T, H, D: attention_flops(T, H, D, products=2), "already counted"),
    (lambda T, H, D: attention_flops(T, H, D, products=5), "FlopCounterMode"),
    (lambda T, H, D: attention_flops(T, H, D, projections=0.5), "2 * T * C * C FLOPs"),
    (lambda T, H, D: attention_flops(T, H, D, projections=0.75), "fourth C x C layer"),
    (lambda T, H, D: attention_flops(T, H, D, projections=0.25), "four projections"),
    (lambda T, H, D: attention_flops(T, H, D, projections=1 / H), "full width"),
    (lambda T, H, D: attention_flops(T, H, D, projections=3), "four C x C layers"),
    (lambda T, H, D: attention_flops(T, H, D)[0], "two numbers"),
    (lambda T, H, D: (1.0, "x"), "`projections`"),
])
def test_5_4_mistakes(answer, hint, capsys):
    expect(check_5_4(answer), capsys, False, hint)


# 5.11 predict: what the key/value cache holds ----------------------------------
def cache_shape(batch, prompt_len, new_tokens, n_head, n_embd):
    return batch, n_head, prompt_len + new_tokens - 1, n_embd // n_head


def test_5_11_right(capsys):
    expect(check_5_11(cache_shape), capsys, True, "Right", "prompt_len + new_tokens - 1")
    expect(check_5_11(lambda *a: list(cache_shape(*a))), capsys, True)
    expect(check_5_11(lambda *a: torch.Size(cache_shape(*a))), capsys, True)


@pytest.mark.parametrize("answer, hint", [
    (lambda b, p, n, h, c: (b, h, p + n, c // h), "one too many"),
    (lambda b, p, n, h, c: (b, h, n, c // h), "prompt's keys and values"),
    (lambda b, p, n, h, c: (b, h, n - 1, c // h), "prompt's keys and values"),
    (lambda b, p, n, h, c: (b, h, p + n - 2, c // h), "count the tokens"),
    (lambda b, p, n, h, c: (b, p + n - 1, h, c // h), "heads before positions"),
    (lambda b, p, n, h, c: (c // h, h, p + n - 1, b), "wrong order"),
    (lambda b, p, n, h, c: (b, h, p + n - 1, c), "n_embd // n_head"),
    (lambda b, p, n, h, c: (b, h, p + n - 1, 1), "one head's width"),
    (lambda b, p, n, h, c: (1, h, p + n - 1, c // h), "batch"),
    (lambda b, p, n, h, c: (b, 1, p + n - 1, c // h), "number of heads"),
    (lambda b, p, n, h, c: (b, h, p + n - 1), "4 sizes"),
    (lambda b, p, n, h, c: (b, h, p + n - 0.5, c // h), "whole numbers"),
])
def test_5_11_mistakes(answer, hint, capsys):
    expect(check_5_11(answer), capsys, False, hint)


def test_5_11_leaves_the_package_as_it_was(capsys):
    import llm_book.sampling as sampling
    from llm_book.model import KVCache

    check_5_11(cache_shape)
    assert sampling.KVCache is KVCache


# 5.12 derive: the cache's memory per token ----------------------------------------
def kv_bytes_per_token(n_layer, n_embd, bytes_per_number):
    return 2 * n_layer * n_embd * bytes_per_number


def test_5_12_right(capsys):
    expect(check_5_12(kv_bytes_per_token), capsys, True, "Right")


@pytest.mark.parametrize("factor, hint", [
    (0.5, "keys *and* values"), (1.5, "queries are not cached"), (8, "bits"), (2, "twice"),
    (3, "expected"),
])
def test_5_12_mistakes(factor, hint, capsys):
    expect(check_5_12(lambda *a: kv_bytes_per_token(*a) * factor), capsys, False, hint)


@pytest.mark.parametrize("answer, hint", [
    (lambda L, C, b: 2 * C * b, "every layer"),
    (lambda L, C, b: C * b, "two tensors (keys and values) in every one"),
    (lambda L, C, b: 2 * L * C, "numbers, not bytes"),
    (lambda L, C, b: 2 * L * C * b * {64: 16, 32: 2, 16: 8}[C], "already counts all heads"),
    (lambda L, C, b: 2 * L * b * C // {64: 16, 32: 2, 16: 8}[C], "one head's width"),
])
def test_5_12_other_mistakes(answer, hint, capsys):
    expect(check_5_12(answer), capsys, False, hint)


test_5a_5c_right_answer_in_every_type, test_5a_5c_wrong_answer_catalogue = catalogue_tests(
    MINE, {check_5_3: fixed_attention, check_5_4: attention_flops, check_5_11: cache_shape,
           check_5_12: kv_bytes_per_token})


# ----------------------------------------------------------------------------
# 5b: 5.6 warm-up (modify and measure), 5.7 padded vs packed targets (predict), 5.8 epochs (derive)
# ----------------------------------------------------------------------------
import functools  # noqa: E402

from llm_book.exercises import check_5_6, check_5_7, check_5_8  # noqa: E402
from llm_book.exercises.chapter5 import WARMUP_RECIPE, _never_covered  # noqa: E402

MINE_5B = [check_5_6, check_5_7, check_5_8]


@functools.lru_cache
def early_losses(warmup_steps, lr=WARMUP_RECIPE["lr"], seed=0):
    """Exercise 5.6's runs (cached: each takes about a second)."""
    import llm_book
    from llm_book.language import ToyLanguage
    from llm_book.model import GPT, GPTConfig
    from llm_book.tokenizer import WordTokenizer
    from llm_book.training import PackedLanguageSampler, train

    language = ToyLanguage()
    tokenizer = WordTokenizer(language.vocab, eos=language.eos)
    sampler = PackedLanguageSampler(language, tokenizer, 16)
    llm_book.set_seed(seed)
    model = GPT(GPTConfig(vocab_size=len(tokenizer), block_size=16, n_layer=2, n_head=4, n_embd=64))
    batches = torch.Generator().manual_seed(seed)
    history = train(model, lambda step: sampler(32, batches), steps=60, lr=lr, warmup_steps=warmup_steps,
                    device="cpu")
    return tuple(history.loss)


def test_5_6_right_with_and_without_the_explanation(capsys):
    expect(check_5_6(early_losses, "a"), capsys, True, "Right", "ends clearly higher")
    expect(check_5_6(early_losses, "(A)"), capsys, True, "settle")
    expect(check_5_6(early_losses), capsys, True, "pick the explanation")
    expect(check_5_6(early_losses, lambda: "a"), capsys, True)


@pytest.mark.parametrize("answer, explanation, hint", [
    (early_losses, "b", "your own runs say otherwise"),
    (early_losses, "c", "still there at step 60"),
    (early_losses, "d", "pick one of"),
    (early_losses, 3, "pick one of"),
    (lambda w: early_losses(0), "a", "same losses"),
    (lambda w: early_losses(w)[:50], "a", "60 numbers"),
    (lambda w: early_losses(w, seed=3), "a", "llm_book.set_seed(0)"),
    (lambda w: early_losses(w, lr=3e-3), "a", "should end clearly higher"),
    (lambda w: [x - 1 for x in early_losses(w)], "a", "fresh GPT"),
    (lambda w: [float("nan")] * 60, "a", "contains nan"),
])
def test_5_6_mistakes(answer, explanation, hint, capsys):
    assert_hint(capsys, lambda a: check_5_6(a, explanation), answer, hint)


def count_targets(lengths, block_size):
    return sum(n - 1 for n in lengths), len(lengths) * block_size, block_size - (max(lengths) - 1)


def test_5_7_right(capsys):
    expect(check_5_7(count_targets), capsys, True, "Right")


@pytest.mark.parametrize("answer, hint", [
    (lambda lens, b: (sum(lens), len(lens) * b, b - max(lens) + 1), "n - 1 targets"),
    (lambda lens, b: (len(lens) * b, len(lens) * b, b - max(lens) + 1), "skips"),
    (lambda lens, b: (sum(n - 2 for n in lens), len(lens) * b, b - max(lens) + 1), "<eos> is a target"),
    (lambda lens, b: (sum(lens) + 5, len(lens) * b, 0), "real words"),
    (lambda lens, b: (count_targets(lens, b)[0], len(lens) * (b + 1), 0), "block_size + 1 tokens"),
    (lambda lens, b: (count_targets(lens, b)[0],) * 2 + (0,), "no padding"),
    (lambda lens, b: (count_targets(lens, b)[0], len(lens) * b - 1, 0), "same shape"),
    (lambda lens, b: count_targets(lens, b)[:2] + (b - max(lens),), "one short"),
    (lambda lens, b: count_targets(lens, b)[:2] + (0,), "padding in every row"),
    (lambda lens, b: count_targets(lens, b)[:2] + (1,), "which positions"),
    (lambda lens, b: count_targets(lens, b)[:2], "three counts"),
])
def test_5_7_mistakes(answer, hint, capsys):
    assert_hint(capsys, check_5_7, answer, hint)


def epoch_facts(n_chars, batch_size, block_size):
    steps = n_chars / (batch_size * block_size)
    return steps, (1 - block_size / n_chars) ** (n_chars / block_size)


def test_5_8_right(capsys):
    expect(check_5_8(epoch_facts), capsys, True, "Right", "measured")
    expect(check_5_8(lambda n, b, t: (math.ceil(n / (b * t)), math.exp(-1))), capsys, True)


@pytest.mark.parametrize("answer, hint", [
    (lambda n, b, t: (n / b, math.exp(-1)), "batch_size x block_size characters"),
    (lambda n, b, t: (n / t, math.exp(-1)), "a step has batch_size of them"),
    (lambda n, b, t: (n * b * t, math.exp(-1)), "characters in the text"),
    (lambda n, b, t: (n / (b * t), 0.0), "overlap and leave gaps"),
    (lambda n, b, t: (n / (b * t), 1 - math.exp(-1)), "covered at least once"),
    (lambda n, b, t: (n / (b * t), 0.5), "to the power"),
    (lambda n, b, t: (n / (b * t), 37.0), "between 0 and 1"),
    (lambda n, b, t: n / (b * t), "two numbers"),
])
def test_5_8_mistakes(answer, hint, capsys):
    assert_hint(capsys, check_5_8, answer, hint)


def test_5_8_the_measurement_agrees_with_the_formula():
    assert abs(_never_covered(418_712, 32, 32, 409) - math.exp(-1)) < 0.01
    assert _never_covered(1000, 10, 10, 0) == 1.0          # no window yet: nothing covered


test_5b_right_answer_in_every_type, test_5b_wrong_answer_catalogue = catalogue_tests(
    MINE_5B, {check_5_6: early_losses, check_5_7: count_targets, check_5_8: epoch_facts})


@pytest.mark.parametrize("checker", MINE_5B)
def test_5b_stub_and_not_a_function(checker, capsys):
    expect(checker(stub), capsys, False, "not written yet")
    expect(checker(42), capsys, False, "expected a function")
