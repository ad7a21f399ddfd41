"""The chat template, its inverse, the loss mask, chat batches, generation and the chat session."""

from __future__ import annotations

import copy

import pytest
import torch

from llm_book.chat import (CHAT_TOKENS, END_OF_TURN, ROLE_TOKENS, ROLES, AssistantChat, assistant_mask,
                           chat_batch, chat_tokenizer, chat_words, generate_replies, generate_reply,
                           parse_chat, render_chat)
from llm_book.model import GPT, GPTConfig
from llm_book.tokenizer import WordTokenizer

U, A, S = ROLE_TOKENS["user"], ROLE_TOKENS["assistant"], ROLE_TOKENS["system"]


def msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


ONE_TURN = [msg("user", "The cat sat . Who sat ?"), msg("assistant", "the cat")]
MULTI = [msg("system", "Answer briefly"), msg("user", "The cat sat . Who sat ?"), msg("assistant", "the cat"),
         msg("user", "Where did the cat sit ?"), msg("assistant", "it does not say")]


def test_constants():
    assert ROLES == ("system", "user", "assistant")
    assert CHAT_TOKENS == ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    assert END_OF_TURN == "<|end|>" and ROLE_TOKENS["assistant"] == "<|assistant|>"


def test_render_one_turn_and_the_generation_prompt():
    assert render_chat(ONE_TURN) == [U, "The", "cat", "sat", ".", "Who", "sat", "?", END_OF_TURN,
                                     A, "the", "cat", END_OF_TURN]
    assert render_chat(ONE_TURN[:1], add_generation_prompt=True) == [
        U, "The", "cat", "sat", ".", "Who", "sat", "?", END_OF_TURN, A]


def test_render_does_not_modify_its_input():
    before = copy.deepcopy(MULTI)
    render_chat(MULTI)
    assert MULTI == before


@pytest.mark.parametrize("messages", [ONE_TURN, MULTI, MULTI[:2], [msg("user", "hi")],
                                      [msg("assistant", "a"), msg("assistant", "b")]])
def test_parse_inverts_render(messages):
    assert parse_chat(render_chat(messages)) == messages


@pytest.mark.parametrize("messages, error, match", [
    ([], ValueError, "`messages` is empty"),
    ("hello", TypeError, "`messages` has to be a list of messages"),
    (msg("user", "hi"), TypeError, "`messages` has to be a list of messages"),
    ([msg("robot", "hi")], ValueError, r"unknown role 'robot'; the roles are \['system', 'user', 'assistant'\]"),
    ([msg("user", "  ")], ValueError, r"message 0 \(user\) has empty content"),
    ([{"role": "user"}], ValueError, "exactly the keys 'role' and 'content', got \\['role'\\]"),
    ([{"role": "user", "content": "hi", "name": "x"}], ValueError, "exactly the keys 'role' and 'content'"),
    (["hi"], ValueError, "message 0 has to be a dict with exactly the keys"),
    ([msg("user", "hi <|end|> there")], ValueError, "contains the chat token '<\\|end\\|>'"),
    ([msg("user", "hi"), msg("system", "be nice")], ValueError, "message 1 is a system message; a system "
                                                                "message can only come first"),
    ([{"role": "user", "content": ["hi"]}], TypeError, "the content of message 0 has to be a string"),
])
def test_render_errors(messages, error, match):
    with pytest.raises(error, match=match):
        render_chat(messages)


def test_generation_prompt_needs_a_user_turn_last():
    with pytest.raises(ValueError, match="a reply is generated after the user's turn; the last message "
                                         "is 'assistant'"):
        render_chat(ONE_TURN, add_generation_prompt=True)


