"""Checkers for Chapter 3's exercises (the FFN, greedy generation, masked LM and InfoNCE losses)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from llm_book.exercises._checking import Verdict, _as_tensor, _call, _report


def _scalar(x) -> float | None:
    if isinstance(x, torch.Tensor):
        return x.item() if x.numel() == 1 else None
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    return None


def check_3_1(ffn: Callable) -> Verdict:
    """Exercise 3.1: ``ffn(x, W1, b1, W2, b2)`` = max(0, x W1 + b1) W2 + b2."""
    g = torch.Generator().manual_seed(31)
    x = torch.randn(2, 5, 8, generator=g, dtype=torch.float64)
    w1 = torch.randn(8, 32, generator=g, dtype=torch.float64) / 3
    b1 = torch.randn(32, generator=g, dtype=torch.float64)
    w2 = torch.randn(32, 8, generator=g, dtype=torch.float64) / 5
    b2 = torch.randn(8, generator=g, dtype=torch.float64)
    inputs = [t.clone() for t in (x, w1, b1, w2, b2)]
    got, hint = _call(ffn, *inputs)
    if hint:
        return _report(False, hint)
    if not all(torch.equal(a, b) for a, b in zip(inputs, (x, w1, b1, w2, b2))):
        return _report(False, "your function changed one of its inputs in place; compute new tensors.")
    got = _as_tensor(got)
    if got is None or got.shape != x.shape:
        shape = None if got is None else tuple(got.shape)
        return _report(False, f"wrong shape: for x of shape {tuple(x.shape)} the FFN returns the same shape "
                              f"(it maps each word's vector back to width 8), got {shape}.")
    expected = torch.relu(x @ w1 + b1) @ w2 + b2
    if torch.allclose(got, expected, atol=1e-6):
        return _report(True, "expand to 4x the width, cut the negatives, project back.")
    candidates = [
        ((x @ w1 + b1) @ w2 + b2, "no non-linearity: apply max(0, .) to x W1 + b1, or the two layers "
                                  "collapse into one linear map."),
        (torch.relu(torch.relu(x @ w1 + b1) @ w2 + b2), "max(0, .) is applied only once, after the first "
                                                       "layer; the output may be negative."),
        (F.gelu(x @ w1 + b1) @ w2 + b2, "that is GELU (GPT-2's choice); the article's formula uses max(0, .)."),
        (torch.relu(x @ w1) @ w2 + b2, "b1 is missing inside max(0, .)."),
        (torch.relu(x @ w1 + b1) @ w2, "b2 is missing at the end."),
        ((torch.relu(x @ w1) + b1) @ w2 + b2, "add b1 *before* max(0, .), not after."),
    ]
    for value, message in candidates:
        if torch.allclose(got, value, atol=1e-6):
            return _report(False, message)
    return _report(False, "right shape, wrong values: compute max(0, x @ W1 + b1) @ W2 + b2.")


def check_3_2(greedy_generate: Callable) -> Verdict:
    """Exercise 3.2: ``greedy_generate(model, idx, max_new_tokens)`` with the tiny GPT, against ``greedy``."""
    from llm_book.pretrained import load_toy_gpt
    from llm_book.sampling import greedy

    model, tokenizer = load_toy_gpt()
    for prompt, n in ((["The"], 6), (["The", "cats", "that", "the", "dog"], 4)):
        idx = torch.tensor([tokenizer.encode(prompt)])
        got, hint = _call(greedy_generate, model, idx.clone(), n)
        if hint:
            return _report(False, hint)
        got = torch.as_tensor(got)
        expected = greedy(model, idx, n)
        if got.dim() == 1:
            return _report(False, f"return a (1, T + n) tensor (batch first), got shape {tuple(got.shape)}.")
        if got.shape == (1, n) and torch.equal(got, expected[:, idx.shape[1]:]):
            return _report(False, "only the new tokens came back; return the prompt followed by them.")
        if got.shape != expected.shape:
            return _report(False, f"for a prompt of {idx.shape[1]} tokens and max_new_tokens={n} expected "
                                  f"shape {tuple(expected.shape)}, got {tuple(got.shape)}: one new token "
                                  f"per step.")
        if not torch.equal(got[:, :idx.shape[1]], idx):
            return _report(False, "the output has to start with the prompt unchanged.")
        if not torch.equal(got, expected):
            words = tokenizer.decode(got[0])
            first = int((got[0] != expected[0]).nonzero()[0])
            return _report(False, f"after {' '.join(words[:first])!r} you chose {words[first]!r}; greedy "
                                  f"takes the argmax of the *last* position's logits at every step.")
    return _report(True, "the same words as llm_book.sampling.greedy.")


def _mlm_case():
    g = torch.Generator().manual_seed(33)
    logits = torch.randn(2, 6, 9, generator=g, dtype=torch.float64)
    labels = torch.full((2, 6), -100)
    labels[0, 1], labels[0, 4], labels[1, 2] = 3, 8, 0
    return logits, labels


def check_3_3(masked_lm_loss: Callable) -> Verdict:
    """Exercise 3.3: ``masked_lm_loss(logits, labels)``: mean -log P(original word) over labelled positions."""
    logits, labels = _mlm_case()
    got, hint = _call(masked_lm_loss, logits.clone(), labels.clone())
    if hint:
        if "IndexError" in hint or "index" in hint.lower():
            return _report(False, hint + " - skip the positions whose label is -100 (not masked).")
        return _report(False, hint)
    value = _scalar(got)
    if value is None:
        return _report(False, "return one number (a 0-d tensor or a float), the mean over masked positions.")
    keep = labels != -100
    log_p = torch.log_softmax(logits, -1)
    picked = log_p[keep].gather(-1, labels[keep][:, None]).squeeze(-1)  # (3,)
    expected = -picked.mean().item()
    if math.isclose(value, expected, rel_tol=1e-6):
        return _report(True, "only the hidden words are scored: -mean log P(x_t | the rest).")
    if math.isclose(value, -picked.sum().item(), rel_tol=1e-6):
        return _report(False, "that is the sum over masked positions; take the mean (divide by their number).")
    if math.isclose(value, -picked.sum().item() / labels.numel(), rel_tol=1e-6):
        return _report(False, "you divided by every position; divide by the number of masked positions only.")
    if math.isclose(value, -torch.softmax(logits, -1)[keep].gather(-1, labels[keep][:, None]).mean().item(),
                    rel_tol=1e-6):
        return _report(False, "take the log of the probabilities (log_softmax), not the probabilities.")
    if math.isclose(value, picked.mean().item(), rel_tol=1e-6):
        return _report(False, "sign: the loss is the *negative* log-probability (it is >= 0).")
    return _report(False, "the value is off: log_softmax over the vocabulary, pick the label's entry at each "
                          "masked position, average, negate.")


def check_3_4(info_nce: Callable) -> Verdict:
    """Exercise 3.4: ``info_nce(a, b, temperature)``: cross-entropy of finding b_i for a_i among all b (one direction)."""
    g = torch.Generator().manual_seed(34)
    a = torch.randn(5, 6, generator=g, dtype=torch.float64)
    b = a + 0.8 * torch.randn(5, 6, generator=g, dtype=torch.float64)
    temperature = 0.2
    got, hint = _call(info_nce, a.clone(), b.clone(), temperature)
    if hint:
        return _report(False, hint)
    value = _scalar(got)
    if value is None:
        return _report(False, "return one number (a 0-d tensor or a float).")
    targets = torch.arange(5)
    cos = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    expected = F.cross_entropy(cos / temperature, targets).item()
    if math.isclose(value, expected, rel_tol=1e-5):
        return _report(True, "each a_i has to pick out its own b_i among the whole batch.")
    mistakes = [
        (F.cross_entropy(a @ b.T / temperature, targets).item(),
         "use cosine similarity: normalise a and b to unit length before the dot products."),
        (F.cross_entropy(cos, targets).item(), "forgot the temperature: divide the similarities by it."),
        (F.cross_entropy(cos * temperature, targets).item(), "divide by the temperature, do not multiply."),
        ((F.cross_entropy(cos / temperature, targets).item()
          + F.cross_entropy(cos.T / temperature, targets).item()) / 2,
         "that is the symmetric loss (both directions); this exercise asks for a -> b only."),
        (F.cross_entropy(cos / temperature, torch.zeros(5, dtype=torch.long)).item(),
         "the positive for row i is column i (targets 0, 1, 2, ...), not column 0."),
        (F.cross_entropy(cos / temperature, targets, reduction="sum").item(),
         "take the mean over the pairs, not the sum."),
    ]
    for wrong, message in mistakes:
        if math.isclose(value, wrong, rel_tol=1e-5):
            return _report(False, message)
    return _report(False, "the value is off: cos(a_i, b_j) / temperature as scores, then the cross-entropy "
                          "with target i for row i.")
