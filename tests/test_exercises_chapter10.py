"""Chapter 10's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import torch

from llm_book.exercises.chapter10 import check_10_1, check_10_2, check_10_3, check_10_4, check_10_5
from llm_book.interpret import induction_score, previous_token_score
from checker_helpers import assert_hint, assert_right, catalogue_tests, stub
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def optimal(n, k, v):
    p = 1 - (1 - 1 / k) ** n
    return p + (1 - p) / v


def test_10_1(capsys):
    assert_right(capsys, check_10_1, optimal)
    assert_hint(capsys, check_10_1, lambda n, k, v: 1 - (1 - 1 / k) ** n, "guess")
    assert_hint(capsys, check_10_1, lambda n, k, v: min(1, n / k) + (1 - min(1, n / k)) / v, "WITH replacement")
    assert_hint(capsys, check_10_1, lambda n, k, v: (1 - 1 / k) ** n + (1 - (1 - 1 / k) ** n) / v, "NOT shown")
    assert_hint(capsys, check_10_1, lambda n, k, v: optimal(n, k, k) if n else 1 / v, "1/V, not 1/K")
    assert_hint(capsys, check_10_1, lambda n, k, v: optimal(n + 1, k, v) if n else 1 / v, "off by one")
    assert_hint(capsys, check_10_1, lambda n, k, v: 0.5, "expected")
    assert_hint(capsys, check_10_1, stub, "not written yet")


def episode_targets(ids):
    targets = list(ids[1:])
    for t in range(0, len(targets), 2):
        targets[t] = -100
    return list(ids[:-1]), targets


def test_10_2(capsys):
    assert_right(capsys, check_10_2, episode_targets)
    assert_right(capsys, check_10_2, lambda ids: tuple(torch.tensor(x) for x in episode_targets(ids)))

    def swapped(ids):
        targets = list(ids[1:])
        for t in range(1, len(targets), 2):
            targets[t] = -100
        return list(ids[:-1]), targets

    assert_hint(capsys, check_10_2, swapped, "wrong tokens")
    assert_hint(capsys, check_10_2, lambda ids: (list(ids[:-1]), list(ids[1:])), "every target is scored")
    assert_hint(capsys, check_10_2, lambda ids: (list(ids), episode_targets(ids)[1]), "LAST")
    assert_hint(capsys, check_10_2, lambda ids: (list(ids[:-1]), list(ids[:-1])), "NEXT tokens")
    assert_hint(capsys, check_10_2, stub, "not written yet")


def test_10_3(capsys):
    assert_right(capsys, check_10_3, previous_token_score)

    def diagonal(attn):
        i = torch.arange(attn.shape[-1])
        return attn[:, :, i, i].mean(dim=(0, 2))

    def wraps(attn):
        i = torch.arange(attn.shape[-1])
        return attn[:, :, i, i - 1].mean(dim=(0, 2))

    def over_t(attn):
        i = torch.arange(1, attn.shape[-1])
        return (attn[:, :, i, i - 1].sum(2) / attn.shape[-1]).mean(0)

    def transposed(attn):
        i = torch.arange(1, attn.shape[-1])
        return attn[:, :, i - 1, i].mean(dim=(0, 2))

    assert_hint(capsys, check_10_3, diagonal, "diagonal")
    assert_hint(capsys, check_10_3, wraps, "T - 1 positions")
    assert_hint(capsys, check_10_3, over_t, "T - 1 positions")
    assert_hint(capsys, check_10_3, transposed, "rows are queries")
    assert_hint(capsys, check_10_3, lambda attn: previous_token_score(attn).mean(), "PER HEAD")
    assert_hint(capsys, check_10_3, stub, "not written yet")


def test_10_4(capsys):
    assert_right(capsys, check_10_4, induction_score)

    def buggy(attn, period):                     # the notebook's buggy version
        i = torch.arange(period, attn.shape[-1])
        return attn[:, :, i, i - period].mean(dim=(0, 2))

    def early(attn, period):
        i = torch.arange(period - 1, attn.shape[-1])
        return attn[:, :, i, i - period + 1].mean(dim=(0, 2))

    def too_far(attn, period):
        i = torch.arange(period, attn.shape[-1])
        return attn[:, :, i, i - period + 2].mean(dim=(0, 2))

    assert_hint(capsys, check_10_4, buggy, "still the bug")
    assert_hint(capsys, check_10_4, early, "Start at i = period")
    assert_hint(capsys, check_10_4, too_far, "one too far")
    assert_hint(capsys, check_10_4, lambda a, p: torch.zeros(5), "one score per head")
    assert_hint(capsys, check_10_4, stub, "not written yet")


def ngram_accuracy(n, k, v):
    return 1 / v if n == 2 else 1 / k + (1 - 1 / k) / v


def test_10_5(capsys):
    assert_right(capsys, check_10_5, ngram_accuracy)
    assert_hint(capsys, check_10_5, lambda n, k, v: 1 / v, "not chance")
    assert_hint(capsys, check_10_5, lambda n, k, v: 1 / v if n == 2 else 1 / k, "still right 1 time in V")
    assert_hint(capsys, check_10_5, lambda n, k, v: 1 / v if n == 2 else 1 / k + 1 / v, "exclude each other")
    assert_hint(capsys, check_10_5, lambda n, k, v: 1 / k, "chance is 1/V")
    assert_hint(capsys, check_10_5, lambda n, k, v: 1 / k + (1 - 1 / k) / v, "bigram sees only")
    assert_hint(capsys, check_10_5, stub, "not written yet")


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(
    [check_10_1, check_10_2, check_10_3, check_10_4, check_10_5],
    {check_10_1: optimal, check_10_2: episode_targets, check_10_3: previous_token_score,
     check_10_4: induction_score, check_10_5: ngram_accuracy})
