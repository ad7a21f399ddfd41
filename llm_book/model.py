"""A GPT: GPT-2's architecture, small enough to train on a laptop.

    tokens -> token embedding + position embedding
           -> n_layer x Block( x + attn(ln_1(x));  x + mlp(ln_2(x)) )
           -> ln_f -> logits (the output layer shares the token embedding's weights)

Learned position embeddings, pre-LayerNorm blocks, a GELU MLP and tied
input/output embeddings are what GPT-2 uses, so real GPT-2 weights load into
this class (``llm_book.hf``).  Layers are named after the article's pieces.

Later models changed five pieces, and each is one option of ``GPTConfig``
(the defaults keep GPT-2's): rotary position embeddings instead of a position
table (``position="rope"``), RMSNorm instead of LayerNorm (``norm="rmsnorm"``),
a gated SwiGLU MLP (``mlp="swiglu"``), grouped-query attention
(``n_kv_head``) and untied output weights (``tie_embeddings=False``).  All
five together (and ``bias=False``) give Llama's architecture, so Llama weights load too
(``llm_book.hf.from_hf_llama``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_book._checks import check_int
from llm_book.attention import LayerCache, SelfAttention


@dataclass(frozen=True, repr=False)
class GPTConfig:
    """Sizes of a GPT.  Checked on creation; make variants with ``dataclasses.replace``.

    Args:
        vocab_size: number of token ids.
        block_size: longest input the model accepts (number of position embeddings).
        n_layer: number of transformer blocks.
        n_head: attention heads per block; has to divide ``n_embd``.
        n_embd: width of every token vector.
        dropout: dropout probability while training (0 turns it off).
        bias: biases in the linear layers and LayerNorms (GPT-2 has them).
        causal: True for a language model (each position sees only the past); False
            gives a bidirectional encoder, as BERT-style masked language models use.
        position: "learned" (a table of position embeddings, GPT-2) or "rope" (rotary
            embeddings: queries and keys rotated by their position, Llama; no table).
        rope_theta: the base of the rotary angles (used with ``position="rope"``).
        norm: "layernorm" (GPT-2) or "rmsnorm" (Llama: no mean subtraction, no bias).
        norm_eps: the epsilon added to the variance inside every norm.
        mlp: "gelu" (Linear, GELU, Linear: GPT-2) or "swiglu" (down(silu(gate(x)) * up(x)): Llama).
        mlp_hidden: the MLP's inner width.  None: 4 * n_embd for GELU; for SwiGLU
            2/3 of 4 * n_embd rounded up to a multiple of 8 (Llama rounds to 256; Llama 3 also
            scales by 1.3 and rounds to 1,024), which keeps
            its three matrices about as large as GELU's two (see ``mlp_width``).
        n_kv_head: key/value heads (grouped-query attention); has to divide ``n_head``.
            None means ``n_head`` (ordinary multi-head attention).
        tie_embeddings: the output layer shares the token embedding's weights (GPT-2);
            False gives it its own (Llama).
    """

    vocab_size: int
    block_size: int = 16
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    bias: bool = True
    causal: bool = True
    position: str = "learned"
    rope_theta: float = 10000.0
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    mlp: str = "gelu"
    mlp_hidden: int | None = None
    n_kv_head: int | None = None
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` (={value!r}) has to be a positive integer")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"`n_embd` (={self.n_embd}) has to be divisible by `n_head` (={self.n_head})"
            )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` (={self.dropout!r}) has to be a float in [0, 1)")
        for name in ("bias", "causal", "tie_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` (={getattr(self, name)!r}) has to be True or False")
        for name, allowed in (("position", ("learned", "rope")), ("norm", ("layernorm", "rmsnorm")),
                              ("mlp", ("gelu", "swiglu"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` (={getattr(self, name)!r}) has to be one of "
                                 + ", ".join(repr(a) for a in allowed))
        for name, low in (("rope_theta", 1.0), ("norm_eps", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low \
                    or not math.isfinite(value):
                raise ValueError(f"`{name}` (={value!r}) has to be a finite number > {low:g}")
        if self.mlp_hidden is not None and (isinstance(self.mlp_hidden, bool)
                                            or not isinstance(self.mlp_hidden, int) or self.mlp_hidden < 1):
            raise ValueError(f"`mlp_hidden` (={self.mlp_hidden!r}) has to be a positive integer, or None "
                             f"for the default width")
        if self.n_kv_head is not None and (isinstance(self.n_kv_head, bool) or not isinstance(self.n_kv_head, int)
                                           or self.n_kv_head < 1 or self.n_head % self.n_kv_head):
            raise ValueError(f"`n_kv_head` (={self.n_kv_head!r}) has to be a positive integer that divides "
                             f"`n_head` (={self.n_head}), or None for one key/value head per query head")
        if self.position == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"`position` (='rope') needs an even head size, but n_embd // n_head = "
                             f"{self.n_embd} // {self.n_head} = {self.n_embd // self.n_head}")

    @property
    def mlp_width(self) -> int:
        """The MLP's inner width: ``mlp_hidden``, else 4 * n_embd (GELU) or 8/3 * n_embd up to a multiple of 8."""
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        if self.mlp == "swiglu":
            return 8 * math.ceil(8 * self.n_embd / 3 / 8)
        return 4 * self.n_embd

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __repr__(self) -> str:
        # GPT-2's sizes always; a later option only when it is not the default (so a GPT-2 config reads as before)
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if f.name in _GPT2_FIELDS or getattr(self, f.name) != f.default]
        return f"GPTConfig({', '.join(shown)})"


