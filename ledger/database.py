"""Where the one PostgreSQL database comes from, as whom to connect, and the pool over it.

With ``DATABASE_URL`` set, that server is used. Without it, an embedded PostgreSQL (the
``pgserver`` wheel) is started with its data under the configured data directory, so the
service runs on a machine with nothing but Python installed.

Two roles, so that whoever holds the service's credentials can add to history but never
rewrite it (migration 0013):

* the **owner** of the schema runs the migrations (``LEDGER_DATABASE_OWNER_URL``; the
  embedded server's superuser);
* the **service** connects as a login role that is a member of ``ledger_service``, which
  may SELECT and INSERT on ``events`` and nothing more there (``DATABASE_URL``; for the
  embedded server, ``ledger_app``, with a generated password kept in the data directory
  beside the master key). After migrating, the owner grants ``ledger_service`` to it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import orjson
import structlog

from ledger.store.migrate import Migration, migrate

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A connection of its own, or one borrowed from the pool: queries read the same.
    Connection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    )
    # Where a single statement can run: the pool (any free connection) or a connection.
    Executor: TypeAlias = asyncpg.Pool[asyncpg.Record] | Connection

log = structlog.get_logger(__name__)

# The database was busy: a deadlock or a serialization failure, a statement or lock that
# timed out, every connection the server allows in use. The next try may well succeed.
BUSY: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# The database was away: a lost or refused connection, a server shutting down or starting
# up, one that does not answer in time. An outage, until a connection is made again.
AWAY: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.OperatorInterventionError,  # after BUSY: QueryCanceled is one too
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    # "database … is not currently accepting connections", among others of its kind.
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
    asyncpg.InterfaceError,
    # A connection cut by the server in the middle of an operation; with several hosts and
    # target_session_attrs=read-write, none of them the primary yet (a failover under way).
    asyncpg.InternalClientError,
    # A write on a node that is no primary (any more, or yet): the primary is elsewhere,
    # and the connections to replace (a failover under way).
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    # Refused, reset, or (a server on a Unix socket that has stopped) no socket at all.
    OSError,
    TimeoutError,
)
# Either: an error that says nothing about what was asked, only that it could not be done
# now. A request meeting one is answered 503 with Retry-After (ledger/http); it never
# refuses a command nor parks a polycule (projections/read_side.py).
BUSY_OR_AWAY: tuple[type[BaseException], ...] = BUSY + AWAY


def is_away(error: BaseException) -> bool:
    """Whether ``error`` says the database is out of reach (not merely busy)."""
    return isinstance(error, AWAY) and not isinstance(error, BUSY)


class Availability:
    """Whether the database answered the last time anyone here needed it.

    An outage is logged when it begins and when it ends, once each, however many requests
    meet it meanwhile: it is one event for operators, not a thousand. It begins with the
    first error that says the database is away (``met``), which also has the pool replace
    every connection it holds (each died with the server, or soon will); it ends when a
    new connection is made (the pool's ``init``, see ``create_pool``). Being busy is not an
    outage: each time is logged, with the request that met it.
    """

    def __init__(self) -> None:
        self._lost_at: float | None = None
        self._pool: asyncpg.Pool | None = None

    @property
    def away(self) -> bool:
        return self._lost_at is not None

    def watch(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def met(self, error: BaseException, **context: str) -> None:
        if not is_away(error):
            log.warning("database_busy", error=type(error).__name__, **context)
            return
        if self._lost_at is not None:
            return
        self._lost_at = time.monotonic()
        log.error("database_unavailable", error=type(error).__name__, reason=str(error))
        if self._pool is not None:
            await self._pool.expire_connections()

    def answered(self) -> None:
        if self._lost_at is None:
            return
        lasted = time.monotonic() - self._lost_at
        self._lost_at = None
        log.warning("database_available_again", outage_seconds=round(lasted, 1))


def start_embedded_postgres(data_dir: Path) -> Any:
    """Start (or join) the embedded PostgreSQL kept in ``data_dir``; returns the server handle."""
    import pgserver  # imported lazily: a deployment with DATABASE_URL never needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode="stop": the server stops when the last process using it exits, data stays.
    return pgserver.get_server(  # type: ignore[attr-defined]
        data_dir.resolve(), cleanup_mode="stop"
    )


# The privileges the service needs, granted by migration 0013 (a role of the whole server).
SERVICE_ROLE = "ledger_service"
# The embedded server's login role for the service, and where its password is kept.
EMBEDDED_SERVICE_USER = "ledger_app"
SERVICE_ROLE_FILE = "service-role.password"


@dataclass(frozen=True)
class Database:
    """Where the database is, and as whom each part of the ledger connects to it."""

    # The service: reads and appends events, reads and writes every other table.
    url: str
    # The schema's owner: migrations, and granting the service its role.
    owner_url: str


@asynccontextmanager
async def database(
    configured: str | None, owner_configured: str | None, data_dir: Path
) -> AsyncIterator[Database]:
    """The configured server (migrated as its owner, or as the service itself when no owner
    is configured), or an embedded one, for as long as the caller needs it."""
    if configured:
        yield Database(url=configured, owner_url=owner_configured or configured)
        return
    server = await asyncio.to_thread(start_embedded_postgres, data_dir / "postgres")
    log.info("embedded_postgres_started", data_dir=str(data_dir / "postgres"))
    try:
        owner_url = str(server.get_uri())
        password = _service_password(data_dir / SERVICE_ROLE_FILE)
        await _ensure_login_role(owner_url, EMBEDDED_SERVICE_USER, password)
        yield Database(
            url=url_as(owner_url, EMBEDDED_SERVICE_USER, password), owner_url=owner_url
        )
    finally:
        await asyncio.to_thread(server.cleanup)


def url_as(url: str, user: str, password: str) -> str:
    """``url`` with another user and password (host, port, database and options kept)."""
    parts = urlsplit(url)
    location = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(
        netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{location}"
    ))


def _service_password(path: Path) -> str:
    """The embedded service role's password: generated once, kept like the master key
    (readable by this user alone), the same for two processes starting together."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(secrets.token_urlsafe(32) + "\n")
            try:
                os.link(temporary, path)  # never replaces one another process made
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} can be read by other users; run: chmod 600 {path}")
    return path.read_text(encoding="ascii").strip()


