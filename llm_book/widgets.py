"""Figures for the sampling and chain-rule sections, and Chapter 11's chat box (ipywidgets).

The book's explorers (next token and sampling, chain rule, attention) are not
here: they run in the reader's browser, the same on the website, in Jupyter and
in Colab, see ``llm_book.explorers``.  The chat box needs a live kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from llm_book.plotting import plot_chain_rule, plot_filtered_distribution
from llm_book.threads import runs_model_threads


def chain_rule_figure(words: Sequence[str], exact: Sequence[float],
                      model_probs: Sequence[float] | None = None):
    """One chain-rule chart: the exact conditionals and (optionally) a model's, overlaid."""
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(words) + 3), 4.6))
    plot_chain_rule(words, exact, ax=ax, model_conditionals=model_probs,
                    title="exact (ToyLanguage)" + ("" if model_probs is None else " and the tiny GPT's estimate"))
    fig.tight_layout()
    return fig


@runs_model_threads
def _next_token_probs(model, tokenizer, prefix: Sequence[str], temperature: float,
                      top_k: int | None, top_p: float | None):
    """The model's next-token probabilities before and after temperature and filters, ``(vocab,)`` each."""
    import torch

    from llm_book.model import model_device
    from llm_book.sampling import filter_logits

    idx = torch.tensor([tokenizer.encode(prefix)], device=model_device(model))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(idx).logits[0, -1].float().cpu()  # the bars are drawn from CPU numbers
    model.train(was_training)
    after = torch.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)
    return torch.softmax(logits, dim=-1), after


def _check_sampling_settings(temperature, top_k, top_p) -> tuple[int | None, float | None]:
    """Validate the explorer's settings; top_k = 0 and top_p = 1 both mean "off"."""
    from llm_book.sampling import _check_temperature, _check_top_k, _check_top_p

    _check_temperature(temperature)
    if top_k is not None and top_k != 0:
        _check_top_k(top_k)
    if top_p is not None:
        _check_top_p(top_p)
    return (top_k or None), (None if top_p is None or top_p >= 1 else top_p)


def sampling_figure(model, tokenizer, prefix: Sequence[str], temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, ax=None, top: int = 15):
    """Bars of the model's next-token distribution after ``prefix``, before and after the settings.

    Args:
        model, tokenizer: a language model (``model(idx).logits``) and its tokenizer.
        prefix: the words so far, e.g. ``["The", "cats", "that"]``.
        temperature, top_k, top_p: as in ``llm_book.sampling.sample_next``
            (``top_k=0`` and ``top_p=1`` mean off).
        top: number of tokens shown.

    Returns:
        the ``Axes``.
    """
    top_k, top_p = _check_sampling_settings(temperature, top_k, top_p)
    before, after = _next_token_probs(model, tokenizer, list(prefix), temperature, top_k, top_p)
    settings = f"T = {temperature:g}, top-k = {top_k or 'off'}, top-p = {top_p or 'off'}"
    return plot_filtered_distribution(before, after, tokenizer.vocab, ax=ax, top=top,
                                      title=f"after {' '.join(prefix)!r}: {settings}")


def sampled_continuations(model, tokenizer, prefix: Sequence[str], n: int = 5, temperature: float = 1.0,
                          top_k: int | None = None, top_p: float | None = None, seed: int = 0) -> list[str]:
    """``n`` continuations of ``prefix`` drawn with the settings (seeded), as strings."""
    import torch

    from llm_book.model import model_device
    from llm_book.sampling import generate

    top_k, top_p = _check_sampling_settings(temperature, top_k, top_p)
    prefix = list(prefix)
    idx = torch.tensor([tokenizer.encode(prefix)] * n, device=model_device(model))
    out = generate(model, idx, model.config.block_size - len(prefix), temperature, top_k, top_p,
                   generator=torch.Generator().manual_seed(seed), eos_id=tokenizer.eos_id)
    lines = []
    for row in out.tolist():
        words = tokenizer.decode(row)
        if tokenizer.eos in words[len(prefix):]:
            words = words[: words.index(tokenizer.eos, len(prefix)) + 1]
        lines.append(" ".join(words))
    return lines


def chat_box(session, placeholder: str = "The cat sat on the mat.  /  Where did the cat sit?"):
    """A chat window for a ``llm_book.dialogue.ChatSession``: a text box, a Send button, the conversation.

    Type a story (a toy sentence), press Enter or Send, then ask questions about it.

    Returns:
        an ``ipywidgets.VBox`` to display; the exchanges also land in ``session.transcript``.
    """
    import html

    import ipywidgets as w

    text = w.Text(placeholder=placeholder, layout=w.Layout(width="420px"), continuous_update=False)
    send = w.Button(description="Send", button_style="primary", layout=w.Layout(width="80px"))
    log = w.HTML(layout=w.Layout(width="520px", min_height="60px"))

    def show() -> None:
        lines = []
        for user, reply in session.transcript:
            lines.append(f"<div><b>you:</b> {html.escape(user)}</div>"
                         f"<div style='margin-left: 1.5em; color: #0072B2;'><b>model:</b> "
                         f"{html.escape(reply)}</div>")
        log.value = "".join(lines) or "<i>Tell me a story, then ask about it.</i>"

    def on_send(_=None) -> None:
        if text.value.strip():
            session.reply(text.value)
            text.value = ""
            show()

    send.on_click(on_send)
    text.observe(on_send, names="value")  # Enter sends too (the value is set on Enter)
    show()
    return w.VBox([w.HBox([text, send]), log])
