"""Checkers for Chapter 12's exercises (RoPE, RMSNorm, grouped-query attention, LoRA, quantisation)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _call, _close, _describe, _items, _judge_tensor, _nonfinite_hint,
                                          _number, _same, _tensor, _verdict, checker)


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
    g = torch.Generator().manual_seed(12)
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
                (_rope_reference(x, positions, pairing="neighbours"),
                 "you paired neighbours (0, 1), (2, 3), ...; Llama's convention (the package's) pairs "
                 "dimension i with i + d/2."),
                (_rope_reference(x, positions, sign=-1.0),
                 "the rotation goes the wrong way: (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos)."),
                (_rope_reference(x, positions, exponent=1.0),
                 "the frequencies: pair i turns by theta ** (-2i / d) per position, not theta ** (-i / d).")]
    return _judge_tensor(got, expected, mistakes,
                         "lengths are kept, and rotate(q, m) . rotate(k, n) depends on m - n only.",
                         "not RoPE's rotation: pair dimension i with i + d/2 and turn each pair by the angle "
                         "position * theta ** (-2i / d).", atol=1e-5)


@checker
def check_12_2(kv_bytes_per_token: Callable) -> Verdict:
    """Exercise 12.2: ``kv_bytes_per_token(config, bytes_per_number)``: the KV cache one token adds."""
    from llm_book.model import GPTConfig

    configs = [GPTConfig(vocab_size=128256, block_size=8192, n_layer=32, n_head=32, n_embd=4096, n_kv_head=8),
               GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768),
               GPTConfig(vocab_size=35, n_layer=3, n_head=6, n_embd=48, n_kv_head=2)]
    for config, nbytes in zip(configs, (4, 2, 1)):
        hd, kv = config.n_embd // config.n_head, config.n_kv_head or config.n_head
        expected = 2 * config.n_layer * kv * hd * nbytes
        got, hint = _call(kv_bytes_per_token, config, nbytes)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number (bytes)")
        if hint:
            return _verdict(False, hint)
        if _same(got, expected):
            continue
        if _same(got, expected / 2):
            return _verdict(False, "half the answer: the cache keeps a key AND a value for every layer.")
        if _same(got, 2 * config.n_layer * config.n_head * hd * nbytes):
            return _verdict(False, "you counted a key and a value per query head; with grouped-query attention "
                                   "only n_kv_head heads are stored.")
        if _same(got, expected / config.n_layer):
            return _verdict(False, "that is one layer's share: every layer keeps its own keys and values.")
        if _same(got, expected / nbytes):
            return _verdict(False, "that counts numbers, not bytes: multiply by bytes_per_number.")
        return _verdict(False, f"for n_layer={config.n_layer}, n_kv_head={kv}, head size {hd}, {nbytes} bytes "
                               f"a number, expected {expected:,} bytes, got {float(got):,.6g}.")
    return _verdict(True, "Llama-3-8B's shape keeps 128 KiB a token in 16-bit numbers: a quarter of what "
                          "32 key/value heads would need.")


@checker
def check_12_3(merge: Callable) -> Verdict:
    """Exercise 12.3: ``merge(W, A, B, alpha)`` -> the merged weight W + (alpha / r) B A."""
    g = torch.Generator().manual_seed(3)
    W, A, B = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((6, 5), (2, 5), (6, 2)))
    alpha, r = 8.0, 2
    expected = W + alpha / r * B @ A
    got, hint = _call(merge, W.clone(), A.clone(), B.clone(), alpha)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "the merged (out, in) weight")
    if hint:
        return _verdict(False, hint)
    if got.shape != W.shape:
        return _verdict(False, f"the merged weight has W's shape {tuple(W.shape)}, got {_describe(got)}: "
                               f"B (out, r) @ A (r, in) is (out, in).")
    mistakes = [(W + B @ A, "the update is scaled by alpha / r."),
                (W + alpha * B @ A, "divide alpha by the rank r (A's number of rows)."),
                (W + r / alpha * B @ A, "the scale is alpha / r, not r / alpha."),
                (B @ A * alpha / r, "that is only the update: add it to W."),
                (W, "that is W unchanged: add (alpha / r) B @ A.")]
    return _judge_tensor(got, expected, mistakes,
                         "one plain matrix, so the adapted model costs nothing extra at inference.",
                         "expected W + (alpha / r) * B @ A with r = A.shape[0].", atol=1e-9)


@checker
def check_12_4(absmax: Callable) -> Verdict:
    """Exercise 12.4: ``absmax(row, bits)`` -> ``(q, scale)``: integers in [-qmax, qmax] and the row's scale."""
    row = torch.tensor([0.31, -1.27, 0.05, 0.9, -0.42, 0.0, 1.1, -0.66], dtype=torch.float64)
    for bits in (8, 4):
        qmax = 2 ** (bits - 1) - 1
        scale = float(row.abs().max()) / qmax
        expected = torch.round(row / scale)
        got, hint = _call(absmax, row.clone(), bits)
        if hint:
            return _verdict(False, hint)
        items, hint = _items(got, 2, "two things: (q, scale)")
        if hint:
            return _verdict(False, hint)
        q, hint = _tensor(items[0], "q, the integers")
        if hint:
            return _verdict(False, hint)
        s, hint = _number(items[1], "the scale (one number)")
        if hint:
            return _verdict(False, hint)
        if q.shape != row.shape:
            return _verdict(False, f"q has one integer per number of the row, {tuple(row.shape)}; got {_describe(q)}.")
        if hint := _nonfinite_hint(q):
            return _verdict(False, hint)
        if _close(s, float(row.abs().max()) / (qmax + 1), rel_tol=1e-6):
            return _verdict(False, f"the scale divides by qmax = 2**(bits-1) - 1 = {qmax}, so that "
                                   f"-qmax..qmax is symmetric.")
        if _close(s, float(row.max()) / qmax, rel_tol=1e-6):
            return _verdict(False, "absmax: the largest ABSOLUTE value sets the scale (here a negative number).")
        if _close(s, 1 / scale, rel_tol=1e-6):
            return _verdict(False, "the scale is max|row| / qmax (row = q * scale), not its inverse.")
        if not _close(s, scale, rel_tol=1e-6):
            return _verdict(False, f"for {bits} bits expected scale max|row| / {qmax} = {scale:.6g}, "
                                   f"got {float(s):.6g}.")
        qd = q.double()
        if torch.equal(qd, torch.trunc(row / scale)) and not torch.equal(qd, expected):
            return _verdict(False, "rounding: int() and .to(torch.int8) cut towards zero; use torch.round first.")
        if not torch.equal(qd, expected):
            return _verdict(False, f"for {bits} bits q should be round(row / scale); "
                                   f"its largest error is then scale / 2.")
    return _verdict(True, "every number lands within scale / 2 of where it was; the largest one exactly.")


