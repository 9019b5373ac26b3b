"""In real browsers: an agreement revoked is listed under the home's past agreements; a
repair's page shows its steps done and not yet, offers taking responsibility only once it
is acknowledged, and asks before closing; a supporter comes back to the repair from their
own pages. Every page is checked for accessibility, and the home and the repair are
photographed at both widths."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.http.browser.conftest import Visits, member_context, screenshot
from tests.http.browser.members import at, polycule_together, sign_up_and_in, two_in_a_polycule


async def agreed(proposer: Page, other: Page, visits: Visits, home: str, title: str,
                 other_name: str) -> str:
    """``proposer`` proposes an agreement with ``other``, who says yes: its page."""
    await proposer.goto(home)
    await proposer.get_by_role("link", name="Propose an agreement").click()
    await proposer.get_by_label(other_name).check()
    await proposer.get_by_label("A short title").fill(title)
    await proposer.get_by_label("The agreement, in plain words").fill(
        "We have tea together on Sunday afternoons."
    )
    await visits.check(proposer)
    await proposer.get_by_role("button", name="Propose it").click()
    await proposer.wait_for_url(at("/polycules/[0-9a-f-]{36}/proposals/[0-9a-f-]{36}"))
    await visits.check(proposer)
    await other.goto(proposer.url)
    await visits.check(other)
    await other.get_by_role("button", name="Yes, I agree to this").click()
    await expect(other.locator("#proposal-status")).to_contain_text("in force")
    await other.goto(home)
    await other.locator("#agreements-region").get_by_role("link", name=title).click()
    await other.wait_for_url(at("/polycules/[0-9a-f-]{36}/agreements/[0-9a-f-]{36}"))
    await visits.check(other)
    return other.url


async def test_an_agreement_revoked_is_listed_under_past_agreements(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    alex, blair, home = await two_in_a_polycule(
        browser, server, visits, ("alex", "Alex"), ("blair", "Blair"), "Maple House"
    )
    agreement = await agreed(alex, blair, visits, home, "Sunday tea", "Blair")

    # Blair withdraws their yes, on the agreement's page.
    await blair.get_by_text("Withdraw my consent", exact=True).click()
    await blair.get_by_label("Anything you want to say with it").fill("Sundays changed for me.")
    await blair.get_by_role("button", name="Withdraw my consent and end it").click()
    await expect(blair.locator("main")).to_contain_text("withdrew your consent")

    await alex.goto(home)
    in_force = alex.locator("#agreements-region")
    await expect(in_force).to_contain_text("None is in force now")
    await expect(in_force).not_to_contain_text("Sunday tea")
    await expect(in_force).not_to_contain_text("No agreements are in force yet")
    past = alex.locator("#past-region")
    await expect(past.get_by_role("heading", name="Past agreements")).to_be_visible()
    await expect(past).to_contain_text("Blair withdrew their yes on")
    await visits.check(alex)
    await screenshot(alex, "polycule-home-with-past-agreements")
    await past.get_by_role("link", name="Sunday tea").click()
    await alex.wait_for_url(agreement)
    await visits.check(alex)

    visits.assert_all_checked()


async def test_a_repair_guides_and_a_supporter_finds_their_way_back(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    alex = await member_context(browser, server, visits)
    blair = await member_context(browser, server, visits)
    coach = await member_context(browser, server, visits)
    await sign_up_and_in(alex, visits, "alex", "Alex")
    await sign_up_and_in(blair, visits, "blair", "Blair")
    await sign_up_and_in(coach, visits, "dana", "Dana")
    home = await polycule_together(alex, blair, visits, "Maple House")
    await agreed(alex, blair, visits, home, "Sunday tea", "Blair")

    # Blair tells of a breach by Alex.
    await blair.goto(f"{home}/breaches")
    await visits.check(blair)
    await blair.get_by_label("Which agreement").select_option(label="Sunday tea")
    await blair.get_by_label("Alex").check()
    await blair.get_by_label("What happened, in your words").fill("You skipped tea twice.")
    await blair.get_by_role("button", name="Tell them").click()
    await blair.wait_for_url(at("/polycules/[0-9a-f-]{36}/breaches/[0-9a-f-]{36}"))
    breach = blair.url
    await visits.check(blair)

    # Alex sees the words that were crossed beside Blair's account, and the path, all of
    # it not yet; responsibility and apology wait for Alex to acknowledge it.
    await alex.goto(breach)
    crossed = alex.locator("aside.crossed")
    await expect(crossed).to_contain_text("We have tea together on Sunday afternoons.")
    path = alex.locator("ol.path-steps")
    responsibility = path.locator("li", has_text="Taking responsibility")
    await expect(responsibility).to_contain_text("not yet")
    await expect(alex.locator("summary", has_text="Take responsibility")).to_have_count(0)
    await expect(alex.locator("#acknowledge-first")).to_be_visible()
    await visits.check(alex)
    await alex.get_by_role("button", name="Acknowledge it").click()
    await expect(alex.locator("main")).to_contain_text("You acknowledged it")
    await alex.locator("summary", has_text="Take responsibility").click()
    await alex.get_by_label("What you did, and that it was yours to do").fill(
        "I skipped our tea without a word. That was mine."
    )
    await alex.get_by_role("button", name="Take responsibility").click()
    await expect(responsibility).to_contain_text("done")
    await expect(path.locator("li", has_text="Saying how they see it")).to_contain_text("done")
    await expect(path.locator("li", has_text="Apologising")).to_contain_text("not yet")
    await visits.check(alex)
    await screenshot(alex, "repair-steps")

    # Blair invites a supporter; Dana accepts and reads the repair.
    await blair.reload()
    await blair.locator("summary", has_text="Invite a supporter").click()
    await blair.get_by_role("button", name="Make a supporter's link").click()
    link = await blair.get_by_label("Supporter's link").input_value()
    await visits.check(blair)
    await coach.goto(link)
    await visits.check(coach)
    await coach.get_by_role("button", name="Accept and read the repair").click()
    await coach.wait_for_url(breach)
    await visits.check(coach)

    # Later, Dana comes back from their own pages: "My polycules", then the repair.
    await coach.goto("/polycules")
    supported = coach.get_by_role("region", name="Repairs you support")
    await expect(supported).to_contain_text("The repair between Alex and Blair")
    await visits.check(coach)
    await screenshot(coach, "repairs-you-support")
    await supported.get_by_role("link", name="all the repairs you support").click()
    await coach.wait_for_url(at("/supporting"))
    await visits.check(coach)
    await coach.get_by_role("link", name="The repair between Alex and Blair").click()
    await coach.wait_for_url(breach)
    await expect(coach.locator("main")).to_contain_text("I skipped our tea without a word.")
    await coach.get_by_role("link", name="Repairs you support").click()
    await coach.wait_for_url(at("/supporting"))

    # Closing as ended stands apart, and asks first: unticked, nothing is sent.
    await alex.locator("summary", has_text="Close this repair as ended").click()
    close = alex.get_by_role("button", name="Yes, close it as ended")
    await close.click()
    await expect(alex.locator("#end-confirm:invalid")).to_have_count(1)
    await expect(alex.locator("main")).not_to_contain_text("closed as ended on")
    await alex.get_by_label("I understand that nothing more can be added").check()
    await close.click()
    await expect(alex.locator("main")).to_contain_text("closed as ended on")
    await visits.check(alex)

    visits.assert_all_checked()
