"""The website as a reader meets it, in a real browser, with every request off this machine blocked.

Builds the site, serves it on 127.0.0.1 and opens every page in Debian's
Chromium driven by Playwright.  For each page: no failed request, no
JavaScript error, every image loaded, every formula typeset by MathJax, every
bertviz view drawn, every saved widget rendered, and (on chapter pages) a
well-formed Colab link to that page's notebook.  A screenshot of each page goes
to _build/screenshots/ for people to look at.
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "_build" / "screenshots"

playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium is missing at {CHROMIUM} (apt-get install chromium; .ci/run does)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser-site")
    result = subprocess.run(["jupyter-book", "build", str(ROOT), "--path-output", str(out),
                             "--warningiserror", "--keep-going"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = out / "_build" / "html"
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield html, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def pages(html: Path) -> list[str]:
    skip = {"_static", "_sources", "_images"}
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if not skip & set(p.relative_to(html).parts))


def repo_slug() -> str:
    url = re.search(r"url:\s*(\S+)", (ROOT / "_config.yml").read_text()).group(1)
    return urlparse(url).path.strip("/")


def test_every_page_works_offline(site, browser):
    html, base = site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    checked = {"pages": 0, "math": 0, "bertviz": 0, "widgets": 0, "images": 0}
    for rel in pages(html):
        page_problems = _check_page(browser, base, rel, checked)
        problems += [f"{rel}: {p}" for p in page_problems]
    assert checked["pages"] >= 2
    assert not problems, "\n".join(problems)
    # The book has formulas, bertviz views and widgets: they must have been found and checked.
    assert checked["math"] > 0 and checked["bertviz"] > 0 and checked["images"] > 0, checked


def _check_page(browser, base: str, rel: str, checked: dict) -> list[str]:
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            r.continue_()
        else:
            problems.append(f"request leaving the machine (blocked): {r.request.url}")
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})")
            if urlparse(r.url).hostname == "127.0.0.1" else None)
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

    page.goto(f"{base}/{rel}", wait_until="networkidle")
    checked["pages"] += 1

    # Formulas: every math element typeset by MathJax, none with an error.
    n_math = page.locator(".math").count()
    if n_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        untypeset = page.evaluate("() => [...document.querySelectorAll('.math')]"
                                  ".filter(e => !e.querySelector('mjx-container')).length")
        errors = page.locator("mjx-merror").count()
        if untypeset or errors:
            problems.append(f"{untypeset} of {n_math} formulas not typeset, {errors} MathJax errors")
        checked["math"] += n_math

    # bertviz views: each draws an SVG with elements.
    n_views = page.locator("div[id^='bertviz-']").count()
    for i in range(n_views):
        view = page.locator("div[id^='bertviz-']").nth(i)
        try:
            view.locator("svg *").first.wait_for(timeout=15000)
        except Exception:
            problems.append(f"bertviz view {i} drew nothing")
    checked["bertviz"] += n_views

    # Saved widget states: each widget view rendered by the widget manager.
    n_widgets = page.locator("script[type='application/vnd.jupyter.widget-view+json']").count()
    if n_widgets:
        try:
            page.wait_for_function(f"() => document.querySelectorAll('.jupyter-widgets').length >= {n_widgets}",
                                   timeout=15000)
        except Exception:
            problems.append(f"{n_widgets} saved widgets, but the widget manager rendered "
                            f"{page.locator('.jupyter-widgets').count()} widget elements")
    checked["widgets"] += n_widgets

    # Images: all loaded.
    page.evaluate("() => Promise.all([...document.images].map(img => img.decode().catch(() => null)))")
    broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.src)")
    problems += [f"image not loaded: {src}" for src in broken]
    checked["images"] += page.evaluate("() => document.images.length")

    # Chapter pages: a Colab link to exactly this page's notebook.
    if rel.startswith("book/") and (ROOT / rel).with_suffix(".ipynb").is_file():
        expected = (f"https://colab.research.google.com/github/{repo_slug()}/blob/main/"
                    f"{Path(rel).with_suffix('.ipynb').as_posix()}")
        links = page.eval_on_selector_all("a[href*='colab.research.google.com']", "els => els.map(e => e.href)")
        if expected not in links:
            problems.append(f"no Colab link {expected} (found {links})")

    name = rel.replace("/", "__").removesuffix(".html")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    context.close()
    return problems
