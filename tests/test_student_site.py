"""The student website: built from the student edition, no solution text in any built file.

Builds the site once (about half a minute) into a temporary folder, then
searches every text file of it (pages, _sources/*.ipynb downloads,
searchindex.js, ...) for every distinctive line of every solution in the book
(tests/solution_text.py says which lines are distinctive).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from llm_book.classroom import STUB, main
from llm_book.student_site import MARKER, build_student_site, stage_sources, student_config

sys.path.insert(0, str(Path(__file__).parent))
from solution_text import distinctive_answers, distinctive_lines, leaks, readable_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = [p.stem for p in sorted(BOOK.glob("*.ipynb")) if p.stem != "teachers_guide"]

pytestmark = pytest.mark.skipif(shutil.which("jupyter-book") is None, reason="jupyter-book is not installed")


@pytest.fixture(scope="module")
def lines():
    return distinctive_lines(BOOK)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not (ROOT / "_site_assets" / "offline" / "mathjax").is_dir():
        pytest.skip("_site_assets/offline/ is missing: run `npm ci && python scripts/fetch_assets.py`")
    out = tmp_path_factory.mktemp("student-site") / "site"
    start = time.perf_counter()
    assert main(["student-site", str(out), "--root", str(ROOT)]) == 0
    files = [f for f in out.rglob("*") if f.is_file()]
    print(f"\nstudent site: {sum(f.stat().st_size for f in files) / 1e6:.1f} MB, {len(files)} files, "
          f"{sum(1 for f in files if f.suffix == '.html')} HTML pages, built in {time.perf_counter() - start:.0f} s")
    return out


def test_the_rule_finds_solution_lines_in_a_rendered_chapter(lines, tmp_path):
    """The search is not blind: a page rendered from a chapter *with* its solutions (nbconvert's HTML,
    highlighted code split into <span>s) shows every distinctive line of that chapter's code solutions."""
    nbconvert = pytest.importorskip("nbconvert")
    body, _ = nbconvert.HTMLExporter().from_filename(str(BOOK / "04_mathematics.ipynb"))
    page = tmp_path / "04_mathematics.html"
    page.write_text(body, encoding="utf-8")
    assert len(lines["04_mathematics.ipynb"]) >= 10
    found, _ = leaks(tmp_path, {"04_mathematics.ipynb": lines["04_mathematics.ipynb"]})
    assert len(found) == len(lines["04_mathematics.ipynb"])


