"""Real English text that every Python installation has, as a character-level corpus.

``pydoc_data.topics`` holds the text of Python's documentation topics (about
465,000 characters of English prose and code).  It needs no download, so the
book can train on real text offline.

Example:
    >>> corpus = CharCorpus.from_text("abracadabra", val_every=2, chunk=3)
    >>> corpus.decode(corpus.encode("cab"))
    'cab'
"""

from __future__ import annotations

import torch


def pydoc_text() -> str:
    """The topics of ``pydoc_data.topics`` joined by newlines, in sorted key order (deterministic)."""
    from pydoc_data.topics import topics

    return "\n".join(topics[key] for key in sorted(topics))


class CharCorpus:
    """A text as one id per character, split into a training part and a held-out part.

    The text is cut into chunks of ``chunk`` characters and every ``val_every``-th
    chunk is held out for validation (never trained on).  Interleaving keeps both
    parts alike: the last 10% of a text alone can differ from the rest.

    Attributes:
        chars: the vocabulary, every distinct character in sorted order.
        train, val: 1-D tensors of character ids (the chunks of each part, concatenated).
    """

    def __init__(self, text: str, val_every: int = 10, chunk: int = 1000) -> None:
        if not isinstance(text, str) or len(text) < 2:
            raise ValueError("`text` has to be a string of at least 2 characters")
        for name, value, low in (("val_every", val_every, 2), ("chunk", chunk, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"`{name}` (={value!r}) has to be an integer >= {low}")
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        data = torch.tensor([self.stoi[c] for c in text], dtype=torch.long)
        pieces = data.split(chunk)
        held_out = [i % val_every == val_every - 1 for i in range(len(pieces))]
        if not any(held_out):
            raise ValueError(f"the text ({len(text)} characters) is too short to hold out every "
                             f"{val_every}th chunk of {chunk} characters")
        self.train = torch.cat([p for p, out in zip(pieces, held_out) if not out])
        self.val = torch.cat([p for p, out in zip(pieces, held_out) if out])

    @classmethod
    def from_text(cls, text: str, val_every: int = 10, chunk: int = 1000) -> CharCorpus:
        return cls(text, val_every, chunk)

    @classmethod
    def pydoc(cls, val_every: int = 10, chunk: int = 1000) -> CharCorpus:
        """The corpus of ``pydoc_text()``."""
        return cls(pydoc_text(), val_every, chunk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Characters to ids; a character the corpus never saw raises ``ValueError``."""
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise ValueError(f"`text` has characters the corpus does not know: {unknown[:5]}")
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        """Ids (a list or 1-D tensor) back to text."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)

    def batch(self, split: str, batch_size: int, block_size: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` random windows of ``block_size`` characters and the same windows shifted by one.

        Returns:
            ``(x, y)``, both ``(batch_size, block_size)``: y[:, t] is the character after x[:, t].
        """
        if split not in ("train", "val"):
            raise ValueError(f"`split` (={split!r}) has to be 'train' or 'val'")
        data = self.train if split == "train" else self.val
        for name, value in (("batch_size", batch_size), ("block_size", block_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` (={value!r}) has to be a positive integer")
        if block_size >= len(data):
            raise ValueError(f"`block_size` (={block_size}) has to be shorter than the {split} text "
                             f"({len(data)} characters)")
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        offsets = torch.arange(block_size)
        x = data[starts[:, None] + offsets]          # (B, T)
        y = data[starts[:, None] + offsets + 1]      # (B, T): the next character at every position
        return x, y

    def __repr__(self) -> str:
        return (f"CharCorpus({self.vocab_size} characters, train {len(self.train):,}, "
                f"validation {len(self.val):,})")
