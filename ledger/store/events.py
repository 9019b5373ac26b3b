"""The asyncpg event store: append with an expected version, read a stream, read the log.

The statements themselves, and why they are shaped as they are, live in ``sql.py``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

import asyncpg

from ledger.errors import ConcurrencyError, DuplicateEventError
from ledger.store import sql
from ledger.store.chain import GENESIS_HASH, canonical_encoding, encode_json, link
from ledger.store.records import AppendResult, GlobalPosition, NewEvent, RecordedEvent

# Event types are names in code, never free text.
_EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,99}$")


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AppendListener(Protocol):
    def poke(self) -> None: ...


Executor = asyncpg.Pool | asyncpg.Connection


def recorded_event(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        position=row["position"],
        transaction_id=int(row["transaction_id"]),
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
        previous_hash=bytes(row["previous_hash"]),
        hash=bytes(row["hash"]),
    )


class StreamHeads:
    """The last known (version, hash) of recently used streams, to link the chain.

    Only committed events are remembered (read from the log, or appended outside any
    caller's transaction), and a committed event never changes or disappears, so an entry
    is never wrong, only possibly old: an old entry simply does not match the expected
    version and the head is read from the database instead.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._heads: OrderedDict[UUID, tuple[int, bytes]] = OrderedDict()

    def get(self, stream_id: UUID, version: int) -> bytes | None:
        head = self._heads.get(stream_id)
        if head is None or head[0] != version:
            return None
        self._heads.move_to_end(stream_id)
        return head[1]

    def remember(self, stream_id: UUID, version: int, hash_: bytes) -> None:
        known = self._heads.get(stream_id)
        if known is not None and known[0] >= version:
            return
        self._heads[stream_id] = (version, hash_)
        self._heads.move_to_end(stream_id)
        if len(self._heads) > self._capacity:
            self._heads.popitem(last=False)


class EventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock = utc_now,
        on_append: AppendListener | None = None,
        heads: StreamHeads | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._on_append = on_append
        self._heads = heads if heads is not None else StreamHeads()

    async def append(
        self,
        stream_id: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        connection: asyncpg.Connection | None = None,
    ) -> AppendResult:
        """Append ``events`` after ``expected_version``, all or nothing.

        Raises ConcurrencyError (nothing written) when the stream is elsewhere. Retrying an
        append whose events were already written returns the original result. Given a
        ``connection``, the append joins that connection's open transaction; subscribers are
        then not woken (the events are not visible before that transaction commits) and
        find them at their next poll, or when the caller calls ``announce``.
        """
        if not events:
            raise ValueError("an append needs at least one event")
        if expected_version < 0:
            raise ValueError("expected_version cannot be negative")
        for event in events:
            if not _EVENT_TYPE.match(event.event_type):
                raise ValueError(f"not an event type name: {event.event_type!r}")
        executor: Executor = connection or self._pool
        previous = await self._hash_at(executor, stream_id, expected_version)
        if previous is None:
            return await self._explain_refused_append(stream_id, expected_version, events, None)

        recorded_at = self._clock()
        versions, data, metadata, previous_hashes, hashes = [], [], [], [], []
        for version, event in enumerate(events, start=expected_version + 1):
            data_json, metadata_json = encode_json(event.data), encode_json(event.metadata)
            event_hash = link(previous, canonical_encoding(
                stream_id=stream_id,
                stream_version=version,
                event_id=event.event_id,
                event_type=event.event_type,
                schema_version=event.schema_version,
                data_json=data_json,
                metadata_json=metadata_json,
                recorded_at=recorded_at,
            ))
            versions.append(version)
            data.append(data_json)
            metadata.append(metadata_json)
            previous_hashes.append(previous)
            hashes.append(event_hash)
            previous = event_hash
        try:
            if len(events) == 1:
                only = events[0]
                rows = await executor.fetch(
                    sql.APPEND_ONE, stream_id, versions[0], only.event_id, only.event_type,
                    only.schema_version, data[0], metadata[0], recorded_at,
                    previous_hashes[0], hashes[0],
                )
            else:
                rows = await executor.fetch(
                    sql.APPEND_MANY, stream_id, versions,
                    [event.event_id for event in events],
                    [event.event_type for event in events],
                    [event.schema_version for event in events],
                    data, metadata, recorded_at, previous_hashes, hashes,
                )
        except asyncpg.UniqueViolationError as error:
            return await self._explain_refused_append(stream_id, expected_version, events, error)
        if not rows:
            return await self._explain_refused_append(stream_id, expected_version, events, None)
        if connection is None:  # committed: the new head can be trusted, and seen
            self._heads.remember(stream_id, versions[-1], hashes[-1])
            self.announce()
        return AppendResult(
            stream_id=stream_id,
            version=versions[-1],
            positions=tuple(row["position"] for row in rows),
        )

    def announce(self) -> None:
        """Wake subscribers: new events are committed."""
        if self._on_append is not None:
            self._on_append.poke()

    async def _hash_at(self, executor: Executor, stream_id: UUID, version: int) -> bytes | None:
        """The hash of the stream's event at ``version``, if that is the stream's head."""
        if version == 0:
            return GENESIS_HASH
        known = self._heads.get(stream_id, version)
        if known is not None:
            return known
        head = await executor.fetchrow(sql.STREAM_HEAD, stream_id)
        if head is None or head["stream_version"] != version:
            return None
        return bytes(head["hash"])

    async def _explain_refused_append(
        self,
        stream_id: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        error: asyncpg.UniqueViolationError | None,
    ) -> AppendResult:
        """Nothing was written: was it written before (a retry), or did the stream move?"""
        constraint = error.constraint_name if error is not None else None
        if error is not None and constraint not in (
            "events_stream_version_key", "events_event_id_key"
        ):
            raise error
        original = await self._pool.fetch(sql.FIND_BY_EVENT_IDS, [e.event_id for e in events])
        if original:
            if _same_append(stream_id, events, [recorded_event(row) for row in original]):
                return AppendResult(
                    stream_id=stream_id,
                    version=original[-1]["stream_version"],
                    positions=tuple(row["position"] for row in original),
                )
            raise DuplicateEventError(
                "these event ids were already used for other events",
                details={"event_ids": [str(row["event_id"]) for row in original]},
            )
        actual = await self.stream_version(stream_id)
        raise ConcurrencyError(stream_id, expected_version, actual) from None

    async def events_by_id(self, event_ids: Sequence[UUID]) -> list[RecordedEvent]:
        rows = await self._pool.fetch(sql.FIND_BY_EVENT_IDS, list(event_ids))
        return [recorded_event(row) for row in rows]

    async def events_of_command(
        self, stream_id: UUID, command_id: UUID, first_event_id: UUID
    ) -> list[RecordedEvent]:
        """The events one command wrote to a stream, in order, from the first one's id."""
        rows = await self._pool.fetch(
            sql.EVENTS_OF_COMMAND, stream_id, str(command_id), first_event_id
        )
        return [recorded_event(row) for row in rows]

    async def stream_version(self, stream_id: UUID) -> int:
        version: int = await self._pool.fetchval(sql.STREAM_VERSION, stream_id)
        return version

    async def read_stream(self, stream_id: UUID, after_version: int = 0) -> list[RecordedEvent]:
        rows = await self._pool.fetch(sql.READ_STREAM, stream_id, after_version)
        events = [recorded_event(row) for row in rows]
        if events:
            self._heads.remember(stream_id, events[-1].stream_version, events[-1].hash)
        return events

    async def read_all(self, after: GlobalPosition, limit: int) -> list[RecordedEvent]:
        return await read_all(self._pool, after, limit)

    async def horizon_lag_seconds(self) -> float:
        lag: float = await self._pool.fetchval(sql.HORIZON_LAG)
        return lag


async def read_all(executor: Executor, after: GlobalPosition, limit: int) -> list[RecordedEvent]:
    """Events committed after ``after``, in a total order no later commit can change."""
    rows = await executor.fetch(sql.READ_ALL, after.transaction_id, after.position, limit)
    return [recorded_event(row) for row in rows]


def _same_append(
    stream_id: UUID, requested: Sequence[NewEvent], stored: Sequence[RecordedEvent]
) -> bool:
    by_id = {event.event_id: event for event in stored}
    if len(by_id) != len(requested):
        return False
    return all(
        (found := by_id.get(event.event_id)) is not None
        and found.stream_id == stream_id
        and found.event_type == event.event_type
        and found.data == event.data
        for event in requested
    )
