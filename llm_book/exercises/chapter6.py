"""Checkers for Chapter 6's exercises (applications: dialogue, summarisation, translation)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _describe, _int_list, _items,
                                          _nonfinite_hint, _number, _numbers, _tensor, _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases


@checker
def check_6_1(completion_targets: Callable) -> Verdict:
    """Exercise 6.1: ``completion_targets(prompt_ids, completion_ids) -> (inputs, targets)``, loss on the completion only."""
    cases = [([0, 7, 26, 21, 31, 17, 37, 40, 5, 7, 44, 41], [21, 31, 17, 34]),
             ([3, 4], [5, 6, 7]),
             ([9, 8, 7, 6, 5], [1])]
    cases = _hidden_cases(cases, [([5, 17, 3], [8, 9])])
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
    g = _generator(3)
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


def _completion_batch_reference(prompt_ids, completion_ids, pad_id):
    """The right ``(idx, targets)`` for id lists, as ``llm_book.finetuning.completion_batch`` builds them."""
    length = max(len(p) + len(c) for p, c in zip(prompt_ids, completion_ids))
    idx = torch.full((len(prompt_ids), length - 1), pad_id, dtype=torch.long)
    targets = torch.full((len(prompt_ids), length - 1), -100, dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        seq = torch.tensor(list(p) + list(c))
        idx[i, : len(seq) - 1] = seq[:-1]
        targets[i, len(p) - 1: len(seq) - 1] = seq[len(p):]
    return idx, targets


@checker
def check_6_3(scored_and_ignored: Callable) -> Verdict:
    """Exercise 6.3: ``scored_and_ignored(prompt_lengths, completion_lengths) -> (scored, ignored)``:
    how many targets of a padded prompt-completion batch the loss scores, and how many are -100."""
    cases = _hidden_cases([([13, 7, 16], [4, 3, 3]), ([3, 7], [5, 1]), ([6], [2])], [([4, 9, 2], [6, 2, 8])])
    for prompt_lengths, completion_lengths in cases:
        n, length = len(prompt_lengths), max(p + c for p, c in zip(prompt_lengths, completion_lengths))
        scored = sum(completion_lengths)
        ignored = n * (length - 1) - scored
        about = f"for prompts of {prompt_lengths} tokens and completions of {completion_lengths}"
        got, hint = _call(scored_and_ignored, list(prompt_lengths), list(completion_lengths))
        if hint:
            return _verdict(False, hint)
        numbers, hint = _numbers(got, 2, "two numbers: (scored, ignored)", "two whole numbers: (scored, ignored)")
        if hint:
            return _verdict(False, hint)
        fraction = next((x for x in numbers if x != round(x)), None)
        if fraction is not None:
            return _verdict(False, f"counts are whole numbers, got {float(fraction):g}.")
        got_scored, got_ignored = (int(round(x)) for x in numbers)
        if (got_scored, got_ignored) == (scored, ignored):
            continue
        if (got_scored, got_ignored) == (ignored, scored):
            return _verdict(False, f"{about} the two counts are swapped: scored first, then the -100s.")
        if got_scored == sum(prompt_lengths) + scored - n:
            return _verdict(False, f"{about} you counted every target as scored: the targets inside the "
                                   f"prompt are -100 and only the completion's tokens are scored.")
        if got_scored == scored - n:
            return _verdict(False, f"{about} one scored target too few per example: every completion token, "
                                   f"the first (predicted at the prompt's last position) and <eos> included, "
                                   f"is a target once.")
        if got_scored == scored + n:
            return _verdict(False, f"{about} one scored target too many per example: the prompt's last position "
                                   f"predicts the first completion token, already counted; no prompt token "
                                   f"is ever a scored target.")
        if got_scored != scored:
            return _verdict(False, f"{about} the number scored is off (got {got_scored}): count the completion "
                                   f"tokens, each is the target of exactly one position.")
        if got_ignored == sum(prompt_lengths) - n:
            return _verdict(False, f"{about} the padding is missing: every row is padded to the longest "
                                   f"example, and padded positions are -100 too.")
        if got_ignored == n * length - scored:
            return _verdict(False, f"{about} every row has one target fewer than tokens (length - 1 = "
                                   f"{length - 1}), because the last token predicts nothing.")
        if got_ignored == sum(prompt_lengths):
            return _verdict(False, f"{about} the prompt's last position is scored (it predicts the first answer "
                                   f"token), and the padding is -100 as well.")
        return _verdict(False, f"{about} the -100 count is off (got {got_ignored}): scored + ignored fill the "
                               f"batch, {n} rows of {length - 1} targets.")
    return _verdict(True, "you know which positions the loss sees before running anything.")


@checker
def check_6_4(fixed_completion_batch: Callable) -> Verdict:
    """Exercise 6.4: the buggy ``completion_batch`` (the first answer token never scored), fixed:
    ``fixed_completion_batch(prompt_ids, completion_ids, pad_id) -> (idx, targets)``."""
    cases = [([[0, 7, 26, 21, 31, 17, 44, 35, 37, 5, 7, 40, 45]], [[21, 31, 17, 1]], 1),
             ([[3, 4], [9, 8, 7, 6, 5]], [[5, 6, 7, 1], [2, 1]], 1),
             ([[10, 11, 12], [13]], [[14, 0], [15, 16, 0]], 0)]
    cases = _hidden_cases(cases, [([[20, 21, 22, 23], [24, 25]], [[26, 1], [27, 28, 29, 1]], 1)])
    for prompts, completions, pad_id in cases:
        idx, targets = _completion_batch_reference(prompts, completions, pad_id)
        about = f"for prompts {prompts} and completions {completions}"
        got, hint = _call(fixed_completion_batch, [list(p) for p in prompts], [list(c) for c in completions],
                          pad_id)
        if hint:
            return _verdict(False, hint)
        pair, hint = _items(got, 2, "two tensors: (idx, targets)")
        if hint:
            return _verdict(False, hint)
        tensors = []
        for x in pair:
            t, hint = _tensor(x, "two tensors of whole numbers: (idx, targets)")
            if hint:
                return _verdict(False, hint)
            if t.is_floating_point():
                if not torch.isfinite(t).all() or not torch.equal(t, t.round()):
                    return _verdict(False, "idx and targets hold token ids (and -100): whole numbers.")
            tensors.append(t.long())
        got_idx, got_targets = tensors
        if got_idx.shape != idx.shape or got_targets.shape != targets.shape:
            return _verdict(False, f"{about} idx and targets should both have shape {tuple(idx.shape)} (one row "
                                   f"an example, the longest minus one columns), got {tuple(got_idx.shape)} and "
                                   f"{tuple(got_targets.shape)}.")
        if not torch.equal(got_idx, idx):
            return _verdict(False, f"{about} idx changed: the bug is in the targets; keep idx as it was.")
        if torch.equal(got_targets, targets):
            continue
        late = torch.full_like(targets, -100)
        early = torch.full_like(targets, -100)
        unshifted = torch.full_like(targets, -100)
        padded = targets.clone()
        for i, (p, c) in enumerate(zip(prompts, completions)):
            seq = list(p) + list(c)
            late[i, len(p): len(seq) - 1] = torch.tensor(seq[len(p) + 1:])
            early[i, len(p) - 2: len(seq) - 1] = torch.tensor(seq[len(p) - 1:])
            unshifted[i, len(p) - 1: len(seq) - 1] = torch.tensor(seq[len(p) - 1: -1])
            padded[i, len(seq) - 1:] = pad_id
        if torch.equal(got_targets, late):
            return _verdict(False, f"{about} the bug is still there: the first answer token is never a target. "
                                   f"It is predicted at the prompt's last position, len(p) - 1.")
        if torch.equal(got_targets, early):
            return _verdict(False, f"{about} one position too early: now the last word of the question is "
                                   f"scored too (position len(p) - 2 predicts the prompt's last token).")
        if torch.equal(got_targets, unshifted):
            return _verdict(False, f"{about} the targets are not shifted: position t has to predict token t + 1 "
                                   f"(seq[len(p):], not seq[len(p) - 1:-1]).")
        if torch.equal(got_targets, padded) and not torch.equal(padded, targets):
            return _verdict(False, f"{about} the padding is scored: positions past the end of an example "
                                   f"should stay -100.")
        if bool((got_targets != -100).all()):
            return _verdict(False, f"{about} every target is scored: the prompt's targets and the padding "
                                   f"have to be -100.")
        row, col = next((i, j) for i in range(targets.shape[0]) for j in range(targets.shape[1])
                        if got_targets[i, j] != targets[i, j])
        return _verdict(False, f"{about} targets differ in row {row} at position {col}: expected "
                               f"{int(targets[row, col])}, got {int(got_targets[row, col])}.")
    return _verdict(True, "every answer token, the first one too, is scored exactly once.")


def _centroid(e: torch.Tensor) -> torch.Tensor:
    e = torch.nn.functional.normalize(e, dim=-1)
    return e @ torch.nn.functional.normalize(e.mean(0), dim=-1)


@checker
def check_6_5(centroid_scores: Callable) -> Verdict:
    """Exercise 6.5: ``centroid_scores(E)``: cosine similarity of each row to the mean row."""
    g = _generator(6)
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


def _mmr(e: torch.Tensor, k: int, lam: float, normalise: bool = True) -> list[int]:
    unit = torch.nn.functional.normalize(e, dim=-1) if normalise else e
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
def check_6_6(mmr_select: Callable) -> Verdict:
    """Exercise 6.6: ``mmr_select(E, k, lam)``: maximal marginal relevance, indices in the order picked."""
    g = _generator(11)
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
        if picks == _mmr(e, k, lam, normalise=False):
            return _verdict(False, "the similarity between sentences has to be a cosine, but the rows of E "
                                   "do not have length 1 here: normalise them first (as in Exercise 6.5), "
                                   "then take E @ E.T.")
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
def check_6_9(modified_precision: Callable) -> Verdict:
    """Exercise 6.9: ``modified_precision(hypothesis, reference, n)``: BLEU's clipped n-gram precision."""
    cases = [("猫 坐 在 垫子 上".split(), "猫 坐 在 垫子 上".split(), 1),
             ("的 的 的 的".split(), "狗 追 的 猫".split(), 1),
             ("猫 坐 在 沙发 上".split(), "猫 坐 在 垫子 上".split(), 2),
             ("狗 追 的 猫 们 睡觉".split(), "狗 们 追 的 猫 睡觉".split(), 2),
             ("猫 猫 猫".split(), "猫 猫 睡觉".split(), 1),
             ("猫 坐 在 垫子 上".split(), "猫 坐 在 一 块 垫子 上".split(), 2),
             ("猫".split(), "猫 睡觉".split(), 2)]
    cases = _hidden_cases(cases, [("狗 狗 追 猫".split(), "狗 追 的 猫".split(), 1),
                                  ("鸟 们 在 屋顶 上 睡觉".split(), "鸟 们 在 一 个 屋顶 上".split(), 2)])
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
def check_6_10(place_to_chinese: Callable) -> Verdict:
    """Exercise 6.10: ``place_to_chinese(prep, det, noun)``: "on a mat" -> 在 一 块 垫子 上."""
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


