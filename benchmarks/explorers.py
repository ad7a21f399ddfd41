"""What the in-browser explorers cost a reader of the website: bytes and time to first interaction.

    jupyter-book build .                       # the site, into _build/html (after scripts/fetch_assets.py)
    python -m benchmarks.explorers [--html _build/html] [--runs 5]

For each chapter page with explorers (Chapters 4 and 5c):

* **bytes added**: the page's own HTML that the explorers add (their ``div``s with the static
  fallback figures, and the ``<link>``/``<script>`` tags in ``<head>``) plus the files under
  ``_static/llm-book/`` the page loads (engine, explorers' code and style, the model file), raw
  and gzip-compressed (what a server that compresses sends);
* **time to first interaction**: in headless Chromium, from the start of navigation to the first
  explorer mounted *and* answering an input (a word typed, the chart redrawn), read from the
  page's own clock (``performance.now()``), median of ``--runs`` fresh page loads.  Served from
  127.0.0.1 with every other request blocked, so it measures the page and the browser, not a network.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import statistics
import threading
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PAGES = {"book/05c_generation.html": "sampling", "book/04_mathematics.html": "chain-rule"}
# an input per explorer kind: the control, the value typed, the element that must change
INPUTS = {"sampling": ("prefix", "The cat sat on the", "bars"),
          "chain-rule": ("sentence", "The cats that the dog chased sleep <eos>", "factor")}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def added_bytes(html_dir: Path, rel: str, page) -> dict[str, int]:
    """Bytes the explorers add to ``rel``: markup in the page, and the _static/llm-book files it loads."""
    markup = page.evaluate("""() => [...document.querySelectorAll('div.llm-book-explorer')]
        .map(e => { const c = e.cloneNode(true); c.querySelectorAll('.lbx-live, .lbx-status').forEach(x => x.remove());
                    c.removeAttribute('data-mounted'); c.classList.remove('llm-book-live'); return c.outerHTML; })
        .concat([...document.querySelectorAll('head [src*="llm-book/"], head [href*="llm-book/"]')]
        .map(e => e.outerHTML)).join('')""")
    loaded = page.evaluate("""() => performance.getEntriesByType('resource').map(r => r.name)
        .filter(n => n.includes('/_static/llm-book/'))""")
    files = sorted({(html_dir / urlparse(url).path.lstrip("/")).resolve() for url in loaded})
    raw = [f.read_bytes() for f in files]
    text = markup.encode("utf-8")
    return {"markup": len(text), "markup_gz": len(gzip.compress(text, 9)),
            "files": sum(map(len, raw)), "files_gz": sum(len(gzip.compress(b, 9)) for b in raw),
            "names": [f.name for f in files]}


def first_interaction_ms(browser, url: str, kind: str) -> float:
    """Milliseconds from navigation start to the first ``kind`` explorer mounted and answering an input."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).hostname == "127.0.0.1"
                  or r.request.url.startswith("data:") else r.abort())
    page = context.new_page()
    page.goto(url, wait_until="commit")
    role, value, result = INPUTS[kind]
    page.wait_for_function(
        """([kind, role, value, result]) => {
            const e = document.querySelector(`div.llm-book-explorer[data-explorer='${kind}'][data-mounted=ready]`);
            if (!e) return false;
            const box = e.querySelector(`[data-role=${role}]`), before = e.querySelector(`[data-role=${result}]`);
            const old = before ? before.outerHTML : '';
            box.value = value;
            box.dispatchEvent(new Event('input', {bubbles: true}));
            const now = e.querySelector(`[data-role=${result}]`);
            if (!now || now.outerHTML === old) throw new Error('the explorer did not answer the input');
            window.__firstInteraction = performance.now();
            return true;
        }""", arg=[kind, role, value, result], polling="raf", timeout=60000)
    ms = page.evaluate("() => window.__firstInteraction")
    context.close()
    return ms


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built site")
    parser.add_argument("--runs", type=int, default=5, help="page loads per page (the median counts)")
    args = parser.parse_args(argv)
    if not (args.html / "_static" / "llm-book" / "engine.js").is_file():
        raise SystemExit(f"{args.html} has no _static/llm-book/: build the site after scripts/fetch_assets.py")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(args.html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            print(f"{'page':28} {'markup':>9} {'(gzip)':>8} {'files':>9} {'(gzip)':>8} "
                  f"{'page HTML':>10}  first interaction, ms (median of {args.runs}; min-max)")
            for rel, kind in PAGES.items():
                context = browser.new_context()
                context.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).hostname == "127.0.0.1"
                              or r.request.url.startswith("data:") else r.abort())
                page = context.new_page()
                page.goto(f"{base}/{rel}", wait_until="networkidle")
                page.wait_for_selector(f"div.llm-book-explorer[data-explorer='{kind}'][data-mounted=ready]")
                size = added_bytes(args.html, rel, page)
                context.close()
                times = [first_interaction_ms(browser, f"{base}/{rel}", kind) for _ in range(args.runs)]
                print(f"{rel:28} {size['markup']:9,d} {size['markup_gz']:8,d} {size['files']:9,d} "
                      f"{size['files_gz']:8,d} {(args.html / rel).stat().st_size:10,d}  "
                      f"{statistics.median(times):6.0f} ({min(times):.0f}-{max(times):.0f})")
                print(f"{'':28} files loaded: {', '.join(size['names'])}")
            browser.close()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
