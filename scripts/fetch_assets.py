"""Copy the scripts the website needs from node_modules into _site_assets/offline/ (served as _static/offline/).

It also writes the explorers' files into _site_assets/llm-book/ (served as _static/llm-book/):
engine.js, explorers.js and explorers.css from llm_book/web/, and the model file toy-gpt.json
(with toy-gpt.js, the same for pages opened from disk) generated from the shipped checkpoint
by llm_book.web.write_web_assets.

The built site then serves MathJax, require.js, d3, jQuery (for bertviz views)
and the Jupyter widget manager itself, so it works behind firewalls that block
public CDNs.  Run by scripts/setup.sh after `npm install` (versions pinned in
package.json).  The copies are build artefacts and are not committed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "node_modules"
VENDOR = ROOT / "_site_assets" / "offline"
EXPLORERS = ROOT / "_site_assets" / "llm-book"

FILES = {
    "requirejs/require.js": "require.js",
    "d3/dist/d3.min.js": "d3.min.js",
    "jquery/dist/jquery.min.js": "jquery.min.js",
}
TREES = {
    "mathjax/es5": "mathjax",
    "@jupyter-widgets/html-manager/dist": "html-manager",
}

# The widget manager was written for MathJax 2 (MathJax.Hub.Queue); the site runs MathJax 3.
_HUB = 'MathJax.Hub.Queue(["Typeset",MathJax.Hub,e])'
_TYPESET = ('(MathJax.typesetPromise?MathJax.typesetPromise([e]).catch(function(){}):'
            '(MathJax.Hub?MathJax.Hub.Queue(["Typeset",MathJax.Hub,e]):null))')
# It finds its own chunks and fonts through require.js; point require.js at this folder.
# Its bundles work out where their fonts are from their module's address: map every module
# name to this folder (the modules themselves are defined inside the bundle, never fetched).
_LOCATE = ("/* added by scripts/fetch_assets.py: load the manager's chunks and fonts from beside this file */\n"
           "(function(){var s=document.currentScript;if(s&&window.require&&window.require.config){"
           "var d=s.src.slice(0,s.src.lastIndexOf('/'));"
           "require.config({paths:{'@jupyter-widgets/html-manager/dist':d,"
           "'@jupyter-widgets/html-manager':d+'/html-manager',"
           "'@jupyter-widgets/controls':d+'/controls','@jupyter-widgets/base':d+'/base',"
           "'@jupyter-widgets/output':d+'/output'}});}})();\n")
PATCHES = {
    "html-manager/embed-amd.js": lambda text: _LOCATE + _must_replace(text, _HUB, _TYPESET),
    "html-manager/libembed-amd.js": lambda text: _must_replace(text, _HUB, _TYPESET),
    "html-manager/embed.js": lambda text: _must_replace(text, _HUB, _TYPESET),
}


def _must_replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise SystemExit(f"fetch_assets: expected {old!r} in the widget manager; was its version changed?")
    return text.replace(old, new)


def main() -> int:
    missing = [src for src in [*FILES, *TREES] if not (NODE / src).exists()]
    if missing:
        print(f"missing in node_modules: {missing}; run `npm install` first", file=sys.stderr)
        return 1
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir(parents=True)
    for src, dst in FILES.items():
        shutil.copy2(NODE / src, VENDOR / dst)
    for src, dst in TREES.items():
        shutil.copytree(NODE / src, VENDOR / dst, ignore=shutil.ignore_patterns("*.map"))
    for rel, patch in PATCHES.items():
        path = VENDOR / rel
        path.write_text(patch(path.read_text(encoding="utf-8")), encoding="utf-8")
    size = sum(f.stat().st_size for f in VENDOR.rglob("*") if f.is_file())
    print(f"copied site assets into {VENDOR.relative_to(ROOT)} ({size / 1e6:.1f} MB)")
    return write_explorer_assets()


def write_explorer_assets() -> int:
    """The explorers' engine, UI and model file (generated from the shipped checkpoint)."""
    sys.path.insert(0, str(ROOT))  # the llm_book of this checkout, installed or not
    from llm_book.web import write_web_assets

    if EXPLORERS.exists():
        shutil.rmtree(EXPLORERS)
    written = write_web_assets(EXPLORERS)
    size = sum(path.stat().st_size for path in written)
    print(f"wrote the explorers' files into {EXPLORERS.relative_to(ROOT)}: "
          f"{', '.join(path.name for path in written)} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
