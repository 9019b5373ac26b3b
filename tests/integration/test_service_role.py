"""The service's own database role: it reads and appends history, and can do nothing else
to it — on the embedded PostgreSQL and on a server alike (the suite runs on either)."""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from ledger.database import (
    EMBEDDED_SERVICE_USER,
    SERVICE_ROLE,
    SERVICE_ROLE_FILE,
    create_pool,
    database,
    migrate_database,
    url_as,
    warn_if_history_can_be_rewritten,
)
from ledger.store.events import EventStore
from tests.support import new_event

# Every way to change, remove or stop guarding history that a connection might try.
FORBIDDEN_ON_EVENTS = [
    "UPDATE events SET event_type = 'Rewritten'",
    "DELETE FROM events",
    "TRUNCATE events",
    "ALTER TABLE events DISABLE TRIGGER events_immutable",
    "ALTER TABLE events DISABLE TRIGGER ALL",
    "ALTER TABLE events ADD COLUMN note text",
    "ALTER TABLE events DROP CONSTRAINT events_event_id_key",
    "DROP TRIGGER events_immutable ON events",
    "DROP TABLE events",
    "CREATE OR REPLACE FUNCTION events_are_immutable() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "SET session_replication_role = replica",
    "UPDATE schema_migrations SET checksum = 'edited'",
]


@pytest.fixture
async def as_service(service_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(service_database_url)
    yield connection
    await connection.close()


async def _recorded(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT position, event_type, data, hash FROM events ORDER BY 1")


@pytest.mark.parametrize("statement", FORBIDDEN_ON_EVENTS)
async def test_the_service_role_cannot_rewrite_history(
    store: EventStore, pool: asyncpg.Pool, as_service: asyncpg.Connection, statement: str
) -> None:
    await store.append(uuid.uuid4(), 0, [new_event(), new_event("FactConfirmed")])
    before = await _recorded(pool)

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_service.execute(statement)

    assert await _recorded(pool) == before


async def test_the_service_role_cannot_give_itself_more(
    as_service: asyncpg.Connection,
) -> None:
    # Holding no grant option, its GRANT grants nothing (PostgreSQL only warns).
    await as_service.execute("GRANT UPDATE, DELETE, TRUNCATE ON events TO CURRENT_USER")

    assert not await as_service.fetchval(
        "SELECT has_table_privilege('events', 'UPDATE, DELETE, TRUNCATE')"
    )
    assert not await as_service.fetchval(
        "SELECT rolsuper OR rolcreaterole OR rolbypassrls FROM pg_roles"
        " WHERE rolname = current_user"
    )


async def test_the_owner_meets_the_trigger(store: EventStore, pool: asyncpg.Pool) -> None:
    """The guard of old stays for whoever owns the table."""
    await store.append(uuid.uuid4(), 0, [new_event()])

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="events are immutable"):
        await pool.execute("UPDATE events SET event_type = 'Rewritten'")


async def test_the_service_role_reads_and_appends_events(service_database_url: str) -> None:
    pool = await create_pool(service_database_url, min_size=1, max_size=2)
    try:
        store = EventStore(pool)
        stream = uuid.uuid4()
        await store.append(stream, 0, [new_event()])
        await store.append(stream, 1, [new_event("FactConfirmed")])

        assert await store.stream_version(stream) == 2
        assert not await warn_if_history_can_be_rewritten(pool)
    finally:
        await pool.close()


async def test_the_owner_is_told_apart_from_the_service(pool: asyncpg.Pool) -> None:
    """Connected as the owner (one URL for everything), the service says so at start."""
    assert await warn_if_history_can_be_rewritten(pool)


async def test_migrating_as_the_owner_grants_a_new_service_login_its_role(
    empty_database_url: str, postgres_admin_url: str
) -> None:
    """A server as an operator sets it up: a login role of their own naming, with nothing
    granted; the owner migrates an empty database and grants it ``ledger_service``."""
    user, password = f"ledger_test_login_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = await asyncpg.connect(postgres_admin_url)
    await admin.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    try:
        service_url = url_as(empty_database_url, user, password)

        await migrate_database(empty_database_url, service_url)

        assert await admin.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", user, SERVICE_ROLE)
        service = await asyncpg.connect(service_url)
        try:
            await service.fetchval("SELECT count(*) FROM events")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await service.execute("TRUNCATE events")
        finally:
            await service.close()
        # Again (every start migrates): nothing to apply, nothing to grant, no error.
        assert await migrate_database(empty_database_url, service_url) == []
    finally:
        await admin.execute(f"DROP OWNED BY {user}")
        await admin.execute(f"DROP ROLE {user}")
        await admin.close()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory of its own (not pytest's, which other sessions may clear)."""
    with tempfile.TemporaryDirectory(prefix="ledger-data-") as directory:
        yield Path(directory)


async def test_the_embedded_database_gives_the_service_a_role_of_its_own(
    data_dir: Path,
) -> None:
    """``./dev serve`` with no DATABASE_URL: the service's login role is made with a
    generated password, kept under the data directory readable by its user alone."""
    async with database(None, None, data_dir) as found:
        await migrate_database(found.owner_url, found.url)
        service = await asyncpg.connect(found.url)
        try:
            assert await service.fetchval("SELECT current_user") == EMBEDDED_SERVICE_USER
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await service.execute("ALTER TABLE events DISABLE TRIGGER events_immutable")
        finally:
            await service.close()
        kept = data_dir / SERVICE_ROLE_FILE
        assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
        password = kept.read_text().strip()
        assert len(password) >= 32 and found.url == url_as(
            found.owner_url, EMBEDDED_SERVICE_USER, password
        )
    # Started again on the same data: the same role and password, nothing to migrate.
    async with database(None, None, data_dir) as again:
        assert again.url == found.url
        assert await migrate_database(again.owner_url, again.url) == []
        await asyncio.wait_for(_select_one(again.url), 30)


async def _select_one(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM events") == 0
    finally:
        await connection.close()
