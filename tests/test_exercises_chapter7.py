"""Chapter 7's checkers: right answers pass, each usual mistake gets its hint, stubs get a hint (no crash)."""

from collections import Counter

import numpy as np
import pytest
import torch

from llm_book.bpe import BPETokenizer, pre_tokenize
from llm_book.bpe import merge as package_merge
from llm_book.exercises import check_7_1, check_7_2, check_7_3, check_7_4, check_7_5
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


def train_merges(text, n_merges):
    return BPETokenizer.train(text, vocab_size=256 + n_merges).merges


def token_counts(*args):
    return [21, 19, 17, 14, 11, 10, 10]


CHECKERS = [check_7_1, check_7_2, check_7_3, check_7_4, check_7_5]
RIGHT_ANSWERS = {check_7_1: merge, check_7_2: most_frequent_pair, check_7_3: split_c_attn,
                 check_7_4: train_merges, check_7_5: token_counts}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


def test_7_1_a_numpy_array_is_compared_by_value(capsys):
    assert_right(capsys, check_7_1, lambda ids, pair, new: np.array(merge(ids, pair, new)))
    assert_hint(capsys, check_7_1, lambda ids, pair, new: np.array(ids), "should give")


def test_7_2_a_numpy_array_is_compared_by_value(capsys):
    assert_right(capsys, check_7_2, lambda ids: np.array(most_frequent_pair(ids)))
    assert_hint(capsys, check_7_2, lambda ids: np.array([1, 2]), "never occurs as neighbours")
    assert_hint(capsys, check_7_2, lambda ids: np.int64(3), "not its count")


# ----------------------------------------------------------------------------
# 7.4 find the bug: the BPE trainer
# ----------------------------------------------------------------------------
def trainer(text, n_merges, words="pre-tokens", ties="smallest"):
    """A BPE trainer with the chapter's bugs switched on or off."""
    if words == "stream":                           # bug: pairs counted across word boundaries
        counts_of = {tuple(text.encode()): 1}
    else:
        counts_of = dict(Counter(tuple(w.encode()) for w in pre_tokenize(text)))
        if words == "unweighted":                   # bug: each distinct word counts once
            counts_of = {w: 1 for w in counts_of}
    merges = {}
    for new_id in range(256, 256 + n_merges):
        counts = Counter()
        for word, n in counts_of.items():
            for pair in zip(word, word[1:]):
                counts[pair] += n
        if ties == "first seen":                    # bug: ties go to the pair seen first
            best = max(counts, key=counts.get)
        else:
            best = min(p for p, c in counts.items() if c == max(counts.values()))
        merges[best] = new_id
        counts_of = {tuple(package_merge(w, best, new_id)): n for w, n in counts_of.items()}
    return merges


def test_7_4_the_fixed_trainer_is_right_and_each_bug_gets_its_hint(capsys):
    assert_right(capsys, check_7_4, trainer)
    assert_right(capsys, check_7_4, lambda text, n: dict(reversed(list(train_merges(text, n).items()))))
    assert_hint(capsys, check_7_4, lambda text, n: trainer(text, n, words="stream", ties="first seen"),
                "tied with another pair")                       # the cell's code: the tie shows first
    assert_hint(capsys, check_7_4, lambda text, n: trainer(text, n, words="stream"), "spans two pre-tokens")
    assert_hint(capsys, check_7_4, lambda text, n: trainer(text, n, ties="first seen"), "smallest pair")
    assert_hint(capsys, check_7_4, lambda text, n: trainer(text, n, words="unweighted"), "how often the word")


def test_7_4_malformed_merges_get_hints(capsys):
    assert_hint(capsys, check_7_4, lambda text, n: list(train_merges(text, n)), "a dict")
    assert_hint(capsys, check_7_4, lambda text, n: {str(p): i for p, i in train_merges(text, n).items()},
                "not a pair")
    assert_hint(capsys, check_7_4, lambda text, n: {p: i + 1 for p, i in train_merges(text, n).items()},
                "256, 257")
    assert_hint(capsys, check_7_4, lambda text, n: train_merges(text, n + 1), "exactly n_merges")
    assert_hint(capsys, check_7_4, lambda text, n: dict(list(train_merges(text, n).items())[:-1]),
                "exactly n_merges")
    assert_hint(capsys, check_7_4, lambda text, n: {(999, 998): 256, **{(1, i): 256 + i for i in range(1, n)}},
                "do not exist yet")
    assert_hint(capsys, check_7_4, lambda text, n: {(108, 111): 256, (256, 119): 257, (110, 101): 258,
                                                    **{(1, i): 256 + i for i in range(3, n)}}, "occurs 1 time inside")


# ----------------------------------------------------------------------------
# 7.5 predict then check: token counts after each merge
# ----------------------------------------------------------------------------
def test_7_5_the_truth_is_what_llm_book_bpe_gives(capsys):
    small = BPETokenizer.train("low lower lowest slow slower newest widest", vocab_size=262)
    merges = list(small.merges.items())
    truth = [len(BPETokenizer(dict(merges[:k])).encode("lowest slowest newest")) for k in range(7)]
    assert truth == token_counts()
    line = assert_right(capsys, check_7_5, truth)
    assert "␣low" in line
    assert_right(capsys, check_7_5, tuple(truth))
    assert_right(capsys, check_7_5, np.array(truth))


@pytest.mark.parametrize("prediction, phrase", [
    ([21, 19, 17, 14, 11, 10, 9], "comes before"),            # merge 261 (␣low) applied to ' slowest'
    ([19, 17, 15, 12, 10, 9, 9], "spaces"),                    # the spaces forgotten
    ([21, 19, 17, 15, 12, 11, 11], "too many"),                # 'es' merged in one word only
    ([21, 19, 17, 13, 11, 10, 10], "too few"),
    ([21, 19, 17, 14, 11, 10, 11], "never adds tokens"),
    ([21, 19, 17, 14, 11, 10], "7 whole numbers"),
    ([21.5, 19, 17, 14, 11, 10, 10], "7 whole numbers"),
    (21, "7 whole numbers"),
])
def test_7_5_wrong_predictions_get_hints(capsys, prediction, phrase):
    assert_hint(capsys, check_7_5, prediction, phrase)
    assert_hint(capsys, check_7_5, lambda: prediction, phrase)