@pytest.mark.parametrize("tokens, error, match", [
    ([], ValueError, "`tokens` is empty"),
    ("<|user|> hi <|end|>", TypeError, "`tokens` has to be a list of tokens"),
    (["hi", END_OF_TURN], ValueError, r"token 0 \('hi'\) should open a turn with a role token"),
    ([U, "hi"], ValueError, "the user turn opened at token 0 never ends: '<\\|end\\|>' is missing"),
    ([U, "hi", A, "yo", END_OF_TURN], ValueError, "interrupted by '<\\|assistant\\|>' at token 2"),
    ([U, END_OF_TURN], ValueError, "the user turn at token 0 is empty"),
    ([U, "hi", END_OF_TURN, "oops"], ValueError, r"token 3 \('oops'\) should open a turn"),
    ([U, "hi", END_OF_TURN, S, "x", END_OF_TURN], ValueError, "a system message can only come first"),
    ([U, "hi", END_OF_TURN, A], ValueError, "the assistant turn opened at token 3 never ends"),
])
def test_parse_errors(tokens, error, match):
    with pytest.raises(error, match=match):
        parse_chat(tokens)


def test_assistant_mask_covers_exactly_the_assistant_words_and_their_end():
    tokens = render_chat(MULTI)
    mask = assistant_mask(tokens)
    assert len(mask) == len(tokens)
    covered = [t for t, m in zip(tokens, mask) if m]
    assert covered == ["the", "cat", END_OF_TURN, "it", "does", "not", "say", END_OF_TURN]
    # the same, position by position: inside assistant turns, role token excluded, end token included
    inside, expected = None, []
    for t in tokens:
        if t in (U, A, S):
            inside = t
            expected.append(False)
        else:
            expected.append(inside == A)
    assert mask == expected
    assert assistant_mask(render_chat(ONE_TURN[:1])) == [False] * 9


def test_assistant_mask_rejects_malformed_tokens():
    with pytest.raises(ValueError, match="never ends"):
        assistant_mask([U, "hi", END_OF_TURN, A, "yo"])


@pytest.fixture(scope="module")
def base_tokenizer():
    return WordTokenizer(["The", "cat", "sat", "the", "Who", "?", ".", "<eos>"])


def test_chat_tokenizer_keeps_old_ids(base_tokenizer):
    tok = chat_tokenizer(base_tokenizer, ["Where", "cat", "did"])
    assert tok.vocab[:8] == base_tokenizer.vocab
    assert tok.vocab[8:] == list(CHAT_TOKENS) + ["Where", "did"]
    assert tok.eos == "<eos>"
    assert chat_tokenizer(tok).vocab == tok.vocab        # already a chat tokenizer: unchanged


def test_chat_tokenizer_errors(base_tokenizer):
    with pytest.raises(TypeError, match="`base` has to be a WordTokenizer, got list"):
        chat_tokenizer(["a"])
    with pytest.raises(TypeError, match="`extra_words` has to be a list of words"):
        chat_tokenizer(base_tokenizer, "Where")
    with pytest.raises(TypeError, match="`extra_words` has to be a list of words"):
        chat_tokenizer(base_tokenizer, ["two words"])


def test_chat_batch_scores_only_assistant_tokens(base_tokenizer):
    tok = chat_tokenizer(base_tokenizer, ["Where", "did", "sit", "it", "does", "not", "say", "Answer",
                                          "briefly"])
    short = [msg("user", "Who sat ?"), msg("assistant", "the cat")]
    idx, targets = chat_batch([MULTI[1:], short], tok)
    n0, n1 = len(render_chat(MULTI[1:])), len(render_chat(short))
    assert idx.shape == targets.shape == (2, n0 - 1)
    ids0 = tok.encode(render_chat(MULTI[1:]))
    assert idx[0].tolist() == ids0[:-1]
    scored = [tok.vocab[t] for t in targets[0].tolist() if t != -100]
    assert scored == ["the", "cat", END_OF_TURN, "it", "does", "not", "say", END_OF_TURN]
    # each scored target is the next token of the input
    mask = assistant_mask(render_chat(MULTI[1:]))
    for t in range(n0 - 1):
        assert targets[0, t].item() == (ids0[t + 1] if mask[t + 1] else -100)
    # padding: inputs padded with the end token, targets ignored
    assert (idx[1, n1 - 1:] == tok.eos_id).all() and (targets[1, n1 - 1:] == -100).all()
    assert [tok.vocab[t] for t in targets[1].tolist() if t != -100] == ["the", "cat", END_OF_TURN]
    idx2, targets2 = chat_batch([short], tok, pad_to=20)
    assert idx2.shape == (1, 19) and torch.equal(targets2[0, : n1 - 1], targets[1, : n1 - 1])


