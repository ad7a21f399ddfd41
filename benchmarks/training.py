"""How fast does the toy-language GPT reach the entropy floor?

    python -m benchmarks.training [--steps 2000] [--eval-every 50]

Trains the shipped tiny GPT's recipe (llm_book.pretrained.TOY_GPT_RECIPE) from
its fixed seed and, every few steps, measures the model's *exact* cross-entropy
on the whole language (llm_book.probability.language_cross_entropy: no sampling
noise).  Prints the training time (evaluations excluded) at which it first came
within 3% and within 1% of ToyLanguage.entropy_per_token(), the floor no model
can beat, and the final gap.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from llm_book import set_seed
from llm_book.language import ToyLanguage
from llm_book.model import GPT, GPTConfig
from llm_book.pretrained import TOY_GPT_RECIPE
from llm_book.probability import language_cross_entropy
from llm_book.tokenizer import WordTokenizer
from llm_book.training import LanguageSampler, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=TOY_GPT_RECIPE["steps"])
    parser.add_argument("--eval-every", type=int, default=50)
    args = parser.parse_args(argv)

    r = TOY_GPT_RECIPE
    language = ToyLanguage()
    tokenizer = WordTokenizer(language.vocab)
    floor = language.entropy_per_token()
    set_seed(r["seed"])
    model = GPT(GPTConfig(vocab_size=len(tokenizer), block_size=r["block_size"], n_layer=r["n_layer"],
                          n_head=r["n_head"], n_embd=r["n_embd"]))
    sampler = LanguageSampler(language, tokenizer)
    generator = torch.Generator().manual_seed(r["seed"])

    clock = {"train": 0.0, "last": time.perf_counter()}
    reached: dict[str, tuple[int, float, float]] = {}

    def evaluate(m) -> float:
        clock["train"] += time.perf_counter() - clock["last"]
        ce = language_cross_entropy(m, tokenizer, language)
        gap = ce / floor - 1
        step = len(history_steps) * args.eval_every
        history_steps.append(step)
        for name, threshold in (("3%", 0.03), ("1%", 0.01)):
            if name not in reached and gap <= threshold:
                reached[name] = (step, clock["train"], ce)
        clock["last"] = time.perf_counter()
        return ce

    history_steps: list[int] = []
    history = train(model, lambda step: sampler(r["batch_size"], generator), steps=args.steps,
                    lr=r["lr"], warmup_steps=r["warmup_steps"], eval_fn=evaluate,
                    eval_every=args.eval_every, device="cpu")
    final = history.eval_loss[-1]

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print(f"model: {model.num_parameters():,} parameters; batch {r['batch_size']} sentences; "
          f"entropy floor {floor:.4f} nats/token")
    print(f"{'target':>10} {'step':>6} {'train time (s)':>15} {'cross-entropy':>14}")
    for name in ("3%", "1%"):
        if name in reached:
            step, seconds, ce = reached[name]
            print(f"{'within ' + name:>10} {step:6d} {seconds:15.1f} {ce:14.4f}")
        else:
            print(f"{'within ' + name:>10} {'not reached in ' + str(args.steps) + ' steps':>37}")
    print(f"final: step {args.steps}, cross-entropy {final:.4f}, gap {100 * (final / floor - 1):.2f}% "
          f"above the floor, total training time {clock['train']:.1f} s")


if __name__ == "__main__":
    main()
