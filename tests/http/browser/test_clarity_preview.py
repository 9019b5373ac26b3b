"""The clarity check while typing highlights exactly what the ledger flags: every fuzzy word
as the draft writes it, inflections included ("partners" for "partner"), and nothing
else."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from tests.http.browser.conftest import Visits
from tests.http.browser.members import two_in_a_polycule


async def test_the_preview_marks_every_form_the_check_flags(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    sam, _noor, home = await two_in_a_polycule(
        browser, server, visits, ("sam", "Sam"), ("noor", "Noor"), "Linden Street"
    )

    await sam.goto(home)
    await sam.get_by_role("link", name="Propose an agreement").click()
    await sam.get_by_label("A short title").fill("Evenings")
    await sam.get_by_label("The agreement, in plain words").fill(
        "No sleepovers with new partners. We kissed once: we tell each other soon, "
        "and we never cheat. The partnership comes first."
    )

    marks = sam.locator("#clarity-preview mark")
    await expect(marks).to_have_text(
        ["sleepovers", "partners", "kissed", "tell", "soon", "never", "cheat"]
    )
    for word in ("sleepover", "partner", "kiss", "tell", "soon", "never", "cheating"):
        await expect(sam.get_by_label(f"What you mean by “{word}”")).to_be_visible()
    # A screen reader hears a short count of the words, not the draft read out again.
    await expect(sam.locator("#clarity-preview")).not_to_have_attribute("aria-live", "polite")
    summary = sam.locator("#clarity-summary")
    await expect(summary).to_have_attribute("aria-live", "polite")
    await expect(summary).to_have_text(
        "7 words can mean different things: "
        "partner, tell, sleepover, kiss, cheating, soon, never."
    )
    await visits.check(sam)
