"""Training: next-token batches, the learning-rate schedule, and a loop that can overfit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llm_book.model import GPTConfig
from llm_book.tokenizer import WordTokenizer
from llm_book.training import LanguageSampler, TrainHistory, lm_batch, lr_at, train

TOK = WordTokenizer(["The", "cat", "sat", "on", "mat", "<eos>"])
EOS = 5


# ----------------------------------------------------------------------------
# lm_batch
# ----------------------------------------------------------------------------
def test_lm_batch_shifts_by_one_and_pads():
    idx, targets = lm_batch([["The", "cat", "sat", "<eos>"], ["The", "cat", "sat", "on", "mat", "<eos>"]], TOK)
    assert idx.shape == targets.shape == (2, 5)
    assert idx.dtype == targets.dtype == torch.long
    assert idx.tolist() == [[0, 1, 2, EOS, EOS], [0, 1, 2, 3, 4]]
    assert targets.tolist() == [[1, 2, EOS, -100, -100], [1, 2, 3, 4, EOS]]


def test_lm_batch_pad_to():
    idx, targets = lm_batch([["The", "cat", "<eos>"]], TOK, pad_to=6)
    assert idx.tolist() == [[0, 1, EOS, EOS, EOS]]
    assert targets.tolist() == [[1, EOS, -100, -100, -100]]


def test_lm_batch_errors():
    with pytest.raises(ValueError, match=r"`sentences` has to hold at least one sentence, each of 2 or more"):
        lm_batch([], TOK)
    with pytest.raises(ValueError, match=r"`sentences` has to hold at least one sentence, each of 2 or more"):
        lm_batch([["The", "cat"], ["The"]], TOK)
    with pytest.raises(ValueError, match=r"`pad_to` \(=3\) is shorter than the longest sentence"):
        lm_batch([["The", "cat", "sat", "<eos>"]], TOK, pad_to=3)
    with pytest.raises(ValueError, match=r"unknown word 'dog'"):
        lm_batch([["The", "dog"]], TOK)


def test_lm_batch_loss_matches_per_sentence_loss(make_gpt, lang, toy_tokenizer):
    # Padding must not change the loss: the batch loss is the token-weighted mean of the sentences'.
    model = make_gpt(GPTConfig(vocab_size=len(lang.vocab), block_size=16, n_layer=1, n_head=2, n_embd=16))
    sentences = lang.sample(5, seed=2)
    idx, targets = lm_batch(sentences, toy_tokenizer)
    total, count = 0.0, 0
    for s in sentences:
        i, t = lm_batch([s], toy_tokenizer)
        total += model(i, t).loss.item() * (len(s) - 1)
        count += len(s) - 1
    assert model(idx, targets).loss.item() == pytest.approx(total / count, rel=1e-5)


def test_language_sampler(lang, toy_tokenizer):
    sampler = LanguageSampler(lang, toy_tokenizer)
    idx, targets = sampler(32, torch.Generator().manual_seed(0))
    assert idx.shape == targets.shape == (32, lang.max_length - 1)
    again = sampler(32, torch.Generator().manual_seed(0))
    assert torch.equal(idx, again[0]) and torch.equal(targets, again[1])
    for row, target in zip(idx, targets):
        n = int((target != -100).sum())
        words = toy_tokenizer.decode(row[:n]) + toy_tokenizer.decode(target[n - 1:n])
        assert words[-1] == "<eos>" and lang.sentence_probability(words) > 0


# ----------------------------------------------------------------------------
# lr_at
# ----------------------------------------------------------------------------
def test_lr_warms_up_linearly():
    assert lr_at(0, 1.0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_at(4, 1.0, 10, 100, 0.1) == pytest.approx(0.5)
    assert lr_at(9, 1.0, 10, 100, 0.1) == pytest.approx(1.0)


def test_lr_decays_along_a_cosine_to_min_lr():
    assert lr_at(10, 1.0, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_at(55, 1.0, 10, 100, 0.1) == pytest.approx(0.55)  # half way: the mean of lr and min_lr
    assert lr_at(100, 1.0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_at(500, 1.0, 10, 100, 0.1) == pytest.approx(0.1)
    decay = [lr_at(s, 1.0, 10, 100, 0.1) for s in range(10, 101)]
    assert all(a > b for a, b in zip(decay, decay[1:]))


def test_lr_without_warm_up():
    assert lr_at(0, 2.0, 0, 10, 0.0) == pytest.approx(2.0)
    assert lr_at(10, 2.0, 0, 10, 0.0) == pytest.approx(0.0)


# ----------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------
@pytest.fixture
def fixed_batch():
    """4 sequences whose first tokens differ, so every prefix has one right next token."""
    ids = torch.randint(0, 11, (4, 9), generator=torch.Generator().manual_seed(0))
    ids[:, 0] = torch.arange(4)
    return ids[:, :-1], ids[:, 1:]


def test_train_overfits_one_fixed_batch(tiny_gpt, fixed_batch):
    idx, targets = fixed_batch
    steps_seen = []

    def get_batch(step):
        steps_seen.append(step)
        return idx, targets

    initial = tiny_gpt(idx, targets).loss.item()
    history = train(tiny_gpt, get_batch, steps=200, lr=1e-2, warmup_steps=20)
    assert isinstance(history, TrainHistory)
    assert steps_seen == list(range(200))
    assert len(history.loss) == len(history.lr) == 200
    assert history.loss[0] == pytest.approx(initial, rel=1e-5)
    assert history.loss[-1] < 0.05
    assert tiny_gpt(idx, targets).loss.item() < 0.05
    assert not tiny_gpt.training  # left in eval mode
    assert history.lr == pytest.approx([lr_at(s, 1e-2, 20, 200, 1e-3) for s in range(200)])
    assert history.eval_steps == [] and history.eval_loss == []


def test_train_is_repeatable(tiny_config, make_gpt, fixed_batch):
    runs = [train(make_gpt(tiny_config, seed=1), lambda step: fixed_batch, steps=5, warmup_steps=2).loss
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_eval_fn_called_every_eval_every_and_at_the_end(tiny_gpt, fixed_batch):
    calls = []

    def eval_fn(model):
        calls.append(model.training)
        return float(len(calls))

    history = train(tiny_gpt, lambda step: fixed_batch, steps=25, eval_fn=eval_fn, eval_every=10)
    assert history.eval_steps == [10, 20, 25]
    assert history.eval_loss == [1.0, 2.0, 3.0]
    assert calls == [False, False, False]  # evaluated in eval mode

    calls.clear()
    history = train(tiny_gpt, lambda step: fixed_batch, steps=20, eval_fn=eval_fn, eval_every=10)
    assert history.eval_steps == [10, 20]  # the last step is not evaluated twice


def test_train_without_clipping_or_decay(tiny_gpt, fixed_batch):
    history = train(tiny_gpt, lambda step: fixed_batch, steps=3, grad_clip=None, weight_decay=0.0,
                    min_lr=0.0, warmup_steps=0)
    assert len(history.loss) == 3 and all(math.isfinite(x) for x in history.loss)


@pytest.mark.parametrize("kwargs, pattern, error", [
    ({"steps": 0}, r"`steps` \(=0\) has to be a positive integer", ValueError),
    ({"steps": -5}, r"`steps` \(=-5\) has to be a positive integer", ValueError),
    ({"steps": 1.5}, r"`steps` \(=1.5\) has to be a positive integer; got float", TypeError),
    ({"steps": True}, r"`steps` \(=True\) has to be a positive integer; got bool", TypeError),
    ({"lr": 0}, r"`lr` \(=0\) has to be a positive, finite float", ValueError),
    ({"lr": -1e-3}, r"`lr` \(=-0.001\) has to be a positive, finite float", ValueError),
    ({"lr": float("nan")}, r"`lr` \(=nan\) has to be a positive, finite float", ValueError),
    ({"lr": float("inf")}, r"`lr` \(=inf\) has to be a positive, finite float", ValueError),
    ({"lr": "3e-3"}, r"`lr` \(='3e-3'\) has to be a positive, finite float; got str", TypeError),
    ({"warmup_steps": -1}, r"`warmup_steps` \(=-1\) has to be a non-negative integer", ValueError),
    ({"eval_every": 0}, r"`eval_every` \(=0\) has to be a positive integer", ValueError),
    ({"weight_decay": float("nan")}, r"`weight_decay` \(=nan\) has to be a non-negative, finite float",
     ValueError),
    ({"weight_decay": -0.1}, r"`weight_decay` \(=-0.1\) has to be a non-negative, finite float",
     ValueError),
    ({"weight_decay": None}, r"`weight_decay` \(=None\) has to be a non-negative, finite float.*; "
                             r"got NoneType", TypeError),
    ({"grad_clip": -1}, r"`grad_clip` \(=-1\) has to be a positive, finite float \(the largest gradient "
                        r"norm\), or None for no clipping", ValueError),
    ({"grad_clip": 0}, r"`grad_clip` \(=0\) has to be a positive", ValueError),
    ({"grad_clip": float("inf")}, r"`grad_clip` \(=inf\) has to be a positive", ValueError),
    ({"lr": 1e-3, "min_lr": 1e-2}, r"`min_lr` \(=0.01\) has to be a finite float from 0 to `lr` "
                                   r"\(=0.001\), or None for lr / 10", ValueError),
    ({"min_lr": -1e-4}, r"`min_lr` \(=-0.0001\) has to be a finite float from 0", ValueError),
    ({"min_lr": float("nan")}, r"`min_lr` \(=nan\) has to be a finite float from 0", ValueError),
    ({"eval_fn": 3}, r"`eval_fn` has to be a function model -> float, or None; got int", TypeError),
])
def test_train_argument_errors(tiny_gpt, fixed_batch, kwargs, pattern, error):
    kwargs = {"steps": 2, **kwargs}
    before = [p.clone() for p in tiny_gpt.parameters()]
    with pytest.raises(error, match=pattern):
        train(tiny_gpt, lambda step: fixed_batch, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_gpt.parameters()))  # nothing trained


def test_train_accepts_numpy_numbers(tiny_config, make_gpt, fixed_batch):
    def run(**kwargs):
        return train(make_gpt(tiny_config, seed=1), lambda step: fixed_batch, **kwargs).loss

    expected = run(steps=4, lr=1e-2, warmup_steps=2, min_lr=1e-3, weight_decay=0.1, grad_clip=1.0,
                   eval_every=2)
    got = run(steps=np.int64(4), lr=np.float64(1e-2), warmup_steps=np.int32(2),
              min_lr=np.float64(1e-3), weight_decay=np.float64(0.1), grad_clip=np.float64(1.0),
              eval_every=np.int64(2))
    assert got == expected


@pytest.mark.parametrize("returned, got", [
    (None, "got NoneType"),
    (torch.zeros(2, 3, dtype=torch.long), "got Tensor"),
    ((torch.zeros(2, 3, dtype=torch.long),), r"got a tuple of 1: \(Tensor\)"),
    ([[0, 1], [1, 2]], r"got a list of 2: \(list, list\)"),
])
def test_get_batch_that_returns_no_pair_of_tensors(tiny_gpt, returned, got):
    before = [p.clone() for p in tiny_gpt.parameters()]
    with pytest.raises(TypeError, match=r"`get_batch\(0\)` has to return a pair of tensors \(idx, targets\), "
                                        + got):
        train(tiny_gpt, lambda step: returned, steps=2)
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_gpt.parameters()))
    with pytest.raises(TypeError, match=r"`get_batch` has to be a function step -> \(idx, targets\), got tuple"):
        train(tiny_gpt, (returned, returned), steps=2)


def test_eval_fn_that_returns_no_number(tiny_gpt, fixed_batch):
    with pytest.raises(TypeError, match=r"`eval_fn\(model\)` has to return a number \(e.g. a loss\), got "
                                        r"NoneType at step 2"):
        train(tiny_gpt, lambda step: fixed_batch, steps=2, eval_fn=lambda model: None)


@pytest.mark.parametrize("start_in_train_mode", [True, False])
def test_train_leaves_the_model_in_eval_mode_as_documented(tiny_gpt, fixed_batch, start_in_train_mode):
    tiny_gpt.train(start_in_train_mode)
    train(tiny_gpt, lambda step: fixed_batch, steps=1)
    assert not tiny_gpt.training
    assert "in **eval mode**" in train.__doc__


def test_language_sampler_batch_size(lang, toy_tokenizer):
    sampler = LanguageSampler(lang, toy_tokenizer)
    assert sampler(np.int64(3), torch.Generator().manual_seed(0))[0].shape[0] == 3
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\) has to be a positive integer"):
        sampler(0)
    with pytest.raises(TypeError, match=r"`batch_size` \(=2.0\) has to be a positive integer; got float"):
        sampler(2.0)


def test_lm_batch_pad_to_errors():
    with pytest.raises(ValueError, match=r"`pad_to` \(=1\) has to be an integer >= 2"):
        lm_batch([["The", "cat", "<eos>"]], TOK, pad_to=1)
    with pytest.raises(TypeError, match=r"`pad_to` \(=6.0\) has to be an integer >= 2 .*; got float"):
        lm_batch([["The", "cat", "<eos>"]], TOK, pad_to=6.0)
    assert lm_batch([["The", "cat", "<eos>"]], TOK, pad_to=np.int64(6))[0].shape == (1, 5)


# ----------------------------------------------------------------------------
# Packed pretraining: sentences end to end in full windows
# ----------------------------------------------------------------------------
from llm_book.training import PackedLanguageSampler  # noqa: E402


def test_packed_windows_are_a_stream_of_whole_sentences(lang, toy_tokenizer):
    sampler = PackedLanguageSampler(lang, toy_tokenizer, block_size=16)
    idx, targets = sampler(8, torch.Generator().manual_seed(0))
    assert idx.shape == targets.shape == (8, 16)
    assert (targets != -100).all()                                   # no padding: every position trained
    assert torch.equal(idx[:, 1:], targets[:, :-1])                  # targets are the inputs shifted by one
    stream = torch.cat([torch.cat([i[:1], t]) for i, t in zip(idx, targets)]).tolist()
    # consecutive windows continue one stream; cut at <eos>, every complete piece is a sentence
    words = toy_tokenizer.decode(stream)
    pieces = " ".join(words).split(" <eos> ")
    known = {" ".join(w[:-1]) for w, _ in lang.sentences()}
    assert pieces[0] in known                                        # the stream starts with a sentence
    assert all(p in known for p in pieces[1:-1]) and len(pieces) > 8
    assert words[0] == "The"


def test_packed_sampler_is_seeded_and_follows_the_language(lang, toy_tokenizer):
    sampler = PackedLanguageSampler(lang, toy_tokenizer, block_size=16)
    a = sampler(64, torch.Generator().manual_seed(1))
    b = sampler(64, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # "<eos>" ends a sentence and "The" begins the next: the share of <eos> tokens is 1 / mean length
    share = (a[0] == toy_tokenizer.eos_id).float().mean().item()
    assert share == pytest.approx(1 / sampler.mean_length, rel=0.15)


def test_packed_sampler_errors(lang, toy_tokenizer):
    with pytest.raises(ValueError, match=r"`block_size` \(=0\) has to be a positive integer"):
        PackedLanguageSampler(lang, toy_tokenizer, block_size=0)
    sampler = PackedLanguageSampler(lang, toy_tokenizer, block_size=4)
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\) has to be a positive integer"):
        sampler(0)
