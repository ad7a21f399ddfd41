"""Scaled dot-product attention and the article's ``SelfAttention``, fixed.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

``scaled_dot_product_attention`` is the formula and nothing else.
``SelfAttention`` is the article's class (Section 5), kept recognisable -
``query``, ``key``, ``value`` and ``out`` layers, the same reshapes - with what
the article leaves out: an optional causal mask, a padding mask, dropout,
validated arguments, attention weights returned on request, and a key/value
cache for fast generation.

Two ideas of later models are options of the same class: grouped-query
attention (``num_kv_heads`` < ``num_heads``: several query heads share one key
and value head, so the cache is smaller) and rotary position embeddings
(``rope_theta``: queries and keys are rotated by an angle that grows with their
position, so scores depend on how far apart two tokens are).

When the weights are not asked for, ``SelfAttention`` hands the formula to
PyTorch's fused ``torch.nn.functional.scaled_dot_product_attention``, which
gives the same output (to float rounding) without storing the ``(T, T)``
weights; when they are asked for, it runs the formula above step by step.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v, returning the output and the weights.

    Args:
        q: queries ``(..., T_q, d)``.
        k: keys ``(..., T_k, d)``.
        v: values ``(..., T_k, d_v)``.
        mask: optional boolean tensor, True where a query may attend to a key,
            broadcastable to ``(..., T_q, T_k)``.  Every query must be allowed
            at least one key.

    Returns:
        ``(output, weights)``: output ``(..., T_q, d_v)``; weights ``(..., T_q, T_k)``
        after the softmax (each row sums to 1).
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"`{name}` has to be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"`{name}` has to have at least 2 dimensions (..., T, d), got shape {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"`q` and `k` need the same last dimension d, got {q.shape[-1]} and {k.shape[-1]}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"`k` and `v` need the same number of positions, got {k.shape[-2]} and {v.shape[-2]}"
        )
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(
                f"`mask` has to be a boolean tensor (True = may attend), got dtype {mask.dtype}"
            )
        try:
            allowed = torch.broadcast_to(mask, scores.shape)
        except RuntimeError:
            raise ValueError(
                f"`mask` of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
                f"{tuple(scores.shape)} (..., T_q, T_k)"
            ) from None
        _check_rows(allowed)
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last axis (Llama's convention)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``(..., T, d)`` by the angles whose cosines and sines are ``cos``, ``sin`` ``(T, d)``.

    Dimension i is paired with dimension i + d/2, and each pair turns by
    ``position * theta ** (-2i / d)``: a rotation, so lengths do not change, and
    ``rotate(q, m) . rotate(k, n)`` depends on m - n only.
    """
    return x * cos + rotate_half(x) * sin


class RotaryEmbedding(nn.Module):
    """The angles of rotary position embeddings (RoPE) for one head size.

    Args:
        head_dim: size of a query or key head (even).
        theta: the base; pair i turns by ``theta ** (-2i / head_dim)`` radians per position.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 2 or head_dim % 2:
            raise ValueError(f"`head_dim` (={head_dim!r}) has to be an even integer >= 2 for rotary embeddings")
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not theta > 1.0:
            raise ValueError(f"`theta` (={theta!r}) has to be a number > 1")
        self.head_dim = head_dim
        self.theta = float(theta)
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (d/2,), not in the state dict

    def forward(self, start: int, length: int, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cos, sin)``, each ``(length, head_dim)``, for positions ``start .. start + length - 1``."""
        pos = torch.arange(start, start + length, device=self.inv_freq.device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None, :]  # (T, d/2): angle of each pair at each position
        emb = torch.cat((freqs, freqs), dim=-1)         # (T, d): pair i is dimensions i and i + d/2
        dtype = dtype or self.inv_freq.dtype
        return emb.cos().to(dtype), emb.sin().to(dtype)


def _check_rows(mask: torch.Tensor) -> None:
    if not mask.any(dim=-1).all():
        raise ValueError(
            "`mask` leaves a query with no key to attend to (a row of all False); "
            "the softmax of that row would be NaN"
        )


