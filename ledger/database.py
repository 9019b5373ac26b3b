"""Where the one PostgreSQL database comes from, and the connection pool over it.

With ``DATABASE_URL`` set, that server is used. Without it, an embedded PostgreSQL (the
``pgserver`` wheel) is started with its data under the configured data directory, so the
service runs on a machine with nothing but Python installed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import structlog

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A connection of its own, or one borrowed from the pool: queries read the same.
    Connection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    )
    # Where a single statement can run: the pool (any free connection) or a connection.
    Executor: TypeAlias = asyncpg.Pool[asyncpg.Record] | Connection

log = structlog.get_logger(__name__)

# The database was busy or away (a deadlock or a time-out, a lost or refused connection, no
# free connection in time): an error that says nothing about what was asked, only that it
# could not be done now. A request meeting one is answered 503 (ledger/http); it never
# refuses a command nor parks a polycule (projections/read_side.py).
BUSY_OR_AWAY: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.CannotConnectNowError,
    # "database … is not currently accepting connections", among others of its kind.
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
    asyncpg.InterfaceError,
    # A connection cut by the server in the middle of an operation.
    asyncpg.InternalClientError,
    ConnectionError,
    TimeoutError,
)


def start_embedded_postgres(data_dir: Path) -> Any:
    """Start (or join) the embedded PostgreSQL kept in ``data_dir``; returns the server handle."""
    import pgserver  # imported lazily: a deployment with DATABASE_URL never needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode="stop": the server stops when the last process using it exits, data stays.
    return pgserver.get_server(  # type: ignore[attr-defined]
        data_dir.resolve(), cleanup_mode="stop"
    )


@asynccontextmanager
async def database_url(configured: str | None, data_dir: Path) -> AsyncIterator[str]:
    """Yield a connection URL: the configured one, or an embedded server's."""
    if configured:
        yield configured
        return
    server = await asyncio.to_thread(start_embedded_postgres, data_dir / "postgres")
    log.info("embedded_postgres_started", data_dir=str(data_dir / "postgres"))
    try:
        yield str(server.get_uri())
    finally:
        await asyncio.to_thread(server.cleanup)


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb arrives as Python objects and leaves as JSON text, in one place for every query.
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def _end_open_transaction(connection: asyncpg.Connection) -> None:
    """Reset a connection on its way back to the pool.

    asyncpg's default reset sends a second statement (UNLISTEN, RESET ALL, …) after every
    use, a whole extra round trip per query. The ledger keeps no session state on pooled
    connections — settings are SET LOCAL, advisory locks are transaction-scoped, LISTEN and
    session locks use dedicated connections — so ending a transaction left open is all
    there is to reset.
    """
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_end_open_transaction,
    )
    if pool is None:  # asyncpg's signature allows it; a created pool never is
        raise RuntimeError("the connection pool could not be created")
    return pool


async def connect(
    url: str, *, server_settings: dict[str, str] | None = None
) -> asyncpg.Connection:
    """A dedicated connection (for LISTEN, NOTIFY, session advisory locks, tools)."""
    connection: asyncpg.Connection = await asyncpg.connect(url, server_settings=server_settings)
    await _init_connection(connection)
    return connection
