"""The shipped toy GPT: it loads safely, and it has learned the toy language."""

from __future__ import annotations

import math
import re

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


def test_a_llama_style_model_with_its_own_output_layer_round_trips(toy_gpt, tmp_path):
    """Rotary positions (no wpe), RMSNorm, SwiGLU, grouped-query attention and an untied output
    layer: the output layer is saved and loaded as its own tensor."""
    from llm_book.model import GPT, GPTConfig

    _, tok = toy_gpt
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), block_size=16, n_layer=1, n_head=4, n_embd=32, bias=False,
                          position="rope", norm="rmsnorm", mlp="swiglu", n_kv_head=2,
                          tie_embeddings=False)).eval()
    path = tmp_path / "llama_style.pt"
    loaded, _ = load_checkpoint(path, expected_sha256=save_checkpoint(model, tok, path))
    assert loaded.config == model.config
    assert loaded.lm_head.weight is not loaded.wte.weight
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    idx = torch.tensor([tok.encode("The cats that the dog chased sleep on the".split())])
    assert torch.equal(loaded(idx).logits, model(idx).logits)


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


def test_the_loader_does_not_import_a_chapter_recipe():
    """Dependencies run one way: llm_book.dialogue imports the loader, never the reverse."""
    import subprocess
    import sys

    code = ("import sys, llm_book.pretrained; "
            "bad = [m for m in ('llm_book.dialogue', 'llm_book.translation') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_rebuild_recipe_is_found_by_name():
    import importlib

    from llm_book import pretrained

    assert set(pretrained.REBUILD) == {"toy-gpt", "qa-gpt", "char-gpt", "icl-gpt", "induction-gpt", "assistant-gpt",
                                       "assistant-dpo"}
    for recipe, path, constant, threads in pretrained.REBUILD.values():
        module, function = recipe.split(":")
        assert callable(getattr(importlib.import_module(module), function))
        assert path.is_file() and pretrained.sha256(path) == getattr(pretrained, constant)
        assert threads in (None, 1)


# ----------------------------------------------------------------------------
# Checkpoints that do not fit, damaged files, side effects
# ----------------------------------------------------------------------------
def test_save_refuses_a_tokenizer_of_another_vocabulary(toy_gpt, tmp_path):
    model, tok = toy_gpt
    short = WordTokenizer(tok.vocab[:20] + [tok.eos], eos=tok.eos)
    with pytest.raises(ValueError, match=r"cannot save this checkpoint: the vocabulary has 21 words but the "
                                         r"model's config.vocab_size is 35"):
        save_checkpoint(model, short, tmp_path / "short.pt")
    assert not (tmp_path / "short.pt").exists()
    with pytest.raises(TypeError, match=r"`tokenizer` has to be a WordTokenizer or a CharTokenizer, got list"):
        save_checkpoint(model, tok.vocab, tmp_path / "list.pt")
    with pytest.raises(TypeError, match=r"`model` has to be an llm_book GPT, got Linear"):
        save_checkpoint(torch.nn.Linear(2, 2), tok, tmp_path / "linear.pt")


def test_load_refuses_a_vocabulary_that_does_not_fit_the_config(toy_gpt, tmp_path):
    data = torch.load(TOY_GPT_PATH, map_location="cpu", weights_only=True)
    data["vocab"] = data["vocab"][:20] + [data["eos"]]
    path = tmp_path / "short_vocab.pt"
    torch.save(data, path)
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(path))}: the vocabulary has 21 words but "
                                         rf"the model's config.vocab_size is 35"):
        load_checkpoint(path)


def _damaged(data: bytes, tmp_path, name: str = "damaged.pt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("how", ["empty", "truncated", "header only", "not a checkpoint"])
def test_damaged_file_without_a_hash_gives_an_error_naming_it(tmp_path, how):
    # Before: a bare EOFError (empty file), KeyError: 101 (text) or a miniz RuntimeError.
    whole = TOY_GPT_PATH.read_bytes()
    data = {"empty": b"", "truncated": whole[: len(whole) // 2], "header only": whole[:10],
            "not a checkpoint": b"hello world" * 100}[how]
    path = _damaged(data, tmp_path)
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(path))} is damaged or was not written by "
                                         r"`save_checkpoint` .*: torch.load failed with"):
        load_checkpoint(path)


@pytest.mark.parametrize("content, found", [
    ([1, 2], "list"),
    ({"config": {}}, r"\['config'\]"),
])
def test_checkpoint_without_the_expected_entries(tmp_path, content, found):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(path))} is damaged .*: it has to hold "
                                         rf"\['config', 'eos', 'state_dict', 'vocab'\], found {found}"):
        load_checkpoint(path)


def test_checkpoint_whose_weights_do_not_fit_its_config(tmp_path):
    data = torch.load(TOY_GPT_PATH, map_location="cpu", weights_only=True)
    data["config"]["n_embd"] = 32
    path = tmp_path / "narrow.pt"
    torch.save(data, path)
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(path))} is damaged .*: its weights do not "
                                         r"fit its config \(RuntimeError"):
        load_checkpoint(path)
    data["config"] = {"vocab_size": 35, "colour": "red"}
    torch.save(data, path)
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(path))} is damaged .*colour"):
        load_checkpoint(path)


