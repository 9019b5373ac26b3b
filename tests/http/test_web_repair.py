"""Breaches and their repair through the web client, as a browser without script uses it:
telling of a breach, the named member's account, widening who sees it, the repair's steps
in each person's role, commitments marked kept and missed, check-ins drawn as the trust
chart, and a supporter who reads it all and can do nothing. Every form posts to the API;
what it changed is read back through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from html import unescape
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from ledger.http.keys import SCHEDULER
from tests.http.conftest import TravellingClock
from tests.http.people import Person, person
from tests.http.polycules import caught_up, polycule_of
from tests.http.support import Client
from tests.http.test_repair_journey import agreement_between
from tests.http.web import page, shown_after, submit, submitted, text_of

PROBE = "<b>bold</b> & <script>alert(1)</script>"


def offers_a_moment(html: str) -> bool:
    """Whether the breach form asks when it happened with a date-and-time field."""
    return 'type="datetime-local" id="happened_at" name="happened_at@local"' in html


def option_value(html: str, field: str, label: str) -> str:
    """The value of the option of the ``field`` select whose label starts with ``label``."""
    select = re.search(rf'<select id="[^"]*" name="{field}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {field}"
    found = re.search(rf'<option value="([^"]*)"[^>]*>{re.escape(label)}', select.group(1))
    assert found, f"no option {label!r} in {field}"
    return unescape(found.group(1))


def actions(html: str) -> list[str]:
    """Where the page's forms post, apart from signing out."""
    posted = re.findall(r'<form method="post" action="([^"]+)"', html)
    return [action for action in posted if action != "/sign-out"]


async def a_breach(
    reporter: Person, breached_by: Person, polycule: str, agreement: str, words: str
) -> str:
    """Tell of a breach through the list page's form, as ``reporter``: the breach's id."""
    listing = await page(reporter, f"/polycules/{polycule}/breaches")
    location = await submitted(reporter, f"/api/polycules/{polycule}/breaches", {
        "agreement_id": option_value(listing, "agreement_id", "Before a first date"),
        "breached_by": str(breached_by.account_id),
        # As the field sends it (a day and a time, no zone), read in the form's zone; to
        # the microsecond, as the agreement came into force a moment ago.
        "happened_at@local": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}"
        if offers_a_moment(listing) else "",
        "local_zone": "UTC",
        "what_happened": words,
    }, return_to=f"/polycules/{polycule}/breaches/{{breach_id}}")
    prefix = f"/polycules/{polycule}/breaches/"
    assert location.startswith(prefix)
    return location.removeprefix(prefix)


class Scene(NamedTuple):
    """A breach told through the form, and where its page and its repair's API are."""

    breach_id: str
    breach_page: str
    repair_api: str


async def a_told_breach(
    reporter: Person, breached_by: Person, polycule: str, words: str = "Not told before."
) -> Scene:
    """An agreement between the two in force, and a breach of it told by ``reporter``."""
    agreement = await agreement_between(polycule, reporter, breached_by)
    bid = await a_breach(reporter, breached_by, polycule, agreement, words)
    return Scene(
        bid, f"/polycules/{polycule}/breaches/{bid}",
        f"/api/polycules/{polycule}/breaches/{bid}/repair",
    )


async def supporting_through_the_form(
    member: Person, supporter: Person, repair_api: str, breach_page: str
) -> None:
    """``member`` makes a supporter's link on the breach page (shown once, after a redirect)
    and ``supporter`` accepts it."""
    shown_once = await submit(member, f"{repair_api}/supporters",
                              {"answer": "shown-once", "expires_in_hours": "168"},
                              return_to=breach_page)
    token = re.search(
        r"/supporter-invitations/([A-Za-z0-9_.\-]+)\"", await shown_after(member, shown_once)
    )
    assert token, "the supporter's link is shown once"
    await supporter.json("POST", f"/api/supporter-invitations/{token.group(1)}/accept", json={})


