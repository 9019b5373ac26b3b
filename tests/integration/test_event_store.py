"""The event store's contract, on a real PostgreSQL (embedded 16, or the server you name)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ledger.errors import ConcurrencyError, DuplicateEventError
from ledger.store.chain import GENESIS_HASH
from ledger.store.events import EventStore, PendingAppend
from ledger.store.records import NewEvent
from ledger.store.verify import verify
from tests.support import new_event


async def test_appended_events_read_back_in_version_order_with_a_linked_chain(
    store: EventStore,
) -> None:
    stream = uuid.uuid4()
    first = await store.append(stream, 0, [new_event(n=1), new_event(n=2)])
    second = await store.append(stream, 2, [new_event(n=3)])

    events = await store.read_stream(stream)

    assert (first.version, second.version) == (2, 3)
    assert [event.stream_version for event in events] == [1, 2, 3]
    assert [event.data["n"] for event in events] == [1, 2, 3]
    assert events[0].previous_hash == GENESIS_HASH
    assert events[1].previous_hash == events[0].hash
    assert events[2].previous_hash == events[1].hash
    assert events[0].position < events[1].position < events[2].position
    assert events[0].metadata["actor"] == "member-1"


async def test_a_wrong_expected_version_raises_and_writes_nothing(store: EventStore) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event()])

    with pytest.raises(ConcurrencyError) as raised:
        await store.append(stream, 0, [new_event(), new_event()])

    assert raised.value.actual_version == 1
    assert raised.value.expected_version == 0
    assert len(await store.read_stream(stream)) == 1
    with pytest.raises(ConcurrencyError):
        await store.append(uuid.uuid4(), 3, [new_event()])


async def test_concurrent_appends_at_one_version_let_exactly_one_through(
    store: EventStore,
) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event()])
    writers = 24

    outcomes = await asyncio.gather(
        *(store.append(stream, 1, [new_event(writer=i), new_event(writer=i)])
          for i in range(writers)),
        return_exceptions=True,
    )

    succeeded = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, ConcurrencyError)]
    assert len(succeeded) == 1
    assert len(refused) == writers - 1
    events = await store.read_stream(stream)
    assert [event.stream_version for event in events] == [1, 2, 3]
    winner = events[1].data["writer"]
    assert events[2].data["writer"] == winner


async def test_retrying_an_append_that_was_written_returns_the_original_result(
    store: EventStore,
) -> None:
    stream = uuid.uuid4()
    batch = [new_event(n=1), new_event(n=2)]
    original = await store.append(stream, 0, batch)
    await store.append(stream, 2, [new_event(n=3)])

    retried = await store.append(stream, 0, batch)

    assert retried == original
    assert [e.data["n"] for e in await store.read_stream(stream)] == [1, 2, 3]


async def test_concurrent_identical_appends_write_once(store: EventStore) -> None:
    stream = uuid.uuid4()
    batch = [new_event(n=1)]

    results = await asyncio.gather(*(store.append(stream, 0, batch) for _ in range(8)))

    assert len(set(results)) == 1
    assert len(await store.read_stream(stream)) == 1


async def test_an_event_id_reused_for_other_content_is_refused(store: EventStore) -> None:
    stream = uuid.uuid4()
    written = new_event(n=1)
    await store.append(stream, 0, [written])
    of_another_type = NewEvent(written.event_id, "MemberLeft", 1, {"n": 1}, {})
    later_with_an_old_id = NewEvent(written.event_id, written.event_type, 1, {"n": 2}, {})

    with pytest.raises(DuplicateEventError):
        await store.append(stream, 0, [of_another_type])
    with pytest.raises(DuplicateEventError):
        await store.append(stream, 1, [new_event(n=2), later_with_an_old_id])


async def test_an_event_id_is_unique_within_its_stream_the_shard_key(store: EventStore) -> None:
    """The store keys event ids by stream, as a database sharded by polycule can; the same
    id in another stream is another event (the service refuses a command id reused on
    another polycule before it appends: IdempotencyKeyReused)."""
    written = new_event(n=1)
    await store.append(uuid.uuid4(), 0, [written])
    elsewhere = uuid.uuid4()

    await store.append(elsewhere, 0, [written])

    assert [event.event_id for event in await store.read_stream(elsewhere)] == [
        written.event_id
    ]


async def test_empty_or_negative_appends_are_refused(store: EventStore) -> None:
    with pytest.raises(ValueError):
        await store.append(uuid.uuid4(), 0, [])
    with pytest.raises(ValueError):
        await store.append(uuid.uuid4(), -1, [new_event()])


async def test_events_cannot_be_updated_or_deleted(store: EventStore, pool: asyncpg.Pool) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event(n=1)])

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE events SET data = '{}' WHERE stream_id = $1", stream)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("DELETE FROM events WHERE stream_id = $1", stream)

    assert (await store.read_stream(stream))[0].data == {"n": 1}


async def test_a_stale_writer_is_refused_before_it_takes_a_position(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event(n=1), new_event(n=2)])
    elsewhere = EventStore(pool)  # another instance: it has never seen this stream

    async def positions_taken() -> int:
        taken: int = await pool.fetchval(
            "SELECT last_value FROM pg_sequences WHERE sequencename = 'events_position_seq'"
        )
        return taken

    before = await positions_taken()
    with pytest.raises(ConcurrencyError):
        await elsewhere.append(stream, 1, [new_event(n=3)])
    with pytest.raises(ConcurrencyError):
        await store.append(stream, 1, [new_event(n=3)])

    assert await positions_taken() == before


# --- Recorded time -------------------------------------------------------------------------


async def _no_read_models(connection: object, events: object) -> None:
    return None


async def test_an_append_is_never_recorded_before_its_streams_last_event(
    pool: asyncpg.Pool,
) -> None:
    """Two instances whose clocks differ by ten minutes write to one stream in turns, by
    every way of appending: each event is recorded no earlier than the one before it, and
    at its own instance's moment whenever that is later. The chain still verifies."""
    now = datetime.now(UTC)
    ahead = EventStore(pool, clock=lambda: now + timedelta(minutes=10))
    behind = EventStore(pool, clock=lambda: now)
    stream = uuid.uuid4()

    await ahead.append(stream, 0, [new_event(n=1)])
    await behind.append(stream, 1, [new_event(n=2)])
    await behind.append(stream, 2, [new_event(n=3), new_event(n=4)])
    await behind.append_applying(stream, 4, [new_event(n=5)], _no_read_models)
    await behind.append_applying_together(
        [PendingAppend(stream, 5, [new_event(n=6)], recorded_at=now)],
        _no_read_models,
    )
    await behind.append(stream, 6, [new_event(n=7)], recorded_at=now + timedelta(minutes=11))
    await ahead.append(stream, 7, [new_event(n=8)], recorded_at=now)

    events = await EventStore(pool).read_stream(stream)
    moments = [event.recorded_at for event in events]
    assert moments == sorted(moments)
    assert moments[:6] == [now + timedelta(minutes=10)] * 6
    assert moments[6:] == [now + timedelta(minutes=11)] * 2
    async with pool.acquire() as connection:
        assert (await verify(connection, stream)).ok


async def test_a_stream_read_elsewhere_still_holds_the_next_append_back(
    pool: asyncpg.Pool,
) -> None:
    """The head an instance remembers from reading carries the time too."""
    now = datetime.now(UTC)
    stream = uuid.uuid4()
    await EventStore(pool, clock=lambda: now + timedelta(hours=1)).append(
        stream, 0, [new_event()]
    )
    behind = EventStore(pool, clock=lambda: now)
    await behind.read_stream(stream)  # remembers the head: no STREAM_HEAD on append

    await behind.append(stream, 1, [new_event()])

    first, second = await behind.read_stream(stream)
    assert second.recorded_at == first.recorded_at == now + timedelta(hours=1)
