"""What every read of a read model shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from ledger.database import Connection, Executor


@asynccontextmanager
async def snapshot(executor: Executor) -> AsyncIterator[Connection]:
    """One connection and one snapshot for a read of several queries, so that a batch the
    projection commits meanwhile is seen by all of them or by none."""
    if isinstance(executor, asyncpg.Pool):
        async with executor.acquire() as connection, connection.transaction(
            isolation="repeatable_read", readonly=True
        ):
            yield connection
    elif executor.is_in_transaction():
        yield executor
    else:
        async with executor.transaction(isolation="repeatable_read", readonly=True):
            yield executor
