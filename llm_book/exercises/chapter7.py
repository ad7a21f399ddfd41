"""Checkers for Chapter 7's exercises (tools: byte-pair encoding, loading GPT-2 weights)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from llm_book.exercises._checking import Verdict, _as_tensor, _call, _report


def _merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def check_7_1(merge: Callable) -> Verdict:
    """Exercise 7.1: ``merge(ids, pair, new_id)`` replaces every occurrence of ``pair``, left to right."""
    cases = [([1, 2, 3, 1, 2], (1, 2), 9), ([5, 5, 5, 5, 5], (5, 5), 7), ([1, 2], (2, 1), 9), ([], (1, 2), 9),
             ([3, 1, 2, 2, 1, 2, 1], (1, 2), 4)]
    for ids, pair, new_id in cases:
        given = list(ids)
        got, hint = _call(merge, given, pair, new_id)
        if hint:
            return _report(False, hint)
        if given != ids:
            return _report(False, "your function changed the list it was given; build a new list.")
        if isinstance(got, tuple):
            got = list(got)
        expected = _merge(ids, pair, new_id)
        if got == expected:
            continue
        if not isinstance(got, list):
            return _report(False, f"return a list of ids, got {type(got).__name__}.")
        if ids == [5, 5, 5, 5, 5] and got.count(7) > 2:
            return _report(False, "[5, 5, 5, 5, 5] with pair (5, 5) should give [7, 7, 5]: once a pair is "
                                  "merged, skip both of its ids (occurrences must not overlap).")
        if got == _merge(ids, pair, new_id)[:1] + ids[2:] or got.count(new_id) == 1 < expected.count(new_id):
            return _report(False, f"merge({ids}, {pair}, {new_id}) should replace every occurrence, "
                                  f"expected {expected}, got {got}.")
        return _report(False, f"merge({ids}, {pair}, {new_id}) should give {expected}, got {got}.")
    return _report(True, "merges every occurrence, left to right, without overlaps.")


def check_7_2(most_frequent_pair: Callable) -> Verdict:
    """Exercise 7.2: ``most_frequent_pair(ids)`` -> the adjacent pair that occurs most often."""
    cases = [([1, 2, 3, 1, 2, 4, 1, 2], (1, 2)), ([7, 8, 7, 7, 8, 7, 8], (7, 8)), ([4, 5, 6, 6, 6, 6, 5], (6, 6)),
             (list(b"the cat sat on the mat"), (97, 116))]
    for ids, expected in cases:
        got, hint = _call(most_frequent_pair, list(ids))
        if hint:
            return _report(False, hint)
        if isinstance(got, list):
            got = tuple(got)
        if got == expected:
            continue
        if isinstance(got, int):
            return _report(False, "return the pair itself, a tuple (id_a, id_b), not its count.")
        if not (isinstance(got, tuple) and len(got) == 2):
            return _report(False, f"return a tuple of two ids, got {got!r}.")
        if got not in set(zip(ids, ids[1:])):
            return _report(False, f"{got} never occurs as neighbours in {ids}: count pairs ids[i], ids[i + 1].")
        return _report(False, f"in {ids} the pair {expected} occurs most often, not {got}.")
    return _report(True, "that pair is what BPE merges next.")


def check_7_3(split_c_attn: Callable) -> Verdict:
    """Exercise 7.3: ``split_c_attn(weight, bias)``: GPT-2's packed (C, 3C) Conv1D -> three nn.Linear (out, in)."""
    c = 6
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(c, 3 * c, generator=g, dtype=torch.float64)
    bias = torch.randn(3 * c, generator=g, dtype=torch.float64)
    w0, b0 = weight.clone(), bias.clone()
    got, hint = _call(split_c_attn, weight, bias)
    if hint:
        return _report(False, hint)
    if not torch.equal(weight, w0) or not torch.equal(bias, b0):
        return _report(False, "your function changed its inputs in place; work on new tensors.")
    if not isinstance(got, (tuple, list)) or len(got) != 3 or \
            not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in got):
        return _report(False, "return three (weight, bias) pairs: ((Wq, bq), (Wk, bk), (Wv, bv)).")
    names = ("query", "key", "value")
    for i, (name, (w, b)) in enumerate(zip(names, got)):
        w, b = _as_tensor(w), _as_tensor(b)
        expected_w = weight[:, i * c:(i + 1) * c].t()
        expected_b = bias[i * c:(i + 1) * c]
        if w is None or w.shape != (c, c):
            return _report(False, f"the {name} weight should be ({c}, {c}) for n_embd = {c}, got "
                                  f"{None if w is None else tuple(w.shape)}.")
        if torch.allclose(w, expected_w) and b is not None and torch.allclose(b, expected_b):
            continue
        if torch.allclose(w, expected_w.t()):
            return _report(False, f"the {name} weight is not transposed: Conv1D stores (in, out), "
                                  f"nn.Linear (out, in).")
        if torch.allclose(w, weight.t()[i * c:(i + 1) * c].t()) or torch.allclose(w, weight.reshape(3 * c, c)[i * c:(i + 1) * c]):
            return _report(False, "split along the output axis (the 3C columns), not the input axis.")
        if b is None or not torch.allclose(b, expected_b):
            return _report(False, f"the {name} bias is off: it is the {['first', 'second', 'third'][i]} "
                                  f"third of the packed bias.")
        return _report(False, f"the {name} weight is off: take columns {i * c}..{(i + 1) * c - 1} of the "
                              f"packed weight, then transpose.")
    return _report(True, "queries, keys and values unpacked and transposed, as llm_book.hf does.")
