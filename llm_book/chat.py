"""Chat templates: a conversation as one token sequence, and a model that takes turns.

An assistant model reads a *conversation*, a list of messages in Hugging Face's
convention ``{"role": "user", "content": "Who sat ?"}``, with the roles
"system" (optional, first), "user" and "assistant".  A *chat template* writes
the conversation as one sequence of tokens, marking where each turn begins and
ends with special tokens::

    [{"role": "user", "content": "The cat sat . Who sat ?"},
     {"role": "assistant", "content": "the cat"}]
    ->  <|user|> The cat sat . Who sat ? <|end|> <|assistant|> the cat <|end|>

To get a reply, the template ends with ``<|assistant|>`` (the *generation
prompt*) and the model writes until it produces ``<|end|>``.  In training
(instruction tuning, ``chat_batch``) the loss counts only the assistant's
tokens and their ``<|end|>`` (``assistant_mask``): the model learns to answer
and to stop, not to write the user's messages.

Content is a string of space-separated words of the model's word-level
vocabulary; ``render_chat`` splits it at white space and ``parse_chat`` joins
the words with single spaces, so ``parse_chat(render_chat(m)) == m`` whenever
each content is written with single spaces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from llm_book._checks import check_int, check_model_and_tokenizer
from llm_book.model import model_device
from llm_book.sampling import greedy
from llm_book.threads import runs_model_threads
from llm_book.tokenizer import WordTokenizer

ROLES = ("system", "user", "assistant")
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END_OF_TURN = "<|end|>"
CHAT_TOKENS = (ROLE_TOKENS["system"], ROLE_TOKENS["user"], ROLE_TOKENS["assistant"], END_OF_TURN)

Message = dict   # {"role": ..., "content": ...}

_TOKEN_ROLE = {token: role for role, token in ROLE_TOKENS.items()}


# ----------------------------------------------------------------------------
# The template
# ----------------------------------------------------------------------------
def _check_messages(messages) -> list[tuple[str, list[str]]]:
    """``[(role, words), ...]`` for a valid conversation; raises a clear error otherwise."""
    if isinstance(messages, (str, dict)) or not isinstance(messages, Sequence):
        raise TypeError(f"`messages` has to be a list of messages {{'role': ..., 'content': ...}}, "
                        f"got {type(messages).__name__}")
    if not len(messages):
        raise ValueError("`messages` is empty; a conversation needs at least one message")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            found = sorted(map(str, m)) if isinstance(m, dict) else type(m).__name__
            raise ValueError(f"message {i} has to be a dict with exactly the keys 'role' and 'content', "
                             f"got {found}")
        role, content = m["role"], m["content"]
        if role not in ROLES:
            raise ValueError(f"message {i} has the unknown role {role!r}; the roles are {list(ROLES)}")
        if role == "system" and i != 0:
            raise ValueError(f"message {i} is a system message; a system message can only come first")
        if not isinstance(content, str):
            raise TypeError(f"the content of message {i} has to be a string of words, "
                            f"got {type(content).__name__}")
        words = content.split()
        if not words:
            raise ValueError(f"message {i} ({role}) has empty content; every message needs a word")
        special = [w for w in words if w in CHAT_TOKENS]
        if special:
            raise ValueError(f"message {i} contains the chat token {special[0]!r}; chat tokens "
                             f"{list(CHAT_TOKENS)} only mark turns, a message cannot contain them")
        out.append((role, words))
    return out


def render_chat(messages: Sequence[Message], add_generation_prompt: bool = False) -> list[str]:
    """The conversation as one token list: ``<|role|> words <|end|>`` per message.

    Args:
        messages: ``[{"role": "system" | "user" | "assistant", "content": "space separated words"}, ...]``;
            a system message may only come first.
        add_generation_prompt: end with ``<|assistant|>``, where the model starts its reply;
            then the last message has to be the user's.

    Returns:
        a list of tokens (strings).

    Example:
        >>> render_chat([{"role": "user", "content": "Who sat ?"}], add_generation_prompt=True)
        ['<|user|>', 'Who', 'sat', '?', '<|end|>', '<|assistant|>']
    """
    turns = _check_messages(messages)
    if add_generation_prompt and turns[-1][0] != "user":
        raise ValueError(f"a reply is generated after the user's turn; the last message is "
                         f"{turns[-1][0]!r}")
    tokens: list[str] = []
    for role, words in turns:
        tokens += [ROLE_TOKENS[role]] + words + [END_OF_TURN]
    if add_generation_prompt:
        tokens.append(ROLE_TOKENS["assistant"])
    return tokens


def _turn_spans(tokens: Sequence[str]) -> list[tuple[str, int, int]]:
    """``[(role, start, end), ...]``: the role token at ``start``, ``<|end|>`` at ``end``."""
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"`tokens` has to be a list of tokens (as `render_chat` returns), "
                        f"got {type(tokens).__name__}")
    if not len(tokens):
        raise ValueError("`tokens` is empty; a conversation has at least one turn")
    spans, i = [], 0
    while i < len(tokens):
        role = _TOKEN_ROLE.get(tokens[i])
        if role is None:
            raise ValueError(f"token {i} ({tokens[i]!r}) should open a turn with a role token "
                             f"{[ROLE_TOKENS[r] for r in ROLES]}")
        j = i + 1
        while j < len(tokens) and tokens[j] not in CHAT_TOKENS:
            j += 1
        if j == len(tokens):
            raise ValueError(f"the {role} turn opened at token {i} never ends: {END_OF_TURN!r} is missing")
        if tokens[j] != END_OF_TURN:
            raise ValueError(f"the {role} turn opened at token {i} is interrupted by {tokens[j]!r} at "
                             f"token {j} before its {END_OF_TURN!r}")
        if j == i + 1:
            raise ValueError(f"the {role} turn at token {i} is empty; every turn needs a word")
        spans.append((role, i, j))
        i = j + 1
    return spans


def parse_chat(tokens: Sequence[str]) -> list[Message]:
    """The inverse of ``render_chat``: a token list back into messages.

    Raises:
        ValueError: for a token list that is not a sequence of complete turns
            ``<|role|> words <|end|>`` (a system turn only first).
    """
    messages = [{"role": role, "content": " ".join(tokens[s + 1: e])} for role, s, e in _turn_spans(tokens)]
    _check_messages(messages)   # a system turn only first
    return messages


def assistant_mask(tokens: Sequence[str]) -> list[bool]:
    """Which tokens the instruction-tuning loss is computed on.

    True for each assistant turn's words and its ``<|end|>`` (so the model learns to
    stop); False for role tokens and the user's and system's turns.

    Example:
        >>> assistant_mask("<|user|> Who sat ? <|end|> <|assistant|> the cat <|end|>".split())
        [False, False, False, False, False, False, True, True, True]
    """
    mask = [False] * len(tokens)
    for role, start, end in _turn_spans(tokens):
        if role == "assistant":
            mask[start + 1: end + 1] = [True] * (end - start)
    return mask


# ----------------------------------------------------------------------------
# Tokenizer and training batches
# ----------------------------------------------------------------------------
def chat_tokenizer(base: WordTokenizer, extra_words: Sequence[str] = ()) -> WordTokenizer:
    """``base``'s vocabulary, then ``CHAT_TOKENS``, then the ``extra_words`` it lacks.

    Old ids keep their meaning, so a pretrained model grown with
    ``llm_book.finetuning.extend_gpt`` still reads its old words the same way.
    """
    if not isinstance(base, WordTokenizer):
        raise TypeError(f"`base` has to be a WordTokenizer, got {type(base).__name__}")
    if isinstance(extra_words, str) or any(not isinstance(w, str) or not w or w.split() != [w]
                                           for w in extra_words):
        raise TypeError(f"`extra_words` has to be a list of words (non-empty strings without spaces), "
                        f"got {extra_words!r}")
    vocab = list(base.vocab)
    for w in list(CHAT_TOKENS) + list(extra_words):
        if w not in vocab:
            vocab.append(w)
    return WordTokenizer(vocab, eos=base.eos)


def _check_conversations(conversations) -> list:
    if isinstance(conversations, (str, dict)) or not isinstance(conversations, Sequence):
        raise TypeError(f"`conversations` has to be a list of conversations (each a list of messages), "
                        f"got {type(conversations).__name__}")
    if not len(conversations):
        raise ValueError("`conversations` is empty; pass at least one conversation")
    if isinstance(conversations[0], dict):
        raise TypeError("`conversations` has to be a list of conversations, got one conversation "
                        "(a list of messages); wrap it in a list: [messages]")
    return list(conversations)


def chat_batch(conversations: Sequence[Sequence[Message]], tokenizer: WordTokenizer,
               pad_to: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs for instruction tuning: the loss sees only the assistant's tokens.

    Like ``llm_book.finetuning.completion_batch``: the input is the rendered
    conversation without its last token, the target the conversation without its
    first; a target is -100 (ignored by the loss) unless it is in ``assistant_mask``,
    and at padding (inputs are padded with the end token).

    Args:
        conversations: a list of conversations, each with at least one assistant message.
        tokenizer: a ``WordTokenizer`` that knows every word and ``CHAT_TOKENS`` (``chat_tokenizer``).
        pad_to: pad every sequence to this many tokens (default: the longest).

    Returns:
        ``(idx, targets)``, both ``(batch, L - 1)`` long tensors.
    """
    conversations = _check_conversations(conversations)
    rows = []
    for i, conversation in enumerate(conversations):
        tokens = render_chat(conversation)
        mask = assistant_mask(tokens)
        if not any(mask):
            raise ValueError(f"conversation {i} has no assistant message: nothing to learn from it")
        rows.append((tokenizer.encode(tokens), mask))
    longest = max(len(ids) for ids, _ in rows)
    if pad_to is not None:
        pad_to = check_int("pad_to", pad_to, "None or an integer >= 2 (tokens per padded conversation)",
                           minimum=2)
        if pad_to < longest:
            raise ValueError(f"`pad_to` (={pad_to}) is shorter than the longest conversation "
                             f"({longest} tokens)")
    length = longest if pad_to is None else pad_to
    idx, targets = [], []
    for ids, mask in rows:
        pad = length - len(ids)
        idx.append(ids[:-1] + [tokenizer.eos_id] * pad)
        targets.append([t if scored else -100 for t, scored in zip(ids[1:], mask[1:])] + [-100] * pad)
    return torch.tensor(idx, dtype=torch.long), torch.tensor(targets, dtype=torch.long)


