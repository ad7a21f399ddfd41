"""A scaling experiment small enough for a laptop, and the power law that summarises it.

Train GPTs of several sizes on the same real text for the same number of
tokens, measure each one's validation loss, and fit

    L(N) = a * N^(-alpha)          (a straight line on log-log axes)
    L(N) = a * N^(-alpha) + c      (with an irreducible part c)

where N is the number of non-embedding parameters (Kaplan et al. 2020 found the
cleanest laws with that count).  Both fits are least squares in log space.

The shipped results (``llm_book/data/scaling_results.json``) come from::

    python -m llm_book.scaling                      # a few minutes on a laptop CPU

and the same script runs unchanged on a GPU, or on N processes::

    torchrun --nproc_per_node=4 -m llm_book.scaling --out results.json

because ``llm_book.training.train`` picks the device and handles the processes.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from llm_book import set_seed
from llm_book.corpus import CharCorpus
from llm_book.model import GPT, GPTConfig, model_device
from llm_book.training import default_device, distributed_context, train

SCALING_RESULTS_PATH = Path(__file__).parent / "data" / "scaling_results.json"

# The recipe behind the shipped results: (n_layer, n_embd) per model, and one training budget.
DEFAULT_SIZES = ((2, 8), (2, 16), (2, 32), (2, 64), (2, 128))
DEFAULT_SETTINGS = {"steps": 600, "batch_size": 32, "block_size": 64, "lr": 1e-2, "lr_width": 32,
                    "warmup_steps": 30, "seed": 0, "val_windows": 256}


@dataclass(frozen=True)
class PowerLaw:
    """L(N) = a * N^(-alpha) + c."""

    a: float
    alpha: float
    c: float = 0.0

    def __call__(self, n) -> np.ndarray | float:
        return self.a * np.asarray(n, dtype=float) ** (-self.alpha) + self.c

    def __str__(self) -> str:
        tail = f" + {self.c:.3f}" if self.c else ""
        return f"L(N) = {self.a:.3g} * N^(-{self.alpha:.3f}){tail}"


def _line_fit(log_n: np.ndarray, log_l: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line log_l = intercept + slope * log_n; returns (intercept, slope, squared error)."""
    slope, intercept = np.polyfit(log_n, log_l, 1)
    residual = log_l - (intercept + slope * log_n)
    return float(intercept), float(slope), float((residual ** 2).sum())


def fit_power_law(n: Sequence[float], loss: Sequence[float], offset: bool = False) -> PowerLaw:
    """Fit L(N) = a N^(-alpha) (+ c) by least squares in log space.

    Without offset this is a straight-line fit of log L against log N.  With
    ``offset=True`` it also picks the constant c in [0, min L) that makes
    log(L - c) most nearly a straight line (a one-dimensional search).

    Args:
        n: model sizes (positive).
        loss: their losses (positive), same length, at least 2 (3 with ``offset``).

    Returns:
        ``PowerLaw(a, alpha, c)``.
    """
    n_arr, l_arr = np.asarray(n, dtype=float), np.asarray(loss, dtype=float)
    if n_arr.ndim != 1 or n_arr.shape != l_arr.shape:
        raise ValueError(f"`n` and `loss` have to be 1-D and of the same length, got shapes "
                         f"{n_arr.shape} and {l_arr.shape}")
    needed = 3 if offset else 2
    if len(n_arr) < needed:
        raise ValueError(f"fitting a power law{' with an offset' if offset else ''} needs at least "
                         f"{needed} points, got {len(n_arr)}")
    if not (np.all(np.isfinite(n_arr)) and np.all(n_arr > 0)):
        raise ValueError(f"`n` has to hold positive numbers, got {n_arr.tolist()}")
    if not (np.all(np.isfinite(l_arr)) and np.all(l_arr > 0)):
        raise ValueError(f"`loss` has to hold positive numbers, got {l_arr.tolist()}")
    log_n = np.log(n_arr)
    if not offset:
        intercept, slope, _ = _line_fit(log_n, np.log(l_arr))
        return PowerLaw(a=math.exp(intercept), alpha=-slope)

    def error(c: float) -> float:
        return _line_fit(log_n, np.log(l_arr - c))[2]

    top = float(l_arr.min())
    grid = top * (1 - np.logspace(-4, 0, 200))[::-1]      # c from 0 up to just below min L
    grid = np.concatenate([[0.0], grid[grid > 0]])
    errors = [error(c) for c in grid]
    best = int(np.argmin(errors))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    for _ in range(60):                                   # golden-section refinement
        m1, m2 = lo + 0.382 * (hi - lo), lo + 0.618 * (hi - lo)
        if error(m1) < error(m2):
            hi = m2
        else:
            lo = m1
    c = (lo + hi) / 2
    intercept, slope, _ = _line_fit(log_n, np.log(l_arr - c))
    return PowerLaw(a=math.exp(intercept), alpha=-slope, c=float(c))


