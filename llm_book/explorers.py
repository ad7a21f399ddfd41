"""Three explorers that compute in the reader's browser: next token and sampling, the chain rule, attention.

Each function returns an :class:`Explorer`; displayed in Jupyter, JupyterLab, VS Code or Colab (or
converted by nbconvert) it is one HTML output holding

* the explorer's ``div`` (``data-explorer``, ``data-config``) with a static figure of its first
  setting (a PNG drawn from values rounded to 1e-3, so it is byte-identical on every machine), which
  readers without JavaScript and printouts see;
* the scripts that make it live, inlined: ``llm_book/web/engine.js`` (the tiny GPT's forward pass and
  the exact toy language, in JavaScript), ``llm_book/web/explorers.js`` (the controls and charts),
  ``explorers.css`` and the model file from :func:`llm_book.web.web_model_payload` (about 0.6 MB).

The website builds the same markup into its pages; ``_ext/explorers.py`` swaps the inlined scripts
and model for shared files under ``_static/llm-book/``.  One tool everywhere: the same explorer, the
same numbers (the browser's forward pass agrees with Python's to 1e-4, checked in CI).

Example::

    from llm_book.explorers import sampling_explorer
    sampling_explorer(prefix="The cats that", temperature=1.5, top_p=0.9)   # the cell's output
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from llm_book._checks import check_int, check_real

WEB_DIR = Path(__file__).resolve().parent / "web"
KINDS = ("sampling", "chain-rule", "attention")
CHAIN_RULE_EXAMPLES = (
    "The cat sat on the",
    "The cat sat on the mat <eos>",
    "The bird sat on the branch <eos>",
    "The cats that the dog chased sleep <eos>",
    "The cat that the dogs chased sleeps <eos>",
    "The fox sat on the mat <eos>",
    "The cats that the dog chased sleeps <eos>",
)
TEMPERATURE_RANGE = (0.1, 10.0)   # the temperature slider's range
# The fallback figures are narrow (at most FALLBACK_WIDTH inches), so that on a phone, scaled to the
# screen's width, their text stays readable (about 10 px), and drawn at FALLBACK_DPI for sharp print.
FALLBACK_WIDTH = 4.8
FALLBACK_DPI = 150
MAX_SAMPLES = 20

# Runs after engine.js and explorers.js in a notebook output: loads the inlined model (once per page)
# and mounts the explorers of this output.  No ids, no counters: the same bytes in every output.
_BOOTSTRAP = """(function () {
  var s = document.currentScript, scope = (s && s.parentNode) || document;
  var lb = window.llmBook, holder = scope.querySelector('script[data-llm-book-payload]');
  if (lb && !lb.loaded && holder) lb.load(JSON.parse(holder.textContent));
  if (window.llmBookExplorers) {
    window.llmBookExplorers.mountAll(scope);
    if (scope !== document) window.llmBookExplorers.mountAll(document);
  }
})();"""


class Explorer:
    """An explorer as a notebook output: ``text/html`` (live view, fallback figure), ``image/png``, ``text/plain``.

    Attributes:
        kind: ``"sampling"``, ``"chain-rule"`` or ``"attention"``.
        config: the first setting, as the JavaScript reads it (``data-config``).
        fallback_png: the static figure of that setting (PNG bytes).
        description: one line saying what the figure shows (its alt text and the ``text/plain`` output).
    """

    def __init__(self, kind: str, config: dict, fallback_png: bytes, description: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"`kind` (={kind!r}) has to be one of {list(KINDS)}")
        self.kind = kind
        self.config = dict(config)
        self.fallback_png = fallback_png
        self.description = description

    def div_html(self) -> str:
        """The explorer's ``div`` with its fallback figure, without the scripts (what the website keeps)."""
        config = json.dumps(self.config, sort_keys=True, separators=(",", ":"))
        png = base64.b64encode(self.fallback_png).decode("ascii")
        alt = html.escape(self.description)
        return (f'<div class="llm-book-explorer" data-explorer="{self.kind}" '
                f'data-config="{html.escape(config)}">'
                f'<figure class="llm-book-fallback"><img src="data:image/png;base64,{png}" alt="{alt}">'
                f'<figcaption>{alt}. (A static picture; the live explorer appears once its scripts run: '
                f'in Jupyter, run the cell.)</figcaption>'
                f'</figure></div>')

    def to_html(self) -> str:
        """The whole output: the ``div`` plus the inlined stylesheet, scripts and model."""
        return f'<div class="llm-book-explorer-output">{self.div_html()}{_inline_assets()}</div>'

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/html": self.to_html(),
                "image/png": base64.b64encode(self.fallback_png).decode("ascii"),
                "text/plain": f"<{self.kind} explorer: {self.description}>"}

    def __repr__(self) -> str:
        return f"Explorer({self.kind!r}, {self.config!r})"


