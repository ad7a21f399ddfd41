"""Prompt-completion fine-tuning: teach a pretrained GPT a new task.

A task such as answering a question or translating a sentence becomes text:
a *prompt* ("The cat sat on the mat . Where did the cat sit ?") followed by
its *completion* ("on the mat <eos>").  The model is trained on the whole
sequence, but the loss counts only the completion's tokens (targets -100 on
the prompt): the model should learn to answer, not to write questions.

New tasks need new words.  ``extend_gpt`` copies a pretrained GPT into a
larger one - more token embeddings, more positions - keeping every learned
weight, so that fine-tuning starts from what pretraining taught.

Each shipped task model (``llm_book.dialogue``, ``llm_book.translation``)
begins its recipe the same way, with ``recipe_start``: the recipe's steps and
seed unless overridden, the toy language, and its sentences minus a held-out
test set (``split_sentences_train_test``, always with seed 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from llm_book._checks import check_int, check_real
from llm_book.model import GPT, model_device
from llm_book.sampling import greedy
from llm_book.training import TrainHistory, train
from llm_book.threads import runs_model_threads

Batch = tuple[torch.Tensor, torch.Tensor]


def _check_int(name: str, value, minimum: int = 1) -> int:
    return check_int(name, value, f"an integer >= {minimum}", minimum=minimum)


def extend_gpt(model: GPT, vocab_size: int, block_size: int | None = None,
               init_std: float = 0.02, seed: int = 0) -> GPT:
    """A copy of ``model`` with a larger vocabulary and (optionally) more positions.

    Token ``i < model.config.vocab_size`` keeps its learned embedding and its output
    weights (tied to the embedding, or a row of an untied output layer); new tokens get
    N(0, init_std) rows.  Learned positions beyond the old ``block_size`` get N(0, init_std)
    rows too (rotary positions need none).
    Everything else (attention, MLPs, LayerNorms) is copied unchanged.  The input
    model is not modified.

    Args:
        model: the pretrained GPT.
        vocab_size: the new vocabulary size, >= the old one (the old ids keep their meaning).
        block_size: the new longest input (default: unchanged), >= the old one.
        init_std: standard deviation of the new rows.
        seed: seeds the new rows.

    Returns:
        a new ``GPT`` in eval mode, on ``model``'s device.
    """
    if not isinstance(model, GPT):
        raise TypeError(f"`model` has to be a GPT, got {type(model).__name__}")
    old = model.config
    block_size = old.block_size if block_size is None else block_size
    _check_int("vocab_size", vocab_size)
    _check_int("block_size", block_size)
    if vocab_size < old.vocab_size:
        raise ValueError(f"`vocab_size` (={vocab_size}) has to be at least the model's "
                         f"vocab_size ({old.vocab_size}): the old token ids keep their rows")
    if block_size < old.block_size:
        raise ValueError(f"`block_size` (={block_size}) has to be at least the model's "
                         f"block_size ({old.block_size})")
    if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or not init_std >= 0:
        raise ValueError(f"`init_std` (={init_std!r}) has to be a non-negative float")
    config = dataclasses.replace(old, vocab_size=vocab_size, block_size=block_size)
    new = GPT(config)
    generator = torch.Generator().manual_seed(seed)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    wte = torch.randn(vocab_size, old.n_embd, generator=generator) * init_std
    wte[: old.vocab_size] = state["wte.weight"]
    state["wte.weight"] = wte
    if "wpe.weight" in state:  # learned positions; rotary positions (position="rope") have no table
        wpe = torch.randn(block_size, old.n_embd, generator=generator) * init_std
        wpe[: old.block_size] = state["wpe.weight"]
        state["wpe.weight"] = wpe
    if old.tie_embeddings:
        state["lm_head.weight"] = wte
    else:  # an output layer of its own: new words get new rows there too
        head = torch.randn(vocab_size, old.n_embd, generator=generator) * init_std
        head[: old.vocab_size] = state["lm_head.weight"]
        state["lm_head.weight"] = head
    new.load_state_dict(state)
    return new.to(model_device(model)).eval()


def completion_batch(prompts: Sequence[Sequence[str]], completions: Sequence[Sequence[str]],
                     tokenizer, pad_to: int | None = None) -> Batch:
    """Training pairs for prompt-completion fine-tuning: the loss sees only the completions.

    Each example is the sequence ``prompt + completion``; the input is the sequence
    without its last token, the target the sequence without its first (as in
    ``llm_book.training.lm_batch``).  Targets that are still part of the prompt are
    -100, so the loss ignores them; so is padding (inputs padded with the end token).

    Args:
        prompts, completions: lists of word lists, one prompt per completion.
        tokenizer: a ``WordTokenizer`` that knows every word.
        pad_to: pad every sequence to this many tokens (default: the longest).

    Returns:
        ``(idx, targets)``, both ``(batch, L - 1)``.
    """
    if isinstance(prompts, str) or isinstance(completions, str):
        raise TypeError("`prompts` and `completions` have to be lists of word lists, not strings")
    if len(prompts) != len(completions) or not len(prompts):
        raise ValueError(f"`prompts` ({len(prompts)}) and `completions` ({len(completions)}) have to "
                         f"be non-empty lists of the same length")
    encoded = []
    for i, (p, c) in enumerate(zip(prompts, completions)):
        if not len(p) or not len(c):
            raise ValueError(f"example {i} has an empty prompt or completion; both need a token")
        encoded.append((tokenizer.encode(p), tokenizer.encode(c)))
    longest = max(len(p) + len(c) for p, c in encoded)
    length = longest if pad_to is None else pad_to
    if length < longest:
        raise ValueError(f"`pad_to` (={pad_to}) is shorter than the longest example ({longest} tokens)")
    idx = torch.full((len(encoded), length - 1), tokenizer.eos_id, dtype=torch.long)
    targets = torch.full((len(encoded), length - 1), -100, dtype=torch.long)
    for i, (p, c) in enumerate(encoded):
        seq = torch.tensor(p + c)
        idx[i, : len(seq) - 1] = seq[:-1]
        targets[i, len(p) - 1: len(seq) - 1] = seq[len(p):]  # only the completion is scored
    return idx, targets


class CompletionSampler:
    """Random training batches from fixed prompt-completion pairs (encoded once).

    ``sampler(batch_size, generator)`` draws ``batch_size`` examples uniformly, with replacement.
    """

    def __init__(self, prompts, completions, tokenizer, pad_to: int | None = None) -> None:
        self.idx, self.targets = completion_batch(prompts, completions, tokenizer, pad_to)

    def __len__(self) -> int:
        return self.idx.shape[0]

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        picks = torch.randint(len(self), (batch_size,), generator=generator)
        return self.idx[picks], self.targets[picks]


def finetune(model: torch.nn.Module, tokenizer, prompts, completions, steps: int,
             batch_size: int = 64, lr: float = 1e-3, warmup_steps: int = 20, seed: int = 0,
             progress: bool = False, **train_kwargs) -> TrainHistory:
    """Train ``model`` in place on prompt-completion pairs; returns the loss history.

    Batches are drawn uniformly from the pairs with a generator seeded by ``seed``;
    the loop is ``llm_book.training.train`` (AdamW, warm-up, cosine decay), to which
    further keyword arguments go.
    """
    _check_int("steps", steps)
    _check_int("batch_size", batch_size)
    sampler = CompletionSampler(prompts, completions, tokenizer)
    generator = torch.Generator().manual_seed(seed)
    return train(model, lambda step: sampler(batch_size, generator), steps=steps, lr=lr,
                 warmup_steps=warmup_steps, progress=progress, **train_kwargs)


@runs_model_threads
@torch.no_grad()
def complete(model: GPT, tokenizer, prompts: Sequence[Sequence[str]],
             max_new_tokens: int = 8) -> list[list[str]]:
    """Greedy completions of many prompts, each stopped at the end token (not included).

    Prompts of equal length are decoded together in one batch (``llm_book.sampling.greedy``),
    so a few hundred prompts cost a few dozen forward passes per length.  A completion
    stops early where it would outgrow the model's ``block_size``.

    Returns:
        one list of words per prompt, in the order of ``prompts``.
    """
    if isinstance(prompts, str) or not len(prompts):
        raise ValueError("`prompts` has to be a non-empty list of word lists")
    _check_int("max_new_tokens", max_new_tokens, 0)
    too_long = [p for p in prompts if len(p) >= model.config.block_size]
    if too_long:
        raise ValueError(f"a prompt of {len(too_long[0])} tokens leaves no room in the model's "
                         f"block_size ({model.config.block_size}): {' '.join(too_long[0])!r}")
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    out: list[list[str]] = [[] for _ in prompts]
    eos = tokenizer.eos_id
    device = model_device(model)
    for length, rows in by_length.items():
        idx = torch.tensor([tokenizer.encode(prompts[i]) for i in rows], device=device)
        n_new = min(max_new_tokens, model.config.block_size - length)  # stay inside the block
        generated = greedy(model, idx, n_new, eos_id=eos, use_cache=True)[:, length:]
        for i, ids in zip(rows, generated.tolist()):
            ids = ids[: ids.index(eos)] if eos in ids else ids
            out[i] = tokenizer.decode(ids)
    return out


def exact_match(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Fraction of predictions equal to their reference, word for word (in [0, 1])."""
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("`predictions` and `references` have to be lists of word lists, not strings")
    if len(predictions) != len(references) or not len(predictions):
        raise ValueError(f"`predictions` ({len(predictions)}) and `references` ({len(references)}) "
                         f"have to be non-empty lists of the same length")
    return sum(list(p) == list(r) for p, r in zip(predictions, references)) / len(predictions)


