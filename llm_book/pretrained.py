"""Checkpoints that ship with the package, and the script that rebuilds them.

``load_toy_gpt()`` returns a tiny GPT trained on ``ToyLanguage`` and its
tokenizer.  The file is checked against its SHA-256 before it is loaded, and
loaded with ``weights_only=True`` (no code in a checkpoint is ever run).

Rebuild it from scratch on a CPU (about a minute)::

    python -m llm_book.pretrained toy-gpt llm_book/data/toy_gpt.pt

``load_qa_gpt()`` returns that GPT fine-tuned to answer questions about toy
sentences (Chapter 6, ``llm_book.dialogue.train_qa_gpt``); rebuild it (about a
minute on one CPU thread) with::

    python -m llm_book.pretrained qa-gpt llm_book/data/qa_gpt.pt

This module knows checkpoints, not tasks: a chapter's recipe (such as
``llm_book.dialogue``) imports the loader, never the other way round.  The
rebuild command finds each recipe by name in ``REBUILD`` and imports it only
when asked to run it.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
from pathlib import Path

import torch

from llm_book import set_seed
from llm_book.language import ToyLanguage
from llm_book.model import GPT, GPTConfig
from llm_book.tokenizer import WordTokenizer
from llm_book.training import LanguageSampler, train

DATA = Path(__file__).parent / "data"
TOY_GPT_PATH = DATA / "toy_gpt.pt"
TOY_GPT_SHA256 = "a7dba38e9e2e215c3abb789a8c26e1a696de6edb04ac2573f065534fec028edd"

QA_GPT_PATH = DATA / "qa_gpt.pt"
QA_GPT_SHA256 = "d32bb74ac78665517b010e3a52b4317b32965fa13f851178f613e9ca1273fba0"

# How the shipped toy GPT is made: the recipe, in one place.
TOY_GPT_RECIPE = {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 16,
                  "steps": 2000, "batch_size": 128, "lr": 3e-3, "warmup_steps": 100, "seed": 0}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_toy_gpt(steps: int | None = None, seed: int | None = None, progress: bool = False):
    """Train the toy GPT from scratch with ``TOY_GPT_RECIPE``; returns ``(model, tokenizer, history)``."""
    r = dict(TOY_GPT_RECIPE)
    steps = r["steps"] if steps is None else steps
    seed = r["seed"] if seed is None else seed
    language = ToyLanguage()
    tokenizer = WordTokenizer(language.vocab, eos=language.eos)
    set_seed(seed)
    config = GPTConfig(vocab_size=len(tokenizer), block_size=r["block_size"],
                       n_layer=r["n_layer"], n_head=r["n_head"], n_embd=r["n_embd"])
    model = GPT(config)
    sampler = LanguageSampler(language, tokenizer)
    generator = torch.Generator().manual_seed(seed)
    history = train(model, lambda step: sampler(r["batch_size"], generator), steps=steps,
                    lr=r["lr"], warmup_steps=r["warmup_steps"], progress=progress)
    return model, tokenizer, history


def _check_vocabulary(vocab_size: int, n_words: int, where: str) -> None:
    if n_words != vocab_size:
        raise ValueError(f"{where}: the vocabulary has {n_words} words but the model's config.vocab_size "
                         f"is {vocab_size}; a model and its tokenizer have to number the same tokens")


def save_checkpoint(model: GPT, tokenizer: WordTokenizer, path: Path) -> str:
    """Write config, vocabulary and weights (plain tensors, lists, numbers); returns the SHA-256."""
    if not isinstance(model, GPT):
        raise TypeError(f"`model` has to be an llm_book GPT, got {type(model).__name__}")
    if not isinstance(tokenizer, WordTokenizer):
        raise TypeError(f"`tokenizer` has to be a WordTokenizer, got {type(tokenizer).__name__}")
    _check_vocabulary(model.config.vocab_size, len(tokenizer), "cannot save this checkpoint")
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()
             if k != "lm_head.weight"}  # tied to wte.weight: stored once; CPU tensors from any device
    torch.save({"config": model.config.to_dict(), "vocab": list(tokenizer.vocab),
                "eos": tokenizer.eos, "state_dict": state}, path)
    return sha256(path)


def load_checkpoint(path: Path, expected_sha256: str | None = None) -> tuple[GPT, WordTokenizer]:
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
        tokenizer = WordTokenizer(data["vocab"], eos=data["eos"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{damaged}: {err}") from err
    _check_vocabulary(config.vocab_size, len(tokenizer), f"checkpoint {path}")
    with torch.random.fork_rng(devices=[]):  # building the model draws random weights:
        model = GPT(config)                    # leave the caller's random stream as it was
    try:
        state = dict(data["state_dict"])
        state["lm_head.weight"] = state["wte.weight"]
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


# Each shipped checkpoint: the recipe that rebuilds it ("module:function", imported only when
# it runs), where it goes, the constant that holds its SHA-256, and the torch threads it needs
# (None: torch's default; 1: a tiny model, fastest on one thread and the same file every run).
REBUILD = {
    "toy-gpt": ("llm_book.pretrained:train_toy_gpt", TOY_GPT_PATH, "TOY_GPT_SHA256", None),
    "qa-gpt": ("llm_book.dialogue:train_qa_gpt", QA_GPT_PATH, "QA_GPT_SHA256", 1),
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
    model, tokenizer, history = getattr(importlib.import_module(module), function)(progress=True)
    digest = save_checkpoint(model, tokenizer, out)
    print(f"final training loss {history.loss[-1]:.4f}; wrote {out}")
    print(f"SHA-256 {digest}  (set {constant} in llm_book/pretrained.py to this)")


if __name__ == "__main__":
    main()
