"""Checkers for Chapter 5's exercises (the code: attention, the model, training, sampling)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _items, _nonfinite_hint, _number,
                                          _numbers, _same, _tensor, _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases, _seed
from llm_book.exercises.chapter1 import _count, _gpt_count


def _padded_qkv(seed: int = 5):
    g = _generator(seed)
    q, k, v = (torch.randn(2, 2, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    padding_mask = torch.tensor([[True, True, True, False, False],
                                 [True, True, True, True, True]])
    return q, k, v, padding_mask


def _attention(q, k, v, allowed, scale=True, fill=float("-inf")):
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if fill == 0.0:
        scores = scores * allowed
    else:
        scores = scores.masked_fill(~allowed, fill)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


@checker
def check_5_1(padded_attention: Callable) -> Verdict:
    """Exercise 5.1: ``padded_attention(q, k, v, padding_mask)`` -> ``(output, weights)``, no key that is padding."""
    q, k, v, padding_mask = _padded_qkv()
    allowed = padding_mask[:, None, None, :]  # (B, 1, 1, T_k)
    expected_out, expected_w = _attention(q, k, v, allowed)
    inputs = [t.clone() for t in (q, k, v, padding_mask)]
    got, hint = _call(padded_attention, *inputs)
    if hint:
        return _verdict(False, hint)
    pair, hint = _items(got, 2, "two things: (output, weights)")
    if hint:
        return _verdict(False, hint)
    (out, hint_out), (weights, hint_w) = (_tensor(t, "tensors: (output, weights)") for t in pair)
    if hint_out or hint_w:
        return _verdict(False, hint_out or hint_w)
    if any(not torch.equal(a, b) for a, b in zip(inputs, (q, k, v, padding_mask))):
        return _verdict(False, "your function changed one of its inputs in place; work on new tensors.")
    if out.shape != q.shape or weights.shape != (2, 2, 5, 5):
        return _verdict(False, f"wrong shapes: expected output {tuple(q.shape)} and weights (2, 2, 5, 5), "
                               f"got {tuple(out.shape)} and {tuple(weights.shape)}.")
    if _allclose(out, expected_out, atol=1e-6) and _allclose(weights, expected_w, atol=1e-6):
        return _verdict(True, "no query gives any weight to a padding position.")
    out, weights = out.double(), weights.double()
    if torch.isnan(weights).any() or torch.isnan(out).any():
        nan_rows = torch.isnan(weights).any(-1)  # (B, H, T_q)
        if torch.equal(nan_rows, ~padding_mask[:, None, :].expand(2, 2, 5)):
            return _verdict(False, "NaN in the rows of padding queries: you masked queries (rows) instead "
                                   "of keys (columns); the mask should broadcast as padding_mask[:, None, None, :].")
        return _verdict(False, "NaN in the weights: a query whose scores are all -inf has nothing to "
                               "attend to. Mask keys (columns) only.")
    if not torch.allclose(weights.sum(-1), torch.ones(2, 2, 5, dtype=torch.float64), atol=1e-6):
        return _verdict(False, "the weights of a query should still sum to 1: mask the scores "
                               "*before* the softmax, not the weights after it.")
    on_padding = weights[0, :, :, 3:].abs().max().item()
    if on_padding > 1e-9:
        if torch.allclose(weights, _attention(q, k, v, allowed, fill=0.0)[1], atol=1e-6):
            return _verdict(False, "a score of 0 is not 'no attention': exp(0) = 1. Set the scores "
                                   "of padding keys to -inf before the softmax.")
        return _verdict(False, f"sentence 0 still gives weight {on_padding:.3f} to its padding keys "
                               f"(positions 3 and 4); they should get exactly 0.")
    if torch.allclose(weights, _attention(q, k, v, allowed, scale=False)[1], atol=1e-6):
        return _verdict(False, "forgot the scaling: divide the scores by sqrt(d) before the softmax.")
    return _verdict(False, "the padding is ignored, but the values are off: check scores -> mask -> "
                           "softmax over the keys -> weights @ v.")


@checker
def check_5_2(gpt_parameter_count: Callable) -> Verdict:
    """Exercise 5.2: ``gpt_parameter_count(vocab_size, block_size, n_layer, n_embd)`` by formula."""
    cases = [(vocab, block, layers, width, _gpt_count(vocab, block, layers, width))
             for vocab, block, layers, width in _hidden_cases([(35, 16, 2, 64), (100, 32, 3, 48), (256, 64, 1, 32)],
                                                              [(50, 8, 2, 40)])]
    for vocab, block, layers, width, exact in cases:
        where = f"for vocab_size={vocab}, block_size={block}, n_layer={layers}, n_embd={width}"
        got, hint = _call(gpt_parameter_count, vocab, block, layers, width)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number")
        if hint:
            return _verdict(False, f"{where}: {hint}")
        if _same(got, exact):
            continue
        c = width
        if got == exact + vocab * c:
            return _verdict(False, f"{where} you count the output layer's {vocab} x {c} matrix, but it "
                                   f"shares its weights with the token embedding (counted once).")
        if got == exact - block * c:
            return _verdict(False, f"{where} the position embedding (block_size x n_embd) is missing.")
        if got == exact - 2 * c * (2 * layers + 1):
            return _verdict(False, f"{where} the LayerNorms are missing: each has a weight and a bias "
                                   f"of n_embd numbers; a block has two, and one more sits at the end.")
        if got in (exact - layers * 9 * c, exact - layers * 9 * c - c * (2 * layers + 1)):
            return _verdict(False, f"{where} the biases are missing: every nn.Linear here has one.")
        if got == exact - layers * (8 * c * c + 5 * c) + layers * (2 * c * c + 2 * c):
            return _verdict(False, f"{where} the MLP is too small: its hidden layer is 4 x n_embd wide.")
        return _verdict(False, f"{where} expected {exact:,}, got {_count(got)}; add up embeddings, "
                               f"per block (attention + MLP + 2 LayerNorms) and the final LayerNorm.")
    return _verdict(True, "the formula matches GPT.num_parameters() for three configurations.")


@checker
def check_5_5(learning_rate: Callable) -> Verdict:
    """Exercise 5.5: ``learning_rate(step, lr, warmup_steps, total_steps, min_lr)``: warm-up, then cosine."""
    from llm_book.training import lr_at

    cases = [((1e-3, 10, 100, 1e-4), step) for step in [0, 4, 9, 10, 30, 55, 80, 99, 100, 150]]
    cases = _hidden_cases(cases, [((3e-4, 4, 30, 1e-5), step) for step in [0, 2, 3, 4, 17, 29, 30, 45]])
    for (lr, warmup, total, min_lr), step in cases:
        exact = lr_at(step, lr, warmup, total, min_lr)
        got, hint = _call(learning_rate, step, lr, warmup, total, min_lr)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number")
        if hint:
            return _verdict(False, f"at step {step}: {hint}")
        if _close(got, exact, rel_tol=1e-9, abs_tol=1e-15):
            continue
        if step < warmup:
            if _close(got, lr * step / warmup, rel_tol=1e-9, abs_tol=1e-15):
                return _verdict(False, f"at step {step} you give {got:.2e}: the warm-up is one step late "
                                       f"(step 0 would get lr 0 and be wasted); use (step + 1) / warmup_steps.")
            return _verdict(False, f"during warm-up (step {step}) the rate should rise linearly to lr; "
                                   f"expected {exact:.2e}, got {got:.2e}.")
        if step >= total:
            return _verdict(False, f"after total_steps (step {step}) the rate should stay at min_lr "
                                   f"= {min_lr:.0e}, got {got:.2e}.")
        progress = (step - warmup) / (total - warmup)
        if _close(got, 0.5 * lr * (1 + math.cos(math.pi * progress)), rel_tol=1e-9):
            return _verdict(False, f"at step {step} the decay goes to 0, not to min_lr: "
                                   f"min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2.")
        return _verdict(False, f"at step {step} expected {exact:.3e}, got {got:.3e}; progress through "
                               f"the decay is (step - warmup_steps) / (total_steps - warmup_steps).")
    return _verdict(True, "linear warm-up, then a cosine down to min_lr.")


def _filter_case(seed: int):
    g = _generator(seed)
    logits = torch.randn(3, 12, generator=g)
    logits[2, 3] = logits[2, 7] = logits[2].max() + 1.0  # a tie at the top of row 2
    return logits


def _filter_verdict(got, expected: torch.Tensor, given: torch.Tensor, logits: torch.Tensor,
                    arg: str) -> tuple[str | None, torch.Tensor | None]:
    """``(None, tensor)`` when ``got`` is right; else ``(hint, tensor or None)``: the checks top-k and top-p share."""
    if not torch.equal(given, logits):
        return "your function changed its input logits in place; return a new tensor (e.g. masked_fill).", None
    got, hint = _tensor(got, f"a tensor of shape {tuple(expected.shape)} (like the input)")
    if hint:
        return hint, None
    if got.shape != expected.shape:
        return f"wrong shape: expected {tuple(expected.shape)} (like the input), got {tuple(got.shape)}.", None
    removed_expected = torch.isneginf(expected)
    kept = ~removed_expected
    if torch.isnan(got).any() or torch.isposinf(got).any():
        return (f"the result contains {'nan' if torch.isnan(got).any() else '+inf'}: removed tokens get the "
                f"logit -inf, kept ones keep their logit."), got
    if torch.equal(torch.isneginf(got), removed_expected) and \
            _allclose(got[kept], expected[kept].double(), atol=0.0):
        return None, got
    if torch.isfinite(got).all():
        if ((got >= 0) & (got <= 1)).all() and torch.allclose(got.sum(-1), torch.ones(got.shape[0], dtype=got.dtype),
                                                              atol=1e-4):
            return "return filtered *logits* (removed ones at -inf), not probabilities.", got
        if torch.equal(got != 0, kept):
            return "removed tokens should get the logit -inf (probability 0 after softmax), not 0.", got
        return "no logit became -inf: nothing was removed.", got
    kept_got = ~torch.isneginf(got)
    if torch.equal(kept_got, kept):
        return "the right tokens are kept, but their logits changed: keep them exactly as they were.", got
    row = int((kept_got != kept).any(-1).double().argmax())
    n_got, n_exp = int(kept_got[row].sum()), int(kept[row].sum())
    return f"row {row} keeps {n_got} token(s), expected {n_exp} ({arg}); each row is filtered on its own.", got


@checker
def check_5_9(my_top_k: Callable) -> Verdict:
    """Exercise 5.9: ``my_top_k(logits, k)`` keeps the k largest logits of each row; the rest -inf."""
    from llm_book.sampling import top_k_filter

    for seed, k in [(0, 3), (1, 1), (2, 5), (3, 12)]:
        logits = _filter_case(seed)
        expected = top_k_filter(logits.clone(), k)
        given = logits.clone()
        got, hint = _call(my_top_k, given, k)
        if hint:
            return _verdict(False, hint)
        problem, got = _filter_verdict(got, expected, given, logits, f"k = {k}")
        if problem is None:
            continue
        if got is not None and problem.startswith("row "):
            kept = ~torch.isneginf(got)
            if int(kept.sum()) == k and expected.shape[0] > 1:
                problem = (f"only {k} token(s) kept in the whole batch: take the top k of each row "
                           f"(dim=-1), not of the flattened tensor.")
            elif int(torch.isfinite(expected[2]).sum()) > k and int(kept[2].sum()) == k \
                    and torch.equal(kept[:2], torch.isfinite(expected[:2])):
                problem = (f"row 2 has two tokens tied for the largest logit; with k = {k} keep every "
                           f"token whose logit is >= the k-th largest value, so ties are all kept.")
        return _verdict(False, problem)
    return _verdict(True, "your top-k filter agrees with llm_book.sampling.top_k_filter.")


@checker
def check_5_10(my_top_p: Callable) -> Verdict:
    """Exercise 5.10: ``my_top_p(logits, p)`` keeps the smallest set of top tokens whose probability reaches p."""
    from llm_book.sampling import top_p_filter

    cases = [(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), 0.75),  # 0.5 + 0.3 reaches 0.75
             (torch.log(torch.tensor([[0.05, 0.15, 0.5, 0.3]])), 0.7),   # not sorted; needs 2 tokens (0.5 + 0.3)
             (_filter_case(4), 0.6), (_filter_case(5), 0.95), (_filter_case(6), 0.01)]
    for logits, p in cases:
        expected = top_p_filter(logits.clone(), p)
        given = logits.clone()
        got, hint = _call(my_top_p, given, p)
        if hint:
            return _verdict(False, hint)
        problem, got = _filter_verdict(got, expected, given, logits, f"p = {p}")
        if problem is None:
            continue
        if got is not None and problem.startswith("row "):
            n_got = (~torch.isneginf(got)).sum(-1)
            n_exp = torch.isfinite(expected).sum(-1)
            if (n_got == n_exp - 1).any() and (n_got <= n_exp).all():
                problem += (" Too few: keep the token that makes the total reach p, too "
                            "(remove a token only when the tokens *before* it already reach p).")
            elif (n_got > n_exp).all():
                problem += " Too many: sort the probabilities in descending order and stop once p is reached."
        return _verdict(False, problem)
    return _verdict(True, "your nucleus filter agrees with llm_book.sampling.top_p_filter.")


# ---------------------------------------------------------------------------
# Notebook 5a: Exercises 5.3 (find the bug: the head split) and 5.4 (derive: attention FLOPs)
# ---------------------------------------------------------------------------
def _heads_attention(layer, x: torch.Tensor, split_bug: bool = False, merge_bug: bool = False,
                     scale: str = "head", masked: bool = True) -> torch.Tensor:
    """A causal ``SelfAttention`` forward by hand, with any of Exercise 5.3's mistakes switched on."""
    from llm_book.attention import causal_mask

    B, T, C = x.shape
    H = layer.num_heads
    D = C // H

    def split(t):                                                  # (B, T, C) -> (B, H, T, D)
        return t.view(B, H, T, D) if split_bug else t.view(B, T, H, D).transpose(1, 2)

    q, k, v = split(layer.query(x)), split(layer.key(x)), split(layer.value(x))
    scores = q @ k.transpose(-2, -1) / math.sqrt({"head": D, "model": C, "none": 1}[scale])
    if masked:
        scores = scores.masked_fill(~causal_mask(T), float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v                          # (B, H, T, D)
    y = y.reshape(B, T, C) if merge_bug else y.transpose(1, 2).reshape(B, T, C)
    return layer.out(y)


def _layer_5_6():
    from llm_book.attention import SelfAttention

    torch.manual_seed(_seed(56))
    layer = SelfAttention(16, 4, causal=True).double().eval()
    g = _generator(56)
    x = torch.randn(2, 6, 16, generator=g, dtype=torch.float64)
    later = x.clone()
    later[:, 4:] = torch.randn(2, 2, 16, generator=g, dtype=torch.float64)  # other tokens at 4 and 5
    return layer, x, later


class _LayerParts:
    """Exercise 5.3's layer as the reader's function gets it: its parts, but no forward to call.

    The exercise is to compute by hand what the layer computes; calling ``layer(x)`` would skip it.
    Every other attribute (``query``, ``key``, ``value``, ``out``, ``num_heads``, ...) is the layer's own.
    """

    def __init__(self, layer):
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "called", False)

    def __getattr__(self, name):
        return getattr(object.__getattribute__(self, "_layer"), name)

    def __call__(self, *args, **kwargs):
        object.__setattr__(self, "called", True)
        raise RuntimeError("Exercise 5.3 computes the layer by hand: layer(x) is not available here")

    forward = __call__


