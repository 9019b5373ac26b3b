"""The rest of the web client in a real browser: a disclosure whose audience is previewed
while choosing and which its reader acknowledges while the teller watches; the inbox that
fills by itself; the record, the account and its webhooks — each page checked for
accessibility and photographed at phone and desktop widths."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.http.browser.conftest import Visits, screenshot
from tests.http.browser.members import (
    at,
    has_not_reloaded,
    listening,
    stays_without_reload,
    two_in_a_polycule,
)


async def test_a_disclosure_the_inbox_the_record_and_the_account(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    robin, sky, home = await two_in_a_polycule(
        browser, server, visits, ("robin", "Robin"), ("sky", "Sky"), "Harbour Lane"
    )

    # Sky waits on the inbox, which has nothing for them yet.
    await sky.goto("/inbox")
    await visits.check(sky)
    await listening(sky)
    await stays_without_reload(sky)
    assert "Things you were told" not in await sky.locator("main").inner_text()

    # Robin chooses Sky: the preview names exactly who will read it, before sending.
    await robin.goto(f"{home}/disclosures")
    await robin.get_by_label("Only the people I choose here:").check()
    await robin.get_by_label("Sky").check()
    who = robin.locator("#who-will-see")
    await expect(who).to_contain_text("Robin (you)")
    await expect(who).to_contain_text("Sky")
    await robin.get_by_label("What it is about").select_option(label="Feelings")
    await robin.get_by_label("What you want to tell").fill(
        "I have started to have feelings for someone I met at the climbing wall."
    )
    await visits.check(robin)
    await screenshot(robin, "disclosure-with-audience-preview")
    await robin.get_by_role("button", name="Tell them").click()
    await robin.wait_for_url(at("/polycules/[0-9a-f-]{36}/disclosures/[0-9a-f-]{36}"))
    await expect(robin.locator("main")).to_contain_text("not yet acknowledged")
    await visits.check(robin)
    await listening(robin)
    await stays_without_reload(robin)

    # Sky's inbox shows it without a reload; Sky reads it and acknowledges it.
    told = sky.get_by_role("heading", name="Things you were told")
    await expect(told).to_be_visible()
    assert await has_not_reloaded(sky)
    await visits.check(sky)
    await screenshot(sky, "inbox")
    await sky.locator("#inbox-region").get_by_role("link", name="Feelings").click()
    await expect(sky.locator("main")).to_contain_text("climbing wall")
    await visits.check(sky)
    await sky.get_by_role("button", name="I have read this").click()
    await expect(sky.get_by_role("button", name="I have read this")).to_have_count(0)

    # Robin's page says so by itself.
    await expect(robin.locator("main")).to_contain_text("acknowledged it on")
    assert await has_not_reloaded(robin)
    await visits.check(robin)
    await screenshot(robin, "disclosure-acknowledged")

    # The record: intact, with its entries and the export to download.
    await robin.goto(home)
    await robin.get_by_role("link", name="Record").click()
    await expect(robin.locator("main")).to_contain_text("The record is intact")
    download = robin.get_by_role("link", name="Download the whole record")
    assert await download.get_attribute("href") == f"/api{urlsplit(home).path}/audit-export"
    await visits.check(robin)
    await screenshot(robin, "record")

    # The account, its tokens and its webhook endpoints, and what erasing would mean.
    await robin.get_by_role("link", name="Account").click()
    await expect(robin.get_by_role("heading", name="Your account")).to_be_visible()
    await visits.check(robin)
    await screenshot(robin, "account")
    await robin.goto("/account/webhooks")
    await visits.check(robin)
    await screenshot(robin, "webhooks")
    await robin.goto("/account/email")
    await expect(robin.get_by_role("heading", name="Mail notices")).to_be_visible()
    await visits.check(robin)
    await screenshot(robin, "mail-notices")
    # The pages a mail's links open show a button; opening them changes nothing.
    for link in ("/email/confirm/", "/unsubscribe/"):
        await robin.goto(link + "A" * 43)
        await expect(robin.get_by_role("button")).not_to_have_count(0)
        await visits.check(robin)
    await robin.goto("/account/erase")
    await visits.check(robin)
    await screenshot(robin, "erase-account")

    # Signing out leads back to the door.
    await robin.get_by_role("button", name="Sign out").click()
    await robin.wait_for_url(at("/sign-in"))
    await visits.check(robin)
    await screenshot(robin, "sign-in")

    visits.assert_all_checked()
