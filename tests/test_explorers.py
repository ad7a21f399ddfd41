"""The explorers as notebook outputs (llm_book.explorers), without a browser.

What the browser does with them is tested on the built site and on nbconvert HTML in
tests/test_browser.py; here: argument checks, the mimebundle, the fallback figure, the inlined scripts
and model.
"""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import pytest

from llm_book.explorers import (CHAIN_RULE_EXAMPLES, WEB_DIR, Explorer, attention_explorer, chain_rule_explorer,
                                sampling_explorer)


class _Parts(HTMLParser):
    """The explorer divs (attributes), images and script/style elements (attributes, text) of an output."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.divs, self.images, self.blocks, self._open = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and "llm-book-explorer" in (attrs.get("class") or "").split():
            self.divs.append(attrs)
        elif tag == "img":
            self.images.append(attrs)
        elif tag in ("script", "style"):
            self._open = (tag, attrs, [])

    def handle_data(self, data):
        if self._open:
            self._open[2].append(data)

    def handle_endtag(self, tag):
        if self._open and tag == self._open[0]:
            self.blocks.append((tag, self._open[1], "".join(self._open[2])))
            self._open = None


def parts(html: str) -> _Parts:
    p = _Parts()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def explorers():
    return {"sampling": sampling_explorer(), "chain-rule": chain_rule_explorer(), "attention": attention_explorer()}


# ----------------------------------------------------------------------------
# the mimebundle
# ----------------------------------------------------------------------------
def test_mimebundle_holds_html_png_and_text(explorers):
    for kind, explorer in explorers.items():
        bundle = explorer._repr_mimebundle_()
        assert set(bundle) == {"text/html", "image/png", "text/plain"}
        assert bundle["text/plain"].startswith(f"<{kind} explorer: ")
        assert base64.b64decode(bundle["image/png"]) == explorer.fallback_png
        p = parts(bundle["text/html"])
        assert len(p.divs) == 1 and p.divs[0]["data-explorer"] == kind
        assert json.loads(p.divs[0]["data-config"]) == explorer.config
        # the fallback figure is the same PNG, as a data URI
        assert [img["src"] for img in p.images] == ["data:image/png;base64," + bundle["image/png"]]
        assert p.images[0]["alt"] == explorer.description


def test_configs_carry_the_first_setting():
    assert sampling_explorer(["The", "cats"], temperature=2.5, top_k=4, top_p=0.9, n_samples=3, seed=7).config == {
        "prefix": "The cats", "temperature": 2.5, "topK": 4, "topP": 0.9, "nSamples": 3, "seed": 7}
    assert chain_rule_explorer("The dogs sat <eos>", examples=["The cat"]).config == {
        "sentence": "The dogs sat <eos>", "examples": ["The cat"]}
    assert attention_explorer("The cat sat", layer=1, head=3).config == {"sentence": "The cat sat", "layer": 1,
                                                                          "head": 3}
    assert chain_rule_explorer().config["examples"] == list(CHAIN_RULE_EXAMPLES)


def test_inline_scripts_are_the_engine_the_explorers_and_the_web_payload(explorers):
    from llm_book.web import engine_source, web_model_payload

    blocks = parts(explorers["sampling"].to_html()).blocks
    tags = [(tag, sorted(attrs)) for tag, attrs, _ in blocks]
    assert tags == [("style", ["data-llm-book-inline"]), ("script", ["data-llm-book-inline"]),
                    ("script", ["data-llm-book-inline"]), ("script", ["data-llm-book-payload", "type"]),
                    ("script", ["data-llm-book-inline"])]
    unescape = lambda text: text.replace("<\\/", "</")  # noqa: E731
    assert blocks[0][2] == (WEB_DIR / "explorers.css").read_text(encoding="utf-8")
    assert unescape(blocks[1][2]) == engine_source()
    assert unescape(blocks[2][2]) == (WEB_DIR / "explorers.js").read_text(encoding="utf-8")
    assert json.loads(blocks[3][2]) == web_model_payload()     # E's payload, exactly
    assert "lb.load(JSON.parse" in blocks[4][2] and "mountAll" in blocks[4][2]
    # nothing inside a script can end it early
    assert all("</" not in text for _, _, text in blocks)


def test_html_is_deterministic_and_free_of_ids(explorers):
    again = sampling_explorer()
    assert again.to_html() == explorers["sampling"].to_html()
    assert again.fallback_png == explorers["sampling"].fallback_png
    for explorer in explorers.values():
        assert " id=" not in explorer.div_html()


def test_fallback_png_is_a_readable_figure_without_version_metadata(explorers):
    for explorer in explorers.values():
        png = explorer.fallback_png
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"Software" not in png and b"Matplotlib version" not in png
        image = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert image.ndim == 3 and image.shape[0] > 150 and image.shape[1] > 300
        assert np.ptp(image[..., :3]) > 0.5                     # something is drawn


def test_fallback_figures_stay_readable_on_a_phone(explorers):
    """At most FALLBACK_WIDTH inches wide: scaled to a 343-pixel phone column, 9-point text stays near 9 px."""
    from llm_book.explorers import FALLBACK_DPI, FALLBACK_WIDTH

    long = attention_explorer("The cats that the dog chased sleep on the mat that the bird saw <eos>")
    for explorer in [*explorers.values(), long, sampling_explorer("The cat sat on the", temperature=10)]:
        image = matplotlib.image.imread(io.BytesIO(explorer.fallback_png), format="png")
        width_inches = image.shape[1] / FALLBACK_DPI
        assert width_inches <= FALLBACK_WIDTH + 0.01, (explorer, width_inches)
        assert 9 / 72 * 343 / width_inches >= 8.9                 # 9-point text, in CSS pixels on the phone
        assert "in Jupyter, run the cell" in explorer.div_html()  # the caption also fits "still loading"


def test_fallback_is_drawn_from_rounded_values(monkeypatch):
    """Values that differ below 1e-3 (another processor's last digits) give the same bytes."""
    import torch

    from llm_book import explorers as module

    first = attention_explorer("The cat sat on the mat").fallback_png
    original = module._toy()[0].forward

    def nudged(*args, **kwargs):
        out = original(*args, **kwargs)
        if kwargs.get("output_attentions"):
            g = torch.Generator().manual_seed(0)
            out.attentions = tuple(a + 1e-7 * torch.rand(a.shape, generator=g) for a in out.attentions)
        return out

    monkeypatch.setattr(module._toy()[0], "forward", nudged)
    assert attention_explorer("The cat sat on the mat").fallback_png == first


def test_explorer_kind_is_checked():
    with pytest.raises(ValueError, match=r"`kind` \(='bars'\) has to be one of \['sampling', 'chain-rule', "
                                         r"'attention'\]"):
        Explorer("bars", {}, b"", "")


# ----------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"prefix": 3}, TypeError, r"`prefix` \(=3\) has to be a string of words or a list of words"),
    ({"prefix": ["The", 2]}, TypeError, r"`prefix` \(=\['The', 2\]\) has to be a string of words"),
    ({"prefix": ""}, ValueError, r"`prefix` \(=''\) has 0 words; it has to have 1 to 15"),
    ({"prefix": "The " * 16}, ValueError, r"has 16 words; it has to have 1 to 15"),
    ({"prefix": "The zebra"}, ValueError, r"`prefix` contains the unknown word 'zebra'; the toy language's "
                                          r"words are \["),
    ({"temperature": 0.0}, ValueError, r"`temperature` \(=0\.0\) has to be a float from 0\.1 to 10\.0"),
    ({"temperature": 11}, ValueError, r"`temperature` \(=11\) has to be a float from 0\.1 to 10\.0 "
                                      r"\(the slider's range\)"),
    ({"temperature": "hot"}, TypeError, r"`temperature` \(='hot'\) has to be a float"),
    ({"top_k": -1}, ValueError, r"`top_k` \(=-1\) has to be an integer from 0 \(off\) to 35"),
    ({"top_k": 36}, ValueError, r"`top_k` \(=36\) has to be an integer from 0 \(off\) to 35 \(the vocabulary"),
    ({"top_k": 2.0}, TypeError, r"`top_k` \(=2\.0\) has to be an integer"),
    ({"top_p": 0.0}, ValueError, r"`top_p` \(=0\.0\) has to be a float in \(0, 1\]"),
    ({"top_p": 1.5}, ValueError, r"`top_p` \(=1\.5\) has to be a float in \(0, 1\]: greater than 0, at most 1 "
                                 r"\(1 is off\)"),
    ({"n_samples": 0}, ValueError, r"`n_samples` \(=0\) has to be an integer from 1 to 20"),
    ({"n_samples": 21}, ValueError, r"`n_samples` \(=21\) has to be an integer from 1 to 20"),
    ({"seed": -1}, ValueError, r"`seed` \(=-1\) has to be an integer from 0 to 2\*\*32 - 1"),
    ({"seed": 2**32}, ValueError, r"`seed` \(=4294967296\) has to be an integer from 0 to 2\*\*32 - 1"),
])
def test_sampling_explorer_checks_its_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        sampling_explorer(**kwargs)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"sentence": "The"}, ValueError, r"`sentence` \(='The'\) has 1 words; it has to have 2 to 16"),
    ({"sentence": "The cat zebra"}, ValueError, r"`sentence` contains the unknown word 'zebra'"),
    ({"sentence": "The cat mat"}, ValueError,
     r"`sentence` \(='The cat mat'\) is impossible in the toy language: .*the word 'mat' cannot follow; "
     r"possible next words are \['eats', 'runs', 'sat', 'sleeps', 'that'\]; start the explorer on a possible"),
    ({"sentence": "The cat sat <eos> The"}, ValueError, r"is impossible in the toy language"),
    ({"examples": "The cat"}, TypeError, r"`examples` \(='The cat'\) has to be a list of sentences"),
    ({"examples": ["The cat", ""]}, TypeError, r"`examples` .* has to be a list of sentences \(non-empty"),
])
def test_chain_rule_explorer_checks_its_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        chain_rule_explorer(**kwargs)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"sentence": []}, ValueError, r"`sentence` \(=\[\]\) has 0 words; it has to have 1 to 16"),
    ({"sentence": "The " * 17}, ValueError, r"has 17 words; it has to have 1 to 16"),
    ({"sentence": "The Cat"}, ValueError, r"`sentence` contains the unknown word 'Cat'"),
    ({"layer": 2}, ValueError, r"`layer` \(=2\) has to be an integer from 0 to 1 \(the tiny GPT has 2 layers\)"),
    ({"head": -1}, ValueError, r"`head` \(=-1\) has to be an integer from 0 to 3 \(each layer has 4 heads\)"),
    ({"head": True}, TypeError, r"`head` \(=True\) has to be an integer"),
])
def test_attention_explorer_checks_its_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        attention_explorer(**kwargs)


def test_impossible_words_are_still_allowed_as_examples_and_after_a_possible_prefix():
    # the explorer explains impossible sentences itself: they may be offered in its menu
    assert "The fox sat on the mat <eos>" in chain_rule_explorer().config["examples"]
    # a prefix whose true distribution does not exist (it has ended) still gets the model's bars
    assert sampling_explorer("The cat sat <eos>").config["prefix"] == "The cat sat <eos>"
