"""The integration suite on Citus as well, where a coordinator answers at
``LEDGER_TEST_CITUS_URL`` (a URL of a superuser: creating the Citus extension and adding
nodes need one; the nodes must accept the same role without a password from the
coordinator and from here, as they do each other): each test gets a database of its own on
the cluster, made the way deploy/SCALING.md says — the database and the Citus extension on
every node, the coordinator's nodes, the migrations, then deploy/citus/distribute.sql.

A database cannot be cloned from a template on Citus (its shards live on the workers), so
each one is made and migrated afresh: slower, and only for this tier.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from ledger.store.migrate import migrate

CITUS_URL_SETTING = "LEDGER_TEST_CITUS_URL"
DISTRIBUTE = Path(__file__).resolve().parents[1] / "deploy" / "citus" / "distribute.sql"


# The role migration 0013 makes, made before any test's database is (the role is the
# cluster's; Citus copies it to the workers).
SERVICE_ROLE = """
DO $$
BEGIN
    CREATE ROLE ledger_service NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$
"""


def citus_url() -> str | None:
    return os.environ.get(CITUS_URL_SETTING) or None


async def answering() -> str:
    """The coordinator's URL, once it has answered as a Citus coordinator; the test is
    skipped, saying why, when it does not."""
    url = str(citus_url())
    try:
        connection = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"no Citus coordinator answers at {CITUS_URL_SETTING}: {error}")
    try:
        version = await connection.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'citus'"
        )
    finally:
        await connection.close()
    if version is None:
        pytest.skip(f"{CITUS_URL_SETTING} answers, but without the citus extension")
    return url


async def create_database(admin_url: str, name: str) -> None:
    """Create ``name`` on the coordinator and on every worker (Citus 12.2's propagation)."""
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute("SET citus.enable_create_database_propagation TO on")
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` on every worker, then on the coordinator. Each node drops its own
    copy: a drop the coordinator propagates is made node by node, not in one transaction,
    so one that fails on a worker (its copy still in use for a moment, by Citus's daemon
    there) leaves the others dropped, and fails on them when made again."""
    for url in [*[on_node(admin_url, node) for node in await _workers(admin_url)], admin_url]:
        connection = await asyncpg.connect(url)
        try:
            for attempt in range(20):
                try:
                    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except asyncpg.ObjectInUseError:
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await connection.close()


def on_node(url: str, node: asyncpg.Record) -> str:
    """``url`` (its role and database) on another node of the cluster."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    host = f"{node['nodename']}:{node['nodeport']}"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}" if credentials else host))


async def _nodes(admin_url: str) -> list[asyncpg.Record]:
    admin = await asyncpg.connect(admin_url)
    try:
        return await admin.fetch(
            "SELECT nodename, nodeport, groupid = 0 AS coordinator FROM pg_dist_node"
            " WHERE isactive ORDER BY groupid"
        )
    finally:
        await admin.close()


async def _workers(admin_url: str) -> list[asyncpg.Record]:
    return [node for node in await _nodes(admin_url) if not node["coordinator"]]


async def prepare(admin_url: str, database_url: str) -> None:
    """Make ``database_url`` a ledger distributed by polycule over the coordinator's nodes."""
    nodes = await _nodes(admin_url)
    # The database's copy on each worker needs the extension before the worker is added.
    for node in nodes:
        if node["coordinator"]:
            continue
        worker = await asyncpg.connect(on_node(database_url, node))
        try:
            await worker.execute("CREATE EXTENSION IF NOT EXISTS citus")
        finally:
            await worker.close()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS citus")
        for node in nodes:
            if node["coordinator"]:
                await connection.execute(
                    "SELECT citus_set_coordinator_host($1, $2)", node["nodename"], node["nodeport"]
                )
            else:
                await connection.execute(
                    "SELECT citus_add_node($1, $2)", node["nodename"], node["nodeport"]
                )
        await migrate(connection)
        await connection.execute(DISTRIBUTE.read_text(encoding="utf-8"))
    finally:
        await connection.close()
