"""A small, readable training loop for language models.

AdamW, a learning rate that warms up linearly and then decays along a cosine,
gradient clipping, and an optional evaluation every N steps.  ``train``
returns the loss history so a notebook can plot it.

The same loop runs beyond one laptop:

* it picks the device itself (CUDA where present, else the CPU);
* launched by PyTorch's ``torchrun --nproc_per_node=N script.py``, it joins the
  process group (NCCL on GPUs, gloo on CPUs), wraps the model in
  ``DistributedDataParallel`` and gives each process its share of every batch,
  so N processes follow the loss curve of one process on the same global batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from llm_book._checks import check_int, check_real
from llm_book.threads import model_threads

Batch = tuple[torch.Tensor, torch.Tensor]


def lm_batch(sentences: Sequence[Sequence[str]], tokenizer, pad_to: int | None = None) -> Batch:
    """Turn sentences into next-token training pairs.

    The input is each sentence without its last token, the target the sentence
    without its first: position t is trained to predict token t + 1.  Shorter
    sentences are padded (inputs with the end token, targets with -100, which
    the loss ignores).

    Returns:
        ``(idx, targets)``, both ``(batch, L - 1)`` where L is the longest sentence
        (or ``pad_to``).
    """
    if pad_to is not None:
        pad_to = check_int("pad_to", pad_to, "an integer >= 2 (tokens per padded sentence) or None",
                           minimum=2)
    encoded = [tokenizer.encode(s) for s in sentences]
    if not encoded or min(len(e) for e in encoded) < 2:
        raise ValueError("`sentences` has to hold at least one sentence, each of 2 or more tokens")
    length = max(len(e) for e in encoded) if pad_to is None else pad_to
    if length < max(len(e) for e in encoded):
        raise ValueError(f"`pad_to` (={pad_to}) is shorter than the longest sentence")
    idx = torch.full((len(encoded), length - 1), tokenizer.eos_id, dtype=torch.long)
    targets = torch.full((len(encoded), length - 1), -100, dtype=torch.long)
    for i, e in enumerate(encoded):
        idx[i, : len(e) - 1] = torch.tensor(e[:-1])
        targets[i, : len(e) - 1] = torch.tensor(e[1:])
    return idx, targets


class LanguageSampler:
    """Draws training batches from a ``ToyLanguage`` with its exact sentence probabilities.

    Every sentence is encoded once; a batch is a draw of sentence indices, so a
    step costs one ``torch.multinomial`` and two indexings.
    """

    def __init__(self, language, tokenizer) -> None:
        sentences = language.sentences()
        self.idx, self.targets = lm_batch([w for w, _ in sentences], tokenizer)
        self.probs = torch.tensor([p for _, p in sentences], dtype=torch.float64)

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        batch_size = check_int("batch_size", batch_size, "a positive integer", minimum=1)
        picks = torch.multinomial(self.probs, batch_size, replacement=True, generator=generator)
        return self.idx[picks], self.targets[picks]


class PackedLanguageSampler:
    """Batches the way real models are pretrained: sentences packed into full windows.

    Sentences drawn with their exact probabilities are laid end to end, each
    closed by its end token, into one stream (``The cat sat on the mat <eos> The
    dog runs <eos> The ...``), which is cut into windows of ``block_size + 1``
    tokens.  Every position of every window is trained, including the last ones,
    and no token is padding; a window may begin in the middle of a sentence, and
    a sentence may see the end of the one before it (the model learns that
    ``<eos>`` makes what came before irrelevant).  ``LanguageSampler`` pads
    instead: one sentence a row, so positions past the longest sentence are
    never trained.

    ``sampler(batch_size, generator)`` returns ``(idx, targets)``, both
    ``(batch_size, block_size)``: row i is window i of the stream, and
    ``targets[:, t]`` is the token after ``idx[:, t]``.

    Example:
        >>> from llm_book.language import ToyLanguage
        >>> from llm_book.tokenizer import WordTokenizer
        >>> lang = ToyLanguage()
        >>> sampler = PackedLanguageSampler(lang, WordTokenizer(lang.vocab, eos=lang.eos), block_size=16)
        >>> idx, targets = sampler(4, torch.Generator().manual_seed(0))
        >>> idx.shape, bool((targets == -100).any())
        (torch.Size([4, 16]), False)
    """

    def __init__(self, language, tokenizer, block_size: int) -> None:
        self.block_size = check_int("block_size", block_size, "a positive integer (tokens per window)",
                                    minimum=1)
        sentences = language.sentences()
        self.sentences = [torch.tensor(tokenizer.encode(w), dtype=torch.long) for w, _ in sentences]
        self.probs = torch.tensor([p for _, p in sentences], dtype=torch.float64)
        self.mean_length = float(sum(p * len(s) for s, p in zip(self.sentences, self.probs.tolist())))

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        batch_size = check_int("batch_size", batch_size, "a positive integer", minimum=1)
        needed = batch_size * (self.block_size + 1)
        pieces, have = [], 0
        while have < needed:                   # draw sentences until the stream fills the batch
            n = max(1, math.ceil(1.1 * (needed - have) / self.mean_length))
            for i in torch.multinomial(self.probs, n, replacement=True, generator=generator).tolist():
                pieces.append(self.sentences[i])
                have += len(self.sentences[i])
        windows = torch.cat(pieces)[:needed].view(batch_size, self.block_size + 1)
        return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()


def default_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def distributed_context() -> tuple[int, int]:
    """``(rank, world_size)``; joins the process group when launched by ``torchrun`` with N > 1.

    Outside ``torchrun`` (or with one process) this returns ``(0, 1)`` and changes nothing.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def shard_batch(idx: torch.Tensor, targets: torch.Tensor, rank: int, world_size: int) -> Batch:
    """Rows ``rank, rank + world_size, ...`` of a global batch: one process's share."""
    if idx.shape[0] % world_size:
        raise ValueError(f"the batch size ({idx.shape[0]}) has to be a multiple of the number of "
                         f"processes ({world_size}), so that every process gets the same share")
    return idx[rank::world_size], targets[rank::world_size]


