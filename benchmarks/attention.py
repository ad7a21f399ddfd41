"""The book's attention against PyTorch's fused kernel, side by side.

    python -m benchmarks.attention [--device cuda] [--lengths 64 256 1024 2048]

Two tables.

1. The formula: llm_book.attention.scaled_dot_product_attention is written to
   be read: it materialises the (T, T) score matrix, applies the mask with
   masked_fill and returns the weights.  torch.nn.functional.scaled_dot_product_attention
   fuses those steps (and never stores the weights).  The ratio says what
   readability costs at each sequence length.

2. The layer: llm_book.attention.SelfAttention (causal, its four projections
   included) on its two paths - fused (no weights asked for: it calls
   torch's kernel) and explicit (output_attentions=True: the formula step by
   step) - against "raw SDPA": the same four projections and torch's kernel
   written inline with nothing else.  fused / raw is the layer's overhead
   (argument checks, the head split); explicit / raw is the price of the weights.

Each repeat times the contenders one right after the other, and the best of the
repeats counts, so a busy machine slows all of them alike.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from llm_book.attention import SelfAttention, causal_mask, scaled_dot_product_attention


def side_by_side(fns: dict, repeats: int = 5, device: str = "cpu") -> dict[str, float]:
    """Best-of-``repeats`` seconds of each function, timed in turn within every repeat."""
    def timed(fn) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for fn in fns.values():
        fn()  # warm up
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            best[name] = min(best[name], timed(fn))
    return best


def raw_layer(layer: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """The same layer with nothing but its projections and torch's fused kernel."""
    b, t, c = x.shape
    q, k, v = (proj(x).view(b, t, layer.num_heads, layer.head_dim).transpose(1, 2)
               for proj in (layer.query, layer.key, layer.value))            # (B, nh, T, hs)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)              # (B, nh, T, hs)
    return layer.out(y.transpose(1, 2).reshape(b, t, c))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    device = args.device
    torch.manual_seed(0)
    batch, heads, head_dim = 4, 4, 32
    machine = torch.cuda.get_device_name() if device == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"machine: {machine}, torch {torch.__version__}; batch {batch}, {heads} heads, "
          f"head size {head_dim}, causal mask, float32, best of {args.repeats}")

    print("\n1. the formula: llm_book.attention.scaled_dot_product_attention against torch's SDPA")
    print(f"{'T':>6} {'llm_book (ms)':>14} {'torch SDPA (ms)':>16} {'ratio':>7} {'max |diff|':>11}")
    for t in args.lengths:
        q, k, v = (torch.randn(batch, heads, t, head_dim, device=device) for _ in range(3))
        mask = causal_mask(t, device=device)
        with torch.no_grad():
            best = side_by_side({"ours": lambda: scaled_dot_product_attention(q, k, v, mask),
                                 "torch": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)},
                                args.repeats, device)
            diff = (scaled_dot_product_attention(q, k, v, mask)[0]
                    - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max().item()
        print(f"{t:6d} {1e3 * best['ours']:14.2f} {1e3 * best['torch']:16.2f} "
              f"{best['ours'] / best['torch']:7.1f} {diff:11.1e}")

    print("\n2. the layer: SelfAttention's fused and explicit paths against raw SDPA (same projections)")
    print(f"{'T':>6} {'raw SDPA (ms)':>14} {'fused (ms)':>11} {'explicit (ms)':>14} "
          f"{'fused/raw':>10} {'explicit/raw':>13} {'max |fused-explicit|':>21}")
    layer = SelfAttention(heads * head_dim, heads, causal=True).to(device).eval()
    for t in args.lengths:
        x = torch.randn(batch, t, heads * head_dim, device=device)
        with torch.no_grad():
            best = side_by_side({"raw": lambda: raw_layer(layer, x), "fused": lambda: layer(x),
                                 "explicit": lambda: layer(x, output_attentions=True)}, args.repeats, device)
            diff = (layer(x) - layer(x, output_attentions=True)[0]).abs().max().item()
            assert (layer(x) - raw_layer(layer, x)).abs().max().item() < 1e-5
        print(f"{t:6d} {1e3 * best['raw']:14.2f} {1e3 * best['fused']:11.2f} {1e3 * best['explicit']:14.2f} "
              f"{best['fused'] / best['raw']:10.2f} {best['explicit'] / best['raw']:13.1f} {diff:21.1e}")


if __name__ == "__main__":
    main()
