"""Checkers for graders: strict mode (a wrong answer raises AssertionError with the hint) and hidden
inputs (other seeds, extra cases), with readers' default output unchanged."""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from checker_helpers import NOT_YET, RIGHT, assert_same_state, global_state, global_state_kept  # noqa: F401

from llm_book.exercises import _checking, check_1_3, check_4_2, check_4_3, check_5_9, check_8_1
from llm_book.nbgrader_course import HIDDEN_CHECKS, PUBLIC_ONLY

ROOT = Path(__file__).resolve().parents[1]

NO_HIDDEN_INPUTS = PUBLIC_ONLY
"""Exercises whose hidden check cannot use other inputs, and why (the assignments' test cells have no
hidden part for them; the teachers' guide lists them)."""


def attention(X):
    return torch.softmax(X @ X.T / math.sqrt(X.shape[-1]), dim=-1) @ X


def no_scaling(X):
    return torch.softmax(X @ X.T, dim=-1) @ X


def run(capsys, checker, *args, **kwargs):
    """Call a checker; return (result or the AssertionError, printed text); the state it left is checked."""
    capsys.readouterr()
    before = global_state()
    try:
        result = checker(*args, **kwargs)
    except AssertionError as err:
        result = err
    assert_same_state(before, global_state())
    return result, capsys.readouterr().out


# ---------------------------------------------------------------- strict mode

def test_default_output_is_unchanged(capsys):
    verdict, out = run(capsys, check_4_2, no_scaling)
    assert not verdict and out == verdict.message + "\n"
    assert out.startswith(NOT_YET) and "forgot the scaling" in out


def test_strict_raises_the_hint_and_prints_nothing(capsys):
    hint, _ = run(capsys, check_4_2, no_scaling)
    error, out = run(capsys, check_4_2, no_scaling, strict=True)
    assert isinstance(error, AssertionError) and str(error) == hint.message
    assert out == ""


def test_strict_right_answer_prints_and_returns_the_verdict(capsys):
    verdict, out = run(capsys, check_4_2, attention, strict=True)
    assert verdict and out == verdict.message + "\n" and out.startswith(RIGHT)


def warning_attention(X):
    """Right, but warns: torch.tensor() on a tensor (a UserWarning on every call)."""
    X = torch.tensor(X)
    return attention(X)


def test_strict_mode_keeps_stderr_clean_when_a_right_answer_warns(capsys):
    """nbgrader gives 0 points to a graded cell that wrote to stderr: in strict mode the warnings go to
    stdout, once each, after the verdict, and the answer keeps its points."""
    with pytest.warns(UserWarning):  # the answer does warn, outside a checker
        warning_attention(torch.ones(2, 2))
    capsys.readouterr()
    verdict = check_4_2(warning_attention, strict=True)
    captured = capsys.readouterr()
    assert verdict and captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == verdict.message and lines[0].startswith(RIGHT)
    assert len(lines) == 2 and lines[1].startswith("warning (not counted against you): UserWarning: ")


def test_strict_mode_sends_the_readers_stderr_to_stdout(capsys):
    def noisy(X):
        print("debugging", file=sys.stderr)
        return attention(X)

    verdict = check_4_2(noisy, strict=True)
    captured = capsys.readouterr()
    assert verdict and captured.err == "" and "debugging" in captured.out
    with pytest.raises(AssertionError, match="forgot the scaling"):  # a wrong answer that warns: still 0
        check_4_2(lambda X: no_scaling(torch.tensor(X)), strict=True)
    captured = capsys.readouterr()
    assert captured.err == "" and "UserWarning" in captured.out


def test_default_mode_leaves_warnings_alone(capsys):
    with pytest.warns(UserWarning):
        verdict = check_4_2(warning_attention)
    assert verdict and capsys.readouterr().out == verdict.message + "\n"


def test_every_exercise_is_hidden_or_public_only_not_both():
    assert not set(HIDDEN_CHECKS) & set(PUBLIC_ONLY)
    assert all(isinstance(v, str) and v for v in [*HIDDEN_CHECKS.values(), *PUBLIC_ONLY.values()])


@pytest.mark.parametrize("answer, phrase", [
    (lambda X: 1 / 0, "ZeroDivisionError"),                                   # the reader's code raises
    (lambda X: (_ for _ in ()).throw(NotImplementedError), "not written yet"),  # the stub
    (lambda X: "text", "got the string"),                                       # a malformed answer
])
def test_strict_turns_every_kind_of_hint_into_an_assertion(capsys, answer, phrase):
    error, out = run(capsys, check_4_2, answer, strict=True)
    assert isinstance(error, AssertionError) and phrase in str(error) and str(error).startswith(NOT_YET)
    assert out == ""