def test_chat_batch_errors(base_tokenizer):
    tok = chat_tokenizer(base_tokenizer)
    with pytest.raises(TypeError, match=r"got one conversation \(a list of messages\); wrap it in a list"):
        chat_batch(ONE_TURN, tok)
    with pytest.raises(ValueError, match="`conversations` is empty"):
        chat_batch([], tok)
    with pytest.raises(ValueError, match="conversation 0 has no assistant message"):
        chat_batch([[msg("user", "Who sat ?")]], tok)
    with pytest.raises(ValueError, match=r"`pad_to` \(=5\) is shorter than the longest conversation"):
        chat_batch([[msg("user", "Who sat ?"), msg("assistant", "the cat")]], tok, pad_to=5)
    with pytest.raises(ValueError, match="unknown word 'dog'"):
        chat_batch([[msg("user", "Who sat ?"), msg("assistant", "the dog")]], tok)


# ----------------------------------------------------------------------------
# Generation, with a tiny model taught two replies
# ----------------------------------------------------------------------------
WORDS = ["The", "cat", "dog", "sat", "the", "Who", "?", ".", "Where", "on", "mat", "rug", "did", "sit", "<eos>"]
TRAIN = [
    [msg("user", "The cat sat . Who sat ?"), msg("assistant", "the cat")],
    [msg("user", "The dog sat . Who sat ?"), msg("assistant", "the dog")],
    [msg("user", "The cat sat on the mat . Where did the cat sit ?"), msg("assistant", "on the mat")],
    [msg("user", "The dog sat on the rug . Who sat ?"), msg("assistant", "the dog"),
     msg("user", "Where did the dog sit ?"), msg("assistant", "on the rug")],
]


@pytest.fixture(scope="module")
def taught():
    from llm_book.training import train

    tok = chat_tokenizer(WordTokenizer(WORDS))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), block_size=32, n_layer=1, n_head=2, n_embd=32))
    idx, targets = chat_batch(TRAIN, tok)
    train(model, lambda step: (idx, targets), steps=150, lr=1e-2, warmup_steps=10, device="cpu")
    return model.eval(), tok


def test_generate_reply_follows_the_taught_conversations(taught):
    model, tok = taught
    for conversation in TRAIN:
        assert generate_reply(model, tok, conversation[:-1]) == conversation[-1]["content"]
    # batched: different prompt lengths, the same answers in the input order
    replies = generate_replies(model, tok, [c[:-1] for c in TRAIN])
    assert replies == [c[-1]["content"] for c in TRAIN]


def test_generate_replies_stop_at_the_budget(taught):
    model, tok = taught
    assert generate_replies(model, tok, [TRAIN[2][:-1]], max_new_tokens=1) == ["on"]


def test_generate_errors(taught):
    model, tok = taught
    with pytest.raises(ValueError, match="the last message is 'assistant'"):
        generate_reply(model, tok, TRAIN[0])
    long = [msg("user", " ".join(["the cat"] * 20))]
    with pytest.raises(ValueError, match=r"renders to 43 tokens .* block_size \(32\); drop its oldest turns"):
        generate_reply(model, tok, long)
    with pytest.raises(ValueError, match="the word 'fox' is not in the tokenizer's vocabulary"):
        generate_reply(model, tok, [msg("user", "Who sat fox ?")])
    with pytest.raises(ValueError, match="lacks the chat tokens"):
        generate_reply(model, WordTokenizer(WORDS + [f"w{i}" for i in range(len(tok) - len(WORDS))]),
                       TRAIN[0][:1])
    with pytest.raises(ValueError, match="the tokenizer has 15 words but the model's config.vocab_size is 19"):
        generate_reply(model, WordTokenizer(WORDS), TRAIN[0][:1])
    with pytest.raises(TypeError, match="`model` has to be a GPT"):
        generate_reply("model", tok, TRAIN[0][:1])
    with pytest.raises(TypeError, match=r"`max_new_tokens` \(=0.5\) has to be an integer >= 1"):
        generate_replies(model, tok, [TRAIN[0][:1]], max_new_tokens=0.5)
    with pytest.raises(TypeError, match="wrap it in a list"):
        generate_replies(model, tok, TRAIN[0][:1])


