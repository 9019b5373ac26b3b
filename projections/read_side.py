"""The read side, polycule by polycule.

The domain is cut by polycule — one stream each, no command spans two — and so is what
members read. The member-facing read models (stream summaries, memberships, agreements,
disclosures, repairs) are written *inline*: in the same transaction as the events a
command appends, by ``ReadSide.apply_inline``. So:

* a write is answered from read models that already show it (read your writes, by
  construction), with one commit per command;
* a command whose events a read model cannot apply is refused whole, nothing written
  (``ReadModelRefused``);
* nothing waits for anything global: no reading horizon, no shared lock. An open
  transaction elsewhere on the server, a rebuild, or another polycule's trouble cannot
  delay or break a write.

``polycule_read_models`` holds, per polycule, the stream version those read models have
applied. A command locks its own polycule's row (the writers of one polycule take turns
there anyway, on the stream's version), which is also what a rebuild takes to swap that
polycule's rows (projections/rebuild.py): readers see the old rows or the new, never none.

A polycule can fall behind its stream only by events that were committed without it: a
polycule migrated from the older, global read side, or events appended with the store
alone. The next command there, or the keeper (projections/keeper.py), applies them first. If
one of those events cannot be applied, the polycule is **parked** at the event before it:
logged once with the event's id, type and error, listed by ``/status`` and ``python -m
ledger projections status``, retried with backoff and by ``projections retry``. Commands
in a parked polycule are still recorded and answered with what was decided and a marker
that its views are behind; every other polycule goes on as if nothing happened.

The fan-outs follow each polycule's stream too, a little behind: ``projections/runner.py``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

import asyncpg
import structlog

from ledger.database import BUSY_OR_AWAY
from ledger.errors import LedgerError
from ledger.events import EVENTS
from ledger.store.events import recorded_event
from ledger.store.records import RecordedEvent
from ledger.store.sql import READ_STREAM_PAGE
from projections.batching import Statements, fold_in_steps
from projections.in_memory import Rows, Session

if TYPE_CHECKING:
    from ledger.database import Connection

log = structlog.get_logger(__name__)

# How many of a polycule's events are read and applied at a time when it catches up.
CATCH_UP_BATCH = 2_000
# A parked polycule is tried again after this, doubling each time, up to the maximum.
FIRST_RETRY = timedelta(seconds=1)
LONGEST_RETRY = timedelta(minutes=10)
# The version of a polycule whose read models must be rebuilt before anything else.
REBUILD_NEEDED = -1


class PolyculeProjection(Protocol):
    """A read model of one polycule's stream: a fold into its own tables."""

    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> Sequence[str]:
        """Every table it writes (a rebuild replaces a polycule's rows in each)."""

    @property
    def folds_in_steps(self) -> bool:
        """True when several polycules' commands appended together are to be folded
        event by event, many polycules together (projections/batching.py). False when
        ``apply`` takes any events at once, of many polycules, and writes them in one
        statement: it is then handed every event of them together (folded step by step, it
        would write each polycule's row once per event)."""

    async def apply(self, connection: Statements, events: Sequence[RecordedEvent]) -> None:
        """Write what ``events`` (all of one polycule, in stream order) change."""

    def fold_in_memory(self, events: Sequence[RecordedEvent], session: Session) -> Rows:
        """The rows ``apply`` would leave in empty tables after ``events`` (all of one
        polycule, from its first, in stream order), table by table, folded in memory for a
        rebuild (projections/in_memory.py). Raises ``NotFoldedInMemory`` where it cannot
        say exactly what the statements would write."""

    async def forget(self, connection: Connection, polycule_ids: Sequence[UUID]) -> None:
        """Delete every row this read model holds for the polycules, before a rebuild."""


class ReadModelRefused(LedgerError):
    """A command's events cannot be shown by the read models: nothing was written."""

    code = "not_recorded"


class NotTogether(Exception):
    """Several polycules' commands cannot be applied together: each is to go alone."""