# ----------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------
def _check_chat_model(model, tokenizer) -> None:
    check_model_and_tokenizer(model, tokenizer)
    missing = [t for t in CHAT_TOKENS if t not in tokenizer.token_to_id]
    if missing:
        raise ValueError(f"the tokenizer lacks the chat tokens {missing}; build it with `chat_tokenizer`")


def generate_replies(model, tokenizer: WordTokenizer, conversations: Sequence[Sequence[Message]],
                     max_new_tokens: int = 16) -> list[str]:
    """The model's greedy reply to each conversation (each ends with a user turn).

    Conversations whose rendered prompts have the same length are decoded together in
    one batch (``llm_book.sampling.greedy`` with the key-value cache), as
    ``llm_book.finetuning.complete`` does, so hundreds of conversations cost a few
    dozen forward passes per length.  A reply stops at ``<|end|>`` (not included), at
    the end token, or where it would outgrow the model's ``block_size``.

    Returns:
        one reply per conversation, its words joined by spaces ("" if the model ended at once).
    """
    _check_chat_model(model, tokenizer)
    conversations = _check_conversations(conversations)
    max_new_tokens = check_int("max_new_tokens", max_new_tokens,
                               "an integer >= 1 (the longest reply, in tokens)", minimum=1)
    block_size = model.config.block_size
    prompts = []
    for conversation in conversations:
        prompt = render_chat(conversation, add_generation_prompt=True)
        if len(prompt) >= block_size:
            raise ValueError(f"the conversation renders to {len(prompt)} tokens with the generation prompt, "
                             f"which leaves no room for a reply in the model's block_size ({block_size}); "
                             f"drop its oldest turns")
        unknown = [w for w in prompt if w not in tokenizer.token_to_id]
        if unknown:
            raise ValueError(f"the word {unknown[0]!r} is not in the tokenizer's vocabulary "
                             f"({len(tokenizer)} words)")
        prompts.append(prompt)
    return _greedy_replies(model, tokenizer, prompts, max_new_tokens)


