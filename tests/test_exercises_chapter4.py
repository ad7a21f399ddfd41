"""Chapter 4's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math

import pytest
import torch

from llm_book.exercises import (check_4_1, check_4_2, check_4_3, check_4_4, check_4_5, check_4_6, check_4_7,
                                check_4_8)
from llm_book.language import ToyLanguage
from checker_helpers import assert_hint, catalogue_tests, stub, verdict
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)

LANG = ToyLanguage()


def test_4_1(capsys):
    def right(words):
        p = 1.0
        for t in range(1, len(words)):
            p *= LANG.next_token_probs(words[:t]).get(words[t], 0.0)
        return p

    def stops_early(words):
        return right(words[:-1])

    def log_prob(words):
        return math.log(right(words))

    assert verdict(capsys, check_4_1, right)[0]
    ok, line = verdict(capsys, check_4_1, stops_early)
    assert not ok and "one factor is missing" in line
    ok, line = verdict(capsys, check_4_1, log_prob)
    assert not ok and "log-probability" in line
    ok, line = verdict(capsys, check_4_1, stub)
    assert not ok and "not written yet" in line
    ok, line = verdict(capsys, check_4_1, 0.0384)
    assert not ok and "expected a function" in line


def softmax_attention(scale_fn, dim=-1):
    def fn(x):
        return torch.softmax(x @ x.T / scale_fn(x.shape[1]), dim=dim) @ x
    return fn


def test_4_2(capsys):
    assert verdict(capsys, check_4_2, softmax_attention(math.sqrt))[0]
    ok, line = verdict(capsys, check_4_2, softmax_attention(lambda d: 1.0))
    assert not ok and "forgot the scaling" in line
    ok, line = verdict(capsys, check_4_2, softmax_attention(lambda d: d))
    assert not ok and "sqrt(d), not d" in line
    ok, line = verdict(capsys, check_4_2, softmax_attention(math.sqrt, dim=0))
    assert not ok and "wrong axis" in line
    ok, line = verdict(capsys, check_4_2, lambda x: x @ x.T)
    assert not ok and "wrong shape" in line

    def in_place(x):
        x.mul_(1.0001)
        return softmax_attention(math.sqrt)(x)

    ok, line = verdict(capsys, check_4_2, in_place)
    assert not ok and "in place" in line
    ok, line = verdict(capsys, check_4_2, stub)
    assert not ok and "not written yet" in line


def test_4_3(capsys):
    def right(ps):
        return math.exp(-sum(map(math.log, ps)) / len(ps))

    assert verdict(capsys, check_4_3, right)[0]
    for wrong, hint in [
        (lambda ps: -sum(map(math.log, ps)) / len(ps), "exponential"),
        (lambda ps: math.exp(sum(map(math.log, ps)) / len(ps)), "negative"),
        (lambda ps: math.exp(-sum(map(math.log, ps))), "mean"),
        (stub, "not written yet"),
    ]:
        ok, line = verdict(capsys, check_4_3, wrong)
        assert not ok and hint in line, line


def causal(mask_value):
    def fn(x):
        t = x.shape[0]
        scores = x @ x.T / math.sqrt(x.shape[1])
        allowed = torch.ones(t, t, dtype=torch.bool).tril()
        return torch.softmax(scores.masked_fill(~allowed, mask_value), dim=-1) @ x
    return fn


def test_4_4(capsys):
    assert verdict(capsys, check_4_4, causal(float("-inf")))[0]
    ok, line = verdict(capsys, check_4_4, softmax_attention(math.sqrt))
    assert not ok and "future leaks in" in line

    def masked_after_softmax(x):
        t = x.shape[0]
        w = torch.softmax(x @ x.T / math.sqrt(x.shape[1]), dim=-1) * torch.ones(t, t).tril()
        return w @ x

    ok, line = verdict(capsys, check_4_4, masked_after_softmax)
    assert not ok and ("before" in line or "position 0" in line), line
    ok, line = verdict(capsys, check_4_4, stub)
    assert not ok and "not written yet" in line


@pytest.mark.parametrize("checker", [check_4_1, check_4_2, check_4_3, check_4_4, check_4_5, check_4_6,
                                     check_4_7, check_4_8])
def test_checkers_never_print_the_solution(capsys, checker):
    checker(stub)
    out = capsys.readouterr().out
    assert "softmax(" not in out and "math.exp" not in out and "tril" not in out


def heads_attention(q, k, v, leak=False, wide=False, columns=False):
    """Causal multi-head attention over (batch, heads, T, d_k), with Exercise 4.7's bugs optional."""
    t, d_k = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[1] * d_k if wide else d_k)
    allowed = torch.ones(t, t, dtype=torch.bool).tril(diagonal=1 if leak else 0)
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-2 if columns else -1) @ v


