"""Hugging Face GPT-2 -> llm_book GPT: the same logits, offline (a small random GPT2Config)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from llm_book.hf import config_from_hf, from_hf_gpt2, hub_reachable, load_gpt2, state_dict_from_hf  # noqa: E402
from llm_book.model import GPT  # noqa: E402


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
