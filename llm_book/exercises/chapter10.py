"""Checkers for Chapter 10's exercises (in-context learning and induction heads)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _call, _int_list, _items, _judge, _judge_tensor, _number,
                                          _tensor, _verdict, checker)


# ----------------------------------------------------------------------------
# 10.1 derive: the best possible accuracy after n examples
# ----------------------------------------------------------------------------
@checker
def check_10_1(optimal_accuracy: Callable) -> Verdict:
    """Exercise 10.1: ``optimal_accuracy(n, K, V)`` = p + (1 - p) / V with p = 1 - (1 - 1/K)**n."""
    for n, k, v in [(4, 8, 8), (0, 8, 8), (3, 5, 10), (10, 2, 3), (1, 8, 8)]:
        p = 1 - (1 - 1 / k) ** n
        expected = p + (1 - p) / v
        got, hint = _call(optimal_accuracy, n, k, v)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one probability")
        if hint:
            return _verdict(False, f"for n={n}, K={k}, V={v}: {hint}")
        mistakes = [
            (p, "that is the chance the key was shown; when it was not, a guess is still right 1 time in V."),
            (min(1.0, n / k) + (1 - min(1.0, n / k)) / v,
             "keys are drawn WITH replacement: n examples show fewer than n distinct keys; the chance a "
             "given key is missing from all n is (1 - 1/K)**n."),
            ((1 - 1 / k) ** n + (1 - (1 - 1 / k) ** n) / v,
             "(1 - 1/K)**n is the chance the key was NOT shown; p is one minus it."),
            (p + (1 - p) / k, "a guess picks one of the V values, so it is right with probability 1/V, not 1/K."),
            (1 - (1 - 1 / k) ** (n + 1) + (1 - 1 / k) ** (n + 1) / v,
             "off by one: the query comes after n examples, so n (not n + 1) chances to have seen its key."),
        ]
        verdict = _judge(got, expected, mistakes if n else [],
                         "", f"for n={n}, K={k}, V={v} expected {expected:.4f}, got {float(got):.4g}: the key "
                         f"was shown with probability p = 1 - (1 - 1/K)**n; then the answer is certain.",
                         rel_tol=1e-9, abs_tol=1e-12)
        if not verdict:
            return verdict
    return _verdict(True, "certain when the key was shown, a 1-in-V guess otherwise: 0.699 after 8 examples "
                          "for 8 keys and 8 values.")


# ----------------------------------------------------------------------------
# 10.2 build: an episode's training targets
# ----------------------------------------------------------------------------
def _episode_cases():
    return [[16, 0, 8, 3, 11, 0, 8], [16, 5, 15, 5, 15, 2, 9, 7, 10], [16, 1, 12]]


@checker
def check_10_2(episode_targets: Callable) -> Verdict:
    """Exercise 10.2: ``episode_targets(ids)`` -> ``(inputs, targets)``, targets -100 where the next token is a key."""
    for ids in _episode_cases():
        inputs, targets = ids[:-1], list(ids[1:])
        for t in range(0, len(targets), 2):
            targets[t] = -100
        got, hint = _call(episode_targets, list(ids))
        if hint:
            return _verdict(False, hint)
        items, hint = _items(got, 2, "two lists: (inputs, targets)")
        if hint:
            return _verdict(False, hint)
        got_in, hint = _int_list(items[0], "inputs as a list of integers")
        if hint:
            return _verdict(False, hint)
        got_t, hint = _int_list(items[1], "targets as a list of integers")
        if hint:
            return _verdict(False, hint)
        if got_in != inputs:
            if got_in == ids:
                return _verdict(False, "inputs are every token but the LAST: the last token has no next token "
                                       "to predict.")
            return _verdict(False, f"for ids {ids} the inputs should be {inputs}, got {got_in}.")
        if got_t == targets:
            continue
        swapped = list(ids[1:])
        for t in range(1, len(swapped), 2):
            swapped[t] = -100
        if got_t == swapped:
            return _verdict(False, "the -100s are on the wrong tokens: the target after <eos> or after a value "
                                   "is a KEY (random, nothing to learn); the target after a key is its value.")
        if got_t == list(ids[1:]):
            return _verdict(False, "every target is scored: mark the keys with -100, they are drawn at random.")
        if got_t == ids[:-1] or (len(got_t) == len(targets) and got_t[1::2] == list(ids[1:-1:2])):
            return _verdict(False, "targets are the NEXT tokens: shift by one (ids[1:]), then mask the keys.")
        return _verdict(False, f"for ids {ids} the targets should be {targets}, got {got_t}.")
    return _verdict(True, "the loss sees only the values: the only tokens the context can predict.")


# ----------------------------------------------------------------------------
# 10.3 build: the previous-token score of attention maps
# ----------------------------------------------------------------------------
def _attn_cases():
    g = torch.Generator().manual_seed(103)
    out = []
    for b, h, t in [(2, 3, 6), (1, 4, 9)]:
        scores = torch.randn(b, h, t, t, generator=g) * 2
        scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        out.append(torch.softmax(scores, -1))
    return out


@checker
def check_10_3(previous_token_score: Callable) -> Verdict:
    """Exercise 10.3: ``previous_token_score(attn)`` -> ``(heads,)`` mean of ``attn[..., i, i-1]``, i = 1..T-1."""
    for attn in _attn_cases():
        t = attn.shape[-1]
        i = torch.arange(1, t)
        expected = attn[:, :, i, i - 1].mean(dim=(0, 2)).double()
        got, hint = _call(previous_token_score, attn.clone())
        if hint:
            return _verdict(False, hint)
        got, hint = _tensor(got, "a tensor of one score per head")
        if hint:
            return _verdict(False, hint)
        if got.shape != expected.shape:
            if got.numel() == 1:
                return _verdict(False, f"return one score PER HEAD, shape ({attn.shape[1]},): average over the "
                                       f"batch and the positions, not over the heads.")
            return _verdict(False, f"return shape ({attn.shape[1]},), one score per head; got {tuple(got.shape)}.")
        all_i = torch.arange(t)
        mistakes = [
            (attn[:, :, i, i].mean(dim=(0, 2)).double(), "that is the weight on the token itself (the "
                                                         "diagonal); the previous token is one column left."),
            (attn[:, :, all_i, all_i].mean(dim=(0, 2)).double(), "that is the weight on the token itself (the "
                                                                 "diagonal); the previous token is one column left."),
            ((attn[:, :, i, i - 1].sum(2) / t).mean(0).double(),
             "position 0 has no previous token: average over the T - 1 positions i = 1 .. T - 1 that have "
             "one, not over all T (and index -1 would wrap round to the last key)."),
            (attn[:, :, i - 1, i].mean(dim=(0, 2)).double(),
             "rows are queries, columns keys: the weight of query i on key i - 1 is attn[..., i, i - 1]."),
        ]
        verdict = _judge_tensor(got, expected, mistakes, "", f"expected {expected.numpy().round(4).tolist()}, "
                                f"got {got.double().numpy().round(4).tolist()}: the mean of attn[b, h, i, i - 1] "
                                f"over the batch and i = 1 .. T - 1.", atol=1e-5)
        if not verdict:
            return verdict
    return _verdict(True, "a previous-token head scores near 1: it moves each token's identity one step right.")


# ----------------------------------------------------------------------------
# 10.4 find the bug: the induction (prefix-matching) score
# ----------------------------------------------------------------------------
def _induction_case():
    g = torch.Generator().manual_seed(104)
    t, period = 12, 5
    scores = torch.randn(2, 3, t, t, generator=g)
    scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(scores, -1), period


@checker
def check_10_4(induction_score: Callable) -> Verdict:
    """Exercise 10.4: ``induction_score(attn, period)``: mean of ``attn[..., i, i - period + 1]`` over i >= period."""
    attn, period = _induction_case()
    t = attn.shape[-1]
    got, hint = _call(induction_score, attn.clone(), period)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "a tensor of one score per head")
    if hint:
        return _verdict(False, hint)
    i = torch.arange(period, t)
    expected = attn[:, :, i, i - period + 1].mean(dim=(0, 2)).double()
    if got.shape != expected.shape:
        return _verdict(False, f"return shape ({attn.shape[1]},), one score per head; got {tuple(got.shape)}.")
    early = torch.arange(period - 1, t)
    mistakes = [
        (attn[:, :, i, i - period].mean(dim=(0, 2)).double(),
         "still the bug: i - period is the EARLIER COPY of the current token; an induction head looks at the "
         "token AFTER it, i - period + 1."),
        (attn[:, :, early, early - period + 1].mean(dim=(0, 2)).double(),
         "query i = period - 1 is still in the first copy: its 'match' is position 0, the first token, not a "
         "repeat. Start at i = period."),
        (attn[:, :, i, i - period + 2].mean(dim=(0, 2)).double(),
         "one too far: the token after the earlier copy is at i - period + 1."),
    ]
    return _judge_tensor(got, expected, mistakes, "a head that scores near 1 finds the earlier copy of the "
                         "current token and looks at what came next.",
                         f"expected {expected.numpy().round(4).tolist()}: the mean of attn[b, h, i, i - period "
                         f"+ 1] over the batch and i = period .. T - 1.", atol=1e-5)


# ----------------------------------------------------------------------------
# 10.5 predict then check: what an n-gram model can do on the task
# ----------------------------------------------------------------------------
@checker
def check_10_5(ngram_accuracy: Callable) -> Verdict:
    """Exercise 10.5: ``ngram_accuracy(n, K, V)``: best accuracy of an n-gram model (n = 2 or 3), >= 1 example."""
    for k, v in [(4, 10), (5, 3), (8, 8)]:
        for n in (2, 3):
            expected = 1 / v if n == 2 else 1 / k + (1 - 1 / k) / v
            got, hint = _call(ngram_accuracy, n, k, v)
            if hint:
                return _verdict(False, hint)
            got, hint = _number(got, "one probability")
            if hint:
                return _verdict(False, f"for n={n}, K={k}, V={v}: {hint}")
            if n == 2:
                mistakes = [(1 / k, "the model guesses a VALUE: chance is 1/V, not 1/K."),
                            (1 / k + (1 - 1 / k) / v, "a bigram sees only the query key, not the value "
                                                      "before it: nothing to copy.")]
            else:
                mistakes = [(1 / v, "not chance: a trigram sees the previous value too, and the query key "
                                    "repeats the previous key 1 time in K; then that value is the answer."),
                            (1 / k, "when the query key is not the previous key (probability 1 - 1/K), "
                                    "predicting the previous value is still right 1 time in V."),
                            (1 / k + 1 / v, "the two cases exclude each other: weight the 1/V by 1 - 1/K.")]
            verdict = _judge(got, expected, mistakes, "", f"for n={n}, K={k}, V={v} expected {expected:.4f}, "
                             f"got {float(got):.4g}: ask which tokens the model sees and what they reveal.",
                             rel_tol=1e-9, abs_tol=1e-12)
            if not verdict:
                return verdict
    return _verdict(True, "the trigram learns 'repeat the last value': 0.234 with 8 keys and 8 values, "
                          "whatever the number of examples.")


__all__ = ["check_10_1", "check_10_2", "check_10_3", "check_10_4", "check_10_5"]
