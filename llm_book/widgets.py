"""Interactive controls (ipywidgets) wired to the plotting helpers.

Widgets need a live kernel (Jupyter, Colab).  On the static website a chapter
shows a drawn figure next to each widget, so nothing is lost without a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from llm_book.plotting import plot_chain_rule


def chain_rule_figure(words: Sequence[str], exact: Sequence[float],
                      model_probs: Sequence[float] | None = None):
    """Chain-rule charts side by side: the exact conditionals and (optionally) a model's."""
    n = 1 if model_probs is None else 2
    fig, axes = plt.subplots(1, n, figsize=(6.5 * n, 3.8), squeeze=False)
    plot_chain_rule(words, exact, ax=axes[0, 0], title="exact (ToyLanguage)")
    if model_probs is not None:
        plot_chain_rule(words, model_probs, ax=axes[0, 1], title="tiny GPT's estimate")
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
    from IPython.display import display

    from llm_book.probability import sequence_log_probs

    dropdown = w.Dropdown(options=list(sentences), description="sentence:",
                          layout=w.Layout(width="480px"))
    text = w.Text(value=sentences[0], description="or type:", layout=w.Layout(width="480px"),
                  continuous_update=False)
    out = w.Output()

    def redraw(sentence: str) -> None:
        out.clear_output(wait=True)
        with out:
            words = sentence.split()
            try:
                exact = language.conditional_probs(words)
            except ValueError as err:
                print(f"Cannot score that sentence: {err}")
                return
            model_probs = None
            if model is not None and tokenizer is not None:
                import torch

                idx = torch.tensor([tokenizer.encode(words)])
                model_probs = sequence_log_probs(model, idx)[0].exp().tolist()
            fig = chain_rule_figure(words, exact, model_probs)
            display(fig)
            plt.close(fig)

    dropdown.observe(lambda change: setattr(text, "value", change["new"]), names="value")
    text.observe(lambda change: redraw(change["new"]), names="value")
    redraw(text.value)
    return w.VBox([dropdown, text, out])
