"""The byte-pair-encoding trainer: known merges on hand-made text, lossless round trips, GPT-2's pre-tokens."""

import pytest

from llm_book.bpe import BPETokenizer, merge, pair_counts, pre_tokenize

A, B, C, D = 97, 98, 99, 100  # the bytes of "a", "b", "c", "d"


def test_merge_goes_left_to_right_without_overlaps():
    assert merge((A, A, A, B), (A, A), 256) == (256, A, B)
    assert merge((A, A, A, A), (A, A), 256) == (256, 256)
    assert merge([A, B, A, B], (A, B), 7) == (7, 7)
    ids = [A, B]
    merge(ids, (A, B), 7)
    assert ids == [A, B], "merge must not change its input"


def test_pair_counts_are_weighted_by_word_counts():
    counts = pair_counts({(A, B, A): 3, (A, B): 1})
    assert counts == {(A, B): 4, (B, A): 3}


def test_the_classic_example_learns_aa_then_ab_then_their_merge():
    # Wikipedia's "aaabdaaabac": aa -> Z, ab -> Y (a tie with Z a, broken towards the smaller pair), Z Y -> X.
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=300)
    assert tok.merges == {(A, A): 256, (A, B): 257, (256, 257): 258}, "then no pair occurs twice: stop"
    assert tok.vocab[258] == b"aaab"
    assert tok.encode("aaabdaaabac") == [258, D, 258, A, C]


def test_words_keep_their_leading_space_and_merges_stay_inside_words():
    tok = BPETokenizer.train("low low low lower lowest", vocab_size=260)
    learned = [tok.vocab[i] for i in sorted(tok.merges.values())]
    assert learned == [b"lo", b"low", b" low", b" lowe"]
    assert tok.tokens("low lowest") == ["low", " lowe", "s", "t"]
    assert all(b" " not in piece[1:] for piece in tok.vocab.values()), "no merge crosses a word boundary"


def test_vocab_size_caps_the_number_of_merges():
    tok = BPETokenizer.train("low low low lower lowest", vocab_size=258)
    assert tok.vocab_size == 258 and len(tok.merges) == 2
    assert BPETokenizer.train("abc", vocab_size=256).merges == {}


@pytest.mark.parametrize("text", ["", "The cat sat on the mat.", "naïve café, 東京 😀\n\n  tabs\tand  spaces ",
                                  "x_y == 'it's' 3.14"])
def test_round_trip_is_lossless_even_for_unseen_characters(text):
    tok = BPETokenizer.train("The cat sat on the mat. The cats sat.", vocab_size=280)
    assert tok.decode(tok.encode(text)) == text
    assert "".join(tok.tokens(text)) == text or "�" in "".join(tok.tokens(text))


def test_pre_tokenize_follows_gpt2():
    assert pre_tokenize("The cat's mat, 2 cats.") == ["The", " cat", "'s", " mat", ",", " 2", " cats", "."]
    assert pre_tokenize("a  b\n\nc") == ["a", " ", " b", "\n", "\n", "c"]  # a space run leaves its last
    # character to the next word ("  b" -> " ", " b"); before a word, "\n\n" splits the same way
    assert pre_tokenize("x_y") == ["x", "_", "y"]
    text = "def f(x):\n    return x ** 2  # square\n"
    assert "".join(pre_tokenize(text)) == text


def test_pre_tokenize_matches_the_tokenizers_library_on_real_text():
    pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")
    from llm_book.corpus import pydoc_text

    text = pydoc_text()[:50_000]
    theirs = [piece for piece, _ in pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)]
    ours = pre_tokenize(text)
    assert len(ours) == len(theirs)
    # theirs is written in GPT-2's byte-to-character alphabet; compare lengths in bytes
    assert [len(p.encode("utf-8")) for p in ours] == [len(p) for p in theirs]


def test_same_token_count_as_the_tokenizers_library():
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    from llm_book.corpus import pydoc_text

    text = pydoc_text()
    train, held_out = text[:30_000], text[-5_000:]
    ours = BPETokenizer.train(train, vocab_size=400)
    theirs = tokenizers.Tokenizer(models.BPE())
    theirs.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    theirs.decoder = decoders.ByteLevel()
    theirs.train_from_iterator([train], trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    assert theirs.get_vocab_size() == ours.vocab_size == 400
    assert len(ours.encode(held_out)) == len(theirs.encode(held_out).ids)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"`vocab_size` \(=100\) has to be an integer >= 256"):
        BPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(TypeError, match=r"`text` has to be a str, got bytes"):
        BPETokenizer.train(b"abc", vocab_size=300)
    with pytest.raises(TypeError, match=r"`text` has to be a str, got list"):
        pre_tokenize(["abc"])
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=300)
    with pytest.raises(ValueError, match=r"id 999 in `ids` is not a token id; ids run from 0 to 258"):
        tok.decode([97, 999])
    with pytest.raises(ValueError, match=r"`merges` has to give ids 256, 257, \.\.\. in order"):
        BPETokenizer({(A, A): 257})
