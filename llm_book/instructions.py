"""Instruction tuning: several toy tasks, one model, chosen by the user's instruction.

Chapter 6 fine-tuned one model per task: a question answerer
(``llm_book.dialogue``) and a translator (``llm_book.translation``).  An
assistant is *one* model that reads what the user asks for and does it.  Here
each task is a conversation (``llm_book.chat``): the user's message holds an
instruction and its input, the assistant's message the output.

* **qa**: ``The cat sat on the mat . Where did the cat sit ?`` -> ``on the mat``
  (the prompts and answers of ``llm_book.dialogue``);
* **translate**: ``Translate into Chinese : The cat sat on the mat`` -> ``猫 坐 在 垫子 上``
  (``llm_book.translation.to_chinese``);
* **plural**: ``Make it plural : The cat sleeps on the mat`` -> ``The cats sleep on the mat``
  (``to_plural``: the subject in the plural, its verb agreeing);
* **qa2**: two turns about one story, ``The cat sat on the mat . Who sat ?`` ->
  ``the cat``, then ``Where did the cat sit ?`` -> ``on the mat``: the second
  question names no story, so the model has to read the first turn;
* **chat**: a longer conversation that switches task and story, e.g. a translation,
  then three questions about another story: the model has to answer the last
  message, about the story it refers to, whatever came before (as in
  ``llm_book.chat.AssistantChat``, which sends the whole conversation every turn).

``train_assistant_gpt`` grows the shipped toy GPT (new words, 64 positions)
and fine-tunes it on a fixed mix of these conversations (``sft_dataset``) with
the loss on the assistant's tokens only: supervised fine-tuning (SFT).  The
stories of the held-out 20% of the toy sentences (split with seed 0, as in
Chapter 6) are never trained on; ``evaluate_assistant`` scores the model on them.

One kind of question is deliberately *not* in the training mix: a question about
an animal the story never mentions (``absent_animal_questions``: "The cat sat on
the mat . Where did the dog sit ?"), whose right answer is "it does not say".
``absent_animal_failure_rate`` measures how often the SFT model answers with a
place instead: the failure that preference tuning sets out to fix.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import torch

from llm_book._checks import check_int
from llm_book.chat import chat_batch, chat_tokenizer, generate_replies
from llm_book.dialogue import QA_WORDS, UNKNOWN, qa_prompt, questions
from llm_book.semantics import SINGULAR, parse
from llm_book.tokenizer import WordTokenizer
from llm_book.translation import CHINESE, PREPOSITIONS, corpus_bleu, to_chinese

INSTRUCTION_TASKS = ("qa", "translate", "plural", "qa2", "chat")
TRANSLATE_INSTRUCTION = ["Translate", "into", "Chinese", ":"]
PLURAL_INSTRUCTION = ["Make", "it", "plural", ":"]
# Words the instructions and outputs need beyond the toy language, in a fixed order.
INSTRUCTION_WORDS = list(dict.fromkeys(QA_WORDS + TRANSLATE_INSTRUCTION + PLURAL_INSTRUCTION + list(CHINESE)))
ANIMALS = ("cat", "dog", "bird", "fox")       # the animals a story's subject can be

# How the shipped assistant is made (``train_assistant_gpt``).  ``mix``: how many
# conversations of each task every training story contributes to ``sft_dataset``.
ASSISTANT_RECIPE = {"block_size": 64, "steps": 3000, "batch_size": 64, "lr": 5e-3, "warmup_steps": 50,
                    "test_fraction": 0.2, "seed": 0,
                    "mix": {"qa": 3, "translate": 1, "plural": 1, "qa2": 2, "chat": 2}}

_PLURAL = {singular: plural for plural, singular in SINGULAR.items()}


def to_plural(words: Sequence[str]) -> list[str]:
    """The sentence with its subject in the plural and the main verb agreeing.

    Only the subject and the main verb change: "sat" stays "sat", a relative clause
    and a place stay as they are.  The result is again a sentence of the toy language
    (its subject is plural; the places an animal sits on do not depend on number).

    Args:
        words: a toy sentence with a singular subject (with or without ``<eos>``).

    Returns:
        the plural sentence, without ``<eos>``.

    Example:
        >>> " ".join(to_plural("The cat that the dogs chased sleeps on the mat".split()))
        'The cats that the dogs chased sleep on the mat'
    """
    frame = parse(words)
    if frame.plural:
        raise ValueError(f"`words` {' '.join(frame.words)!r} already has a plural subject "
                         f"({frame.subject!r}); `to_plural` needs a singular one ({list(_PLURAL)})")
    out = list(frame.words)
    out[1] = _PLURAL[frame.subject]
    if frame.verb != "sat":                  # sleeps -> sleep, runs -> run, eats -> eat
        out[frame.verb_pos] = frame.lemma
    return out


def _story(words: Sequence[str]) -> list[str]:
    return [w for w in words if w != "<eos>"]


def _user(words: Sequence[str]) -> dict:
    return {"role": "user", "content": " ".join(words)}


def _assistant(words: Sequence[str]) -> dict:
    return {"role": "assistant", "content": " ".join(words)}


def _check_sentences(sentences) -> list[list[str]]:
    if isinstance(sentences, str) or not isinstance(sentences, Sequence) or not len(sentences):
        raise ValueError("`sentences` has to be a non-empty list of toy sentences (word lists)")
    if any(isinstance(s, str) for s in sentences):
        raise TypeError("each item of `sentences` has to be a list of words, not a string; split it first")
    return [list(s) for s in sentences]


def _check_task(task) -> str:
    if task not in INSTRUCTION_TASKS:
        raise ValueError(f"`task` (={task!r}) has to be one of {list(INSTRUCTION_TASKS)}")
    return task


def _single_story(story: list[str], task: str) -> list[list[dict]]:
    """Every conversation of one task about one story (``task`` may also be "qa3": three questions)."""
    if task == "qa":
        return [[_user(qa_prompt(story, q)), _assistant(a)] for _, q, a in questions(story)]
    if task == "translate":
        return [[_user(TRANSLATE_INSTRUCTION + story), _assistant(to_chinese(story))]]
    if task == "plural":
        return [] if parse(story).plural else [[_user(PLURAL_INSTRUCTION + story), _assistant(to_plural(story))]]
    qs = questions(story)
    n = 2 if task == "qa2" else 3
    out = []
    for order in itertools.permutations(range(3), n):      # every order of n different questions
        (_, q, a), rest = qs[order[0]], [qs[k] for k in order[1:]]
        conversation = [_user(qa_prompt(story, q)), _assistant(a)]
        for _, q, a in rest:
            conversation += [_user(q), _assistant(a)]     # a follow-up names no story
        out.append(conversation)
    return out


def _length(conversation: list[dict]) -> int:
    """Tokens of the rendered conversation: each message's words plus its role and end tokens."""
    return sum(len(m["content"].split()) + 2 for m in conversation)


