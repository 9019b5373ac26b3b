"""Upgrading a store whose read models followed the global log (one checkpoint each) to the
read side per polycule (migration 0011): each polycule starts from what every read model
had applied, and one that some had applied further than others is rebuilt on its own."""

from __future__ import annotations

import uuid

import asyncpg

from ledger.store.events import EventStore
from ledger.store.migrate import _CREATE_LEDGER_TABLE, Migration, bundled_migrations
from tests.support import new_event

MEMBER_FACING = ("stream_summaries", "memberships", "agreements", "disclosures", "repairs")


async def place_of(connection: asyncpg.Connection, stream: uuid.UUID, version: int) -> tuple[
    int, int
]:
    row = await connection.fetchrow(
        "SELECT transaction_id::text::bigint AS t, position FROM events"
        " WHERE stream_id = $1 AND stream_version = $2",
        stream, version,
    )
    assert row is not None
    return row["t"], row["position"]


async def migrated_to_just_before(connection: asyncpg.Connection, name: str) -> Migration:
    """The bundled migration ``name``, with every migration before it applied (and the
    table the migrator itself makes)."""
    migrations = bundled_migrations()
    [wanted] = [m for m in migrations if m.name == name]
    await connection.execute(_CREATE_LEDGER_TABLE)
    for migration in migrations:
        if migration.version < wanted.version:
            await connection.execute(migration.sql)
    return wanted


async def test_each_polycule_starts_where_every_read_model_had_got_to(
    empty_database_url: str,
) -> None:
    connection = await asyncpg.connect(empty_database_url)
    pool = await asyncpg.create_pool(empty_database_url, min_size=1, max_size=2)
    try:
        per_polycule = await migrated_to_just_before(connection, "read_side_per_polycule")
        store = EventStore(pool)
        settled, uneven, unseen = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for version in range(3):
            await store.append(settled, version, [new_event(n=version)])
        await store.append(uneven, 0, [new_event()])
        low = await place_of(connection, uneven, 1)
        await store.append(uneven, 1, [new_event()])
        high = await place_of(connection, uneven, 2)
        await store.append(unseen, 0, [new_event()])
        # Every read model had applied the settled polycule and the uneven one's first
        # event; the agreements read model had also applied its second.
        for name in MEMBER_FACING:
            transaction_id, position = high if name == "agreements" else low
            await connection.execute(
                "INSERT INTO projection_checkpoints (name, transaction_id, position)"
                " VALUES ($1, $2::text::xid8, $3)",
                name, str(transaction_id), position,
            )
        await connection.execute(
            "INSERT INTO projection_checkpoints (name) VALUES ('webhook_fanout')"
        )

        await connection.execute(per_polycule.sql)

        rows = await connection.fetch("SELECT polycule_id, version FROM polycule_read_models")
        assert {row["polycule_id"]: row["version"] for row in rows} == {
            settled: 3, uneven: -1, unseen: 0,
        }
        left = await connection.fetch("SELECT name FROM projection_checkpoints")
        assert [row["name"] for row in left] == ["webhook_fanout"]
    finally:
        await pool.close()
        await connection.close()


async def test_the_webhook_fanout_starts_each_polycule_after_what_its_checkpoint_had_passed(
    empty_database_url: str,
) -> None:
    """Migration 0022: the fan-out's one global checkpoint becomes a position per polycule,
    after the last event before the first one the checkpoint had not reached."""
    connection = await asyncpg.connect(empty_database_url)
    pool = await asyncpg.create_pool(empty_database_url, min_size=1, max_size=2)
    try:
        per_polycule = await migrated_to_just_before(connection, "webhook_fanout_per_polycule")
        store = EventStore(pool)
        passed, halfway, unseen = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for version in range(2):
            await store.append(passed, version, [new_event(n=version)])
        await store.append(halfway, 0, [new_event()])
        checkpoint = await place_of(connection, halfway, 1)
        await store.append(halfway, 1, [new_event()])
        await store.append(halfway, 2, [new_event()])
        await store.append(unseen, 0, [new_event()])
        # The checkpoint had passed the first two polycules and the first of the third's.
        await connection.execute(
            "INSERT INTO projection_checkpoints (name, transaction_id, position)"
            " VALUES ('webhook_fanout', $1::text::xid8, $2)",
            str(checkpoint[0]), checkpoint[1],
        )

        await connection.execute(per_polycule.sql)

        rows = await connection.fetch(
            "SELECT polycule_id, version FROM webhook_fanout_positions"
        )
        assert {row["polycule_id"]: row["version"] for row in rows} == {
            passed: 2, halfway: 1, unseen: 0,
        }
        assert await connection.fetchval(
            "SELECT count(*) FROM projection_checkpoints WHERE name = 'webhook_fanout'"
        ) == 0
    finally:
        await pool.close()
        await connection.close()


async def test_the_mail_fanout_starts_each_polycule_after_what_its_checkpoint_had_passed(
    empty_database_url: str,
) -> None:
    """Migration 0026: the mail fan-out's one checkpoint in the whole log becomes a position
    per polycule, after the last event before the first one the checkpoint had not reached
    (nothing mailed again that it had passed, nothing skipped that it had not); with it go
    the last checkpoint of the whole log and the log's order."""
    connection = await asyncpg.connect(empty_database_url)
    pool = await asyncpg.create_pool(empty_database_url, min_size=1, max_size=2)
    try:
        per_polycule = await migrated_to_just_before(connection, "mail_fanout_per_polycule")
        store = EventStore(pool)
        passed, halfway, unseen = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for version in range(2):
            await store.append(passed, version, [new_event(n=version)])
        await store.append(halfway, 0, [new_event()])
        await store.append(halfway, 1, [new_event()])
        checkpoint = await place_of(connection, halfway, 2)
        await store.append(halfway, 2, [new_event()])
        await store.append(unseen, 0, [new_event()])
        # The checkpoint had passed the first polycule and two of the second's three.
        await connection.execute(
            "INSERT INTO projection_checkpoints (name, transaction_id, position)"
            " VALUES ('mail_fanout', $1::text::xid8, $2)",
            str(checkpoint[0]), checkpoint[1],
        )

        await connection.execute(per_polycule.sql)

        rows = await connection.fetch("SELECT polycule_id, version FROM mail_fanout_positions")
        assert {row["polycule_id"]: row["version"] for row in rows} == {
            passed: 2, halfway: 2, unseen: 0,
        }
        assert await connection.fetchval(
            "SELECT to_regclass('projection_checkpoints') IS NULL"
            " AND to_regclass('events_transaction_order') IS NULL"
        )
    finally:
        await pool.close()
        await connection.close()


async def test_a_ledger_whose_mail_fanout_never_ran_mails_from_each_polycule_s_start(
    empty_database_url: str,
) -> None:
    """Migration 0026 without a checkpoint (mail was never on): no position, so each
    polycule starts at its first event, as the fan-out would have started at the log's."""
    migrations = bundled_migrations()
    connection = await asyncpg.connect(empty_database_url)
    pool = await asyncpg.create_pool(empty_database_url, min_size=1, max_size=2)
    try:
        await connection.execute(_CREATE_LEDGER_TABLE)
        for migration in migrations:
            if migration.name == "mail_fanout_per_polycule":
                await EventStore(pool).append(uuid.uuid4(), 0, [new_event()])
            await connection.execute(migration.sql)

        assert await connection.fetchval("SELECT count(*) FROM mail_fanout_positions") == 0
    finally:
        await pool.close()
        await connection.close()
