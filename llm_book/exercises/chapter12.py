"""Checkers for Chapter 12's exercises: RoPE at given positions, the KV cache's break-even length, LoRA's
gradients at the start, int4 bytes with small groups, and an input where a misplaced eps shows."""

from __future__ import annotations

from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _call, _close, _describe, _first_mistake, _items, _judge_tensor,
                                          _nonfinite_hint, _number, _same, _tensor, _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases


def _rope_reference(x: torch.Tensor, positions: torch.Tensor, theta: float = 10000.0,
                    pairing: str = "halves", sign: float = 1.0, exponent: float = 2.0) -> torch.Tensor:
    """Rotate each row x[t] by positions[t] (and the usual mistakes, for the hints)."""
    d = x.shape[-1]
    inv_freq = theta ** (-exponent * torch.arange(d // 2, dtype=torch.float64) / d)      # (d/2,)
    angle = sign * positions.double()[:, None] * inv_freq[None, :]                      # (T, d/2)
    cos, sin = angle.cos(), angle.sin()
    if pairing == "halves":
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    x1, x2 = x[..., 0::2], x[..., 1::2]                                                 # neighbours
    out = torch.empty_like(x)
    out[..., 0::2], out[..., 1::2] = x1 * cos - x2 * sin, x1 * sin + x2 * cos
    return out


@checker
def check_12_1(rotate: Callable) -> Verdict:
    """Exercise 12.1: ``rotate(x, positions)`` turns row t of ``x`` (T, d) by RoPE's angles at ``positions[t]``."""
    g = _generator(12)
    x = torch.randn(5, 8, generator=g, dtype=torch.float64)
    positions = torch.tensor([0, 1, 2, 7, 30])
    expected = _rope_reference(x, positions)
    got, hint = _call(rotate, x.clone(), positions.clone())
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "a (T, d) tensor")
    if hint:
        return _verdict(False, hint)
    if got.shape != expected.shape:
        return _verdict(False, f"return a tensor shaped like x, {tuple(x.shape)}; got {_describe(got)}.")
    mistakes = [(x, "nothing turned: multiply each pair by cos and sin of position * theta ** (-2i / d)."),
                (_rope_reference(x, torch.arange(len(positions))),
                 "you turned row t by the angle of position t: use positions[t] (the rows need not be "
                 "consecutive positions)."),
                (_rope_reference(x, positions, pairing="neighbours"),
                 "you paired neighbours (0, 1), (2, 3), ... (RoFormer's and Meta's convention); this exercise, "
                 "like the package and Hugging Face, pairs dimension i with i + d/2."),
                (_rope_reference(x, positions, sign=-1.0),
                 "the rotation goes the wrong way: (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos)."),
                (_rope_reference(x, positions, exponent=1.0),
                 "the frequencies: pair i turns by theta ** (-2i / d) per position, not theta ** (-i / d).")]
    return _judge_tensor(got, expected, mistakes,
                         "lengths are kept, and rotate(q, m) . rotate(k, n) depends on m - n only.",
                         "not RoPE's rotation: pair dimension i with i + d/2 and turn each pair by the angle "
                         "position * theta ** (-2i / d).", atol=1e-5)


def _llama_like_configs():
    from llm_book.model import GPTConfig

    return [GPTConfig(vocab_size=128256, block_size=8192, n_layer=32, n_head=32, n_embd=4096, bias=False,
                      position="rope", rope_theta=500000.0, norm="rmsnorm", mlp="swiglu", mlp_hidden=14336,
                      n_kv_head=8, tie_embeddings=False),
            GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768),
            GPTConfig(vocab_size=35, n_layer=3, n_head=6, n_embd=48, n_kv_head=2)]


