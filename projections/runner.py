"""The runner of the consumers that tell people of events — the webhook fan-out and the mail
fan-out — each following every polycule's stream on its own.

What members read is kept per polycule, inline with each command (``read_side.py``). The
fan-outs follow a little behind: each has a table of positions, one row per polycule
(``<name>_positions``: ``webhook_fanout_positions``, ``mail_fanout_positions``), holding the
stream version up to which the polycule's events have been applied. A pass takes a few
polycules, locks each with a transaction-scoped advisory lock keyed by the consumer and the
polycule (skipping those another worker holds: any number of workers share the polycules
out, and one polycule's events are applied by one of them at a time, in order), reads each
stream after its position, applies the events and moves the positions on — all in one
transaction: a crash loses nothing and applies nothing twice.

Nothing global orders it. A stream's versions are committed in order (each append expects
the one before), so reading after a version skips nothing, and no transaction left open
elsewhere on the server holds any polycule back. Nor does any consumer depend on one
server's transaction order: on a distributed database (Citus) each polycule's events, its
positions and its read models are on one worker, and the order of a stream is the same
wherever it is kept.

The lock is not a row lock: Citus locks rows only where a statement names one polycule by
equality, so ``FOR UPDATE SKIP LOCKED`` over several polycules at once is refused there. An
advisory lock is taken where the statement runs (on Citus, the coordinator every instance
talks to), costs no row and no write, and is released with the transaction's commit, once
its positions are visible to the next worker that takes it. A polycule without a position
yet is at version 0; its first pass makes its row.

Which polycules to look at comes from the append wake-ups (they name the polycules
appended to, from this instance and, by NOTIFY, from the others); a sweep over every
polycule's position finds those a lost wake-up left behind, at start, whenever the
listening connection was lost, when nothing woke the runner for ``poll_seconds``, and at
least every ``sweep_seconds`` under load.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

import asyncpg
import structlog

from ledger.events import EVENTS
from ledger.store.events import recorded_event
from ledger.store.records import RecordedEvent
from ledger.store.sql import EVENT_COLUMNS
from ledger.store.wakeups import WakeupHub
from ledger.supervisor import Supervisor

if TYPE_CHECKING:
    from ledger.database import Connection

log = structlog.get_logger(__name__)


class Projection(Protocol):
    """A consumer of every polycule's events, folded into tables of its own."""

    @property
    def name(self) -> str: ...

    async def apply(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        """Write what ``events`` (of one or more polycules, each in order) change; runs
        inside the pass's transaction."""


# -- queries (each consumer's table of positions is named after it) ----------------------

# The polycules no other worker holds, each locked for the pass (the locks' keys: the
# consumer's name's hash and the polycule's; two polycules sharing a hash are only applied
# one at a time). Their positions are read by the next statement, whose snapshot is taken
# after the locks: one taken here may have just been released by a pass that moved its
# position on.
_LOCK = """
SELECT polycule_id FROM unnest($1::uuid[]) AS p(polycule_id)
 WHERE pg_try_advisory_xact_lock(hashtext($2), hashtext(polycule_id::text))
"""
# The primary key; a polycule without a row has applied nothing yet.
_POSITIONS = """
SELECT p.polycule_id, coalesce(f.version, 0) AS version
  FROM unnest($1::uuid[]) AS p(polycule_id)
  LEFT JOIN {positions} f USING (polycule_id)
"""
# events_stream_version_key, once per polycule: the next $3 events of each, in order. A
# stream's versions have no gaps, so its next $3 events are the next $3 versions: a range
# of the key, where a LIMIT per polycule would need a lateral subquery (which Citus cannot
# run beside unnest()).
_EVENTS_AFTER = f"""
SELECT {EVENT_COLUMNS} FROM events
  JOIN unnest($1::uuid[], $2::bigint[]) AS p(polycule_id, version)
    ON stream_id = p.polycule_id
   AND stream_version > p.version AND stream_version <= p.version + $3
 ORDER BY stream_id, stream_version
"""
# now() in the rows inserted, not in the update (Citus evaluates it on the coordinator
# there, and refuses it in ON CONFLICT's SET).
_ADVANCE = """
INSERT INTO {positions} AS f (polycule_id, version, updated_at)
SELECT polycule_id, version, now() FROM unnest($1::uuid[], $2::bigint[]) AS a(polycule_id, version)
    ON CONFLICT (polycule_id) DO UPDATE SET version = excluded.version,
                                            updated_at = excluded.updated_at
"""
# Every polycule whose next event has not been applied (or that never was): one probe of
# events_stream_version_key per polycule. The read side's rows list the polycules (a
# command makes its polycule's row with its first events). Every table here is the
# polycule's own: on Citus the whole query runs on each worker, for its polycules.
_BEHIND = """
SELECT r.polycule_id
  FROM polycule_read_models r
  LEFT JOIN {positions} f USING (polycule_id)
 WHERE EXISTS (SELECT FROM events e
                WHERE e.stream_id = r.polycule_id
                  AND e.stream_version = coalesce(f.version, 0) + 1)
"""
_COUNT_BEHIND = "SELECT count(*) FROM (" + _BEHIND + ") AS behind"

_DB_ERRORS = (
    asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError
)
_NAME = re.compile(r"[a-z][a-z_]*")


def positions_of(name: str) -> str:
    """The table of the named consumer's positions (a name of code, never of input)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a consumer's name: {name!r}")
    return f"{name}_positions"


async def polycules_behind(pool: asyncpg.Pool, name: str) -> int:
    """How many polycules have events the named consumer has not applied yet (for the CLI
    and /status)."""
    count: int = await pool.fetchval(_COUNT_BEHIND.format(positions=positions_of(name)))
    return count


class ProjectionRunner:
    """Keeps one consumer current, polycule by polycule (``start``/``stop``), or brings it
    up to date at once (``catch_up_now``)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        projection: Projection,
        hub: WakeupHub,
        *,
        polycules_per_pass: int = 64,
        events_per_polycule: int = 200,
        poll_seconds: float = 1.0,
        sweep_seconds: float = 10.0,
        retry_seconds: float = 1.0,
        gather_seconds: float = 0.1,
    ) -> None:
        self._pool = pool
        self._projection = projection
        self._hub = hub
        self._polycules_per_pass = polycules_per_pass
        self._events_per_polycule = events_per_polycule
        self._poll_seconds = poll_seconds
        self._sweep_seconds = sweep_seconds
        self._retry_seconds = retry_seconds
        self._gather_seconds = gather_seconds
        self._supervisor: Supervisor | None = None
        positions = positions_of(projection.name)
        self._positions = _POSITIONS.format(positions=positions)
        self._advance = _ADVANCE.format(positions=positions)
        self._behind_query = _BEHIND.format(positions=positions)

    @property
    def name(self) -> str:
        return self._projection.name

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._supervisor = supervisor or Supervisor()
        self._supervisor.run(self.name, self._keep_current)

    async def stop(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop(self.name)

    async def catch_up_now(self) -> int:
        """Apply every polycule's events committed so far; how many were read."""
        applied = 0
        waiting = set(await self._behind())
        while waiting:
            more, done = await self.fan_out(waiting)
            applied += done
            waiting = more
        return applied

    async def polycules_behind(self) -> int:
        return await polycules_behind(self._pool, self.name)

    async def fan_out(self, polycules: Iterable[UUID]) -> tuple[set[UUID], int]:
        """One pass over ``polycules`` (at most ``polycules_per_pass`` of them are taken):
        those to look at again (more events than a pass reads, held by another worker,
        or not taken), and how many events were applied."""
        ordered = sorted(set(polycules))
        taken, left = ordered[: self._polycules_per_pass], set(ordered[self._polycules_per_pass:])
        async with self._pool.acquire() as connection, connection.transaction():
            held = [row["polycule_id"] for row in await connection.fetch(
                _LOCK, taken, self.name
            )]
            left.update(set(taken).difference(held))
            if not held:
                return left, 0
            rows = await connection.fetch(self._positions, held)
            locked = {row["polycule_id"]: row["version"] for row in rows}
            found = await connection.fetch(
                _EVENTS_AFTER, list(locked), list(locked.values()), self._events_per_polycule
            )
            events = [EVENTS.in_current_shape(recorded_event(row)) for row in found]
            if not events:
                return left, 0
            await self._projection.apply(connection, events)
            reached = _last_versions(events)
            await connection.execute(self._advance, list(reached), list(reached.values()))
        left.update(
            polycule for polycule, version in reached.items()
            if version - locked[polycule] >= self._events_per_polycule
        )
        return left, len(events)

    async def _behind(self) -> list[UUID]:
        return [row["polycule_id"] for row in await self._pool.fetch(self._behind_query)]

    async def _keep_current(self) -> None:
        signal = self._hub.subscribe(naming=True)
        waiting: set[UUID] = set()
        swept_at: float | None = None
        try:
            while True:
                named = signal.woken_for()
                signal.clear()
                sweep = (
                    swept_at is None or named is None
                    or time.monotonic() - swept_at >= self._sweep_seconds
                )
                try:
                    if sweep:
                        waiting.update(await self._behind())
                        swept_at = time.monotonic()
                    waiting.update(named or ())
                    while waiting:
                        more, _ = await self.fan_out(waiting)
                        if more == waiting:  # each held by another worker: later
                            break
                        waiting = more
                except _DB_ERRORS as error:
                    # Policy: the pass rolled back whole (or never began); log it and try
                    # again shortly, with the same polycules and a sweep.
                    log.error("fanout_pass_failed", consumer=self.name, error=str(error))
                    swept_at = None
                    await asyncio.sleep(self._retry_seconds)
                    continue
                try:
                    async with asyncio.timeout(self._poll_seconds):
                        await signal.wait()  # (cleared above, once its polycules are read)
                except TimeoutError:
                    swept_at = None  # nothing woke it for a while: look everywhere
                # Appends come in bursts: a moment's pause gathers the ones that follow
                # into the same pass, one transaction for all their polycules. A pass costs
                # about six round trips, so under load (an instance of role ``all``
                # serving writes) passes are kept to about ten a second; a lone append
                # after a quiet spell is still applied at once.
                await asyncio.sleep(self._gather_seconds)
        finally:
            self._hub.unsubscribe(signal)


def _last_versions(events: Sequence[RecordedEvent]) -> dict[UUID, int]:
    reached: dict[UUID, int] = {}
    for event in events:
        reached[event.stream_id] = event.stream_version
    return reached
