"""An agreement's page in the web client: what it says and between whom, its versions with
the changed words marked, who consented and when, what was in force on a day asked about,
and the forms a party uses on it (reaffirm, ask for a review, withdraw consent) — posted
as a browser without script posts them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.http.conftest import TravellingClock
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, submitted, text_of

TERMS = "We check in on Sundays, before a date with someone new."


async def agreed(
    proposer: Person, polycule: str, others: list[Person], **text: Any
) -> dict[str, Any]:
    """An agreement between ``proposer`` and ``others``, proposed and consented to by all."""
    proposal = await proposer.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
        "kind": "create", "title": "Check-ins", "terms": TERMS, "category": "commitments",
        "parties": [str(p.account_id) for p in (proposer, *others)],
        "binds_only_me": not others, **text,
    })
    for other in others:
        await other.json("POST", f"/api/polycules/{polycule}/proposals/"
                                 f"{proposal['proposal_id']}/consent", json={"revision": 1})
    return proposal


async def proposed_change(
    proposer: Person, polycule: str, agreement_id: str, terms: str
) -> dict[str, Any]:
    return await proposer.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
        "kind": "amend", "agreement_id": agreement_id, "title": "Check-ins", "terms": terms,
        "category": "commitments",
    })


def form_fields(html: str, action: str) -> list[str]:
    """The names of the fields of the page's form that posts to ``action``."""
    found = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S)
    assert found, f"no form posts to {action}"
    return re.findall(r'name="([^"]+)"', found.group(1))


def between(html: str, start: str, end: str) -> str:
    return html[html.index(start):html.index(end)]


