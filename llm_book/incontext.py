"""In-context learning (上下文学习) measured against a known optimum: key-value recall.

Every sequence carries a FRESH random mapping ``f: KEYS -> VALUES`` and shows
pairs ``k1 f(k1) k2 f(k2) ...``.  Nothing about ``f`` can be stored in the
weights (it changes every sequence), so a model that predicts ``f(k)`` better
than chance is reading it from the context: learning in context, with no
weight update.  Keys are drawn with replacement, so the best possible accuracy
after ``n`` examples is exact (``KeyValueTask.optimal_accuracy``):

    p = 1 - (1 - 1/K)**n      (the query key was among the n examples)
    optimal = p + (1 - p) / V (certain when shown, a guess otherwise)

Keys and values are words of the toy language, so the same episodes can be fed
to the book's tiny GPT.  ``train_icl_gpt`` trains the small GPT that Chapter 10
measures and opens (``llm_book.interpret``).

A training row is ONE episode: ``<eos> k1 v1 ... kn vn`` (no packing of several
episodes); the first ``<eos>`` is a start marker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from llm_book._checks import check_int, check_model_and_tokenizer
from llm_book.model import GPT, GPTConfig
from llm_book.threads import model_threads
from llm_book.tokenizer import WordTokenizer
from llm_book.training import TrainHistory, train

KEYS = ("cat", "dog", "bird", "fox", "mouse", "cats", "dogs", "birds")
VALUES = ("mat", "sofa", "box", "rug", "porch", "roof", "log", "branch")
EOS = "<eos>"

# How the shipped in-context GPT is made: the recipe, in one place.  ``eval_every`` steps the
# held-out accuracy on shown keys after ``eval_examples`` examples is recorded (the curve).
# ``qk_init_scale``: the query and key weights start 5 times larger than GPT's default init
# (std 0.1 instead of 0.02).  Measured on this machine: with the default init the model was
# still on its plateau (accuracy on shown keys below 0.4) after 8,000 steps; with 5x the
# jump came after about 1,000 steps.  Attention that starts less uniform escapes sooner.
ICL_GPT_RECIPE = {"n_layer": 2, "n_head": 4, "n_embd": 64, "n_pairs": 8, "held_out": 1000,
                  "qk_init_scale": 5.0, "steps": 5000, "batch_size": 64, "lr": 3e-3, "warmup_steps": 100,
                  "weight_decay": 0.0, "seed": 0, "eval_every": 200, "eval_examples": 7, "eval_queries": 500}


def _check_words(name: str, words) -> tuple[str, ...]:
    if isinstance(words, str) or not isinstance(words, Sequence):
        raise TypeError(f"`{name}` has to be a sequence of words (e.g. a tuple of str), got {words!r}")
    words = tuple(words)
    if len(words) < 2 or not all(isinstance(w, str) and w for w in words):
        raise ValueError(f"`{name}` (={words!r}) has to hold at least 2 non-empty strings")
    if len(set(words)) != len(words):
        raise ValueError(f"`{name}` (={words!r}) has duplicate words; each word needs one meaning")
    return words


class KeyValueTask:
    """Episodes of key-value recall with a fresh random mapping per episode.

    Args:
        keys, values: the words (distinct, no word in both).
        n_pairs: pairs per training episode; a row is ``2 * n_pairs`` tokens long.
        held_out: how many evaluation mappings to set aside; the training sampler
            never produces one of them.
        seed: seeds the held-out mappings.

    Example:
        >>> task = KeyValueTask(n_pairs=4)
        >>> g = torch.Generator().manual_seed(0)
        >>> len(task.episode(3, g))           # <eos> k1 v1 k2 v2 k3 v3
        7
    """

    def __init__(self, keys: Sequence[str] = KEYS, values: Sequence[str] = VALUES, n_pairs: int = 16,
                 held_out: int = 1000, seed: int = 1234) -> None:
        self.keys = _check_words("keys", keys)
        self.values = _check_words("values", values)
        both = sorted(set(self.keys) & set(self.values) | ({EOS} & set(self.keys + self.values)))
        if both:
            raise ValueError(f"`keys` and `values` share the words {both} (or use {EOS!r}); "
                             f"a word has to be a key or a value, not both")
        self.n_pairs = check_int("n_pairs", n_pairs, "an integer >= 1 (pairs per episode)", minimum=1)
        space = len(self.values) ** len(self.keys)
        self.held_out = check_int("held_out", held_out, f"an integer from 0 to half the {space} possible "
                                  f"mappings", minimum=0, maximum=space // 2)
        self.seed = check_int("seed", seed, "an integer from 0 to 2**63 - 1", minimum=0, maximum=2**63 - 1)
        self.tokenizer = WordTokenizer(list(self.keys) + list(self.values) + [EOS], eos=EOS)
        self._key_ids = torch.arange(len(self.keys))
        self._value_ids = torch.arange(len(self.keys), len(self.keys) + len(self.values))
        self._powers = torch.tensor([len(self.values) ** i for i in range(len(self.keys))])
        g = torch.Generator().manual_seed(self.seed)
        mappings, codes = [], set()
        while len(mappings) < self.held_out:   # distinct mappings, drawn with the task's own seed
            m = torch.randint(len(self.values), (len(self.keys),), generator=g)
            code = int((m * self._powers).sum())
            if code not in codes:
                codes.add(code)
                mappings.append(m)
        self.held_out_mappings = torch.stack(mappings) if mappings else torch.empty(0, len(self.keys),
                                                                                      dtype=torch.long)
        self._held_out_codes = torch.tensor(sorted(codes), dtype=torch.long)

    @property
    def chance(self) -> float:
        """Accuracy of a guess among the values: 1 / V."""
        return 1.0 / len(self.values)

    def optimal_accuracy(self, n_examples: int) -> float:
        """The best possible accuracy after ``n_examples`` pairs: p + (1 - p) / V, p = 1 - (1 - 1/K)**n."""
        n = check_int("n_examples", n_examples, "an integer >= 0 (pairs shown before the query)", minimum=0)
        p = 1.0 - (1.0 - 1.0 / len(self.keys)) ** n
        return p + (1.0 - p) / len(self.values)

    def _codes(self, mappings: torch.Tensor) -> torch.Tensor:
        return (mappings * self._powers).sum(-1)

    def is_held_out(self, mappings: torch.Tensor) -> torch.Tensor:
        """True for each mapping (rows of value indices, ``(..., K)``) that is one of the held-out ones."""
        return torch.isin(self._codes(mappings), self._held_out_codes)

    def _training_mappings(self, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
        """``(batch_size, K)`` value indices, redrawn until none is a held-out mapping."""
        m = torch.randint(len(self.values), (batch_size, len(self.keys)), generator=generator)
        bad = self.is_held_out(m)
        while bad.any():               # rejection: by construction, never a held-out mapping
            m[bad] = torch.randint(len(self.values), (int(bad.sum()), len(self.keys)), generator=generator)
            bad = self.is_held_out(m)
        return m

    def random_mapping(self, generator: torch.Generator | None = None) -> dict[str, str]:
        """A fresh mapping key -> value, never one of the held-out mappings."""
        m = self._training_mappings(1, generator)[0]
        return {k: self.values[int(v)] for k, v in zip(self.keys, m)}

    def _check_mapping(self, mapping) -> dict[str, str]:
        if not isinstance(mapping, dict) or set(mapping) != set(self.keys) \
                or not set(mapping.values()) <= set(self.values):
            raise ValueError(f"`mapping` has to be a dict from every key {list(self.keys)} to a value "
                             f"of {list(self.values)}, got {mapping!r}")
        return mapping

    def episode(self, n_pairs: int, generator: torch.Generator | None = None,
                mapping: dict[str, str] | None = None) -> list[str]:
        """``[<eos>, k1, f(k1), ..., kn, f(kn)]``: keys uniform with replacement; a fresh ``f`` unless given."""
        n_pairs = check_int("n_pairs", n_pairs, "an integer >= 0 (pairs in the episode)", minimum=0)
        mapping = self.random_mapping(generator) if mapping is None else self._check_mapping(mapping)
        words = [EOS]
        for i in torch.randint(len(self.keys), (n_pairs,), generator=generator).tolist():
            words += [self.keys[i], mapping[self.keys[i]]]
        return words

    def _sequences(self, mappings: torch.Tensor, n_pairs: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``(B, 1 + 2 * n_pairs)`` of episodes with the given mappings, and their key indices."""
        b = mappings.shape[0]
        keys = torch.randint(len(self.keys), (b, n_pairs), generator=generator)      # (B, n)
        values = mappings.gather(1, keys)                                              # (B, n)
        seq = torch.empty(b, 1 + 2 * n_pairs, dtype=torch.long)
        seq[:, 0] = self.tokenizer.eos_id
        seq[:, 1::2] = self._key_ids[keys]
        seq[:, 2::2] = self._value_ids[values]
        return seq, keys

    def __call__(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch ``(idx, targets)``, both ``(batch_size, 2 * n_pairs)``.

        Row b is one episode ``<eos> k1 v1 ... kn vn`` with its own fresh mapping;
        ``idx`` is all but its last token, ``targets`` the next token at each position.
        Targets that are keys are -100 (not scored): keys are drawn at random, so there
        is nothing to learn about them; the loss is on the values only.
        """
        batch_size = check_int("batch_size", batch_size, "an integer >= 1", minimum=1)
        seq, _ = self._sequences(self._training_mappings(batch_size, generator), self.n_pairs, generator)
        idx, targets = seq[:, :-1].clone(), seq[:, 1:].clone()
        targets[:, 0::2] = -100                          # the targets at even positions are keys
        return idx, targets

    def eval_queries(self, n_examples: int, n: int = 1000, seed: int = 0
                     ) -> tuple[list[list[str]], list[str], list[bool]]:
        """``n`` queries on held-out mappings (never seen in training), ``n_examples`` pairs each.

        Returns:
            ``(prompts, answers, shown)``: a prompt is ``<eos> k1 v1 ... kn vn kq``;
            its answer is ``f(kq)``; ``shown`` says whether ``kq`` was among ``k1..kn``.
        """
        n_examples = check_int("n_examples", n_examples, "an integer >= 0 (pairs before the query)", minimum=0)
        n = check_int("n", n, "an integer >= 1 (number of queries)", minimum=1)
        seed = check_int("seed", seed, "an integer from 0 to 2**63 - 1", minimum=0, maximum=2**63 - 1)
        if self.held_out == 0:
            raise ValueError("this task has no held-out mappings (`held_out`=0); make it with held_out >= 1")
        g = torch.Generator().manual_seed(seed)
        picks = torch.randint(self.held_out, (n,), generator=g)
        mappings = self.held_out_mappings[picks]
        seq, keys = self._sequences(mappings, n_examples + 1, g)
        prompts = [self.tokenizer.decode(row[:-1]) for row in seq]
        answers = self.tokenizer.decode(seq[:, -1])
        shown = (keys[:, :-1] == keys[:, -1:]).any(1).tolist()
        return prompts, answers, shown

    def __repr__(self) -> str:
        return (f"KeyValueTask({len(self.keys)} keys, {len(self.values)} values, n_pairs={self.n_pairs}, "
                f"held_out={self.held_out})")


def in_context_accuracy(model, tokenizer: WordTokenizer, task: KeyValueTask, n_examples: int,
                        n: int = 1000, seed: int = 0, batch_size: int = 500) -> dict[str, float]:
    """Accuracy of ``model`` on ``task.eval_queries(n_examples, n, seed)``.

    The prediction is the argmax of the logits over the VALUE words only, at the
    query position; any tokenizer that knows those words works (the shipped
    in-context GPT's, or the toy GPT's of Chapter 5).

    Returns:
        ``{"all": ..., "shown": ..., "not_shown": ..., "n_shown": ..., "n_not_shown": ...}``;
        the accuracy of a group with no query is NaN.
    """
    check_model_and_tokenizer(model, tokenizer)
    if not isinstance(task, KeyValueTask):
        raise TypeError(f"`task` has to be a KeyValueTask, got {type(task).__name__}")
    n_examples = check_int("n_examples", n_examples, "an integer >= 0 (pairs before the query)", minimum=0)
    if 2 * n_examples + 2 > model.config.block_size:
        raise ValueError(f"`n_examples` (={n_examples}) makes prompts of {2 * n_examples + 2} tokens, longer "
                         f"than the model's block_size {model.config.block_size}; use at most "
                         f"{(model.config.block_size - 2) // 2}")
    batch_size = check_int("batch_size", batch_size, "an integer >= 1", minimum=1)
    prompts, answers, shown = task.eval_queries(n_examples, n, seed)
    value_ids = torch.tensor(tokenizer.encode(task.values))
    idx = torch.tensor([tokenizer.encode(p) for p in prompts])
    truth = torch.tensor([task.values.index(a) for a in answers])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    predicted = []
    with torch.no_grad(), model_threads(model):     # a tiny model: one CPU thread is fastest
        for i in range(0, n, batch_size):
            logits = model(idx[i:i + batch_size].to(device)).logits[:, -1].cpu()   # (b, vocab)
            predicted.append(logits[:, value_ids].argmax(-1))
    model.train(was_training)
    right = torch.cat(predicted) == truth
    shown = torch.tensor(shown)

    def mean(mask: torch.Tensor) -> float:
        return right[mask].float().mean().item() if mask.any() else math.nan

    return {"all": right.float().mean().item(), "shown": mean(shown), "not_shown": mean(~shown),
            "n_shown": int(shown.sum()), "n_not_shown": int((~shown).sum())}


def train_icl_gpt(steps: int | None = None, seed: int | None = None, progress: bool = False
                  ) -> tuple[GPT, WordTokenizer, TrainHistory]:
    """Train the small GPT of Chapter 10 on ``KeyValueTask`` episodes with ``ICL_GPT_RECIPE``.

    Returns:
        ``(model, tokenizer, history)``; ``history.eval_loss`` holds, despite its name,
        the held-out accuracy on shown keys after ``eval_examples`` examples, recorded
        every ``eval_every`` steps (``history.eval_steps``): the curve of Chapter 10.
    """
    from llm_book import set_seed

    r = dict(ICL_GPT_RECIPE)
    steps = r["steps"] if steps is None else check_int("steps", steps, "None or an integer >= 1", minimum=1)
    seed = r["seed"] if seed is None else check_int("seed", seed, "None or an integer from 0 to 2**32 - 1",
                                                    minimum=0, maximum=2**32 - 1)
    task = KeyValueTask(n_pairs=r["n_pairs"], held_out=r["held_out"])
    set_seed(seed)
    config = GPTConfig(vocab_size=len(task.tokenizer), block_size=2 * r["n_pairs"], n_layer=r["n_layer"],
                       n_head=r["n_head"], n_embd=r["n_embd"])
    model = GPT(config)
    with torch.no_grad():                       # sharper attention at the start: a shorter plateau
        for block in model.blocks:
            block.attn.query.weight.mul_(r["qk_init_scale"])
            block.attn.key.weight.mul_(r["qk_init_scale"])
    generator = torch.Generator().manual_seed(seed)

    def shown_accuracy(m) -> float:
        return in_context_accuracy(m, task.tokenizer, task, r["eval_examples"], n=r["eval_queries"],
                                   seed=1)["shown"]

    history = train(model, lambda step: task(r["batch_size"], generator), steps=steps, lr=r["lr"],
                    warmup_steps=min(r["warmup_steps"], steps), weight_decay=r["weight_decay"],
                    eval_fn=shown_accuracy,
                    eval_every=r["eval_every"], progress=progress)
    return model, task.tokenizer, history


# How the shipped induction GPT is made (Chapter 10.7): the same small GPT as ICL_GPT_RECIPE,
# default init (no qk scaling), trained on repeated random sequences with a random period.
# It never sees a key-value episode.  ``eval_every`` steps the repeat accuracy (on
# ``eval_sequences`` fixed sequences) and the key-value accuracy on shown keys after
# ``kv_examples`` examples (``kv_queries`` held-out queries) are recorded.
# Why no key-value episodes at all: a trial run (2,500 steps) in which half the batches were
# packed key-value episodes at random offsets learned the key-value task (1.0 on shown keys up
# to 4 examples, 0.77 at 7) but formed no induction heads (layer-1 induction scores <= 0.02,
# layer-0 previous-token scores <= 0.30): given episodes to fit, it found another shortcut.
INDUCTION_GPT_RECIPE = {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 32, "min_period": 3,
                        "max_period": 12, "steps": 1500, "batch_size": 64, "lr": 3e-3, "warmup_steps": 100,
                        "weight_decay": 0.0, "seed": 0, "eval_every": 50, "eval_sequences": 200,
                        "kv_examples": 4, "kv_queries": 200, "n_pairs": 8, "held_out": 1000}


class RepeatedSequenceTask:
    """Random segments repeated to fill the window: the data on which induction heads form.

    Each row draws a period ``p`` uniformly from ``min_period..max_period`` and ``p``
    tokens uniformly from the tokenizer's words (never ``<eos>``), and repeats them:
    ``a b c a b c a ...``.  The first period is unpredictable noise; every later token
    is a copy of the token ``p`` places back.  Because ``p`` changes from row to row,
    no fixed position tells the model where to copy from; it has to find the previous
    occurrence of the current token and copy what followed it.

    Args:
        tokenizer: a ``WordTokenizer`` (its ``eos_id`` is never drawn).
        min_period, max_period: the range of periods, ``1 <= min_period <= max_period <= block_size``.
        block_size: the length of a row (``idx`` and ``targets`` are ``(B, block_size)``).

    Example:
        >>> task = RepeatedSequenceTask(KeyValueTask().tokenizer, 3, 12, block_size=32)
        >>> idx, targets = task(2, torch.Generator().manual_seed(0))
        >>> idx.shape
        torch.Size([2, 32])
    """

    def __init__(self, tokenizer: WordTokenizer, min_period: int = 3, max_period: int = 12,
                 block_size: int = 32) -> None:
        if not isinstance(tokenizer, WordTokenizer):
            raise TypeError(f"`tokenizer` has to be a WordTokenizer, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.block_size = check_int("block_size", block_size, "an integer >= 2", minimum=2)
        self.min_period = check_int("min_period", min_period, f"an integer from 1 to block_size "
                                    f"({self.block_size})", minimum=1, maximum=self.block_size)
        self.max_period = check_int("max_period", max_period, f"an integer from min_period "
                                    f"({self.min_period}) to block_size ({self.block_size})",
                                    minimum=self.min_period, maximum=self.block_size)
        eos = tokenizer.eos_id
        self._word_ids = torch.tensor([i for i in range(len(tokenizer)) if i != eos])
        if len(self._word_ids) < 2:
            raise ValueError(f"`tokenizer` has {len(self._word_ids)} words besides <eos>; at least 2 are needed")

    def __call__(self, batch_size: int, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch ``(idx, targets)``, both ``(batch_size, block_size)``.

        ``targets[b, t]`` is the next token ``idx`` would continue with; it is -100 (not
        scored) while that token is still in the row's first period (random, unpredictable).
        """
        batch_size = check_int("batch_size", batch_size, "an integer >= 1", minimum=1)
        n = self.block_size + 1
        seq = torch.empty(batch_size, n, dtype=torch.long)
        targets = torch.full((batch_size, n), -100, dtype=torch.long)
        for b in range(batch_size):
            p = int(torch.randint(self.min_period, self.max_period + 1, (1,), generator=generator))
            segment = self._word_ids[torch.randint(0, len(self._word_ids), (p,), generator=generator)]
            row = segment.repeat(n // p + 2)[:n]
            seq[b] = row
            targets[b, p:] = row[p:]
        return seq[:, :-1], targets[:, 1:]

    def __repr__(self) -> str:
        return (f"RepeatedSequenceTask({len(self._word_ids)} words, periods {self.min_period}.."
                f"{self.max_period}, block_size={self.block_size})")


def repeat_accuracy(model, idx: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of the scored targets (not -100) that ``model``'s argmax predicts, over ``(B, T)`` rows."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), model_threads(model):
        device = next(model.parameters()).device
        predicted = model(idx.to(device)).logits.argmax(-1).cpu()
    model.train(was_training)
    scored = targets != -100
    return (predicted == targets)[scored].float().mean().item()


def train_induction_gpt(steps: int | None = None, seed: int | None = None, progress: bool = False
                        ) -> tuple[GPT, WordTokenizer, TrainHistory]:
    """Train the small GPT of Chapter 10.7 on ``RepeatedSequenceTask`` with ``INDUCTION_GPT_RECIPE``.

    The tokenizer is ``KeyValueTask``'s, so the model can be asked key-value queries it
    was never trained on.

    Returns:
        ``(model, tokenizer, history)``; ``history.eval_loss`` holds, despite its name, the
        accuracy on the repeats of ``eval_sequences`` fixed sequences (seed 5), recorded every
        ``eval_every`` steps; ``history.results["kv_shown"]`` the key-value accuracy on
        shown keys after ``kv_examples`` examples at the same steps.
    """
    from llm_book import set_seed

    r = dict(INDUCTION_GPT_RECIPE)
    steps = r["steps"] if steps is None else check_int("steps", steps, "None or an integer >= 1", minimum=1)
    seed = r["seed"] if seed is None else check_int("seed", seed, "None or an integer from 0 to 2**32 - 1",
                                                    minimum=0, maximum=2**32 - 1)
    kv = KeyValueTask(n_pairs=r["n_pairs"], held_out=r["held_out"])
    task = RepeatedSequenceTask(kv.tokenizer, r["min_period"], r["max_period"], r["block_size"])
    set_seed(seed)
    config = GPTConfig(vocab_size=len(kv.tokenizer), block_size=r["block_size"], n_layer=r["n_layer"],
                       n_head=r["n_head"], n_embd=r["n_embd"])
    model = GPT(config)
    generator = torch.Generator().manual_seed(seed)
    eval_idx, eval_targets = task(r["eval_sequences"], torch.Generator().manual_seed(5))
    kv_shown: list[float] = []

    def evaluate(m) -> float:
        kv_shown.append(round(in_context_accuracy(m, kv.tokenizer, kv, r["kv_examples"], n=r["kv_queries"],
                                                  seed=1)["shown"], 5))
        return repeat_accuracy(m, eval_idx, eval_targets)

    history = train(model, lambda step: task(r["batch_size"], generator), steps=steps, lr=r["lr"],
                    warmup_steps=min(r["warmup_steps"], steps), weight_decay=r["weight_decay"],
                    eval_fn=evaluate, eval_every=r["eval_every"], progress=progress)
    history.results = {"kv_shown": kv_shown, "kv_examples": r["kv_examples"]}
    return model, kv.tokenizer, history
