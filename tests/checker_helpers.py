"""Shared helpers for the exercise-checker tests (tests/test_exercises_chapter*.py).

* ``stub``, ``verdict``, ``expect``: run a checker on one answer and read the one line it printed;
  ``verdict`` also asserts that the call left the global random generators and torch's settings as
  they were.
* ``global_state_kept``: an autouse fixture (import it into a test module) asserting the same for a
  whole test.
* ``WRONG_ANSWERS``: the catalogue of typical wrong answers, each of which every checker must answer
  with a one-line hint (``assert_hint``), never a traceback or a ✅.
* ``retyped``: a right answer that returns its numbers as Python, numpy or torch values of several
  float widths (``KINDS``), which every checker must accept.
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np
import pytest
import torch

from llm_book.exercises import _checking

RIGHT, NOT_YET = _checking.RIGHT, _checking.NOT_YET


def stub(*args):
    """What the student edition leaves in place of a solution."""
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Global state
# ---------------------------------------------------------------------------
def global_state() -> dict:
    """Everything a checker must leave as it found it."""
    np_state = np.random.get_state()
    return {"torch RNG": bytes(torch.random.get_rng_state().numpy()),
            "numpy RNG": (np_state[0], np_state[1].tobytes(), *np_state[2:]),
            "python RNG": random.getstate(),
            "threads": torch.get_num_threads(),
            "grad mode": torch.is_grad_enabled(),
            "default dtype": torch.get_default_dtype(),
            "numpy errors": np.geterr()}


def assert_same_state(before: dict, after: dict) -> None:
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"the checker changed global state: {changed}"


@pytest.fixture(autouse=True)
def global_state_kept():
    """The whole test leaves global state as it found it (checkers restore what the answers change)."""
    before = global_state()
    yield
    assert_same_state(before, global_state())


@pytest.fixture
def short_time_limit():
    """Answers that never return are stopped after 0.2 s instead of 60 s."""
    previous = _checking.set_time_limit(0.2)
    yield 0.2
    _checking.set_time_limit(previous)


# ---------------------------------------------------------------------------
# Running a checker
# ---------------------------------------------------------------------------
def verdict(capsys, checker, answer):
    """Run a checker; check the state it left and that it printed one line, its Verdict; return (ok, line)."""
    capsys.readouterr()
    before = global_state()
    result = checker(answer)
    assert_same_state(before, global_state())
    captured = capsys.readouterr()
    line = captured.out.strip()
    assert "\n" not in line, "a checker prints one line"
    assert "Traceback" not in captured.out + captured.err
    assert repr(result) == line
    assert line.startswith(RIGHT if result else NOT_YET), line
    return bool(result), line


def expect(verdict, capsys, ok: bool, *phrases: str) -> None:
    """Assert a checker's verdict, that it printed exactly one line, and that the line has ``phrases``."""
    out = capsys.readouterr().out
    assert bool(verdict) is ok, out
    assert out.count("\n") == 1, "a checker prints exactly one line"
    for phrase in phrases:
        assert phrase in out, out


def assert_hint(capsys, checker, answer, *phrases: str) -> str:
    """The checker answers with one ❌ line (a hint foreseen by the checker, not its safety net)."""
    ok, line = verdict(capsys, checker, answer)
    assert not ok, line
    assert "✅" not in line
    assert "could not check the answer" not in line, line
    for phrase in phrases:
        assert phrase in line, line
    return line


def assert_right(capsys, checker, answer) -> str:
    ok, line = verdict(capsys, checker, answer)
    assert ok, line
    return line


# ---------------------------------------------------------------------------
# The catalogue of typical wrong answers (each a function of any arguments)
# ---------------------------------------------------------------------------
def _raises(error):
    def answer(*args):
        raise error
    return answer


def _forever(*args):
    while True:
        pass


def _forever_swallowing(*args):
    while True:
        try:
            time.sleep(0.01)
        except Exception:  # the reader's own catch-all must not swallow the time limit
            pass


def _forever_in_no_grad(*args):
    with torch.no_grad():
        while True:
            pass


def _recurses(*args):
    return _recurses(*args)


def _changes_global_state(*args):
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    torch.set_num_threads(1 if torch.get_num_threads() > 1 else 2)
    torch.set_grad_enabled(False)
    torch.set_default_dtype(torch.float64)
    np.seterr(all="ignore")
    return None


def _mutates_inputs(*args):
    for arg in args:
        if isinstance(arg, torch.nn.Module):
            for p in arg.parameters():
                p.data.zero_()
        elif isinstance(arg, torch.Tensor) and arg.is_floating_point():
            arg.mul_(0)
        elif isinstance(arg, np.ndarray):
            arg *= 0
        elif isinstance(arg, (list, dict)):
            arg.clear()
    return None