@checker
def check_12_2(break_even_tokens: Callable) -> Verdict:
    """Exercise 12.2: ``break_even_tokens(config)``: tokens of one sequence whose KV cache holds as many
    numbers as the model's weights."""
    from llm_book.model import GPT

    from llm_book.model import GPTConfig

    hidden = [GPTConfig(vocab_size=1000, block_size=256, n_layer=4, n_head=8, n_embd=128, n_kv_head=4)]
    for config in _hidden_cases(_llama_like_configs(), hidden):
        with torch.device("meta"):
            model = GPT(config)
        n_params = model.num_parameters()
        embeddings = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("wte", "wpe", "lm_head")))
        hd, kv = config.n_embd // config.n_head, config.n_kv_head or config.n_head
        per_token = 2 * config.n_layer * kv * hd
        expected = n_params / per_token
        got, hint = _call(break_even_tokens, config)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number (tokens)")
        if hint:
            return _verdict(False, hint)
        if _close(got, expected, abs_tol=1.0):
            continue
        mistakes = [(2 * expected, "twice the answer: the cache keeps a key AND a value for every layer."),
                    (expected * kv / config.n_head if kv != config.n_head else float("nan"),
                     "you counted a key and a value per query head; with grouped-query attention only "
                     "n_kv_head heads are cached."),
                    (expected * config.n_layer, "that counts one layer's cache: every layer keeps its own keys "
                                                "and values."),
                    (expected / 2, "half the answer: count both in numbers, or both in bytes (the bytes per "
                                   "number cancel), not the cache in 2-byte numbers and the weights in numbers."),
                    ((n_params - embeddings) / per_token,
                     "count every weight, the embeddings and the output layer too: they all sit in memory."),
                    (float(n_params), "that is the number of weights; divide by what one token adds to the cache."),
                    (float(per_token), "that is what one token adds to the cache; the weights divided by it give "
                                       "the tokens.")]
        if hint := _first_mistake(got, mistakes, rel_tol=1e-3):
            return _verdict(False, hint)
        return _verdict(False, f"for n_layer={config.n_layer}, n_kv_head={kv}, head size {hd} and {n_params:,} "
                               f"weights, expected about {expected:,.0f} tokens, got {float(got):,.6g}.")
    return _verdict(True, "Llama-3-8B: about 122,500 tokens, whatever the number format; 15 sequences of "
                          "8,192 tokens served at once fill as much memory as the weights.")


def _lora_case(g: torch.Generator, start: str):
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)         # (N, in)
    dy = torch.randn(5, 6, generator=g, dtype=torch.float64)        # (N, out)
    A = torch.randn(2, 4, generator=g, dtype=torch.float64)         # (r, in)
    B = torch.randn(6, 2, generator=g, dtype=torch.float64)         # (out, r)
    if start in ("lora", "both"):
        B = torch.zeros_like(B)
    if start == "both":
        A = torch.zeros_like(A)
    return x, dy, A, B


@checker
def check_12_3(lora_grads: Callable) -> Verdict:
    """Exercise 12.3: ``lora_grads(x, dy, A, B, alpha)`` -> ``(grad_A, grad_B)`` of the loss whose gradient
    at ``y = x W^T + (alpha / r) x A^T B^T`` is ``dy``; x (N, in), dy (N, out)."""
    g = _generator(3)
    alpha = 8.0
    for start in ("trained", "lora", "both"):
        x, dy, A, B = _lora_case(g, start)
        A_, B_ = A.clone().requires_grad_(), B.clone().requires_grad_()
        ((alpha / A.shape[0]) * x @ A_.T @ B_.T * dy).sum().backward()
        exp_A, exp_B = A_.grad, B_.grad
        got, hint = _call(lora_grads, x.clone(), dy.clone(), A.clone(), B.clone(), alpha)
        if hint:
            return _verdict(False, hint)
        items, hint = _items(got, 2, "two things: (grad_A, grad_B)")
        if hint:
            return _verdict(False, hint)
        gA, hint = _tensor(items[0], "grad_A, shaped like A")
        if hint:
            return _verdict(False, hint)
        gB, hint = _tensor(items[1], "grad_B, shaped like B")
        if hint:
            return _verdict(False, hint)
        if gA.shape == B.shape and gB.shape == A.shape and A.shape != B.shape:
            return _verdict(False, "the two are swapped: return (grad_A, grad_B), grad_A shaped like A (r, in).")
        if gA.shape != A.shape or gB.shape != B.shape:
            return _verdict(False, f"grad_A is shaped like A {tuple(A.shape)} and grad_B like B {tuple(B.shape)}; "
                                   f"got {_describe(gA)} and {_describe(gB)}.")
        for t in (gA, gB):
            if hint := _nonfinite_hint(t):
                return _verdict(False, hint)
        gA, gB = gA.double(), gB.double()
        ok_A, ok_B = (torch.allclose(a, e, atol=1e-5, rtol=1e-4) for a, e in ((gA, exp_A), (gB, exp_B)))
        if ok_A and ok_B:
            continue
        r = A.shape[0]
        for got_t, exp_t in ((gA, exp_A), (gB, exp_B)):
            if torch.allclose(got_t, exp_t) or exp_t.abs().max() == 0:
                continue
            if torch.allclose(got_t, exp_t * r / alpha, atol=1e-5):
                return _verdict(False, "the gradients carry the factor alpha / r of the forward pass.")
            if torch.allclose(got_t, exp_t * r / B.shape[0], atol=1e-5):
                return _verdict(False, "the rank r is A.shape[0] (A is r x in); B.shape[0] is the output width.")
            if torch.allclose(got_t, exp_t * r, atol=1e-5):
                return _verdict(False, "the scale is alpha / r: divide alpha by the rank.")
            if torch.allclose(got_t, exp_t / x.shape[0], atol=1e-5):
                return _verdict(False, "dy is already the loss's gradient: sum over the N rows, do not average.")
        if start == "lora" and not ok_A:
            return _verdict(False, "at LoRA's start B = 0: the gradient that reaches A passes through B, so "
                                   "grad_A is exactly zero there; grad_B is not (it sees A x).")
        if start == "both" and not (ok_A and ok_B):
            return _verdict(False, "with A = B = 0 both gradients are zero (each passes through the other), "
                                   "so training could never leave the start: that is why A starts random.")
        return _verdict(False, "with h = x A^T (N, r): grad_B = (alpha / r) dy^T h and grad_A = (alpha / r) "
                               "(dy B)^T x.")
    return _verdict(True, "at the start (B = 0) only B moves in the first step; with A = B = 0 nothing would ever "
                          "move.")


