"""What every exercise checker shares: the verdict, safe calls of the reader's code, numbers by value.

A checker is a function decorated with :func:`checker`.  Its body computes the
reference answer first, calls the reader's code only through :func:`_call`,
reads what came back only through :func:`_number`, :func:`_tensor`,
:func:`_int_list` or :func:`_items`, and returns :func:`_verdict`.  The
decorator does the rest, once for every checker:

* the reader's code runs with the global random generators seeded (so a
  verdict does not depend on which cells ran before) and on one CPU thread
  (the exercises are tiny: one thread is fastest), and the checker leaves
  global state as it found it: torch's, numpy's and Python's random
  generators, torch's thread count, grad mode and default dtype;
* any exception the checker meets becomes a one-line hint, never a
  traceback;
* the verdict reaches the reader in one place, :func:`_report`, which prints
  exactly one line and returns the :class:`Verdict`.

Every checker also takes two keyword-only arguments, for graders (nbgrader's
autograded cells):

* ``strict=True``: a wrong answer raises ``AssertionError`` whose message is
  the hint line (nothing is printed); a right answer prints its line and
  returns the Verdict as usual;
* ``hidden=True``: the checker uses inputs the reader never saw: every random
  input is drawn from another seed (bodies seed their generators only through
  :func:`_generator`, :func:`_rng` or :func:`_seed`; the global generators the
  reader's code runs with are seeded with ``_seed(SEED)``), and a checker whose
  cases are fixed adds cases of its own (through :func:`_hidden_cases`).  An
  answer hard-coded to the public cases then fails.

In strict mode the checker also keeps stderr clean, since nbgrader gives no points to a graded
cell that wrote anything to stderr: warnings raised while the checker runs (a right answer may
warn, e.g. ``torch.tensor(t)`` on a tensor) are recorded instead of shown and printed to stdout
after the verdict (``warning (not counted against you): UserWarning: ...``), and whatever the
reader's code writes to ``sys.stderr`` goes to stdout.

There is deliberately no global switch (environment variable or context
manager) for these: the graded cells pass them explicitly, where a teacher
reads them, and nothing left over in a reader's session can turn the book's
friendly one-line verdicts into exceptions.

:func:`_call` stops a reader's function that runs longer than
``TIME_LIMIT_S`` seconds (see :func:`set_time_limit`): with ``SIGALRM`` in
the main thread where the platform has it, otherwise by raising an exception
in the calling thread from a watchdog thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import inspect
import math
import numbers
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

RIGHT = "✅ Right!"
NOT_YET = "❌ Not yet:"

TIME_LIMIT_S: float | None = 60.0
"""Seconds a reader's function may run before the checker stops it (None: no limit).

Generous for a slow Colab CPU; change it with :func:`set_time_limit`."""

SEED = 0
"""The seed of torch's, numpy's and Python's global generators while a checker runs."""

_MAX_HINT = 300  # characters of a reader's error message quoted in a hint

HIDDEN_SEED_OFFSET = 100_003
"""Added to every seed a checker draws its random inputs from when it runs with ``hidden=True``.

Hidden inputs guard against answers hard-coded to the cases a reader saw; the package is
open, so they are no secret from a reader who studies the checkers' source."""

_HIDDEN = contextvars.ContextVar("llm_book_exercises_hidden", default=False)


class Verdict:
    """A checker's answer: true when right; ``message`` is the line it printed."""

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = bool(ok)
        self.message = _one_line(message, limit=None)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """Already printed: show nothing more when it is a cell's last value."""


def set_time_limit(seconds: float | None) -> float | None:
    """Set how long a reader's function may run inside a checker; returns the previous limit.

    Args:
        seconds: a positive number of seconds, or None for no limit.
    """
    global TIME_LIMIT_S
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) \
                or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"`seconds` (={seconds!r}) has to be a positive finite number of seconds, "
                             f"or None for no limit.")
        seconds = float(seconds)
    previous, TIME_LIMIT_S = TIME_LIMIT_S, seconds
    return previous


# ---------------------------------------------------------------------------
# The verdict path: bodies return _verdict(...); only _report prints.
# ---------------------------------------------------------------------------
def _one_line(text: str, limit: int | None = _MAX_HINT) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    if limit is not None and len(line) > limit:
        line = line[:limit - 3].rstrip() + "..."
    return line


