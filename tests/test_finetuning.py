"""Prompt-completion fine-tuning: growing a GPT, loss masks, batched completion, exact match."""

from __future__ import annotations

import pytest
import torch

from llm_book.finetuning import (CompletionSampler, complete, completion_batch, exact_match, extend_gpt,
                                 finetune)
from llm_book.model import GPT, GPTConfig
from llm_book.tokenizer import WordTokenizer

VOCAB = ["a", "b", "c", "?", "x", "y", "<eos>"]


@pytest.fixture
def tok() -> WordTokenizer:
    return WordTokenizer(VOCAB)


# ----------------------------------------------------------------------------
# extend_gpt
# ----------------------------------------------------------------------------
def test_extend_gpt_keeps_every_learned_weight(tiny_gpt):
    before = {k: v.clone() for k, v in tiny_gpt.state_dict().items()}
    big = extend_gpt(tiny_gpt, vocab_size=15, block_size=20, init_std=0.02, seed=1)
    assert big.config.vocab_size == 15 and big.config.block_size == 20
    assert big.config.n_layer == tiny_gpt.config.n_layer and not big.training
    assert torch.equal(big.wte.weight[:11], tiny_gpt.wte.weight)
    assert torch.equal(big.wpe.weight[:12], tiny_gpt.wpe.weight)
    assert big.lm_head.weight is big.wte.weight  # still tied
    for k, v in tiny_gpt.state_dict().items():
        assert torch.equal(v, before[k])  # the input is not modified
        if not k.startswith(("wte", "wpe", "lm_head")):
            assert torch.equal(big.state_dict()[k], v)
    new_rows = big.wte.weight[11:].detach()
    assert new_rows.abs().max() < 0.2 and new_rows.std() > 0.005


def test_extend_gpt_gives_the_same_scores_for_old_tokens(tiny_gpt):
    big = extend_gpt(tiny_gpt, vocab_size=15, block_size=20)
    idx = torch.tensor([[1, 2, 3, 4, 5], [0, 0, 9, 10, 1]])
    with torch.no_grad():
        assert torch.allclose(big(idx).logits[..., :11], tiny_gpt(idx).logits, atol=1e-5)


def test_extend_gpt_grows_a_llama_style_model():
    """Rotary positions have no table to grow; an untied output layer grows its own rows."""
    torch.manual_seed(0)
    small = GPT(GPTConfig(vocab_size=11, block_size=12, n_layer=1, n_head=4, n_embd=16, bias=False,
                          position="rope", norm="rmsnorm", mlp="swiglu", n_kv_head=2,
                          tie_embeddings=False)).eval()
    big = extend_gpt(small, vocab_size=15, block_size=20, seed=1)
    assert big.config.block_size == 20 and not hasattr(big, "wpe")
    assert big.lm_head.weight is not big.wte.weight
    assert torch.equal(big.lm_head.weight[:11], small.lm_head.weight)
    assert big.lm_head.weight[11:].abs().max() < 0.2
    idx = torch.tensor([[1, 2, 3, 4, 5], [0, 0, 9, 10, 1]])
    with torch.no_grad():
        assert torch.allclose(big(idx).logits[..., :11], small(idx).logits, atol=1e-5)


def test_extend_gpt_is_seeded(tiny_gpt):
    a, b = extend_gpt(tiny_gpt, 14, seed=3), extend_gpt(tiny_gpt, 14, seed=3)
    c = extend_gpt(tiny_gpt, 14, seed=4)
    assert torch.equal(a.wte.weight, b.wte.weight) and not torch.equal(a.wte.weight, c.wte.weight)


def test_extend_gpt_errors(tiny_gpt):
    with pytest.raises(TypeError, match=r"`model` has to be a GPT, got str"):
        extend_gpt("gpt", 20)
    with pytest.raises(ValueError, match=r"`vocab_size` \(=5\) has to be at least the model's vocab_size \(11\)"):
        extend_gpt(tiny_gpt, 5)
    with pytest.raises(ValueError, match=r"`block_size` \(=4\) has to be at least the model's block_size \(12\)"):
        extend_gpt(tiny_gpt, 11, block_size=4)
    with pytest.raises(ValueError, match=r"`vocab_size` \(=0\) has to be an integer >= 1"):
        extend_gpt(tiny_gpt, 0)
    with pytest.raises(ValueError, match=r"`init_std` \(=-1\) has to be a non-negative float"):
        extend_gpt(tiny_gpt, 12, init_std=-1)


# ----------------------------------------------------------------------------
# completion_batch and the sampler
# ----------------------------------------------------------------------------
def test_completion_batch_scores_only_the_completion(tok):
    idx, targets = completion_batch([["a", "b", "?"], ["c", "?"]], [["x", "<eos>"], ["y", "y", "<eos>"]], tok)
    assert idx.shape == targets.shape == (2, 4)
    a, b, c, q, x, y, eos = range(7)
    assert idx.tolist() == [[a, b, q, x], [c, q, y, y]]
    assert targets.tolist() == [[-100, -100, x, eos], [-100, y, y, eos]]


def test_completion_batch_pads_with_eos_and_ignores_padding(tok):
    idx, targets = completion_batch([["a"]], [["x", "<eos>"]], tok, pad_to=6)
    assert idx.tolist() == [[0, 4, 6, 6, 6]]
    assert targets.tolist() == [[4, 6, -100, -100, -100]]


