"""Weight quantisation: store a linear layer's weights as small integers plus a few scales.

Symmetric absmax quantisation of a weight matrix W ``(out, in)``, one scale per group of
``group_size`` consecutive inputs of one output row (``group_size=None``: one group per row,
"per output channel"):

    scale = max |W[group]| / qmax            qmax = 2**(bits - 1) - 1   (127 for 8 bits, 7 for 4)
    q     = round(W / scale)                 an integer in [-qmax, qmax]
    W    ~= q * scale                        |W - q * scale| <= scale / 2 for every entry

The grid is symmetric around zero, so zero is exact; the most negative code (-128, -8) is never
used.  Storage:

* 8 bits: ``data`` is an ``int8`` tensor ``(out, in)``, one byte per weight.
* 4 bits: ``data`` is a ``uint8`` tensor ``(out, ceil(in / 2))``, two weights per byte: column
  ``2j`` in the low nibble and ``2j + 1`` in the high one, each stored as ``q + 8`` (0..15); an odd
  ``in`` gets one padding nibble per row.
* ``scale``: ``(out, in // group_size)`` in the weight's float dtype (4 bytes each for float32).

``group_size`` has to divide ``in_features`` (a ValueError says so; no padding of groups).
``QuantizedLinear`` keeps the integers and dequantises on the fly in ``forward``: it saves
memory, not time.  ``model_bytes`` counts what a checkpoint stores, integers at their real width.

    >>> from llm_book.model import GPT, GPTConfig
    >>> model = GPT(GPTConfig(vocab_size=35))
    >>> small = quantize_model(model, bits=4, group_size=32)
    >>> model_bytes(model), model_bytes(small)
    (413440, 81664)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_book._checks import check_int
from llm_book.lora import check_targets, matching_linears

BITS = (4, 8)


def _check_bits(bits) -> int:
    bits = check_int("bits", bits, "4 or 8 (bits per stored weight)")
    if bits not in BITS:
        raise ValueError(f"`bits` (={bits!r}) has to be 4 or 8 (bits per stored weight)")
    return bits


def _check_group_size(group_size, in_features: int, where: str = "the weight") -> int:
    """The effective group size: ``in_features`` for None, else a divisor of ``in_features``."""
    if group_size is None:
        return in_features
    group_size = check_int("group_size", group_size, "None (one scale per output row) or a "
                           "positive integer", minimum=1)
    if in_features % group_size != 0:
        divisors = [d for d in range(1, in_features + 1) if in_features % d == 0]
        raise ValueError(f"`group_size` (={group_size}) has to divide the {in_features} inputs of "
                         f"{where} (groups are not padded); choose one of {divisors} or None")
    return group_size


@dataclass(frozen=True)
class QuantizedTensor:
    """A weight matrix as integers and scales; see the module docstring for the layout.

    Attributes:
        data: ``int8`` ``(out, in)`` for 8 bits; packed ``uint8`` ``(out, ceil(in / 2))`` for 4.
        scale: ``(out, in // group_size)`` floats, one per group.
        bits: 4 or 8.
        group_size: inputs per group (``in`` when there is one group per row).
        shape: ``(out, in)`` of the original weight.
    """

    data: torch.Tensor
    scale: torch.Tensor
    bits: int
    group_size: int
    shape: tuple[int, int]

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    def values(self) -> torch.Tensor:
        """The integers q as an ``int8`` tensor ``(out, in)``, unpacked."""
        if self.bits == 8:
            return self.data
        low = (self.data & 0x0F).to(torch.int8) - 8                     # columns 0, 2, 4, ...
        high = (self.data >> 4).to(torch.int8) - 8                      # columns 1, 3, 5, ...
        return torch.stack([low, high], dim=-1).reshape(self.shape[0], -1)[:, : self.shape[1]]

    def dequantize(self) -> torch.Tensor:
        """``q * scale`` ``(out, in)`` in the scales' dtype."""
        out, n_in = self.shape
        q = self.values().reshape(out, n_in // self.group_size, self.group_size)  # (out, groups, g)
        return (q.to(self.scale.dtype) * self.scale[..., None]).reshape(out, n_in)

    @property
    def nbytes(self) -> int:
        """Bytes stored: the integers at their real width plus the scales."""
        return self.data.numel() * self.data.element_size() + \
            self.scale.numel() * self.scale.element_size()


def _pack4(q: torch.Tensor) -> torch.Tensor:
    """``int8`` values in [-8, 7] ``(out, in)`` -> ``uint8`` ``(out, ceil(in / 2))``, two per byte."""
    nibbles = (q + 8).to(torch.uint8)                                   # 0..15
    if nibbles.shape[1] % 2:
        nibbles = F.pad(nibbles, (0, 1), value=8)                       # one padding zero per row
    return nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)


def quantize_absmax(weight: torch.Tensor, bits: int, group_size: int | None = None) -> QuantizedTensor:
    """Symmetric absmax quantisation of a ``(out, in)`` float weight; the input is not changed.

    Args:
        weight: a finite floating-point matrix ``(out, in)``.
        bits: 8 (integers in [-127, 127]) or 4 (in [-7, 7]).
        group_size: inputs sharing one scale within a row; None for one scale per row.  Has to
            divide ``in``.

    Returns:
        A ``QuantizedTensor``; ``.dequantize()`` gives the approximation, within ``scale / 2`` of
        every entry.
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"`weight` has to be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() != 2 or not weight.is_floating_point() or weight.numel() == 0:
        raise ValueError(f"`weight` has to be a non-empty 2-D floating-point tensor (out, in), got "
                         f"shape {tuple(weight.shape)} and dtype {weight.dtype}")
    if not torch.isfinite(weight).all():
        raise ValueError("`weight` holds NaN or infinite values; only finite weights can be quantised")
    bits = _check_bits(bits)
    out, n_in = weight.shape
    group_size = _check_group_size(group_size, n_in)
    qmax = 2 ** (bits - 1) - 1
    w = weight.detach().reshape(out, n_in // group_size, group_size)    # (out, groups, g)
    scale = w.abs().amax(dim=-1) / qmax                                 # (out, groups)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))        # an all-zero group: q = 0
    q = torch.round(w / safe[..., None]).clamp(-qmax, qmax).to(torch.int8).reshape(out, n_in)
    data = q if bits == 8 else _pack4(q)
    return QuantizedTensor(data=data, scale=scale, bits=bits, group_size=group_size,
                           shape=(out, n_in))


class QuantizedLinear(nn.Module):
    """A linear layer whose weight is stored quantised and dequantised in every ``forward``.

    The integers and scales are buffers ``qweight`` and ``scale`` (they move with ``.to`` and
    are saved in the state dict); the bias, if any, stays a float buffer.  Nothing trains.
    """

    def __init__(self, weight: QuantizedTensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        if not isinstance(weight, QuantizedTensor):
            raise TypeError(f"`weight` has to be a QuantizedTensor (from quantize_absmax), got "
                            f"{type(weight).__name__}")
        self.out_features, self.in_features = weight.shape
        if bias is not None and tuple(bias.shape) != (self.out_features,):
            raise ValueError(f"`bias` has to have shape ({self.out_features},), got "
                             f"{tuple(bias.shape)}")
        self.bits, self.group_size = weight.bits, weight.group_size
        self.register_buffer("qweight", weight.data)
        self.register_buffer("scale", weight.scale)
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int, group_size: int | None = None) -> QuantizedLinear:
        """Quantise ``linear``'s weight (``linear`` itself is not changed)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"`linear` has to be an nn.Linear, got {type(linear).__name__}")
        return cls(quantize_absmax(linear.weight, bits, group_size), linear.bias)

    @property
    def quantized_weight(self) -> QuantizedTensor:
        return QuantizedTensor(self.qweight, self.scale, self.bits, self.group_size,
                               (self.out_features, self.in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(..., in)`` -> ``(..., out)`` with the dequantised weight."""
        weight = self.quantized_weight.dequantize().to(x.dtype)        # (out, in)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bits={self.bits}, group_size={self.group_size}, bias={self.bias is not None}")


def _tied_linears(model: nn.Module) -> set[str]:
    """Names of the Linear layers whose weight another module shares (e.g. GPT's lm_head)."""
    owners: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        owners[id(p)] = owners.get(id(p), 0) + 1
    return {n for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and owners.get(id(m.weight), 0) > 1}


def quantize_model(model: nn.Module, bits: int, group_size: int | None = None,
                   targets: Sequence[str] | None = None) -> nn.Module:
    """A copy of ``model`` with its ``nn.Linear`` layers replaced by ``QuantizedLinear``.

    Args:
        model: any torch module; it is not modified.
        bits: 8 or 4.
        group_size: see ``quantize_absmax``; has to divide the inputs of every chosen layer.
        targets: names of the layers to quantise, with ``add_lora``'s rule (a name equal to a
            target or ending with ``"." + target``).  None: every Linear whose weight is not shared
            with another module.  (GPT's ``lm_head`` shares the token embedding, which the input
            still needs in float: quantising it would add a copy, not save one.)

    Returns:
        The new model; embeddings, LayerNorms and any layer not chosen stay as they were.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` has to be a torch nn.Module, got {type(model).__name__}")
    bits = _check_bits(bits)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if targets is None:
        tied = _tied_linears(model)
        chosen = [n for n in linears if n not in tied]
        if not chosen:
            raise ValueError("`model` has no nn.Linear layer of its own to quantise")
    else:
        chosen = matching_linears(model, check_targets(targets))
    for name in chosen:
        _check_group_size(group_size, model.get_submodule(name).in_features, where=f"layer {name!r}")
    new = copy.deepcopy(model)
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = new.get_submodule(parent_name) if parent_name else new
        setattr(parent, child, QuantizedLinear.from_linear(new.get_submodule(name), bits, group_size))
    return new


def model_bytes(model: nn.Module) -> int:
    """Bytes of everything the model's state dict stores, each shared tensor counted once.

    Parameters and persistent buffers at their real width: ``int8``/``uint8`` integers 1 byte
    (two 4-bit weights per byte), float32 4 bytes, scales and biases included.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` has to be a torch nn.Module, got {type(model).__name__}")
    seen: set[int] = set()
    total = 0
    for tensor in model.state_dict(keep_vars=True).values():
        if id(tensor) not in seen:
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
    return total
