"""What is past, in the web client and the API: the home lists agreements that ended (how,
when, by whom) and proposals that did not go ahead, apart from what is in force; and the
record words each entry as the app does ("said yes", "agreed by everyone"), linking to
what it is about."""

from __future__ import annotations

import re
from typing import Any

from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, text_of


async def proposed(
    proposer: Person, polycule: str, title: str, *others: Person
) -> dict[str, Any]:
    made: dict[str, Any] = await proposer.json(
        "POST", f"/api/polycules/{polycule}/proposals", 201, json={
            "kind": "create", "title": title, "terms": "Tea together on Sundays.",
            "parties": [str(member.account_id) for member in (proposer, *others)],
        },
    )
    return made


async def test_the_home_lists_what_ended_and_what_did_not_go_ahead_apart_from_what_holds(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex:
        polycule = await polycule_of(robin, sam, alex)
        proposals = f"/api/polycules/{polycule}/proposals"
        tea = await proposed(robin, polycule, "Sunday tea", sam)
        await sam.json("POST", f"{proposals}/{tea['proposal_id']}/consent", json={"revision": 1})
        walks = await proposed(robin, polycule, "Monday walks", sam)
        await sam.json("POST", f"{proposals}/{walks['proposal_id']}/object",
                       json={"revision": 1, "reason": "Mondays are hard for me."})
        games = await proposed(sam, polycule, "Game nights", robin)
        await sam.json("POST", f"{proposals}/{games['proposal_id']}/withdraw", json={})
        home = f"/polycules/{polycule}"
        before = text_of(await page(alex, home))
        assert "No agreement has ended." in before
        assert "Sunday tea" in before.split("Past agreements")[0]

        await sam.json("POST", f"/api/polycules/{polycule}/agreements/{tea['agreement_id']}"
                               "/revoke", json={"note": "It stopped working."})

        past = await alex.json("GET", f"/api/polycules/{polycule}/past")
        [ended] = past["ended_agreements"]
        assert (ended["agreement_id"], ended["status"]) == (tea["agreement_id"], "ended")
        assert (ended["end_reason"], ended["ended_by"]) == ("revoked", str(sam.account_id))
        assert [(p["proposal_id"], p["status"]) for p in past["closed_proposals"]] == [
            (games["proposal_id"], "withdrawn"), (walks["proposal_id"], "rejected"),
        ]
        shown = await page(alex, home)
        words = text_of(shown)
        assert "No agreements are in force yet" not in words
        in_force, _, earlier = words.partition("Past agreements")
        assert "Sunday tea" not in in_force
        assert "None is in force now" in in_force
        assert "Sunday tea Ended" in earlier
        assert "Sam withdrew their yes on" in earlier
        past_part = re.search(r'<section data-live-region id="past-region".*?</section>', shown,
                              re.S)
        assert past_part
        links = re.findall(r'href="([^"]+)"', past_part.group(0))
        assert links == [
            f"{home}/agreements/{tea['agreement_id']}",
            f"{home}/proposals/{games['proposal_id']}",
            f"{home}/proposals/{walks['proposal_id']}",
        ]
        assert "Sam said no, on" in earlier and "Sam withdrew it on" in earlier
        # Robin, who proposed them, reads the same past in their own words.
        assert "Proposed by you" in text_of(await page(robin, home))


async def test_the_record_says_what_happened_in_the_apps_words_and_links_to_it(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        proposals = f"/api/polycules/{polycule}/proposals"
        tea = await proposed(robin, polycule, "Sunday tea", sam)
        await sam.json("POST", f"{proposals}/{tea['proposal_id']}/consent", json={"revision": 1})
        walks = await proposed(robin, polycule, "Monday walks", sam)
        await sam.json("POST", f"{proposals}/{walks['proposal_id']}/object",
                       json={"revision": 1, "reason": "Not Mondays."})

        shown = await page(sam, f"/polycules/{polycule}/audit")

        rows = [text_of(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", shown, re.S)[1:]]
        said = [" ".join(row.split()[1:]).replace(" .", ".") for row in rows]
        home = f"/polycules/{polycule}"
        assert any("Robin proposed: “Sunday tea”." in row for row in said)
        assert any("You said yes: the proposal." in row for row in said)
        assert any("Agreed by everyone, and in force from then: the agreement." in row
                   for row in said)
        assert any("You said no: the proposal." in row for row in said)
        assert any("Not agreed: someone said no: the proposal." in row for row in said)
        words = text_of(shown)
        for program_words in ("Consent given", "Agreement ratified", "Objection raised",
                              "ratified"):
            assert program_words not in words
        assert f'href="{home}/agreements/{tea["agreement_id"]}"' in shown
        assert f'href="{home}/proposals/{tea["proposal_id"]}"' in shown
        assert f'href="{home}/proposals/{walks["proposal_id"]}"' in shown
