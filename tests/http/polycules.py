"""Setting the scene over HTTP: a polycule whose members all joined by invitation."""

from __future__ import annotations

from tests.http.people import Person


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
