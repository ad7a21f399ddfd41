"""The shipped toy GPT: it loads safely, and it has learned the toy language."""

from __future__ import annotations

import math

import pytest
import torch

from llm_book.model import GPT
from llm_book.pretrained import (
    TOY_GPT_PATH,
    TOY_GPT_RECIPE,
    TOY_GPT_SHA256,
    load_checkpoint,
    save_checkpoint,
    sha256,
    train_toy_gpt,
)
from llm_book.probability import language_fit, model_sentence_probability, next_token_distribution
from llm_book.tokenizer import WordTokenizer


# ----------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------
def test_load_toy_gpt_returns_model_and_tokenizer(toy_gpt, lang):
    model, tok = toy_gpt
    assert isinstance(model, GPT) and isinstance(tok, WordTokenizer)
    assert tok.vocab == lang.vocab and tok.eos == lang.eos
    assert not model.training
    c = model.config
    assert c.vocab_size == len(lang.vocab)
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size) == tuple(
        TOY_GPT_RECIPE[k] for k in ("n_layer", "n_head", "n_embd", "block_size"))
    assert c.block_size >= lang.max_length
    assert model.lm_head.weight is model.wte.weight  # still tied after loading


def test_shipped_file_matches_its_hash():
    assert sha256(TOY_GPT_PATH) == TOY_GPT_SHA256


def test_checkpoint_holds_only_plain_data():
    data = torch.load(TOY_GPT_PATH, map_location="cpu", weights_only=True)
    assert set(data) == {"config", "vocab", "eos", "state_dict"}
    assert "lm_head.weight" not in data["state_dict"]  # tied: stored once
    assert all(isinstance(v, torch.Tensor) for v in data["state_dict"].values())


def test_wrong_hash_is_refused():
    with pytest.raises(ValueError, match=rf"has SHA-256 {TOY_GPT_SHA256}, expected 0+; the file is damaged"):
        load_checkpoint(TOY_GPT_PATH, expected_sha256="0" * 64)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*missing\.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_save_and_load_round_trip(toy_gpt, tmp_path):
    model, tok = toy_gpt
    path = tmp_path / "copy.pt"
    digest = save_checkpoint(model, tok, path)
    assert digest == sha256(path)
    loaded, loaded_tok = load_checkpoint(path, expected_sha256=digest)
    assert loaded.config == model.config and loaded_tok.vocab == tok.vocab
    idx = torch.tensor([tok.encode("The cats that the dog chased sleep on the".split())])
    assert torch.equal(loaded(idx).logits, model(idx).logits)
    assert loaded.lm_head.weight is loaded.wte.weight


# ----------------------------------------------------------------------------
# Quality: what the model has learned
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fit(toy_gpt, lang):
    model, tok = toy_gpt
    return language_fit(model, tok, lang, 2000, seed=123)


def test_close_to_the_true_distribution(fit):
    assert fit["kl"] < 0.02


def test_cross_entropy_near_the_entropy_floor(fit, lang):
    assert fit["entropy"] == lang.entropy_per_token()
    assert fit["cross_entropy"] == pytest.approx(lang.entropy_per_token(), rel=0.03)


def test_article_sentence_probability(toy_gpt):
    model, tok = toy_gpt
    assert model_sentence_probability(model, tok, "The cat sat on the".split()) == pytest.approx(0.0384, abs=0.004)


def test_learned_the_long_range_agreement(toy_gpt):
    model, tok = toy_gpt
    plural = next_token_distribution(model, tok, "The cats that the dog chased".split())
    singular = next_token_distribution(model, tok, "The cat that the dogs chased".split())
    for sg, pl in (("sleeps", "sleep"), ("runs", "run"), ("eats", "eat")):
        assert plural[pl] > 10 * plural[sg]
        assert singular[sg] > 10 * singular[pl]


def test_learned_where_each_animal_sits(toy_gpt):
    model, tok = toy_gpt
    cat = next_token_distribution(model, tok, "The cat sat on the".split())
    bird = next_token_distribution(model, tok, "The bird sat on the".split())
    assert cat["mat"] == pytest.approx(0.5, abs=0.1) and bird["branch"] == pytest.approx(0.6, abs=0.1)
    assert cat["branch"] < 0.02


# ----------------------------------------------------------------------------
# The recipe runs (the full 2000-step training is too slow for a unit test)
# ----------------------------------------------------------------------------
def test_train_toy_gpt_runs_a_few_steps(lang):
    model, tok, history = train_toy_gpt(steps=20)
    assert len(history.loss) == 20 and all(math.isfinite(x) for x in history.loss)
    assert history.loss[-1] < history.loss[0]
    assert history.loss[0] == pytest.approx(math.log(len(lang.vocab)), rel=0.1)  # starts near uniform
    assert tok.vocab == lang.vocab and isinstance(model, GPT)


# ----------------------------------------------------------------------------
# The question-answering GPT of Chapter 6
# ----------------------------------------------------------------------------
def test_qa_gpt_loads_with_its_hash_and_answers_held_out_questions(lang):
    from llm_book.dialogue import QA_RECIPE, qa_dataset, split_sentences_train_test
    from llm_book.finetuning import complete, exact_match
    from llm_book.pretrained import QA_GPT_PATH, QA_GPT_SHA256, load_qa_gpt

    assert sha256(QA_GPT_PATH) == QA_GPT_SHA256
    assert QA_GPT_PATH.stat().st_size < 2_000_000
    model, tok = load_qa_gpt()
    assert model.config.block_size == QA_RECIPE["block_size"] and model.config.vocab_size == len(tok)
    assert model.lm_head.weight is model.wte.weight
    _, test = split_sentences_train_test([w for w, _ in lang.sentences()], QA_RECIPE["test_fraction"], seed=0)
    prompts, completions, _ = qa_dataset(test[::10])
    assert exact_match(complete(model, tok, prompts), [c[:-1] for c in completions]) > 0.98


def test_main_rejects_an_unknown_checkpoint():
    from llm_book.pretrained import main

    with pytest.raises(SystemExit):
        main(["not-a-checkpoint"])
