"""What a member can ask before sending anything: which words of a draft are fuzzy, and
exactly who would see a disclosure. Neither writes anything."""

from __future__ import annotations

from tests.http.people import person
from tests.http.polycules import polycule_of
from tests.http.support import Client, error_of


async def test_the_clarity_check_of_a_draft_names_undefined_fuzzy_words(client: Client) -> None:
    async with person(client) as ash:
        fuzzy = await ash.json("POST", "/api/clarity-check", json={
            "title": "Overnights", "terms": "No sleepovers with a new partner.",
            "definitions": ["partner"],
        })
        clear = await ash.json("POST", "/api/clarity-check", json={
            "terms": "We each keep Sunday mornings for ourselves.",
        })

        assert fuzzy == {
            "fuzzy_words": ["overnight", "sleepover"],
            # As the draft writes them, for the page to highlight.
            "forms": {"overnight": ["overnights"], "sleepover": ["sleepovers"]},
        }
        assert clear == {"fuzzy_words": [], "forms": {}}


async def test_the_audience_preview_says_exactly_who_would_see_a_disclosure(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bob, \
            person(client, "cyd") as cyd:
        polycule = await polycule_of(ash, bob, cyd)
        preview = f"/api/polycules/{polycule}/disclosures/preview"

        chosen = await ash.json("POST", preview, json={"recipients": [str(bob.account_id)]})
        everyone = await ash.json("POST", preview, json={"audience": "polycule"})
        stranger = await ash.request("POST", preview, json={
            "recipients": ["6f1c6a40-0000-4000-8000-000000000000"]
        })

        assert [p["display_name"] for p in chosen["who_will_see"]] == ["Ash", "Bob"]
        assert [p["display_name"] for p in everyone["who_will_see"]] == ["Ash", "Bob", "Cyd"]
        assert stranger.status == 400
        assert error_of(await stranger.json())["code"] == "invalid_input"
        # Asking wrote nothing: no disclosure exists for anyone.
        assert await bob.json("GET", f"/api/polycules/{polycule}/disclosures") == []
