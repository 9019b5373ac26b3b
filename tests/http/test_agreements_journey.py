"""Three members over HTTP against real PostgreSQL: an agreement proposed with a fuzzy word,
revised with a definition, ratified; an amendment objected to; consent revoked — and the
history and "what was in force then" tell all of it, exactly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client, error_of

TERMS = "No sex with others without telling each other first."


def moment() -> datetime:
    return datetime.now(UTC)


async def in_force_at(member: Person, polycule_id: str, at: datetime, between: str = "") -> Any:
    path = f"/api/polycules/{polycule_id}/agreements?as_of={quote(at.isoformat())}"
    if between:
        path += f"&between={between}"
    return await member.json("GET", path)


async def test_propose_revise_ratify_object_revoke_and_read_the_history(client: Client) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bo, \
            person(client, "cyd") as cy:
        polycule = await polycule_of(ash, bo, cy)
        proposals = f"/api/polycules/{polycule}/proposals"
        everyone = sorted(str(p.account_id) for p in (ash, bo, cy))
        before_anything = moment()

        # Ash proposes an agreement between the three of them; "sex" is not defined.
        proposal = await ash.json("POST", proposals, 201, json={
            "kind": "create", "title": "Telling first", "terms": TERMS,
            "category": "sexual_health", "parties": everyone,
            "if_broken": "We talk within a day.",
        })
        pid = proposal["proposal_id"]
        assert proposal["text"]["fuzzy_words"] == ["sex", "tell"]
        assert proposal["status"] == "open" and proposal["revision"] == 1
        assert [r["member_id"] for r in proposal["responses"]] == [str(ash.account_id)]

        # Bo consents to revision 1; Cy, who sees it as everyone does, has not answered.
        await bo.json("POST", f"{proposals}/{pid}/consent", json={"revision": 1})
        inbox = await cy.json("GET", "/api/me/inbox")
        assert [p["proposal_id"] for p in inbox["awaiting_response"]] == [pid]
        while_proposed = moment()

        # Ash revises with definitions: a new revision, Bo's consent is cleared.
        revised = await ash.json("POST", f"{proposals}/{pid}/revise", json={
            "title": "Telling first", "terms": TERMS, "category": "sexual_health",
            "if_broken": "We talk within a day.",
            "definitions": [
                {"word": "sex", "meaning": "any genital contact"},
                {"word": "telling", "meaning": "a message or a call, before, not after"},
            ],
        })
        assert revised["revision"] == 2 and revised["text"]["fuzzy_words"] == []
        assert [r["member_id"] for r in revised["responses"]] == [str(ash.account_id)]
        assert sorted(revised["awaiting"]) == sorted([str(bo.account_id), str(cy.account_id)])
        # A consent to the old revision is refused: consent is to the exact text.
        stale = await cy.request("POST", f"{proposals}/{pid}/consent", json={"revision": 1})
        assert stale.status == 409
        assert error_of(await stale.json())["code"] == "revision_changed"

        await bo.json("POST", f"{proposals}/{pid}/consent", json={"revision": 2})
        ratified = await cy.json("POST", f"{proposals}/{pid}/consent", json={"revision": 2})
        assert ratified["status"] == "ratified" and ratified["awaiting"] == []
        in_force = await bo.json("GET", f"/api/polycules/{polycule}/agreements")
        assert len(in_force) == 1
        agreement = in_force[0]
        aid = agreement["agreement_id"]
        assert agreement["version"] == 1 and sorted(agreement["parties"]) == everyone
        assert agreement["text"]["definitions"][0] == {
            "word": "sex", "meaning": "any genital contact"
        }
        while_active = moment()

        # Bo proposes an amendment; while it is pending, version 1 stays in force.
        amendment = await bo.json("POST", proposals, 201, json={
            "kind": "amend", "agreement_id": aid, "title": "Telling first",
            "terms": "No sex with others without telling each other a week before.",
            "category": "sexual_health", "if_broken": "We talk within a day.",
            "definitions": revised["text"]["definitions"],
        })
        assert amendment["base_version"] == 1
        while_amending = moment()
        pending = await ash.json("GET", f"/api/polycules/{polycule}/agreements/{aid}")
        assert pending["version"] == 1 and pending["status"] == "active"
        assert pending["open_proposal_id"] == amendment["proposal_id"]

        # Cy objects: one objection rejects it, and version 1 is still what holds.
        rejected = await cy.json(
            "POST", f"{proposals}/{amendment['proposal_id']}/object",
            json={"revision": 1, "reason": "A week is too long for me to wait."},
        )
        assert rejected["status"] == "rejected"
        assert rejected["responses"][-1]["reason"] == "A week is too long for me to wait."
        still = await ash.json("GET", f"/api/polycules/{polycule}/agreements/{aid}")
        assert still["version"] == 1 and still["status"] == "active"
        after_rejection = moment()

        # Bo revokes their consent: the agreement ends from now on.
        ended = await bo.json(
            "POST", f"/api/polycules/{polycule}/agreements/{aid}/revoke",
            json={"note": "This no longer works for me."},
        )
        assert ended["status"] == "ended" and ended["end_reason"] == "revoked"
        assert ended["ended_by"] == str(bo.account_id)
        assert await ash.json("GET", f"/api/polycules/{polycule}/agreements") == []
        after_revocation = moment()

        # What was in force, at a moment in each phase.
        assert (await in_force_at(cy, polycule, before_anything))["agreements"] == []
        assert (await in_force_at(cy, polycule, while_proposed))["agreements"] == []
        for during in (while_active, while_amending, after_rejection):
            answer = await in_force_at(cy, polycule, during)
            assert [(a["agreement_id"], a["version"]) for a in answer["agreements"]] == [(aid, 1)]
            assert sorted(answer["agreements"][0]["parties"]) == everyone
        assert (await in_force_at(cy, polycule, after_revocation))["agreements"] == []
        pair = f"{ash.account_id},{bo.account_id}"
        between = await in_force_at(cy, polycule, while_active, between=pair)
        assert [a["agreement_id"] for a in between["agreements"]] == [aid]

        # The history: every step, in order, with who and when, and what changed.
        history = await cy.json("GET", f"/api/polycules/{polycule}/agreements/{aid}/history")
        steps = [(e["what"], e["member_id"]) for e in history["timeline"]]
        a, b, c = (str(p.account_id) for p in (ash, bo, cy))
        assert steps == [
            ("AgreementProposed", a), ("ConsentGiven", a), ("ConsentGiven", b),
            ("ProposalRevised", a), ("ConsentGiven", a), ("ConsentGiven", b),
            ("ConsentGiven", c), ("AgreementRatified", None),
            ("AgreementProposed", b), ("ConsentGiven", b),
            ("ObjectionRaised", c), ("ProposalRejected", None),
            ("AgreementEnded", b),
        ]
        times = [e["at"] for e in history["timeline"]]
        assert times == sorted(times)
        [version] = history["versions"]
        assert version["ended_how"] == "revoked" and version["end_note"] == (
            "This no longer works for me."
        )
        assert sorted(r["member_id"] for r in version["consents"]) == everyone
        first, second = history["proposals"]
        assert [r["revision"] for r in first["revisions"]] == [1, 2]
        # Revision 1's answers are kept: Bo had consented to it.
        assert [r["member_id"] for r in first["revisions"][0]["responses"]] == [a, b]
        assert _added(first["revisions"][1]["changes"]["definitions"]) == (
            "sex: any genital contact\ntelling: a message or a call, before, not after"
        )
        assert second["proposal"]["status"] == "rejected"
        assert _added(second["revisions"][0]["changes"]["terms"]) == "a week before"
        assert "first" in _removed(second["revisions"][0]["changes"]["terms"])


def _added(changes: list[dict[str, str]]) -> str:
    return "".join(change["text"] for change in changes if change["op"] == "added")


def _removed(changes: list[dict[str, str]]) -> str:
    return "".join(change["text"] for change in changes if change["op"] == "removed")


async def test_a_non_party_cannot_consent_and_is_told_why(client: Client) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await polycule_of(ash, bo, cy)
        proposal = await ash.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
            "kind": "create", "title": "Sundays", "terms": "Sunday mornings are ours.",
            "category": "time", "parties": [str(ash.account_id), str(bo.account_id)],
        })

        refused = await cy.request(
            "POST", f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}/consent",
            json={"revision": 1},
        )

        assert refused.status == 403
        error = error_of(await refused.json())
        assert error["code"] == "not_a_party"
        assert "only the members this proposal would bind" in error["message"]
        unchanged = await bo.json(
            "GET", f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}"
        )
        assert [r["member_id"] for r in unchanged["responses"]] == [str(ash.account_id)]


async def test_two_last_consents_at_once_ratify_exactly_once(client: Client) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await polycule_of(ash, bo, cy)
        parties = [str(p.account_id) for p in (ash, bo, cy)]
        proposal = await ash.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
            "kind": "create", "title": "Sleep", "terms": "Weeknights we sleep at home.",
            "category": "time", "parties": parties,
        })
        path = f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}/consent"

        answers = await asyncio.gather(
            bo.json("POST", path, json={"revision": 1}),
            cy.json("POST", path, json={"revision": 1}),
        )

        assert {answer["status"] for answer in answers} <= {"open", "ratified"}
        events = await ash.json("GET", f"/api/polycules/{polycule}/events")
        kinds = [e["event_type"] for e in events["events"]]
        assert kinds.count("AgreementRatified") == 1
        assert kinds.count("ConsentGiven") == 3
        assert kinds[-1] == "AgreementRatified"
        in_force = await ash.json("GET", f"/api/polycules/{polycule}/agreements")
        assert [a["version"] for a in in_force] == [1]
