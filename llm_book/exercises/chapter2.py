"""Checkers for Chapter 2's exercises (core concepts: n-grams, embeddings, linear probes)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _describe, _nonfinite_hint,
                                          _number, _tensor, _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases, _seed
from llm_book.exercises._checking import _close as _near

_CORPUS = [
    ["The", "cat", "sat", "<eos>"],
    ["The", "cat", "runs", "<eos>"],
    ["The", "dog", "sat", "<eos>"],
    ["The", "cat", "sat", "on", "the", "mat", "<eos>"],
    ["The", "dog", "sat", "on", "the", "rug", "<eos>"],
]


def _bigram(corpus, previous: str) -> dict[str, float]:
    following = [s[i + 1] for s in corpus for i in range(len(s) - 1) if s[i] == previous]
    return {w: following.count(w) / len(following) for w in sorted(set(following))}


def _preceding(corpus, word: str) -> dict[str, float]:
    before = [s[i - 1] for s in corpus for i in range(1, len(s)) if s[i] == word]
    return {w: before.count(w) / len(before) for w in sorted(set(before))}


def _close(got: Mapping, expected: Mapping, tol: float = 1e-6) -> bool:
    words = set(got) | set(expected)
    return all(abs(got.get(w, 0.0) - expected.get(w, 0.0)) <= tol for w in words)


@checker
def check_2_1(bigram_distribution: Callable) -> Verdict:
    """Exercise 2.1: ``bigram_distribution(sentences, previous)`` = {word: P(word | previous)} by counting."""
    for previous in _hidden_cases(["cat", "sat", "the"], ["The"]):
        expected = _bigram(_CORPUS, previous)
        occurrences = sum(1 for s in _CORPUS for i in range(len(s) - 1) if s[i] == previous)
        corpus = [list(s) for s in _CORPUS]
        got, hint = _call(bigram_distribution, corpus, previous)
        if hint:
            return _verdict(False, hint)
        if corpus != _CORPUS:
            return _verdict(False, "your function changed the sentences it was given; only read them.")
        if not isinstance(got, Mapping):
            return _verdict(False, f"return a dict {{word: probability}}, got {_describe(got)}.")
        values = {}
        for w, p in got.items():
            values[w], hint = _number(p, "probabilities (numbers) as the dict's values")
            if hint:
                return _verdict(False, f"for previous={previous!r} the entry {w!r}: {hint}")
        got = values
        if _close(got, expected):
            continue
        if not got or all(p == 0 for p in got.values()):
            return _verdict(False, f"for previous={previous!r} the dict is empty (or all zero); {previous!r} "
                                   f"is followed by {len(expected)} different words in the sentences.")
        total = sum(got.values())
        counts = {w: p * occurrences for w, p in expected.items()}
        if _close(got, counts):
            return _verdict(False, f"for previous={previous!r} these are counts, not probabilities: divide "
                                   f"by how often {previous!r} is followed by a word.")
        if _close(got, _preceding(_CORPUS, previous)):
            return _verdict(False, f"for previous={previous!r} you counted the words *before* it; "
                                   f"P(word | previous) counts the words right *after* it.")
        if 0 < total < 1 - 1e-6 and all(math.isclose(got.get(w, 0.0) / total, p, rel_tol=1e-6)
                                        for w, p in expected.items()):
            return _verdict(False, f"for previous={previous!r} the shares are right but sum to {total:.3f}: "
                                   f"divide by the number of times {previous!r} occurs, not by all words.")
        if not math.isclose(total, 1.0, rel_tol=1e-6):
            return _verdict(False, f"for previous={previous!r} the probabilities sum to {total:.3f}; "
                                   f"a distribution sums to 1.")
        wrong = sorted(map(str, (w for w in set(got) | set(expected)
                                 if abs(got.get(w, 0.0) - expected.get(w, 0.0)) > 1e-6)))
        return _verdict(False, f"for previous={previous!r} P({wrong[0]!r} | {previous!r}) is off; "
                               f"count each pair (previous, next) exactly once.")
    return _verdict(True, "counting pairs and normalising is all a bigram model does.")


def _tiny_gpt():
    from llm_book.model import GPT, GPTConfig

    torch.random.default_generator.manual_seed(_seed(0))  # CPU only; the checker puts the reader's state back
    return GPT(GPTConfig(vocab_size=11, block_size=12, n_layer=1, n_head=2, n_embd=16)).eval()


@checker
def check_2_2(embedding_layer: Callable) -> Verdict:
    """Exercise 2.2: ``embedding_layer(model, idx)``: token embedding + position embedding, ``(B, T, C)``."""
    model = _tiny_gpt()
    idx = torch.tensor([[0, 3, 5, 2, 7], [1, 1, 4, 9, 10]])
    with torch.no_grad():  # the reference first, from a model the reader's code never sees
        tok = model.wte(idx).double()
        pos = model.wpe(torch.arange(idx.shape[1])).double()
        shifted = tok + model.wpe(torch.arange(1, idx.shape[1] + 1)).double()
        expected = model(idx, output_hidden_states=True).hidden_states[0].double()
    got, hint = _call(embedding_layer, copy.deepcopy(model), idx.clone())
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "a tensor of shape (batch, T, n_embd)")
    if hint:
        return _verdict(False, hint)
    if got.shape != expected.shape:
        if got.shape == expected.shape[1:]:
            return _verdict(False, f"shape {tuple(got.shape)}: the batch axis is missing; embed every row of "
                                   f"idx, giving {tuple(expected.shape)}.")
        return _verdict(False, f"wrong shape: expected {tuple(expected.shape)} (batch, T, n_embd), "
                               f"got {tuple(got.shape)}.")
    if _allclose(got, expected, atol=1e-5):
        return _verdict(True, "what a word is plus where it is: the first box of the flowchart.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint)
    if _allclose(got, tok, atol=1e-5):
        return _verdict(False, "only the token embeddings: add the position embeddings `model.wpe`, or "
                               "the model cannot tell word order.")
    if _allclose(got, pos.expand_as(got), atol=1e-5):
        return _verdict(False, "only the position embeddings: add the token embeddings `model.wte(idx)`.")
    if _allclose(got, shifted, atol=1e-5):
        return _verdict(False, "positions are counted from 1; the first position is 0.")
    return _verdict(False, "right shape, wrong values: add model.wte(idx) and model.wpe(positions 0..T-1).")


def _blobs(noise_seed: int, n_per_class: int):
    """Points around four fixed cluster centres, in a shuffled order (position says nothing of the class)."""
    centres = torch.randn(4, 20, generator=_generator(3)) * 2.0  # the same four clusters
    g = _generator(noise_seed)
    x = torch.cat([c + torch.randn(n_per_class, 20, generator=g) for c in centres])
    y = torch.arange(4).repeat_interleave(n_per_class)
    order = torch.randperm(len(y), generator=g)
    return x[order], y[order]


@checker
def check_2_3(train_probe: Callable) -> Verdict:
    """Exercise 2.3: ``train_probe(features, labels, num_classes)`` returns ``predict(features) -> class ids``."""
    x_train, y_train = _blobs(1, 10)   # 40 training points
    x_test, y_test = _blobs(2, 40)     # 160 new points from the same four clusters
    features = x_train.clone()
    predict, hint = _call(train_probe, features, y_train.clone(), 4)
    if hint:
        return _verdict(False, hint)
    if not torch.equal(features, x_train):
        return _verdict(False, "your function changed the features in place; a probe only reads them.")
    if not callable(predict):
        return _verdict(False, f"return a function that predicts class ids, got {_describe(predict)}.")
    got, hint = _call(predict, x_test.clone())
    if hint:
        return _verdict(False, "the returned predict function failed: " + hint)
    got, hint = _tensor(got, "one class id per row")
    if hint:
        return _verdict(False, "predict: " + hint)
    if got.shape != y_test.shape:
        if got.dim() == 2 and got.shape == (len(y_test), 4):
            return _verdict(False, "predict returns scores (n, num_classes); return class ids: take the "
                                   "argmax over the last axis.")
        return _verdict(False, f"predict should return one class id per row: shape {tuple(y_test.shape)}, "
                               f"got {tuple(got.shape)}.")
    if got.is_floating_point() and (not torch.isfinite(got).all() or not torch.equal(got, got.round())):
        return _verdict(False, "predict should return integer class ids (e.g. from argmax), not fractions.")
    accuracy = (got == y_test).double().mean().item()
    if accuracy >= 0.9:
        return _verdict(True, f"test accuracy {accuracy:.2f} on clusters the probe never saw.")
    if accuracy <= 0.35:
        return _verdict(False, f"test accuracy {accuracy:.2f}, about chance (0.25): is the linear layer "
                               f"really trained (loss.backward(), optimizer.step())?")
    return _verdict(False, f"test accuracy {accuracy:.2f}; these clusters are easy, aim for 0.9: train "
                           f"longer or with a larger learning rate.")


# ----------------------------------------------------------------------------
# 2.4 find the bug: causal self-attention computed all at once
# ----------------------------------------------------------------------------
def _attention(x: torch.Tensor, causal: str = "past", softmax_dim: int = -1, scale: bool = True) -> torch.Tensor:
    """softmax(x x^T / sqrt(C)) x with a mask; variants for the hints (float64)."""
    T, C = x.shape[1], x.shape[2]
    scores = x @ x.transpose(1, 2) / (math.sqrt(C) if scale else 1.0)
    if causal != "none":
        mask = torch.ones(T, T, dtype=torch.bool)
        mask = mask.tril() if causal == "past" else mask.triu()
        scores = scores.masked_fill(~mask, -math.inf)
    return torch.softmax(scores, dim=softmax_dim) @ x


@checker
def check_2_4(causal_attention: Callable) -> Verdict:
    """Exercise 2.4: ``causal_attention(x)``: ``softmax(x x^T / sqrt(C))`` with a causal mask, times ``x``."""
    g = _generator(4)
    x = torch.randn(2, 6, 8, generator=g, dtype=torch.float64)
    expected = _attention(x)
    given = x.clone()
    got, hint = _call(causal_attention, given)
    if hint:
        return _verdict(False, hint)
    if not torch.equal(given, x):
        return _verdict(False, "your function changed its input in place; attention only reads x.")
    got, hint = _tensor(got, "a tensor of shape (batch, T, C)")
    if hint:
        return _verdict(False, hint)
    if got.shape != expected.shape:
        return _verdict(False, f"wrong shape: expected {tuple(expected.shape)} (batch, T, C), got {tuple(got.shape)}.")
    if _allclose(got, expected, atol=1e-5):
        return _verdict(True, "each row sums to 1 over the positions it may see, the past and itself.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint + " (A row whose every score is masked has nothing to take the softmax over.)")
    if _allclose(got, _attention(x, causal="future", softmax_dim=1), atol=1e-5):
        return _verdict(False, "this is the code as given: both bugs are still there (which positions the mask "
                               "keeps, and the axis of the softmax).")
    if _allclose(got, _attention(x, causal="future"), atol=1e-5):
        return _verdict(False, "the softmax is right now, but the mask keeps the *later* positions: position t may "
                               "see positions j <= t, the lower triangle (tril), not triu.")
    if _allclose(got, _attention(x, softmax_dim=1), atol=1e-5):
        return _verdict(False, "the mask is right now, but the softmax runs over the queries (dim=1): each row "
                               "(one query's weights over the keys) must sum to 1, so take it over the last axis.")
    if _allclose(got, _attention(x, causal="none"), atol=1e-5):
        return _verdict(False, "no mask at all: every position reads the words after it too, which a model that "
                               "predicts the next word must not see.")
    if _allclose(got, _attention(x, scale=False), atol=1e-5):
        return _verdict(False, "mask and softmax are right, but the scores are not divided by sqrt(C) "
                               "(the original had that part right).")
    return _verdict(False, "right shape, wrong values: scores = x @ x^T / sqrt(C), mask with tril, softmax over "
                           "the last axis, times x.")


# ----------------------------------------------------------------------------
# 2.5 derive add-k smoothing
# ----------------------------------------------------------------------------
_SMOOTHING_CASES = [(3, 20, 35, 0.01), (0, 20, 35, 0.01), (0, 20, 35, 1.0), (5, 5, 10, 0.5), (0, 0, 35, 0.01),
                    (7, 40, 35, 1.0)]


@checker
def check_2_5(add_k_probability: Callable) -> Verdict:
    """Exercise 2.5: ``add_k_probability(pair_count, context_count, vocab_size, k)`` = (c + k) / (N + k V)."""
    for c, n, v, k in _hidden_cases(_SMOOTHING_CASES, [(2, 9, 12, 0.25)]):
        expected = (c + k) / (n + k * v)
        got, hint = _call(add_k_probability, c, n, v, k)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one probability (a number)")
        if hint:
            return _verdict(False, f"for pair_count={c}, context_count={n}, vocab_size={v}, k={k}: {hint}")
        if _near(got, expected, rel_tol=1e-9):
            continue
        case = f"for pair_count={c}, context_count={n}, vocab_size={v}, k={k}"
        if n > 0 and _near(got, c / n, rel_tol=1e-9):
            return _verdict(False, f"{case} this is the unsmoothed count ratio c/N: an unseen pair still gets "
                                   f"probability 0. Add k to every count.")
        if n + k > 0 and _near(got, (c + k) / (n + k), rel_tol=1e-9):
            return _verdict(False, f"{case} the numerator is right, but the probabilities of all {v} words "
                                   f"would sum to more than 1: every one of the V words got k extra counts, so "
                                   f"the denominator grows by k * V.")
        if n > 0 and _near(got, (c + k) / n, rel_tol=1e-9):
            return _verdict(False, f"{case} the denominator is still N: the {v} words got k extra counts each, "
                                   f"so divide by N + k * V, or the distribution sums to more than 1.")
        if _near(got, (c + k * v) / (n + k * v), rel_tol=1e-9):
            return _verdict(False, f"{case} the denominator is right, but each word gets k extra counts, not "
                                   f"k * V: the numerator is c + k.")
        return _verdict(False, f"{case} expected a different probability, got {float(got):.6g}: write the count "
                               f"table after adding k to each of the V cells, then divide.")
    return _verdict(True, "(c + k) / (N + k V): unseen words get k / (N + k V) each, and the V probabilities "
                          "sum to 1. A context never seen (N = 0) gives k / (k V) = 1 / V to every word: the "
                          "uniform distribution.")


# ----------------------------------------------------------------------------
# 2.6 predict then check: the majority-class baseline
# ----------------------------------------------------------------------------
_LABEL_SETS = [[0] * 155 + [1] * 126 + [2] * 77 + [3] * 42, [2, 2, 1, 0, 2, 1, 2, 3, 2, 0], [1, 1, 1, 3]]


@checker
def check_2_6(majority_baseline: Callable) -> Verdict:
    """Exercise 2.6: ``majority_baseline(labels)``: test accuracy of always answering the most frequent class."""
    for labels in _LABEL_SETS:
        shuffled = torch.tensor(labels)[torch.randperm(len(labels), generator=_generator(6))]
        given = shuffled.clone()
        counts = torch.bincount(shuffled, minlength=4)
        expected = counts.max().item() / len(labels)
        got, hint = _call(majority_baseline, given)
        if hint:
            return _verdict(False, hint)
        if not torch.equal(given, shuffled):
            return _verdict(False, "your function changed the labels in place; only read them.")
        got, hint = _number(got, "one accuracy (a number between 0 and 1)")
        if hint:
            return _verdict(False, hint)
        if _near(got, expected, rel_tol=1e-6):
            continue
        case = f"for labels with counts {counts.tolist()}"
        if _near(got, 1 / len(counts.nonzero()), rel_tol=1e-6) or _near(got, 0.25, rel_tol=1e-6):
            return _verdict(False, f"{case} that is 1 / (number of classes), the expected accuracy of guessing "
                                   f"uniformly at random; a classifier that ignores its input does better by "
                                   f"always answering the most frequent class.")
        if _near(got, counts.max().item(), rel_tol=1e-6):
            return _verdict(False, f"{case} this is the count of the most frequent class; divide by the number "
                                   f"of labels to get an accuracy.")
        if _near(got, counts.argmax().item(), rel_tol=1e-6):
            return _verdict(False, f"{case} this is the most frequent class itself; return the accuracy of "
                                   f"always answering it (its share of the labels).")
        if _near(got, 1 / len(labels), rel_tol=1e-6):
            return _verdict(False, f"{case} you got 1 / (number of labels): every label was counted as a class "
                                   f"of its own. The elements of a tensor are distinct Python objects (a Counter "
                                   f"sees them all as different); count with labels.tolist() or torch.bincount.")
        nonzero = counts[counts > 0]
        if _near(got, nonzero.min().item() / len(labels), rel_tol=1e-6):
            return _verdict(False, f"{case} this is the share of the *least* frequent class; take the most "
                                   f"frequent.")
        return _verdict(False, f"{case} expected {expected:.3f}, got {float(got):.3f}: count each class, take the "
                               f"largest count, divide by the number of labels.")
    return _verdict(True, "0.39 on the 400 test sentences, not 0.25: the line to beat is the majority class.")
