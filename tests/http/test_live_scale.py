"""Many open live streams over many polycules: a busy polycule costs only its own streams.

500 streams over 50 polycules, then 1,000 appends in one polycule. Every stream counts the
rounds it woke for and the polycules it read (``LiveStream.rounds``, ``.reads``); the
streams of the other 49 polycules must not have done either, not once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest

from ledger.config import Settings
from ledger.domain.polycules import InviteMember, polycule_decider
from ledger.http.keys import CLOCK, SERVICE
from ledger.http.live import OPEN_STREAMS
from ledger.http.live_streams import LiveStream
from tests.http.people import Person, person
from tests.http.streams import next_change_message, opening_id
from tests.http.support import Client

POLYCULES = 50
STREAMS_EACH = 10
APPENDS = 1_000

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "live_streams_per_account": POLYCULES * STREAMS_EACH,
        # No keep-alive round during the test: every look a stream takes was a wake-up.
        "live_keepalive_seconds": 3600.0,
        "pool_max_size": 8,
    })


@asynccontextmanager
async def many_connections(someone: Person) -> AsyncIterator[aiohttp.ClientSession]:
    """``someone``'s browser, without the usual limit of connections to one host."""
    async with aiohttp.ClientSession(
        cookie_jar=someone.session.cookie_jar,
        connector=aiohttp.TCPConnector(limit=0),
    ) as session:
        yield session


async def invite_someone(client: Client, polycule_id: uuid.UUID, founder: uuid.UUID) -> int:
    """One append in the polycule, through the application service; its version after."""
    at = client.app[CLOCK].now()
    outcome = await client.app[SERVICE].handle(polycule_id, polycule_decider, InviteMember(
        actor=founder, at=at, command_id=uuid.uuid4(), invitation_id=uuid.uuid4(),
        secret_hash=uuid.uuid4().hex, expires_at=at + timedelta(days=7),
    ))
    return outcome.version


async def eventually(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Wait until ``condition`` holds (each stream has read its polycule once, at its
    opening), at most ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not met in time"
        await asyncio.sleep(0.05)


def work(streams: list[LiveStream]) -> dict[int, tuple[int, int]]:
    return {id(stream): (stream.rounds, stream.reads) for stream in streams}


async def test_appends_in_one_polycule_wake_only_that_polycules_streams(
    client: Client,
) -> None:
    async with person(client) as ana, many_connections(ana) as browser:
        polycules = [
            uuid.UUID((await ana.json("POST", "/api/polycules", 201, json={
                "name": f"Polycule {number}",
            }))["id"])
            for number in range(POLYCULES)
        ]
        responses = await asyncio.gather(*(
            browser.get(client.make_url(f"/api/polycules/{polycule_id}/live"))
            for polycule_id in polycules
            for _ in range(STREAMS_EACH)
        ))
        assert Counter(response.status for response in responses) == {200: 500}
        for response in responses:
            await opening_id(response)
        open_streams = client.app[OPEN_STREAMS].of_account(ana.account_id)
        assert len(open_streams) == POLYCULES * STREAMS_EACH
        await eventually(lambda: all(stream.reads for stream in open_streams))
        busy = polycules[0]
        busy_streams = [s for s in open_streams if s.wakeup.streams == {busy}]
        quiet_streams = [s for s in open_streams if s.wakeup.streams != {busy}]
        assert len(busy_streams) == STREAMS_EACH
        before = work(open_streams)

        for _ in range(APPENDS):
            version = await invite_someone(client, busy, ana.account_id)

        # Every stream of the busy polycule told its page, up to the last append.
        for response in responses[:STREAMS_EACH]:
            async with asyncio.timeout(60):
                while True:
                    change = await next_change_message(response, within=60)
                    assert change is not None
                    if change.fields["id"] == str(version):
                        break
        after = work(open_streams)
        assert [after[id(s)] for s in quiet_streams] == [before[id(s)] for s in quiet_streams]
        for stream in busy_streams:
            rounds = after[id(stream)][0] - before[id(stream)][0]
            reads = after[id(stream)][1] - before[id(stream)][1]
            assert 1 <= rounds <= APPENDS and 1 <= reads <= APPENDS
        print(
            "rounds of the busy polycule's streams:",
            sorted(after[id(s)][0] - before[id(s)][0] for s in busy_streams),
        )
        for response in responses:
            response.close()