def test_chat_words_normalises_typed_text():
    vocab = {"Make", "it", "plural", ":", "The", "the", "cat", "sleeps", ".", "Where", "did", "sit", "?",
             "Translate", "into", "Chinese"}
    assert chat_words("make it plural: the cat sleeps.", vocab) == ["Make", "it", "plural", ":", "The", "cat",
                                                                     "sleeps", "."]
    assert chat_words("THE cat sleeps. where did THE cat sit?", vocab) == [
        "The", "cat", "sleeps", ".", "Where", "did", "the", "cat", "sit", "?"]
    assert chat_words("translate into chinese: the cat", vocab) == ["Translate", "into", "Chinese", ":",
                                                                     "The", "cat"]
    with pytest.raises(TypeError, match="`text` has to be a string, got int"):
        chat_words(3, vocab)


def test_assistant_chat_keeps_the_conversation(taught):
    model, tok = taught
    chat = AssistantChat(model, tok, max_new_tokens=4)           # 4 tokens of room for a reply
    assert chat.reply("the dog sat on the rug. who sat?") == "the dog"
    assert chat.reply("Where did the dog sit?") == "on the rug"   # needs the first turn's story
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "user", "assistant"]
    assert chat.transcript == [("the dog sat on the rug. who sat?", "the dog"),
                               ("Where did the dog sit?", "on the rug")]
    assert chat.reply("Who sat on the sofa?") == "I do not know the word 'sofa'."
    assert len(chat.messages) == 4                                # not sent, not kept
    assert chat.reply("  ").startswith("Say something")


def test_assistant_chat_forgets_the_oldest_exchange_when_full(taught):
    model, tok = taught
    chat = AssistantChat(model, tok)                             # keeps 16 tokens for the reply
    assert chat.reply("The cat sat on the mat. Where did the cat sit?") == "on the mat"   # 16 + 16 <= 32
    answer = chat.reply("The dog sat on the rug . Who sat ?")       # 16 + 4 + 13 + 16 > 32
    assert answer == "(I forgot our first exchange.) the dog"
    assert chat.messages[0]["content"] == "The dog sat on the rug . Who sat ?" and len(chat.messages) == 2
    assert chat.reply(" ".join(["the cat"] * 20)).startswith("That message is too long for me")
    chat = AssistantChat(model, tok, max_new_tokens=8)
    chat.messages = TRAIN[0] + TRAIN[1]                               # 12 + 12 tokens
    assert chat.reply("The cat sat on the mat. Where did the cat sit?") == \
        "(I forgot our first 2 exchanges.) on the mat"                 # 12 + 16 + 8 > 32: both go


def test_assistant_chat_system_message_and_errors(taught):
    model, tok = taught
    chat = AssistantChat(model, tok, system="Who ?")
    assert chat.messages == [msg("system", "Who ?")]
    chat.reply("The cat sat. Who sat?")
    assert chat.messages[0] == msg("system", "Who ?") and len(chat.messages) == 3
    with pytest.raises(ValueError, match="`system` contains the word 'Be'"):
        AssistantChat(model, tok, system="Be nice")
    with pytest.raises(TypeError, match="`tokenizer` has to be a WordTokenizer"):
        AssistantChat(model, "tok")
    with pytest.raises(ValueError, match=r"`max_new_tokens` \(=0\) has to be an integer >= 1"):
        AssistantChat(model, tok, max_new_tokens=0)


def test_chat_box_accepts_the_session(taught):
    pytest.importorskip("ipywidgets")
    from llm_book.widgets import chat_box

    model, tok = taught
    chat = AssistantChat(model, tok)
    box = chat_box(chat)
    text = box.children[0].children[0]
    text.value = "The cat sat. Who sat?"
    assert chat.transcript and "the cat" in box.children[1].value
