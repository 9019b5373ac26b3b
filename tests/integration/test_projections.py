"""The runner every fan-out runs on, polycule by polycule: exactly once through crashes and
racing instances, woken by appends here and elsewhere. (Any fold can follow the streams
this way; the stream summaries serve as one, on the mail fan-out's table of positions.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from ledger.mail.fanout import MailFanout
from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent
from ledger.store.wakeups import AppendAnnouncer, AppendListenerConnection, WakeupHub
from projections.runner import ProjectionRunner, polycules_behind
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


class Summaries(StreamSummaries):
    """The stream summaries, followed from the mail fan-out's positions."""

    name = MailFanout.name


async def write_history(
    store: EventStore, pool: asyncpg.Pool, streams: int, events_each: int
) -> list[uuid.UUID]:
    """Polycules' streams, each listed as the service lists them (its read side's row)."""
    ids = [uuid.uuid4() for _ in range(streams)]
    for stream in ids:
        await listed(pool, stream)
    for version in range(events_each):
        for stream in ids:
            await store.append(stream, version, [new_event(n=version)])
    return ids


async def listed(pool: asyncpg.Pool, polycule: uuid.UUID) -> None:
    await pool.execute("INSERT INTO polycule_read_models (polycule_id) VALUES ($1)", polycule)


async def eventually(condition: object, within: float = 60.0) -> None:
    """Wait for ``condition``; the limit only keeps a broken runner from hanging the suite
    (a pass on a distributed database, on a busy machine, takes seconds)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


class CrashesMidPass:
    """Writes part of a pass, then its database connection dies, as in a crash."""

    name = MailFanout.name

    def __init__(self) -> None:
        self.inner = Summaries()

    async def apply(self, connection: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        await self.inner.apply(connection, events[: len(events) // 2])
        await connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")



async def test_the_summary_counts_each_event_exactly_once_across_crashes(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    streams = await write_history(store, pool, streams=6, events_each=7)
    runner = ProjectionRunner(pool, Summaries(), WakeupHub(), events_per_polycule=3)

    assert await runner.fan_out(streams[:2]) == (set(streams[:2]), 6)
    crashing = ProjectionRunner(pool, CrashesMidPass(), WakeupHub(), events_per_polycule=3)
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        await crashing.fan_out(streams)
    # A new instance takes over from the positions.
    await ProjectionRunner(pool, Summaries(), WakeupHub()).catch_up_now()

    assert await summaries(pool) == await truth(pool)
    assert sum(n for _, n in (await summaries(pool)).values()) == 42


async def test_two_instances_running_one_projection_never_double_count(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    hub_a, hub_b = WakeupHub(), WakeupHub()
    first, second = (
        ProjectionRunner(pool, Summaries(), hub, polycules_per_pass=2, events_per_polycule=3,
                         poll_seconds=0.05)
        for hub in (hub_a, hub_b)
    )
    first.start()
    second.start()
    try:
        await write_history(store, pool, streams=5, events_each=8)
        expected = await truth(pool)

        async def caught_up() -> bool:
            return await summaries(pool) == expected

        await eventually(caught_up)
    finally:
        await first.stop()
        await second.stop()
    assert await summaries(pool) == expected


async def test_the_polycules_behind_are_counted_per_consumer(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    streams = await write_history(store, pool, streams=3, events_each=3)
    runner = ProjectionRunner(pool, Summaries(), WakeupHub(), events_per_polycule=2)

    await runner.fan_out(streams[:1])  # two of its three events
    await runner.fan_out(streams[1:2])
    await runner.fan_out(streams[1:2])  # and its third

    assert await polycules_behind(pool, MailFanout.name) == 2
    assert await polycules_behind(pool, "webhook_fanout") == 3  # its own positions
    await runner.catch_up_now()
    assert await runner.polycules_behind() == 0


async def test_an_append_in_this_process_wakes_the_runner_without_waiting_for_a_poll(
    pool: asyncpg.Pool, database_url: str
) -> None:
    hub = WakeupHub()
    announcer = AppendAnnouncer(database_url, hub)
    store = EventStore(pool, on_append=announcer)
    runner = ProjectionRunner(pool, Summaries(), hub, poll_seconds=3600)
    announcer.start()
    runner.start()
    try:
        await asyncio.sleep(0.1)  # let the runner reach its wait
        stream = uuid.uuid4()
        await listed(pool, stream)
        await store.append(stream, 0, [new_event()])

        async def summarised() -> bool:
            return stream in await summaries(pool)

        await eventually(summarised)
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
    runner_b = ProjectionRunner(pool, Summaries(), hub_b, poll_seconds=3600)
    store_a = EventStore(pool, on_append=announcer_a)
    announcer_a.start()
    listener_b.start()
    runner_b.start()
    try:
        await asyncio.sleep(0.3)  # listener connected, runner waiting
        stream = uuid.uuid4()
        await listed(pool, stream)
        await store_a.append(stream, 0, [new_event()])

        async def summarised() -> bool:
            return stream in await summaries(pool)

        await eventually(summarised)
    finally:
        await runner_b.stop()
        await listener_b.stop()
        await announcer_a.stop()