_GPT2_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "causal")


@dataclass
class GPTOutput:
    """What ``GPT.forward`` returns.

    Attributes:
        logits: ``(batch, T, vocab_size)``, one next-token score vector per position.
        loss: mean cross-entropy against ``targets`` (positions with -100 ignored), or None.
        attentions: with ``output_attentions=True``, one ``(batch, heads, T, T)`` tensor
            per layer (the layout of Hugging Face and of bertviz's ``head_view``); else None.
        hidden_states: with ``output_hidden_states=True``, ``n_layer + 1`` tensors
            ``(batch, T, n_embd)``: the embeddings, then the output of each block; else None.
        last_hidden_state: ``(batch, T, n_embd)`` after the final LayerNorm (what the
            output layer reads; a classification head reads it too).
    """

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    last_hidden_state: torch.Tensor | None = None


class MLP(nn.Module):
    """The feed-forward network: Linear(C -> 4C), GELU, Linear(4C -> C) (inner width ``config.mlp_width``)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, config.mlp_width, bias=config.bias)
        self.act = nn.GELU(approximate="tanh")  # GPT-2's GELU
        self.proj = nn.Linear(config.mlp_width, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(self.act(self.fc(x))))


class SwiGLU(nn.Module):
    """Llama's gated feed-forward network: down(silu(gate(x)) * up(x)).

    ``gate`` and ``up`` both map C to the inner width H = ``config.mlp_width``;
    silu(gate(x)) decides, per inner unit, how much of up(x) passes; ``down``
    maps H back to C.  The names are Llama's (``gate_proj``, ``up_proj``, ``down_proj``).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(config.n_embd, config.mlp_width, bias=config.bias)
        self.up = nn.Linear(config.n_embd, config.mlp_width, bias=config.bias)
        self.down = nn.Linear(config.mlp_width, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.silu(self.gate(x)) * self.up(x)))  # (B, T, H) -> (B, T, C)


class RMSNorm(nn.Module):
    """Root-mean-square norm: x / sqrt(mean(x^2) + eps) * weight (no mean subtraction, no bias).

    Args:
        dim: size of the last axis.
        eps: added to the mean square, so an all-zero vector stays finite.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # computed in float32 like Llama, so half-precision inputs do not overflow in x^2
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)  # (..., C)
        return self.weight * normed.to(x.dtype)


def _norm(config: GPTConfig) -> nn.Module:
    """A LayerNorm or an RMSNorm over ``n_embd``, as ``config.norm`` says."""
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd, eps=config.norm_eps)
    return nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)


class Block(nn.Module):
    """One transformer block, pre-norm: x + attn(ln_1(x)), then x + mlp(ln_2(x)).

    ``ln_1`` and ``ln_2`` are LayerNorms or RMSNorms (``config.norm``), ``mlp`` is an
    ``MLP`` or a ``SwiGLU`` (``config.mlp``); the names stay GPT-2's either way.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = _norm(config)
        self.attn = SelfAttention(config.n_embd, config.n_head, causal=config.causal,
                                  dropout=config.dropout, bias=config.bias, num_kv_heads=config.n_kv_head,
                                  rope_theta=config.rope_theta if config.position == "rope" else None)
        self.ln_2 = _norm(config)
        self.mlp = SwiGLU(config) if config.mlp == "swiglu" else MLP(config)

    def forward(self, x: torch.Tensor, output_attentions: bool = False,
                cache: LayerCache | None = None, padding_mask: torch.Tensor | None = None):
        a = self.attn(self.ln_1(x), output_attentions=output_attentions, cache=cache,
                      padding_mask=padding_mask)
        a, weights = a if output_attentions else (a, None)
        x = x + a                       # residual connection around attention
        x = x + self.mlp(self.ln_2(x))  # residual connection around the MLP
        return (x, weights) if output_attentions else x


