"""Checkers for Chapter 6's exercises (applications: dialogue, summarisation, translation)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _describe, _int_list, _items,
                                          _nonfinite_hint, _number, _tensor, _verdict, checker)


@checker
def check_6_1(completion_targets: Callable) -> Verdict:
    """Exercise 6.1: ``completion_targets(prompt_ids, completion_ids) -> (inputs, targets)``, loss on the completion only."""
    cases = [([0, 7, 26, 21, 31, 17, 37, 40, 5, 7, 44, 41], [21, 31, 17, 34]),
             ([3, 4], [5, 6, 7]),
             ([9, 8, 7, 6, 5], [1])]
    for prompt, completion in cases:
        seq = prompt + completion
        expected_inputs, expected_targets = seq[:-1], [-100] * (len(prompt) - 1) + completion
        got, hint = _call(completion_targets, list(prompt), list(completion))
        if hint:
            return _verdict(False, hint)
        pair, hint = _items(got, 2, "two sequences: (inputs, targets)")
        if hint:
            return _verdict(False, hint)
        (inputs, hint_inputs), (targets, hint_targets) = (
            _int_list(x, "inputs and targets as lists (or 1-D tensors) of integers") for x in pair)
        if hint_inputs or hint_targets:
            return _verdict(False, hint_inputs or hint_targets)
        if len(inputs) != len(seq) - 1 or len(targets) != len(seq) - 1:
            return _verdict(False, f"for a prompt of {len(prompt)} and a completion of {len(completion)} "
                                   f"tokens, inputs and targets should both have {len(seq) - 1} entries "
                                   f"(the sequence minus one), got {len(inputs)} and {len(targets)}.")
        if inputs != expected_inputs:
            return _verdict(False, "inputs should be prompt + completion without its last token.")
        if targets == expected_targets:
            continue
        unmasked = seq[1:]
        if targets == unmasked:
            return _verdict(False, "every position is scored: set the targets inside the prompt to -100.")
        if targets == [-100] * len(prompt) + completion[1:]:
            return _verdict(False, "one -100 too many: the last prompt position predicts the first "
                                   "completion token, so it must be scored.")
        if targets == [-100] * (len(prompt) - 2) + unmasked[len(prompt) - 2:]:
            return _verdict(False, "one -100 too few: the position before the last prompt token "
                                   "predicts a prompt word and should not be scored.")
        if [t for t in targets if t != -100] == [t for t in seq[:-1][len(prompt) - 1:]]:
            return _verdict(False, "the targets are not shifted: position t predicts token t + 1.")
        bad = next(i for i, (a, b) in enumerate(zip(targets, expected_targets)) if a != b)
        return _verdict(False, f"targets differ at position {bad}: expected {expected_targets[bad]}, "
                               f"got {targets[bad]}.")
    return _verdict(True, "the loss now sees only the answer, never the question.")


@checker
def check_6_2(extend_embedding: Callable) -> Verdict:
    """Exercise 6.2: ``extend_embedding(weight, new_rows, std)``: old rows kept, new rows N(0, std)."""
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(35, 16, generator=g)
    new_rows, std = 4000, 0.02
    given = weight.clone()
    got, hint = _call(extend_embedding, given, new_rows, std)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "a tensor of shape (old rows + new_rows, width)")
    if hint:
        return _verdict(False, hint)
    if not torch.equal(given, weight):
        return _verdict(False, "your function changed the pretrained table in place; build a new tensor.")
    if got.shape == (new_rows, 16):
        return _verdict(False, "only the new rows came back: put the old rows first, then the new ones.")
    if got.shape != (35 + new_rows, 16):
        return _verdict(False, f"wrong shape: expected {(35 + new_rows, 16)}, got {tuple(got.shape)}.")
    if not _allclose(got[:35], weight, atol=1e-6):
        if _allclose(got[-35:], weight, atol=1e-6):
            return _verdict(False, "the old rows are at the end: keep them first, so every old token id "
                                   "still points at its learned row.")
        return _verdict(False, "the first 35 rows should be the pretrained rows, unchanged.")
    new = got[35:].double()
    if hint := _nonfinite_hint(new):
        return _verdict(False, hint)
    if torch.count_nonzero(new) == 0:
        return _verdict(False, "the new rows are all zero: identical rows cannot be told apart; draw them "
                               "at random.")
    if len(torch.unique(new, dim=0)) < new_rows:
        return _verdict(False, f"the {new_rows} new rows hold only {len(torch.unique(new, dim=0))} different "
                               f"rows: identical rows cannot be told apart; draw every row at random.")
    if len(torch.unique(new, dim=1).T) < new.shape[1]:
        return _verdict(False, "some columns of the new rows are identical copies: draw every number "
                               "on its own (torch.randn(new_rows, width) * std).")
    if abs(new.mean().item()) > 0.005 or not 0.8 * std < new.std().item() < 1.2 * std:
        return _verdict(False, f"the new rows have mean {new.mean().item():.3f} and standard deviation "
                               f"{new.std().item():.3f}; expected about 0 and {std} (scale torch.randn by std).")
    within = (new.abs() < std).double().mean().item()  # a normal distribution: 68.3% within one std
    if abs(within - 0.6827) > 0.02:
        return _verdict(False, f"{within:.0%} of the new numbers lie within one standard deviation of 0; "
                               f"a normal distribution puts 68% there: draw them with torch.randn(...) * std.")
    return _verdict(True, "old tokens keep what pretraining taught them; new ones start small.")


def _centroid(e: torch.Tensor) -> torch.Tensor:
    e = torch.nn.functional.normalize(e, dim=-1)
    return e @ torch.nn.functional.normalize(e.mean(0), dim=-1)


@checker
def check_6_3(centroid_scores: Callable) -> Verdict:
    """Exercise 6.3: ``centroid_scores(E)``: cosine similarity of each row to the mean row."""
    g = torch.Generator().manual_seed(6)
    e = torch.randn(9, 12, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3, 9)[:, None]
    expected = _centroid(e)
    unit = torch.nn.functional.normalize(e, dim=-1)
    given = e.clone()
    got, hint = _call(centroid_scores, given)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "one score per sentence: shape (9,)")
    if hint:
        return _verdict(False, hint)
    if got.shape != (9,):
        return _verdict(False, f"return one score per sentence: shape (9,), got {tuple(got.shape)}.")
    if not torch.equal(given, e):
        return _verdict(False, "your function changed E in place; work on new tensors.")
    if _allclose(got, expected, atol=1e-5):
        return _verdict(True, "the highest scores mark the sentences closest to the document's centre.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint)
    if _allclose(got, unit @ unit.mean(0), atol=1e-5):
        return _verdict(False, "normalise the centroid too: a cosine divides by both lengths.")
    if _allclose(got, e @ torch.nn.functional.normalize(e.mean(0), dim=-1), atol=1e-5) or \
            _allclose(got, e @ e.mean(0), atol=1e-5):
        return _verdict(False, "normalise each sentence vector (the rows of E have different lengths): "
                               "a cosine ignores length.")
    return _verdict(False, "values are off: normalise the rows, take their mean, normalise it, and "
                           "take each row's dot product with it.")


def _mmr(e: torch.Tensor, k: int, lam: float) -> list[int]:
    unit = torch.nn.functional.normalize(e, dim=-1)
    relevance, sim = _centroid(e), unit @ unit.T
    chosen: list[int] = []
    while len(chosen) < k:
        best, best_value = None, -math.inf
        for i in range(e.shape[0]):
            if i in chosen:
                continue
            redundancy = max((sim[i, j].item() for j in chosen), default=0.0)
            value = lam * relevance[i].item() - (1 - lam) * redundancy
            if value > best_value + 1e-12:
                best, best_value = i, value
        chosen.append(best)
    return chosen


@checker
def check_6_4(mmr_select: Callable) -> Verdict:
    """Exercise 6.4: ``mmr_select(E, k, lam)``: maximal marginal relevance, indices in the order picked."""
    g = torch.Generator().manual_seed(11)
    base = torch.randn(4, 10, generator=g, dtype=torch.float64)
    # Near-duplicates: rows 0-2 are copies of one direction, so redundancy matters.
    e = torch.cat([base[0] + 0.05 * torch.randn(3, 10, generator=g, dtype=torch.float64),
                   base[1:] + 0.3 * torch.randn(3, 10, generator=g, dtype=torch.float64),
                   torch.randn(4, 10, generator=g, dtype=torch.float64)])
    for k, lam in ((4, 0.6), (3, 0.3), (5, 1.0)):
        expected = _mmr(e, k, lam)
        got, hint = _call(mmr_select, e.clone(), k, lam)
        if hint:
            return _verdict(False, hint)
        picks, hint = _int_list(got, "a list of sentence indices")
        if hint:
            return _verdict(False, hint)
        if len(picks) != k:
            return _verdict(False, f"with k={k} return {k} indices, got {len(picks)}.")
        if len(set(picks)) != len(picks):
            return _verdict(False, f"a sentence was picked twice ({picks}): skip the ones already chosen.")
        if picks == expected:
            continue
        if sorted(picks) == sorted(expected):
            return _verdict(False, "the right sentences, in another order: return them in the order "
                                   "they were picked.")
        top = torch.argsort(-_centroid(e), stable=True)[:k].tolist()
        if picks == top and top != expected:
            return _verdict(False, f"with lam={lam} that is the plain top-{k} by centroid score: subtract "
                                   f"(1 - lam) x the similarity to the closest sentence already picked.")
        if picks == _mmr(e, k, 1 - lam):
            return _verdict(False, "lam and 1 - lam are swapped: lam weighs relevance, 1 - lam redundancy.")
        return _verdict(False, f"for k={k}, lam={lam} expected the picks {expected}, got {picks}; the "
                               f"first pick is the most relevant sentence, then maximise "
                               f"lam * relevance - (1 - lam) * max similarity to the picks so far.")
    return _verdict(True, "each pick is relevant and unlike the picks before it.")


def _precision(hyp, ref, n) -> float:
    h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
    r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
    total = sum(h.values())
    return sum(min(c, r[g]) for g, c in h.items()) / total if total else 0.0


@checker
def check_6_5(modified_precision: Callable) -> Verdict:
    """Exercise 6.5: ``modified_precision(hypothesis, reference, n)``: BLEU's clipped n-gram precision."""
    cases = [("猫 坐 在 垫子 上".split(), "猫 坐 在 垫子 上".split(), 1),
             ("的 的 的 的".split(), "狗 追 的 猫".split(), 1),
             ("猫 坐 在 沙发 上".split(), "猫 坐 在 垫子 上".split(), 2),
             ("狗 追 的 猫 们 睡觉".split(), "狗 们 追 的 猫 睡觉".split(), 2),
             ("猫 猫 猫".split(), "猫 猫 睡觉".split(), 1),
             ("猫 坐 在 垫子 上".split(), "猫 坐 在 一 块 垫子 上".split(), 2),
             ("猫".split(), "猫 睡觉".split(), 2)]
    for hyp, ref, n in cases:
        expected = _precision(hyp, ref, n)
        got, hint = _call(modified_precision, list(hyp), list(ref), n)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number")
        if hint:
            return _verdict(False, f"for {' '.join(hyp)!r} with n={n}: {hint}")
        if _close(got, expected, abs_tol=1e-6):
            continue
        label = f"for {' '.join(hyp)!r} against {' '.join(ref)!r} with n={n}"
        h = [tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1)]
        r = {tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)}
        if h and _close(got, sum(g in r for g in h) / len(h), abs_tol=1e-6):
            return _verdict(False, f"{label} you count every repeat: clip each n-gram's count at the "
                                   f"number of times it occurs in the reference.")
        n_ref = max(0, len(ref) - n + 1)
        if n_ref and _close(got, expected * len(h) / n_ref, abs_tol=1e-6):
            return _verdict(False, f"{label}: divide by the number of n-grams in the hypothesis, not the reference.")
        return _verdict(False, f"{label} expected {expected:.3f}, got {got:.3f}.")
    return _verdict(True, "repeating a right word no longer earns extra credit.")


