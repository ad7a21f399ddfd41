"""Checks for numeric arguments, shared by the methods modules.

A count may arrive as ``3`` or ``np.int64(3)``; a rate as ``0.5``, ``np.float32(0.5)`` or ``Fraction(1, 2)``.  They are all
numbers (``numbers.Integral`` / ``numbers.Real``) and are accepted; ``True``,
strings, tensors and ``None`` are not.  Messages name the argument, the value
received and what is allowed, e.g.
"`k` (=0) has to be an integer >= 1 (the number of tokens kept)".
"""

from __future__ import annotations

import math
import numbers


def _type_hint(value) -> str:
    """Why a value of the wrong type was refused, with a hint for a 0-d tensor or array."""
    kind = type(value).__name__
    if type(value).__name__ in ("Tensor", "ndarray") and getattr(value, "ndim", None) == 0:
        return f"got a 0-d {kind}; pass a plain number, e.g. `.item()`"
    return f"got {kind}"


def check_int(name: str, value, what: str, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """``value`` as a Python ``int`` if it is an integer (not a bool) in ``[minimum, maximum]``.

    Args:
        name: the argument's name, as the caller spells it.
        what: what is allowed, e.g. "an integer >= 1 (the number of tokens kept)".

    Raises:
        TypeError: for a bool or anything that is not an integer.
        ValueError: for an integer out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` (={value!r}) has to be {what}; {_type_hint(value)}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"`{name}` (={value!r}) has to be {what}")
    return number


def check_real(name: str, value, what: str, minimum: float | None = None,
               maximum: float | None = None, min_inclusive: bool = True,
               max_inclusive: bool = True, finite: bool = True) -> float:
    """``value`` as a Python ``float`` if it is a real number (not a bool) in range.

    NaN is always refused; infinities unless ``finite=False``.

    Raises:
        TypeError: for a bool or anything that is not a real number.
        ValueError: for NaN, an infinity (with ``finite=True``) or a number out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` (={value!r}) has to be {what}; {_type_hint(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf if value > 0 else -math.inf
    bad = math.isnan(number) or (finite and math.isinf(number))
    if minimum is not None:
        bad = bad or (number < minimum if min_inclusive else number <= minimum)
    if maximum is not None:
        bad = bad or (number > maximum if max_inclusive else number >= maximum)
    if bad:
        raise ValueError(f"`{name}` (={value!r}) has to be {what}")
    return number


def check_model_and_tokenizer(model, tokenizer, hint: str = "") -> None:
    """Refuse a model that is not a GPT, a tokenizer that is not a ``WordTokenizer``, or a pair whose
    vocabularies differ: a model can only read the ids of the tokenizer it was trained with.

    Args:
        hint: added to the vocabulary message, e.g. "(e.g. `load_qa_gpt()` returns both)".
    """
    from llm_book.tokenizer import WordTokenizer

    if not isinstance(tokenizer, WordTokenizer):
        raise TypeError(f"`tokenizer` has to be a WordTokenizer, got {type(tokenizer).__name__}")
    config = getattr(model, "config", None)
    if not hasattr(config, "vocab_size") or not hasattr(config, "block_size"):
        raise TypeError(f"`model` has to be a GPT (with a `config` giving vocab_size and block_size), "
                        f"got {type(model).__name__}")
    if config.vocab_size != len(tokenizer):
        raise ValueError(f"the tokenizer has {len(tokenizer)} words but the model's config.vocab_size is "
                         f"{config.vocab_size}; use the tokenizer the model was trained with"
                         + (f" {hint}" if hint else ""))