class KVCache:
    """One ``LayerCache`` per block: the keys and values generation has computed so far."""

    def __init__(self, n_layer: int) -> None:
        self.layers = [LayerCache() for _ in range(n_layer)]

    def __len__(self) -> int:
        return len(self.layers[0])


class GPT(nn.Module):
    """A decoder-only transformer language model (GPT-2's architecture; Llama's with the config's options).

    Example:
        >>> model = GPT(GPTConfig(vocab_size=35))
        >>> out = model(torch.tensor([[0, 7, 26]]))
        >>> out.logits.shape
        torch.Size([1, 3, 35])
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"`config` has to be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings
        if config.position == "learned":                           # (RoPE rotates inside attention)
            self.wpe = nn.Embedding(config.block_size, config.n_embd)  # position embeddings
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = _norm(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # tied input and output embeddings

        # GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer).
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("attn.out.weight", "mlp.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        """Number of distinct parameters (the tied output layer counted once)."""
        return sum(p.numel() for p in self.parameters())

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part: embeddings, attention, MLP, norms (sums to ``num_parameters``).

        The norms (LayerNorm or RMSNorm) are counted under "LayerNorm"; an untied
        output layer adds an "output layer" entry.
        """
        counts = {"token embedding": 0, "position embedding": 0, "attention": 0,
                  "MLP": 0, "LayerNorm": 0}
        if not self.config.tie_embeddings:
            counts["output layer"] = 0
        for name, p in self.named_parameters():
            if name.startswith("lm_head"):
                counts["output layer"] += p.numel()
            elif name.startswith("wte"):
                counts["token embedding"] += p.numel()
            elif name.startswith("wpe"):
                counts["position embedding"] += p.numel()
            elif ".attn." in name:
                counts["attention"] += p.numel()
            elif ".mlp." in name:
                counts["MLP"] += p.numel()
            else:
                counts["LayerNorm"] += p.numel()
        return counts

    def _check_idx(self, idx: torch.Tensor, past: int) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"`idx` has to be a (batch, T) tensor of token ids, got {shape}")
        if idx.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"`idx` has to hold integer token ids, got dtype {idx.dtype}")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(
                f"`idx` holds ids from {int(idx.min())} to {int(idx.max())}; token ids run from 0 "
                f"to vocab_size - 1 = {self.config.vocab_size - 1}"
            )
        if past + idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"the input is {past + idx.shape[1]} tokens long"
                + (f" ({past} cached + {idx.shape[1]} new)" if past else "")
                + f" but the model's `block_size` is {self.config.block_size}; "
                f"crop it to the last {self.config.block_size} tokens"
            )

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                output_attentions: bool = False, cache: KVCache | None = None,
                output_hidden_states: bool = False,
                padding_mask: torch.Tensor | None = None) -> GPTOutput:
        """Run the model.

        Args:
            idx: token ids ``(batch, T)``, T <= block_size (counting cached positions).
            targets: optional ``(batch, T)`` next-token ids; -100 marks positions to ignore.
            output_attentions: return every layer's attention weights.
            cache: optional ``KVCache``; positions continue after the cached ones and
                this call's keys and values are added to it (causal models only).
            output_hidden_states: return the embeddings and every block's output.
            padding_mask: optional boolean ``(batch, T)``, True for real tokens; no
                position attends to padding (needed by bidirectional models on padded batches).

        Returns:
            ``GPTOutput`` with ``logits`` ``(batch, T, vocab_size)``, ``loss`` and ``attentions``.
        """
        if cache is not None and not self.config.causal:
            raise ValueError("`cache` needs a causal model; a bidirectional model (causal=False) "
                             "recomputes every position when the text grows")
        past = len(cache) if cache is not None else 0
        self._check_idx(idx, past)
        t = idx.shape[1]
        x = self.wte(idx)                                       # (B, T, C)
        if self.config.position == "learned":
            pos = torch.arange(past, past + t, device=idx.device)  # (T,)
            x = x + self.wpe(pos)                               # (B, T, C)
        x = self.drop(x)
        attentions, hidden_states = [], [x]
        for i, block in enumerate(self.blocks):
            layer_cache = cache.layers[i] if cache is not None else None
            if output_attentions:  # the weights, step by step
                x, weights = block(x, output_attentions=True, padding_mask=padding_mask, cache=layer_cache)
                attentions.append(weights)                      # (B, nh, T, T_k)
            else:                  # the fused kernel
                x = block(x, padding_mask=padding_mask, cache=layer_cache)
            hidden_states.append(x)                             # (B, T, C)
        last_hidden_state = self.ln_f(x)                        # (B, T, C)
        logits = self.lm_head(last_hidden_state)                # (B, T, vocab)
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(
                    f"`targets` has to have the shape of `idx` {tuple(idx.shape)}, "
                    f"got {tuple(targets.shape)}"
                )
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=-100)
        return GPTOutput(logits, loss, tuple(attentions) if output_attentions else None,
                         tuple(hidden_states) if output_hidden_states else None,
                         last_hidden_state)


