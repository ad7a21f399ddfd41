"""Checkers for Chapter 7's exercises (tools: byte-pair encoding, loading GPT-2 weights)."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import torch

from llm_book.exercises._checking import (Verdict, _call, _describe, _int_list, _items, _tensor, _verdict,
                                          checker)


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


@checker
def check_7_1(merge: Callable) -> Verdict:
    """Exercise 7.1: ``merge(ids, pair, new_id)`` replaces every occurrence of ``pair``, left to right."""
    cases = [([1, 2, 3, 1, 2], (1, 2), 9), ([5, 5, 5, 5, 5], (5, 5), 7), ([1, 2], (2, 1), 9), ([], (1, 2), 9),
             ([3, 1, 2, 2, 1, 2, 1], (1, 2), 4)]
    for ids, pair, new_id in cases:
        expected = _merge(ids, pair, new_id)
        given = list(ids)
        got, hint = _call(merge, given, pair, new_id)
        if hint:
            return _verdict(False, hint)
        if given != ids:
            return _verdict(False, "your function changed the list it was given; build a new list.")
        got, hint = _int_list(got, "a list of ids")
        if hint:
            return _verdict(False, f"merge({ids}, {pair}, {new_id}): {hint}")
        if got == expected:
            continue
        if ids == [5, 5, 5, 5, 5] and got.count(7) > 2:
            return _verdict(False, "[5, 5, 5, 5, 5] with pair (5, 5) should give [7, 7, 5]: once a pair is "
                                   "merged, skip both of its ids (occurrences must not overlap).")
        if got == _merge(ids, pair, new_id)[:1] + ids[2:] or got.count(new_id) == 1 < expected.count(new_id):
            return _verdict(False, f"merge({ids}, {pair}, {new_id}) should replace every occurrence, "
                                   f"expected {expected}, got {got}.")
        return _verdict(False, f"merge({ids}, {pair}, {new_id}) should give {expected}, got {got}.")
    return _verdict(True, "merges every occurrence, left to right, without overlaps.")


@checker
def check_7_2(most_frequent_pair: Callable) -> Verdict:
    """Exercise 7.2: ``most_frequent_pair(ids)`` -> the adjacent pair that occurs most often."""
    cases = [([1, 2, 3, 1, 2, 4, 1, 2], (1, 2)), ([7, 8, 7, 7, 8, 7, 8], (7, 8)), ([4, 5, 6, 6, 6, 6, 5], (6, 6)),
             (list(b"the cat sat on the mat"), (97, 116))]
    for ids, expected in cases:
        got, hint = _call(most_frequent_pair, list(ids))
        if hint:
            return _verdict(False, hint)
        one_number = (isinstance(got, numbers.Integral) and not isinstance(got, bool)) or \
            (isinstance(got, (torch.Tensor, np.ndarray)) and got.ndim == 0)
        if one_number:
            return _verdict(False, "return the pair itself, a tuple (id_a, id_b), not its count.")
        pair, hint = _int_list(got, "a tuple of two ids")
        if hint:
            return _verdict(False, hint)
        if len(pair) != 2:
            return _verdict(False, f"return a tuple of two ids, got {len(pair)} ids.")
        got = tuple(pair)
        if got == expected:
            continue
        if got not in set(zip(ids, ids[1:])):
            return _verdict(False, f"{got} never occurs as neighbours in {ids}: count pairs ids[i], ids[i + 1].")
        return _verdict(False, f"in {ids} the pair {expected} occurs most often, not {got}.")
    return _verdict(True, "that pair is what BPE merges next.")


@checker
def check_7_3(split_c_attn: Callable) -> Verdict:
    """Exercise 7.3: ``split_c_attn(weight, bias)``: GPT-2's packed (C, 3C) Conv1D -> three nn.Linear (out, in)."""
    c = 6
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(c, 3 * c, generator=g, dtype=torch.float64)
    bias = torch.randn(3 * c, generator=g, dtype=torch.float64)
    given_w, given_b = weight.clone(), bias.clone()
    got, hint = _call(split_c_attn, given_w, given_b)
    if hint:
        return _verdict(False, hint)
    if not torch.equal(given_w, weight) or not torch.equal(given_b, bias):
        return _verdict(False, "your function changed its inputs in place; work on new tensors.")
    pairs, hint = _items(got, 3, "three (weight, bias) pairs: ((Wq, bq), (Wk, bk), (Wv, bv))")
    pairs = pairs if pairs is not None and all(_items(p, 2)[0] is not None for p in pairs) else None
    if pairs is None:
        return _verdict(False, f"return three (weight, bias) pairs: ((Wq, bq), (Wk, bk), (Wv, bv)), "
                               f"got {_describe(got)}.")
    names = ("query", "key", "value")
    for i, (name, pair) in enumerate(zip(names, pairs)):
        (w, hint_w), (b, hint_b) = (_tensor(t) for t in _items(pair, 2)[0])
        expected_w = weight[:, i * c:(i + 1) * c].t()
        expected_b = bias[i * c:(i + 1) * c]
        if hint_w or w.shape != (c, c):
            return _verdict(False, f"the {name} weight should be a ({c}, {c}) tensor for n_embd = {c}, got "
                                   f"{_describe(_items(pair, 2)[0][0])}.")
        w = w.double()
        b_ok = not hint_b and b.shape == expected_b.shape and torch.allclose(b.double(), expected_b)
        if torch.allclose(w, expected_w) and b_ok:
            continue
        if torch.allclose(w, expected_w.t()):
            return _verdict(False, f"the {name} weight is not transposed: Conv1D stores (in, out), "
                                   f"nn.Linear (out, in).")
        if torch.allclose(w, weight.t()[i * c:(i + 1) * c].t()) or \
                torch.allclose(w, weight.reshape(3 * c, c)[i * c:(i + 1) * c]):
            return _verdict(False, "split along the output axis (the 3C columns), not the input axis.")
        if not b_ok:
            return _verdict(False, f"the {name} bias is off: it is the {['first', 'second', 'third'][i]} "
                                   f"third of the packed bias.")
        return _verdict(False, f"the {name} weight is off: take columns {i * c}..{(i + 1) * c - 1} of the "
                               f"packed weight, then transpose.")
    return _verdict(True, "queries, keys and values unpacked and transposed, as llm_book.hf does.")