@checker
def check_5_3(fixed_attention: Callable) -> Verdict:
    """Exercise 5.3: ``fixed_attention(layer, x)``: the buggy split into heads, fixed."""
    layer, x, later = _layer_5_6()
    state = {name: t.clone() for name, t in layer.state_dict().items()}
    with torch.no_grad():
        expected = layer(x)
    outputs = []
    for inputs in (x, later):
        given = inputs.clone()
        parts = _LayerParts(layer)
        with torch.no_grad():
            got, hint = _call(fixed_attention, parts, given)
        if parts.called:
            return _verdict(False, "you called the layer itself (layer(x) or layer.forward): that skips the "
                                   "exercise. Compute it by hand with layer.query, layer.key, layer.value and "
                                   "layer.out, as buggy_attention does, and fix its split into heads.")
        if hint:
            return _verdict(False, hint)
        if not torch.equal(given, inputs) or any(not torch.equal(t, state[n]) for n, t in layer.state_dict().items()):
            return _verdict(False, "your function changed x or the layer's weights in place; work on new tensors.")
        got, hint = _tensor(got, f"a tensor of shape {tuple(x.shape)} (batch, T, embed_dim)")
        if hint:
            return _verdict(False, hint)
        if got.shape != x.shape:
            return _verdict(False, f"wrong shape: expected {tuple(x.shape)} (batch, T, embed_dim), "
                                   f"got {tuple(got.shape)}.")
        outputs.append(got)
    got, got_later = outputs
    if _allclose(got, expected, atol=1e-6):
        return _verdict(True, "it matches llm_book's SelfAttention, and the outputs at positions 0-3 no "
                              "longer move when tokens 4 and 5 change.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint + " (does every query still see its own position?)")
    leaks = not _allclose(got_later[:, :4], got[:, :4], atol=1e-9)
    with torch.no_grad():
        variants = [(dict(split_bug=True), "the split into heads is still wrong: view(B, H, T, D) cuts the "
                     "flat row of numbers into heads, so a head's 'token' is a piece of some other token. "
                     "Split each token: view(B, T, H, D), then transpose(1, 2)."),
                    (dict(split_bug=True, merge_bug=True), "nothing leaks any more, but only because the merge "
                     "now undoes the wrong split exactly: each head still works on pieces of a few tokens "
                     "instead of a slice of every token. Split with view(B, T, H, D).transpose(1, 2) and keep "
                     "the given merge."),
                    (dict(merge_bug=True), "the split is fixed, but the merge is not: (B, H, T, D) has to "
                     "go back to (B, T, H, D) with transpose(1, 2) before reshape(B, T, C); a bare reshape "
                     "glues several positions of one head into one token."),
                    (dict(scale="model"), "the reshapes are right, but the scale is not: divide by the "
                     "square root of one head's width D, not of the model width C."),
                    (dict(scale="none"), "the reshapes are right, but the scores are no longer divided "
                     "by sqrt(D); keep the given scaling."),
                    (dict(masked=False), "the reshapes are right, but the causal mask is gone: keep it.")]
        for kwargs, message in variants:
            if _allclose(got, _heads_attention(layer, x, **kwargs), atol=1e-6):
                if leaks and (kwargs.get("split_bug") or kwargs.get("merge_bug")):
                    message += " (That is why the outputs at positions 0-3 move when tokens 4 and 5 change.)"
                return _verdict(False, message)
    if leaks:
        return _verdict(False, "the future still leaks: the outputs at positions 0-3 change when only "
                               "tokens 4 and 5 change. A reshape that mixes positions does that even with "
                               "a causal mask: check the split into heads and the merge back.")
    return _verdict(False, "causal now, but the values differ from llm_book's SelfAttention: keep the "
                           "given steps (projections, split, scores / sqrt(D), mask, softmax, weights @ v, "
                           "merge, out) and fix only the split into heads.")


@checker
def check_5_4(attention_flops: Callable) -> Verdict:
    """Exercise 5.4: ``attention_flops(T, n_head, head_size)`` -> ``(products, projections)`` for one sequence."""
    from torch.utils.flop_counter import FlopCounterMode

    from llm_book.attention import SelfAttention

    for T, H, D in _hidden_cases([(6, 3, 16), (32, 2, 8), (10, 3, 5)], [(12, 4, 6)]):
        C = H * D
        layer = SelfAttention(C, H, causal=True).eval()
        x = torch.zeros(1, T, C)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            layer(x, output_attentions=True)  # the formula step by step (the fused kernel's FLOPs go uncounted)
        counts = counter.get_flop_counts()["Global"]
        measured = {"products": sum(n for op, n in counts.items() if "bmm" in str(op)),
                    "projections": sum(n for op, n in counts.items() if "bmm" not in str(op))}
        where = f"for T={T}, n_head={H}, head_size={D}"
        got, hint = _call(attention_flops, T, H, D)
        if hint:
            return _verdict(False, hint)
        items, hint = _items(got, 2, "two numbers: (products, projections)")
        if hint:
            return _verdict(False, hint)
        numbers = []
        for name, item in zip(("products", "projections"), items):
            number, hint = _number(item, f"a number for `{name}`")
            if hint:
                return _verdict(False, f"{where}: {hint}")
            numbers.append(number)
        products, projections = numbers
        if not _same(products, measured["products"]):
            exact = measured["products"]
            mistakes = [(exact / 2, "half the measured count: there are two products (Q K^T and weights @ V), "
                                    "and a multiply-add counts as 2 FLOPs; one of the two factors 2 is missing."),
                        (exact / 4, "a quarter of the measured count: count both products (Q K^T and "
                                    "weights @ V) and 2 FLOPs per multiply-add."),
                        (exact * H, "n_head too often: each head's products cost 2 * T * T * head_size "
                                    "FLOPs, times n_head heads, once."),
                        (exact / H, "the heads are missing: every head computes its own T x T scores."),
                        (exact / T, "linear in T, but each of the T queries meets all T keys: T^2."),
                        (exact * 2, "twice the measured count: a multiply-add is 2 FLOPs, already counted "
                                    "once per product.")]
            message = next((m for wrong, m in mistakes if _same(products, wrong)), None)
            return _verdict(False, f"{where}, `products`: " + (message or (
                f"expected {exact:,} FLOPs (torch's FlopCounterMode on llm_book's SelfAttention), got "
                f"{_count(products)}; each product multiplies a T x head_size by a head_size x T matrix (or "
                f"T x T by T x head_size), per head.")))
        if not _same(projections, measured["projections"]):
            exact = measured["projections"]
            mistakes = [(exact / 2, "half: a T x C by C x C product is T * C * C multiply-adds = 2 * T * C * C FLOPs."),
                        (exact * 3 / 4, "three quarters: the output projection `out` is a fourth C x C layer."),
                        (exact / 4, "a quarter: there are four projections (query, key, value, out), each "
                                    "2 * T * C * C FLOPs."),
                        (exact / H, "per head: the projections act on the full width C = n_head * head_size."),
                        (exact / 4 / H, "the projections act on the full width C = n_head * head_size, and "
                                        "there are four of them.")]
            message = next((m for wrong, m in mistakes if _same(projections, wrong)), None)
            return _verdict(False, f"{where}, `projections`: " + (message or (
                f"expected {exact:,} FLOPs (measured), got {_count(projections)}; four C x C layers on T tokens, "
                f"C = n_head * head_size, 2 FLOPs per multiply-add.")))
    return _verdict(True, "products 4 * n_head * T^2 * head_size, projections 8 * T * C^2, both as torch "
                          "counts them; the products overtake the projections once T > 2C.")


# ---------------------------------------------------------------------------
# Notebook 5c: Exercises 5.11 (predict: what the key/value cache holds) and 5.12 (derive: its memory)
# ---------------------------------------------------------------------------
def _measured_cache(batch: int, prompt_len: int, new_tokens: int, n_layer: int, n_head: int, n_embd: int,
                    dtype: torch.dtype = torch.float32):
    """The ``KVCache`` that ``greedy(..., use_cache=True)`` builds, caught on its way (no end token)."""
    import llm_book.sampling as sampling
    from llm_book.model import GPT, GPTConfig, KVCache

    torch.manual_seed(_seed(511))
    model = GPT(GPTConfig(vocab_size=13, block_size=16, n_layer=n_layer, n_head=n_head, n_embd=n_embd)).to(dtype)
    prompt = torch.randint(0, 13, (batch, prompt_len), generator=_generator(512))
    caches = []

    class Recorded(KVCache):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            caches.append(self)

    sampling.KVCache = Recorded
    try:
        sampling.greedy(model, prompt, new_tokens, use_cache=True)
    finally:
        sampling.KVCache = KVCache
    return caches[0]


@checker
def check_5_11(cache_shape: Callable) -> Verdict:
    """Exercise 5.11: ``cache_shape(batch, prompt_len, new_tokens, n_head, n_embd)``: one layer's stored keys
    after ``greedy(model, prompt, new_tokens, use_cache=True)``."""
    for batch, prompt_len, new, H, C in _hidden_cases([(3, 5, 2, 2, 32), (1, 2, 3, 4, 64), (2, 1, 6, 8, 32)],
                                                      [(2, 3, 4, 4, 32)]):
        cache = _measured_cache(batch, prompt_len, new, 2, H, C)
        expected = tuple(cache.layers[0].k.shape)
        b, h, T, D = expected
        where = f"for batch={batch}, prompt_len={prompt_len}, new_tokens={new}, n_head={H}, n_embd={C}"
        got, hint = _call(cache_shape, batch, prompt_len, new, H, C)
        if hint:
            return _verdict(False, hint)
        numbers, hint = _numbers(got, 4, "the 4 sizes (batch, heads, positions, head_size)", "whole numbers")
        if hint:
            return _verdict(False, f"{where}: {hint}")
        fraction = next((x for x in numbers if x != int(x)), None)
        if fraction is not None:
            return _verdict(False, f"{where}: sizes are whole numbers, got {float(fraction):g}.")
        sizes = tuple(int(x) for x in numbers)
        if sizes == expected:
            continue
        if sorted(sizes) == sorted(expected):
            if sizes == (b, T, h, D):
                return _verdict(False, f"{where}: right sizes, wrong order: the package stores "
                                       f"(batch, heads, positions, head_size), heads before positions, the "
                                       f"layout the attention computes with.")
            return _verdict(False, f"{where}: right sizes, wrong order: (batch, heads, positions, head_size).")
        if sizes[0] != b:
            return _verdict(False, f"{where}: the first size is the batch: every sequence has its own keys.")
        if sizes[1] != h:
            return _verdict(False, f"{where}: the second size is the number of heads ({H}): each head has "
                                   f"its own keys.")
        if sizes[3] != D:
            if sizes[3] == C:
                return _verdict(False, f"{where}: each head stores head_size = n_embd // n_head = {D} numbers "
                                       f"per position; all heads together hold n_embd.")
            return _verdict(False, f"{where}: the last size is one head's width, n_embd // n_head.")
        if sizes[2] == prompt_len + new:
            return _verdict(False, f"{where}: {sizes[2]} positions is one too many. The loop appends the last "
                                   f"token it picks to the text but never feeds it back through the model, so "
                                   f"its key and value are never computed.")
        if sizes[2] in (new, new - 1):
            return _verdict(False, f"{where}: the prompt's keys and values are cached too: the first step "
                                   f"runs the whole prompt through the model.")
        return _verdict(False, f"{where}: {sizes[2]} positions; count the tokens that have gone *through* "
                               f"the model: the prompt in step 1, then one token per later step.")
    return _verdict(True, "prompt_len + new_tokens - 1 positions per layer: the last token picked has not "
                          "been through the model yet (checked on the cache greedy builds).")


@checker
def check_5_12(kv_bytes_per_token: Callable) -> Verdict:
    """Exercise 5.12: ``kv_bytes_per_token(n_layer, n_embd, bytes_per_number)``: the cache's memory per token."""
    for L, H, C, dtype in _hidden_cases([(3, 16, 64, torch.float32), (2, 2, 32, torch.float64),
                                         (1, 8, 16, torch.float32)], [(2, 4, 48, torch.float64)]):
        cache = _measured_cache(2, 3, 4, L, H, C, dtype)
        positions = 2 * len(cache)                                 # batch x positions
        stored = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.k, layer.v))
        exact = stored / positions
        nbytes = torch.finfo(dtype).bits // 8
        where = f"for n_layer={L}, n_embd={C}, bytes_per_number={nbytes}"
        got, hint = _call(kv_bytes_per_token, L, C, nbytes)
        if hint:
            return _verdict(False, hint)
        got, hint = _number(got, "one number (bytes)")
        if hint:
            return _verdict(False, f"{where}: {hint}")
        if _same(got, exact):
            continue
        mistakes = [(exact / 2, "half the measured size: the cache holds two tensors per layer, keys *and* values."),
                    (exact * 3 / 2, "too much: queries are not cached (each is used once, at its own step); "
                                    "only keys and values."),
                    (exact / L, "every layer stores its own keys and values: times n_layer."),
                    (exact / 2 / L, "two tensors (keys and values) in every one of the n_layer layers."),
                    (exact * 8, "that is bits: count bytes (bytes_per_number), not bits."),
                    (exact / nbytes, "that counts numbers, not bytes: times bytes_per_number."),
                    (exact * H, "n_embd already counts all heads (n_head x head_size); do not multiply by n_head."),
                    (exact / H, "one head's width is not enough: all heads together store n_embd numbers per "
                                "position and layer."),
                    (exact * 2, "twice the measured size: per layer, keys and values are n_embd numbers each.")]
        message = next((m for wrong, m in mistakes if _same(got, wrong) and wrong != exact), None)
        return _verdict(False, f"{where}: " + (message or (
            f"expected {exact:,.0f} bytes (measured on the cache greedy builds), got {_count(got)}; "
            f"count keys and values, per layer, n_embd numbers each, bytes_per_number each.")))
    return _verdict(True, "2 x n_layer x n_embd x bytes per token, as the package's cache measures it.")


