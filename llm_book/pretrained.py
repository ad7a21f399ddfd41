"""Checkpoints that ship with the package, and the script that rebuilds them.

``load_toy_gpt()`` returns a tiny GPT trained on ``ToyLanguage`` (sentences
packed end to end into windows of 16 tokens) and its tokenizer.  The file is
checked against its SHA-256 before it is loaded, and loaded with
``weights_only=True`` (no code in a checkpoint is ever run).

Rebuild it from scratch on a CPU (about a minute)::

    python -m llm_book.pretrained toy-gpt llm_book/data/toy_gpt.pt

``load_qa_gpt()`` returns that GPT fine-tuned to answer questions about toy
sentences (Chapter 6, ``llm_book.dialogue.train_qa_gpt``); rebuild it (about a
minute on one CPU thread) with::

    python -m llm_book.pretrained qa-gpt llm_book/data/qa_gpt.pt

``load_assistant_gpt()`` returns the toy GPT instruction-tuned on chat
conversations of five tasks (Chapter 11, ``llm_book.instructions.train_assistant_gpt``;
a few minutes on one CPU thread, held-out scores in its history JSON)::

    python -m llm_book.pretrained assistant-gpt llm_book/data/assistant_gpt.pt

``load_assistant_dpo_gpt()`` returns that assistant tuned further with DPO to say
"it does not say" about animals a story never mentions (Chapter 11,
``llm_book.refusal.train_dpo_assistant``; the measurements before and after are
in its history JSON); rebuild it (after the assistant) with::

    python -m llm_book.pretrained assistant-dpo llm_book/data/assistant_dpo_gpt.pt

``load_char_gpt()`` returns a character-level GPT trained on the English of
Python's documentation (``pydoc_data.topics``, Chapter 5) and its
``CharTokenizer``; ``load_char_gpt_history()`` its training record.  Rebuild it
(about 10 minutes on two idle CPU cores; the shipped run took 42 minutes on a
busy machine) with::

    python -m llm_book.pretrained char-gpt llm_book/data/char_gpt.pt

On the same kind of processor with the same number of threads, two rebuilds with
the same code give the same weights bit for bit (checked: two runs, identical
tensors).  A change of code that reorders floating-point sums changes the last
bits: the checkpoints built before attention moved to PyTorch's fused kernel
(Chapter 12) rebuild today to a file with another SHA-256, and their measured
numbers can differ slightly (training amplifies a difference in the last bit).  The file's SHA-256 also depends on its name, which
``torch.save`` records inside the file.

``load_icl_gpt()`` returns a small GPT that learned key-value recall in context
(Chapter 10, ``llm_book.incontext.train_icl_gpt``); rebuild it with::

    python -m llm_book.pretrained icl-gpt llm_book/data/icl_gpt.pt

``load_induction_gpt()`` returns the same small GPT trained on repeated random sequences
(``python -m llm_book.pretrained induction-gpt``): the induction circuit of Chapter 10.7.

This module knows checkpoints, not tasks: a chapter's recipe (such as
``llm_book.dialogue``) imports the loader, never the other way round.  The
rebuild command finds each recipe by name in ``REBUILD`` and imports it only
when asked to run it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import time
from pathlib import Path

import torch

from llm_book import set_seed
from llm_book.language import ToyLanguage
from llm_book.model import GPT, GPTConfig
from llm_book.tokenizer import CharTokenizer, WordTokenizer
from llm_book.training import PackedLanguageSampler, train

DATA = Path(__file__).parent / "data"
TOY_GPT_PATH = DATA / "toy_gpt.pt"
TOY_GPT_SHA256 = "54517b4a559521e190a0aedd52e3be28754d2b9646795fa8f0b4dec6d98f618e"

QA_GPT_PATH = DATA / "qa_gpt.pt"
QA_GPT_SHA256 = "25644ddcdcb6ef0794b3ad39c54a42e6eb6ad0de1249a3124a3da16ade143258"

ASSISTANT_GPT_PATH = DATA / "assistant_gpt.pt"
ASSISTANT_GPT_SHA256 = "a34b87274dd1a28e468b2b878d6a19fac70c4bd5907f904f0cde0a97979d897c"

ASSISTANT_DPO_GPT_PATH = DATA / "assistant_dpo_gpt.pt"
ASSISTANT_DPO_GPT_SHA256 = "42f2e6c239dd478729af10b0c77bb04cf58b2a6eb79574c78015c708c164c47c"

ICL_GPT_PATH = DATA / "icl_gpt.pt"
ICL_GPT_SHA256 = "4fba8e6362b98a9db553473b0f44f1d71cc53f55aeb4191bdf85ebadbf6b65ae"

INDUCTION_GPT_PATH = DATA / "induction_gpt.pt"
INDUCTION_GPT_SHA256 = "3a2469e7861c4b69649818dfaa423c93905ddc1e054bc5b677964cc6518831b3"

CHAR_GPT_PATH = DATA / "char_gpt.pt"
CHAR_GPT_SHA256 = "a95fe91235eacbbf1b6825905279a3783f7bdbc73f6a8cb79b4f16c428856028"

# How the shipped toy GPT is made: the recipe, in one place.
TOY_GPT_RECIPE = {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 16,
                  "steps": 2000, "batch_size": 128, "lr": 3e-3, "warmup_steps": 100, "seed": 0}


# How the shipped character model is made.  Its corpus is Chapter 5's split of
# pydoc_data.topics: every 10th chunk of 256 characters held out for validation.
CHAR_GPT_RECIPE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128, "dropout": 0.1,
                   "steps": 2500, "batch_size": 32, "lr": 2e-3, "warmup_steps": 100,
                   "eval_every": 250, "val_every": 10, "chunk": 256, "seed": 0}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_toy_gpt(steps: int | None = None, seed: int | None = None, progress: bool = False):
    """Train the toy GPT from scratch with ``TOY_GPT_RECIPE``; returns ``(model, tokenizer, history)``.

    Pretraining packs sentences into full windows (``PackedLanguageSampler``), as
    real models are pretrained: every one of the ``block_size`` positions is
    trained, so fine-tuning can use all of them.
    """
    r = dict(TOY_GPT_RECIPE)
    steps = r["steps"] if steps is None else steps
    seed = r["seed"] if seed is None else seed
    language = ToyLanguage()
    tokenizer = WordTokenizer(language.vocab, eos=language.eos)
    set_seed(seed)
    config = GPTConfig(vocab_size=len(tokenizer), block_size=r["block_size"],
                       n_layer=r["n_layer"], n_head=r["n_head"], n_embd=r["n_embd"])
    model = GPT(config)
    sampler = PackedLanguageSampler(language, tokenizer, r["block_size"])
    generator = torch.Generator().manual_seed(seed)
    history = train(model, lambda step: sampler(r["batch_size"], generator), steps=steps,
                    lr=r["lr"], warmup_steps=r["warmup_steps"], progress=progress)
    return model, tokenizer, history


def char_validation_loss(model: GPT, data: torch.Tensor, block_size: int, batch_size: int = 64) -> float:
    """Mean next-character loss over all of ``data``, cut into windows of ``block_size``.

    Every window is scored whole (no sampling), so the number is exact and the
    same every time; this is how ``train_char_gpt`` reports validation loss.
    """
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ValueError(f"`data` ({len(data)} ids) is shorter than one window of {block_size} + 1")
    x = data[: n * block_size].view(n, block_size)
    y = data[1: n * block_size + 1].view(n, block_size)
    device = next(model.parameters()).device
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, batch_size):
            loss = model(x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)).loss
            total += loss.item() * len(x[i:i + batch_size])
    return total / n


def train_char_gpt(steps: int | None = None, seed: int | None = None, progress: bool = False):
    """Train the character-level GPT on ``pydoc_data.topics`` with ``CHAR_GPT_RECIPE``.

    Returns:
        ``(model, tokenizer, history)``; ``history.eval_loss`` is the exact
        validation loss (``char_validation_loss``) every ``eval_every`` steps.
    """
    from llm_book.corpus import CharCorpus

    r = dict(CHAR_GPT_RECIPE)
    steps = r["steps"] if steps is None else steps
    seed = r["seed"] if seed is None else seed
    corpus = CharCorpus.pydoc(val_every=r["val_every"], chunk=r["chunk"])
    tokenizer = CharTokenizer(corpus.chars)
    set_seed(seed)
    config = GPTConfig(vocab_size=len(tokenizer), block_size=r["block_size"], n_layer=r["n_layer"],
                       n_head=r["n_head"], n_embd=r["n_embd"], dropout=r["dropout"])
    model = GPT(config)
    generator = torch.Generator().manual_seed(seed)
    history = train(model, lambda step: corpus.batch("train", r["batch_size"], r["block_size"], generator),
                    steps=steps, lr=r["lr"], warmup_steps=min(r["warmup_steps"], steps),
                    eval_fn=lambda m: char_validation_loss(m, corpus.val, r["block_size"]),
                    eval_every=r["eval_every"], progress=progress)
    return model, tokenizer, history


def _check_vocabulary(vocab_size: int, n_words: int, where: str) -> None:
    if n_words != vocab_size:
        raise ValueError(f"{where}: the vocabulary has {n_words} words but the model's config.vocab_size "
                         f"is {vocab_size}; a model and its tokenizer have to number the same tokens")


def save_checkpoint(model: GPT, tokenizer: WordTokenizer, path: Path) -> str:
    """Write config, vocabulary and weights (plain tensors, lists, numbers); returns the SHA-256."""
    if not isinstance(model, GPT):
        raise TypeError(f"`model` has to be an llm_book GPT, got {type(model).__name__}")
    if not isinstance(tokenizer, (WordTokenizer, CharTokenizer)):
        raise TypeError(f"`tokenizer` has to be a WordTokenizer or a CharTokenizer, "
                        f"got {type(tokenizer).__name__}")
    _check_vocabulary(model.config.vocab_size, len(tokenizer), "cannot save this checkpoint")
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()
             if k != "lm_head.weight" or not model.config.tie_embeddings}  # tied: stored once; CPU tensors
    if isinstance(tokenizer, CharTokenizer):
        data = {"vocab": list(tokenizer.chars), "eos": None, "tokenizer": "char"}
    else:
        data = {"vocab": list(tokenizer.vocab), "eos": tokenizer.eos}
    torch.save({"config": model.config.to_dict(), **data, "state_dict": state}, path)
    return sha256(path)


def load_checkpoint(path: Path, expected_sha256: str | None = None) -> tuple[GPT, WordTokenizer | CharTokenizer]:
    """Load a checkpoint written by ``save_checkpoint``; check its hash when one is given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if expected_sha256 is not None and sha256(path) != expected_sha256:
        raise ValueError(
            f"checkpoint {path} has SHA-256 {sha256(path)}, expected {expected_sha256}; "
            f"the file is damaged or was replaced (rebuild it with `python -m llm_book.pretrained`)"
        )
    damaged = (f"checkpoint {path} is damaged or was not written by `save_checkpoint` "
               f"(rebuild it with `python -m llm_book.pretrained`)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            pickle.UnpicklingError) as err:
        raise ValueError(f"{damaged}: torch.load failed with {type(err).__name__}: {err}") from err
    keys = {"config", "vocab", "eos", "state_dict"}
    if not isinstance(data, dict) or not keys <= set(data):
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{damaged}: it has to hold {sorted(keys)}, found {found}")
    try:
        config = GPTConfig(**data["config"])
        kind = data.get("tokenizer", "word")
        if kind not in ("word", "char"):
            raise ValueError(f"its tokenizer kind is {kind!r}, not 'word' or 'char'")
        tokenizer = (CharTokenizer(data["vocab"]) if kind == "char"
                     else WordTokenizer(data["vocab"], eos=data["eos"]))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{damaged}: {err}") from err
    _check_vocabulary(config.vocab_size, len(tokenizer), f"checkpoint {path}")
    with torch.random.fork_rng(devices=[]):  # building the model draws random weights:
        model = GPT(config)                    # leave the caller's random stream as it was
    try:
        state = dict(data["state_dict"])
        if config.tie_embeddings:
            state["lm_head.weight"] = state["wte.weight"]  # the output layer is the token embedding
        model.load_state_dict(state)
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"{damaged}: its weights do not fit its config ({type(err).__name__}: "
                         f"{err})") from err
    model.eval()
    return model, tokenizer


