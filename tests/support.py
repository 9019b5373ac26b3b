"""Small builders shared by the tests."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from ledger.store.records import NewEvent
from projections import read_side
from projections.rebuild import catch_up_all


def new_event(event_type: str = "FactRecorded", **data: Any) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=1,
        data=data or {"note": "a fact of the polycule"},
        metadata={"actor": "member-1", "command_id": str(uuid.uuid4()), "request_id": "test"},
    )


async def sequential_scans_last(connection: asyncpg.Connection) -> None:
    """For the rest of the transaction under way: a sequential scan is the planner's last
    resort (the tables are tiny), so that one shows up only where no index can answer — on
    Citus in the shards' plans too, which a SET reaches only when it is propagated."""
    await connection.execute("SET LOCAL citus.propagate_set_commands = 'local'")
    await connection.execute("SET LOCAL enable_seqscan = off")


async def tamper(pool: asyncpg.Pool, statement: str, *args: object) -> None:
    """Alter history the way only someone with the database owner's rights could."""
    async with pool.acquire() as connection, connection.transaction():
        # On Citus a distributed table's triggers are altered only with this on (and then on
        # every shard).
        await connection.execute("SET LOCAL citus.enable_unsafe_triggers TO on")
        await connection.execute("ALTER TABLE events DISABLE TRIGGER events_immutable")
        await connection.execute(statement, *args)
        await connection.execute("ALTER TABLE events ENABLE TRIGGER events_immutable")


async def read_models_caught_up(pool: asyncpg.Pool) -> int:
    """Apply to the read models whatever events were appended with the store alone (as the
    keeper does for a running service); how many were applied."""
    return await catch_up_all(read_side(pool))
