"""Opening a trained transformer: switch heads off, and score what each head attends to.

* ``ablate_heads(model, heads)``: a context manager that zeroes the chosen heads'
  outputs (their slices of the merged heads, before each layer's output
  projection), the method Chapter 4 built inline for agreement; the hooks are
  removed on exit, even after an error.
* ``previous_token_score(attn)``: how much each head attends to the position just
  before the query.
* ``induction_score(attn, period)``: on a sequence that repeats with period
  ``period``, how much each head attends to the token AFTER the previous
  occurrence of the current token (position ``i - period + 1``): the
  prefix-matching score of Olsson et al. (2022).
* ``repeated_random_tokens(...)``: such a sequence.

Attention maps are the model's ``output_attentions`` tensors, ``(batch, heads, T, T)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import torch

from llm_book._checks import check_int


def _check_heads(model, heads) -> list[tuple[int, int]]:
    config = getattr(model, "config", None)
    blocks = getattr(model, "blocks", None)
    if config is None or blocks is None or not hasattr(config, "n_head"):
        raise TypeError(f"`model` has to be an llm_book GPT (with `config` and `blocks`), "
                        f"got {type(model).__name__}")
    if isinstance(heads, (str, bytes)) or not isinstance(heads, Iterable):
        raise TypeError(f"`heads` has to be a list of (layer, head) pairs, got {heads!r}")
    out = []
    for pair in heads:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"each item of `heads` has to be a (layer, head) pair, got {pair!r}")
        layer = check_int("layer", pair[0], f"a layer from 0 to {config.n_layer - 1} in `heads`",
                          minimum=0, maximum=config.n_layer - 1)
        head = check_int("head", pair[1], f"a head from 0 to {config.n_head - 1} in `heads`",
                         minimum=0, maximum=config.n_head - 1)
        out.append((layer, head))
    return out


@contextmanager
def ablate_heads(model, heads: Iterable[tuple[int, int]]) -> Iterator[None]:
    """Run the block with the given ``(layer, head)`` outputs set to zero.

    Each head's output is its slice ``[head * hs, (head + 1) * hs)`` of the merged
    heads that enter ``model.blocks[layer].attn.out`` (hs = n_embd // n_head); a
    forward pre-hook zeroes that slice in a copy (the model's tensors are not
    changed).  The hooks are removed on exit, also when the block raises.

    Example:
        >>> with ablate_heads(model, [(1, 2)]):          # doctest: +SKIP
        ...     logits = model(idx).logits              # head 2 of layer 1 switched off
    """
    heads = _check_heads(model, heads)
    width = model.config.n_embd // model.config.n_head
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def make_hook(silenced: list[int]):
        def hook(module, inputs):
            merged = inputs[0].clone()                        # (B, T, n_embd): heads side by side
            for h in silenced:
                merged[..., h * width:(h + 1) * width] = 0
            return (merged,) + tuple(inputs[1:])
        return hook

    handles = []
    try:
        for layer, silenced in by_layer.items():
            handles.append(model.blocks[layer].attn.out.register_forward_pre_hook(make_hook(silenced)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_attn(attn) -> torch.Tensor:
    if not isinstance(attn, torch.Tensor) or attn.dim() != 4 or attn.shape[-1] != attn.shape[-2]:
        shape = tuple(attn.shape) if isinstance(attn, torch.Tensor) else type(attn).__name__
        raise ValueError(f"`attn` has to be a (batch, heads, T, T) tensor of attention weights, got {shape}")
    if not attn.is_floating_point():
        raise TypeError(f"`attn` has to hold floating-point weights, got dtype {attn.dtype}")
    return attn


def previous_token_score(attn: torch.Tensor) -> torch.Tensor:
    """Mean weight each head puts on the previous position, ``attn[..., i, i - 1]`` for i = 1..T-1.

    Args:
        attn: ``(batch, heads, T, T)`` weights (rows sum to 1), T >= 2.

    Returns:
        ``(heads,)``: 1.0 for a head that always looks one step back, 0.0 for one that never does.
    """
    attn = _check_attn(attn)
    t = attn.shape[-1]
    if t < 2:
        raise ValueError(f"`attn` covers {t} position(s); a previous token needs T >= 2")
    i = torch.arange(1, t)
    return attn[:, :, i, i - 1].mean(dim=(0, 2))


def induction_score(attn: torch.Tensor, period: int) -> torch.Tensor:
    """Mean weight on ``i - period + 1`` over the query positions ``i >= period`` (prefix matching).

    On a sequence that repeats every ``period`` tokens, the token at ``i - period + 1``
    is the one that FOLLOWED the previous occurrence of the current token: where an
    induction head looks, to copy it (Olsson et al., 2022).

    Args:
        attn: ``(batch, heads, T, T)`` weights.
        period: the length of the repeated segment, 2 <= period < T.

    Returns:
        ``(heads,)``.
    """
    attn = _check_attn(attn)
    t = attn.shape[-1]
    period = check_int("period", period, f"an integer from 2 to T - 1 = {t - 1} (the length of the "
                       f"repeated segment; the map covers T = {t} positions)", minimum=2, maximum=t - 1)
    i = torch.arange(period, t)
    return attn[:, :, i, i - period + 1].mean(dim=(0, 2))


def repeated_random_tokens(vocab_ids: Sequence[int] | torch.Tensor, length: int, repeats: int,
                           generator: torch.Generator | None = None, batch_size: int = 1) -> torch.Tensor:
    """Random segments of ``length`` distinct tokens, each repeated ``repeats`` times.

    Args:
        vocab_ids: the token ids to draw from (at least ``length`` distinct ones).
        length: tokens per segment (the period); drawn without replacement, so every
            token of a segment is unique and its next token is unambiguous.
        repeats: how many times the segment appears (>= 2 for a repeat to exist).
        batch_size: rows, each with its own segment.

    Returns:
        ``(batch_size, length * repeats)`` int64 ids.
    """
    ids = torch.as_tensor(vocab_ids)
    if ids.dim() != 1 or ids.is_floating_point() or ids.dtype == torch.bool:
        raise ValueError(f"`vocab_ids` has to be a 1-D list or tensor of integer token ids, got {vocab_ids!r}")
    ids = torch.unique(ids)
    length = check_int("length", length, f"an integer from 1 to the {len(ids)} distinct ids of "
                       f"`vocab_ids`", minimum=1, maximum=len(ids))
    repeats = check_int("repeats", repeats, "an integer >= 1 (times the segment appears)", minimum=1)
    batch_size = check_int("batch_size", batch_size, "an integer >= 1", minimum=1)
    segments = torch.stack([ids[torch.randperm(len(ids), generator=generator)[:length]]
                            for _ in range(batch_size)])                 # (B, length)
    return segments.repeat(1, repeats).long()
