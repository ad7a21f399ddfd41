"""Checkers for Chapter 4's exercises (the mathematics of the model)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _first_mistake, _items,
                                          _judge_tensor, _nonfinite_hint, _number, _tensor, _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases


@checker
def check_4_1(sentence_probability: Callable) -> Verdict:
    """Exercise 4.1: ``sentence_probability(words)`` by the chain rule over ``ToyLanguage``."""
    from llm_book.language import ToyLanguage

    language = ToyLanguage()
    cases = [["The", "cat", "sat", "on", "the", "mat"],
             ["The", "dogs", "that", "chased", "the", "mouse", "sleep", "<eos>"],
             ["The", "birds", "sat", "under", "a", "roof", "<eos>"]]
    cases = _hidden_cases(cases, [["The", "dogs", "sat", "under", "the", "mat", "<eos>"]])
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
    g = _generator(42)
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
    bad = (got.double() - expected).abs().amax(dim=1).argmax().item()
    return _judge_tensor(got, expected, mistakes, "each row is a weighted average of the rows of X.",
                         f"right shape, wrong values (row {bad} is off first); check the order "
                         f"scores -> softmax -> weighted sum of X.", atol=1e-5)


@checker
def check_4_3(perplexity: Callable, halved_factor=None) -> Verdict:
    """Exercise 4.3: ``perplexity(conditionals)`` = exp(-mean log p); optionally the predicted
    ``halved_factor`` (a number, or a function of no arguments returning it), by which the 4-factor
    perplexity changes when P(cat | The) halves (2 ** (1/4))."""
    cases = _hidden_cases([[0.2, 0.4, 0.6, 0.8], [0.5, 0.5], [0.9, 0.01, 0.3, 0.7, 0.2]], [[0.3, 0.05, 0.6]])
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
    if halved_factor is None:
        return _verdict(True, "perplexity is the effective number of choices per word.")
    if callable(halved_factor):
        halved_factor, hint = _call(halved_factor)
        if hint:
            return _verdict(False, f"`halved_factor`: {hint}")
    factor, hint = _number(halved_factor, "one number (the factor by which the perplexity changes)")
    if hint:
        return _verdict(False, f"`halved_factor`: {hint}")
    right = 2 ** (1 / 4)
    if _close(factor, right, rel_tol=1e-3):
        yours = perplexity([0.1, 0.4, 0.6, 0.8]) / perplexity([0.2, 0.4, 0.6, 0.8])
        return _verdict(True, f"perplexity is the effective number of choices per word; halving one of the "
                              f"4 factors halves the product, so the perplexity (the product to the power "
                              f"-1/4) grows by 2^(1/4) = {right:.4f} (your function: {yours:.4f}).")
    if _close(factor, 2.0, rel_tol=1e-3):
        return _verdict(False, "`halved_factor`: the product halves, but the perplexity is the product to "
                               "the power -1/4, so it does not double.")
    if _close(factor, 0.5, rel_tol=1e-3) or _close(factor, 1 / right, rel_tol=1e-3):
        return _verdict(False, "`halved_factor`: a less likely word makes the model *more* surprised, so "
                               "the perplexity goes up (a factor > 1).")
    return _verdict(False, "`halved_factor`: write the perplexity as the product to the power -1/4 and "
                           "see what halving the product does to it.")


@checker
def check_4_4(causal_attention: Callable) -> Verdict:
    """Exercise 4.4: ``causal_attention(X)``: like 4.2, but position t sees only positions <= t."""
    g = _generator(7)
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


@checker
def check_4_5(score_variance: Callable, score_scale: Callable | None = None) -> Verdict:
    """Exercise 4.5: ``score_variance(d_k, var_q, var_k)`` = Var(q . k) for independent zero-mean entries;
    optionally ``score_scale(d_k, var_q, var_k)``, the divisor that brings the scores to variance 1."""
    cases = _hidden_cases([(10, 2.0, 3.0), (64, 1.0, 1.0), (7, 0.5, 4.0)], [(32, 1.5, 0.5)])
    for d_k, var_q, var_k in cases:
        exact = d_k * var_q * var_k
        got, hint = _call(score_variance, d_k, var_q, var_k)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number (a variance)")
        if hint:
            return _verdict(False, f"for d_k={d_k}, var_q={var_q}, var_k={var_k}: {hint}")
        if _close(got, exact, rel_tol=1e-6):
            continue
        mistakes = [(var_q * var_k, "that is the variance of one term q_i k_i; the dot product sums d_k "
                                    "independent terms, and variances of independent terms add."),
                    (float(d_k), "that is right only when var_q = var_k = 1: the variance of one term "
                                 "q_i k_i is E[q_i^2] E[k_i^2] = var_q var_k."),
                    (d_k * (var_q + var_k), "variances of a *product* of independent zero-mean factors "
                                            "multiply, they do not add: Var(q_i k_i) = var_q var_k."),
                    (math.sqrt(d_k) * var_q * var_k, "sqrt(d_k) is the *standard deviation*'s growth; "
                                                     "the variance grows like d_k."),
                    (d_k ** 2 * var_q * var_k, "the sum has d_k terms, so the variance is d_k times one "
                                               "term's, not d_k squared times."),
                    (d_k * math.sqrt(var_q * var_k), "Var(q_i k_i) = E[q_i^2] E[k_i^2] = var_q var_k, "
                                                     "no square root.")]
        if (message := _first_mistake(got, mistakes, rel_tol=1e-6)) is not None:
            return _verdict(False, message)
        return _verdict(False, f"for d_k={d_k}, var_q={var_q}, var_k={var_k} the variance is off: "
                               f"write q.k as a sum of d_k independent terms q_i k_i and add their variances.")
    if score_scale is not None:
        for d_k, var_q, var_k in _hidden_cases([(16, 2.0, 2.0), (64, 1.0, 1.0), (10, 0.5, 3.0)], [(20, 3.0, 0.75)]):
            exact = math.sqrt(d_k * var_q * var_k)
            got, hint = _call(score_scale, d_k, var_q, var_k)
            if hint:
                return _verdict(False, hint)
            got, hint = _number(got, "one number (the scale to divide the scores by)")
            if hint:
                return _verdict(False, f"`score_scale` for d_k={d_k}, var_q={var_q}, var_k={var_k}: {hint}")
            if _close(got, exact, rel_tol=1e-6):
                continue
            if _close(got, math.sqrt(d_k), rel_tol=1e-6):
                return _verdict(False, "`score_scale`: sqrt(d_k) brings the variance to 1 only when "
                                       "var_q = var_k = 1; divide by the standard deviation of q.k.")
            if _close(got, d_k * var_q * var_k, rel_tol=1e-6):
                return _verdict(False, "`score_scale`: that is the variance; dividing by c divides the "
                                       "variance by c^2, so divide by its square root.")
            return _verdict(False, f"`score_scale` for d_k={d_k}, var_q={var_q}, var_k={var_k} is off: "
                                   f"dividing by c divides the variance by c^2.")
    g = _generator(45)          # the formula against a measurement
    q = torch.randn(20_000, 32, generator=g, dtype=torch.float64) * math.sqrt(2.0)
    k = torch.randn(20_000, 32, generator=g, dtype=torch.float64) * math.sqrt(0.5)
    measured = (q * k).sum(-1).var().item()
    scale = "" if score_scale is None else (" The scale is its square root: 2 sqrt(d_k) when "
                                            "var_q = var_k = 2.")
    return _verdict(True, f"Var(q.k) = d_k var_q var_k; measured on 20,000 random pairs (d_k = 32, "
                          f"var_q = 2, var_k = 0.5): {measured:.1f}, formula {32 * 2.0 * 0.5:.1f}.{scale}")


@checker
def check_4_6(perplexity_predictions: Callable) -> Verdict:
    """Exercise 4.6: ``perplexity_predictions(entropy, vocab_size, extra_nats)`` = (floor, uniform, factor)."""
    cases = _hidden_cases([(1.0833, 35, 0.1), (2.0, 10, 0.5)], [(1.5, 20, 0.25)])
    for entropy, vocab, extra in cases:
        expected = (math.exp(entropy), float(vocab), math.exp(extra))
        got, hint = _call(perplexity_predictions, entropy, vocab, extra)
        if hint:
            return _verdict(False, hint)
        items, hint = _items(got, 3, "a tuple (floor, uniform, factor)")
        if hint:
            return _verdict(False, hint)
        numbers = []
        for name, item in zip(("floor", "uniform", "factor"), items):
            number, hint = _number(item, f"a number for `{name}`")
            if hint:
                return _verdict(False, hint)
            numbers.append(number)
        floor, uniform, factor = numbers
        if not _close(floor, expected[0], rel_tol=1e-6):
            if _close(floor, entropy, rel_tol=1e-6):
                return _verdict(False, "`floor`: that is the entropy in nats; perplexity is its exponential.")
            if _close(floor, 2 ** entropy, rel_tol=1e-6):
                return _verdict(False, "`floor`: the entropy is in nats (natural log), so use e, not 2.")
            return _verdict(False, "`floor`: the lowest average cross-entropy is the entropy H (CE = H + KL, "
                                   "KL >= 0); the perplexity is exp of the cross-entropy.")
        if not _close(uniform, expected[1], rel_tol=1e-6):
            if _close(uniform, 1 / vocab, rel_tol=1e-6):
                return _verdict(False, "`uniform`: 1/V is the probability of each word; the perplexity is "
                                       "exp(-log(1/V)).")
            if _close(uniform, math.log(vocab), rel_tol=1e-6):
                return _verdict(False, "`uniform`: log V is the cross-entropy in nats; perplexity is its "
                                       "exponential.")
            return _verdict(False, "`uniform`: every word gets probability 1/V, whatever comes next.")
        if not _close(factor, expected[2], rel_tol=1e-6):
            if _close(factor, 1 + extra, rel_tol=1e-6) or _close(factor, extra, rel_tol=1e-6):
                return _verdict(False, "`factor`: exp(H + extra) = exp(H) * exp(extra): extra nats "
                                       "multiply the perplexity, they do not add to it.")
            if _close(factor, math.exp(-extra), rel_tol=1e-6):
                return _verdict(False, "`factor`: a worse model has a *higher* perplexity (factor > 1).")
            return _verdict(False, "`factor`: write the model's perplexity as exp(H + extra) and divide by "
                                   "the floor.")
    return _verdict(True, "the floor is exp(H), knowing nothing gives V, and each extra nat multiplies "
                          "the perplexity by e.")


def _causal_heads(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, leak: bool = False,
                  wide_scale: bool = False, column_softmax: bool = False) -> torch.Tensor:
    """Causal attention over (batch, heads, T, d_k), with any of Exercise 4.7's three bugs switched on."""
    T, d_k = q.shape[-2], q.shape[-1]
    scale = math.sqrt(q.shape[1] * d_k if wide_scale else d_k)
    scores = q @ k.transpose(-2, -1) / scale
    allowed = torch.ones(T, T, dtype=torch.bool).tril(diagonal=1 if leak else 0)
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-2 if column_softmax else -1)
    return weights @ v