@runs_model_threads
@torch.no_grad()
def _greedy_replies(model, tokenizer: WordTokenizer, prompts: list[list[str]], max_new_tokens: int) -> list[str]:
    """Greedy replies to rendered prompts, grouped by length (the prompts are checked)."""
    block_size = model.config.block_size
    end_id = tokenizer.token_to_id[END_OF_TURN]
    stops = {end_id, tokenizer.eos_id} | {tokenizer.token_to_id[t] for t in CHAT_TOKENS}
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    out = [""] * len(prompts)
    device = model_device(model)
    for length, rows in by_length.items():
        idx = torch.tensor([tokenizer.encode(prompts[i]) for i in rows], device=device)
        n_new = min(max_new_tokens, block_size - length)  # stay inside the block
        generated = greedy(model, idx, n_new, eos_id=end_id, use_cache=True)[:, length:]
        for i, ids in zip(rows, generated.tolist()):
            cut = next((k for k, t in enumerate(ids) if t in stops), len(ids))
            out[i] = " ".join(tokenizer.decode(ids[:cut]))
    return out


def generate_reply(model, tokenizer: WordTokenizer, messages: Sequence[Message],
                   max_new_tokens: int = 16) -> str:
    """The model's greedy reply to one conversation that ends with a user turn.

    Example:
        >>> generate_reply(model, tokenizer,                              # doctest: +SKIP
        ...                [{"role": "user", "content": "The cat sat on the mat . Who sat ?"}])
        'the cat'
    """
    _check_messages(messages)
    return generate_replies(model, tokenizer, [messages], max_new_tokens)[0]


# ----------------------------------------------------------------------------
# A multi-turn session for the chat widget
# ----------------------------------------------------------------------------
_TOKEN = re.compile(r"[^:]+|:")


