"""Checkers for Chapter 5's exercises (the code: attention, the model, training, sampling)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _items, _number,
                                          _same, _tensor, _verdict, checker)
from llm_book.exercises.chapter1 import _count, _gpt_count


def _padded_qkv(seed: int = 5):
    g = torch.Generator().manual_seed(seed)
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
             for vocab, block, layers, width in [(35, 16, 2, 64), (100, 32, 3, 48), (256, 64, 1, 32)]]
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
def check_5_3(learning_rate: Callable) -> Verdict:
    """Exercise 5.3: ``learning_rate(step, lr, warmup_steps, total_steps, min_lr)``: warm-up, then cosine."""
    from llm_book.training import lr_at

    lr, warmup, total, min_lr = 1e-3, 10, 100, 1e-4
    for step in [0, 4, 9, 10, 30, 55, 80, 99, 100, 150]:
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
    g = torch.Generator().manual_seed(seed)
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
def check_5_4(my_top_k: Callable) -> Verdict:
    """Exercise 5.4: ``my_top_k(logits, k)`` keeps the k largest logits of each row; the rest -inf."""
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
def check_5_5(my_top_p: Callable) -> Verdict:
    """Exercise 5.5: ``my_top_p(logits, p)`` keeps the smallest set of top tokens whose probability reaches p."""
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
