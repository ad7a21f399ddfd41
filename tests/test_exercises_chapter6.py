"""Chapter 6's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from llm_book.exercises import check_6_1, check_6_2, check_6_3, check_6_4, check_6_5, check_6_6
from llm_book.translation import MEASURE_WORDS, PLACES, PREPOSITIONS
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
# 6.3 centroid scores
# ----------------------------------------------------------------------------
def unit(e):
    return e / e.norm(dim=-1, keepdim=True)


def test_6_3(capsys):
    def right(e):
        centre = unit(e).mean(0)
        return unit(e) @ (centre / centre.norm())

    assert verdict(capsys, check_6_3, right)[0]
    for answer, hint in [
        (lambda e: unit(e) @ unit(e).mean(0), "normalise the centroid"),
        (lambda e: e @ e.mean(0), "normalise each sentence vector"),
        (lambda e: right(e)[:3], "shape (9,)"),
        (lambda e: right(e) + 1, "values are off"),
        (lambda e: right(e.mul_(2)), "changed E in place"),
    ]:
        ok, line = verdict(capsys, check_6_3, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_3)


# ----------------------------------------------------------------------------
# 6.4 maximal marginal relevance
# ----------------------------------------------------------------------------
def mmr(e, k, lam, order=True, swap=False, skip_chosen=True):
    if swap:
        lam = 1 - lam
    centre = unit(e).mean(0)
    relevance, sim = unit(e) @ (centre / centre.norm()), unit(e) @ unit(e).T
    picked = []
    while len(picked) < k:
        values = [(lam * relevance[i].item() - (1 - lam) * max((sim[i, j].item() for j in picked), default=0.0), -i)
                  for i in range(e.shape[0]) if not (skip_chosen and i in picked)]
        picked.append(-max(values)[1])
    return picked if order else sorted(picked)


def test_6_4(capsys):
    assert verdict(capsys, check_6_4, mmr)[0]

    def top_k(e, k, lam):
        centre = unit(e).mean(0)
        return torch.argsort(-(unit(e) @ centre), stable=True)[:k].tolist()

    for answer, hint in [
        (lambda e, k, lam: mmr(e, k, lam, order=False), "in the order they were picked"),
        (top_k, "plain top-"),
        (lambda e, k, lam: mmr(e, k, lam, swap=True), "swapped"),
        (lambda e, k, lam: mmr(e, k, lam, skip_chosen=False), "picked twice"),
        (lambda e, k, lam: mmr(e, k, lam)[:-1], "return"),
        (lambda e, k, lam: list(range(k)), "expected the picks"),
    ]:
        ok, line = verdict(capsys, check_6_4, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_4)


# ----------------------------------------------------------------------------
# 6.5 BLEU's modified precision
# ----------------------------------------------------------------------------
def grams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def test_6_5(capsys):
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

    assert verdict(capsys, check_6_5, right)[0]
    assert verdict(capsys, check_6_5, lambda h, r, n: torch.tensor(right(h, r, n)))[0]
    for answer, hint in [(unclipped, "clip each n-gram's count"),
                         (reference_denominator, "not the reference"),
                         (lambda h, r, n: right(h, r, 1), "expected"),
                         (crashes_on_short, "ZeroDivisionError"),
                         (lambda h, r, n: "high", "return one number")]:
        ok, line = verdict(capsys, check_6_5, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_5)


# ----------------------------------------------------------------------------
# 6.6 place phrases in Chinese
# ----------------------------------------------------------------------------
def test_6_6(capsys):
    def right(prep, det, noun):
        return ["在"] + (["一", MEASURE_WORDS[noun]] if det == "a" else []) + [PLACES[noun], PREPOSITIONS[prep]]

    assert verdict(capsys, check_6_6, right)[0]
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
        ok, line = verdict(capsys, check_6_6, answer)
        assert not ok and hint in line, line
    check_stub(capsys, check_6_6)


def test_checkers_never_print_the_solution(capsys):
    check_6_5(lambda h, r, n: 0.5)
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


CHECKERS = [check_6_1, check_6_2, check_6_3, check_6_4, check_6_5, check_6_6]
RIGHT_ANSWERS = {check_6_1: completion_targets, check_6_2: extend_embedding, check_6_3: centroid_scores,
                 check_6_4: mmr, check_6_5: modified_precision, check_6_6: place_to_chinese}


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


def test_6_4_a_numpy_array_of_indices_is_right(capsys):
    assert_right(capsys, check_6_4, lambda e, k, lam: np.array(mmr(e, k, lam)))


def test_6_5_a_vector_where_a_number_is_expected(capsys):
    assert_hint(capsys, check_6_5, lambda h, r, n: torch.ones(4), "shape (4,)")


def test_6_6_none_gets_a_hint(capsys):
    assert_hint(capsys, check_6_6, lambda p, d, n: None, "got None")


def test_6_6_a_numpy_array_of_tokens_is_right(capsys):
    assert_right(capsys, check_6_6, lambda p, d, n: np.array(place_to_chinese(p, d, n)))