def load_toy_gpt() -> tuple[GPT, WordTokenizer]:
    """The tiny GPT trained on ``ToyLanguage`` (2 layers, 4 heads, 64 wide) and its tokenizer.

    Example:
        >>> model, tokenizer = load_toy_gpt()
        >>> tokenizer.encode(["The", "cat"])
        [0, 7]
    """
    return load_checkpoint(TOY_GPT_PATH, TOY_GPT_SHA256)


def load_qa_gpt() -> tuple[GPT, WordTokenizer]:
    """The toy GPT fine-tuned to answer questions about a toy sentence (Chapter 6), and its tokenizer.

    The recipe is ``llm_book.dialogue.QA_RECIPE``; prompts look like
    ``The cat sat on the mat . Where did the cat sit ?`` (see ``llm_book.dialogue``).
    """
    return load_checkpoint(QA_GPT_PATH, QA_GPT_SHA256)


def load_assistant_gpt() -> tuple[GPT, WordTokenizer]:
    """The toy GPT instruction-tuned as a chat assistant for five tasks (Chapter 11), and its tokenizer.

    The recipe is ``llm_book.instructions.ASSISTANT_RECIPE``; it reads conversations
    rendered by ``llm_book.chat.render_chat`` (reply with ``llm_book.chat.generate_reply``).
    Its history JSON (``history_path(ASSISTANT_GPT_PATH)``) holds the training curve and,
    under ``results``, the held-out scores measured when it was built.
    """
    return load_checkpoint(ASSISTANT_GPT_PATH, ASSISTANT_GPT_SHA256)


