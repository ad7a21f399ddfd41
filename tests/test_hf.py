"""Hugging Face GPT-2 and Llama -> llm_book GPT: the same logits, offline (small random configs)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from llm_book.hf import (config_from_hf, config_from_hf_llama, from_hf_gpt2, from_hf_llama,  # noqa: E402
                         hub_reachable, load_gpt2, state_dict_from_hf, state_dict_from_hf_llama)
from llm_book.model import GPT, KVCache  # noqa: E402
from llm_book.sampling import greedy  # noqa: E402


def small_config(**changes):
    settings = dict(n_layer=2, n_head=2, n_embd=32, vocab_size=50, n_positions=16,
                    bos_token_id=0, eos_token_id=0)
    settings.update(changes)
    return transformers.GPT2Config(**settings)


@pytest.fixture(scope="module")
def hf_model():
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(small_config()).eval()
    with torch.no_grad():  # larger random weights than the 0.02 init, so that mistakes show
        for name, p in model.named_parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def test_same_logits_as_hugging_face(hf_model):
    model = from_hf_gpt2(hf_model)
    assert isinstance(model, GPT) and not model.training
    idx = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf_model(idx).logits
        got = model(idx).logits
    assert expected.abs().max() > 1.0, "the test needs logits large enough to tell mistakes apart"
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()


def test_conversion_splits_and_transposes(hf_model):
    config = config_from_hf(hf_model.config)
    hf_state = hf_model.state_dict()
    before = {k: v.clone() for k, v in hf_state.items()}
    sd = state_dict_from_hf(hf_state, config)
    w = hf_state["transformer.h.1.attn.c_attn.weight"]              # (in, 3 * out)
    assert torch.equal(sd["blocks.1.attn.key.weight"], w[:, 32:64].t())
    assert torch.equal(sd["blocks.1.mlp.fc.weight"], hf_state["transformer.h.1.mlp.c_fc.weight"].t())
    assert sd["lm_head.weight"] is sd["wte.weight"]
    assert all(torch.equal(before[k], v) for k, v in hf_state.items()), "the input was changed"
    assert set(sd) == set(GPT(config).state_dict())


def test_config_is_copied():
    config = config_from_hf(small_config())
    assert (config.vocab_size, config.block_size, config.n_layer, config.n_head, config.n_embd) == (50, 16, 2, 2, 32)
    assert config.causal and config.bias and config.dropout == 0.0


@pytest.mark.parametrize("change, message", [
    ({"activation_function": "relu"}, r"`hf_config.activation_function` \(='relu'\) is not supported"),
    ({"layer_norm_epsilon": 1e-6}, r"`hf_config.layer_norm_epsilon` \(=1e-06\) is not supported"),
    ({"n_inner": 64}, r"`hf_config.n_inner` \(=64\) is not supported: .* None or 4 \* n_embd"),
    ({"scale_attn_by_inverse_layer_idx": True}, r"`hf_config.scale_attn_by_inverse_layer_idx`"),
])
def test_unsupported_variants_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        config_from_hf(small_config(**change))


def test_wrong_state_dict_is_refused(hf_model):
    config = config_from_hf(small_config(n_layer=3))
    with pytest.raises(ValueError, match=r"`hf_state` has no 'h.2.ln_1.weight'; .* 3 layers"):
        state_dict_from_hf(hf_model.state_dict(), config)
    state = dict(hf_model.state_dict())
    state["lm_head.weight"] = state["lm_head.weight"] + 1
    with pytest.raises(ValueError, match=r"lm_head.weight differs from its wte.weight"):
        state_dict_from_hf(state, config_from_hf(hf_model.config))
    with pytest.raises(TypeError, match=r"`hf_model` has to be a transformers GPT2LMHeadModel, got str"):
        from_hf_gpt2("gpt2")


def test_offline_hub_fails_fast_and_clearly(monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"could not load 'no-such-gpt2-here'"):
        load_gpt2("no-such-gpt2-here")
    assert time.perf_counter() - start < 10


def test_load_gpt2_from_a_local_checkpoint(tmp_path, monkeypatch):
    """The loading path of the notebook's live cell, offline: a saved checkpoint directory."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(["The cat sat on the mat."] * 20, trainers.BpeTrainer(
        vocab_size=270, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe).save_pretrained(tmp_path)
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(small_config(vocab_size=bpe.get_vocab_size())).eval()
    hf.save_pretrained(tmp_path)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer = load_gpt2(str(tmp_path))
    ids = torch.tensor([tokenizer.encode("The cat sat on the mat.")])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, hf(ids).logits, atol=1e-4)


# ----------------------------------------------------------------------------
# Llama
# ----------------------------------------------------------------------------
def llama_config(**changes):
    settings = dict(vocab_size=61, hidden_size=32, intermediate_size=72, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=48,
                    rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=0, eos_token_id=None,
                    pad_token_id=None)
    settings.update(changes)
    return transformers.LlamaConfig(**settings)


def random_llama(seed: int = 0, **changes):
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(llama_config(**changes)).eval()
    with torch.no_grad():  # larger random weights than the init (norms away from 1), so that mistakes show
        for p in model.parameters():
            p.add_(0.15 * torch.randn_like(p))
    return model


LLAMA_VARIANTS = {
    "grouped-query, untied, theta 1e4": dict(num_key_value_heads=2, tie_word_embeddings=False, rope_theta=10000.0),
    "multi-head, tied, theta 5e5": dict(num_key_value_heads=4, tie_word_embeddings=True, rope_theta=500000.0),
    "one kv head, untied, theta 100": dict(num_key_value_heads=1, tie_word_embeddings=False, rope_theta=100.0),
}


