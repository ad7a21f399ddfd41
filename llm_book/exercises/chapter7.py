"""Checkers for Chapter 7's exercises (tools: byte-pair encoding, loading GPT-2 weights)."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import torch

from llm_book.exercises._checking import (Verdict, _call, _describe, _int_list, _items, _number, _tensor, _verdict,
                                          checker)
from llm_book.exercises._checking import _generator, _hidden_cases


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
    cases = _hidden_cases(cases, [([4, 4, 2, 4, 4, 4], (4, 4), 8)])
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
    cases = _hidden_cases(cases, [([9, 3, 9, 3, 3, 9, 3, 1], (9, 3))])
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
    g = _generator(3)
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
        if torch.allclose(w, weight.reshape(3 * c, c)[i * c:(i + 1) * c]):
            return _verdict(False, "split along the output axis (the 3C columns), not the input axis.")
        if not b_ok:
            return _verdict(False, f"the {name} bias is off: it is the {['first', 'second', 'third'][i]} "
                                   f"third of the packed bias.")
        return _verdict(False, f"the {name} weight is off: take columns {i * c}..{(i + 1) * c - 1} of the "
                               f"packed weight, then transpose.")
    return _verdict(True, "queries, keys and values unpacked and transposed, as llm_book.hf does.")


# ----------------------------------------------------------------------------
# 7.4 find the bug: a BPE trainer that counts across word boundaries and breaks ties by accident
# ----------------------------------------------------------------------------
_TEXTS_7_4 = [("low lower lowest slow slower newest widest", 6),
              ("ba ab ba ab ba ab ba ab", 3),
              ("the cat sat on the mat, the rat sat on the hat; then the cat ate the rat.", 12)]


def _merges_7_4(got) -> tuple[list[tuple[tuple[int, int], int]] | None, str | None]:
    """The reader's merges as ``[((a, b), new_id), ...]`` in their order; or a hint."""
    what = "a dict {(id_a, id_b): new_id} of the merges, in the order learned"
    if not isinstance(got, dict):
        return None, f"return {what}, got {_describe(got)}."
    out = []
    for key, value in got.items():
        pair, hint = _int_list(list(key) if isinstance(key, tuple) else key, "a pair of ids")
        if hint or len(pair) != 2:
            return None, f"return {what}; one key is {_describe(key, returned=False)}, not a pair (id_a, id_b)."
        new_id, hint = _number(value, "a new id")
        if hint or new_id != int(new_id):
            return None, f"return {what}; one value is {_describe(value, returned=False)}, not a whole number."
        out.append((tuple(pair), int(new_id)))
    return sorted(out, key=lambda item: item[1]), None      # the order learned is the order of the new ids


def _unweighted_merges_7_4(text: str, n_merges: int) -> list[tuple[tuple[int, int], int]]:
    """The merges learned when every distinct pre-token counts once (a usual slip)."""
    from llm_book.bpe import pair_counts, pre_tokenize

    words = {tuple(w.encode("utf-8")): 1 for w in pre_tokenize(text)}
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts = pair_counts(words)
        top = max(counts.values())
        best = min(p for p, n in counts.items() if n == top)
        merges.append((best, new_id))
        words = {tuple(_merge(list(w), best, new_id)): 1 for w in words}
    return merges


