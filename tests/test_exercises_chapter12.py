"""Chapter 12's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import torch

from llm_book.attention import RotaryEmbedding, apply_rotary
from llm_book.exercises.chapter12 import check_12_1, check_12_2, check_12_3, check_12_4, check_12_5
from llm_book.model import RMSNorm
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


def kv_bytes(config, nbytes):
    return 2 * config.n_layer * (config.n_kv_head or config.n_head) * (config.n_embd // config.n_head) * nbytes


def merge(W, A, B, alpha):
    return W + alpha / A.shape[0] * B @ A


def absmax(row, bits):
    scale = row.abs().max() / (2 ** (bits - 1) - 1)
    return torch.round(row / scale), scale


def rms_norm(x, weight, eps):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


CHECKERS = [check_12_1, check_12_2, check_12_3, check_12_4, check_12_5]
RIGHT_ANSWERS = {check_12_1: rotate, check_12_2: kv_bytes, check_12_3: merge, check_12_4: absmax,
                 check_12_5: rms_norm}

test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_12_1(capsys):
    assert_right(capsys, check_12_1, rotate_with_package)
    assert_hint(capsys, check_12_1, lambda x, p: rotate(x, p, pairing="neighbours"), "pairs", "i + d/2")
    assert_hint(capsys, check_12_1, lambda x, p: rotate(x, p, sign=-1.0), "wrong way")
    assert_hint(capsys, check_12_1, lambda x, p: rotate(x, p, exponent=1.0), "-2i / d")
    assert_hint(capsys, check_12_1, lambda x, p: x, "nothing turned")
    assert_hint(capsys, check_12_1, lambda x, p: x[:, :4], "shaped like x")
    assert_hint(capsys, check_12_1, stub, "not written yet")


def test_12_2(capsys):
    assert_right(capsys, check_12_2, kv_bytes)
    assert_hint(capsys, check_12_2, lambda c, b: kv_bytes(c, b) // 2, "key AND a value")
    assert_hint(capsys, check_12_2, lambda c, b: 2 * c.n_layer * c.n_embd * b, "per query head")
    assert_hint(capsys, check_12_2, lambda c, b: kv_bytes(c, b) // c.n_layer, "one layer")
    assert_hint(capsys, check_12_2, lambda c, b: kv_bytes(c, 1), "bytes_per_number")
    assert_hint(capsys, check_12_2, lambda c, b: 3, "expected")
    assert_hint(capsys, check_12_2, stub, "not written yet")


def test_12_3(capsys):
    assert_right(capsys, check_12_3, merge)
    assert_hint(capsys, check_12_3, lambda W, A, B, a: W + B @ A, "scaled by alpha / r")
    assert_hint(capsys, check_12_3, lambda W, A, B, a: W + a * B @ A, "divide alpha")
    assert_hint(capsys, check_12_3, lambda W, A, B, a: W + A.shape[0] / a * B @ A, "not r / alpha")
    assert_hint(capsys, check_12_3, lambda W, A, B, a: a / A.shape[0] * B @ A, "add it to W")
    assert_hint(capsys, check_12_3, lambda W, A, B, a: A.T @ B.T, "W's shape")
    assert_hint(capsys, check_12_3, stub, "not written yet")


def test_12_4(capsys):
    assert_right(capsys, check_12_4, absmax)
    assert_right(capsys, check_12_4, lambda row, bits: (absmax(row, bits)[0].to(torch.int8), absmax(row, bits)[1]))
    assert_hint(capsys, check_12_4, lambda r, b: (torch.round(r / (r.abs().max() / 2 ** (b - 1))),
                                                  r.abs().max() / 2 ** (b - 1)), "symmetric")
    assert_hint(capsys, check_12_4, lambda r, b: (r, r.max() / (2 ** (b - 1) - 1)), "ABSOLUTE")
    assert_hint(capsys, check_12_4, lambda r, b: (absmax(r, b)[0], 1 / absmax(r, b)[1]), "inverse")
    assert_hint(capsys, check_12_4, lambda r, b: (torch.trunc(r / absmax(r, b)[1]), absmax(r, b)[1]), "rounding")
    assert_hint(capsys, check_12_4, lambda r, b: (absmax(r, b)[0] + 1, absmax(r, b)[1]), "round(row / scale)")
    assert_hint(capsys, check_12_4, lambda r, b: absmax(r, b)[0], "two things")
    assert_hint(capsys, check_12_4, stub, "not written yet")


def test_12_5(capsys):
    assert_right(capsys, check_12_5, rms_norm)

    def package(x, weight, eps):
        norm = RMSNorm(x.shape[-1], eps=eps).double()
        with torch.no_grad():
            norm.weight.copy_(weight)
            return norm(x)

    assert_right(capsys, check_12_5, package)
    layer_norm = lambda x, w, e: torch.nn.functional.layer_norm(x, x.shape[-1:], w, None, e)  # noqa: E731
    assert_hint(capsys, check_12_5, layer_norm, "LayerNorm")
    assert_hint(capsys, check_12_5, lambda x, w, e: x / (x.pow(2).mean(-1, keepdim=True).sqrt() + e) * w, "inside")
    assert_hint(capsys, check_12_5, lambda x, w, e: rms_norm(x, torch.ones_like(w), e), "weight")
    assert_hint(capsys, check_12_5, lambda x, w, e: x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + e) * w, "MEAN")
    assert_hint(capsys, check_12_5, lambda x, w, e: x / torch.sqrt(x.pow(2).mean() + e) * w, "each vector")
    assert_hint(capsys, check_12_5, lambda x, w, e: rms_norm(x, w, e)[..., :3], "shaped like x")
    assert_hint(capsys, check_12_5, stub, "not written yet")
