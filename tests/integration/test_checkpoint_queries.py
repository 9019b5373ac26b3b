"""What answering a checkpoint, a proof or a co-signature asks of the database: every
statement is answered from an index (the tables are empty; the planner is told to take a
sequential scan only where no index can answer)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from ledger.transparency import checkpoints, devices
from tests.support import sequential_scans_last


async def test_every_statement_uses_an_index(pool: asyncpg.Pool) -> None:
    some, now = uuid.uuid4(), datetime.now(UTC)
    statements = {
        "LEAF_HASHES": (checkpoints.LEAF_HASHES, (some, 10)),
        "EVENT_HASH": (checkpoints.EVENT_HASH, (some, 3)),
        "FIND_CHECKPOINT": (checkpoints.FIND_CHECKPOINT, (some, 3, bytes(32))),
        "OTHER_ROOTS": (checkpoints.OTHER_ROOTS, (some, 3, bytes(32))),
        "COSIGNATURES": (checkpoints.COSIGNATURES, (1, some)),
        "USABLE": (devices.USABLE, (some, some)),
        "OF_ACCOUNT": (devices.OF_ACCOUNT, (some,)),
        "REVOKE": (devices.REVOKE, (some, some, now)),
        "DELETE_OF_ACCOUNT": (devices.DELETE_OF_ACCOUNT, (some,)),
    }
    async with pool.acquire() as connection, connection.transaction():
        await sequential_scans_last(connection)
        for name, (statement, arguments) in statements.items():
            plan = "\n".join(
                row[0] for row in await connection.fetch(f"EXPLAIN {statement}", *arguments)
            )
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
