"""Reliability bins and ECE on hand-made numbers; the toy language's exact conditionals."""

import math

import pytest
import torch

from llm_book.calibration import expected_calibration_error, reliability_bins, toy_language_logits


def test_bins_on_hand_made_predictions():
    predicted = torch.tensor([0.05, 0.15, 0.15, 0.95, 1.0])
    observed = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0])
    bins = reliability_bins(predicted, observed, n_bins=10)
    assert bins.weight.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins.predicted[1].item() == pytest.approx(0.15) and bins.observed[1].item() == pytest.approx(0.5)
    assert math.isnan(bins.predicted[5].item()) and math.isnan(bins.observed[5].item())
    assert bins.observed[9].item() == 1.0, "a prediction of exactly 1.0 goes into the last bin"
    expected = (1 * 0.05 + 2 * 0.35 + 2 * abs(0.975 - 1.0)) / 5
    assert bins.ece == pytest.approx(expected)
    assert expected_calibration_error(predicted, observed) == pytest.approx(expected)


def test_perfect_calibration_has_zero_error_and_weights_count():
    p = torch.tensor([0.2, 0.2, 0.7])
    assert expected_calibration_error(p, p) == 0.0
    # two predictions, the second weighted three times as much
    got = expected_calibration_error([0.1, 0.9], [0.3, 0.5], weights=[1.0, 3.0], n_bins=2)
    assert got == pytest.approx((1 * 0.2 + 3 * 0.4) / 4)


def test_inputs_are_not_changed_and_shapes_may_differ():
    p = torch.rand(4, 3, generator=torch.Generator().manual_seed(0))
    before = p.clone()
    bins = reliability_bins(p, p.reshape(-1), n_bins=5)
    assert torch.equal(p, before) and bins.weight.sum() == 12


@pytest.mark.parametrize("kwargs, message", [
    ({"predicted": [0.5, 1.5], "observed": [0, 1]}, r"`predicted` has to hold probabilities in \[0, 1\]"),
    ({"predicted": [0.5, 0.5], "observed": [0, 2]}, r"`observed` has to hold probabilities in \[0, 1\]"),
    ({"predicted": [0.5], "observed": [0, 1]}, r"need the same number of values, got 1 and 2"),
    ({"predicted": [], "observed": []}, r"`predicted` is empty"),
    ({"predicted": [0.5], "observed": [1], "weights": [-1.0]}, r"`weights` has to hold one non-negative weight"),
    ({"predicted": [0.5], "observed": [1], "n_bins": 0}, r"`n_bins` \(=0\) has to be a positive integer"),
    ({"predicted": "high", "observed": [1]}, r"`predicted` has to be a tensor \(or list\) of numbers, got str"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        reliability_bins(**kwargs)


def test_toy_language_exact_conditionals_match_the_language(toy_gpt, lang):
    model, tokenizer = toy_gpt
    logits, exact, weights = toy_language_logits(model, tokenizer, lang)
    sentences = lang.sentences()
    assert len(weights) == sum(len(w) - 1 for w, _ in sentences)
    assert torch.allclose(exact.sum(-1), torch.ones(len(exact), dtype=torch.float64))
    assert weights.sum().item() == pytest.approx(sum(p * (len(w) - 1) for w, p in sentences))
    words = sentences[123][0]
    start = sum(len(w) - 1 for w, _ in sentences[:123])
    for t in range(1, len(words)):
        truth = lang.next_token_probs(words[:t])
        row = exact[start + t - 1]
        assert all(row[tokenizer.token_to_id[w]].item() == pytest.approx(p) for w, p in truth.items())
    with torch.no_grad():
        direct = model(torch.tensor([tokenizer.encode(words)])).logits[0, :-1].double()
    assert torch.allclose(logits[start:start + len(words) - 1], direct, atol=1e-5)
    confidence = torch.softmax(logits, -1).max(-1)
    truth = exact.gather(1, confidence.indices[:, None]).squeeze(1)
    assert reliability_bins(confidence.values, truth, weights).ece < 0.05, "the shipped model is well calibrated"
