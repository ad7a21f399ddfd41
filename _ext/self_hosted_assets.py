"""Sphinx extension: the built website loads no script or stylesheet from a CDN.

Notebook outputs keep their CDN addresses (Jupyter and Colab need them): bertviz
views load require.js, d3 and jQuery from cdnjs.  After the build this
extension points those addresses at the copies in ``_static/offline/`` (see
scripts/fetch_assets.py) and fails the build if any page still loads a script
or stylesheet from outside the site.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

# CDN address -> file under _static/ (require.js module paths have no ".js").
REWRITES = {
    "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js": "offline/require.js",
    "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min": "offline/d3.min",
    "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min": "offline/jquery.min",
}
EXTERNAL_SCRIPT = re.compile(r"""<script[^>]*\ssrc=["'](https?:)?//[^"']+|<link[^>]*\shref=["'](https?:)?//[^"']+\.css""")
CDN = re.compile(r"cdnjs\.cloudflare\.com|cdn\.jsdelivr\.net/npm/(?!\")|unpkg\.com/(?!thebe)")


def _vendor_ready(app) -> None:
    vendor = Path(app.srcdir) / "_site_assets" / "offline"
    if not (vendor / "mathjax").is_dir():
        raise ExtensionError(
            f"{vendor} is missing: run `npm install && python scripts/fetch_assets.py` "
            f"(scripts/setup.sh does both) so the site can serve its own scripts"
        )


def _copy_widget_fonts(outdir: Path, page_dir: Path) -> None:
    """One of the widget manager's bundles looks for its icon fonts in ``@jupyter-widgets/``
    beside the page (its require.js module address), whatever require.js is told; put them there."""
    source = outdir / "_static" / "offline" / "html-manager"
    target = page_dir / "@jupyter-widgets"
    target.mkdir(exist_ok=True)
    for font in source.iterdir():
        if font.suffix in (".woff", ".woff2", ".ttf", ".eot", ".svg"):
            shutil.copy2(font, target / font.name)


def _rewrite(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    offenders = []
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        static = os.path.relpath(outdir / "_static", page.parent).replace(os.sep, "/")
        new = text
        for cdn, local in REWRITES.items():
            new = new.replace(cdn, f"{static}/{local}")
        if new != text:
            page.write_text(new, encoding="utf-8")
        if "html-manager/embed-amd.js" in new:
            _copy_widget_fonts(outdir, page.parent)
        for match in EXTERNAL_SCRIPT.finditer(new):
            offenders.append(f"{page.relative_to(outdir)}: {match.group(0)[:120]}")
        for match in CDN.finditer(new):
            line = new[max(0, match.start() - 60): match.end() + 60].replace("\n", " ")
            offenders.append(f"{page.relative_to(outdir)}: ...{line}...")
    if offenders:
        raise ExtensionError("pages still load from a CDN:\n" + "\n".join(sorted(set(offenders))[:20]))


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated script tags (sphinx-thebe's inline config is added twice by Jupyter Book,
    and declaring its `const` twice is a JavaScript error)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # An inline script's file name is None or "" depending on who added it.
        key = (str(getattr(js, "filename", js) or ""),
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect("builder-inited", _vendor_ready)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _rewrite)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
