"""Teaching the assistant to say it does not know: the book's DPO experiment (Chapter 11).

The chat model of ``llm_book.instructions`` answers a question about an animal the
story never mentions ("The cat sat on the mat . Where did the dog sit ?") with a
place, as if it knew.  ``train_dpo_assistant`` tunes it with DPO
(``llm_book.preference``) on two kinds of pairs:

* ``refusal_pairs``: on-policy pairs, chosen "it does not say", rejected the model's
  own wrong answer;
* ``anchor_pairs``: right answers over wrong ones on everything else, so that the
  model does not learn to refuse every question.

``false_refusal_rate`` measures the cost: answerable questions the model now refuses.
The recipe is ``DPO_RECIPE``; ``python -m llm_book.pretrained assistant-dpo`` rebuilds the
shipped model and records the measurements in its history JSON.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

from llm_book._checks import check_int
from llm_book.preference import PreferencePair, kl_to_reference, train_dpo

# How the shipped DPO model is made (``train_dpo_assistant``).  Every training story gives a
# refusal pair (on-policy) and a few anchor pairs.  ``sft_weight``: the chosen replies'
# negative log-likelihood added to the DPO loss (Llama 3's post-training uses 0.2; 0.5 kept
# more of the other tasks here).  The rebuild measures what the anchors and that term are for.
DPO_RECIPE = {"steps": 400, "batch_size": 32, "beta": 0.1, "lr": 5e-4, "sft_weight": 0.5,
              "test_fraction": 0.2, "seed": 0}


def _unknown() -> str:
    from llm_book.dialogue import UNKNOWN

    return " ".join(UNKNOWN)


def _second_turn(story: list[str], question: list[str], rng) -> list[dict]:
    """``question`` asked in a second turn, after another question about ``story`` and its answer.

    The second question names no story, as in the "qa2" task: the model has to look back.
    """
    from llm_book.dialogue import qa_prompt, questions

    first = [(q, a) for kind, q, a in questions(story) if q != question]
    q, a = rng.choice(first)
    return [{"role": "user", "content": " ".join(qa_prompt(story, q))},
            {"role": "assistant", "content": " ".join(a)},
            {"role": "user", "content": " ".join(question)}]


def refusal_pairs(model, tokenizer, sentences: Sequence[Sequence[str]],
                  seed: int = 0) -> tuple[list[PreferencePair], int]:
    """On-policy pairs that target the assistant's failure on questions about absent animals.

    For each story that names a place, one question about an animal it never mentions
    is drawn (``llm_book.instructions.absent_animal_questions``), half of them asked as
    the second question of a conversation about the story, and the model answers it
    (greedy).  Where the answer is wrong, the pair is chosen "it does not say", rejected
    the model's own answer: DPO pushes down exactly what the model does.

    Args:
        model, tokenizer: the assistant (``llm_book.pretrained.load_assistant_gpt()``).
        sentences: the stories (training stories only).
        seed: seeds which absent animal is asked about.

    Returns:
        ``(pairs, asked)``: the pairs, and how many questions were asked (``len(pairs) / asked``
        is the model's failure rate on these stories; an empty reply is wrong but makes no pair).
    """
    import random

    from llm_book.chat import generate_replies
    from llm_book.instructions import absent_animal_questions

    rng = random.Random(check_int("seed", seed, "an integer (it seeds the animals asked about)"))
    asked = []
    for s in sentences:
        options = absent_animal_questions([s])     # none for a story that names no place
        if options:
            conversation = rng.choice(options)
            if rng.random() < 0.5:                 # half of them as the second question of a chat
                story = [w for w in s if w != "<eos>"]
                question = conversation[0]["content"].split()[len(story) + 1:]
                conversation = _second_turn(story, question, rng) + conversation[-1:]
            asked.append(conversation)
    if not asked:
        raise ValueError("none of `sentences` says where its animal was: no absent-animal question to ask")
    replies = generate_replies(model, tokenizer, [c[:-1] for c in asked])
    unknown = _unknown()
    pairs = [PreferencePair(c[:-1], unknown, reply) for c, reply in zip(asked, replies)
             if reply.split() and reply.split() != unknown.split()]
    return pairs, len(asked)


def _where_questions(sentences: Sequence[Sequence[str]]) -> list[tuple[list[dict], str]]:
    """``(conversation, place)`` for each story's own "where" question whose answer is a place."""
    from llm_book.dialogue import qa_prompt, questions

    out = []
    for s in sentences:
        for kind, question, answer in questions(s):
            if kind == "where" and " ".join(answer) != _unknown():
                out.append(([{"role": "user", "content": " ".join(qa_prompt(s, question))}], " ".join(answer)))
    return out


def anchor_pairs(sentences: Sequence[Sequence[str]], seed: int = 0) -> list[PreferencePair]:
    """Pairs that keep the rest of what the assistant does: right answers over wrong ones.

    Per story:

    * its own "where" question when the answer is a place ("The cat sat on the mat .
      Where did the cat sit ?"): chosen "on the mat", rejected "it does not say" - the
      contrast to the absent-animal questions about the same story;
    * each of its questions whose right answer *is* "it does not say" (a story that names
      no place, or where nobody chased anyone): chosen "it does not say", rejected a
      made-up answer, the same kind of answer taken from another story ("on the mat",
      "the dog");
    * (each of those asked, half the time, as the second question of a conversation about
      the story, as the refusal pairs are);
    * one conversation of another task (drawn from "translate", "plural" and "qa2") and
      one long "chat" (``llm_book.instructions.instruction_conversations(sentences, "chat")``):
      chosen its right answer, rejected "it does not say".

    Without such pairs DPO learns to refuse everything and drags the other tasks along
    (``train_dpo_assistant`` measures it).
    """
    import random

    from llm_book.dialogue import qa_prompt, questions
    from llm_book.instructions import INSTRUCTION_TASKS, instruction_conversations

    rng = random.Random(check_int("seed", seed, "an integer (it seeds the conversations drawn)"))
    unknown = _unknown()
    stories = [[w for w in s if w != "<eos>"] for s in sentences]
    asked = [questions(story) for story in stories]
    made_up: dict[str, list[str]] = {}                 # answers of each kind, to invent one from
    for qs in asked:
        for kind, _, answer in qs:
            if " ".join(answer) != unknown:
                made_up.setdefault(kind, []).append(" ".join(answer))
    others = [t for t in INSTRUCTION_TASKS if t not in ("qa", "chat")]
    pairs = []
    if "chat" in INSTRUCTION_TASKS:       # long chats that switch story and task, one per story
        from llm_book.chat import render_chat
        from llm_book.instructions import ASSISTANT_RECIPE

        for c in instruction_conversations(stories, "chat"):
            refused = c[:-1] + [{"role": "assistant", "content": unknown}]
            if c[-1]["content"] != unknown and len(render_chat(refused)) <= ASSISTANT_RECIPE["block_size"]:
                pairs.append(PreferencePair(c[:-1], c[-1]["content"], unknown))
    for story, qs in zip(stories, asked):
        for kind, question, answer in qs:
            messages = [{"role": "user", "content": " ".join(qa_prompt(story, question))}]
            if rng.random() < 0.5:                     # half of them as the second question of a chat
                messages = _second_turn(story, question, rng)
            if kind == "where" and " ".join(answer) != unknown:
                pairs.append(PreferencePair(messages, " ".join(answer), unknown))
            elif " ".join(answer) == unknown and made_up.get(kind):
                pairs.append(PreferencePair(messages, unknown, rng.choice(made_up[kind])))
        if others:
            options = [c for c in instruction_conversations([story], rng.choice(others))
                       if c[-1]["content"] != unknown]
            if options:
                c = rng.choice(options)
                pairs.append(PreferencePair(c[:-1], c[-1]["content"], unknown))
    return pairs


def false_refusal_rate(model, tokenizer, sentences: Sequence[Sequence[str]]) -> float:
    """Share of answerable "where" questions that the model answers "it does not say".

    The questions are the stories' own "where" questions whose answer is a place
    ("The cat sat on the mat . Where did the cat sit ?"); a model that learned to
    refuse every "where" question scores 1.
    """
    from llm_book.chat import generate_replies

    asked = _where_questions(sentences)
    if not asked:
        raise ValueError("none of `sentences` says where its animal was: no question with a place to ask")
    replies = generate_replies(model, tokenizer, [messages for messages, _ in asked])
    return sum(r == _unknown() for r in replies) / len(asked)


def _held_out_scores(model, tokenizer, test) -> dict:
    """The numbers compared before and after DPO, on the held-out stories."""
    from llm_book.instructions import absent_animal_failure_rate, evaluate_assistant

    scores = {task: round(v, 4) for task, v in evaluate_assistant(model, tokenizer, test).items()}
    return {"absent_animal_failure_rate": round(absent_animal_failure_rate(model, tokenizer, test), 4),
            "false_refusal_rate": round(false_refusal_rate(model, tokenizer, test), 4), **scores}


def _held_out_kl(policy, reference, tokenizer, test) -> dict:
    """KL(policy || reference) on held-out conversations with their right answers, per kind."""
    from llm_book.chat import chat_batch
    from llm_book.instructions import INSTRUCTION_TASKS, absent_animal_questions, instruction_conversations

    conversations = {"absent_animal": absent_animal_questions(test)}
    for task in INSTRUCTION_TASKS:
        conversations[task] = instruction_conversations(test, task)
    return {name: round(kl_to_reference(policy, reference, *chat_batch(c, tokenizer)), 4)
            for name, c in conversations.items()}


def _tail_mean(values: list[float], n: int = 20) -> float:
    return round(sum(values[-n:]) / len(values[-n:]), 4)


def train_dpo_assistant(steps: int | None = None, seed: int | None = None, progress: bool = False,
                        evaluate: bool = True):
    """Tune the shipped assistant with DPO to answer "it does not say" about absent animals (``DPO_RECIPE``).

    The reference is the SFT assistant (``llm_book.pretrained.load_assistant_gpt()``),
    the policy a copy of it.  The pairs come from every training story (never from the
    held-out 20%): ``refusal_pairs`` (on-policy: the model's own wrong answers are the
    rejected replies) and ``anchor_pairs``.  The loss is ``dpo_loss``
    plus ``sft_weight`` times the chosen replies' negative log-likelihood (``train_dpo``).

    Args:
        steps, seed: override the recipe's.
        progress: show a progress bar.
        evaluate: afterwards measure on the held-out stories, for the SFT model and the
            tuned one: the absent-animal failure rate, false refusals, every task's exact
            match, and the KL from the reference per kind of conversation; then train
            twice more to see what the recipe's parts do: without anchor pairs, and
            without the likelihood term (the paper's DPO).  The numbers go to
            ``history.results`` (and into the history JSON that
            ``python -m llm_book.pretrained assistant-dpo`` writes).

    Returns:
        ``(model, tokenizer, history)``: the tuned model, the assistant's tokenizer and the
        ``DPOHistory``.
    """
    from llm_book import set_seed
    from llm_book.finetuning import recipe_start, split_sentences_train_test
    from llm_book.pretrained import load_assistant_gpt

    r = dict(DPO_RECIPE)
    steps, seed, language, stories = recipe_start(r, steps, seed)
    reference, tokenizer = load_assistant_gpt()
    start = time.perf_counter()
    refusals, asked = refusal_pairs(reference, tokenizer, stories, seed=seed)
    anchors = anchor_pairs(stories, seed=seed)
    pairs_seconds = time.perf_counter() - start

    def run(pairs, sft_weight):
        set_seed(seed)
        policy = copy.deepcopy(reference)
        started = time.perf_counter()
        history = train_dpo(policy, reference, pairs, tokenizer, steps, beta=r["beta"], lr=r["lr"],
                            batch_size=r["batch_size"], seed=seed, sft_weight=sft_weight, progress=progress)
        return policy, history, round(time.perf_counter() - started, 1)

    model, history, seconds = run(refusals + anchors, r["sft_weight"])
    history.results = {
        "pairs": {"training_stories": len(stories), "absent_animal_questions_asked": asked,
                  "refusal_pairs": len(refusals), "anchor_pairs": len(anchors)},
        "pairs_seconds": round(pairs_seconds, 1), "dpo_seconds": seconds,
        "final": {"loss": _tail_mean(history.loss), "chosen_reward": _tail_mean(history.chosen_reward),
                  "rejected_reward": _tail_mean(history.rejected_reward), "margin": _tail_mean(history.margin),
                  "accuracy": _tail_mean(history.accuracy), "averaged_over_last_steps": min(20, steps)}}
    if evaluate:
        _, test = split_sentences_train_test([w for w, _ in language.sentences()], r["test_fraction"], seed=0)
        results = history.results
        results["held_out_sentences"] = len(test)
        results["before"] = _held_out_scores(reference, tokenizer, test)
        results["after"] = _held_out_scores(model, tokenizer, test)
        results["kl_to_reference"] = _held_out_kl(model, reference, tokenizer, test)
        variants = {"without_anchors": (refusals, r["sft_weight"]),
                    "without_sft_term": (refusals + anchors, 0.0)}
        for name, (pairs, sft_weight) in variants.items():
            other, other_history, _ = run(pairs, sft_weight)
            results[name] = {**_held_out_scores(other, tokenizer, test),
                             "kl_to_reference": _held_out_kl(other, reference, tokenizer, test),
                             "final": {"loss": _tail_mean(other_history.loss),
                                       "chosen_reward": _tail_mean(other_history.chosen_reward),
                                       "rejected_reward": _tail_mean(other_history.rejected_reward)}}
    return model, tokenizer, history
