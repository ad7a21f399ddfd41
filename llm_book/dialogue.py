"""Question answering about the toy world, and a tiny chat on top of it.

A *story* is one sentence of ``ToyLanguage`` ("The cat that the dog chased
sat on the mat").  Three kinds of question are asked about it, each with one
right answer read off the sentence's meaning (``llm_book.semantics.parse``):

* **where**: "Where did the cat sit ?" -> "on the mat" (or "it does not say");
* **who**: "Who sat ?" -> "the cat" - the subject, not the nearer "dog";
* **clause**: "Who chased the cat ?" -> "the dog" (or "it does not say").

As text for a language model, an example is the prompt
``story . question ?`` and the completion ``answer <eos>``; fine-tuning the
tiny GPT on such pairs (``llm_book.finetuning``) turns it into a question
answerer.  ``ChatSession`` wraps the trained model in a chat: tell it a story,
then ask.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from llm_book._checks import check_int, check_model_and_tokenizer
from llm_book.finetuning import split_sentences_train_test  # noqa: F401  (here since Chapter 6 imports it from here)
from llm_book.semantics import parse
from llm_book.tokenizer import WordTokenizer

# Words questions and answers need that the toy language lacks.
QA_WORDS = ["Where", "Who", "did", "does", "do", "sit", "it", "not", "say", ".", "?"]
UNKNOWN = ["it", "does", "not", "say"]
QUESTION_KINDS = ("where", "who", "clause")

# How the shipped question-answering GPT is made (``train_qa_gpt``).
QA_RECIPE = {"block_size": 24, "steps": 1000, "batch_size": 64, "lr": 5e-3, "warmup_steps": 30,
             "test_fraction": 0.2, "seed": 0}

_THIRD_PERSON = {"sit": "sat", "sleep": "sleeps", "run": "runs", "eat": "eats"}


def questions(words: Sequence[str]) -> list[tuple[str, list[str], list[str]]]:
    """The three questions about a story, with their answers.

    Args:
        words: a toy sentence (with or without ``<eos>``).

    Returns:
        ``[(kind, question_words, answer_words), ...]`` for the kinds "where", "who", "clause".

    Example:
        >>> [(k, " ".join(q), " ".join(a)) for k, q, a in questions("The cat sat on the mat".split())][0]
        ('where', 'Where did the cat sit ?', 'on the mat')
    """
    f = parse(words)
    if f.lemma == "sit":
        where = ["Where", "did", "the", f.subject, "sit", "?"]
    else:
        where = ["Where", "do" if f.plural else "does", "the", f.subject, f.lemma, "?"]
    place = [f.place.prep, f.place.det, f.place.noun] if f.place else list(UNKNOWN)
    out = [("where", where, place),
           ("who", ["Who", _THIRD_PERSON[f.lemma], "?"], ["the", f.subject])]
    c = f.clause
    if c is not None and c.kind == "object":   # "The cat that the dog chased": who chased the cat?
        out.append(("clause", ["Who", c.verb, "the", f.subject, "?"], ["the", c.agent]))
    elif c is not None:                         # "The cat that chased the mouse": who chased the mouse?
        out.append(("clause", ["Who", c.verb, "the", c.patient, "?"], ["the", f.subject]))
    else:                                       # nobody chased anyone
        out.append(("clause", ["Who", "chased", "the", f.subject, "?"], list(UNKNOWN)))
    return out


def qa_prompt(story: Sequence[str], question: Sequence[str]) -> list[str]:
    """The prompt the model completes: ``story . question`` (the story without ``<eos>``)."""
    story = [w for w in story if w != "<eos>"]
    return story + ["."] + list(question)


def qa_dataset(sentences: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """Prompt-completion pairs for every question about every sentence.

    Returns:
        ``(prompts, completions, kinds)``: completions end with ``<eos>``; ``kinds``
        names each question's kind ("where", "who", "clause").
    """
    if isinstance(sentences, str) or not len(sentences):
        raise ValueError("`sentences` has to be a non-empty list of toy sentences (word lists)")
    prompts, completions, kinds = [], [], []
    for s in sentences:
        for kind, q, a in questions(s):
            prompts.append(qa_prompt(s, q))
            completions.append(a + ["<eos>"])
            kinds.append(kind)
    return prompts, completions, kinds


def qa_tokenizer(base: WordTokenizer) -> WordTokenizer:
    """``base``'s vocabulary followed by ``QA_WORDS``: old ids keep their meaning."""
    if not isinstance(base, WordTokenizer):
        raise TypeError(f"`base` has to be a WordTokenizer, got {type(base).__name__}")
    return WordTokenizer(list(base.vocab) + [w for w in QA_WORDS if w not in base.vocab], eos=base.eos)