_BUG_HINTS = {"leak": "the mask lets each position see the next one: `tril(diagonal=1)` keeps one "
                      "diagonal above the main one; the future must be masked from diagonal 1 on.",
              "wide_scale": "the scale: d_k is the width of *one head*, q.shape[-1], not heads x d_k.",
              "column_softmax": "the softmax runs down the columns (over the queries); each query's "
                                "weights, a row, should sum to 1."}


@checker
def check_4_7(fixed_attention: Callable) -> Verdict:
    """Exercise 4.7: the buggy causal multi-head attention, fixed."""
    import itertools

    g = _generator(47)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    expected = _causal_heads(q, k, v)
    given = [t.clone() for t in (q, k, v)]
    got, hint = _call(fixed_attention, *given)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, f"a tensor of shape {tuple(q.shape)} (batch, heads, T, d_k)")
    if hint:
        return _verdict(False, hint)
    if not all(torch.equal(a, b) for a, b in zip(given, (q, k, v))):
        return _verdict(False, "your function changed q, k or v in place; work on new tensors.")
    if got.shape != q.shape:
        return _verdict(False, f"wrong shape: expected {tuple(q.shape)} (batch, heads, T, d_k), "
                               f"got {tuple(got.shape)}.")
    if _allclose(got, expected, atol=1e-6):
        return _verdict(True, "all three bugs fixed: the mask, the head width and the softmax axis.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint + " (does every row keep at least its own position?)")
    for flags in itertools.product((False, True), repeat=3):
        if any(flags):
            bugs = dict(zip(("leak", "wide_scale", "column_softmax"), flags))
            if _allclose(got, _causal_heads(q, k, v, **bugs), atol=1e-6):
                left = [name for name, on in bugs.items() if on]
                more = "" if len(left) == 1 else f" ({len(left)} bugs left; this is one of them)"
                return _verdict(False, _BUG_HINTS[left[0]] + more)
    return _verdict(False, "right shape, other values: keep the structure of the given code "
                           "(scores, mask, softmax, weighted sum of v) and fix only its three bugs.")


_SENTENCES_4_8 = ["The cat sat on the mat <eos>", "The dogs that the cat chased sleep <eos>"]


def _log_probs_variants(model, idx: torch.Tensor, shifted: bool = True, vocab_softmax: bool = True):
    """log P(x_t | x_<t) for t >= 1, with Exercise 4.8's bugs (no shift, softmax over positions) optional."""
    with torch.no_grad():
        logits = model(idx).logits.double()
    log_p = torch.log_softmax(logits, dim=-1 if vocab_softmax else 1)
    rows = log_p[:, :-1] if shifted else log_p[:, 1:]
    return rows.gather(-1, idx[:, 1:, None]).squeeze(-1)


@checker
def check_4_8(log_probs: Callable) -> Verdict:
    """Exercise 4.8: ``log_probs(model, idx)``: log P(x_t | x_<t) for every position after the first."""
    from llm_book.pretrained import load_toy_gpt

    model, tokenizer = load_toy_gpt()
    model.eval()
    sentences = _hidden_cases(_SENTENCES_4_8, ["The dogs sat under the mat <eos>"])
    idx = torch.nn.utils.rnn.pad_sequence([torch.tensor(tokenizer.encode(s.split())) for s in sentences],
                                          batch_first=True, padding_value=tokenizer.eos_id)
    expected = _log_probs_variants(model, idx)
    given = idx.clone()
    got, hint = _call(log_probs, model, given)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, f"a tensor of shape {tuple(expected.shape)} (batch, T - 1)")
    if hint:
        return _verdict(False, hint)
    if not torch.equal(given, idx):
        return _verdict(False, "your function changed `idx` in place; work on new tensors.")
    if got.shape == idx.shape:
        return _verdict(False, f"shape {tuple(got.shape)}: one value per position, but the first word has "
                               f"no prediction (nothing comes before it); return {tuple(expected.shape)}.")
    if got.shape != expected.shape:
        return _verdict(False, f"wrong shape: expected {tuple(expected.shape)} (batch, T - 1), "
                               f"got {tuple(got.shape)}.")
    if _allclose(got, expected, atol=1e-4):
        return _verdict(True, "row t - 1 of the output predicts word t: the shift is the whole trick.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint)
    if _allclose(got, expected.exp(), atol=1e-4):
        return _verdict(False, "those are probabilities; return their logarithms.")
    if (got > 1e-6).any():
        return _verdict(False, "some values are above 0: a log-probability is at most 0 (use log_softmax).")
    if _allclose(got, _log_probs_variants(model, idx, shifted=False, vocab_softmax=False), atol=1e-4):
        return _verdict(False, "two bugs left: the softmax runs over the positions (dim 1), not the "
                               "vocabulary, and row t scores word t, which that row cannot predict.")
    if _allclose(got, _log_probs_variants(model, idx, shifted=False), atol=1e-4):
        return _verdict(False, "off by one: the output at position t has seen only x_1..x_t, so it predicts "
                               "word t + 1; score word t with row t - 1.")
    if _allclose(got, _log_probs_variants(model, idx, vocab_softmax=False), atol=1e-4):
        return _verdict(False, "the softmax runs over the positions (dim 1); it should run over the "
                               "vocabulary (the last axis).")
    return _verdict(False, "right shape, other values: take log_softmax over the vocabulary, then pick "
                           "each next word's entry from the row before it.")
