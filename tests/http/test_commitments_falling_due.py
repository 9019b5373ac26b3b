"""A repair's weekly commitment over HTTP: each occurrence falls due once, when its time
comes, is written into the repair's timeline, and its participants hear of it by webhook."""

from __future__ import annotations

from datetime import timedelta

from ledger.http.keys import SCHEDULER, WEBHOOK_DELIVERY, WEBHOOK_FANOUT
from tests.http.conftest import TravellingClock
from tests.http.people import person
from tests.http.polycules import caught_up, polycule_of
from tests.http.support import Client


async def test_each_occurrence_falls_due_once_and_its_participants_hear_of_it(
    client: Client, clock: TravellingClock
) -> None:
    # Nothing is delivered here: an endpoint failing for more than five days of travelled
    # time would be paused, and a paused endpoint is sent nothing more (not this test's
    # subject; tests/http/test_webhook_journey.py covers it).
    await client.app[WEBHOOK_DELIVERY].stop()
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        hook = await robin.json("POST", "/api/webhooks/endpoints", 201, json={
            "url": "https://hooks.invalid/robin", "event_types": ["commitment.due"],
        })
        polycule = await polycule_of(robin, sam)
        r, s = str(robin.account_id), str(sam.account_id)
        proposal = await robin.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
            "kind": "create", "title": "Calls", "terms": "We call on Sundays.",
            "parties": [r, s],
        })
        await sam.json("POST", f"/api/polycules/{polycule}/proposals/"
                               f"{proposal['proposal_id']}/consent", json={"revision": 1})
        breach = await robin.json("POST", f"/api/polycules/{polycule}/breaches", 201, json={
            "agreement_id": proposal["agreement_id"], "breached_by": s,
            "happened_at": clock.now().isoformat(), "what_happened": "No call.",
        })
        repair = f"/api/polycules/{polycule}/breaches/{breach['breach_id']}/repair"
        await sam.json("POST", f"{repair}/commitments", 201, json={
            "what": "Call every Sunday.", "every_days": 7,
            "first_due_at": (clock.now() + timedelta(days=1)).isoformat(),
        })
        scheduler = client.app[SCHEDULER]

        before = await scheduler.tick()
        clock.advance(days=1, seconds=1)
        first = await scheduler.tick()
        await caught_up(client, polycule)
        again = await scheduler.tick()
        clock.advance(days=7)
        second = await scheduler.tick()
        await caught_up(client, polycule)
        await client.app[WEBHOOK_FANOUT].catch_up_now()

        assert (before, first, again, second) == (0, 1, 0, 1)
        history = await robin.json("GET", repair)
        due = [e for e in history["timeline"] if e["what"] == "CommitmentFellDue"]
        assert [e["detail"]["occurrence"] for e in due] == [1, 2]
        messages = await robin.json(
            "GET", f"/api/webhooks/endpoints/{hook['endpoint_id']}/messages"
        )
        assert sorted(m["payload"]["data"]["occurrence"] for m in messages) == ["1", "2"]
        assert {m["type"] for m in messages} == {"commitment.due"}
