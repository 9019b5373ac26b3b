"""PostgreSQL's primary dies under a steady write load; its synchronous standby takes over
(pg_auto_failover) and the service follows it, without being restarted.

The service is given every node in one URL (``target_session_attrs=read-write``): each new
connection goes to whichever node is the primary now. The primary's node — pg_autoctl and
its PostgreSQL together, as when a machine dies — is killed with SIGKILL while members
keep disclosing, each command under an Idempotency-Key and sent again until answered.
Shown: meanwhile every answer is 201 or 503 with Retry-After (never a 500); writes succeed
again on the new primary; every acknowledged command is there, exactly once; the chains
verify; every polycule's read models have applied its whole stream; every disclosure's
webhook is delivered. The time from the kill to the first write acknowledged again is
measured and printed, never asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.fleet.databases import (
    Formation,
    service_url,
)
from tests.fleet.infrastructure import (
    DATABASE,
    PATIENCE_SECONDS,
    Fleet,
    Instance,
    free_port,
    ledger_environment,
    ledger_tool,
    master_key,
    query,
    wait_until,
)
from tests.fleet.traffic import Site, WriteLoad, receiving, running, signed_up
from tests.http.polycules import polycule_of

pytestmark = pytest.mark.fleet


def owner_of(formation: Formation) -> str:
    hosts = ",".join(f"127.0.0.1:{port}" for port in formation.ports)
    return f"postgresql://postgres@{hosts}/{DATABASE}?target_session_attrs=read-write"


async def test_the_primary_dies_under_load_and_nothing_acknowledged_is_lost(
    fleet: Fleet,
) -> None:
    formation = Formation(fleet)
    await formation.start()
    old_primary = await formation.primary()
    environment = ledger_environment(
        fleet,
        database_url=service_url(*formation.ports),
        owner=owner_of(formation),
        key=master_key(),
    )
    instance = Instance(fleet, "ledger", free_port(), environment).start()
    await instance.ready()
    site = Site(instance.url)

    async with signed_up(site, "ana") as ana, signed_up(site, "ben") as ben, \
            signed_up(site, "cy") as cy, receiving(free_port()) as receiver:
        polycule = await polycule_of(ana, ben, cy)
        await ben.json("POST", "/api/webhooks/endpoints", 201, json={
            "url": receiver.url, "event_types": ["disclosure.shared_with_you"],
        })
        load = WriteLoad(polycule, witness=ben)
        async with running(load, ana, cy):
            await wait_until("a steady load", _at_least(load, 20))
            assert old_primary.process is not None
            killed_at = time.monotonic()
            old_primary.process.kill()
            await wait_until(
                "writes acknowledged again after the failover",
                lambda: _acknowledged_since(load, killed_at, 20),
                within=PATIENCE_SECONDS,
            )
        new_primary = await formation.primary()
        assert new_primary is not old_primary

        answers = sorted(load.answers(), key=lambda answer: answer.at)
        outage = [a for a in answers if a.status == 503]
        # The outage was seen, and seen as one: 503 with Retry-After, nothing else.
        assert outage, "no request met the outage"
        met = min(a.at for a in outage if a.at > killed_at)
        recovered = min(a.at for a in answers if a.status == 201 and a.at > met)
        print(
            f"\nfailover: writes acknowledged again {recovered - killed_at:.1f} s after the "
            f"primary was killed (503 from {met - killed_at:.1f} s on); {len(outage)} answers "
            f"were 503, {len(load.acknowledged)} commands acknowledged in all"
        )
        assert Counter(a.status for a in answers).keys() <= {201, 503}, Counter(
            a.status for a in answers
        )
        assert all(a.retry_after for a in outage)

        # Every acknowledged command is on the new primary, exactly once.
        acknowledged = {c.result["disclosure_id"] for c in load.acknowledged if c.result}
        assert len(acknowledged) == len(load.commands)
        rows = await query(
            owner_of(formation),
            "SELECT data->>'disclosure_id' FROM events"
            " WHERE stream_id = $1::uuid AND event_type = 'DisclosureMade'",
            polycule,
        )
        recorded = [row[0] for row in rows]
        assert sorted(recorded) == sorted(acknowledged)
        # And every one of them is read as told to Ben, and reaches his webhook: the
        # fan-out and delivery (and their listening connections) found the new primary too.
        told = await ben.json("GET", f"/api/polycules/{polycule}/disclosures")
        assert acknowledged <= {d["disclosure_id"] for d in told}
        await wait_until(
            "every disclosure's webhook delivered",
            lambda: _true(receiver.disclosure_ids() >= acknowledged),
        )

    # The chains verify, and every polycule's read models have applied its whole stream.
    report = await asyncio.to_thread(ledger_tool, fleet, environment, "verify")
    assert "chain intact" in report, report
    behind = await query(
        owner_of(formation),
        "SELECT s.stream_id, s.version, r.version AS applied, r.parked_version"
        "  FROM (SELECT stream_id, max(stream_version) AS version FROM events"
        "         GROUP BY stream_id) s"
        "  LEFT JOIN polycule_read_models r ON r.polycule_id = s.stream_id"
        " WHERE r.version IS DISTINCT FROM s.version OR r.parked_version IS NOT NULL",
    )
    assert behind == [], behind


async def _true(value: object) -> bool:
    return bool(value)


def _at_least(load: WriteLoad, count: int):  # type: ignore[no-untyped-def]
    async def enough() -> bool:
        return len(load.acknowledged) >= count

    return enough


async def _acknowledged_since(load: WriteLoad, moment: float, count: int) -> bool:
    if load.stopping.is_set():
        raise AssertionError(f"the load stopped: {load.answers()[-5:]}")
    return load.acknowledged_since(moment) >= count
