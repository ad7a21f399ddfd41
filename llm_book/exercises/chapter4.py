"""Checkers for Chapter 4's exercises (the mathematics of the model)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import Verdict, _as_tensor, _call, _report

def check_4_1(sentence_probability: Callable) -> Verdict:
    """Exercise 4.1: ``sentence_probability(words)`` by the chain rule over ``ToyLanguage``."""
    from llm_book.language import ToyLanguage

    language = ToyLanguage()
    cases = [["The", "cat", "sat", "on", "the", "mat"],
             ["The", "dogs", "that", "chased", "the", "mouse", "sleep", "<eos>"],
             ["The", "birds", "sat", "under", "a", "roof", "<eos>"]]
    for words in cases:
        got, hint = _call(sentence_probability, list(words))
        if hint:
            return _report(False, hint)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if not isinstance(got, (int, float)) or math.isnan(got):
            return _report(False, f"for {' '.join(words)!r} the function returned {got!r}; "
                                  f"it should return one probability (a float).")
        exact = language.sentence_probability(words)
        if math.isclose(got, exact, rel_tol=1e-6):
            continue
        if got < 0:
            return _report(False, "the result is negative: did you return the log-probability? "
                                  "Probabilities multiply; logs add.")
        conditionals = language.conditional_probs(words)
        if math.isclose(got, exact / conditionals[-1], rel_tol=1e-6):
            return _report(False, f"for {' '.join(words)!r} one factor is missing: does your loop "
                                  f"reach the last word?")
        if math.isclose(got, exact / conditionals[0], rel_tol=1e-6):
            return _report(False, "the first factor after 'The' is missing: does your loop start "
                                  "at the second word?")
        return _report(False, f"for {' '.join(words)!r} the product is off: multiply "
                              f"P(word | all the words before it) for every word after 'The'.")
    return _report(True, "the chain rule multiplies one conditional probability per word.")


def check_4_2(attention: Callable) -> Verdict:
    """Exercise 4.2: ``attention(X)`` = softmax(X X^T / sqrt(d)) X, no learned weights."""
    g = torch.Generator().manual_seed(42)
    x = torch.randn(6, 8, generator=g, dtype=torch.float64)
    x_before = x.clone()
    got, hint = _call(attention, x)
    if hint:
        return _report(False, hint)
    got = _as_tensor(got)
    if got is None:
        return _report(False, "return a tensor (or array) of shape (T, d).")
    if not torch.equal(x, x_before):
        return _report(False, "your function changed its input X in place; work on new tensors.")
    if got.shape != x.shape:
        return _report(False, f"wrong shape: for X of shape {tuple(x.shape)} the output should have "
                              f"the same shape, got {tuple(got.shape)}.")
    expected = torch.softmax(x @ x.T / math.sqrt(x.shape[1]), dim=-1) @ x
    if torch.allclose(got, expected, atol=1e-5):
        return _report(True, "each row is a weighted average of the rows of X.")
    if torch.allclose(got, torch.softmax(x @ x.T, dim=-1) @ x, atol=1e-5):
        return _report(False, "forgot the scaling: divide the scores by sqrt(d) before the softmax.")
    if torch.allclose(got, torch.softmax(x @ x.T / x.shape[1], dim=-1) @ x, atol=1e-5):
        return _report(False, "the scale is sqrt(d), not d.")
    if torch.allclose(got, torch.softmax(x @ x.T / math.sqrt(x.shape[1]), dim=0) @ x, atol=1e-5):
        return _report(False, "softmax over the wrong axis: each query's weights (a row) should sum to 1.")
    bad = (got - expected).abs().amax(dim=1).argmax().item()
    return _report(False, f"right shape, wrong values (row {bad} is off first); check the order "
                          f"scores -> softmax -> weighted sum of X.")


def check_4_3(perplexity: Callable) -> Verdict:
    """Exercise 4.3: ``perplexity(conditionals)`` = exp(-mean log p)."""
    cases = [[0.2, 0.4, 0.6, 0.8], [0.5, 0.5], [0.9, 0.01, 0.3, 0.7, 0.2]]
    for probs in cases:
        got, hint = _call(perplexity, list(probs))
        if hint:
            return _report(False, hint)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if not isinstance(got, (int, float)) or math.isnan(got):
            return _report(False, f"return a single number, got {got!r}.")
        logs = [math.log(p) for p in probs]
        exact = math.exp(-sum(logs) / len(logs))
        if math.isclose(got, exact, rel_tol=1e-6):
            continue
        if math.isclose(got, -sum(logs) / len(logs), rel_tol=1e-6):
            return _report(False, "that is the mean negative log-probability (the loss); "
                                  "perplexity is its exponential.")
        if math.isclose(got, math.exp(sum(logs) / len(logs)), rel_tol=1e-6):
            return _report(False, "sign: perplexity is exp of the *negative* mean log-probability (it is >= 1).")
        if math.isclose(got, math.exp(-sum(logs)), rel_tol=1e-6):
            return _report(False, "use the mean of the log-probabilities, not their sum.")
        return _report(False, f"for {probs} expected a value >= 1 that grows as the model gets "
                              f"more surprised; check each step.")
    return _report(True, "perplexity is the effective number of choices per word.")


def check_4_4(causal_attention: Callable) -> Verdict:
    """Exercise 4.4: ``causal_attention(X)``: like 4.2, but position t sees only positions <= t."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    got, hint = _call(causal_attention, x.clone())
    if hint:
        return _report(False, hint)
    got = _as_tensor(got)
    if got is None or got.shape != x.shape:
        shape = None if got is None else tuple(got.shape)
        return _report(False, f"wrong shape: expected {tuple(x.shape)}, got {shape}.")
    # Behaviour: changing a later row must not change earlier outputs.
    x2 = x.clone()
    x2[3:] = torch.randn(2, 4, generator=g, dtype=torch.float64)
    got2, hint = _call(causal_attention, x2)
    if hint:
        return _report(False, hint)
    got2 = _as_tensor(got2)
    if not torch.allclose(got[:3], got2[:3], atol=1e-6):
        row = int((got[:3] - got2[:3]).abs().amax(dim=1).argmax())
        return _report(False, f"the output at position {row} changed when only later positions "
                              f"changed: the future leaks in. Mask the scores above the diagonal.")
    scores = x @ x.T / math.sqrt(x.shape[1])
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ x
    if torch.allclose(got, expected, atol=1e-5):
        return _report(True, "no position can peek at the words after it.")
    if not torch.allclose(got[0], x[0], atol=1e-6):
        return _report(False, "position 0 can only see itself, so its output should equal X[0].")
    return _report(False, "no leak, but the values are off: set masked scores to -inf *before* "
                          "the softmax, so each row still sums to 1.")
