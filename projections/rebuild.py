"""Rebuilding the read models while the service runs, many polycules at a time.

Nothing is ever emptied first. Several polycules are rebuilt per transaction: each one's
stream is read and folded in memory, from its first event, into the rows its read models
would hold (projections/in_memory.py), without locking anything. Only then are those
polycules' rows locked (``polycule_read_models``, the row their commands lock too), what
they were sent meanwhile is folded as well, and their live rows are replaced by the new
ones, copied in (``COPY``, one per table for all of them). So readers see the old rows or
the new, never none, and a polycule's writers wait for the swap alone.

A polycule that is parked, one whose stream the folds in memory cannot answer for, or all
of a transaction's polycules if anything fails there, is rebuilt alone by
``ReadSide.catch_up``, with the folds' statements, where a failing event parks only its
polycule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
import structlog

from ledger.collector import collector_paused
from ledger.events import EVENTS
from ledger.store.events import recorded_event
from ledger.store.records import RecordedEvent
from projections.in_memory import NotFoldedInMemory, Rows, Session, copy_rows
from projections.read_side import (
    REBUILD_NEEDED,
    PolyculeProjection,
    ReadSide,
    described,
    record_versions,
)

if TYPE_CHECKING:
    from ledger.database import Connection

log = structlog.get_logger(__name__)

# Events folded per transaction, at most about: enough for each table's rows to be copied
# in large batches; their polycules' writers wait only for the swap at the end.
EVENTS_PER_TRANSACTION = 10_000

_EVERY_POLYCULE = """
SELECT stream_id, max(stream_version) AS head FROM events GROUP BY stream_id ORDER BY stream_id
"""
# Several polycules' rows, locked in one order (two rebuilds never wait on each other in a
# cycle; a command locks only its own polycule's). The time is the column's default, as in
# projections/read_side.py's claims.
_CLAIM_SEVERAL = """
INSERT INTO polycule_read_models AS r (polycule_id)
SELECT polycule_id FROM unnest($1::uuid[]) AS claimed (polycule_id) ORDER BY polycule_id
ON CONFLICT (polycule_id) DO UPDATE SET updated_at = excluded.updated_at
RETURNING polycule_id, version, parked_at IS NOT NULL AS parked
"""
# Where several polycules stand, without locking anything. The heads are joined, not a
# subquery per polycule: Citus cannot run a correlated subquery beside unnest().
_KNOWN_VERSIONS = """
SELECT wanted.polycule_id, coalesce(r.version, 0) AS version,
       r.parked_at IS NOT NULL AS parked, coalesce(h.head, 0) AS head
  FROM unnest($1::uuid[]) AS wanted (polycule_id)
  LEFT JOIN polycule_read_models r USING (polycule_id)
  LEFT JOIN (SELECT stream_id, max(stream_version) AS head FROM events
              WHERE stream_id = ANY($1::uuid[]) GROUP BY stream_id) AS h
    ON h.stream_id = wanted.polycule_id
"""
_HEADS = """
SELECT stream_id, max(stream_version) AS head FROM events
 WHERE stream_id = ANY($1::uuid[]) GROUP BY stream_id
"""
# Each polycule's events after one version up to another, polycule by polycule
# (events_stream_version_key): what the read models fold, not the events' metadata or
# hashes (sending and decoding those was a tenth of a rebuild).
_STREAMS_BETWEEN = """
SELECT position, transaction_id, stream_id, stream_version, event_id, event_type,
       schema_version, data, '{}'::jsonb AS metadata, recorded_at,
       ''::bytea AS previous_hash, ''::bytea AS hash
  FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS wanted (wanted_stream, after, up_to)
  JOIN events ON stream_id = wanted_stream AND stream_version > after
             AND stream_version <= up_to
 ORDER BY stream_id, stream_version
