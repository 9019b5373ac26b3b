"""Benchmark: answering a signed checkpoint and the proofs of a long history.

One polycule's stream holds --events events (100 000 by default), appended through the
event store in batches (the tree is over their stored hashes: what the events say does not
matter here). Nothing is computed as they are appended; each answer below computes the
Merkle tree from the stored hashes when it is asked for, as the service does
(ledger/transparency/checkpoints.py), each timed --rounds times:

* reading the stream's hashes alone — the floor every answer stands on;
* the latest checkpoint, first asked (the tree computed, the checkpoint signed and kept);
* the latest checkpoint, asked again (the tree computed, the kept checkpoint found);
* a consistency proof from half the history to all of it;
* an inclusion proof of the first event in the whole history.

Every figure is the median of the rounds, measured in the same run; each answer is also
given as a ratio to the floor.

Uses ``DATABASE_URL`` if set (a scratch database is created and dropped there), else an
embedded PostgreSQL in a temporary directory.

    ./dev bench checkpoints [--events 100000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.scratch import run_against_postgres, scratch_database
from ledger.clock import SystemClock
from ledger.database import create_pool
from ledger.store.events import EventStore
from ledger.store.migrate import migrate
from ledger.store.records import NewEvent
from ledger.transparency.checkpoints import LEAF_HASHES, Checkpoints
from ledger.transparency.signing import CheckpointKeys

BATCH = 1000


def fact(number: int) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(), event_type="FactRecorded", schema_version=1,
        data={"note": f"fact {number}"}, metadata={"actor": "bench"},
    )


async def timed(rounds: int, answer: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await answer()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def bench(server_url: str, events: int, rounds: int) -> int:
    async with scratch_database(server_url) as url:
        pool = await create_pool(url, min_size=2, max_size=4)
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
            store = EventStore(pool)
            polycule = uuid.uuid4()
            for start in range(0, events, BATCH):
                batch = [fact(n) for n in range(start, min(events, start + BATCH))]
                await store.append(polycule, start, batch)
            print(f"one polycule of {events} events, appended through the event store")
            keys = CheckpointKeys(Ed25519PrivateKey.generate())

            def fresh() -> Checkpoints:
                return Checkpoints(pool, keys, SystemClock())

            async def first_asked() -> None:
                # A new size each round: one more event, so a new checkpoint to sign.
                await store.append(polycule, events + first_rounds[0], [fact(-1)])
                first_rounds[0] += 1
                await fresh().latest(polycule)

            first_rounds = [0]
            floor = await timed(rounds, lambda: pool.fetchval(LEAF_HASHES, polycule, 2**62))
            first = await timed(rounds, first_asked)
            size = events + first_rounds[0]
            again = await timed(rounds, lambda: fresh().latest(polycule))
            consistency = await timed(
                rounds, lambda: fresh().consistency(polycule, size // 2, None)
            )
            inclusion = await timed(rounds, lambda: fresh().inclusion(polycule, 1, size))
        finally:
            await pool.close()
    print(f"answers for a polycule of {size} events, median of {rounds} rounds:")
    print(f"  reading its stored hashes alone (the floor)   {floor:8.1f} ms")
    for name, figure in (
        ("latest checkpoint, first asked (signed, kept)", first),
        ("latest checkpoint, asked again", again),
        (f"consistency proof {size // 2} to {size}", consistency),
        (f"inclusion proof of event 1 in {size}", inclusion),
    ):
        print(f"  {name:<46}{figure:8.1f} ms  ({figure / floor:4.1f} times the floor)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    return run_against_postgres(lambda url: bench(url, arguments.events, arguments.rounds))


if __name__ == "__main__":
    sys.exit(main())
