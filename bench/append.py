"""Benchmark: event-store appends against the floor of plain INSERTs, in one run.

Both sides write one event per transaction from 16 concurrent writers spread over 1000
polycule streams, with synchronous_commit left on, on the same database:

* store — ``EventStore.append`` as the service uses it (expected-version check, hash
  chain, one round trip, wake-ups announced);
* floor — plain asyncpg single-row INSERTs of the same row (all ten columns supplied by
  the client: ids, type, schema version, data, metadata, recorded time, two 32-byte
  hashes) into a table made ``LIKE events`` (same columns, same unique (stream, version)
  key, same indexes), with no version check, no encoding and no chain: the hashes are
  fixed bytes.

Rounds alternate floor/store (and which goes first) so drift in the machine affects both
alike; the median of the rounds' ratios is the figure that counts. Uses ``DATABASE_URL``
if set (a scratch database is created and dropped there), else an embedded PostgreSQL in
a temporary directory.

    ./dev bench [--events 2000] [--rounds 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from bench.scratch import run_against_postgres, scratch_database
from ledger.database import create_pool
from ledger.store.events import EventStore
from ledger.store.migrate import migrate
from ledger.store.records import NewEvent
from ledger.store.wakeups import AppendAnnouncer, WakeupHub

WRITERS = 16
STREAMS = 1000

PLAIN_INSERT = """
INSERT INTO plain_inserts (stream_id, stream_version, event_id, event_type, schema_version,
                           data, metadata, recorded_at, previous_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

PAYLOAD = {"agreement_id": str(uuid.uuid4()), "member_id": str(uuid.uuid4()), "revision": 3}
METADATA = {"actor": str(uuid.uuid4()), "command_id": str(uuid.uuid4()), "request_id": "bench"}


async def run_writers(total: int, write: Callable[[uuid.UUID, int], Awaitable[None]]) -> float:
    """Run ``total`` one-event writes from WRITERS tasks; return events per second.

    Writer w owns the streams w, w+16, w+32 …, so writers never contend for a stream and
    each keeps its streams' versions itself, exactly as a client with a fresh read would.
    """
    streams = [uuid.uuid4() for _ in range(STREAMS)]
    per_writer = total // WRITERS

    async def writer(index: int) -> None:
        mine = streams[index::WRITERS]
        versions = dict.fromkeys(mine, 0)
        for n in range(per_writer):
            stream = mine[n % len(mine)]
            await write(stream, versions[stream])
            versions[stream] += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    return per_writer * WRITERS / (time.perf_counter() - started)


async def bench(url: str, events: int, rounds: int) -> int:
    async with scratch_database(url) as target:
        connection = await asyncpg.connect(target)
        await migrate(connection)
        await connection.execute("CREATE TABLE plain_inserts (LIKE events INCLUDING ALL)")
        settings = await connection.fetchrow(
            "SELECT current_setting('server_version') AS version, "
            "current_setting('synchronous_commit') AS sync, current_setting('fsync') AS fsync"
        )
        await connection.close()
        print(
            f"PostgreSQL {settings['version']}, synchronous_commit={settings['sync']}, "
            f"fsync={settings['fsync']}; {WRITERS} writers, {STREAMS} streams, "
            f"{events} events per round, {rounds} rounds"
        )

        pool = await create_pool(target, min_size=WRITERS + 1, max_size=WRITERS + 1)
        announcer = AppendAnnouncer(target, WakeupHub())
        announcer.start()
        store = EventStore(pool, on_append=announcer)
        previous_hash, event_hash = bytes(32), bytes(range(32))

        async def plain(stream: uuid.UUID, version: int) -> None:
            await pool.execute(
                PLAIN_INSERT, stream, version + 1, uuid.uuid4(), "ConsentGiven", 1,
                PAYLOAD, METADATA, datetime.now(UTC), previous_hash, event_hash,
            )

        async def append(stream: uuid.UUID, version: int) -> None:
            event = NewEvent(uuid.uuid4(), "ConsentGiven", 1, PAYLOAD, METADATA)
            await store.append(stream, version, [event])

        # Warm both paths (plans, caches, pool) before measuring.
        await run_writers(WRITERS * 20, plain)
        await run_writers(WRITERS * 20, append)

        floor_rates, store_rates = [], []
        for round_number in range(1, rounds + 1):
            # Alternate which side goes first, so checkpoints and autovacuum that follow
            # one side's writes land on both sides alike.
            if round_number % 2:
                floor_rates.append(await run_writers(events, plain))
                store_rates.append(await run_writers(events, append))
            else:
                store_rates.append(await run_writers(events, append))
                floor_rates.append(await run_writers(events, plain))
            print(
                f"  round {round_number}: floor {floor_rates[-1]:8.0f} ev/s   "
                f"store {store_rates[-1]:8.0f} ev/s   ratio {store_rates[-1] / floor_rates[-1]:.3f}"
            )
        await announcer.stop()
        await pool.close()

    floor, stored = statistics.median(floor_rates), statistics.median(store_rates)
    # Each round's ratio compares two runs seconds apart; their median shrugs off the
    # machine's bursts of noise better than a ratio of medians would.
    ratio = statistics.median(s / f for s, f in zip(store_rates, floor_rates, strict=True))
    print(f"plain INSERT floor: {floor:8.0f} events/s (median of rounds)")
    print(f"event store:        {stored:8.0f} events/s (median of rounds)")
    print(f"ratio store/floor:  {ratio:.3f}  (median of the rounds' ratios; target >= 0.90)")
    return 0 if ratio >= 0.90 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events per round and side")
    parser.add_argument("--rounds", type=int, default=16)
    args = parser.parse_args()
    return run_against_postgres(lambda url: bench(url, args.events, args.rounds))


if __name__ == "__main__":
    sys.exit(main())