"""



async def rebuild(
    read_side: ReadSide,
    names: Sequence[str] | None = None,
    *,
    concurrency: int = 4,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Rebuild the named read models (all by default), several polycules per
    transaction and several transactions at once; the number of events folded. Nothing
    is emptied beforehand: each polycule's rows are replaced in one transaction, so
    readers see the old rows or the new, and only that polycule's writers wait."""
    chosen = list(names) if names else read_side.names
    every = [(row["stream_id"], row["head"]) for row in await read_side.pool.fetch(_EVERY_POLYCULE)]
    batches: asyncio.Queue[list[UUID]] = asyncio.Queue()
    for batch in _batches(every):
        batches.put_nowait(batch)
    folded = 0

    async def work() -> None:
        nonlocal folded
        while not batches.empty():
            count = await _rebuild_together(read_side, batches.get_nowait(), chosen)
            folded += count
            if on_progress is not None:
                on_progress(count)

    await asyncio.gather(*(work() for _ in range(max(1, concurrency))))
    return folded

async def catch_up_all(
    read_side: ReadSide, *, on_progress: Callable[[int], None] | None = None
) -> int:
    """Bring every polycule that is behind its stream (and not parked) up to it; the
    number of events applied. Polycules whose read models were never built (or wait for
    a rebuild of their own) are built many at a time, as a rebuild builds them; the
    others, a few events behind, one by one."""
    behind = await read_side.behind_polycules()
    from_scratch = [(polycule, head) for polycule, head, version in behind if version <= 0]
    applied = 0
    for batch in _batches(from_scratch):
        count = await _rebuild_together(read_side, batch, read_side.names)
        applied += count
        if on_progress is not None:
            on_progress(count)
    for polycule, _, version in behind:
        if version > 0:
            count = (await read_side.catch_up(polycule)).applied
            applied += count
            if on_progress is not None:
                on_progress(count)
    return applied


def _batches(polycules: Sequence[tuple[UUID, int]]) -> list[list[UUID]]:
    """Polycules grouped so that each group holds about EVENTS_PER_TRANSACTION events."""
    batches: list[list[UUID]] = []
    batch: list[UUID] = []
    events = 0
    for polycule, head in polycules:
        batch.append(polycule)
        events += head
        if events >= EVENTS_PER_TRANSACTION:
            batches.append(batch)
            batch, events = [], 0
    if batch:
        batches.append(batch)
    return batches


async def _rebuild_together(
    read_side: ReadSide, polycule_ids: Sequence[UUID], names: Sequence[str]
) -> int:
    """Rebuild several polycules in one transaction; the events folded.

    Each one's stream is folded in memory, holding nobody up. Only then are the
    polycules' rows locked and their live rows replaced by the new ones: their writers
    wait for the swap alone, and readers see the old rows or the new. A polycule that is
    parked or that the folds in memory cannot answer for, or all of them if anything
    fails, is done alone, where a failing event parks only it.
    """
    chosen = [projection for projection in read_side.projections if projection.name in names]
    # Rebuilding every read model, a polycule is folded up to its stream's head (and a
    # polycule waiting for a rebuild of its own gets it); rebuilding some, up to where the
    # others are, and the rest caught up after.
    everything = len(chosen) == len(read_side.projections)
    tables = [table for projection in chosen for table in projection.tables]
    alone: list[UUID] = []
    behind: list[UUID] = []
    folded = 0
    try:
        async with read_side.pool.acquire() as connection:
            live = await connection.fetchval("SELECT current_schema()")
            session = Session(await connection.fetchval("SELECT current_setting('TimeZone')"))
            # Fold what the streams hold now, locking nothing.
            known = await connection.fetch(_KNOWN_VERSIONS, list(polycule_ids))
            planned = {
                row["polycule_id"]: row["head"] if everything else row["version"]
                for row in known if _rebuilt_together(row, everything)
            }
            streams = await _streams(connection, planned, {})
            rows = _fold_in_memory(chosen, streams, session)
            async with connection.transaction():
                # Then swap: lock the polycules' rows, fold what came meanwhile, replace.
                claimed = await connection.fetch(_CLAIM_SEVERAL, list(polycule_ids))
                heads = await _heads(connection, polycule_ids)
                ready = {
                    row["polycule_id"]: heads.get(row["polycule_id"], 0) if everything
                    else row["version"]
                    for row in claimed
                    if row["polycule_id"] in rows and _rebuilt_together(row, everything)
                }
                moved = {polycule: up_to for polycule, up_to in ready.items()
                         if up_to != planned[polycule]}
                if moved:
                    more = await _streams(connection, moved, planned)
                    for polycule in moved:
                        del rows[polycule]
                    rows.update(_fold_in_memory(chosen, {
                        polycule: [
                            *(event for event in streams[polycule]
                              if event.stream_version <= moved[polycule]),
                            *more[polycule],
                        ]
                        for polycule in moved
                    }, session))
                    ready = {polycule: ready[polycule] for polycule in ready if polycule in rows}
                alone = [row["polycule_id"] for row in claimed if row["polycule_id"] not in ready]
                for projection in chosen:
                    await projection.forget(connection, list(ready))
                await copy_rows(connection, live, tables, [rows[polycule] for polycule in ready])
                if everything:
                    await record_versions(connection, ready)
                folded = sum(ready.values())
                behind = [
                    polycule for polycule in ready if heads.get(polycule, 0) > ready[polycule]
                ]
    except (asyncpg.PostgresError, LookupError, ValueError, TypeError) as error:
        log.warning("rebuild_batch_failed_doing_polycules_alone", error=described(error))
        alone, behind, folded = list(polycule_ids), [], 0
    for polycule_id in alone:
        caught = await read_side.catch_up(polycule_id, rebuild=names)
        folded += caught.version
    for polycule_id in behind:  # only some read models rebuilt: the rest catch up
        folded += (await read_side.catch_up(polycule_id)).applied
    return folded


