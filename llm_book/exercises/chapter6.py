"""Checkers for Chapter 6's exercises (applications: dialogue, summarisation, translation)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import torch

from llm_book.exercises._checking import Verdict, _as_tensor, _call, _report


def _as_int_list(x) -> list[int] | None:
    if isinstance(x, torch.Tensor):
        x = x.tolist()
    try:
        return [int(v) for v in x]
    except Exception:
        return None


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
            return _report(False, hint)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return _report(False, "return two sequences: (inputs, targets).")
        inputs, targets = _as_int_list(got[0]), _as_int_list(got[1])
        if inputs is None or targets is None:
            return _report(False, "inputs and targets have to be lists (or 1-D tensors) of integers.")
        if len(inputs) != len(seq) - 1 or len(targets) != len(seq) - 1:
            return _report(False, f"for a prompt of {len(prompt)} and a completion of {len(completion)} "
                                  f"tokens, inputs and targets should both have {len(seq) - 1} entries "
                                  f"(the sequence minus one), got {len(inputs)} and {len(targets)}.")
        if inputs != expected_inputs:
            return _report(False, "inputs should be prompt + completion without its last token.")
        if targets == expected_targets:
            continue
        unmasked = seq[1:]
        if targets == unmasked:
            return _report(False, "every position is scored: set the targets inside the prompt to -100.")
        if targets == [-100] * len(prompt) + completion[1:]:
            return _report(False, "one -100 too many: the last prompt position predicts the first "
                                  "completion token, so it must be scored.")
        if targets == [-100] * (len(prompt) - 2) + unmasked[len(prompt) - 2:]:
            return _report(False, "one -100 too few: the position before the last prompt token "
                                  "predicts a prompt word and should not be scored.")
        if [t for t in targets if t != -100] == [t for t in seq[:-1][len(prompt) - 1:]]:
            return _report(False, "the targets are not shifted: position t predicts token t + 1.")
        bad = next(i for i, (a, b) in enumerate(zip(targets, expected_targets)) if a != b)
        return _report(False, f"targets differ at position {bad}: expected {expected_targets[bad]}, "
                              f"got {targets[bad]}.")
    return _report(True, "the loss now sees only the answer, never the question.")


def check_6_2(extend_embedding: Callable) -> Verdict:
    """Exercise 6.2: ``extend_embedding(weight, new_rows, std)``: old rows kept, new rows N(0, std)."""
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(35, 16, generator=g)
    before = weight.clone()
    new_rows, std = 4000, 0.02
    got, hint = _call(extend_embedding, weight, new_rows, std)
    if hint:
        return _report(False, hint)
    got = _as_tensor(got)
    if got is None:
        return _report(False, "return a tensor of shape (old rows + new_rows, width).")
    if not torch.equal(weight, before):
        return _report(False, "your function changed the pretrained table in place; build a new tensor.")
    if got.shape == (new_rows, 16):
        return _report(False, "only the new rows came back: put the old rows first, then the new ones.")
    if got.shape != (35 + new_rows, 16):
        return _report(False, f"wrong shape: expected {(35 + new_rows, 16)}, got {tuple(got.shape)}.")
    if not torch.allclose(got[:35], weight.double(), atol=1e-6):
        if torch.allclose(got[-35:], weight.double(), atol=1e-6):
            return _report(False, "the old rows are at the end: keep them first, so every old token id "
                                  "still points at its learned row.")
        return _report(False, "the first 35 rows should be the pretrained rows, unchanged.")
    new = got[35:]
    if torch.count_nonzero(new) == 0:
        return _report(False, "the new rows are all zero: identical rows cannot be told apart; draw them "
                              "at random.")
    if abs(new.mean().item()) > 0.005 or not 0.8 * std < new.std().item() < 1.2 * std:
        return _report(False, f"the new rows have mean {new.mean().item():.3f} and standard deviation "
                              f"{new.std().item():.3f}; expected about 0 and {std} (scale torch.randn by std).")
    return _report(True, "old tokens keep what pretraining taught them; new ones start small.")


def _centroid(e: torch.Tensor) -> torch.Tensor:
    e = torch.nn.functional.normalize(e, dim=-1)
    return e @ torch.nn.functional.normalize(e.mean(0), dim=-1)


def check_6_3(centroid_scores: Callable) -> Verdict:
    """Exercise 6.3: ``centroid_scores(E)``: cosine similarity of each row to the mean row."""
    g = torch.Generator().manual_seed(6)
    e = torch.randn(9, 12, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3, 9)[:, None]
    before = e.clone()
    got, hint = _call(centroid_scores, e)
    if hint:
        return _report(False, hint)
    got = _as_tensor(got)
    if got is None or got.shape != (9,):
        shape = None if got is None else tuple(got.shape)
        return _report(False, f"return one score per sentence: shape (9,), got {shape}.")
    if not torch.equal(e, before):
        return _report(False, "your function changed E in place; work on new tensors.")
    expected = _centroid(e)
    if torch.allclose(got, expected, atol=1e-5):
        return _report(True, "the highest scores mark the sentences closest to the document's centre.")
    unit = torch.nn.functional.normalize(e, dim=-1)
    if torch.allclose(got, unit @ unit.mean(0), atol=1e-5):
        return _report(False, "normalise the centroid too: a cosine divides by both lengths.")
    if torch.allclose(got, e @ torch.nn.functional.normalize(e.mean(0), dim=-1), atol=1e-5) or \
            torch.allclose(got, e @ e.mean(0), atol=1e-5):
        return _report(False, "normalise each sentence vector (the rows of E have different lengths): "
                              "a cosine ignores length.")
    return _report(False, "values are off: normalise the rows, take their mean, normalise it, and "
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


def check_6_4(mmr_select: Callable) -> Verdict:
    """Exercise 6.4: ``mmr_select(E, k, lam)``: maximal marginal relevance, indices in the order picked."""
    g = torch.Generator().manual_seed(11)
    base = torch.randn(4, 10, generator=g, dtype=torch.float64)
    # Near-duplicates: rows 0-2 are copies of one direction, so redundancy matters.
    e = torch.cat([base[0] + 0.05 * torch.randn(3, 10, generator=g, dtype=torch.float64),
                   base[1:] + 0.3 * torch.randn(3, 10, generator=g, dtype=torch.float64),
                   torch.randn(4, 10, generator=g, dtype=torch.float64)])
    for k, lam in ((4, 0.6), (3, 0.3), (5, 1.0)):
        got, hint = _call(mmr_select, e.clone(), k, lam)
        if hint:
            return _report(False, hint)
        picks = _as_int_list(got)
        if picks is None:
            return _report(False, "return a list of sentence indices.")
        if len(picks) != k:
            return _report(False, f"with k={k} return {k} indices, got {len(picks)}.")
        if len(set(picks)) != len(picks):
            return _report(False, f"a sentence was picked twice ({picks}): skip the ones already chosen.")
        expected = _mmr(e, k, lam)
        if picks == expected:
            continue
        if sorted(picks) == sorted(expected):
            return _report(False, "the right sentences, in another order: return them in the order "
                                  "they were picked.")
        top = torch.argsort(-_centroid(e), stable=True)[:k].tolist()
        if picks == top and top != expected:
            return _report(False, f"with lam={lam} that is the plain top-{k} by centroid score: subtract "
                                  f"(1 - lam) x the similarity to the closest sentence already picked.")
        if picks == _mmr(e, k, 1 - lam):
            return _report(False, "lam and 1 - lam are swapped: lam weighs relevance, 1 - lam redundancy.")
        return _report(False, f"for k={k}, lam={lam} expected the picks {expected}, got {picks}; the "
                              f"first pick is the most relevant sentence, then maximise "
                              f"lam * relevance - (1 - lam) * max similarity to the picks so far.")
    return _report(True, "each pick is relevant and unlike the picks before it.")


def _precision(hyp, ref, n) -> float:
    h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
    r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
    total = sum(h.values())
    return sum(min(c, r[g]) for g, c in h.items()) / total if total else 0.0


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
        got, hint = _call(modified_precision, list(hyp), list(ref), n)
        if hint:
            return _report(False, hint)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if not isinstance(got, (int, float)) or math.isnan(got):
            return _report(False, f"return one number, got {got!r}.")
        expected = _precision(hyp, ref, n)
        if math.isclose(got, expected, abs_tol=1e-6):
            continue
        label = f"for {' '.join(hyp)!r} against {' '.join(ref)!r} with n={n}"
        h = [tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1)]
        r = {tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)}
        if h and math.isclose(got, sum(g in r for g in h) / len(h), abs_tol=1e-6):
            return _report(False, f"{label} you count every repeat: clip each n-gram's count at the "
                                  f"number of times it occurs in the reference.")
        n_ref = max(0, len(ref) - n + 1)
        if n_ref and math.isclose(got, expected * len(h) / n_ref, abs_tol=1e-6):
            return _report(False, f"{label}: divide by the number of n-grams in the hypothesis, not the reference.")
        return _report(False, f"{label} expected {expected:.3f}, got {got:.3f}.")
    return _report(True, "repeating a right word no longer earns extra credit.")


def check_6_6(place_to_chinese: Callable) -> Verdict:
    """Exercise 6.6: ``place_to_chinese(prep, det, noun)``: "on a mat" -> 在 一 块 垫子 上."""
    from llm_book.translation import MEASURE_WORDS, PLACES, PREPOSITIONS

    for noun in PLACES:
        for prep in ("on", "under"):
            for det in ("the", "a"):
                got, hint = _call(place_to_chinese, prep, det, noun)
                if hint:
                    return _report(False, hint)
                if isinstance(got, str):
                    return _report(False, "return a list of Chinese tokens, one per word, e.g. "
                                          "['在', '垫子', '上'].")
                got = list(got)
                expected = (["在"] + (["一", MEASURE_WORDS[noun]] if det == "a" else [])
                            + [PLACES[noun], PREPOSITIONS[prep]])
                if got == expected:
                    continue
                phrase = f"{prep!r} {det!r} {noun!r}"
                if "在" not in got:
                    return _report(False, f"for {phrase}: the place phrase starts with 在 (at).")
                if got and got[1:2] == [PREPOSITIONS[prep]]:
                    return _report(False, f"for {phrase}: 上 / 下 come after the noun (在 垫子 上: "
                                          f"'at the mat, on top').")
                if det == "a" and "一" in got and MEASURE_WORDS[noun] not in got:
                    return _report(False, f"for {phrase}: after 一 Chinese needs a measure word "
                                          f"chosen by the noun (see MEASURE_WORDS).")
                if det == "a" and "一" not in got:
                    return _report(False, f"for {phrase}: 'a' becomes 一 plus a measure word.")
                if det == "the" and len(got) > 3:
                    return _report(False, f"for {phrase}: Chinese has no word for 'the'; drop it.")
                return _report(False, f"for {phrase} expected {' '.join(expected)}, got {' '.join(map(str, got))}.")
    return _report(True, "all 36 place phrases translate as the grammar says.")
