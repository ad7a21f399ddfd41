"""Chapter 12's experiments: equal budgets, exact KL, windows with known truth, LoRA fine-tuning, shipped results."""

import json

import pytest
import torch

from llm_book.architectures import (LORA_RECIPE, LORA_TARGETS, RESULTS_PATH, STYLES, ExactKL, boundary_windows,
                                    count_parameters, equal_budget_configs, kl_per_position, load_results,
                                    qa_finetune, style_config, train_style)
from llm_book.language import ToyLanguage
from llm_book.model import GPT
from llm_book.pretrained import load_toy_gpt
from llm_book.probability import language_cross_entropy


def test_style_configs_and_equal_budget():
    configs = equal_budget_configs(35, 32, n_kv_head=2)
    gpt2, llama = configs["gpt2"], configs["llama"]
    assert (gpt2.position, gpt2.norm, gpt2.mlp, gpt2.tie_embeddings) == ("learned", "layernorm", "gelu", True)
    assert (llama.position, llama.norm, llama.mlp, llama.tie_embeddings, llama.bias, llama.n_kv_head) == \
        ("rope", "rmsnorm", "swiglu", False, False, 2)
    n2, nl = count_parameters(gpt2), count_parameters(llama)
    assert n2 == GPT(gpt2).num_parameters()
    assert abs(n2 - nl) <= 3 * 64 * 2 / 2          # within half a SwiGLU unit
    assert abs(count_parameters(style_config("llama", 35, 32, mlp_hidden=llama.mlp_width + 1)) - n2) > abs(nl - n2)


def test_style_is_checked():
    with pytest.raises(ValueError, match=r"`style` \(='bert'\) has to be one of 'gpt2', 'llama'"):
        style_config("bert", 35, 16)
    with pytest.raises(ValueError, match=r"`style` \(='t5'\)"):
        train_style("t5", steps=1)


def test_exact_kl_is_cross_entropy_minus_entropy():
    model, tokenizer = load_toy_gpt()
    language = ToyLanguage()
    kl = ExactKL(language, tokenizer)(model)
    assert kl == pytest.approx(language_cross_entropy(model, tokenizer, language) - language.entropy_per_token(),
                               abs=1e-9)
    assert 0 < kl < 0.01


def test_boundary_windows_know_the_truth():
    language = ToyLanguage()
    model, tokenizer = load_toy_gpt()
    idx, truth = boundary_windows(language, tokenizer, 8, 24, seed=1)
    assert idx.shape == (8, 24) and truth.shape == (8, 24, len(tokenizer))
    assert torch.allclose(truth.sum(-1), torch.ones(8, 24))
    assert bool((truth[:, :-1].gather(-1, idx[:, 1:, None]) > 0).all())   # each next word was possible
    assert bool((idx[:, 0] == tokenizer.token_to_id["The"]).all())
    kl = kl_per_position(model, idx[:, :16], truth[:, :16])
    assert kl.shape == (16,) and bool((kl >= -1e-9).all()) and float(kl.mean()) < 0.05
    with pytest.raises(ValueError, match="have to agree"):
        kl_per_position(model, idx, truth[:, :5])


def test_train_style_runs_both_styles():
    for style in STYLES:
        model, tokenizer, history, seconds = train_style(style, steps=3)
        assert model.config.block_size == 32 and len(history.loss) == 3 and seconds > 0


def test_lora_finetune_counts_and_merges():
    row = qa_finetune(2, steps=3, n_test=6)
    model = row["model"]
    n_embd, n_layer, hidden = 64, 2, 256
    lora = n_layer * 2 * (4 * (n_embd + n_embd) + (n_embd + hidden) + (hidden + n_embd))
    embeddings = model.wte.weight.numel() + model.wpe.weight.numel()
    assert row["trainable"] == lora + embeddings
    assert row["merge_max_diff"] < 1e-5 and 0 <= row["accuracy"] <= 1
    assert not any("lora" in name for name, _ in model.named_parameters())   # merged: plain linears
    full = qa_finetune(None, steps=2, n_test=6)
    assert full["trainable"] == full["total"] == full["model"].num_parameters()
    with pytest.raises(ValueError, match="`rank`.*0 for the embeddings alone"):
        qa_finetune(-1, steps=1)
    alone = qa_finetune(0, steps=2, n_test=6)           # the baseline: no adapters, embeddings only
    trained = {name for name, p in alone["model"].named_parameters() if p.requires_grad}
    assert trained == {"wte.weight", "wpe.weight"} and alone["merge_max_diff"] == 0.0
    assert alone["trainable"] == alone["model"].wte.weight.numel() + alone["model"].wpe.weight.numel()


def test_shipped_results():
    results = load_results()
    assert json.loads(RESULTS_PATH.read_text()) == results
    arch = results["architectures"]
    assert set(arch) == set(STYLES)
    assert abs(arch["gpt2"]["parameters"] - arch["llama"]["parameters"]) <= 192
    for style in STYLES:
        assert len(arch[style]["kl_per_position"]) == results["arch_recipe"]["eval_length"]
        assert 0 < arch[style]["kl"] < 0.05
    ranks = [row["rank"] for row in results["lora"]]
    assert ranks == [None] + LORA_RECIPE["ranks"]
    trainable = [row["trainable"] for row in results["lora"][1:]]
    assert trainable == sorted(trainable) and all(t < results["lora"][0]["trainable"] for t in trainable)
    assert all(row["merge_max_diff"] < 1e-4 for row in results["lora"])
    assert set(LORA_TARGETS) == {"query", "key", "value", "out", "fc", "proj"}
