"""Generation speed with and without the key/value cache.

    python -m benchmarks.generation                        # 128, 512 and 1,024 new tokens
    python -m benchmarks.generation --lengths 64 256 1024  # other lengths
    python -m benchmarks.generation --threads 1 --repeats 3
    python -m benchmarks.generation --threads 1 --clock cpu  # on a busy, shared machine

A 4-layer, 128-wide GPT with seeded random weights decodes greedily (batch 1)
from a fixed prompt.  Without the cache every step runs the model over the
whole text so far, so a step costs more and more as the text grows; with it,
a step runs the model on the one new token and reads the stored keys and
values of the others.  For each length the script prints tokens per second
both ways, their ratio, and whether both produced the same tokens.

Run by hand on an otherwise quiet machine; other processes on the CPU make the
figures smaller and noisier (use ``--repeats`` and read the best of them).  On a
busy shared machine, ``--threads 1 --clock cpu`` measures the CPU time the
process itself used, which is close to what it would take on a quiet core.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from llm_book.model import GPT, GPTConfig
from llm_book.sampling import greedy

DEFAULT_LENGTHS = (128, 512, 1024)


@dataclass
class Result:
    new_tokens: int
    seconds_plain: float
    seconds_cached: float
    identical: bool

    @property
    def tps_plain(self) -> float:
        return self.new_tokens / self.seconds_plain

    @property
    def tps_cached(self) -> float:
        return self.new_tokens / self.seconds_cached

    @property
    def speedup(self) -> float:
        return self.seconds_plain / self.seconds_cached


def make_model(block_size: int, n_layer: int = 4, n_embd: int = 128, n_head: int = 4,
               vocab_size: int = 256, seed: int = 0) -> GPT:
    """The benchmark's model: seeded random weights, evaluation mode."""
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                       n_head=n_head, n_embd=n_embd)
    return GPT(config).eval()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _time(model: GPT, prompt: torch.Tensor, n: int, use_cache: bool, repeats: int, clock: str):
    best, out, now = float("inf"), None, CLOCKS[clock]
    for _ in range(repeats):
        start = now()
        out = greedy(model, prompt, n, use_cache=use_cache)
        best = min(best, now() - start)
    return best, out


def run(lengths: Sequence[int] = DEFAULT_LENGTHS, prompt_len: int = 16, repeats: int = 1,
        n_layer: int = 4, n_embd: int = 128, clock: str = "wall", verbose: bool = True) -> list[Result]:
    """Time greedy decoding of each length with and without the cache (best of ``repeats``).

    ``clock`` is "wall" (elapsed time) or "cpu" (CPU time of this process, all threads).
    """
    if clock not in CLOCKS:
        raise ValueError(f"`clock` (={clock!r}) has to be one of {sorted(CLOCKS)}")
    model = make_model(prompt_len + max(lengths), n_layer=n_layer, n_embd=n_embd)
    prompt = torch.randint(0, model.config.vocab_size, (1, prompt_len),
                           generator=torch.Generator().manual_seed(0))
    greedy(model, prompt, 8, use_cache=True)   # warm-up: first calls allocate and dispatch slowly
    greedy(model, prompt, 8, use_cache=False)
    results = []
    for n in lengths:
        t_plain, plain = _time(model, prompt, n, False, repeats, clock)
        t_cached, cached = _time(model, prompt, n, True, repeats, clock)
        result = Result(n, t_plain, t_cached, torch.equal(plain, cached))
        results.append(result)
        if verbose:
            print(f"{n:10d} {result.tps_plain:14.1f} {result.tps_cached:14.1f} "
                  f"{result.speedup:8.1f}x {'yes' if result.identical else 'NO':>10}", flush=True)
    return results


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS),
                        help="numbers of new tokens to generate (default: 128 512 1024)")
    parser.add_argument("--prompt", type=int, default=16, help="prompt length in tokens (default 16)")
    parser.add_argument("--repeats", type=int, default=1, help="time each run this often, keep the best")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--layers", type=int, default=4, help="transformer blocks (default 4)")
    parser.add_argument("--width", type=int, default=128, help="n_embd (default 128)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time (default); cpu: CPU time of this process")
    args = parser.parse_args(argv)
    if min(args.lengths) < 1 or args.prompt < 1 or args.repeats < 1:
        parser.error("--lengths, --prompt and --repeats have to be positive integers")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"GPT: {args.layers} layers, {args.width} wide, 4 heads, vocabulary 256, block_size "
          f"{args.prompt + max(args.lengths)}; greedy decoding, batch 1, prompt {args.prompt} tokens; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeats}, "
          f"{args.clock} clock")
    print(f"{'new tokens':>10} {'no cache tok/s':>14} {'cache tok/s':>14} {'speed-up':>9} "
          f"{'same tokens':>10}")
    results = run(args.lengths, args.prompt, args.repeats, args.layers, args.width, args.clock)
    ratios = ", ".join(f"{r.new_tokens}: {r.speedup:.1f}x" for r in results)
    print(f"speed-up of the cache by length: {ratios}")
    return results


if __name__ == "__main__":
    main()