# ----------------------------------------------------------------------------
# 6.7, 6.8 (06b): TextRank find-the-bug, MMR predict-then-check; 6.11, 6.12 (06c): BLEU predict-then-check, BLEU find-the-bug
# ----------------------------------------------------------------------------
def _textrank_variant(e: torch.Tensor, damping: float, normalise: bool = True, transpose: bool = True,
                      swap: bool = False) -> torch.Tensor:
    """Power iteration on the similarity graph of unit rows ``e``, right or with one of 6.7's bugs."""
    w = (e @ e.T).clamp(min=0).fill_diagonal_(0)
    p = w / w.sum(-1, keepdim=True) if normalise else w
    flow = p.T if transpose else p
    n = e.shape[0]
    rank = torch.full((n,), 1 / n, dtype=e.dtype)
    for _ in range(100):
        rank = damping / n + (1 - damping) * flow @ rank if swap else (1 - damping) / n + damping * flow @ rank
    return rank


def _textrank_input() -> torch.Tensor:
    g = _generator(9)
    e = torch.randn(9, 12, generator=g, dtype=torch.float64) + 0.4 * torch.randn(12, generator=g, dtype=torch.float64)
    return torch.nn.functional.normalize(e, dim=-1)


@checker
def check_6_7(fixed_textrank: Callable) -> Verdict:
    """Exercise 6.7: ``fixed_textrank(E, damping)``: the buggy power iteration with its two bugs fixed."""
    from llm_book.summarization import textrank_scores

    e = _textrank_input()
    for damping in (0.85, 0.7):
        expected = textrank_scores(e, damping=damping)
        given = e.clone()
        got, hint = _call(fixed_textrank, given, damping)
        if hint:
            return _verdict(False, hint)
        got, hint = _tensor(got, "one score per sentence: shape (9,)")
        if hint:
            return _verdict(False, hint)
        if not torch.equal(given, e):
            return _verdict(False, "your function changed E in place; work on new tensors.")
        if got.shape != (9,):
            return _verdict(False, f"return one score per sentence: shape (9,), got {tuple(got.shape)}.")
        if _allclose(got, expected, atol=1e-6):
            continue
        if not torch.isfinite(got).all():
            return _verdict(False, "the scores overflow: without dividing each row of W by its sum, every "
                                   "step multiplies them by more than 1. Make P row-stochastic.")
        total = got.double().sum()
        shape = got.double() / total if total.abs() > 0 else got.double()
        label = f"with damping={damping}: "

        def same(**bug) -> bool:
            wrong = _textrank_variant(e, damping, **bug)
            return _allclose(shape, wrong / wrong.sum(), atol=1e-6)

        if same(normalise=False, swap=True):
            return _verdict(False, label + "that is still what the buggy function gives: both bugs are left.")
        if same(normalise=False):
            return _verdict(False, label + "the damping is right now, but the rows of W are not normalised: "
                                           "divide each row by its sum, so that the walk's probabilities of "
                                           "leaving a sentence add up to 1.")
        if same(swap=True):
            return _verdict(False, label + "the rows are normalised now, but damping and 1 - damping are "
                                           "swapped: the walk follows an edge with probability damping and "
                                           "jumps to a random sentence with probability 1 - damping.")
        if same(transpose=False) or same(transpose=False, swap=True):
            return _verdict(False, label + "the score flows along the edges: sentence j receives P[i, j] of "
                                           "sentence i's score, which is P.T @ rank, not P @ rank.")
        if damping != 0.85 and _allclose(shape, _textrank_variant(e, 0.85), atol=1e-6):
            return _verdict(False, label + "you used 0.85 whatever the argument: use `damping`.")
        if _allclose(shape, expected, atol=1e-6):
            return _verdict(False, label + f"the right ranking, but the scores sum to {total.item():.3g}: "
                                           f"a random walk's probabilities sum to 1.")
        return _verdict(False, label + "the scores differ from llm_book.summarization.textrank_scores; fix "
                                       "the two bugs and change nothing else (W, the start and the 100 steps "
                                       "are right).")
    return _verdict(True, "a random walk that leaves each sentence with probabilities summing to 1, and "
                          "follows an edge with probability `damping` (0.85 in PageRank).")


