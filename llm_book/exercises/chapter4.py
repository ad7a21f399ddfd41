"""Checkers for Chapter 4's exercises (the mathematics of the model)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _nonfinite_hint, _number,
                                          _tensor, _verdict, checker)


@checker
def check_4_1(sentence_probability: Callable) -> Verdict:
    """Exercise 4.1: ``sentence_probability(words)`` by the chain rule over ``ToyLanguage``."""
    from llm_book.language import ToyLanguage

    language = ToyLanguage()
    cases = [["The", "cat", "sat", "on", "the", "mat"],
             ["The", "dogs", "that", "chased", "the", "mouse", "sleep", "<eos>"],
             ["The", "birds", "sat", "under", "a", "roof", "<eos>"]]
    cases = [(words, language.sentence_probability(words), language.conditional_probs(words))
             for words in cases]
    for words, exact, conditionals in cases:
        sentence = " ".join(words)
        got, hint = _call(sentence_probability, list(words))
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one probability (a float)")
        if hint:
            return _verdict(False, f"for {sentence!r}: {hint}")
        if _close(got, exact, rel_tol=1e-6):
            continue
        if got < 0:
            return _verdict(False, "the result is negative: did you return the log-probability? "
                                   "Probabilities multiply; logs add.")
        if _close(got, exact / conditionals[-1], rel_tol=1e-6):
            return _verdict(False, f"for {sentence!r} one factor is missing: does your loop "
                                   f"reach the last word?")
        if _close(got, exact / conditionals[0], rel_tol=1e-6):
            return _verdict(False, "the first factor after 'The' is missing: does your loop start "
                                   "at the second word?")
        return _verdict(False, f"for {sentence!r} the product is off: multiply "
                               f"P(word | all the words before it) for every word after 'The'.")
    return _verdict(True, "the chain rule multiplies one conditional probability per word.")


def _self_attention(x: torch.Tensor, scale: float, dim: int = -1, causal: bool = False) -> torch.Tensor:
    scores = x @ x.T / scale
    if causal:
        allowed = torch.ones(len(x), len(x), dtype=torch.bool).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=dim) @ x


@checker
def check_4_2(attention: Callable) -> Verdict:
    """Exercise 4.2: ``attention(X)`` = softmax(X X^T / sqrt(d)) X, no learned weights."""
    g = torch.Generator().manual_seed(42)
    x = torch.randn(6, 8, generator=g, dtype=torch.float64)
    d = x.shape[1]
    expected = _self_attention(x, math.sqrt(d))
    mistakes = [(_self_attention(x, 1.0), "forgot the scaling: divide the scores by sqrt(d) before the softmax."),
                (_self_attention(x, d), "the scale is sqrt(d), not d."),
                (_self_attention(x, math.sqrt(d), dim=0),
                 "softmax over the wrong axis: each query's weights (a row) should sum to 1.")]
    given = x.clone()
    got, hint = _call(attention, given)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "a tensor (or array) of shape (T, d)")
    if hint:
        return _verdict(False, hint)
    if not torch.equal(given, x):
        return _verdict(False, "your function changed its input X in place; work on new tensors.")
    if got.shape != x.shape:
        return _verdict(False, f"wrong shape: for X of shape {tuple(x.shape)} the output should have "
                               f"the same shape, got {tuple(got.shape)}.")
    if _allclose(got, expected, atol=1e-5):
        return _verdict(True, "each row is a weighted average of the rows of X.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint)
    for value, message in mistakes:
        if _allclose(got, value, atol=1e-5):
            return _verdict(False, message)
    bad = (got.double() - expected).abs().amax(dim=1).argmax().item()
    return _verdict(False, f"right shape, wrong values (row {bad} is off first); check the order "
                           f"scores -> softmax -> weighted sum of X.")


@checker
def check_4_3(perplexity: Callable) -> Verdict:
    """Exercise 4.3: ``perplexity(conditionals)`` = exp(-mean log p)."""
    cases = [[0.2, 0.4, 0.6, 0.8], [0.5, 0.5], [0.9, 0.01, 0.3, 0.7, 0.2]]
    for probs in cases:
        logs = [math.log(p) for p in probs]
        exact = math.exp(-sum(logs) / len(logs))
        got, hint = _call(perplexity, list(probs))
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "a single number")
        if hint:
            return _verdict(False, f"for {probs}: {hint}")
        if _close(got, exact, rel_tol=1e-6):
            continue
        if _close(got, -sum(logs) / len(logs), rel_tol=1e-6):
            return _verdict(False, "that is the mean negative log-probability (the loss); "
                                   "perplexity is its exponential.")
        if _close(got, math.exp(sum(logs) / len(logs)), rel_tol=1e-6):
            return _verdict(False, "sign: perplexity is exp of the *negative* mean log-probability (it is >= 1).")
        if _close(got, math.exp(-sum(logs)), rel_tol=1e-6):
            return _verdict(False, "use the mean of the log-probabilities, not their sum.")
        return _verdict(False, f"for {probs} expected a value >= 1 that grows as the model gets "
                               f"more surprised; check each step.")
    return _verdict(True, "perplexity is the effective number of choices per word.")


@checker
def check_4_4(causal_attention: Callable) -> Verdict:
    """Exercise 4.4: ``causal_attention(X)``: like 4.2, but position t sees only positions <= t."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    x2 = x.clone()  # the same first rows, other later rows: the earlier outputs must not change
    x2[3:] = torch.randn(2, 4, generator=g, dtype=torch.float64)
    expected = _self_attention(x, math.sqrt(x.shape[1]), causal=True)
    results = []
    for inputs in (x, x2):
        got, hint = _call(causal_attention, inputs.clone())
        if hint:
            return _verdict(False, hint)
        got, hint = _tensor(got, f"a tensor of shape {tuple(x.shape)}")
        if hint:
            return _verdict(False, hint)
        if got.shape != x.shape:
            return _verdict(False, f"wrong shape: expected {tuple(x.shape)}, got {tuple(got.shape)}.")
        results.append(got)
    got, got2 = results
    if _allclose(got, expected, atol=1e-5) and _allclose(got2[:3], got[:3].double(), atol=1e-6):
        return _verdict(True, "no position can peek at the words after it.")
    if hint := _nonfinite_hint(got) or _nonfinite_hint(got2):
        return _verdict(False, hint + " (a row of all -inf scores: position t always sees itself).")
    got, got2 = got.double(), got2.double()
    if not torch.allclose(got[:3], got2[:3], atol=1e-6):
        row = int((got[:3] - got2[:3]).abs().amax(dim=1).argmax())
        return _verdict(False, f"the output at position {row} changed when only later positions "
                               f"changed: the future leaks in. Mask the scores above the diagonal.")
    if not torch.allclose(got[0], x[0], atol=1e-6):
        return _verdict(False, "position 0 can only see itself, so its output should equal X[0].")
    return _verdict(False, "no leak, but the values are off: set masked scores to -inf *before* "
                           "the softmax, so each row still sums to 1.")
