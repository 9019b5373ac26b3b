"""Rebuilding the read models while the service runs, many polycules at a time.

Nothing is ever emptied first. Several polycules are rebuilt per transaction: their folds
run *beside* the live read models — into temporary tables of the same names, which that
one connection sees in their place (PostgreSQL looks a name up among the session's
temporary tables first, unless ``pg_temp`` is named last in its ``search_path``) — sent in
batches step by step (projections/batching.py), without locking anything. Only then are
those polycules' rows locked (``polycule_read_models``, the row their commands lock too),
what they were sent meanwhile is folded as well, and their rows are swapped for the new
ones. So readers see the old rows or the new, never none, and a polycule's writers wait
for the swap alone.

A polycule that is parked, or all of a transaction's polycules if anything fails there, is
rebuilt alone by ``ReadSide.catch_up``, where a failing event parks only its polycule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
import structlog

from ledger.events import EVENTS
from ledger.store.events import recorded_event
from ledger.store.records import RecordedEvent
from ledger.store.sql import EVENT_COLUMNS
from projections.batching import Labelled, fold_in_steps
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

# Events folded per transaction, at most about: enough for the folds to be sent in large
# batches; their polycules' writers wait only for the swap at the end.
EVENTS_PER_TRANSACTION = 10_000
# The folds' statements, while they write beside the live tables, are labelled: the same
# statements unlabelled may already be prepared on the connection for the live tables
# (projections/batching.py).
BESIDE = "folding beside the live read models"

_EVERY_POLYCULE = """
SELECT stream_id, max(stream_version) AS head FROM events GROUP BY stream_id ORDER BY stream_id
"""
# Several polycules' rows, locked in one order (two rebuilds never wait on each other in a
# cycle; a command locks only its own polycule's).
_CLAIM_SEVERAL = """
INSERT INTO polycule_read_models AS r (polycule_id)
SELECT polycule_id FROM unnest($1::uuid[]) AS claimed (polycule_id) ORDER BY polycule_id
ON CONFLICT (polycule_id) DO UPDATE SET updated_at = now()
RETURNING polycule_id, version, parked_at IS NOT NULL AS parked
"""
# Where several polycules stand, without locking anything.
_KNOWN_VERSIONS = """
SELECT wanted.polycule_id, coalesce(r.version, 0) AS version,
       r.parked_at IS NOT NULL AS parked,
       (SELECT coalesce(max(stream_version), 0) FROM events
         WHERE stream_id = wanted.polycule_id) AS head
  FROM unnest($1::uuid[]) AS wanted (polycule_id)
  LEFT JOIN polycule_read_models r USING (polycule_id)
"""
_HEADS = """
SELECT stream_id, max(stream_version) AS head FROM events
 WHERE stream_id = ANY($1::uuid[]) GROUP BY stream_id
"""
# Each polycule's events after one version up to another, polycule by polycule
# (events_stream_version_key).
_STREAMS_BETWEEN = f"""
SELECT {EVENT_COLUMNS}
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

    Their folds run beside the live read models — into temporary tables of the same
    names, which this connection alone sees in their place — sent in batches step by
    step (projections/batching.py), without holding anyone up. Only then are the
    polycules' rows locked and swapped for the new ones: their writers wait for the
    swap alone, and readers see the old rows or the new. A parked polycule, or all of
    them if anything fails, is done alone, where a failing event parks only it.
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
        async with read_side.pool.acquire() as connection, connection.transaction():
            live = await connection.fetchval("SELECT current_schema()")
            for table in tables:
                await connection.execute(
                    f'CREATE TEMPORARY TABLE "{table}" (LIKE "{live}"."{table}" '
                    "INCLUDING ALL) ON COMMIT DROP"
                )
            # Fold what the streams hold now, beside the live rows, locking nothing.
            known = await connection.fetch(_KNOWN_VERSIONS, list(polycule_ids))
            planned = {
                row["polycule_id"]: row["head"] if everything else row["version"]
                for row in known if _rebuilt_together(row, everything)
            }
            folded = await _fold_beside(connection, chosen, planned, {})
            # Then swap: lock the polycules' rows, fold what came meanwhile, replace.
            claimed = await connection.fetch(_CLAIM_SEVERAL, list(polycule_ids))
            heads = await _heads(connection, polycule_ids)
            ready = {
                row["polycule_id"]: heads.get(row["polycule_id"], 0) if everything
                else row["version"]
                for row in claimed
                if row["polycule_id"] in planned and _rebuilt_together(row, everything)
            }
            alone = [row["polycule_id"] for row in claimed if row["polycule_id"] not in ready]
            folded += await _fold_beside(connection, chosen, ready, planned)
            # A polycule folded beside but parked meanwhile keeps its live rows.
            for projection in chosen:
                await projection.forget(connection, [p for p in planned if p not in ready])
            # From here on the names mean the live tables again (a changed search_path
            # makes PostgreSQL prepare every statement afresh for it).
            await connection.execute(
                "SELECT set_config('search_path', current_setting('search_path') || "
                "', pg_temp', true)"
            )
            for projection in chosen:
                await projection.forget(connection, list(ready))
            for table in tables:
                await connection.execute(
                    f'INSERT INTO "{live}"."{table}" SELECT * FROM pg_temp."{table}"'
                )
            if everything:
                await record_versions(connection, ready)
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


async def _fold_beside(
    connection: Connection,
    chosen: Sequence[PolyculeProjection],
    up_to: dict[UUID, int],
    after: dict[UUID, int],
) -> int:
    """Fold each polycule's events after ``after`` (none: from the first) up to
    ``up_to`` into the read models this connection sees; how many."""
    wanted = [polycule for polycule in up_to if up_to[polycule] > after.get(polycule, 0)]
    if not wanted:
        return 0
    rows = await connection.fetch(
        _STREAMS_BETWEEN, wanted, [after.get(polycule, 0) for polycule in wanted],
        [up_to[polycule] for polycule in wanted],
    )
    streams: dict[UUID, list[RecordedEvent]] = {polycule: [] for polycule in wanted}
    for row in rows:
        streams[row["stream_id"]].append(EVENTS.in_current_shape(recorded_event(row)))
    await fold_in_steps(
        connection, [projection.apply for projection in chosen if projection.folds_in_steps],
        list(streams.values()), label=BESIDE,
    )
    whole = [event for events in streams.values() for event in events]
    for projection in chosen:
        if not projection.folds_in_steps:
            await projection.apply(Labelled(connection, BESIDE), whole)
    return len(rows)

async def _heads(connection: Connection, polycule_ids: Sequence[UUID]) -> dict[UUID, int]:
    return {
        row["stream_id"]: row["head"]
        for row in await connection.fetch(_HEADS, list(polycule_ids))
    }