@checker
def check_12_5(rms_norm: Callable) -> Verdict:
    """Exercise 12.5: ``rms_norm(x, weight, eps)`` -> x / sqrt(mean(x**2) + eps) * weight over the last axis."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 6, generator=g, dtype=torch.float64) * 2 + 0.5
    weight = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    eps = 0.1
    ms = x.pow(2).mean(-1, keepdim=True)
    expected = x / torch.sqrt(ms + eps) * weight
    got, hint = _call(rms_norm, x.clone(), weight.clone(), eps)
    if hint:
        return _verdict(False, hint)
    got, hint = _tensor(got, "a tensor shaped like x")
    if hint:
        return _verdict(False, hint)
    if got.shape != x.shape:
        return _verdict(False, f"return a tensor shaped like x, {tuple(x.shape)}; got {_describe(got)}.")
    centred = x - x.mean(-1, keepdim=True)
    mistakes = [(centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps) * weight,
                 "that is LayerNorm: RMSNorm does not subtract the mean."),
                (x / (torch.sqrt(ms) + eps) * weight, "eps goes inside the square root: sqrt(mean(x**2) + eps)."),
                (x / torch.sqrt(ms + eps), "multiply by `weight` at the end (the learned gain)."),
                (x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * weight,
                 "the MEAN of the squares over the last axis, not their sum."),
                (x / torch.sqrt(x.pow(2).mean() + eps) * weight,
                 "normalise each vector on its own: mean over the last axis only (dim=-1, keepdim=True)."),
                (x / torch.sqrt(ms + eps) + weight, "weight multiplies, it is not added (RMSNorm has no bias).")]
    return _judge_tensor(got, expected, mistakes,
                         "one statistic (the root mean square) instead of two, and no bias.",
                         "expected x / sqrt(mean(x**2, last axis) + eps) * weight.", atol=1e-6)
