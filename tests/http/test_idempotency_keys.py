"""An Idempotency-Key names one request: sent again, it is answered with the first outcome
and nothing is done twice — also when the copies arrive at once, at two instances of the
service; sent with another request (another body, route or polycule), it is refused with
422 ``idempotency_key_reused`` and nothing is written."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from ledger.http.keys import EVENT_STORE
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client, error_of

TERMS = {"title": "Sundays", "terms": "We keep Sunday mornings.", "category": "time"}


def proposal_of(*parties: Person, terms: str = "We keep Sunday mornings.") -> dict[str, Any]:
    return {
        "kind": "create", **TERMS, "terms": terms,
        "parties": [str(party.account_id) for party in parties],
    }


async def keyed(
    someone: Person, method: str, path: str, key: str, *, via: Client | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """Send as ``someone`` with an Idempotency-Key, to ``via`` (another instance) or to the
    instance they signed in at; the status and the body."""
    target = via or someone.client
    async with someone.session.request(
        method, target.make_url(path),
        headers={"X-CSRF-Token": someone.csrf_token, "Idempotency-Key": key}, **kwargs,
    ) as response:
        return response.status, await response.json()


async def event_types(client: Client, polycule: str) -> list[str]:
    events = await client.app[EVENT_STORE].read_stream(uuid.UUID(polycule))
    return [event.event_type for event in events]


async def test_a_retry_is_answered_with_the_first_outcome_and_changes_nothing(
    client: Client,
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule = await polycule_of(ana, ben)
        path = f"/api/polycules/{polycule}/proposals"
        first = await keyed(ana, "POST", path, "propose-1", json=proposal_of(ana, ben))
        before = await event_types(client, polycule)
        again = await keyed(ana, "POST", path, "propose-1", json=proposal_of(ana, ben))
        assert first[0] == 201 and again == first
        assert await event_types(client, polycule) == before


@pytest.mark.parametrize("change", ["body", "route", "polycule"])
async def test_a_key_sent_with_another_request_is_refused_and_nothing_is_written(
    client: Client, change: str
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule = await polycule_of(ana, ben)
        elsewhere = await polycule_of(ana, ben, name="Waffles")
        path = f"/api/polycules/{polycule}/proposals"
        status, proposal = await keyed(ana, "POST", path, "k", json=proposal_of(ana, ben))
        assert status == 201
        if change == "body":
            other = ("POST", path, {"json": proposal_of(ana, ben, terms="Saturdays too.")})
        elif change == "route":
            other = ("POST", f"{path}/{proposal['proposal_id']}/withdraw", {"json": {}})
        else:
            other = (
                "POST", f"/api/polycules/{elsewhere}/proposals", {"json": proposal_of(ana, ben)}
            )
        before = {p: await event_types(client, p) for p in (polycule, elsewhere)}
        method, other_path, kwargs = other
        status, body = await keyed(ana, method, other_path, "k", **kwargs)
        assert status == 422, body
        assert error_of(body)["code"] == "idempotency_key_reused"
        assert {p: await event_types(client, p) for p in (polycule, elsewhere)} == before


async def test_the_same_key_from_two_people_is_two_requests(client: Client) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule = await polycule_of(ana, ben)
        path = f"/api/polycules/{polycule}/proposals"
        mine = await keyed(ana, "POST", path, "k", json=proposal_of(ana, ben))
        theirs = await keyed(ben, "POST", path, "k", json=proposal_of(ana, ben, terms="Also."))
        assert mine[0] == theirs[0] == 201
        assert mine[1]["proposal_id"] != theirs[1]["proposal_id"]


@pytest.mark.parametrize("step", ["propose", "middle consent", "last consent"])
async def test_eight_copies_at_once_at_two_instances_get_the_first_outcome_once(
    client: Client, second_instance: Client, step: str
) -> None:
    async with person(client) as ana, person(client) as ben, person(client) as cyd:
        polycule = await polycule_of(ana, ben, cyd)
        proposals = f"/api/polycules/{polycule}/proposals"
        if step == "propose":
            sender, path, body = ana, proposals, proposal_of(ana, ben, cyd)
        else:
            proposal = await ana.json("POST", proposals, 201, json=proposal_of(ana, ben, cyd))
            path = f"{proposals}/{proposal['proposal_id']}/consent"
            if step == "last consent":
                await ben.json("POST", path, json={"revision": 1})
            sender, body = cyd, {"revision": 1}
        before = await event_types(client, polycule)

        answers = await asyncio.gather(*(
            keyed(sender, "POST", path, "flaky-network", json=body,
                  via=(client, second_instance)[copy % 2])
            for copy in range(8)
        ))

        assert all(answer == answers[0] for answer in answers), answers
        assert answers[0][0] in (200, 201), answers[0]
        written = (await event_types(client, polycule))[len(before):]
        expected = {
            "propose": ["AgreementProposed", "ConsentGiven"],  # the proposer consents
            "middle consent": ["ConsentGiven"],
            "last consent": ["ConsentGiven", "AgreementRatified"],
        }[step]
        assert written == expected