def _verdict(ok: bool, message: str) -> Verdict:
    """The verdict a checker body returns; nothing is printed until :func:`_report`."""
    return Verdict(ok, f"{RIGHT if ok else NOT_YET} {message}")


def _report(verdict: Verdict) -> Verdict:
    """Show a verdict to the reader: the one place every checker's answer goes through."""
    print(verdict.message)
    return verdict


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` (={value!r}) has to be True or False.")
    return value


def checker(body: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """Make ``body(answer)`` a checker: global state kept, any exception a hint, one printed line.

    The verdict path is here and only here: the body returns a :class:`Verdict`, ``run`` reports it.
    The checker gains two keyword-only arguments: ``strict`` (a wrong answer raises
    ``AssertionError`` carrying the hint line) and ``hidden`` (inputs the reader never saw; see
    :func:`_seed` and :func:`_hidden_cases`).
    """

    @functools.wraps(body)
    def run(*args, strict: bool = False, hidden: bool = False, **kwargs) -> Verdict:
        strict, hidden = _check_flag("strict", strict), _check_flag("hidden", hidden)
        token = _HIDDEN.set(hidden)
        caught: list[warnings.WarningMessage] = []
        try:
            with _global_state_kept(_seed(SEED)), _quiet_stderr(strict, caught):
                try:
                    verdict = body(*args, **kwargs)
                    if not isinstance(verdict, Verdict):
                        raise TypeError(f"the checker returned {type(verdict).__name__}, not a Verdict")
                except Exception as err:  # a shape or type no check foresaw: a hint, never a traceback
                    verdict = _verdict(False, f"could not check the answer ({type(err).__name__}: "
                                              f"{_one_line(err, 120)}); check the type and shape of what "
                                              f"your function returns.")
        finally:
            _HIDDEN.reset(token)
        if strict and not verdict:
            _print_warnings(caught)
            raise AssertionError(verdict.message)
        verdict = _report(verdict)
        _print_warnings(caught)
        return verdict

    signature = inspect.signature(body)
    flags = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool)
             for name in ("strict", "hidden")]
    run.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *flags])
    return run


@contextmanager
def _quiet_stderr(strict: bool, caught: list) -> Iterator[None]:
    """In strict mode: record warnings into ``caught`` and send ``sys.stderr`` to stdout while the body
    runs (nbgrader zeroes a graded cell with any stderr output); otherwise do nothing."""
    if not strict:
        yield
        return
    with warnings.catch_warnings(record=True) as recorded, contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = set()
            for w in recorded:  # each distinct warning once
                key = (w.category, str(w.message))
                if key not in seen:
                    seen.add(key)
                    caught.append(w)


def _print_warnings(caught: list) -> None:
    for w in caught:
        print(f"warning (not counted against you): {w.category.__name__}: {_one_line(w.message, 200)}")


# ---------------------------------------------------------------------------
# Hidden inputs: the one place where a checker's seeds and extra cases are chosen
# ---------------------------------------------------------------------------
def _hidden() -> bool:
    """Whether the running checker was called with ``hidden=True``."""
    return _HIDDEN.get()


def _seed(seed: int) -> int:
    """The seed a checker uses where its source says ``seed``: ``seed`` itself for readers, another one
    (``seed + HIDDEN_SEED_OFFSET``) when the checker runs with ``hidden=True``."""
    return seed + HIDDEN_SEED_OFFSET if _hidden() else seed


def _generator(seed: int) -> torch.Generator:
    """``torch.Generator().manual_seed(seed)``, seeded through :func:`_seed` (another seed when hidden)."""
    return torch.Generator().manual_seed(_seed(seed))


def _rng(seed: int) -> np.random.Generator:
    """``np.random.default_rng(seed)``, seeded through :func:`_seed` (another seed when hidden)."""
    return np.random.default_rng(_seed(seed))


def _hidden_cases(public: list, hidden: list) -> list:
    """A checker's fixed cases: ``public`` for readers; ``public + hidden`` when run with ``hidden=True``."""
    return list(public) + list(hidden) if _hidden() else list(public)


# ---------------------------------------------------------------------------
# Global state
# ---------------------------------------------------------------------------
@contextmanager
def _global_state_kept(seed: int = SEED) -> Iterator[None]:
    """Seed the global generators and use one thread for what runs inside; afterwards restore it all."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    saved = (torch.random.get_rng_state(), torch.cuda.get_rng_state_all() if cuda else None,
             np.random.get_state(), random.getstate(), np.geterr(),
             torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype())
    torch.random.default_generator.manual_seed(seed)  # CPU only: a CUDA generator is left alone
    np.random.seed(seed)
    random.seed(seed)
    if saved[5] != 1:  # tiny computations: one thread is fastest, and the same on every machine
        torch.set_num_threads(1)
    try:
        yield
    finally:
        cpu_rng, cuda_rng, np_rng, py_rng, np_err, threads, grad, dtype = saved
        torch.random.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)
        np.seterr(**np_err)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)


# ---------------------------------------------------------------------------
# Calling the reader's code
# ---------------------------------------------------------------------------
class _Timeout(BaseException):
    """Raised inside a reader's function that ran out of time.

    A BaseException, so that the reader's own ``except Exception`` cannot swallow it.
    """


def _alarm_usable() -> bool:
    return (hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) is not None)  # None: a handler not set from Python


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`_Timeout` in the main thread after ``seconds``; an outer alarm is put back afterwards."""

    def on_alarm(signum, frame):
        raise _Timeout

    start = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    if 0 < old_delay < seconds:  # an outer alarm is due first: keep its time
        signal.setitimer(signal.ITIMER_REAL, old_delay)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:
            signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - start), 1e-3),
                             old_interval)


@contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Without SIGALRM: a watchdog thread raises :class:`_Timeout` in this thread after ``seconds``.

    CPython checks for such an exception between bytecodes, so a pure-Python loop
    stops; elsewhere (no ``ctypes.pythonapi``) there is no limit.
    """
    set_async_exc = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)
    if set_async_exc is None:
        yield
        return
    target = ctypes.c_ulong(threading.get_ident())
    lock, state = threading.Lock(), {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                set_async_exc(target, ctypes.py_object(_Timeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
            timer.cancel()
            if state["fired"]:  # fired just as the function returned: clear it if still pending
                set_async_exc(target, None)


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Stop what runs inside after ``seconds`` with :class:`_Timeout` (no limit when None)."""
    if seconds is None:
        yield
    elif _alarm_usable():
        with _alarm(seconds):
            yield
    else:
        with _watchdog(seconds):
            yield


def _call(fn: Callable, *args):
    """Run the reader's function under the time limit; return ``(result, None)`` or ``(None, hint)``."""
    if not callable(fn):
        got = "None" if fn is None else _describe(fn)
        return None, f"expected a function, got {got}; pass the function itself, not its result."
    limit = TIME_LIMIT_S
    try:
        with _time_limit(limit):
            return fn(*args), None
    except _Timeout:
        return None, (f"your function did not return within {limit:g} s; look for a loop that never ends "
                      f"(on a very slow machine: llm_book.exercises.set_time_limit(seconds)).")
    except NotImplementedError:
        return None, "the function is not written yet (it raises NotImplementedError); replace the stub with your code."
    except RecursionError:
        return None, "your function raised RecursionError: it calls itself without end."
    except (Exception, SystemExit) as err:  # the reader's code failed: say how, briefly, on one line
        return None, f"your function raised {type(err).__name__}: {_one_line(err)}"


# ---------------------------------------------------------------------------
# Reading what came back, by value, whatever its type
# ---------------------------------------------------------------------------
_EPS = {torch.float64: float(np.finfo(np.float64).eps), torch.float32: float(np.finfo(np.float32).eps),
        torch.float16: float(np.finfo(np.float16).eps), torch.bfloat16: 2.0 ** -7}
_SLACK = 8  # roundings of the answer's own float type that a comparison forgives


def _describe(x, returned: bool = True) -> str:
    """A short, one-line description of any value, for hints ("a float32 tensor of shape (4,)", "None").

    ``returned``: ``x`` is what a function returned (None then suggests a missing ``return``).
    """
    if x is None:
        return "None (is a `return` missing?)" if returned else "None"
    if isinstance(x, bool):
        return f"{x} (a bool)"
    if isinstance(x, torch.Tensor):
        return f"a {str(x.dtype).replace('torch.', '')} tensor of shape {tuple(x.shape)}"
    if isinstance(x, np.ndarray):
        return f"a numpy array of shape {x.shape}"
    if isinstance(x, str):
        return f"the string {_one_line(repr(x), 40)}"
    if isinstance(x, (numbers.Number, np.generic)):
        return f"the number {_one_line(repr(x.item() if isinstance(x, np.generic) else x), 40)}"
    if isinstance(x, (list, tuple, dict, set)):
        return f"a {type(x).__name__} of {len(x)} item{'s' if len(x) != 1 else ''}"
    if callable(x):
        return "a function"
    name = type(x).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _eps(dtype) -> float:
    """The resolution of a float type (0 for integers: compared exactly)."""
    if isinstance(dtype, torch.dtype):
        return _EPS.get(dtype, 0.0)
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 0.0


class _Num(float):
    """A float that remembers the resolution (``eps``) of the type it was returned in."""

    eps: float

    def __new__(cls, value: float, eps: float) -> "_Num":
        number = super().__new__(cls, value)
        number.eps = eps
        return number


def _number(x, what: str = "one number") -> tuple[_Num | None, str | None]:
    """Read one finite real number from a Python, numpy or torch value; ``(number, None)`` or ``(None, hint)``."""
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            return None, f"return {what}, got {_describe(x)}."
        if x.is_complex():
            return None, f"return {what}, got a complex tensor."
        if x.dtype == torch.bool:
            return None, f"return {what}, got a bool tensor."
        value, eps = x.detach().cpu().reshape(()).double().item(), _eps(x.dtype)
    elif isinstance(x, (np.ndarray, np.generic)):
        x = np.asarray(x)
        if x.size != 1:
            return None, f"return {what}, got {_describe(x)}."
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            return None, f"return {what}, got a numpy value of type {x.dtype}."
        value, eps = float(x.reshape(())), _eps(x.dtype)
    elif isinstance(x, numbers.Real) and not isinstance(x, bool):
        try:
            value = float(x)
        except OverflowError:  # a Python int too large for a float
            return None, f"return {what}, got an integer with {len(str(abs(x)))} digits."
        eps = 0.0 if isinstance(x, numbers.Integral) else _EPS[torch.float64]
    else:
        return None, f"return {what}, got {_describe(x)}."
    if math.isnan(value):
        return None, f"return {what}, got nan (not a number): look for 0 / 0, log(0) * 0 or inf - inf."
    if math.isinf(value):
        return None, f"return {what}, got {value}: look for a division by zero, log(0) or an overflow."
    return _Num(value, eps), None


def _numbers(x, n: int, what: str, each: str | None = None) -> tuple[list[_Num] | None, str | None]:
    """``n`` finite real numbers from a tuple, list or 1-D array/tensor; ``(numbers, None)`` or ``(None, hint)``.

    ``what`` describes the whole answer, ``each`` (default ``what``) one of its items.
    """
    items, hint = _items(x, n, what)
    if hint:
        return None, hint
    values = []
    for item in items:
        value, hint = _number(item, each or what)
        if hint:
            return None, hint
        values.append(value)
    return values, None


def _close(got: _Num | float, expected: float, rel_tol: float = 0.0, abs_tol: float = 0.0) -> bool:
    """``math.isclose``, widened to a few roundings of the float type the answer came in."""
    slack = _SLACK * getattr(got, "eps", 0.0)
    return math.isclose(float(got), expected, rel_tol=max(rel_tol, slack),
                        abs_tol=max(abs_tol, slack * abs(expected)))


def _first_mistake(got: _Num | float, mistakes, rel_tol: float = 0.0, abs_tol: float = 0.0) -> str | None:
    """The hint of the first ``(wrong value, hint)`` in ``mistakes`` that ``got`` is :func:`_close` to, else None."""
    for wrong, message in mistakes:
        if _close(got, wrong, rel_tol=rel_tol, abs_tol=abs_tol):
            return message
    return None


def _judge(got: _Num | float, expected: float, mistakes, right: str, otherwise: str,
           rel_tol: float = 0.0, abs_tol: float = 0.0) -> Verdict:
    """The verdict on one number: ``right`` when :func:`_close` to ``expected``; else the hint of the first
    ``(wrong value, hint)`` in ``mistakes`` it is close to; else ``otherwise``. One tolerance for all."""
    if _close(got, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        return _verdict(True, right)
    message = _first_mistake(got, mistakes, rel_tol=rel_tol, abs_tol=abs_tol)
    return _verdict(False, otherwise if message is None else message)


def _same(got: _Num | float, expected: float) -> bool:
    """Equal up to the rounding of the answer's own type (a count returned as float32 is still right)."""
    return abs(float(got) - expected) <= getattr(got, "eps", 0.0) * abs(expected)


def _tensor(x, what: str = "a tensor") -> tuple[torch.Tensor | None, str | None]:
    """Read a tensor, numpy array or (nested) list of numbers.

    Returns ``(CPU tensor in its own dtype, None)`` or ``(None, hint)``.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, (list, tuple)) and x and all(isinstance(v, torch.Tensor) for v in x):
        try:  # a list of tensors
            t = torch.stack([v.detach() for v in x])
        except Exception:
            return None, f"return {what}, got a list of tensors of different shapes."
    elif isinstance(x, (np.ndarray, np.generic, list, tuple)) or isinstance(x, numbers.Real):
        try:
            array = np.asarray(x)
            array = np.ascontiguousarray(array) if array.ndim else array
            if array.dtype.kind == "u" and array.dtype.itemsize > 1:
                array = array.astype(np.int64)
            t = torch.as_tensor(array)
        except Exception:
            return None, f"return {what}, got {_describe(x)} that torch cannot read as numbers."
    else:
        return None, f"return {what}, got {_describe(x)}."
    if t.is_complex():
        return None, f"return {what}, got complex numbers."
    if t.dtype == torch.bool:
        return None, f"return {what}, got True/False values (a bool tensor); return numbers."
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)):
        return None, f"return {what}, got {_describe(x)}."
    return t.cpu(), None


def _float(t: torch.Tensor) -> torch.Tensor:
    """A tensor from :func:`_tensor` as float64, for comparisons."""
    return t.to(torch.float64)


def _allclose(got: torch.Tensor, expected: torch.Tensor, atol: float = 1e-6, rtol: float = 0.0) -> bool:
    """Same shape and values within ``atol``/``rtol``, widened to a few roundings of ``got``'s own float type."""
    if got.shape != expected.shape:
        return False
    slack = _SLACK * _eps(got.dtype)
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    return torch.allclose(_float(got), expected.to(torch.float64), rtol=max(rtol, slack),
                          atol=max(atol, slack * scale))


def _nonfinite_hint(t: torch.Tensor) -> str | None:
    """A hint when a tensor holds nan or inf, else None."""
    if t.is_floating_point() and not torch.isfinite(t).all():
        what = "nan" if torch.isnan(t).any() else "inf"
        return f"the result contains {what}: look for a division by zero, log(0) or a softmax over only -inf."
    return None


def _judge_tensor(got: torch.Tensor, expected: torch.Tensor, mistakes, right: str, otherwise: str,
                  atol: float = 1e-6) -> Verdict:
    """The verdict on a tensor of the right shape: ``right`` when :func:`_allclose` to ``expected``; else the
    :func:`_nonfinite_hint` if it holds nan or inf; else the hint of the first ``(wrong tensor, hint)`` in
    ``mistakes`` it is close to; else ``otherwise``."""
    if _allclose(got, expected, atol=atol):
        return _verdict(True, right)
    if hint := _nonfinite_hint(got):
        return _verdict(False, hint)
    for wrong, message in mistakes:
        if _allclose(got, wrong, atol=atol):
            return _verdict(False, message)
    return _verdict(False, otherwise)


def _int_list(x, what: str = "a list of integers") -> tuple[list[int] | None, str | None]:
    """Read a 1-D list, tuple, array or tensor of whole numbers as a list of Python ints."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        t, hint = _tensor(x, what)
        if hint:
            return None, hint
        if t.dim() != 1:
            return None, f"return {what}, got {_describe(x)}."
        if t.is_floating_point():
            if not torch.isfinite(t).all() or not torch.equal(t, t.round()):
                return None, f"return {what}, got a float tensor that is not whole numbers."
        return [int(v) for v in t.tolist()], None
    if not isinstance(x, (list, tuple)):
        return None, f"return {what}, got {_describe(x)}."
    out = []
    for v in x:
        number, hint = _number(v, "whole numbers")
        if hint or number != int(number):
            return None, f"return {what}; one item is {_describe(v, returned=False)}."
        out.append(int(number))
    return out, None


def _items(x, n: int | None = None, what: str = "a tuple") -> tuple[list | None, str | None]:
    """The items of a tuple, list, or 1-D array/tensor (``n`` of them when given).

    Returns ``(items, None)`` or ``(None, hint)``.
    """
    if isinstance(x, (tuple, list)):
        items = list(x)
    elif isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim == 1:
        items = list(x)
    else:
        return None, f"return {what}, got {_describe(x)}."
    if n is not None and len(items) != n:
        return None, f"return {what}; got {len(items)} item{'s' if len(items) != 1 else ''}."
    return items, None