def test_strict_with_a_second_argument(capsys):
    perplexity = lambda probs: math.exp(-sum(map(math.log, probs)) / len(probs))  # noqa: E731
    verdict, _ = run(capsys, check_4_3, perplexity, lambda: 2 ** 0.25, strict=True, hidden=True)
    assert verdict
    error, _ = run(capsys, check_4_3, perplexity, halved_factor=2.0, strict=True)
    assert isinstance(error, AssertionError) and "does not double" in str(error)


def test_a_checker_that_fails_itself_is_an_assertion_in_strict_mode(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the checker")

    monkeypatch.setattr(_checking, "_tensor", broken)
    monkeypatch.setattr(sys.modules[check_4_2.__module__], "_tensor", broken)
    error, out = run(capsys, check_4_2, attention, strict=True)
    assert isinstance(error, AssertionError) and "could not check the answer" in str(error)


@pytest.mark.parametrize("name", ["strict", "hidden"])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_flags_have_to_be_bools(name, value):
    with pytest.raises(TypeError, match=rf"`{name}` \(={value!r}\) has to be True or False"):
        check_4_2(attention, **{name: value})


def test_the_flags_are_keyword_only_in_the_signature():
    params = inspect.signature(check_4_3).parameters
    assert list(params) == ["perplexity", "halved_factor", "strict", "hidden"]
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY and params[n].default is False
               for n in ("strict", "hidden"))


# ---------------------------------------------------------------- hidden inputs

def recording(answer, seen: list):
    def recorded(*args):
        seen.append([a.clone() if isinstance(a, torch.Tensor) else (a.copy() if isinstance(a, np.ndarray) else a)
                     for a in args])
        return answer(*args)
    return recorded


def hard_coded(checker, answer, *args):
    """An answer that looks the public inputs up in a table of the right outputs, as a student who
    copied the checker's cases would: right on the public cases, helpless on others."""
    seen = []
    checker(recording(answer, seen), *args)
    table = [(inputs, answer(*inputs)) for inputs in seen]

    def lookup(*inputs):
        for known, output in table:
            if all(_same(a, b) for a, b in zip(known, inputs)):
                return output
        return table[0][1]  # a guess: the first public answer
    return lookup


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
            and torch.equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def compute_optimal(flops):
    n = math.sqrt(flops / 120)
    return n, 20 * n


