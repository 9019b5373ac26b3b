"""Who may see a polycule is decided on its state as it is: the polycule's stream version is
read with the caller's credential (one round trip), and an instance reads the stream only
when the state it keeps is older than that version.

So a member who left through another instance (whose appends this instance's kept state
has not seen) is refused at once, with a session or with an API token; and while nothing
has changed, reading a polycule's pages reads nothing of its stream."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger.http.keys import EVENT_STORE
from ledger.http.middleware import current_request_id
from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent
from tests.http.people import PASSWORD, Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client


async def bearer_of(someone: Person) -> dict[str, str]:
    made = await someone.json("POST", "/api/tokens", 201, json={
        "name": "phone", "password": PASSWORD,
    })
    return {"Authorization": f"Bearer {made['token']}"}


async def status_via(
    someone: Person, target: Client, path: str, headers: dict[str, str] | None = None
) -> int:
    """GET ``path`` from ``target`` as ``someone``: with ``headers`` (a Bearer token) and no
    cookie, or with their session's cookie."""
    if headers is not None:
        response = await target.get(path, headers=headers, cookies={})
        return response.status
    async with someone.session.get(target.make_url(path)) as response:
        return response.status


def count_stream_reads(client: Client) -> list[uuid.UUID]:
    """The streams this instance's store reads from now on while serving a request (the
    real store, watched; the consumers that follow the log in the background read too)."""
    store: EventStore = client.app[EVENT_STORE]
    reads: list[uuid.UUID] = []
    read_stream = store.read_stream

    async def watched(stream_id: uuid.UUID, *args: Any, **kwargs: Any) -> list[RecordedEvent]:
        if current_request_id() != "-":  # "-": not serving a request
            reads.append(stream_id)
        return await read_stream(stream_id, *args, **kwargs)

    store.read_stream = watched  # type: ignore[method-assign]
    return reads


@pytest.mark.parametrize("credential", ["session", "token"])
async def test_a_member_who_left_through_another_instance_is_refused_at_once(
    client: Client, second_instance: Client, credential: str
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule = await polycule_of(ana, ben)
        token = await bearer_of(ben) if credential == "token" else None
        path = f"/api/polycules/{polycule}/agreements"
        # This instance folds the polycule and keeps its state: Ben is a member.
        assert await status_via(ben, client, path, token) == 200
        async with ben.session.post(
            second_instance.make_url(f"/api/polycules/{polycule}/leave"),
            headers={"X-CSRF-Token": ben.csrf_token}, json={},
        ) as left:
            assert left.status == 200, await left.text()
        # The kept state still names Ben; the version read with his credential does not.
        assert await status_via(ben, client, path, token) in (403, 404)
        assert await status_via(ana, client, path) == 200


async def test_reading_a_polycule_that_has_not_changed_reads_nothing_of_its_stream(
    client: Client,
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule = await polycule_of(ana, ben)
        await ana.json("GET", f"/api/polycules/{polycule}")
        reads = count_stream_reads(client)
        for path in ("", "/agreements", "/members", "/proposals"):
            await ana.json("GET", f"/api/polycules/{polycule}{path}")
        assert reads == []
        # Once another writer has appended, the next read folds what is new.
        await ben.json("POST", f"/api/polycules/{polycule}/invitations", 201, json={})
        assert reads == []  # this instance appended it: its kept state is current