async def test_a_party_tells_of_another_partys_breach_through_the_form(client: Client) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        agreement = await agreement_between(polycule, robin, sam)

        listing = await page(robin, f"/polycules/{polycule}/breaches")
        assert "Tell the others an agreement was crossed" in listing
        assert "violation" not in listing.lower() and "offender" not in listing.lower()
        assert re.search(rf'name="breached_by" value="{sam.account_id}"', listing)

        bid = await a_breach(robin, sam, polycule, agreement, f"You went on a date. {PROBE}")

        told = await robin.json("GET", f"/api/polycules/{polycule}/breaches/{bid}")
        assert told["what_happened"] == f"You went on a date. {PROBE}"
        assert (told["breached_by"], told["reported_by"]) == (
            str(sam.account_id), str(robin.account_id)
        )
        assert told["self_reported"] is False and told["agreement_id"] == agreement
        shown = await page(sam, f"/polycules/{polycule}/breaches/{bid}")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>alert" not in shown
        assert "&lt;b&gt;bold&lt;/b&gt;" in shown
        words = text_of(shown)
        assert "“Before a first date” was crossed" in words
        assert "Crossed by you" in words and "Told by Robin" in words
        assert "Waiting for your account" in words
        listed = text_of(await page(sam, f"/polycules/{polycule}/breaches"))
        assert "Crossed by you" in listed and "told by Robin" in listed
        assert "Repair under way" in listed


async def test_the_member_named_disputes_then_acknowledges_by_form(client: Client) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        agreement = await agreement_between(polycule, robin, sam)
        bid = await a_breach(robin, sam, polycule, agreement, "I heard it from a friend.")
        breach_page = f"/polycules/{polycule}/breaches/{bid}"
        api = f"/api/polycules/{polycule}/breaches/{bid}"

        assert f"{api}/acknowledge" not in actions(await page(robin, breach_page))
        assert {f"{api}/acknowledge", f"{api}/dispute"} <= set(
            actions(await page(sam, breach_page))
        )
        await submitted(sam, f"{api}/dispute", {"account": f"A work dinner. {PROBE}"},
                        return_to=breach_page)
        assert (await sam.json("GET", api))["status"] == "disputed"
        disputed = await page(robin, breach_page)
        assert "Sam sees it differently" in text_of(disputed)
        assert "A work dinner. &lt;b&gt;bold&lt;/b&gt;" in disputed

        await submitted(sam, f"{api}/acknowledge", {"account": "It was a date. I knew it."},
                        return_to=breach_page)
        answered = await sam.json("GET", api)
        assert answered["status"] == "acknowledged"
        assert answered["acknowledgement"] == "It was a date. I knew it."
        words = text_of(await page(robin, breach_page))
        assert "Acknowledged by Sam" in words and "It was a date. I knew it." in words
        assert f"{api}/acknowledge" not in actions(await page(sam, breach_page))


async def test_the_repair_is_shown_to_its_participants_and_no_one_else(client: Client) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex:
        polycule = await polycule_of(robin, sam, alex)
        bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)

        # Alex is a member but no party: the breach does not exist for them.
        hidden = await page(alex, breach_page, status=404)
        assert "Not told before." not in hidden and "There is nothing here" in hidden
        assert "Not told before." not in await page(alex, f"/polycules/{polycule}/breaches")

        for participant in (robin, sam):
            shown = await page(participant, breach_page)
            assert 'id="repair-region"' in shown and "The repair" in text_of(shown)
            assert "data-live=" in shown

        # The reporter lets Alex see the breach: its repair stays the participants'.
        assert str(alex.account_id) in await page(robin, breach_page)
        await submitted(robin, f"/api/polycules/{polycule}/breaches/{bid}/audience",
                        [("members[]", str(alex.account_id))], return_to=breach_page)
        widened = await page(alex, breach_page)
        assert "Not told before." in widened
        assert 'id="repair-region"' not in widened and repair_api not in widened
        assert "is theirs to see" in text_of(widened)


