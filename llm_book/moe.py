"""Mixture of experts (混合专家): how a router picks the experts a token passes through.

A router is a linear layer: for each token it gives one score (logit) per
expert.  Two published schemes turn the scores into mixing weights:

* **Mixtral** (top-k, renormalised): keep the ``k`` largest logits and take the
  softmax over those alone, ``G(x) = softmax(TopK(x W_g))``, so each token's
  ``k`` weights sum to 1 (Jiang et al. 2024, Section 2.1).
* **Switch Transformer** (top-1 of the full softmax): take the softmax over all
  experts, keep the largest probability ``p_i`` and scale the chosen expert's
  output by it, ``y = p_i E_i(x)``; the weight is below 1 (Fedus et al. 2022,
  Section 2.1).

Both return a dense ``(tokens, experts)`` weight matrix, zero for the experts a
token skips: a token's output is ``weights @ expert_outputs``.

Example:
    >>> import math, torch
    >>> logits = torch.tensor([[math.log(4), math.log(2), 0.0, 0.0]])
    >>> top_k_routing(logits, 2)
    tensor([[0.6667, 0.3333, 0.0000, 0.0000]])
    >>> switch_routing(logits)
    tensor([[0.5000, 0.0000, 0.0000, 0.0000]])
"""

from __future__ import annotations

import torch


def _check_logits(logits) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        got = f"a tensor of {logits.dtype}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TypeError(f"`logits` has to be a floating-point tensor (tokens, experts), got {got}")
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"`logits` has to end with an axis of experts, got shape {tuple(logits.shape)}")


def top_k_routing(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Mixtral's routing weights: the softmax over each token's ``k`` largest logits, zero elsewhere.

    Args:
        logits: ``(..., n_experts)`` router scores.
        k: experts per token, 1 <= k <= n_experts.

    Returns:
        ``(..., n_experts)`` weights; each token's ``k`` nonzero weights sum to 1.
    """
    _check_logits(logits)
    n = logits.shape[-1]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"`k` (={k!r}) has to be a whole number of experts from 1 to {n}")
    top = logits.topk(k, dim=-1)
    return torch.zeros_like(logits).scatter(-1, top.indices, torch.softmax(top.values, dim=-1))


def switch_routing(logits: torch.Tensor) -> torch.Tensor:
    """The Switch Transformer's routing weights: the full softmax's largest probability, zero elsewhere.

    Args:
        logits: ``(..., n_experts)`` router scores.

    Returns:
        ``(..., n_experts)`` weights with one nonzero entry per token, ``max softmax(logits)`` (below 1).
    """
    _check_logits(logits)
    probs = torch.softmax(logits, dim=-1)
    top = probs.max(dim=-1, keepdim=True)
    return torch.zeros_like(logits).scatter(-1, top.indices, top.values)
