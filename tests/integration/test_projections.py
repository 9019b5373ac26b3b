"""The runner of the consumers that follow the whole log: exactly once through crashes and
racing instances, woken by appends here and elsewhere. (Any fold can follow the log this
way; the stream summaries serve as one.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent
from ledger.store.wakeups import AppendAnnouncer, AppendListenerConnection, WakeupHub
from projections.runner import (
    ProjectionRunner,
    catch_up,
    ensure_checkpoint,
    process_batch,
    projection_status,
)
from projections.stream_summaries import StreamSummaries
from tests.support import new_event


async def summaries(pool: asyncpg.Pool) -> dict[uuid.UUID, tuple[int, int]]:
    rows = await pool.fetch("SELECT stream_id, version, event_count FROM stream_summaries")
    return {row["stream_id"]: (row["version"], row["event_count"]) for row in rows}


async def truth(pool: asyncpg.Pool) -> dict[uuid.UUID, tuple[int, int]]:
    rows = await pool.fetch(
        "SELECT stream_id, max(stream_version) AS v, count(*) AS n FROM events GROUP BY 1"
    )
    return {row["stream_id"]: (row["v"], row["n"]) for row in rows}


async def write_history(store: EventStore, streams: int, events_each: int) -> None:
    ids = [uuid.uuid4() for _ in range(streams)]
    for version in range(events_each):
        for stream in ids:
            await store.append(stream, version, [new_event(n=version)])


async def eventually(condition: object, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


class CrashesMidBatch:
    """Writes part of a batch, then its database connection dies, as in a crash."""

    name = "stream_summaries"

    def __init__(self) -> None:
        self.inner = StreamSummaries()

    async def apply(self, connection: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        await self.inner.apply(connection, events[: len(events) // 2])
        await connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")



async def test_the_summary_counts_each_event_exactly_once_across_crashes(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    await write_history(store, streams=6, events_each=7)
    projection = StreamSummaries()
    await ensure_checkpoint(pool, projection)

    assert await process_batch(pool, projection, 10) == 10
    assert await process_batch(pool, projection, 10) == 10
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        await process_batch(pool, CrashesMidBatch(), 10)
    # A new instance takes over from the checkpoint.
    await catch_up(pool, StreamSummaries(), batch_size=10)

    assert await summaries(pool) == await truth(pool)
    assert sum(n for _, n in (await summaries(pool)).values()) == 42


async def test_two_instances_running_one_projection_never_double_count(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    hub_a, hub_b = WakeupHub(), WakeupHub()
    first = ProjectionRunner(pool, [StreamSummaries()], hub_a, batch_size=3, poll_seconds=0.05)
    second = ProjectionRunner(pool, [StreamSummaries()], hub_b, batch_size=3, poll_seconds=0.05)
    first.start()
    second.start()
    try:
        await write_history(store, streams=5, events_each=8)
        expected = await truth(pool)

        async def caught_up() -> bool:
            return await summaries(pool) == expected

        await eventually(caught_up)
    finally:
        await first.stop()
        await second.stop()
    assert await summaries(pool) == expected


async def test_lag_is_reported_per_projection(store: EventStore, pool: asyncpg.Pool) -> None:
    projection = StreamSummaries()
    await ensure_checkpoint(pool, projection)
    await write_history(store, streams=3, events_each=3)
    await process_batch(pool, projection, 4)

    [status] = await projection_status(pool, [projection.name])

    assert status.name == "stream_summaries"
    assert status.events_behind == 5
    # Counted only so far where asked (/status): a consumer far behind stays cheap to show.
    [bounded] = await projection_status(pool, [projection.name], count_up_to=2)
    assert bounded.events_behind == 2
    await catch_up(pool, projection, batch_size=100)
    [status] = await projection_status(pool, [projection.name])
    assert status.events_behind == 0


async def test_an_append_in_this_process_wakes_the_runner_without_waiting_for_a_poll(
    pool: asyncpg.Pool, database_url: str
) -> None:
    hub = WakeupHub()
    announcer = AppendAnnouncer(database_url, hub)
    store = EventStore(pool, on_append=announcer)
    runner = ProjectionRunner(pool, [StreamSummaries()], hub, poll_seconds=3600)
    announcer.start()
    runner.start()
    try:
        await asyncio.sleep(0.1)  # let the runner reach its wait
        stream = uuid.uuid4()
        await store.append(stream, 0, [new_event()])

        async def summarised() -> bool:
            return stream in await summaries(pool)

        await eventually(summarised, within=5)
    finally:
        await runner.stop()
        await announcer.stop()


async def test_an_append_in_another_instance_wakes_the_runner_through_notify(
    pool: asyncpg.Pool, database_url: str
) -> None:
    # Instance A appends; instance B only listens. Polling is an hour away.
    hub_a, hub_b = WakeupHub(), WakeupHub()
    announcer_a = AppendAnnouncer(database_url, hub_a)
    listener_b = AppendListenerConnection(database_url, hub_b)
    runner_b = ProjectionRunner(pool, [StreamSummaries()], hub_b, poll_seconds=3600)
    store_a = EventStore(pool, on_append=announcer_a)
    announcer_a.start()
    listener_b.start()
    runner_b.start()
    try:
        await asyncio.sleep(0.3)  # listener connected, runner waiting
        stream = uuid.uuid4()
        await store_a.append(stream, 0, [new_event()])

        async def summarised() -> bool:
            return stream in await summaries(pool)

        await eventually(summarised, within=5)
    finally:
        await runner_b.stop()
        await listener_b.stop()
        await announcer_a.stop()