async def test_each_person_is_offered_the_steps_of_their_role(client: Client) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)
        owning = {f"{repair_api}/{step}" for step in ("responsibility", "apology")}
        breaching = owning | {f"{repair_api}/commitments"}
        harmed = {f"{repair_api}/{step}" for step in ("impact", "decisions", "restore")}
        anyone = {f"{repair_api}/{step}" for step in ("check-ins", "factors", "supporters", "end")}
        breach_api = f"/api/polycules/{polycule}/breaches/{bid}"

        # Sam has not acknowledged it: taking responsibility and apologising wait for that.
        sams = set(actions(await page(sam, breach_page)))
        robins = set(actions(await page(robin, breach_page)))
        assert breaching - owning | anyone <= sams and not (harmed | owning) & sams
        assert harmed | anyone <= robins and not breaching & robins
        await submitted(sam, f"{breach_api}/dispute", {"account": "It was not a date."},
                        return_to=breach_page)
        disputing = await page(sam, breach_page)
        # Another account is an account: that step of the path is done.
        assert path_of(disputing)[
            "Saying how they see it: acknowledged, or another account (you)"
        ] == "done"
        assert not owning & set(actions(disputing))
        assert "Taking responsibility and apologising are here once you acknowledge it" in (
            text_of(disputing)
        )
        await submitted(sam, f"{breach_api}/acknowledge", {}, return_to=breach_page)
        sams = set(actions(await page(sam, breach_page)))
        assert breaching | anyone <= sams and not harmed & sams

        await submitted(sam, f"{repair_api}/responsibility",
                        {"words": f"I hid it because I was afraid. {PROBE}"}, return_to=breach_page)
        await submitted(robin, f"{repair_api}/decisions", {"decision": "take_space"},
                        return_to=breach_page)
        history = await robin.json("GET", repair_api)
        assert history["current_decisions"] == {str(robin.account_id): "take_space"}
        shown = await page(robin, breach_page)
        words = text_of(shown)
        assert "Sam took responsibility." in words
        assert "You would like to take some space, for now." in words
        assert "I hid it because I was afraid. &lt;b&gt;bold&lt;/b&gt;" in shown
        assert "<script>alert" not in shown


def options(html: str, field: str) -> list[str]:
    """The labels of the ``field`` select's options, in order ([] when there is none)."""
    select = re.search(rf'<select id="[^"]*" name="{field}"[^>]*>(.*?)</select>', html, re.S)
    return [unescape(label) for label in re.findall(r"<option [^>]*>([^<]*)", select.group(1))
            ] if select else []


async def test_the_boundary_form_offers_what_the_repair_may_link(client: Client) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex:
        polycule = await polycule_of(robin, sam, alex)
        proposals = f"/api/polycules/{polycule}/proposals"
        r, s, a = (str(p.account_id) for p in (robin, sam, alex))

        async def proposed(by: Person, title: str, *parties: str) -> str:
            made = await by.json("POST", proposals, 201, json={
                "kind": "create", "title": title, "terms": "Dinners are mentioned beforehand.",
                "if_broken": "We talk it through.", "parties": list(parties),
            })
            return str(made["proposal_id"])

        await proposed(robin, "Made before it was told", r, s)
        bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)
        ours = await proposed(sam, "Sam's new boundary", s, r)
        await proposed(alex, "Alex's idea", a, r)  # Alex takes no part in the repair
        breach = await robin.json("GET", f"/api/polycules/{polycule}/breaches/{bid}")
        await robin.json("POST", proposals, 201, json={
            "kind": "end", "agreement_id": breach["agreement_id"],
        })

        # Only a participant's proposal made since the breach was told, not one to end an
        # agreement: what linking it would accept, and nothing else.
        assert options(await page(robin, breach_page), "proposal_id") == ["Sam's new boundary"]
        await submitted(robin, f"{repair_api}/boundaries", {"proposal_id": ours},
                        return_to=breach_page)
        linked = await page(sam, breach_page)
        assert options(linked, "proposal_id") == []
        assert "No proposal made since this was told is open." in text_of(linked)


