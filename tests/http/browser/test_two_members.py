"""Two members in two browsers: an agreement proposed, defined, seen live and consented to;
then a breach told, acknowledged, and a repair whose commitment is kept and whose trust
chart shows the check-ins — every page checked for accessibility and photographed."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.http.browser.conftest import Visits, member_context, screenshot
from tests.http.browser.members import (
    at,
    has_not_reloaded,
    listening,
    polycule_together,
    sign_up_and_in,
    stays_without_reload,
)


async def test_two_members_agree_live_then_repair(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    alex = await member_context(browser, server, visits)
    blair = await member_context(browser, server, visits)
    await sign_up_and_in(alex, visits, "alex", "Alex")
    await sign_up_and_in(blair, visits, "blair", "Blair")
    await screenshot(alex, "my-polycules")

    # Alex starts a polycule and invites Blair with a link shown once; Blair joins.
    home = await polycule_together(alex, blair, visits, "Maple House")
    await listening(blair)
    await stays_without_reload(blair)

    # Alex proposes; the clarity check flags "date" while typing, and Alex defines it.
    await alex.goto(home)
    await alex.get_by_role("link", name="Propose an agreement").click()
    await alex.get_by_label("Blair").check()
    await alex.get_by_label("A short title").fill("Evenings apart")
    await alex.get_by_label("The agreement, in plain words").fill(
        "When one of us has a date, we text the other once we are home."
    )
    date = alex.get_by_label("What you mean by “date”")
    await expect(date).to_be_visible()
    await expect(alex.locator("#clarity-preview mark", has_text="date")).to_be_visible()
    await date.fill("an evening out with someone new")
    await visits.check(alex)
    await screenshot(alex, "propose-with-clarity-check")
    await alex.get_by_role("button", name="Propose it").click()
    await alex.wait_for_url(at("/polycules/[0-9a-f-]{36}/proposals/[0-9a-f-]{36}"))
    await expect(alex.locator("#proposal-status")).to_contain_text("waiting for Blair")
    await visits.check(alex)
    await listening(alex)
    await stays_without_reload(alex)

    # Blair's page, open all along, shows the proposal awaiting them without a reload.
    awaiting = blair.locator("section.awaiting")
    await expect(awaiting).to_contain_text("Evenings apart")
    assert await has_not_reloaded(blair)
    await visits.check(blair)
    await screenshot(blair, "polycule-awaiting-you")

    # Blair reads it (the definition is there) and consents.
    await awaiting.get_by_role("link", name="Evenings apart").click()
    await expect(blair.locator("dl.definitions")).to_contain_text("an evening out with someone new")
    await visits.check(blair)
    await screenshot(blair, "proposal")
    await blair.get_by_role("button", name="Yes, I agree to this").click()
    await expect(blair.locator("#proposal-status")).to_contain_text("in force")

    # Alex's proposal page turns to "in force" by itself.
    await expect(alex.locator("#proposal-status")).to_contain_text("in force")
    assert await has_not_reloaded(alex)
    await visits.check(alex)
    await alex.goto(home)
    await expect(alex.locator("#agreements-region")).to_contain_text("Evenings apart")
    await visits.check(alex)
    await screenshot(alex, "polycule-home")
    await alex.get_by_role("link", name="Evenings apart").click()
    await expect(alex.get_by_role("heading", name="Evenings apart", level=1)).to_be_visible()
    await visits.check(alex)
    await screenshot(alex, "agreement")

    # Blair tells of a breach by Alex; Alex, on the polycule's repair page, acknowledges.
    await alex.goto(f"{home}/breaches")
    await visits.check(alex)
    await listening(alex)
    await stays_without_reload(alex)
    await blair.goto(f"{home}/breaches")
    await blair.get_by_label("Which agreement").select_option(label="Evenings apart")
    await blair.get_by_label("Alex").check()
    await blair.get_by_label("What happened, in your words").fill(
        "You went out on Friday and I did not hear from you until morning."
    )
    await visits.check(blair)
    await blair.get_by_role("button", name="Tell them").click()
    await blair.wait_for_url(at("/polycules/[0-9a-f-]{36}/breaches/[0-9a-f-]{36}"))
    breach = blair.url
    await visits.check(blair)
    await listening(blair)
    await stays_without_reload(blair)

    told = alex.locator("#breaches-region")
    await expect(told).to_contain_text("Evenings apart")
    assert await has_not_reloaded(alex)
    await told.get_by_role("link").first.click()
    await alex.wait_for_url(breach)
    await expect(alex.locator("main")).to_contain_text("did not hear from you until morning")
    await visits.check(alex)
    await alex.get_by_role("button", name="Acknowledge it").click()
    await expect(alex.locator("main")).to_contain_text("You acknowledged it")

    # Alex commits; Blair, whose page was open all along, marks it kept.
    await alex.get_by_text("Make a commitment", exact=True).click()
    await alex.get_by_label("What you will do").fill("Text Blair when I am home.")
    await alex.get_by_role("button", name="Make this commitment").click()
    mark = blair.get_by_role("button", name="It was kept")
    await expect(mark).to_be_visible()
    assert await has_not_reloaded(blair)
    await mark.click()

    # Both check in; the trust chart shows both check-ins.
    await expect(blair.locator(".commitment")).to_contain_text("✓ kept")
    await expect(blair.locator(".commitment .streak")).to_contain_text("current streak: 1 kept")
    await screenshot(blair, "repair-commitment-kept")
    await blair.get_by_text("Check in: how trust feels to you now").click()
    await blair.get_by_label("6", exact=True).check()
    await blair.get_by_role("button", name="Check in").click()
    await expect(blair.locator("[data-check-ins='1']")).to_have_count(1)
    await alex.reload()
    await alex.get_by_text("Check in: how trust feels to you now").click()
    await alex.get_by_label("4", exact=True).check()
    await alex.get_by_role("button", name="Check in").click()
    await expect(alex.locator("main")).to_contain_text("You checked in")
    chart = alex.locator("[data-check-ins]")
    await expect(chart).to_have_attribute("data-check-ins", "2")
    await expect(chart.locator(".check-in")).to_have_count(2)
    await visits.check(alex)
    await screenshot(alex, "repair-with-trust-chart")
    await expect(blair.locator("[data-check-ins='2']")).to_have_count(1)
    await visits.check(blair)

    visits.assert_all_checked()
