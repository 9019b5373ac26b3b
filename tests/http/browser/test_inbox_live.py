"""Three members in three browsers and the inbox: a breach told reaches, without a reload,
the inbox of the member it names (who is asked for their account) and of the one it harmed;
an agreement revoked reaches every other party's inbox, and the header's unread count on
any page follows along. An entry opened from the inbox is read; every page is checked for
accessibility, and the inbox photographed."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.http.browser.conftest import Visits, member_context, screenshot
from tests.http.browser.members import (
    at,
    has_not_reloaded,
    listening,
    polycule_together,
    sign_up_and_in,
    stays_without_reload,
)


async def api(page: Page, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The API, with the page's own session (its cookie and CSRF token), as its script would."""
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = await page.request.fetch(
        path, method=method, data=body, headers={"X-CSRF-Token": token or ""}
    )
    assert response.ok, await response.text()
    return await response.json()


async def joins(founder: Page, joiner: Page, visits: Visits, home: str) -> None:
    await founder.goto(home)
    await founder.get_by_role("button", name="Make an invitation link").click()
    link = await founder.get_by_label("Invitation link").input_value()
    await joiner.goto(link)
    await visits.check(joiner)
    await joiner.get_by_role("button", name="Join").click()
    await joiner.wait_for_url(home)


async def test_a_breach_told_and_an_agreement_revoked_reach_the_inbox_live(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    sky = await member_context(browser, server, visits)
    ash = await member_context(browser, server, visits)
    blue = await member_context(browser, server, visits)
    for page, handle, name in ((sky, "sky", "Sky"), (ash, "ash", "Ash"), (blue, "blue", "Blue")):
        await sign_up_and_in(page, visits, handle, name)
    home = await polycule_together(sky, ash, visits, "Sunday Pancakes")
    await joins(sky, blue, visits, home)
    polycule = home.rsplit("/", 1)[1]

    # An agreement between the three, in force.
    ids = {page: (await api(page, "GET", "/api/session"))["account"]["id"]
           for page in (sky, ash, blue)}
    proposal = await api(sky, "POST", f"/api/polycules/{polycule}/proposals", {
        "kind": "create", "title": "Pancakes first", "terms": "Sunday mornings are ours.",
        "parties": list(ids.values()),
    })
    for page in (ash, blue):
        await api(page, "POST", f"/api/polycules/{polycule}/proposals/"
                                f"{proposal['proposal_id']}/consent", {"revision": 1})

    # Ash and Blue wait on their inboxes.
    for page in (ash, blue):
        await page.goto("/inbox")
        await visits.check(page)
        await listening(page)
        await stays_without_reload(page)

    # Sky tells of a breach by Ash.
    await sky.goto(f"{home}/breaches")
    await visits.check(sky)
    await sky.get_by_label("Which agreement").select_option(label="Pancakes first")
    await sky.get_by_label("Ash").check()
    await sky.get_by_label("What happened, in your words").fill(
        "You slept in at someone else's and missed the pancakes without a word."
    )
    await sky.get_by_role("button", name="Tell them").click()
    await sky.wait_for_url(at("/polycules/[0-9a-f-]{36}/breaches/[0-9a-f-]{36}"))
    breach = sky.url
    await visits.check(sky)

    # Ash, named, is asked for their account; Blue, harmed, is told — both without a reload.
    told_ash = ash.locator("#inbox-region li.unread", has_text="Sky told of a crossed agreement")
    await expect(told_ash).to_contain_text("It names you as the one who crossed it.")
    await expect(told_ash.get_by_role("link", name="Add your account")).to_be_visible()
    # Two unread: the breach told, and a check-in asked of each participant of its repair.
    await expect(ash.locator("#inbox-count")).to_have_text("2 not read")
    assert await has_not_reloaded(ash)
    await visits.check(ash)
    await screenshot(ash, "inbox-breach-told")
    told_blue = blue.locator("#inbox-region li.unread", has_text="Sky told of a crossed agreement")
    await expect(told_blue).to_contain_text("You are among those it harmed.")
    await expect(told_blue.get_by_role("link", name="Add your account")).to_have_count(0)
    assert await has_not_reloaded(blue)
    await visits.check(blue)

    # Ash opens it: the breach's page, and the entry is read.
    opening = "Sky told of a crossed agreement: Pancakes first"
    await told_ash.get_by_role("link", name=opening).click()
    await ash.wait_for_url(breach)
    await visits.check(ash)
    await expect(ash.locator("#inbox-count")).to_have_text("1 not read")
    await ash.goto("/inbox")
    await expect(ash.locator("#inbox-region li", has_text="Sky told of")).to_have_count(1)
    await expect(ash.locator("#inbox-region li.unread", has_text="Sky told of")).to_have_count(0)
    await expect(ash.locator("#inbox-summary")).to_have_text("1 not read yet.")
    await visits.check(ash)

    # Ash waits on their account page (no stream of its own); Blue on the inbox. Sky
    # withdraws consent: the agreement ends, and both are told.
    await ash.goto("/account")
    await visits.check(ash)
    await expect(ash.locator("#inbox-count")).to_have_text("1 not read")
    await stays_without_reload(ash)
    await sky.goto(f"{home}/agreements/{proposal['agreement_id']}")
    await sky.get_by_text("Withdraw my consent", exact=True).click()
    await sky.get_by_role("button", name="Withdraw my consent and end it").click()
    await expect(sky.locator("main")).to_contain_text("withdrew")
    await visits.check(sky)

    ended = blue.locator("#inbox-region li.unread", has_text="Pancakes first ended")
    await expect(ended).to_contain_text("Sky ended it on")
    await expect(ended).to_contain_text("they took back their consent")
    await expect(blue.locator("#inbox-count")).to_have_text("3 not read")
    assert await has_not_reloaded(blue)
    await visits.check(blue)
    await screenshot(blue, "inbox-agreement-ended")
    await expect(ash.locator("#inbox-count")).to_have_text("2 not read")
    assert await has_not_reloaded(ash)
    await ash.goto("/inbox")
    await expect(
        ash.locator("#inbox-region li.unread", has_text="Pancakes first ended")
    ).to_contain_text("Sky ended it on")
    await visits.check(ash)

    # Blue marks everything read.
    await blue.get_by_role("button", name="Mark all read").click()
    await blue.wait_for_url(at("/inbox"))
    await expect(blue.locator("#inbox-region li.unread")).to_have_count(0)
    await expect(blue.locator("#inbox-count")).to_have_text("")
    await visits.check(blue)

    visits.assert_all_checked()