def lr_at(step: int, lr: float, warmup_steps: int, total_steps: int, min_lr: float) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to ``min_lr`` at ``total_steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def _checked_batch(get_batch: Callable[[int], Batch], step: int) -> Batch:
    """``get_batch(step)``, checked to be a pair of tensors."""
    batch = get_batch(step)
    if not isinstance(batch, (tuple, list)) or len(batch) != 2 \
            or not all(isinstance(t, torch.Tensor) for t in batch):
        got = (f"a {type(batch).__name__} of {len(batch)}: "
               f"({', '.join(type(t).__name__ for t in batch)})"
               if isinstance(batch, (tuple, list)) else type(batch).__name__)
        raise TypeError(f"`get_batch({step})` has to return a pair of tensors (idx, targets), got {got}")
    return batch[0], batch[1]


def _checked_eval(eval_fn: Callable[[torch.nn.Module], float], model: torch.nn.Module, step: int) -> float:
    """``float(eval_fn(model))``, with an error naming ``eval_fn`` when it returns no number."""
    value = eval_fn(model)
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"`eval_fn(model)` has to return a number (e.g. a loss), got "
                        f"{type(value).__name__} at step {step}") from err


@dataclass
class TrainHistory:
    """Loss per step (``loss``), learning rate per step, and evaluations every ``eval_every`` steps."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)


def train(model: torch.nn.Module, get_batch: Callable[[int], Batch], steps: int,
          lr: float = 3e-3, warmup_steps: int = 100, min_lr: float | None = None,
          weight_decay: float = 0.1, grad_clip: float | None = 1.0,
          eval_fn: Callable[[torch.nn.Module], float] | None = None, eval_every: int = 100,
          progress: bool = False, device: torch.device | str | None = None) -> TrainHistory:
    """Train ``model`` for ``steps`` optimiser steps and return the loss history.

    Args:
        model: returns an object with ``.loss`` when called as ``model(idx, targets)``.
        get_batch: ``get_batch(step) -> (idx, targets)``.
        steps: number of optimiser steps.
        lr: peak learning rate; ``min_lr`` (default lr / 10) is reached at the end.
        warmup_steps: steps of linear warm-up.
        weight_decay: AdamW weight decay on matrices (not on biases and LayerNorms).
        grad_clip: clip the global gradient norm to this (None: no clipping).
        eval_fn: ``eval_fn(model) -> float``, called every ``eval_every`` steps and at the end.
        progress: show a tqdm progress bar.
        device: where to train (default: ``default_device()``); the model is moved there.

    Returns:
        the ``TrainHistory``.  The model is left on ``device`` and in **eval mode**
        (dropout off), ready to evaluate and sample, whatever mode it came in with;
        call ``model.train()`` before training it further by hand.

    Under ``torchrun`` with N processes, ``get_batch(step)`` must return the same
    global batch in every process (seed it); process r trains on rows r, r + N, ...
    (on GPU number ``LOCAL_RANK`` when ``device`` is CUDA without an index)
    and the recorded loss is the mean over processes.  The batch size has to be a
    multiple of N.
    """
    if not callable(get_batch):
        raise TypeError(f"`get_batch` has to be a function step -> (idx, targets), "
                        f"got {type(get_batch).__name__}")
    steps = check_int("steps", steps, "a positive integer", minimum=1)
    lr = check_real("lr", lr, "a positive, finite float", minimum=0, min_inclusive=False)
    warmup_steps = check_int("warmup_steps", warmup_steps, "a non-negative integer", minimum=0)
    eval_every = check_int("eval_every", eval_every, "a positive integer", minimum=1)
    weight_decay = check_real("weight_decay", weight_decay, "a non-negative, finite float (0: no decay)",
                              minimum=0)
    if grad_clip is not None:
        grad_clip = check_real("grad_clip", grad_clip, "a positive, finite float (the largest "
                               "gradient norm), or None for no clipping", minimum=0, min_inclusive=False)
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"`eval_fn` has to be a function model -> float, or None; "
                        f"got {type(eval_fn).__name__}")
    if min_lr is None:
        min_lr = lr / 10
    else:
        min_lr = check_real("min_lr", min_lr, f"a finite float from 0 to `lr` (={lr!r}), or None "
                            f"for lr / 10", minimum=0, maximum=lr)
    device = torch.device(device) if device is not None else default_device()
    rank, world_size = distributed_context()
    if world_size > 1 and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))  # one GPU per process
        torch.cuda.set_device(device)
    model.to(device)
    net = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.95),
    )
    history = TrainHistory()
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="training", leave=False, mininterval=0.5)

    # A tiny model on the CPU trains fastest on one thread (llm_book.threads); the reader's
    # setting is restored afterwards.
    with model_threads(model):
        model.train()
        for step in range(steps):
            step_lr = lr_at(step, lr, warmup_steps, steps, min_lr)
            for group in optimizer.param_groups:
                group["lr"] = step_lr
            idx, targets = shard_batch(*_checked_batch(get_batch, step), rank, world_size)  # this process's share
            loss = net(idx.to(device), targets.to(device)).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()                      # under DDP: gradients averaged over processes here
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            loss = loss.detach()
            if world_size > 1:
                import torch.distributed as dist

                dist.all_reduce(loss, op=dist.ReduceOp.AVG if device.type == "cuda" else dist.ReduceOp.SUM)
                if device.type != "cuda":  # gloo has no AVG
                    loss /= world_size
            history.loss.append(loss.item())
            history.lr.append(step_lr)
            if eval_fn is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
                model.eval()
                with torch.no_grad():
                    history.eval_steps.append(step + 1)
                    history.eval_loss.append(_checked_eval(eval_fn, model, step + 1))
                model.train()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    if bar is not None:
        bar.close()
    model.eval()
    return history