def test_completion_batch_errors(tok):
    with pytest.raises(TypeError, match=r"have to be lists of word lists, not strings"):
        completion_batch("a b", ["x"], tok)
    with pytest.raises(ValueError, match=r"`prompts` \(1\) and `completions` \(2\) have to be"):
        completion_batch([["a"]], [["x"], ["y"]], tok)
    with pytest.raises(ValueError, match=r"example 0 has an empty prompt or completion"):
        completion_batch([[]], [["x"]], tok)
    with pytest.raises(ValueError, match=r"`pad_to` \(=2\) is shorter than the longest example \(3 tokens\)"):
        completion_batch([["a"]], [["x", "<eos>"]], tok, pad_to=2)
    with pytest.raises(ValueError, match=r"unknown word 'zebra'"):
        completion_batch([["zebra"]], [["x"]], tok)


def test_completion_sampler_draws_rows_of_the_batch(tok):
    sampler = CompletionSampler([["a", "?"], ["b", "?"], ["c", "?"]], [["x", "<eos>"]] * 3, tok)
    assert len(sampler) == 3
    idx, targets = sampler(8, torch.Generator().manual_seed(0))
    assert idx.shape == targets.shape == (8, 3)
    assert set(idx[:, 0].tolist()) <= {0, 1, 2} and (idx[:, 1] == 3).all()
    again, _ = sampler(8, torch.Generator().manual_seed(0))
    assert torch.equal(idx, again)


# ----------------------------------------------------------------------------
# finetune, complete, exact_match: a task small enough to learn in a test
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def copier():
    """A GPT trained to answer 'w ?' with 'w w': it repeats the word twice."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest on a shared CPU
    tok = WordTokenizer(VOCAB)
    words = ["a", "b", "c", "x", "y"]
    prompts = [[w, "?"] for w in words]
    completions = [[w, w, "<eos>"] for w in words]
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), block_size=8, n_layer=1, n_head=2, n_embd=16))
    history = finetune(model, tok, prompts, completions, steps=150, batch_size=16, lr=1e-2, seed=0)
    torch.set_num_threads(threads)
    return model, tok, words, history


def test_finetune_learns_a_tiny_task(copier):
    model, tok, words, history = copier
    assert len(history.loss) == 150 and history.loss[-1] < 0.1 < history.loss[0]
    assert not model.training
    answers = complete(model, tok, [[w, "?"] for w in words], max_new_tokens=4)
    assert answers == [[w, w] for w in words]


def test_complete_handles_prompts_of_different_lengths_in_order(copier):
    model, tok, _, _ = copier
    prompts = [["a", "?"], ["x", "b", "?"], ["y", "?"]]
    together = complete(model, tok, prompts, max_new_tokens=3)
    alone = [complete(model, tok, [p], max_new_tokens=3)[0] for p in prompts]
    assert together == alone and together[0] == ["a", "a"] and together[2] == ["y", "y"]


def test_complete_stops_at_the_block_size(copier):
    model, tok, _, _ = copier
    out = complete(model, tok, [["a"] * 6 + ["?"]], max_new_tokens=5)
    assert len(out[0]) <= 1  # only one position was left


def test_complete_errors(copier):
    model, tok, _, _ = copier
    with pytest.raises(ValueError, match=r"`prompts` has to be a non-empty list of word lists"):
        complete(model, tok, [])
    with pytest.raises(ValueError, match=r"a prompt of 8 tokens leaves no room in the model's block_size \(8\)"):
        complete(model, tok, [["a"] * 8])
    with pytest.raises(ValueError, match=r"`max_new_tokens` \(=-1\) has to be an integer >= 0"):
        complete(model, tok, [["a"]], max_new_tokens=-1)


def test_finetune_errors(tiny_gpt, tok):
    with pytest.raises(ValueError, match=r"`steps` \(=0\) has to be an integer >= 1"):
        finetune(tiny_gpt, tok, [["a"]], [["x"]], steps=0)
    with pytest.raises(ValueError, match=r"`batch_size` \(=0\) has to be an integer >= 1"):
        finetune(tiny_gpt, tok, [["a"]], [["x"]], steps=1, batch_size=0)


def test_exact_match():
    assert exact_match([["a", "b"], ["c"]], [["a", "b"], ["d"]]) == 0.5
    assert exact_match([("a",)], [["a"]]) == 1.0
    with pytest.raises(TypeError, match=r"not strings"):
        exact_match("ab", ["ab"])
    with pytest.raises(ValueError, match=r"`predictions` \(1\) and `references` \(2\)"):
        exact_match([["a"]], [["a"], ["b"]])


# ----------------------------------------------------------------------------
# recipe_start: the beginning every task recipe shares


def test_recipe_start_is_the_shared_beginning_of_both_task_recipes():
    from llm_book.dialogue import QA_RECIPE
    from llm_book.finetuning import recipe_start, split_sentences_train_test
    from llm_book.language import ToyLanguage
    from llm_book.translation import TRANSLATOR_RECIPE

    everything = [w for w, _ in ToyLanguage().sentences()]
    for recipe in (QA_RECIPE, TRANSLATOR_RECIPE):
        steps, seed, language, train_sentences = recipe_start(recipe)
        assert (steps, seed) == (recipe["steps"], recipe["seed"])
        assert isinstance(language, ToyLanguage)
        assert train_sentences == split_sentences_train_test(everything, recipe["test_fraction"], seed=0)[0]
        # overriding the seed changes the training run, never the held-out sentences
        assert recipe_start(recipe, steps=3, seed=7)[0::3] == (3, train_sentences)
        assert recipe_start(recipe, seed=7)[1] == 7
    with pytest.raises(ValueError, match=r"`recipe` lacks \['test_fraction'\]"):
        recipe_start({"steps": 1, "seed": 0})


def test_dialogue_still_offers_the_split_chapter_6_imports():
    from llm_book import dialogue, finetuning

    assert dialogue.split_sentences_train_test is finetuning.split_sentences_train_test