@checker
def check_6_6(place_to_chinese: Callable) -> Verdict:
    """Exercise 6.6: ``place_to_chinese(prep, det, noun)``: "on a mat" -> 在 一 块 垫子 上."""
    from llm_book.translation import MEASURE_WORDS, PLACES, PREPOSITIONS

    for noun in PLACES:
        for prep in ("on", "under"):
            for det in ("the", "a"):
                expected = (["在"] + (["一", MEASURE_WORDS[noun]] if det == "a" else [])
                            + [PLACES[noun], PREPOSITIONS[prep]])
                got, hint = _call(place_to_chinese, prep, det, noun)
                if hint:
                    return _verdict(False, hint)
                if isinstance(got, str):
                    return _verdict(False, "return a list of Chinese tokens, one per word, e.g. "
                                           "['在', '垫子', '上'].")
                got, hint = _items(got, None, "a list of Chinese tokens, one per word, e.g. ['在', '垫子', '上']")
                if hint:
                    return _verdict(False, hint)
                if not all(isinstance(token, str) for token in got):
                    odd = next(token for token in got if not isinstance(token, str))
                    return _verdict(False, f"return a list of Chinese tokens (strings); one item is "
                                           f"{_describe(odd, returned=False)}.")
                if got == expected:
                    continue
                phrase = f"{prep!r} {det!r} {noun!r}"
                if "在" not in got:
                    return _verdict(False, f"for {phrase}: the place phrase starts with 在 (at).")
                if got and got[1:2] == [PREPOSITIONS[prep]]:
                    return _verdict(False, f"for {phrase}: 上 / 下 come after the noun (在 垫子 上: "
                                           f"'at the mat, on top').")
                if det == "a" and "一" in got and MEASURE_WORDS[noun] not in got:
                    return _verdict(False, f"for {phrase}: after 一 Chinese needs a measure word "
                                           f"chosen by the noun (see MEASURE_WORDS).")
                if det == "a" and "一" not in got:
                    return _verdict(False, f"for {phrase}: 'a' becomes 一 plus a measure word.")
                if det == "the" and len(got) > 3:
                    return _verdict(False, f"for {phrase}: Chinese has no word for 'the'; drop it.")
                return _verdict(False, f"for {phrase} expected {' '.join(expected)}, got {' '.join(map(str, got))}.")
    return _verdict(True, "all 36 place phrases translate as the grammar says.")
