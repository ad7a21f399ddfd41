"""Landmark language models: published sizes, with a source for every number.

The article names the GPT series, BERT, T5 and the Switch Transformer;
``llm_book/data/landmark_models.json`` lists them and some successors
(Chinchilla, PaLM, LLaMA, Llama 2 and 3, Mixtral, DeepSeek-V3) with their year,
architecture type, parameter count and number of training tokens.  A number
that was never published (GPT-4's size, for one) is ``None``, and its source
entry says "not published"; nothing is estimated.

The compute rule of thumb turns parameters N and training tokens D into
training FLOPs::

    C ~ 6 N D      (2 N D for the forward pass, 4 N D for the backward pass)

Example:
    >>> gpt3 = landmark("GPT-3")
    >>> f"{training_flops(gpt3.parameters, gpt3.training_tokens):.2e}"
    '3.15e+23'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

LANDMARKS_PATH = Path(__file__).parent / "data" / "landmark_models.json"

ARCHITECTURES = ("decoder-only", "encoder-only", "encoder-decoder", "mixture of experts")
NUMBER_FIELDS = ("parameters", "active_parameters", "training_tokens", "reported_training_flops")
# What a source entry of a missing number starts with.
MISSING = ("not published", "not recorded")


@dataclass(frozen=True)
class LandmarkModel:
    """One model of the table.  Numbers are ``None`` where not published.

    Attributes:
        name, organisation, year: as announced.
        architecture: one of ``ARCHITECTURES``, or None (not published).
        parameters: total parameter count.
        active_parameters: parameters used per token (mixture-of-experts models only).
        training_tokens: tokens processed in pre-training.
        reported_training_flops: training compute as reported by the authors.
        sources: ``{field: source}``; "ibid." refers to the paper given for ``year``.
        month: month of the first public paper or announcement (1-12), or None if not recorded.
    """

    name: str
    organisation: str
    year: int
    architecture: str | None
    parameters: int | None
    active_parameters: int | None
    training_tokens: int | None
    reported_training_flops: float | None
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    month: int | None = None

    @property
    def date(self) -> float:
        """The release date as a fractional year (the middle of its month: June 2018 -> 2018.46).

        Without a month, the middle of the year.
        """
        return self.year + ((self.month - 0.5) / 12 if self.month is not None else 0.5)

    def source(self, name: str) -> str:
        """The source of field ``name``, with a leading "ibid." spelled out."""
        if name not in self.sources:
            raise ValueError(f"`name` (={name!r}) has no source; fields with sources: {sorted(self.sources)}")
        text = self.sources[name]
        if text.startswith("ibid."):
            text = self.sources["year"] + text[len("ibid."):]
        return text

    @property
    def compute_parameters(self) -> int | None:
        """The parameters one token passes through: active ones for a mixture of experts."""
        return self.active_parameters if self.active_parameters is not None else self.parameters

    @property
    def estimated_training_flops(self) -> float | None:
        """6 N D with N = ``compute_parameters`` and D = ``training_tokens``; None if either is missing."""
        if self.compute_parameters is None or self.training_tokens is None:
            return None
        return training_flops(self.compute_parameters, self.training_tokens)


def _check_entry(entry: dict) -> LandmarkModel:
    name = entry.get("name", "?")
    sources = entry.get("sources", {})
    if entry.get("architecture") is not None and entry["architecture"] not in ARCHITECTURES:
        raise ValueError(f"{name}: architecture {entry['architecture']!r} is not one of {ARCHITECTURES}")
    for key in ("year", "architecture") + NUMBER_FIELDS:
        value = entry.get(key)
        text = sources.get(key, "")
        if value is not None and (not text or text.startswith(MISSING)):
            raise ValueError(f"{name}: `{key}` (={value!r}) has no source")
        if value is None and key != "reported_training_flops" and key != "active_parameters" \
                and not text.startswith(MISSING):
            raise ValueError(f"{name}: `{key}` is missing; its source entry has to say 'not published' "
                             f"or 'not recorded'")
    month = entry.get("month")
    if month is not None:
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise ValueError(f"{name}: `month` (={month!r}) has to be a whole number from 1 to 12, or null")
        if not sources.get("month"):
            raise ValueError(f"{name}: `month` (={month!r}) has no source")
    return LandmarkModel(**{k: entry[k] for k in ("name", "organisation", "year", "architecture")
                            + NUMBER_FIELDS}, sources=dict(sources), month=month)


def load_landmarks(path: Path | str = LANDMARKS_PATH) -> list[LandmarkModel]:
    """The table of landmark models, in the order of the file (by year).

    Every number is checked to have a source, and every missing number to say
    why it is missing; a file that breaks this raises ``ValueError``.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [_check_entry(entry) for entry in data["models"]]


def landmark(name: str) -> LandmarkModel:
    """The model called ``name`` (e.g. "GPT-3")."""
    models = {m.name: m for m in load_landmarks()}
    if name not in models:
        raise ValueError(f"`name` (={name!r}) is not in the table; it has {list(models)}")
    return models[name]


def training_flops(parameters: float, tokens: float) -> float:
    """Training compute by the rule of thumb C = 6 N D.

    Each token costs about 2 FLOPs per parameter in the forward pass (one
    multiply and one add) and about 4 in the backward pass (gradients for the
    activations and for the weights).  Attention over the context adds a little
    more, which the rule ignores.

    Args:
        parameters: N, the parameters each token passes through.
        tokens: D, the number of training tokens.

    Returns:
        FLOPs (floating-point operations), a float.
    """
    for name, value in (("parameters", parameters), ("tokens", tokens)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value <= 0:
            raise ValueError(f"`{name}` (={value!r}) has to be a positive number")
    return 6.0 * float(parameters) * float(tokens)


def format_count(value: float | None, missing: str = "not published") -> str:
    """A count in words a table can hold: 117000000 -> '117M', 1.4e12 -> '1.4T', None -> ``missing``.

    Example:
        >>> format_count(175e9), format_count(65.2e9), format_count(3.14e23), format_count(None)
        ('175B', '65.2B', '3.14e+23', 'not published')
    """
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"`value` (={value!r}) has to be a non-negative number or None")
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            if value >= 1000 * size and suffix == "T":
                return f"{value:.3g}"
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"