async def _ensure_login_role(owner_url: str, user: str, password: str) -> None:
    """Make the login role (or give it this password again): its privileges come from
    ``ledger_service``, granted once the migrations have made it."""
    connection = await asyncpg.connect(owner_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)
        verb = "ALTER" if exists else "CREATE"
        statement = await connection.fetchval(
            f"SELECT format('{verb} ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)",
            user, password,
        )
        try:
            await connection.execute(statement)
        except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            pass  # another process starting on the same data made it meanwhile
    finally:
        await connection.close()


async def migrate_database(owner_url: str, service_url: str | None = None) -> list[Migration]:
    """Apply pending migrations as the schema's owner, on a connection of their own (the
    lock is session-scoped); then grant the service's login role its privileges, when
    it is another role than the owner. Returns the migrations applied."""
    connection = await connect(owner_url)
    try:
        applied = await migrate(connection)
        if service_url is not None and service_url != owner_url:
            await _grant_service_role(connection, await _user_of(service_url))
    finally:
        await connection.close()
    return applied


async def _user_of(url: str) -> str:
    """The role a URL logs in as (asked of the server: the URL may leave it to defaults)."""
    connection = await asyncpg.connect(url)
    try:
        user: str = await connection.fetchval("SELECT current_user")
    finally:
        await connection.close()
    return user


async def _grant_service_role(owner: Connection, user: str) -> None:
    if user == await owner.fetchval("SELECT current_user"):
        return  # the service is the owner itself: warned about at start
    if await owner.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", user, SERVICE_ROLE):
        return
    statement = await owner.fetchval(
        "SELECT format('GRANT %I TO %I', $1::text, $2::text)", SERVICE_ROLE, user
    )
    await owner.execute(statement)
    log.info("service_role_granted", role=SERVICE_ROLE, to=user)


# Whether the role connected may rewrite history: a superuser, the owner of ``events``
# (or a member of its role), or granted UPDATE, DELETE or TRUNCATE on it.
_MAY_REWRITE_HISTORY = """
SELECT r.rolsuper
    OR pg_has_role(current_user, e.relowner, 'USAGE')
    OR has_table_privilege(e.oid, 'UPDATE, DELETE, TRUNCATE')
  FROM pg_roles r, pg_class e
 WHERE r.rolname = current_user AND e.oid = 'events'::regclass
"""


async def warn_if_history_can_be_rewritten(pool: asyncpg.Pool) -> bool:
    """Log, once at start, when the service connects as a role that could change or remove
    events (a deployment given one superuser URL); whether it can."""
    may = bool(await pool.fetchval(_MAY_REWRITE_HISTORY))
    if may:
        log.warning(
            "database_role_may_rewrite_history",
            advice="connect the service as a role of its own and migrate as the owner: "
            "set LEDGER_DATABASE_OWNER_URL (see docs/operations.md)",
        )
    return may


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb arrives as Python objects and leaves as JSON, in one place for every query,
    # through orjson's compiled parser: every event and sealed text read passes here. In
    # jsonb's binary form (a version byte, then the JSON text), which COPY needs too (a
    # rebuild copies its rows in: projections/in_memory.py).
    await connection.set_type_codec(
        "jsonb", encoder=_jsonb, decoder=_from_jsonb, schema="pg_catalog", format="binary"
    )


_JSONB_VERSION = b"\x01"


def _jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _from_jsonb(data: bytes) -> Any:
    if data[:1] != _JSONB_VERSION:
        raise ValueError("an unknown version of jsonb's binary form")
    return orjson.loads(memoryview(data)[1:])


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


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    availability: Availability | None = None,
    statement_cache_size: int = 100,
) -> asyncpg.Pool:
    """The pool; with ``availability``, every connection it makes says the database
    answers again (and an outage met, the pool replaces the connections it holds).
    ``statement_cache_size=0`` behind a pooler in transaction mode (PgBouncer), where a
    statement prepared on one server connection may be run on another."""

    async def init(connection: asyncpg.Connection) -> None:
        await _init_connection(connection)
        if availability is not None:
            availability.answered()

    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=init,
        reset=_end_open_transaction,
        statement_cache_size=statement_cache_size,
    )
    if pool is None:  # asyncpg's signature allows it; a created pool never is
        raise RuntimeError("the connection pool could not be created")
    if availability is not None:
        availability.watch(pool)
    return pool


async def connect(
    url: str, *, server_settings: dict[str, str] | None = None
) -> asyncpg.Connection:
    """A dedicated connection (for LISTEN, NOTIFY, session advisory locks, tools)."""
    connection: asyncpg.Connection = await asyncpg.connect(url, server_settings=server_settings)
    await _init_connection(connection)
    return connection