@pytest.mark.parametrize("variant", list(LLAMA_VARIANTS))
def test_llama_same_logits_as_hugging_face(variant):
    hf = random_llama(**LLAMA_VARIANTS[variant])
    model = from_hf_llama(hf)
    config = model.config
    assert isinstance(model, GPT) and not model.training
    assert (config.position, config.norm, config.mlp, config.bias) == ("rope", "rmsnorm", "swiglu", False)
    assert config.n_kv_head == hf.config.num_key_value_heads
    assert config.rope_theta == LLAMA_VARIANTS[variant]["rope_theta"] and config.norm_eps == 1e-6
    assert config.tie_embeddings == hf.config.tie_word_embeddings
    assert (model.lm_head.weight is model.wte.weight) == config.tie_embeddings
    idx = torch.randint(0, 61, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(idx).logits
        got = model(idx).logits                                  # fused attention
        got_explicit = model(idx, output_attentions=True).logits  # the formula step by step
    assert expected.abs().max() > 1.0, "the test needs logits large enough to tell mistakes apart"
    assert (got - expected).abs().max() < 1e-4, (got - expected).abs().max()
    assert (got_explicit - expected).abs().max() < 1e-4, (got_explicit - expected).abs().max()


@pytest.mark.parametrize("variant", list(LLAMA_VARIANTS))
def test_llama_greedy_generation_with_the_cache_matches_transformers(variant):
    hf = random_llama(seed=2, **LLAMA_VARIANTS[variant])
    model = from_hf_llama(hf)
    prompt = torch.randint(0, 61, (2, 6), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=30,
                               do_sample=False, pad_token_id=0)
    got = greedy(model, prompt, 30, use_cache=True)
    assert expected.shape == got.shape == (2, 36)
    assert torch.equal(got, expected)
    assert len(set(got[:, 6:].flatten().tolist())) > 3, "the test needs generations that are not one token"


def test_llama_conversion_renames_and_leaves_the_input_alone():
    hf = random_llama()
    config = config_from_hf_llama(hf.config)
    hf_state = hf.state_dict()
    before = {k: v.clone() for k, v in hf_state.items()}
    sd = state_dict_from_hf_llama(hf_state, config)
    assert torch.equal(sd["blocks.1.attn.key.weight"], hf_state["model.layers.1.self_attn.k_proj.weight"])
    assert sd["blocks.1.attn.key.weight"].shape == (2 * 8, 32)  # two key/value heads of 8
    assert torch.equal(sd["blocks.0.mlp.gate.weight"], hf_state["model.layers.0.mlp.gate_proj.weight"])
    assert torch.equal(sd["blocks.0.ln_2.weight"], hf_state["model.layers.0.post_attention_layernorm.weight"])
    assert set(sd) == set(GPT(config).state_dict())
    assert all(torch.equal(before[k], v) for k, v in hf_state.items()), "the input was changed"
    cache = KVCache(config.n_layer)
    model = from_hf_llama(hf)
    with torch.no_grad():
        model(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    assert cache.layers[0].k.shape == (1, 2, 5, 8)  # the cache keeps the two key/value heads only


@pytest.mark.parametrize("change, message", [
    ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}},
     r"`hf_config.rope_parameters\['rope_type'\]` \(='linear'\) is not supported \(rope scaling\)"),
    ({"attention_bias": True}, r"`hf_config.attention_bias` \(=True\) is not supported: .* False"),
    ({"mlp_bias": True}, r"`hf_config.mlp_bias` \(=True\) is not supported"),
    ({"hidden_act": "gelu"}, r"`hf_config.hidden_act` \(='gelu'\) is not supported: .*'silu'"),
    ({"head_dim": 16}, r"`hf_config.head_dim` \(=16\) is not supported: .* hidden_size // num_attention_heads"),
    ({"pretraining_tp": 2}, r"`hf_config.pretraining_tp` \(=2\) is not supported"),
])
def test_llama_unsupported_variants_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        config_from_hf_llama(llama_config(**change))


def test_llama_older_configs_and_wrong_inputs_are_refused():
    import types

    old = types.SimpleNamespace(**{**llama_config().to_dict(), "rope_parameters": None, "rope_theta": 500.0,
                                   "rope_scaling": {"type": "dynamic", "factor": 4.0}})
    with pytest.raises(ValueError, match=r"`hf_config.rope_scaling` \(=\{'type': 'dynamic', 'factor': 4.0\}\) "
                                         r"is not supported: llm_book's GPT needs None"):
        config_from_hf_llama(old)
    old.rope_scaling = None
    assert config_from_hf_llama(old).rope_theta == 500.0  # transformers 4: rope_theta on the config
    with pytest.raises(ValueError, match=r"`hf_config.model_type` \(='gpt2'\) is not supported: .*'llama'"):
        config_from_hf_llama(types.SimpleNamespace(**{**vars(old), "model_type": "gpt2"}))
    hf = random_llama()
    with pytest.raises(ValueError, match=r"`hf_state` has no 'model.layers.2.input_layernorm.weight'; .* 3 layers"):
        state_dict_from_hf_llama(hf.state_dict(), config_from_hf_llama(llama_config(num_hidden_layers=3)))
    tied = config_from_hf_llama(llama_config(tie_word_embeddings=True))
    with pytest.raises(ValueError, match=r"lm_head.weight differs from its model.embed_tokens.weight"):
        state_dict_from_hf_llama(hf.state_dict(), tied)
    with pytest.raises(TypeError, match=r"`hf_model` has to be a transformers LlamaForCausalLM, got str"):
        from_hf_llama("meta-llama/Llama-3.2-1B")