def load_assistant_dpo_gpt() -> tuple[GPT, WordTokenizer]:
    """The assistant of ``load_assistant_gpt`` after preference tuning with DPO (Chapter 11), and its tokenizer.

    The recipe is ``llm_book.refusal.DPO_RECIPE``.  Its history JSON
    (``history_path(ASSISTANT_DPO_GPT_PATH)``) holds the DPO loss, the implicit rewards,
    margin and accuracy per step and, under ``results``, the held-out measurements.
    """
    return load_checkpoint(ASSISTANT_DPO_GPT_PATH, ASSISTANT_DPO_GPT_SHA256)


def load_icl_gpt() -> tuple[GPT, WordTokenizer]:
    """The small GPT trained on key-value recall with a fresh mapping per sequence (Chapter 10).

    The recipe is ``llm_book.incontext.ICL_GPT_RECIPE``; its vocabulary is
    ``llm_book.incontext.KEYS + VALUES + ("<eos>",)``.  Its history JSON
    (``history_path(ICL_GPT_PATH)``) holds the training loss and, in ``eval_loss``,
    the held-out accuracy on shown keys recorded during training.
    """
    return load_checkpoint(ICL_GPT_PATH, ICL_GPT_SHA256)


def load_induction_gpt() -> tuple[GPT, WordTokenizer]:
    """The same small GPT trained on repeated random sequences only (Chapter 10.7): an induction circuit.

    The recipe is ``llm_book.incontext.INDUCTION_GPT_RECIPE``; its tokenizer is the
    key-value task's, so it can be asked key-value queries it never saw in training.
    """
    return load_checkpoint(INDUCTION_GPT_PATH, INDUCTION_GPT_SHA256)


