"""The integration suite on Citus as well, where a coordinator answers at
``LEDGER_TEST_CITUS_URL`` (a URL of a role that may create databases on it): each test
gets a database of its own on the cluster, made the way deploy/SCALING.md says — the Citus
extension, the coordinator's nodes, the migrations, then deploy/citus/distribute.sql.

A database cannot be cloned from a template on Citus (its shards live on the workers), so
each one is made and migrated afresh: slower, and only for this tier.
"""

from __future__ import annotations

import os
from pathlib import Path

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


async def prepare(admin_url: str, database_url: str) -> None:
    """Make ``database_url`` a ledger distributed by polycule over the coordinator's nodes."""
    admin = await asyncpg.connect(admin_url)
    try:
        nodes = await admin.fetch(
            "SELECT nodename, nodeport, groupid = 0 AS coordinator FROM pg_dist_node"
            " WHERE isactive ORDER BY groupid"
        )
    finally:
        await admin.close()
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
