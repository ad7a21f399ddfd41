"""Checkers for Chapter 8's exercises (scaling laws, calibration, hallucination)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from llm_book.exercises._checking import (Verdict, _call, _close, _first_mistake, _items, _number, _numbers,
                                          _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases, _rng


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
    rng = _rng(0)
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
    rng = _rng(1)
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
        right_closed = np.clip(np.ceil(predicted * n_bins).astype(int) - 1, -1, n_bins - 1)   # bins (lo, hi]
        kept = right_closed >= 0                                                   # 0.0 falls in no bin
        dropped_zero = sum((right_closed == b).sum() * abs(predicted[right_closed == b].mean()
                                                           - observed[right_closed == b].mean())
                           for b in range(n_bins) if (right_closed == b).any())
        if _close(got, dropped_zero / len(predicted), rel_tol=1e-6) or \
                _close(got, dropped_zero / kept.sum(), rel_tol=1e-6):
            return _verdict(False, "your bins are closed on the right, (b/n, (b+1)/n], so a prediction of "
                                   "exactly 0.0 falls in none; bin b is [b/n, (b+1)/n): 0.0 goes to the first "
                                   "bin, and only 1.0 joins the last.")
        return _verdict(False, f"with {n_bins} bins expected {expected:.4f}, got {got:.4f}; bin b is "
                               f"[b/n, (b+1)/n): a prediction of exactly 0.0 belongs to the first bin, "
                               f"one of exactly 1.0 to the last.")
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
    cases = _hidden_cases(cases, [({"roof": 0.25, "mat": 0.25, "sofa": 0.5}, {"roof": 0.7, "mat": 0.3}, 0.5)])
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


# ----------------------------------------------------------------------------
# 8.4 modify and measure: temperature scaling
# ----------------------------------------------------------------------------
def _best_temperature(logits, targets) -> float:
    """The temperature that minimises the mean NLL of ``targets`` under softmax(logits / T): golden section in log T."""
    import torch

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits / math.exp(log_t), targets))

    lo, hi = math.log(1e-2), math.log(1e2)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return math.exp((lo + hi) / 2)


def _cases_8_4():
    import torch

    g = _generator(84)
    z = 1.5 * torch.randn(2000, 12, generator=g, dtype=torch.float64)      # the true logits
    targets = torch.multinomial(torch.softmax(z, dim=-1), 1, generator=g).squeeze(1)
    return [("over-confident", 2.5 * z, targets), ("under-confident", 0.4 * z, targets)]


_SHARP_8_4 = 0.5  # the over-confident model of the chapter: the tiny GPT's logits divided by 0.5


@functools.lru_cache(maxsize=1)
def _toy_measurements_8_4():
    """(fitted T, ECE before, function T -> ECE after) for the chapter's over-confident tiny GPT."""
    import torch

    from llm_book.calibration import reliability_bins, toy_language_logits
    from llm_book.language import ToyLanguage
    from llm_book.pretrained import load_toy_gpt
    from llm_book.training import lm_batch

    language = ToyLanguage()
    model, tokenizer = load_toy_gpt()
    model.eval()
    logits, exact, weights = toy_language_logits(model, tokenizer, language)
    idx, targets = lm_batch(language.sample(3000, seed=1), tokenizer)
    with torch.no_grad():
        held_out = model(idx).logits.double()
    real = targets != -100
    fitted = _best_temperature(held_out[real] / _SHARP_8_4, targets[real])
    original = _best_temperature(held_out[real], targets[real])

    def ece(temperature: float) -> float:
        probs = torch.softmax(logits / temperature, dim=-1)
        confidence, choice = probs.max(dim=-1)
        return reliability_bins(confidence, exact.gather(1, choice[:, None]).squeeze(1), weights).ece

    return fitted, original, ece


