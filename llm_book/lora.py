"""LoRA: fine-tune a frozen model through small low-rank updates (Hu et al. 2022, hu2022lora).

A linear layer ``y = W x + b`` keeps ``W`` (out x in) frozen and learns a low-rank change:

    y = W x + b + (alpha / r) * B A x        A: (r x in),  B: (out x r),  r << min(in, out)

``A`` starts random (Kaiming-uniform with a = sqrt(5), as the ``peft`` library does) and ``B``
starts at zero, so the wrapped model begins exactly equal to the base model.  Only ``A`` and
``B`` train: ``r * (in + out)`` numbers instead of ``in * out``.  After training,
``merge_lora`` folds ``W + (alpha / r) B A`` into one plain ``nn.Linear``: no extra cost at
inference.

    >>> from llm_book.model import GPT, GPTConfig
    >>> model = GPT(GPTConfig(vocab_size=35))
    >>> tuned = add_lora(model, rank=4, alpha=8, targets=["query", "value"])
    >>> sorted(lora_layers(tuned))
    ['blocks.0.attn.query', 'blocks.0.attn.value', 'blocks.1.attn.query', 'blocks.1.attn.value']
    >>> trainable_parameter_count(tuned)      # (trainable, total): A and B only
    (2048, 105408)

``add_lora`` and ``merge_lora`` return a new model and leave the one they are given unchanged.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_book._checks import check_int, check_real


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update ``(alpha / rank) * B A``.

    Args:
        base: the layer to adapt; its weight and bias are frozen (``requires_grad=False``).
            The module keeps ``base`` itself (no copy), so a weight it shares stays shared.
        rank: r, the rank of the update (1 <= r <= min(in_features, out_features)).
        alpha: scale numerator; the update is multiplied by ``alpha / rank``.

    Attributes:
        A: ``(rank, in_features)`` parameter, Kaiming-uniform (a = sqrt(5)), like ``peft``.
        B: ``(out_features, rank)`` parameter, zeros.
        scaling: ``alpha / rank``.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"`base` has to be an nn.Linear, got {type(base).__name__}")
        limit = min(base.in_features, base.out_features)
        self.rank = check_int("rank", rank, f"an integer in [1, {limit}] (at most min(in_features, "
                              f"out_features) of the layer; a larger rank adds nothing)",
                              minimum=1, maximum=limit)
        self.alpha = check_real("alpha", alpha, "a positive real number (the update is scaled by "
                                "alpha / rank)", minimum=0, min_inclusive=False)
        self.scaling = self.alpha / self.rank
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.A = nn.Parameter(torch.empty(self.rank, base.in_features, **factory))   # (r, in)
        self.B = nn.Parameter(torch.zeros(base.out_features, self.rank, **factory))  # (out, r)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / rank) * B A``, shaped like the base weight ``(out, in)``."""
        return self.scaling * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(..., in)`` -> ``(..., out)``: base(x) + (alpha / rank) * B(A(x))."""
        return self.base(x) + self.scaling * F.linear(F.linear(x, self.A), self.B)  # (..., out)

    def merged(self) -> nn.Linear:
        """A new plain ``nn.Linear`` with weight ``W + (alpha / rank) B A`` and the base's bias."""
        base = self.base
        layer = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                          device=base.weight.device, dtype=base.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(base.weight + self.delta_weight())
            if base.bias is not None:
                layer.bias.copy_(base.bias)
        return layer

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}"


def matches(name: str, targets: Sequence[str]) -> bool:
    """Whether the qualified module name ``name`` is one of ``targets``.

    The rule ``peft`` uses for a list of names: ``name`` equals a target or ends with
    ``"." + target``.  So ``"query"`` matches ``"blocks.0.attn.query"`` but not
    ``"blocks.0.attn.query_norm"``, and ``"attn.out"`` matches only the attention's output.
    """
    return any(name == t or name.endswith("." + t) for t in targets)


