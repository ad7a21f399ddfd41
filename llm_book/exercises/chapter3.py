"""Checkers for Chapter 3's exercises (the FFN, greedy generation, masked LM and InfoNCE losses, the loss
at initialisation, a masked-LM bug, the InfoNCE floor, a causal-mask bug)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from llm_book.exercises._checking import (Verdict, _call, _close, _first_mistake, _judge, _judge_tensor,
                                          _number, _tensor, _verdict, checker)
from llm_book.exercises._checking import _generator, _hidden_cases, _seed


@checker
def check_3_1(ffn: Callable) -> Verdict:
    """Exercise 3.1: ``ffn(x, W1, b1, W2, b2)`` = max(0, x W1 + b1) W2 + b2."""
    g = _generator(31)
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
    return _judge_tensor(got, expected, candidates, "expand to 4x the width, cut the negatives, project back.",
                         "right shape, wrong values: compute max(0, x @ W1 + b1) @ W2 + b2.", atol=1e-6)


@checker
def check_3_2(greedy_generate: Callable) -> Verdict:
    """Exercise 3.2: ``greedy_generate(model, idx, max_new_tokens)`` with the tiny GPT, against ``greedy``."""
    from llm_book.pretrained import load_toy_gpt
    from llm_book.sampling import greedy

    model, tokenizer = load_toy_gpt()
    vocab = model.config.vocab_size
    cases = []
    for prompt, n in _hidden_cases([(["The"], 6), (["The", "cats", "that", "the", "dog"], 4)],
                                   [(["The", "dogs"], 5)]):
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
    g = _generator(33)
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
    return _judge(value, expected, mistakes, "only the hidden words are scored: -mean log P(x_t | the rest).",
                  "the value is off: log_softmax over the vocabulary, pick the label's entry at each "
                  "masked position, average, negate.", rel_tol=1e-6)


@checker
def check_3_4(info_nce: Callable) -> Verdict:
    """Exercise 3.4: ``info_nce(a, b, temperature)``: cross-entropy of finding b_i for a_i among all b (one direction)."""
    g = _generator(34)
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
    return _judge(value, expected, mistakes, "each a_i has to pick out its own b_i among the whole batch.",
                  "the value is off: cos(a_i, b_j) / temperature as scores, then the cross-entropy "
                  "with target i for row i.", rel_tol=1e-5)


@checker
def check_3_5(loss_at_init: Callable) -> Verdict:
    """Exercise 3.5: ``loss_at_init(vocab_size)``: the cross-entropy of an untrained model, log V (in nats)."""
    sizes = _hidden_cases([35, 2, 36, 50257], [1000])
    for vocab_size in sizes:
        expected = math.log(vocab_size)
        mistakes = [
            (math.log2(vocab_size), "that is log base 2 (bits); PyTorch's cross-entropy uses the natural log "
                                    "(nats): math.log."),
            (math.log10(vocab_size), "that is log base 10; the cross-entropy uses the natural log: math.log."),
            (1 / vocab_size, "1 / V is the probability an untrained model gives every word; the loss is "
                             "-log of the probability of the right word."),
            (-math.log(vocab_size), "sign: the loss is -log P(right word), and -log(1/V) = +log V."),
            (float(vocab_size), "the loss is -log of a probability, not the vocabulary size."),
            (math.log(vocab_size - 1) if vocab_size > 2 else math.nan,
             "all V words share the probability evenly, the right one included: 1/V, not 1/(V - 1)."),
            (1 - 1 / vocab_size, "that is the chance of being wrong; the loss is -log P(right word)."),
        ]
        got, hint = _call(loss_at_init, vocab_size)
        if hint:
            return _verdict(False, hint)
        value, hint = _number(got, "one number, the loss you predict")
        if hint:
            return _verdict(False, hint)
        if _close(value, expected, rel_tol=1e-6):
            continue
        if vocab_size != sizes[0] and _close(value, math.log(sizes[0]), rel_tol=1e-6):
            return _verdict(False, f"right for V = {sizes[0]} only: for vocab_size={vocab_size} your function "
                                   f"returned the same number; use the argument.")
        if (message := _first_mistake(value, mistakes, rel_tol=1e-6)) is not None:
            return _verdict(False, f"for vocab_size={vocab_size}: {message}")
        return _verdict(False, f"for vocab_size={vocab_size} you predict {float(value):.4g}. Hint: an untrained "
                               f"model's logits are all close to 0, so its softmax is close to uniform.")
    return _verdict(True, "logits near 0 give a uniform softmax, P = 1/V for every word, so the loss starts at "
                          "-log(1/V) = log V.")


_MASK_ID, _N_WORDS = 35, 35  # the notebook's masked-LM vocabulary: 35 words, then <mask>


def _mlm_step_case():
    """A small encoder, a padded batch and a generator seed for Exercise 3.6."""
    from llm_book.model import GPT, GPTConfig

    torch.manual_seed(_seed(36))  # the checker's global state is restored afterwards
    encoder = GPT(GPTConfig(vocab_size=_N_WORDS + 1, block_size=8, n_layer=1, n_head=2, n_embd=16, causal=False))
    encoder.eval()
    g = _generator(36)
    batch = torch.randint(_N_WORDS, (6, 8), generator=g)
    real = torch.ones(6, 8, dtype=torch.bool)
    real[1, 5:], real[4, 3:] = False, False
    return encoder, batch, real


@checker
def check_3_6(masked_lm_step: Callable) -> Verdict:
    """Exercise 3.6: the masked-LM step with its bug fixed: the encoder must read the corrupted inputs."""
    from llm_book.objectives import mask_tokens, masked_lm_loss

    encoder, batch, real = _mlm_step_case()
    inputs, labels = mask_tokens(batch, _MASK_ID, _N_WORDS, padding_mask=real,
                                 generator=_generator(5))
    with torch.no_grad():
        logits_seen = encoder(inputs, padding_mask=real).logits
        logits_original = encoder(batch, padding_mask=real).logits
        expected = masked_lm_loss(logits_seen, labels).item()
        every_word = torch.where(real, batch, torch.full_like(batch, -100))
        mistakes = [
            (masked_lm_loss(logits_original, labels).item(),
             "still the bug: the encoder reads `batch`, the original sentences, so it sees every word it is "
             "asked to predict. Feed it the corrupted `inputs`."),
            (masked_lm_loss(logits_seen, every_word).item(),
             "that scores every real word, the visible ones too; score only the targets (`labels` from "
             "mask_tokens, -100 elsewhere)."),
            (masked_lm_loss(logits_original, every_word).item(),
             "the encoder reads the original `batch` and every word is scored: feed it `inputs` and score "
             "only the `labels` of mask_tokens."),
            (masked_lm_loss(logits_seen[:, :-1], labels[:, 1:]).item(),
             "the positions are shifted by one: that is the causal LM's shift. A masked LM predicts the word "
             "at its own position."),
        ]
    model_copy, batch_copy, real_copy = copy.deepcopy(encoder), batch.clone(), real.clone()
    got, hint = _call(masked_lm_step, model_copy, batch_copy, real_copy, _generator(5))
    if hint:
        return _verdict(False, hint)
    if not (torch.equal(batch_copy, batch) and torch.equal(real_copy, real)):
        return _verdict(False, "your function changed `batch` or `real` in place; mask_tokens returns new "
                               "tensors, use those.")
    value, hint = _number(got, "one number, the loss (a 0-d tensor)")
    if hint:
        return _verdict(False, hint)
    return _judge(value, expected, mistakes,
                  "the encoder now reads the corrupted sentence and has to infer the hidden words from both sides.",
                  "the value is off: draw the mask once with mask_tokens(batch, mask_id, n_words, "
                  "padding_mask=real, generator=generator), run the encoder on the corrupted inputs, "
                  "then masked_lm_loss(logits, labels).", rel_tol=1e-5)


@checker
def check_3_7(info_nce_floor: Callable) -> Verdict:
    """Exercise 3.7: ``info_nce_floor(n, temperature)``: the smallest InfoNCE loss N unit vectors can reach."""
    for n, temperature in _hidden_cases([(8, 0.1), (8, 1.0), (2, 0.5), (16, 0.3)], [(5, 0.7)]):
        expected = math.log1p((n - 1) * math.exp(-n / ((n - 1) * temperature)))
        mistakes = [
            (math.log1p((n - 1) * math.exp(-2 / temperature)),
             "negatives at cosine -1 cannot all happen at once: for N unit vectors the mean cosine between "
             "different ones is at least -1/(N-1) (expand |v_1 + ... + v_N|^2 >= 0)."),
            (math.log1p((n - 1) * math.exp(-1 / temperature)),
             "orthogonal negatives (cosine 0) are not the best the vectors can do: they can spread further "
             "apart, to cosine -1/(N-1) each."),
            ((n - 1) * math.exp(-n / ((n - 1) * temperature)),
             "close: that is the sum inside the log; the loss is log(1 + that)."),
            (0.0, "at a finite temperature the softmax never gives the positive probability 1: the floor is above 0."),
            (math.log(n), "log N is the loss when every score is the same (a uniform guess), not the smallest one."),
            (math.log1p((n - 1) * math.exp(-n / ((n - 1) / temperature))),
             "divide the cosines by the temperature, do not multiply."),
        ]
        got, hint = _call(info_nce_floor, n, temperature)
        if hint:
            return _verdict(False, hint)
        value, hint = _number(got, "one number, the smallest possible loss")
        if hint:
            return _verdict(False, hint)
        if _close(value, expected, rel_tol=1e-6, abs_tol=1e-12):
            continue
        if (message := _first_mistake(value, mistakes, rel_tol=1e-6, abs_tol=1e-12)) is not None:
            return _verdict(False, f"for N={n}, temperature={temperature}: {message}")
        return _verdict(False, f"for N={n}, temperature={temperature} you return {float(value):.4g}. Hint: at the "
                               f"floor a_i = b_i (cosine 1) and all negatives have the same cosine; which value "
                               f"can N unit vectors reach?")
    return _verdict(True, "the positives at cosine 1, the negatives at -1/(N-1) (a regular simplex): "
                          "log(1 + (N-1) exp(-N / ((N-1) temperature))).")


@checker
def check_3_8(causal_attention: Callable) -> Verdict:
    """Exercise 3.8: ``causal_attention(q, k, v)`` with its bug fixed: mask the scores *before* the softmax."""
    g = _generator(38)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    T, d_k = q.shape[-2], q.shape[-1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    expected = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1) @ v
    mistakes = [
        (torch.softmax(scores, dim=-1).masked_fill(~causal, 0.0) @ v,
         "still the bug: the mask comes after the softmax, so each row's weights no longer sum to 1 (the "
         "future words took their share first). Fill the scores with -inf *before* the softmax."),
        (torch.softmax(scores, dim=-1) @ v,
         "no mask at all: every word sees the words after it. Fill the future scores with -inf."),
        (torch.softmax(scores.masked_fill(~causal, 0.0), dim=-1) @ v,
         "a score of 0 is not 'never': e^0 = 1 still gives the future words weight. Fill them with -inf."),
        (torch.softmax((q @ k.transpose(-2, -1)).masked_fill(~causal, float("-inf")), dim=-1) @ v,
         "the mask is right now, but the scores are not divided by sqrt(d_k)."),
        (torch.softmax(scores.masked_fill(causal.T.logical_not(), float("-inf")), dim=-1) @ v,
         "the mask points the wrong way: word t may see words 0..t (the lower triangle, tril), not the later ones."),
        (torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-2) @ v,
         "the softmax runs over the keys (dim=-1, each row sums to 1), not over the queries."),
    ]
    inputs = [t.clone() for t in (q, k, v)]
    got, hint = _call(causal_attention, *inputs)
    if hint:
        return _verdict(False, hint)
    if not all(torch.equal(a, b) for a, b in zip(inputs, (q, k, v))):
        return _verdict(False, "your function changed q, k or v in place; compute new tensors.")
    got, hint = _tensor(got, f"a tensor of shape {tuple(q.shape)}")
    if hint:
        return _verdict(False, hint)
    if got.shape != q.shape:
        return _verdict(False, f"wrong shape: for q, k, v of shape {tuple(q.shape)} the output has the same shape, "
                               f"got {tuple(got.shape)}.")
    return _judge_tensor(got, expected, mistakes, "masked scores first, then the softmax: each word's weights over "
                         "itself and the words before it sum to 1.",
                         "right shape, wrong values: softmax(masked_fill(q k^T / sqrt(d_k), future, -inf)) @ v.",
                         atol=1e-6)