_MMR_RELEVANCE = (0.90, 0.85, 0.60, 0.50)
_MMR_SIMILARITY_TO_0 = (1.0, 0.95, 0.20, 0.10)
_MMR_LAMBDAS = (0.9, 0.7, 0.3)


def _second_pick(lam: float, swap: bool = False) -> int:
    weight = 1 - lam if swap else lam
    values = {i: weight * _MMR_RELEVANCE[i] - (1 - weight) * _MMR_SIMILARITY_TO_0[i] for i in (1, 2, 3)}
    return max(values, key=lambda i: (values[i], -i))


def _answer(x, what):
    """The value a prediction function returns (or the value itself); ``(value, hint)``."""
    if callable(x):
        return _call(x)
    return x, None


@checker
def check_6_8(second_picks, switch_points=None) -> Verdict:
    """Exercise 6.8 (predict then check): MMR's second pick at lambda = 0.9, 0.7, 0.3 for the table of
    the exercise (1, 2, 3), and optionally the lambdas where it switches (0.75 from 1 to 2, 0.5 from 2 to 3).
    Each argument is a value or a function of no arguments returning it."""
    expected = [_second_pick(lam) for lam in _MMR_LAMBDAS]
    got, hint = _answer(second_picks, "three sentence indices")
    if hint:
        return _verdict(False, f"`second_picks`: {hint}")
    picks, hint = _items(got, 3, "three sentence indices: the second pick at lambda = 0.9, 0.7 and 0.3")
    if hint:
        return _verdict(False, hint)
    picks, hint = _int_list(list(picks), "three sentence indices (whole numbers from 1 to 3)")
    if hint:
        return _verdict(False, hint)
    if picks != expected:
        if 0 in picks:
            return _verdict(False, "sentence 0 is the first pick (the most relevant); the second pick is "
                                   "one of sentences 1, 2, 3.")
        if any(not 1 <= p <= 3 for p in picks):
            return _verdict(False, "the table has sentences 0 to 3, and 0 is picked first: the second pick "
                                   "is 1, 2 or 3.")
        if picks == [1, 1, 1]:
            return _verdict(False, "that is the plain relevance order (lambda = 1): sentence 1 almost "
                                   "repeats sentence 0, and the term (1 - lambda) x similarity grows as "
                                   "lambda falls.")
        if picks == [_second_pick(lam, swap=True) for lam in _MMR_LAMBDAS]:
            return _verdict(False, "lambda and 1 - lambda are swapped: lambda weighs relevance, "
                                   "1 - lambda the similarity to sentence 0.")
        if picks == [3, 3, 3]:
            return _verdict(False, "that is similarity alone (lambda = 0): at lambda = 0.9 relevance "
                                   "counts nine times as much as redundancy.")
        wrong = next(lam for lam, p, e in zip(_MMR_LAMBDAS, picks, expected) if p != e)
        return _verdict(False, f"check lambda = {wrong}: compute lambda x relevance - (1 - lambda) x "
                               f"similarity to sentence 0 for sentences 1, 2 and 3, and take the largest.")
    if switch_points is None:
        return _verdict(True, "as lambda falls, MMR trades the near-copy of the first pick for sentences "
                              "that add something new.")
    got, hint = _answer(switch_points, "two numbers")
    if hint:
        return _verdict(False, f"`switch_points`: {hint}")
    pair, hint = _items(got, 2, "two numbers: the lambda where the second pick changes from 1 to 2, "
                                "then the one where it changes from 2 to 3")
    if hint:
        return _verdict(False, hint)
    numbers = []
    for x in pair:
        number, hint = _number(x, "two numbers")
        if hint:
            return _verdict(False, f"`switch_points`: {hint}")
        numbers.append(number)
    first, second = numbers
    if _close(first, 0.75, abs_tol=1e-3) and _close(second, 0.5, abs_tol=1e-3):
        return _verdict(True, "below lambda = 0.75 the near-copy loses to sentence 2, below 0.5 sentence 2 "
                              "loses to the least redundant sentence 3: lambda sets how much novelty "
                              "is worth.")
    if _close(first, 0.5, abs_tol=1e-3) and _close(second, 0.75, abs_tol=1e-3):
        return _verdict(False, "the right numbers in the wrong order: as lambda falls from 1 the second "
                               "pick changes first from 1 to 2 (at the larger lambda), then from 2 to 3.")
    if _close(first, 0.25, abs_tol=1e-3):
        return _verdict(False, "0.25 is where 1 and 2 tie when lambda weighs the similarity: lambda "
                               "multiplies relevance, 1 - lambda the similarity.")
    which = "1 and 2" if not _close(first, 0.75, abs_tol=1e-3) else "2 and 3"
    return _verdict(False, f"for the switch between sentences {which}: set their two MMR values equal, "
                           f"lambda r_i - (1 - lambda) s_i = lambda r_j - (1 - lambda) s_j, and solve for "
                           f"lambda.")