def chat_words(text: str, vocab) -> list[str]:
    """Typed text as vocabulary words: punctuation split off, capitals as the vocabulary spells them.

    Letters, "." , "?" and ":" are kept (``llm_book.dialogue.words_of`` plus ":").  A word
    that starts the message or follows "." or ":" is capitalised ("the" -> "The",
    "where" -> "Where"); elsewhere "The"/"A" become "the"/"a"; any other word is
    taken as typed, or in the first spelling that ``vocab`` knows (lower case, then capitalised).

    Example:
        >>> chat_words("make it plural: the cat sleeps.", {"Make", "it", "plural", ":", "The", "cat", "sleeps", "."})
        ['Make', 'it', 'plural', ':', 'The', 'cat', 'sleeps', '.']
    """
    from llm_book.dialogue import words_of

    if not isinstance(text, str):
        raise TypeError(f"`text` has to be a string, got {type(text).__name__}")
    raw: list[str] = []
    for piece in _TOKEN.findall(text):
        raw += [":"] if piece == ":" else words_of(piece)
    out: list[str] = []
    for w in raw:
        start = not out or out[-1] in (".", ":")
        if w.lower() in ("the", "a"):
            w = w.capitalize() if start else w.lower()
        elif start and w.capitalize() in vocab:
            w = w.capitalize()
        elif w not in vocab:
            w = next((v for v in (w.lower(), w.capitalize()) if v in vocab), w)
        out.append(w)
    return out


class AssistantChat:
    """A multi-turn chat with an instruction-tuned GPT, for ``llm_book.widgets.chat_box``.

    The session keeps the whole conversation and sends all of it every turn, so the
    model sees earlier turns (ask about a story, then ask a follow-up).  Typed text is
    turned into vocabulary words (``chat_words``; a final "." is dropped); a message
    with a word the model does not know gets a friendly reply and is not sent.

    When the conversation would leave less than ``max_new_tokens`` of the model's
    ``block_size`` for the reply, the oldest exchanges (user message and reply) are
    dropped, the system message is kept, and the reply says so: "(I forgot our first
    exchange.)".  Every exchange is kept in
    ``transcript`` as ``(typed text, reply)``; ``messages`` is what the model sees.

    Example:
        >>> chat = AssistantChat(model, tokenizer)                                 # doctest: +SKIP
        >>> chat.reply("The cat sat on the mat. Where did the cat sit?")            # doctest: +SKIP
        'on the mat'
        >>> chat.reply("Who sat?")                                                 # doctest: +SKIP
        'the cat'
    """

    def __init__(self, model, tokenizer: WordTokenizer, system: str | None = None,
                 max_new_tokens: int = 16) -> None:
        _check_chat_model(model, tokenizer)
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = check_int("max_new_tokens", max_new_tokens,
                                        "an integer >= 1 (the longest reply, in tokens)", minimum=1)
        self.system = None
        if system is not None:
            _check_messages([{"role": "system", "content": system}])
            unknown = [w for w in system.split() if w not in tokenizer.token_to_id]
            if unknown:
                raise ValueError(f"`system` contains the word {unknown[0]!r}, which the tokenizer does not know")
            self.system = {"role": "system", "content": " ".join(system.split())}
        self.messages: list[Message] = [self.system] if self.system else []
        self.transcript: list[tuple[str, str]] = []

    def reply(self, text: str) -> str:
        """Answer one message (and record it in ``transcript``)."""
        answer = self._reply(text)
        self.transcript.append((text, answer))
        return answer

    def _reply(self, text: str) -> str:
        words = chat_words(text, self.tokenizer.token_to_id)
        if words and words[-1] == ".":
            words = words[:-1]
        if not words:
            return "Say something, e.g. 'The cat sat on the mat. Where did the cat sit?'"
        unknown = [w for w in words if w not in self.tokenizer.token_to_id or w in CHAT_TOKENS]
        if unknown:
            return f"I do not know the word {unknown[0]!r}."
        message = {"role": "user", "content": " ".join(words)}
        head = [self.system] if self.system else []
        history = self.messages[len(head):]
        block_size = self.model.config.block_size
        dropped = 0
        room = min(self.max_new_tokens, block_size - 1)   # keep room for a whole reply
        while len(render_chat(head + history + [message], add_generation_prompt=True)) + room > block_size:
            if not history:
                return (f"That message is too long for me: I read at most {block_size} tokens, "
                        f"conversation included.")
            history = history[2:]   # one exchange: a user message and its reply
            dropped += 1
        answer = generate_reply(self.model, self.tokenizer, head + history + [message], self.max_new_tokens)
        if not answer:
            return "(no answer)"
        self.messages = head + history + [message, {"role": "assistant", "content": answer}]
        if dropped:
            which = "exchange" if dropped == 1 else f"{dropped} exchanges"
            return f"(I forgot our first {which}.) {answer}"
        return answer