def split_sentences_train_test(sentences: Sequence[Sequence[str]], test_fraction: float = 0.2,
                               seed: int = 0) -> tuple[list[list[str]], list[list[str]]]:
    """Shuffle the sentences with a seeded generator and hold out ``test_fraction`` of them."""
    import random

    test_fraction = check_real("test_fraction", test_fraction, "a float in (0, 1)", minimum=0, maximum=1,
                               min_inclusive=False, max_inclusive=False)
    seed = check_int("seed", seed, "an integer (the same seed, the same split)")
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(test_fraction * len(sentences)))
    test = [list(sentences[i]) for i in sorted(order[:n_test])]
    train = [list(sentences[i]) for i in sorted(order[n_test:])]
    return train, test


def recipe_start(recipe: dict, steps: int | None = None, seed: int | None = None):
    """The common beginning of a task recipe (``QA_RECIPE``, ``TRANSLATOR_RECIPE``).

    Args:
        recipe: needs ``"steps"``, ``"seed"`` and ``"test_fraction"``.
        steps, seed: override the recipe's when given.

    Returns:
        ``(steps, seed, language, train_sentences)``: the ``ToyLanguage`` and its
        sentences without the held-out ``recipe["test_fraction"]`` (split with seed 0,
        whatever ``seed`` is, so every model is tested on the same sentences).
    """
    from llm_book.language import ToyLanguage

    missing = [k for k in ("steps", "seed", "test_fraction") if k not in recipe]
    if missing:
        raise ValueError(f"`recipe` lacks {missing}; it needs 'steps', 'seed' and 'test_fraction'")
    steps = recipe["steps"] if steps is None else steps
    seed = recipe["seed"] if seed is None else seed
    language = ToyLanguage()
    train_sentences, _ = split_sentences_train_test([w for w, _ in language.sentences()],
                                                    recipe["test_fraction"], seed=0)
    return steps, seed, language, train_sentences
