"""Find solution text in built files: shared by the tests of the student site and of the slides.

A solution line is *distinctive* when, stripped, it has at least 12 characters
and occurs nowhere in the student edition (so finding it in a built file means
a solution leaked, not that the line also sits in the chapter's own text).

The answers in words count too: every ``<details>`` block from a chapter's
``## Exercises`` heading on (the student edition replaces them by a stub).  A
page shows them rendered (Markdown marks gone, maths typeset, quotes made
curly), so what is searched is their *fragments*: the runs of plain words
(letters, digits, spaces, commas, full stops...) of at least
``MIN_FRAGMENT`` characters, outside maths and code, that occur nowhere in the
student edition.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from llm_book.classroom import (_MARKER, DETAILS, EXERCISES_HEADING, _lines, _source_text, has_solution,
                                student_notebook)

MIN_LENGTH = 12
MIN_FRAGMENT = 30


def _squash(text: str) -> str:
    return " ".join(text.split())


def solution_regions(book: Path) -> dict[str, list[list[str]]]:
    """For every notebook in ``book``: the lines of each solution region (markers excluded)."""
    regions: dict[str, list[list[str]]] = {}
    for path in sorted(Path(book).glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if not has_solution(cell):
                continue
            inside, current = False, []
            for text, _ in _lines(_source_text(cell["source"])):
                match = _MARKER.match(text)
                if match and match["kind"].upper() == "BEGIN":
                    inside, current = True, []
                elif match:
                    inside = False
                    regions.setdefault(path.name, []).append(current)
                elif inside:
                    current.append(text)
    return regions


def answer_blocks(book: Path) -> dict[str, list[str]]:
    """For every notebook in ``book``: the text of each ``<details>`` block from its Exercises heading on."""
    blocks: dict[str, list[str]] = {}
    for path in sorted(Path(book).glob("*.ipynb")):
        in_exercises = False
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            text = _source_text(cell["source"])
            heading = EXERCISES_HEADING.search(text)
            if heading and not in_exercises:
                in_exercises, text = True, text[heading.start():]
            if in_exercises:
                blocks.setdefault(path.name, []).extend(DETAILS.findall(text))
    return blocks


def fragments(markdown: str) -> list[str]:
    """The runs of plain words of a piece of Markdown, as a page shows them (see the module docstring)."""
    text = re.sub(r"<summary>.*?</summary>", "|", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|<[^>]+>|\{[a-z]+\}", "|", text, flags=re.S)  # maths, code, tags
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link shows its text
    text = re.sub(r"(?m)^[ \t]*(?:\d+\.|[*-])[ \t]+", "|", text).replace("...", "|")  # list marks; an ellipsis
    text = text.replace("**", "").replace("*", "")
    runs = re.split(r"[^A-Za-z0-9 ,.;:()]+", _squash(text))
    return [run.strip(" ,.;:") for run in runs if len(run.strip(" ,.;:")) >= MIN_FRAGMENT]


def student_text(book: Path) -> str:
    """All the text of the student edition (sources and outputs), whitespace squashed."""
    parts = []
    for path in sorted(Path(book).glob("*.ipynb")):
        nb = student_notebook(json.loads(path.read_text(encoding="utf-8")), name=path.name)
        parts.append(_squash(json.dumps(nb, ensure_ascii=False)))
        parts.extend(_squash(_source_text(c.get("source", ""))) for c in nb["cells"])
        for c in nb["cells"]:
            for out in c.get("outputs", []):
                for value in [out.get("text", ""), *(out.get("data") or {}).values()]:
                    if isinstance(value, (str, list)):
                        parts.append(_squash(_source_text(value)))
    text = "\n".join(parts)
    # The text as the site shows it too: Markdown's code and emphasis marks gone ("return `x`" -> "return x").
    return text + "\n" + re.sub(r"[`*]", "", text)


def distinctive_lines(book: Path) -> dict[str, list[str]]:
    """For every notebook: its distinctive solution lines (squashed), see the module docstring."""
    student = student_text(book)
    found: dict[str, list[str]] = {}
    for name, regions in solution_regions(book).items():
        lines = {_squash(line) for region in regions for line in region}
        found[name] = sorted(line for line in lines if len(line) >= MIN_LENGTH and line not in student)
    for name, answers in answer_blocks(book).items():
        words = {f for block in answers for f in fragments(block)}
        found.setdefault(name, [])
        found[name] = sorted(set(found[name]) | {f for f in words if f not in student})
    return found


def distinctive_answers(book: Path) -> dict[str, list[str]]:
    """For every notebook: the distinctive fragments of its answers in words only."""
    student = student_text(book)
    return {name: sorted({f for block in answers for f in fragments(block) if f not in student})
            for name, answers in answer_blocks(book).items()}


def readable_text(path: Path) -> str | None:
    """What a reader (or a search engine) could read in a built file, whitespace squashed; None if binary.

    HTML: the raw text and the text with tags removed and entities decoded
    (highlighted code is split into many <span>s).  Notebooks: the raw JSON and
    every source and output string.  Other files: the raw text.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    parts = [raw]
    if path.suffix in (".html", ".htm", ".xml", ".svg"):
        parts.append(html.unescape(re.sub(r"<[^>]+>", "", raw)))
    if path.suffix == ".ipynb":
        nb = json.loads(raw)
        for cell in nb.get("cells", []):
            parts.append(_source_text(cell.get("source", "")))
            for out in cell.get("outputs", []):
                for value in [out.get("text", ""), *(out.get("data") or {}).values()]:
                    if isinstance(value, (str, list)):
                        parts.append(_source_text(value))
    if path.suffix in (".js", ".json"):
        escapes = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t"}
        parts.append(re.sub(r'\\(["\\/nt])', lambda m: escapes[m.group(1)], raw))  # JSON strings
    return "\n".join(_squash(p) for p in parts)


def leaks(folder: Path, lines: dict[str, list[str]]) -> tuple[list[str], int]:
    """Every (file, notebook, line) where a distinctive solution line occurs under ``folder``; and how
    many text files were searched."""
    wanted = sorted({(name, line) for name, ls in lines.items() for line in ls})
    found, searched = [], 0
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        text = readable_text(path)
        if text is None:
            continue
        searched += 1
        found += [f"{path.relative_to(folder)}: {name}: {line}" for name, line in wanted if line in text]
    return found, searched
