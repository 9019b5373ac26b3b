"""What every read of a read model shares: one snapshot for a read of several queries, and
rows built from what a query answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

RowT = TypeVar("RowT")

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


def row_of(kind: Callable[..., RowT], record: asyncpg.Record, **given: Any) -> RowT:
    """A row of ``kind`` from a query's record, whose columns are named (``AS``, where need
    be) after the row's fields: arrays become tuples; ``given`` are the fields that are no
    column (a proposal's answers, a commitment's progress)."""
    columns = dict(record)
    for name, value in columns.items():
        if type(value) is list:
            columns[name] = tuple(value)
    return kind(**columns, **given)
