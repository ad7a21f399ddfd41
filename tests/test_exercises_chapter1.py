"""Chapter 1's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math

from llm_book.exercises import check_1_1, check_1_2, check_1_3
from checker_helpers import stub, verdict


def test_1_1(capsys):
    assert verdict(capsys, check_1_1, lambda n, d: 6 * n * d)[0]
    ok, line = verdict(capsys, check_1_1, lambda n, d: 2 * n * d)
    assert not ok and "forward pass only" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d: n * d)
    assert not ok and "one FLOP per parameter" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d: 6 * n * d * 1000)
    assert not ok and "powers of ten" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d: 6 * n + d)
    assert not ok and "in proportion to both" in line
    ok, line = verdict(capsys, check_1_1, stub)
    assert not ok and "not written yet" in line


def right_count(v, t, n_layer, c):
    return v * c + t * c + n_layer * (12 * c * c + 13 * c) + 2 * c


def test_1_2(capsys):
    assert verdict(capsys, check_1_2, right_count)[0]
    ok, line = verdict(capsys, check_1_2, lambda v, t, n, c: right_count(v, t, n, c) + v * c)
    assert not ok and "count that matrix once" in line
    ok, line = verdict(capsys, check_1_2, lambda v, t, n, c: right_count(v, t, n, c) - t * c)
    assert not ok and "position embeddings" in line
    ok, line = verdict(capsys, check_1_2, lambda v, t, n, c: right_count(v, t, n, c) - 2 * c)
    assert not ok and "final LayerNorm" in line
    ok, line = verdict(capsys, check_1_2, lambda v, t, n, c: v * c + t * c + n * 12 * c * c)
    assert not ok and "biases and LayerNorm" in line
    ok, line = verdict(capsys, check_1_2, lambda v, t, n, c: v * c + t * c + n * (4 * c * c + 13 * c) + 2 * c)
    assert not ok and "4 * n_embd" in line
    ok, line = verdict(capsys, check_1_2, lambda v, t, n, c: 7)
    assert not ok and "off by" in line
    ok, line = verdict(capsys, check_1_2, stub)
    assert not ok and "not written yet" in line


def test_1_3(capsys):
    def right(c):
        n = math.sqrt(c / 120)
        return n, 20 * n

    assert verdict(capsys, check_1_3, right)[0]
    ok, line = verdict(capsys, check_1_3, lambda c: right(c)[::-1])
    assert not ok and "swapped" in line
    ok, line = verdict(capsys, check_1_3, lambda c: (math.sqrt(c / 20), 20 * math.sqrt(c / 20)))
    assert not ok and "the 6 of C = 6 N D" in line
    ok, line = verdict(capsys, check_1_3, lambda c: (math.sqrt(c / 6), math.sqrt(c / 6)))
    assert not ok and "20 times the parameters" in line
    ok, line = verdict(capsys, check_1_3, lambda c: right(c)[0])
    assert not ok and "return two numbers" in line
    ok, line = verdict(capsys, check_1_3, stub)
    assert not ok and "not written yet" in line