def train_qa_gpt(steps: int | None = None, from_pretrained: bool = True, seed: int | None = None,
                 progress: bool = False):
    """Fine-tune the shipped toy GPT (or a fresh one) to answer questions, with ``QA_RECIPE``.

    The stories are all sentences of the toy language; ``QA_RECIPE["test_fraction"]``
    of them are held out (never seen in training).

    Returns:
        ``(model, tokenizer, history)``.
    """
    from llm_book import set_seed
    from llm_book.finetuning import extend_gpt, finetune, recipe_start
    from llm_book.model import GPT, GPTConfig
    from llm_book.pretrained import load_toy_gpt

    r = dict(QA_RECIPE)
    steps, seed, _, train_sentences = recipe_start(r, steps, seed)
    base, base_tokenizer = load_toy_gpt()
    tokenizer = qa_tokenizer(base_tokenizer)
    set_seed(seed)
    if from_pretrained:
        model = extend_gpt(base, len(tokenizer), r["block_size"], seed=seed)
    else:
        model = GPT(GPTConfig(**{**base.config.to_dict(), "vocab_size": len(tokenizer),
                                 "block_size": r["block_size"]}))
    prompts, completions, _ = qa_dataset(train_sentences)
    history = finetune(model, tokenizer, prompts, completions, steps=steps,
                       batch_size=r["batch_size"], lr=r["lr"], warmup_steps=r["warmup_steps"],
                       seed=seed, progress=progress)
    return model, tokenizer, history


_TOKEN = re.compile(r"[A-Za-z]+|[.?]")


def words_of(text: str) -> list[str]:
    """Split typed text into the model's words: letters, "." and "?" ("sit?" -> "sit", "?")."""
    if not isinstance(text, str):
        raise TypeError(f"`text` has to be a string, got {type(text).__name__}")
    return _TOKEN.findall(text)


class ChatSession:
    """A chat with a question-answering GPT: tell it a story, then ask about it.

    A message that ends with "?" is a question about the current story; anything
    else is a new story, which has to be a sentence of the toy language.  Every
    exchange is kept in ``transcript`` as ``(user, reply)`` pairs.

    Example:
        >>> chat = ChatSession(model, tokenizer)                       # doctest: +SKIP
        >>> chat.reply("The cat sat on the mat.")                      # doctest: +SKIP
        'OK: the cat sat on the mat.'
        >>> chat.reply("Where did the cat sit?")                       # doctest: +SKIP
        'on the mat'
    """

    def __init__(self, model, tokenizer: WordTokenizer, max_answer_tokens: int = 5) -> None:
        check_model_and_tokenizer(model, tokenizer, "(e.g. `load_qa_gpt()` returns both)")
        self.model = model
        self.tokenizer = tokenizer
        self.max_answer_tokens = check_int("max_answer_tokens", max_answer_tokens,
                                           "a positive integer (the longest answer, in words)", minimum=1)
        self.story: list[str] | None = None
        self.transcript: list[tuple[str, str]] = []

    def _normalise(self, words: list[str], question: bool) -> list[str]:
        """Capitalise the first word the way the vocabulary spells it; lower-case "the"."""
        out = []
        for i, w in enumerate(words):
            if i == 0:
                w = w.capitalize()
            elif w.lower() in ("the", "a"):
                w = w.lower()
            out.append(w)
        if not question and out and out[-1] == ".":
            out = out[:-1]
        return out

    def reply(self, text: str) -> str:
        """Answer one message (and record it in ``transcript``)."""
        words = words_of(text)
        answer = self._reply(words)
        self.transcript.append((text, answer))
        return answer

    def _reply(self, words: list[str]) -> str:
        if not words:
            return "Tell me a story first, e.g. 'The cat sat on the mat.'"
        question = words[-1] == "?"
        words = self._normalise(words, question)
        unknown = [w for w in words if w not in self.tokenizer.token_to_id]
        if unknown:
            return f"I do not know the word {unknown[0]!r}."
        if not question:
            try:
                parse(words)
            except ValueError:
                return "That is not a sentence of the toy world; try 'The dog runs under a rug.'"
            self.story = words
            return "OK: " + " ".join(words).lower().capitalize() + "."
        if self.story is None:
            return "Tell me a story first, e.g. 'The cat sat on the mat.'"
        from llm_book.finetuning import complete

        prompt = qa_prompt(self.story, words)
        budget = self.model.config.block_size - len(prompt)
        if budget < 1:
            return "That question is too long for me."
        answer = complete(self.model, self.tokenizer, [prompt], min(budget, self.max_answer_tokens))[0]
        return " ".join(answer) if answer else "(no answer)"


