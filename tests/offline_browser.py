"""Shared by the browser tests: a folder served on 127.0.0.1, Debian's Chromium, and pages
in which every request that would leave this machine is blocked and recorded.

Each test collects what went wrong in a list, ``problems``, and asserts it is empty at
the end, so one run reports every broken request and error of a page, not just the first.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
LOCAL_SCHEMES = ("data:", "blob:", "file:", "about:")


def playwright_or_skip():
    """The ``playwright.sync_api`` module; the test module is skipped without it or without Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is missing at {CHROMIUM} (apt-get install chromium; .ci/run does)",
                    allow_module_level=True)
    return sync_api


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) while inside; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator:
    """Debian's Chromium, headless, with nothing of its own going to the network."""
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  *extra_args])
        try:
            yield browser
        finally:
            browser.close()


def is_local(url: str) -> bool:
    return url.startswith(LOCAL_SCHEMES) or urlparse(url).hostname == "127.0.0.1"


def open_offline(browser, url: str, problems: list[str], *, viewport=(1280, 900), javascript: bool = True,
                 allow_blocked: bool = False, wait_until: str = "load"):
    """Open ``url`` in a new context; returns ``(context, page)``; the caller closes the context.

    Every request that would leave the machine is aborted.  Recorded in ``problems``: such
    a request (unless ``allow_blocked``, for pages that are expected to try one), a console
    error, a JavaScript error, a failed local request and an HTTP error status.
    """
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  java_script_enabled=javascript)

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:
            if not allow_blocked:
                problems.append(f"request leaving the machine (blocked): {r.request.url}")
            r.abort()

    def console(m):
        if m.type == "error" and not (allow_blocked and m.text.startswith("Failed to load resource")):
            problems.append(f"console error: {m.text}")

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))

    def failed(r):
        # with JavaScript off, Chromium refuses every script (reported as "csp"): that is the point
        if is_local(r.url) and not r.url.startswith("data:") and (javascript or r.resource_type != "script"):
            problems.append(f"failed request: {r.url} ({r.failure})")

    page.on("requestfailed", failed)
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(url, wait_until=wait_until)
    return context, page
