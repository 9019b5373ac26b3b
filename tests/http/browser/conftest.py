"""Real headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright against the
real service listening on a local port, each member in a browser context of their own.

Every page a test opens is checked with axe-core (no serious or critical violation may
remain), and screenshots of the main pages at phone and desktop widths are written to
``screenshots/`` at the top of the repository (``LEDGER_SCREENSHOTS`` to change it).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    async_playwright,
)
from pytest_aiohttp import AiohttpServer

CHROMIUM = Path(os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium"))
# As root, in a sandbox without a network beyond this machine: no sandbox, and none of the
# background connections Chromium makes to Google's services.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("LEDGER_SCREENSHOTS", Path(__file__).resolve().parents[3] / "screenshots")
)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SEVERE = {"serious", "critical"}
# What varies between two visits of the same page: ids, and invitation tokens.
_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[A-Za-z0-9_-]{20,}[.][A-Za-z0-9_.-]+"
)


@pytest.fixture
async def server(app: web.Application, aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(app)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once, before the browser starts)
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium; "
            ".ci/run does) or set LEDGER_CHROMIUM"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        yield launched
        await launched.close()


class Visits:
    """Every page the browsers opened, which of them axe-core has checked, and anything
    the browser refused (Content-Security-Policy) or any script error along the way."""

    def __init__(self) -> None:
        self.opened: set[str] = set()
        self.checked: set[str] = set()
        self.troubles: list[str] = []
        self.axe = Axe()

    def follow(self, page: Page) -> None:
        def opened(frame: Any) -> None:
            if frame == page.main_frame:
                self.opened.add(page_kind(frame.url))

        def said(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                self.troubles.append(f"{page.url}: {message.text}")

        def failed(error: Error) -> None:
            self.troubles.append(f"{page.url}: script error: {error}")

        page.on("framenavigated", opened)
        page.on("console", said)
        page.on("pageerror", failed)

    async def check(self, page: Page) -> None:
        """No serious or critical accessibility violation on the page as it is now."""
        results = await self.axe.run(page)
        severe = [
            f"{violation['id']} ({violation['impact']}): {violation['help']} — "
            + "; ".join(node["target"][0] for node in violation["nodes"][:3])
            for violation in results.response["violations"]
            if violation["impact"] in SEVERE
        ]
        assert not severe, f"{page.url}:\n" + "\n".join(severe)
        self.checked.add(page_kind(page.url))

    def assert_all_checked(self) -> None:
        assert not self.troubles, "\n".join(self.troubles)
        assert self.opened, "the test opened no page"
        unchecked = self.opened - self.checked
        assert not unchecked, f"opened but never checked: {unchecked}"


def page_kind(url: str) -> str:
    """A page's address without its ids and query: which page it is, not which thing."""
    path = re.sub(r"^https?://[^/]+", "", url).split("?")[0]
    return _ID.sub("{id}", path)


@pytest.fixture
def visits() -> Visits:
    return Visits()


async def member_context(browser: Browser, server: TestServer, visits: Visits) -> Page:
    context: BrowserContext = await browser.new_context(
        base_url=str(server.make_url("/")), viewport=PHONE
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    visits.follow(page)
    return page


async def screenshot(page: Page, name: str) -> None:
    """The page as it is now, at a phone's width and a desktop's."""
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    for width_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(viewport)
        await page.screenshot(path=SCREENSHOTS / f"{name}-{width_name}.png", full_page=True)
    await page.set_viewport_size(PHONE)