def _rebuilt_together(row: asyncpg.Record, everything: bool) -> bool:
    """Whether a polycule joins its batch: not when parked (it is rebuilt alone, where a
    failing event parks it again), nor when it waits for a rebuild of every read model and
    only some are being rebuilt."""
    return not row["parked"] and (everything or row["version"] != REBUILD_NEEDED)


async def _streams(
    connection: Connection, up_to: dict[UUID, int], after: dict[UUID, int]
) -> dict[UUID, list[RecordedEvent]]:
    """Each polycule's events after ``after`` (none: from the first) up to ``up_to``."""
    wanted = [polycule for polycule in up_to if up_to[polycule] > after.get(polycule, 0)]
    streams: dict[UUID, list[RecordedEvent]] = {polycule: [] for polycule in up_to}
    if wanted:
        rows = await connection.fetch(
            _STREAMS_BETWEEN, wanted, [after.get(polycule, 0) for polycule in wanted],
            [up_to[polycule] for polycule in wanted],
        )
        with collector_paused():
            for row in rows:
                streams[row["stream_id"]].append(EVENTS.in_current_shape(recorded_event(row)))
    return streams


def _fold_in_memory(
    chosen: Sequence[PolyculeProjection],
    streams: dict[UUID, list[RecordedEvent]],
    session: Session,
) -> dict[UUID, Rows]:
    """Each polycule's rows in the chosen read models; a polycule that the folds in
    memory cannot answer for is left out (it is rebuilt alone)."""
    with collector_paused():
        return {
            polycule: rows for polycule, events in streams.items()
            if (rows := _fold_one(chosen, polycule, events, session)) is not None
        }


def _fold_one(
    chosen: Sequence[PolyculeProjection],
    polycule: UUID,
    events: Sequence[RecordedEvent],
    session: Session,
) -> Rows | None:
    try:
        return {
            table: rows
            for projection in chosen
            for table, rows in projection.fold_in_memory(events, session).items()
        }
    except (NotFoldedInMemory, LookupError, ValueError, TypeError) as error:
        log.info("rebuild_folds_polycule_alone", polycule_id=str(polycule),
                 reason=described(error))
        return None


async def _heads(connection: Connection, polycule_ids: Sequence[UUID]) -> dict[UUID, int]:
    return {
        row["stream_id"]: row["head"]
        for row in await connection.fetch(_HEADS, list(polycule_ids))
    }
