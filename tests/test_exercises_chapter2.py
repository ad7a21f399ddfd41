"""Chapter 2's exercise checkers: right answers pass, typical mistakes get their hint, stubs get a hint."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from llm_book.exercises import check_2_1, check_2_2, check_2_3, check_2_4, check_2_5, check_2_6
from checker_helpers import WRONG_ANSWERS, assert_hint, assert_right, catalogue_tests, expect
from checker_helpers import global_state_kept, short_time_limit  # noqa: F401 (fixtures)

def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("checker", [check_2_1, check_2_2, check_2_3, check_2_4, check_2_5, check_2_6])
def test_stub_gets_the_not_written_yet_hint(checker, capsys):
    assert not checker(stub)
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_2_1, check_2_2, check_2_3, check_2_4, check_2_5, check_2_6])
def test_not_a_function(checker, capsys):
    assert not checker("answer")
    assert "expected a function" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# 2.1 bigram distribution
# ----------------------------------------------------------------------------
def bigram_right(sentences, previous):
    following = Counter(s[i + 1] for s in sentences for i in range(len(s) - 1) if s[i] == previous)
    total = sum(following.values())
    return {w: c / total for w, c in following.items()}


def bigram_counts(sentences, previous):
    return dict(Counter(s[i + 1] for s in sentences for i in range(len(s) - 1) if s[i] == previous))


def bigram_backwards(sentences, previous):
    before = Counter(s[i - 1] for s in sentences for i in range(1, len(s)) if s[i] == previous)
    total = sum(before.values())
    return {w: c / total for w, c in before.items()}


def bigram_over_all_words(sentences, previous):
    following = Counter(s[i + 1] for s in sentences for i in range(len(s) - 1) if s[i] == previous)
    total = sum(len(s) for s in sentences)
    return {w: c / total for w, c in following.items()}


def bigram_lowercase(sentences, previous):
    lowered = [[w.lower() for w in s] for s in sentences]
    return bigram_right(lowered, previous.lower())


def bigram_in_place(sentences, previous):
    sentences.append(["The", "cat", "sat", "<eos>"])
    return bigram_right(sentences, previous)


def test_2_1_right(capsys):
    expect(check_2_1(bigram_right), capsys, True, "Right")


def test_2_1_zero_entries_are_fine(capsys):
    def with_zeros(sentences, previous):
        return {**{w: 0.0 for w in ["mat", "rug", "dog"]}, **bigram_right(sentences, previous)}

    expect(check_2_1(with_zeros), capsys, True)


@pytest.mark.parametrize("answer, phrase", [
    (bigram_counts, "counts, not probabilities"),
    (bigram_backwards, "words *before* it"),
    (bigram_over_all_words, "sum to"),
    (bigram_lowercase, "is off"),
    (bigram_in_place, "changed the sentences"),
    (lambda sentences, previous: [0.5, 0.5], "return a dict"),
])
def test_2_1_mistakes(answer, phrase, capsys):
    expect(check_2_1(answer), capsys, False, phrase)


# ----------------------------------------------------------------------------
# 2.2 embedding layer
# ----------------------------------------------------------------------------
def embedding_right(model, idx):
    return model.wte(idx) + model.wpe(torch.arange(idx.shape[1]))


@pytest.mark.parametrize("answer, phrase", [
    (lambda model, idx: model.wte(idx), "only the token embeddings"),
    (lambda model, idx: model.wpe(torch.arange(idx.shape[1])).expand(idx.shape[0], -1, -1),
     "only the position embeddings"),
    (lambda model, idx: embedding_right(model, idx[:1])[0], "batch axis is missing"),
    (lambda model, idx: model.wte(idx) + model.wpe(torch.arange(1, idx.shape[1] + 1)), "counted from 1"),
    (lambda model, idx: model.wte(idx).sum(-1), "wrong shape"),
    (lambda model, idx: 2 * model.wte(idx) + model.wpe(torch.arange(idx.shape[1])), "wrong values"),
    (lambda model, idx: "embeddings", "return a tensor"),
])
def test_2_2_mistakes(answer, phrase, capsys):
    expect(check_2_2(answer), capsys, False, phrase)


def test_2_2_right(capsys):
    expect(check_2_2(embedding_right), capsys, True, "Right")


# ----------------------------------------------------------------------------
# 2.3 linear probe
# ----------------------------------------------------------------------------
def probe_right(features, labels, num_classes):
    layer = torch.nn.Linear(features.shape[1], num_classes)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(layer(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lambda x: layer(x).argmax(-1)


def test_2_3_right(capsys):
    expect(check_2_3(probe_right), capsys, True, "test accuracy")


def test_2_3_untrained_probe_is_about_chance(capsys):
    def untrained(features, labels, num_classes):
        return lambda x: torch.zeros(len(x), dtype=torch.long)

    expect(check_2_3(untrained), capsys, False, "about chance")


@pytest.mark.parametrize("answer, phrase", [
    (lambda f, y, n: (lambda x: torch.nn.functional.one_hot(x[:, 0].abs().long() % n, n).float()),
     "take the argmax"),
    (lambda f, y, n: (lambda x: torch.zeros(len(x)) + 0.5), "integer class ids"),
    (lambda f, y, n: (lambda x: torch.zeros(3, dtype=torch.long)), "one class id per row"),
    (lambda f, y, n: 0.9, "return a function"),
    (lambda f, y, n: (f.mul_(0), probe_right(f, y, n))[1], "changed the features in place"),
    (lambda f, y, n: (lambda x: 1 / 0), "predict function failed"),
])
def test_2_3_mistakes(answer, phrase, capsys):
    expect(check_2_3(answer), capsys, False, phrase)


def test_2_3_weak_probe_gets_the_train_longer_hint(capsys):
    def weak(features, labels, num_classes):
        # nearest class centre on only the first feature: better than chance, below 0.9
        centres = torch.stack([features[labels == c, 0].mean() for c in range(num_classes)])
        return lambda x: (x[:, :1] - centres[None]).abs().argmin(-1)

    expect(check_2_3(weak), capsys, False, "test accuracy 0.58", "aim for 0.9")


# ----------------------------------------------------------------------------
# Every checker of the chapter: the right answer in several types, the catalogue of wrong answers
# ----------------------------------------------------------------------------
CHECKERS = [check_2_1, check_2_2, check_2_3]
RIGHT_ANSWERS = {check_2_1: bigram_right, check_2_2: embedding_right, check_2_3: probe_right}


test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)


@pytest.mark.parametrize("name", WRONG_ANSWERS)
@pytest.mark.usefixtures("short_time_limit")
def test_2_3_wrong_predict_functions(name, capsys):
    """The function that train_probe returns gets the same catalogue."""
    assert_hint(capsys, check_2_3, lambda f, y, n: WRONG_ANSWERS[name], "predict")


def test_2_1_an_empty_dict_gets_a_hint_not_a_zero_division(capsys):
    assert_hint(capsys, check_2_1, lambda sentences, previous: {}, "the dict is empty")


def test_2_1_a_nan_probability_gets_a_hint(capsys):
    assert_hint(capsys, check_2_1, lambda s, p: {**bigram_right(s, p), "mat": float("nan")}, "'mat'", "nan")


def test_2_2_the_reference_does_not_see_the_readers_edits_of_the_model(capsys):
    assert_hint(capsys, check_2_2, lambda m, i: (m.wpe.weight.data.zero_(), m.wte(i))[1],
                "only the token embeddings")


def test_2_2_a_reader_who_switches_the_model_to_train_mode_is_still_right(capsys):
    assert_right(capsys, check_2_2, lambda m, i: (m.train(), embedding_right(m, i))[1])


def test_2_3_predicting_by_position_is_about_chance(capsys):
    """The test points are shuffled: a point's position says nothing of its class."""
    assert_hint(capsys, check_2_3, lambda f, y, n: (lambda x: torch.arange(len(x)) * n // len(x)), "about chance")


def test_2_3_predict_returning_none_gets_a_hint(capsys):
    assert_hint(capsys, check_2_3, lambda f, y, n: (lambda x: None), "predict", "None")


def test_2_3_whole_numbers_as_floats_are_class_ids_too(capsys):
    assert_right(capsys, check_2_3, lambda f, y, n: (lambda x, p=probe_right(f, y, n): p(x).float()))


# ----------------------------------------------------------------------------
# 2.4 find the bug in causal attention
# ----------------------------------------------------------------------------
import math  # noqa: E402


def attention_with(mask="tril", dim=-1, scale=True, masked=True):
    def causal_attention(x):
        T, C = x.shape[1], x.shape[2]
        scores = x @ x.transpose(1, 2) / (math.sqrt(C) if scale else 1.0)
        if masked:
            keep = torch.ones(T, T, dtype=torch.bool)
            keep = keep.tril() if mask == "tril" else keep.triu()
            scores = scores.masked_fill(~keep, -math.inf)
        return torch.softmax(scores, dim=dim) @ x
    return causal_attention


attention_right = attention_with()


@pytest.mark.parametrize("answer, phrase", [
    (attention_with(mask="triu", dim=1), "the code as given"),
    (attention_with(mask="triu"), "keeps the *later* positions"),
    (attention_with(dim=1), "softmax runs over the queries"),
    (attention_with(masked=False), "no mask at all"),
    (attention_with(scale=False), "not divided by sqrt(C)"),
    (lambda x: attention_right(x)[:, :, :4], "wrong shape"),
    (lambda x: attention_right(x) * 2, "wrong values"),
    (lambda x: (x.mul_(2), attention_right(x))[1], "changed its input in place"),
    (lambda x: torch.softmax(torch.full((2, 6, 6), -math.inf, dtype=x.dtype), -1) @ x, "nan"),
])
def test_2_4_mistakes(answer, phrase, capsys):
    expect(check_2_4(answer), capsys, False, phrase)


def test_2_4_right(capsys):
    expect(check_2_4(attention_right), capsys, True, "Right")


def test_2_4_the_given_buggy_code_gets_the_as_given_hint(capsys):
    def causal_attention(x):   # the exercise's code, verbatim
        B, T, C = x.shape
        scores = x @ x.transpose(1, 2) / math.sqrt(C)
        mask = torch.ones(T, T, dtype=torch.bool).triu()
        weights = torch.softmax(scores.masked_fill(~mask, -math.inf), dim=1)
        return weights @ x

    expect(check_2_4(causal_attention), capsys, False, "the code as given")


# ----------------------------------------------------------------------------
# 2.5 add-k smoothing, derived
# ----------------------------------------------------------------------------
def add_k_right(pair_count, context_count, vocab_size, k):
    return (pair_count + k) / (context_count + k * vocab_size)


@pytest.mark.parametrize("answer, phrase", [
    (lambda c, n, v, k: c / n, "unsmoothed count ratio"),
    (lambda c, n, v, k: (c + k) / (n + k), "denominator grows by k * V"),
    (lambda c, n, v, k: (c + k) / n, "denominator is still N"),
    (lambda c, n, v, k: (c + k * v) / (n + k * v), "numerator is c + k"),
    (lambda c, n, v, k: (c + 2 * k) / (n + k * v), "expected a different probability"),
    (lambda c, n, v, k: "0.1", "one probability"),
])
def test_2_5_mistakes(answer, phrase, capsys):
    expect(check_2_5(answer), capsys, False, phrase)


def test_2_5_right(capsys):
    expect(check_2_5(add_k_right), capsys, True, "Right")


def test_2_5_right_answers_the_unseen_context(capsys):
    # the exercise asks which distribution a context never seen (N = 0) gives: the message answers it
    expect(check_2_5(add_k_right), capsys, True, "uniform distribution")


def test_2_5_a_context_never_seen_gets_a_hint_not_a_zero_division(capsys):
    """c / N with N = 0 raises ZeroDivisionError on the unseen-context case: a hint, not a traceback."""
    def fine_until_an_unseen_context(c, n, v, k):
        return (c + k) / (n + k * v) if n else c / n

    assert_hint(capsys, check_2_5, fine_until_an_unseen_context, "ZeroDivisionError")


# ----------------------------------------------------------------------------
# 2.6 the majority-class baseline
# ----------------------------------------------------------------------------
def majority_right(labels):
    return torch.bincount(labels).max().item() / len(labels)


@pytest.mark.parametrize("answer, phrase", [
    (lambda labels: 0.25, "guessing uniformly at random"),
    (lambda labels: 1 / len(torch.unique(labels)), "guessing uniformly at random"),
    (lambda labels: torch.bincount(labels).max(), "divide by the number of labels"),
    (lambda labels: torch.bincount(labels).argmax(), "the most frequent class itself"),
    (lambda labels: torch.bincount(labels)[torch.bincount(labels) > 0].min() / len(labels), "*least* frequent"),
    (lambda labels: max(Counter(labels).values()) / len(labels), "a class of its own"),
    (lambda labels: 0.5, "expected"),
    (lambda labels: (labels.zero_(), 1.0)[1], "changed the labels in place"),
])
def test_2_6_mistakes(answer, phrase, capsys):
    expect(check_2_6(answer), capsys, False, phrase)


def test_2_6_right_with_a_counter_of_plain_ints(capsys):
    expect(check_2_6(lambda labels: max(Counter(labels.tolist()).values()) / len(labels)), capsys, True, "0.39")


CHECKERS += [check_2_4, check_2_5, check_2_6]
RIGHT_ANSWERS.update({check_2_4: attention_right, check_2_5: add_k_right, check_2_6: majority_right})
test_right_answer_in_every_type, test_wrong_answer_catalogue = catalogue_tests(CHECKERS, RIGHT_ANSWERS)