_BLEU_HYPOTHESIS = "猫 坐 在 垫子 上".split()
_BLEU_REFERENCE = "猫 坐 在 一 块 垫子 上".split()


@checker
def check_6_11(bleu_predictions) -> Verdict:
    """Exercise 6.11 (predict then check): (p_1, p_2, BP, BLEU) of 猫 坐 在 垫子 上 against
    猫 坐 在 一 块 垫子 上: (1, 0.75, exp(-0.4), 0). A tuple, or a function of no arguments returning it."""
    got, hint = _answer(bleu_predictions, "four numbers")
    if hint:
        return _verdict(False, hint)
    items, hint = _items(got, 4, "four numbers: (p_1, p_2, BP, BLEU)")
    if hint:
        return _verdict(False, hint)
    values = []
    for x in items:
        number, hint = _number(x, "four numbers: (p_1, p_2, BP, BLEU)")
        if hint:
            return _verdict(False, hint)
        values.append(number)
    p1, p2, bp, bleu = values
    c, r = len(_BLEU_HYPOTHESIS), len(_BLEU_REFERENCE)
    right_p1, right_p2, right_bp = 1.0, 3 / 4, math.exp(1 - r / c)
    tol = 5e-3
    if not _close(p1, right_p1, abs_tol=tol):
        if _close(p1, c / r, abs_tol=tol):
            return _verdict(False, "p_1: divide by the number of words in the hypothesis (5), not in the "
                                   "reference.")
        return _verdict(False, "p_1: count the hypothesis words that occur in the reference; every one of "
                               "the 5 does.")
    if not _close(p2, right_p2, abs_tol=tol):
        if _close(p2, 3 / 6, abs_tol=tol):
            return _verdict(False, "p_2: divide by the number of bigrams in the hypothesis (4), not in "
                                   "the reference (6).")
        if _close(p2, 1.0, abs_tol=tol):
            return _verdict(False, "p_2: is the bigram 在 垫子 in the reference? There 在 is followed by 一.")
        return _verdict(False, "p_2: list the hypothesis's 4 bigrams and mark those that occur in the "
                               "reference.")
    if not _close(bp, right_bp, abs_tol=tol):
        if _close(bp, 1.0, abs_tol=tol):
            return _verdict(False, "BP: the hypothesis is shorter than the reference (c = 5 < r = 7), so "
                                   "the penalty applies.")
        if _close(bp, math.exp(1 - c / r), abs_tol=tol):
            return _verdict(False, "BP: exp(1 - r / c), not exp(1 - c / r); a penalty is at most 1.")
        if _close(bp, c / r, abs_tol=tol):
            return _verdict(False, "BP: not the ratio of lengths but exp(1 - r / c).")
        return _verdict(False, "BP: with c = 5 hypothesis words and r = 7 reference words it is "
                               "exp(1 - r / c).")
    if not _close(bleu, 0.0, abs_tol=tol):
        three = right_bp * math.exp((math.log(right_p1) + math.log(right_p2) + math.log(1 / 3)) / 3)
        if _close(bleu, three, abs_tol=tol):
            return _verdict(False, "BLEU: the geometric mean runs over n = 1 to 4, not 3. How many of the "
                                   "two 4-grams occur in the reference?")
        return _verdict(False, "BLEU: look at p_3 and p_4 as well. What is a geometric mean when one of "
                               "its factors is 0?")
    return _verdict(True, f"p_1 = 1, p_2 = 0.75, BP = e^-0.4 = {right_bp:.4f}, and no 4-gram matches, so "
                          f"p_4 = 0 and BLEU = 0: one missing measure phrase (一 块) zeroes a short sentence's BLEU, "
                          f"which is why BLEU is computed over a corpus.")


