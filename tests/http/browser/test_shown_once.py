"""Secrets shown once, in a real browser: an invitation link, a supporter's link, an API
token and a webhook signing secret are each shown on a page reached by redirect, with a
Copy button, and reloading that page makes nothing new; an invitation revoked admits
nobody, and the page an invitation opens names who sent it and where to. Times are shown
as the reader's clock shows them, and a refusal is said beside the field it is about."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.http.browser.conftest import PHONE, Visits, screenshot
from tests.http.browser.members import PASSWORD, at, polycule_together, sign_up_and_in

READER_ZONE = "Asia/Tokyo"


async def in_tokyo(browser: Browser, server: TestServer, visits: Visits) -> Page:
    """A member whose browser lives in Tokyo."""
    context = await browser.new_context(
        base_url=str(server.make_url("/")), viewport=PHONE, timezone_id=READER_ZONE,
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    page.set_default_timeout(10_000)
    visits.follow(page)
    return page


async def api(page: Page, method: str, path: str, body: dict[str, Any]) -> Any:
    """The API, asked from the page's own session (its cookie and CSRF token)."""
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = await page.request.fetch(
        path, method=method, data=body if method != "GET" else None,
        headers={"X-CSRF-Token": token or ""},
    )
    assert response.ok, await response.text()
    return await response.json()


async def shown_once_and_reloaded(page: Page, visits: Visits, heading: str) -> str:
    """On the page a form's redirect led to: the secret, copied; then the same page
    reloaded, which shows nothing."""
    await page.wait_for_url(at("/shown/[0-9a-f-]{36}"))
    await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    secret = await page.locator("#shown").input_value()
    await page.get_by_role("button", name="Copy it").click()
    await expect(page.locator("#shown-copied")).to_contain_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await visits.check(page)
    await page.reload()
    await expect(page.get_by_role("heading", name="This was shown once")).to_be_visible()
    assert secret not in await page.content()
    await visits.check(page)
    return secret


async def test_a_reload_of_a_page_showing_a_secret_once_makes_nothing(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    robin = await in_tokyo(browser, server, visits)
    sky = await in_tokyo(browser, server, visits)
    kit = await in_tokyo(browser, server, visits)
    for page, handle in ((robin, "robin"), (sky, "sky"), (kit, "kit")):
        await sign_up_and_in(page, visits, handle, handle.capitalize())
    home = await polycule_together(robin, sky, visits, "Harbour Lane")

    # An invitation: made from the page of those not yet used, shown once, then listed.
    await robin.goto(f"{home}/invitations")
    await expect(robin.locator("main")).to_contain_text("There are none")
    await visits.check(robin)
    await robin.get_by_role("button", name="Make an invitation link").click()
    await screenshot(robin, "invitation-shown-once")
    link = await shown_once_and_reloaded(robin, visits, "Your invitation link")
    await robin.goto(f"{home}/invitations")
    made = robin.locator("main li.card")
    await expect(made).to_have_count(1)
    await expect(made).to_contain_text("Made by you on")
    await expect(made).to_contain_text("JST")  # the reader's own clock
    await visits.check(robin)
    await screenshot(robin, "invitations")

    # The link names who sent it and where to; revoked, it admits nobody.
    await kit.goto(link)
    invited = kit.get_by_role("heading", name="Robin invites you to Harbour Lane")
    await expect(invited).to_be_visible()
    await visits.check(kit)
    await robin.get_by_role("button", name="Revoke").click()
    await expect(robin.locator("main")).to_contain_text("There are none")
    await kit.reload()
    revoked = kit.get_by_role("heading", name="This invitation can no longer be used")
    await expect(revoked).to_be_visible()
    await expect(kit.get_by_role("button", name="Join")).to_have_count(0)
    await visits.check(kit)

    # An API token.
    await robin.goto("/account")
    await expect(robin.locator("main")).to_contain_text(f"in {READER_ZONE}")
    await visits.check(robin)
    await robin.get_by_label("What it is for").fill("calendar bot")
    await robin.get_by_label("Your password (again").fill(PASSWORD)
    await robin.get_by_role("button", name="Make a token").click()
    await shown_once_and_reloaded(robin, visits, "Your new API token")
    tokens = await api(robin, "GET", "/api/tokens", {})
    assert [token["name"] for token in tokens["tokens"]] == ["calendar bot"]

    # A webhook endpoint's signing secret.
    await robin.goto("/account/webhooks")
    await visits.check(robin)
    await robin.get_by_label("Its address").fill("https://hooks.example/ledger")
    await robin.get_by_role("button", name="Add the endpoint").click()
    assert (await shown_once_and_reloaded(
        robin, visits, "Your endpoint's signing secret"
    )).startswith("whsec_")
    assert len(await api(robin, "GET", "/api/webhooks/endpoints", {})) == 1

    # A supporter's link, from the repair of a breach Sky tells of.
    polycule = home.rsplit("/", 1)[-1]
    proposal = await api(robin, "POST", f"/api/polycules/{polycule}/proposals", {
        "kind": "create", "title": "Calls", "terms": "We call on Sundays.",
        "parties": [await account_of(robin), await account_of(sky)],
    })
    await api(sky, "POST", f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}"
                           "/consent", {"revision": 1})
    await sky.goto(f"{home}/breaches")
    await sky.get_by_label("Which agreement").select_option(label="Calls")
    await sky.get_by_label("Robin").check()
    await sky.get_by_label("What happened, in your words").fill("No call on Sunday.")
    await visits.check(sky)
    await sky.get_by_role("button", name="Tell them").click()
    await sky.wait_for_url(at("/polycules/[0-9a-f-]{36}/breaches/[0-9a-f-]{36}"))
    breach = sky.url
    await visits.check(sky)
    await sky.get_by_text("Invite a supporter").click()
    await sky.get_by_role("button", name="Make a supporter's link").click()
    await shown_once_and_reloaded(sky, visits, "Your supporter's link")
    await sky.goto(breach)
    await expect(sky.locator("main")).to_contain_text("invited a supporter")
    assert (await sky.locator("main").inner_text()).count("invited a supporter") == 1

    visits.assert_all_checked()


async def account_of(page: Page) -> str:
    session = await api(page, "GET", "/api/session", {})
    return str(session["account"]["id"])


async def test_a_refusal_is_said_beside_the_field_it_is_about(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    robin = await in_tokyo(browser, server, visits)
    await sign_up_and_in(robin, visits, "robin", "Robin")
    await robin.goto("/account")
    await robin.get_by_label("Your password now").fill(PASSWORD)
    new_password = robin.get_by_label("Your new password")
    await new_password.fill("password1234")
    await robin.get_by_role("button", name="Change my password").click()

    await expect(new_password).to_have_attribute("aria-invalid", "true")
    said = robin.locator(".field-error")
    await expect(said).to_have_count(1)
    described_by = await new_password.get_attribute("aria-describedby") or ""
    assert await said.get_attribute("id") in described_by.split()
    await expect(robin.locator(".form-error:not([hidden])")).to_contain_text(
        "Some of this needs another look"
    )
    assert "expected shape" not in await robin.locator("main").inner_text()
    assert await new_password.input_value() == "password1234"  # the words stay
    await visits.check(robin)
    await screenshot(robin, "refusal-beside-its-field")
    visits.assert_all_checked()