def _script_text(text: str) -> str:
    """Text that can sit inside a ``<script>``/``<style>`` element (no early ``</script>``)."""
    return text.replace("</", "<\\/")


@functools.lru_cache(maxsize=1)
def _inline_assets() -> str:
    from llm_book.web import engine_source, payload_json

    css = (WEB_DIR / "explorers.css").read_text(encoding="utf-8")
    if "</" in css:
        raise ValueError("explorers.css must not contain '</' (it is inlined into a <style> element)")
    ui = (WEB_DIR / "explorers.js").read_text(encoding="utf-8")
    return (f"<style data-llm-book-inline>{css}</style>"
            f"<script data-llm-book-inline>{_script_text(engine_source())}</script>"
            f"<script data-llm-book-inline>{_script_text(ui)}</script>"
            f'<script type="application/json" data-llm-book-payload>{_script_text(payload_json())}</script>'
            f"<script data-llm-book-inline>{_BOOTSTRAP}</script>")


@functools.lru_cache(maxsize=1)
def _toy():
    from llm_book.language import ToyLanguage
    from llm_book.pretrained import load_toy_gpt

    model, tokenizer = load_toy_gpt()
    return model, tokenizer, ToyLanguage()


def _words(value, name: str, low: int, high: int) -> list[str]:
    """A sentence as a list of words (a string is split at spaces), checked against the tiny GPT."""
    if isinstance(value, str):
        words = value.split()
    elif isinstance(value, Sequence) and all(isinstance(w, str) for w in value):
        words = list(value)
    else:
        raise TypeError(f"`{name}` (={value!r}) has to be a string of words or a list of words (strings)")
    if not low <= len(words) <= high:
        raise ValueError(f"`{name}` (={value!r}) has {len(words)} words; it has to have {low} to {high}")
    _, tokenizer, _ = _toy()
    unknown = [w for w in words if w not in tokenizer.token_to_id]
    if unknown:
        raise ValueError(f"`{name}` contains the unknown word {unknown[0]!r}; the toy language's words are "
                         f"{sorted(tokenizer.vocab)}")
    return words


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FALLBACK_DPI, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _rounded(values) -> list[float]:
    """Values rounded to 1e-3: what the fallback figures draw, so their bytes are the same everywhere."""
    return [round(float(v), 3) for v in values]


def _next_token(prefix: list[str], temperature: float, top_k: int | None, top_p: float | None):
    import torch

    from llm_book.sampling import filter_logits

    model, tokenizer, _ = _toy()
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode(prefix)])).logits[0, -1].float()
    return torch.softmax(logits, -1), torch.softmax(filter_logits(logits, temperature, top_k, top_p), -1)


