"""The website builds with Jupyter Book 1.x, without a single warning, and has what readers need."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if shutil.which("jupyter-book") is None:
        pytest.skip("jupyter-book is not installed (run scripts/setup.sh)")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        ["jupyter-book", "build", str(ROOT), "--path-output", str(out),
         "--warningiserror", "--nitpick", "--keep-going"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "WARNING" not in result.stdout + result.stderr
    return out / "_build" / "html"


def chapters():
    return sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))


def test_every_chapter_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for name in chapters():
        assert f"book/{name}" in toc, f"{name} is missing from _toc.yml"


def test_site_has_index_and_chapters(site):
    assert (site / "index.html").is_file()
    for name in chapters():
        assert (site / "book" / f"{name}.html").is_file(), name


def test_chapter_pages_have_colab_button_and_download(site):
    repo = re.search(r"url:\s*(\S+)", (ROOT / "_config.yml").read_text()).group(1)
    slug = repo.removeprefix("https://github.com/")
    for name in chapters():
        html = (site / "book" / f"{name}.html").read_text()
        assert f"https://colab.research.google.com/github/{slug}/blob/main/book/{name}.ipynb" in html
        assert f"_sources/book/{name}.ipynb" in html
