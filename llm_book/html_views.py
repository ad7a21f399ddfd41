"""Small HTML views for notebooks and the static website.

Each function returns an HTML string (display it with ``IPython.display.HTML``).
The markup is deterministic - the same input gives the same bytes - so a
notebook can check it, and it uses inline styles only, so it looks the same
in Jupyter, Colab and the built book.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

# Okabe-Ito orange, light: readable behind black text, visible to colour-blind readers.
_HIGHLIGHT = "#fde2b3"
_BAR = "#0072B2"


def summary_html(sentences: Sequence[str], chosen: Sequence[int], scores: Sequence[float] | None = None,
                 title: str | None = None) -> str:
    """The document with the summary's sentences highlighted (and, optionally, every sentence's score).

    Args:
        sentences: the document's sentences, in order.
        chosen: indices of the sentences in the summary (highlighted and numbered).
        scores: optional score per sentence, shown as a small bar and a number before it.
        title: optional heading.

    Returns:
        an HTML string.
    """
    if isinstance(sentences, str) or not len(sentences):
        raise ValueError("`sentences` has to be a non-empty list of sentences")
    chosen_set = set(chosen)
    bad = [i for i in chosen_set if not isinstance(i, int) or not 0 <= i < len(sentences)]
    if bad:
        raise ValueError(f"`chosen` holds {bad[0]!r}, not a sentence index in 0 .. {len(sentences) - 1}")
    if scores is not None:
        scores = [float(s) for s in scores]
        if len(scores) != len(sentences):
            raise ValueError(f"`scores` has {len(scores)} values for {len(sentences)} sentences")
        low, high = min(scores), max(scores)
    parts = ['<div style="font-family: sans-serif; font-size: 0.92em; line-height: 1.55; '
             'max-width: 52em;">']
    if title:
        parts.append(f'<div style="font-weight: bold; margin-bottom: 0.3em;">{html.escape(title)}</div>')
    for i, sentence in enumerate(sentences):
        style = "padding: 1px 2px;"
        if i in chosen_set:
            style += f" background: {_HIGHLIGHT}; border-bottom: 2px solid #E69F00;"
        prefix = ""
        if scores is not None:
            share = 0.0 if high == low else (scores[i] - low) / (high - low)
            prefix = (f'<span title="score {scores[i]:.3f}" style="display: inline-block; width: 2.2em; '
                      f'height: 0.55em; background: #e6e6e6; margin-right: 0.25em; vertical-align: middle;">'
                      f'<span style="display: block; height: 100%; width: {100 * share:.0f}%; '
                      f'background: {_BAR};"></span></span>'
                      f'<span style="color: #555; font-size: 0.8em;">{scores[i]:.3f}</span> ')
        tag = f"<b>[{sorted(chosen_set).index(i) + 1}]</b> " if i in chosen_set else ""
        parts.append(f'<span style="{style}">{prefix}{tag}{html.escape(sentence)}</span> ')
    parts.append("</div>")
    return "\n".join(parts)
