"""An agreement's life after it is made, over HTTP: reviews that fall due and are
reaffirmed, deadlines that pass (silence never ratifies), a member who leaves, and the
audit view of the chain, where what a member may not read stays opaque."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

from ledger.events import EVENTS, DomainEvent
from ledger.http.keys import EVENT_STORE, KEYRING, SCHEDULER
from ledger.privacy import encrypt_event_fields
from ledger.store.records import NewEvent
from ledger.text_marks import PersonalText
from tests.http.conftest import TravellingClock
from tests.http.people import Person, person
from tests.http.polycules import caught_up, polycule_of
from tests.http.support import Client, error_of


@EVENTS.register("TestOnlyWhisper")
class Whisper(DomainEvent):
    """An event type no rule lets every member read: stands in for a private disclosure."""

    words: PersonalText


async def propose(member: Person, polycule: str, parties: list[Person], **extra: Any) -> Any:
    return await member.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
        "kind": "create", "title": "Check-ins", "terms": "We check in on Sundays.",
        "category": "commitments", "parties": [str(p.account_id) for p in parties], **extra,
    })


async def test_a_review_falls_due_once_and_every_party_reaffirms_it(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        proposal = await propose(ash, polycule, [ash, bo], review_every_days=30)
        await bo.json("POST", f"/api/polycules/{polycule}/proposals/"
                              f"{proposal['proposal_id']}/consent", json={"revision": 1})
        path = f"/api/polycules/{polycule}/agreements/{proposal['agreement_id']}"
        scheduler = client.app[SCHEDULER]

        clock.advance(days=29)
        assert await scheduler.tick() == 0
        clock.advance(days=2)
        assert await scheduler.tick() == 1
        assert await scheduler.tick() == 0  # due once, however often it is asked
        await caught_up(client, polycule)

        due = await bo.json("GET", path)
        assert due["review_due"] is True
        assert [a["agreement_id"] for a in (await bo.json("GET", "/api/me/inbox"))["reviews_due"]
                ] == [proposal["agreement_id"]]
        half = await ash.json("POST", f"{path}/reaffirm")  # an action needs no body at all
        assert half["review_due"] is True and half["reaffirmed_by"] == [str(ash.account_id)]
        assert (await ash.json("GET", "/api/me/inbox"))["reviews_due"] == []

        done = await bo.json("POST", f"{path}/reaffirm", json={})

        assert done["review_due"] is False and done["reaffirmed_by"] == []
        # The clock restarts from the reaffirmation: 30 days from now.
        assert done["next_review_at"] > due["next_review_at"]
        not_due = await ash.request("POST", f"{path}/reaffirm", json={})
        assert not_due.status == 409
        assert error_of(await not_due.json())["code"] == "no_review_due"


async def test_any_party_can_ask_for_a_review_with_a_note(client: Client) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await polycule_of(ash, bo, cy)
        proposal = await propose(ash, polycule, [ash], binds_only_me=True)
        path = f"/api/polycules/{polycule}/agreements/{proposal['agreement_id']}"

        asked = await ash.json("POST", f"{path}/request-review",
                               json={"note": "Sundays are hard now."})
        outsider = await cy.request("POST", f"{path}/request-review", json={"note": "Hm"})

        assert asked["review_due"] is True
        assert outsider.status == 403
        assert error_of(await outsider.json())["code"] == "not_a_party"
        history = await bo.json("GET", f"{path}/history")
        assert history["timeline"][-1]["what"] == "ReviewRequested"
        assert history["timeline"][-1]["note"] == "Sundays are hard now."


async def test_silence_never_ratifies_a_deadline_expires_the_proposal(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        respond_by = (clock.now() + timedelta(days=3)).isoformat()
        proposal = await propose(ash, polycule, [ash, bo], respond_by=respond_by)
        path = f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}"

        clock.advance(days=4)
        late = await bo.request("POST", f"{path}/consent", json={"revision": 1})
        assert late.status == 409
        assert error_of(await late.json())["code"] == "proposal_expired"
        assert await client.app[SCHEDULER].tick() == 1
        await caught_up(client, polycule)

        expired = await ash.json("GET", path)
        assert expired["status"] == "expired"
        assert await ash.json("GET", f"/api/polycules/{polycule}/agreements") == []


async def test_a_member_leaving_ends_their_agreements_and_lapses_their_proposals(
    client: Client,
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await polycule_of(ash, bo, cy)
        shared = await propose(ash, polycule, [ash, cy])
        await cy.json("POST", f"/api/polycules/{polycule}/proposals/"
                              f"{shared['proposal_id']}/consent", json={"revision": 1})
        untouched = await propose(ash, polycule, [ash, bo])
        await bo.json("POST", f"/api/polycules/{polycule}/proposals/"
                              f"{untouched['proposal_id']}/consent", json={"revision": 1})
        waiting = await propose(bo, polycule, [bo, cy])

        await cy.json("POST", f"/api/polycules/{polycule}/leave")

        ended = await ash.json("GET", f"/api/polycules/{polycule}/agreements/"
                                      f"{shared['agreement_id']}")
        assert (ended["status"], ended["end_reason"]) == ("ended", "party_left")
        assert ended["ended_by"] == str(cy.account_id)
        in_force = await ash.json("GET", f"/api/polycules/{polycule}/agreements")
        assert [a["agreement_id"] for a in in_force] == [untouched["agreement_id"]]
        lapsed = await bo.json("GET", f"/api/polycules/{polycule}/proposals/"
                                      f"{waiting['proposal_id']}")
        assert lapsed["status"] == "lapsed"


async def test_the_audit_view_shows_what_a_member_may_read_and_keeps_the_rest_opaque(
    client: Client,
) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        await propose(ash, polycule, [ash], binds_only_me=True)
        # A kind of event members may not all read, sealed and appended as the service would.
        stream = uuid.UUID(polycule)
        assert bo.account_id is not None
        store = client.app[EVENT_STORE]
        data = await encrypt_event_fields(
            Whisper(words="only for Ash"), author_id=bo.account_id, polycule_id=stream,
            keyring=client.app[KEYRING],
        )
        await store.append(stream, await store.stream_version(stream), [
            NewEvent(uuid.uuid4(), "TestOnlyWhisper", 1, data, {"actor": str(bo.account_id)})
        ])

        page = await ash.json("GET", f"/api/polycules/{polycule}/events?limit=3")
        rest = await ash.json(
            "GET", f"/api/polycules/{polycule}/events?after={page['next_after']}"
        )
        verified = await ash.json("GET", f"/api/polycules/{polycule}/verify")

        entries = page["events"] + rest["events"]
        assert [e["stream_version"] for e in entries] == list(range(1, len(entries) + 1))
        assert rest["next_after"] is None
        opaque = entries[-1]
        assert set(opaque) >= {"stream_version", "recorded_at", "previous_hash", "hash"}
        assert opaque["readable"] is False
        assert (opaque["event_type"], opaque["data"], opaque["stored_data"]) == (None,) * 3
        assert "only for Ash" not in str(entries)
        # The links still hold across the opaque entry.
        for before, after in itertools.pairwise(entries):
            assert after["previous_hash"] == before["hash"]
        readable = entries[0]
        assert readable["event_type"] == "PolyculeFounded"
        assert readable["data"]["name"] == "Pancakes"
        assert readable["stored_data"]["name"]["sealed"] == "v1"
        assert verified == {
            "verified": True, "events_checked": len(entries), "first_break": None
        }


async def test_a_proposal_naming_only_its_proposer_is_refused_unless_they_say_so(
    client: Client,
) -> None:
    """Forgetting to tick one's partners must not put an agreement in force at once."""
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        proposals = f"/api/polycules/{polycule}/proposals"
        body = {"kind": "create", "title": "Sundays", "terms": "I keep Sundays free.",
                "category": "time", "parties": [str(ash.account_id)]}

        forgot = await ash.request("POST", proposals, json=body)
        assert forgot.status == 409
        assert error_of(await forgot.json())["code"] == "binds_only_you"
        assert await ash.json("GET", proposals) == []
        assert await ash.json("GET", f"/api/polycules/{polycule}/agreements") == []

        meant = await ash.json("POST", proposals, 201, json={**body, "binds_only_me": True})
        assert meant["status"] == "ratified"
