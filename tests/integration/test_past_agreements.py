"""What is past in a polycule, read from the agreements read model: every read the home
asks of it is answered from an index (the tables here are empty; the planner is told to
take a sequential scan only where no index can answer)."""

from __future__ import annotations

import uuid

import asyncpg

from projections import past_agreements
from tests.integration.test_agreement_projections import statement
from tests.support import sequential_scans_last


async def test_every_read_of_the_past_uses_an_index(pool: asyncpg.Pool) -> None:
    reads = {
        "ENDED_AGREEMENTS": (uuid.uuid4(), past_agreements.PAST_LIMIT),
        "CLOSED_PROPOSALS": (uuid.uuid4(), past_agreements.PAST_LIMIT),
    }
    async with pool.acquire() as connection, connection.transaction():
        await sequential_scans_last(connection)
        for name, arguments in reads.items():
            plan = "\n".join(
                row[0] for row in await connection.fetch(
                    f"EXPLAIN {statement(name, past_agreements)}", *arguments
                )
            )
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
