"""The asyncpg event store: append with an expected version, read a stream, read the log.

SQL lives in ``migrations/`` (the append function) and in the named queries below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from ledger.errors import ConcurrencyError, DuplicateEventError
from ledger.store.chain import canonical_encoding, digest
from ledger.store.records import AppendResult, GlobalPosition, NewEvent, RecordedEvent

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AppendListener(Protocol):
    def poke(self) -> None: ...


EVENT_COLUMNS = """
    position, transaction_id, stream_id, stream_version, event_id, event_type,
    schema_version, data, metadata, recorded_at, previous_hash, hash
"""

APPEND = """
SELECT appended_version, appended_position
  FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

STREAM_VERSION = """
SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1
"""

READ_STREAM = f"""
SELECT {EVENT_COLUMNS} FROM events
 WHERE stream_id = $1 AND stream_version > $2
 ORDER BY stream_version
"""

FIND_BY_EVENT_IDS = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::uuid[]) ORDER BY position
"""

# Gap-safe reading of the whole log.
#
# Positions come from a sequence, taken when a row is inserted, but transactions commit in
# any order: a transaction holding position 10 may commit after one holding position 11.
# A reader that remembered "I have seen up to 11" would skip 10 forever. Waiting for gaps
# to fill (with a timeout) is how earlier stores lost events, so there is no gap detection.
#
# Instead every row records the id of the transaction that wrote it, and a reader only
# returns rows whose transaction is older than the oldest transaction still running
# (pg_snapshot_xmin of the current snapshot). Every transaction below that horizon has
# finished, and any transaction that starts writing later receives a larger id, so the set
# of rows below the horizon can no longer change. Ordering by (transaction_id, position)
# makes that a stable total order, and (transaction_id, position) is the reader's
# checkpoint. The price: a long-running transaction anywhere in the cluster holds readers
# back, which is why appends are single short statements and why the horizon's age is
# reported (see ``horizon_lag``).
READ_ALL = f"""
SELECT {EVENT_COLUMNS} FROM events
 WHERE (transaction_id, position) > ($1::xid8, $2::bigint)
   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY transaction_id, position
 LIMIT $3
"""

# How far readers are held back: the age of the oldest transaction that has a transaction
# id and is still running (the one setting the horizon), if any.
HORIZON_LAG = """
SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0)::float8
  FROM pg_stat_activity
 WHERE backend_xid IS NOT NULL
"""


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


class EventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock = utc_now,
        on_append: AppendListener | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._on_append = on_append

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
        ``connection``, the append joins that connection's open transaction (and wakes
        subscribers early, before that transaction commits; they simply find nothing yet).
        """
        if not events:
            raise ValueError("an append needs at least one event")
        if expected_version < 0:
            raise ValueError("expected_version cannot be negative")
        recorded_at = self._clock()
        digests = [
            digest(canonical_encoding(
                stream_id=stream_id,
                stream_version=expected_version + offset,
                event_id=event.event_id,
                event_type=event.event_type,
                schema_version=event.schema_version,
                data=event.data,
                metadata=event.metadata,
                recorded_at=recorded_at,
            ))
            for offset, event in enumerate(events, start=1)
        ]
        try:
            rows = await (connection or self._pool).fetch(
                APPEND,
                stream_id,
                expected_version,
                [event.event_id for event in events],
                [event.event_type for event in events],
                [event.schema_version for event in events],
                [event.data for event in events],
                [event.metadata for event in events],
                recorded_at,
                digests,
            )
        except asyncpg.PostgresError as error:
            return await self._explain_refused_append(stream_id, expected_version, events, error)
        if self._on_append is not None:
            self._on_append.poke()
        return AppendResult(
            stream_id=stream_id,
            version=rows[-1]["appended_version"],
            positions=tuple(row["appended_position"] for row in rows),
        )

    async def _explain_refused_append(
        self,
        stream_id: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        error: asyncpg.PostgresError,
    ) -> AppendResult:
        version_moved = getattr(error, "sqlstate", None) == "LV409" or (
            getattr(error, "constraint_name", None) == "events_stream_version_key"
        )
        id_taken = getattr(error, "constraint_name", None) == "events_event_id_key"
        if not (version_moved or id_taken):
            raise error
        original = await self._pool.fetch(FIND_BY_EVENT_IDS, [e.event_id for e in events])
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

    async def stream_version(self, stream_id: UUID) -> int:
        version: int = await self._pool.fetchval(STREAM_VERSION, stream_id)
        return version

    async def read_stream(self, stream_id: UUID, after_version: int = 0) -> list[RecordedEvent]:
        rows = await self._pool.fetch(READ_STREAM, stream_id, after_version)
        return [recorded_event(row) for row in rows]

    async def read_all(self, after: GlobalPosition, limit: int) -> list[RecordedEvent]:
        return await read_all(self._pool, after, limit)

    async def horizon_lag_seconds(self) -> float:
        lag: float = await self._pool.fetchval(HORIZON_LAG)
        return lag


async def read_all(
    executor: asyncpg.Pool | asyncpg.Connection, after: GlobalPosition, limit: int
) -> list[RecordedEvent]:
    """Events committed after ``after``, in a total order no later commit can change."""
    rows = await executor.fetch(READ_ALL, after.transaction_id, after.position, limit)
    return [recorded_event(row) for row in rows]


def _same_append(
    stream_id: UUID, requested: Sequence[NewEvent], stored: Sequence[RecordedEvent]
) -> bool:
    by_id: dict[UUID, Any] = {event.event_id: event for event in stored}
    if len(by_id) != len(requested):
        return False
    for event in requested:
        found = by_id.get(event.event_id)
        if (
            found is None
            or found.stream_id != stream_id
            or found.event_type != event.event_type
            or found.data != event.data
        ):
            return False
    return True
