"""Who did what, where: the meaning of a ``ToyLanguage`` sentence.

Every sentence of the toy language describes one small event in a toy world:
an animal (the *subject*) sits, sleeps, runs or eats, perhaps somewhere (a
*place*), and perhaps a relative clause says who chased or saw whom.  Because
the grammar is tiny, a sentence can be read into such a ``Frame`` exactly,
word by word.  Chapter 6 uses the frame twice: to ask and answer questions
about a sentence (``llm_book.dialogue``) and to translate it into Chinese by
a synchronous grammar (``llm_book.translation``).

Example:
    >>> frame = parse("The cat that the dogs chased sat on the mat <eos>".split())
    >>> frame.subject, frame.verb, frame.clause.agent, frame.place.noun
    ('cat', 'sat', 'dogs', 'mat')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llm_book.language import ToyLanguage

# Plural word -> singular word, for every noun of the toy language.
SINGULAR = {"cats": "cat", "dogs": "dog", "birds": "bird", "foxes": "fox", "mice": "mouse"}
# Main verb -> its base form ("lemma").
LEMMA = {"sat": "sit", "sleeps": "sleep", "sleep": "sleep", "runs": "run", "run": "run",
         "eats": "eat", "eat": "eat"}


@dataclass(frozen=True)
class Clause:
    """A relative clause: ``agent`` chased or saw ``patient``.

    Attributes:
        kind: "subject" for "that chased the mouse" (the sentence's subject is the
            agent), "object" for "that the dog chased" (the subject is the patient).
        verb: "chased" or "saw".
        agent, patient: nouns as written ("dogs", "mouse").
        verb_pos, noun_pos: positions in the sentence of the clause's verb and of its
            own noun (the one that is not the sentence's subject); ``that_pos`` of "that".
    """

    kind: str
    verb: str
    agent: str
    patient: str
    that_pos: int
    verb_pos: int
    noun_pos: int


@dataclass(frozen=True)
class Place:
    """Where it happened: ``prep`` ("on"/"under"), ``det`` ("the"/"a"), ``noun`` ("mat"), and their positions."""

    prep: str
    det: str
    noun: str
    prep_pos: int
    det_pos: int
    noun_pos: int


@dataclass(frozen=True)
class Frame:
    """The meaning of one toy sentence.

    Attributes:
        words: the sentence without its end token.
        subject: the subject noun as written ("cat", "cats"); always at position 1.
        verb: the main verb as written ("sat", "sleeps", "sleep"); at ``verb_pos``.
        clause: a ``Clause`` or None.
        place: a ``Place`` or None.
    """

    words: tuple[str, ...]
    subject: str
    verb: str
    verb_pos: int
    clause: Clause | None = None
    place: Place | None = None

    @property
    def plural(self) -> bool:
        """True when the subject is plural ("cats")."""
        return self.subject in SINGULAR

    @property
    def animal(self) -> str:
        """The subject's singular form ("cat" for "cats")."""
        return SINGULAR.get(self.subject, self.subject)

    @property
    def lemma(self) -> str:
        """The main verb's base form: "sit", "sleep", "run" or "eat"."""
        return LEMMA[self.verb]


_LANGUAGE: ToyLanguage | None = None
_SENTENCES: frozenset[tuple[str, ...]] = frozenset()


def _language() -> ToyLanguage:
    global _LANGUAGE, _SENTENCES
    if _LANGUAGE is None:
        _LANGUAGE = ToyLanguage()
        _SENTENCES = frozenset(tuple(w) for w, _ in _LANGUAGE.sentences())  # fast membership test
    return _LANGUAGE


def parse(words: Sequence[str]) -> Frame:
    """Read a toy sentence (a list of words, with or without the end token) into a ``Frame``.

    Raises:
        TypeError: for a string instead of a list of words.
        ValueError: for a sentence the toy language cannot produce, or an unfinished one.
    """
    if isinstance(words, str):
        raise TypeError(f"`words` has to be a list of words, got the string {words!r}; "
                        f"split it first, e.g. {words!r}.split()")
    language = _language()
    words = list(words)
    body = words[:-1] if words and words[-1] == language.eos else words
    whole = body + [language.eos]
    if tuple(whole) not in _SENTENCES and language.sentence_probability(whole) == 0.0:
        raise ValueError(f"`words` {' '.join(words)!r} is not a complete sentence of the toy "
                         f"language (its probability is 0)")
    subject, i, clause = body[1], 2, None
    if body[2] == "that":
        if body[3] in ("chased", "saw"):  # "that chased the mouse": the subject is the agent
            clause = Clause("subject", body[3], agent=subject, patient=body[5],
                            that_pos=2, verb_pos=3, noun_pos=5)
        else:                             # "that the dog chased": the subject is the patient
            clause = Clause("object", body[5], agent=body[4], patient=subject,
                            that_pos=2, verb_pos=5, noun_pos=4)
        i = 6
    verb_pos, place = i, None
    if len(body) > i + 1:
        place = Place(body[i + 1], body[i + 2], body[i + 3], i + 1, i + 2, i + 3)
    return Frame(tuple(body), subject, body[verb_pos], verb_pos, clause, place)