# ---------------------------------------------------------------------------
# 5b: warm-up (5.6), padding versus packing (5.7), epochs of random windows (5.8)
# ---------------------------------------------------------------------------
WARMUP_RECIPE = {"lr": 3e-2, "steps": 60, "batch_size": 32, "block_size": 16, "seed": 0}
"""Exercise 5.6's runs: the toy GPT (2 layers, 4 heads, 64 wide), packed windows, peak rate 3e-2."""


def _first_toy_loss() -> float:
    """The loss of the seeded, untrained toy GPT on the first packed batch: step 1 of every 5.6 run."""
    import llm_book
    from llm_book.language import ToyLanguage
    from llm_book.model import GPT, GPTConfig
    from llm_book.tokenizer import WordTokenizer
    from llm_book.training import PackedLanguageSampler

    r = WARMUP_RECIPE
    language = ToyLanguage()
    tokenizer = WordTokenizer(language.vocab, eos=language.eos)
    sampler = PackedLanguageSampler(language, tokenizer, r["block_size"])
    llm_book.set_seed(r["seed"])
    model = GPT(GPTConfig(vocab_size=len(tokenizer), block_size=r["block_size"], n_layer=2, n_head=4, n_embd=64))
    # the recipe's seed, hidden or not: the reader's runs use it too
    idx, targets = sampler(r["batch_size"], torch.Generator().manual_seed(r["seed"]))
    with torch.no_grad():
        return model(idx, targets).loss.item()


