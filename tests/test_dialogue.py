"""Questions about toy stories, the QA tokenizer, the train/test split and the chat."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from llm_book.dialogue import (QA_WORDS, QUESTION_KINDS, ChatSession, qa_dataset, qa_prompt, qa_tokenizer,
                               questions, split_sentences_train_test, train_qa_gpt, words_of)
from llm_book.tokenizer import WordTokenizer


def as_text(story: str) -> list[tuple[str, str, str]]:
    return [(k, " ".join(q), " ".join(a)) for k, q, a in questions(story.split())]


def test_questions_about_a_simple_story():
    assert as_text("The cat sat on the mat <eos>") == [
        ("where", "Where did the cat sit ?", "on the mat"),
        ("who", "Who sat ?", "the cat"),
        ("clause", "Who chased the cat ?", "it does not say"),
    ]


def test_questions_follow_number_and_the_relative_clause():
    assert as_text("The cats that the dog chased sleep under a sofa") == [
        ("where", "Where do the cats sleep ?", "under a sofa"),
        ("who", "Who sleeps ?", "the cats"),          # the subject, not the nearer "dog"
        ("clause", "Who chased the cats ?", "the dog"),
    ]
    assert as_text("The fox that saw the mice runs") == [
        ("where", "Where does the fox run ?", "it does not say"),
        ("who", "Who runs ?", "the fox"),
        ("clause", "Who saw the mice ?", "the fox"),
    ]


def test_qa_dataset_pairs_every_story_with_three_questions(lang):
    stories = [w for w, _ in lang.sentences()][:50]
    prompts, completions, kinds = qa_dataset(stories)
    assert len(prompts) == len(completions) == len(kinds) == 150
    assert kinds[:3] == list(QUESTION_KINDS)
    assert all(c[-1] == "<eos>" for c in completions)
    assert prompts[0] == qa_prompt(stories[0], questions(stories[0])[0][1])
    assert "<eos>" not in prompts[0] and "." in prompts[0] and prompts[0][-1] == "?"
    with pytest.raises(ValueError, match=r"`sentences` has to be a non-empty list"):
        qa_dataset([])


def test_qa_tokenizer_keeps_the_old_ids(toy_tokenizer):
    tok = qa_tokenizer(toy_tokenizer)
    assert tok.vocab[: len(toy_tokenizer)] == toy_tokenizer.vocab
    assert tok.vocab[len(toy_tokenizer):] == QA_WORDS and tok.eos == "<eos>"
    assert qa_tokenizer(tok).vocab == tok.vocab  # idempotent
    with pytest.raises(TypeError, match=r"`base` has to be a WordTokenizer, got list"):
        qa_tokenizer(["a"])


def test_every_qa_example_fits_the_recipes_block_size(lang, toy_tokenizer):
    from llm_book.dialogue import QA_RECIPE

    prompts, completions, _ = qa_dataset([w for w, _ in lang.sentences()])
    tok = qa_tokenizer(toy_tokenizer)
    assert max(len(p) + len(c) for p, c in zip(prompts, completions)) <= QA_RECIPE["block_size"]
    tok.encode([w for p in prompts[:300] for w in p])  # every word is known


def test_split_is_seeded_disjoint_and_complete(lang):
    sentences = [w for w, _ in lang.sentences()]
    train, test = split_sentences_train_test(sentences, 0.2, seed=0)
    assert len(test) == round(0.2 * len(sentences)) and len(train) + len(test) == len(sentences)
    assert not {tuple(s) for s in train} & {tuple(s) for s in test}
    assert split_sentences_train_test(sentences, 0.2, seed=0) == (train, test)
    assert split_sentences_train_test(sentences, 0.2, seed=1)[1] != test
    with pytest.raises(ValueError, match=r"`test_fraction` \(=1.5\) has to be a float in \(0, 1\)"):
        split_sentences_train_test(sentences, 1.5)
    for bad, error in ((float("nan"), ValueError), ("0.2", TypeError), (True, TypeError)):
        with pytest.raises(error, match=rf"`test_fraction` \(={re.escape(repr(bad))}\) has to be a float"):
            split_sentences_train_test(sentences, bad)
    assert split_sentences_train_test(sentences, np.float32(0.25), seed=0) == \
        split_sentences_train_test(sentences, 0.25, seed=0)
    assert split_sentences_train_test(sentences, 0.2, seed=np.int64(1)) == \
        split_sentences_train_test(sentences, 0.2, seed=1)
    with pytest.raises(TypeError, match=r"`seed` \(=None\) has to be an integer .*; got NoneType"):
        split_sentences_train_test(sentences, 0.2, seed=None)


def test_train_qa_gpt_runs_a_few_steps():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, tok, history = train_qa_gpt(steps=3)
        scratch, _, _ = train_qa_gpt(steps=1, from_pretrained=False)
    finally:
        torch.set_num_threads(threads)
    assert len(history.loss) == 3 and model.config.block_size == 24 and model.config.vocab_size == len(tok)
    assert len(tok) == 35 + len(QA_WORDS)
    from llm_book.pretrained import load_toy_gpt

    base, _ = load_toy_gpt()
    assert not torch.equal(scratch.wte.weight[:35], base.wte.weight)


def test_words_of_splits_punctuation():
    assert words_of("Where did the cat sit?") == ["Where", "did", "the", "cat", "sit", "?"]
    assert words_of(" The cat sat on the mat. ") == ["The", "cat", "sat", "on", "the", "mat", "."]
    with pytest.raises(TypeError, match=r"`text` has to be a string, got int"):
        words_of(3)


# ----------------------------------------------------------------------------
# ChatSession, with the shipped question-answering GPT
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def qa_gpt():
    from llm_book.pretrained import load_qa_gpt

    return load_qa_gpt()


def test_chat_answers_questions_about_the_story(qa_gpt):
    chat = ChatSession(*qa_gpt)
    assert chat.reply("Where did the cat sit?").startswith("Tell me a story first")
    assert chat.reply("the cats that the dog chased sleep under a sofa.") == \
        "OK: The cats that the dog chased sleep under a sofa."
    assert chat.reply("Where do the cats sleep?") == "under a sofa"
    assert chat.reply("who sleeps?") == "the cats"
    assert chat.reply("Who chased the cats?") == "the dog"
    assert len(chat.transcript) == 5 and chat.transcript[2] == ("Where do the cats sleep?", "under a sofa")


def test_chat_rejects_unknown_words_and_non_sentences(qa_gpt):
    chat = ChatSession(*qa_gpt)
    assert chat.reply("The fox flies.") == "I do not know the word 'flies'."
    assert chat.reply("The cat sat on the").startswith("That is not a sentence of the toy world")
    assert chat.reply("").startswith("Tell me a story first")
    assert chat.story is None
    with pytest.raises(TypeError, match=r"`tokenizer` has to be a WordTokenizer"):
        ChatSession(qa_gpt[0], "tokenizer")


def test_chat_refuses_a_tokenizer_of_another_vocabulary(qa_gpt):
    # Before, a 4-word tokenizer was accepted: its ids name other words of the model's vocabulary.
    model, tok = qa_gpt
    with pytest.raises(ValueError, match=rf"the tokenizer has 4 words but the model's config.vocab_size is "
                                         rf"{len(tok)}; use the tokenizer the model was trained with"):
        ChatSession(model, WordTokenizer(["The", "cat", "sat", "<eos>"]))
    with pytest.raises(TypeError, match=r"`model` has to be a GPT \(with a `config` giving vocab_size and "
                                        r"block_size\), got str"):
        ChatSession("model", tok)


@pytest.mark.parametrize("bad, error", [("a", TypeError), (0, ValueError), (-2, ValueError), (2.5, TypeError),
                                        (True, TypeError), (None, TypeError)])
def test_chat_max_answer_tokens_is_checked(qa_gpt, bad, error):
    # Before, max_answer_tokens='a' was accepted and failed only at the first question.
    with pytest.raises(error, match=rf"`max_answer_tokens` \(={re.escape(repr(bad))}\) has to be a positive "
                                    r"integer \(the longest answer, in words\)"):
        ChatSession(*qa_gpt, max_answer_tokens=bad)


def test_chat_accepts_a_numpy_answer_length(qa_gpt):
    chat = ChatSession(*qa_gpt, max_answer_tokens=np.int64(2))
    chat.reply("The cat sat on the mat.")
    assert chat.reply("Where did the cat sit?") == "on the"  # cut after two words
    assert chat.max_answer_tokens == 2 and isinstance(chat.max_answer_tokens, int)


# ----------------------------------------------------------------------------
# The seed study: Chapter 6's comparison rerun per seed
# ----------------------------------------------------------------------------
SCORE_KEYS = {"all", *QUESTION_KINDS}


def test_compare_pretrained_and_scratch_returns_the_documented_scores():
    from llm_book.dialogue import compare_pretrained_and_scratch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = compare_pretrained_and_scratch(0, steps=5)     # seed 0: the shipped toy GPT, no pretraining
    finally:
        torch.set_num_threads(threads)
    assert set(out) == {"seed", "pretrained", "scratch"} and out["seed"] == 0
    for model in ("pretrained", "scratch"):
        assert set(out[model]) == SCORE_KEYS
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in out[model].values()), out[model]


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError),
                                        ("0", TypeError), (True, TypeError), (None, TypeError)])
def test_compare_pretrained_and_scratch_checks_the_seed(bad, error):
    from llm_book.dialogue import compare_pretrained_and_scratch

    with pytest.raises(error, match=rf"`seed` \(={re.escape(repr(bad))}\) has to be an integer from 0 to "
                                    r"2\*\*32 - 1 \(it seeds pretraining"):
        compare_pretrained_and_scratch(bad, steps=1)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError), ("5", TypeError),
                                        (False, TypeError)])
def test_compare_pretrained_and_scratch_checks_the_steps(bad, error):
    from llm_book.dialogue import compare_pretrained_and_scratch

    with pytest.raises(error, match=rf"`steps` \(={re.escape(repr(bad))}\) has to be None or an integer >= 1 "
                                    r"\(fine-tuning steps per model\)"):
        compare_pretrained_and_scratch(0, steps=bad)


def test_the_shipped_seed_study_has_five_runs_of_the_documented_shape():
    import json
    from pathlib import Path

    import llm_book.dialogue as dialogue

    study = json.loads((Path(dialogue.__file__).parent / "data" / dialogue.SEED_STUDY_PATH).read_text())
    assert study["recipe"] == dialogue.COMPARISON_RECIPE
    assert [run["seed"] for run in study["runs"]] == [0, 1, 2, 3, 4]
    for run in study["runs"]:
        assert set(run) == {"seed", "pretrained", "scratch"}
        for model in ("pretrained", "scratch"):
            assert set(run[model]) == SCORE_KEYS
            assert all(0.0 <= v <= 1.0 for v in run[model].values()), run
    assert study["seconds"] > 0 and isinstance(study["torch"], str)


def test_the_seed_study_command_rejects_an_unknown_task(capsys):
    from llm_book.dialogue import main

    with pytest.raises(SystemExit):
        main(["nonsense"])
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err
