"""Instruction data (qa, translate, plural, qa2), absent-animal questions, the SFT recipe and the shipped assistant."""

from __future__ import annotations

import pytest

from llm_book.chat import CHAT_TOKENS, render_chat
from llm_book.dialogue import qa_dataset
from llm_book.finetuning import split_sentences_train_test
from llm_book.instructions import (ANIMALS, ASSISTANT_RECIPE, INSTRUCTION_TASKS, absent_animal_failure_rate,
                                   absent_animal_questions, assistant_tokenizer, evaluate_assistant,
                                   instruction_conversations, sft_dataset, to_plural, train_assistant_gpt)
from llm_book.semantics import SINGULAR, parse
from llm_book.translation import to_chinese


@pytest.fixture(scope="module")
def split(lang):
    return split_sentences_train_test([w for w, _ in lang.sentences()], ASSISTANT_RECIPE["test_fraction"], seed=0)


def text(words) -> str:
    return " ".join(words)


# ----------------------------------------------------------------------------
# to_plural
# ----------------------------------------------------------------------------
def test_to_plural_examples():
    assert text(to_plural("The cat sleeps on the mat".split())) == "The cats sleep on the mat"
    assert text(to_plural("The cat sat on the mat <eos>".split())) == "The cats sat on the mat"
    assert text(to_plural("The fox that chased the mice runs".split())) == "The foxes that chased the mice run"
    assert text(to_plural("The bird that the dogs saw eats under a roof".split())) == \
        "The birds that the dogs saw eat under a roof"


def test_to_plural_gives_a_toy_sentence_with_a_plural_subject_for_every_singular_one(lang):
    singular = [w for w, _ in lang.sentences() if not parse(w).plural]
    assert len(singular) > 1000
    for words in singular:
        plural = to_plural(words)
        assert lang.sentence_probability(plural + [lang.eos]) > 0, words
        frame = parse(plural)
        assert frame.plural and frame.animal == parse(words).animal
        changed = [i for i, (a, b) in enumerate(zip(words, plural)) if a != b]
        assert len(plural) == len(words) - 1 and changed[0] == 1 and len(changed) <= 2


def test_to_plural_errors():
    with pytest.raises(ValueError, match="already has a plural subject \\('cats'\\)"):
        to_plural("The cats sleep".split())
    with pytest.raises(ValueError, match="is not a complete sentence of the toy language"):
        to_plural("The cat sleep".split())
    with pytest.raises(TypeError, match="split it first"):
        to_plural("The cat sleeps")


# ----------------------------------------------------------------------------
# Conversations
# ----------------------------------------------------------------------------
def test_instruction_conversations_for_one_story():
    story = ["The", "cat", "sleeps", "on", "the", "mat", "<eos>"]
    qa = instruction_conversations([story], "qa")
    prompts, completions, _ = qa_dataset([story])
    assert [c[0]["content"] for c in qa] == [text(p) for p in prompts]        # exactly 6a's prompts
    assert [c[1]["content"] for c in qa] == [text(c[:-1]) for c in completions]
    assert instruction_conversations([story], "translate") == [[
        {"role": "user", "content": "Translate into Chinese : The cat sleeps on the mat"},
        {"role": "assistant", "content": text(to_chinese(story))}]]
    assert instruction_conversations([story], "plural") == [[
        {"role": "user", "content": "Make it plural : The cat sleeps on the mat"},
        {"role": "assistant", "content": "The cats sleep on the mat"}]]
    assert instruction_conversations([["The", "cats", "sleep"]], "plural") == []
    qa2 = instruction_conversations([story], "qa2")
    assert len(qa2) == 6 and all([m["role"] for m in c] == ["user", "assistant"] * 2 for c in qa2)
    assert qa2[0] == [{"role": "user", "content": "The cat sleeps on the mat . Where does the cat sleep ?"},
                      {"role": "assistant", "content": "on the mat"},
                      {"role": "user", "content": "Who sleeps ?"},          # names no story: read turn 1
                      {"role": "assistant", "content": "the cat"}]