@dataclass(frozen=True)
class ParkedPolycule:
    polycule_id: UUID
    # The read models show the polycule up to this version; the next event failed.
    version: int
    event_id: UUID | None
    event_type: str | None
    error: str
    parked_at: datetime
    retries: int
    retry_at: datetime | None


@dataclass(frozen=True)
class CaughtUp:
    """How one polycule's catching up went."""

    polycule_id: UUID
    applied: int
    version: int
    parked: ParkedPolycule | None = None


# The polycule's row, locked for this transaction. For a command: when the read models are
# exactly at the version the command was decided on, and the polycule is not parked, the row
# moves to the command's new version at once (the common case: one statement); the caller
# then only applies the new events. Otherwise the row is left as it was, and says why.
# (`excluded.updated_at` is the column's default, now(): Citus refuses any function but an
# immutable one in the DO UPDATE SET of a distributed table.)
_CLAIM_FOR_COMMAND = """
INSERT INTO polycule_read_models AS r (polycule_id, version)
VALUES ($1, CASE WHEN $2::bigint = 0 THEN $3::bigint ELSE 0 END)
ON CONFLICT (polycule_id) DO UPDATE
   SET version = CASE WHEN r.version = $2 AND r.parked_at IS NULL THEN $3 ELSE r.version END,
       updated_at = excluded.updated_at
RETURNING version, parked_at IS NOT NULL AS parked
"""
# The same for several polycules' commands at once ($1: the polycules, $2: the version each
# command was decided on, $3: its new version), in the common case only: the polycules'
# rows that stand where their commands were decided, unparked, move; the others are left.
_CLAIM_FOR_COMMANDS = """
UPDATE polycule_read_models AS r
   SET version = claim.new_version, updated_at = now()
  FROM unnest($1::uuid[], $2::bigint[], $3::bigint[])
       AS claim(polycule_id, decided_on, new_version)
 WHERE r.polycule_id = claim.polycule_id
   AND r.version = claim.decided_on
   AND r.parked_at IS NULL
RETURNING r.polycule_id
"""
_CLAIM = """
INSERT INTO polycule_read_models AS r (polycule_id) VALUES ($1)
ON CONFLICT (polycule_id) DO UPDATE SET updated_at = excluded.updated_at
RETURNING version, parked_at IS NOT NULL AS parked, retries
"""
_ADVANCE = """
UPDATE polycule_read_models
   SET version = $2, parked_version = NULL, parked_event_id = NULL, parked_type = NULL,
       parked_error = NULL, parked_at = NULL, retry_at = NULL, retries = 0, updated_at = now()
 WHERE polycule_id = $1
"""
# The moment it was first parked is kept: least() passes over a NULL (and Citus refuses
# now() inside coalesce() on a distributed table).
_PARK = """
UPDATE polycule_read_models
   SET version = $2::bigint, parked_version = $2::bigint + 1, parked_event_id = $3,
       parked_type = $4, parked_error = $5, parked_at = least(parked_at, now()), retries = $6,
       retry_at = now() + $7::interval, updated_at = now()
 WHERE polycule_id = $1
"""
_STREAM_HEAD = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"
# Uses polycule_read_models_parked.
_PARKED = """
SELECT polycule_id, version, parked_event_id, parked_type, parked_error, parked_at, retries,
       retry_at
  FROM polycule_read_models
 WHERE parked_at IS NOT NULL
 ORDER BY parked_at
"""
_PARKED_COUNT = "SELECT count(*) FROM polycule_read_models WHERE parked_at IS NOT NULL"
_DUE_FOR_RETRY = """
SELECT polycule_id FROM polycule_read_models
 WHERE parked_at IS NOT NULL AND retry_at <= now()
 ORDER BY retry_at
 LIMIT $1
"""
# Every polycule whose read models are behind its stream and not parked (a full pass over
# the log's streams: for start-up, the command line and the keeper's occasional sweep).
_BEHIND = """
SELECT s.stream_id, s.head, coalesce(r.version, 0) AS version
  FROM (SELECT stream_id, max(stream_version) AS head FROM events GROUP BY stream_id) s
  LEFT JOIN polycule_read_models r ON r.polycule_id = s.stream_id
 WHERE r.polycule_id IS NULL OR (r.parked_at IS NULL AND r.version < s.head)
"""
_SHOWS = "SELECT version >= $2 FROM polycule_read_models WHERE polycule_id = $1"
class ReadSide:
    """The member-facing read models of every polycule, kept by the commands themselves."""

    def __init__(self, pool: asyncpg.Pool, projections: Sequence[PolyculeProjection]) -> None:
        self._pool = pool
        self._projections = list(projections)

    @property
    def names(self) -> list[str]:
        return [projection.name for projection in self._projections]

    @property
    def projections(self) -> list[PolyculeProjection]:
        return list(self._projections)

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def apply_inline(
        self, connection: Connection, events: Sequence[RecordedEvent]
    ) -> bool:
        """Apply a command's ``events`` in the transaction that appends them.

        True when the read models now show them. False when the polycule is parked: the
        events are still recorded, its views stay behind. Raises ``ReadModelRefused``, and
        so writes nothing at all, when the events themselves cannot be applied.
        """
        events = [EVENTS.in_current_shape(event) for event in events]
        polycule_id = events[0].stream_id
        decided_on, new_version = events[0].stream_version - 1, events[-1].stream_version
        claimed = await connection.fetchrow(
            _CLAIM_FOR_COMMAND, polycule_id, decided_on, new_version
        )
        assert claimed is not None  # an upsert … RETURNING always answers
        if claimed["version"] == new_version and not claimed["parked"]:
            await self._apply_new(connection, events)
            return True
        if claimed["parked"]:
            return False
        version = claimed["version"]
        if version == REBUILD_NEEDED:  # a migration asked for it: from the first event
            await self._rebuild_within(connection, polycule_id, self.names, 0)
            version = 0
        caught_up = await self._catch_up_within(
            connection, polycule_id, version, decided_on, retries=0
        )
        if caught_up.parked is not None:
            return False
        await self._apply_new(connection, events)
        await connection.execute(_ADVANCE, polycule_id, new_version)
        return True

    async def apply_inline_together(
        self, connection: Connection, streams: Sequence[Sequence[RecordedEvent]]
    ) -> None:
        """Apply several polycules' commands (``streams``: each one's events) in the
        transaction that appends them all (ledger/store/together.py).

        Only the common case is taken here: every polycule's read models stand exactly at
        the version its command was decided on, and none is parked. Then the folds of all
        of them run together, one statement per kind (projections/batching.py). Anything
        else raises ``NotTogether``, as does any event a read model cannot apply: the
        transaction then writes nothing, and each command is appended alone, where
        ``apply_inline`` says what becomes of it.
        """
        streams = [[EVENTS.in_current_shape(event) for event in events] for events in streams]
        claimed = await connection.fetch(
            _CLAIM_FOR_COMMANDS,
            [events[0].stream_id for events in streams],
            [events[0].stream_version - 1 for events in streams],
            [events[-1].stream_version for events in streams],
        )
        if len(claimed) != len(streams):
            # A polycule's first command (no row yet), one behind or parked: each alone.
            raise NotTogether("a polycule's read models are not where its command was decided")
        try:
            await fold_in_steps(
                connection,
                [projection.apply for projection in self._projections
                 if projection.folds_in_steps],
                streams,
            )
            every = [event for events in streams for event in events]
            for projection in self._projections:
                if not projection.folds_in_steps:
                    await projection.apply(connection, every)
        except BUSY_OR_AWAY:
            raise
        except (asyncpg.PostgresError, LookupError, ValueError, TypeError) as error:
            raise NotTogether(described(error)) from error

    async def _apply_new(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        try:
            for projection in self._projections:
                await projection.apply(connection, events)
        except BUSY_OR_AWAY:  # says nothing about the events: passes through
            raise
        except (asyncpg.PostgresError, LookupError, ValueError, TypeError) as error:
            log.error(
                "read_model_refused_command", polycule_id=str(events[0].stream_id),
                event_ids=[str(event.event_id) for event in events],
                event_types=[event.event_type for event in events],
                error=described(error),
            )
            raise ReadModelRefused(
                "this change could not be shown in the polycule's views, so it was not "
                "recorded: nothing was written. Please tell the people who run this service.",
                details={"event_types": [event.event_type for event in events]},
            ) from error

    async def catch_up(self, polycule_id: UUID, *, rebuild: Sequence[str] = ()) -> CaughtUp:
        """Bring one polycule's read models up to its stream, in one transaction.

        ``rebuild``: the names of read models to empty and fold again from the polycule's
        first event (every one when a migration asked for it). Writers of this polycule wait
        for it; nobody else does, and readers see the old rows until it commits.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            claimed = await connection.fetchrow(_CLAIM, polycule_id)
            assert claimed is not None
            version = claimed["version"]
            head = await connection.fetchval(_STREAM_HEAD, polycule_id)
            rebuilding = list(rebuild)
            if version == REBUILD_NEEDED:
                rebuilding, version = self.names, 0
            if rebuilding:
                await self._rebuild_within(connection, polycule_id, rebuilding, version)
            return await self._catch_up_within(
                connection, polycule_id, version, head, retries=claimed["retries"]
            )

    async def _rebuild_within(
        self, connection: Connection, polycule_id: UUID, names: Sequence[str], version: int
    ) -> None:
        """Empty the named read models of the polycule and fold its first ``version`` events
        into them again."""
        chosen = [projection for projection in self._projections if projection.name in names]
        for projection in chosen:
            await projection.forget(connection, [polycule_id])
        async for events in _pages(connection, polycule_id, 0, version):
            for projection in chosen:
                await projection.apply(connection, events)

    async def _catch_up_within(
        self,
        connection: Connection,
        polycule_id: UUID,
        version: int,
        until: int,
        *,
        retries: int,
    ) -> CaughtUp:
        """Apply the polycule's events after ``version`` up to ``until``, batch by batch, in
        the caller's transaction; park the polycule at the first event that fails."""
        applied = 0
        async for events in _pages(connection, polycule_id, version, until):
            try:
                async with connection.transaction():  # a savepoint: a failure undoes the batch
                    for projection in self._projections:
                        await projection.apply(connection, events)
            except BUSY_OR_AWAY:  # says nothing about the events: passes through
                raise
            except (asyncpg.PostgresError, LookupError, ValueError, TypeError) as error:
                parked = await self._park(connection, polycule_id, version, events, error, retries)
                if parked is not None:
                    applied += parked.version - version
                    return CaughtUp(polycule_id, applied, parked.version, parked)
                # Every event of the batch applied one by one: nothing to park for.
            version = events[-1].stream_version
            applied += len(events)
        await connection.execute(_ADVANCE, polycule_id, version)
        return CaughtUp(polycule_id, applied, version)

    async def _park(
        self,
        connection: Connection,
        polycule_id: UUID,
        version: int,
        batch: Sequence[RecordedEvent],
        error: BaseException,
        retries: int,
    ) -> ParkedPolycule | None:
        """Apply the events of ``batch`` one by one and park the polycule at the first that
        fails; None when none does (the batch is then applied)."""
        for event in batch:
            try:
                async with connection.transaction():
                    for projection in self._projections:
                        await projection.apply(connection, [event])
            except BUSY_OR_AWAY:  # says nothing about the events: passes through
                raise
            except (asyncpg.PostgresError, LookupError, ValueError, TypeError) as one_error:
                return await self._park_at(connection, version, event, one_error, retries)
            version = event.stream_version
        return None

    async def _park_at(
        self,
        connection: Connection,
        version: int,
        failing: RecordedEvent,
        error: BaseException,
        retries: int,
    ) -> ParkedPolycule:
        why = described(error)
        wait = min(FIRST_RETRY * 2**retries, LONGEST_RETRY)
        await connection.execute(
            _PARK, failing.stream_id, version, failing.event_id, failing.event_type, why,
            retries + 1, wait,
        )
        if retries == 0:  # logged once, when it first stops; retries are quiet
            log.error(
                "polycule_read_models_parked", polycule_id=str(failing.stream_id),
                event_id=str(failing.event_id), event_type=failing.event_type,
                stream_version=failing.stream_version, error=why,
            )
        return ParkedPolycule(
            failing.stream_id, version, failing.event_id, failing.event_type, why,
            datetime.now().astimezone(), retries + 1, None,
        )

    async def shows(self, polycule_id: UUID, version: int) -> bool:
        """Whether the polycule's read models show its stream up to ``version``."""
        return bool(await self._pool.fetchval(_SHOWS, polycule_id, version))

    async def behind_polycules(self) -> list[tuple[UUID, int, int]]:
        """Every polycule behind its stream and not parked: (id, stream head, version)."""
        return [
            (row["stream_id"], row["head"], row["version"])
            for row in await self._pool.fetch(_BEHIND)
        ]

    async def behind(self) -> int:
        """How many polycules are behind their stream and not parked (a full pass)."""
        return len(await self._pool.fetch(_BEHIND))

    async def retry(self, polycule_id: UUID | None = None) -> list[CaughtUp]:
        """Try the parked polycules again (or one of them) now."""
        if polycule_id is not None:
            return [await self.catch_up(polycule_id)]
        return [
            await self.catch_up(parked.polycule_id)
            for parked in await parked_polycules(self._pool)
        ]

    async def retry_due(self, limit: int = 50) -> list[CaughtUp]:
        """Try again the parked polycules whose back-off has run out."""
        return [
            await self.catch_up(row["polycule_id"])
            for row in await self._pool.fetch(_DUE_FOR_RETRY, limit)
        ]


async def _pages(
    connection: Connection, polycule_id: UUID, after: int, until: int
) -> AsyncIterator[list[RecordedEvent]]:
    """The polycule's events after ``after`` up to ``until``, a page at a time."""
    while after < until:
        rows = await connection.fetch(
            READ_STREAM_PAGE, polycule_id, after, min(CATCH_UP_BATCH, until - after)
        )
        if not rows:
            return
        page = [EVENTS.in_current_shape(recorded_event(row)) for row in rows]
        yield page
        after = page[-1].stream_version


async def record_versions(connection: Connection, versions: dict[UUID, int]) -> None:
    """Note, in the caller's transaction, the versions polycules' read models now show."""
    await connection.executemany(_ADVANCE, list(versions.items()))


async def parked_polycules(pool: asyncpg.Pool) -> list[ParkedPolycule]:
    return [
        ParkedPolycule(
            polycule_id=row["polycule_id"],
            version=row["version"],
            event_id=row["parked_event_id"],
            event_type=row["parked_type"],
            error=row["parked_error"],
            parked_at=row["parked_at"],
            retries=row["retries"],
            retry_at=row["retry_at"],
        )
        for row in await pool.fetch(_PARKED)
    ]


async def parked_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval(_PARKED_COUNT)
    return count


def described(error: BaseException) -> str:
    """What went wrong, for operators: the error's kind and the database's own message
    (which names a constraint or a column, never a value of a member's)."""
    if isinstance(error, asyncpg.PostgresError):
        constraint = getattr(error, "constraint_name", None) or _constraint_named_in(error)
        where = f" ({constraint})" if constraint else ""
        return f"{type(error).__name__}{where}"
    return type(error).__name__


def _constraint_named_in(error: asyncpg.PostgresError) -> str | None:
    """The constraint an integrity error's message names, when the error does not carry it:
    Citus passes a shard's error on with its message but not its constraint, whose name
    there ends in the shard's number (``agreement_timeline_pkey_102396``)."""
    if not isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return None
    named = re.search(r'constraint "([^"]+)"', str(getattr(error, "message", "") or ""))
    return re.sub(r"_[0-9]+$", "", named[1]) if named else None
