"""The inbox over HTTP against real PostgreSQL: what happened that concerns each member,
with who and why; read and unread, one entry or all; the unread count in every page's
header; a supporter's repairs; one's own commitments coming due."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.http.conftest import TravellingClock
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, submitted, text_of

NOTE = "Tuesdays stopped working for me since the new job"


async def agreement_of(polycule: str, proposer: Person, *others: Person) -> str:
    proposal = await proposer.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
        "kind": "create", "title": "Tuesday dinners", "terms": "Tuesdays are ours.",
        "parties": [str(p.account_id) for p in (proposer, *others)],
    })
    for other in others:
        await other.json("POST", f"/api/polycules/{polycule}/proposals/"
                                 f"{proposal['proposal_id']}/consent", json={"revision": 1})
    return str(proposal["agreement_id"])


async def entries(someone: Person, *kinds: str) -> list[dict[str, Any]]:
    shown = await someone.json("GET", "/api/me/inbox")
    return [entry for entry in shown["entries"] if not kinds or entry["kind"] in kinds]


async def test_a_breach_told_reaches_whom_it_names_and_harms_and_a_dispute_its_teller(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex, person(client, "kim") as kim:
        polycule = await polycule_of(robin, sam, alex, kim)
        agreement = await agreement_of(polycule, robin, sam, alex)
        clock.advance(hours=2)
        breach = await robin.json("POST", f"/api/polycules/{polycule}/breaches", 201, json={
            "agreement_id": agreement, "breached_by": str(sam.account_id),
            "happened_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "what_happened": "Tuesday went to someone else without a word.",
        })
        bid = breach["breach_id"]

        [named] = await entries(sam, "breach_told")
        assert (named["by"], named["why"], named["account_wanted"], named["breach_id"]) == (
            str(robin.account_id), "you_are_named", True, bid
        )
        assert named["link"] == f"/polycules/{polycule}/breaches/{bid}"
        assert named["title"] == "Tuesday dinners" and named["read"] is False
        [harmed] = await entries(alex, "breach_told")
        assert (harmed["why"], harmed["account_wanted"]) == ("you_are_harmed", False)
        assert await entries(robin, "breach_told") == [], "the teller is not told"
        assert await entries(kim) == [], "not shown to kim: nothing at all"
        sams_page = text_of(await page(sam, "/inbox"))
        assert "Robin told of a crossed agreement: Tuesday dinners" in sams_page
        assert "It names you as the one who crossed it." in sams_page
        assert "Add your account" in sams_page
        assert "Add your account" not in text_of(await page(alex, "/inbox"))

        # Shown to kim; disputed by sam: robin, who told it, hears of the dispute.
        await robin.json("POST", f"/api/polycules/{polycule}/breaches/{bid}/audience",
                         json={"members": [str(kim.account_id)]})
        assert [e["why"] for e in await entries(kim, "breach_told")] == ["shown_to_you"]
        await sam.json("POST", f"/api/polycules/{polycule}/breaches/{bid}/dispute",
                       json={"account": "We had agreed to swap that week."})
        [disputed] = await entries(robin, "report_disputed")
        assert (disputed["by"], disputed["why"]) == (str(sam.account_id), "you_told_it")
        assert "Sam disputed the breach you told" in text_of(await page(robin, "/inbox"))
        [named] = await entries(sam, "breach_told")
        assert named["account_wanted"] is False and named["how"] == "disputed"
        assert await entries(alex, "report_disputed") == []


async def test_an_ended_agreement_and_a_review_asked_for_tell_every_other_party(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex, person(client, "kim") as kim:
        polycule = await polycule_of(robin, sam, alex, kim)
        agreement = await agreement_of(polycule, robin, sam, alex)
        base = f"/api/polycules/{polycule}/agreements/{agreement}"

        await alex.json("POST", f"{base}/request-review", json={"note": NOTE})
        for party in (robin, sam):
            [asked] = await entries(party, "review_asked")
            assert (asked["by"], asked["note"]) == (str(alex.account_id), NOTE)
            assert NOTE in text_of(await page(party, "/inbox"))
        assert await entries(alex, "review_asked") == []
        # Kim, a member but no party, is told of neither the review nor the ending.
        assert await entries(kim) == []
        assert NOTE not in await page(kim, "/inbox")

        await sam.json("POST", f"{base}/revoke", json={})
        for party in (robin, alex):
            [ended] = await entries(party, "agreement_ended")
            assert (ended["by"], ended["how"], ended["why"]) == (
                str(sam.account_id), "revoked", "you_were_a_party"
            )
            assert ended["link"] == f"/polycules/{polycule}/agreements/{agreement}"
            words = text_of(await page(party, "/inbox"))
            assert "Tuesday dinners ended" in words
            assert "Sam ended it on" in words and "they took back their consent" in words
            assert await entries(party, "review_asked") == [], "no review of what ended"
        assert await entries(sam, "agreement_ended") == []
        assert await entries(kim) == []


async def test_entries_are_read_one_by_one_or_all_and_every_header_counts_the_unread(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex:
        polycule = await polycule_of(robin, sam, alex)
        first = await agreement_of(polycule, robin, sam, alex)
        second = await agreement_of(polycule, robin, sam, alex)
        for agreement in (first, second):
            await robin.json("POST", f"/api/polycules/{polycule}/agreements/{agreement}/revoke",
                             json={})
        shown = await sam.json("GET", "/api/me/inbox")
        assert shown["unread"] == 2 and {e["read"] for e in shown["entries"]} == {False}
        assert await sam.json("GET", "/api/me/inbox/unread") == {"unread": 2}
        header = await page(sam, "/polycules")
        assert '<span class="count">2<span class="visually-hidden"> not read</span>' in header

        # Opening one from the inbox page marks it read, then goes to its page.
        one = shown["entries"][0]
        location = await submitted(sam, "/api/me/inbox/read", [("entries[]", one["key"])],
                                   return_to=one["link"])
        assert location == one["link"]
        after = await sam.json("GET", "/api/me/inbox")
        assert after["unread"] == 1
        assert {e["key"]: e["read"] for e in after["entries"]}[one["key"]] is True
        assert '<span class="count">1<' in await page(sam, f"/polycules/{polycule}")
        # Alex's entries are Alex's: Sam marking them changes nothing of Alex's, and a key
        # that is no entry of Sam's is not kept.
        alexs = await entries(alex)
        await sam.json("POST", "/api/me/inbox/read",
                       json={"entries": [e["key"] for e in alexs] + ["made:up"]})
        assert (await alex.json("GET", "/api/me/inbox"))["unread"] == 2

        # Mark all read: the header shows no count at all.
        location = await submitted(sam, "/api/me/inbox/read", {"all": "yes"},
                                   return_to="/inbox")
        assert location == "/inbox"
        assert await sam.json("GET", "/api/me/inbox/unread") == {"unread": 0}
        inbox_page = await page(sam, "/inbox")
        assert 'class="count"' not in inbox_page
        assert "You have read everything here." in text_of(inbox_page)
        assert (await alex.json("GET", "/api/me/inbox"))["unread"] == 2


async def test_a_supporter_and_the_one_who_made_a_commitment_find_their_repair(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "coach") as coach:
        polycule = await polycule_of(robin, sam)
        agreement = await agreement_of(polycule, robin, sam)
        clock.advance(hours=2)
        breach = await robin.json("POST", f"/api/polycules/{polycule}/breaches", 201, json={
            "agreement_id": agreement, "breached_by": str(sam.account_id),
            "happened_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "what_happened": "Tuesday went to someone else without a word.",
        })
        repair = f"/api/polycules/{polycule}/breaches/{breach['breach_id']}/repair"
        await sam.json("POST", f"{repair}/commitments", 201, json={
            "what": "A call every Sunday.",
            "first_due_at": (clock.now() + timedelta(days=3)).isoformat(), "every_days": 7,
        })
        assert await entries(sam, "commitment_falling_due") == [], "not due for days"
        clock.advance(days=2, hours=12)
        [due] = await entries(sam, "commitment_falling_due")
        assert (due["occurrence"], due["why"], due["by"]) == (1, "you_made_it", None)
        assert await entries(robin, "commitment_falling_due") == [], "Robin did not make it"
        clock.advance(days=7)
        [due] = await entries(sam, "commitment_falling_due")
        assert due["occurrence"] == 2, "the latest occurrence due, a new entry"

        invitation = await robin.json("POST", f"{repair}/supporters", 201, json={})
        await coach.json("POST", f"/api/supporter-invitations/{invitation['token']}/accept",
                         json={})
        [supported] = await entries(coach)
        assert (supported["kind"], supported["why"], supported["breach_id"]) == (
            "repair_supported", "you_support_it", breach["breach_id"]
        )
        assert "A repair you support: Tuesday dinners" in text_of(await page(coach, "/inbox"))
        await robin.json("POST", f"{repair}/end", json={"note": "We stop here."})
        assert await entries(coach) == [], "an ended repair asks nothing more of its supporter"