async def test_commitments_are_marked_kept_and_missed_with_their_streak(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        _bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)

        sams_page = await page(sam, breach_page)
        await submitted(sam, f"{repair_api}/commitments", {
            "what": f"A call every Sunday evening. {PROBE}",
            "first_due_at": option_value(sams_page, "first_due_at", "Tomorrow"),
            "every_days": option_value(sams_page, "every_days", "Every week"),
        }, return_to=breach_page)
        [weekly] = (await sam.json("GET", repair_api))["commitments"]
        assert weekly["every_days"] == 7
        first = f"{repair_api}/commitments/{weekly['commitment_id']}/occurrences/1"
        assert first not in actions(await page(sam, breach_page))  # not marked by its maker
        not_yet_due = await page(robin, breach_page)
        assert first in actions(not_yet_due)
        assert 'value="kept" class="secondary">It was kept<' in not_yet_due
        assert 'value="missed"' not in not_yet_due  # missed only once its time has passed

        await submitted(robin, first, {"mark": "kept", "note": "Lovely call."},
                        return_to=breach_page)
        [marked] = (await robin.json("GET", repair_api))["commitments"]
        assert [(m["occurrence"], m["mark"]) for m in marked["marks"]] == [(1, "kept")]
        kept = text_of(await page(sam, breach_page))
        assert "Occurrence 1, due" in kept and "✓ kept" in kept
        assert "Kept 1 · missed 0 · current streak: 1 kept in a row" in kept
        escaped = "A call every Sunday evening. &lt;b&gt;bold&lt;/b&gt;"
        assert escaped in await page(robin, breach_page)

        # Nine days on, the second occurrence has passed unmarked: Robin marks it missed,
        # and it stands on the chart as a setback.
        clock.advance(days=9)
        second = f"{repair_api}/commitments/{weekly['commitment_id']}/occurrences/2"
        overdue = await page(robin, breach_page)
        assert second in actions(overdue) and "Waiting to be marked: occurrence 2" in text_of(
            overdue
        )
        # Marked with one press: "It was kept" or, once its time has passed, "It was missed".
        form = re.search(rf'action="{re.escape(second)}".*?</form>', overdue, re.S)
        assert form is not None
        assert re.findall(r'<button type="submit" name="mark" value="(\w+)"[^>]*>([^<]+)<',
                          form.group(0)) == [("kept", "It was kept"), ("missed", "It was missed")]
        await submitted(robin, second, {"mark": "missed"}, return_to=breach_page)
        missed = await page(robin, breach_page)
        assert "Kept 1 · missed 1 · current streak: 0 kept in a row" in text_of(missed)
        assert missed.count('<g class="setback setback-missed"') == 1
        assert "A commitment missed, when it was due" in text_of(missed)  # the legend
        assert "Missed on" in missed and 'data-check-ins="0"' in missed  # no check-in yet