@checker
def check_8_4(fit_temperature: Callable, measured=None) -> Verdict:
    """Exercise 8.4: ``fit_temperature(logits, targets)`` -> the T > 0 minimising the mean NLL of softmax(logits / T);
    optionally ``measured`` (a tuple, or a function of no arguments returning it): ``(T, ece_before, ece_after)``
    for the tiny GPT made over-confident (logits / 0.5), T fitted on the 3,000 sampled sentences."""
    import torch

    for name, logits, targets in _cases_8_4():
        best = _best_temperature(logits, targets)
        got, hint = _call(fit_temperature, logits.clone(), targets.clone())
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number, the temperature")
        if hint:
            return _verdict(False, hint)
        if _close(got, best, rel_tol=0.01):
            continue
        if got <= 0:
            return _verdict(False, f"a temperature is positive, got {float(got):.3g}.")
        loss = float(torch.nn.functional.cross_entropy(logits / best, targets))
        if _close(got, loss, rel_tol=1e-3):
            return _verdict(False, "that is the smallest loss; return the temperature that reaches it.")
        if _close(got, 1 / best, rel_tol=0.02):
            return _verdict(False, "you multiplied the logits by T; a temperature divides them: "
                                   "softmax(logits / T).")
        on_probs = _best_temperature(torch.softmax(logits, dim=-1), targets)
        if _close(got, on_probs, rel_tol=0.02):
            return _verdict(False, "divide the logits by T, not the probabilities: softmax(logits / T).")
        if (best < 1) != (got < 1) or _close(got, 1.0, rel_tol=1e-3):
            side = "below" if best < 1 else "above"
            return _verdict(False, f"for this {name} model the best temperature lies {side} 1; search "
                                   f"temperatures on both sides of 1 (below 1 sharpens, above 1 flattens).")
        if _close(got, best, rel_tol=0.1):
            return _verdict(False, f"close, but not the minimum ({name} case): refine the search, with a "
                                   f"finer grid or a 1-D minimiser on log T.")
        return _verdict(False, f"for the {name} case the mean NLL is lower elsewhere: compute "
                               f"cross_entropy(logits / T, targets) for many T and keep the smallest.")
    if measured is None:
        return _verdict(True, "the temperature that minimises the held-out NLL.")

    if callable(measured):
        measured, hint = _call(measured)
        if hint:
            return _verdict(False, f"`measured`: {hint}")
    values, hint = _numbers(measured, 3, "three numbers: (temperature, ece_before, ece_after)")
    if hint:
        return _verdict(False, f"`measured`: {hint}")
    temperature, before, after = values
    fitted, original, ece = _toy_measurements_8_4()
    if not _close(temperature, fitted, rel_tol=0.01):
        if _close(temperature, original, rel_tol=0.01):
            return _verdict(False, "`measured`: that is the temperature of the tiny GPT as trained; fit it "
                                   "on the over-confident model's logits (divided by 0.5).")
        if _close(temperature, 1 / fitted, rel_tol=0.02):
            return _verdict(False, "`measured`: a temperature divides the logits; yours is its inverse.")
        return _verdict(False, "`measured`: fit the temperature with your fit_temperature on the "
                               "over-confident logits of the 3,000 sampled sentences (positions with a target).")
    ece_before, ece_after = ece(_SHARP_8_4), ece(_SHARP_8_4 * float(temperature))
    if _close(before, ece_after, abs_tol=1e-3) and _close(after, ece_before, abs_tol=1e-3):
        return _verdict(False, "`measured`: ece_before and ece_after are swapped.")
    if not _close(before, ece_before, abs_tol=1e-3):
        if _close(before, ece(1.0), abs_tol=1e-3):
            return _verdict(False, "`measured`: ece_before is the ECE of the tiny GPT as trained; measure the "
                                   "over-confident model (logits / 0.5).")
        return _verdict(False, "`measured`: ece_before is off; use the exact truth, as the chapter's "
                               "reliability diagram does (top1 at temperature 0.5).")
    if not _close(after, ece_after, abs_tol=1e-3):
        if _close(after, ece(float(temperature)), abs_tol=1e-3):
            return _verdict(False, "`measured`: ece_after: the fitted T rescales the *over-confident* "
                                   "logits, so the model's total temperature is 0.5 * T.")
        return _verdict(False, "`measured`: ece_after is off; apply softmax(logits / (0.5 * T)) and "
                               "measure against the exact truth.")
    return _verdict(True, f"T = {float(temperature):.3f}, about 2 x {original:.3f} (the temperature these "
                          f"sentences give the model as trained): the sharpening is undone; ECE "
                          f"{ece_before:.4f} -> {ece_after:.4f} (as trained, T = 1: {ece(1.0):.4f}), from the "
                          f"held-out NLL alone.")


# ----------------------------------------------------------------------------
# 8.5 predict then check: extrapolate a scaling law fitted to the smaller models
# ----------------------------------------------------------------------------
def _cases_8_5():
    """The checker's own measurements: ``(n_small, loss_small, n_target)``, noisy power laws."""
    rng = _rng(85)
    n1 = np.array([1.8e3, 6.6e3, 2.5e4, 1.0e5])                      # the chapter's widths 8 to 64, roughly
    loss1 = 5.4 * n1 ** -0.105 * np.exp(rng.normal(0, 0.02, n1.size))
    n2 = np.array([1e4, 3e4, 1e5, 3e5, 1e6, 3e6])
    loss2 = 9.0 * n2 ** -0.076 * np.exp(rng.normal(0, 0.01, n2.size))
    return [(n1, loss1, 4.0e5), (n2, loss2, 100_000_000)]


