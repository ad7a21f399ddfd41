"""Chapter 10's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import math

from llm_book.exercises.chapter10 import check_10_1, check_10_2, check_10_3, check_10_4, check_10_5
from checker_helpers import assert_hint, assert_right, catalogue_tests, stub
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def optimal(n, k, v):
    p = 1 - (1 - 1 / k) ** n
    return p + (1 - p) / v


def examples_needed(target, k, v):
    p_needed = (target - 1 / v) / (1 - 1 / v)
    return max(0, math.ceil(math.log(1 - p_needed) / math.log(1 - 1 / k)))


def test_10_1(capsys):
    assert_right(capsys, check_10_1, examples_needed)

    def loop(target, k, v):                       # another right answer: count up
        n = 0
        while optimal(n, k, v) < target:
            n += 1
        return n

    assert_right(capsys, check_10_1, loop)
    exact = lambda t, k, v: math.log(1 - (t - 1 / v) / (1 - 1 / v)) / math.log(1 - 1 / k)  # noqa: E731
    assert_hint(capsys, check_10_1, lambda t, k, v: max(0, math.floor(exact(t, k, v))), "rounded down")
    assert_hint(capsys, check_10_1, lambda t, k, v: math.ceil(exact(t, k, v)), "never negative")
    assert_hint(capsys, check_10_1, lambda t, k, v: math.ceil(math.log(1 - t) / math.log(1 - 1 / k)),
                "forgetting the guesses")
    assert_hint(capsys, check_10_1, lambda t, k, v: loop(t, v, k), "swapped")
    assert_hint(capsys, check_10_1, lambda t, k, v: 3, "expected")
    assert_hint(capsys, check_10_1, stub, "not written yet")


def single_head_ablation(n, k, v):
    only_there = (1 / k) * (1 - 1 / k) ** (n - 1)
    return 1 - (1 - 1 / v) * only_there / (1 - (1 - 1 / k) ** n)


def test_10_2(capsys):
    assert_right(capsys, check_10_2, single_head_ablation)
    assert math.isclose(single_head_ablation(4, 8, 8), 0.823, abs_tol=5e-4)
    shown = lambda n, k: 1 - (1 - 1 / k) ** n  # noqa: E731
    only = lambda n, k: (1 / k) * (1 - 1 / k) ** (n - 1)  # noqa: E731
    assert_hint(capsys, check_10_2, lambda n, k, v: 1 - only(n, k) / shown(n, k), "still a guess")
    assert_hint(capsys, check_10_2, lambda n, k, v: 1 - (1 - 1 / v) * only(n, k), "divide by the chance")
    assert_hint(capsys, check_10_2, lambda n, k, v: 1 - (1 - 1 / v) / k / shown(n, k), "in NO other")
    assert_hint(capsys, check_10_2, lambda n, k, v: 1 - (1 - 1 / v) / n if n > 1 else single_head_ablation(n, k, v),
                "several pairs")
    assert_hint(capsys, check_10_2, lambda n, k, v: 0.5, "expected")
    assert_hint(capsys, check_10_2, stub, "not written yet")


def window_accuracy(m, n, k, v):
    return optimal(min(m, n), k, v)


def test_10_3(capsys):
    assert_right(capsys, check_10_3, window_accuracy)
    assert_hint(capsys, check_10_3, lambda m, n, k, v: optimal(n, k, v), "hides the older pairs")
    assert_hint(capsys, check_10_3, lambda m, n, k, v: optimal(m, k, v), "min(m, n)")
    assert_hint(capsys, check_10_3, lambda m, n, k, v: 1 - (1 - 1 / k) ** min(m, n), "1 time in V")
    assert_hint(capsys, check_10_3, lambda m, n, k, v: optimal(min(m, n) - 1, k, v), "off by one")
    assert_hint(capsys, check_10_3, stub, "not written yet")


def silence_head(merged, head, n_head):
    width = merged.shape[-1] // n_head
    out = merged.clone()
    out[..., head * width:(head + 1) * width] = 0
    return out


def test_10_4(capsys):
    assert_right(capsys, check_10_4, silence_head)

    def buggy(merged, head, n_head):              # the notebook's buggy version
        merged[..., head] = 0
        return merged

    def one_channel(merged, head, n_head):
        out = merged.clone()
        out[..., head] = 0
        return out

    def in_place(merged, head, n_head):
        width = merged.shape[-1] // n_head
        merged[..., head * width:(head + 1) * width] = 0
        return merged

    def interleaved(merged, head, n_head):
        out = merged.clone()
        out[..., head::n_head] = 0
        return out

    def from_head(merged, head, n_head):
        out = merged.clone()
        out[..., head:head + merged.shape[-1] // n_head] = 0
        return out

    def time_axis(merged, head, n_head):
        out = merged.clone()
        out[:, head] = 0
        return out

    def reversed_(merged, head, n_head):
        return merged - silence_head(merged, head, n_head)

    assert_hint(capsys, check_10_4, buggy, "in place")
    assert_hint(capsys, check_10_4, in_place, "in place")
    assert_hint(capsys, check_10_4, one_channel, "ONE channel")
    assert_hint(capsys, check_10_4, interleaved, "not interleaved")
    assert_hint(capsys, check_10_4, from_head, "starts at channel h")
    assert_hint(capsys, check_10_4, time_axis, "POSITION")
    assert_hint(capsys, check_10_4, reversed_, "reversed")
    assert_hint(capsys, check_10_4, lambda m, h, n: m.sum(-1), "shaped like merged")
    assert_hint(capsys, check_10_4, stub, "not written yet")


def optimal_training_loss(n_pairs, k, v):
    return sum((1 - 1 / k) ** j for j in range(n_pairs)) / n_pairs * math.log(v)


def test_10_5(capsys):
    assert_right(capsys, check_10_5, optimal_training_loss)
    assert math.isclose(optimal_training_loss(8, 8, 8), 1.365, abs_tol=5e-4)
    f = optimal_training_loss
    assert_hint(capsys, check_10_5, lambda n, k, v: f(n, k, v) / math.log(2), "bits")
    assert_hint(capsys, check_10_5, lambda n, k, v: sum((1 - 1 / k) ** j for j in range(1, n + 1)) / n * math.log(v),
                "off by one")
    assert_hint(capsys, check_10_5, lambda n, k, v: (f(n, k, v) + math.log(k)) / 2, "keys are not scored")
    assert_hint(capsys, check_10_5, lambda n, k, v: math.log(v), "never shown")
    assert_hint(capsys, check_10_5, lambda n, k, v: 1 - sum(optimal(j, k, v) for j in range(n)) / n, "error rate")
    assert_hint(capsys, check_10_5, lambda n, k, v: f(n, k, v) * n, "MEAN")
    assert_hint(capsys, check_10_5, stub, "not written yet")


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(
    [check_10_1, check_10_2, check_10_3, check_10_4, check_10_5],
    {check_10_1: examples_needed, check_10_2: single_head_ablation, check_10_3: window_accuracy,
     check_10_4: silence_head, check_10_5: optimal_training_loss})
