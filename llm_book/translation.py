"""Machine translation in miniature: toy English into Chinese, and BLEU.

``to_chinese`` is a *synchronous grammar*: it reads a ``ToyLanguage`` sentence
into its meaning (``llm_book.semantics.parse``) and writes the same meaning
with Chinese word order, one token per Chinese word::

    The cat sat on the mat                    ->  猫 坐 在 垫子 上
    The cats that the dog chased sleep        ->  狗 追 的 猫 们 睡觉
    The dog runs under a rug                  ->  狗 在 一 块 地毯 下 跑步

What changes on the way, as in real Chinese:

* no articles: "the" disappears, "a" becomes 一 + a measure word chosen by the
  noun (一块地毯, 一张沙发, 一根树枝);
* no verb agreement: "sleeps" and "sleep" are both 睡觉; a plural noun gets 们;
* relative clauses come *before* the noun, joined by 的: "the cat that the dog
  chased" -> 狗追的猫;
* a place comes before the verb (在垫子上睡觉), except after 坐 (坐在垫子上).

``alignment`` says which English words each Chinese word comes from (the gold
alignment that a model's attention can be compared with), ``pinyin`` spells
the Chinese tokens in Latin letters, and ``corpus_bleu`` scores translations.
A translation model is just a GPT trained on ``source <sep> target``
sequences (see ``translation_dataset``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from llm_book.model import model_device
from llm_book.semantics import SINGULAR, parse
from llm_book.tokenizer import WordTokenizer
from llm_book.threads import runs_model_threads

SEP = "<sep>"

NOUNS = {"cat": "猫", "dog": "狗", "bird": "鸟", "fox": "狐狸", "mouse": "老鼠"}
PLACES = {"mat": "垫子", "sofa": "沙发", "box": "箱子", "rug": "地毯", "porch": "门廊",
          "branch": "树枝", "roof": "屋顶", "log": "木头", "bush": "灌木丛"}
MEASURE_WORDS = {"mat": "块", "rug": "块", "sofa": "张", "box": "个", "porch": "个", "roof": "个",
                 "bush": "个", "branch": "根", "log": "根"}
PREPOSITIONS = {"on": "上", "under": "下"}
CLAUSE_VERBS = {"chased": "追", "saw": "看见"}
PRESENT_VERBS = {"sleep": "睡觉", "run": "跑步", "eat": "吃东西"}

# Every Chinese token, with its pinyin and an English gloss.
CHINESE = {
    "猫": ("māo", "cat"), "狗": ("gǒu", "dog"), "鸟": ("niǎo", "bird"), "狐狸": ("húli", "fox"),
    "老鼠": ("lǎoshǔ", "mouse"), "们": ("men", "plural"), "的": ("de", "that (relative)"),
    "追": ("zhuī", "chase"), "看见": ("kànjiàn", "see"), "坐": ("zuò", "sit"),
    "坐下": ("zuòxià", "sit down"), "了": ("le", "(completed)"), "在": ("zài", "at"),
    "上": ("shàng", "on"), "下": ("xià", "under"), "一": ("yī", "one / a"),
    "块": ("kuài", "(measure: flat piece)"), "张": ("zhāng", "(measure: flat furniture)"),
    "个": ("gè", "(measure: general)"), "根": ("gēn", "(measure: long thin)"),
    "垫子": ("diànzi", "mat"), "沙发": ("shāfā", "sofa"), "箱子": ("xiāngzi", "box"),
    "地毯": ("dìtǎn", "rug"), "门廊": ("ménláng", "porch"), "树枝": ("shùzhī", "branch"),
    "屋顶": ("wūdǐng", "roof"), "木头": ("mùtou", "log"), "灌木丛": ("guànmùcóng", "bush"),
    "睡觉": ("shuìjiào", "sleep"), "跑步": ("pǎobù", "run"), "吃东西": ("chī dōngxi", "eat"),
}

# How the shipped translation model is made (``train_translator``).
TRANSLATOR_RECIPE = {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 24, "steps": 1500,
                     "batch_size": 64, "lr": 5e-3, "warmup_steps": 50, "test_fraction": 0.2,
                     "seed": 0}


def _noun(word: str) -> list[str]:
    """A noun, with 们 when it is plural."""
    return [NOUNS[SINGULAR.get(word, word)]] + (["们"] if word in SINGULAR else [])


def translate_with_alignment(words: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """The Chinese translation of a toy sentence and, for each Chinese token, its English source positions.

    Args:
        words: a toy sentence (with or without ``<eos>``).

    Returns:
        ``(tokens, alignment)``: ``alignment[j]`` lists the positions in ``words`` that
        Chinese token ``j`` translates (e.g. 们 points at "cats", 一 at "a", a measure
        word at its noun).  The end token is not included.
    """
    f = parse(words)
    out: list[tuple[str, list[int]]] = []

    def add(tokens: list[str], positions: list[int]) -> None:
        out.extend((t, positions) for t in tokens)

    c = f.clause
    if c is not None:
        # The relative clause goes in front of the noun it describes, joined by 的.
        if c.kind == "subject":   # "that chased the mouse" -> 追 老鼠 的
            add([CLAUSE_VERBS[c.verb]], [c.verb_pos])
            add(_noun(c.patient), [c.noun_pos])
        else:                     # "that the dog chased"  -> 狗 追 的
            add(_noun(c.agent), [c.noun_pos])
            add([CLAUSE_VERBS[c.verb]], [c.verb_pos])
        add(["的"], [c.that_pos])
    add(_noun(f.subject), [1])
    p = f.place
    place: list[tuple[str, list[int]]] = []
    if p is not None:
        place.append(("在", [p.prep_pos]))
        if p.det == "a":
            place += [("一", [p.det_pos]), (MEASURE_WORDS[p.noun], [p.det_pos, p.noun_pos])]
        place += [(PLACES[p.noun], [p.noun_pos]), (PREPOSITIONS[p.prep], [p.prep_pos])]
    if f.lemma == "sit":
        if p is not None:         # 坐 在 垫子 上: the place follows 坐
            add(["坐"], [f.verb_pos])
            out.extend(place)
        else:
            add(["坐下", "了"], [f.verb_pos])
    else:                         # 在 垫子 上 睡觉: the place comes before the verb
        out.extend(place)
        add([PRESENT_VERBS[f.lemma]], [f.verb_pos])
    return [t for t, _ in out], [list(a) for _, a in out]


def to_chinese(words: Sequence[str]) -> list[str]:
    """The Chinese translation of a toy sentence, one token per word (see the module docstring)."""
    return translate_with_alignment(words)[0]


def alignment_matrix(words: Sequence[str]) -> torch.Tensor:
    """The gold alignment as a 0/1 matrix ``(n_chinese, n_english)``, English without ``<eos>``."""
    body = [w for w in words if w != "<eos>"]
    tokens, alignment = translate_with_alignment(body)
    m = torch.zeros(len(tokens), len(body))
    for j, positions in enumerate(alignment):
        m[j, positions] = 1.0
    return m


def pinyin(tokens: Sequence[str]) -> list[str]:
    """Pinyin for Chinese tokens; any other token is returned unchanged."""
    if isinstance(tokens, str):
        raise TypeError(f"`tokens` has to be a list of tokens, got the string {tokens!r}")
    return [CHINESE[t][0] if t in CHINESE else t for t in tokens]


def translation_tokenizer(english_vocab: Sequence[str]) -> WordTokenizer:
    """One vocabulary for both sides: the English words, ``<sep>``, then the Chinese tokens."""
    vocab = [w for w in english_vocab if w != "<eos>"] + [SEP] + list(CHINESE) + ["<eos>"]
    return WordTokenizer(vocab, eos="<eos>")


def translation_prompt(words: Sequence[str]) -> list[str]:
    """What the model is given: the English sentence (without ``<eos>``) then ``<sep>``."""
    return [w for w in words if w != "<eos>"] + [SEP]


def translation_dataset(sentences: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """Prompt-completion pairs ``(English <sep>, Chinese <eos>)`` for fine-tuning-style training."""
    if isinstance(sentences, str) or not len(sentences):
        raise ValueError("`sentences` has to be a non-empty list of toy sentences (word lists)")
    prompts = [translation_prompt(s) for s in sentences]
    completions = [to_chinese(s) + ["<eos>"] for s in sentences]
    return prompts, completions


def train_translator(steps: int | None = None, seed: int | None = None, progress: bool = False):
    """Train a GPT from scratch to translate toy English into Chinese, with ``TRANSLATOR_RECIPE``.

    ``TRANSLATOR_RECIPE["test_fraction"]`` of the toy sentences are held out
    (``llm_book.finetuning.recipe_start``: split with seed 0); the rest are the
    training set, drawn uniformly.

    Returns:
        ``(model, tokenizer, history)``.
    """
    from llm_book import set_seed
    from llm_book.finetuning import finetune, recipe_start
    from llm_book.model import GPT, GPTConfig

    r = dict(TRANSLATOR_RECIPE)
    steps, seed, language, train_sentences = recipe_start(r, steps, seed)
    tokenizer = translation_tokenizer(language.vocab)
    set_seed(seed)
    model = GPT(GPTConfig(vocab_size=len(tokenizer), block_size=r["block_size"], n_layer=r["n_layer"],
                          n_head=r["n_head"], n_embd=r["n_embd"]))
    prompts, completions = translation_dataset(train_sentences)
    history = finetune(model, tokenizer, prompts, completions, steps=steps, batch_size=r["batch_size"],
                       lr=r["lr"], warmup_steps=r["warmup_steps"], seed=seed, progress=progress)
    return model, tokenizer, history


@runs_model_threads
@torch.no_grad()
def source_attention(model, tokenizer: WordTokenizer, source: Sequence[str],
                     target: Sequence[str]) -> torch.Tensor:
    """Attention from each target token's prediction back to the source words.

    The model reads ``source <sep> target``.  Target token j is *predicted* at the
    position just before it (``<sep>`` for the first), so row j holds that position's
    attention over the source positions: where the model looked while writing token j.

    Args:
        source: English words (without ``<eos>``); target: Chinese tokens (without ``<eos>``).

    Returns:
        ``(n_layer, n_head, len(target), len(source))`` attention weights (rows need not
        sum to 1: the rest of each row went to ``<sep>`` and earlier target tokens).
    """
    prompt = translation_prompt(source)
    if not len(target):
        raise ValueError("`target` has to hold at least one token")
    device = model_device(model)
    ids = torch.tensor([tokenizer.encode(prompt + list(target))], device=device)
    if ids.shape[1] > model.config.block_size:
        raise ValueError(f"source and target ({ids.shape[1]} tokens) do not fit the model's "
                         f"block_size ({model.config.block_size})")
    was_training = model.training
    model.eval()
    attentions = model(ids, output_attentions=True).attentions
    model.train(was_training)
    n_src = len(prompt) - 1
    rows = torch.arange(n_src, n_src + len(target), device=device)  # positions that predict the target
    return torch.stack([a[0][:, rows, :n_src] for a in attentions]).cpu()


def alignment_agreement(attention: torch.Tensor, gold: torch.Tensor) -> float:
    """Share of target tokens whose most-attended source word is one of their gold source words.

    Args:
        attention: ``(n_target, n_source)`` weights (one head, or an average).
        gold: ``(n_target, n_source)`` 0/1 matrix from ``alignment_matrix``.  Target tokens
            without a source word are skipped.
    """
    if attention.shape != gold.shape or attention.dim() != 2:
        raise ValueError(f"`attention` {tuple(attention.shape)} and `gold` {tuple(gold.shape)} have "
                         f"to be 2-D matrices of the same shape (n_target, n_source)")
    attention, gold = attention.detach().cpu(), gold.detach().cpu()
    rows = gold.sum(-1) > 0
    if not rows.any():
        raise ValueError("`gold` aligns no target token to any source word")
    best = attention[rows].argmax(-1)
    return gold[rows].gather(1, best[:, None]).mean().item()


# ----------------------------------------------------------------------------
# BLEU
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BLEU:
    """Corpus BLEU and its parts.

    Attributes:
        score: BLEU in [0, 1] (multiply by 100 for the usual scale).
        precisions: modified n-gram precisions p_1 .. p_N.
        brevity_penalty: exp(1 - r / c) when the hypotheses are shorter than the references, else 1.
        hypothesis_length, reference_length: total tokens c and r.
    """

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                max_n: int = 4) -> BLEU:
    """Corpus-level BLEU (Papineni et al., 2002) with one reference per hypothesis.

    For n = 1 .. max_n, the modified precision p_n is the number of hypothesis
    n-grams that also occur in the reference (each counted at most as often as
    in the reference), summed over the corpus, divided by the number of
    hypothesis n-grams.  BLEU = BP * exp(mean_n log p_n), with the brevity penalty
    BP = exp(1 - r / c) if the total hypothesis length c is below the total
    reference length r, else 1.  No smoothing: a p_n of 0 gives BLEU 0.

    Args:
        hypotheses: the system's outputs, token lists.
        references: one reference token list per hypothesis.
        max_n: longest n-gram (4 is standard).

    Returns:
        a ``BLEU`` with the score and its parts.
    """
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("`hypotheses` and `references` have to be lists of token lists, not strings")
    if len(hypotheses) != len(references) or not len(hypotheses):
        raise ValueError(f"`hypotheses` ({len(hypotheses)}) and `references` ({len(references)}) have "
                         f"to be non-empty lists of the same length (one reference per hypothesis)")
    for name, group in (("hypotheses", hypotheses), ("references", references)):
        if any(isinstance(x, str) for x in group):
            raise TypeError(f"each item of `{name}` has to be a list of tokens, not a string; "
                            f"split the text first")
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"`max_n` (={max_n!r}) has to be a positive integer")
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for hyp, ref in zip(hypotheses, references):
        hyp, ref = list(hyp), list(ref)
        c, r = c + len(hyp), r + len(ref)
        for n in range(1, max_n + 1):
            h, g = _ngrams(hyp, n), _ngrams(ref, n)
            matches[n - 1] += sum(min(count, g[gram]) for gram, count in h.items())
            totals[n - 1] += max(0, len(hyp) - n + 1)
    precisions = tuple(m / t if t else 0.0 for m, t in zip(matches, totals))
    if c == 0:
        bp = 0.0
    else:
        bp = 1.0 if c >= r else math.exp(1 - r / c)
    if min(precisions) == 0.0:
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
    return BLEU(score, precisions, bp, c, r)