def _log_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line y = intercept + slope * x."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _mistakes_8_5(n: np.ndarray, loss: np.ndarray, n_target: float) -> list[tuple[float, str]]:
    """(wrong prediction, hint) for the usual slips, on the checker's own data."""
    slope, intercept = _log_line(np.log(n), np.log(loss))
    slope10, intercept10 = _log_line(np.log10(n), np.log10(loss))
    lin_slope, lin_intercept = _log_line(n, loss)
    semi_slope, semi_intercept = _log_line(np.log(n), loss)
    inv_slope, inv_intercept = _log_line(np.log(loss), np.log(n))
    log_t, log10_t = math.log(n_target), math.log10(n_target)
    two_point = (math.log(loss[-1]) - math.log(loss[0])) / (math.log(n[-1]) - math.log(n[0]))
    linear = "fit in log space: a power law is a straight line through (log n, log loss), not through (n, loss)"
    mixed = "mixed logarithms: undo the fit with the base you fitted in (log and exp, or log10 and 10 **)."
    return [
        (lin_intercept + lin_slope * n_target, linear + "; a straight line in n does not bend like a power law."),
        (semi_intercept + semi_slope * log_t, linear + " (you took the log of n only: take it of the loss too)."),
        (math.exp(intercept - slope * log_t), "sign of alpha: the loss falls with size, L = a * n ** -alpha "
                                              "with alpha > 0 (alpha is minus the slope of the line)."),
        (math.exp(intercept10) * n_target ** slope10, mixed),
        (math.exp(intercept10 + slope10 * log10_t), mixed),
        (10 ** (intercept + slope * log_t), mixed),
        (10 ** intercept * n_target ** slope, mixed),
        (math.exp((log_t - inv_intercept) / inv_slope), "you regressed log n on log loss; the least-squares "
                                                        "line predicts log loss from log n."),
        (float(loss[-1]), "that is the last measured loss; the prediction extends the fitted line to n_target."),
        (math.exp(intercept + slope * math.log(n[-1])), "that is the fitted line at the largest measured n; "
                                                        "evaluate it at n_target."),
        (float(loss[-1]) * (n_target / n[-1]) ** two_point, "that is the line through the first and the last "
                                                            "points only; fit all the points by least squares."),
    ]


@checker
def check_8_5(predict_loss: Callable) -> Verdict:
    """Exercise 8.5: ``predict_loss(n_small, loss_small, n_target)`` -> the loss at ``n_target`` predicted by
    the power law ``a * n**-alpha`` fitted to ``(n_small, loss_small)`` by least squares in log space."""
    what = "one number: the predicted loss at n_target"
    for n, loss, n_target in _cases_8_5():
        slope, intercept = _log_line(np.log(n), np.log(loss))
        expected = math.exp(intercept + slope * math.log(n_target))
        got, hint = _call(predict_loss, n.copy(), loss.copy(), n_target)
        if hint:
            return _verdict(False, hint)
        if callable(got):
            return _verdict(False, "you returned the fitted law; return its prediction, the law evaluated at "
                                   "n_target (one number).")
        pair, _ = _numbers(got, 2, "two numbers")
        if pair is not None:
            return _verdict(False, f"you returned two numbers, {float(pair[0]):.3g} and {float(pair[1]):.3g}: "
                                   f"that looks like the fit (a, alpha); return the prediction "
                                   f"a * n_target ** -alpha, one number.")
        values, _ = _numbers(got, len(n), "numbers")
        if values is not None:
            fitted = np.exp(intercept + slope * np.log(n))
            if all(_close(v, f, rel_tol=1e-4) for v, f in zip(values, fitted)):
                return _verdict(False, "those are the fitted losses at n_small; evaluate the line at n_target.")
        got, hint = _number(got, what)
        if hint:
            return _verdict(False, hint)
        if _close(got, expected, rel_tol=1e-5):
            continue
        if (message := _first_mistake(got, _mistakes_8_5(n, loss, n_target), rel_tol=1e-4)) is not None:
            return _verdict(False, message)
        if got <= 0:
            return _verdict(False, f"a loss is positive, got {float(got):.3g}: fit the straight line in log "
                                   f"space and undo the log at the end.")
        if _close(got, expected, rel_tol=0.03):
            return _verdict(False, f"close ({float(got):.4g} against {expected:.4g} at n_target = {n_target:.3g}), "
                                   f"but not the least-squares line through (log n, log loss).")
        return _verdict(False, f"for n_target = {n_target:.3g} expected about {expected:.3g}, got {float(got):.3g}: "
                               f"fit a straight line to (log n, log loss) and evaluate it at log n_target.")
    n, loss, n_target = _cases_8_5()[0]
    slope, intercept = _log_line(np.log(n), np.log(loss))
    return _verdict(True, f"alpha = {-slope:.3f} from {len(n)} sizes; at {n_target / n[-1]:.0f}x the largest "
                          f"one the line predicts {math.exp(intercept + slope * math.log(n_target)):.3f}. "
                          f"Now check it against a measurement, below.")
