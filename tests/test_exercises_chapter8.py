"""Chapter 8's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math

import numpy as np
import pytest
import torch

from llm_book.calibration import expected_calibration_error
from llm_book.exercises import check_8_1, check_8_2, check_8_3
from checker_helpers import assert_hint, assert_right, catalogue_tests, stub, verdict
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def fit(n, loss):
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return math.exp(intercept), -slope


def test_8_1(capsys):
    assert verdict(capsys, check_8_1, fit)[0]
    ok, line = verdict(capsys, check_8_1, lambda n, l: (fit(n, l)[0], -fit(n, l)[1]))
    assert not ok and "sign" in line
    ok, line = verdict(capsys, check_8_1, lambda n, l: (math.log(fit(n, l)[0]), fit(n, l)[1]))
    assert not ok and "exponential of the intercept" in line

    def log10_mixup(n, loss):
        slope, intercept = np.polyfit(np.log10(n), np.log10(loss), 1)
        return math.exp(intercept), -slope

    ok, line = verdict(capsys, check_8_1, log10_mixup)
    assert not ok and "mixed logarithms" in line

    def linear_space(n, loss):  # a crude fit not in log space
        a, alpha = fit(n, loss)
        return a, alpha * 1.05

    ok, line = verdict(capsys, check_8_1, linear_space)
    assert not ok and "least-squares line in log space" in line
    ok, line = verdict(capsys, check_8_1, stub)
    assert not ok and "not written yet" in line


def ece_variant(kind):
    def fn(p, o, n_bins):
        index = np.minimum((p * n_bins).astype(int), n_bins - 1)
        gaps, counts = [], []
        for b in range(n_bins):
            sel = index == b
            if sel.any():
                gaps.append(p[sel].mean() - o[sel].mean())
                counts.append(sel.sum())
        gaps, counts = np.array(gaps), np.array(counts)
        if kind == "unweighted":
            return np.abs(gaps).mean()
        if kind == "max":
            return np.abs(gaps).max()
        if kind == "no abs":
            return abs((counts * gaps).sum() / len(p))
        return (counts * np.abs(gaps)).sum() / len(p)
    return fn


def test_8_2(capsys):
    assert verdict(capsys, check_8_2, ece_variant("right"))[0]
    assert verdict(capsys, check_8_2, lambda p, o, n: expected_calibration_error(p, o, n_bins=n))[0]
    ok, line = verdict(capsys, check_8_2, ece_variant("unweighted"))
    assert not ok and "weight each bin" in line
    ok, line = verdict(capsys, check_8_2, ece_variant("max"))
    assert not ok and "largest gap" in line
    ok, line = verdict(capsys, check_8_2, ece_variant("no abs"))
    assert not ok and "absolute gap" in line

    def drops_ones(p, o, n_bins):  # a prediction of exactly 1.0 falls outside the bins
        keep = p < 1.0
        return ece_variant("right")(p[keep], o[keep], n_bins) * keep.sum() / len(p)

    ok, line = verdict(capsys, check_8_2, drops_ones)
    assert not ok and "last bin" in line
    ok, line = verdict(capsys, check_8_2, stub)
    assert not ok and "not written yet" in line


def test_8_3(capsys):
    def right(model_probs, exact):
        return sum(p for w, p in model_probs.items() if exact.get(w, 0.0) == 0.0)

    assert verdict(capsys, check_8_3, right)[0]
    ok, line = verdict(capsys, check_8_3, lambda m, e: 1 - right(m, e))
    assert not ok and "mass on possible words" in line
    ok, line = verdict(capsys, check_8_3, lambda m, e: sum(p for w, p in m.items() if w not in e))
    assert not ok and "exact probability 0" in line
    ok, line = verdict(capsys, check_8_3, stub)
    assert not ok and "not written yet" in line


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
def impossible_mass(model_probs, exact):
    return sum(p for w, p in model_probs.items() if exact.get(w, 0.0) == 0.0)


CHECKERS = [check_8_1, check_8_2, check_8_3]
RIGHT_ANSWERS = {check_8_1: fit, check_8_2: ece_variant("right"), check_8_3: impossible_mass}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_8_1_a_pair_as_a_tensor_is_right(capsys):
    assert_right(capsys, check_8_1, lambda n, loss: torch.tensor(fit(n, loss)))


def test_8_2_a_vector_where_a_number_is_expected(capsys):
    assert_hint(capsys, check_8_2, lambda p, o, n: np.abs(p - o), "shape (302,)")
