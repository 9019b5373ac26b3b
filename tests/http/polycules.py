"""Setting the scene over HTTP: a polycule whose members all joined by invitation."""

from __future__ import annotations

import uuid

from ledger.http.keys import EVENT_STORE, READ_SIDE
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


async def caught_up(client: Client, polycule_id: str) -> None:
    """Check that the read models show everything the polycule's stream holds now (the
    scheduler's events included: its commands write them too, in their own transaction)."""
    stream = uuid.UUID(polycule_id)
    version = await client.app[EVENT_STORE].stream_version(stream)
    assert await client.app[READ_SIDE].shows(stream, version)
