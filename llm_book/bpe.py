"""Byte-pair encoding (BPE, 字节对编码): how GPT-2 and most LLMs cut text into tokens.

Training, in four steps:

1. Split the text into *pre-tokens* with GPT-2's pattern: words with their
   leading space (" cat"), numbers, runs of punctuation, runs of whitespace.
   Merges never cross these boundaries.
2. Write every pre-token as its UTF-8 bytes: ids 0..255.  Any text can be
   written this way, so there is never an unknown token.
3. Count every pair of adjacent ids (weighted by how often each pre-token
   occurs) and *merge* the most frequent pair into a new id 256, 257, ...
4. Repeat step 3 until the vocabulary has ``vocab_size`` ids.

Encoding new text replays the merges in the order they were learned (the
earliest-learned pair first), like minGPT's ``bpe.py`` and GPT-2's encoder.

Example:
    >>> tok = BPETokenizer.train("low low low lower lowest", vocab_size=260)
    >>> tok.decode(tok.encode("slow lower"))
    'slow lower'
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

# GPT-2's pre-tokenizer pattern, written for Python's ``re`` (which lacks \p{L} and \p{N}):
# [^\W\d_] is "a letter", and (?:[^\s\w]|_) is "neither space, letter nor digit".
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
_SPLIT = re.compile(GPT2_SPLIT_PATTERN)


def pre_tokenize(text: str) -> list[str]:
    """Split text into GPT-2's pre-tokens; joining them gives the text back.

    Example:
        >>> pre_tokenize("The cat's mat, 2 cats.")
        ['The', ' cat', "'s", ' mat', ',', ' 2', ' cats', '.']
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` has to be a str, got {type(text).__name__}")
    return _SPLIT.findall(text)


def pair_counts(words: dict[tuple[int, ...], int]) -> Counter:
    """How often each adjacent pair of ids occurs, each word weighted by its count."""
    counts: Counter = Counter()
    for word, n in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] += n
    return counts


def merge(ids: tuple[int, ...] | list[int], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every occurrence of ``pair`` in ``ids`` (left to right, no overlaps) with ``new_id``.

    Example:
        >>> merge((1, 1, 1, 2), (1, 1), 9)
        (9, 1, 2)
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return tuple(out)


class BPETokenizer:
    """A byte-level BPE tokenizer: 256 byte tokens plus the learned merges.

    Attributes:
        merges: ``{(id_a, id_b): new_id}`` in the order learned (new ids 256, 257, ...).
        vocab: ``{id: bytes}``, what each id stands for.
    """

    def __init__(self, merges: dict[tuple[int, int], int]) -> None:
        self.merges = dict(merges)
        self.vocab = {i: bytes([i]) for i in range(256)}
        for (a, b), new_id in self.merges.items():
            if new_id != len(self.vocab) or a not in self.vocab or b not in self.vocab:
                raise ValueError(f"`merges` has to give ids 256, 257, ... in order, each merging two "
                                 f"earlier ids; ({a}, {b}) -> {new_id} does not")
            self.vocab[new_id] = self.vocab[a] + self.vocab[b]
        self._cache: dict[str, tuple[int, ...]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int, min_count: int = 2) -> BPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``text``.

        Args:
            text: the training text.
            vocab_size: 256 byte tokens plus the number of merges wanted (>= 256).
            min_count: stop early when the most frequent pair occurs fewer times than this.

        Returns:
            the trained tokenizer (its vocabulary can be smaller than ``vocab_size`` when
            the text runs out of pairs that occur ``min_count`` times).
        """
        if not isinstance(text, str):
            raise TypeError(f"`text` has to be a str, got {type(text).__name__}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(f"`vocab_size` (={vocab_size!r}) has to be an integer >= 256 "
                             f"(the 256 byte tokens plus the merges)")
        # Steps 1-2: distinct pre-tokens as byte tuples, with their counts.
        words = Counter(tuple(w.encode("utf-8")) for w in pre_tokenize(text))
        word_ids = list(words)                      # word index -> current ids of that word
        word_count = [words[w] for w in word_ids]
        counts = pair_counts(words)
        where = defaultdict(set)                    # pair -> indices of the words that contain it
        for i, word in enumerate(word_ids):
            for pair in zip(word, word[1:]):
                where[pair].add(i)

        merges: dict[tuple[int, int], int] = {}
        for new_id in range(256, vocab_size):
            if not counts:
                break
            # Step 3: the most frequent pair; ties go to the smallest pair of ids.
            top = max(counts.values())
            if top < min_count:
                break
            best = min(pair for pair, n in counts.items() if n == top)
            merges[best] = new_id
            # Merge it in the words that contain it, updating the pair counts of those words only.
            for i in where.pop(best):
                old = word_ids[i]
                new = merge(old, best, new_id)
                for pair in zip(old, old[1:]):
                    counts[pair] -= word_count[i]
                for pair in zip(new, new[1:]):
                    counts[pair] += word_count[i]
                    where[pair].add(i)
                word_ids[i] = new
            for pair in [p for p, n in counts.items() if n <= 0]:
                del counts[pair]
        return cls(merges)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _encode_word(self, word: str) -> tuple[int, ...]:
        if word not in self._cache:
            ids = tuple(word.encode("utf-8"))
            while len(ids) > 1:
                # The pair that was learned first (smallest new id) is merged first.
                pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
                if pair not in self.merges:
                    break
                ids = merge(ids, pair, self.merges[pair])
            self._cache[word] = ids
        return self._cache[word]

    def encode(self, text: str) -> list[int]:
        """Text to token ids."""
        return [i for word in pre_tokenize(text) for i in self._encode_word(word)]

    def decode(self, ids) -> str:
        """Token ids (a list or 1-D tensor) back to text; invalid UTF-8 becomes '�'."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        bad = [i for i in ids if i not in self.vocab]
        if bad:
            raise ValueError(f"id {bad[0]!r} in `ids` is not a token id; ids run from 0 to {self.vocab_size - 1}")
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """The pieces ``text`` is cut into, as strings (a piece that splits a character shows '�')."""
        return [self.vocab[i].decode("utf-8", errors="replace") for i in self.encode(text)]

    def __repr__(self) -> str:
        return f"BPETokenizer({self.vocab_size} tokens: 256 bytes + {len(self.merges)} merges)"
