"""A scene lived in a little over HTTP: a polycule with an agreement in force, a breach of
it, and a commitment in its repair — every kind of id a route's path may name.

A test module makes it its fixture with ``lived_in``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from tests.http.conftest import TravellingClock
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client


class Scene:
    """A polycule with an agreement in force, a breach of it, and a commitment in its
    repair: every id a route's path may name."""

    def __init__(self, robin: Person, sam: Person) -> None:
        self.robin, self.sam = robin, sam
        self.ids: dict[str, str] = {}

    @property
    def polycule(self) -> str:
        return f"/api/polycules/{self.ids['polycule_id']}"

    async def set(self, clock: TravellingClock) -> Scene:
        ids = self.ids
        ids["polycule_id"] = await polycule_of(self.robin, self.sam)
        proposal = await self.robin.json("POST", f"{self.polycule}/proposals", 201, json={
            "kind": "create", "title": "Tell first", "terms": "We tell each other first.",
            "parties": [str(self.robin.account_id), str(self.sam.account_id)],
        })
        ids["proposal_id"], ids["agreement_id"] = proposal["proposal_id"], proposal["agreement_id"]
        await self.sam.json("POST", f"{self.polycule}/proposals/{ids['proposal_id']}/consent",
                            json={"revision": 1})
        clock.advance(days=1)
        breach = await self.robin.json("POST", f"{self.polycule}/breaches", 201, json={
            "agreement_id": ids["agreement_id"], "breached_by": str(self.sam.account_id),
            "happened_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "what_happened": "I heard it from a friend.",
        })
        ids["breach_id"] = breach["breach_id"]
        repair = f"{self.polycule}/breaches/{ids['breach_id']}/repair"
        history = await self.sam.json("POST", f"{repair}/commitments", 201, json={
            "what": "A call every Sunday.", "first_due_at": clock.now().isoformat(),
            "every_days": 7,
        })
        ids["commitment_id"] = history["commitments"][0]["commitment_id"]
        ids["occurrence"] = "1"
        # Disabled: nothing is ever sent to it, so nothing looks its host up.
        endpoint = await self.robin.json("POST", "/api/webhooks/endpoints", 201, json={
            "url": "https://hooks.invalid/robin", "enabled": False,
        })
        ids["endpoint_id"] = endpoint["endpoint_id"]
        return self

    def path(self, template: str) -> str:
        """The template with this scene's ids (a fresh one for any it has no id for)."""
        filled = template
        for name in ("polycule_id", "proposal_id", "agreement_id", "breach_id",
                     "commitment_id", "occurrence", "endpoint_id"):
            filled = filled.replace(f"{{{name}}}", self.ids[name])
        while "{" in filled:
            start, end = filled.index("{"), filled.index("}")
            filled = filled[:start] + str(uuid.uuid4()) + filled[end + 1:]
        return filled


@asynccontextmanager
async def lived_in(client: Client, clock: TravellingClock) -> AsyncIterator[Scene]:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        yield await Scene(robin, sam).set(clock)