def causal_mask(t_q: int, t_k: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(t_q, t_k)`` mask: query i may see key j when j <= i + (t_k - t_q).

    With ``t_k == t_q`` this is the lower triangle.  With a key/value cache the
    queries are the *last* ``t_q`` of ``t_k`` positions, hence the offset.
    """
    t_k = t_q if t_k is None else t_k
    if t_q > t_k:
        raise ValueError(f"`t_q` (={t_q}) cannot exceed `t_k` (={t_k}) in a causal mask")
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


class LayerCache:
    """Keys and values one attention layer has already computed, ``(batch, heads, T, head_dim)``.

    They are kept in buffers that double in length when full, so adding a
    position usually copies only the new keys and values: ``torch.cat`` on every
    step would copy the whole cache each time, a cost that grows with the text.
    """

    def __init__(self) -> None:
        self._k: torch.Tensor | None = None  # buffers (batch, heads, capacity, head_dim)
        self._v: torch.Tensor | None = None
        self._len = 0

    @property
    def k(self) -> torch.Tensor | None:
        """The stored keys ``(batch, heads, T, head_dim)`` (None when empty)."""
        return None if self._k is None else self._k.narrow(-2, 0, self._len)

    @property
    def v(self) -> torch.Tensor | None:
        """The stored values ``(batch, heads, T, head_dim)`` (None when empty)."""
        return None if self._v is None else self._v.narrow(-2, 0, self._len)

    def __len__(self) -> int:
        return self._len

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new positions and return all keys and values so far."""
        if torch.is_grad_enabled() and (k.requires_grad or v.requires_grad):
            # Writing into a buffer in place would break backpropagation: concatenate instead.
            k_all = k if self._k is None else torch.cat([self.k, k], dim=-2)
            v_all = v if self._v is None else torch.cat([self.v, v], dim=-2)
            self._k, self._v, self._len = k_all, v_all, k_all.shape[-2]
            return k_all, v_all
        new_len = self._len + k.shape[-2]
        if self._k is None or new_len > self._k.shape[-2]:
            capacity = max(new_len, 2 * self._len, 16)
            buffers = []
            for old, new in ((self._k, k), (self._v, v)):
                buffer = new.new_empty(*new.shape[:-2], capacity, new.shape[-1])
                if self._len:
                    buffer.narrow(-2, 0, self._len).copy_(old.narrow(-2, 0, self._len))
                buffers.append(buffer)
            self._k, self._v = buffers
        self._k.narrow(-2, self._len, k.shape[-2]).copy_(k)
        self._v.narrow(-2, self._len, v.shape[-2]).copy_(v)
        self._len = new_len
        return self.k, self.v


class SelfAttention(nn.Module):
    """Multi-head self-attention: the article's class with its gaps filled.

    Args:
        embed_dim: width of each token vector.
        num_heads: number of (query) heads; has to divide ``embed_dim``.
        causal: if True, position t attends only to positions <= t (what a
            language model that predicts the next word needs).
        dropout: dropout probability on the attention weights and the output.
        bias: whether the four linear layers have a bias.
        num_kv_heads: key/value heads (grouped-query attention); has to divide
            ``num_heads``.  None means ``num_heads`` (every query head has its own).
        rope_theta: rotate queries and keys by their positions (rotary embeddings)
            with this base; None (the default) leaves them as they are.
    """

    def __init__(self, embed_dim: int, num_heads: int, causal: bool = False,
                 dropout: float = 0.0, bias: bool = True, num_kv_heads: int | None = None,
                 rope_theta: float | None = None) -> None:
        super().__init__()
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` (={value!r}) has to be a positive integer")
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"`embed_dim` (={embed_dim}) has to be divisible by `num_heads` (={num_heads}); "
                f"each head gets embed_dim // num_heads dimensions"
            )
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` (={dropout!r}) has to be a float in [0, 1)")
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if isinstance(num_kv_heads, bool) or not isinstance(num_kv_heads, int) or num_kv_heads < 1 \
                or num_heads % num_kv_heads:
            raise ValueError(f"`num_kv_heads` (={num_kv_heads!r}) has to be a positive integer that divides "
                             f"`num_heads` (={num_heads}), or None for one key/value head per query head")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = embed_dim // num_heads
        self.causal = causal
        if rope_theta is not None and self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size; embed_dim // num_heads = "
                             f"{embed_dim} // {num_heads} = {self.head_dim}")
        self.rotary = None if rope_theta is None else RotaryEmbedding(self.head_dim, rope_theta)

        kv_dim = num_kv_heads * self.head_dim
        self.query = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.key = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.value = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.out = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def _split_heads(self, x: torch.Tensor, heads: int | None = None) -> torch.Tensor:
        batch_size, seq_len, _ = x.shape
        # (B, T, nh * hs) -> (B, T, nh, hs) -> (B, nh, T, hs)
        return x.view(batch_size, seq_len, heads or self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, output_attentions: bool = False,
                padding_mask: torch.Tensor | None = None, cache: LayerCache | None = None):
        """Attend over the sequence.

        Args:
            x: ``(batch, T, embed_dim)``.
            output_attentions: also return the weights ``(batch, heads, T_q, T_k)``
                (computed step by step; without them the fused kernel runs).
            padding_mask: optional boolean ``(batch, T_k)``, True for real tokens and
                False for padding that no query may attend to.
            cache: optional ``LayerCache``; its stored keys and values are used and
                this call's are appended (for step-by-step generation).  It holds
                ``num_kv_heads`` heads, already rotated when ``rope_theta`` is set.

        Returns:
            ``output`` ``(batch, T, embed_dim)``, or ``(output, weights)``.
        """
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.embed_dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"`x` has to be a tensor of shape (batch, T, {self.embed_dim}), got {shape}"
            )
        batch_size, seq_len, embed_dim = x.shape
        q = self._split_heads(self.query(x))                     # (B, nh, T, hs)
        k = self._split_heads(self.key(x), self.num_kv_heads)    # (B, nkv, T, hs)
        v = self._split_heads(self.value(x), self.num_kv_heads)  # (B, nkv, T, hs)
        if self.rotary is not None:  # positions continue after the cached ones
            cos, sin = self.rotary(len(cache) if cache is not None else 0, seq_len, dtype=q.dtype)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, nkv, T_past + T, hs)
        t_k = k.shape[-2]

        mask = None
        if self.causal and seq_len > 1:  # a single query is the newest position: it may see every key
            mask = causal_mask(seq_len, t_k, device=x.device)  # (T, T_k)
        if padding_mask is not None:
            if padding_mask.dtype != torch.bool or tuple(padding_mask.shape) != (batch_size, t_k):
                raise ValueError(
                    f"`padding_mask` has to be a boolean tensor of shape (batch, T_k) = "
                    f"({batch_size}, {t_k}), True for real tokens; got {padding_mask.dtype} "
                    f"{tuple(padding_mask.shape)}"
                )
            keys_ok = padding_mask[:, None, None, :]  # (B, 1, 1, T_k)
            mask = keys_ok if mask is None else mask & keys_ok

        weights = None
        if output_attentions:  # the formula step by step, weights kept
            group = self.num_heads // self.num_kv_heads
            if group > 1:  # query head h reads key/value head h // group
                k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (B, nh, T_k, hs)
            y, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, nh, T, hs), (B, nh, T, T_k)
            if self.training and self.attn_dropout.p > 0:
                y = self.attn_dropout(weights) @ v  # drop some attention links while training
        else:  # the same formula, fused: the (T, T_k) weights are never stored
            is_causal = mask is not None and padding_mask is None and t_k == seq_len
            if mask is not None and padding_mask is not None:
                _check_rows(torch.broadcast_to(mask, (batch_size, 1, seq_len, t_k)))
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if is_causal else mask, is_causal=is_causal,
                dropout_p=self.attn_dropout.p if self.training else 0.0,
                enable_gqa=self.num_kv_heads != self.num_heads)  # (B, nh, T, hs)
        # (B, nh, T, hs) -> (B, T, nh, hs) -> (B, T, C): the heads side by side again
        y = y.transpose(1, 2).contiguous().view(batch_size, seq_len, embed_dim)
        y = self.resid_dropout(self.out(y))
        return (y, weights) if output_attentions else y