def sampling_explorer(prefix: str | Sequence[str] = ("The",), temperature: float = 1.0, top_k: int = 0,
                      top_p: float = 1.0, n_samples: int = 5, seed: int = 0) -> Explorer:
    """The next-token and sampling explorer (Chapter 5c): the tiny GPT's next-word distribution beside
    the true one of ``ToyLanguage``, sliders for temperature, top-k and top-p, seeded samples.

    Args:
        prefix: the first prefix, words of the toy language (a string is split at spaces), 1 to 15 words.
        temperature: the first temperature, 0.1 to 10 (the slider's range).
        top_k: 0 (off) or the number of tokens kept, up to the vocabulary size.
        top_p: in (0, 1]; 1 is off.
        n_samples: continuations drawn per setting, 1 to 20.
        seed: the first seed, 0 to 2**32 - 1 (the same seed gives the same continuations).

    Returns:
        an :class:`Explorer` (display it: the last line of a cell).
    """
    model, tokenizer, language = _toy()
    words = _words(prefix, "prefix", 1, model.config.block_size - 1)
    temperature = check_real("temperature", temperature,
                             f"a float from {TEMPERATURE_RANGE[0]} to {TEMPERATURE_RANGE[1]} (the slider's range)",
                             minimum=TEMPERATURE_RANGE[0], maximum=TEMPERATURE_RANGE[1])
    top_k = check_int("top_k", top_k, f"an integer from 0 (off) to {len(tokenizer)} (the vocabulary size)",
                      minimum=0, maximum=len(tokenizer))
    top_p = check_real("top_p", top_p, "a float in (0, 1]: greater than 0, at most 1 (1 is off)",
                       minimum=0, maximum=1, min_inclusive=False)
    n_samples = check_int("n_samples", n_samples, f"an integer from 1 to {MAX_SAMPLES}", minimum=1,
                          maximum=MAX_SAMPLES)
    seed = check_int("seed", seed, "an integer from 0 to 2**32 - 1", minimum=0, maximum=2**32 - 1)

    before, after = _next_token(words, temperature, top_k or None, None if top_p == 1 else top_p)
    try:
        exact = language.next_token_probs(words)
    except ValueError:
        exact = None
    fig = _sampling_figure(words, _rounded(before), _rounded(after),
                           None if exact is None else _rounded(exact.get(w, 0.0) for w in tokenizer.vocab),
                           tokenizer.vocab, temperature, top_k, top_p)
    settings = f"T = {temperature:g}, top-k = {top_k or 'off'}, top-p = {'off' if top_p == 1 else f'{top_p:g}'}"
    config = {"prefix": " ".join(words), "temperature": temperature, "topK": top_k, "topP": top_p,
              "nSamples": n_samples, "seed": seed}
    return Explorer("sampling", config, _png(fig),
                    f"the tiny GPT's next word after {' '.join(words)!r} ({settings}) beside the true distribution")


def _sampling_figure(words, before, after, exact, vocab, temperature, top_k, top_p):
    """The live view's chart, drawn: per word, the distribution sampled from (dark blue), the model's at
    T = 1 (light blue) and the true one (orange), the words sampled from most first."""
    import matplotlib.pyplot as plt

    true = exact if exact is not None else [0.0] * len(vocab)
    order = sorted(range(len(vocab)), key=lambda i: (-after[i], -before[i], i))
    shown = [i for rank, i in enumerate(order) if rank < 5 or max(after[i], before[i], true[i]) >= 0.005][:16]
    fig, ax = plt.subplots(figsize=(FALLBACK_WIDTH, 0.36 * len(shown) + 1.5))
    y = list(range(len(shown)))
    bars = [("sampled from", after, "#0072B2", -0.27, 0.3), ("tiny GPT (T = 1, no filter)", before, "#9ccbe8", 0.02, 0.22)]
    if exact is not None:
        bars.append(("true (ToyLanguage)", true, "#E69F00", 0.26, 0.22))
    for label, values, colour, offset, height in bars:
        ax.barh([v + offset for v in y], [values[i] for i in shown], height=height, color=colour, label=label)
    for row, i in zip(y, shown):
        ax.text(max(after[i], before[i], true[i]) + 0.004, row, "removed" if after[i] == 0 else f"{after[i]:.3f}",
                va="center", fontsize=8.5, color="#5a6272" if after[i] == 0 else "#1d2330")
    ax.set_yticks(y, [vocab[i] for i in shown], fontsize=9)
    for tick, i in zip(ax.get_yticklabels(), shown):
        if after[i] == 0:
            tick.set_color("#9aa3b2")
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(after), max(before), max(true)) * 1.3)
    ax.set_xlabel("probability of the next word")
    ax.spines[["top", "right"]].set_visible(False)
    settings = f"T = {temperature:g}, top-k = {top_k or 'off'}, top-p = {'off' if top_p == 1 else f'{top_p:g}'}"
    ax.set_title(f"Next word after {' '.join(words)!r}\n({settings})", fontsize=9.5)
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    fig.tight_layout()
    return fig


