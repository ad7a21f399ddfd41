"""A toy English-like language whose probabilities are known exactly.

Real language has no ground truth: nobody knows P(mat | The cat sat on the).
``ToyLanguage`` does.  It is a small probabilistic grammar, written as a
deterministic automaton: every prefix leads to exactly one *state*, and each
state lists the words that may follow with their probabilities.  So every
conditional probability, every sentence probability and the entropy of the
whole language can be computed exactly, and a trained model can be graded
against them.

The article's numbers are its ground truth::

    P(cat | The)              = 0.2
    P(sat | The cat)          = 0.4
    P(on  | The cat sat)      = 0.6
    P(the | The cat sat on)   = 0.8      ->  P(The cat sat on the) = 0.0384

Two dependencies reach far back, so that a bigram model cannot capture them
and a transformer's attention must:

* **number agreement across a relative clause**: "The cats that the dog
  chased *sleep*" but "The cat that the dogs chased *sleeps*".  The verb
  agrees with the subject five positions back, not with the nearest noun.
* **where each animal sits**: cats prefer the mat, birds the branch, ... The
  place noun depends on the subject, three or more words back.

Probabilities are kept as exact fractions inside and returned as floats.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction

EOS = "<eos>"

# Subject nouns after "The": word -> (animal, number, probability).
_SUBJECTS = {
    "cat": ("cat", "sg", "0.2"),
    "dog": ("dog", "sg", "0.15"),
    "bird": ("bird", "sg", "0.1"),
    "fox": ("fox", "sg", "0.05"),
    "cats": ("cat", "pl", "0.2"),
    "dogs": ("dog", "pl", "0.15"),
    "birds": ("bird", "pl", "0.1"),
    "foxes": ("fox", "pl", "0.05"),
}

# Present-tense verbs agree with the subject: (singular, plural, probability).
_PRESENT_VERBS = [("sleeps", "sleep"), ("runs", "run"), ("eats", "eat")]

# Main verb right after the subject ...
_VERB_AFTER_SUBJECT = {"sat": "0.4", "that": "0.2", "sleeps": "0.2", "runs": "0.1", "eats": "0.1"}
# ... and after a relative clause (no second clause).
_VERB_AFTER_CLAUSE = {"sat": "0.4", "sleeps": "0.3", "runs": "0.15", "eats": "0.15"}

# Relative clauses: "that chased the mouse" (subject relative) or
# "that the mouse chased" (object relative).
_AFTER_THAT = {"chased": "0.3", "saw": "0.2", "the": "0.5"}
_CLAUSE_OBJECTS = {"mouse": "0.3", "mice": "0.2", "dog": "0.3", "dogs": "0.2"}
_CLAUSE_VERBS = {"chased": "0.6", "saw": "0.4"}

_AFTER_SAT = {"on": "0.6", "under": "0.2", EOS: "0.2"}
_AFTER_PRESENT = {EOS: "0.5", "on": "0.3", "under": "0.2"}
_DETERMINERS = {"the": "0.8", "a": "0.2"}

# Where each animal sits (the place depends on the subject, far back).
_PLACES = {
    "cat": {"mat": "0.5", "sofa": "0.3", "box": "0.2"},
    "dog": {"rug": "0.5", "mat": "0.3", "porch": "0.2"},
    "bird": {"branch": "0.6", "roof": "0.3", "mat": "0.1"},
    "fox": {"log": "0.5", "bush": "0.3", "porch": "0.2"},
}


@dataclass(frozen=True)
class _State:
    """Where the automaton stands after a prefix.

    ``stage`` names the grammatical slot to fill next; ``animal`` and
    ``number`` remember the subject for as long as a later word depends on it.
    """

    stage: str
    animal: str | None = None
    number: str | None = None


def _fractions(table: dict[str, str]) -> list[tuple[str, Fraction]]:
    return [(word, Fraction(p)) for word, p in table.items()]


class ToyLanguage:
    """A small English-like language with exactly known probabilities.

    Example:
        >>> lang = ToyLanguage()
        >>> round(lang.sentence_probability("The cat sat on the".split()), 6)
        0.0384
        >>> lang.next_token_probs(["The", "cat", "sat", "on"])["the"]
        0.8
    """

    eos = EOS

    def __init__(self) -> None:
        self._sentences: list[tuple[tuple[str, ...], Fraction]] | None = None
        words = {"The", EOS}
        for state in self._all_states():
            words.update(word for word, _, _ in self._transitions(state))
        # A fixed, readable order: "The" first, then alphabetical, end token last.
        self.vocab: list[str] = ["The"] + sorted(words - {"The", EOS}) + [EOS]

    # ------------------------------------------------------------------
    # The grammar: one function from a state to (word, probability, next state).
    # ------------------------------------------------------------------
    def _transitions(self, state: _State) -> list[tuple[str, Fraction, _State]]:
        s, animal, number = state.stage, state.animal, state.number
        if s == "start":
            return [("The", Fraction(1), _State("subject"))]
        if s == "subject":
            return [
                (word, Fraction(p), _State("verb", a, n))
                for word, (a, n, p) in _SUBJECTS.items()
            ]
        if s in ("verb", "verb_after_clause"):
            table = _VERB_AFTER_SUBJECT if s == "verb" else _VERB_AFTER_CLAUSE
            out = []
            for word, p in _fractions(table):
                if word == "sat":
                    out.append((word, p, _State("after_sat", animal, number)))
                elif word == "that":
                    out.append((word, p, _State("that", animal, number)))
                else:  # a present-tense verb: pick the form that agrees
                    sg, pl = next(pair for pair in _PRESENT_VERBS if pair[0] == word)
                    form = sg if number == "sg" else pl
                    out.append((form, p, _State("after_present", animal, number)))
            return out
        if s == "that":
            return [
                ("chased", Fraction(_AFTER_THAT["chased"]), _State("clause_det", animal, number)),
                ("saw", Fraction(_AFTER_THAT["saw"]), _State("clause_det", animal, number)),
                ("the", Fraction(_AFTER_THAT["the"]), _State("clause_obj_first", animal, number)),
            ]
        if s == "clause_det":  # "that chased" -> "the"
            return [("the", Fraction(1), _State("clause_obj_last", animal, number))]
        if s in ("clause_obj_first", "clause_obj_last"):
            nxt = "clause_verb" if s == "clause_obj_first" else "verb_after_clause"
            return [(w, p, _State(nxt, animal, number)) for w, p in _fractions(_CLAUSE_OBJECTS)]
        if s == "clause_verb":  # "that the dog" -> "chased"
            return [(w, p, _State("verb_after_clause", animal, number))
                    for w, p in _fractions(_CLAUSE_VERBS)]
        if s in ("after_sat", "after_present"):
            table = _AFTER_SAT if s == "after_sat" else _AFTER_PRESENT
            return [
                (w, p, _State("end") if w == EOS else _State("det", animal, number))
                for w, p in _fractions(table)
            ]
        if s == "det":
            return [(w, p, _State("place", animal, number)) for w, p in _fractions(_DETERMINERS)]
        if s == "place":
            return [(w, p, _State("eos")) for w, p in _fractions(_PLACES[animal])]
        if s == "eos":
            return [(EOS, Fraction(1), _State("end"))]
        if s == "end":
            return []
        raise RuntimeError(f"unknown state {state}")  # pragma: no cover

    def _all_states(self) -> list[_State]:
        seen, todo = set(), [_State("start")]
        while todo:
            state = todo.pop()
            if state in seen:
                continue
            seen.add(state)
            todo.extend(nxt for _, _, nxt in self._transitions(state))
        return sorted(seen, key=repr)

    def _walk(self, prefix: list[str], argument: str) -> tuple[_State, Fraction]:
        """Follow ``prefix`` through the automaton; return its state and probability.

        Raises ValueError for an unknown word. Returns probability 0 (and the
        state where it fell off) for a prefix the language cannot produce.
        """
        if isinstance(prefix, str):
            raise TypeError(
                f"`{argument}` has to be a list of words, got the string {prefix!r}; "
                f"split it first, e.g. {prefix!r}.split()"
            )
        unknown = [w for w in prefix if w not in self.vocab]
        if unknown:
            raise ValueError(
                f"`{argument}` contains the unknown word {unknown[0]!r}; the language's "
                f"vocabulary is {self.vocab}"
            )
        state, prob = _State("start"), Fraction(1)
        for word in prefix:
            options = {w: (p, nxt) for w, p, nxt in self._transitions(state)}
            if word not in options:
                return state, Fraction(0)
            p, state = options[word]
            prob *= p
        return state, prob

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------
    def next_token_probs(self, prefix: list[str]) -> dict[str, float]:
        """Exact P(next word | prefix) for every word that can follow.

        Args:
            prefix: the words so far, e.g. ``["The", "cat"]``; ``[]`` gives ``{"The": 1.0}``.

        Returns:
            ``{word: probability}`` over the words with non-zero probability; sums to 1.

        Raises:
            ValueError: for an unknown word, or a prefix the language cannot produce
                (probability 0, or already ended by the end token).
        """
        state, prob = self._walk(prefix, "prefix")
        if prob == 0:
            ok = next(i for i in range(len(prefix) + 1) if self._walk(prefix[:i + 1], "prefix")[1] == 0)
            allowed = sorted(w for w, _, _ in self._transitions(self._walk(prefix[:ok], "prefix")[0]))
            raise ValueError(
                f"`prefix` {list(prefix)!r} is impossible in this language (probability 0): "
                f"after {list(prefix[:ok])!r} the word {prefix[ok]!r} cannot follow; "
                f"possible next words are {allowed}"
            )
        transitions = self._transitions(state)
        if not transitions:
            raise ValueError(
                f"`prefix` {prefix!r} already ends with the end token {EOS!r}; nothing can follow it"
            )
        return {word: float(p) for word, p, _ in transitions}

    def sentence_probability(self, words: list[str]) -> float:
        """P(words) by the chain rule: the product of P(w_t | w_<t).

        ``words`` is read as a prefix: "The cat sat on the" has probability 0.0384.
        A whole sentence includes its end token ``<eos>``.  A sequence of known
        words that the language cannot produce has probability 0.0.
        """
        return float(self._walk(words, "words")[1])

    def conditional_probs(self, words: list[str]) -> list[float]:
        """[P(w_1 | w_0), P(w_2 | w_0 w_1), ...]: one conditional per word after the first.

        The first word is always "The" (probability 1), so it has no entry; the
        running product of the list is ``sentence_probability(words)``.
        """
        if not words or words[0] != "The":
            raise ValueError(f"`words` has to start with 'The', got {list(words)[:1]!r}")
        self._walk(words, "words")  # an unknown word raises here, naming it
        out = []
        for t in range(1, len(words)):
            probs = self.next_token_probs(words[:t])
            out.append(probs.get(words[t], 0.0))
            if out[-1] == 0.0:
                break
        return out + [0.0] * (len(words) - 1 - len(out))

    def sentences(self) -> list[tuple[list[str], float]]:
        """Every sentence of the language (with its end token) and its probability."""
        return [(list(words), float(p)) for words, p in self._enumerate()]

    def _enumerate(self) -> list[tuple[tuple[str, ...], Fraction]]:
        if self._sentences is None:
            out: list[tuple[tuple[str, ...], Fraction]] = []

            def expand(state: _State, words: tuple[str, ...], prob: Fraction) -> None:
                transitions = self._transitions(state)
                if not transitions:
                    out.append((words, prob))
                for word, p, nxt in transitions:
                    expand(nxt, words + (word,), prob * p)

            expand(_State("start"), (), Fraction(1))
            self._sentences = out
        return self._sentences

    def sample(self, n: int, seed: int | None = None) -> list[list[str]]:
        """Draw ``n`` sentences (each ending with ``<eos>``); the same seed gives the same list."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"`n` (={n!r}) has to be a non-negative integer")
        rng = random.Random(seed)
        sentences = self._enumerate()
        weights = [float(p) for _, p in sentences]
        picks = rng.choices(range(len(sentences)), weights=weights, k=n)
        return [list(sentences[i][0]) for i in picks]

    def entropy_per_token(self) -> float:
        """Exact entropy of the language in nats per predicted token.

        H(sentence) / E[number of predicted tokens], where the predicted tokens
        are every word after the opening "The", end token included.  This is
        the lowest cross-entropy any model can reach on this language, averaged
        over tokens the way a training loss averages them.
        """
        sentences = self._enumerate()
        h = sum(float(p) * -math.log(float(p)) for _, p in sentences)
        mean_predicted = sum(float(p) * (len(w) - 1) for w, p in sentences)
        return h / mean_predicted

    @property
    def max_length(self) -> int:
        """Length of the longest sentence, in tokens (with "The" and the end token)."""
        return max(len(w) for w, _ in self._enumerate())

    def __repr__(self) -> str:
        return (f"ToyLanguage({len(self.vocab)} words, {len(self._enumerate())} sentences, "
                f"longest {self.max_length} tokens)")