def load_char_gpt() -> tuple[GPT, CharTokenizer]:
    """The character-level GPT trained on ``pydoc_data.topics`` (Chapter 5b) and its ``CharTokenizer``.

    4 layers, 4 heads, 128 wide, 128 characters of context (about 0.8M parameters),
    trained with ``CHAR_GPT_RECIPE``; its training curve is ``load_char_gpt_history()``.
    """
    return load_checkpoint(CHAR_GPT_PATH, CHAR_GPT_SHA256)


def history_path(path: Path) -> Path:
    """Where the training curve of the checkpoint at ``path`` is written: ``<name>_history.json``."""
    path = Path(path)
    return path.with_name(path.stem + "_history.json")


def load_char_gpt_history() -> dict:
    """The shipped character model's training record.

    Returns:
        a dict with ``loss`` (training loss per step), ``lr``, ``eval_steps``,
        ``eval_loss`` (exact validation loss), ``seconds`` (wall time of the
        training), ``threads``, ``torch`` and ``python`` versions and the file's ``sha256``.
    """
    return json.loads(history_path(CHAR_GPT_PATH).read_text())


# Each shipped checkpoint: the recipe that rebuilds it ("module:function", imported only when
# it runs), where it goes, the constant that holds its SHA-256, and the torch threads it needs
# (None: torch's default; 1: a tiny model, fastest on one thread and the same file every run).
REBUILD = {
    "toy-gpt": ("llm_book.pretrained:train_toy_gpt", TOY_GPT_PATH, "TOY_GPT_SHA256", 1),
    "qa-gpt": ("llm_book.dialogue:train_qa_gpt", QA_GPT_PATH, "QA_GPT_SHA256", 1),
    "char-gpt": ("llm_book.pretrained:train_char_gpt", CHAR_GPT_PATH, "CHAR_GPT_SHA256", None),
    "icl-gpt": ("llm_book.incontext:train_icl_gpt", ICL_GPT_PATH, "ICL_GPT_SHA256", 1),
    "induction-gpt": ("llm_book.incontext:train_induction_gpt", INDUCTION_GPT_PATH, "INDUCTION_GPT_SHA256", 1),
    "assistant-gpt": ("llm_book.instructions:train_assistant_gpt", ASSISTANT_GPT_PATH,
                      "ASSISTANT_GPT_SHA256", 1),
    "assistant-dpo": ("llm_book.refusal:train_dpo_assistant", ASSISTANT_DPO_GPT_PATH,
                      "ASSISTANT_DPO_GPT_SHA256", 1),
}


