"""Benchmark: the first request after a restart, for a polycule with years of events.

One polycule lives an ordinary life (bench/agreements_read.py's LivingPolycule: agreements
proposed, consented to, amended, reviewed and revoked) until its stream holds --events
events (10 000 by default), written through the event store as the service writes them.
Then its state is loaded the way every request loads it (``ApplicationService.load``, the
authorization middleware's first step), timed in three ways, each --rounds times:

* warm — an instance that has loaded the polycule before (its state kept in memory);
* after a restart, with snapshots — a new instance (nothing in memory), as the service
  runs: it reads the polycule's latest snapshot and folds only the events after it;
* after a restart, without snapshots — a new instance that folds the whole stream, as
  before snapshots existed: the baseline.

Target: the first load after a restart within 50 ms of a warm one. Every figure is the
median of the rounds, measured in the same run.

Uses ``DATABASE_URL`` if set (a scratch database is created and dropped there), else an
embedded PostgreSQL in a temporary directory.

    ./dev bench snapshots [--events 10000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid

from bench.agreements_read import LivingPolycule
from bench.scratch import run_against_postgres, scratch_database
from ledger.database import create_pool
from ledger.domain.polycules import polycule_decider
from ledger.privacy import KeyRing, MasterKey
from ledger.service import ApplicationService
from ledger.snapshots import Snapshots
from ledger.store.events import EventStore
from ledger.store.migrate import migrate

TARGET_MS = 50.0


async def timed_load(service: ApplicationService, polycule_id: uuid.UUID) -> float:
    started = time.perf_counter()
    await service.load(polycule_id, polycule_decider)
    return (time.perf_counter() - started) * 1000


async def bench(server_url: str, events: int, rounds: int) -> int:
    async with scratch_database(server_url) as url:
        pool = await create_pool(url, min_size=2, max_size=4)
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
            master = MasterKey.generate()
            store, keyring = EventStore(pool), KeyRing(pool, master)
            rng = random.Random(7)
            polycule = LivingPolycule(uuid.uuid4(), members=5, rng=rng)
            written = 0
            while written < events:
                while polycule.event_count() < min(500, events - written):
                    polycule.ordinary_day()
                written += await polycule.write(store, keyring)
            print(f"one polycule of {written} events, written through the event store")

            def instance(*, snapshots: bool) -> ApplicationService:
                return ApplicationService(
                    EventStore(pool), KeyRing(pool, master),
                    snapshots=Snapshots.of(pool, polycule=polycule_decider) if snapshots
                    else None,
                )

            # The service keeps a snapshot as it folds: the first instance leaves one.
            await instance(snapshots=True).load(polycule.id, polycule_decider)
            warm_instance = instance(snapshots=True)
            await warm_instance.load(polycule.id, polycule_decider)
            figures: dict[str, list[float]] = {"warm": [], "snapshot": [], "full fold": []}
            for _ in range(rounds):
                figures["warm"].append(await timed_load(warm_instance, polycule.id))
                figures["snapshot"].append(
                    await timed_load(instance(snapshots=True), polycule.id)
                )
                figures["full fold"].append(
                    await timed_load(instance(snapshots=False), polycule.id)
                )
        finally:
            await pool.close()
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(f"load of the polycule's state, median of {rounds} rounds:")
    print(f"  warm (kept in memory)                  {median['warm']:8.2f} ms")
    print(f"  after a restart, from its snapshot     {median['snapshot']:8.2f} ms")
    print(f"  after a restart, folding every event   {median['full fold']:8.2f} ms")
    over = median["snapshot"] - median["warm"]
    verdict = "met" if over <= TARGET_MS else "NOT met"
    print(f"  first load after a restart: {over:.2f} ms over a warm one "
          f"(target within {TARGET_MS:.0f} ms: {verdict})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    return run_against_postgres(lambda url: bench(url, arguments.events, arguments.rounds))


if __name__ == "__main__":
    sys.exit(main())