WARMUP_CHOICES = {
    "a": "without warm-up the first, full-size updates hit random weights and throw the model off: "
         "the loss is erratic early and still clearly higher after 60 steps",
    "b": "without warm-up the model learns at full speed from the start, so its loss ends lower",
    "c": "warm-up only changes the first few steps: by step 60 both runs reach the same loss",
}
"""Exercise 5.6's explanations to choose from (the key is the answer)."""


def _losses(x, steps: int, which: str) -> tuple[list[float] | None, str | None]:
    t, hint = _tensor(x, f"a list of {steps} training losses")
    if hint:
        return None, f"{which}: {hint}"
    if t.dim() != 1 or len(t) != steps:
        return None, (f"{which}: return one training loss per step, {steps} numbers (history.loss), "
                      f"got a tensor of shape {tuple(t.shape)}.")
    if hint := _nonfinite_hint(t):
        return None, f"{which}: {hint} A run that diverged? Check lr={WARMUP_RECIPE['lr']}."
    return [float(v) for v in t.double().tolist()], None


@checker
def check_5_6(early_losses: Callable, explanation: str | None = None) -> Verdict:
    """Exercise 5.6 (modify and measure): ``early_losses(warmup_steps)`` -> the 60 training losses of
    ``WARMUP_RECIPE`` with that warm-up; ``explanation``, optional, a key of ``WARMUP_CHOICES``."""
    r = WARMUP_RECIPE
    first = _first_toy_loss()
    runs = {}
    for warmup in (0, 20):
        which = f"early_losses({warmup})"
        got, hint = _call(early_losses, warmup)
        if hint:
            return _verdict(False, f"{which}: {hint}")
        losses, hint = _losses(got, r["steps"], which)
        if hint:
            return _verdict(False, hint)
        if not math.isclose(losses[0], first, abs_tol=2e-3):
            if losses[0] < first - 0.5:
                return _verdict(False, f"{which}: the loss at step 1 is {losses[0]:.3f}, below an untrained "
                                       f"model's {first:.3f}: build a fresh GPT inside the function for every run.")
            return _verdict(False, f"{which}: the loss at step 1 is {losses[0]:.3f}, but the seeded untrained "
                                   f"model scores {first:.3f} on the first batch: call llm_book.set_seed(0) "
                                   f"right before GPT(config), and draw the batches from "
                                   f"PackedLanguageSampler(..., block_size=16)(32, generator) with "
                                   f"generator = torch.Generator().manual_seed(0).")
        runs[warmup] = losses
    if runs[0] == runs[20]:
        return _verdict(False, "both runs gave the same losses: pass warmup_steps on to "
                               "train(..., warmup_steps=warmup_steps).")
    end = {w: sum(losses[40:]) / 20 for w, losses in runs.items()}
    measured = (f"mean loss over steps 41-60: {end[0]:.2f} without warm-up, {end[20]:.2f} with 20 steps "
                f"of warm-up")
    if end[0] < end[20] + 0.2:
        return _verdict(False, f"{measured}; at a peak rate of {r['lr']:g} the run without warm-up should end "
                               f"clearly higher: check lr={r['lr']:g}, steps={r['steps']} and batches of "
                               f"{r['batch_size']} windows.")
    if explanation is None:
        return _verdict(True, f"{measured}. Now pick the explanation that fits.")
    if callable(explanation):
        explanation, hint = _call(explanation)
        if hint:
            return _verdict(False, f"`explanation`: {hint}")
    key = explanation.strip().lower().strip("().") if isinstance(explanation, str) else None
    if key == "a":  # no digits: a stored verdict has to read the same on every processor
        return _verdict(True, "without warm-up the run ends clearly higher (mean loss over steps 41-60): "
                              "full-size steps on random weights undo more than they teach; warm-up lets "
                              "the optimiser's statistics settle first.")
    if key == "b":
        return _verdict(False, f"`explanation`: your own runs say otherwise ({measured}): the early "
                               f"full-size steps cost more than they gain.")
    if key == "c":
        return _verdict(False, f"`explanation`: your own runs say otherwise ({measured}): the damage of "
                               f"the first steps without warm-up is still there at step 60.")
    return _verdict(False, f"`explanation`: pick one of {sorted(WARMUP_CHOICES)} (a letter of "
                           f"WARMUP_CHOICES), got {explanation!r}.")