@checker
def check_7_4(train_merges: Callable) -> Verdict:
    """Exercise 7.4: ``train_merges(text, n_merges)`` with its bugs fixed learns ``llm_book.bpe``'s merges."""
    from llm_book.bpe import BPETokenizer, pair_counts, pre_tokenize

    for text, n_merges in _hidden_cases(_TEXTS_7_4, [("banana bandana cabana; a banana band", 5)]):
        expected = list(BPETokenizer.train(text, vocab_size=256 + n_merges).merges.items())
        got, hint = _call(train_merges, text, n_merges)
        if hint:
            return _verdict(False, hint)
        got, hint = _merges_7_4(got)
        if hint:
            return _verdict(False, hint)
        if got == expected:
            continue
        if got == _unweighted_merges_7_4(text, n_merges):
            return _verdict(False, "every distinct word counts once in your pair counts; weight each word's "
                                   "pairs by how often the word occurs in the text.")
        if [new for _, new in got] != list(range(256, 256 + len(got))):
            return _verdict(False, "the new ids should be 256, 257, ... in the order the merges are learned.")
        if len(got) != n_merges:
            return _verdict(False, f"train_merges({text[:20]!r}..., {n_merges}) returned {len(got)} merges; "
                                   f"learn exactly n_merges.")
        step = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        # The words and their pair counts just before the first merge that differs, as llm_book.bpe has them.
        vocab = {i: bytes([i]) for i in range(256)}
        words = {}
        for w in pre_tokenize(text):
            words[tuple(w.encode("utf-8"))] = words.get(tuple(w.encode("utf-8")), 0) + 1
        for (a, b), new_id in expected[:step]:
            vocab[new_id] = vocab[a] + vocab[b]
            words = {tuple(_merge(list(w), (a, b), new_id)): n for w, n in words.items()}
        counts = pair_counts(words)
        unweighted = pair_counts({w: 1 for w in words})
        (pair, new_id), (right_pair, _) = got[step], expected[step]
        if pair[0] not in vocab or pair[1] not in vocab:
            return _verdict(False, f"merge {new_id} joins ids {pair}, which do not exist yet at that step; "
                                   f"merge the ids the text has after the earlier merges.")
        piece = vocab[pair[0]] + vocab[pair[1]]
        shown = piece.decode("utf-8", errors="replace")
        top = counts[right_pair]
        if counts.get(pair, 0) == top:
            return _verdict(False, f"merge {new_id}: {shown!r} is tied with another pair ({top} times each); "
                                   f"break ties as llm_book.bpe does, by the smallest pair of ids "
                                   f"(min over the tied pairs), not by which pair was seen first.")
        if not any(piece in bytes(b"".join(vocab[i] for i in w)) for w in words):
            return _verdict(False, f"merge {new_id} joins {shown!r}, which spans two pre-tokens: count pairs "
                                   f"inside each pre-token (pre_tokenize the text first), never across a "
                                   f"word boundary.")
        if unweighted.get(pair, 0) == max(unweighted.values()):
            return _verdict(False, f"merge {new_id}: {shown!r} wins only if every distinct word counts once; "
                                   f"weight each word's pairs by how often the word occurs.")
        seen = counts.get(pair, 0)
        times = f"{seen} time{'s' if seen != 1 else ''}"
        return _verdict(False, f"merge {new_id}: {shown!r} occurs {times} inside the pre-tokens, but another "
                               f"pair occurs {top} times; count the pairs again after each merge.")
    return _verdict(True, "the same merges as llm_book.bpe: pairs counted inside pre-tokens, ties to the "
                          "smallest pair.")


# ----------------------------------------------------------------------------
# 7.5 predict then check: how many tokens after each of the first merges
# ----------------------------------------------------------------------------
_TEXT_7_5, _STRING_7_5 = "low lower lowest slow slower newest widest", "lowest slowest newest"


def _counts_7_5() -> tuple[list[int], list[list[str]]]:
    from llm_book.bpe import BPETokenizer

    merges = list(BPETokenizer.train(_TEXT_7_5, vocab_size=262).merges.items())
    tokenizers = [BPETokenizer(dict(merges[:k])) for k in range(len(merges) + 1)]
    return [len(t.encode(_STRING_7_5)) for t in tokenizers], [t.tokens(_STRING_7_5) for t in tokenizers]


@checker
def check_7_5(token_counts) -> Verdict:
    """Exercise 7.5: the predicted number of tokens of "lowest slowest newest" after 0, 1, ..., 6 merges
    of the chapter's small tokenizer (a list, or a function of no arguments returning it)."""
    truth, pieces = _counts_7_5()
    if callable(token_counts):
        token_counts, hint = _call(token_counts)
        if hint:
            return _verdict(False, hint)
    what = f"a list of {len(truth)} whole numbers: the token counts after 0, 1, ..., {len(truth) - 1} merges"
    got, hint = _int_list(token_counts, what)
    if hint:
        return _verdict(False, hint)
    if len(got) != len(truth):
        return _verdict(False, f"return {what}; got {len(got)} numbers.")
    if got == truth:
        shown = "·".join(p.replace(" ", "␣") for p in pieces[-1])
        return _verdict(True, f"{truth}; after all six merges: {shown}. Merge 261 (␣low) never applies: "
                              f"merge 260 (␣s) took the space of ' slowest' first.")
    if got[0] != truth[0]:
        return _verdict(False, f"with no merges every byte is one token: count the letters *and* the spaces "
                               f"of {_STRING_7_5!r} (you said {got[0]}).")
    if any(b > a for a, b in zip(got, got[1:])):
        return _verdict(False, "your counts go up somewhere; a merge joins two tokens into one, it never "
                               "adds tokens.")
    step = next(k for k in range(len(truth)) if got[k] != truth[k])
    if step == len(truth) - 1 and got[step] == truth[step] - 1:
        return _verdict(False, "the last count is one too low: in ' slowest' merge 260 (␣s) comes before "
                               "merge 261 (␣low), so the space is taken by then; encoding replays the merges "
                               "in the order they were learned.")
    if got[step] < truth[step]:
        return _verdict(False, f"after {step} merge{'s' if step != 1 else ''} you predict {got[step]} "
                               f"tokens, too few: a merge only joins a pair that is next to each other "
                               f"inside one pre-token ('lowest', ' slowest', ' newest'); write out the "
                               f"pieces after each merge.")
    return _verdict(False, f"after {step} merge{'s' if step != 1 else ''} you predict {got[step]} tokens, "
                           f"too many: merge {255 + step} applies to every pre-token that contains its pair, "
                           f"not only to the first; write out the pieces after each merge.")
