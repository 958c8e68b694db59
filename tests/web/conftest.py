"""Browser fixtures: Debian's Chromium driven by Playwright (never ``playwright install``).

The browser is launched once per session with a fake camera and microphone; every test
gets fresh, isolated contexts (one per person: a candidate, an HR user). Pages load from
the session hub at http://127.0.0.1:<port>, so their Origin is the hub's own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import Hub

# expect() waits for a state, by default only 5 s: a loaded 2-core machine running four
# workers can take longer to get there, and a state that never comes still fails the test
expect.set_options(timeout=60_000)

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = os.environ.get("INTERVIEW_HUB_SCREENSHOTS", "")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    reason = "Debian's chromium is not installed: apt-get install -y chromium (.ci/run does it)"
    if os.environ.get("CI"):
        pytest.fail(reason)  # in CI a missing browser must not pass as skipped tests
    pytest.skip(reason)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_FLAGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def new_context(browser: Browser, hub: Hub) -> AsyncIterator[Any]:
    """Make isolated browser contexts (one per person); all closed after the test."""
    contexts: list[BrowserContext] = []

    async def make(
        locale: str = "en-US", viewport: dict[str, int] | None = None, **kw: Any
    ) -> BrowserContext:
        context = await browser.new_context(
            base_url=kw.pop("base_url", hub.http),
            locale=locale,
            viewport=viewport or DESKTOP,
            permissions=kw.pop("permissions", ["camera", "microphone"]),
            **kw,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


async def new_page(context: BrowserContext) -> Page:
    """A page whose console errors and uncaught exceptions fail the test at the end."""
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def no_js_errors(page: Page, allowed: tuple[str, ...] = ()) -> None:
    """Fail on any script error except the expected ones (e.g. a refused request's 4xx)."""
    errors = [e for e in page.js_errors if not any(a in e for a in allowed)]  # type: ignore[attr-defined]
    assert not errors, errors


async def screenshot(page: Page, name: str) -> None:
    """Save a screenshot to $INTERVIEW_HUB_SCREENSHOTS (docs/screenshots) when it is set."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=False)
