"""The web client by keyboard alone: a member signs up, signs in and starts a polycule
without a pointer, and whatever has the focus shows it."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.http.browser.conftest import Visits, member_context
from tests.http.browser.members import PASSWORD, at


async def focused_outline(page: Page) -> str:
    """The outline drawn around whatever has the focus now."""
    return str(await page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return `${s.outlineStyle} ${s.outlineWidth}`; }"
    ))


async def tab_to(page: Page, name: str) -> None:
    """Press Tab until the control named ``name`` has the focus (at most 30 times)."""
    for _ in range(30):
        await page.keyboard.press("Tab")
        label = await page.evaluate(
            "() => { const e = document.activeElement;"
            " return (e.labels && e.labels[0] ? e.labels[0].innerText : e.innerText) || ''; }"
        )
        if label.strip().startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def type_into(page: Page, name: str, text: str) -> None:
    """Tab to the field labelled ``name`` and type ``text`` there."""
    await tab_to(page, name)
    await page.keyboard.type(text)


async def test_signing_up_in_and_starting_a_polycule_by_keyboard(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    page = await member_context(browser, server, visits)
    await page.goto("/sign-up")
    await visits.check(page)

    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == (
        "Skip to the page's content"
    )
    assert (await focused_outline(page)).startswith("solid")
    await type_into(page, "Handle", "kai")
    await type_into(page, "Your name", "Kai")
    await type_into(page, "Password", PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(at("/sign-in"))
    await visits.check(page)

    await type_into(page, "Your handle", "kai")
    await type_into(page, "Password", PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(at("/polycules"))
    await visits.check(page)

    await type_into(page, "What you call your polycule", "Quiet Street")
    await tab_to(page, "Start it")
    assert (await focused_outline(page)).startswith("solid")
    await page.keyboard.press("Enter")
    await page.wait_for_url(at("/polycules/[0-9a-f-]{36}"))
    await expect(page.get_by_role("heading", name="Quiet Street")).to_be_visible()
    await visits.check(page)

    visits.assert_all_checked()