async def test_check_ins_through_the_form_draw_the_trust_chart(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        _bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)

        assert "No one has checked in yet" in text_of(await page(robin, breach_page))
        await submitted(robin, f"{repair_api}/check-ins", {"trust": "3", "note": PROBE},
                        return_to=breach_page)
        clock.advance(days=2)
        await submitted(sam, f"{repair_api}/check-ins", {"trust": "6", "setback": "true"},
                        return_to=breach_page)

        trust = (await robin.json("GET", repair_api))["trust"]
        assert [(line["member_id"], [(p["trust"], p["setback"]) for p in line["points"]])
                for line in trust] == [
            (str(sam.account_id), [(6, True)]), (str(robin.account_id), [(3, False)])
        ]
        chart = await page(robin, breach_page)
        assert 'data-check-ins="2"' in chart
        assert chart.count('class="check-in"') == 2
        titles = re.findall(r'class="check-in"[^>]*><title>([^<]+)</title>', chart)
        day = r"\d{1,2} [A-Z][a-z]+"
        assert len(titles) == 2
        assert re.fullmatch(rf"Sam: 6 on {day}, a setback", titles[0])
        assert re.fullmatch(rf"Robin: 3 on {day}", titles[1])
        assert chart.count('<g class="setback setback-setback"') == 1
        assert "Sam noted a setback" in chart
        # The same data as a table, the member's note escaped.
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in chart and "<script>alert" not in chart
        assert '<th scope="row">Robin</th>' in chart


async def test_a_supporter_reads_the_repair_and_can_do_nothing(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "dana") as coach:
        polycule = await polycule_of(robin, sam)
        _bid, breach_page, repair_api = await a_told_breach(
            robin, sam, polycule, f"Not told before. {PROBE}"
        )
        await submitted(sam, f"{repair_api}/apology", {"words": "I am sorry."},
                        return_to=breach_page)
        await submitted(robin, f"{repair_api}/check-ins", {"trust": "4"}, return_to=breach_page)

        await supporting_through_the_form(robin, coach, repair_api, breach_page)

        read = await page(coach, breach_page)
        words = text_of(read)
        assert "I am sorry." in words and "Sam apologised" in words
        assert "Not told before. &lt;b&gt;bold&lt;/b&gt;" in read and "<script>alert" not in read
        assert 'data-check-ins="1"' in read and "Robin: 4 on" in read
        assert actions(read) == [] and "<textarea" not in read
        assert "data-live=" not in read  # the live stream is for members only
        assert "Pancakes" not in read  # nor the polycule's name
        assert "We tell each other before" not in read  # nor the agreement's wording
        await page(coach, f"/polycules/{polycule}/breaches", status=404)


async def test_a_supporter_finds_their_way_back_to_the_repairs_they_support(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "dana") as coach:
        polycule = await polycule_of(robin, sam)
        bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)
        assert await coach.json("GET", "/api/me/supporting") == []
        assert "Repairs you support" not in await page(coach, "/polycules")
        await supporting_through_the_form(robin, coach, repair_api, breach_page)

        [supported] = await coach.json("GET", "/api/me/supporting")
        assert (supported["polycule_id"], supported["breach_id"]) == (polycule, bid)
        assert supported["repair_status"] == "open"
        assert set(supported["names"].values()) == {"Robin", "Sam"}
        # From their own pages: "My polycules" (they belong to none) and the list itself.
        for own in ("/polycules", "/supporting"):
            shown = await page(coach, own)
            assert f'href="{breach_page}"' in shown
            assert "The repair between Sam and Robin" in text_of(shown)
        assert 'href="/supporting"' in await page(coach, "/polycules")
        assert 'href="/supporting"' in await page(coach, breach_page)
        # Nobody else is shown it: not the participants, as supporters of nothing.
        assert await robin.json("GET", "/api/me/supporting") == []
        assert "You support no repair" in text_of(await page(robin, "/supporting"))


