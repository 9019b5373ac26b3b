"""Real PostgreSQL for every test: embedded by default, or the server you name.

``LEDGER_TEST_DATABASE_URL`` (a URL whose user may create databases and roles) points the
suite at a running server; otherwise an embedded PostgreSQL 16 starts in a throw-away
directory. Each test gets its own database, cloned from a template that already holds the
migrated schema, so tests are isolated and fast.

``LEDGER_TEST_CITUS_URL`` names a Citus coordinator: the integration suite then runs there
too, every test on a database of its own distributed by polycule (tests/citus.py).

``database_url`` connects as the schema's owner (tests that set a scene or break things
on purpose use it); ``service_database_url`` connects to the same database as the service
does in production, as a login role holding ``ledger_service`` (one per test session, so
sessions sharing a server never change each other's passwords).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import settings

from ledger.database import SERVICE_ROLE, create_pool, url_as
from ledger.privacy import KeyRing, MasterKey
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.migrate import migrate
from tests import citus

# No test may depend on how fast this machine is today: hypothesis's default deadline
# (200 ms an example) fails examples that merely ran on a busy machine.
settings.register_profile("ledger", deadline=None)
settings.load_profile("ledger")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With a Citus coordinator named, each integration test runs on it as well."""
    in_integration = "integration" in Path(str(metafunc.definition.path)).parts
    if citus.citus_url() and in_integration and "postgres_admin_url" in metafunc.fixturenames:
        metafunc.parametrize(
            "postgres_admin_url", ["postgres", "citus"], indirect=True, scope="session"
        )


@pytest.fixture(scope="session")
def postgres_admin_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if getattr(request, "param", "postgres") == "citus":
        yield asyncio.run(citus.answering())
        return
    configured = os.environ.get("LEDGER_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="ledger-test-pg-") as directory:
        server = pgserver.get_server(Path(directory), cleanup_mode="stop")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> Iterator[str | None]:
    if postgres_admin_url == citus.citus_url():
        # On Citus each test's database is made afresh (tests/citus.py); the service's role,
        # which belongs to the whole cluster, is made once for them all.
        asyncio.run(_admin(postgres_admin_url, citus.SERVICE_ROLE))
        yield None
        return
    name = f"ledger_template_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        await _admin(postgres_admin_url, f'CREATE DATABASE "{name}"')
        connection = await asyncpg.connect(with_database(postgres_admin_url, name))
        try:
            await migrate(connection)
        finally:
            await connection.close()

    asyncio.run(create())
    yield name
    asyncio.run(_admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def service_login(
    postgres_admin_url: str, template_database: str | None
) -> Iterator[tuple[str, str]]:
    """A login role for this session holding ``ledger_service`` (which the template's
    migrations made), and its password."""
    user = f"ledger_test_service_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    asyncio.run(_admin(
        postgres_admin_url,
        f"CREATE ROLE {user} LOGIN PASSWORD '{password}' IN ROLE {SERVICE_ROLE}",
    ))
    yield user, password
    asyncio.run(_admin(postgres_admin_url, f"DROP ROLE IF EXISTS {user}"))


def _fresh_database(
    admin_url: str, template: str | None, *, migrated: bool = False
) -> Iterator[str]:
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    source = f' TEMPLATE "{template}"' if template else ""
    if admin_url != citus.citus_url():
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"{source}'))
        yield with_database(admin_url, name)
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    asyncio.run(citus.create_database(admin_url, name))
    try:  # on every node: dropped even when preparing it fails
        if migrated:
            asyncio.run(citus.prepare(admin_url, with_database(admin_url, name)))
        yield with_database(admin_url, name)
    finally:
        asyncio.run(citus.drop_database(admin_url, name))


@pytest.fixture
def database_url(postgres_admin_url: str, template_database: str | None) -> Iterator[str]:
    """A database of its own for this test, schema already migrated."""
    yield from _fresh_database(postgres_admin_url, template_database, migrated=True)


@pytest.fixture
def service_database_url(database_url: str, service_login: tuple[str, str]) -> str:
    """This test's database, as the service connects to it: it may read and append events,
    never rewrite them."""
    return url_as(database_url, *service_login)


@pytest.fixture
def empty_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of its own with nothing in it (for migration tests)."""
    yield from _fresh_database(postgres_admin_url, None)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url, min_size=1, max_size=20)
    yield created
    await created.close()


@pytest.fixture
def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool)


@pytest.fixture
def keyring(pool: asyncpg.Pool) -> KeyRing:
    return KeyRing(pool, MasterKey.generate())


@pytest.fixture
def service(store: EventStore, keyring: KeyRing) -> ApplicationService:
    return ApplicationService(store, keyring)
