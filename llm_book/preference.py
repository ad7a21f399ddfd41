"""Preference tuning with DPO: teach a chat model which of two answers is better.

Supervised fine-tuning (``llm_book.instructions``) shows a model good answers.
It never shows it a bad one, so it cannot learn what *not* to say.  Preference
tuning does: each example is a conversation and two replies, one *chosen* and
one *rejected* (a ``PreferencePair``), and training makes the chosen reply
more likely and the rejected one less likely - but only relative to a frozen
copy of the starting model, the *reference*.

Direct Preference Optimization (DPO, Rafailov et al. 2023) does it with one
loss on the four log-probabilities of a pair::

    L = -log sigmoid(beta * [(log pi(y_w|x) - log pi_ref(y_w|x))
                             - (log pi(y_l|x) - log pi_ref(y_l|x))])

where ``y_w`` is the chosen ("winning") reply, ``y_l`` the rejected ("losing")
one, ``pi`` the model being trained and ``pi_ref`` the reference.
``beta * (log pi - log pi_ref)`` is the *implicit reward* of a reply: the loss
is a logistic regression that the chosen reply earns the larger reward.  A
small ``beta`` lets the model move far from the reference before the loss is
satisfied; a large one keeps it close.  ``kl_to_reference`` measures how far it
moved.

The methods here take models and tensors (``sequence_logprobs``, ``dpo_loss``,
``kl_to_reference``, ``train_dpo``).  The book's experiment with them, teaching the
chat model of ``llm_book.instructions`` to say "it does not say" about an animal the
story never mentions, lives in ``llm_book.refusal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from llm_book._checks import check_int, check_real
from llm_book.threads import model_threads

Batch = tuple[torch.Tensor, torch.Tensor]


# ---------------------------------------------------------------------------
# Log-probabilities of replies
# ---------------------------------------------------------------------------
def _check_batch(idx, targets, name: str = "") -> None:
    """``idx`` and ``targets``: integer tensors of the same (batch, T) shape, each row scoring a token."""
    for arg, value in ((f"{name}idx", idx), (f"{name}targets", targets)):
        if not isinstance(value, torch.Tensor) or value.dim() != 2:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"`{arg}` has to be a (batch, T) tensor of token ids, got {got}")
        if value.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"`{arg}` has to hold integer token ids, got dtype {value.dtype}")
    if idx.shape != targets.shape:
        raise ValueError(f"`{name}targets` {tuple(targets.shape)} has to have the shape of "
                         f"`{name}idx` {tuple(idx.shape)}")
    empty = (targets != -100).sum(dim=1) == 0
    if empty.any():
        row = int(empty.nonzero()[0])
        raise ValueError(f"row {row} of `{name}targets` scores no token (all -100): a reply needs at "
                         f"least one scored token (build the batch with llm_book.chat.chat_batch)")


def sequence_logprobs(model: torch.nn.Module, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The log-probability the model gives each row's scored tokens: ``sum log p(target)``.

    Only positions whose target is not -100 count (with ``llm_book.chat.chat_batch`` these
    are the assistant's words and its end-of-turn token), so the result is
    ``log pi(reply | conversation)``.  Gradients flow; call it under ``torch.no_grad()`` for
    a model that is not being trained.

    Args:
        model: a GPT (called as ``model(idx).logits``).
        idx, targets: ``(batch, T)`` token ids; targets -100 where nothing is scored.

    Returns:
        ``(batch,)`` float tensor of summed log-probabilities (each <= 0).
    """
    _check_batch(idx, targets)
    logits = model(idx).logits                                   # (B, T, V)
    if targets.max() >= logits.shape[-1]:
        raise ValueError(f"`targets` holds id {int(targets.max())} but the model knows only "
                         f"{logits.shape[-1]} tokens")
    log_probs = torch.log_softmax(logits.float(), dim=-1)        # (B, T, V)
    scored = targets != -100                                     # (B, T)
    picked = log_probs.gather(-1, targets.clamp(min=0).long().unsqueeze(-1)).squeeze(-1)  # (B, T)
    return picked.masked_fill(~scored, 0.0).sum(dim=1)          # (B,)


