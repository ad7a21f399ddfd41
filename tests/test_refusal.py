"""The book's DPO experiment: refusal and anchor pairs, false refusals, the shipped DPO assistant."""

from __future__ import annotations

import math

import pytest

# ----------------------------------------------------------------------------
STORIES = [s.split() for s in ("The cat sat on the mat", "The dog that the mouse chased sleeps under a rug",
                               "The bird sat", "The foxes run on the log")]


def fake_replies(replies):
    """A stand-in for llm_book.chat.generate_replies that answers from a list, in turn."""
    def generate(model, tokenizer, conversations, max_new_tokens=16):
        assert all(c[-1]["role"] == "user" for c in conversations)
        return [replies[i % len(replies)] for i in range(len(conversations))]
    return generate


def test_refusal_pairs_reject_the_models_own_wrong_answers(monkeypatch):
    from llm_book.refusal import refusal_pairs

    monkeypatch.setattr("llm_book.chat.generate_replies", fake_replies(["on the mat", "it does not say", ""]))
    pairs, asked = refusal_pairs(None, None, STORIES, seed=0)
    assert asked == 3                              # "The bird sat" names no place: no question about it
    assert len(pairs) == 1                         # a right answer and an empty one make no pair
    pair = pairs[0]
    assert pair.chosen == "it does not say" and pair.rejected == "on the mat"
    question = pair.messages[-1]["content"].split()[-6:]
    assert question[:3] == ["Where", "did", "the"] and question[3] not in ("cat", "cats")
    assert pair.messages[0]["content"].startswith("The cat sat on the mat . ")
    again, _ = refusal_pairs(None, None, STORIES, seed=0)
    assert again == pairs
    turns = {len(refusal_pairs(None, None, STORIES * 10, seed=seed)[0][0].messages) for seed in range(8)}
    assert turns == {1, 3}                         # asked at once, or as the second question of a chat
    with pytest.raises(ValueError, match=r"none of `sentences` says where its animal was"):
        refusal_pairs(None, None, [STORIES[2]])


def test_anchor_pairs_prefer_right_answers():
    from llm_book.instructions import INSTRUCTION_TASKS, instruction_conversations
    from llm_book.refusal import anchor_pairs

    unknown = "it does not say"
    pairs = anchor_pairs(STORIES, seed=0)
    assert all((p.chosen == unknown) != (p.rejected == unknown) for p in pairs)
    where = [p for p in pairs if p.rejected == unknown and p.messages[-1]["content"].split()[-6:-5] == ["Where"]
             and p.messages[-1]["content"].split()[-3] in ("cat", "dog", "foxes")]
    assert sorted(p.chosen for p in where) == ["on the log", "on the mat", "under a rug"]
    refuse = [p for p in pairs if p.chosen == unknown]   # questions whose answer is "it does not say"
    bird = [p for p in refuse if p.messages[0]["content"].startswith("The bird sat")]
    assert any(p.rejected in ("on the mat", "under a rug", "on the log") for p in bird)   # a made-up place
    assert any(p.rejected == "the mouse" for p in refuse)                                # a made-up chaser
    every = [c for story in STORIES for task in INSTRUCTION_TASKS if task not in ("qa", "chat")
             for c in instruction_conversations([story], task)] + instruction_conversations(STORIES, "chat")
    tasks = [p for p in pairs if p.rejected == unknown and p not in where]
    chats = instruction_conversations(STORIES, "chat")
    assert any(list(p.messages) + [{"role": "assistant", "content": p.chosen}] in chats for p in tasks)
    for p in tasks:                                      # a real conversation, its right answer chosen
        whole = list(p.messages) + [{"role": "assistant", "content": p.chosen}]
        assert whole in every or len(p.messages) == 3    # or a "where" question asked second
    assert anchor_pairs(STORIES, seed=0) == pairs and anchor_pairs(STORIES, seed=1) != pairs


def test_false_refusal_rate(monkeypatch):
    from llm_book.refusal import false_refusal_rate

    monkeypatch.setattr("llm_book.chat.generate_replies", fake_replies(["it does not say"]))
    assert false_refusal_rate(None, None, STORIES) == 1.0
    monkeypatch.setattr("llm_book.chat.generate_replies", fake_replies(["on the mat", "it does not say",
                                                                        "it does not say"]))
    assert false_refusal_rate(None, None, STORIES) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"no question with a place to ask"):
        false_refusal_rate(None, None, [STORIES[2]])


# ----------------------------------------------------------------------------
# The shipped DPO assistant and its record
# ----------------------------------------------------------------------------
def test_the_shipped_dpo_assistant_and_its_record():
    import json

    from llm_book.chat import generate_replies
    from llm_book.finetuning import split_sentences_train_test
    from llm_book.instructions import INSTRUCTION_TASKS, absent_animal_questions
    from llm_book.language import ToyLanguage
    from llm_book.refusal import DPO_RECIPE
    from llm_book.pretrained import (ASSISTANT_DPO_GPT_PATH, history_path, load_assistant_dpo_gpt,
                                     load_assistant_gpt)

    model, tokenizer = load_assistant_dpo_gpt()
    sft, sft_tokenizer = load_assistant_gpt()
    assert tokenizer.vocab == sft_tokenizer.vocab and model.config == sft.config and not model.training
    record = json.loads(history_path(ASSISTANT_DPO_GPT_PATH).read_text())
    assert len(record["loss"]) == len(record["margin"]) == len(record["chosen_reward"]) == DPO_RECIPE["steps"]
    assert record["loss"][0] == pytest.approx(math.log(2), abs=1e-4)     # the policy starts as the reference
    r = record["results"]
    assert r["before"]["absent_animal_failure_rate"] > 0.9 and r["after"]["absent_animal_failure_rate"] < 0.05
    for task in INSTRUCTION_TASKS:                                       # the other tasks: little lost
        assert r["after"][task] > r["before"][task] - 0.05, task
    assert r["final"]["accuracy"] > 0.95 and r["final"]["margin"] > 1
    assert r["without_anchors"]["false_refusal_rate"] > 0.2               # what the anchors are for
    assert r["without_sft_term"]["final"]["chosen_reward"] < 0 < r["final"]["chosen_reward"]
    # live: the shipped model on held-out questions about absent animals
    _, test = split_sentences_train_test([w for w, _ in ToyLanguage().sentences()], 0.2, seed=0)
    conversations = absent_animal_questions(test[:40])
    replies = generate_replies(model, tokenizer, [c[:-1] for c in conversations])
    assert sum(reply == "it does not say" for reply in replies) >= 0.95 * len(replies)
    assert generate_replies(sft, sft_tokenizer, [c[:-1] for c in conversations[:5]]) != replies[:5]
