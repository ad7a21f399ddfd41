"""The synchronous grammar, its gold alignment, BLEU, and attention read as alignment."""

from __future__ import annotations

import math

import pytest
import torch

from llm_book.model import GPT, GPTConfig
from llm_book.translation import (BLEU, CHINESE, SEP, alignment_agreement, alignment_matrix, corpus_bleu,
                                  pinyin, source_attention, to_chinese, train_translator,
                                  translate_with_alignment, translation_dataset, translation_prompt,
                                  translation_tokenizer)


@pytest.mark.parametrize("english, chinese", [
    ("The cat sat on the mat", "猫 坐 在 垫子 上"),
    ("The cats that the dog chased sleep", "狗 追 的 猫 们 睡觉"),
    ("The dog runs under a rug", "狗 在 一 块 地毯 下 跑步"),
    ("The cat that chased the mice sat under a sofa", "追 老鼠 们 的 猫 坐 在 一 张 沙发 下"),
    ("The birds that the dogs saw eat on a branch <eos>", "狗 们 看见 的 鸟 们 在 一 根 树枝 上 吃东西"),
    ("The fox sat", "狐狸 坐下 了"),
    ("The foxes eat", "狐狸 们 吃东西"),
])
def test_to_chinese(english, chinese):
    assert to_chinese(english.split()) == chinese.split()


def test_every_sentence_has_its_own_translation_from_the_lexicon(lang):
    translations = [tuple(to_chinese(w)) for w, _ in lang.sentences()]
    assert len(set(translations)) == len(translations)  # no two sentences collapse
    assert {t for tr in translations for t in tr} == set(CHINESE)  # every token is used


def test_alignment_points_each_chinese_word_at_its_source():
    words = "The cats that the dog chased sleep on a mat".split()
    tokens, alignment = translate_with_alignment(words)
    pairs = {(t, " ".join(words[p] for p in a)) for t, a in zip(tokens, alignment)}
    assert pairs == {("狗", "dog"), ("追", "chased"), ("的", "that"), ("猫", "cats"), ("们", "cats"),
                     ("在", "on"), ("一", "a"), ("块", "a mat"), ("垫子", "mat"), ("上", "on"),
                     ("睡觉", "sleep")}


def test_alignment_matrix(lang):
    m = alignment_matrix("The cat sat on the mat <eos>".split())
    assert m.shape == (5, 6)
    assert m.tolist() == [[0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0],
                          [0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0]]
    for words, _ in lang.sentences()[::97]:
        assert (alignment_matrix(words).sum(-1) >= 1).all()  # every Chinese token has a source


def test_pinyin():
    assert pinyin(["猫", "坐", "在", "垫子", "上", "<eos>"]) == ["māo", "zuò", "zài", "diànzi", "shàng", "<eos>"]
    with pytest.raises(TypeError, match=r"`tokens` has to be a list of tokens, got the string"):
        pinyin("猫")


def test_tokenizer_prompt_and_dataset(lang):
    tok = translation_tokenizer(lang.vocab)
    assert len(tok) == 34 + 1 + len(CHINESE) + 1 and tok.vocab[-1] == "<eos>" == tok.eos
    assert translation_prompt("The cat sat <eos>".split()) == ["The", "cat", "sat", SEP]
    prompts, targets = translation_dataset([["The", "cat", "sat", "<eos>"]])
    assert prompts == [["The", "cat", "sat", SEP]] and targets == [["猫", "坐下", "了", "<eos>"]]
    with pytest.raises(ValueError, match=r"`sentences` has to be a non-empty list"):
        translation_dataset([])
    longest = max(len(p) + len(t) for p, t in zip(*translation_dataset([w for w, _ in lang.sentences()])))
    from llm_book.translation import TRANSLATOR_RECIPE

    assert longest <= TRANSLATOR_RECIPE["block_size"]


# ----------------------------------------------------------------------------
# BLEU, against values computed by hand
# ----------------------------------------------------------------------------
def test_bleu_of_a_perfect_corpus_is_one():
    refs = [["猫", "坐", "在", "垫子", "上"], ["狐狸", "坐下", "了", "吗", "呢"]]
    result = corpus_bleu(refs, refs)
    assert isinstance(result, BLEU)
    assert result.score == 1.0 and result.precisions == (1.0, 1.0, 1.0, 1.0) and result.brevity_penalty == 1.0


