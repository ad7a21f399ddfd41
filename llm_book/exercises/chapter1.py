"""Checkers for Chapter 1's exercises (background: model sizes and training compute)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _float, _items, _number, _same,
                                          _tensor, _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases


@checker
def check_1_1(training_days: Callable) -> Verdict:
    """Exercise 1.1: ``training_days(parameters, tokens, gpus, flops_per_gpu, utilisation)``.

    Right is 6 N D FLOPs divided by what the GPUs deliver, ``gpus * flops_per_gpu * utilisation`` per second,
    in days of 86,400 seconds.
    """
    cases = [(175e9, 300e9, 1024, 312e12, 0.4),      # GPT-3 on 1,024 A100s (312 TFLOP/s peak, 16-bit)
             (70e9, 1.4e12, 2048, 312e12, 0.5),      # Chinchilla's budget
             (124e6, 10e9, 8, 989e12, 0.3)]          # a GPT-2 small on 8 H100s
    cases = _hidden_cases(cases, [(1.3e9, 26e9, 64, 125e12, 0.45)])
    for n, d, g, f, u in cases:
        expected = 6 * n * d / (g * f * u) / 86400
        where = f"for N = {n:.3g}, D = {d:.3g} on {g} GPUs of {f:.3g} FLOP/s at {u:.0%} utilisation"
        got, hint = _call(training_days, n, d, g, f, u)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number (the days)")
        if hint:
            return _verdict(False, f"{where}: {hint}")
        if _close(got, expected, rel_tol=1e-9):
            continue
        for factor, what in ((1 / 3, "that counts the forward pass only (2 N D FLOPs); training runs the backward "
                                     "pass too, 6 N D in all"),
                             (1 / 6, "that is one FLOP per parameter per token; training takes about 6 N D FLOPs"),
                             (u * u, "the GPUs deliver only `utilisation` of their peak, so divide by it "
                                     "(you multiplied)"),
                             (u, "the GPUs deliver only `utilisation` of their peak: divide by it too"),
                             (86400, "that is in seconds; a day has 86,400 of them"),
                             (24, "that is in hours; divide by 24 for days"),
                             (g, "the GPUs share the work: divide by their number")):
            if _close(got, factor * expected, rel_tol=1e-6):
                return _verdict(False, f"{where}: {what}.")
        ratio = got / expected
        if ratio > 0 and abs(math.log10(ratio) - round(math.log10(ratio))) < 1e-6:
            return _verdict(False, f"{where}: off by a factor of {ratio:.0e}: check the powers of ten.")
        return _verdict(False, f"{where} expected about {expected:.3g} days: 6 N D FLOPs divided by "
                               f"gpus x flops_per_gpu x utilisation per second, then by 86,400 seconds a day.")
    return _verdict(True, "6 N D / (GPUs x peak x utilisation): GPT-3 on 1,024 A100s at 40% takes about "
                          f"{6 * 175e9 * 300e9 / (1024 * 312e12 * 0.4) / 86400:.1f} days.")


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
             for v, t, n_layer, c in _hidden_cases([(35, 16, 2, 64), (50257, 1024, 12, 768), (1000, 64, 3, 48)],
                                                   [(777, 128, 5, 96)])]
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
    for c in _hidden_cases([5.88e23, 1e21, 3.8e25], [2.4e22]):
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


def _first_weights(a: float, b: float, n: int) -> tuple[float, float]:
    """Router logits ln a, ln b and n - 2 zeros (a > b > 1): the top expert's weight under Mixtral and Switch."""
    return a / (a + b), a / (a + b + n - 2)


