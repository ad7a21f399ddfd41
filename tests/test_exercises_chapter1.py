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

from llm_book.exercises import (_checking, check_1_1, check_1_2, check_1_3, check_1_4, check_1_5, check_1_6,
                                set_time_limit)
from checker_helpers import KINDS, WRONG_ANSWERS, assert_hint, assert_right, global_state, retyped, stub, verdict
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def right_days(n, d, g, f, u):
    return 6 * n * d / (g * f * u) / 86400


def test_1_1(capsys):
    assert verdict(capsys, check_1_1, right_days)[0]
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: right_days(n, d, g, f, u) / 3)
    assert not ok and "forward pass only" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: n * d / (g * f * u) / 86400)
    assert not ok and "one FLOP per parameter" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: 6 * n * d / (g * f) / 86400)
    assert not ok and "divide by it too" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: 6 * n * d * u / (g * f) / 86400)
    assert not ok and "you multiplied" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: 6 * n * d / (g * f * u))
    assert not ok and "in seconds" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: 6 * n * d / (g * f * u) / 3600)
    assert not ok and "in hours" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: 6 * n * d / (f * u) / 86400)
    assert not ok and "share the work" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: right_days(n, d, g, f, u) * 1000)
    assert not ok and "powers of ten" in line
    ok, line = verdict(capsys, check_1_1, lambda n, d, g, f, u: 6 * n + d)
    assert not ok and "expected about" in line
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


def right_first_weights(a, b, n):
    return a / (a + b), a / (a + b + n - 2)


def test_1_4(capsys):
    assert verdict(capsys, check_1_4, right_first_weights)[0]
    ok, line = verdict(capsys, check_1_4, lambda a, b, n: right_first_weights(a, b, n)[::-1])
    assert not ok and "swapped" in line
    ok, line = verdict(capsys, check_1_4, lambda a, b, n: (a / (a + b + n - 2), a / (a + b + n - 2)))
    assert not ok and "softmax over the two chosen logits only" in line
    ok, line = verdict(capsys, check_1_4, lambda a, b, n: (a / (a + b), a / (a + b)))
    assert not ok and "Switch keeps the probability" in line
    ok, line = verdict(capsys, check_1_4, lambda a, b, n: (a / (a + b), 1.0))
    assert not ok and "does not give its one expert the weight 1" in line
    ok, line = verdict(capsys, check_1_4, lambda a, b, n: (a / (a + b), a / (a + b + n)))
    assert not ok and "e^0 = 1" in line
    ok, line = verdict(capsys, check_1_4, lambda a, b, n: (0.5, 0.25))
    assert not ok and "weight is off" in line
    ok, line = verdict(capsys, check_1_4, lambda a, b, n: a / (a + b))
    assert not ok and "two numbers" in line


def right_route(tokens, router_weight, k):
    logits = tokens @ router_weight
    top = logits.topk(k, dim=-1)
    return torch.zeros_like(logits).scatter(-1, top.indices, torch.softmax(top.values, dim=-1))


def test_1_5(capsys):
    from llm_book.exercises.chapter1 import _buggy_route

    assert verdict(capsys, check_1_5, right_route)[0]
    ok, line = verdict(capsys, check_1_5, _buggy_route)
    assert not ok and "buggy router unchanged" in line

    def not_renormalised(tokens, w, k):
        scores = torch.softmax(tokens @ w, dim=-1)
        top = scores.topk(k, dim=-1)
        return torch.zeros_like(scores).scatter(-1, top.indices, top.values)

    ok, line = verdict(capsys, check_1_5, not_renormalised)
    assert not ok and "softmax of the k chosen logits only" in line

    def over_tokens(tokens, w, k):
        scores = torch.softmax(tokens @ w, dim=0)
        top = scores.topk(k, dim=-1)
        return torch.zeros_like(scores).scatter(-1, top.indices, torch.softmax((tokens @ w).gather(-1, top.indices), -1))

    ok, line = verdict(capsys, check_1_5, over_tokens)
    assert not ok and "over the tokens (dim=0)" in line

    def smallest(tokens, w, k):
        return right_route(-tokens, w, k)

    ok, line = verdict(capsys, check_1_5, smallest)
    assert not ok and "largest logits" in line
    ok, line = verdict(capsys, check_1_5, lambda tokens, w, k: right_route(tokens, w, 1))
    assert not ok and "exactly k" in line
    ok, line = verdict(capsys, check_1_5, lambda tokens, w, k: right_route(tokens, w, k).T)
    assert not ok and "shape" in line
    ok, line = verdict(capsys, check_1_5, lambda tokens, w, k: (right_route(tokens, w, k) > 0).float() / k)
    assert not ok and "summing to 1, but not the softmax" in line
    ok, line = verdict(capsys, check_1_5, lambda tokens, w, k: right_route(tokens, w, k) * 2)
    assert not ok and "they sum to 1" in line


def right_mixtral(v, d, n_layers, hidden, kv, n_experts, top_k):
    attention = 2 * d * d + 2 * d * kv
    expert = 3 * d * hidden
    return 2 * v * d + n_layers * (attention + n_experts * expert), 2 * v * d + n_layers * (attention + top_k * expert)


