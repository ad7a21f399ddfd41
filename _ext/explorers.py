"""Sphinx extension: the website's explorers load the engine and the model from _static, once per page.

In a notebook each explorer output (``llm_book.explorers``) carries its own copy of
``engine.js``, ``explorers.js`` and the model (Jupyter and Colab have nothing else).
On the website that would be ~600 kB per explorer, so after the build, on every page
with an explorer (``<div class="llm-book-explorer" ...>``), this extension

* removes the inline ``<script>`` and ``<style>`` elements marked ``data-llm-book-inline``,
  ``data-llm-book-payload`` or ``data-llm-book-bootstrap`` (the explorer divs and their
  static fallback figures stay);
* adds to ``<head>`` the stylesheet and two deferred scripts from ``_static/llm-book/``
  (relative addresses: nothing leaves the site); ``engine.js`` fetches the model
  file named by its ``data-llm-book-model`` attribute (an address relative to engine.js
  itself), then ``explorers.js`` mounts;
* writes those files into ``_static/llm-book/`` fresh from the installed package
  (``llm_book.web.write_web_assets``: the model file is generated from the shipped
  checkpoint), so a stale copy in ``_site_assets/`` cannot be served.

Pages without an explorer are not touched.  It runs before ``self_hosted_assets``
checks the finished pages for CDN addresses (priority 400 < 500).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from sphinx.errors import ExtensionError

ASSETS = "llm-book"  # the folder under _static/
EXPLORER = re.compile(r"""<div\b[^>]*\bclass=["'][^"']*\bllm-book-explorer\b""")
INLINE = re.compile(r"""<(script|style)\b[^>]*\bdata-llm-book-(?:inline|payload|bootstrap)\b[^>]*>.*?</\1>\s*""",
                    re.DOTALL)
NEEDED = ("engine.js", "explorers.js", "explorers.css", "toy-gpt.json")


def head_tags(static: str) -> str:
    """The tags added to a page's <head>; ``static`` is the relative address of ``_static``."""
    base = f"{static}/{ASSETS}"
    return (f'<link rel="stylesheet" href="{base}/explorers.css">\n'
            f'<script defer src="{base}/engine.js" data-llm-book-model="toy-gpt.json"></script>\n'  # beside engine.js
            f'<script defer src="{base}/explorers.js"></script>\n')


def rewrite_page(text: str, static: str) -> str:
    """The page without its inline engine copies and with the shared tags in <head> (unchanged
    when it has no explorer)."""
    if not EXPLORER.search(text):
        return text
    text = INLINE.sub("", text)
    if f"{ASSETS}/engine.js" in text:  # already rewritten (an incremental build)
        return text
    if "</head>" not in text:
        raise ExtensionError("a page with an explorer has no </head> to add the engine's scripts to")
    return text.replace("</head>", head_tags(static) + "</head>", 1)


def _rewrite(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    skip = {"_static", "_sources", "_images"}
    with_explorers = []
    for page in outdir.rglob("*.html"):
        if skip & set(page.relative_to(outdir).parts):
            continue
        text = page.read_text(encoding="utf-8")
        static = os.path.relpath(outdir / "_static", page.parent).replace(os.sep, "/")
        new = rewrite_page(text, static)
        if new != text:
            page.write_text(new, encoding="utf-8")
        if EXPLORER.search(new):
            with_explorers.append(page)
    if not with_explorers:
        return
    try:
        from llm_book.web import write_web_assets
    except ImportError:  # the package is not installed: use the checkout this extension belongs to
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from llm_book.web import write_web_assets

    target = outdir / "_static" / ASSETS
    write_web_assets(target)
    missing = [name for name in NEEDED if not (target / name).is_file()]
    if missing:
        raise ExtensionError(f"pages with explorers need {missing} in {target}; they come from llm_book/web/ "
                             f"(is the llm_book package installed from this checkout?)")


def setup(app):
    app.connect("build-finished", _rewrite, priority=400)  # before self_hosted_assets' CDN check
    return {"parallel_read_safe": True, "parallel_write_safe": True}
