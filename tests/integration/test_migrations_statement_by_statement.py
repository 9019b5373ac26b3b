"""The migrator sends each migration's statements one at a time (ledger/store/migrate.py):
a Citus worker refuses a DDL text holding several, as Citus hands it on. Seen here from
the connection that migrates: every text it sends for a migration is one statement."""

from __future__ import annotations

from typing import Any

import asyncpg

from ledger.store.migrate import bundled_migrations, migrate


class Recording(asyncpg.Connection):  # type: ignore[misc]
    """A real connection that notes every text sent through ``execute``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> str:
        self.sent.append(query)
        result: str = await super().execute(query, *args, **kwargs)
        return result


async def test_each_migration_is_sent_one_statement_at_a_time(empty_database_url: str) -> None:
    connection: Recording = await asyncpg.connect(
        empty_database_url, connection_class=Recording
    )
    try:
        applied = await migrate(connection)
    finally:
        await connection.close()

    migrations = bundled_migrations()
    assert [migration.version for migration in applied] == [m.version for m in migrations]
    every_statement = [statement for m in migrations for statement in m.statements]
    assert len(every_statement) > len(migrations)  # several files hold several statements
    sent = set(connection.sent)
    assert all(statement in sent for statement in every_statement)
    assert not any(
        migration.sql in sent for migration in migrations if len(migration.statements) > 1
    )
