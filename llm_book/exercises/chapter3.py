"""Checkers for Chapter 3's exercises (the FFN, greedy generation, masked LM and InfoNCE losses)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

from llm_book.exercises._checking import (Verdict, _allclose, _call, _close, _nonfinite_hint,
                                          _number, _tensor, _verdict, checker)


@checker
def check_3_1(ffn: Callable) -> Verdict:
    """Exercise 3.1: ``ffn(x, W1, b1, W2, b2)`` = max(0, x W1 + b1) W2 + b2."""
    g = torch.Generator().manual_seed(31)
    x = torch.randn(2, 5, 8, generator=g, dtype=torch.float64)
    w1 = torch.randn(8, 32, generator=g, dtype=torch.float64) / 3
    b1 = torch.randn(32, generator=g, dtype=torch.float64)
    w2 = torch.randn(32, 8, generator=g, dtype=torch.float64) / 5
    b2 = torch.randn(8, generator=g, dtype=torch.float64)
    expected = torch.relu(x @ w1 + b1) @ w2 + b2
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
    inputs = [t.clone() for t in (x, w1, b1, w2, b2)]
    got, hint = _call(ffn, *inputs)
    if hint:
        return _verdict(False, hint)
    if not all(torch.equal(a, b) for a, b in zip(inputs, (x, w1, b1, w2, b2))):
        return _verdict(False, "your function changed one of its inputs in place; compute new tensors.")
    got, hint = _tensor(got, f"a tensor of shape {tuple(x.shape)}")
    if hint:
        return _verdict(False, hint)
    if got.shape != x.shape:
        return _verdict(False, f"wrong shape: for x of shape {tuple(x.shape)} the FFN returns the same shape "
                               f"(it maps each word's vector back to width 8), got {tuple(got.shape)}.")
    if _allclose(got, expected, atol=1e-6):
        return _verdict(True, "expand to 4x the width, cut the negatives, project back.")
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint)
    for value, message in candidates:
        if _allclose(got, value, atol=1e-6):
            return _verdict(False, message)
    return _verdict(False, "right shape, wrong values: compute max(0, x @ W1 + b1) @ W2 + b2.")


@checker
def check_3_2(greedy_generate: Callable) -> Verdict:
    """Exercise 3.2: ``greedy_generate(model, idx, max_new_tokens)`` with the tiny GPT, against ``greedy``."""
    from llm_book.pretrained import load_toy_gpt
    from llm_book.sampling import greedy

    model, tokenizer = load_toy_gpt()
    vocab = model.config.vocab_size
    cases = []
    for prompt, n in ((["The"], 6), (["The", "cats", "that", "the", "dog"], 4)):
        idx = torch.tensor([tokenizer.encode(prompt)])
        cases.append((idx, n, greedy(model, idx, n)))  # the reference first, on a model the reader never sees
    for idx, n, expected in cases:
        got, hint = _call(greedy_generate, copy.deepcopy(model), idx.clone(), n)
        if hint:
            return _verdict(False, hint)
        got, hint = _tensor(got, "a (1, T + max_new_tokens) tensor of token ids")
        if hint:
            return _verdict(False, hint)
        if got.dim() != 2:
            return _verdict(False, f"return a (1, T + n) tensor (batch first), got shape {tuple(got.shape)}.")
        if got.is_floating_point():
            if not torch.isfinite(got).all() or not torch.equal(got, got.round()):
                return _verdict(False, "return token ids (whole numbers, e.g. from argmax), got a float tensor "
                                       "that is not whole numbers.")
        got = got.long()
        if got.shape == (1, n) and torch.equal(got, expected[:, idx.shape[1]:]):
            return _verdict(False, "only the new tokens came back; return the prompt followed by them.")
        if got.shape != expected.shape:
            return _verdict(False, f"for a prompt of {idx.shape[1]} tokens and max_new_tokens={n} expected "
                                   f"shape {tuple(expected.shape)}, got {tuple(got.shape)}: one new token "
                                   f"per step.")
        if not torch.equal(got[:, :idx.shape[1]], idx):
            return _verdict(False, "the output has to start with the prompt unchanged.")
        if ((got < 0) | (got >= vocab)).any():
            bad = int(got[(got < 0) | (got >= vocab)][0])
            return _verdict(False, f"token id {bad} is not in the vocabulary (ids run from 0 to {vocab - 1}); "
                                   f"take the argmax over the vocabulary axis of the logits.")
        if not torch.equal(got, expected):
            words = tokenizer.decode(got[0].tolist())
            first = int((got[0] != expected[0]).nonzero()[0])
            return _verdict(False, f"after {' '.join(words[:first])!r} you chose {words[first]!r}; greedy "
                                   f"takes the argmax of the *last* position's logits at every step.")
    return _verdict(True, "the same words as llm_book.sampling.greedy.")


def _mlm_case():
    g = torch.Generator().manual_seed(33)
    logits = torch.randn(2, 6, 9, generator=g, dtype=torch.float64)
    labels = torch.full((2, 6), -100)
    labels[0, 1], labels[0, 4], labels[1, 2] = 3, 8, 0
    return logits, labels


@checker
def check_3_3(masked_lm_loss: Callable) -> Verdict:
    """Exercise 3.3: ``masked_lm_loss(logits, labels)``: mean -log P(original word) over labelled positions."""
    logits, labels = _mlm_case()
    keep = labels != -100
    log_p = torch.log_softmax(logits, -1)
    picked = log_p[keep].gather(-1, labels[keep][:, None]).squeeze(-1)  # (3,)
    expected = -picked.mean().item()
    mistakes = [
        (-picked.sum().item(), "that is the sum over masked positions; take the mean (divide by their number)."),
        (-picked.sum().item() / labels.numel(),
         "you divided by every position; divide by the number of masked positions only."),
        (-torch.softmax(logits, -1)[keep].gather(-1, labels[keep][:, None]).mean().item(),
         "take the log of the probabilities (log_softmax), not the probabilities."),
        (picked.mean().item(), "sign: the loss is the *negative* log-probability (it is >= 0)."),
    ]
    got, hint = _call(masked_lm_loss, logits.clone(), labels.clone())
    if hint:
        if "IndexError" in hint or "index" in hint.lower():
            return _verdict(False, hint + " - skip the positions whose label is -100 (not masked).")
        return _verdict(False, hint)
    value, hint = _number(got, "one number (a 0-d tensor or a float), the mean over masked positions")
    if hint:
        return _verdict(False, hint)
    if _close(value, expected, rel_tol=1e-6):
        return _verdict(True, "only the hidden words are scored: -mean log P(x_t | the rest).")
    for wrong, message in mistakes:
        if _close(value, wrong, rel_tol=1e-6):
            return _verdict(False, message)
    return _verdict(False, "the value is off: log_softmax over the vocabulary, pick the label's entry at each "
                           "masked position, average, negate.")


@checker
def check_3_4(info_nce: Callable) -> Verdict:
    """Exercise 3.4: ``info_nce(a, b, temperature)``: cross-entropy of finding b_i for a_i among all b (one direction)."""
    g = torch.Generator().manual_seed(34)
    a = torch.randn(5, 6, generator=g, dtype=torch.float64)
    b = a + 0.8 * torch.randn(5, 6, generator=g, dtype=torch.float64)
    temperature = 0.2
    targets = torch.arange(5)
    cos = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    expected = F.cross_entropy(cos / temperature, targets).item()
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
    got, hint = _call(info_nce, a.clone(), b.clone(), temperature)
    if hint:
        return _verdict(False, hint)
    value, hint = _number(got, "one number (a 0-d tensor or a float)")
    if hint:
        return _verdict(False, hint)
    if _close(value, expected, rel_tol=1e-5):
        return _verdict(True, "each a_i has to pick out its own b_i among the whole batch.")
    for wrong, message in mistakes:
        if _close(value, wrong, rel_tol=1e-5):
            return _verdict(False, message)
    return _verdict(False, "the value is off: cos(a_i, b_j) / temperature as scores, then the cross-entropy "
                           "with target i for row i.")
