"""Chapter 12's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import torch

from llm_book.attention import RotaryEmbedding, apply_rotary
from llm_book.exercises.chapter12 import check_12_1, check_12_2, check_12_3, check_12_4, check_12_5
from llm_book.model import GPT
from llm_book.quantization import quantize_absmax
from checker_helpers import assert_hint, assert_right, catalogue_tests, stub
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def rotate(x, positions, pairing="halves", sign=1.0, exponent=2.0):
    d = x.shape[-1]
    inv_freq = 10000.0 ** (-exponent * torch.arange(d // 2, dtype=torch.float64) / d)
    angle = sign * positions.double()[:, None] * inv_freq
    cos, sin = angle.cos(), angle.sin()
    if pairing == "halves":
        x1, x2 = x[:, : d // 2], x[:, d // 2:]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    out = x.clone()
    out[:, 0::2], out[:, 1::2] = x[:, 0::2] * cos - x[:, 1::2] * sin, x[:, 0::2] * sin + x[:, 1::2] * cos
    return out


def rotate_with_package(x, positions):  # the package's rotation, one position at a time
    rope = RotaryEmbedding(x.shape[-1])
    rows = []
    for t, p in enumerate(positions.tolist()):
        cos, sin = rope(p, 1, dtype=x.dtype)
        rows.append(apply_rotary(x[t:t + 1], cos, sin))
    return torch.cat(rows)


def break_even(config):
    with torch.device("meta"):
        n_params = GPT(config).num_parameters()
    return n_params / (2 * config.n_layer * (config.n_kv_head or config.n_head) * (config.n_embd // config.n_head))


def lora_grads(x, dy, A, B, alpha, scale=None, mean=False):
    scale = alpha / A.shape[0] if scale is None else scale
    h = x @ A.T                                                   # (N, r)
    gA, gB = scale * (dy @ B).T @ x, scale * dy.T @ h
    return (gA / x.shape[0], gB / x.shape[0]) if mean else (gA, gB)


def lora_autograd(x, dy, A, B, alpha):  # the same by autograd
    A, B = A.clone().requires_grad_(), B.clone().requires_grad_()
    (alpha / A.shape[0] * x @ A.T @ B.T * dy).sum().backward()
    return A.grad, B.grad


def int4_bytes(out_features, in_features, group_size):
    return quantize_absmax(torch.ones(out_features, in_features), 4, group_size).nbytes


def find_input():
    return torch.full((2, 8), 1e-3)


CHECKERS = [check_12_1, check_12_2, check_12_3, check_12_4, check_12_5]
RIGHT_ANSWERS = {check_12_1: rotate, check_12_2: break_even, check_12_3: lora_grads, check_12_4: int4_bytes,
                 check_12_5: find_input}

test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_12_1(capsys):
    assert_right(capsys, check_12_1, rotate_with_package)
    assert_hint(capsys, check_12_1, lambda x, p: rotate(x, torch.arange(len(p))), "positions[t]")
    assert_hint(capsys, check_12_1, lambda x, p: rotate(x, p, pairing="neighbours"), "RoFormer", "i + d/2")
    assert_hint(capsys, check_12_1, lambda x, p: rotate(x, p, sign=-1.0), "wrong way")
    assert_hint(capsys, check_12_1, lambda x, p: rotate(x, p, exponent=1.0), "-2i / d")
    assert_hint(capsys, check_12_1, lambda x, p: x, "nothing turned")
    assert_hint(capsys, check_12_1, lambda x, p: x[:, :4], "shaped like x")
    assert_hint(capsys, check_12_1, stub, "not written yet")


def test_12_2(capsys):
    line = assert_right(capsys, check_12_2, break_even)
    assert "122,500" in line
    assert_right(capsys, check_12_2, lambda c: int(break_even(c)))
    per_head = lambda c: break_even(c) * (c.n_kv_head or c.n_head) / c.n_head  # noqa: E731
    assert_hint(capsys, check_12_2, lambda c: 2 * break_even(c), "key AND a value")
    assert_hint(capsys, check_12_2, per_head, "per query head")
    assert_hint(capsys, check_12_2, lambda c: break_even(c) * c.n_layer, "one layer")
    assert_hint(capsys, check_12_2, lambda c: break_even(c) / 2, "cancel")
    assert_hint(capsys, check_12_2, lambda c: 3, "expected about")
    assert_hint(capsys, check_12_2, stub, "not written yet")


def test_12_2_embeddings_and_units(capsys):
    def without_embeddings(c):
        with torch.device("meta"):
            m = GPT(c)
        n = sum(p.numel() for k, p in m.named_parameters() if not k.startswith(("wte", "wpe", "lm_head")))
        return n / (2 * c.n_layer * (c.n_kv_head or c.n_head) * (c.n_embd // c.n_head))

    assert_hint(capsys, check_12_2, without_embeddings, "embeddings")


def test_12_3(capsys):
    assert_right(capsys, check_12_3, lora_autograd)
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B, a, scale=1.0), "alpha / r")
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B, a, scale=a), "divide alpha")
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B, a, scale=a / B.shape[0]),
                "A.shape[0]")
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B, a, mean=True), "do not average")
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B, a)[::-1], "swapped")
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: (A, B), "grad_B = ")
    # a shortcut that ignores B = 0 at the start: grad_A from a random stand-in for B
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B if B.any() else torch.ones_like(B), a),
                "B = 0")
    # one that is right while A and B are non-zero but not when both are zero
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B, a) if A.any() else
                (torch.ones_like(A), torch.ones_like(B)), "A = B = 0")
    assert_hint(capsys, check_12_3, lambda x, dy, A, B, a: lora_grads(x, dy, A, B, a)[0], "two things")
    assert_hint(capsys, check_12_3, stub, "not written yet")


def test_12_4(capsys):
    assert_right(capsys, check_12_4, lambda o, i, g: o * ((i + 1) // 2) + 4 * o * (1 if g is None else i // g))
    assert int4_bytes(256, 64, 8) == 256 * 32 * 2 and int4_bytes(256, 64, 4) > quantize_absmax(
        torch.ones(256, 64), 8).nbytes   # groups of 4: heavier than int8 per row
    groups = lambda g, i: 1 if g is None else i // g  # noqa: E731
    assert_hint(capsys, check_12_4, lambda o, i, g: o * ((i + 1) // 2), "scales are stored")
    assert_hint(capsys, check_12_4, lambda o, i, g: o * i + 4 * o * groups(g, i), "share one byte")
    assert_hint(capsys, check_12_4, lambda o, i, g: o * ((i + 1) // 2) + 2 * o * groups(g, i), "not 2")
    assert_hint(capsys, check_12_4, lambda o, i, g: o * ((i + 1) // 2) + 4 * groups(g, i), "every row")
    assert_hint(capsys, check_12_4, lambda o, i, g: o * i / 2 + 4 * o * groups(g, i), "padded")
    assert_hint(capsys, check_12_4, lambda o, i, g: o * ((i + 1) // 2) + 4 * o * (i if g is None else i // g),
                "one scale per row")
    assert_hint(capsys, check_12_4, lambda o, i, g: 7, "expected")
    assert_hint(capsys, check_12_4, stub, "not written yet")


def test_12_5(capsys):
    line = assert_right(capsys, check_12_5, find_input)
    assert "differ by" in line
    assert_right(capsys, check_12_5, lambda: torch.tensor([[3.0, -4.0], [1e-4, 0.0]]))  # one small vector is enough
    assert_hint(capsys, check_12_5, lambda: torch.zeros(2, 8), "all zeros")
    assert_hint(capsys, check_12_5, lambda: torch.randn(4, 8, generator=torch.Generator().manual_seed(0)),
                "eps hardly matters")
    assert_hint(capsys, check_12_5, lambda: torch.tensor([float("nan"), 1.0]), "nan")
    assert_hint(capsys, check_12_5, lambda: torch.tensor(1.0), "at least one vector")
    assert_hint(capsys, check_12_5, lambda: "small", "tensor")
    assert_hint(capsys, check_12_5, stub, "not written yet")