def chain_rule_explorer(sentence: str | Sequence[str] = "The cat sat on the",
                        examples: Sequence[str] = CHAIN_RULE_EXAMPLES) -> Explorer:
    """The chain-rule explorer (Chapter 4): every factor P(w_t | w_<t), exact and the tiny GPT's, the
    running product, the log-likelihood and the perplexity of a typed sentence.

    Args:
        sentence: the first sentence (a string is split at spaces): 2 to 16 words of the toy language,
            one the language can produce (the explorer itself also explains impossible ones).
        examples: sentences offered in its menu (any strings; impossible ones make good examples).

    Returns:
        an :class:`Explorer`.
    """
    import torch

    import matplotlib.pyplot as plt

    from llm_book.plotting import plot_chain_rule
    from llm_book.probability import sequence_log_probs

    model, tokenizer, language = _toy()
    words = _words(sentence, "sentence", 2, model.config.block_size)
    if isinstance(examples, str) or not isinstance(examples, Sequence) or \
            not all(isinstance(e, str) and e.strip() for e in examples):
        raise TypeError(f"`examples` (={examples!r}) has to be a list of sentences (non-empty strings)")
    if language.sentence_probability(words) == 0:
        try:
            language.next_token_probs(words)
            reason = ""
        except ValueError as err:
            reason = f": {err}"
        raise ValueError(f"`sentence` (={' '.join(words)!r}) is impossible in the toy language{reason}; "
                         f"start the explorer on a possible sentence (readers can type impossible ones)")
    exact = language.conditional_probs(words)
    with torch.no_grad():
        model_probs = sequence_log_probs(model, torch.tensor([tokenizer.encode(words)]))[0].exp().tolist()
    fig, ax = plt.subplots(figsize=(FALLBACK_WIDTH, 4.4))
    plot_chain_rule(words, _rounded(exact), ax=ax, model_conditionals=_rounded(model_probs),
                    title="exact (ToyLanguage) and the tiny GPT's estimate")
    for axis in fig.axes:
        axis.tick_params(labelsize=8)
    fig.axes[0].legend(loc="upper left", fontsize=8, frameon=False)   # in one column: the figure is narrow
    fig.axes[0].title.set_fontsize(9.5)
    fig.tight_layout()
    config = {"sentence": " ".join(words), "examples": list(examples)}
    return Explorer("chain-rule", config, _png(fig),
                    f"the chain rule on {' '.join(words)!r}: P = {math.prod(exact):.4g} exact, "
                    f"{math.prod(model_probs):.3g} by the tiny GPT")


def attention_explorer(sentence: str | Sequence[str] = "The cat sat on the mat <eos>", layer: int = 0,
                       head: int = 0) -> Explorer:
    """The attention explorer (Chapter 4): the tiny GPT's attention map of one layer and head for a
    typed sentence (query rows, key columns); hover over a word to see where it looks.

    Args:
        sentence: 1 to 16 words of the toy language (a string is split at spaces).
        layer, head: the first layer and head shown, counted from 0.

    Returns:
        an :class:`Explorer`.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from matplotlib.colors import ListedColormap

    from llm_book.plotting import plot_attention

    model, tokenizer, _ = _toy()
    words = _words(sentence, "sentence", 1, model.config.block_size)
    layer = check_int("layer", layer, f"an integer from 0 to {model.config.n_layer - 1} (the tiny GPT has "
                      f"{model.config.n_layer} layers)", minimum=0, maximum=model.config.n_layer - 1)
    head = check_int("head", head, f"an integer from 0 to {model.config.n_head - 1} (each layer has "
                     f"{model.config.n_head} heads)", minimum=0, maximum=model.config.n_head - 1)
    with torch.no_grad():
        weights = model(torch.tensor([tokenizer.encode(words)]), output_attentions=True).attentions[layer][0, head]
    rounded = [_rounded(row) for row in weights.tolist()]
    side = min(FALLBACK_WIDTH, 0.3 * len(words) + 1.6)
    fig, ax = plt.subplots(figsize=(side, min(FALLBACK_WIDTH, 0.28 * len(words) + 1.4)))
    plot_attention(rounded, words, ax=ax, vmax=1.0, annotate=False, cmap="Blues",
                   title=f"tiny GPT, layer {layer}, head {head}")
    future = np.ma.masked_where(~np.triu(np.ones((len(words),) * 2, dtype=bool), 1), np.ones((len(words),) * 2))
    ax.imshow(future, cmap=ListedColormap(["#e2e5ea"]), vmin=0, vmax=1)   # the masked future, grey
    if len(words) <= 12:                                                   # the weights, as in the live view
        for q, row in enumerate(rounded):
            for k, w in enumerate(row[: q + 1]):
                ax.text(k, q, f"{w:.2f}".lstrip("0"), ha="center", va="center", fontsize=7,
                        color="white" if w > 0.55 else "#1d2330")
    fig.tight_layout()
    config = {"sentence": " ".join(words), "layer": layer, "head": head}
    return Explorer("attention", config, _png(fig),
                    f"the tiny GPT's attention, layer {layer}, head {head}, on {' '.join(words)!r}")