WRONG_ANSWERS = {
    "returns None": lambda *a: None,
    "raises ValueError": _raises(ValueError("boom")),
    "raises a multi-line error": _raises(RuntimeError("first line\nsecond line\n" + "x" * 2000)),
    "raises KeyError": lambda *a: {}["missing"],
    "is the stub": stub,
    "calls sys.exit": lambda *a: sys.exit(1),
    "recurses without end": _recurses,
    "never returns": _forever,
    "never returns, catching Exception": _forever_swallowing,
    "never returns, inside no_grad": _forever_in_no_grad,
    "sleeps": lambda *a: time.sleep(3600),
    "returns a string": lambda *a: "answer",
    "returns nan": lambda *a: float("nan"),
    "returns inf": lambda *a: float("inf"),
    "returns -inf": lambda *a: float("-inf"),
    "returns numpy nan": lambda *a: np.float32("nan"),
    "returns a 0-d nan tensor": lambda *a: torch.tensor(float("nan")),
    "returns a bool": lambda *a: True,
    "returns a complex number": lambda *a: 1 + 2j,
    "returns a huge integer": lambda *a: 10 ** 400,
    "returns an empty list": lambda *a: [],
    "returns an empty dict": lambda *a: {},
    "returns an object": lambda *a: object(),
    "returns a generator": lambda *a: (i for i in range(3)),
    "returns a function": lambda *a: (lambda *b: None),
    "returns a numpy vector": lambda *a: np.arange(4),
    "returns a float32 matrix": lambda *a: torch.ones(2, 3),
    "returns a nan vector": lambda *a: torch.full((4,), float("nan")),
    "returns a bool tensor": lambda *a: torch.ones(3, dtype=torch.bool),
    "returns a numpy object array": lambda *a: np.array([None, "a", 1], dtype=object),
    "returns a tensor needing grad": lambda *a: torch.ones(5, requires_grad=True) * 2,
    "returns a pair of None": lambda *a: (None, None),
    "returns a pair of nan": lambda *a: (float("nan"), float("nan")),
    "returns three strings": lambda *a: ("a", "b", "c"),
    "mutates its inputs": _mutates_inputs,
    "changes global state": _changes_global_state,
}
"""Typical wrong answers: every checker answers each with a one-line hint (count: ``len(WRONG_ANSWERS)``)."""


# ---------------------------------------------------------------------------
# Right answers in several types
# ---------------------------------------------------------------------------
KINDS = ["python", "numpy64", "numpy32", "torch64", "torch32"]
"""How a right answer may return its numbers: Python, numpy or torch; 64- or 32-bit."""

_FLOAT = {"numpy64": np.float64, "numpy32": np.float32, "torch64": torch.float64, "torch32": torch.float32}
_INT = {"numpy64": np.int64, "numpy32": np.int32, "torch64": torch.int64, "torch32": torch.int32}


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool) or \
        (isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim == 0)


def convert(x, kind: str):
    """``x`` with its numbers as ``kind``: whole numbers stay whole (int32/int64), others float32/float64."""
    if callable(x) and not isinstance(x, torch.nn.Module):
        return lambda *args: convert(x(*args), kind)
    if isinstance(x, dict):
        return {k: convert(v, kind) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and all(_is_number(v) for v in x):
        return convert(np.array([v.item() if hasattr(v, "item") else v for v in x]), kind) \
            if kind != "python" else type(x)(convert(v, kind) for v in x)
    if isinstance(x, (list, tuple)):
        return type(x)(convert(v, kind) for v in x)
    if isinstance(x, (torch.Tensor, np.ndarray, np.number, int, float)) and not isinstance(x, bool):
        array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        integer = np.issubdtype(array.dtype, np.integer)
        if kind == "python":
            return array.tolist()
        dtype = (_INT if integer else _FLOAT)[kind]
        if kind.startswith("numpy"):
            return array.astype(dtype) if array.ndim else dtype(array)
        return torch.as_tensor(array).to(dtype)
    return x


def retyped(answer, kind: str):
    """The answer function, returning its numbers as ``kind``."""
    return lambda *args: convert(answer(*args), kind)


def catalogue_tests(checkers: list, right_answers: dict):
    """The two tests every chapter runs on all its checkers, for ``checkers`` and their right answers:

    * ``test_right_answer_in_every_type``: each right answer, retyped as Python, numpy and torch
      numbers of both widths, is ✅;
    * ``test_wrong_answer_catalogue``: every entry of ``WRONG_ANSWERS`` gets a one-line ❌ hint.

    Use as ``test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(...)``
    at a test module's top level, where pytest collects them.
    """
    ids = [checker.__name__ for checker in checkers]

    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("checker", checkers, ids=ids)
    def test_right_answer_in_every_type(checker, kind, capsys):
        assert_right(capsys, checker, retyped(right_answers[checker], kind))

    @pytest.mark.parametrize("name", WRONG_ANSWERS)
    @pytest.mark.parametrize("checker", checkers, ids=ids)
    @pytest.mark.usefixtures("short_time_limit")
    def test_wrong_answer_catalogue(checker, name, capsys):
        assert_hint(capsys, checker, WRONG_ANSWERS[name])

    return test_right_answer_in_every_type, test_wrong_answer_catalogue