def my_top_k(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def fit_power_law(n, loss):
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return math.exp(intercept), -slope


@pytest.mark.parametrize("checker, answer", [
    (check_4_2, attention),         # random input from a seeded torch.Generator
    (check_5_9, my_top_k),          # several seeded cases
    (check_8_1, fit_power_law),     # numpy's generator
    (check_1_3, compute_optimal),   # fixed cases, plus a hidden one
], ids=["4.2", "5.9", "8.1", "1.3"])
def test_an_answer_hard_coded_to_the_public_cases_fails_the_hidden_ones(capsys, checker, answer):
    cheat = hard_coded(checker, answer)
    public, _ = run(capsys, checker, cheat, strict=True)
    assert public, "the hard-coded answer should pass the public cases"
    hidden, out = run(capsys, checker, cheat, strict=True, hidden=True)
    assert isinstance(hidden, AssertionError) and str(hidden).startswith(NOT_YET) and out == ""
    right, _ = run(capsys, checker, answer, strict=True, hidden=True)
    assert right


def test_hidden_inputs_differ_and_public_ones_do_not_move(capsys):
    public, again, hidden = [], [], []
    for seen, flag in ((public, False), (again, False), (hidden, True)):
        check_4_2(recording(attention, seen), hidden=flag)
    assert torch.equal(public[0][0], again[0][0])            # readers always see the same input
    assert not torch.equal(public[0][0], hidden[0][0])
    assert not _checking._hidden(), "the hidden flag is reset after the call"


def test_hidden_seeds_and_cases_come_from_one_place():
    assert _checking._seed(7) == 7 and _checking._hidden_cases([1], [2]) == [1]
    token = _checking._HIDDEN.set(True)
    try:
        assert _checking._seed(7) == 7 + _checking.HIDDEN_SEED_OFFSET
        assert _checking._hidden_cases([1], [2]) == [1, 2]
        assert torch.equal(torch.randn(3, generator=_checking._generator(7)),
                           torch.randn(3, generator=torch.Generator().manual_seed(7 + _checking.HIDDEN_SEED_OFFSET)))
    finally:
        _checking._HIDDEN.reset(token)
    sources = "".join(p.read_text() for p in (ROOT / "llm_book" / "exercises").glob("chapter*.py"))
    lines = sources.splitlines()
    fixed = [line for before, line in zip(lines, lines[1:]) if "torch.Generator().manual_seed(" in line
             and "the recipe's seed, hidden or not" not in before and 'f"generator = ' not in line]
    assert not fixed, fixed  # every other seed goes through _generator / _seed / _rng
    assert "default_rng(" not in sources


def test_hidden_flag_is_reset_when_the_check_raises(capsys):
    with pytest.raises(AssertionError):
        check_4_2(no_scaling, strict=True, hidden=True)
    assert not _checking._hidden()


# ---------------------------------------------------------------- every exercise of the book, as graded

_EVERY_EXERCISE = r'''
import ast, contextlib, hashlib, io, json, sys
from pathlib import Path
import numpy as np, torch
from llm_book.classroom import _read_notebook
from llm_book.nbgrader_course import chapter_assignment

def fingerprint(x):
    if isinstance(x, torch.Tensor):
        return hashlib.md5(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest() + str(tuple(x.shape))
    if isinstance(x, torch.nn.Module):
        return [fingerprint(p) for p in x.parameters()]
    if isinstance(x, np.ndarray):
        return hashlib.md5(x.tobytes()).hexdigest()
    if isinstance(x, (list, tuple)):
        return [fingerprint(v) for v in x]
    if isinstance(x, dict):
        return [[repr(k), fingerprint(v)] for k, v in x.items()]
    if isinstance(x, torch.Generator):
        return hashlib.md5(x.get_state().numpy().tobytes()).hexdigest()
    return repr(x) if not callable(x) else "a function"

results = {}
for path in sorted(Path(sys.argv[1]).glob("*.ipynb")):
    assignment = chapter_assignment(_read_notebook(path), path)
    if assignment is None:
        continue
    names = {}
    for cell in assignment.nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
        if not grade_id.endswith("_tests"):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, grade_id, "exec"), names)
            continue
        lines = source.splitlines()
        exec(lines[0], names)
        call = ast.parse(lines[2]).body[0].value
        assert [k.arg for k in call.keywords] == ["strict"], lines[2]
        args = [names[a.id] for a in call.args]
        outcome = {}
        for mode, hidden in (("hidden", True), ("public", False)):  # hidden first: no cache helps it
            seen = []
            wrapped = [(lambda f: lambda *xs: (seen.append(fingerprint(xs)), f(*xs))[1])(a) if callable(a) else a
                       for a in args]
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    names[call.func.id](*wrapped, strict=True, hidden=hidden)
                    ok = True
                except AssertionError as err:
                    ok = str(err)
            outcome[mode] = {"ok": ok, "inputs": seen, "printed": out.getvalue()}
        number = call.func.id[len("check_"):].replace("_", ".")
        results[number] = {"public": outcome["public"]["ok"], "hidden": outcome["hidden"]["ok"],
                           "differ": outcome["public"]["inputs"] != outcome["hidden"]["inputs"],
                           "printed": outcome["hidden"]["printed"]}
print(json.dumps(results))
'''


@pytest.fixture(scope="module")
def every_exercise():
    """Every exercise of the book, its solution from the book, checked in strict mode, public and hidden
    (in a fresh interpreter: the chapters' setup code runs there)."""
    result = subprocess.run([sys.executable, "-c", _EVERY_EXERCISE, str(ROOT / "book")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_book_solution_passes_public_and_hidden_checks(every_exercise):
    assert len(every_exercise) >= 70
    failed = {n: r for n, r in every_exercise.items() if r["public"] is not True or r["hidden"] is not True}
    assert not failed, failed
    assert all(r["printed"].startswith(RIGHT) for r in every_exercise.values())


def test_hidden_checks_use_inputs_the_student_did_not_see(every_exercise):
    same = {n for n, r in every_exercise.items() if not r["differ"]}
    assert same == set(NO_HIDDEN_INPUTS)
    assert set(every_exercise) == set(HIDDEN_CHECKS) | set(PUBLIC_ONLY)