def test_bleu_by_hand():
    # Hypothesis 1 drops 们 (8 vs 9 tokens), hypothesis 2 writes 垫子 for 沙发.
    # n-gram matches: 1-grams 8/8 + 6/7, 2-grams 6/7 + 4/6, 3-grams 4/6 + 3/5, 4-grams 2/5 + 2/4.
    refs = ["狗 追 的 猫 们 在 垫子 上 睡觉".split(), "猫 坐 在 一 张 沙发 下".split()]
    hyps = ["狗 追 的 猫 在 垫子 上 睡觉".split(), "猫 坐 在 一 张 垫子 下".split()]
    result = corpus_bleu(hyps, refs)
    assert result.precisions == pytest.approx((14 / 15, 10 / 13, 7 / 11, 4 / 9))
    assert (result.hypothesis_length, result.reference_length) == (15, 16)
    assert result.brevity_penalty == pytest.approx(math.exp(1 - 16 / 15))
    expected = math.exp(1 - 16 / 15) * (14 / 15 * 10 / 13 * 7 / 11 * 4 / 9) ** 0.25
    assert result.score == pytest.approx(expected) and result.score == pytest.approx(0.6280, abs=1e-4)


def test_bleu_clips_repeated_words():
    result = corpus_bleu([["的", "的", "的", "的"]], [["狗", "追", "的", "猫"]], max_n=1)
    assert result.precisions == (0.25,)  # one 的 in the reference: one match, not four
    assert result.score == pytest.approx(0.25)


def test_bleu_longer_hypothesis_has_no_penalty_and_missing_4grams_give_zero():
    result = corpus_bleu([["a", "b", "c", "d", "e"]], [["a", "b", "c"]], max_n=2)
    assert result.brevity_penalty == 1.0
    assert result.precisions == pytest.approx((3 / 5, 2 / 4))
    assert corpus_bleu([["a", "b", "c"]], [["a", "b", "c"]]).score == 0.0  # no 4-grams at all
    assert corpus_bleu([[]], [["a"]]).score == 0.0


def test_bleu_errors():
    with pytest.raises(TypeError, match=r"lists of token lists, not strings"):
        corpus_bleu("猫", ["猫"])
    with pytest.raises(TypeError, match=r"each item of `hypotheses` has to be a list of tokens"):
        corpus_bleu(["猫 坐"], [["猫"]])
    with pytest.raises(ValueError, match=r"`hypotheses` \(1\) and `references` \(2\)"):
        corpus_bleu([["a"]], [["a"], ["b"]])
    with pytest.raises(ValueError, match=r"`max_n` \(=0\) has to be a positive integer"):
        corpus_bleu([["a"]], [["a"]], max_n=0)


# ----------------------------------------------------------------------------
# Attention as alignment
# ----------------------------------------------------------------------------
@pytest.fixture
def translator(lang, make_gpt):
    tok = translation_tokenizer(lang.vocab)
    return make_gpt(GPTConfig(vocab_size=len(tok), block_size=24, n_layer=2, n_head=2, n_embd=16)), tok


def test_source_attention_rows_are_the_positions_that_predict_each_target(translator):
    model, tok = translator
    source = "The cat sat on the mat".split()
    target = to_chinese(source)
    a = source_attention(model, tok, source, target)
    assert a.shape == (2, 2, len(target), len(source))
    ids = torch.tensor([tok.encode(translation_prompt(source) + target)])
    full = model(ids, output_attentions=True).attentions
    # row 0 is the <sep> position (index 6), which predicts the first Chinese token
    assert torch.allclose(a[1, 0, 0], full[1][0, 0, 6, :6])
    assert torch.allclose(a[0, 1, 2], full[0][0, 1, 8, :6])
    assert (a.sum(-1) <= 1 + 1e-5).all()


def test_source_attention_errors(translator):
    model, tok = translator
    with pytest.raises(ValueError, match=r"`target` has to hold at least one token"):
        source_attention(model, tok, ["The", "cat", "sat"], [])
    with pytest.raises(ValueError, match=r"\(26 tokens\) do not fit the model's block_size \(24\)"):
        source_attention(model, tok, ["The"] * 10, ["猫"] * 15)


def test_alignment_agreement():
    gold = torch.tensor([[0.0, 1, 0], [1, 0, 0], [0, 0, 0]])
    attention = torch.tensor([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.9, 0.1, 0.0]])
    assert alignment_agreement(attention, gold) == 0.5  # the third row has no source: skipped
    with pytest.raises(ValueError, match=r"have to be 2-D matrices of the same shape"):
        alignment_agreement(attention[:2], gold)
    with pytest.raises(ValueError, match=r"`gold` aligns no target token"):
        alignment_agreement(attention, torch.zeros(3, 3))


def test_train_translator_runs_a_few_steps():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, tok, history = train_translator(steps=5)
    finally:
        torch.set_num_threads(threads)
    assert isinstance(model, GPT) and model.config.vocab_size == len(tok) and len(history.loss) == 5
    assert history.loss[-1] < history.loss[0]
