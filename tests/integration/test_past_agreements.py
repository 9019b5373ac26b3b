"""What is past in a polycule, read from the agreements read model: every read the home
asks of it is answered from an index (the tables here are empty; the planner is told to
take a sequential scan only where no index can answer)."""

from __future__ import annotations

import uuid

import asyncpg

from projections import past_agreements
from tests.integration.test_agreement_projections import statement


async def test_every_read_of_the_past_uses_an_index(pool: asyncpg.Pool) -> None:
    reads = {
        "ENDED_AGREEMENTS": (uuid.uuid4(), past_agreements.PAST_LIMIT),
        "CLOSED_PROPOSALS": (uuid.uuid4(), past_agreements.PAST_LIMIT),
    }
    async with pool.acquire() as connection, connection.transaction():
        # On Citus the setting reaches the shards' plans only when SET is propagated.
        await connection.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        await connection.execute("SET LOCAL enable_seqscan = off")
        for name, arguments in reads.items():
            plan = "\n".join(
                row[0] for row in await connection.fetch(
                    f"EXPLAIN {statement(name, past_agreements)}", *arguments
                )
            )
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
