"""Chapter 7's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

from collections import Counter

import numpy as np
import pytest
import torch

from llm_book.bpe import merge as package_merge
from llm_book.exercises import check_7_1, check_7_2, check_7_3
from checker_helpers import assert_hint, assert_right, catalogue_tests, stub, verdict
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)


def test_7_1(capsys):
    assert verdict(capsys, check_7_1, lambda ids, pair, new: list(package_merge(ids, pair, new)))[0]

    def overlapping(ids, pair, new):
        return [new if (a, b) == pair else a for a, b in zip(ids, ids[1:] + [None])]

    def in_place(ids, pair, new):
        ids[:] = package_merge(ids, pair, new)
        return ids

    def first_only(ids, pair, new):
        for i in range(len(ids) - 1):
            if (ids[i], ids[i + 1]) == pair:
                return ids[:i] + [new] + ids[i + 2:]
        return list(ids)

    ok, line = verdict(capsys, check_7_1, overlapping)
    assert not ok
    ok, line = verdict(capsys, check_7_1, in_place)
    assert not ok and "changed the list" in line
    ok, line = verdict(capsys, check_7_1, first_only)
    assert not ok and "every occurrence" in line
    ok, line = verdict(capsys, check_7_1, stub)
    assert not ok and "not written yet" in line


def test_7_1_overlap_hint(capsys):
    def greedy_overlap(ids, pair, new):
        out = []
        for i in range(len(ids) - 1):
            out.append(new if (ids[i], ids[i + 1]) == pair else ids[i])
        return out

    ok, line = verdict(capsys, check_7_1, greedy_overlap)
    assert not ok and ("overlap" in line or "should give" in line)


def test_7_2(capsys):
    def right(ids):
        return Counter(zip(ids, ids[1:])).most_common(1)[0][0]

    assert verdict(capsys, check_7_2, right)[0]
    ok, line = verdict(capsys, check_7_2, lambda ids: Counter(zip(ids, ids[1:])).most_common(1)[0][1])
    assert not ok and "not its count" in line
    ok, line = verdict(capsys, check_7_2, lambda ids: (Counter(ids).most_common(1)[0][0],) * 2)
    assert not ok and ("never occurs as neighbours" in line or "occurs most often" in line)
    ok, line = verdict(capsys, check_7_2, lambda ids: (ids[0], ids[1]))
    assert not ok and "occurs most often" in line
    ok, line = verdict(capsys, check_7_2, stub)
    assert not ok and "not written yet" in line


def test_7_3(capsys):
    def right(weight, bias):
        c = weight.shape[0]
        return tuple((w.t(), b) for w, b in zip(weight.split(c, dim=1), bias.split(c)))

    assert verdict(capsys, check_7_3, right)[0]
    ok, line = verdict(capsys, check_7_3, lambda w, b: tuple(zip(w.split(w.shape[0], dim=1), b.split(w.shape[0]))))
    assert not ok and "not transposed" in line
    ok, line = verdict(capsys, check_7_3, lambda w, b: tuple((x, y) for x, y in zip(
        w.reshape(3 * w.shape[0], w.shape[0]).split(w.shape[0]), b.split(w.shape[0]))))
    assert not ok and "output axis" in line
    ok, line = verdict(capsys, check_7_3, lambda w, b: tuple((x.t(), torch.zeros(w.shape[0]))
                                                            for x in w.split(w.shape[0], dim=1)))
    assert not ok and "bias is off" in line

    def in_place(weight, bias):
        weight.mul_(1.0 + 1e-3)
        return right(weight, bias)

    ok, line = verdict(capsys, check_7_3, in_place)
    assert not ok and "in place" in line
    ok, line = verdict(capsys, check_7_3, lambda w, b: (w, b))
    assert not ok and "three (weight, bias) pairs" in line
    ok, line = verdict(capsys, check_7_3, stub)
    assert not ok and "not written yet" in line


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
def merge(ids, pair, new):
    return list(package_merge(ids, pair, new))


def most_frequent_pair(ids):
    return Counter(zip(ids, ids[1:])).most_common(1)[0][0]


def split_c_attn(weight, bias):
    c = weight.shape[0]
    return tuple((w.t(), b) for w, b in zip(weight.split(c, dim=1), bias.split(c)))


CHECKERS = [check_7_1, check_7_2, check_7_3]
RIGHT_ANSWERS = {check_7_1: merge, check_7_2: most_frequent_pair, check_7_3: split_c_attn}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_7_1_a_numpy_array_is_compared_by_value(capsys):
    assert_right(capsys, check_7_1, lambda ids, pair, new: np.array(merge(ids, pair, new)))
    assert_hint(capsys, check_7_1, lambda ids, pair, new: np.array(ids), "should give")


def test_7_2_a_numpy_array_is_compared_by_value(capsys):
    assert_right(capsys, check_7_2, lambda ids: np.array(most_frequent_pair(ids)))
    assert_hint(capsys, check_7_2, lambda ids: np.array([1, 2]), "never occurs as neighbours")
    assert_hint(capsys, check_7_2, lambda ids: np.int64(3), "not its count")
