"""Extractive summarisation: pick the sentences that best stand for the whole text.

An *extractive* summary (抽取式摘要) copies a few sentences of the document;
an *abstractive* one (生成式摘要) writes new ones.  Extractive needs no
generator, only a way to score sentences.  With sentence embeddings (here
MiniLM's, from ``llm_book.encoders.embed``) two classic scores are:

* **centroid**: similarity of each sentence to the mean of all sentence
  vectors - the sentences closest to "what the document is about";
* **graph ranking** (TextRank / LexRank): PageRank on the graph whose edges are
  sentence similarities - a sentence is central when it is similar to other
  central sentences.

The functions take embeddings ``(n, d)`` (rows L2-normalised, as ``embed``
returns them) and return scores or sentence indices; they never draw.
The helpers ``prose_paragraphs`` and ``split_sentences`` turn reStructuredText
such as ``pydoc_data.topics.topics`` into plain sentences.  ``pydoc_page`` returns
a page from a copy shipped with the package (``data/pydoc_pages.json``), so that
every Python version summarises the same text; ``python -m llm_book.summarization``
regenerates that copy from the running Python.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Dr.", "No.")
PYDOC_PAGES_PATH = Path(__file__).parent / "data" / "pydoc_pages.json"
PYDOC_PAGE_NAMES = ("objects", "exceptions")  # the pages the book summarises


def _check_embeddings(embeddings) -> None:
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2 \
            or not embeddings.is_floating_point() or embeddings.shape[0] < 1:
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise ValueError(f"`embeddings` has to be a 2-D float tensor (n_sentences, d) with n >= 1, got {shape}")


def prose_paragraphs(text: str) -> list[str]:
    """The prose paragraphs of a reStructuredText document, each joined into one line.

    Dropped: headings (a line followed by ``***``, ``===`` or ``---``), indented
    blocks (code, grammar rules, notes), bullet and numbered lists, and footnotes.
    Emphasis marks (``*word*``, ``**word**``) are removed, and so are the curly quotes
    that pydoc puts around quoted keywords (``‘"is"’`` -> ``"is"``).
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` has to be a string, got {type(text).__name__}")
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if lines[0].startswith((" ", "\t")):                     # code, grammar, notes
            continue
        if any(re.fullmatch(r"[*=\-~^]{3,}", line.strip()) for line in lines):  # heading
            continue
        if re.match(r"(\*|-|\d+\.|\[\d+\]|[a-z]\))\s", lines[0]):  # list item, footnote
            continue
        joined = ""
        for line in lines:  # join the lines; "reference-" + "counting" -> "reference-counting"
            line = line.strip()
            joined += line if joined.endswith("-") or not joined else " " + line
        joined = re.sub(r"\*\*?([^*]+?)\*\*?", r"\1", joined)  # *emphasis*, **strong** -> plain
        joined = re.sub(r"‘(\"[^‘’]*\")’", r"\1", joined)           # ‘"try"…"finally"’ -> "try"…"finally"
        if not joined.endswith((".", ":", "!", "?", ")")) or len(joined.split()) < 6:
            continue
        paragraphs.append(joined)
    return paragraphs


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences at ".", "!" or "?" followed by a space and a capital or quote.

    Common abbreviations ("e.g.", "i.e.", "etc.") do not end a sentence.  Good enough for
    documentation prose; not a general-purpose sentence splitter.
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` has to be a string, got {type(text).__name__}")
    protected = text
    for i, abbreviation in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbreviation, f"\x00{i}\x00")
    parts = re.split(r"(?:(?<=[.!?])|(?<=[.!?][)\"”’]))\s+(?=[A-Z\"“‘'(])", protected.strip())
    out = []
    for part in parts:
        for i, abbreviation in enumerate(_ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbreviation)
        if part.strip():
            out.append(part.strip())
    return out


def document_sentences(text: str) -> list[str]:
    """``prose_paragraphs`` then ``split_sentences``: the sentences of a document's prose, in order."""
    return [s for p in prose_paragraphs(text) for s in split_sentences(p)]