# How Chapter 6's pretrained-versus-scratch comparison is run (the notebook's settings).
COMPARISON_RECIPE = {"steps": 300, "batch_size": 32, "lr": 5e-3, "warmup_steps": 30}
SEED_STUDY_PATH = "qa_seed_study.json"  # in llm_book/data


def compare_pretrained_and_scratch(seed: int, steps: int | None = None) -> dict:
    """One run of Chapter 6's comparison with everything random drawn from ``seed``.

    The pretrained model is ``train_toy_gpt(seed=seed)`` (the shipped toy GPT for the
    recipe's own seed), grown with ``extend_gpt`` and fine-tuned with
    ``COMPARISON_RECIPE``; the other model has the same sizes and random weights.
    Both are scored by exact match on every question about the held-out stories.

    Args:
        seed: an integer from 0 to 2**32 - 1; seeds pretraining, the new rows of ``extend_gpt``, the
            model from scratch and the order of fine-tuning examples.  Seed 0 reuses the
            shipped toy GPT and reproduces Chapter 6's run.
        steps: fine-tuning steps per model (default ``COMPARISON_RECIPE["steps"]``, 300); fewer
            are for quick checks.

    Returns:
        ``{"seed": seed, "pretrained": {"all": ..., "where": ..., "who": ..., "clause": ...},
        "scratch": {...}}``: exact match in [0, 1] on all held-out questions and on each kind,
        rounded to 4 decimals.  A seed other than 0 pretrains a toy GPT first (minutes).
    """
    from llm_book import set_seed
    from llm_book.finetuning import complete, exact_match, extend_gpt, finetune
    from llm_book.model import GPT
    from llm_book.pretrained import TOY_GPT_RECIPE, load_toy_gpt, train_toy_gpt

    seed = check_int("seed", seed, "an integer from 0 to 2**32 - 1 (it seeds pretraining, growth "
                                   "and fine-tuning)", minimum=0, maximum=2**32 - 1)
    r = dict(COMPARISON_RECIPE)
    steps = r["steps"] if steps is None else check_int("steps", steps,
                                                       "None or an integer >= 1 (fine-tuning steps per model)",
                                                       minimum=1)
    from llm_book.language import ToyLanguage

    train_sentences, test_sentences = split_sentences_train_test(
        [w for w, _ in ToyLanguage().sentences()], QA_RECIPE["test_fraction"], seed=0)  # as recipe_start splits
    if seed == TOY_GPT_RECIPE["seed"]:
        base, base_tokenizer = load_toy_gpt()
    else:
        base, base_tokenizer, _ = train_toy_gpt(seed=seed)
    tokenizer = qa_tokenizer(base_tokenizer)
    block_size = QA_RECIPE["block_size"]
    pretrained = extend_gpt(base, len(tokenizer), block_size, seed=seed)
    set_seed(seed)
    scratch = GPT(pretrained.config)                   # the same sizes, random weights
    prompts, completions, _ = qa_dataset(train_sentences)
    test_prompts, test_completions, test_kinds = qa_dataset(test_sentences)
    answers = [c[:-1] for c in test_completions]
    out = {"seed": seed}
    for name, model in (("pretrained", pretrained), ("scratch", scratch)):
        finetune(model, tokenizer, prompts, completions, steps=steps, batch_size=r["batch_size"],
                 lr=r["lr"], warmup_steps=r["warmup_steps"], seed=seed)
        predicted = complete(model, tokenizer, test_prompts)
        scores = {"all": exact_match(predicted, answers)}
        for kind in QUESTION_KINDS:
            rows = [i for i, k in enumerate(test_kinds) if k == kind]
            scores[kind] = exact_match([predicted[i] for i in rows], [answers[i] for i in rows])
        out[name] = {k: round(v, 4) for k, v in scores.items()}
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m llm_book.dialogue seed-study [SEEDS...]``: rerun Chapter 6's comparison per seed."""
    import argparse
    import json
    import time
    from pathlib import Path

    import torch

    parser = argparse.ArgumentParser(prog="python -m llm_book.dialogue")
    parser.add_argument("what", choices=["seed-study"])
    parser.add_argument("seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)                      # tiny models: one thread, the same numbers every run
    path = Path(__file__).parent / "data" / SEED_STUDY_PATH
    runs, start = [], time.perf_counter()
    for seed in args.seeds:
        runs.append(compare_pretrained_and_scratch(seed))
        print(json.dumps(runs[-1]), flush=True)
    record = {"recipe": COMPARISON_RECIPE, "runs": runs, "seconds": round(time.perf_counter() - start),
              "torch": torch.__version__}
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
