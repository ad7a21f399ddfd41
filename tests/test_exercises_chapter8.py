"""Chapter 8's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math

import numpy as np
import pytest
import torch

from llm_book.calibration import expected_calibration_error
from llm_book.scaling import fit_power_law
from llm_book.exercises import check_8_1, check_8_2, check_8_3, check_8_4, check_8_5
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
    assert not ok and "last" in line and "1.0" in line

    def right_closed(p, o, n_bins):  # bins (b/n, (b+1)/n]: a prediction of exactly 0.0 falls in none
        total = 0.0
        for b in range(n_bins):
            sel = (p > b / n_bins) & (p <= (b + 1) / n_bins)
            if sel.any():
                total += sel.sum() * abs(p[sel].mean() - o[sel].mean())
        return total / len(p)

    ok, line = verdict(capsys, check_8_2, right_closed)
    assert not ok and "0.0" in line and "first bin" in line
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


def fit_temperature(logits, targets):
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits.double() / log_t.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_t.exp().item()


def predict_loss(n_small, loss_small, n_target):
    a, alpha = fit(n_small, loss_small)
    return a * n_target ** -alpha


CHECKERS = [check_8_1, check_8_2, check_8_3, check_8_4, check_8_5]
RIGHT_ANSWERS = {check_8_1: fit, check_8_2: ece_variant("right"), check_8_3: impossible_mass,
                 check_8_4: fit_temperature, check_8_5: predict_loss}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_8_1_a_pair_as_a_tensor_is_right(capsys):
    assert_right(capsys, check_8_1, lambda n, loss: torch.tensor(fit(n, loss)))


def test_8_2_a_vector_where_a_number_is_expected(capsys):
    assert_hint(capsys, check_8_2, lambda p, o, n: np.abs(p - o), "shape (302,)")


# ----------------------------------------------------------------------------
# 8.4 modify and measure: temperature scaling
# ----------------------------------------------------------------------------
def grid_temperature(logits, targets, low=0.05, high=20.0, steps=2001):
    temperatures = torch.exp(torch.linspace(math.log(low), math.log(high), steps, dtype=torch.float64))
    losses = torch.stack([torch.nn.functional.cross_entropy(logits / t, targets) for t in temperatures])
    return temperatures[losses.argmin()].item()


def test_8_4_fit_temperature(capsys):
    assert_right(capsys, check_8_4, fit_temperature)
    assert_right(capsys, check_8_4, grid_temperature)
    assert_hint(capsys, check_8_4, lambda l, t: 1 / fit_temperature(l, t), "divides them")
    assert_hint(capsys, check_8_4, lambda l, t: fit_temperature(torch.softmax(l, dim=-1), t), "not the probabilities")
    assert_hint(capsys, check_8_4, lambda l, t: grid_temperature(l, t, low=1.0), "both sides of 1")
    assert_hint(capsys, check_8_4, lambda l, t: 1.0, "both sides of 1")
    assert_hint(capsys, check_8_4, lambda l, t: 1.05 * fit_temperature(l, t), "refine the search")
    assert_hint(capsys, check_8_4, lambda l, t: -fit_temperature(l, t), "positive")
    assert_hint(capsys, check_8_4, lambda l, t: torch.nn.functional.cross_entropy(l / fit_temperature(l, t), t),
                "smallest loss")
    assert_hint(capsys, check_8_4, lambda l, t: 3 * fit_temperature(l, t), "lower elsewhere")


@pytest.fixture(scope="module")
def toy_measurements():
    from llm_book.exercises.chapter8 import _toy_measurements_8_4
    return _toy_measurements_8_4()


def test_8_4_measured(capsys, toy_measurements):
    fitted, original, ece = toy_measurements
    assert 1.7 < fitted < 2.1 and 0.85 < original < 1.05            # the sharpening by 0.5, undone
    assert ece(0.5 * fitted) < ece(0.5) / 10
    right = (fitted, ece(0.5), ece(0.5 * fitted))
    line = assert_right(capsys, lambda answer: check_8_4(answer, right), fit_temperature)
    assert "->" in line
    assert_right(capsys, lambda answer: check_8_4(answer, lambda: np.array(right, dtype=np.float32)), fit_temperature)
    for measured, phrase in [((original, ece(0.5), ece(0.5 * original)), "as trained"),
                             ((1 / fitted, ece(0.5), ece(0.5 / fitted)), "inverse"),
                             ((3.0, ece(0.5), ece(1.5)), "fit the temperature"),
                             ((fitted, ece(0.5 * fitted), ece(0.5)), "swapped"),
                             ((fitted, ece(1.0), ece(0.5 * fitted)), "as trained"),
                             ((fitted, 0.3, ece(0.5 * fitted)), "ece_before is off"),
                             ((fitted, ece(0.5), ece(fitted)), "0.5 * T"),
                             ((fitted, ece(0.5), 0.05), "ece_after is off"),
                             ((fitted, ece(0.5)), "three numbers"),
                             (lambda: None, "three numbers"),
                             (stub, "not written yet")]:
        assert_hint(capsys, lambda answer: check_8_4(answer, measured), fit_temperature, "`measured`", phrase)


# ----------------------------------------------------------------------------
# 8.5 predict then check: extrapolate a power law fitted to the smaller models
# ----------------------------------------------------------------------------
def log10_fit(n, loss):
    slope, intercept = np.polyfit(np.log10(n), np.log10(loss), 1)
    return intercept, slope


def test_8_5_right_answers(capsys):
    line = assert_right(capsys, check_8_5, predict_loss)
    assert "alpha = 0.115" in line and "4x" in line
    assert_right(capsys, check_8_5, lambda n, l, t: fit_power_law(n, l)(t))           # the package's fit
    assert_right(capsys, check_8_5, lambda n, l, t: 10 ** sum(np.array(log10_fit(n, l)) * [1, math.log10(t)]))

    def torch_lstsq(n, loss, n_target):                                              # float32 least squares
        x = torch.stack([torch.ones(len(n)), torch.log(torch.tensor(n, dtype=torch.float32))], dim=1)
        coef = torch.linalg.lstsq(x, torch.log(torch.tensor(loss, dtype=torch.float32))[:, None]).solution
        return torch.exp(coef[0] + coef[1] * math.log(n_target))

    assert_right(capsys, check_8_5, torch_lstsq)


def test_8_5_hints(capsys):
    def linear(n, loss, n_target):                     # a straight line through (n, loss)
        slope, intercept = np.polyfit(n, loss, 1)
        return intercept + slope * n_target

    def semi_log(n, loss, n_target):                   # log of n only
        slope, intercept = np.polyfit(np.log(n), loss, 1)
        return intercept + slope * math.log(n_target)

    def swapped(n, loss, n_target):                    # log n regressed on log loss
        slope, intercept = np.polyfit(np.log(loss), np.log(n), 1)
        return math.exp((math.log(n_target) - intercept) / slope)

    def two_points(n, loss, n_target):
        alpha = -(math.log(loss[-1]) - math.log(loss[0])) / (math.log(n[-1]) - math.log(n[0]))
        return loss[-1] * (n_target / n[-1]) ** -alpha

    a_alpha = fit
    for answer, phrase in [
            (linear, "fit in log space"),
            (semi_log, "take it of the loss too"),
            (lambda n, l, t: a_alpha(n, l)[0] * t ** a_alpha(n, l)[1], "sign of alpha"),
            (lambda n, l, t: math.exp(log10_fit(n, l)[0]) * t ** log10_fit(n, l)[1], "mixed logarithms"),
            (lambda n, l, t: math.exp(log10_fit(n, l)[0] + log10_fit(n, l)[1] * math.log10(t)), "mixed logarithms"),
            (lambda n, l, t: 10 ** (math.log(a_alpha(n, l)[0]) - a_alpha(n, l)[1] * math.log(t)), "mixed logarithms"),
            (lambda n, l, t: a_alpha(n, l), "looks like the fit (a, alpha)"),
            (lambda n, l, t: torch.tensor(a_alpha(n, l)), "looks like the fit (a, alpha)"),
            (lambda n, l, t: fit_power_law(n, l), "you returned the fitted law"),
            (lambda n, l, t: (lambda m: a_alpha(n, l)[0] * m ** -a_alpha(n, l)[1]), "you returned the fitted law"),
            (lambda n, l, t: a_alpha(n, l)[0] * n ** -a_alpha(n, l)[1], "fitted losses at n_small"),
            (swapped, "regressed log n on log loss"),
            (lambda n, l, t: l[-1], "last measured loss"),
            (lambda n, l, t: predict_loss(n, l, n[-1]), "largest measured n"),
            (two_points, "first and the last"),
            (lambda n, l, t: -predict_loss(n, l, t), "a loss is positive"),
            (lambda n, l, t: 1.01 * predict_loss(n, l, t), "close"),
            (lambda n, l, t: 2 * predict_loss(n, l, t), "expected about"),
            (lambda n, l, t: np.array([predict_loss(n, l, t)] * 3), "one number"),
            (stub, "not written yet")]:
        assert_hint(capsys, check_8_5, answer, phrase)


def test_8_5_leaves_the_data_alone(capsys):
    seen = []

    def keeps(n, loss, n_target):
        seen.append((n.copy(), loss.copy(), n_target))
        n *= 2                                          # the checker passes copies: its own data are safe
        return predict_loss(seen[-1][0], seen[-1][1], n_target)

    assert_right(capsys, check_8_5, keeps)
    assert_right(capsys, check_8_5, keeps)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(seen[:2], seen[2:]))