@checker
def check_1_4(first_expert_weights: Callable) -> Verdict:
    """Exercise 1.4: ``first_expert_weights(a, b, n)`` -> (Mixtral top-2 weight, Switch top-1 weight) of expert 0.

    The router's logits are ``[ln a, ln b, 0, ..., 0]`` over ``n`` experts, with ``a > b > 1``.
    """
    for a, b, n in _hidden_cases([(4.0, 2.0, 8), (3.0, 1.5, 4), (9.0, 3.0, 16)], [(5.0, 1.25, 6)]):
        mixtral, switch = _first_weights(a, b, n)
        args = f"for a = {a:g}, b = {b:g}, n = {n}"
        got, hint = _call(first_expert_weights, a, b, n)
        if hint:
            return _verdict(False, hint)
        pair, hint = _items(got, 2, "two numbers: (Mixtral's weight, Switch's weight)")
        if hint:
            return _verdict(False, hint)
        (m, hint_m), (s, hint_s) = (_number(x, "two numbers: (Mixtral's weight, Switch's weight)") for x in pair)
        if hint_m or hint_s:
            return _verdict(False, f"{args}: {hint_m or hint_s}")
        if _close(m, mixtral, rel_tol=1e-6) and _close(s, switch, rel_tol=1e-6):
            continue
        if _close(m, switch, rel_tol=1e-6) and _close(s, mixtral, rel_tol=1e-6):
            return _verdict(False, "the two weights are swapped: return (Mixtral's, Switch's).")
        if _close(m, switch, rel_tol=1e-6):
            return _verdict(False, f"{args}: your Mixtral weight is the full softmax's {switch:.3f}; Mixtral "
                                   f"takes the softmax over the two chosen logits only, so the two weights sum "
                                   f"to 1.")
        if _close(s, mixtral, rel_tol=1e-6):
            return _verdict(False, f"{args}: your Switch weight is renormalised over the chosen expert; Switch "
                                   f"keeps the probability of the softmax over all {n} experts.")
        if _close(s, 1.0, rel_tol=1e-6):
            return _verdict(False, f"{args}: Switch does not give its one expert the weight 1; it scales the "
                                   f"expert's output by that expert's softmax probability over all {n} experts.")
        if not _close(m, mixtral, rel_tol=1e-6) and _close(m, a / (a + b + n), rel_tol=1e-6) \
                or _close(s, a / (a + b + n), rel_tol=1e-6):
            return _verdict(False, f"{args}: a logit of 0 contributes e^0 = 1 to the softmax's sum, not 0; "
                                   f"there are n - 2 of them.")
        wrong = "Mixtral's" if not _close(m, mixtral, rel_tol=1e-6) else "Switch's"
        return _verdict(False, f"{args}: {wrong} weight is off. The exponentials of the logits are a, b and "
                               f"n - 2 ones; each scheme divides the chosen expert's a by a different sum.")
    return _verdict(True, "Mixtral: a / (a + b), the chosen pair sums to 1; Switch: a / (a + b + n - 2), "
                          "the full softmax's probability.")


def _buggy_route(tokens: torch.Tensor, router_weight: torch.Tensor, k: int) -> torch.Tensor:
    """The router of Exercise 1.5, bugs included (softmax over tokens, no renormalisation)."""
    scores = torch.softmax(tokens @ router_weight, dim=0)
    top = scores.topk(k, dim=-1)
    return torch.zeros_like(scores).scatter(-1, top.indices, top.values)


@checker
def check_1_5(route: Callable) -> Verdict:
    """Exercise 1.5: ``route(tokens, router_weight, k)`` -> Mixtral's ``(tokens, experts)`` routing weights."""
    from llm_book.moe import top_k_routing

    g = _generator(5)
    for n_tokens, width, n_experts, k in [(6, 16, 8, 2), (5, 8, 4, 1), (7, 12, 6, 3)]:
        tokens = torch.randn(n_tokens, width, generator=g)
        weight = torch.randn(width, n_experts, generator=g)
        logits = tokens @ weight
        expected = top_k_routing(logits, k).double()
        args = f"for {n_tokens} tokens, {n_experts} experts, k = {k}"
        got, hint = _call(route, tokens.clone(), weight.clone(), k)
        if hint:
            return _verdict(False, hint)
        got, hint = _tensor(got, f"a ({n_tokens}, {n_experts}) tensor of weights")
        if hint:
            return _verdict(False, f"{args}: {hint}")
        if tuple(got.shape) != (n_tokens, n_experts):
            return _verdict(False, f"{args}: return one weight per token and expert, shape ({n_tokens}, "
                                   f"{n_experts}), got shape {tuple(got.shape)}.")
        got = _float(got)
        if not torch.isfinite(got).all():
            return _verdict(False, f"{args}: the weights contain nan or inf.")
        if _allclose(got, expected, atol=1e-5):
            continue
        chosen = (got != 0)
        if _allclose(got, _buggy_route(tokens, weight, k).double(), atol=1e-5):
            return _verdict(False, "that is the buggy router unchanged: look at the softmax's `dim`, and at "
                                   "what the k weights of a token add up to.")
        full = torch.softmax(logits.double(), dim=-1)
        top_full = torch.zeros_like(full).scatter(-1, logits.topk(k, -1).indices, full.gather(
            -1, logits.topk(k, -1).indices))
        if _allclose(got, top_full, atol=1e-5):
            return _verdict(False, f"{args}: the experts are right but each token's weights sum to "
                                   f"{float(top_full.sum(-1).mean()):.2f} on average, not 1: Mixtral takes the "
                                   f"softmax of the k chosen logits only.")
        by_tokens = torch.softmax(logits.double(), dim=0)
        if (chosen == (torch.zeros_like(by_tokens).scatter(-1, by_tokens.topk(k, -1).indices, 1.0) != 0)).all() \
                and not (chosen == (expected != 0)).all():
            return _verdict(False, f"{args}: the softmax normalises over the tokens (dim=0), so a token's "
                                   f"choice depends on the other tokens; each token's scores run over the "
                                   f"experts, the last axis.")
        if not (chosen.sum(-1) == k).all():
            return _verdict(False, f"{args}: each token should have exactly k = {k} nonzero weights.")
        if not (chosen == (expected != 0)).all():
            return _verdict(False, f"{args}: some tokens went to the wrong experts: each token picks the k "
                                   f"experts with the largest logits.")
        if _allclose(got.sum(-1), torch.ones(n_tokens, dtype=torch.float64), atol=1e-5):
            return _verdict(False, f"{args}: the right experts and weights summing to 1, but not the softmax "
                                   f"of the chosen logits.")
        return _verdict(False, f"{args}: the right experts, but each token's weights should be the softmax of "
                               f"its k chosen logits (they sum to 1).")
    return _verdict(True, "softmax over the experts of each token's top-k logits: the weights of the chosen "
                          "experts sum to 1, whatever the other tokens are.")


