"""Snapshots: a decider's folded state of one stream, kept in the database, so that no
request folds a polycule's years of events from the first one — not after a restart, not on
another instance.

A state holds no one's words (the service folds events with their sealed texts unopened),
so a snapshot holds nothing that an erasure would have to reach: ids, parties, dates and
numbers. It is written as JSON by pydantic from the state's own types and read back into
them, never unpickled.

A snapshot is only a cache. Each is tagged with its *shape*: a digest of the state's
schema and of ``FOLD_VERSION``. When the state's types change, or the way events fold into
it (bump ``FOLD_VERSION`` then), older snapshots no longer match, are ignored, and are
replaced the next time the stream is folded.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

import asyncpg
import structlog
from pydantic import TypeAdapter, ValidationError

from ledger.collector import collector_paused
from ledger.domain import Decider

if TYPE_CHECKING:
    from ledger.database import Executor

log = structlog.get_logger(__name__)

State = TypeVar("State")

# Bump when the way events fold into a state changes while its types stay the same.
# 2: a proposal that closes and an agreement that ends keep only what rules still read.
FOLD_VERSION = 2

# A snapshot is written when a stream has grown this many events past the last one.
EVERY = 100

# The state travels as JSON bytes, written and parsed by pydantic's own (compiled) code, and
# is kept as those bytes (bytea): neither PostgreSQL nor the pool parses or writes out a
# polycule's state of years on the way.
# (`excluded.taken_at` is the column's default, now(): Citus refuses any function but an
# immutable one in the DO UPDATE SET of a distributed table.)
_LATEST = """
SELECT version, state FROM decider_snapshots
 WHERE stream_id = $1 AND decider = $2 AND shape = $3
"""
_KEEP = """
INSERT INTO decider_snapshots (stream_id, decider, shape, version, state)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (stream_id, decider) DO UPDATE
   SET shape = excluded.shape, version = excluded.version, state = excluded.state,
       taken_at = excluded.taken_at
 WHERE decider_snapshots.shape <> excluded.shape
    OR decider_snapshots.version < excluded.version
"""


class SnapshotFormat(Generic[State]):
    """How one decider's states are written and read: JSON by the state's own types."""

    def __init__(self, name: str, decider: Decider[Any, State]) -> None:
        self.name = name
        self._adapter: TypeAdapter[State] = TypeAdapter(type(decider.initial_state))
        # Worked out once, as the service starts (the state's JSON schema takes a tenth of
        # a second to write out), not on the first request that loads a snapshot.
        schema = json.dumps(self._adapter.json_schema(), sort_keys=True)
        self.shape = hashlib.sha256(f"{schema}|fold {FOLD_VERSION}".encode()).hexdigest()[:32]

    def dump(self, state: State) -> bytes:
        return self._adapter.dump_json(state)

    def load(self, data: bytes) -> State:
        with collector_paused():
            return self._adapter.validate_json(data)


class Snapshots:
    """The snapshots of every decider the service folds with, in one table."""

    def __init__(self, executor: Executor, formats: dict[int, SnapshotFormat[Any]]) -> None:
        self._executor = executor
        self._formats = formats  # by id(decider), as the service's cache keys them

    @classmethod
    def of(cls, executor: Executor, **deciders: Decider[Any, Any]) -> Snapshots:
        return cls(executor, {
            id(decider): SnapshotFormat(name, decider) for name, decider in deciders.items()
        })

    def alongside(self, name: str, decider: Decider[Any, Any]) -> Snapshots:
        """Snapshots of ``decider``'s states kept under another ``name``, in the same table:
        for a reader that folds the same stream at another version than the service's
        (those that follow the log a little behind the head, ledger/following.py)."""
        return Snapshots(self._executor, {id(decider): SnapshotFormat(name, decider)})

    async def latest(
        self, stream_id: UUID, decider: Decider[Any, State]
    ) -> tuple[State, int] | None:
        """The stream's latest snapshot of the current shape, and its version."""
        found = self._formats.get(id(decider))
        if found is None:
            return None
        row = await self._executor.fetchrow(_LATEST, stream_id, found.name, found.shape)
        if row is None:
            return None
        try:
            state: State = found.load(row["state"])
        except ValidationError:
            log.warning("snapshot_unreadable", stream_id=str(stream_id), decider=found.name)
            return None
        return state, row["version"]

    async def keep(
        self, stream_id: UUID, decider: Decider[Any, State], state: State, version: int
    ) -> None:
        """Keep ``state`` as the stream's snapshot at ``version`` unless a later one is kept.
        Best effort: a snapshot not written is only a fold to do again."""
        found = self._formats.get(id(decider))
        if found is None:
            return
        try:
            await self._executor.execute(
                _KEEP, stream_id, found.name, found.shape, version, found.dump(state)
            )
        except (asyncpg.PostgresError, OSError) as error:
            log.warning(
                "snapshot_not_kept", stream_id=str(stream_id), decider=found.name,
                error=type(error).__name__,
            )


def due(before: int, after: int, every: int | None = None) -> bool:
    """Whether a stream that grew from ``before`` to ``after`` events passed a snapshot
    (one every ``every`` events; by default ``EVERY``)."""
    every = every or EVERY
    return after // every > before // every
