"""Choosing the next token, and generating text one token at a time.

The article's Section 3.2 in code: run the model on the text so far, turn the
last position's logits into a distribution, pick a token, append it, repeat.
How the token is picked is a choice:

* ``greedy``: always the most probable token;
* ``apply_temperature``: sharpen (T < 1) or flatten (T > 1) the distribution;
* ``top_k_filter``: keep only the k most probable tokens;
* ``top_p_filter`` (nucleus): keep the smallest set whose probability reaches p;
* ``beam_search``: keep the ``beam_width`` best partial sequences.

Filters take logits ``(..., vocab)`` and return *new* logits with removed
tokens at -inf; they never change their input.
"""

from __future__ import annotations

import math

import torch

from llm_book.model import KVCache


def _check_logits(logits: torch.Tensor, name: str = "logits") -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"`{name}` has to be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() not in (1, 2):
        raise ValueError(
            f"`{name}` has to be 1-D (vocab,) or 2-D (batch, vocab), got shape {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise TypeError(f"`{name}` has to be a floating-point tensor, got dtype {logits.dtype}")


def _check_temperature(temperature: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or math.isnan(temperature) or temperature <= 0 or math.isinf(temperature):
        raise ValueError(
            f"`temperature` (={temperature!r}) has to be a strictly positive, finite float; "
            f"for greedy decoding (the limit of temperature -> 0) use `greedy`"
        )


def _check_top_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` (={k!r}) has to be an integer >= 1 (the number of tokens kept)")


def _check_top_p(p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or math.isnan(p) or not 0 < p <= 1:
        raise ValueError(
            f"`p` (={p!r}) has to be a float in (0, 1]: greater than 0, at most 1 "
            f"(1 keeps every token)"
        )


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature``: T < 1 sharpens, T > 1 flattens, T = 1 keeps."""
    _check_logits(logits)
    _check_temperature(temperature)
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits (per row); the rest become -inf.

    Ties at the k-th value are all kept.  ``k`` larger than the vocabulary keeps everything.
    """
    _check_logits(logits)
    _check_top_k(k)
    k = min(k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most probable tokens whose probability sums to >= p.

    The most probable token is always kept, so the result is never empty.
    """
    _check_logits(logits)
    _check_top_p(p)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits.double(), dim=-1)  # float64: the same answer for any dtype
    mass_before = probs.cumsum(dim=-1) - probs             # mass of the tokens ranked above each one
    # Remove a token when the tokens before it already reach p.  The tolerance absorbs rounding
    # (0.5 + 0.3 reaches p = 0.8); p = 1 removes nothing, however small a probability.
    if p < 1:
        remove_sorted = mass_before >= p - 1e-6
    else:
        remove_sorted = torch.zeros_like(mass_before, dtype=torch.bool)
    remove_sorted[..., 0] = False
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Temperature, then top-k, then top-p: the logits that ``sample_next`` draws from."""
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row from ``logits`` ``(batch, vocab)`` (or ``(vocab,)``).

    Applies temperature, then top-k, then top-p, then samples.

    Returns:
        token ids ``(batch,)`` (a 0-d tensor for 1-D input).
    """
    logits = filter_logits(logits, temperature, top_k, top_p)
    probs = torch.softmax(logits.float(), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    ids = torch.multinomial(flat, 1, generator=generator).squeeze(-1)  # (batch,)
    return ids.reshape(probs.shape[:-1])


def _check_prompt(model, idx: torch.Tensor, max_new_tokens: int) -> None:
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[1] < 1:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(f"`idx` has to be a (batch, T) tensor of token ids with T >= 1, got {shape}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"`max_new_tokens` (={max_new_tokens!r}) has to be a non-negative integer")


@torch.no_grad()
def _decode(model, idx, max_new_tokens, pick, eos_id, use_cache):
    """The autoregressive loop shared by ``generate`` and ``greedy``."""
    _check_prompt(model, idx, max_new_tokens)
    block_size = model.config.block_size
    if use_cache and idx.shape[1] + max_new_tokens > block_size:
        raise ValueError(
            f"with `use_cache=True` the prompt ({idx.shape[1]} tokens) plus `max_new_tokens` "
            f"({max_new_tokens}) has to fit in the model's block_size ({block_size}); "
            f"use use_cache=False to slide a window over longer text"
        )
    was_training = model.training
    model.eval()
    cache = KVCache(len(model.blocks)) if use_cache else None
    finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
    out = idx
    step_input = idx
    for _ in range(max_new_tokens):
        if cache is None:
            step_input = out[:, -block_size:]           # the model sees at most block_size tokens
        logits = model(step_input, cache=cache).logits[:, -1, :]  # (B, vocab): the last position
        next_id = pick(logits)                           # (B,)
        if eos_id is not None:
            next_id = torch.where(finished, torch.full_like(next_id, eos_id), next_id)
            finished |= next_id == eos_id
        out = torch.cat([out, next_id[:, None]], dim=1)  # append and repeat
        step_input = next_id[:, None]                    # with a cache, only the new token goes in
        if eos_id is not None and finished.all():
            break
    model.train(was_training)
    return out


def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, eos_id: int | None = None,
             use_cache: bool = False) -> torch.Tensor:
    """Sample ``max_new_tokens`` tokens after the prompt ``idx`` ``(batch, T)``.

    Args:
        temperature, top_k, top_p: as in ``sample_next``.
        generator: a seeded ``torch.Generator`` makes the result repeatable.
        eos_id: stop a row once it produced this token (later positions repeat it);
            stop early when every row has.
        use_cache: keep each layer's keys and values instead of recomputing the whole
            prefix at every step; gives the same tokens, faster.

    Returns:
        ``(batch, T + n)`` token ids, prompt included (n <= max_new_tokens).
    """
    _check_temperature(temperature)
    if top_k is not None:
        _check_top_k(top_k)
    if top_p is not None:
        _check_top_p(top_p)
    return _decode(model, idx, max_new_tokens,
                   lambda logits: sample_next(logits, temperature, top_k, top_p, generator),
                   eos_id, use_cache)


def greedy(model, idx: torch.Tensor, max_new_tokens: int, eos_id: int | None = None,
           use_cache: bool = False) -> torch.Tensor:
    """Generate by always taking the most probable next token (deterministic)."""
    return _decode(model, idx, max_new_tokens, lambda logits: logits.argmax(dim=-1),
                   eos_id, use_cache)


@torch.no_grad()
def beam_search(model, idx: torch.Tensor, beam_width: int, max_new_tokens: int,
                eos_id: int | None = None) -> tuple[torch.Tensor, float]:
    """Keep the ``beam_width`` partial sequences with the highest summed log-probability.

    Args:
        idx: the prompt, ``(1, T)`` or ``(T,)``: beam search follows one prompt.
        eos_id: a hypothesis that emits it is finished and stops growing.

    Returns:
        ``(tokens, log_prob)``: the best sequence ``(1, T + n)`` (prompt included) and its
        summed log-probability of the new tokens.
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"`beam_width` (={beam_width!r}) has to be an integer >= 1")
    if isinstance(idx, torch.Tensor) and idx.dim() == 1:
        idx = idx[None]
    _check_prompt(model, idx, max_new_tokens)
    if idx.shape[0] != 1:
        raise ValueError(f"`idx` has to hold one prompt (batch 1) for beam search, got batch {idx.shape[0]}")
    block_size = model.config.block_size
    was_training = model.training
    model.eval()
    beams = [(idx[0].tolist(), 0.0, False)]  # (tokens, summed log-prob, finished)
    for _ in range(max_new_tokens):
        if all(done for _, _, done in beams):
            break
        candidates = [b for b in beams if b[2]]
        alive = [b for b in beams if not b[2]]
        batch = torch.tensor([t[-block_size:] for t, _, _ in alive], device=idx.device)
        log_probs = torch.log_softmax(model(batch).logits[:, -1, :].float(), dim=-1)  # (n_alive, vocab)
        for (tokens, score, _), row in zip(alive, log_probs):
            top = torch.topk(row, min(beam_width, row.shape[0]))
            for lp, token in zip(top.values.tolist(), top.indices.tolist()):
                candidates.append((tokens + [token], score + lp, token == eos_id))
        # Stable sort: among equal scores, earlier (lower-id) candidates win.
        beams = sorted(candidates, key=lambda b: -b[1])[:beam_width]
    model.train(was_training)
    best_tokens, best_score, _ = beams[0]
    return torch.tensor([best_tokens], device=idx.device), best_score
