"""Reading a toy sentence into who did what, where."""

from __future__ import annotations

import pytest

from llm_book.semantics import Clause, Frame, Place, parse


def test_simple_sentence_with_place():
    f = parse("The cat sat on the mat <eos>".split())
    assert isinstance(f, Frame)
    assert (f.subject, f.animal, f.plural, f.verb, f.lemma, f.verb_pos) == ("cat", "cat", False, "sat", "sit", 2)
    assert f.clause is None
    assert f.place == Place("on", "the", "mat", 3, 4, 5)
    assert f.words == ("The", "cat", "sat", "on", "the", "mat")


def test_end_token_is_optional():
    assert parse("The cat sat on the mat".split()) == parse("The cat sat on the mat <eos>".split())


def test_object_relative_clause_makes_the_subject_the_patient():
    f = parse("The cats that the dog chased sleep under a sofa".split())
    assert f.plural and f.animal == "cat" and f.lemma == "sleep" and f.verb_pos == 6
    assert f.clause == Clause("object", "chased", agent="dog", patient="cats", that_pos=2, verb_pos=5,
                              noun_pos=4)
    assert f.place.prep == "under" and f.place.det == "a" and f.place.noun_pos == 9


def test_subject_relative_clause_makes_the_subject_the_agent():
    f = parse("The fox that saw the mice runs".split())
    assert f.clause == Clause("subject", "saw", agent="fox", patient="mice", that_pos=2, verb_pos=3,
                              noun_pos=5)
    assert f.place is None and f.verb == "runs" and f.lemma == "run"


def test_every_sentence_of_the_language_parses_back_to_its_words(lang):
    for words, _ in lang.sentences():
        f = parse(words)
        assert list(f.words) == words[:-1]
        assert f.words[f.verb_pos] == f.verb and f.words[1] == f.subject
        if f.clause:
            assert f.words[f.clause.verb_pos] == f.clause.verb
        if f.place:
            assert f.words[f.place.noun_pos] == f.place.noun


def test_errors():
    with pytest.raises(TypeError, match=r"`words` has to be a list of words, got the string"):
        parse("The cat sat")
    with pytest.raises(ValueError, match=r"`words` 'The cat sat on the' is not a complete sentence"):
        parse("The cat sat on the".split())
    with pytest.raises(ValueError, match=r"unknown word 'flies'"):
        parse("The cat flies".split())