@checker
def check_5_7(count_targets: Callable) -> Verdict:
    """Exercise 5.7 (predict then check): ``count_targets(lengths, block_size)`` ->
    ``(padded, packed, never)``: trained targets of a padded batch (one sentence of each length a row),
    of a packed batch of the same shape, and the positions no row of the padded batch trains."""
    cases = _hidden_cases([([7, 7, 7, 11], 16), ([3, 5, 9], 8), ([2, 4], 5), ([11] * 3 + [4], 12)],
                          [([5, 6, 13], 14)])
    for lengths, block in cases:
        rows = len(lengths)
        padded, packed, never = sum(n - 1 for n in lengths), rows * block, block - (max(lengths) - 1)
        where = f"for sentences of {lengths} tokens and block_size={block}"
        got, hint = _call(count_targets, list(lengths), block)
        if hint:
            return _verdict(False, hint)
        items, hint = _items(got, 3, "three counts: (padded, packed, never)")
        if hint:
            return _verdict(False, hint)
        numbers = []
        for name, item in zip(("padded", "packed", "never"), items):
            number, hint = _number(item, "a whole number")
            if hint:
                return _verdict(False, f"{where}, `{name}`: {hint}")
            numbers.append(float(number))
        g_padded, g_packed, g_never = numbers
        if g_padded != padded:
            if g_padded == sum(lengths):
                return _verdict(False, f"{where} `padded` is {g_padded:g}: a sentence of n tokens gives n - 1 "
                                       f"targets (its first token is never predicted; its <eos> is).")
            if g_padded == rows * block:
                return _verdict(False, f"{where} `padded` counts every position; the padding's targets are "
                                       f"-100, which the loss skips.")
            if g_padded == sum(n - 2 for n in lengths):
                return _verdict(False, f"{where} `padded` is one short per sentence: the <eos> is a target too "
                                       f"(the model learns where a sentence ends).")
            return _verdict(False, f"{where} `padded` should be {padded}, got {g_padded:g}: count, in each row, "
                                   f"the targets that are real words.")
        if g_packed != packed:
            if g_packed == rows * (block + 1):
                return _verdict(False, f"{where} `packed` is {g_packed:g}: a window of block_size + 1 tokens gives "
                                       f"block_size inputs and block_size targets.")
            if g_packed == padded:
                return _verdict(False, f"{where} `packed` equals `padded`; but packing leaves no padding: every "
                                       f"position of every row has a real target.")
            return _verdict(False, f"{where} `packed` should be {packed}, got {g_packed:g}: the batch has the "
                                   f"same shape, rows x block_size, and no padding.")
        if g_never != never:
            if g_never == block - max(lengths):
                return _verdict(False, f"{where} `never` is one short: the longest sentence ({max(lengths)} "
                                       f"tokens) trains positions 0 to {max(lengths) - 2}, that is "
                                       f"{max(lengths) - 1} positions.")
            if g_never == 0 and never > 0:
                return _verdict(False, f"{where} `never` is 0, but no row has a real target past position "
                                       f"{max(lengths) - 2}: positions after the longest sentence are padding "
                                       f"in every row.")
            return _verdict(False, f"{where} `never` should be {never}, got {g_never:g}: which positions does "
                                   f"no sentence reach?")
    return _verdict(True, "n - 1 targets per padded sentence, rows x block_size when packed, and the positions "
                          "past the longest sentence are never trained under padding.")


