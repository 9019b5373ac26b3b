"""HAProxy in front of three web instances and one worker; under a steady write load one
web instance is killed (SIGKILL) and another restarted.

Clients send every command under an Idempotency-Key and send it again, the same, until it
is answered: each takes effect exactly once. A member's live page, whose stream the killed
instance was serving, reconnects with Last-Event-ID and misses nothing. The worker keeps
delivering webhooks: every disclosure reaches the receiver of the member told.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.fleet.databases import (
    owner_url,
    postgres_ready,
    service_url,
    start_postgres,
)
from tests.fleet.infrastructure import (
    Fleet,
    Instance,
    free_port,
    haproxy_ready,
    ledger_environment,
    master_key,
    query,
    start_haproxy,
    wait_until,
)
from tests.fleet.traffic import (
    LiveFollower,
    Site,
    WriteLoad,
    following,
    receiving,
    running,
    signed_up,
)
from tests.http.polycules import polycule_of

pytestmark = pytest.mark.fleet


async def test_one_web_instance_killed_and_another_restarted_under_load(fleet: Fleet) -> None:
    postgres = start_postgres(fleet)
    await postgres_ready(postgres)
    environment = ledger_environment(
        fleet, database_url=service_url(postgres), owner=owner_url(postgres), key=master_key(),
    )
    webs = {
        f"web{n}": Instance(fleet, f"web{n}", free_port(), environment, ("--role", "web"))
        for n in (1, 2, 3)
    }
    worker = Instance(fleet, "worker", free_port(), environment, ("--role", "worker"))
    # One at a time: the first applies the migrations, the others find them applied.
    for instance in (*webs.values(), worker):
        await instance.start().ready()
    balancer = start_haproxy(fleet, {name: web.port for name, web in webs.items()})
    await haproxy_ready(balancer)
    site = Site(f"http://127.0.0.1:{balancer}")

    async with signed_up(site, "ana") as ana, signed_up(site, "ben") as ben, \
            signed_up(site, "cy") as cy, receiving(free_port()) as receiver:
        polycule = await polycule_of(ana, ben, cy)
        await ben.json("POST", "/api/webhooks/endpoints", 201, json={
            "url": receiver.url, "event_types": ["disclosure.shared_with_you"],
        })
        load = WriteLoad(polycule, witness=ben)
        follower = LiveFollower(ben, polycule)
        async with following(follower):
            async with running(load, ana, cy):
                await wait_until("a steady load", lambda: _acknowledged(load, 15))
                await wait_until("the live stream open", lambda: _true(follower.instances))

                # The instance serving the live stream dies.
                killed = webs[follower.instances[-1]]
                killed_at = time.monotonic()
                killed.kill()
                await wait_until(
                    "writes acknowledged after the kill", lambda: _since(load, killed_at, 15)
                )
                # The page reconnected to another instance: that one is restarted (stopped,
                # started again) while writes go on.
                await wait_until(
                    "the live stream reopened", lambda: _true(len(follower.instances) > 1)
                )
                restarted = webs[follower.instances[-1]]
                assert restarted.process is not None
                restarted_at = time.monotonic()
                await asyncio.to_thread(restarted.process.stop)
                await restarted.start().ready()
                await wait_until(
                    "writes acknowledged after the restart", lambda: _since(load, restarted_at, 15)
                )
            # The live page hears of everything written, to the last version.
            final = await _version_of(owner_url(postgres), polycule)
            await wait_until("the live page caught up", lambda: _reached(follower, final))

        answers = load.answers()
        statuses = Counter(answer.status for answer in answers)
        print(f"\nbehind HAProxy: {len(load.commands)} commands, answers {dict(statuses)}; "
              f"the live stream was served by {follower.instances}")
        # A request the killed instance had taken is lost with it (HAProxy answers 502, or
        # the connection breaks); none is ever refused or failed by the service.
        assert statuses.keys() <= {201, 502, 503, 0}, statuses
        assert all(a.retry_after for a in answers if a.status in (502, 503)), answers

        # Every command took effect exactly once; one sent again after it was answered is
        # answered with the first outcome, whichever instance the copy reached.
        acknowledged = {c.result["disclosure_id"] for c in load.acknowledged if c.result}
        assert len(acknowledged) == len(load.commands)
        repeated = [c for c in load.commands if c.repeated is not None]
        assert repeated
        assert all(c.repeated == c.result for c in repeated)
        events = await query(
            owner_url(postgres),
            "SELECT stream_version, event_type, data->>'disclosure_id' FROM events"
            " WHERE stream_id = $1::uuid ORDER BY stream_version",
            polycule,
        )
        made = [row[2] for row in events if row[1] == "DisclosureMade"]
        assert sorted(made) == sorted(acknowledged)

        # The live page heard of every version, in order, across its reconnections, each
        # resumed where it had got to.
        assert final == events[-1][0]
        assert len(follower.instances) >= 3, follower.instances
        for sent, opened in follower.openings[1:]:
            assert opened == sent, follower.openings
        reached = int(follower.openings[0][1])
        for change in follower.changes:
            assert change.after == reached and change.id > reached, follower.changes
            told = {row[1] for row in events if change.after < row[0] <= change.id}
            assert set(change.types) <= told
            if "DisclosureMade" in told:
                assert "DisclosureMade" in change.types
            reached = change.id
        assert reached == final

        # Webhooks kept flowing: every disclosure reached Ben's receiver.
        await wait_until(
            "every disclosure's webhook delivered",
            lambda: _true(receiver.disclosure_ids() >= acknowledged),
        )


async def _version_of(url: str, polycule: str) -> int:
    rows = await query(
        url, "SELECT max(stream_version) FROM events WHERE stream_id = $1::uuid", polycule
    )
    version: int = rows[0][0]
    return version


async def _true(value: object) -> bool:
    return bool(value)


async def _acknowledged(load: WriteLoad, count: int) -> bool:
    _still_going(load)
    return len(load.acknowledged) >= count


async def _since(load: WriteLoad, moment: float, count: int) -> bool:
    _still_going(load)
    return load.acknowledged_since(moment) >= count


async def _reached(follower: LiveFollower, version: int) -> bool:
    return follower.reached >= version


def _still_going(load: WriteLoad) -> None:
    if load.stopping.is_set():
        raise AssertionError(f"the load stopped: {load.answers()[-5:]}")
