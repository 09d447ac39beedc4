"""Launching Debian's Chromium for the console's tests: headless, sandbox off (we run as root), and every
background service off, because on these machines Chromium's own calls home are refused by the closed network."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium; Playwright starts it with a fresh, empty --user-data-dir of its own, deleted on close."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