def main(argv: list[str] | None = None) -> None:
    import importlib

    parser = argparse.ArgumentParser(prog="python -m llm_book.pretrained",
                                     description="Rebuild a shipped checkpoint from scratch.")
    parser.add_argument("which", choices=list(REBUILD))
    parser.add_argument("out", type=Path, nargs="?", default=None)
    args = parser.parse_args(argv)
    recipe, path, constant, threads = REBUILD[args.which]
    module, function = recipe.split(":")
    torch.set_num_threads(threads or max(1, torch.get_num_threads()))
    out = args.out or path
    start = time.perf_counter()
    model, tokenizer, history = getattr(importlib.import_module(module), function)(progress=True)
    seconds = time.perf_counter() - start
    digest = save_checkpoint(model, tokenizer, out)
    import platform

    record = {"loss": [round(x, 5) for x in history.loss], "lr": history.lr,
              "eval_steps": history.eval_steps, "eval_loss": [round(x, 5) for x in history.eval_loss],
              "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "python": platform.python_version(), "sha256": digest}
    if getattr(history, "results", None):          # measurements a recipe made after training
        record["results"] = history.results
    if hasattr(history, "to_record"):              # more curves than the loss (DPO's rewards)
        record = {**history.to_record(), **record}
    history_path(out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"final training loss {history.loss[-1]:.4f} after {seconds:.0f} s; wrote {out} "
          f"and {history_path(out).name}")
    print(f"SHA-256 {digest}  (set {constant} in llm_book/pretrained.py to this)")


if __name__ == "__main__":
    main()
