"""Chapter 6's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math
from collections import Counter

import torch

from llm_book.exercises import check_6_1, check_6_2, check_6_3, check_6_4, check_6_5, check_6_6
from llm_book.translation import MEASURE_WORDS, PLACES, PREPOSITIONS
from checker_helpers import stub, verdict


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