def test_1_6(capsys):
    ok, line = verdict(capsys, check_1_6, right_mixtral)
    assert ok and "46.7B" in line
    from llm_book.exercises.chapter1 import _mixtral_counts

    assert verdict(capsys, check_1_6, _mixtral_counts)[0]  # with the router and the norms: right too
    total, active = _mixtral_counts(32000, 4096, 32, 14336, 1024, 8, 2)
    assert (round(total / 1e9, 1), round(active / 1e9, 1)) == (46.7, 12.9)  # the table's numbers
    ok, line = verdict(capsys, check_1_6, lambda *c: right_mixtral(*c)[::-1])
    assert not ok and "swapped" in line
    for flag, phrase in [("share", "not 56B"), ("gqa", "grouped-query"), ("swiglu", "three dim x hidden_dim"),
                         ("untied", "matrix of its own")]:
        ok, line = verdict(capsys, check_1_6, lambda *c, flag=flag: _mixtral_counts(*c, **{flag: False}))
        assert not ok and phrase in line, (flag, line)
    ok, line = verdict(capsys, check_1_6, lambda *c: (right_mixtral(*c)[0], right_mixtral(*c)[0]))
    assert not ok and "only top_k" in line
    ok, line = verdict(capsys, check_1_6, lambda *c: (right_mixtral(*c)[0], 1e9))
    assert not ok and "the total is right" in line
    ok, line = verdict(capsys, check_1_6, lambda *c: (1e9, 1e9))
    assert not ok and "expected a total near 46.7B" in line
    ok, line = verdict(capsys, check_1_6, stub)
    assert not ok and "not written yet" in line


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
CHECKERS = [check_1_1, check_1_2, check_1_3, check_1_4, check_1_5, check_1_6]


def compute_optimal(c):
    n = math.sqrt(c / 120)
    return n, 20 * n


RIGHT_ANSWERS = {check_1_1: right_days, check_1_2: right_count, check_1_3: compute_optimal,
                 check_1_4: right_first_weights, check_1_5: right_route,
                 check_1_6: lambda *c: tuple(float(x) for x in right_mixtral(*c))}  # no int32 holds 46.7B


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_right_answer_in_every_type(checker, kind, capsys):
    assert_right(capsys, checker, retyped(RIGHT_ANSWERS[checker], kind))


@pytest.mark.parametrize("kind", ["numpy64", "numpy32", "torch64", "torch32"])
def test_a_count_returned_as_a_float_is_right(kind, capsys):
    assert_right(capsys, check_1_2, retyped(lambda *a: float(right_count(*a)), kind))


@pytest.mark.parametrize("name", WRONG_ANSWERS)
@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.usefixtures("short_time_limit")
def test_wrong_answer_catalogue(checker, name, capsys):
    assert_hint(capsys, checker, WRONG_ANSWERS[name])


@pytest.mark.parametrize("checker", [check_1_1, check_1_2])
def test_inf_gets_a_hint_not_an_overflow_error(checker, capsys):
    assert_hint(capsys, checker, lambda *a: float("inf"), "got inf")


def test_a_vector_where_a_number_is_expected(capsys):
    assert_hint(capsys, check_1_1, lambda *a: torch.full((4,), right_days(*a)), "shape (4,)")


# ----------------------------------------------------------------------------
# The machinery every checker shares (llm_book.exercises._checking), seen through chapter 1's checkers
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [WRONG_ANSWERS["never returns"], WRONG_ANSWERS["sleeps"],
                                    WRONG_ANSWERS["never returns, catching Exception"]])
@pytest.mark.usefixtures("short_time_limit")
def test_a_function_that_never_returns_is_stopped(answer, capsys):
    start = time.monotonic()
    assert_hint(capsys, check_1_1, answer, f"did not return within {_checking.TIME_LIMIT_S:g} s",
                "set_time_limit")
    assert time.monotonic() - start < 5


@pytest.mark.usefixtures("short_time_limit")
def test_a_stopped_function_leaves_grad_mode_as_it_was(capsys):
    assert_hint(capsys, check_1_1, WRONG_ANSWERS["never returns, inside no_grad"], "did not return")
    assert torch.is_grad_enabled()


@pytest.mark.usefixtures("short_time_limit")
def test_without_sigalrm_a_watchdog_thread_stops_the_loop(capsys, monkeypatch):
    monkeypatch.setattr(_checking, "_alarm_usable", lambda: False)  # as on Windows
    assert_hint(capsys, check_1_1, WRONG_ANSWERS["never returns"], "did not return")


@pytest.mark.usefixtures("short_time_limit")
def test_outside_the_main_thread_the_loop_is_stopped_too():
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
        assert_right(capsys, check_1_1, lambda *a: (time.sleep(0.05), right_days(*a))[1])
    finally:
        set_time_limit(previous)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM on this platform")
@pytest.mark.usefixtures("short_time_limit")
def test_an_outer_alarm_and_its_handler_are_put_back(capsys):
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
            lines.add(assert_hint(capsys, check_1_1, lambda n, d, *rest: float(torch.rand(())) * n * d))
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


def test_the_answer_can_be_passed_by_the_name_of_the_argument(capsys):
    assert verdict(capsys, lambda answer: check_1_1(training_days=answer), right_days)[0]


def test_a_cuda_generator_in_use_is_put_back_too(capsys, monkeypatch):
    """On a GPU machine the checker also saves and restores the CUDA generators (simulated here)."""
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["the reader's CUDA state"])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    assert_hint(capsys, check_1_1, lambda *a: None)
    assert restored == [["the reader's CUDA state"]]
