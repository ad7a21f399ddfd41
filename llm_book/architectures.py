"""Chapter 12's experiments: GPT-2's block against Llama's, and LoRA on a small task.

* ``style_config`` builds a tiny GPT-2-style or Llama-style ``GPTConfig``;
  ``equal_budget_configs`` gives the Llama-style one the MLP width that makes
  both models (almost exactly) the same number of parameters.
* ``ExactKL`` grades a model against ``ToyLanguage``'s true distribution with
  no sampling: the exact KL divergence per token, summed over every sentence.
* ``boundary_windows`` and ``kl_per_position`` measure length generalisation:
  sentences packed into windows longer than the training windows, graded
  position by position against the exact next-word distribution.
* ``train_style`` trains one style on packed windows of ``ARCH_RECIPE``;
  ``compare_architectures`` trains both and reports KL, time and the KL per
  position beyond the training length.
* ``qa_finetune`` fine-tunes the shipped toy GPT on Chapter 6's questions,
  fully or through LoRA adapters of a given rank (``llm_book.lora``).

The full-length runs are written to ``llm_book/data/architectures_results.json`` by::

    python -m llm_book.architectures

(13 minutes on one CPU thread of a busy machine); Chapter 12 shows them and trains only short versions live.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from llm_book._checks import check_int
from llm_book.model import GPT, GPTConfig, model_device
from llm_book.probability import language_cross_entropy

RESULTS_PATH = Path(__file__).parent / "data" / "architectures_results.json"

# Both styles: trained on packed windows of 16 tokens, built with room for 32 (the length test).
ARCH_RECIPE = {"n_layer": 2, "n_head": 4, "n_embd": 64, "n_kv_head": 2, "train_length": 16,
               "eval_length": 32, "steps": 2000, "batch_size": 128, "lr": 3e-3, "warmup_steps": 100,
               "eval_windows": 512, "seed": 0}

# LoRA on every linear layer of every block; the new words' and positions' embeddings train too.
LORA_TARGETS = ("query", "key", "value", "out", "fc", "proj")
LORA_RECIPE = {"ranks": [0, 1, 2, 4, 8, 16], "alpha_per_rank": 2.0, "steps": 1000, "full_lr": 5e-3,
               "lora_lr": 1e-2, "seed": 0}

STYLES = ("gpt2", "llama")


def style_config(style: str, vocab_size: int, block_size: int, n_layer: int = 2, n_head: int = 4,
                 n_embd: int = 64, n_kv_head: int | None = None, mlp_hidden: int | None = None) -> GPTConfig:
    """A GPT-2-style (learned positions, LayerNorm, GELU, tied, biases) or Llama-style config.

    Llama style: ``position="rope"``, ``norm="rmsnorm"``, ``mlp="swiglu"``, ``n_kv_head``
    key/value heads, untied output layer, no biases.
    """
    if style not in STYLES:
        raise ValueError(f"`style` (={style!r}) has to be one of {', '.join(map(repr, STYLES))}")
    base = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                     n_embd=n_embd)
    if style == "gpt2":
        return base
    return GPTConfig(**{**base.to_dict(), "bias": False, "position": "rope", "norm": "rmsnorm",
                        "mlp": "swiglu", "n_kv_head": n_kv_head, "mlp_hidden": mlp_hidden,
                        "tie_embeddings": False})


def count_parameters(config: GPTConfig) -> int:
    """Parameters of ``GPT(config)``, built on the meta device (no memory is used)."""
    with torch.device("meta"):
        return GPT(config).num_parameters()


def equal_budget_configs(vocab_size: int, block_size: int, n_layer: int = 2, n_head: int = 4,
                         n_embd: int = 64, n_kv_head: int | None = None) -> dict[str, GPTConfig]:
    """``{"gpt2": ..., "llama": ...}`` with the Llama MLP width chosen to match GPT-2's parameter count.

    Each SwiGLU unit costs ``3 * n_embd * n_layer`` parameters, so the two counts
    differ by less than half of that.
    """
    gpt2 = style_config("gpt2", vocab_size, block_size, n_layer, n_head, n_embd)
    target = count_parameters(gpt2)
    no_mlp = count_parameters(style_config("llama", vocab_size, block_size, n_layer, n_head, n_embd,
                                           n_kv_head, mlp_hidden=1)) - 3 * n_embd * n_layer
    per_unit = 3 * n_embd * n_layer
    hidden = max(1, round((target - no_mlp) / per_unit))
    llama = style_config("llama", vocab_size, block_size, n_layer, n_head, n_embd, n_kv_head, hidden)
    return {"gpt2": gpt2, "llama": llama}


class ExactKL:
    """The exact KL divergence per token from ``language`` to a model, with no sampling.

    ``kl(model)`` is ``sum_s P(s) log(P(s) / Q(s))`` over every sentence s, divided by the
    expected number of predicted tokens: ``llm_book.probability.language_cross_entropy``
    minus ``language.entropy_per_token()``, with the sentences ``chunk`` at a time.
    """

    def __init__(self, language, tokenizer) -> None:
        self.language, self.tokenizer = language, tokenizer
        self.entropy = language.entropy_per_token()

    def __call__(self, model, chunk: int = 1024) -> float:
        """The exact KL per token, in nats; sentences go through the model ``chunk`` at a time."""
        return language_cross_entropy(model, self.tokenizer, self.language, chunk) - self.entropy


def boundary_windows(language, tokenizer, n_windows: int, length: int, seed: int = 0):
    """Sampled sentences packed end to end into windows that start at a sentence boundary.

    Because each window starts with a sentence, the words since the last ``<eos>`` are
    known at every position, and so is the exact next-word distribution.

    Returns:
        ``(idx, truth)``: token ids ``(n_windows, length)`` and the true next-token
        probabilities ``(n_windows, length, vocab)`` after each position.
    """
    n_windows = check_int("n_windows", n_windows, "a positive integer", minimum=1)
    length = check_int("length", length, "a positive integer (tokens per window)", minimum=1)
    sentences = iter(language.sample(n_windows * (length // 3 + 2), seed=seed))
    cache: dict[tuple[str, ...], torch.Tensor] = {}
    idx = torch.empty(n_windows, length, dtype=torch.long)
    truth = torch.zeros(n_windows, length, len(tokenizer))
    for i in range(n_windows):
        words: list[str] = []
        while len(words) < length + 1:
            words += list(next(sentences))
        words = words[:length]
        idx[i] = torch.tensor(tokenizer.encode(words))
        prefix: list[str] = []
        for t, w in enumerate(words):
            prefix = [] if w == language.eos else prefix + [w]
            key = tuple(prefix)
            if key not in cache:
                p = torch.zeros(len(tokenizer))
                for word, prob in language.next_token_probs(list(prefix)).items():
                    p[tokenizer.token_to_id[word]] = prob
                cache[key] = p
            truth[i, t] = cache[key]
    return idx, truth


@torch.no_grad()
def kl_per_position(model, idx: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean KL(truth || model) at each position of the windows: a ``(T,)`` tensor in nats."""
    if idx.dim() != 2 or truth.shape[:2] != idx.shape:
        raise ValueError(f"`idx` (B, T) and `truth` (B, T, vocab) have to agree, got {tuple(idx.shape)} "
                         f"and {tuple(truth.shape)}")
    was_training = model.training
    model.eval()
    log_q = torch.log_softmax(model(idx.to(model_device(model))).logits.double(), -1).cpu()  # (B, T, V)
    model.train(was_training)
    p = truth.double()
    terms = torch.where(p > 0, p * (p.clamp(min=1e-300).log() - log_q), torch.zeros_like(p))
    return terms.sum(-1).mean(0)                                                  # (T,)