def log_probs(model, idx, shift=True, dim=-1):
    """log P(x_t | x_<t) for t >= 1, with Exercise 4.8's bugs optional."""
    log_p = torch.log_softmax(model(idx).logits, dim=dim)
    rows = log_p[:, :-1] if shift else log_p[:, 1:]
    return rows.gather(-1, idx[:, 1:, None]).squeeze(-1)


def test_4_5(capsys):
    assert verdict(capsys, check_4_5, lambda d, a, b: d * a * b)[0]
    for wrong, hint in [(lambda d, a, b: a * b, "one term"), (lambda d, a, b: d, "var_q = var_k = 1"),
                        (lambda d, a, b: d * (a + b), "multiply"), (lambda d, a, b: math.sqrt(d) * a * b,
                                                                   "standard deviation"),
                        (lambda d, a, b: d * d * a * b, "not d_k squared"),
                        (lambda d, a, b: d * math.sqrt(a * b), "no square root"),
                        (lambda d, a, b: d + a + b, "sum of d_k independent terms")]:
        assert_hint(capsys, check_4_5, wrong, hint)


def test_4_6(capsys):
    right = RIGHT_ANSWERS[check_4_6]
    assert verdict(capsys, check_4_6, right)[0]
    for wrong, hint in [(lambda h, v, e: (h, v, math.exp(e)), "exponential"),
                        (lambda h, v, e: (2 ** h, v, math.exp(e)), "not 2"),
                        (lambda h, v, e: (math.exp(h), 1 / v, math.exp(e)), "1/V"),
                        (lambda h, v, e: (math.exp(h), math.log(v), math.exp(e)), "log V"),
                        (lambda h, v, e: (math.exp(h), v, 1 + e), "multiply"),
                        (lambda h, v, e: (math.exp(h), v, math.exp(-e)), "higher"),
                        (lambda h, v, e: (math.exp(h), v), "got 2 items")]:
        assert_hint(capsys, check_4_6, wrong, hint)


def test_4_7(capsys):
    assert verdict(capsys, check_4_7, heads_attention)[0]
    for flags, hint in [(dict(leak=True), "see the next one"), (dict(wide=True), "one head"),
                        (dict(columns=True), "columns"), (dict(leak=True, wide=True, columns=True), "3 bugs left"),
                        (dict(wide=True, columns=True), "2 bugs left")]:
        assert_hint(capsys, check_4_7, lambda q, k, v, f=flags: heads_attention(q, k, v, **f), hint)
    assert_hint(capsys, check_4_7, lambda q, k, v: q, "other values")
    assert_hint(capsys, check_4_7, lambda q, k, v: q[0], "wrong shape")

    def in_place(q, k, v):
        q.mul_(2)
        return heads_attention(q, k, v)

    assert_hint(capsys, check_4_7, in_place, "in place")