def test_load_toy_gpt_leaves_the_global_random_stream_alone():
    from llm_book.pretrained import load_toy_gpt

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_toy_gpt()
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------
# The shipped toy GPT was pretrained packed: every position is trained
# ----------------------------------------------------------------------------
def test_toy_gpt_predicts_as_well_at_late_positions(toy_gpt, lang):
    """Packed pretraining trains positions 11-15, which no padded sentence reaches."""
    from llm_book.training import PackedLanguageSampler

    model, tok = toy_gpt
    idx, targets = PackedLanguageSampler(lang, tok, 16)(512, torch.Generator().manual_seed(5))
    with torch.no_grad():
        logits = model(idx).logits
    loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(0)
    early, late = loss[4:10].mean().item(), loss[11:16].mean().item()
    assert late < early + 0.1, (early, late)


def test_toy_gpt_history_is_shipped_beside_it():
    from llm_book.pretrained import history_path

    record = __import__("json").loads(history_path(TOY_GPT_PATH).read_text())
    assert len(record["loss"]) == TOY_GPT_RECIPE["steps"] and record["sha256"] == TOY_GPT_SHA256


# ----------------------------------------------------------------------------
# Character checkpoints and the shipped character model of Chapter 5b
# ----------------------------------------------------------------------------
def test_char_checkpoint_round_trip(tmp_path):
    from llm_book.model import GPTConfig
    from llm_book.tokenizer import CharTokenizer

    tok = CharTokenizer("abc .")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()
    path = tmp_path / "char.pt"
    digest = save_checkpoint(model, tok, path)
    data = torch.load(path, weights_only=True)
    assert data["tokenizer"] == "char" and data["eos"] is None and data["vocab"] == list("abc .")
    loaded, loaded_tok = load_checkpoint(path, expected_sha256=digest)
    assert isinstance(loaded_tok, CharTokenizer) and loaded_tok.chars == tok.chars
    idx = torch.tensor([tok.encode("ab c.")])
    assert torch.equal(loaded(idx).logits, model(idx).logits)


def test_unknown_tokenizer_kind_is_refused(tmp_path):
    data = torch.load(TOY_GPT_PATH, map_location="cpu", weights_only=True)
    data["tokenizer"] = "bytes"
    path = tmp_path / "kind.pt"
    torch.save(data, path)
    with pytest.raises(ValueError, match=r"is damaged or was not written by `save_checkpoint`.*its "
                                         r"tokenizer kind is 'bytes', not 'word' or 'char'"):
        load_checkpoint(path)


@pytest.fixture(scope="module")
def char_gpt():
    from llm_book.pretrained import load_char_gpt

    return load_char_gpt()


def test_char_gpt_is_small_and_safe(char_gpt):
    from llm_book.pretrained import CHAR_GPT_PATH, CHAR_GPT_RECIPE, CHAR_GPT_SHA256
    from llm_book.tokenizer import CharTokenizer

    model, tok = char_gpt
    assert sha256(CHAR_GPT_PATH) == CHAR_GPT_SHA256
    assert CHAR_GPT_PATH.stat().st_size < 5_000_000                   # a few MB
    assert isinstance(tok, CharTokenizer) and model.config.vocab_size == len(tok)
    c = model.config
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size) == tuple(
        CHAR_GPT_RECIPE[k] for k in ("n_layer", "n_head", "n_embd", "block_size"))
    assert not model.training


def test_char_gpt_history_records_its_training():
    from llm_book.pretrained import CHAR_GPT_RECIPE, CHAR_GPT_SHA256, load_char_gpt_history

    h = load_char_gpt_history()
    assert len(h["loss"]) == CHAR_GPT_RECIPE["steps"] and h["sha256"] == CHAR_GPT_SHA256
    assert h["eval_steps"][-1] == CHAR_GPT_RECIPE["steps"] and h["seconds"] > 0
    assert h["eval_loss"][-1] < h["eval_loss"][0] and h["eval_loss"][-1] < 1.6


def test_char_gpt_validation_loss_and_english(char_gpt):
    """Its loss on held-out text is low, and what it writes is mostly real words of the corpus."""
    import re

    from llm_book.corpus import CharCorpus, pydoc_text
    from llm_book.pretrained import CHAR_GPT_RECIPE, char_validation_loss
    from llm_book.sampling import generate

    model, tok = char_gpt
    corpus = CharCorpus.pydoc(val_every=CHAR_GPT_RECIPE["val_every"], chunk=CHAR_GPT_RECIPE["chunk"])
    if corpus.chars != tok.chars:
        pytest.skip("this Python's pydoc_data differs from the one the model was trained on")
    val = char_validation_loss(model, corpus.val[:20_000], CHAR_GPT_RECIPE["block_size"])
    assert val < 1.6
    idx = torch.tensor([tok.encode("The ")])
    out = generate(model, idx, 400, temperature=0.8, generator=torch.Generator().manual_seed(0))
    text = tok.decode(out[0])
    words = re.findall(r"[A-Za-z]+", text)
    known = set(re.findall(r"[A-Za-z]+", pydoc_text()))
    assert len(words) > 30 and sum(w in known for w in words) / len(words) > 0.8
