"""Two instances of the service whose clocks differ, over one database, as in a fleet: the
commands each records follow one another in time in every polycule's stream, whichever
instance took them and whatever its clock said."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from ledger.http.keys import CLOCK, EVENT_STORE
from tests.http.people import person
from tests.http.polycules import polycule_of
from tests.http.support import Client

AHEAD = timedelta(minutes=7)


class ClockAhead:
    def now(self) -> datetime:
        return datetime.now(UTC) + AHEAD


async def test_a_command_at_an_instance_whose_clock_is_behind_is_recorded_after_what_it_follows(
    client: Client,
    new_instance: Callable[[], web.Application],
    aiohttp_client: AiohttpClient,
) -> None:
    ahead_app = new_instance()
    ahead_app[CLOCK] = ClockAhead()
    ahead = await aiohttp_client(ahead_app)
    async with person(ahead) as ana, person(ahead) as ben:
        polycule = await polycule_of(ana, ben)
        stream = uuid.UUID(polycule)
        founded = await client.app[EVENT_STORE].read_stream(stream)
        # ben, behind a load balancer, now reaches the instance whose clock is right.
        proposed = await ben.session.post(
            client.make_url(f"/api/polycules/{polycule}/proposals"),
            headers={"X-CSRF-Token": ben.csrf_token},
            json={
                "kind": "create", "title": "Sunday mornings", "category": "time",
                "terms": "We keep Sunday mornings.",
                "parties": [str(ana.account_id), str(ben.account_id)],
            },
        )
        assert proposed.status == 201, await proposed.text()
        now_behind = datetime.now(UTC)

        events = await client.app[EVENT_STORE].read_stream(stream)

    moments = [event.recorded_at for event in events]
    assert moments == sorted(moments)
    proposal = events[len(founded):]
    assert proposal[0].event_type == "AgreementProposed"
    # Recorded at the moment of the event it follows, not at its own clock's earlier one.
    assert {event.recorded_at for event in proposal} == {founded[-1].recorded_at}
    assert founded[-1].recorded_at > now_behind