async def test_the_breach_page_shows_the_words_that_were_crossed_beside_the_accounts(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        bid, breach_page, _repair_api = await a_told_breach(robin, sam, polycule)
        breach = await robin.json("GET", f"/api/polycules/{polycule}/breaches/{bid}")
        # Afterwards the agreement is reworded: the page keeps the version that was crossed.
        proposals = f"/api/polycules/{polycule}/proposals"
        amended = await robin.json("POST", proposals, 201, json={
            "kind": "amend", "agreement_id": breach["agreement_id"],
            "title": "Before a first date", "terms": "We tell each other a week ahead.",
            "definitions": [{"word": "date", "meaning": "any meeting at all"},
                            {"word": "tell", "meaning": "in person"}],
        })
        await sam.json("POST", f"{proposals}/{amended['proposal_id']}/consent",
                       json={"revision": 1})

        shown = await page(sam, breach_page)

        crossed = re.search(r'<aside aria-labelledby="crossed-heading".*?</aside>', shown, re.S)
        assert crossed, "the crossed version stands beside the accounts"
        words = text_of(crossed.group(0))
        assert "What was agreed then" in words and "Version 1" in words
        assert "We tell each other before a first date with someone new." in words
        assert "date any planned romantic meeting" in words
        assert "We talk it through within two days." in words
        assert "a week ahead" not in words and "any meeting at all" not in words
        # Beside the accounts: in the same row of the page as "What happened".
        row = re.search(r'<div class="beside with-words">(.*?)</div>\n', shown, re.S)
        assert row and "crossed-heading" in row.group(1) and "happened-heading" in row.group(1)


def path_of(html: str) -> dict[str, str]:
    """The suggested path's steps, each with whose it is and "done" or "not yet"."""
    steps = re.search(r'<ol class="path-steps">(.*?)</ol>', html, re.S)
    assert steps, "no suggested path"
    return {
        text_of(what): state
        for what, state in re.findall(
            r"<li [^>]*>.*?</span>\s*(.*?) — <strong>(done|not yet)</strong>", steps.group(1),
            re.S,
        )
    }


async def test_the_path_shows_each_step_done_or_not_yet_in_a_suggested_order(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)

        first = path_of(await page(robin, breach_page))
        assert list(first) == [
            "Saying how they see it: acknowledged, or another account (Sam)",
            "Taking responsibility, without excuses (Sam)",
            "Sharing how it landed (you)",
            "Apologising (Sam)",
            "Saying what they want now: rebuild, take space, or end it (you)",
            "Naming what led here (anyone in the repair)",
            "Addressing what was named (anyone in the repair)",
            "Agreeing a new boundary, with what happens if it is crossed (anyone in the repair)",
            "Making commitments, and keeping them (Sam)",
            "Checking in on how trust feels, again and again (each person)",
        ]
        assert set(first.values()) == {"not yet"}
        assert "a suggestion, not a rule" in text_of(await page(robin, breach_page))

        await submitted(sam, f"/api/polycules/{polycule}/breaches/{bid}/acknowledge", {},
                        return_to=breach_page)
        await submitted(sam, f"{repair_api}/responsibility", {"words": "It was mine."},
                        return_to=breach_page)
        await submitted(robin, f"{repair_api}/impact", {"words": "It hurt."},
                        return_to=breach_page)
        later = path_of(await page(sam, breach_page))
        assert later["Saying how they see it: acknowledged, or another account (you)"] == "done"
        assert later["Taking responsibility, without excuses (you)"] == "done"
        assert later["Sharing how it landed (Robin)"] == "done"
        assert later["Apologising (you)"] == "not yet"


async def test_closing_as_ended_stands_apart_and_asks_whether_they_mean_it(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        _bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)

        shown = await page(robin, breach_page)
        steps = re.search(r'<section aria-labelledby="steps-heading".*?\n</section>', shown, re.S)
        ending = re.search(r'<section aria-labelledby="end-heading".*?</section>', shown, re.S)
        assert steps and ending
        assert f"{repair_api}/end" not in steps.group(0)
        assert f"{repair_api}/end" in ending.group(0)
        # After everything so far, and only once the box is ticked (the box is not sent).
        assert shown.index("timeline-heading") < shown.index("end-heading")
        confirm = re.search(r'<input type="checkbox" id="end-confirm"[^>]*>', ending.group(0))
        assert confirm and "required" in confirm.group(0) and "name=" not in confirm.group(0)
        assert "nothing more can be added" in text_of(ending.group(0))

        await submitted(robin, f"{repair_api}/end", {"note": "We are done."},
                        return_to=breach_page)
        assert (await robin.json("GET", repair_api))["breach"]["repair_status"] == "ended"
        assert "end-heading" not in await page(robin, breach_page)


async def test_what_the_ledger_notes_on_its_own_is_folded_under_the_peoples_steps(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        _bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)
        await sam.json("POST", f"{repair_api}/commitments", 201, json={
            "what": "Call every Sunday.", "every_days": 7,
            "first_due_at": (clock.now() + timedelta(days=1)).isoformat(),
        })
        clock.advance(days=1, seconds=1)
        assert await client.app[SCHEDULER].tick() == 1
        await caught_up(client, polycule)

        shown = await page(robin, breach_page)

        timeline = re.search(r'<h3 id="timeline-heading">.*?</section>', shown, re.S)
        assert timeline
        people_part, _, folded = timeline.group(0).partition('<details class="ledger-steps">')
        assert "Sam made a commitment." in text_of(people_part)
        assert "A commitment came due" not in text_of(people_part)
        assert "What the ledger noted on its own (1)" in text_of(folded)
        assert "A commitment came due (occurrence 1)." in text_of(folded)


async def test_a_check_in_kept_private_is_seen_by_its_author_alone(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "dana") as coach:
        polycule = await polycule_of(robin, sam)
        _bid, breach_page, repair_api = await a_told_breach(robin, sam, polycule)
        await supporting_through_the_form(robin, coach, repair_api, breach_page)
        assert 'id="check-in-private"' in await page(sam, breach_page)

        await submitted(sam, f"{repair_api}/check-ins",
                        {"trust": "2", "note": "Only for me to see.", "private": "true"},
                        return_to=breach_page)
        await submitted(robin, f"{repair_api}/check-ins", {"trust": "5"}, return_to=breach_page)

        def lines(history: dict[str, Any]) -> dict[str, list[tuple[int, bool]]]:
            return {line["member_id"]: [(p["trust"], p["private"]) for p in line["points"]]
                    for line in history["trust"]}

        def check_ins(history: dict[str, Any]) -> list[str]:
            return [step["member_id"] for step in history["timeline"]
                    if step["what"] == "CheckInRecorded"]

        r, s = str(robin.account_id), str(sam.account_id)
        sams = await sam.json("GET", repair_api)
        assert lines(sams) == {s: [(2, True)], r: [(5, False)]}
        assert check_ins(sams) == [s, r]
        for other in (robin, coach):
            theirs = await other.json("GET", repair_api)
            assert lines(theirs) == {r: [(5, False)]} and check_ins(theirs) == [r]
            assert "Only for me to see." not in await page(other, breach_page)
        # In the record too, Sam's check-in is an opaque entry to Robin.
        events = await robin.json("GET", f"/api/polycules/{polycule}/events?limit=1000")
        readable = [e["event_type"] for e in events["events"] if e["readable"]]
        assert readable.count("CheckInRecorded") == 1
        own = await page(sam, breach_page)
        assert "Only for me to see." in own and "Only you see this" in own
        assert re.search(r"<title>Sam: 2 on [^<]* \(only you see this\)</title>", own)


async def test_a_commitment_is_first_due_by_the_end_of_a_day_where_its_maker_is(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        _bid, breach_page, _repair_api = await a_told_breach(robin, sam, polycule)
        await sam.json("PUT", "/api/account/time-zone", json={"time_zone": "Pacific/Auckland"})

        shown = await page(sam, breach_page)
        due = datetime.fromisoformat(option_value(shown, "first_due_at", "Tomorrow"))

        # The end of tomorrow in Auckland, whatever day it is in UTC meanwhile.
        auckland = ZoneInfo("Pacific/Auckland")
        tomorrow = clock.now().astimezone(auckland).date() + timedelta(days=1)
        assert due == datetime.combine(tomorrow, time(23, 59), auckland)
        assert "Pacific/Auckland" in text_of(shown)