def train_style(style: str, steps: int | None = None, seed: int | None = None, batch_size: int | None = None,
                progress: bool = False):
    """Train one style of ``equal_budget_configs`` on packed windows of ``ARCH_RECIPE["train_length"]``.

    ``steps``, ``seed`` and ``batch_size`` override the recipe's (for a short live run).

    Returns:
        ``(model, tokenizer, history, seconds)``; the model's ``block_size`` is
        ``ARCH_RECIPE["eval_length"]``, so it can be run on longer windows than it saw.
    """
    from llm_book import set_seed
    from llm_book.language import ToyLanguage
    from llm_book.tokenizer import WordTokenizer
    from llm_book.training import PackedLanguageSampler, train

    r = dict(ARCH_RECIPE)
    steps = r["steps"] if steps is None else check_int("steps", steps, "a positive integer", minimum=1)
    seed = r["seed"] if seed is None else seed
    batch_size = r["batch_size"] if batch_size is None else check_int("batch_size", batch_size,
                                                                        "a positive integer", minimum=1)
    language = ToyLanguage()
    tokenizer = WordTokenizer(language.vocab, eos=language.eos)
    if style not in STYLES:
        raise ValueError(f"`style` (={style!r}) has to be one of {', '.join(map(repr, STYLES))}")
    config = equal_budget_configs(len(tokenizer), r["eval_length"], r["n_layer"], r["n_head"], r["n_embd"],
                                  r["n_kv_head"])[style]
    set_seed(seed)
    model = GPT(config)
    sampler = PackedLanguageSampler(language, tokenizer, r["train_length"])
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    history = train(model, lambda step: sampler(batch_size, generator), steps=steps, lr=r["lr"],
                    warmup_steps=min(r["warmup_steps"], steps // 10), progress=progress, device="cpu")
    return model, tokenizer, history, time.perf_counter() - start


def compare_architectures(steps: int | None = None, seed: int | None = None,
                          eval_windows: int | None = None) -> dict:
    """Train both styles and measure them: parameters, seconds, exact KL, KL per position (32 tokens)."""
    from llm_book.language import ToyLanguage

    r = dict(ARCH_RECIPE)
    language = ToyLanguage()
    out = {}
    for style in STYLES:
        model, tokenizer, history, seconds = train_style(style, steps, seed)
        idx, truth = boundary_windows(language, tokenizer, eval_windows or r["eval_windows"], r["eval_length"])
        per_position = kl_per_position(model, idx, truth)
        n = r["train_length"]
        out[style] = {"parameters": model.num_parameters(), "seconds": round(seconds, 2),
                      "steps": len(history.loss), "final_loss": history.loss[-1],
                      "kl": ExactKL(language, tokenizer)(model),
                      "kl_trained_positions": float(per_position[:n].mean()),
                      "kl_beyond": float(per_position[n:].mean()),
                      "kl_per_position": [round(float(v), 6) for v in per_position]}
    return out


def qa_finetune(rank: int | None, steps: int | None = None, seed: int | None = None,
                n_test: int | None = None) -> dict:
    """Fine-tune the shipped toy GPT on Chapter 6's questions: fully (``rank=None``), with LoRA, or
    the embeddings alone (``rank=0``, the baseline that tells what the adapters add).

    With LoRA, adapters of ``rank`` (alpha = ``LORA_RECIPE["alpha_per_rank"] * rank``) wrap every
    linear layer in ``LORA_TARGETS``; the token and position embeddings also train, because the
    question words and positions 16-23 are new (``llm_book.finetuning.extend_gpt``).  The
    adapters are merged before testing.

    Returns:
        ``{"rank", "trainable", "total", "accuracy" (exact match on the held-out stories'
        questions, the first ``n_test`` of them if given), "seconds", "merge_max_diff",
        "model", "tokenizer"}``.
    """
    from llm_book import set_seed
    from llm_book.dialogue import QA_RECIPE, qa_dataset, qa_tokenizer
    from llm_book.finetuning import (complete, exact_match, extend_gpt, finetune, recipe_start,
                                     split_sentences_train_test)
    from llm_book.lora import add_lora, merge_lora, trainable_parameter_count
    from llm_book.pretrained import load_toy_gpt

    if rank is not None:
        rank = check_int("rank", rank, "a LoRA rank >= 1, 0 for the embeddings alone, or None for full "
                         "fine-tuning", minimum=0)
    lr_key = "full_lr" if rank is None else "lora_lr"
    r = {**QA_RECIPE, **{k: v for k, v in LORA_RECIPE.items() if k in ("steps", "seed")}}
    steps, seed, language, train_sentences = recipe_start(r, steps, seed)
    base, base_tokenizer = load_toy_gpt()
    tokenizer = qa_tokenizer(base_tokenizer)
    set_seed(seed)
    model = extend_gpt(base, len(tokenizer), QA_RECIPE["block_size"], seed=seed)
    if rank == 0:                               # no adapters: only the embeddings train (the baseline)
        model.requires_grad_(False)
        model.wte.weight.requires_grad_(True)
        model.wpe.weight.requires_grad_(True)
    elif rank is not None:
        model = add_lora(model, rank, LORA_RECIPE["alpha_per_rank"] * rank, LORA_TARGETS)
        model.wte.weight.requires_grad_(True)   # the new words' vectors (tied to the output layer)
        model.wpe.weight.requires_grad_(True)   # and the new positions
    trainable, total = trainable_parameter_count(model)
    prompts, completions, _ = qa_dataset(train_sentences)
    start = time.perf_counter()
    finetune(model, tokenizer, prompts, completions, steps=steps, batch_size=QA_RECIPE["batch_size"],
             lr=LORA_RECIPE[lr_key], warmup_steps=QA_RECIPE["warmup_steps"], seed=seed, device="cpu")
    seconds = time.perf_counter() - start
    merge_diff = 0.0
    if rank:
        merged = merge_lora(model)
        probe = torch.tensor([tokenizer.encode(prompts[0])])
        with torch.no_grad():
            merge_diff = float((merged(probe).logits - model(probe).logits).abs().max())
        model = merged
    all_sentences = [w for w, _ in language.sentences()]
    _, test = split_sentences_train_test(all_sentences, QA_RECIPE["test_fraction"], seed=0)
    test_prompts, test_completions, _ = qa_dataset(test)
    if n_test is not None:
        test_prompts, test_completions = test_prompts[:n_test], test_completions[:n_test]
    predictions = complete(model, tokenizer, test_prompts)
    accuracy = exact_match(predictions, [c[:-1] for c in test_completions])
    return {"rank": rank, "trainable": trainable, "total": total, "accuracy": accuracy,
            "seconds": round(seconds, 2), "merge_max_diff": merge_diff, "model": model, "tokenizer": tokenizer}


def lora_sweep(ranks=None, steps: int | None = None, seed: int | None = None) -> list[dict]:
    """Full fine-tuning, then LoRA at each rank: one ``qa_finetune`` row each (without the models)."""
    rows = []
    for rank in [None] + list(ranks or LORA_RECIPE["ranks"]):
        row = qa_finetune(rank, steps, seed)
        rows.append({k: v for k, v in row.items() if k not in ("model", "tokenizer")})
    return rows


def load_results(path: Path = RESULTS_PATH) -> dict:
    """The shipped full-length results (written by ``python -m llm_book.architectures``)."""
    return json.loads(Path(path).read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    parser.add_argument("--steps", type=int, default=None, help="override both recipes' steps (a quick test)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = {"arch_recipe": ARCH_RECIPE, "lora_recipe": LORA_RECIPE, "torch": torch.__version__,
               "architectures": compare_architectures(args.steps), "lora": lora_sweep(steps=args.steps)}
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
