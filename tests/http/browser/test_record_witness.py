"""In real Chromium: the record page remembers the signed checkpoint it verified, co-signs
it with a key that never leaves the browser once the member asks, and, after history was
rewritten under the service, says so plainly with the evidence ready to download (the
polycule's home and its other pages say so too, having checked in the background). Each
state of the page is checked for accessibility; the warning is photographed."""

from __future__ import annotations

import json
import uuid

import asyncpg
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.attacks import drop_last_events, rewrite_last_event
from tests.http.browser.conftest import Visits, screenshot
from tests.http.browser.members import two_in_a_polycule


async def open_record(page: Page, visits: Visits, home: str, state: str) -> None:
    await page.goto(f"{home}/audit")
    await expect(page.locator(f'[data-witness][data-witness-state="{state}"]')).to_have_count(1)
    await visits.check(page)


async def test_the_record_page_holds_the_service_to_what_it_showed_before(
    browser: Browser, server: TestServer, visits: Visits, pool: asyncpg.Pool
) -> None:
    alex, blair, home = await two_in_a_polycule(
        browser, server, visits, ("alex", "Alex"), ("blair", "Blair"), "Witness House"
    )
    polycule = uuid.UUID(home.rstrip("/").rsplit("/", 1)[1])

    await open_record(blair, visits, home, "holds")
    status = blair.locator("[data-witness-status]")
    # Its home, where Blair landed on joining, has checked and kept it already.
    await expect(status).to_contain_text("Your browser checked")
    await blair.get_by_role("button", name="Co-sign it with this browser").click()
    await expect(blair.locator('[data-witness-cosigned="yes"]')).to_have_count(1)
    checkpoint = await blair.evaluate(
        "fetch(location.pathname.replace('/polycules/', '/api/polycules/')"
        ".replace('/audit', '/checkpoint')).then((r) => r.json())"
    )
    [witness] = checkpoint["cosignatures"]
    assert witness["member_id"] is not None
    # The browser's private key is not extractable: only the page's own key object.
    assert await blair.evaluate(
        "new Promise((done) => { const o = indexedDB.open('ledger-witness', 1);"
        " o.onsuccess = () => { const g = o.result.transaction('device').objectStore('device')"
        ".getAll(); g.onsuccess = () => done(g.result.every((d) => !d.privateKey.extractable"
        " && d.privateKey.type === 'private')); }; })"
    )

    # More history, seen by Alex: Blair's next visit proves the old checkpoint a prefix.
    await alex.goto(home)
    await alex.get_by_role("button", name="Make an invitation link").click()
    await open_record(blair, visits, home, "holds")
    await expect(status).to_contain_text("are still the start of the record")
    await expect(blair.locator("[data-witness-warning]")).to_be_hidden()

    # Someone with the database owner's rights rewrites the last event, consistently.
    await rewrite_last_event(pool, polycule)

    # Any page of the polycule checks in the background; the home says so, plainly.
    await blair.goto(home)
    await expect(blair.locator('[data-witness][data-witness-state="broken"]')).to_have_count(1)
    await expect(blair.get_by_role("alert")).to_contain_text("not what it was")
    await visits.check(blair)
    # So does every other page of it, the disclosures' for one.
    await blair.goto(f"{home}/disclosures")
    await expect(blair.locator('[data-witness][data-witness-state="broken"]')).to_have_count(1)
    await expect(blair.get_by_role("alert")).to_contain_text("not what it was")
    await visits.check(blair)
    await blair.get_by_role("link", name="See the record").click()
    await expect(blair.locator('[data-witness][data-witness-state="broken"]')).to_have_count(1)
    await visits.check(blair)
    await open_record(blair, visits, home, "broken")
    alarm = blair.get_by_role("alert")
    await expect(alarm).to_contain_text("the record is not what it was when you last saw it")
    await expect(alarm).to_contain_text("no longer the start of the record")
    # The chain on its own is fooled; the member's browser is not.
    await expect(blair.locator("#verification-region")).to_contain_text("The record is intact")
    async with blair.expect_download() as kept_download:
        await alarm.get_by_role("link", name="The signed checkpoint your browser kept").click()
    kept = json.loads(
        (await (await kept_download.value).path()).read_text()
    )
    assert kept["signed_text"].startswith("polycule-ledger-checkpoint/v1\n")
    async with blair.expect_download() as failed_download:
        await alarm.get_by_role("link", name="the failed proof").click()
    failed = json.loads((await (await failed_download.value).path()).read_text())
    assert failed["checkpoint"]["tree_size"] == kept["tree_size"]
    assert failed["checkpoint"]["root_hash"] != kept["root_hash"]
    await screenshot(blair, "record-rewritten")

    # The warning stays: the browser never trades what it kept for the rewritten record.
    await open_record(blair, visits, home, "broken")
    visits.assert_all_checked()


async def test_the_record_page_notices_entries_taken_out(
    browser: Browser, server: TestServer, visits: Visits, pool: asyncpg.Pool
) -> None:
    ari, _bea, home = await two_in_a_polycule(
        browser, server, visits, ("ari", "Ari"), ("bea", "Bea"), "Shortened House"
    )
    await open_record(ari, visits, home, "holds")

    await drop_last_events(pool, uuid.UUID(home.rstrip("/").rsplit("/", 1)[1]), 1)

    await open_record(ari, visits, home, "broken")
    await expect(ari.get_by_role("alert")).to_contain_text("entries were taken out")
    visits.assert_all_checked()


async def test_a_checkpoint_not_signed_by_the_service_is_refused(
    browser: Browser, server: TestServer, visits: Visits
) -> None:
    cleo, _dana, home = await two_in_a_polycule(
        browser, server, visits, ("cleo", "Cleo"), ("dana", "Dana"), "Forged House"
    )
    await open_record(cleo, visits, home, "holds")
    # A checkpoint that claims a longer history than the service ever signed.
    await cleo.evaluate(
        "(() => { const key = Object.keys(localStorage).find((k) => k.startsWith("
        "'ledger-checkpoint:')); const kept = JSON.parse(localStorage.getItem(key));"
        " kept.tree_size += 1; kept.signed_text = kept.signed_text.replace("
        "`\\n${kept.tree_size - 1}\\n`, `\\n${kept.tree_size}\\n`);"
        " localStorage.setItem(key, JSON.stringify(kept)); })()"
    )

    await open_record(cleo, visits, home, "broken")
    await expect(cleo.get_by_role("alert")).to_contain_text(
        "no longer verifies with the service's published keys"
    )
    visits.assert_all_checked()
