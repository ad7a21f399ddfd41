"""Chapter 6's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from llm_book.exercises import check_6_1, check_6_2, check_6_5, check_6_6, check_6_9, check_6_10
from llm_book.exercises import check_6_3, check_6_4
from llm_book.exercises import check_6_7, check_6_8, check_6_11, check_6_12
from llm_book.summarization import textrank_scores
from llm_book.translation import MEASURE_WORDS, PLACES, PREPOSITIONS, corpus_bleu
from checker_helpers import assert_hint, assert_right, catalogue_tests, stub, verdict
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def check_stub(capsys, checker):
    ok, line = verdict(capsys, checker, stub)
    assert not ok and "not written yet" in line


# ----------------------------------------------------------------------------
# 6.1 completion targets
# ----------------------------------------------------------------------------
def test_6_1(capsys):
    def right(p, c):
        seq = p + c
        return seq[:-1], [-100] * (len(p) - 1) + c

    def unmasked(p, c):
        seq = p + c
        return seq[:-1], seq[1:]

    def one_too_many(p, c):
        seq = p + c
        return seq[:-1], [-100] * len(p) + c[1:]

    def one_too_few(p, c):
        seq = p + c
        return seq[:-1], [-100] * (len(p) - 2) + seq[len(p) - 1:]

    def not_shifted(p, c):
        seq = p + c
        return seq[:-1], [-100] * (len(p) - 1) + seq[len(p) - 1:-1]

    def whole_sequence(p, c):
        return p + c, [-100] * len(p) + c

    def as_tensors(p, c):
        inputs, targets = right(p, c)
        return torch.tensor(inputs), torch.tensor(targets)

    assert verdict(capsys, check_6_1, right)[0]
    assert verdict(capsys, check_6_1, as_tensors)[0]
    for answer, hint in [(unmasked, "set the targets inside the prompt to -100"),
                         (one_too_many, "one -100 too many"), (one_too_few, "one -100 too few"),
                         (not_shifted, "not shifted"), (whole_sequence, "should both have"),
                         (lambda p, c: p + c, "return two sequences")]:
        ok, line = verdict(capsys, check_6_1, answer)
        assert not ok and hint in line, (answer, line)
    check_stub(capsys, check_6_1)


# ----------------------------------------------------------------------------
# 6.2 extend an embedding table
# ----------------------------------------------------------------------------
def test_6_2(capsys):
    def right(w, n, std):
        return torch.cat([w.clone(), torch.randn(n, w.shape[1]) * std])

    def in_place(w, n, std):
        w.mul_(1.0)
        w[0, 0] += 1
        return torch.cat([w, torch.randn(n, w.shape[1]) * std])

    assert verdict(capsys, check_6_2, right)[0]
    for answer, hint in [
        (lambda w, n, std: torch.randn(n, w.shape[1]) * std, "only the new rows"),
        (lambda w, n, std: torch.cat([torch.randn(n, w.shape[1]) * std, w]), "the old rows are at the end"),
        (lambda w, n, std: torch.cat([w, torch.zeros(n, w.shape[1])]), "all zero"),
        (lambda w, n, std: torch.cat([w, torch.randn(n, w.shape[1])]), "standard deviation"),
        (lambda w, n, std: torch.cat([w, torch.randn(n + 1, w.shape[1]) * std]), "wrong shape"),
        (lambda w, n, std: torch.cat([w * 2, torch.randn(n, w.shape[1]) * std]), "pretrained rows, unchanged"),
        (in_place, "in place"),
        (lambda w, n, std: "table", "return a tensor"),
    ]:
        ok, line = verdict(capsys, check_6_2, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_2)


# ----------------------------------------------------------------------------
# 6.5 centroid scores
# ----------------------------------------------------------------------------
def unit(e):
    return e / e.norm(dim=-1, keepdim=True)


def test_6_5(capsys):
    def right(e):
        centre = unit(e).mean(0)
        return unit(e) @ (centre / centre.norm())

    assert verdict(capsys, check_6_5, right)[0]
    for answer, hint in [
        (lambda e: unit(e) @ unit(e).mean(0), "normalise the centroid"),
        (lambda e: e @ e.mean(0), "normalise each sentence vector"),
        (lambda e: right(e)[:3], "shape (9,)"),
        (lambda e: right(e) + 1, "values are off"),
        (lambda e: right(e.mul_(2)), "changed E in place"),
    ]:
        ok, line = verdict(capsys, check_6_5, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_5)


# ----------------------------------------------------------------------------
# 6.6 maximal marginal relevance
# ----------------------------------------------------------------------------
def mmr(e, k, lam, order=True, swap=False, skip_chosen=True, normalise=True):
    if swap:
        lam = 1 - lam
    centre = unit(e).mean(0)
    rows = unit(e) if normalise else e
    relevance, sim = unit(e) @ (centre / centre.norm()), rows @ rows.T
    picked = []
    while len(picked) < k:
        values = [(lam * relevance[i].item() - (1 - lam) * max((sim[i, j].item() for j in picked), default=0.0), -i)
                  for i in range(e.shape[0]) if not (skip_chosen and i in picked)]
        picked.append(-max(values)[1])
    return picked if order else sorted(picked)


def test_6_6(capsys):
    assert verdict(capsys, check_6_6, mmr)[0]

    def top_k(e, k, lam):
        centre = unit(e).mean(0)
        return torch.argsort(-(unit(e) @ centre), stable=True)[:k].tolist()

    for answer, hint in [
        (lambda e, k, lam: mmr(e, k, lam, order=False), "in the order they were picked"),
        (top_k, "plain top-"),
        (lambda e, k, lam: mmr(e, k, lam, swap=True), "swapped"),
        (lambda e, k, lam: mmr(e, k, lam, skip_chosen=False), "picked twice"),
        (lambda e, k, lam: mmr(e, k, lam, normalise=False), "do not have length 1"),
        (lambda e, k, lam: mmr(e, k, lam)[:-1], "return"),
        (lambda e, k, lam: list(range(k)), "expected the picks"),
    ]:
        ok, line = verdict(capsys, check_6_6, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_6)


# ----------------------------------------------------------------------------
# 6.9 BLEU's modified precision
# ----------------------------------------------------------------------------
def grams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def test_6_9(capsys):
    def right(h, r, n):
        hg, rg = grams(h, n), grams(r, n)
        total = sum(hg.values())
        return sum(min(c, rg[g]) for g, c in hg.items()) / total if total else 0.0

    def unclipped(h, r, n):
        hg, rg = grams(h, n), grams(r, n)
        total = sum(hg.values())
        return sum(c for g, c in hg.items() if g in rg) / total if total else 0.0

    def reference_denominator(h, r, n):
        hg, rg = grams(h, n), grams(r, n)
        total = sum(rg.values())
        return sum(min(c, rg[g]) for g, c in hg.items()) / total if total else 0.0

    def crashes_on_short(h, r, n):
        return right(h, r, n) if len(h) >= n else 1 / 0

    assert verdict(capsys, check_6_9, right)[0]
    assert verdict(capsys, check_6_9, lambda h, r, n: torch.tensor(right(h, r, n)))[0]
    for answer, hint in [(unclipped, "clip each n-gram's count"),
                         (reference_denominator, "not the reference"),
                         (lambda h, r, n: right(h, r, 1), "expected"),
                         (crashes_on_short, "ZeroDivisionError"),
                         (lambda h, r, n: "high", "return one number")]:
        ok, line = verdict(capsys, check_6_9, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_9)


# ----------------------------------------------------------------------------
# 6.10 place phrases in Chinese
# ----------------------------------------------------------------------------
def test_6_10(capsys):
    def right(prep, det, noun):
        return ["在"] + (["一", MEASURE_WORDS[noun]] if det == "a" else []) + [PLACES[noun], PREPOSITIONS[prep]]

    assert verdict(capsys, check_6_10, right)[0]
    for answer, hint in [
        (lambda p, d, n: right(p, d, n)[1:], "starts with 在"),
        (lambda p, d, n: ["在", PREPOSITIONS[p], PLACES[n]], "come after the noun"),
        (lambda p, d, n: ["在"] + (["一"] if d == "a" else []) + [PLACES[n], PREPOSITIONS[p]], "measure word"),
        (lambda p, d, n: ["在", PLACES[n], PREPOSITIONS[p]], "'a' becomes 一"),
        (lambda p, d, n: ["在"] + (["一", MEASURE_WORDS[n]] if d == "a" else ["那"]) + [PLACES[n], PREPOSITIONS[p]],
         "no word for 'the'"),
        (lambda p, d, n: "".join(right(p, d, n)), "list of Chinese tokens"),
        (lambda p, d, n: right(p, d, n)[:-1] + ["上"], "expected"),
    ]:
        ok, line = verdict(capsys, check_6_10, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_10)


# ----------------------------------------------------------------------------
# 6.7 find the bug: TextRank's power iteration
# ----------------------------------------------------------------------------
def textrank(e, damping, normalise=True, transpose=True, swap=False, fixed_damping=None):
    damping = damping if fixed_damping is None else fixed_damping
    w = (e @ e.T).clamp(min=0).fill_diagonal_(0)
    p = w / w.sum(-1, keepdim=True) if normalise else w
    flow = p.T if transpose else p
    n = e.shape[0]
    rank = torch.full((n,), 1 / n, dtype=e.dtype)
    for _ in range(100):
        rank = damping / n + (1 - damping) * flow @ rank if swap else (1 - damping) / n + damping * flow @ rank
    return rank


def test_6_7(capsys):
    assert_right(capsys, check_6_7, textrank)
    assert_right(capsys, check_6_7, lambda e, d: textrank_scores(e, damping=d))

    def in_place(e, d):
        e.mul_(1.0).add_(0.0)
        e[0] *= 2
        return textrank(e, d)

    for answer, hint in [
        (lambda e, d: textrank(e, d, normalise=False, swap=True), "both bugs are left"),
        (lambda e, d: textrank(e, d, normalise=False), "rows of W are not normalised"),
        (lambda e, d: textrank(e, d, swap=True), "swapped"),
        (lambda e, d: textrank(e, d, transpose=False), "P.T @ rank"),
        (lambda e, d: textrank(e, d, fixed_damping=0.85), "use `damping`"),
        (lambda e, d: 3 * textrank(e, d), "sum to 3"),
        (lambda e, d: textrank(e, d)[:5], "shape (9,)"),
        (lambda e, d: textrank(e, d) + 0.01, "differ from llm_book.summarization.textrank_scores"),
        (lambda e, d: torch.full((9,), float("inf")), "overflow"),
        (in_place, "in place"),
    ]:
        assert_hint(capsys, check_6_7, answer, hint)
    check_stub(capsys, check_6_7)


# ----------------------------------------------------------------------------
# 6.8 predict then check: MMR's second pick
# ----------------------------------------------------------------------------
def test_6_8(capsys):
    assert_right(capsys, check_6_8, lambda: (1, 2, 3))
    assert_right(capsys, check_6_8, (1, 2, 3))
    ok, line = _two(capsys, lambda: [1, 2, 3], lambda: (0.75, 0.5))
    assert ok and "0.75" in line, line
    assert _two(capsys, np.array([1, 2, 3]), torch.tensor([0.75, 0.5]))[0]
    for picks, hint in [((1, 1, 1), "plain relevance order"), ((0, 1, 2), "sentence 0 is the first pick"),
                        ((3, 3, 2), "swapped"), ((3, 3, 3), "similarity alone"), ((1, 2, 2), "lambda = 0.3"),
                        ((1, 3, 3), "lambda = 0.7"), ((1, 2, 5), "1, 2 or 3"), ((1, 2), "three sentence indices"),
                        ((1.5, 2, 3), "whole numbers")]:
        assert_hint(capsys, check_6_8, lambda p=picks: p, hint)
    for points, hint in [((0.5, 0.75), "wrong order"), ((0.25, 0.5), "weighs the similarity"),
                         ((0.6, 0.5), "between sentences 1 and 2"), ((0.75, 0.4), "between sentences 2 and 3"),
                         ((0.75,), "two numbers"), (lambda: 1 / 0, "ZeroDivisionError")]:
        ok, line = _two(capsys, (1, 2, 3), points)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_8)


def _two(capsys, picks, points):
    """Run check_6_8 on both predictions; the same checks as ``verdict``."""
    return verdict(capsys, lambda answer: check_6_8(*answer), (picks, points))


# ----------------------------------------------------------------------------
# 6.11 predict then check: BLEU of a sentence without its measure word
# ----------------------------------------------------------------------------
RIGHT_BLEU = (1.0, 0.75, math.exp(-0.4), 0.0)


def test_6_11(capsys):
    assert_right(capsys, check_6_11, lambda: RIGHT_BLEU)
    assert_right(capsys, check_6_11, (1, 3 / 4, 0.6703, 0))          # rounded to 4 digits is fine
    three = math.exp(-0.4) * (1 * 0.75 / 3) ** (1 / 3)
    for answer, hint in [((5 / 7, 0.75, math.exp(-0.4), 0), "not in the reference"),
                         ((0.9, 0.75, math.exp(-0.4), 0), "every one of the 5"),
                         ((1, 0.5, math.exp(-0.4), 0), "not in the reference (6)"),
                         ((1, 1, math.exp(-0.4), 0), "在 垫子"),
                         ((1, 0.25, math.exp(-0.4), 0), "list the hypothesis's 4 bigrams"),
                         ((1, 0.75, 1, 0), "the penalty applies"),
                         ((1, 0.75, math.exp(1 - 5 / 7), 0), "at most 1"),
                         ((1, 0.75, 5 / 7, 0), "not the ratio"),
                         ((1, 0.75, 0.5, 0), "exp(1 - r / c)"),
                         ((1, 0.75, math.exp(-0.4), three), "not 3"),
                         ((1, 0.75, math.exp(-0.4), 0.3), "one of its factors is 0"),
                         ((1, 0.75, math.exp(-0.4)), "four numbers")]:
        assert_hint(capsys, check_6_11, lambda a=answer: a, hint)
    check_stub(capsys, check_6_11)


# ----------------------------------------------------------------------------
# 6.12 find the bug: BLEU without clipping, with the penalty upside down
# ----------------------------------------------------------------------------
def bleu(hyps, refs, clip=True, swapped=False, per_sentence=False):
    matches, totals, c, r, penalties = [0] * 4, [0] * 4, 0, 0, []
    for h, g in zip(hyps, refs):
        c, r = c + len(h), r + len(g)
        penalties.append(1.0 if len(h) >= len(g) else math.exp(1 - len(g) / len(h)))
        for n in range(1, 5):
            hg, rg = grams(h, n), grams(g, n)
            matches[n - 1] += sum(min(k, rg[x]) if clip else k for x, k in hg.items() if x in rg)
            totals[n - 1] += max(0, len(h) - n + 1)
    bp = sum(penalties) / len(penalties) if per_sentence else \
        1.0 if c >= r else math.exp(1 - (c / r if swapped else r / c))
    return bp * math.exp(sum(math.log(m / t) for m, t in zip(matches, totals)) / 4)


def test_6_12(capsys):
    assert_right(capsys, check_6_12, bleu)
    assert_right(capsys, check_6_12, lambda h, r: corpus_bleu(h, r).score)

    def in_place(h, r):
        h[0].append("猫")
        return bleu(h, r)

    for answer, hint in [(lambda h, r: bleu(h, r, clip=False, swapped=True), "not clipped"),
                         (lambda h, r: bleu(h, r, clip=False), "not clipped"),
                         (lambda h, r: bleu(h, r, swapped=True), "exceeds 1"),
                         (lambda h, r: bleu(h, r, per_sentence=True), "not averaged over sentences"),
                         (lambda h, r: 100 * bleu(h, r), "do not multiply by 100"),
                         (lambda h, r: corpus_bleu(h, r), "not the BLEU object"),
                         (lambda h, r: bleu(h, r) + 0.01, "change nothing else"),
                         (in_place, "in place")]:
        assert_hint(capsys, check_6_12, answer, hint)
    check_stub(capsys, check_6_12)


def test_checkers_never_print_the_solution(capsys):
    check_6_9(lambda h, r, n: 0.5)
    line = capsys.readouterr().out
    assert "min(" not in line and math.isfinite(0.5)


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
def completion_targets(p, c):
    seq = p + c
    return seq[:-1], [-100] * (len(p) - 1) + c


def extend_embedding(w, n, std):
    return torch.cat([w.clone(), torch.randn(n, w.shape[1]) * std])


def centroid_scores(e):
    centre = unit(e).mean(0)
    return unit(e) @ (centre / centre.norm())


def modified_precision(h, r, n):
    hg, rg = grams(h, n), grams(r, n)
    total = sum(hg.values())
    return sum(min(c, rg[g]) for g, c in hg.items()) / total if total else 0.0


def place_to_chinese(prep, det, noun):
    return ["在"] + (["一", MEASURE_WORDS[noun]] if det == "a" else []) + [PLACES[noun], PREPOSITIONS[prep]]


# ----------------------------------------------------------------------------
# 6.3 scored and ignored targets of a padded batch; 6.4 the off-by-one completion_batch, fixed
# ----------------------------------------------------------------------------
def scored_and_ignored(prompt_lengths, completion_lengths):
    length = max(p + c for p, c in zip(prompt_lengths, completion_lengths))
    scored = sum(completion_lengths)
    return scored, len(prompt_lengths) * (length - 1) - scored


def test_6_3(capsys):
    from llm_book.finetuning import completion_batch
    from llm_book.tokenizer import WordTokenizer

    tok = WordTokenizer([str(i) for i in range(30)] + ["<eos>"], eos="<eos>")
    for ps, cs in [([13, 7, 16], [4, 3, 3]), ([3, 7], [5, 1])]:     # the rule agrees with completion_batch
        _, targets = completion_batch([["1"] * p for p in ps], [["2"] * c for c in cs], tok)
        assert scored_and_ignored(ps, cs) == (int((targets != -100).sum()), int((targets == -100).sum()))
    assert_right(capsys, check_6_3, scored_and_ignored)
    assert_right(capsys, check_6_3, lambda p, c: np.array(scored_and_ignored(p, c)))

    def n_and_L(p, c):
        return len(p), max(a + b for a, b in zip(p, c))

    for answer, hint in [
        (lambda p, c: scored_and_ignored(p, c)[::-1], "swapped"),
        (lambda p, c: (sum(p) + sum(c) - len(p), n_and_L(p, c)[0] * (n_and_L(p, c)[1] - 1) - sum(p) - sum(c)
                       + len(p)), "counted every target"),
        (lambda p, c: (sum(c) - len(p), 0), "one scored target too few"),
        (lambda p, c: (sum(c) + len(p), 0), "one scored target too many"),
        (lambda p, c: (sum(c) + 1, 0), "number scored is off"),
        (lambda p, c: (sum(c), sum(p) - len(p)), "padding is missing"),
        (lambda p, c: (sum(c), n_and_L(p, c)[0] * n_and_L(p, c)[1] - sum(c)), "one target fewer"),
        (lambda p, c: (sum(c), sum(p)), "prompt's last position is scored"),
        (lambda p, c: (sum(c), 1), "the -100 count is off"),
        (lambda p, c: (sum(c) + 0.5, 3), "whole numbers"),
        (lambda p, c: sum(c), "two numbers"),
    ]:
        assert_hint(capsys, check_6_3, answer, hint)
    check_stub(capsys, check_6_3)


def fixed_completion_batch(prompt_ids, completion_ids, pad_id, shift=0, pad_target=-100):
    length = max(len(p) + len(c) for p, c in zip(prompt_ids, completion_ids))
    idx = torch.full((len(prompt_ids), length - 1), pad_id)
    targets = torch.full((len(prompt_ids), length - 1), -100)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        seq = torch.tensor(p + c)
        idx[i, : len(seq) - 1] = seq[:-1]
        targets[i, len(seq) - 1:] = pad_target
        targets[i, len(p) - 1 + shift: len(seq) - 1] = seq[len(p) + shift:]
    return idx, targets


def test_6_4(capsys):
    from llm_book.finetuning import completion_batch
    from llm_book.tokenizer import WordTokenizer

    tok = WordTokenizer([str(i) for i in range(30)], eos="0")
    prompts, completions = [[3, 4], [9, 8, 7, 6, 5]], [[5, 6, 7, 0], [2, 0]]
    idx, targets = completion_batch([[str(i) for i in p] for p in prompts],
                                    [[str(i) for i in c] for c in completions], tok)
    mine = fixed_completion_batch(prompts, completions, 0)
    assert torch.equal(idx, mine[0]) and torch.equal(targets, mine[1])        # the right answer is the library's
    assert_right(capsys, check_6_4, fixed_completion_batch)
    assert_right(capsys, check_6_4, lambda p, c, pad: tuple(t.tolist() for t in fixed_completion_batch(p, c, pad)))

    def unshifted(p, c, pad):
        idx, targets = fixed_completion_batch(p, c, pad)
        for i, (pi, ci) in enumerate(zip(p, c)):
            seq = pi + ci
            targets[i, len(pi) - 1: len(seq) - 1] = torch.tensor(seq[len(pi) - 1: -1])
        return idx, targets

    def whole_sequence(p, c, pad):
        idx, _ = fixed_completion_batch(p, c, pad)
        return idx, torch.tensor([(pi + ci)[1:] + [pad] * (idx.shape[1] - len(pi + ci) + 1) for pi, ci in zip(p, c)])

    def changed_idx(p, c, pad):
        idx, targets = fixed_completion_batch(p, c, pad)
        return idx + 1, targets

    for answer, hint in [
        (lambda p, c, pad: fixed_completion_batch(p, c, pad, shift=1), "bug is still there"),
        (lambda p, c, pad: fixed_completion_batch(p, c, pad, shift=-1), "one position too early"),
        (unshifted, "not shifted"),
        (lambda p, c, pad: fixed_completion_batch(p, c, pad, pad_target=pad), "padding is scored"),
        (whole_sequence, "every target is scored"),
        (changed_idx, "idx changed"),
        (lambda p, c, pad: tuple(t[:, :-1] for t in fixed_completion_batch(p, c, pad)), "should both have shape"),
        (lambda p, c, pad: (fixed_completion_batch(p, c, pad)[0], fixed_completion_batch(p, c, pad)[1] + 0.5),
         "whole numbers"),
        (lambda p, c, pad: (fixed_completion_batch(p, c, pad)[0], -fixed_completion_batch(p, c, pad)[1] - 200),
         "targets differ in row 0"),
    ]:
        assert_hint(capsys, check_6_4, answer, hint)
    check_stub(capsys, check_6_4)


CHECKERS = [check_6_1, check_6_2, check_6_5, check_6_6, check_6_9, check_6_10]
RIGHT_ANSWERS = {check_6_1: completion_targets, check_6_2: extend_embedding, check_6_5: centroid_scores,
                 check_6_6: mmr, check_6_9: modified_precision, check_6_10: place_to_chinese}

CHECKERS += [check_6_7, check_6_8, check_6_11, check_6_12]
RIGHT_ANSWERS.update({check_6_7: textrank, check_6_8: lambda: (1, 2, 3), check_6_11: lambda: RIGHT_BLEU,
                      check_6_12: bleu})

CHECKERS += [check_6_3, check_6_4]
RIGHT_ANSWERS.update({check_6_3: scored_and_ignored, check_6_4: fixed_completion_batch})

test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_6_1_fractional_ids_get_a_hint(capsys):
    assert_hint(capsys, check_6_1, lambda p, c: (completion_targets(p, c)[0], [t + 0.5 for t in c]), "integers")


def test_6_2_identical_rows_that_are_not_random_get_a_hint(capsys):
    def alternating(w, n, std):  # mean 0 and standard deviation std, but every row the same
        row = std * torch.tensor([1.0, -1.0]).repeat(w.shape[1] // 2)
        return torch.cat([w, row.expand(n, -1)])

    assert_hint(capsys, check_6_2, alternating, "different rows")


def test_6_2_rows_that_repeat_one_number_get_a_hint(capsys):
    assert_hint(capsys, check_6_2, lambda w, n, std: torch.cat([w, (torch.randn(n, 1) * std).expand(n, w.shape[1])]),
                "columns")


def test_6_2_a_uniform_distribution_gets_a_hint(capsys):
    def uniform(w, n, std):  # the right mean and spread, the wrong distribution
        return torch.cat([w, (torch.rand(n, w.shape[1]) - 0.5) * std * math.sqrt(12)])

    assert_hint(capsys, check_6_2, uniform, "normal distribution")


def test_6_2_the_verdict_does_not_depend_on_the_readers_seed(capsys):
    with torch.random.fork_rng(devices=[]):
        for seed in range(3):
            torch.manual_seed(seed)
            assert_right(capsys, check_6_2, extend_embedding)


def test_6_6_a_numpy_array_of_indices_is_right(capsys):
    assert_right(capsys, check_6_6, lambda e, k, lam: np.array(mmr(e, k, lam)))


def test_6_9_a_vector_where_a_number_is_expected(capsys):
    assert_hint(capsys, check_6_9, lambda h, r, n: torch.ones(4), "shape (4,)")


def test_6_10_none_gets_a_hint(capsys):
    assert_hint(capsys, check_6_10, lambda p, d, n: None, "got None")


def test_6_10_a_numpy_array_of_tokens_is_right(capsys):
    assert_right(capsys, check_6_10, lambda p, d, n: np.array(place_to_chinese(p, d, n)))