def _bleu_variant(hypotheses, references, clip: bool = True, bp_swapped: bool = False,
                  per_sentence_bp: bool = False) -> float:
    matches, totals, c, r = [0] * 4, [0] * 4, 0, 0
    penalties = []
    for hyp, ref in zip(hypotheses, references):
        c, r = c + len(hyp), r + len(ref)
        penalties.append(1.0 if len(hyp) >= len(ref) else math.exp(1 - len(ref) / len(hyp)))
        for n in range(1, 5):
            h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            g = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(k, g[x]) if clip else k for x, k in h.items() if x in g)
            totals[n - 1] += max(0, len(hyp) - n + 1)
    p = [m / t for m, t in zip(matches, totals)]
    if per_sentence_bp:
        bp = sum(penalties) / len(penalties)
    else:
        bp = 1.0 if c >= r else math.exp(1 - (c / r if bp_swapped else r / c))
    return bp * math.exp(sum(math.log(x) for x in p) / 4)


def _bleu_cases():
    s = str.split
    return [
        # a repeated 们: clipping matters; the same lengths, so the brevity penalty does not
        ([s("狗 追 的 猫 们 们 在 垫子 上 睡觉"), s("猫 坐 在 沙发 上")],
         [s("狗 追 的 猫 们 在 垫子 上 睡觉"), s("猫 坐 在 沙发 上")]),
        # shorter hypotheses: the brevity penalty matters
        ([s("猫 坐 在 垫子 上"), s("狗 在 沙发 下 跑步")],
         [s("猫 坐 在 一 块 垫子 上"), s("狗 在 沙发 下 跑步")]),
        # both at once
        ([s("狗 追 的 猫 在 垫子 上 睡觉"), s("猫 坐 在 一 张 垫子 下"), s("鸟 鸟 们 在 屋顶 上 睡觉")],
         [s("狗 追 的 猫 们 在 垫子 上 睡觉"), s("猫 坐 在 一 张 沙发 下"), s("鸟 们 在 一 个 屋顶 上 睡觉")]),
    ]