@pytest.mark.parametrize("args, error, match", [
    (([["The", "cat", "sat"]], "summarise"), ValueError,
     r"`task` \(='summarise'\) has to be one of \['qa', 'translate', 'plural', 'qa2', 'chat'\]"),
    (([], "qa"), ValueError, "`sentences` has to be a non-empty list of toy sentences"),
    (("The cat sat", "qa"), ValueError, "`sentences` has to be a non-empty list"),
    ((["The cat sat"], "qa"), TypeError, "each item of `sentences` has to be a list of words"),
])
def test_instruction_conversations_errors(args, error, match):
    with pytest.raises(error, match=match):
        instruction_conversations(*args)


def test_every_conversation_fits_the_recipe_and_the_tokenizer(lang, toy_gpt):
    sentences = [w for w, _ in lang.sentences()]
    tokenizer = assistant_tokenizer(toy_gpt[1])
    longest = 0
    for task in ("qa", "translate", "plural", "qa2"):     # "chat" strings these together (tested below)
        for conversation in instruction_conversations(sentences, task):
            tokens = render_chat(conversation)
            tokenizer.encode(tokens)                      # every word is known
            longest = max(longest, len(tokens))
    assert longest == 35 and ASSISTANT_RECIPE["block_size"] == 64
    assert tokenizer.vocab[: len(toy_gpt[1])] == toy_gpt[1].vocab
    assert all(t in tokenizer.token_to_id for t in CHAT_TOKENS)


def test_sft_dataset_is_a_fixed_mix(split):
    train = split[0][:200]
    data = sft_dataset(train, seed=0)
    assert data == sft_dataset(train, seed=0) and data != sft_dataset(train, seed=1)
    first = [c[0]["content"] for c in data if len(c) == 2]             # the one-exchange tasks
    n_plural = sum(not parse(s).plural for s in train)
    mix = ASSISTANT_RECIPE["mix"]
    assert sum(f.startswith("Translate") for f in first) == mix["translate"] * len(train)
    assert sum(f.startswith("Make") for f in first) == mix["plural"] * n_plural
    assert len(data) == (mix["qa"] + mix["translate"] + mix["qa2"] + mix["chat"]) * len(train) + n_plural
    assert len(sft_dataset(train, 0, mix={"translate": 1})) == len(train)
    assert len(sft_dataset(train, 0, mix={"qa2": 1})) == len(train)
    # no question about an animal the story does not mention
    absent = {c[0]["content"] for c in absent_animal_questions(train)}
    for c in data:
        assert render_chat(c)                              # a valid conversation
        for m in c[::2]:
            assert m["role"] == "user" and m["content"] not in absent
            if " . " in m["content"]:
                story, question = m["content"].split(" . ")
                animals = {SINGULAR.get(w, w) for w in story.split()}
                assert {SINGULAR.get(w, w) for w in question.split()} & set(ANIMALS) <= animals, c


