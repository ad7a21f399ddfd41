"""Interactive controls (ipywidgets) wired to the plotting helpers.

Widgets need a live kernel (Jupyter, Colab).  On the static website a chapter
shows a drawn figure next to each widget, so nothing is lost without a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from llm_book.plotting import plot_chain_rule, plot_filtered_distribution
from llm_book.threads import runs_model_threads


def _show(out, fig=None, text: str = "") -> None:
    """Replace what an ``Output`` widget shows.

    Sets its outputs directly instead of capturing with ``with out:``, which
    behaves the same with a live front end and without one (when a notebook is
    run headless, output capture is the fragile part).
    """
    out.outputs = ()
    if fig is not None:
        out.append_display_data(fig)
    if text:
        out.append_stdout(text)


def chain_rule_figure(words: Sequence[str], exact: Sequence[float],
                      model_probs: Sequence[float] | None = None):
    """One chain-rule chart: the exact conditionals and (optionally) a model's, overlaid."""
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(words) + 3), 4.6))
    plot_chain_rule(words, exact, ax=ax, model_conditionals=model_probs,
                    title="exact (ToyLanguage)" + ("" if model_probs is None else " and the tiny GPT's estimate"))
    fig.tight_layout()
    return fig


def chain_rule_explorer(language, model=None, tokenizer=None,
                        sentences: Sequence[str] = ("The cat sat on the mat <eos>",)):
    """A dropdown of sentences plus a text box; redraws the chain-rule chart for the choice.

    Args:
        language: a ``ToyLanguage`` (the exact conditionals).
        model, tokenizer: optionally a trained model whose estimates are drawn beside them.
        sentences: the dropdown's choices.

    Returns:
        an ``ipywidgets.VBox`` to display.
    """
    import ipywidgets as w

    from llm_book.model import model_device
    from llm_book.probability import sequence_log_probs

    dropdown = w.Dropdown(options=list(sentences), description="sentence:",
                          layout=w.Layout(width="480px"))
    text = w.Text(value=sentences[0], description="or type:", layout=w.Layout(width="480px"),
                  continuous_update=False)
    out = w.Output()

    def redraw(sentence: str) -> None:
        words = sentence.split()
        try:
            exact = language.conditional_probs(words)
            model_probs = None
            if model is not None and tokenizer is not None:
                import torch

                idx = torch.tensor([tokenizer.encode(words)], device=model_device(model))
                model_probs = sequence_log_probs(model, idx)[0].exp().tolist()
        except ValueError as err:
            _show(out, text=f"Cannot score that sentence: {err}\n")
            return
        fig = chain_rule_figure(words, exact, model_probs)
        _show(out, fig)
        plt.close(fig)

    dropdown.observe(lambda change: setattr(text, "value", change["new"]), names="value")
    text.observe(lambda change: redraw(change["new"]), names="value")
    redraw(text.value)
    return w.VBox([dropdown, text, out])


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


def sampling_explorer(model, tokenizer, prefix: Sequence[str] = ("The", "cats", "that"),
                      temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                      n_samples: int = 5, seed: int = 0):
    """Sliders for temperature, top-k and top-p over the model's next-token distribution.

    Every change redraws the bars (``sampling_figure``) and prints ``n_samples``
    seeded continuations drawn with the current settings.  ``top_k = 0`` and
    ``top_p = 1`` switch those filters off.

    Returns:
        an ``ipywidgets.VBox`` to display; its ``redraw()`` attribute redraws on demand.
    """
    import ipywidgets as w

    _check_sampling_settings(temperature, top_k, top_p)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"`n_samples` (={n_samples!r}) has to be a positive integer")
    tokenizer.encode(list(prefix))  # an unknown word fails here, with the vocabulary in the message
    style = {"description_width": "90px"}
    layout = w.Layout(width="460px")
    text = w.Text(value=" ".join(prefix), description="prefix:", continuous_update=False,
                  style=style, layout=layout)
    t_slider = w.FloatLogSlider(value=temperature, base=10, min=-1, max=1, step=0.05,
                                description="temperature", continuous_update=False, style=style,
                                layout=layout, readout_format=".2f")
    k_slider = w.IntSlider(value=top_k, min=0, max=len(tokenizer), description="top-k (0: off)",
                           continuous_update=False, style=style, layout=layout)
    p_slider = w.FloatSlider(value=top_p, min=0.05, max=1.0, step=0.05, description="top-p (1: off)",
                             continuous_update=False, style=style, layout=layout)
    out = w.Output()

    def redraw(_change=None) -> None:
        words = text.value.split()
        try:
            tokenizer.encode(words)
            if not words or len(words) >= model.config.block_size:
                raise ValueError(f"the prefix needs 1 to {model.config.block_size - 1} words")
        except ValueError as err:
            _show(out, text=f"Cannot use that prefix: {err}\n")
            return
        fig, ax = plt.subplots(figsize=(8, 3.4))
        sampling_figure(model, tokenizer, words, t_slider.value, k_slider.value, p_slider.value, ax=ax)
        fig.tight_layout()
        samples = sampled_continuations(model, tokenizer, words, n_samples, t_slider.value,
                                        k_slider.value, p_slider.value, seed)
        _show(out, fig, "".join(line + "\n" for line in samples))
        plt.close(fig)

    for control in (text, t_slider, k_slider, p_slider):
        control.observe(redraw, names="value")
    redraw()
    box = w.VBox([text, t_slider, k_slider, p_slider, out])
    box.redraw = redraw
    return box


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
