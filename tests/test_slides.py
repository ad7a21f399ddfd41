"""The chapters as reveal.js decks: built once, each opened in Chromium and stepped through offline.

Every deck is served on 127.0.0.1 and opened in Debian's Chromium driven by
Playwright, with every request off this machine blocked and recorded; the test
steps through every slide with ``Reveal.next()`` and fails on a console error,
a JavaScript error, a failed or blocked request, a formula MathJax could not
typeset, or a slide taller than the slide area (walls of text are not slides).
Set SLIDES_SCREENSHOTS=folder to keep a screenshot of every slide.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from llm_book.classroom import main
from llm_book.slides import (ASSETS, MAX_CODE_LINES, NODE_MODULES, build_slides, slides_notebook, split_at_headings,
                             split_heading_cell)

sys.path.insert(0, str(Path(__file__).parent))
from offline_browser import chromium, open_offline, serve  # noqa: E402
from solution_text import distinctive_lines, leaks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = [p.stem for p in sorted(BOOK.glob("*.ipynb")) if p.stem != "teachers_guide"]
MISSING = [s for s in ASSETS if not (ROOT / NODE_MODULES / s).exists()]

needs_node_modules = pytest.mark.skipif(bool(MISSING), reason=f"node_modules lacks {MISSING[:2]}: run `npm ci`")


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    if MISSING:
        pytest.skip(f"node_modules lacks {MISSING[:2]}: run `npm ci`")
    out = tmp_path_factory.mktemp("slides")
    assert main(["slides", str(out), "--book", str(BOOK)]) == 0
    return out


def test_every_chapter_has_a_deck_and_no_solution(decks):
    assert sorted(p.name for p in decks.glob("*.slides.html")) == [f"{c}.slides.html" for c in CHAPTERS]
    lines = distinctive_lines(BOOK)
    assert sum(len(v) for v in lines.values()) >= 100
    found, searched = leaks(decks, lines)
    assert searched >= len(CHAPTERS)
    assert not found, "solution text in the slides:\n" + "\n".join(found[:30])
    for deck in decks.glob("*.slides.html"):
        text = deck.read_text(encoding="utf-8")
        assert "SOLUTION" not in text and "google.colab" not in text, deck.name
        assert "https://cdn" not in text and "unpkg.com" not in text, deck.name
        assert "llm-book-explorer" not in text, deck.name  # explorers show as their static figure


def test_slide_rules():
    nb = {"metadata": {"widgets": {}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# 1. Title\n\nFirst paragraph.\n\nSecond."},
        {"cell_type": "code", "metadata": {"tags": ["colab-setup"]}, "outputs": [], "execution_count": None,
         "source": "import sys\nif 'google.colab' in sys.modules:\n    def f(): pass"},
        {"cell_type": "markdown", "metadata": {}, "source": "## 1.1 Section\nIts text."},
        {"cell_type": "code", "metadata": {}, "execution_count": 1,
         "source": "def double(x):\n    return 2 * x\n\nprint(double(2))",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}]},
        {"cell_type": "code", "metadata": {}, "execution_count": 2, "source": "plot()", "outputs": [
            {"output_type": "display_data", "metadata": {},
             "data": {"image/png": "iVBOR", "text/html": "<div class='llm-book-explorer'>", "text/plain": "<F>"}}]},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": "plot2()", "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": "AAAA", "text/plain": "<F>"}}]},
        {"cell_type": "markdown", "metadata": {}, "source": "More text.\n\n<details>answer</details>"},
        {"cell_type": "markdown", "metadata": {}, "source": "## Exercises"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "def f(x):\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\ncheck_1_1(f)"},
    ]}
    slides = slides_notebook(nb)
    types = [(c["cell_type"], c["metadata"]["slideshow"]["slide_type"]) for c in slides["cells"]]
    assert types == [("markdown", "slide"), ("markdown", "notes"), ("markdown", "slide"), ("code", "subslide"),
                     ("code", "subslide"), ("markdown", "notes"), ("markdown", "slide")]
    assert slides["cells"][0]["source"] == "# 1. Title\n\nFirst paragraph."
    assert slides["cells"][3]["outputs"] == []  # the definition, without the code that runs it, or outputs
    assert slides["cells"][3]["source"] == "def double(x):\n    return 2 * x"
    assert slides["cells"][4]["outputs"][0]["data"] == {"image/png": "iVBOR"}  # the first figure, as a figure
    assert slides["cells"][4]["source"] == ""  # not the code that drew it
    assert "answer" not in str(slides) and "42" not in str(slides) and "colab" not in str(slides)
    assert slides["metadata"]["title"] == "1. Title" and "widgets" not in slides["metadata"]


def test_a_summary_list_shows_the_first_sentence_of_every_item():
    text = ("## Summary\n\n* **Attention** is $a. b$: rows. More on it.\n* A mask hides the future.\n  Second line."
            " Another.\n1. Numbered item. Its tail.\n\n## Exercises")
    shown, notes = split_heading_cell(split_at_headings(text)[0])
    assert shown == ("## Summary\n\n* **Attention** is $a. b$: rows.\n* A mask hides the future.\n"
                     "1. Numbered item.")
    assert "More on it." in notes and "Another." in notes and "Its tail." in notes


def test_the_book_decks_keep_the_summaries_and_the_code_that_is_the_point():
    book = json.loads((BOOK / "04_mathematics.ipynb").read_text(encoding="utf-8"))
    summary = next(c["source"] for c in slides_notebook(book)["cells"] if c["source"].startswith("## Summary"))
    source = next("".join(c["source"]) for c in book["cells"] if "".join(c["source"]).startswith("## Summary"))
    items = [line for line in source.split("## Exercises")[0].splitlines() if line.startswith("* ")]
    assert len(items) >= 5 and summary.count("\n* ") == len(items)
    deck = slides_notebook(json.loads((BOOK / "05a_self_attention.ipynb").read_text(encoding="utf-8")))
    code = [c["source"] for c in deck["cells"] if c["cell_type"] == "code" and c["source"]]
    assert any(c.startswith("class ArticleSelfAttention") for c in code)
    assert any(c.startswith("class FixedSelfAttention") for c in code)
    assert all(len(c.splitlines()) <= MAX_CODE_LINES + 5 for c in code)  # definitions, blank lines between


def test_no_deck_says_that_solutions_are_on_the_website():
    for path in sorted(BOOK.glob("[0-9]*.ipynb")):
        text = json.dumps(slides_notebook(json.loads(path.read_text(encoding="utf-8")), path.name))
        assert "hidden on the website" not in text and "<details" not in text.lower(), path.name


def test_long_paragraphs_are_cut_at_sentences():
    text = "## H\n\n" + " ".join(f"Sentence number {i} has six words." for i in range(20)) + "\n\nNext."
    shown, notes = split_heading_cell(text, max_words=20)
    assert shown == "## H\n\n" + " ".join(f"Sentence number {i} has six words." for i in range(3))
    assert notes.startswith("Sentence number 3") and notes.endswith("Next.")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"`book` \(.*nowhere\) is not a folder"):
        build_slides(tmp_path / "out", tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"`book` \(.*\) holds no chapter notebooks"):
        build_slides(tmp_path / "out", tmp_path)
    with pytest.raises(ValueError, match=r"`out_dir` \(.*\) is inside the book"):
        build_slides(BOOK / "slides", BOOK)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"`out_dir` \(.*file\) is a file"):
        build_slides(tmp_path / "file", BOOK)
    with pytest.raises(ValueError, match=r"does not start with a title heading"):
        slides_notebook({"cells": [{"cell_type": "markdown", "metadata": {}, "source": "no title"}]})


def test_missing_reveal_is_a_clear_error(tmp_path, capsys):
    book = tmp_path / "book"  # a book whose repository has no node_modules
    book.mkdir()
    (book / "01_a.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert main(["slides", str(tmp_path / "out"), "--book", str(book)]) == 2
    assert "node_modules lacks reveal.js/dist/reveal.js" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match=r"node_modules lacks reveal\.js/dist/reveal\.js.*run `npm ci`"):
        build_slides(tmp_path / "out", BOOK, node_modules=tmp_path / "node_modules")
    assert not (tmp_path / "out").exists()


# --- in the browser ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(decks):
    with serve(decks) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def _open_deck(browser, url: str, problems: list[str]):
    """The deck at ``url`` (requests off the machine blocked), once reveal.js is ready; ``(context, page)``."""
    context, page = open_offline(browser, url, problems, viewport=(1280, 800), wait_until="networkidle")
    # The deck loads reveal.js through require.js, which keeps it off `window`: ask require.js for it.
    page.evaluate("() => new Promise(done => require(['reveal.js/dist/reveal.js'], R => { window.Reveal = R; "
                  "done(); }))")
    page.wait_for_function("() => Reveal.isReady()", timeout=20000)
    return context, page


@needs_node_modules
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_deck_steps_through_offline(chapter, served, browser):
    problems: list[str] = []
    context, page = _open_deck(browser, f"{served}/{chapter}.slides.html", problems)
    page.wait_for_function("() => window.MathJax && MathJax.isReady", timeout=20000)
    page.evaluate("() => new Promise(done => MathJax.Hub.Queue(done))")
    shots = os.environ.get("SLIDES_SCREENSHOTS")
    height = page.evaluate("() => Reveal.getConfig().height")
    steps, overflowing = 1, []
    while True:
        # The deck re-renders the formulas of each slide it shows (nbconvert's template): let it finish.
        page.wait_for_timeout(200)
        page.evaluate("() => new Promise(done => MathJax.Hub.Queue(done))")
        tall = page.evaluate("() => Reveal.getCurrentSlide().scrollHeight")
        if tall > height:
            overflowing.append(f"slide {steps} ({_position(page)}): {tall} px")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / f"{chapter}_{steps:02d}.png"))
        if page.evaluate("() => Reveal.isLastSlide()"):
            break
        assert steps < 300, "Reveal.next() never reached the last slide"
        page.evaluate("() => Reveal.next()")
        steps += 1
    total = page.evaluate("() => Reveal.getTotalSlides()")
    formulas = page.locator(".MathJax_CHTML").count()
    math_errors = page.locator(".MathJax_Error, .MJXc-merror, merror").count()
    context.close()
    print(f"\n{chapter}: {total} slides, {steps} steps, {formulas} formulas")
    assert not problems, "\n".join(problems)
    assert math_errors == 0, f"{math_errors} formulas MathJax could not typeset"
    assert total >= 3 and steps >= total
    assert not overflowing, f"slides taller than the {height} px slide area:\n" + "\n".join(overflowing)


def _position(page) -> str:
    """The current slide as reveal.js numbers it: horizontal.vertical."""
    return page.evaluate("() => { const i = Reveal.getIndices(); return i.h + '.' + i.v; }")


@needs_node_modules
def test_speaker_view_shows_the_notes_offline(served, browser):
    """S opens reveal.js's speaker view (a pop-up, from the local notes plugin) with the slide's notes."""
    problems: list[str] = []
    context, page = _open_deck(browser, f"{served}/05b_training.slides.html", problems)
    page.evaluate("() => Reveal.slide(1, 0)")
    expected = page.evaluate("() => Reveal.getSlideNotes()")
    with page.expect_popup() as popup_info:
        page.keyboard.press("s")
    popup = popup_info.value
    popup.on("pageerror", lambda e: problems.append(f"speaker view: JavaScript error: {e}"))
    popup.wait_for_function("() => { const n = document.querySelector('.speaker-controls-notes'); "
                            "return n && n.innerText.trim().length > 20; }", timeout=20000)
    notes = popup.evaluate("() => document.querySelector('.speaker-controls-notes').innerText")
    context.close()
    words = re.sub(r"<[^>]+>", " ", expected or "").split()
    assert len(words) >= 5 and " ".join(words[:5]) in " ".join(notes.split()), (words[:5], notes[:300])
    assert not problems, "\n".join(problems)