def test_chat_conversations_switch_task_and_story(split):
    test = split[1]
    chats = instruction_conversations(test, "chat")
    assert len(chats) == len(test) and chats == instruction_conversations(test, "chat")   # a fixed draw
    for story, chat in zip(test, chats):
        assert len(chat) >= 4 and len(render_chat(chat)) <= ASSISTANT_RECIPE["block_size"]
        # the last story told is this sentence's, and the chat ends with a conversation about it
        last_story = [m["content"] for m in chat[::2] if " . " in m["content"] or " : " in m["content"]][-1]
        assert last_story.split(" . ")[0].split(" : ")[-1] == " ".join(story[:-1])
    lengths = {len(c) // 2 for c in chats}
    assert lengths == {2, 3, 4}                            # 2 to 4 exchanges
    assert max(len(render_chat(c)) for c in chats) == ASSISTANT_RECIPE["block_size"]


def test_sft_dataset_errors(split):
    with pytest.raises(ValueError, match=r"`task` \(='poems'\) has to be one of"):
        sft_dataset(split[0][:5], 0, mix={"poems": 1})
    with pytest.raises(ValueError, match=r"`mix\['qa'\]` \(=-1\) has to be an integer >= 0"):
        sft_dataset(split[0][:5], 0, mix={"qa": -1})
    with pytest.raises(TypeError, match=r"`seed` \(='0'\) has to be an integer"):
        sft_dataset(split[0][:5], "0")


def test_absent_animal_questions():
    conversations = absent_animal_questions([["The", "cat", "that", "the", "dog", "chased", "sat", "on", "the",
                                              "mat"]])
    assert [c[0]["content"] for c in conversations] == [
        "The cat that the dog chased sat on the mat . Where did the bird sit ?",
        "The cat that the dog chased sat on the mat . Where did the fox sit ?"]
    assert all(c[1] == {"role": "assistant", "content": "it does not say"} for c in conversations)
    sleeps = absent_animal_questions([["The", "foxes", "sleep", "under", "a", "bush"]])
    assert [c[0]["content"].split(" . ")[1] for c in sleeps] == [
        "Where does the cat sleep ?", "Where does the dog sleep ?", "Where does the bird sleep ?"]
    assert absent_animal_questions([["The", "foxes", "sleep"]]) == []     # no place: nothing to get wrong


def test_absent_animals_are_really_absent(split):
    for conversation in absent_animal_questions(split[1]):
        story, question = conversation[0]["content"].split(" . ")
        animal = question.split()[3]
        assert animal in ANIMALS
        assert animal not in {SINGULAR.get(w, w) for w in story.split()}
        assert parse(story.split()).place is not None


# ----------------------------------------------------------------------------
# The shipped assistant
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def assistant():
    from llm_book.pretrained import load_assistant_gpt

    return load_assistant_gpt()


def test_load_assistant_gpt(assistant, toy_gpt):
    from llm_book.pretrained import ASSISTANT_GPT_PATH, ASSISTANT_GPT_SHA256, history_path, sha256

    model, tokenizer = assistant
    assert sha256(ASSISTANT_GPT_PATH) == ASSISTANT_GPT_SHA256
    assert model.config.block_size == ASSISTANT_RECIPE["block_size"]
    assert tokenizer.vocab == assistant_tokenizer(toy_gpt[1]).vocab
    import json

    record = json.loads(history_path(ASSISTANT_GPT_PATH).read_text())
    assert len(record["loss"]) == ASSISTANT_RECIPE["steps"] and record["sha256"] == ASSISTANT_GPT_SHA256
    assert set(record["results"]["assistant"]) == set(INSTRUCTION_TASKS) | {"translate_bleu"}


def test_the_assistant_does_every_task_on_held_out_stories(assistant, split):
    model, tokenizer = assistant
    test = split[1][::20]                                   # 71 held-out stories
    scores = evaluate_assistant(model, tokenizer, test)
    assert set(scores) == set(INSTRUCTION_TASKS) | {"translate_bleu"}
    assert all(scores[task] >= 0.9 for task in INSTRUCTION_TASKS), scores
    assert scores["translate_bleu"] >= 0.9
    assert evaluate_assistant(model, tokenizer, test, tasks=["plural"]).keys() == {"plural"}


def test_the_assistant_answers_a_place_for_an_absent_animal(assistant, split):
    model, tokenizer = assistant
    rate = absent_animal_failure_rate(model, tokenizer, split[1][::20])
    assert 0.5 <= rate <= 1.0


def test_evaluate_errors(assistant):
    model, tokenizer = assistant
    with pytest.raises(TypeError, match="`tasks` has to be a list of task names, got the string 'qa'"):
        evaluate_assistant(model, tokenizer, [["The", "cat", "sat"]], tasks="qa")
    with pytest.raises(ValueError, match="no 'plural' conversations about these sentences"):
        evaluate_assistant(model, tokenizer, [["The", "cats", "sat"]], tasks=["plural"])
    with pytest.raises(ValueError, match="none of `sentences` says where its animal was"):
        absent_animal_failure_rate(model, tokenizer, [["The", "cat", "sat"]])


def test_train_assistant_gpt_runs_the_recipe(monkeypatch):
    import llm_book.instructions as instructions

    full = instructions.sft_dataset
    seen = {}

    def fewer(sentences, seed, mix):                       # the recipe's data, for 100 of its sentences
        seen["sentences"], seen["seed"], seen["mix"] = len(sentences), seed, mix
        data = full(sentences[:100], seed, mix)
        seen["conversations"] = len(data)
        return data

    monkeypatch.setattr(instructions, "sft_dataset", fewer)
    model, tokenizer, history = train_assistant_gpt(steps=2, evaluate=False)
    n = seen.pop("conversations")
    assert seen == {"sentences": 5658, "seed": 0, "mix": ASSISTANT_RECIPE["mix"]}   # the 80% training split
    assert model.config.block_size == ASSISTANT_RECIPE["block_size"]
    assert model.config.vocab_size == len(tokenizer)
    assert len(history.loss) == 2 and history.results["train_conversations"] == n
