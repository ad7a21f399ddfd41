"""Checkers for Chapter 5's exercises (the code: attention, the model, training, sampling)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llm_book.exercises._checking import Verdict, _as_tensor, _call, _report


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


def check_5_1(padded_attention: Callable) -> Verdict:
    """Exercise 5.1: ``padded_attention(q, k, v, padding_mask)`` -> ``(output, weights)``, no key that is padding."""
    q, k, v, padding_mask = _padded_qkv()
    inputs = [t.clone() for t in (q, k, v, padding_mask)]
    got, hint = _call(padded_attention, *inputs)
    if hint:
        return _report(False, hint)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return _report(False, "return two things: (output, weights).")
    out, weights = (_as_tensor(t) for t in got)
    if out is None or weights is None:
        return _report(False, "return tensors: (output, weights).")
    if any(not torch.equal(a, b) for a, b in zip(inputs, (q, k, v, padding_mask))):
        return _report(False, "your function changed one of its inputs in place; work on new tensors.")
    if out.shape != q.shape or weights.shape != (2, 2, 5, 5):
        return _report(False, f"wrong shapes: expected output {tuple(q.shape)} and weights (2, 2, 5, 5), "
                              f"got {tuple(out.shape)} and {tuple(weights.shape)}.")
    allowed = padding_mask[:, None, None, :]  # (B, 1, 1, T_k)
    expected_out, expected_w = _attention(q, k, v, allowed)
    if torch.allclose(out, expected_out, atol=1e-6) and torch.allclose(weights, expected_w, atol=1e-6):
        return _report(True, "no query gives any weight to a padding position.")
    if torch.isnan(weights).any() or torch.isnan(out).any():
        nan_rows = torch.isnan(weights).any(-1)  # (B, H, T_q)
        if torch.equal(nan_rows, ~padding_mask[:, None, :].expand(2, 2, 5)):
            return _report(False, "NaN in the rows of padding queries: you masked queries (rows) instead "
                                  "of keys (columns); the mask should broadcast as padding_mask[:, None, None, :].")
        return _report(False, "NaN in the weights: a query whose scores are all -inf has nothing to "
                              "attend to. Mask keys (columns) only.")
    if not torch.allclose(weights.sum(-1), torch.ones(2, 2, 5, dtype=torch.float64), atol=1e-6):
        return _report(False, "the weights of a query should still sum to 1: mask the scores "
                              "*before* the softmax, not the weights after it.")
    on_padding = weights[0, :, :, 3:].abs().max().item()
    if on_padding > 1e-9:
        if torch.allclose(weights, _attention(q, k, v, allowed, fill=0.0)[1], atol=1e-6):
            return _report(False, "a score of 0 is not 'no attention': exp(0) = 1. Set the scores "
                                  "of padding keys to -inf before the softmax.")
        return _report(False, f"sentence 0 still gives weight {on_padding:.3f} to its padding keys "
                              f"(positions 3 and 4); they should get exactly 0.")
    if torch.allclose(weights, _attention(q, k, v, allowed, scale=False)[1], atol=1e-6):
        return _report(False, "forgot the scaling: divide the scores by sqrt(d) before the softmax.")
    return _report(False, "the padding is ignored, but the values are off: check scores -> mask -> "
                          "softmax over the keys -> weights @ v.")


def check_5_2(gpt_parameter_count: Callable) -> Verdict:
    """Exercise 5.2: ``gpt_parameter_count(vocab_size, block_size, n_layer, n_embd)`` by formula."""
    from llm_book.model import GPT, GPTConfig

    cases = [(35, 16, 2, 64), (100, 32, 3, 48), (256, 64, 1, 32)]
    for vocab, block, layers, width in cases:
        got, hint = _call(gpt_parameter_count, vocab, block, layers, width)
        if hint:
            return _report(False, hint)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return _report(False, f"return one number, got {got!r}.")
        torch.manual_seed(0)
        exact = GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=layers, n_head=4,
                              n_embd=width)).num_parameters()
        if got == exact:
            continue
        c = width
        where = f"for vocab_size={vocab}, block_size={block}, n_layer={layers}, n_embd={width}"
        if got == exact + vocab * c:
            return _report(False, f"{where} you count the output layer's {vocab} x {c} matrix, but it "
                                  f"shares its weights with the token embedding (counted once).")
        if got == exact - block * c:
            return _report(False, f"{where} the position embedding (block_size x n_embd) is missing.")
        if got == exact - 2 * c * (2 * layers + 1):
            return _report(False, f"{where} the LayerNorms are missing: each has a weight and a bias "
                                  f"of n_embd numbers; a block has two, and one more sits at the end.")
        if got in (exact - layers * 9 * c, exact - layers * 9 * c - c * (2 * layers + 1)):
            return _report(False, f"{where} the biases are missing: every nn.Linear here has one.")
        if got == exact - layers * (8 * c * c + 5 * c) + layers * (2 * c * c + 2 * c):
            return _report(False, f"{where} the MLP is too small: its hidden layer is 4 x n_embd wide.")
        return _report(False, f"{where} expected {exact:,}, got {got:,}; add up embeddings, "
                              f"per block (attention + MLP + 2 LayerNorms) and the final LayerNorm.")
    return _report(True, "the formula matches GPT.num_parameters() for three configurations.")


def check_5_3(learning_rate: Callable) -> Verdict:
    """Exercise 5.3: ``learning_rate(step, lr, warmup_steps, total_steps, min_lr)``: warm-up, then cosine."""
    from llm_book.training import lr_at

    lr, warmup, total, min_lr = 1e-3, 10, 100, 1e-4
    for step in [0, 4, 9, 10, 30, 55, 80, 99, 100, 150]:
        got, hint = _call(learning_rate, step, lr, warmup, total, min_lr)
        if hint:
            return _report(False, hint)
        if isinstance(got, torch.Tensor):
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)) or math.isnan(got):
            return _report(False, f"at step {step} expected one number, got {got!r}.")
        exact = lr_at(step, lr, warmup, total, min_lr)
        if math.isclose(got, exact, rel_tol=1e-9, abs_tol=1e-15):
            continue
        if step < warmup:
            if math.isclose(got, lr * step / warmup, rel_tol=1e-9, abs_tol=1e-15):
                return _report(False, f"at step {step} you give {got:.2e}: the warm-up is one step late "
                                      f"(step 0 would get lr 0 and be wasted); use (step + 1) / warmup_steps.")
            return _report(False, f"during warm-up (step {step}) the rate should rise linearly to lr; "
                                  f"expected {exact:.2e}, got {got:.2e}.")
        if step >= total:
            return _report(False, f"after total_steps (step {step}) the rate should stay at min_lr "
                                  f"= {min_lr:.0e}, got {got:.2e}.")
        progress = (step - warmup) / (total - warmup)
        if math.isclose(got, 0.5 * lr * (1 + math.cos(math.pi * progress)), rel_tol=1e-9):
            return _report(False, f"at step {step} the decay goes to 0, not to min_lr: "
                                  f"min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2.")
        return _report(False, f"at step {step} expected {exact:.3e}, got {got:.3e}; progress through "
                              f"the decay is (step - warmup_steps) / (total_steps - warmup_steps).")
    return _report(True, "linear warm-up, then a cosine down to min_lr.")


def _filter_case(seed: int):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 12, generator=g)
    logits[2, 3] = logits[2, 7] = logits[2].max() + 1.0  # a tie at the top of row 2
    return logits


def _filter_verdict(name: str, got, expected: torch.Tensor, logits: torch.Tensor,
                    original: torch.Tensor, arg: str) -> str | None:
    """None when ``got`` is right; else a hint common to top-k and top-p."""
    if not torch.equal(logits, original):
        return "your function changed its input logits in place; return a new tensor (e.g. masked_fill)."
    got = got if isinstance(got, torch.Tensor) else _as_tensor(got)
    if got is None or got.shape != expected.shape:
        shape = None if got is None else tuple(got.shape)
        return f"wrong shape: expected {tuple(expected.shape)} (like the input), got {shape}."
    got = got.to(expected.dtype)
    kept_expected = torch.isfinite(expected)
    if torch.equal(torch.isfinite(got), kept_expected) and torch.equal(got[kept_expected], expected[kept_expected]):
        return None
    if torch.isfinite(got).all():
        if ((got >= 0) & (got <= 1)).all() and torch.allclose(got.sum(-1), torch.ones(got.shape[0]), atol=1e-4):
            return "return filtered *logits* (removed ones at -inf), not probabilities."
        if torch.equal(got != 0, kept_expected):
            return "removed tokens should get the logit -inf (probability 0 after softmax), not 0."
        return "no logit became -inf: nothing was removed."
    kept_got = torch.isfinite(got)
    if torch.equal(kept_got, kept_expected):
        return "the right tokens are kept, but their logits changed: keep them exactly as they were."
    row = int((kept_got != kept_expected).any(-1).float().argmax())
    n_got, n_exp = int(kept_got[row].sum()), int(kept_expected[row].sum())
    return f"row {row} keeps {n_got} token(s), expected {n_exp} ({arg}); each row is filtered on its own."


def check_5_4(my_top_k: Callable) -> Verdict:
    """Exercise 5.4: ``my_top_k(logits, k)`` keeps the k largest logits of each row; the rest -inf."""
    from llm_book.sampling import top_k_filter

    for seed, k in [(0, 3), (1, 1), (2, 5), (3, 12)]:
        logits = _filter_case(seed)
        original = logits.clone()
        got, hint = _call(my_top_k, logits, k)
        if hint:
            return _report(False, hint)
        expected = top_k_filter(original, k)
        problem = _filter_verdict("top-k", got, expected, logits, original, f"k = {k}")
        if problem is None:
            continue
        kept = torch.isfinite(got) if isinstance(got, torch.Tensor) else None
        if kept is not None and kept.shape == expected.shape:
            if int(kept.sum()) == k and expected.shape[0] > 1:
                problem = (f"only {k} token(s) kept in the whole batch: take the top k of each row "
                           f"(dim=-1), not of the flattened tensor.")
            elif int(torch.isfinite(expected[2]).sum()) > k and int(kept[2].sum()) == k \
                    and torch.equal(kept[:2], torch.isfinite(expected[:2])):
                problem = (f"row 2 has two tokens tied for the largest logit; with k = {k} keep every "
                           f"token whose logit is >= the k-th largest value, so ties are all kept.")
        return _report(False, problem)
    return _report(True, "your top-k filter agrees with llm_book.sampling.top_k_filter.")


def check_5_5(my_top_p: Callable) -> Verdict:
    """Exercise 5.5: ``my_top_p(logits, p)`` keeps the smallest set of top tokens whose probability reaches p."""
    from llm_book.sampling import top_p_filter

    cases = [(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), 0.75),  # 0.5 + 0.3 reaches 0.75
             (torch.log(torch.tensor([[0.05, 0.15, 0.5, 0.3]])), 0.7),   # not sorted; needs 3 tokens
             (_filter_case(4), 0.6), (_filter_case(5), 0.95), (_filter_case(6), 0.01)]
    for logits, p in cases:
        original = logits.clone()
        got, hint = _call(my_top_p, logits, p)
        if hint:
            return _report(False, hint)
        expected = top_p_filter(original, p)
        problem = _filter_verdict("top-p", got, expected, logits, original, f"p = {p}")
        if problem is None:
            continue
        if problem.startswith("row ") and isinstance(got, torch.Tensor) and got.shape == expected.shape:
            n_got = torch.isfinite(got).sum(-1)
            n_exp = torch.isfinite(expected).sum(-1)
            if (n_got == n_exp - 1).any() and (n_got <= n_exp).all():
                problem += (" Too few: keep the token that makes the total reach p, too "
                            "(remove a token only when the tokens *before* it already reach p).")
            elif (n_got > n_exp).all():
                problem += " Too many: sort the probabilities in descending order and stop once p is reached."
        return _report(False, problem)
    return _report(True, "your nucleus filter agrees with llm_book.sampling.top_p_filter.")
