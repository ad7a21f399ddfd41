"""What every exercise checker shares: the verdict it returns, and safe calls of the reader's code."""

from __future__ import annotations

from collections.abc import Callable

import torch

RIGHT = "✅ Right!"
NOT_YET = "❌ Not yet:"


class Verdict:
    """A checker's answer: true when right; ``message`` is the line it printed."""

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = ok
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """Already printed: show nothing more when it is a cell's last value."""


def _report(ok: bool, message: str) -> Verdict:
    line = f"{RIGHT if ok else NOT_YET} {message}"
    print(line)
    return Verdict(ok, line)


def _call(fn: Callable, *args):
    """Run the reader's function; return (result, None) or (None, hint)."""
    if not callable(fn):
        return None, f"expected a function, got {type(fn).__name__}; pass the function itself, not its result."
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "the function is not written yet (it raises NotImplementedError); replace the stub with your code."
    except Exception as err:  # the reader's code failed: say how, briefly
        return None, f"your function raised {type(err).__name__}: {err}"


def _as_tensor(x) -> torch.Tensor | None:
    try:
        return torch.as_tensor(x, dtype=torch.float64)
    except Exception:
        return None