class GPTClassifier(nn.Module):
    """A classification head on top of a (pretrained) GPT: fine-tuning in its simplest form.

    The GPT reads the sentence; a linear layer maps one summary vector to class
    scores.  For a causal model the summary is the hidden state at the last real
    token (the only position that has seen the whole sentence); for a
    bidirectional one, the mean over real tokens.

    Args:
        gpt: the body, pretrained or freshly initialised.
        num_classes: number of labels.
        pooling: "last" or "mean" (default: "last" for causal models, "mean" otherwise).
    """

    def __init__(self, gpt: GPT, num_classes: int, pooling: str | None = None) -> None:
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"`gpt` has to be an llm_book GPT, got {type(gpt).__name__}")
        num_classes = check_int("num_classes", num_classes, "an integer >= 2", minimum=2)
        pooling = pooling or ("last" if gpt.config.causal else "mean")
        if pooling not in ("last", "mean"):
            raise ValueError(f"`pooling` (={pooling!r}) has to be 'last' or 'mean'")
        self.gpt = gpt
        self.pooling = pooling
        self.head = nn.Linear(gpt.config.n_embd, num_classes)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> GPTOutput:
        """Class scores ``(batch, num_classes)`` in ``.logits``; ``.loss`` when ``labels`` are given.

        Args:
            idx: ``(batch, T)`` token ids, padded at the end.
            lengths: ``(batch,)`` number of real tokens per row (default: all T).
            labels: ``(batch,)`` class ids.
        """
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"`idx` has to be a (batch, T) tensor of token ids, got {shape}")
        batch, t = idx.shape
        if lengths is None:
            lengths = torch.full((batch,), t, device=idx.device)
        self._check_ids("lengths", lengths, batch)
        if int(lengths.min()) < 1 or int(lengths.max()) > t:
            raise ValueError(f"`lengths` has to be a (batch,) tensor with values in 1..{t}, got {lengths.tolist()}")
        if labels is not None:
            self._check_ids("labels", labels, batch)
            n = self.head.out_features
            if int(labels.min()) < 0 or int(labels.max()) >= n:
                raise ValueError(f"`labels` hold class ids from {int(labels.min())} to {int(labels.max())}; "
                                 f"they have to lie in 0 .. num_classes - 1 = {n - 1}")
        lengths = lengths.to(idx.device)                 # lengths and labels may come from the CPU
        labels = labels.to(idx.device) if labels is not None else None
        real = torch.arange(t, device=idx.device)[None, :] < lengths[:, None]  # (B, T)
        causal = self.gpt.config.causal
        h = self.gpt(idx, padding_mask=None if causal else real).last_hidden_state  # (B, T, C)
        if self.pooling == "last":
            summary = h[torch.arange(batch, device=h.device), lengths - 1]        # (B, C)
        else:
            summary = (h * real[..., None]).sum(1) / lengths[:, None]            # (B, C)
        logits = self.head(summary)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return GPTOutput(logits, loss)

    @staticmethod
    def _check_ids(name: str, value, batch: int) -> None:
        """``value`` has to be a ``(batch,)`` integer tensor (lengths or labels)."""
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"`{name}` has to be a (batch,) tensor of integers, got {type(value).__name__}; "
                            f"e.g. torch.tensor({name})")
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"`{name}` has to be a (batch,) tensor of integers, got dtype {value.dtype}")
        if value.shape != (batch,):
            raise ValueError(f"`{name}` has to be a (batch,) = ({batch},) tensor, one value per row of `idx`, "
                             f"got shape {tuple(value.shape)}")


def model_device(model: nn.Module) -> torch.device:
    """The device a model's weights are on (its first parameter's, else first buffer's; else the CPU).

    Helpers that build tensors for a model build them here, so they work after
    ``llm_book.training.train`` has moved the model to a GPU.

    Example:
        >>> idx = torch.tensor([[0, 7, 26]], device=model_device(model))  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` has to be a torch.nn.Module, got {type(model).__name__}")
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")
