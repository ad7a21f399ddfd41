"""Checkers for Chapter 1's exercises (background: model sizes and training compute)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import Verdict, _call, _report


def _number(x):
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(x):
        return None
    return float(x)


def check_1_1(training_flops: Callable) -> Verdict:
    """Exercise 1.1: ``training_flops(parameters, tokens)`` = 6 N D."""
    cases = [(175e9, 300e9), (70e9, 1.4e12), (124e6, 10e9)]
    for n, d in cases:
        got, hint = _call(training_flops, n, d)
        if hint:
            return _report(False, hint)
        got = _number(got)
        if got is None:
            return _report(False, "return one number (the FLOPs), e.g. a float.")
        expected = 6 * n * d
        if math.isclose(got, expected, rel_tol=1e-9):
            continue
        for factor, what in ((2, "that counts the forward pass only (2 N D); the backward pass costs "
                                  "about twice as much again"),
                             (1, "that is one FLOP per parameter per token; a multiply and an add are 2 "
                                 "FLOPs, and training runs forward and backward"),
                             (4, "that counts the backward pass only; add the forward pass")):
            if math.isclose(got, factor * n * d, rel_tol=1e-9):
                return _report(False, what + ".")
        ratio = got / expected if expected else float("inf")
        if ratio > 0 and abs(math.log10(ratio) - round(math.log10(ratio))) < 1e-6:
            return _report(False, f"off by a factor of {ratio:.0e}: check the powers of ten.")
        return _report(False, f"for N = {n:.3g} and D = {d:.3g} expected a number near 1e{math.log10(expected):.0f}; "
                              f"FLOPs grow in proportion to both N and D.")
    return _report(True, "about 6 FLOPs per parameter per training token.")


def _gpt_count(vocab_size: int, block_size: int, n_layer: int, n_embd: int) -> int:
    from llm_book.model import GPT, GPTConfig

    n_head = math.gcd(n_embd, 4)
    with torch.device("meta"):  # no memory, no time: only the shapes
        model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                              n_head=n_head, n_embd=n_embd))
    return model.num_parameters()


def check_1_2(count_parameters: Callable) -> Verdict:
    """Exercise 1.2: ``count_parameters(vocab_size, block_size, n_layer, n_embd)`` of ``llm_book``'s GPT."""
    cases = [(35, 16, 2, 64), (50257, 1024, 12, 768), (1000, 64, 3, 48)]
    for v, t, n_layer, c in cases:
        got, hint = _call(count_parameters, v, t, n_layer, c)
        if hint:
            return _report(False, hint)
        got = _number(got)
        if got is None:
            return _report(False, "return one whole number, the parameter count.")
        expected = _gpt_count(v, t, n_layer, c)
        if got == expected:
            continue
        diff = got - expected
        args = f"(vocab_size={v}, block_size={t}, n_layer={n_layer}, n_embd={c})"
        if diff == v * c:
            return _report(False, f"{args}: the output layer shares its weights with the token embedding "
                                  f"(tied), so count that matrix once.")
        if diff == -t * c:
            return _report(False, f"{args}: the position embeddings (block_size x n_embd) are missing.")
        if diff == -2 * c:
            return _report(False, f"{args}: the final LayerNorm (ln_f: a weight and a bias) is missing.")
        if diff == -n_layer * 13 * c - 2 * c or diff == -n_layer * 9 * c:
            return _report(False, f"{args}: biases and LayerNorm parameters are missing; each Linear layer "
                                  f"has a bias, each LayerNorm a weight and a bias.")
        if diff == -n_layer * 8 * c * c:
            return _report(False, f"{args}: the MLP widens to 4 * n_embd: its two matrices hold 8 n_embd^2 "
                                  f"weights per block.")
        return _report(False, f"{args}: expected {expected:,}, got {int(got):,} (off by {int(diff):,}); "
                              f"count the embeddings, then one block, then the final LayerNorm.")
    return _report(True, "V C + T C + L (12 C^2 + 13 C) + 2 C, the tied output layer counted once.")


def check_1_3(compute_optimal: Callable) -> Verdict:
    """Exercise 1.3: ``compute_optimal(flops)`` -> ``(parameters, tokens)`` with D = 20 N and C = 6 N D."""
    for c in (5.88e23, 1e21, 3.8e25):
        got, hint = _call(compute_optimal, c)
        if hint:
            return _report(False, hint)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return _report(False, "return two numbers: (parameters, tokens).")
        n, d = (_number(x) for x in got)
        if n is None or d is None:
            return _report(False, "return two numbers: (parameters, tokens).")
        n_star = math.sqrt(c / 120)
        if math.isclose(n, n_star, rel_tol=1e-6) and math.isclose(d, 20 * n_star, rel_tol=1e-6):
            continue
        if math.isclose(d, n_star, rel_tol=1e-6) and math.isclose(n, 20 * n_star, rel_tol=1e-6):
            return _report(False, "parameters and tokens are swapped: Chinchilla uses 20 tokens per parameter.")
        if math.isclose(n, math.sqrt(c / 20), rel_tol=1e-6):
            return _report(False, "the 6 of C = 6 N D is missing: solve C = 6 N (20 N) for N.")
        if n > 0 and d > 0 and not math.isclose(d / n, 20, rel_tol=1e-6):
            return _report(False, f"the tokens should be 20 times the parameters, got a ratio of {d / n:.3g}.")
        if n > 0 and d > 0 and not math.isclose(6 * n * d, c, rel_tol=1e-6):
            return _report(False, f"6 N D should equal the budget C = {c:.3g}, got {6 * n * d:.3g}.")
        return _report(False, f"for C = {c:.3g} expected N near {n_star:.3g}; solve C = 6 N (20 N).")
    return _report(True, "N = sqrt(C / 120) and D = 20 N: Chinchilla's 70B parameters and 1.4T tokens.")
