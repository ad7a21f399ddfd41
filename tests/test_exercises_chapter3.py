"""Chapter 3's exercise checkers: right answers pass, typical mistakes get their hint, stubs get a hint."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import math

from llm_book.exercises import check_3_1, check_3_2, check_3_3, check_3_4, check_3_5, check_3_6, check_3_7, check_3_8
from llm_book.objectives import mask_tokens, masked_lm_loss
from llm_book.sampling import greedy
from checker_helpers import assert_hint, catalogue_tests, expect
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("checker", [check_3_1, check_3_2, check_3_3, check_3_4, check_3_5, check_3_6, check_3_7,
                                     check_3_8])
def test_stub_gets_the_not_written_yet_hint(checker, capsys):
    assert not checker(stub)
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_3_1, check_3_2, check_3_3, check_3_4, check_3_5, check_3_6, check_3_7,
                                     check_3_8])
def test_not_a_function(checker, capsys):
    assert not checker(None)
    assert "expected a function" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# 3.1 FFN
# ----------------------------------------------------------------------------
def test_3_1_right(capsys):
    expect(check_3_1(lambda x, W1, b1, W2, b2: torch.clamp(x @ W1 + b1, min=0) @ W2 + b2), capsys, True)


def ffn_in_place(x, W1, b1, W2, b2):
    h = x @ W1
    h += b1
    x.zero_()
    return torch.relu(h) @ W2 + b2


@pytest.mark.parametrize("answer, phrase", [
    (lambda x, W1, b1, W2, b2: (x @ W1 + b1) @ W2 + b2, "no non-linearity"),
    (lambda x, W1, b1, W2, b2: torch.relu(torch.relu(x @ W1 + b1) @ W2 + b2), "applied only once"),
    (lambda x, W1, b1, W2, b2: F.gelu(x @ W1 + b1) @ W2 + b2, "GELU"),
    (lambda x, W1, b1, W2, b2: torch.relu(x @ W1) @ W2 + b2, "b1 is missing"),
    (lambda x, W1, b1, W2, b2: torch.relu(x @ W1 + b1) @ W2, "b2 is missing"),
    (lambda x, W1, b1, W2, b2: (torch.relu(x @ W1) + b1) @ W2 + b2, "*before* max(0, .)"),
    (lambda x, W1, b1, W2, b2: torch.relu(x @ W1 + b1), "wrong shape"),
    (lambda x, W1, b1, W2, b2: torch.sigmoid(x @ W1 + b1) @ W2 + b2, "wrong values"),
    (ffn_in_place, "changed one of its inputs"),
])
def test_3_1_mistakes(answer, phrase, capsys):
    expect(check_3_1(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 3.2 greedy generation
# ----------------------------------------------------------------------------
def greedy_right(model, idx, n):
    with torch.no_grad():
        for _ in range(n):
            logits = model(idx[:, -model.config.block_size:]).logits[:, -1, :]
            idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx


def greedy_first_position(model, idx, n):
    with torch.no_grad():
        for _ in range(n):
            idx = torch.cat([idx, model(idx).logits[:, 0, :].argmax(-1, keepdim=True)], dim=1)
    return idx


def greedy_new_only(model, idx, n):
    return greedy_right(model, idx, n)[:, idx.shape[1]:]


def greedy_one_short(model, idx, n):
    return greedy_right(model, idx, n - 1)


def greedy_flat(model, idx, n):
    return greedy_right(model, idx, n)[0]


def test_3_2_right(capsys):
    expect(check_3_2(greedy_right), capsys, True, "llm_book.sampling.greedy")


@pytest.mark.parametrize("answer, phrase", [
    (greedy_first_position, "*last* position"),
    (greedy_new_only, "only the new tokens"),
    (greedy_one_short, "one new token per step"),
    (greedy_flat, "batch first"),
    (lambda model, idx, n: torch.cat([torch.zeros_like(idx), greedy_right(model, idx, n)[:, idx.shape[1]:]], 1),
     "start with the prompt"),
])
def test_3_2_mistakes(answer, phrase, capsys):
    expect(check_3_2(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 3.3 masked LM loss
# ----------------------------------------------------------------------------
def mlm_right(logits, labels):
    keep = labels != -100
    log_p = torch.log_softmax(logits[keep], -1)
    return -log_p[torch.arange(len(log_p)), labels[keep]].mean()


def mlm_sum(logits, labels):
    keep = labels != -100
    log_p = torch.log_softmax(logits[keep], -1)
    return -log_p[torch.arange(len(log_p)), labels[keep]].sum()


def mlm_all_positions(logits, labels):
    return mlm_sum(logits, labels) / labels.numel()


def mlm_no_log(logits, labels):
    keep = labels != -100
    p = torch.softmax(logits[keep], -1)
    return -p[torch.arange(len(p)), labels[keep]].mean()


def mlm_positive(logits, labels):
    return -mlm_right(logits, labels)


def mlm_no_ignore(logits, labels):
    log_p = torch.log_softmax(logits, -1)
    return -log_p.gather(-1, labels[..., None]).mean()


def test_3_3_right(capsys):
    expect(check_3_3(mlm_right), capsys, True)
    expect(check_3_3(lambda logits, labels: F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                            labels.reshape(-1))), capsys, True)


@pytest.mark.parametrize("answer, phrase", [
    (mlm_sum, "the sum over masked positions"),
    (mlm_all_positions, "divided by every position"),
    (mlm_no_log, "take the log"),
    (mlm_positive, "sign"),
    (mlm_no_ignore, "skip the positions whose label is -100"),
    (lambda logits, labels: torch.ones(3), "return one number"),
    (lambda logits, labels: mlm_right(logits, labels) * 2, "the value is off"),
])
def test_3_3_mistakes(answer, phrase, capsys):
    expect(check_3_3(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 3.4 InfoNCE
# ----------------------------------------------------------------------------
def cos(a, b):
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def test_3_4_right(capsys):
    expect(check_3_4(lambda a, b, t: F.cross_entropy(cos(a, b) / t, torch.arange(len(a)))), capsys, True)


@pytest.mark.parametrize("answer, phrase", [
    (lambda a, b, t: F.cross_entropy(a @ b.T / t, torch.arange(len(a))), "normalise a and b"),
    (lambda a, b, t: F.cross_entropy(cos(a, b), torch.arange(len(a))), "forgot the temperature"),
    (lambda a, b, t: F.cross_entropy(cos(a, b) * t, torch.arange(len(a))), "do not multiply"),
    (lambda a, b, t: (F.cross_entropy(cos(a, b) / t, torch.arange(len(a)))
                      + F.cross_entropy(cos(a, b).T / t, torch.arange(len(a)))) / 2, "symmetric"),
    (lambda a, b, t: F.cross_entropy(cos(a, b) / t, torch.zeros(len(a), dtype=torch.long)), "not column 0"),
    (lambda a, b, t: F.cross_entropy(cos(a, b) / t, torch.arange(len(a)), reduction="sum"), "not the sum"),
    (lambda a, b, t: cos(a, b), "return one number"),
    (lambda a, b, t: torch.tensor(1.234), "the value is off"),
])
def test_3_4_mistakes(answer, phrase, capsys):
    expect(check_3_4(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 3.5 the loss at initialisation (predict, then check)
# ----------------------------------------------------------------------------
def test_3_5_right(capsys):
    expect(check_3_5(lambda V: math.log(V)), capsys, True, "log V")
    expect(check_3_5(lambda V: -math.log(1 / V)), capsys, True)


@pytest.mark.parametrize("answer, phrase", [
    (lambda V: math.log2(V), "natural log"),
    (lambda V: math.log10(V), "log base 10"),
    (lambda V: 1 / V, "-log of the probability"),
    (lambda V: -math.log(V), "sign"),
    (lambda V: V, "not the vocabulary size"),
    (lambda V: math.log(V - 1), "1/(V - 1)"),
    (lambda V: 1 - 1 / V, "chance of being wrong"),
    (lambda V: math.log(35), "right for V = 35 only"),
    (lambda V: math.log(V) + 0.05, "close to uniform"),
])
def test_3_5_mistakes(answer, phrase, capsys):
    expect(check_3_5(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 3.6 find the bug in a masked-LM step
# ----------------------------------------------------------------------------
def mlm_step_right(encoder, batch, real, generator):
    inputs, labels = mask_tokens(batch, 35, 35, padding_mask=real, generator=generator)
    return masked_lm_loss(encoder(inputs, padding_mask=real).logits, labels)


def mlm_step_buggy(encoder, batch, real, generator):
    inputs, labels = mask_tokens(batch, 35, 35, padding_mask=real, generator=generator)
    return masked_lm_loss(encoder(batch, padding_mask=real).logits, labels)


def mlm_step_every_word(encoder, batch, real, generator):
    inputs, labels = mask_tokens(batch, 35, 35, padding_mask=real, generator=generator)
    return masked_lm_loss(encoder(inputs, padding_mask=real).logits, torch.where(real, batch, -100))


def mlm_step_both_bugs(encoder, batch, real, generator):
    return masked_lm_loss(encoder(batch, padding_mask=real).logits, torch.where(real, batch, -100))


def mlm_step_shifted(encoder, batch, real, generator):
    inputs, labels = mask_tokens(batch, 35, 35, padding_mask=real, generator=generator)
    return masked_lm_loss(encoder(inputs, padding_mask=real).logits[:, :-1], labels[:, 1:])


def mlm_step_two_draws(encoder, batch, real, generator):
    inputs, _ = mask_tokens(batch, 35, 35, padding_mask=real, generator=generator)
    _, labels = mask_tokens(batch, 35, 35, padding_mask=real, generator=generator)
    return masked_lm_loss(encoder(inputs, padding_mask=real).logits, labels)


def mlm_step_in_place(encoder, batch, real, generator):
    loss = mlm_step_right(encoder, batch, real, generator)
    batch[0, 0] = 35
    return loss


def test_3_6_right(capsys):
    expect(check_3_6(mlm_step_right), capsys, True, "corrupted sentence")


@pytest.mark.parametrize("answer, phrase", [
    (mlm_step_buggy, "still the bug"),
    (mlm_step_every_word, "the visible ones too"),
    (mlm_step_both_bugs, "every word is scored"),
    (mlm_step_shifted, "shifted by one"),
    (mlm_step_two_draws, "draw the mask once"),
    (mlm_step_in_place, "changed `batch` or `real` in place"),
    (lambda encoder, batch, real, g: encoder(batch).logits, "one number"),
])
def test_3_6_mistakes(answer, phrase, capsys):
    expect(check_3_6(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 3.7 the InfoNCE floor (derive, then measure)
# ----------------------------------------------------------------------------
def info_nce_floor_right(n, t):
    return math.log(1 + (n - 1) * math.exp(-(1 + 1 / (n - 1)) / t))


def test_3_7_right(capsys):
    expect(check_3_7(info_nce_floor_right), capsys, True, "regular simplex")


def test_3_7_the_floor_is_reached_by_a_regular_simplex():
    n, t = 8, 0.5
    simplex = torch.eye(n, dtype=torch.float64) - 1 / n                     # centred basis: a regular simplex
    scores = F.normalize(simplex, dim=-1) @ F.normalize(simplex, dim=-1).T / t
    assert math.isclose(F.cross_entropy(scores, torch.arange(n)).item(), info_nce_floor_right(n, t), rel_tol=1e-12)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):                                                      # random vectors never beat it
        a = F.normalize(torch.randn(n, 12, generator=g, dtype=torch.float64), dim=-1)
        assert F.cross_entropy(a @ a.T / t, torch.arange(n)).item() >= info_nce_floor_right(n, t)


@pytest.mark.parametrize("answer, phrase", [
    (lambda n, t: math.log1p((n - 1) * math.exp(-2 / t)), "cannot all happen at once"),
    (lambda n, t: math.log1p((n - 1) * math.exp(-1 / t)), "orthogonal negatives"),
    (lambda n, t: (n - 1) * math.exp(-n / ((n - 1) * t)), "log(1 + that)"),
    (lambda n, t: 0.0, "above 0"),
    (lambda n, t: math.log(n), "uniform guess"),
    (lambda n, t: math.log1p((n - 1) * math.exp(-n * t / (n - 1))), "do not multiply"),
    (lambda n, t: 0.5, "which value can N unit vectors reach"),
])
def test_3_7_mistakes(answer, phrase, capsys):
    expect(check_3_7(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 3.8 find the bug in causal attention
# ----------------------------------------------------------------------------
def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def _future(q):
    T = q.shape[-2]
    return ~torch.ones(T, T, dtype=torch.bool).tril()


def attention_right(q, k, v):
    return torch.softmax(_scores(q, k).masked_fill(_future(q), float("-inf")), dim=-1) @ v


def test_3_8_right(capsys):
    expect(check_3_8(attention_right), capsys, True, "sum to 1")
    expect(check_3_8(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)), capsys, True)


@pytest.mark.parametrize("answer, phrase", [
    (lambda q, k, v: torch.softmax(_scores(q, k), dim=-1).masked_fill(_future(q), 0.0) @ v, "still the bug"),
    (lambda q, k, v: torch.softmax(_scores(q, k), dim=-1) @ v, "no mask at all"),
    (lambda q, k, v: torch.softmax(_scores(q, k).masked_fill(_future(q), 0.0), dim=-1) @ v, "e^0 = 1"),
    (lambda q, k, v: torch.softmax((q @ k.transpose(-2, -1)).masked_fill(_future(q), float("-inf")), -1) @ v,
     "sqrt(d_k)"),
    (lambda q, k, v: torch.softmax(_scores(q, k).masked_fill(_future(q).T, float("-inf")), -1) @ v, "wrong way"),
    (lambda q, k, v: torch.softmax(_scores(q, k).masked_fill(_future(q), float("-inf")), -2) @ v, "over the keys"),
    (lambda q, k, v: attention_right(q, k, v)[..., :-1, :], "wrong shape"),
    (lambda q, k, v: attention_right(q, k, v) + 0.1, "wrong values"),
])
def test_3_8_mistakes(answer, phrase, capsys):
    expect(check_3_8(answer), capsys, False, phrase)


def test_3_8_in_place(capsys):
    def in_place(q, k, v):
        q.mul_(2)
        return attention_right(q, k, v)
    expect(check_3_8(in_place), capsys, False, "in place")


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
CHECKERS = [check_3_1, check_3_2, check_3_3, check_3_4, check_3_5, check_3_6, check_3_7, check_3_8]
RIGHT_ANSWERS = {check_3_1: lambda x, W1, b1, W2, b2: torch.clamp(x @ W1 + b1, min=0) @ W2 + b2,
                 check_3_2: greedy_right, check_3_3: mlm_right,
                 check_3_4: lambda a, b, t: F.cross_entropy(cos(a, b) / t, torch.arange(len(a))),
                 check_3_5: lambda V: torch.log(torch.tensor(float(V))),
                 check_3_6: lambda encoder, batch, real, g: mlm_step_right(encoder, batch, real, g),
                 check_3_7: lambda n, t: info_nce_floor_right(n, t),
                 check_3_8: lambda q, k, v: attention_right(q, k, v)}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_3_2_none_gets_a_hint(capsys):
    assert_hint(capsys, check_3_2, lambda model, idx, n: None, "got None")


def test_3_2_a_wrong_float_tensor_gets_a_hint_not_a_decoding_error(capsys):
    assert_hint(capsys, check_3_2, lambda m, idx, n: torch.cat([idx.float(), torch.full((1, n), 2.5)], 1),
                "whole numbers")


def test_3_2_ids_outside_the_vocabulary_get_a_hint(capsys):
    assert_hint(capsys, check_3_2, lambda m, idx, n: torch.cat([idx, torch.full((1, n), 999)], 1),
                "token id 999 is not in the vocabulary")


def test_3_2_the_reference_does_not_see_the_readers_edits_of_the_model(capsys):
    def edits_the_model(model, idx, n):
        model.wte.weight.data.zero_()
        return greedy(model, idx, n)

    assert_hint(capsys, check_3_2, edits_the_model, "greedy takes the argmax")


def test_3_3_a_vector_where_a_number_is_expected(capsys):
    assert_hint(capsys, check_3_3, lambda logits, labels: torch.ones(3), "shape (3,)")
