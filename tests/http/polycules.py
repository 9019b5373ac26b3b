"""Setting the scene over HTTP: a polycule whose members all joined by invitation."""

from __future__ import annotations

import uuid

from ledger.http.keys import EVENT_STORE, PROJECTION_RUNNER
from tests.http.people import Person
from tests.http.support import Client


async def polycule_of(founder: Person, *others: Person, name: str = "Pancakes") -> str:
    """Found a polycule as ``founder`` and bring ``others`` in; its id."""
    polycule_id: str = (await founder.json(
        "POST", "/api/polycules", 201, json={"name": name}
    ))["id"]
    for other in others:
        invitation = await founder.json(
            "POST", f"/api/polycules/{polycule_id}/invitations", 201, json={}
        )
        await other.json("POST", f"/api/invitations/{invitation['token']}/accept", json={})
    return polycule_id


async def caught_up(client: Client, polycule_id: str, *read_models: str) -> None:
    """Wait until the read models have applied everything the polycule's stream holds now
    (for what the service did by itself, such as the scheduler's events)."""
    stream = uuid.UUID(polycule_id)
    version = await client.app[EVENT_STORE].stream_version(stream)
    assert await client.app[PROJECTION_RUNNER].catch_up_to(read_models, stream, version)
