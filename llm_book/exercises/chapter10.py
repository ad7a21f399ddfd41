"""Checkers for Chapter 10's exercises (in-context learning and induction heads)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import Verdict, _call, _judge, _judge_tensor, _number, _tensor, _verdict, checker
from llm_book.exercises._checking import _generator, _hidden_cases


def _optimal(n: int, k: int, v: int) -> float:
    p = 1 - (1 - 1 / k) ** n
    return p + (1 - p) / v


# ----------------------------------------------------------------------------
# 10.1 derive: how many examples a perfect reader needs for a target accuracy
# ----------------------------------------------------------------------------
def _needed(target: float, k: int, v: int) -> int:
    n = 0
    while _optimal(n, k, v) < target:
        n += 1
    return n


@checker
def check_10_1(examples_needed: Callable) -> Verdict:
    """Exercise 10.1: ``examples_needed(target, K, V)``: the smallest n with optimal accuracy(n) >= target."""
    for target, k, v in _hidden_cases([(0.5, 8, 8), (0.9, 8, 8), (0.99, 16, 4), (0.3, 3, 10), (0.1, 8, 2)],
                                      [(0.75, 5, 6)]):
        expected = _needed(target, k, v)
        got, hint = _call(examples_needed, target, k, v)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one whole number of examples")
        if hint:
            return _verdict(False, f"for target={target}, K={k}, V={v}: {hint}")
        if float(got) == expected:
            continue
        p_needed = (target - 1 / v) / (1 - 1 / v)
        exact = math.log(1 - p_needed) / math.log(1 - 1 / k)        # negative when target < 1/V
        mistakes = [(math.ceil(exact), "a guess alone is right 1 time in V: when target <= 1/V no example is "
                                       "needed, so the answer is 0, never negative.")] if expected == 0 else []
        mistakes += [
            (math.floor(exact),
             "rounded down: with that n the accuracy is still below the target. Take the smallest whole n "
             "at or above the exact solution (ceil)."),
            (round(exact),
             "rounded to the nearest: the answer must reach the target, so round UP (ceil)."),
            (math.ceil(math.log(1 - target) / math.log(1 - 1 / k)),
             "you solved 1 - (1 - 1/K)**n >= target, forgetting the guesses: an unshown key is still answered "
             "right 1 time in V, so the key must be shown with p = (target - 1/V) / (1 - 1/V)."),
            (_needed(target, v, k), "K and V swapped: the chance a key is missing uses 1/K; a guess is right 1/V."),
        ]
        for wrong, message in mistakes:
            if wrong is not None and wrong != expected and float(got) == wrong:
                return _verdict(False, message)
        return _verdict(False, f"for target={target}, K={k}, V={v} expected {expected} examples, got "
                               f"{float(got):.4g}: solve p + (1 - p)/V >= target for n, with p = 1 - (1 - 1/K)**n.")
    return _verdict(True, "invert the optimum and round up: 5 examples reach 0.5 with 8 keys and 8 values, "
                          "and 0.9 needs 17, more than twice as many as there are keys.")


# ----------------------------------------------------------------------------
# 10.2 predict then check: the single-head ablation of the fixed-format model
# ----------------------------------------------------------------------------
@checker
def check_10_2(single_head_ablation: Callable) -> Verdict:
    """Exercise 10.2: ``single_head_ablation(n, K, V)``: accuracy on shown keys without the head reading pair 1."""
    for n, k, v in _hidden_cases([(4, 8, 8), (1, 8, 8), (7, 8, 8), (3, 5, 10)], [(5, 6, 4)]):
        q = 1 - 1 / k
        shown = 1 - q ** n
        only_there = (1 / k) * q ** (n - 1)
        expected = 1 - (1 - 1 / v) * only_there / shown
        got, hint = _call(single_head_ablation, n, k, v)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one probability")
        if hint:
            return _verdict(False, f"for n={n}, K={k}, V={v}: {hint}")
        mistakes = [
            (1 - only_there / shown, "a lost answer is still a guess: it is right 1 time in V, so the "
                                     "loss is (1 - 1/V) of the queries whose key sat only in that pair."),
            (1 - (1 - 1 / v) * only_there, "the accuracy is on SHOWN keys: divide by the chance the key was "
                                           "shown, 1 - (1 - 1/K)**n."),
            (1 - only_there, "the accuracy is on SHOWN keys (divide by 1 - (1 - 1/K)**n), and a lost "
                             "answer is still right 1 time in V."),
            (1 - (1 - 1 / v) * (1 / k) / shown, "the answer is lost only when the key is in that pair and in "
                                                 "NO other: another copy is read by another head."),
            (1 - (1 - 1 / v) / n, "the key can be in several pairs, or only in one: the head's pair is "
                                  "the only copy with probability (1/K)(1 - 1/K)**(n-1), before conditioning."),
            (1 - 1 / n, "the key can be in several pairs: count only the queries whose key sat in the head's "
                        "pair alone, and a lost answer is still right 1 time in V."),
        ]
        verdict = _judge(got, expected, mistakes if n > 1 else mistakes[:4], "",
                         f"for n={n}, K={k}, V={v} expected {expected:.4f}, got {float(got):.4g}: given the "
                         f"key was shown, how often was it shown ONLY in the pair the head reads?",
                         rel_tol=1e-9, abs_tol=1e-12)
        if not verdict:
            return verdict
    return _verdict(True, "0.823 at 4 examples: compare with the 0.80 to 0.84 that Section 10.6 measured for "
                          "each layer-0 head.")


# ----------------------------------------------------------------------------
# 10.3 derive: a model that sees only the last m pairs
# ----------------------------------------------------------------------------
@checker
def check_10_3(window_accuracy: Callable) -> Verdict:
    """Exercise 10.3: ``window_accuracy(m, n, K, V)``: best accuracy seeing only the last m of n examples."""
    for m, n, k, v in _hidden_cases([(2, 7, 8, 5), (5, 3, 8, 8), (4, 4, 6, 5), (0, 5, 8, 8), (3, 10, 4, 10)],
                                    [(3, 6, 5, 7)]):
        expected = _optimal(min(m, n), k, v)
        got, hint = _call(window_accuracy, m, n, k, v)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one probability")
        if hint:
            return _verdict(False, f"for m={m}, n={n}, K={k}, V={v}: {hint}")
        seen = min(m, n)
        mistakes = [
            (_optimal(n, k, v), "the window hides the older pairs: only the last min(m, n) examples can "
                                "show the query key."),
            (_optimal(m, k, v), "with fewer examples than the window (n < m) only n pairs exist to be seen: "
                                "use min(m, n)."),
            (1 - (1 - 1 / k) ** seen, "an unshown key is still answered right 1 time in V (the guess)."),
            (_optimal(seen - 1, k, v) if seen else None, "off by one: the window holds min(m, n) whole pairs "
                                                         "before the query key."),
        ]
        mistakes = [(w, h) for w, h in mistakes if w is not None and not math.isclose(w, expected)]
        verdict = _judge(got, expected, mistakes, "", f"for m={m}, n={n}, K={k}, V={v} expected "
                         f"{expected:.4f}, got {float(got):.4g}: it is a perfect reader of the pairs it sees.",
                         rel_tol=1e-9, abs_tol=1e-12)
        if not verdict:
            return verdict
    return _verdict(True, "a window of m pairs is optimal(min(m, n)): the limit of an n-gram is its window "
                          "(and the data to fill its table), not reading as such.")


# ----------------------------------------------------------------------------
# 10.4 find the bug: the hook that switches off one head
# ----------------------------------------------------------------------------
def _merged_cases():
    g = _generator(104)
    return [(torch.randn(2, 3, 8, generator=g), 1, 4), (torch.randn(1, 5, 12, generator=g), 2, 3),
            (torch.randn(3, 2, 8, generator=g), 0, 2)]


@checker
def check_10_4(silence_head: Callable) -> Verdict:
    """Exercise 10.4: ``silence_head(merged, head, n_head)``: a copy with channels of ``head`` set to zero."""
    for merged, head, n_head in _merged_cases():
        width = merged.shape[-1] // n_head
        expected = merged.clone()
        expected[..., head * width:(head + 1) * width] = 0
        given = merged.clone()
        got, hint = _call(silence_head, given, head, n_head)
        if hint:
            return _verdict(False, hint)
        if not torch.equal(given, merged):
            return _verdict(False, "it changes the tensor it was given (in place): the hook's input is the "
                                   "model's activation, used elsewhere. Zero a copy (.clone()) and return it.")
        got, hint = _tensor(got, "a tensor shaped like merged")
        if hint:
            return _verdict(False, hint)
        if got.shape != expected.shape:
            return _verdict(False, f"return a tensor shaped like merged, {tuple(merged.shape)}; got "
                                   f"{tuple(got.shape)}.")
        one = merged.clone()
        one[..., head] = 0
        interleaved = merged.clone()
        interleaved[..., head::n_head] = 0
        from_head = merged.clone()
        from_head[..., head:head + width] = 0
        time_axis = merged.clone()
        time_axis[:, head] = 0
        kept = torch.zeros_like(merged)
        kept[..., head * width:(head + 1) * width] = merged[..., head * width:(head + 1) * width]
        mistakes = [
            (one, "still the bug: that zeroes ONE channel. Head h owns n_embd // n_head channels, "
                  "[h * hs, (h + 1) * hs)."),
            (interleaved, "the heads sit side by side, not interleaved: head h is the block "
                          "[h * hs, (h + 1) * hs), not every n_head-th channel."),
            (from_head, "the slice starts at channel h, not at h * hs: each head is hs = n_embd // n_head wide."),
            (time_axis, "that zeroes a POSITION (the second axis is time); heads are on the last axis."),
            (kept, "reversed: that keeps head h and silences all the others."),
        ]
        verdict = _judge_tensor(got, expected, mistakes, "", "expected merged with channels [h * hs, (h + 1) * "
                                "hs) set to 0 and every other channel unchanged.", atol=1e-6)
        if not verdict:
            return verdict
    return _verdict(True, "a copy with one head's block of hs channels zeroed: exactly what "
                          "interpret.ablate_heads does before attn.out.")


# ----------------------------------------------------------------------------
# 10.5 derive: the best possible training loss
# ----------------------------------------------------------------------------
@checker
def check_10_5(optimal_training_loss: Callable) -> Verdict:
    """Exercise 10.5: ``optimal_training_loss(n_pairs, K, V)``: the least mean loss over an episode's values."""
    for n_pairs, k, v in _hidden_cases([(8, 8, 8), (3, 4, 10), (1, 8, 8), (16, 5, 3)], [(5, 6, 7)]):
        expected = sum((1 - 1 / k) ** j for j in range(n_pairs)) / n_pairs * math.log(v)
        got, hint = _call(optimal_training_loss, n_pairs, k, v)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one loss in nats")
        if hint:
            return _verdict(False, f"for n_pairs={n_pairs}, K={k}, V={v}: {hint}")
        mistakes = [
            (expected / math.log(2), "that is in bits: the cross-entropy of the training loss uses the "
                                     "natural log (nats), ln V."),
            (sum((1 - 1 / k) ** j for j in range(1, n_pairs + 1)) / n_pairs * math.log(v),
             "off by one: the value of pair j (j = 1 .. n_pairs) has j - 1 earlier pairs, so the first "
             "value is never predictable."),
            ((expected * n_pairs + n_pairs * math.log(k)) / (2 * n_pairs),
             "the keys are not scored (their targets are -100): average over the values only."),
            (math.log(v), "ln V is the loss of a value whose key was never shown; a shown key's value "
                          "costs 0, and later pairs are more often shown."),
            (1 - sum(_optimal(j, k, v) for j in range(n_pairs)) / n_pairs,
             "that is an error rate, not a loss: a certain answer costs 0 nats, a 1-in-V guess ln V."),
            (sum((1 - 1 / k) ** j for j in range(n_pairs)) * math.log(v),
             "the loss is a MEAN over the n_pairs values, not a sum."),
        ]
        mistakes = [(w, h) for w, h in mistakes if not math.isclose(w, expected)]
        verdict = _judge(got, expected, mistakes, "", f"for n_pairs={n_pairs}, K={k}, V={v} expected "
                         f"{expected:.4f}, got {float(got):.4g}: each value costs 0 if its key was shown "
                         f"before, ln V if not.", rel_tol=1e-6, abs_tol=1e-9)
        if not verdict:
            return verdict
    return _verdict(True, "1.365 nats for 8 pairs, 8 keys and 8 values: no model can go lower on this data.")


__all__ = ["check_10_1", "check_10_2", "check_10_3", "check_10_4", "check_10_5"]
