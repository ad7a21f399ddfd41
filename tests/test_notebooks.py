"""Static checks of every chapter notebook: the Colab setup cell, stored outputs, exercise markers."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def repository_url() -> str:
    return re.search(r"^\s*url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)


def code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks in book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_only_inside_colab(path):
    first = source(code_cells(path)[0])
    assert '"google.colab" in sys.modules' in first, "the first code cell must check for Colab"
    assert f"git+{repository_url()}" in first, "the setup cell must install from the URL in _config.yml"
    assert "torch" not in first.lower(), "the setup cell must not reinstall torch (Colab keeps its own)"
    body = first.split('if "google.colab" in sys.modules:', 1)
    assert len(body) == 2 and "pip" in body[1] and "pip" not in body[0], "install only inside the Colab branch"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stored_and_clean(path):
    cells = [c for c in code_cells(path) if source(c).strip()]
    for i, cell in enumerate(cells):
        assert cell["execution_count"] is not None, f"code cell {i} was not run before saving"
        assert not any(o["output_type"] == "error" for o in cell["outputs"]), f"code cell {i} stored an error"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts), "cells were not run top to bottom"


def solution_count(path: Path) -> int:
    solutions = 0
    for cell in code_cells(path):
        text = source(cell)
        begins, ends = text.count("### BEGIN SOLUTION"), text.count("### END SOLUTION")
        assert begins == ends, f"{path.name}: unbalanced solution markers in:\n{text[:300]}"
        if begins:
            solutions += begins
            assert "hide-input" in cell.get("metadata", {}).get("tags", []), \
                f"{path.name}: a solution cell must be hidden on the website (tag hide-input)"
            assert re.search(r"check_\d+_\d+\(", text), f"{path.name}: a solution cell ends with a checker call"
    return solutions


def test_every_chapter_has_at_least_three_exercises():
    per_chapter: dict[str, int] = {}
    for path in NOTEBOOKS:
        chapter = path.stem[:2]
        count = solution_count(path)
        if chapter.isdigit():
            per_chapter[chapter] = per_chapter.get(chapter, 0) + count
    for chapter, count in per_chapter.items():
        if chapter != "09":  # the FAQ may skip them
            assert count >= 3, f"Chapter {int(chapter)} has {count} exercises; every chapter needs at least 3"


def test_every_notebook_the_teachers_guide_names_exists():
    """The guide names notebooks in its text, its code and its outputs: each one has to be in book/,
    and its week plan has to cover exactly the chapters of _toc.yml."""
    guide = json.loads((ROOT / "book" / "teachers_guide.ipynb").read_text(encoding="utf-8"))
    texts = ["".join(c["source"]) for c in guide["cells"]]
    for cell in guide["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.extend("".join(v) for v in output.get("data", {}).values() if isinstance(v, (str, list)))
    names = {m for text in texts for m in re.findall(r"(?<![\w/])(\d\d[a-z]?_[a-z_]*[a-z])(?![\w])", text)}
    assert "06a_dialogue" in names and "08_outlook" in names  # the pattern finds the names it should
    missing = sorted(n for n in names if not (ROOT / "book" / f"{n}.ipynb").is_file())
    assert not missing, f"the teachers' guide names notebooks that are not in book/: {missing}"
    chapters = re.findall(r"^\s*- file: book/(\d\w*)\s*$", (ROOT / "_toc.yml").read_text(), re.M)
    plan = next("".join(o["data"]["text/markdown"]) for c in guide["cells"] for o in c.get("outputs", [])
                if "text/markdown" in o.get("data", {}))
    assert re.findall(r"`(\d\w*)`", plan) == chapters, "the stored week plan does not follow _toc.yml"
