"""LoRA: against the peft library, merging, the zero start, what trains, and the errors."""

import copy
import math

import pytest
import torch
import torch.nn as nn

from llm_book.lora import (LoRALinear, add_lora, lora_layers, matches, merge_lora,
                           trainable_parameter_count)
from llm_book.model import GPT, GPTConfig

TARGETS = ["query", "value", "fc"]


@pytest.fixture
def gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=35))


@pytest.fixture
def idx():
    return torch.randint(0, 35, (3, 10), generator=torch.Generator().manual_seed(1))


def randomise_adapters(model, seed=0):
    """Non-zero B (and fresh A) so that the adapters change the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.A.copy_(torch.randn(layer.A.shape, generator=g) * 0.1)
            layer.B.copy_(torch.randn(layer.B.shape, generator=g) * 0.1)
    return model


def test_lora_linear_formula():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, rank=2, alpha=3.0)
    assert layer.A.shape == (2, 6) and layer.B.shape == (5, 2) and layer.scaling == 1.5
    with torch.no_grad():
        layer.B.normal_()
    x = torch.randn(4, 7, 6)                                     # batch of 4, 7 positions
    expected = x @ base.weight.T + base.bias + 1.5 * (x @ layer.A.T @ layer.B.T)
    torch.testing.assert_close(layer(x), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(layer.delta_weight(), 1.5 * layer.B @ layer.A)


def test_initialisation_like_peft():
    """A is Kaiming-uniform with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in)); B is zero."""
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(256, 64), rank=8, alpha=16)
    bound = 1 / math.sqrt(256)
    assert layer.A.abs().max() <= bound
    assert abs(layer.A.std().item() - bound / math.sqrt(3)) < 0.1 * bound   # std of U(-b, b)
    assert torch.equal(layer.B, torch.zeros(64, 8))


def test_matches_rule():
    assert matches("blocks.0.attn.query", ["query"])
    assert matches("lm_head", ["lm_head"])
    assert matches("blocks.1.attn.out", ["attn.out"])
    assert not matches("blocks.1.mlp.proj", ["attn.out"])
    assert not matches("blocks.0.attn.query_norm", ["query"])
    assert not matches("blocks.0.attn.subquery", ["query"])


def test_start_equals_base_and_input_untouched(gpt, idx):
    before = copy.deepcopy(gpt.state_dict())
    tuned = add_lora(gpt, rank=4, alpha=8, targets=TARGETS)
    torch.testing.assert_close(tuned(idx).logits, gpt(idx).logits, atol=0, rtol=0)
    assert sorted(lora_layers(tuned)) == sorted(f"blocks.{i}.{n}" for i in range(2)
                                                for n in ("attn.query", "attn.value", "mlp.fc"))
    assert not lora_layers(gpt)                                     # the input is unchanged
    assert all(torch.equal(v, before[k]) for k, v in gpt.state_dict().items())
    assert all(p.requires_grad for p in gpt.parameters())


def test_only_a_and_b_train(gpt, idx):
    tuned = add_lora(gpt, rank=4, alpha=8, targets=TARGETS)
    trainable = {n for n, p in tuned.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.{ab}" for n in lora_layers(tuned) for ab in ("A", "B")}
    expected = 2 * (4 * (64 + 64) + 4 * (64 + 64) + 4 * (64 + 256))  # r (in + out) per layer
    assert trainable_parameter_count(tuned) == (expected, gpt.num_parameters() + expected)
    assert trainable_parameter_count(gpt) == (gpt.num_parameters(), gpt.num_parameters())
    # One optimiser step moves only A and B (B first, since B starts at zero).
    frozen = {n: p.clone() for n, p in tuned.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD([p for p in tuned.parameters() if p.requires_grad], lr=0.1)
    tuned(idx, targets=idx).loss.backward()
    opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in tuned.named_parameters() if n in frozen)
    assert any(layer.B.abs().sum() > 0 for layer in lora_layers(tuned).values())
    assert not torch.allclose(tuned(idx).logits, gpt(idx).logits)


def test_tied_output_layer_stays_tied(gpt):
    tuned = add_lora(gpt, rank=2, alpha=2, targets=["lm_head"])
    assert tuned.lm_head.base.weight is tuned.wte.weight
    assert not tuned.wte.weight.requires_grad


def test_against_peft(gpt, idx):
    peft = pytest.importorskip("peft", reason="the reference implementation (pip install peft)")
    ours = randomise_adapters(add_lora(gpt, rank=4, alpha=8, targets=TARGETS))
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0)
    reference = peft.get_peft_model(copy.deepcopy(gpt), config)
    theirs = reference.base_model.model
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            other = theirs.get_submodule(name)
            assert other.lora_A["default"].weight.shape == layer.A.shape
            assert other.lora_B["default"].weight.shape == layer.B.shape
            assert other.scaling["default"] == layer.scaling
            other.lora_A["default"].weight.copy_(layer.A)
            other.lora_B["default"].weight.copy_(layer.B)
    ours_out, theirs_out = ours(idx).logits, reference(idx).logits
    assert (ours_out - gpt(idx).logits).abs().max() > 1e-2          # the adapters do something
    torch.testing.assert_close(ours_out, theirs_out, atol=1e-5, rtol=0)
    # The same parameters train, in the same number.
    assert trainable_parameter_count(ours)[0] == sum(
        p.numel() for p in reference.parameters() if p.requires_grad)
    # peft's merge agrees with ours.
    torch.testing.assert_close(merge_lora(ours)(idx).logits,
                               reference.merge_and_unload()(idx).logits, atol=1e-5, rtol=0)


def test_merge_equals_unmerged(gpt, idx):
    tuned = randomise_adapters(add_lora(gpt, rank=4, alpha=8, targets=TARGETS + ["lm_head"]))
    merged = merge_lora(tuned)
    assert not lora_layers(merged) and lora_layers(tuned)           # the input keeps its adapters
    assert all(type(merged.get_submodule(n)) is nn.Linear for n in lora_layers(tuned))
    assert set(merged.state_dict()) == set(gpt.state_dict())        # the GPT's own key names again
    torch.testing.assert_close(merged(idx).logits, tuned(idx).logits, atol=1e-5, rtol=0)
    layer = tuned.blocks[0].mlp.fc
    torch.testing.assert_close(merged.blocks[0].mlp.fc.weight,
                               layer.base.weight + 2.0 * layer.B @ layer.A)
    # The adapter on the tied output layer changed the output layer only, not the input embedding.
    assert merged.lm_head.weight is not merged.wte.weight
    torch.testing.assert_close(merged.wte.weight, gpt.wte.weight, atol=0, rtol=0)


def test_classifier_and_batch():
    """Works on any module, e.g. a plain MLP, for a batch of inputs."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    tuned = randomise_adapters(add_lora(net, rank=2, alpha=4, targets=["0", "2"]))
    x = torch.randn(5, 8)
    torch.testing.assert_close(merge_lora(tuned)(x), tuned(x), atol=1e-5, rtol=0)
    assert tuned(x).shape == (5, 3)