def non_embedding_parameters(model: GPT) -> int:
    """Parameters outside the token and position embeddings (attention, MLP, LayerNorms)."""
    counts = model.parameter_counts()
    return model.num_parameters() - counts["token embedding"] - counts["position embedding"]


@dataclass(frozen=True)
class ScalingRun:
    """One trained model of the experiment."""

    n_layer: int
    n_embd: int
    n_head: int
    parameters: int
    non_embedding_parameters: int
    tokens: int
    train_loss: float
    val_loss: float
    seconds: float


def _check_sizes(sizes) -> list[tuple[int, int]]:
    out = []
    for size in sizes:
        if not (isinstance(size, (tuple, list)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise ValueError(f"`sizes` has to hold (n_layer, n_embd) pairs of positive integers, "
                             f"got {size!r}")
        out.append((size[0], size[1]))
    if not out:
        raise ValueError("`sizes` is empty; give at least one (n_layer, n_embd) pair")
    return out


def heads_for(n_embd: int) -> int:
    """Attention heads for a width: about 16 dimensions per head, at least one, dividing ``n_embd``."""
    if isinstance(n_embd, bool) or not isinstance(n_embd, int) or n_embd < 1:
        raise ValueError(f"`n_embd` (={n_embd!r}) has to be a positive integer")
    n_head = max(1, round(n_embd / 16))
    while n_embd % n_head:
        n_head -= 1
    return n_head


def learning_rate(lr: float, lr_width: int, n_embd: int) -> float:
    """``lr`` up to ``lr_width`` dimensions, then shrinking as 1 / width: ``lr * min(1, lr_width / n_embd)``."""
    return lr * min(1.0, lr_width / n_embd)


def run_scaling_experiment(corpus: CharCorpus, sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
                           steps: int = 600, batch_size: int = 32, block_size: int = 64,
                           lr: float = 1e-2, lr_width: int = 32, warmup_steps: int = 30, seed: int = 0,
                           val_windows: int = 256, progress: bool = False,
                           device: torch.device | str | None = None, threads: int | None = 1) -> list[ScalingRun]:
    """Train one GPT per size on the same batches and measure the validation loss of each.

    Every model sees exactly the same ``steps * batch_size * block_size`` training
    tokens, in the same order, and is evaluated on the same ``val_windows``
    held-out windows.  Only the size differs.

    Args:
        corpus: the text (``CharCorpus.pydoc()`` for the book's experiment).
        sizes: ``(n_layer, n_embd)`` for each model; heads from ``heads_for(n_embd)``.
        steps, batch_size, block_size, warmup_steps: the training budget (as in ``train``).
        lr, lr_width: peak learning rate of models up to ``lr_width`` wide; a wider model gets
            ``lr * lr_width / n_embd`` (wider models need smaller steps; one fixed rate is either
            too slow for the small models or unstable for the large ones).
        seed: seeds the weights and the batches.
        val_windows: number of held-out windows of ``block_size`` characters.
        threads: PyTorch's CPU threads while training (restored afterwards); models this small
            train fastest on one, and several threads slow down badly on a busy machine.
            None leaves the setting alone.

    Returns:
        one ``ScalingRun`` per size, in the order given.
    """
    sizes = _check_sizes(sizes)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"`threads` (={threads!r}) has to be a positive integer or None")
    previous_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        return _run(corpus, sizes, steps, batch_size, block_size, lr, lr_width, warmup_steps, seed,
                    val_windows, progress, device)
    finally:
        torch.set_num_threads(previous_threads)


def _run(corpus, sizes, steps, batch_size, block_size, lr, lr_width, warmup_steps, seed, val_windows,
         progress, device) -> list[ScalingRun]:
    val_x, val_y = corpus.batch("val", val_windows, block_size, torch.Generator().manual_seed(seed + 1))
    runs = []
    for n_layer, n_embd in sizes:
        set_seed(seed)
        config = GPTConfig(vocab_size=corpus.vocab_size, block_size=block_size, n_layer=n_layer,
                           n_head=heads_for(n_embd), n_embd=n_embd)
        model = GPT(config)
        batches = torch.Generator().manual_seed(seed)  # the same batches for every size

        def get_batch(step: int, batches=batches):
            return corpus.batch("train", batch_size, block_size, batches)

        def val_loss(m: GPT) -> float:
            dev = model_device(m)
            return m(val_x.to(dev), val_y.to(dev)).loss.item()

        start = time.perf_counter()
        history = train(model, get_batch, steps=steps, lr=learning_rate(lr, lr_width, n_embd),
                        warmup_steps=warmup_steps,
                        eval_fn=val_loss, eval_every=steps, progress=progress, device=device)
        runs.append(ScalingRun(
            n_layer=n_layer, n_embd=n_embd, n_head=config.n_head,
            parameters=model.num_parameters(), non_embedding_parameters=non_embedding_parameters(model),
            tokens=steps * batch_size * block_size,
            train_loss=float(np.mean(history.loss[-max(1, steps // 10):])),
            val_loss=history.eval_loss[-1], seconds=time.perf_counter() - start))
    return runs


def load_scaling_results(path: Path | str = SCALING_RESULTS_PATH) -> tuple[dict, list[ScalingRun]]:
    """The shipped results: ``(settings, runs)``; settings include the Python and torch versions."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data["settings"], [ScalingRun(**run) for run in data["runs"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m llm_book.scaling",
                                     description="Train GPTs of several sizes on the same text and tokens.")
    parser.add_argument("--sizes", nargs="+", default=[f"{l}x{e}" for l, e in DEFAULT_SIZES],
                        help="models as n_layer x n_embd, e.g. 2x16 2x32")
    for key, value in DEFAULT_SETTINGS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process (default 1)")
    parser.add_argument("--out", type=Path, default=SCALING_RESULTS_PATH)
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    settings = {key: getattr(args, key) for key in DEFAULT_SETTINGS}
    rank, world_size = distributed_context()
    corpus = CharCorpus.pydoc()
    runs = run_scaling_experiment(corpus, sizes, progress=rank == 0, threads=args.threads, **settings)
    if rank == 0:
        for run in runs:
            print(f"{run.n_layer} x {run.n_embd:4d}: {run.non_embedding_parameters:9,d} non-embedding "
                  f"parameters, validation loss {run.val_loss:.4f} ({run.seconds:.0f} s)")
        if len(runs) >= 2:
            print(fit_power_law([r.non_embedding_parameters for r in runs], [r.val_loss for r in runs]))
        settings.update(sizes=[list(s) for s in sizes], processes=world_size,
                        device=str(default_device()),
                        python=platform.python_version(), torch=torch.__version__,
                        corpus=repr(corpus))
        args.out.write_text(json.dumps({"settings": settings, "runs": [asdict(r) for r in runs]},
                                       indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