def centroid_scores(embeddings: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each sentence to the centroid (mean) of all sentences.

    Args:
        embeddings: ``(n, d)`` sentence vectors (normalised or not).

    Returns:
        ``(n,)`` scores in [-1, 1]; higher = closer to what the whole text is about.
    """
    _check_embeddings(embeddings)
    e = torch.nn.functional.normalize(embeddings, dim=-1)
    centroid = torch.nn.functional.normalize(e.mean(0), dim=-1)
    return e @ centroid


def similarity_graph(embeddings: torch.Tensor) -> torch.Tensor:
    """Edge weights ``(n, n)``: cosine similarities, negatives set to 0, no self-loops."""
    _check_embeddings(embeddings)
    e = torch.nn.functional.normalize(embeddings, dim=-1)
    w = (e @ e.T).clamp(min=0.0)
    return w.fill_diagonal_(0.0)


def textrank_scores(embeddings: torch.Tensor, damping: float = 0.85, iterations: int = 100,
                    tol: float = 1e-10) -> torch.Tensor:
    """PageRank on the sentence-similarity graph (TextRank with embeddings).

    Each sentence passes its score to the others in proportion to their similarity
    (rows of ``similarity_graph`` normalised to sum to 1):
    ``s <- (1 - damping) / n + damping * W_norm^T s``, repeated until it stops changing.

    Args:
        embeddings: ``(n, d)`` sentence vectors.
        damping: probability of following an edge (0.85 as in PageRank), in [0, 1).
        iterations: at most this many power-iteration steps.
        tol: stop when the scores change by less than this (L1).

    Returns:
        ``(n,)`` scores, positive, summing to 1.
    """
    if isinstance(damping, bool) or not isinstance(damping, (int, float)) or not 0 <= damping < 1:
        raise ValueError(f"`damping` (={damping!r}) has to be a float in [0, 1)")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"`iterations` (={iterations!r}) has to be a positive integer")
    w = similarity_graph(embeddings).double()
    n = w.shape[0]
    rows = w.sum(-1, keepdim=True)
    # A sentence similar to nothing spreads its score evenly (as PageRank does for dead ends).
    transition = torch.where(rows > 0, w / rows.clamp(min=1e-12), torch.full_like(w, 1.0 / n))
    scores = torch.full((n,), 1.0 / n, dtype=torch.float64, device=w.device)
    for _ in range(iterations):
        new = (1 - damping) / n + damping * (transition.T @ scores)
        done = (new - scores).abs().sum().item() < tol
        scores = new
        if done:
            break
    return (scores / scores.sum()).to(embeddings.dtype)


def select_top(scores: torch.Tensor, k: int) -> list[int]:
    """Indices of the ``k`` highest scores, in document order (ties: the earlier sentence)."""
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1:
        raise ValueError("`scores` has to be a 1-D tensor, one score per sentence")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= scores.shape[0]:
        raise ValueError(f"`k` (={k!r}) has to be an integer from 1 to the number of sentences "
                         f"({scores.shape[0]})")
    order = sorted(range(scores.shape[0]), key=lambda i: (-float(scores[i]), i))
    return sorted(order[:k])


def summarize(sentences: Sequence[str], k: int = 3, method: str = "centroid",
              embeddings: torch.Tensor | None = None) -> list[int]:
    """Choose ``k`` sentences that summarise the text; returns their indices in document order.

    Args:
        sentences: the document, split into sentences.
        k: how many sentences to keep.
        method: "centroid", "textrank" or "lead" (the first k sentences: the classic baseline).
        embeddings: ``(n, d)`` vectors of the sentences (default: MiniLM's, via
            ``llm_book.encoders.embed``).
    """
    if isinstance(sentences, str) or not len(sentences):
        raise ValueError("`sentences` has to be a non-empty list of sentences (split the text first)")
    if method not in ("centroid", "textrank", "lead"):
        raise ValueError(f"`method` (={method!r}) has to be 'centroid', 'textrank' or 'lead'")
    if method == "lead":
        return select_top(-torch.arange(len(sentences), dtype=torch.float32), k)
    if embeddings is None:
        from llm_book.encoders import embed

        embeddings = embed(list(sentences))
    _check_embeddings(embeddings)
    if embeddings.shape[0] != len(sentences):
        raise ValueError(f"`embeddings` has {embeddings.shape[0]} rows for {len(sentences)} sentences")
    scores = centroid_scores(embeddings) if method == "centroid" else textrank_scores(embeddings)
    return select_top(scores, k)


def coverage(embeddings: torch.Tensor, chosen: Sequence[int]) -> float:
    """How well the chosen sentences cover the document, in embedding space.

    The mean, over all sentences, of the cosine similarity to the most similar chosen
    sentence (a chosen sentence covers itself with 1).  Higher is better; it rewards
    summaries whose sentences resemble many others, and penalises redundancy only
    indirectly.
    """
    _check_embeddings(embeddings)
    chosen = list(chosen)
    if not chosen or any(not isinstance(i, int) or not 0 <= i < embeddings.shape[0] for i in chosen):
        raise ValueError(f"`chosen` has to be a non-empty list of sentence indices in "
                         f"0 .. {embeddings.shape[0] - 1}, got {chosen}")
    e = torch.nn.functional.normalize(embeddings, dim=-1)
    return (e @ e[chosen].T).max(-1).values.mean().item()


def pydoc_page(name: str) -> str:
    """The reStructuredText of a Python reference page, from the copy shipped with the package.

    The copy (``data/pydoc_pages.json``, pages ``PYDOC_PAGE_NAMES``) was taken from
    ``pydoc_data.topics`` of the Python recorded in the file (``pydoc_pages_python()``),
    so the book's summaries do not change with the reader's Python version.
    """
    pages = json.loads(PYDOC_PAGES_PATH.read_text(encoding="utf-8"))["pages"]
    if name not in pages:
        raise ValueError(f"`name` (={name!r}) has to be one of the shipped pages {sorted(pages)}; "
                         f"for other pages use pydoc_data.topics.topics[name]")
    return pages[name]


def pydoc_pages_python() -> str:
    """The Python version (``sys.version``'s first word) whose ``pydoc_data`` the shipped pages come from."""
    return json.loads(PYDOC_PAGES_PATH.read_text(encoding="utf-8"))["python"]


def write_pydoc_pages(path: Path | str = PYDOC_PAGES_PATH, names: Sequence[str] = PYDOC_PAGE_NAMES) -> Path:
    """Copy the pages ``names`` of the running Python's ``pydoc_data.topics`` to ``path`` (JSON)."""
    from pydoc_data.topics import topics

    path = Path(path)
    record = {"python": sys.version.split()[0], "source": "pydoc_data.topics.topics",
              "pages": {name: topics[name] for name in names}}
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m llm_book.summarization: regenerate data/pydoc_pages.json
    print("wrote", write_pydoc_pages())
