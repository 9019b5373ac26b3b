"""The service through PgBouncer in transaction pooling mode.

PgBouncer 1.18 (Debian's) does not track prepared statements: a statement prepared on one
server connection may be run on another. The service is told so
(``LEDGER_STATEMENT_CACHE_SIZE=0``), and listens on PostgreSQL itself
(``LEDGER_LISTEN_DATABASE_URL``), since a pooler in transaction mode cannot hold a LISTEN.
The whole journey — sign up, found a polycule, invite, propose, consent, read what is in
force — goes through it, and a member's live page hears of it.
"""

from __future__ import annotations

import pytest

from tests.fleet.databases import (
    owner_url,
    postgres_ready,
    service_url,
    start_pgbouncer,
    start_postgres,
)
from tests.fleet.infrastructure import (
    Fleet,
    Instance,
    free_port,
    ledger_environment,
    master_key,
    query,
)
from tests.fleet.traffic import Site, signed_up
from tests.http.polycules import polycule_of
from tests.http.streams import next_change, open_stream, opening_id, propose

pytestmark = pytest.mark.fleet


async def test_the_journey_through_pgbouncer_in_transaction_mode(fleet: Fleet) -> None:
    postgres = start_postgres(fleet)
    await postgres_ready(postgres)
    bouncer = start_pgbouncer(fleet, postgres)
    environment = ledger_environment(
        fleet,
        database_url=service_url(bouncer),
        owner=owner_url(postgres),
        key=master_key(),
        listen_database_url=service_url(postgres),
        statement_cache_size="0",
        # More of the service's connections than PgBouncer has of PostgreSQL's.
        pool_min_size="4",
        pool_max_size="4",
        # A quiet live stream looks for itself only this seldom: within the test, only a
        # NOTIFY heard on the listening connection wakes it.
        live_keepalive_seconds="600",
    )
    one, other = (Instance(fleet, name, free_port(), environment).start()
                  for name in ("ledger-1", "ledger-2"))
    await one.ready()
    await other.ready()
    site = Site(one.url)

    async with signed_up(site, "ana") as ana, signed_up(site, "ben") as ben:
        polycule = await polycule_of(ana, ben)
        # Ben's page is served by the other instance.
        ben.client = Site(other.url)  # type: ignore[assignment]
        live = await open_stream(ben, f"/api/polycules/{polycule}/live")
        await opening_id(live)
        ben.client = site  # type: ignore[assignment]

        proposal = await propose(ana, polycule, ben)
        # Ben's page hears of it from the other instance: the NOTIFY and the LISTEN, on
        # PostgreSQL itself, carried the wake-up.
        assert await next_change(live, within=30) == ["AgreementProposed", "ConsentGiven"]
        ratified = await ben.json(
            "POST", f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}/consent",
            json={"revision": 1},
        )
        assert ratified["status"] == "ratified"
        in_force = await ana.json("GET", f"/api/polycules/{polycule}/agreements")
        assert [agreement["version"] for agreement in in_force] == [1]
        assert sorted(in_force[0]["parties"]) == sorted(
            [str(ana.account_id), str(ben.account_id)]
        )
        live.close()

    # Every statement above went through PgBouncer: the service's role holds no more
    # connections to PostgreSQL than PgBouncer's pool (4) and the instances' own listening
    # ones (3 each), fewer than their pools (4 each) would hold besides.
    connections = await query(
        owner_url(postgres), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
        "ledger_app",
    )
    assert connections[0][0] <= 4 + 2 * 3