def _chat(stories: list[list[str]], i: int, rng: random.Random, block_size: int) -> list[dict]:
    """One "chat" conversation: 1 or 2 conversations about other stories, then one about story ``i``."""
    def unit(story: list[str]) -> list[dict]:
        options = _single_story(story, rng.choice(["qa", "translate", "plural", "qa2", "qa3"]))
        return rng.choice(options or _single_story(story, "qa"))

    last = unit(stories[i])
    before: list[dict] = []
    wanted, tries = rng.randint(1, 2), 0
    while (not before or len(before) < 2 * wanted) and tries < 8:
        tries += 1
        other = unit(stories[rng.randrange(len(stories))])
        if _length(before + other + last) <= block_size:
            before += other
    if not before:                                         # a long last part: ask one short question
        last = rng.choice(_single_story(stories[i], "qa"))
        before = rng.choice(_single_story(stories[(i + 1) % len(stories)], "qa"))
    return before + last


def instruction_conversations(sentences: Sequence[Sequence[str]], task: str) -> list[list[dict]]:
    """Every conversation of one task about the given sentences, in a fixed order.

    Args:
        sentences: toy sentences (word lists, with or without ``<eos>``).
        task: "qa" (3 per sentence: where, who, clause), "translate" (1), "plural"
            (1 per sentence with a singular subject, none for the others), "qa2"
            (6 per sentence: every ordered pair of two different questions; the second
            names no story) or "chat" (1 per sentence: one or two conversations of any
            task about other sentences of the list, then one of any task, or of three
            questions, about this sentence; drawn with a fixed seed; at most
            ``ASSISTANT_RECIPE["block_size"]`` tokens): a long chat that switches task.

    Returns:
        a list of conversations, each ending with the assistant's right answer.
    """
    sentences = _check_sentences(sentences)
    task = _check_task(task)
    stories = [_story(s) for s in sentences]
    if task == "chat":
        return _chats(stories, list(range(len(stories))), random.Random(0))
    return [c for story in stories for c in _single_story(story, task)]


def _chats(stories: list[list[str]], rows: list[int], rng: random.Random) -> list[list[dict]]:
    return [_chat(stories, i, rng, ASSISTANT_RECIPE["block_size"]) for i in rows]