def check_targets(targets) -> list[str]:
    """``targets`` as a list of non-empty strings; a bare string is refused (wrap it in a list)."""
    if isinstance(targets, str):
        raise TypeError(f"`targets` (={targets!r}) has to be a list of module names, e.g. "
                        f"[{targets!r}], not a single string")
    if not isinstance(targets, Sequence) or len(targets) == 0 \
            or not all(isinstance(t, str) and t for t in targets):
        raise ValueError(f"`targets` (={targets!r}) has to be a non-empty list of module names "
                         f"such as ['query', 'value'] (a Linear matches if its name equals one or "
                         f"ends with '.' + one)")
    return list(targets)


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` has to be a torch nn.Module, got {type(model).__name__}")


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)


def matching_linears(model: nn.Module, targets: list[str], skip: type | None = None) -> list[str]:
    """Names of the ``nn.Linear`` modules matching ``targets``, or a ValueError listing the candidates."""
    inside_skipped = {n for n, m in model.named_modules() if skip is not None and isinstance(m, skip)}
    linears = [n for n, m in model.named_modules()
               if isinstance(m, nn.Linear) and n.rpartition(".")[0] not in inside_skipped]
    chosen = [n for n in linears if matches(n, targets)]
    if not chosen:
        short = sorted({n.rpartition(".")[2] for n in linears})
        raise ValueError(f"no nn.Linear in the model matches `targets` (={targets!r}); a name "
                         f"matches if it equals a target or ends with '.' + target; this model's "
                         f"Linear layers end with {short}")
    return chosen


def add_lora(model: nn.Module, rank: int, alpha: float, targets: Sequence[str]) -> nn.Module:
    """A copy of ``model`` with LoRA on the ``nn.Linear`` layers named by ``targets``; all else frozen.

    Args:
        model: any torch module (a ``GPT``, a classifier, ...); it is not modified.
        rank: r of every adapter.
        alpha: every adapter's update is scaled by ``alpha / rank``.
        targets: module names; a Linear is wrapped if its qualified name equals one of them or
            ends with ``"." + name`` (``peft``'s rule), e.g. ``["query", "value"]``.

    Returns:
        The new model: matching layers replaced by ``LoRALinear``, only their ``A`` and ``B``
        trainable.  ``lora_layers(result)`` lists the wrapped names.  Weights shared in
        ``model`` (GPT's tied embedding and output layer) stay shared in the copy.
    """
    _check_model(model)
    targets = check_targets(targets)
    if lora_layers(model):
        raise ValueError(f"`model` already has LoRA adapters on {sorted(lora_layers(model))}; "
                         f"call merge_lora(model) before adding new ones")
    chosen = matching_linears(model, targets)
    limit = min(min(model.get_submodule(n).in_features, model.get_submodule(n).out_features)
                for n in chosen)
    rank = check_int("rank", rank, f"an integer in [1, {limit}] (at most min(in_features, "
                     f"out_features) of the smallest targeted layer)", minimum=1, maximum=limit)
    alpha = check_real("alpha", alpha, "a positive real number (the update is scaled by "
                       "alpha / rank)", minimum=0, min_inclusive=False)
    new = copy.deepcopy(model)
    for p in new.parameters():
        p.requires_grad_(False)
    for name in chosen:
        _set_module(new, name, LoRALinear(new.get_submodule(name), rank, alpha))
    return new


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The model's ``LoRALinear`` modules by qualified name (empty if it has none)."""
    _check_model(model)
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``LoRALinear`` folded into a plain ``nn.Linear``.

    Each merged weight is ``W + (alpha / rank) B A``; the outputs agree with the unmerged
    model's to float rounding.  The parameters' ``requires_grad`` flags are kept as they are
    (a merged layer's new weight and bias get its base's flags).  A merged layer gets a new
    weight, so a weight the base shared (GPT's ``lm_head`` with ``wte``) is no longer shared:
    the adapter changed only the output layer.

    Raises:
        ValueError: if the model has no LoRA layer.
    """
    _check_model(model)
    if not lora_layers(model):
        raise ValueError("`model` has no LoRALinear layer to merge; add_lora(model, ...) adds them")
    new = copy.deepcopy(model)
    for name, layer in lora_layers(new).items():
        merged = layer.merged()
        merged.weight.requires_grad_(layer.base.weight.requires_grad)
        if merged.bias is not None:
            merged.bias.requires_grad_(layer.base.bias.requires_grad)
        _set_module(new, name, merged)
    return new


def trainable_parameter_count(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameters, each shared parameter counted once."""
    _check_model(model)
    params = list(model.parameters())          # nn.Module.parameters() yields a shared one once
    return (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
