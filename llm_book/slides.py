"""Slides: every chapter as a reveal.js deck, made by nbconvert from a slides copy of the notebook.

The copy starts from the student edition (:func:`llm_book.classroom.student_notebook`),
so no solution can reach a slide, and marks each cell with
``metadata.slideshow.slide_type`` by these rules:

* the title cell and every ``##`` section start a slide, every ``###``
  subsection a sub-slide (below its section); a heading cell shows the heading
  and its first paragraph (shortened to whole sentences of at most
  ``MAX_WORDS`` words; a lead-in ending with ":" keeps the list it introduces);
  the rest of the text becomes speaker notes (press S);
* Markdown without a heading becomes speaker notes; ``<details>`` blocks
  (answers the site hides behind a click) are left out
  (:func:`llm_book.classroom.replace_answers`), and a list right under a
  heading (a summary) shows the first sentence of each item, the whole list
  going to the notes;
* each section and subsection shows its key figure, the first image output
  in it, without the code that drew it;
* code is left out unless it is the point: the first cell of a section that
  is a definition (top-level ``def``/``class`` blocks make up at least half of
  its code lines; at most ``MAX_CODE_LINES`` lines of them), whose definitions
  (not the code around them that runs and prints) are shown on a sub-slide of
  their own without outputs; never the Colab setup cell, cells
  hidden on the website, exercise cells or any code in an Exercises section.

Decks load nothing from the network: reveal.js, require.js, jQuery and
MathJax 2 (the version nbconvert's reveal template configures) are copied from
node_modules (pinned in package.json) beside the decks.

    python -m llm_book.classroom slides OUT [--book book]

Then open OUT/<chapter>.slides.html in a browser (F: full screen, S: speaker
notes, Esc: overview).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from pathlib import Path

from llm_book.classroom import (ANSWER_STUB, _book_notebooks, _check_outside_book, _read_notebook, _source_text,
                                has_solution, replace_answers, student_notebook)

MAX_WORDS = 50
MAX_TITLE_LIST_WORDS = 120  # the title slide may list the chapter's goals
LIST_ITEM_WORDS = 22  # words of a summary item on a slide (its first sentence, cut at a clause if longer)
MAX_CODE_LINES = 30
"""At most this many lines of definitions on a code slide (05a's `ArticleSelfAttention` has 21)."""
LEFT_OUT = ("teachers_guide",)
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
FIGURE_TAG = "slides-figure"
SKIPPED_CODE_TAGS = {"colab-setup", "remove-cell", "remove-input", "hide-input", "hide-cell"}
NODE_MODULES = "node_modules"  # beside the book's folder, where `npm ci` puts it

# node_modules path -> path under OUT; what the decks load (the browser test checks that nothing is missing).
ASSETS = {
    "reveal.js/dist/reveal.js": "reveal.js/dist/reveal.js",
    "reveal.js/dist/reveal.css": "reveal.js/dist/reveal.css",
    # "white", not nbconvert's default "simple", which loads its fonts from Google.
    "reveal.js/dist/theme/white.css": "reveal.js/dist/theme/white.css",
    "reveal.js/dist/theme/fonts": "reveal.js/dist/theme/fonts",
    "reveal.js/plugin/notes": "reveal.js/plugin/notes",
    "reveal.js/LICENSE": "reveal.js/LICENSE",
    "requirejs/require.js": "offline/require.js",
    "jquery/dist/jquery.min.js": "offline/jquery.min.js",
    "mathjax2/MathJax.js": "offline/mathjax/MathJax.js",
    "mathjax2/LICENSE": "offline/mathjax/LICENSE",
    "mathjax2/config/TeX-AMS_CHTML-full.js": "offline/mathjax/config/TeX-AMS_CHTML-full.js",
    "mathjax2/config/Safe.js": "offline/mathjax/config/Safe.js",
    "mathjax2/extensions": "offline/mathjax/extensions",
    "mathjax2/jax/element": "offline/mathjax/jax/element",
    "mathjax2/jax/input/TeX": "offline/mathjax/jax/input/TeX",
    "mathjax2/jax/output/CommonHTML": "offline/mathjax/jax/output/CommonHTML",
    "mathjax2/fonts/HTML-CSS/TeX/woff": "offline/mathjax/fonts/HTML-CSS/TeX/woff",
}
WIDGET_ASSETS = {"@jupyter-widgets/html-manager/dist": "offline/html-manager"}

EXPORTER_OPTIONS = {
    "reveal_url_prefix": "reveal.js",
    "reveal_theme": "white",
    "reveal_number": "c/t",
    "reveal_transition": "none",
    "require_js_url": "offline/require.js",
    "jquery_url": "offline/jquery.min.js",
    "mathjax_url": "offline/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "jupyter_widgets_base_url": "offline/",
    "widget_renderer_url": "offline/html-manager/embed-amd.js",
    "exclude_input_prompt": True,
    "exclude_output_prompt": True,
}

# nbconvert's reveal template, less the mermaid.js import it always makes from a CDN (the book
# draws no mermaid diagrams), plus styles that keep figures and code inside the slide (the theme's
# stylesheet comes after this block, hence the long selectors).
TEMPLATE_NAME = "llm_book_slides.html.j2"
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style type="text/css">
.reveal .slides { text-align: left; }
.reveal .slides section { font-size: 0.8em; }
.reveal .slides section h1, .reveal .slides section h2, .reveal .slides section h3 {
  text-transform: none; line-height: 1.15; margin-bottom: 0.4em; }
.reveal .slides section h1 { font-size: 1.6em; }
.reveal .slides section h2 { font-size: 1.3em; }
.reveal .slides section h3 { font-size: 1.1em; }
.reveal .jp-OutputArea-output img { max-height: 330px; width: auto; max-width: 100%; }
.reveal .jp-OutputArea-output svg { max-height: 330px; width: auto; }
.reveal .jp-RenderedHTMLCommon { font-size: 24px; line-height: 1.35; }
.reveal .jp-RenderedHTMLCommon p { margin: 0.4em 0; }
.reveal .jp-OutputArea-output { text-align: center; }
.reveal .jp-InputArea-editor .highlight pre { font-size: 15px; line-height: 1.3; white-space: pre-wrap; }
</style>
{%- endblock html_head_css -%}
"""

_HEADING = re.compile(r"^(#{1,6})[ \t]+\S")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(*\[`])")
_DEFINES = re.compile(r"^(def|class)\s+\w+", re.MULTILINE)


def _heading_level(text: str) -> int:
    """The level of the heading the Markdown starts with (0: it starts with no heading)."""
    match = _HEADING.match(text.lstrip("\n"))
    return len(match.group(1)) if match else 0


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text.strip()) if p.strip()]


def _shorten(paragraph: str, max_words: int = MAX_WORDS) -> tuple[str, str]:
    """The paragraph cut after the last whole sentence within ``max_words`` words (at least one
    sentence), and what was cut off."""
    if len(paragraph.split()) <= max_words or paragraph.count("$") % 2:
        return paragraph, ""
    sentences = _SENTENCE_END.split(paragraph)
    kept = [sentences[0]]
    for sentence in sentences[1:]:
        if len(" ".join(kept + [sentence]).split()) > max_words:
            break
        kept.append(sentence)
    shown = " ".join(kept)
    if shown.count("$") % 2:  # a cut inside a formula: keep the whole paragraph
        return paragraph, ""
    return shown, " ".join(sentences[len(kept):])


_LIST_ITEM = re.compile(r"^[ \t]*(?:[*-]|\d+\.)[ \t]+")


def list_gist(text: str) -> str:
    """A Markdown list with each item cut to its first sentence (a formula cut in half keeps the item
    whole), and a long sentence to its clauses within ``LIST_ITEM_WORDS`` words; lines before the first
    item are dropped."""
    items: list[list[str]] = []
    for line in text.splitlines():
        if _LIST_ITEM.match(line):
            items.append([line.strip()])
        elif items and line.strip():
            items[-1].append(line.strip())
    out = []
    for item in items:
        marker = _LIST_ITEM.match(item[0]).group(0).strip()
        body = _LIST_ITEM.sub("", " ".join(item), count=1)
        first = _SENTENCE_END.split(body)[0]
        if not _balanced(first):
            first = body
        out.append(f"{marker} {_clause(first)}")
    return "\n".join(out)


def _balanced(text: str) -> bool:
    """Whether no formula, code span, bold mark or parenthesis is left open in ``text``."""
    return (text.count("$") % 2 == 0 and text.count("`") % 2 == 0 and text.count("**") % 2 == 0
            and text.count("(") == text.count(")"))


def _clause(sentence: str, max_words: int = LIST_ITEM_WORDS) -> str:
    """A long sentence cut after its last clause (at ``:``, ``;`` or ``,``) that ends within ``max_words``
    words and leaves nothing open (else after its first such clause), with an ellipsis; the sentence
    itself when it is short or has no such cut."""
    if len(sentence.split()) <= max_words:
        return sentence
    cuts = [m.start() for m in re.finditer(r"[:;,](?=\s)", sentence)
            if _balanced(sentence[:m.start()]) and len(sentence[:m.start()].split()) >= 4]
    within = [c for c in cuts if len(sentence[:c].split()) <= max_words]
    cut = within[-1] if within else cuts[0] if cuts else None  # else the shortest clause that is longer
    return sentence if cut is None else sentence[:cut] + " …"


def split_heading_cell(text: str, max_words: int = MAX_WORDS, list_words: int | None = None) -> tuple[str, str]:
    """Split a heading cell into what the slide shows (the heading and its first paragraph,
    shortened to ``max_words``; a lead-in ending with ":" keeps its list if both together have at
    most ``list_words`` words, default ``max_words``) and the speaker notes (the rest)."""
    paragraphs = _paragraphs(text)
    if not paragraphs:
        return "", ""
    heading, rest = paragraphs[0], paragraphs[1:]
    # A heading written together with its first line ("## Title\nText..."): split them.
    first_line, _, tail = heading.partition("\n")
    if tail.strip():
        heading, rest = first_line, [tail.strip(), *rest]
    shown = [heading]
    if rest and _LIST_ITEM.match(rest[0]):  # a list right under the heading (a summary): each item's gist
        return "\n\n".join([heading, list_gist(rest[0])]), "\n\n".join(rest)
    if rest and not rest[0].lstrip().startswith(("<details", "```", ":::", "|", "$$")):
        lead, cut = _shorten(rest[0], max_words)
        rest = ([cut] if cut else []) + rest[1:]
        if lead.rstrip("* ").endswith(":") and not cut:
            # A lead-in to a list: the list comes too if both fit, else the lead-in's last sentence
            # (the one that announces the list) goes to the notes with it.
            is_list = bool(rest) and re.match(r"\s*([*-]|\d+\.)\s", rest[0]) is not None
            if is_list and len(f"{lead} {rest[0]}".split()) <= (list_words or max_words):
                lead = f"{lead}\n\n{rest.pop(0)}"
            else:
                sentences = _SENTENCE_END.split(lead)
                if len(sentences) > 1:
                    lead, rest = " ".join(sentences[:-1]), [sentences[-1], *rest]
                else:
                    lead, rest = "", [lead, *rest]
        if lead:
            shown.append(lead)
    return "\n\n".join(shown), "\n\n".join(rest)


def split_at_headings(text: str) -> list[str]:
    """Split Markdown before every heading of level 1 to 3 (outside code blocks): one piece per slide."""
    pieces: list[list[str]] = [[]]
    fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        if not fence and 1 <= _heading_level(line) <= 3 and any(piece.strip() for piece in pieces[-1]):
            pieces.append([])
        pieces[-1].append(line)
    return [chunk for chunk in ("\n".join(piece).strip() for piece in pieces) if chunk]


def _slide_markdown(text: str) -> str:
    """Markdown a slide can show: no ``<details>`` answers (nor the student edition's stub for them), no
    MyST citations (the deck has no bibliography)."""
    text = replace_answers(text, "").replace(ANSWER_STUB, "")
    return re.sub(r"\s*\{cite(?::\w+)?\}`[^`]*`", "", text).strip()


def _is_exercise(cell: dict) -> bool:
    source = _source_text(cell.get("source", ""))
    return has_solution(cell) or "llm_book.exercises" in source or re.search(r"\bcheck_\w+\(", source) is not None


def _definition_lines(source: str) -> tuple[int, int]:
    """How many code lines (not blank, not comment-only) the cell has, and how many of them belong to
    top-level ``def``/``class`` blocks (decorators included)."""
    total = inside = 0
    in_definition = False
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        total += 1
        if not line[0].isspace():
            in_definition = _DEFINES.match(line) is not None or line.startswith("@")
        inside += in_definition
    return total, inside


def definitions(source: str) -> str:
    """The top-level ``def``/``class`` blocks of a cell (with their decorators), without the code around
    them that runs and prints: on a slide the definition is the point."""
    blocks: list[list[str]] = []
    inside = False
    for line in source.splitlines():
        if line.strip() and not line[0].isspace():
            starts = _DEFINES.match(line) is not None or line.startswith("@")
            if starts and not (inside and blocks[-1][-1].startswith("@")):
                blocks.append([])
            inside = starts or (inside and line.startswith("@"))
        if inside:
            blocks[-1].append(line)
    return "\n\n\n".join("\n".join(block).strip() for block in blocks)


def _shows_code(cell: dict) -> bool:
    """Whether a code cell is the point of its section: a definition (its ``def``/``class`` blocks are
    at least half of its code lines, and at most ``MAX_CODE_LINES`` lines), no exercise, not hidden."""
    source = _source_text(cell.get("source", ""))
    tags = set(cell.get("metadata", {}).get("tags", []))
    total, definition = _definition_lines(source)
    return (not tags & SKIPPED_CODE_TAGS and not _is_exercise(cell) and "google.colab" not in source
            and 0 < definition <= MAX_CODE_LINES and 2 * definition >= total)


def _first_image(cell: dict) -> dict | None:
    """The cell's first output with an image, reduced to that image (an explorer's output carries a
    static figure beside its HTML: the slide shows the figure)."""
    for output in cell.get("outputs", []):
        data = output.get("data") or {}
        for kind in IMAGE_TYPES:
            if kind in data:
                metadata = output.get("metadata") or {}
                return {"output_type": "display_data", "data": {kind: copy.deepcopy(data[kind])},
                        "metadata": {kind: copy.deepcopy(metadata[kind])} if kind in metadata else {}}
    return None


def _cell(cell_type: str, source: str, slide_type: str, **extra) -> dict:
    cell = {"cell_type": cell_type, "metadata": {"slideshow": {"slide_type": slide_type}}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    cell.update(extra)
    return cell


def slides_notebook(nb: dict, name: str = "notebook") -> dict:
    """The slides copy of a chapter notebook (as JSON data): see the module docstring for the rules.

    Every cell gets ``metadata.slideshow.slide_type``; cells left out are
    dropped rather than marked "skip", so nothing left out reaches the HTML.
    """
    nb = student_notebook(nb, name=name)
    cells: list[dict] = []
    section_has_figure = section_has_code = exercises = False
    on_code_slide = False
    for cell in nb["cells"]:
        kind, source = cell.get("cell_type"), _source_text(cell.get("source", ""))
        for text in split_at_headings(_slide_markdown(source)) if kind == "markdown" else []:
            level = _heading_level(text)
            if level in (1, 2, 3):
                # The title slide may list the chapter's goals ("What you will be able to do:").
                shown, notes = split_heading_cell(text, MAX_WORDS, MAX_TITLE_LIST_WORDS if level == 1 else None)
                section_has_figure = False
                if level <= 2:
                    section_has_code = False
                    exercises = "exercise" in shown.splitlines()[0].lower()
                cells.append(_cell("markdown", shown, "slide" if level <= 2 else "subslide"))
                on_code_slide = False
                if notes:
                    cells.append(_cell("markdown", notes, "notes"))
            else:
                cells.append(_cell("markdown", text, "notes"))
        if kind == "code":
            image = _first_image(cell)
            if image is not None and not section_has_figure and not _is_exercise(cell):
                section_has_figure = True
                cells.append(_cell("code", "", "subslide" if on_code_slide else "-",  # the figure, not its code
                                   outputs=[image],
                                   metadata={"slideshow": {"slide_type": "subslide" if on_code_slide else "-"},
                                             "tags": [FIGURE_TAG]}))
                on_code_slide = False
            elif not exercises and not section_has_code and _shows_code(cell):
                section_has_code = on_code_slide = True
                cells.append(_cell("code", definitions(source), "subslide"))
    if not cells or cells[0]["metadata"]["slideshow"]["slide_type"] != "slide":
        raise ValueError(f"{name} does not start with a title heading (`# ...`); slides start there")
    for index, cell in enumerate(cells):
        cell["id"] = f"slides-{index}"
    metadata = {key: value for key, value in nb.get("metadata", {}).items() if key != "widgets"}
    metadata["title"] = re.sub(r"^#+\s*", "", _source_text(cells[0]["source"]).splitlines()[0]).strip()
    return {"cells": cells, "metadata": metadata, "nbformat": nb.get("nbformat", 4),
            "nbformat_minor": nb.get("nbformat_minor", 5)}


def _exporter():
    from jinja2 import DictLoader
    from nbconvert.exporters import SlidesExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_input_tags = {FIGURE_TAG}
    config.TagRemovePreprocessor.enabled = True
    exporter = SlidesExporter(config=config, extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})],
                              template_file=TEMPLATE_NAME, **EXPORTER_OPTIONS)
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    return exporter


def _copy_assets(assets: dict[str, str], node_modules: Path, out_dir: Path) -> None:
    for source, target in assets.items():
        src, dst = node_modules / source, out_dir / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
        else:
            shutil.copy2(src, dst)


def _check_node_modules(node_modules: Path) -> None:
    missing = [source for source in ASSETS if not (node_modules / source).exists()]
    if missing:
        raise RuntimeError(f"{node_modules} lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}: "
                           f"the decks serve reveal.js, require.js and MathJax themselves; run `npm ci` "
                           f"in {node_modules.parent} (scripts/setup.sh does)")


def build_slides(out_dir: str | os.PathLike, book: str | os.PathLike = "book",
                 node_modules: str | os.PathLike | None = None) -> list[Path]:
    """Write a reveal.js deck for every chapter of ``book`` into ``out_dir``; returns the decks' paths.

    Each deck is ``out_dir/<chapter>.slides.html``; reveal.js and the other
    scripts are copied beside them, so the folder works offline and can be
    copied or served as it is.  ``node_modules`` (default: the one beside
    ``book``, in the repository root) holds the scripts, at the versions
    package.json pins.

    Raises:
        ValueError: ``book`` holds no notebooks, ``out_dir`` is a file or lies in
            the book, or a chapter has no title heading.
        RuntimeError: node_modules lacks reveal.js or another script (run ``npm ci``).
    """
    book, out_dir = Path(book), Path(out_dir)
    chapters = _book_notebooks(book, leave_out=LEFT_OUT, what="chapter notebooks")
    _check_outside_book(out_dir, book, "out_dir", "choose a folder outside it")
    node_modules = Path(node_modules) if node_modules is not None else book.resolve().parent / NODE_MODULES
    _check_node_modules(node_modules)
    import nbformat

    exporter = _exporter()
    decks: dict[Path, str] = {}
    needs_widgets = False
    for path in chapters:
        slides = slides_notebook(_read_notebook(path), name=str(path))
        needs_widgets |= "widgets" in slides["metadata"]
        body, _ = exporter.from_notebook_node(nbformat.from_dict(slides),
                                              resources={"metadata": {"name": path.stem}})
        decks[out_dir / f"{path.stem}.slides.html"] = body
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_assets(ASSETS, node_modules, out_dir)
    if needs_widgets:
        _copy_assets(WIDGET_ASSETS, node_modules, out_dir)
    for target, body in decks.items():
        target.write_text(body, encoding="utf-8")
    return list(decks)


def add_command(sub) -> None:
    """Add ``slides`` to the sub-commands of ``python -m llm_book.classroom``."""
    command = sub.add_parser("slides", help="turn every chapter into a reveal.js deck that works offline")
    command.add_argument("out_dir", type=Path, help="folder for the decks and their scripts")
    command.add_argument("--book", type=Path, default=Path("book"),
                         help="folder of the chapter notebooks (default: book)")
    command.set_defaults(run=_run)


def _run(args) -> int:
    decks = build_slides(args.out_dir, args.book)
    print(f"wrote {len(decks)} decks to {args.out_dir}; open {decks[0]} in a browser "
          f"(F: full screen, S: speaker notes)")
    return 0
