"""Pretraining objectives (预训练目标): what a model is trained to predict from raw text.

The article's Section 3.3 names three:

* **causal language modelling** (语言模型): minimise ``-sum_t log P(x_t | x_<t)``,
  the negative log-likelihood of each token given the ones before it (GPT);
* **denoising / masked language modelling** (去噪自编码): hide some tokens and
  minimise ``-sum_t m_t log P(x_t | x_\\m)``, the reconstruction loss of the hidden
  ones given everything else, both sides (BERT);
* **contrastive learning** (对比学习): pull the embeddings of a positive pair
  (two related sentences) together and push apart the other sentences of the
  batch (InfoNCE; sentence encoders such as MiniLM).

Each loss takes tensors and returns a scalar tensor that can be back-propagated.
``mask_tokens`` makes masked-LM inputs with BERT's 80/10/10 strategy, and
``masked_word_distribution`` gives the exact answer a masked LM should learn on
``ToyLanguage``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"`reduction` (={reduction!r}) has to be 'mean' or 'sum'")


def _check_logits(logits, name: str = "logits") -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"`{name}` has to be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() != 3 or not logits.is_floating_point():
        raise ValueError(f"`{name}` has to be a float tensor (batch, T, vocab), got "
                         f"{logits.dtype} of shape {tuple(logits.shape)}")


def causal_lm_loss(logits: torch.Tensor, tokens: torch.Tensor,
                   padding_mask: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """The language-modelling loss ``-sum_t log P(x_t | x_<t)``, from a model's output on ``tokens``.

    Position ``t`` of ``logits`` predicts token ``t + 1``, so the loss compares
    ``logits[:, :-1]`` with ``tokens[:, 1:]`` (the first token is given).

    Args:
        logits: ``(batch, T, vocab)``, the model's output for ``tokens``.
        tokens: ``(batch, T)`` token ids.
        padding_mask: optional boolean ``(batch, T)``, True for real tokens; padding is not predicted.
        reduction: "mean" (per predicted token, what training minimises) or "sum" (the article's formula).

    Returns:
        a scalar tensor.
    """
    _check_logits(logits)
    _check_reduction(reduction)
    if not isinstance(tokens, torch.Tensor) or tokens.shape != logits.shape[:2]:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"`tokens` has to be a (batch, T) = {tuple(logits.shape[:2])} tensor of ids "
                         f"matching `logits`, got {shape}")
    if tokens.shape[1] < 2:
        raise ValueError(f"`tokens` needs at least 2 positions (one to read, one to predict), got {tokens.shape[1]}")
    targets = tokens[:, 1:]
    if padding_mask is not None:
        if padding_mask.dtype != torch.bool or padding_mask.shape != tokens.shape:
            raise ValueError(f"`padding_mask` has to be a boolean tensor shaped like `tokens` "
                             f"{tuple(tokens.shape)}, True for real tokens")
        targets = targets.masked_fill(~padding_mask[:, 1:], IGNORE_INDEX)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction=reduction)


def mask_tokens(tokens: torch.Tensor, mask_id: int, vocab_size: int, mask_prob: float = 0.15,
                replace_probs: tuple[float, float, float] = (0.8, 0.1, 0.1),
                padding_mask: torch.Tensor | None = None, special_ids: Sequence[int] = (),
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose ``mask_prob`` of the positions as targets; of those, replace 80 %
    by ``mask_id``, 10 % by a random word and leave 10 % unchanged.

    The random and unchanged cases stop the model from relying on seeing ``mask_id``:
    at fine-tuning time there is no mask token, so every position must be predicted well.

    Args:
        tokens: ``(batch, T)`` token ids (not changed).
        mask_id: id of the mask token.
        vocab_size: random replacements are drawn uniformly from ``0 .. vocab_size - 1``,
            skipping ``mask_id`` and ``special_ids``.
        mask_prob: probability that a position becomes a target.
        replace_probs: (mask, random, keep) shares of the targets; they sum to 1.
        padding_mask: optional boolean ``(batch, T)``, True for real tokens; padding is never chosen.
        special_ids: ids that are never chosen nor drawn (e.g. end-of-sentence).
        generator: a seeded ``torch.Generator`` makes the choice repeatable.

    Returns:
        ``(inputs, labels)``, both ``(batch, T)``: ``inputs`` with the replacements;
        ``labels`` holds the original id at target positions and -100 elsewhere.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"`tokens` has to be a (batch, T) tensor of integer ids, got {shape}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"`vocab_size` (={vocab_size!r}) has to be a positive integer")
    if isinstance(mask_id, bool) or not isinstance(mask_id, int) or mask_id < 0:
        raise ValueError(f"`mask_id` (={mask_id!r}) has to be a non-negative integer token id")
    if isinstance(mask_prob, bool) or not isinstance(mask_prob, (int, float)) or not 0 <= mask_prob <= 1:
        raise ValueError(f"`mask_prob` (={mask_prob!r}) has to be a probability in [0, 1]")
    if len(replace_probs) != 3 or any(p < 0 for p in replace_probs) \
            or not math.isclose(sum(replace_probs), 1.0, abs_tol=1e-9):
        raise ValueError(f"`replace_probs` (={replace_probs!r}) has to be three non-negative shares "
                         f"(mask, random, keep) that sum to 1, e.g. (0.8, 0.1, 0.1)")
    if padding_mask is not None and (padding_mask.dtype != torch.bool or padding_mask.shape != tokens.shape):
        raise ValueError(f"`padding_mask` has to be a boolean tensor shaped like `tokens` "
                         f"{tuple(tokens.shape)}, True for real tokens")
    excluded = sorted({mask_id, *[int(i) for i in special_ids]} & set(range(vocab_size)))
    allowed = torch.tensor([i for i in range(vocab_size) if i not in excluded], dtype=torch.long)
    if replace_probs[1] > 0 and len(allowed) == 0:
        raise ValueError("no id is left to draw random replacements from: `vocab_size` is too small")

    shape, device = tokens.shape, tokens.device
    u = torch.rand(shape, generator=generator)                    # chooses the targets
    how = torch.rand(shape, generator=generator)                  # chooses mask / random / keep
    random_pick = torch.randint(max(len(allowed), 1), shape, generator=generator)
    chosen = u < mask_prob
    if padding_mask is not None:
        chosen &= padding_mask.cpu()
    for special in special_ids:
        chosen &= tokens.cpu() != special
    chosen = chosen.to(device)
    how = how.to(device)
    p_mask, p_random, _ = replace_probs
    to_mask = chosen & (how < p_mask)
    to_random = chosen & (how >= p_mask) & (how < p_mask + p_random)
    inputs = tokens.clone()
    inputs[to_mask] = mask_id
    if len(allowed):
        inputs[to_random] = allowed.to(device)[random_pick.to(device)][to_random]
    labels = torch.where(chosen, tokens, torch.full_like(tokens, IGNORE_INDEX))
    return inputs, labels


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The reconstruction loss ``-sum_t m_t log P(x_t | x_\\m)`` over the target positions.

    Args:
        logits: ``(batch, T, vocab)`` from a bidirectional model that read the masked inputs.
        labels: ``(batch, T)``: the original id at each target position (``m_t = 1``), -100 elsewhere.
        reduction: "mean" over target positions, or "sum".

    Returns:
        a scalar tensor; 0 (still differentiable) when no position is a target.
    """
    _check_logits(logits)
    _check_reduction(reduction)
    if not isinstance(labels, torch.Tensor) or labels.shape != logits.shape[:2]:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"`labels` has to be a (batch, T) = {tuple(logits.shape[:2])} tensor "
                         f"matching `logits`, got {shape}")
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction=reduction)


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` ``(N, D)`` with every row of ``b`` ``(M, D)``: ``(N, M)``."""
    b = a if b is None else b
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"`{name}` has to be a 2-D (rows, dim) tensor of embeddings, got {shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"`a` and `b` need the same embedding size, got {a.shape[1]} and {b.shape[1]}")
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def info_nce_loss(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1,
                  symmetric: bool = True) -> torch.Tensor:
    """InfoNCE: row ``i`` of ``a`` and row ``i`` of ``b`` are a positive pair; every other row
    of the batch is a negative.

    With ``s_ij = cos(a_i, b_j) / temperature`` the loss is the cross-entropy of
    picking the partner among the batch: ``-mean_i log( exp(s_ii) / sum_j exp(s_ij) )``,
    averaged over both directions (a -> b and b -> a) when ``symmetric``.  It is
    small when each pair is more similar than any mismatched pair, and about
    ``log N`` when embeddings carry no information.

    Args:
        a, b: ``(N, D)`` embeddings of the two sides of ``N`` pairs (N >= 2).
        temperature: divides the cosine similarities; smaller is sharper.
        symmetric: average the a -> b and b -> a losses (as CLIP and sentence encoders do).

    Returns:
        a scalar tensor.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or math.isnan(temperature) or temperature <= 0:
        raise ValueError(f"`temperature` (={temperature!r}) has to be a strictly positive float")
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape \
            or a.dim() != 2:
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (a, b)]
        raise ValueError(f"`a` and `b` have to be 2-D tensors of the same shape (N, D), got {shapes[0]} "
                         f"and {shapes[1]}")
    if a.shape[0] < 2:
        raise ValueError(f"InfoNCE needs at least 2 pairs (the others are the negatives), got {a.shape[0]}")
    scores = cosine_similarity_matrix(a, b) / temperature       # (N, N): the diagonal holds the pairs
    targets = torch.arange(a.shape[0], device=a.device)
    loss = F.cross_entropy(scores, targets)
    if symmetric:
        loss = (loss + F.cross_entropy(scores.T, targets)) / 2
    return loss


def mean_pool(hidden: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the token vectors ``(batch, T, C)`` over real tokens: sentence embeddings ``(batch, C)``."""
    if not isinstance(hidden, torch.Tensor) or hidden.dim() != 3:
        shape = tuple(hidden.shape) if isinstance(hidden, torch.Tensor) else type(hidden).__name__
        raise ValueError(f"`hidden` has to be a (batch, T, C) tensor, got {shape}")
    if padding_mask is None:
        return hidden.mean(1)
    if padding_mask.dtype != torch.bool or padding_mask.shape != hidden.shape[:2]:
        raise ValueError(f"`padding_mask` has to be a boolean (batch, T) = {tuple(hidden.shape[:2])} "
                         f"tensor, True for real tokens")
    if not padding_mask.any(1).all():
        raise ValueError("`padding_mask` has a row with no real token; its mean is undefined")
    m = padding_mask[..., None].to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1)


def masked_word_distribution(language, words: Sequence[str], position: int) -> dict[str, float]:
    """The exact P(word at ``position`` | every other word) in ``ToyLanguage``.

    Enumerates the language's sentences that agree with ``words`` everywhere but at
    ``position`` and normalises their probabilities: what a perfect masked language
    model predicts for a single masked word.

    Args:
        language: a ``ToyLanguage``.
        words: a whole sentence (ending with the end token); the word at ``position``
            is ignored (it may be anything, e.g. "<mask>").
        position: index of the masked word.

    Returns:
        ``{word: probability}`` over the words that fit (sums to 1).
    """
    if isinstance(words, str):
        raise TypeError(f"`words` has to be a list of words, got the string {words!r}; split it first")
    words = list(words)
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(words):
        raise ValueError(f"`position` (={position!r}) has to be an index into `words` (0 to {len(words) - 1})")
    totals: dict[str, float] = {}
    for sentence, p in language.sentences():
        if len(sentence) == len(words) and all(
                s == w for i, (s, w) in enumerate(zip(sentence, words)) if i != position):
            totals[sentence[position]] = totals.get(sentence[position], 0.0) + p
    mass = sum(totals.values())
    if mass == 0:
        raise ValueError(f"no sentence of the language matches {words!r} outside position {position}")
    return {w: p / mass for w, p in sorted(totals.items(), key=lambda kv: -kv[1])}