def test_errors(gpt):
    with pytest.raises(TypeError, match=r"`model` has to be a torch nn.Module, got str"):
        add_lora("gpt", rank=2, alpha=2, targets=["query"])
    with pytest.raises(TypeError, match=r"`targets` \(='query'\) has to be a list .* \['query'\]"):
        add_lora(gpt, rank=2, alpha=2, targets="query")
    with pytest.raises(ValueError, match=r"`targets` \(=\[\]\) has to be a non-empty list"):
        add_lora(gpt, rank=2, alpha=2, targets=[])
    with pytest.raises(ValueError, match=r"no nn.Linear .* matches `targets` \(=\['q_proj'\]\).*"
                                         r"'query'"):
        add_lora(gpt, rank=2, alpha=2, targets=["q_proj"])
    with pytest.raises(ValueError, match=r"`rank` \(=0\) has to be an integer in \[1, 64\]"):
        add_lora(gpt, rank=0, alpha=2, targets=["query"])
    with pytest.raises(ValueError, match=r"`rank` \(=65\) has to be an integer in \[1, 64\]"):
        add_lora(gpt, rank=65, alpha=2, targets=["query"])
    with pytest.raises(TypeError, match=r"`rank` \(=2.0\) has to be an integer"):
        add_lora(gpt, rank=2.0, alpha=2, targets=["query"])
    with pytest.raises(ValueError, match=r"`alpha` \(=0\) has to be a positive real number"):
        add_lora(gpt, rank=2, alpha=0, targets=["query"])
    tuned = add_lora(gpt, rank=2, alpha=2, targets=["query"])
    with pytest.raises(ValueError, match=r"already has LoRA adapters .* merge_lora"):
        add_lora(tuned, rank=2, alpha=2, targets=["value"])
    with pytest.raises(ValueError, match=r"`model` has no LoRALinear layer to merge"):
        merge_lora(gpt)
    with pytest.raises(TypeError, match=r"`base` has to be an nn.Linear, got Embedding"):
        LoRALinear(nn.Embedding(3, 4), rank=1, alpha=1)
    with pytest.raises(ValueError, match=r"`rank` \(=5\) has to be an integer in \[1, 4\]"):
        LoRALinear(nn.Linear(4, 8), rank=5, alpha=1)


def test_llama_style_gpt(idx):
    """RoPE, RMSNorm, SwiGLU, grouped-query attention and an untied output layer."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=35, position="rope", norm="rmsnorm", mlp="swiglu",
                          n_kv_head=2, tie_embeddings=False, bias=False))
    tuned = randomise_adapters(add_lora(model, rank=4, alpha=8,
                                        targets=["query", "key", "gate", "down", "lm_head"]))
    assert len(lora_layers(tuned)) == 2 * 4 + 1
    assert tuned.blocks[0].attn.key.B.shape == (32, 4)             # 2 key heads of 16
    torch.testing.assert_close(merge_lora(tuned)(idx).logits, tuned(idx).logits, atol=1e-5, rtol=0)
