"""A migration is applied statement by statement (ledger/store/migrate.py): Citus hands a
DDL statement's text on to its workers as it came, and they refuse a text holding several.
Splitting must lose nothing and never cut a ``$$`` body."""

from __future__ import annotations

import re

import pytest

from ledger.store.migrate import Migration, bundled_migrations

SEVERAL = """
-- The index first.
CREATE INDEX things_by_owner ON things (owner_id);
DO $$
BEGIN
    -- A body holding statements of its own; ends with its own semicolons.
    PERFORM 1;
    RAISE NOTICE 'a; b';
END
$$;
DROP INDEX old_things; -- gone
-- nothing after this
"""


def without_comments_or_space(sql: str) -> str:
    return re.sub(r"\s+", "", re.sub(r"--[^\n]*", "", sql))


def test_a_file_of_several_statements_is_applied_as_each_of_them() -> None:
    statements = Migration(1, "things", SEVERAL).statements

    assert [without_comments_or_space(statement) for statement in statements] == [
        "CREATEINDEXthings_by_ownerONthings(owner_id);",
        "DO$$BEGINPERFORM1;RAISENOTICE'a;b';END$$;",
        "DROPINDEXold_things;",
    ]


@pytest.mark.parametrize(
    "migration", bundled_migrations(), ids=lambda migration: f"{migration.version:04d}"
)
def test_every_migration_splits_losing_nothing(migration: Migration) -> None:
    statements = migration.statements

    assert statements
    assert without_comments_or_space("".join(statements)) == without_comments_or_space(
        migration.sql
    )
    for statement in statements:
        assert statement.count("$$") % 2 == 0, statement
