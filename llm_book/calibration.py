"""Calibration: when a model says 30%, does it happen 30% of the time?

A model is *calibrated* (校准) when, among all the predictions it makes with
probability about q, the event happens with frequency about q.  Group the
predictions into bins by q; in each bin compare the mean predicted
probability with the mean truth - the observed frequency (0/1 outcomes), or,
for ``ToyLanguage``, the exact probability.  Plotted, that is a reliability
diagram; the weighted mean gap is the expected calibration error (ECE)::

    ECE = sum_b (weight of bin b / total weight) * |mean predicted_b - mean truth_b|
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_book.threads import runs_model_threads


@dataclass(frozen=True)
class ReliabilityBins:
    """Predictions grouped by predicted probability.

    Attributes:
        edges: ``(n_bins + 1,)`` bin edges from 0 to 1.
        predicted: ``(n_bins,)`` weighted mean predicted probability per bin (NaN for an empty bin).
        observed: ``(n_bins,)`` weighted mean truth per bin (NaN for an empty bin).
        weight: ``(n_bins,)`` total weight per bin (the number of predictions without weights).
    """

    edges: torch.Tensor
    predicted: torch.Tensor
    observed: torch.Tensor
    weight: torch.Tensor

    @property
    def ece(self) -> float:
        """Expected calibration error: the weight-averaged |predicted - observed| over non-empty bins."""
        full = self.weight > 0
        gaps = (self.predicted[full] - self.observed[full]).abs()
        return float((self.weight[full] * gaps).sum() / self.weight[full].sum())


def _flat(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"`{name}` has to be a tensor (or list) of numbers, got {type(x).__name__}") from None
    return x.detach().reshape(-1).to("cpu", torch.float64)  # binned on the CPU, wherever x was


def reliability_bins(predicted, observed, weights=None, n_bins: int = 10) -> ReliabilityBins:
    """Group predictions into ``n_bins`` equal-width bins of predicted probability.

    Args:
        predicted: predicted probabilities, any shape, values in [0, 1].
        observed: the truth for each prediction, same shape: 0/1 outcomes or true probabilities.
        weights: optional non-negative weight per prediction, same shape (e.g. how likely the
            context is); default 1 each.
        n_bins: number of bins.

    Returns:
        ``ReliabilityBins``; its ``.ece`` is the expected calibration error.
    """
    p, o = _flat(predicted, "predicted"), _flat(observed, "observed")
    if p.shape != o.shape:
        raise ValueError(f"`predicted` and `observed` need the same number of values, got {p.numel()} "
                         f"and {o.numel()}")
    if p.numel() == 0:
        raise ValueError("`predicted` is empty; there is nothing to calibrate")
    for name, t in (("predicted", p), ("observed", o)):
        if torch.isnan(t).any() or t.min() < 0 or t.max() > 1:
            raise ValueError(f"`{name}` has to hold probabilities in [0, 1], got values from "
                             f"{t.min().item():.3g} to {t.max().item():.3g}")
    w = torch.ones_like(p) if weights is None else _flat(weights, "weights")
    if w.shape != p.shape or torch.isnan(w).any() or w.min() < 0 or w.sum() <= 0:
        raise ValueError("`weights` has to hold one non-negative weight per prediction, not all zero")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"`n_bins` (={n_bins!r}) has to be a positive integer")
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    index = torch.clamp((p * n_bins).long(), max=n_bins - 1)       # bin of each prediction; 1.0 in the last
    weight = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, w)
    sum_p = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, w * p)
    sum_o = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, w * o)
    empty = weight == 0
    predicted_mean = torch.where(empty, torch.nan, sum_p / weight.clamp(min=1e-300))
    observed_mean = torch.where(empty, torch.nan, sum_o / weight.clamp(min=1e-300))
    return ReliabilityBins(edges, predicted_mean, observed_mean, weight)


def expected_calibration_error(predicted, observed, weights=None, n_bins: int = 10) -> float:
    """ECE of ``reliability_bins(predicted, observed, weights, n_bins)``."""
    return reliability_bins(predicted, observed, weights, n_bins).ece


@runs_model_threads
@torch.no_grad()
def toy_language_logits(model, tokenizer, language):
    """The model's next-word logits beside the exact next-word probabilities, everywhere in the language.

    Every sentence of ``language`` and every position in it that predicts a word
    contributes one row; a row's weight is the sentence's probability, so each
    context counts exactly as often as it occurs in the language.  The exact
    conditionals come from the finite list of sentences:
    P(w | prefix) = P(sentences starting with prefix + w) / P(sentences starting with prefix).

    Returns:
        ``(logits, exact, weights)``, all on the CPU: ``(rows, vocab)`` model logits (float64; apply
        ``softmax(logits / temperature)`` for probabilities), ``(rows, vocab)`` exact
        probabilities (each row sums to 1) and ``(rows,)`` weights.
    """
    from llm_book.model import model_device
    from llm_book.training import lm_batch

    sentences = language.sentences()
    idx, targets = lm_batch([w for w, _ in sentences], tokenizer)      # (S, T)
    was_training = model.training
    model.eval()
    logits = model(idx.to(model_device(model))).logits.double().cpu()  # (S, T, vocab)
    model.train(was_training)

    mass: dict[tuple[str, ...], float] = {}
    for words, prob in sentences:
        for t in range(1, len(words) + 1):
            mass[tuple(words[:t])] = mass.get(tuple(words[:t]), 0.0) + prob
    longest = max(len(words) for words, _ in sentences)
    prefix_row = {prefix: i for i, prefix in enumerate(p for p in mass if len(p) < longest)}
    exact_rows = torch.zeros(len(prefix_row), len(tokenizer), dtype=torch.float64)
    for words, m in mass.items():
        if len(words) > 1:
            exact_rows[prefix_row[words[:-1]], tokenizer.token_to_id[words[-1]]] = m / mass[words[:-1]]

    real = targets != -100                                                  # (S, T): positions that predict
    rows = [prefix_row[tuple(words[:t])] for words, _ in sentences for t in range(1, len(words))]
    weights = torch.tensor([prob for words, prob in sentences], dtype=torch.float64)[:, None].expand_as(real)
    return logits[real], exact_rows[torch.tensor(rows)], weights[real]
