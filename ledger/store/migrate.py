"""Numbered SQL migrations, applied in order, once, even with several instances starting.

Each file in ``migrations/`` is ``NNNN_name.sql``. All of them run under one advisory lock,
so two processes starting together apply each file exactly once: the second waits, then
finds nothing left to do. A file that changed after it was applied stops the start-up
loudly, since the database no longer matches the code that describes it.

A file is applied in one transaction, statement by statement (split by ``sqlparse``, which
keeps a ``$$`` body whole): Citus passes a DDL statement's text on to its workers as it
came, and a worker refuses a text holding several statements, so a migration sent whole
could not be applied to a database already distributed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import sqlparse
import structlog

if TYPE_CHECKING:
    from ledger.database import Connection

log = structlog.get_logger(__name__)

# An arbitrary constant that names "the ledger's schema" among advisory locks.
MIGRATION_LOCK_KEY = 0x1ED6E5


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def statements(self) -> list[str]:
        """The file's statements, in order (comments kept with the statement they precede;
        a part holding nothing but comments left out)."""
        return [
            statement for statement in sqlparse.split(self.sql)
            if sqlparse.format(statement, strip_comments=True).strip()
        ]


class MigrationError(Exception):
    pass


_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def bundled_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("ledger.store").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


_CREATE_LEDGER_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(connection: Connection) -> list[Migration]:
    """Apply every pending migration; return the ones this call applied."""
    migrations = bundled_migrations()
    applied_now: list[Migration] = []
    await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await connection.execute(_CREATE_LEDGER_TABLE)
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it "
                        "was applied; add a new migration instead of editing an old one"
                    )
                continue
            async with connection.transaction():
                for statement in migration.statements:
                    await connection.execute(statement)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration_applied", version=migration.version, name=migration.name)
            applied_now.append(migration)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def pending_migrations(connection: Connection) -> list[Migration]:
    """Migrations not yet applied (all of them on an empty database)."""
    exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: set[int] = set()
    if exists:
        applied = {row["version"] for row in await connection.fetch(
            "SELECT version FROM schema_migrations"
        )}
    return [m for m in bundled_migrations() if m.version not in applied]
