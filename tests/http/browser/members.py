"""What members do in the browser tests, again and again: sign up and in, start a
polycule together, and notice whether a page changed without being loaded again."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.http.browser.conftest import Visits, member_context

PASSWORD = "a long and gentle passphrase"


def at(path: str) -> re.Pattern[str]:
    """An address whose path (not its query) is ``path``, a regular expression."""
    return re.compile(rf"^https?://[^/?]+{path}(\?.*)?$")


async def sign_up_and_in(page: Page, visits: Visits, handle: str, name: str) -> None:
    await page.goto("/sign-up")
    await visits.check(page)
    await page.get_by_label("Handle").fill(handle)
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Make my account").click()
    await page.wait_for_url(re.compile(r"/sign-in\?welcome=1"))
    await visits.check(page)
    await page.get_by_label("Your handle").fill(handle)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(at("/polycules"))
    await visits.check(page)


async def stays_without_reload(page: Page) -> None:
    """Mark the page's window: the mark is gone if the page is loaded again."""
    await page.evaluate("window.stayedWithoutReload = true")


async def has_not_reloaded(page: Page) -> bool:
    return bool(await page.evaluate("window.stayedWithoutReload === true"))


async def listening(page: Page) -> None:
    """Wait until the page follows the live stream."""
    await expect(page.locator("body[data-live-connected]")).to_have_count(1)


async def polycule_together(founder: Page, joiner: Page, visits: Visits, name: str) -> str:
    """``founder`` starts a polycule and invites ``joiner`` by link, who joins: its home."""
    await founder.goto("/polycules")
    await founder.get_by_label("What you call your polycule").fill(name)
    await founder.get_by_role("button", name="Start it").click()
    await founder.wait_for_url(at("/polycules/[0-9a-f-]{36}"))
    home = founder.url
    await visits.check(founder)
    await founder.get_by_role("button", name="Make an invitation link").click()
    await expect(founder.get_by_role("heading", name="Your invitation link")).to_be_visible()
    await visits.check(founder)
    link = await founder.get_by_label("Invitation link").input_value()
    await joiner.goto(link)
    await visits.check(joiner)
    await joiner.get_by_role("button", name="Join").click()
    await joiner.wait_for_url(home)
    await expect(joiner.get_by_role("heading", name=name)).to_be_visible()
    return home


async def two_in_a_polycule(
    browser: Browser, server: TestServer, visits: Visits,
    first: tuple[str, str], second: tuple[str, str], name: str,
) -> tuple[Page, Page, str]:
    """Two people (handle, name), each in a browser of their own, signed up and in, and
    together in the polycule ``name`` that ``first`` started: their pages, and its home."""
    founder = await member_context(browser, server, visits)
    joiner = await member_context(browser, server, visits)
    await sign_up_and_in(founder, visits, *first)
    await sign_up_and_in(joiner, visits, *second)
    return founder, joiner, await polycule_together(founder, joiner, visits, name)