def test_4_8(capsys):
    assert verdict(capsys, check_4_8, log_probs)[0]
    for wrong, hint in [(lambda m, i: log_probs(m, i, shift=False), "off by one"),
                        (lambda m, i: log_probs(m, i, dim=1), "over the positions"),
                        (lambda m, i: log_probs(m, i, shift=False, dim=1), "two bugs"),
                        (lambda m, i: log_probs(m, i).exp(), "probabilities"),
                        (lambda m, i: torch.log_softmax(m(i).logits, -1).amax(-1), "first word has no prediction"),
                        (lambda m, i: -log_probs(m, i), "above 0")]:
        assert_hint(capsys, check_4_8, wrong, hint)


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
def sentence_probability(words):
    p = 1.0
    for t in range(1, len(words)):
        p *= LANG.next_token_probs(words[:t]).get(words[t], 0.0)
    return p


CHECKERS = [check_4_1, check_4_2, check_4_3, check_4_4, check_4_5, check_4_6, check_4_7, check_4_8]
RIGHT_ANSWERS = {check_4_1: sentence_probability, check_4_2: softmax_attention(math.sqrt),
                 check_4_3: lambda ps: math.exp(-sum(map(math.log, ps)) / len(ps)),
                 check_4_4: causal(float("-inf")),
                 check_4_5: lambda d_k, var_q, var_k: d_k * var_q * var_k,
                 check_4_6: lambda h, v, extra: (math.exp(h), v, math.exp(extra)),
                 check_4_7: lambda q, k, v: heads_attention(q, k, v),
                 check_4_8: lambda model, idx: log_probs(model, idx)}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


@pytest.mark.parametrize("checker", [check_4_1, check_4_3])
def test_a_vector_where_a_number_is_expected(checker, capsys):
    assert_hint(capsys, checker, lambda words: torch.ones(4), "return", "shape (4,)")


def second_call(value):
    """A causal attention that is right on its first call and returns ``value`` on the second."""
    calls = []

    def fn(x):
        calls.append(x)
        return causal(float("-inf"))(x) if len(calls) == 1 else value
    return fn


@pytest.mark.parametrize("value, phrase", [(None, "got None"), (torch.ones(3, 4), "got (3, 4)"),
                                           ("text", "got the string")])
def test_4_4_a_malformed_second_answer_gets_a_hint(value, phrase, capsys):
    assert_hint(capsys, check_4_4, second_call(value), phrase)


def test_4_4_a_row_of_all_masked_scores_gets_a_hint(capsys):
    def masks_the_diagonal(x):
        t = x.shape[0]
        scores = (x @ x.T / math.sqrt(x.shape[1])).masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(-1),
                                                                float("-inf"))
        return torch.softmax(scores, dim=-1) @ x

    assert_hint(capsys, check_4_4, masks_the_diagonal, "nan", "always sees itself")


def test_4_3_halved_factor(capsys):
    import functools

    def right(ps):
        return math.exp(-sum(map(math.log, ps)) / len(ps))

    ok, line = verdict(capsys, functools.partial(check_4_3, halved_factor=2 ** 0.25), right)
    assert ok and "2^(1/4)" in line, line
    for wrong, hint in [(2.0, "does not double"), (0.5, "more* surprised"), (2 ** -0.25, "more* surprised"),
                        (1.5, "power -1/4"), ("two", "halved_factor"), (stub, "not written yet")]:
        assert_hint(capsys, functools.partial(check_4_3, halved_factor=wrong), right, hint)
    ok, line = verdict(capsys, functools.partial(check_4_3, halved_factor=lambda: 2 ** 0.25), right)
    assert ok and "your function: 1.1892" in line, line


def test_4_5_score_scale(capsys):
    import functools

    def variance(d, a, b):
        return d * a * b

    ok, line = verdict(capsys, functools.partial(check_4_5, score_scale=lambda d, a, b: math.sqrt(d * a * b)),
                       variance)
    assert ok and "2 sqrt(d_k)" in line, line
    for wrong, hint in [(lambda d, a, b: math.sqrt(d), "only when"), (lambda d, a, b: d * a * b, "square root"),
                        (lambda d, a, b: d * a, "c^2"), (stub, "not written yet")]:
        assert_hint(capsys, functools.partial(check_4_5, score_scale=wrong), variance, hint)
