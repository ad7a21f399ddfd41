"""GPTConfig and GPT: shapes, loss, attention weights, errors, the key/value cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llm_book.model import GPT, GPTConfig, KVCache

V = 11  # the tiny config's vocab_size


def random_ids(batch: int, t: int, seed: int = 0, vocab: int = V) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, t), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------
# GPTConfig
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["vocab_size", "block_size", "n_layer", "n_head", "n_embd"])
@pytest.mark.parametrize("value", [0, -3, 2.0, True, "8"])
def test_config_size_fields_must_be_positive_integers(field, value):
    kwargs = {"vocab_size": 8, "block_size": 8, "n_layer": 1, "n_head": 1, "n_embd": 8, field: value}
    with pytest.raises(ValueError, match=rf"`{field}` \(={value!r}\) has to be a positive integer"):
        GPTConfig(**kwargs)


def test_config_heads_must_divide_width():
    with pytest.raises(ValueError, match=r"`n_embd` \(=10\) has to be divisible by `n_head` \(=4\)"):
        GPTConfig(vocab_size=8, n_embd=10, n_head=4)


@pytest.mark.parametrize("dropout", [1.0, -0.1, True, "0.1", float("nan")])
def test_config_dropout(dropout):
    with pytest.raises(ValueError, match=rf"`dropout` \(={dropout!r}\) has to be a float in \[0, 1\)"):
        GPTConfig(vocab_size=8, dropout=dropout)


def test_config_is_frozen_and_replace_validates(tiny_config):
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny_config.n_layer = 3
    wider = dataclasses.replace(tiny_config, n_embd=32)
    assert wider.n_embd == 32 and wider.vocab_size == V
    with pytest.raises(ValueError, match=r"`n_embd` \(=15\) has to be divisible"):
        dataclasses.replace(tiny_config, n_embd=15)
    assert GPTConfig(**tiny_config.to_dict()) == tiny_config


def test_gpt_needs_a_config():
    with pytest.raises(TypeError, match=r"`config` has to be a GPTConfig, got dict"):
        GPT({"vocab_size": 8})


# ----------------------------------------------------------------------------
# Forward pass
# ----------------------------------------------------------------------------
def test_logits_for_every_position(tiny_gpt):
    idx = random_ids(3, 7)
    out = tiny_gpt(idx)
    assert out.logits.shape == (3, 7, V)
    assert out.loss is None and out.attentions is None
    assert torch.isfinite(out.logits).all()


def test_each_position_only_sees_its_past(tiny_gpt):
    idx = random_ids(2, 8)
    changed = idx.clone()
    changed[:, 5] = (changed[:, 5] + 1) % V
    a, b = tiny_gpt(idx).logits, tiny_gpt(changed).logits
    torch.testing.assert_close(a[:, :5], b[:, :5], atol=0, rtol=0)
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_batch_rows_are_independent(tiny_gpt):
    idx = random_ids(4, 9)
    together = tiny_gpt(idx).logits
    for i in range(4):
        torch.testing.assert_close(tiny_gpt(idx[i:i + 1]).logits[0], together[i], atol=1e-6, rtol=0)


def test_loss_is_cross_entropy_of_the_logits(tiny_gpt):
    idx, targets = random_ids(2, 8, seed=1), random_ids(2, 8, seed=2)
    out = tiny_gpt(idx, targets)
    expected = F.cross_entropy(out.logits.reshape(-1, V), targets.reshape(-1))
    torch.testing.assert_close(out.loss, expected, atol=1e-6, rtol=0)


def test_loss_ignores_minus_100(tiny_gpt):
    idx, targets = random_ids(2, 8, seed=1), random_ids(2, 8, seed=2)
    targets[0, 5:] = -100
    targets[1, 0] = -100
    out = tiny_gpt(idx, targets)
    keep = targets != -100
    expected = F.cross_entropy(out.logits[keep], targets[keep])
    torch.testing.assert_close(out.loss, expected, atol=1e-6, rtol=0)
    assert not torch.isclose(out.loss, F.cross_entropy(out.logits.reshape(-1, V), targets.clamp_min(0).reshape(-1)))


def test_loss_targets_shape(tiny_gpt):
    with pytest.raises(ValueError, match=r"`targets` has to have the shape of `idx` \(2, 8\), got \(2, 7\)"):
        tiny_gpt(random_ids(2, 8), random_ids(2, 7))


def test_untrained_loss_is_near_log_vocab(tiny_gpt):
    # Small initial weights: the model starts close to uniform guessing.
    out = tiny_gpt(random_ids(4, 12), random_ids(4, 12, seed=5))
    assert out.loss.item() == pytest.approx(torch.log(torch.tensor(float(V))).item(), rel=0.05)


def test_attentions_one_per_layer_causal_rows_sum_to_one(tiny_gpt, tiny_config):
    out = tiny_gpt(random_ids(2, 7), output_attentions=True)
    assert isinstance(out.attentions, tuple) and len(out.attentions) == tiny_config.n_layer
    for weights in out.attentions:
        assert weights.shape == (2, tiny_config.n_head, 7, 7)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, tiny_config.n_head, 7))
        assert (weights.triu(diagonal=1) == 0).all()
        assert (weights[..., torch.ones(7, 7, dtype=torch.bool).tril()] > 0).all()
    # Asking for the weights does not change the logits (beyond float rounding: without
    # them the fused kernel runs, with them the formula step by step).
    torch.testing.assert_close(out.logits, tiny_gpt(random_ids(2, 7)).logits, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------
def test_input_longer_than_block_size(tiny_gpt):
    with pytest.raises(ValueError, match=r"the input is 13 tokens long but the model's `block_size` is 12; "
                                         r"crop it to the last 12 tokens"):
        tiny_gpt(random_ids(1, 13))


@pytest.mark.parametrize("bad_id", [-1, V])
def test_ids_out_of_range(tiny_gpt, bad_id):
    idx = random_ids(1, 4)
    idx[0, 2] = bad_id
    with pytest.raises(ValueError, match=rf"`idx` holds ids from .*{bad_id}.*token ids run from 0 to "
                                         rf"vocab_size - 1 = {V - 1}"):
        tiny_gpt(idx)


def test_idx_rank_and_dtype(tiny_gpt):
    with pytest.raises(ValueError, match=r"`idx` has to be a \(batch, T\) tensor of token ids, got \(4,\)"):
        tiny_gpt(torch.tensor([1, 2, 3, 4]))
    with pytest.raises(TypeError, match=r"`idx` has to hold integer token ids, got dtype torch.float32"):
        tiny_gpt(torch.zeros(1, 3))


# ----------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------
def test_embeddings_are_tied(tiny_gpt):
    assert tiny_gpt.lm_head.weight is tiny_gpt.wte.weight


def test_parameter_counts_sum_to_num_parameters(tiny_gpt, tiny_config):
    counts = tiny_gpt.parameter_counts()
    assert sum(counts.values()) == tiny_gpt.num_parameters()
    c, v, L = tiny_config.n_embd, tiny_config.vocab_size, tiny_config.n_layer
    assert counts["token embedding"] == v * c  # counted once although tied
    assert counts["position embedding"] == tiny_config.block_size * c
    assert counts["attention"] == L * 4 * (c * c + c)
    assert counts["MLP"] == L * (c * 4 * c + 4 * c + 4 * c * c + c)
    assert counts["LayerNorm"] == (2 * L + 1) * 2 * c


def test_same_seed_same_model(tiny_config, make_gpt):
    a, b = make_gpt(tiny_config, seed=3), make_gpt(tiny_config, seed=3)
    idx = random_ids(1, 5)
    assert torch.equal(a(idx).logits, b(idx).logits)
    assert not torch.equal(a(idx).logits, make_gpt(tiny_config, seed=4)(idx).logits)


# ----------------------------------------------------------------------------
# KVCache
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 3])
def test_cached_step_by_step_equals_full_forward(tiny_gpt, tiny_config, batch):
    idx = random_ids(batch, tiny_config.block_size, seed=batch)
    full = tiny_gpt(idx).logits
    cache = KVCache(tiny_config.n_layer)
    steps = [tiny_gpt(idx[:, t:t + 1], cache=cache).logits for t in range(idx.shape[1])]
    assert len(cache) == tiny_config.block_size
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_cached_prompt_then_tokens(tiny_gpt, tiny_config):
    idx = random_ids(2, 10, seed=7)
    cache = KVCache(tiny_config.n_layer)
    first = tiny_gpt(idx[:, :6], cache=cache).logits
    out = tiny_gpt(idx[:, 6:], cache=cache, output_attentions=True)
    assert out.attentions[0].shape == (2, tiny_config.n_head, 4, 10)
    torch.testing.assert_close(torch.cat([first, out.logits], dim=1), tiny_gpt(idx).logits,
                               atol=1e-5, rtol=0)


def test_cache_counts_towards_block_size(tiny_gpt, tiny_config):
    cache = KVCache(tiny_config.n_layer)
    tiny_gpt(random_ids(1, 10), cache=cache)
    with pytest.raises(ValueError, match=r"the input is 13 tokens long \(10 cached \+ 3 new\) "
                                         r"but the model's `block_size` is 12"):
        tiny_gpt(random_ids(1, 3), cache=cache)


def test_dropout_config_is_off_in_eval(tiny_config, make_gpt):
    model = make_gpt(dataclasses.replace(tiny_config, dropout=0.3))
    idx = random_ids(2, 6)
    assert torch.equal(model(idx).logits, model(idx).logits)
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(idx).logits, model(idx).logits)


# ----------------------------------------------------------------------------
# The bidirectional encoder (causal=False) and the classification head
# ----------------------------------------------------------------------------
def test_bidirectional_positions_see_the_future_and_causal_ones_do_not(tiny_config, make_gpt):
    idx = random_ids(1, 6)
    later = idx.clone()
    later[0, 5] = (later[0, 5] + 1) % V
    causal = make_gpt(tiny_config)
    encoder = make_gpt(dataclasses.replace(tiny_config, causal=False))
    assert torch.allclose(causal(idx).logits[0, :5], causal(later).logits[0, :5], atol=1e-6)
    assert not torch.allclose(encoder(idx).logits[0, :5], encoder(later).logits[0, :5], atol=1e-4)
    weights = encoder(idx, output_attentions=True).attentions[0]
    assert weights[0, :, 0, 1:].sum() > 0  # the first word attends to words after it


def test_bidirectional_padding_mask_hides_the_padding(tiny_config, make_gpt):
    encoder = make_gpt(dataclasses.replace(tiny_config, causal=False))
    idx = random_ids(2, 6)
    real = torch.tensor([[True] * 4 + [False] * 2, [True] * 6])
    changed = idx.clone()
    changed[0, 4:] = (changed[0, 4:] + 3) % V
    a = encoder(idx, padding_mask=real).last_hidden_state
    b = encoder(changed, padding_mask=real).last_hidden_state
    assert torch.allclose(a[real], b[real], atol=1e-6)


def test_bidirectional_model_refuses_a_cache(tiny_config, make_gpt):
    encoder = make_gpt(dataclasses.replace(tiny_config, causal=False))
    with pytest.raises(ValueError, match="`cache` needs a causal model"):
        encoder(random_ids(1, 3), cache=KVCache(tiny_config.n_layer))


def test_classifier_shapes_loss_and_pooling(tiny_config, make_gpt):
    from llm_book.model import GPTClassifier

    torch.manual_seed(0)
    classifier = GPTClassifier(make_gpt(tiny_config), num_classes=3)
    assert classifier.pooling == "last"
    idx = random_ids(4, 6)
    lengths = torch.tensor([6, 3, 4, 1])
    labels = torch.tensor([0, 2, 1, 1])
    out = classifier(idx, lengths, labels)
    assert out.logits.shape == (4, 3)
    assert torch.isclose(out.loss, F.cross_entropy(out.logits, labels))
    # "last" pooling reads position length - 1: what follows it does not matter
    changed = idx.clone()
    changed[1, 3:] = 0
    assert torch.allclose(classifier(changed, lengths).logits, out.logits, atol=1e-6)
    h = classifier.gpt(idx).last_hidden_state
    assert torch.allclose(out.logits[1], classifier.head(h[1, 2]), atol=1e-6)
    mean = GPTClassifier(make_gpt(dataclasses.replace(tiny_config, causal=False)), num_classes=3)
    assert mean.pooling == "mean"
    assert torch.allclose(mean(changed, lengths).logits, mean(idx, lengths).logits, atol=1e-6)


def test_classifier_errors(tiny_config, make_gpt):
    from llm_book.model import GPTClassifier

    gpt = make_gpt(tiny_config)
    with pytest.raises(ValueError, match=r"`num_classes` \(=1\) has to be an integer >= 2"):
        GPTClassifier(gpt, 1)
    with pytest.raises(ValueError, match=r"`pooling` \(='max'\) has to be 'last' or 'mean'"):
        GPTClassifier(gpt, 2, pooling="max")
    with pytest.raises(ValueError, match=r"`lengths` has to be a \(batch,\) tensor with values in 1..4"):
        GPTClassifier(gpt, 2)(random_ids(2, 4), torch.tensor([0, 4]))


@pytest.mark.parametrize("name, value, error, pattern", [
    ("lengths", [4, 2], TypeError,
     r"`lengths` has to be a \(batch,\) tensor of integers, got list; e.g. torch.tensor\(lengths\)"),
    ("lengths", torch.tensor([4.0, 2.0]), TypeError,
     r"`lengths` has to be a \(batch,\) tensor of integers, got dtype torch.float32"),
    ("lengths", torch.tensor([4, 2, 3]), ValueError,
     r"`lengths` has to be a \(batch,\) = \(2,\) tensor, one value per row of `idx`, got shape \(3,\)"),
    ("lengths", torch.tensor([[4, 2]]), ValueError, r"`lengths` has to be a \(batch,\) = \(2,\) tensor"),
    ("lengths", torch.tensor([5, 2]), ValueError,
     r"`lengths` has to be a \(batch,\) tensor with values in 1..4, got \[5, 2\]"),
    ("labels", [0, 1], TypeError, r"`labels` has to be a \(batch,\) tensor of integers, got list"),
    ("labels", torch.tensor([0.0, 1.0]), TypeError, r"`labels` has to be a \(batch,\) tensor of integers, "
                                                    r"got dtype torch.float32"),
    ("labels", torch.tensor([0]), ValueError, r"`labels` has to be a \(batch,\) = \(2,\) tensor"),
    ("labels", torch.tensor([0, 3]), ValueError,
     r"`labels` hold class ids from 0 to 3; they have to lie in 0 .. num_classes - 1 = 2"),
    ("labels", torch.tensor([-1, 0]), ValueError, r"`labels` hold class ids from -1 to 0"),
])
def test_classifier_checks_lengths_and_labels(tiny_config, make_gpt, name, value, error, pattern):
    # Before, lengths=[4, 2] failed with "'list' object has no attribute 'shape'".
    from llm_book.model import GPTClassifier

    classifier = GPTClassifier(make_gpt(tiny_config), 3)
    kwargs = {"lengths": torch.tensor([4, 2]), "labels": torch.tensor([0, 1]), name: value}
    with pytest.raises(error, match=pattern):
        classifier(random_ids(2, 4), **kwargs)


def test_classifier_arguments_of_other_types(tiny_config, make_gpt):
    from llm_book.model import GPTClassifier

    gpt = make_gpt(tiny_config)
    assert GPTClassifier(gpt, np.int64(3)).head.out_features == 3
    with pytest.raises(TypeError, match=r"`num_classes` \(=3.0\) has to be an integer >= 2; got float"):
        GPTClassifier(gpt, 3.0)
    with pytest.raises(TypeError, match=r"`gpt` has to be an llm_book GPT, got Linear"):
        GPTClassifier(torch.nn.Linear(2, 2), 3)
    with pytest.raises(ValueError, match=r"`idx` has to be a \(batch, T\) tensor of token ids, got list"):
        GPTClassifier(gpt, 3)([[1, 2]])


# ----------------------------------------------------------------------------
# The modern block options: RoPE, RMSNorm, SwiGLU, grouped-query attention, untied output
# ----------------------------------------------------------------------------
LLAMA_LIKE = dict(vocab_size=V, block_size=24, n_layer=2, n_head=4, n_embd=32, bias=False, position="rope",
                  norm="rmsnorm", mlp="swiglu", n_kv_head=2, tie_embeddings=False)


def modern(seed: int = 0, **changes) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(**{**LLAMA_LIKE, **changes})).eval()
    with torch.no_grad():  # norm weights away from 1, so that a misplaced weight shows
        for name, p in model.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.add_(0.3 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("field, value, message", [
    ("position", "sinusoidal", r"`position` \(='sinusoidal'\) has to be one of 'learned', 'rope'"),
    ("norm", "batchnorm", r"`norm` \(='batchnorm'\) has to be one of 'layernorm', 'rmsnorm'"),
    ("mlp", "relu", r"`mlp` \(='relu'\) has to be one of 'gelu', 'swiglu'"),
    ("rope_theta", 0.5, r"`rope_theta` \(=0.5\) has to be a finite number > 1"),
    ("rope_theta", "1e4", r"`rope_theta` \(='1e4'\) has to be a finite number > 1"),
    ("norm_eps", 0.0, r"`norm_eps` \(=0.0\) has to be a finite number > 0"),
    ("norm_eps", float("inf"), r"`norm_eps` \(=inf\) has to be a finite number > 0"),
    ("mlp_hidden", 0, r"`mlp_hidden` \(=0\) has to be a positive integer, or None"),
    ("mlp_hidden", 64.0, r"`mlp_hidden` \(=64.0\) has to be a positive integer, or None"),
    ("n_kv_head", 3, r"`n_kv_head` \(=3\) has to be a positive integer that divides `n_head` \(=4\)"),
    ("n_kv_head", 0, r"`n_kv_head` \(=0\) has to be a positive integer that divides `n_head` \(=4\)"),
    ("n_kv_head", True, r"`n_kv_head` \(=True\) has to be a positive integer"),
    ("tie_embeddings", "yes", r"`tie_embeddings` \(='yes'\) has to be True or False"),
])
def test_config_new_options_are_checked(field, value, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(vocab_size=8, n_head=4, n_embd=32, **{field: value})


def test_config_rope_needs_an_even_head_size():
    with pytest.raises(ValueError, match=r"`position` \(='rope'\) needs an even head size, but n_embd // n_head "
                                         r"= 12 // 4 = 3"):
        GPTConfig(vocab_size=8, n_embd=12, n_head=4, position="rope")
    GPTConfig(vocab_size=8, n_embd=12, n_head=4)  # learned positions do not care


def test_defaults_are_gpt2_and_keep_the_state_dict_names(tiny_gpt):
    config = tiny_gpt.config
    assert (config.position, config.norm, config.mlp, config.n_kv_head, config.tie_embeddings) == \
        ("learned", "layernorm", "gelu", None, True)
    keys = set(tiny_gpt.state_dict())
    expected = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias", "lm_head.weight"}
    for i in range(config.n_layer):
        for part in ("ln_1", "ln_2", "attn.query", "attn.key", "attn.value", "attn.out", "mlp.fc", "mlp.proj"):
            expected |= {f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"}
    assert keys == expected
    assert tiny_gpt.lm_head.weight is tiny_gpt.wte.weight
    assert tiny_gpt.blocks[0].mlp.fc.out_features == 4 * config.n_embd == config.mlp_width
    # Old checkpoints store a config dict without the new fields: it still builds the same config.
    old = {k: v for k, v in config.to_dict().items() if k in
           ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "causal")}
    assert GPTConfig(**old) == config
    # and it prints as before: the later options appear only when they are set
    assert repr(config) == ("GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16, "
                            "dropout=0.0, bias=True, causal=True)")
    assert repr(dataclasses.replace(config, norm="rmsnorm", n_kv_head=1)).endswith(
        "causal=True, norm='rmsnorm', n_kv_head=1)")


def test_modern_model_has_llama_parts_and_no_position_table():
    model = modern()
    keys = set(model.state_dict())
    assert not any(k.startswith("wpe") for k in keys) and not hasattr(model, "wpe")
    assert not any(k.endswith(".bias") for k in keys)
    assert {"blocks.0.mlp.gate.weight", "blocks.0.mlp.up.weight", "blocks.0.mlp.down.weight",
            "blocks.0.ln_1.weight", "lm_head.weight"} <= keys
    attn = model.blocks[0].attn
    assert attn.key.out_features == attn.value.out_features == 2 * 8  # n_kv_head * head size
    assert model.lm_head.weight is not model.wte.weight
    counts = model.parameter_counts()
    assert counts["output layer"] == V * 32 and counts["position embedding"] == 0
    assert sum(counts.values()) == model.num_parameters()


def test_rmsnorm_is_the_formula():
    model = modern()
    norm = model.blocks[0].ln_1
    x = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(0))
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + model.config.norm_eps) * norm.weight
    torch.testing.assert_close(norm(x), expected, atol=1e-6, rtol=0)
    assert [name for name, _ in norm.named_parameters()] == ["weight"]  # no bias, no mean subtraction
    # a shifted input is not centred first (a LayerNorm would give the same output for x and x + 1)
    assert not torch.allclose(norm(x + 1.0), norm(x), atol=1e-3)


def test_swiglu_is_the_formula_and_its_default_width():
    model = modern()
    mlp = model.blocks[0].mlp
    assert model.config.mlp_width == 88 == mlp.gate.out_features  # 8/3 * 32 = 85.3, up to a multiple of 8
    assert GPTConfig(vocab_size=8, n_embd=64, mlp="swiglu").mlp_width == 176
    assert GPTConfig(vocab_size=8, n_embd=64, mlp="swiglu", mlp_hidden=100).mlp_width == 100
    assert GPT(GPTConfig(vocab_size=8, n_embd=16, n_head=2, mlp_hidden=24)).blocks[0].mlp.fc.out_features == 24
    x = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(0))
    expected = mlp.down(F.silu(mlp.gate(x)) * mlp.up(x))
    torch.testing.assert_close(mlp(x), expected)


def test_grouped_query_attention_is_multi_head_attention_with_shared_keys_and_values():
    gqa = modern(n_kv_head=2)
    full = GPT(dataclasses.replace(gqa.config, n_kv_head=None)).eval()
    state = dict(gqa.state_dict())
    for i in range(gqa.config.n_layer):
        for name in ("key", "value"):  # (nkv * hs, C) -> each kv head twice, in place of heads 2j and 2j + 1
            w = state[f"blocks.{i}.attn.{name}.weight"].view(2, 8, 32)
            state[f"blocks.{i}.attn.{name}.weight"] = w.repeat_interleave(2, dim=0).reshape(32, 32)
    full.load_state_dict(state)
    idx = random_ids(2, 9)
    with torch.no_grad():
        out_gqa, out_full = gqa(idx, output_attentions=True), full(idx, output_attentions=True)
        torch.testing.assert_close(gqa(idx).logits, full(idx).logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(out_gqa.logits, out_full.logits, atol=1e-5, rtol=0)
    for w_gqa, w_full in zip(out_gqa.attentions, out_full.attentions):
        assert w_gqa.shape == (2, 4, 9, 9)  # one row of weights per query head
        torch.testing.assert_close(w_gqa, w_full, atol=1e-6, rtol=0)
    # heads 0 and 1 share keys; with queries of their own their weights still differ
    assert not torch.allclose(out_gqa.attentions[0][:, 0], out_gqa.attentions[0][:, 1])


def test_rope_positions_matter_without_a_table():
    model = modern()
    idx = torch.tensor([[1, 2, 3, 4], [3, 2, 1, 4]])  # the same tokens before the same last one
    with torch.no_grad():
        logits = model(idx).logits
    # a model without any position information would give the last positions the same logits
    assert not torch.allclose(logits[0, -1], logits[1, -1], atol=1e-4)


@pytest.mark.parametrize("changes", [{}, {"n_kv_head": None}, {"n_kv_head": 1}, {"position": "learned"},
                                     {"norm": "layernorm", "mlp": "gelu", "tie_embeddings": True}])
def test_cache_with_rope_and_gqa_gives_the_uncached_logits(changes):
    model = modern(**changes)
    idx = random_ids(3, 14)
    cache = KVCache(model.config.n_layer)
    with torch.no_grad():
        full = model(idx).logits
        steps = [model(idx[:, :5], cache=cache).logits]              # the prompt, then one token at a time
        steps += [model(idx[:, t:t + 1], cache=cache).logits for t in range(5, 14)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    n_kv = model.config.n_kv_head or model.config.n_head
    assert cache.layers[0].k.shape == (3, n_kv, 14, 8)  # only the key/value heads are stored


def test_cached_greedy_generation_equals_uncached_with_rope():
    from llm_book.sampling import greedy

    model = modern(seed=3)
    prompt = random_ids(2, 4, seed=5)
    assert torch.equal(greedy(model, prompt, 15, use_cache=True), greedy(model, prompt, 15, use_cache=False))


# ----------------------------------------------------------------------------
# The fused kernel against the formula step by step
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("changes", [{}, {"n_kv_head": 1}, {"position": "learned", "n_kv_head": None},
                                     {"causal": False}])
def test_fused_and_explicit_attention_agree(changes):
    model = modern(**changes)
    idx = random_ids(3, 10)
    with torch.no_grad():
        fused = model(idx).logits
        explicit = model(idx, output_attentions=True).logits
    assert fused.abs().max() > 0.05, "the test needs logits large enough to tell mistakes apart"
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_fused_and_explicit_agree_with_a_padding_mask(causal):
    model = modern(causal=causal)
    idx = random_ids(2, 8)
    padding_mask = torch.tensor([[True] * 5 + [False] * 3, [True] * 8])
    with torch.no_grad():
        fused = model(idx, padding_mask=padding_mask).logits
        explicit = model(idx, padding_mask=padding_mask, output_attentions=True).logits
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=0)
    # and the padding does not reach the real tokens on the fused path
    with torch.no_grad():
        alone = model(idx[:1, :5]).logits
    torch.testing.assert_close(fused[:1, :5], alone, atol=1e-5, rtol=0)


def test_fused_path_refuses_a_query_with_no_key():
    model = modern(causal=False)
    padding_mask = torch.tensor([[False] * 6, [True] * 6])
    with pytest.raises(ValueError, match="leaves a query with no key to attend to"):
        model(random_ids(2, 6), padding_mask=padding_mask)


def test_fused_and_explicit_gradients_agree():
    model = modern(dropout=0.0)
    idx, targets = random_ids(2, 9), random_ids(2, 9, seed=1)
    grads = []
    for output_attentions in (False, True):
        model.zero_grad()
        model(idx, targets, output_attentions=output_attentions).loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for fused, explicit in zip(*grads):
        torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-4)


def test_fused_path_drops_attention_links_only_while_training():
    model = modern(dropout=0.5)
    idx = random_ids(2, 9)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(idx).logits, model(idx).logits)
        model.eval()
        assert torch.equal(model(idx).logits, model(idx).logits)
