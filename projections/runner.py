"""Checkpointed catch-up subscriptions over the global log, for the consumers that need it.

What members read is kept per polycule, inline with each command (``read_side.py``). Only
consumers that look across polycules follow the whole log here, each with one checkpoint:
today the mail fan-out (the webhook fan-out goes polycule by polycule:
ledger/webhooks/fanout_runner.py). It reads below the reading horizon (see ``read_all`` in
``ledger/store/sql.py``), so a transaction left open anywhere on the server delays it —
and only it: no command and no read waits for this runner.

A consumer applies a batch of events and advances its checkpoint in the same
transaction, so a crash at any moment leaves either both or neither: no event is ever
applied twice or skipped. Several service instances may run the same projection; a
transaction-scoped advisory lock lets one of them apply each batch while the others wait
for the next wake-up.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import asyncpg
import structlog

if TYPE_CHECKING:
    from ledger.database import Connection

from ledger.events import EVENTS
from ledger.store.events import read_all
from ledger.store.records import GlobalPosition, RecordedEvent
from ledger.store.wakeups import WakeupHub, wait_for_wakeup
from ledger.supervisor import Supervisor

log = structlog.get_logger(__name__)

# Namespace of the advisory locks that guard projections (the second key is the name's hash).
_LOCK_NAMESPACE = 0x50_52_4F_4A  # "PROJ"


class Projection(Protocol):
    """A read model: a fold over events into its own tables."""

    @property
    def name(self) -> str: ...

    async def apply(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        """Write what ``events`` change; runs inside the batch's transaction."""



@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    checkpoint_transaction_id: int
    checkpoint_position: int
    events_behind: int
    updated_at: datetime


_ENSURE_CHECKPOINT = """
INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
"""
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1, hashtext($2))"
_LOCK = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
_READ_CHECKPOINT = "SELECT transaction_id, position FROM projection_checkpoints WHERE name = $1"
_ADVANCE_CHECKPOINT = """
UPDATE projection_checkpoints
   SET transaction_id = $2::xid8, position = $3, updated_at = now()
 WHERE name = $1
"""
# Uses events_transaction_order; a large backlog is counted, not guessed.
_STATUS = """
SELECT c.name, c.transaction_id, c.position, c.updated_at,
       (SELECT count(*) FROM (
            SELECT FROM events e
             WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)
             LIMIT $2) AS after_checkpoint) AS behind
  FROM projection_checkpoints c
 WHERE c.name = ANY($1::text[])
 ORDER BY c.name
"""


async def ensure_checkpoint(pool: asyncpg.Pool, projection: Projection) -> None:
    await pool.execute(_ENSURE_CHECKPOINT, projection.name)


async def process_batch(
    pool: asyncpg.Pool, projection: Projection, batch_size: int, *, wait_for_lock: bool = False
) -> int | None:
    """Apply the next batch after the checkpoint; the number of events applied.

    None when another instance is applying this projection right now (only without
    ``wait_for_lock``). Zero when there is nothing new below the reading horizon.
    """
    async with pool.acquire() as connection, connection.transaction():
        if wait_for_lock:
            await connection.execute(_LOCK, _LOCK_NAMESPACE, projection.name)
        elif not await connection.fetchval(_TRY_LOCK, _LOCK_NAMESPACE, projection.name):
            return None
        checkpoint = await connection.fetchrow(_READ_CHECKPOINT, projection.name)
        if checkpoint is None:
            raise LookupError(f"projection {projection.name} has no checkpoint row")
        after = GlobalPosition(int(checkpoint["transaction_id"]), checkpoint["position"])
        events = await read_all(connection, after, batch_size)
        if not events:
            return 0
        await projection.apply(connection, [EVENTS.in_current_shape(e) for e in events])
        last = events[-1]
        await connection.execute(
            _ADVANCE_CHECKPOINT, projection.name, last.transaction_id, last.position
        )
        return len(events)


async def catch_up(
    pool: asyncpg.Pool,
    projection: Projection,
    *,
    batch_size: int,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Apply batches until nothing is left below the horizon; the number applied here."""
    await ensure_checkpoint(pool, projection)
    applied = 0
    while applied_now := await process_batch(pool, projection, batch_size, wait_for_lock=True):
        applied += applied_now
        if on_progress is not None:
            on_progress(applied_now)
    return applied


async def count_events(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM events")
    return count


async def projection_status(
    pool: asyncpg.Pool, names: Sequence[str], *, count_up_to: int | None = None
) -> list[ProjectionStatus]:
    """Where each consumer stands; ``count_up_to`` stops counting the events it has still
    to apply there (None: count them all, however many)."""
    rows = await pool.fetch(_STATUS, list(names), count_up_to)
    return [
        ProjectionStatus(
            name=row["name"],
            checkpoint_transaction_id=int(row["transaction_id"]),
            checkpoint_position=row["position"],
            events_behind=row["behind"],
            updated_at=row["updated_at"],
        )
        for row in rows
    ]


class ProjectionRunner:
    """Keeps every projection current: one task each, woken by appends, polling as a fallback."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        projections: Sequence[Projection],
        hub: WakeupHub,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retry_seconds: float = 1.0,
        gather_seconds: float = 0.1,
    ) -> None:
        self._pool = pool
        self._projections = list(projections)
        self._hub = hub
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        self._gather_seconds = gather_seconds
        self._supervisor: Supervisor | None = None

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._supervisor = supervisor or Supervisor()
        for projection in self._projections:
            self._supervisor.run(
                projection.name, functools.partial(self._keep_current, projection)
            )

    async def stop(self) -> None:
        if self._supervisor is not None:
            for projection in self._projections:
                await self._supervisor.stop(projection.name)

    async def catch_up_now(self, *names: str) -> None:
        """Bring the named projections up to what is below the reading horizon now."""
        for name in names:
            await catch_up(self._pool, self._named(name), batch_size=self._batch_size)

    def _named(self, name: str) -> Projection:
        for projection in self._projections:
            if projection.name == name:
                return projection
        raise LookupError(f"no projection named {name}")

    async def status(self, *, count_up_to: int | None = None) -> list[ProjectionStatus]:
        return await projection_status(
            self._pool, [projection.name for projection in self._projections],
            count_up_to=count_up_to,
        )

    async def _keep_current(self, projection: Projection) -> None:
        signal = self._hub.subscribe()
        checkpoint_ready = False
        try:
            while True:
                try:
                    if not checkpoint_ready:
                        await ensure_checkpoint(self._pool, projection)
                        checkpoint_ready = True
                    applied = await process_batch(self._pool, projection, self._batch_size)
                except (
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    asyncpg.exceptions.InternalClientError,
                    OSError,
                ) as error:
                    # Policy: the batch rolled back whole (or never began); log it and try
                    # again shortly. A lost connection or a database still starting heals.
                    log.error(
                        "projection_batch_failed", projection=projection.name, error=str(error)
                    )
                    await asyncio.sleep(self._retry_seconds)
                    continue
                if applied == self._batch_size:
                    continue  # more is waiting: keep going without sleeping
                await wait_for_wakeup(signal, self._poll_seconds)
                # Appends come in bursts (a busy hour, many members at once): a moment's
                # pause gathers the ones that follow into the same batch, so a pass (seven
                # statements) is paid once for them all, not once per command. A tenth of a
                # second is nothing to a webhook or a mail, and while people write it keeps
                # these passes to ten a second whatever the rate of commands.
                await asyncio.sleep(self._gather_seconds)
        finally:
            self._hub.unsubscribe(signal)