# Mixtral 8x7B and 8x22B (v0.1): (vocab_size, dim, n_layers, hidden_dim, kv_dim, n_experts, top_k), from the
# released configurations (Hugging Face config.json); 32 (48) query heads and 8 key/value heads of 128 each.
_MIXTRALS = {"Mixtral 8x7B": (32000, 4096, 32, 14336, 1024, 8, 2),
             "Mixtral 8x22B": (32000, 6144, 56, 16384, 1024, 8, 2)}


def _mixtral_counts(vocab_size, dim, n_layers, hidden_dim, kv_dim, n_experts, top_k, *, exact=True,
                    share=True, gqa=True, swiglu=True, untied=True):
    """(total, active) parameters of a Mixtral-style model; the flags switch off one idea each (for the hints)."""
    attention = 2 * dim * dim + 2 * dim * (kv_dim if gqa else dim)
    expert = (3 if swiglu else 2) * dim * hidden_dim
    small = (dim * n_experts + 2 * dim) if exact else 0        # router and two RMSNorm weights per layer
    embeddings = (2 if untied else 1) * vocab_size * dim + (dim if exact else 0)
    if share:
        total = embeddings + n_layers * (attention + n_experts * expert + small)
    else:                                                      # n_experts whole dense models
        total = n_experts * (embeddings + n_layers * (attention + expert + small))
    active = embeddings + n_layers * (attention + top_k * expert + small)
    return total, active


@checker
def check_1_6(mixtral_counts: Callable) -> Verdict:
    """Exercise 1.6: ``mixtral_counts(vocab_size, dim, n_layers, hidden_dim, kv_dim, n_experts, top_k)``.

    Returns ``(total, active)`` parameters; right within 0.05% (the router and the norms may be left out).
    """
    hidden = [("a made-up 16x2B", (50000, 2048, 24, 5632, 512, 16, 4))]
    for name, config in _hidden_cases(list(_MIXTRALS.items()), hidden):
        total, active = _mixtral_counts(*config)
        args = f"for {name} {config}"
        got, hint = _call(mixtral_counts, *config)
        if hint:
            return _verdict(False, hint)
        pair, hint = _items(got, 2, "two numbers: (total, active)")
        if hint:
            return _verdict(False, hint)
        (t, hint_t), (a, hint_a) = (_number(x, "two numbers: (total, active)") for x in pair)
        if hint_t or hint_a:
            return _verdict(False, f"{args}: {hint_t or hint_a}")
        ok_t, ok_a = _close(t, total, rel_tol=5e-4), _close(a, active, rel_tol=5e-4)
        if ok_t and ok_a:
            continue
        if _close(t, active, rel_tol=5e-4) and _close(a, total, rel_tol=5e-4):
            return _verdict(False, "the two counts are swapped: return (total, active).")
        for flag, hint in (("share", "the experts share attention and the embeddings: only the feed-forward "
                                     "block is copied n_experts times, so 8x7B is not 56B."),
                           ("gqa", "keys and values are kv_dim wide, not dim (grouped-query attention: 8 "
                                   "key/value heads of 128)."),
                           ("swiglu", "each expert is a SwiGLU feed-forward block with three dim x hidden_dim "
                                      "matrices (w1, w2, w3), not two."),
                           ("untied", "Mixtral's output layer is a matrix of its own (vocab_size x dim), not "
                                      "tied to the token embedding.")):
            wrong_t, wrong_a = _mixtral_counts(*config, exact=False, **{flag: False})
            if _close(t, wrong_t, rel_tol=5e-4) and not ok_t or _close(a, wrong_a, rel_tol=5e-4) and not ok_a:
                return _verdict(False, f"{args}: {hint}")
        if ok_t and _close(a, total, rel_tol=5e-4):
            return _verdict(False, f"{args}: the active count is the total: a token passes through only top_k "
                                   f"of the n_experts feed-forward blocks in each layer.")
        if ok_t:
            return _verdict(False, f"{args}: the total is right; the active count should be near "
                                   f"{active / 1e9:.1f}B: everything but the feed-forward blocks, plus top_k "
                                   f"experts per layer.")
        return _verdict(False, f"{args}: expected a total near {total / 1e9:.1f}B, got {_count(t)}; count one "
                               f"layer (attention, n_experts experts), times n_layers, plus the embedding "
                               f"and the output layer.")
    return _verdict(True, "46.7B in all and 12.9B per token for 8x7B (141B and 39B for 8x22B): the experts "
                          "copy only the feed-forward blocks.")