@checker
def check_6_12(fixed_bleu: Callable) -> Verdict:
    """Exercise 6.12: ``fixed_bleu(hypotheses, references)``: the buggy BLEU with its two bugs fixed
    (clip the counts by the reference; BP = exp(1 - r / c)), equal to ``corpus_bleu(...).score``."""
    from llm_book.translation import corpus_bleu

    hidden = [(["狗 追 的 猫 猫 在 沙发 上".split()], ["狗 追 的 猫 在 一 张 沙发 上 睡觉".split()])]
    for hyps, refs in _hidden_cases(_bleu_cases(), hidden):
        expected = corpus_bleu(hyps, refs).score
        given = ([list(h) for h in hyps], [list(r) for r in refs])
        got, hint = _call(fixed_bleu, *given)
        if hint:
            return _verdict(False, hint)
        if hasattr(got, "score") and hasattr(got, "brevity_penalty"):
            return _verdict(False, "return the score itself, one number (BLEU(...).score), not the BLEU object.")
        got, hint = _number(got, "one number, the corpus BLEU in [0, 1]")
        if hint:
            return _verdict(False, hint)
        if given != ([list(h) for h in hyps], [list(r) for r in refs]):
            return _verdict(False, "your function changed the token lists in place; leave them as they are.")
        if _close(got, expected, abs_tol=1e-9):
            continue
        corpus = "on a corpus with a repeated word" if any(len(set(h)) < len(h) for h in hyps) else \
            "on one of the test corpora"
        mistakes = [
            (100 * expected, "BLEU here is a number in [0, 1]; do not multiply by 100."),
            (_bleu_variant(hyps, refs, clip=False),
             f"{corpus}: the counts are not clipped: an n-gram counts at most as often as it occurs in "
             f"the reference (min(count, reference count))."),
            (_bleu_variant(hyps, refs, bp_swapped=True),
             "on a corpus shorter than its references: the brevity penalty exp(1 - c / r) exceeds 1 and "
             "rewards the short output; it is exp(1 - r / c), with c the hypotheses' total length."),
            (_bleu_variant(hyps, refs, clip=False, bp_swapped=True),
             f"{corpus}: the counts are not clipped (min(count, reference count)), and the brevity "
             f"penalty is still the buggy one."),
            (_bleu_variant(hyps, refs, per_sentence_bp=True),
             "the brevity penalty is computed once for the corpus, from the total lengths c and r, not "
             "averaged over sentences."),
        ]
        message = next((hint for wrong, hint in mistakes if _close(got, wrong, abs_tol=1e-9)), None)
        return _verdict(False, message or f"expected {expected:.4f} on one of the test corpora, got "
                                          f"{float(got):.4f}; fix the two bugs and change nothing else.")
    return _verdict(True, "clipped counts and a penalty of at most 1: your BLEU agrees with "
                          "llm_book.translation.corpus_bleu on every test corpus.")
