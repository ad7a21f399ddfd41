"""The character corpus: interleaved held-out chunks, round trips, batches shifted by one."""

import pytest
import torch

from llm_book.corpus import CharCorpus, pydoc_text


def test_pydoc_text_is_real_english_and_deterministic():
    text = pydoc_text()
    assert len(text) > 100_000 and " the " in text
    assert pydoc_text() == text


def test_every_tenth_chunk_is_held_out():
    text = "".join(chr(97 + i % 26) * 10 for i in range(100))        # 1000 characters
    corpus = CharCorpus(text, val_every=4, chunk=100)
    assert len(corpus.val) == 200 and len(corpus.train) == 800
    assert corpus.decode(corpus.val[:100]) == text[300:400]
    assert corpus.decode(corpus.train[:300]) == text[:300]


def test_round_trip_and_unknown_characters():
    corpus = CharCorpus.from_text("abracadabra", val_every=2, chunk=3)
    assert corpus.chars == ["a", "b", "c", "d", "r"]
    assert corpus.decode(corpus.encode("cab")) == "cab"
    assert corpus.decode(torch.tensor(corpus.encode("bad"))) == "bad"
    with pytest.raises(ValueError, match=r"`text` has characters the corpus does not know: \['z'\]"):
        corpus.encode("zab")


def test_batches_are_windows_and_their_next_characters():
    corpus = CharCorpus(pydoc_text()[:20_000])
    x, y = corpus.batch("train", 4, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])
    x2, _ = corpus.batch("train", 4, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2), "the same generator seed gives the same batch"
    vx, _ = corpus.batch("val", 2, 8)
    assert vx.shape == (2, 8)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"`text` has to be a string of at least 2 characters"):
        CharCorpus("a")
    with pytest.raises(ValueError, match=r"`val_every` \(=1\) has to be an integer >= 2"):
        CharCorpus("abc", val_every=1)
    with pytest.raises(ValueError, match=r"`chunk` \(=0\) has to be an integer >= 1"):
        CharCorpus("abc", chunk=0)
    with pytest.raises(ValueError, match=r"too short to hold out every 10th chunk of 1000 characters"):
        CharCorpus("abc" * 100)
    corpus = CharCorpus("abcdefgh" * 10, val_every=2, chunk=10)
    with pytest.raises(ValueError, match=r"`split` \(='test'\) has to be 'train' or 'val'"):
        corpus.batch("test", 2, 4)
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\) has to be a positive integer"):
        corpus.batch("train", 0, 4)
    with pytest.raises(ValueError, match=r"`block_size` \(=40\) has to be shorter than the val text \(40 characters\)"):
        corpus.batch("val", 2, 40)
