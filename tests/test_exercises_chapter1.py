"""Chapter 1's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

import contextlib
import io
import math
import signal
import threading
import time

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from llm_book.exercises import _checking, check_1_1, check_1_2, check_1_3, set_time_limit
from checker_helpers import (KINDS, WRONG_ANSWERS, assert_hint, assert_right, global_state,
                             global_state_kept, retyped, short_time_limit, stub, verdict)  # noqa: F401


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


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
CHECKERS = [check_1_1, check_1_2, check_1_3]


def compute_optimal(c):
    n = math.sqrt(c / 120)
    return n, 20 * n


RIGHT_ANSWERS = {check_1_1: lambda n, d: 6 * n * d, check_1_2: right_count, check_1_3: compute_optimal}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_right_answer_in_every_type(checker, kind, capsys):
    assert_right(capsys, checker, retyped(RIGHT_ANSWERS[checker], kind))


@pytest.mark.parametrize("kind", ["numpy64", "numpy32", "torch64", "torch32"])
def test_a_count_returned_as_a_float_is_right(kind, capsys):
    assert_right(capsys, check_1_2, retyped(lambda *a: float(right_count(*a)), kind))


@pytest.mark.parametrize("name", WRONG_ANSWERS)
@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_wrong_answer_catalogue(checker, name, capsys, short_time_limit):
    assert_hint(capsys, checker, WRONG_ANSWERS[name])


@pytest.mark.parametrize("checker", [check_1_1, check_1_2])
def test_inf_gets_a_hint_not_an_overflow_error(checker, capsys):
    assert_hint(capsys, checker, lambda *a: float("inf"), "got inf")


def test_a_vector_where_a_number_is_expected(capsys):
    assert_hint(capsys, check_1_1, lambda n, d: torch.full((4,), 6 * n * d), "shape (4,)")


# ----------------------------------------------------------------------------
# The machinery every checker shares (llm_book.exercises._checking), seen through chapter 1's checkers
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [WRONG_ANSWERS["never returns"], WRONG_ANSWERS["sleeps"],
                                    WRONG_ANSWERS["never returns, catching Exception"]])
def test_a_function_that_never_returns_is_stopped(answer, capsys, short_time_limit):
    start = time.monotonic()
    assert_hint(capsys, check_1_1, answer, f"did not return within {short_time_limit:g} s",
                "set_time_limit")
    assert time.monotonic() - start < 5


def test_a_stopped_function_leaves_grad_mode_as_it_was(capsys, short_time_limit):
    assert_hint(capsys, check_1_1, WRONG_ANSWERS["never returns, inside no_grad"], "did not return")
    assert torch.is_grad_enabled()


def test_without_sigalrm_a_watchdog_thread_stops_the_loop(capsys, short_time_limit, monkeypatch):
    monkeypatch.setattr(_checking, "_alarm_usable", lambda: False)  # as on Windows
    assert_hint(capsys, check_1_1, WRONG_ANSWERS["never returns"], "did not return")


def test_outside_the_main_thread_the_loop_is_stopped_too(short_time_limit):
    results = []

    def run():
        with contextlib.redirect_stdout(io.StringIO()):
            results.append(check_1_1(WRONG_ANSWERS["never returns"]))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert not results[0] and "did not return" in results[0].message


def test_a_right_answer_within_the_limit_passes(capsys):
    previous = set_time_limit(2)
    try:
        assert_right(capsys, check_1_1, lambda n, d: (time.sleep(0.05), 6 * n * d)[1])
    finally:
        set_time_limit(previous)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM on this platform")
def test_an_outer_alarm_and_its_handler_are_put_back(capsys, short_time_limit):
    fired = []
    handler = signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        assert_hint(capsys, check_1_1, WRONG_ANSWERS["never returns"], "did not return")
        assert signal.getsignal(signal.SIGALRM) is not handler and signal.getsignal(signal.SIGALRM)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < left <= 100
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), "60", True])
def test_set_time_limit_refuses_what_is_not_a_positive_number(seconds):
    with pytest.raises(ValueError, match=r"`seconds` \(=.*\) has to be a positive finite number"):
        set_time_limit(seconds)


def test_set_time_limit_returns_the_previous_limit():
    previous = set_time_limit(None)
    try:
        assert set_time_limit(5) is None
        assert set_time_limit(previous) == 5
    finally:
        set_time_limit(previous)


def test_an_answer_that_changes_global_state_leaves_none_of_it(capsys):
    before = global_state()
    assert_hint(capsys, check_1_1, WRONG_ANSWERS["changes global state"])  # verdict() checks the state too
    assert global_state() == before


def test_the_verdict_does_not_depend_on_the_readers_random_state(capsys):
    lines = set()
    with torch.random.fork_rng(devices=[]):
        for seed in (1, 2):
            torch.manual_seed(seed)
            lines.add(assert_hint(capsys, check_1_1, lambda n, d: float(torch.rand(())) * n * d))
    assert len(lines) == 1


def test_a_failure_inside_the_checker_itself_is_a_hint_not_a_traceback(capsys, monkeypatch):
    import llm_book.exercises.chapter1 as chapter1

    def broken(*args):
        raise RuntimeError("a bug in the checker")

    monkeypatch.setattr(chapter1, "_gpt_count", broken)
    ok, line = verdict(capsys, check_1_2, right_count)
    assert not ok and "could not check the answer (RuntimeError: a bug in the checker)" in line


def test_a_multi_line_error_becomes_one_short_line(capsys):
    line = assert_hint(capsys, check_1_1, WRONG_ANSWERS["raises a multi-line error"],
                       "your function raised RuntimeError: first line second line")
    assert len(line) < 400


# Any value at all, returned by an answer, gets a one-line hint from every checker of the book.
_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
           | st.complex_numbers(max_magnitude=10)
           | hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.bool_]),
                        hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
           | st.builds(torch.as_tensor, hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64]),
                                                   hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))))
_VALUES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                       | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=_VALUES)
def test_any_returned_value_gets_a_one_line_hint_from_every_checker(value, capsys):
    import llm_book.exercises as exercises

    for name in exercises.__all__:
        if name.startswith("check_"):
            assert_hint(capsys, getattr(exercises, name), lambda *args: value)