async def test_the_page_shows_the_text_the_parties_and_what_the_words_mean(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bob, \
            person(client, "cyd") as cyd:
        polycule = await polycule_of(ash, bob, cyd)
        made = await agreed(ash, polycule, [bob], definitions=[
            {"word": "date", "meaning": "an evening out meant as romantic"},
        ], if_broken="We talk it through within a day.")
        path = f"/polycules/{polycule}/agreements/{made['agreement_id']}"

        seen_by_bob = text_of(await page(bob, path))
        seen_by_cyd = await page(cyd, path)

        assert "Check-ins" in seen_by_bob and TERMS in seen_by_bob
        assert "date an evening out meant as romantic" in seen_by_bob
        assert "We talk it through within a day." in seen_by_bob
        assert "Commitments Between Ash and you" in seen_by_bob
        assert "Between Ash and Bob" in text_of(seen_by_cyd)
        # Cyd reads it as every member may, but it does not bind her: nothing to act on.
        assert "/revoke" not in seen_by_cyd and "/reaffirm" not in seen_by_cyd
        assert f"/propose?agreement={made['agreement_id']}" not in seen_by_cyd


async def test_the_history_shows_each_version_the_changed_words_and_who_consented(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bob, \
            person(client, "cyd") as cyd:
        polycule = await polycule_of(ash, bob, cyd)
        made = await agreed(ash, polycule, [bob])
        aid = made["agreement_id"]
        path = f"/polycules/{polycule}/agreements/{aid}"
        proposals = f"/api/polycules/{polycule}/proposals"

        turned_down = await proposed_change(ash, polycule, aid, TERMS.replace("Sundays", "Mondays"))
        await bob.json("POST", f"{proposals}/{turned_down['proposal_id']}/object",
                       json={"revision": 1, "reason": "Mondays are my late shift."})
        change = await proposed_change(ash, polycule, aid, TERMS.replace("Sundays", "Wednesdays"))
        while_pending = await page(bob, path)
        await bob.json("POST", f"{proposals}/{change['proposal_id']}/consent",
                       json={"revision": 1})
        html = await page(cyd, path)

        assert f'href="/polycules/{polycule}/proposals/{change["proposal_id"]}"' in while_pending
        assert "Read it and answer" in text_of(while_pending)
        first = between(html, 'id="version-1"', 'id="version-2"')
        second = between(html, 'id="version-2"', "What happened, step by step")
        assert "took its place" in text_of(first) and "(in force now)" in text_of(second)
        assert "What changed from version 1" in text_of(second)
        # Marked as taken out and added, and said so to a screen reader too.
        hidden = '<span class="visually-hidden">{}: </span>'
        assert f"<del>{hidden.format('removed')}Sundays</del>" in second
        assert f"<ins>{hidden.format('added')}Wednesdays</ins>" in second
        assert "Consented to by: Ash, on" in text_of(first)
        assert "Ash, on" in text_of(second) and "Bob, on" in text_of(second)
        story = text_of(between(html, "What happened, step by step", "</main>"))
        assert "Bob objected to the proposal (revision 1). Mondays are my late shift." in story
        assert "version 2 came into force" in story


async def test_the_picker_says_which_version_held_at_the_end_of_a_day(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bob:
        polycule = await polycule_of(ash, bob)
        made_on = clock.now().date()
        made = await agreed(ash, polycule, [bob])
        aid = made["agreement_id"]
        clock.advance(days=10)
        change = await proposed_change(ash, polycule, aid, TERMS.replace("Sundays", "Fridays"))
        await bob.json("POST", f"/api/polycules/{polycule}/proposals/"
                               f"{change['proposal_id']}/consent", json={"revision": 1})
        path = f"/polycules/{polycule}/agreements/{aid}"

        async def held_on(day: str) -> str:
            return text_of(between(await page(bob, f"{path}?on={day}"), 'id="in-force-on"',
                                   'id="history-region"'))

        before = await held_on(str(made_on - timedelta(days=1)))
        early = await held_on(str(made_on + timedelta(days=3)))
        now = await held_on(str(made_on + timedelta(days=10)))
        later = await held_on(str(made_on + timedelta(days=30)))
        unreadable = await held_on("29/11/2026")
        no_such_day = await held_on("2026-02-30")
        # A moment is read in the reader's zone: half an hour after the change was agreed
        # by UTC's clocks has not come yet; by Berlin's clocks it was before the change.
        clock_time = f"{clock.now() + timedelta(minutes=30):%Y-%m-%dT%H:%M}"
        in_utc = await held_on(clock_time)
        await bob.json("PUT", "/api/account/time-zone", json={"time_zone": "Europe/Berlin"})
        in_berlin = await held_on(clock_time)

        assert "this agreement was not in force" in before
        assert "version 1 , “Check-ins”, was in force" in early and "on Sundays" in early
        assert "version 2 , “Check-ins”, was in force" in now and "on Fridays" in now
        assert "has not come yet" in later
        assert "has not come yet" in in_utc and " UTC " in in_utc
        assert "version 1 , “Check-ins”, was in force" in in_berlin and " CE" in in_berlin
        for problem in (unreadable, no_such_day):
            assert "is not a day and time we can read" in problem
            assert "version" not in problem and "not in force" not in problem


async def test_withdrawing_consent_through_the_form_ends_the_agreement(client: Client) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bob:
        polycule = await polycule_of(ash, bob)
        made = await agreed(ash, polycule, [bob])
        path = f"/polycules/{polycule}/agreements/{made['agreement_id']}"
        action = f"/api{path}/revoke"
        assert "note" in form_fields(await page(bob, path), action)

        went_to = await submitted(bob, action, {"note": "This no longer works for me."},
                                  return_to=path)

        assert went_to == path
        ended = await ash.json("GET", f"/api{path}")
        assert (ended["status"], ended["end_reason"]) == ("ended", "revoked")
        assert ended["ended_by"] == str(bob.account_id)
        html = await page(ash, path)
        said = text_of(html)
        assert "This agreement has ended. Bob withdrew their consent on" in said
        assert "This no longer works for me." in said
        assert action not in html
        assert await ash.json("GET", f"/api/polycules/{polycule}/agreements") == []


async def test_a_party_asks_to_look_again_and_everyone_reaffirms_through_the_forms(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bob:
        polycule = await polycule_of(ash, bob)
        made = await agreed(ash, polycule, [bob])
        path = f"/polycules/{polycule}/agreements/{made['agreement_id']}"
        assert "note" in form_fields(await page(ash, path), f"/api{path}/request-review")

        await submitted(ash, f"/api{path}/request-review",
                        {"note": "Sundays are hard with my new job."}, return_to=path)
        due = await page(bob, path)
        await submitted(bob, f"/api{path}/reaffirm", {}, return_to=path)
        half = await page(bob, path)
        await submitted(ash, f"/api{path}/reaffirm", {}, return_to=path)

        assert "It's time to look at this one together again" in text_of(due)
        assert "Ash asked to look at it again on" in text_of(due)
        assert "Sundays are hard with my new job." in text_of(due)
        assert f'action="/api{path}/reaffirm"' in due
        assert "You said it still works for you." in text_of(half)
        assert f'action="/api{path}/reaffirm"' not in half
        settled = await bob.json("GET", f"/api{path}")
        assert settled["review_due"] is False and settled["reaffirmed_by"] == []


async def test_a_member_of_another_polycule_gets_the_not_found_page(client: Client) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bob, \
            person(client, "dee") as dee:
        polycule = await polycule_of(ash, bob)
        await polycule_of(dee, name="Waffles")
        made = await agreed(ash, polycule, [bob])

        html = await page(dee, f"/polycules/{polycule}/agreements/{made['agreement_id']}", 404)

        assert "There is nothing here" in text_of(html)
        assert "Check-ins" not in html and TERMS not in html


async def test_a_title_with_markup_is_shown_as_words(client: Client) -> None:
    async with person(client, "ash") as ash:
        polycule = await polycule_of(ash)
        made = await agreed(ash, polycule, [], title="<script>alert('hi')</script> & us")

        html = await page(ash, f"/polycules/{polycule}/agreements/{made['agreement_id']}")

        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#39;hi&#39;)&lt;/script&gt; &amp; us" in html

