"""llm_book: the small shared package that every chapter of *LLM Book* imports.

Layers (arrows point down only):

* core: ``language`` (ToyLanguage), ``tokenizer``, ``attention``, ``model``
* methods: ``probability``, ``sampling``, ``training``, ``pretrained``, ...
* views: ``plotting``, ``widgets``, ``exercises``

Importing ``llm_book`` is cheap; submodules are imported by name.
"""

from __future__ import annotations

import random

__version__ = "0.1.0"

__all__ = ["set_seed", "__version__"]


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch, so a notebook gives the same results each run."""
    from llm_book._checks import check_int

    seed = check_int("seed", seed, "an integer from 0 to 2**32 - 1", minimum=0, maximum=2**32 - 1)
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