# ---------------------------------------------------------------------------
# The DPO loss
# ---------------------------------------------------------------------------
@dataclass
class DPOLoss:
    """What ``dpo_loss`` returns.

    Attributes:
        loss: the mean DPO loss, a scalar tensor (call ``.backward()`` on it).
        chosen_rewards, rejected_rewards: ``(batch,)`` implicit rewards
            ``beta * (log pi - log pi_ref)`` of each reply, detached.
    """

    loss: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor

    @property
    def margin(self) -> float:
        """Mean reward margin, chosen minus rejected (> 0: the chosen replies are preferred)."""
        return float((self.chosen_rewards - self.rejected_rewards).mean())

    @property
    def accuracy(self) -> float:
        """Fraction of pairs whose chosen reply earns the larger reward."""
        return float((self.chosen_rewards > self.rejected_rewards).float().mean())


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
             reference_chosen: torch.Tensor, reference_rejected: torch.Tensor,
             beta: float = 0.1) -> DPOLoss:
    """The DPO loss of Rafailov et al. (2023) from the four log-probabilities of each pair.

    ``loss = -mean log sigmoid(beta * [(pc - rc) - (pr - rr)])`` with ``pc, pr`` the
    policy's and ``rc, rr`` the reference's log-probabilities of the chosen and
    rejected replies (``sequence_logprobs``).  The reference's are detached: no
    gradient reaches the reference model.

    Args:
        policy_chosen, policy_rejected, reference_chosen, reference_rejected: ``(batch,)`` tensors.
        beta: strength of the pull towards the reference, > 0 (0.1 in the paper's experiments).

    Returns:
        a ``DPOLoss`` (the scalar loss and the detached implicit rewards).

    Example:
        >>> out = dpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-1.0]),
        ...                torch.tensor([-2.0]))
        >>> round(out.loss.item(), 4)   # the policy is the reference: log 2
        0.6931
    """
    beta = check_real("beta", beta, "a positive, finite float (the strength of the pull towards the "
                      "reference; 0.1 is usual)", minimum=0, min_inclusive=False)
    names = ("policy_chosen", "policy_rejected", "reference_chosen", "reference_rejected")
    values = (policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    for name, value in zip(names, values):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            got = f"dtype {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise TypeError(f"`{name}` has to be a float tensor of log-probabilities, got {got}")
        if value.shape != policy_chosen.shape or value.dim() != 1 or not value.numel():
            raise ValueError(f"the four log-probabilities have to be (batch,) tensors of one shape; "
                             f"`policy_chosen` is {tuple(policy_chosen.shape)}, `{name}` is "
                             f"{tuple(value.shape)}")
        if not torch.isfinite(value).all():
            raise ValueError(f"`{name}` holds nan or inf; log-probabilities of replies are finite")
    chosen_logratio = policy_chosen - reference_chosen.detach()        # log pi/pi_ref of y_w
    rejected_logratio = policy_rejected - reference_rejected.detach()  # log pi/pi_ref of y_l
    loss = -F.logsigmoid(beta * (chosen_logratio - rejected_logratio)).mean()
    return DPOLoss(loss, beta * chosen_logratio.detach(), beta * rejected_logratio.detach())


# ---------------------------------------------------------------------------
# Preference data
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PreferencePair:
    """A conversation that ends with the user's turn, and two replies: ``chosen`` is the better one.

    Args:
        messages: the conversation so far, ``[{"role": ..., "content": ...}, ...]`` (copied).
        chosen, rejected: two different assistant replies, strings of vocabulary words.

    Example:
        >>> pair = PreferencePair([{"role": "user", "content": "The cat sat . Where did the dog sit ?"}],
        ...                       chosen="it does not say", rejected="on the mat")
    """

    messages: tuple
    chosen: str
    rejected: str

    def __post_init__(self) -> None:
        messages = self.messages
        if isinstance(messages, (str, dict)) or not isinstance(messages, Sequence) or not len(messages):
            raise ValueError(f"`messages` has to be a non-empty list of {{'role', 'content'}} dicts, "
                             f"got {type(messages).__name__}")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or set(m) != {"role", "content"}:
                raise ValueError(f"message {i} has to be a dict with exactly 'role' and 'content', got {m!r}")
        last = messages[-1]["role"]
        if last != "user":
            raise ValueError(f"a preference pair's conversation has to end with the user's turn (the "
                             f"replies answer it); the last message is {last!r}")
        for name in ("chosen", "rejected"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"`{name}` has to be a string (the assistant's reply), got {type(value).__name__}")
            if not value.split():
                raise ValueError(f"`{name}` is empty; a reply needs at least one word")
        if self.chosen.split() == self.rejected.split():
            raise ValueError(f"a preference pair needs two different answers; chosen and rejected are "
                             f"both {self.chosen!r}")
        object.__setattr__(self, "messages", tuple(dict(m) for m in messages))

    def conversations(self) -> tuple[list[dict], list[dict]]:
        """The two complete conversations: ``messages`` + the chosen reply, ``messages`` + the rejected one."""
        base = [dict(m) for m in self.messages]
        return (base + [{"role": "assistant", "content": self.chosen}],
                base + [{"role": "assistant", "content": self.rejected}])


def _check_pairs(pairs) -> list[PreferencePair]:
    if isinstance(pairs, PreferencePair) or isinstance(pairs, str) or not isinstance(pairs, Sequence) \
            or not len(pairs):
        raise ValueError(f"`pairs` has to be a non-empty list of PreferencePair, got {type(pairs).__name__}")
    for i, p in enumerate(pairs):
        if not isinstance(p, PreferencePair):
            raise TypeError(f"`pairs[{i}]` has to be a PreferencePair, got {type(p).__name__}")
    return list(pairs)


def preference_batches(pairs: Sequence[PreferencePair], tokenizer,
                       pad_to: int | None = None) -> tuple[Batch, Batch]:
    """Token batches of the chosen and the rejected conversations, padded to one length.

    Each side is ``llm_book.chat.chat_batch`` of the complete conversations: targets
    are -100 except on the assistant's reply (its words and end-of-turn token), so
    ``sequence_logprobs`` on a side gives ``log pi(reply | conversation)``.

    Args:
        pairs: ``PreferencePair``s.
        tokenizer: a chat tokenizer (``llm_book.chat.chat_tokenizer``) that knows every word.
        pad_to: tokens per rendered conversation (default: the longest of both sides).

    Returns:
        ``((chosen_idx, chosen_targets), (rejected_idx, rejected_targets))``, all ``(len(pairs), L - 1)``.
    """
    from llm_book.chat import chat_batch, render_chat

    pairs = _check_pairs(pairs)
    chosen, rejected = zip(*(p.conversations() for p in pairs))
    if pad_to is None:
        pad_to = max(len(render_chat(c)) for c in chosen + rejected)
    return chat_batch(list(chosen), tokenizer, pad_to=pad_to), chat_batch(list(rejected), tokenizer, pad_to=pad_to)


# ---------------------------------------------------------------------------
# How far the policy moved: KL to the reference
# ---------------------------------------------------------------------------
@torch.no_grad()
def kl_to_reference(policy: torch.nn.Module, reference: torch.nn.Module, idx: torch.Tensor,
                    targets: torch.Tensor, batch_size: int = 256) -> float:
    """Mean KL(pi || pi_ref) of the next-token distributions at the scored positions.

    At each position whose target is not -100 (the assistant's tokens), both models
    predict a distribution over the whole vocabulary; this is
    ``mean over positions of sum_v pi(v) (log pi(v) - log pi_ref(v))``, in nats.
    0 when the models agree; it grows as preference tuning moves the policy.

    Args:
        policy, reference: GPTs with the same vocabulary.
        idx, targets: ``(batch, T)``, e.g. from ``llm_book.chat.chat_batch``.
        batch_size: rows per forward pass (memory only; the result does not depend on it).

    Returns:
        the mean KL in nats (a float >= 0).
    """
    _check_batch(idx, targets)
    batch_size = check_int("batch_size", batch_size, "a positive integer (rows per forward pass)", minimum=1)
    device = next(policy.parameters()).device
    idx, targets = idx.to(device), targets.to(device)
    total, count = 0.0, 0
    modes = policy.training, reference.training
    policy.eval(), reference.eval()
    try:
        with model_threads(policy):
            for start in range(0, idx.shape[0], batch_size):
                x, y = idx[start:start + batch_size], targets[start:start + batch_size]
                log_p = torch.log_softmax(policy(x).logits.double(), dim=-1)      # (b, T, V)
                log_q = torch.log_softmax(reference(x).logits.double(), dim=-1)   # (b, T, V)
                if log_p.shape != log_q.shape:
                    raise ValueError(f"`policy` and `reference` have to share a vocabulary: their logits are "
                                     f"{tuple(log_p.shape)} and {tuple(log_q.shape)}")
                kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)                 # (b, T)
                scored = y != -100
                total += float(kl[scored].sum())
                count += int(scored.sum())
    finally:
        policy.train(modes[0]), reference.train(modes[1])
    return max(total / count, 0.0)


