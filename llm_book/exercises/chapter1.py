"""Checkers for Chapter 1's exercises (background: model sizes and training compute)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _call, _close, _items, _number, _same, _verdict,
                                          checker)


@checker
def check_1_1(training_flops: Callable) -> Verdict:
    """Exercise 1.1: ``training_flops(parameters, tokens)`` = 6 N D."""
    cases = [(n, d, 6 * n * d) for n, d in [(175e9, 300e9), (70e9, 1.4e12), (124e6, 10e9)]]
    for n, d, expected in cases:
        got, hint = _call(training_flops, n, d)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number (the FLOPs)")
        if hint:
            return _verdict(False, f"for N = {n:.3g} and D = {d:.3g}: {hint}")
        if _close(got, expected, rel_tol=1e-9):
            continue
        for factor, what in ((2, "that counts the forward pass only (2 N D); the backward pass costs "
                                  "about twice as much again"),
                             (1, "that is one FLOP per parameter per token; a multiply and an add are 2 "
                                 "FLOPs, and training runs forward and backward"),
                             (4, "that counts the backward pass only; add the forward pass")):
            if _close(got, factor * n * d, rel_tol=1e-9):
                return _verdict(False, what + ".")
        ratio = got / expected
        if ratio > 0 and abs(math.log10(ratio) - round(math.log10(ratio))) < 1e-6:
            return _verdict(False, f"off by a factor of {ratio:.0e}: check the powers of ten.")
        return _verdict(False, f"for N = {n:.3g} and D = {d:.3g} expected a number near 1e{math.log10(expected):.0f}; "
                               f"FLOPs grow in proportion to both N and D.")
    return _verdict(True, "about 6 FLOPs per parameter per training token.")


@functools.lru_cache(maxsize=None)
def _gpt_count(vocab_size: int, block_size: int, n_layer: int, n_embd: int) -> int:
    """``GPT.num_parameters()`` for a configuration, built on the meta device (no memory, no time, no RNG)."""
    from llm_book.model import GPT, GPTConfig

    n_head = math.gcd(n_embd, 4)
    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                              n_head=n_head, n_embd=n_embd))
    return model.num_parameters()


def _count(x: float) -> str:
    """A parameter count for a hint: 1,234,567 (or 1.2e+30 when absurdly large)."""
    return f"{int(x):,}" if abs(x) < 1e15 else f"{x:.3g}"


@checker
def check_1_2(count_parameters: Callable) -> Verdict:
    """Exercise 1.2: ``count_parameters(vocab_size, block_size, n_layer, n_embd)`` of ``llm_book``'s GPT."""
    cases = [(v, t, n_layer, c, _gpt_count(v, t, n_layer, c))
             for v, t, n_layer, c in [(35, 16, 2, 64), (50257, 1024, 12, 768), (1000, 64, 3, 48)]]
    for v, t, n_layer, c, expected in cases:
        args = f"(vocab_size={v}, block_size={t}, n_layer={n_layer}, n_embd={c})"
        got, hint = _call(count_parameters, v, t, n_layer, c)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one whole number, the parameter count")
        if hint:
            return _verdict(False, f"{args}: {hint}")
        if _same(got, expected):
            continue
        diff = got - expected
        if diff == v * c:
            return _verdict(False, f"{args}: the output layer shares its weights with the token embedding "
                                   f"(tied), so count that matrix once.")
        if diff == -t * c:
            return _verdict(False, f"{args}: the position embeddings (block_size x n_embd) are missing.")
        if diff == -2 * c:
            return _verdict(False, f"{args}: the final LayerNorm (ln_f: a weight and a bias) is missing.")
        if diff == -n_layer * 13 * c - 2 * c or diff == -n_layer * 9 * c:
            return _verdict(False, f"{args}: biases and LayerNorm parameters are missing; each Linear layer "
                                   f"has a bias, each LayerNorm a weight and a bias.")
        if diff == -n_layer * 8 * c * c:
            return _verdict(False, f"{args}: the MLP widens to 4 * n_embd: its two matrices hold 8 n_embd^2 "
                                   f"weights per block.")
        return _verdict(False, f"{args}: expected {expected:,}, got {_count(got)} (off by {_count(diff)}); "
                               f"count the embeddings, then one block, then the final LayerNorm.")
    return _verdict(True, "V C + T C + L (12 C^2 + 13 C) + 2 C, the tied output layer counted once.")


@checker
def check_1_3(compute_optimal: Callable) -> Verdict:
    """Exercise 1.3: ``compute_optimal(flops)`` -> ``(parameters, tokens)`` with D = 20 N and C = 6 N D."""
    for c in (5.88e23, 1e21, 3.8e25):
        n_star = math.sqrt(c / 120)
        got, hint = _call(compute_optimal, c)
        if hint:
            return _verdict(False, hint)
        pair, hint = _items(got, 2, "two numbers: (parameters, tokens)")
        if hint:
            return _verdict(False, hint)
        (n, hint_n), (d, hint_d) = (_number(x, "two numbers: (parameters, tokens)") for x in pair)
        if hint_n or hint_d:
            return _verdict(False, f"for C = {c:.3g}: {hint_n or hint_d}")
        if _close(n, n_star, rel_tol=1e-6) and _close(d, 20 * n_star, rel_tol=1e-6):
            continue
        if _close(d, n_star, rel_tol=1e-6) and _close(n, 20 * n_star, rel_tol=1e-6):
            return _verdict(False, "parameters and tokens are swapped: Chinchilla uses 20 tokens per parameter.")
        if _close(n, math.sqrt(c / 20), rel_tol=1e-6):
            return _verdict(False, "the 6 of C = 6 N D is missing: solve C = 6 N (20 N) for N.")
        if n > 0 and d > 0 and not _close(d / n, 20, rel_tol=1e-6):
            return _verdict(False, f"the tokens should be 20 times the parameters, got a ratio of {d / n:.3g}.")
        if n > 0 and d > 0 and not _close(6 * n * d, c, rel_tol=1e-6):
            return _verdict(False, f"6 N D should equal the budget C = {c:.3g}, got {6 * n * d:.3g}.")
        return _verdict(False, f"for C = {c:.3g} expected N near {n_star:.3g}; solve C = 6 N (20 N).")
    return _verdict(True, "N = sqrt(C / 120) and D = 20 N: Chinchilla's 70B parameters and 1.4T tokens.")
