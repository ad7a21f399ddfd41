"""Count-based n-gram language models: the language model before neural networks.

An n-gram model assumes the next word depends only on the last ``n - 1`` words
and estimates that probability by counting::

    P(w | context) ~ P(w | last n-1 words) = (count(context, w) + k) / (count(context) + k * V)

``k = 0`` is the maximum-likelihood estimate (relative frequencies); ``k > 0``
is add-k (Laplace when ``k = 1``) smoothing, which gives every word of the
vocabulary (size ``V``) some probability, even after a context never seen in
training.  Sentences are padded on the left with ``n - 1`` start symbols, so
the first word is predicted from "nothing yet".

The toy language's long-range dependencies (subject-verb agreement across a
relative clause, the place that depends on the subject) are exactly what a
small ``n`` cannot see.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence

from llm_book._checks import check_int, check_real

BOS = "<s>"


class NGramModel:
    """A count-based n-gram model over a fixed vocabulary.

    Args:
        n: order of the model: 1 (unigram), 2 (bigram), 3 (trigram), ...
        vocab: the words it can predict (the start symbol is not one of them).
        k: add-k smoothing constant (0: maximum likelihood).
        bos: the start symbol that pads the left of every sentence.

    Example:
        >>> m = NGramModel(2, ["The", "cat", "dog", "<eos>"]).fit([["The", "cat", "<eos>"]] * 3
        ...                                                      + [["The", "dog", "<eos>"]])
        >>> m.next_token_probs(["The"])["cat"]
        0.75
    """

    def __init__(self, n: int, vocab: Sequence[str], k: float = 0.0, bos: str = BOS) -> None:
        n = check_int("n", n, "a positive integer (1 = unigram, 2 = bigram, ...)", minimum=1)
        k = check_real("k", k, "a non-negative, finite number (0 = no smoothing)", minimum=0)
        if isinstance(vocab, str) or len(vocab) == 0:
            raise ValueError("`vocab` has to be a non-empty list of words")
        vocab = list(vocab)
        if not math.isfinite(k * len(vocab)):
            raise ValueError(f"`k` (={k!r}) is too large: k * len(vocab) overflows a float")
        if len(set(vocab)) != len(vocab):
            raise ValueError("`vocab` has duplicate words; each word appears once")
        if bos in vocab:
            raise ValueError(f"`bos` (={bos!r}) is a word of `vocab`; the start symbol has to differ")
        self.n = n
        self.k = k
        self.bos = bos
        self.vocab = vocab
        self._vocab_set = set(vocab)
        self.counts: dict[tuple[str, ...], Counter] = defaultdict(Counter)
        self.context_totals: Counter = Counter()
        self.num_sentences = 0

    def _check_words(self, words: Sequence[str], argument: str) -> list[str]:
        if isinstance(words, str):
            raise TypeError(f"`{argument}` has to be a list of words, got the string {words!r}; "
                            f"split it first, e.g. {words!r}.split()")
        words = list(words)
        unknown = [w for w in words if w not in self._vocab_set]
        if unknown:
            raise ValueError(f"`{argument}` contains the unknown word {unknown[0]!r}; the model's "
                             f"vocabulary is {self.vocab}")
        return words

    def context_of(self, prefix: Sequence[str]) -> tuple[str, ...]:
        """The last ``n - 1`` words of ``prefix``, padded on the left with the start symbol."""
        prefix = self._check_words(prefix, "prefix")
        padded = [self.bos] * (self.n - 1) + prefix
        return tuple(padded[len(padded) - (self.n - 1):]) if self.n > 1 else ()

    def fit(self, sentences: Sequence[Sequence[str]]) -> NGramModel:
        """Count every (context, word) pair in ``sentences``; returns the model itself.

        Calling ``fit`` again adds to the counts.
        """
        if isinstance(sentences, str) or len(sentences) == 0:
            raise ValueError("`sentences` has to be a non-empty list of sentences (lists of words)")
        for i, sentence in enumerate(sentences):
            words = self._check_words(sentence, f"sentences[{i}]")
            padded = [self.bos] * (self.n - 1) + words
            for t in range(self.n - 1, len(padded)):
                context = tuple(padded[t - self.n + 1:t])
                self.counts[context][padded[t]] += 1
                self.context_totals[context] += 1
            self.num_sentences += 1
        return self

    def count(self, context: Sequence[str], word: str) -> int:
        """How often ``word`` followed ``context`` (a tuple of ``n - 1`` words) in training."""
        return self.counts.get(tuple(context), Counter())[word]

    def next_token_probs(self, prefix: Sequence[str]) -> dict[str, float]:
        """P(next word | prefix) for every word of the vocabulary (sums to 1).

        Only the last ``n - 1`` words of ``prefix`` matter.  A context never seen in
        training gets the uniform distribution: that is what add-k gives there for any
        k > 0, and maximum likelihood (0 / 0) leaves undefined.
        """
        if self.num_sentences == 0:
            raise ValueError("the model has no counts yet; call `fit(sentences)` first")
        context = self.context_of(prefix)
        counts = self.counts.get(context)
        total = self.context_totals.get(context, 0)
        size = len(self.vocab)
        if total == 0:
            return {w: 1.0 / size for w in self.vocab}
        denominator = total + self.k * size
        return {w: (counts[w] + self.k) / denominator for w in self.vocab}

    def conditional_probs(self, words: Sequence[str]) -> list[float]:
        """[P(w_1 | w_0), P(w_2 | w_<2), ...]: one probability per word after the first.

        The first word is given, as in ``ToyLanguage.conditional_probs`` and the
        neural models' ``sequence_log_probs``.
        """
        words = self._check_words(words, "words")
        if len(words) < 2:
            raise ValueError(f"`words` needs at least 2 words, got {words!r}")
        return [self.next_token_probs(words[:t])[words[t]] for t in range(1, len(words))]

    def cross_entropy(self, sentences: Sequence[Sequence[str]]) -> float:
        """Mean -log P(w_t | context) in nats over every word after the first of each sentence.

        ``math.inf`` when some word has probability 0 (maximum likelihood on unseen data).
        """
        if isinstance(sentences, str) or len(sentences) == 0:
            raise ValueError("`sentences` has to be a non-empty list of sentences (lists of words)")
        total, count = 0.0, 0
        cache: dict[tuple[str, ...], dict[str, float]] = {}
        for sentence in sentences:
            words = self._check_words(sentence, "sentences")
            for t in range(1, len(words)):
                context = self.context_of(words[:t])
                if context not in cache:
                    cache[context] = self.next_token_probs(words[:t])
                p = cache[context][words[t]]
                if p == 0.0:
                    return math.inf
                total -= math.log(p)
                count += 1
        if count == 0:
            raise ValueError("`sentences` has no word after a first one to predict")
        return total / count

    def sample(self, prefix: Sequence[str], max_new_tokens: int, eos: str | None = "<eos>",
               seed: int | None = None) -> list[str]:
        """Continue ``prefix`` word by word, drawing each word from ``next_token_probs``.

        Stops after ``max_new_tokens`` words or at ``eos``.  Returns the prefix and the new words.
        """
        max_new_tokens = check_int("max_new_tokens", max_new_tokens, "a non-negative integer", minimum=0)
        words = self._check_words(prefix, "prefix")
        if seed is not None:
            seed = check_int("seed", seed, "an integer or None (None: a different draw each time)")
        rng = random.Random(seed)
        for _ in range(max_new_tokens):
            probs = self.next_token_probs(words)
            word = rng.choices(self.vocab, weights=[probs[w] for w in self.vocab])[0]
            words.append(word)
            if word == eos:
                break
        return words

    def __repr__(self) -> str:
        name = {1: "unigram", 2: "bigram", 3: "trigram"}.get(self.n, f"{self.n}-gram")
        return (f"NGramModel({name}, k={self.k:g}, {len(self.vocab)} words, "
                f"{len(self.context_totals)} contexts from {self.num_sentences} sentences)")