# ---------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------
@dataclass
class DPOHistory:
    """One entry per optimiser step: the DPO loss and the implicit rewards of the batch.

    ``margin`` is chosen minus rejected reward (mean over the batch); ``accuracy`` the
    fraction of the batch's pairs whose chosen reply earns the larger reward.
    """

    loss: list[float] = field(default_factory=list)
    chosen_reward: list[float] = field(default_factory=list)
    rejected_reward: list[float] = field(default_factory=list)
    margin: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)   # the record llm_book.pretrained writes
    eval_loss: list[float] = field(default_factory=list)
    results: dict = field(default_factory=dict)           # measurements (llm_book.refusal.train_dpo_assistant fills it)

    def to_record(self) -> dict:
        """The history as plain JSON-ready lists (rounded) and the ``results``."""
        curves = {name: [round(v, 5) for v in getattr(self, name)]
                  for name in ("loss", "chosen_reward", "rejected_reward", "margin", "accuracy")}
        return {**curves, "lr": self.lr, "eval_steps": self.eval_steps, "eval_loss": self.eval_loss,
                "results": self.results}


def train_dpo(policy: torch.nn.Module, reference: torch.nn.Module, pairs: Sequence[PreferencePair],
              tokenizer, steps: int, beta: float = 0.1, lr: float = 1e-4, batch_size: int = 32,
              seed: int = 0, sft_weight: float = 0.0, progress: bool = False) -> DPOHistory:
    """Tune ``policy`` in place with the DPO loss on ``pairs``; ``reference`` stays as it is.

    The reference's log-probabilities of every pair are computed once, under
    ``torch.no_grad()`` and in eval mode: the reference is frozen and never modified
    (its parameters get no gradient, its mode is restored).  Each step draws
    ``batch_size`` pairs (with replacement, from a generator seeded by ``seed``),
    scores the chosen and rejected replies under the policy, and takes an AdamW step
    (constant ``lr``, no weight decay, gradient norm clipped to 1).

    With ``sft_weight > 0`` the loss adds ``sft_weight`` times the chosen replies' mean
    negative log-likelihood per token, as Llama 3's post-training does (with 0.2): DPO
    alone can satisfy its loss by pushing *both* replies down, and with narrow preference
    data that drags down everything else the model does.

    Args:
        policy: the model to tune (usually a copy of ``reference``); left in eval mode.
        reference: the frozen starting model; the same vocabulary as ``policy``.
        pairs: ``PreferencePair``s; tokenizer: the chat tokenizer of both models.
        steps: optimiser steps; beta: see ``dpo_loss``; lr: AdamW's learning rate.
        batch_size: pairs per step; seed: seeds the order of pairs.
        sft_weight: weight of the chosen replies' likelihood term (0: the paper's DPO).
        progress: show a tqdm progress bar.

    Returns:
        the ``DPOHistory`` (loss, rewards, margin and accuracy per step).
    """
    if policy is reference:
        raise ValueError("`policy` and `reference` are the same object: DPO would move the reference "
                         "too; pass a copy as the policy, e.g. copy.deepcopy(reference)")
    for name, model in (("policy", policy), ("reference", reference)):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"`{name}` has to be a GPT (a torch.nn.Module), got {type(model).__name__}")
    steps = check_int("steps", steps, "a positive integer (optimiser steps)", minimum=1)
    batch_size = check_int("batch_size", batch_size, "a positive integer (pairs per step)", minimum=1)
    lr = check_real("lr", lr, "a positive, finite float (the learning rate)", minimum=0, min_inclusive=False)
    beta = check_real("beta", beta, "a positive, finite float (see dpo_loss)", minimum=0, min_inclusive=False)
    seed = check_int("seed", seed, "an integer (it seeds the order of pairs)")
    sft_weight = check_real("sft_weight", sft_weight, "a finite float >= 0 (0: the paper's DPO)", minimum=0)
    (chosen_idx, chosen_targets), (rejected_idx, rejected_targets) = preference_batches(pairs, tokenizer)
    block_size = getattr(getattr(policy, "config", None), "block_size", None)
    if block_size is not None and chosen_idx.shape[1] > block_size:
        raise ValueError(f"the longest conversation of `pairs` renders to {chosen_idx.shape[1] + 1} tokens; "
                         f"the model reads at most block_size = {block_size}")
    device = next(policy.parameters()).device
    chosen_idx, chosen_targets = chosen_idx.to(device), chosen_targets.to(device)
    rejected_idx, rejected_targets = rejected_idx.to(device), rejected_targets.to(device)

    was_training = reference.training
    reference.eval()
    try:
        with torch.no_grad(), model_threads(reference):      # the reference: scored once, frozen
            reference_chosen = torch.cat([sequence_logprobs(reference, chosen_idx[i:i + 256],
                                                            chosen_targets[i:i + 256])
                                          for i in range(0, len(chosen_idx), 256)])
            reference_rejected = torch.cat([sequence_logprobs(reference, rejected_idx[i:i + 256],
                                                              rejected_targets[i:i + 256])
                                            for i in range(0, len(rejected_idx), 256)])
    finally:
        reference.train(was_training)

    scored = torch.cat([chosen_targets, rejected_targets]) != -100          # (2 * pairs, T)
    last_scored = scored.shape[1] - scored.flip(1).int().argmax(dim=1)      # last scored position + 1
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=lr,
                                  betas=(0.9, 0.95), weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    history = DPOHistory()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="DPO", leave=False, mininterval=0.5)
    with model_threads(policy):
        policy.train()
        for _ in range(steps):
            picks = torch.randint(len(chosen_idx), (batch_size,), generator=generator).to(device)
            # one forward pass for both replies of each pair: chosen rows first, then rejected,
            # cut after the last scored position (the model is causal: padding changes nothing)
            idx = torch.cat([chosen_idx[picks], rejected_idx[picks]])
            targets = torch.cat([chosen_targets[picks], rejected_targets[picks]])
            n = int(last_scored[torch.cat([picks, picks + len(chosen_idx)])].max())
            both = sequence_logprobs(policy, idx[:, :n], targets[:, :n])
            out = dpo_loss(both[:batch_size], both[batch_size:], reference_chosen[picks],
                           reference_rejected[picks], beta=beta)
            loss = out.loss
            if sft_weight:   # plus the chosen replies' negative log-likelihood per token
                n_tokens = (chosen_targets[picks] != -100).sum(dim=1)
                loss = loss - sft_weight * (both[:batch_size] / n_tokens).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            history.loss.append(out.loss.item())
            history.chosen_reward.append(float(out.chosen_rewards.mean()))
            history.rejected_reward.append(float(out.rejected_rewards.mean()))
            history.margin.append(out.margin)
            history.accuracy.append(out.accuracy)
            history.lr.append(lr)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    if bar is not None:
        bar.close()
    policy.eval()
    return history
