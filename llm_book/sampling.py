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

import torch

from llm_book._checks import check_int, check_real
from llm_book.model import KVCache, model_device
from llm_book.threads import runs_model_threads


def _check_logits(logits: torch.Tensor, name: str = "logits") -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"`{name}` has to be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() not in (1, 2):
        raise ValueError(
            f"`{name}` has to be 1-D (vocab,) or 2-D (batch, vocab), got shape {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise TypeError(f"`{name}` has to be a floating-point tensor, got dtype {logits.dtype}")
    if logits.shape[-1] == 0:
        raise ValueError(f"`{name}` has an empty vocabulary axis, shape {tuple(logits.shape)}")
    # -inf is a removed token; NaN and +inf are not logits (softmax turns them into NaN).
    finite = torch.isfinite(logits)
    if bool(finite.any(dim=-1).all() & (finite | (logits == float("-inf"))).all()):
        return  # the usual case: one check (one GPU synchronisation) per call
    n_nan = int(torch.isnan(logits).sum())
    if n_nan:
        raise ValueError(f"`{name}` holds NaN at {n_nan} of {logits.numel()} positions; "
                         f"a NaN logit has no probability (check the model's output)")
    n_posinf = int((logits == float("inf")).sum())
    if n_posinf:
        raise ValueError(f"`{name}` holds +inf at {n_posinf} of {logits.numel()} positions; "
                         f"logits have to be finite, or -inf for a removed token")
    raise ValueError(f"a row of `{name}` is -inf everywhere: it keeps no token to choose")


def _check_temperature(temperature: float) -> float:
    return check_real("temperature", temperature,
                      "a strictly positive, finite float; for greedy decoding "
                      "(the limit of temperature -> 0) use `greedy`", minimum=0, min_inclusive=False)


def _check_top_k(k) -> int:
    return check_int("k", k, "an integer >= 1 (the number of tokens kept)", minimum=1)


def _check_top_p(p) -> float:
    return check_real("p", p, "a float in (0, 1]: greater than 0, at most 1 (1 keeps every token)",
                      minimum=0, maximum=1, min_inclusive=False)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature``: T < 1 sharpens, T > 1 flattens, T = 1 keeps.

    When ``logits / temperature`` would overflow the logits' dtype (a tiny T, or
    float16 logits), that row is first shifted so that its largest logit is 0,
    computed in float64: softmax ignores such a shift, so the distribution is the
    same, and as T -> 0 it tends to the greedy choice (ties share the mass).  The
    choice is made row by row, so a row's result never depends on the other rows.
    """
    _check_logits(logits)
    temperature = _check_temperature(temperature)
    scaled = logits / temperature
    overflow = (torch.isfinite(logits) & ~torch.isfinite(scaled)).any(dim=-1, keepdim=True)
    if overflow.any():  # to inf (or 0 / 0) in some row
        wide = logits.double()
        shifted = ((wide - wide.amax(dim=-1, keepdim=True)) / temperature).to(logits.dtype)
        scaled = torch.where(overflow, shifted, scaled)
    return scaled


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits (per row); the rest become -inf.

    Ties at the k-th value are all kept.  ``k`` larger than the vocabulary keeps everything.
    """
    _check_logits(logits)
    k = min(_check_top_k(k), logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most probable tokens whose probability sums to >= p.

    The most probable token is always kept, so the result is never empty.
    """
    _check_logits(logits)
    p = _check_top_p(p)
    # stable: equal logits keep their index order on every device (the browser's engine.js breaks ties
    # the same way), so which of several tied tokens top-p keeps is the same everywhere
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
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

    A ``generator`` on another device than the logits (a CPU generator, logits on a
    GPU) draws on its own device, so a seed picks the same tokens wherever the model runs.

    Returns:
        token ids ``(batch,)`` (a 0-d tensor for 1-D input), on the logits' device.
    """
    logits = filter_logits(logits, temperature, top_k, top_p)
    wide = logits if logits.dtype == torch.float64 else logits.float()
    # Shift each row's largest logit to 0 before float32: float64 logits beyond float32's range
    # (1e40 after a tiny temperature) would become inf, and softmax of inf is NaN.
    probs = torch.softmax((wide - wide.amax(dim=-1, keepdim=True)).float(), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    if generator is not None and generator.device != flat.device:
        flat = flat.to(generator.device)
    ids = torch.multinomial(flat, 1, generator=generator).squeeze(-1).to(probs.device)  # (batch,)
    return ids.reshape(probs.shape[:-1])


def _check_prompt(model, idx: torch.Tensor, max_new_tokens: int) -> int:
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[1] < 1:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(f"`idx` has to be a (batch, T) tensor of token ids with T >= 1, got {shape}")
    return check_int("max_new_tokens", max_new_tokens, "a non-negative integer", minimum=0)


def _check_eos_id(model, eos_id) -> int | None:
    """``eos_id`` as an int inside the model's vocabulary (or None)."""
    if eos_id is None:
        return None
    vocab_size = model.config.vocab_size
    what = (f"a token id, an integer from 0 to vocab_size - 1 = {vocab_size - 1}, or None"
            + ("; for a word use its id, e.g. `tokenizer.eos_id`" if isinstance(eos_id, str) else ""))
    return check_int("eos_id", eos_id, what, minimum=0, maximum=vocab_size - 1)


@runs_model_threads
@torch.no_grad()
def _decode(model, idx, max_new_tokens, pick, eos_id, use_cache):
    """The autoregressive loop shared by ``generate`` and ``greedy``."""
    max_new_tokens = _check_prompt(model, idx, max_new_tokens)
    eos_id = _check_eos_id(model, eos_id)
    block_size = model.config.block_size
    # The cache stores every position that goes through the model: the prompt and each new token
    # but the last one picked, which is appended and never fed, so prompt + max_new_tokens - 1.
    if use_cache and idx.shape[1] + max_new_tokens - 1 > block_size:
        raise ValueError(
            f"with `use_cache=True` the prompt ({idx.shape[1]} tokens) plus `max_new_tokens` "
            f"({max_new_tokens}) minus 1 (the last token picked is never fed back) has to fit in the "
            f"model's block_size ({block_size}); use use_cache=False to slide a window over longer text"
        )
    was_training = model.training
    model.eval()
    cache = KVCache(len(model.blocks)) if use_cache else None
    device = model_device(model)  # a prompt built on the CPU still works with a model on a GPU
    finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=device)
    out = idx.to(device)
    step_input = out
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
    return out.to(idx.device)


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
        ``(batch, T + n)`` token ids, prompt included (n <= max_new_tokens), on the
        device of ``idx``; the model runs on its own (``idx`` is moved there).
    """
    temperature = _check_temperature(temperature)
    top_k = None if top_k is None else _check_top_k(top_k)
    top_p = None if top_p is None else _check_top_p(top_p)
    return _decode(model, idx, max_new_tokens,
                   lambda logits: sample_next(logits, temperature, top_k, top_p, generator),
                   eos_id, use_cache)


def greedy(model, idx: torch.Tensor, max_new_tokens: int, eos_id: int | None = None,
           use_cache: bool = False) -> torch.Tensor:
    """Generate by always taking the most probable next token (deterministic)."""
    return _decode(model, idx, max_new_tokens, lambda logits: logits.argmax(dim=-1),
                   eos_id, use_cache)


@runs_model_threads
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
    beam_width = check_int("beam_width", beam_width, "an integer >= 1", minimum=1)
    if isinstance(idx, torch.Tensor) and idx.dim() == 1:
        idx = idx[None]
    max_new_tokens = _check_prompt(model, idx, max_new_tokens)
    eos_id = _check_eos_id(model, eos_id)
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
        batch = torch.tensor([t[-block_size:] for t, _, _ in alive], device=model_device(model))
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
