"""WordTokenizer: words to ids and back."""

from __future__ import annotations

import pytest
import torch

from llm_book.tokenizer import WordTokenizer

VOCAB = ["The", "cat", "sat", "<eos>"]


@pytest.fixture
def tok() -> WordTokenizer:
    return WordTokenizer(VOCAB)


def test_ids_are_positions_in_the_vocabulary(tok):
    assert tok.encode(["The", "cat"]) == [0, 1]
    assert tok.decode([0, 2, 3]) == ["The", "sat", "<eos>"]
    assert tok.eos_id == 3 and tok.eos == "<eos>"
    assert len(tok) == tok.vocab_size == 4


def test_round_trip_on_the_toy_language(lang, toy_tokenizer):
    for words in lang.sample(100, seed=0):
        ids = toy_tokenizer.encode(words)
        assert all(0 <= i < len(toy_tokenizer) for i in ids)
        assert toy_tokenizer.decode(ids) == words
    assert toy_tokenizer.decode(toy_tokenizer.encode(lang.vocab)) == lang.vocab


def test_decode_accepts_a_tensor(tok):
    assert tok.decode(torch.tensor([0, 1, 2, 3])) == VOCAB
    assert tok.decode(torch.tensor([2, 2], dtype=torch.int32)) == ["sat", "sat"]


def test_custom_eos():
    tok = WordTokenizer(["a", "b", "END"], eos="END")
    assert tok.eos_id == 2


def test_unknown_word(tok):
    with pytest.raises(ValueError, match=r"unknown word 'dog' in `words`; the vocabulary has 4 words"):
        tok.encode(["The", "dog"])


def test_string_instead_of_words(tok):
    with pytest.raises(TypeError, match=r"`words` has to be a list of words.*'The cat'\.split\(\)"):
        tok.encode("The cat")


@pytest.mark.parametrize("bad", [4, -1, 1.0, True])
def test_bad_id(tok, bad):
    with pytest.raises(ValueError, match=rf"id {bad!r} in `ids` is not a token id; ids run from 0 to 3"):
        tok.decode([0, bad])


def test_duplicate_vocab():
    with pytest.raises(ValueError, match=r"`vocab` has duplicate words \['cat'\]"):
        WordTokenizer(["The", "cat", "cat", "<eos>"])


def test_eos_not_in_vocab():
    with pytest.raises(ValueError, match=r"`eos` \(='<end>'\) has to be one of the words in `vocab`"):
        WordTokenizer(VOCAB, eos="<end>")


def test_vocab_is_copied():
    vocab = list(VOCAB)
    tok = WordTokenizer(vocab)
    vocab.append("dog")
    assert len(tok) == 4


def test_repr(tok):
    assert repr(tok) == "WordTokenizer(4 words, eos='<eos>')"


# ----------------------------------------------------------------------------
# CharTokenizer: one id per character (the character model of Chapter 5b)
# ----------------------------------------------------------------------------
from llm_book.tokenizer import CharTokenizer  # noqa: E402


def test_char_tokenizer_round_trip():
    tok = CharTokenizer(sorted(set("hello world")))
    assert tok.encode("hold") == [tok.chars.index(c) for c in "hold"]
    assert tok.decode(tok.encode("hello world")) == "hello world"
    assert tok.decode(torch.tensor(tok.encode("low"))) == "low"
    assert len(tok) == tok.vocab_size == 8 and repr(tok) == "CharTokenizer(8 characters)"


@pytest.mark.parametrize("chars, pattern", [
    ("", r"`chars` has to be a non-empty sequence of single characters"),
    (["ab", "c"], r"`chars` has to be a non-empty sequence of single characters"),
    ("abca", r"`chars` has duplicate characters \['a'\]"),
])
def test_char_tokenizer_refuses_a_bad_alphabet(chars, pattern):
    with pytest.raises(ValueError, match=pattern):
        CharTokenizer(chars)


def test_char_tokenizer_errors_name_the_problem():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"`text` has characters outside the tokenizer's 3-character "
                                         r"alphabet: \['x', 'z'\]"):
        tok.encode("axz")
    with pytest.raises(TypeError, match=r"`text` has to be a string, got list"):
        tok.encode(["a"])
    with pytest.raises(ValueError, match=r"id 3 in `ids` is not a token id; ids run from 0 to 2"):
        tok.decode([0, 3])