def sft_dataset(sentences: Sequence[Sequence[str]], seed: int = 0,
                mix: dict[str, int] | None = None) -> list[list[dict]]:
    """The instruction-tuning set: a fixed mix of every task's conversations, shuffled.

    Args:
        sentences: the training sentences.
        seed: seeds which conversations are picked and their order.
        mix: ``{task: n}``: each sentence contributes up to ``n`` of its conversations of
            that task, picked at random (default ``ASSISTANT_RECIPE["mix"]``).

    Returns:
        a list of conversations.  No questions about absent animals are in it.
    """
    sentences = _check_sentences(sentences)
    seed = check_int("seed", seed, "an integer (the same seed, the same data set)")
    mix = dict(ASSISTANT_RECIPE["mix"] if mix is None else mix)
    for task, n in mix.items():
        _check_task(task)
        check_int(f"mix[{task!r}]", n, "an integer >= 0 (conversations per sentence)", minimum=0)
    rng = random.Random(seed)
    stories = [_story(s) for s in sentences]
    out = []
    for i, story in enumerate(stories):
        for task, n in mix.items():
            if task == "chat":
                out += _chats(stories, [i] * n, rng)
            else:
                options = _single_story(story, task)
                out += rng.sample(options, min(n, len(options)))
    rng.shuffle(out)
    return out


def absent_animal_questions(sentences: Sequence[Sequence[str]]) -> list[list[dict]]:
    """Questions about animals a story never mentions; the right answer is "it does not say".

    For each story that says where its animal was, and each animal of ``ANIMALS`` that
    appears nowhere in it (not as the subject, not in a relative clause), the story's own
    "where" question is asked about that animal: "The cat sat on the mat . Where did the
    dog sit ?".  Stories without a place are left out: there "it does not say" is also
    the answer about the story's own animal, so it would be right for the wrong reason.

    Returns:
        conversations ``[user, assistant "it does not say"]``.
    """
    sentences = _check_sentences(sentences)
    out = []
    for s in sentences:
        story = _story(s)
        frame = parse(story)
        if frame.place is None:
            continue
        mentioned = {SINGULAR.get(w, w) for w in story}
        for animal in ANIMALS:
            if animal in mentioned:
                continue
            if frame.lemma == "sit":
                question = ["Where", "did", "the", animal, "sit", "?"]
            else:
                question = ["Where", "does", "the", animal, frame.lemma, "?"]
            out.append([_user(qa_prompt(story, question)), _assistant(UNKNOWN)])
    return out


def assistant_tokenizer(base: WordTokenizer) -> WordTokenizer:
    """``base``'s vocabulary, the chat tokens, then ``INSTRUCTION_WORDS`` (old ids keep their meaning)."""
    return chat_tokenizer(base, INSTRUCTION_WORDS)


def evaluate_assistant(model, tokenizer: WordTokenizer, sentences: Sequence[Sequence[str]],
                       tasks: Sequence[str] = INSTRUCTION_TASKS) -> dict[str, float]:
    """Exact match of the model's greedy replies, per task, on the given (held-out) sentences.

    Each conversation of ``instruction_conversations`` is given without its last
    message; the reply has to equal that message word for word.  In the multi-turn
    tasks ("qa2", "chat") the earlier answers in the conversation are the right ones
    (not the model's), so the score is that of the last reply alone.

    Returns:
        ``{task: exact match in [0, 1]}``, plus ``"translate_bleu"`` (corpus BLEU in [0, 1],
        ``llm_book.translation.corpus_bleu``) when "translate" is among ``tasks``.
    """
    if isinstance(tasks, str):
        raise TypeError(f"`tasks` has to be a list of task names, got the string {tasks!r}; "
                        f"e.g. [{tasks!r}]")
    scores = {}
    for task in tasks:
        conversations = instruction_conversations(sentences, _check_task(task))
        if not conversations:
            raise ValueError(f"no {task!r} conversations about these sentences (plural needs a singular subject)")
        replies = generate_replies(model, tokenizer, [c[:-1] for c in conversations])
        gold = [c[-1]["content"] for c in conversations]
        scores[task] = sum(r == g for r, g in zip(replies, gold)) / len(gold)
        if task == "translate":
            scores["translate_bleu"] = corpus_bleu([r.split() for r in replies], [g.split() for g in gold]).score
    return scores


def absent_animal_failure_rate(model, tokenizer: WordTokenizer, sentences: Sequence[Sequence[str]]) -> float:
    """Share of ``absent_animal_questions`` the model answers with a place ("on the mat").

    The right answer is "it does not say"; a place is the typical failure of a model
    that never saw such a question (it answers where the story's animal was).
    """
    conversations = absent_animal_questions(sentences)
    if not conversations:
        raise ValueError("none of `sentences` says where its animal was, so there is no question about an "
                         "absent animal to ask (see `absent_animal_questions`)")
    replies = generate_replies(model, tokenizer, [c[:-1] for c in conversations])
    return sum(bool(r.split()) and r.split()[0] in PREPOSITIONS for r in replies) / len(replies)


