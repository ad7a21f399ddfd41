"""Checkers for Chapter 8's exercises (scaling laws, calibration, hallucination)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from llm_book.exercises._checking import Verdict, _call, _close, _items, _number, _verdict, checker


def _pair(got) -> tuple[tuple[float, float] | None, str | None]:
    """Two finite numbers ``(a, alpha)`` from a tuple, list, array or tensor; or a hint."""
    items, hint = _items(got, 2, "two numbers: (a, alpha)")
    if hint:
        return None, hint
    (a, hint_a), (alpha, hint_alpha) = (_number(x, "two numbers: (a, alpha)") for x in items)
    if hint_a or hint_alpha:
        return None, hint_a or hint_alpha
    return (a, alpha), None


@checker
def check_8_1(fit_power_law: Callable) -> Verdict:
    """Exercise 8.1: ``fit_power_law(n, loss)`` -> ``(a, alpha)`` with loss ~ a * n**-alpha (least squares in logs)."""
    rng = np.random.default_rng(0)
    n = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5])
    loss = 6.0 * n ** -0.12 * np.exp(rng.normal(0, 0.01, n.size))
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    a_star, alpha_star = math.exp(intercept), -slope
    got, hint = _call(fit_power_law, n.copy(), loss.copy())
    if hint:
        return _verdict(False, hint)
    got, hint = _pair(got)
    if hint:
        return _verdict(False, hint)
    a, alpha = got
    if _close(a, a_star, rel_tol=1e-4) and _close(alpha, alpha_star, rel_tol=1e-4):
        return _verdict(True, f"alpha = {alpha:.3f}: the loss falls by {1 - 10 ** -alpha:.0%} per 10x parameters.")
    if _close(alpha, -alpha_star, rel_tol=1e-4):
        return _verdict(False, "sign: the slope of log L against log N is -alpha, so alpha is positive.")
    if _close(alpha, alpha_star, rel_tol=1e-4):
        if _close(a, intercept, rel_tol=1e-4):
            return _verdict(False, "a is the exponential of the intercept, not the intercept itself.")
        if _close(a, 10 ** intercept, rel_tol=1e-4) or _close(a, math.exp(intercept / math.log(10)), rel_tol=1e-4):
            return _verdict(False, "mixed logarithms: undo the intercept with the same base you fitted in.")
        return _verdict(False, f"alpha is right; a should be about {a_star:.3g}.")
    if abs(alpha - alpha_star) < 0.02:
        return _verdict(False, "close, but not the least-squares line in log space: fit log(loss) "
                               "against log(n) with a straight line.")
    return _verdict(False, f"expected alpha near {alpha_star:.3f}, got {alpha:.3g}: fit a straight line to "
                           f"(log n, log loss); alpha is minus its slope.")


def _ece(p, o, n_bins):
    index = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        sel = index == b
        if sel.any():
            total += sel.sum() * abs(p[sel].mean() - o[sel].mean())
    return total / len(p)


@checker
def check_8_2(expected_calibration_error: Callable) -> Verdict:
    """Exercise 8.2: ``expected_calibration_error(predicted, observed, n_bins)`` over equal-width bins."""
    rng = np.random.default_rng(1)
    predicted = np.concatenate([rng.uniform(0, 1, 300), [1.0, 0.0]])
    observed = (rng.uniform(0, 1, predicted.size) < 0.5 + 0.6 * (predicted - 0.5)).astype(float)  # under-confident
    observed[-2:] = [0.0, 1.0]  # two confident misses: 1.0 that failed, 0.0 that happened
    for n_bins in (10, 4):
        expected = _ece(predicted, observed, n_bins)
        got, hint = _call(expected_calibration_error, predicted.copy(), observed.copy(), n_bins)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number")
        if hint:
            return _verdict(False, f"with {n_bins} bins: {hint}")
        if _close(got, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        index = np.minimum((predicted * n_bins).astype(int), n_bins - 1)
        gaps = [(predicted[index == b].mean() - observed[index == b].mean()) for b in range(n_bins)
                if (index == b).any()]
        if _close(got, float(np.mean(np.abs(gaps))), rel_tol=1e-6):
            return _verdict(False, "weight each bin by its number of predictions: a nearly empty bin "
                                   "should count for little.")
        if _close(got, float(np.max(np.abs(gaps))), rel_tol=1e-6):
            return _verdict(False, "that is the largest gap (the maximum calibration error); ECE averages them.")
        weights = np.array([(index == b).sum() for b in range(n_bins) if (index == b).any()])
        if _close(got, abs(float((weights * np.array(gaps)).sum() / len(predicted))), rel_tol=1e-6):
            return _verdict(False, "take the absolute gap in each bin before averaging; otherwise "
                                   "over- and under-confidence cancel.")
        return _verdict(False, f"with {n_bins} bins expected {expected:.4f}, got {got:.4f}; a prediction of "
                               f"exactly 1.0 belongs to the last bin.")
    return _verdict(True, "bins of predicted probability, each gap weighted by its share of predictions.")


@checker
def check_8_3(impossible_mass: Callable) -> Verdict:
    """Exercise 8.3: ``impossible_mass(model_probs, exact_probs)``: the model's probability on impossible words."""
    cases = [
        ({"mat": 0.5, "sofa": 0.3, "box": 0.15, "rug": 0.05}, {"mat": 0.5, "sofa": 0.3, "box": 0.2}, 0.05),
        ({"log": 0.4, "bush": 0.2, "porch": 0.1, "mat": 0.2, "rug": 0.1},
         {"log": 0.5, "bush": 0.3, "porch": 0.2}, 0.3),
        ({"sleep": 0.9, "sleeps": 0.1}, {"sleep": 0.3, "sleeps": 0.0, "runs": 0.0}, 0.1),
        ({"branch": 1.0}, {"branch": 0.6, "roof": 0.3, "mat": 0.1}, 0.0),
    ]
    for model_probs, exact, expected in cases:
        got, hint = _call(impossible_mass, dict(model_probs), dict(exact))
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one probability")
        if hint:
            return _verdict(False, hint)
        if _close(got, expected, abs_tol=1e-9):
            continue
        if _close(got, 1 - expected, abs_tol=1e-9):
            return _verdict(False, "that is the mass on possible words; the question asks for the rest.")
        if exact.get("sleeps") == 0.0 and _close(got, 0.0, abs_tol=1e-9):
            return _verdict(False, "a word listed with exact probability 0 is impossible too.")
        return _verdict(False, f"for {model_probs} against {exact} expected {expected}, got {got:.4g}.")
    return _verdict(True, "every bit of that mass is a fluent, confident falsehood waiting to be sampled.")
