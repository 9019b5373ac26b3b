"""A proposal as a conversation, in two browsers: a question asked and read live by the
other member; a no, then the proposal reworded and asked again, with a deadline, and
answered from a page that shows what changed since, until it is in force; an amendment
answered from a page that shows what it changes. After each
action the page says it went through, and the focus is on those words. Every page is
checked for accessibility."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.http.browser.conftest import Visits, screenshot
from tests.http.browser.members import (
    at,
    has_not_reloaded,
    listening,
    stays_without_reload,
    two_in_a_polycule,
)

PROPOSAL_PAGE = "/polycules/[0-9a-f-]{36}/proposals/[0-9a-f-]{36}"
QUESTION = "Do late breakfasts count as Sunday mornings?"


async def confirmed(page: Page, words: str) -> None:
    """The page says the action went through, and the focus is on what it says."""
    confirmation = page.locator("#confirmation")
    await expect(confirmation).to_contain_text(words)
    await expect(confirmation).to_be_focused()


async def test_a_question_a_no_and_a_proposal_asked_again_until_it_holds(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    alex, blair, home = await two_in_a_polycule(
        browser, server, visits, ("alex", "Alex"), ("blair", "Blair"), "Maple House"
    )

    # Alex proposes, with a deadline a week away in the browser's own time.
    await alex.goto(f"{home}/propose")
    await alex.get_by_label("Blair").check()
    await alex.get_by_label("A short title").fill("Sunday mornings")
    await alex.get_by_label("The agreement, in plain words").fill(
        "We keep Sunday mornings for the two of us."
    )
    in_a_week = datetime.now() + timedelta(days=7)  # the browser's time zone is this one's
    await alex.get_by_label("Answer by").fill(in_a_week.strftime("%Y-%m-%dT%H:%M"))
    await visits.check(alex)
    await alex.get_by_role("button", name="Propose it").click()
    await alex.wait_for_url(at(PROPOSAL_PAGE))
    first = alex.url.split("?")[0]
    await confirmed(alex, "Your proposal is made.")
    await expect(alex.locator("main")).to_contain_text(f"Please answer by {in_a_week.day} ")
    await visits.check(alex)
    await listening(alex)
    await stays_without_reload(alex)

    # Blair asks a question before answering; Alex's page shows it without a reload.
    await blair.goto(first)
    await blair.get_by_role("radio", name="a question").check()
    await blair.get_by_label("In your words").fill(QUESTION)
    await blair.get_by_role("button", name="Add it").click()
    await confirmed(blair, "Your words are added to the conversation below.")
    await expect(blair.locator(".conversation")).to_contain_text("You asked")
    await visits.check(blair)
    conversation = alex.locator(".conversation")
    await expect(conversation).to_contain_text("Blair asked, reading revision 1")
    await expect(conversation).to_contain_text(QUESTION)
    assert await has_not_reloaded(alex)
    await visits.check(alex)

    # Blair says no, with a reason.
    await blair.get_by_text("I can't agree to this as it is").click()
    await blair.get_by_label("What doesn't work for you").fill("I work every other Sunday.")
    await blair.get_by_role("button", name="Say no, for now").click()
    await confirmed(blair, "Your no is recorded")
    await visits.check(blair)

    # Alex rewords it and asks again; Blair says yes, and it holds.
    await expect(alex.locator("#proposal-status")).to_contain_text("Not agreed")
    await alex.get_by_role("link", name="Reword and ask again").click()
    await expect(alex.get_by_label("A short title")).to_have_value("Sunday mornings")
    await expect(alex.locator("#reword-none")).to_be_visible()
    await alex.get_by_label("The agreement, in plain words").fill(
        "We keep Sunday mornings for the two of us, when neither of us works."
    )
    # As Alex types, the form says what changed since the proposal that was not agreed.
    await expect(alex.locator("#reword-changes ins")).to_have_text(
        ["added: , when neither of us works"]
    )
    await expect(alex.locator("#reword-summary")).to_have_text(
        "Changed so far: 1 part added, 0 taken out."
    )
    await visits.check(alex)
    await alex.get_by_role("button", name="Propose it").click()
    await alex.wait_for_url(at(PROPOSAL_PAGE))
    again = alex.url.split("?")[0]
    assert again != first
    await confirmed(alex, "Your proposal is made.")

    await blair.goto(home)
    await blair.locator("section.awaiting").get_by_role("link", name="Sunday mornings").click()
    await blair.wait_for_url(again)
    answer = blair.locator("section.answer")
    await expect(answer.get_by_role(
        "heading", name="What changed since the proposal that was not agreed"
    )).to_be_visible()
    await expect(answer.locator(".changes ins")).to_contain_text(["when neither of us works"])
    await visits.check(blair)
    await screenshot(blair, "proposal-asked-again")
    await blair.get_by_role("button", name="Yes, I agree to this").click()
    await confirmed(blair, "Your yes is recorded. Everyone it concerns has said yes")
    await expect(blair.locator("#proposal-status")).to_contain_text("in force")
    await visits.check(blair)
    visits.assert_all_checked()


async def test_an_amendment_is_answered_from_a_page_that_shows_what_it_changes(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    alex, blair, home = await two_in_a_polycule(
        browser, server, visits, ("alex", "Alex"), ("blair", "Blair"), "Birch Court"
    )

    await alex.goto(f"{home}/propose")
    await alex.get_by_label("Blair").check()
    await alex.get_by_label("A short title").fill("Dishes")
    await alex.get_by_label("The agreement, in plain words").fill(
        "Whoever cooks does not wash up on weekdays."
    )
    await visits.check(alex)
    await alex.get_by_role("button", name="Propose it").click()
    await alex.wait_for_url(at(PROPOSAL_PAGE))
    await blair.goto(alex.url.split("?")[0])
    await blair.get_by_role("button", name="Yes, I agree to this").click()
    await confirmed(blair, "Your yes is recorded.")

    # Alex proposes a change to the agreement in force.
    await alex.goto(home)
    await alex.get_by_role("link", name="Dishes").click()
    await expect(alex.get_by_role("heading", name="Dishes", level=1)).to_be_visible()
    await visits.check(alex)
    await alex.get_by_role("link", name="Propose a change").click()
    await alex.get_by_label("The agreement, in plain words").fill(
        "Whoever cooks does not wash up on any day of the week."
    )
    await alex.get_by_role("button", name="Propose it").click()
    await alex.wait_for_url(at(PROPOSAL_PAGE))
    change = alex.url.split("?")[0]
    await alex.get_by_label("In your words").fill("Weekends are when we cook the most.")
    await alex.get_by_role("button", name="Add it").click()
    await confirmed(alex, "Your words are added")

    # Blair answers where the changed words are shown, and said as such to screen readers.
    await blair.goto(change)
    answer = blair.locator("section.answer")
    await expect(answer.get_by_role("heading", name="What it changes in version 1")).to_be_visible()
    await expect(answer.locator(".changes ins")).to_have_text(["added: any day of the week"])
    await expect(answer.locator(".changes del")).to_have_text(["removed: weekdays"])
    await expect(answer.locator(".changes ins .visually-hidden")).to_have_text(["added: "])
    await expect(blair.locator(".conversation")).to_contain_text("Weekends are when we cook")
    await visits.check(blair)
    await screenshot(blair, "proposal-with-changes-and-comments")
    await answer.get_by_role("button", name="Yes, I agree to this").click()
    await confirmed(blair, "Your yes is recorded. Everyone it concerns has said yes")
    await visits.check(blair)
    visits.assert_all_checked()
