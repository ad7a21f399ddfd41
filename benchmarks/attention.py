"""The book's attention against PyTorch's fused kernel, side by side.

    python -m benchmarks.attention

llm_book.attention.scaled_dot_product_attention is written to be read: it
materialises the (T, T) score matrix, applies the mask with masked_fill and
returns the weights.  torch.nn.functional.scaled_dot_product_attention fuses
those steps (and never stores the weights).  The ratio says what readability
costs at each sequence length.
"""

from __future__ import annotations

import platform
import time

import torch
import torch.nn.functional as F

from llm_book.attention import causal_mask, scaled_dot_product_attention


def best_of(fn, repeats: int = 5) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    torch.manual_seed(0)
    batch, heads, head_dim = 4, 4, 32
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; batch {batch}, {heads} heads, head size {head_dim}, causal mask")
    print(f"{'T':>6} {'llm_book (ms)':>14} {'torch SDPA (ms)':>16} {'ratio':>7} {'max |diff|':>11}")
    for t in (64, 256, 1024, 2048):
        q, k, v = (torch.randn(batch, heads, t, head_dim) for _ in range(3))
        mask = causal_mask(t)
        with torch.no_grad():
            ours = best_of(lambda: scaled_dot_product_attention(q, k, v, mask))
            theirs = best_of(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
            diff = (scaled_dot_product_attention(q, k, v, mask)[0]
                    - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max().item()
        print(f"{t:6d} {1e3 * ours:14.2f} {1e3 * theirs:16.2f} {ours / theirs:7.1f} {diff:11.1e}")


if __name__ == "__main__":
    main()
