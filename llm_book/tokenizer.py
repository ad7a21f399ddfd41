"""Tokenizers: words (or characters) to integer ids and back.

A language model sees numbers, not words.  For the toy language one id per
word is enough (``WordTokenizer``); the character model of Chapter 5 uses one
id per character (``CharTokenizer``); Chapter 7 builds a byte-pair-encoding
tokenizer for real text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class WordTokenizer:
    """Maps each word of a fixed vocabulary to its position in that vocabulary.

    Example:
        >>> tok = WordTokenizer(["The", "cat", "sat", "<eos>"])
        >>> tok.encode(["The", "cat"])
        [0, 1]
        >>> tok.decode([0, 2, 3])
        ['The', 'sat', '<eos>']
    """

    def __init__(self, vocab: Sequence[str], eos: str = "<eos>") -> None:
        vocab = list(vocab)
        if len(set(vocab)) != len(vocab):
            duplicates = sorted({w for w in vocab if vocab.count(w) > 1})
            raise ValueError(f"`vocab` has duplicate words {duplicates}; each word needs one id")
        if eos not in vocab:
            raise ValueError(f"`eos` (={eos!r}) has to be one of the words in `vocab`")
        self.vocab = vocab
        self.eos = eos
        self.token_to_id = {word: i for i, word in enumerate(vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def eos_id(self) -> int:
        return self.token_to_id[self.eos]

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, words: Iterable[str]) -> list[int]:
        """Words to ids; an unknown word raises ``ValueError`` naming it."""
        if isinstance(words, str):
            raise TypeError(
                f"`words` has to be a list of words, got the string {words!r}; "
                f"split it first, e.g. {words!r}.split()"
            )
        ids = []
        for word in words:
            if word not in self.token_to_id:
                raise ValueError(
                    f"unknown word {word!r} in `words`; the vocabulary has {len(self.vocab)} "
                    f"words: {self.vocab}"
                )
            ids.append(self.token_to_id[word])
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids (a list or a 1-D tensor) to words; an id outside the vocabulary raises ``ValueError``."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        words = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.vocab):
                raise ValueError(
                    f"id {i!r} in `ids` is not a token id; ids run from 0 to {len(self.vocab) - 1}"
                )
            words.append(self.vocab[i])
        return words

    def __repr__(self) -> str:
        return f"WordTokenizer({len(self.vocab)} words, eos={self.eos!r})"


class CharTokenizer:
    """Maps each character of a fixed alphabet to its position in that alphabet.

    Example:
        >>> tok = CharTokenizer("abc ")
        >>> tok.encode("cab a")
        [2, 0, 1, 3, 0]
        >>> tok.decode([0, 1, 3])
        'ab '
    """

    def __init__(self, chars) -> None:
        chars = list(chars)
        if not chars or any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("`chars` has to be a non-empty sequence of single characters")
        if len(set(chars)) != len(chars):
            raise ValueError(f"`chars` has duplicate characters {sorted({c for c in chars if chars.count(c) > 1})}")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """A string to ids; a character outside the alphabet raises ``ValueError`` naming it."""
        if not isinstance(text, str):
            raise TypeError(f"`text` has to be a string, got {type(text).__name__}")
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise ValueError(f"`text` has characters outside the tokenizer's {len(self.chars)}-character "
                             f"alphabet: {unknown[:5]}")
        return [self.stoi[c] for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (a list or a 1-D tensor) to a string."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.chars):
                raise ValueError(f"id {i!r} in `ids` is not a token id; ids run from 0 to {len(self.chars) - 1}")
            out.append(self.chars[i])
        return "".join(out)

    def __repr__(self) -> str:
        return f"CharTokenizer({len(self.chars)} characters)"
