"""The word-level difference between two versions of an agreement, over HTTP."""

from __future__ import annotations

from tests.http.people import person
from tests.http.polycules import polycule_of
from tests.http.support import Client, error_of


async def test_the_difference_names_changed_words_and_parties_brought_in(
    client: Client,
) -> None:
    async with person(client) as ana, person(client) as ben, person(client) as cy:
        polycule_id = await polycule_of(ana, ben, cy)
        base = f"/api/polycules/{polycule_id}"
        first = await ana.json("POST", f"{base}/proposals", 201, json={
            "kind": "create", "title": "Sundays", "terms": "Pancakes on Sundays.",
            "parties": [str(ana.account_id), str(ben.account_id)],
        })
        await ben.json("POST", f"{base}/proposals/{first['proposal_id']}/consent",
                       json={"revision": 1})
        change = await ana.json("POST", f"{base}/proposals", 201, json={
            "kind": "amend", "agreement_id": first["agreement_id"], "title": "Sundays",
            "terms": "Waffles on Sundays.", "added_parties": [str(cy.account_id)],
        })
        for someone in (ben, cy):
            await someone.json("POST", f"{base}/proposals/{change['proposal_id']}/consent",
                               json={"revision": 1})

        agreement = f"{base}/agreements/{first['agreement_id']}"
        diff = await cy.json("GET", f"{agreement}/diff?from=1&to=2")
        missing = await cy.request("GET", f"{agreement}/diff?from=1&to=3")

        assert (diff["from_version"], diff["to_version"]) == (1, 2)
        assert [(c["op"], c["text"].strip()) for c in diff["changes"]["terms"]
                if c["op"] != "same"] == [("removed", "Pancakes"), ("added", "Waffles")]
        assert all(c["op"] == "same" for c in diff["changes"]["title"])
        assert diff["parties_added"] == [str(cy.account_id)]
        assert diff["parties_removed"] == []
        assert missing.status == 404
        assert "no version 3" in error_of(await missing.json())["message"]