@pytest.mark.parametrize("chapter", ["08_outlook", "11_assistants"])
def test_the_rule_finds_the_answers_in_words_and_the_student_edition_has_none(chapter, tmp_path):
    """The answers behind <details> in the Exercises part are solution text too: rendered with them, a
    chapter shows every distinctive fragment of its answers; its student edition shows none."""
    nbconvert = pytest.importorskip("nbconvert")
    from llm_book.classroom import ANSWER_STUB, student_notebook

    answers = {f"{chapter}.ipynb": distinctive_answers(BOOK)[f"{chapter}.ipynb"]}
    assert len(answers[f"{chapter}.ipynb"]) >= 10
    nb = json.loads((BOOK / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    for name, notebook in [("book", nb), ("student", student_notebook(nb))]:
        source = tmp_path / f"{name}.ipynb"
        source.write_text(json.dumps(notebook), encoding="utf-8")
        body, _ = nbconvert.HTMLExporter().from_filename(str(source))
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{chapter}.html").write_text(body, encoding="utf-8")
    found, _ = leaks(tmp_path / "book", answers)
    assert len(found) == len(answers[f"{chapter}.ipynb"])
    found, _ = leaks(tmp_path / "student", answers)
    assert not found, found
    assert ANSWER_STUB.strip("*") in (tmp_path / "student" / f"{chapter}.html").read_text(encoding="utf-8")


def test_no_solution_line_in_any_built_file(site, lines):
    assert sum(len(v) for v in lines.values()) >= 100
    found, searched = leaks(site, lines)
    assert searched > 100  # pages, downloads, search index, scripts
    assert not found, "solution text in the student site:\n" + "\n".join(found[:30])


def test_downloads_and_search_index_are_the_student_edition(site):
    sources = sorted((site / "_sources" / "book").glob("*.ipynb"))
    assert [p.stem for p in sources] == CHAPTERS
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name
    assert (site / "searchindex.js").is_file()
    assert "SOLUTION" not in (site / "searchindex.js").read_text(encoding="utf-8")


def test_every_chapter_page_exists_with_its_stubs_and_figures(site):
    for chapter in CHAPTERS:
        page = site / "book" / f"{chapter}.html"
        assert page.is_file(), chapter
        text = readable_text(page)
        if chapter != "09_faq":  # the FAQ has no exercises
            assert STUB[-1].replace('"', "&quot;") in page.read_text(encoding="utf-8") or STUB[-1] in text, chapter
        assert "BEGIN SOLUTION" not in text, chapter
    assert not (site / "book" / "teachers_guide.html").exists()
    assert "student edition" in readable_text(site / "book" / "index.html")
    # Figures and explorers stay: the pages still show images, and the widget explorers' saved states.
    assert len(list((site / "_images").glob("*.png"))) >= 20
    # Saved widgets and the in-browser explorers, wherever a chapter has them.
    kept = {"widget": "application/vnd.jupyter.widget-view+json", "explorer": "llm-book-explorer"}
    found = dict.fromkeys(kept, 0)
    for chapter in CHAPTERS:
        source = (BOOK / f"{chapter}.ipynb").read_text(encoding="utf-8")
        page = (site / "book" / f"{chapter}.html").read_text(encoding="utf-8")
        for kind, mark in kept.items():
            if mark in source:
                assert mark in page, f"{chapter}: its {kind}s are missing"
                found[kind] += 1
    assert found["widget"] + found["explorer"] > 0, found
    assert (site / MARKER).is_file() and (site / ".nojekyll").is_file()  # GitHub Pages serves _static/


def test_no_launch_or_repository_button_by_default(site):
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "colab.research.google.com" not in text, page.name
        assert not re.search(r'href="https://github\.com/llm-book/llm-book[/"]', text), page.name
        assert "launch-buttons" not in text and "btn-source-repository-button" not in text, page.name


def test_built_with_the_teachers_repository(tmp_path):
    """With --repository-url the launch buttons are back, pointing at the student edition's repository."""
    if not (ROOT / "_site_assets" / "offline" / "mathjax").is_dir():
        pytest.skip("_site_assets/offline/ is missing: run `npm ci && python scripts/fetch_assets.py`")
    out = tmp_path / "site"
    assert main(["student-site", str(out), "--root", str(ROOT), "--repository-url",
                 "https://github.com/school/llm-book-students", "--branch", "course"]) == 0
    page = (out / "book" / "04_mathematics.html").read_text(encoding="utf-8")
    assert ("https://colab.research.google.com/github/school/llm-book-students/blob/course/"
            "book/04_mathematics.ipynb") in page
    assert "github.com/llm-book/llm-book/blob" not in page


def test_buttons_point_to_the_teachers_repository(tmp_path):
    stage = stage_sources(tmp_path, ROOT, "https://github.com/school/llm-book-students", "course")
    config = yaml.safe_load((stage / "_config.yml").read_text())
    assert config["repository"] == {"url": "https://github.com/school/llm-book-students", "branch": "course"}
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_repository_button"] is True
    toc = (stage / "_toc.yml").read_text()
    assert "teachers_guide" not in toc and "book/04_mathematics" in toc
    nb = json.loads((stage / "book" / "04_mathematics.ipynb").read_text())
    stubs = [c for c in nb["cells"] if STUB[-1] in "".join(c["source"])]
    assert stubs and all("hide-input" not in c["metadata"].get("tags", []) for c in stubs)  # shown, not folded


@pytest.mark.parametrize("kwargs, message", [
    ({"repository_url": "http://example.org/x"}, r"`repository_url` \(='http://example.org/x'\) has to be a "
                                                 r"GitHub repository"),
    ({"branch": "dev"}, r"`branch` \(='dev'\) needs `repository_url`"),
    ({"repository_url": "https://github.com/a/b", "branch": "a b"}, r"`branch` \(='a b'\) has to be"),
])
def test_bad_repository_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        build_student_site(tmp_path / "out", ROOT, **kwargs)
    with pytest.raises(ValueError, match=message):
        student_config({}, kwargs.get("repository_url"), kwargs.get("branch"))


def test_bad_folders(tmp_path):
    with pytest.raises(ValueError, match=r"`out_dir` \(.*\) is inside the book"):
        build_student_site(ROOT / "_build" / "student", ROOT)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"`out_dir` \(.*\) is a folder that is not empty"):
        build_student_site(tmp_path, ROOT)
    with pytest.raises(ValueError, match=r"`out_dir` \(.*\) is a file"):
        build_student_site(tmp_path / "notes.txt", ROOT)
    with pytest.raises(ValueError, match=r"`root` \(.*\) is not the book's repository"):
        build_student_site(tmp_path / "out", tmp_path)
    fake = tmp_path / "fake"
    (fake / "book").mkdir(parents=True)
    (fake / "_config.yml").write_text("title: x\n")
    with pytest.raises(ValueError, match=r"`root` \(.*\) has no _site_assets/offline/.*npm ci"):
        build_student_site(tmp_path / "out", fake)


def test_missing_jupyter_book_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["student-site", str(tmp_path / "out"), "--root", str(ROOT)]) == 2
    assert "jupyter-book is not installed" in capsys.readouterr().err