def _never_covered(n_chars: int, batch_size: int, block_size: int, steps: int, seed: int = 0) -> float:
    """Measured: share of positions that are no window's target after ``steps`` batches of random windows.

    Windows start as ``CharCorpus.batch`` starts them: uniformly in ``[0, n_chars - block_size)``; the
    targets of a window starting at s are the characters s + 1 ... s + block_size.
    """
    g = _generator(seed)
    starts = torch.randint(n_chars - block_size, (steps * batch_size,), generator=g)
    covered = torch.zeros(n_chars + 1, dtype=torch.int64)
    covered.index_add_(0, starts + 1, torch.ones_like(starts))          # a window begins covering at s + 1 ...
    covered.index_add_(0, starts + 1 + block_size, -torch.ones_like(starts))   # ... and stops after s + block
    return (covered.cumsum(0)[:n_chars] == 0).double().mean().item()


@checker
def check_5_8(epoch_facts: Callable) -> Verdict:
    """Exercise 5.8 (derive): ``epoch_facts(n_chars, batch_size, block_size)`` -> ``(steps, never)``:
    steps per epoch (steps whose windows hold as many targets as the text has characters) and the
    expected share of characters that were no window's target after those steps."""
    cases = [(418_712, 32, 128), (418_712, 32, 32), (20_000, 8, 50)]   # the shipped run, 5b's, a small one
    cases = _hidden_cases(cases, [(100_000, 16, 64)])
    for n, batch, block in cases:
        steps = n / (batch * block)
        never = (1 - block / (n - block)) ** (steps * batch)
        where = f"for {n:,} characters, batch_size={batch}, block_size={block}"
        got, hint = _call(epoch_facts, n, batch, block)
        if hint:
            return _verdict(False, hint)
        items, hint = _items(got, 2, "two numbers: (steps, never)")
        if hint:
            return _verdict(False, hint)
        (g_steps, hint_s), (g_never, hint_n) = (_number(v, "a number") for v in items)
        if hint_s or hint_n:
            return _verdict(False, f"{where}: {hint_s or hint_n}")
        if abs(g_steps - steps) > 1:
            if _close(g_steps, n / batch, rel_tol=1e-3):
                return _verdict(False, f"{where} `steps` is {g_steps:,.0f}: a step trains batch_size windows of "
                                       f"block_size targets each, batch_size x block_size characters.")
            if _close(g_steps, n / block, rel_tol=1e-3):
                return _verdict(False, f"{where} `steps` is {g_steps:,.0f}: that many windows make an epoch, "
                                       f"but a step has batch_size of them.")
            return _verdict(False, f"{where} `steps` should be about {steps:,.1f}, got {g_steps:,.1f}: "
                                   f"characters in the text / characters a step trains on.")
        if not 0 <= g_never <= 1:
            return _verdict(False, f"{where} `never` is {g_never:g}: a share of the characters, between 0 and 1.")
        if abs(g_never - never) > 0.01:
            if g_never < 0.01:
                return _verdict(False, f"{where} `never` is {g_never:g}: the windows start at random, so they "
                                       f"overlap and leave gaps. One window misses a given character with "
                                       f"probability 1 - block_size / n; how many windows are there?")
            if abs(g_never - (1 - never)) < 0.01:
                return _verdict(False, f"{where} `never` is {g_never:.3f}: that is the share covered at least "
                                       f"once; the question asks for the share never covered.")
            return _verdict(False, f"{where} `never` should be about {never:.3f}, got {g_never:.3f}: "
                                   f"(1 - block_size / n) to the power of the number of windows.")
    n, batch, block = cases[1]                                        # 5b's live run
    steps = round(n / (batch * block))
    measured = _never_covered(n, batch, block, steps)
    return _verdict(True, f"an epoch is n / (batch x block) steps, and random windows leave about "
                          f"(1 - block/n)^(n/block) ~ 1/e = {math.exp(-1):.3f} of the text untouched; "
                          f"measured on {steps} steps of {batch} random windows of {block} in {n:,} "
                          f"characters: {measured:.3f}.")