class _ChatSampler:
    """Random training batches from fixed conversations, cut to the longest row drawn."""

    def __init__(self, conversations, tokenizer: WordTokenizer, batch_size: int, seed: int) -> None:
        self.idx, self.targets = chat_batch(conversations, tokenizer)
        self.lengths = (self.targets != -100).int().cumsum(1).argmax(1) + 1   # last scored position + 1
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.randint(len(self.idx), (self.batch_size,), generator=self.generator)
        n = int(self.lengths[picks].max())
        return self.idx[picks, :n], self.targets[picks, :n]


def train_assistant_gpt(steps: int | None = None, seed: int | None = None, progress: bool = False,
                        evaluate: bool = True):
    """Instruction-tune the shipped toy GPT into a multi-task assistant, with ``ASSISTANT_RECIPE``.

    The toy GPT is grown (``llm_book.finetuning.extend_gpt``) to ``assistant_tokenizer``'s
    vocabulary and ``block_size`` 64, then trained (``llm_book.training.train``) on
    ``sft_dataset`` of the training sentences, the loss on the assistant's tokens only
    (``llm_book.chat.chat_batch``).

    Args:
        steps, seed: override the recipe's.
        progress: show a progress bar.
        evaluate: afterwards, score the model on the held-out sentences and, for comparison,
            Chapter 6's single-task models on the same sentences: the shipped QA model
            (``load_qa_gpt``) on "qa" and a translator trained with ``train_translator()``
            on "translate".  The numbers go to ``history.results`` (and into the
            history JSON that ``python -m llm_book.pretrained assistant-gpt`` writes).

    Returns:
        ``(model, tokenizer, history)``.
    """
    import time

    from llm_book import set_seed
    from llm_book.finetuning import extend_gpt, recipe_start, split_sentences_train_test
    from llm_book.pretrained import load_toy_gpt
    from llm_book.training import train

    r = dict(ASSISTANT_RECIPE)
    steps, seed, language, train_sentences = recipe_start(r, steps, seed)
    base, base_tokenizer = load_toy_gpt()
    tokenizer = assistant_tokenizer(base_tokenizer)
    set_seed(seed)
    model = extend_gpt(base, len(tokenizer), r["block_size"], seed=seed)
    sampler = _ChatSampler(sft_dataset(train_sentences, seed, r["mix"]), tokenizer, r["batch_size"], seed)
    start = time.perf_counter()
    history = train(model, sampler, steps=steps, lr=r["lr"], warmup_steps=min(r["warmup_steps"], steps),
                    progress=progress)
    history.results = {"train_seconds": round(time.perf_counter() - start, 1),
                       "train_conversations": len(sampler.idx)}
    if evaluate:
        _, test = split_sentences_train_test([w for w, _ in language.sentences()], r["test_fraction"], seed=0)
        history.results.update(_held_out_results(model, tokenizer, test))
    return model, tokenizer, history


def _held_out_results(model, tokenizer, test) -> dict:
    """The assistant's held-out scores and Chapter 6's single-task models' on the same sentences."""
    from llm_book.dialogue import qa_dataset
    from llm_book.finetuning import complete, exact_match
    from llm_book.pretrained import load_qa_gpt
    from llm_book.translation import train_translator, translation_dataset

    scores = {k: round(v, 4) for k, v in evaluate_assistant(model, tokenizer, test).items()}
    failure = round(absent_animal_failure_rate(model, tokenizer, test), 4)
    qa_model, qa_tokenizer = load_qa_gpt()
    prompts, completions, _ = qa_dataset(test)
    qa = exact_match(complete(qa_model, qa_tokenizer, prompts), [c[:-1] for c in completions])
    translator, tr_tokenizer, _ = train_translator()
    prompts, completions = translation_dataset(test)
    hyps = complete(translator, tr_tokenizer, prompts, 16)
    refs = [c[:-1] for c in completions]
    return {"held_out_sentences": len(test), "assistant": scores,
            "absent_animal_questions": len(absent_animal_questions(test)),
            "absent_animal_failure_rate": failure,
            "single_task": {"qa (load_qa_gpt)": round(qa, 4),
                            "translate (train_translator())": round(exact_match(hyps, refs), 4),
                            "translate_bleu (train_translator())": round(corpus_bleu(hyps, refs).score, 4)}}


__all__ = ["ANIMALS", "ASSISTANT_RECIPE", "INSTRUCTION_TASKS", "INSTRUCTION_WORDS",
           "absent_animal_failure_rate", "absent_animal_questions", "assistant_tokenizer",
           "evaluate_assistant", "instruction_conversations", "sft_dataset", "to_plural",
           "train_assistant_gpt"]