@checker
def check_12_4(int4_bytes: Callable) -> Verdict:
    """Exercise 12.4: ``int4_bytes(out_features, in_features, group_size)``: bytes of an int4 weight with one
    float32 scale per group (``None``: one per row), as ``quantize_absmax(...).nbytes`` counts them."""
    cases = [(256, 64, 8), (256, 64, 4), (64, 256, None), (48, 48, 16), (10, 6, 2), (3, 5, None)]
    for out_f, in_f, group in _hidden_cases(cases, [(128, 32, 8), (7, 9, None)]):
        n_groups = 1 if group is None else in_f // group
        packed = out_f * ((in_f + 1) // 2)
        expected = packed + 4 * out_f * n_groups
        got, hint = _call(int4_bytes, out_f, in_f, group)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number (bytes)")
        if hint:
            return _verdict(False, hint)
        if _same(got, expected):
            continue
        mistakes = [(packed, "the scales are stored too: one float32 (4 bytes) per group of each row."),
                    (out_f * in_f + 4 * out_f * n_groups, "two 4-bit integers share one byte."),
                    (packed + 2 * out_f * n_groups, "the scales are float32 here, 4 bytes each, not 2."),
                    (packed + out_f * n_groups, "each scale is a float32: 4 bytes."),
                    (packed + 4 * n_groups, "every row has its own scales: out_features * groups of them."),
                    (out_f * in_f / 2 + 4 * out_f * n_groups,
                     "an odd row is padded to whole bytes: (in_features + 1) // 2 bytes a row.")]
        if group is None:
            mistakes.append((packed + 4 * out_f * in_f, "group_size None means one scale per row."))
        if hint := _first_mistake(got, mistakes):
            return _verdict(False, hint)
        return _verdict(False, f"for a ({out_f}, {in_f}) weight with groups of {group}, expected {expected:,} "
                               f"bytes, got {float(got):,.6g}.")
    return _verdict(True, "a group of g numbers costs g/2 bytes of integers and 4 of scale: at g = 8 the scale "
                          "is as big as the integers, and below 8 int4 weighs more than int8 per row.")


@checker
def check_12_5(find_input: Callable) -> Verdict:
    """Exercise 12.5: ``find_input()`` -> an x (..., d) where the colleague's RMSNorm (eps outside the square
    root) differs from RMSNorm by more than 1% (weight 1, eps 1e-5)."""
    got, hint = _call(find_input)
    if hint:
        return _verdict(False, hint)
    x, hint = _tensor(got, "a tensor x (..., d)")
    if hint:
        return _verdict(False, hint)
    if x.dim() == 0 or x.numel() == 0:
        return _verdict(False, f"return a tensor with at least one vector (..., d); got {_describe(x)}.")
    if hint := _nonfinite_hint(x):
        return _verdict(False, hint)
    x, eps = x.double(), 1e-5
    ms = x.pow(2).mean(-1, keepdim=True)
    right = x / torch.sqrt(ms + eps)
    colleague = x / (ms.sqrt() + eps)
    if right.abs().max() == 0:
        return _verdict(False, "all zeros: both versions return 0. Try a vector that is small but not zero.")
    rel = ((colleague - right).abs() / right.abs().clamp_min(1e-300))[right != 0]
    if float(rel.max()) > 0.01:
        return _verdict(True, f"they differ by {float(rel.max()):.0%} here: when the RMS is near or below "
                              f"sqrt(eps) = 0.003, eps dominates, and where it goes decides the result.")
    rms = float(ms.sqrt().min())
    return _verdict(False, f"they differ by at most {float(rel.max()):.2%}: the smallest RMS of your vectors is "
                           f"{rms:.3g}, so eps hardly matters. Compare the two denominators: they differ when "
                           f"mean(x**2) is comparable with eps.")
