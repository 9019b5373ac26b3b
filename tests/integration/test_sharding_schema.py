"""The schema fits a fleet sharded by polycule (ledger/store/sharding.py), read from the
catalogue of the migrated database: every table is per polycule or named global; every
primary key, unique key and index of a per-polycule table holds the polycule's id; no
foreign key crosses from one kind to the other; every join of two per-polycule tables in
the queries matches their polycules, and every update or delete of a polycule's rows names
it; deploy/SCALING.md and deploy/citus/distribute.sql distribute exactly these tables."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import asyncpg

from ledger.store.sharding import EXCEPTIONS, GLOBAL_TABLES, PER_POLYCULE

ROOT = Path(__file__).resolve().parents[2]

TABLES = """
SELECT c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""
COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable = 'YES' AS nullable
  FROM information_schema.columns
 WHERE table_schema = current_schema()
"""
# Every index, unique or not, with its key columns (not its INCLUDE columns; an expression
# is no column).
INDEXES = """
SELECT t.relname AS table_name, i.relname AS index_name, x.indisunique AS is_unique,
       ARRAY(SELECT a.attname
               FROM generate_series(0, x.indnkeyatts - 1) AS k (n)
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[k.n]
              ORDER BY k.n)::text[] AS key_columns
  FROM pg_index x
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = current_schema()
"""
# Primary keys and unique constraints, as the SQL standard's views name them.
KEYS = """
SELECT c.table_name, c.constraint_name, c.constraint_type,
       array_agg(k.column_name::text ORDER BY k.ordinal_position) AS key_columns
  FROM information_schema.table_constraints c
  JOIN information_schema.key_column_usage k
    ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
   AND k.table_name = c.table_name
 WHERE c.table_schema = current_schema() AND c.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
 GROUP BY c.table_name, c.constraint_name, c.constraint_type
"""
FOREIGN_KEYS = """
SELECT c.conname AS name, t.relname AS table_name, r.relname AS referenced,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k (attnum, n)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
              ORDER BY k.n)::text[] AS columns,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k (attnum, n)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
              ORDER BY k.n)::text[] AS referenced_columns
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid
  JOIN pg_class r ON r.oid = c.confrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = current_schema() AND c.contype = 'f'
"""


async def _fetch(database_url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def test_every_table_is_per_polycule_or_named_global(database_url: str) -> None:
    tables = {row["name"] for row in await _fetch(database_url, TABLES)}

    assert not set(PER_POLYCULE) & set(GLOBAL_TABLES)
    assert tables - set(PER_POLYCULE) - set(GLOBAL_TABLES) == set(), (
        "tables neither per polycule nor named global in ledger/store/sharding.py"
    )
    assert (set(PER_POLYCULE) | set(GLOBAL_TABLES)) - tables == set(), "listed, not in schema"


async def test_every_per_polycule_table_names_its_polycule_in_every_row(
    database_url: str,
) -> None:
    columns = {
        (row["table_name"], row["column_name"]): row for row in await _fetch(database_url, COLUMNS)
    }

    for table, column in PER_POLYCULE.items():
        found = columns.get((table, column))
        assert found is not None, f"{table} has no {column}"
        assert (found["data_type"], found["nullable"]) == ("uuid", False), f"{table}.{column}"


async def test_every_key_and_index_of_a_per_polycule_table_holds_its_polycule(
    database_url: str,
) -> None:
    indexes = await _fetch(database_url, INDEXES)
    keys = await _fetch(database_url, KEYS)

    without = sorted(
        row["index_name"] for row in indexes
        if row["table_name"] in PER_POLYCULE
        and PER_POLYCULE[row["table_name"]] not in row["key_columns"]
        and (row["is_unique"] or row["index_name"] not in EXCEPTIONS)
    )
    keys_without = sorted(
        row["constraint_name"] for row in keys
        if row["table_name"] in PER_POLYCULE
        and PER_POLYCULE[row["table_name"]] not in row["key_columns"]
    )
    assert without == [], "indexes of per-polycule tables without the polycule's id"
    assert keys_without == [], "keys of per-polycule tables without the polycule's id"
    # An exception that no longer exists is taken off the list, not left to excuse another.
    assert set(EXCEPTIONS) <= {row["index_name"] for row in indexes}
    # A per-polycule table has a primary key, so each shard can say which row is which.
    assert {row["table_name"] for row in keys if row["constraint_type"] == "PRIMARY KEY"} >= set(
        PER_POLYCULE
    )


async def test_no_foreign_key_crosses_the_cut(database_url: str) -> None:
    crossing = []
    for row in await _fetch(database_url, FOREIGN_KEYS):
        source, target = row["table_name"], row["referenced"]
        if (source in PER_POLYCULE) != (target in PER_POLYCULE):
            crossing.append(row["name"])
        elif source in PER_POLYCULE and (
            PER_POLYCULE[source], PER_POLYCULE[target]
        ) not in zip(row["columns"], row["referenced_columns"], strict=True):
            crossing.append(row["name"])  # within the cut, but not polycule to polycule
    assert crossing == []


# --- The queries ---------------------------------------------------------------------------

# "JOIN <table> [alias] ON …" or "… USING (…)", up to where the join's condition ends.
_JOIN = re.compile(
    r"\bJOIN\s+(?P<table>\w+)(?:\s+(?:AS\s+)?(?!ON\b|USING\b)\w+)?\s+"
    r"(?P<how>ON|USING)\s+(?P<condition>.*?)"
    r"(?=\bJOIN\b|\bWHERE\b|\bORDER\b|\bGROUP\b|\bLIMIT\b|\)\s*\w+\s+ON\b|$)",
    re.IGNORECASE | re.DOTALL,
)
# "FROM <table>" of the statement or subquery a JOIN is in: the other side.
_FROM = re.compile(r"\bFROM\s+(?P<table>\w+)", re.IGNORECASE)
_QUERY_MODULES = [*sorted((ROOT / "projections").glob("*.py")), *sorted(
    (ROOT / "ledger").rglob("*.py")
)]


def _statements() -> dict[str, str]:
    """Every SQL statement kept as a named constant of a module: name → text."""
    found: dict[str, str] = {}
    for path in _QUERY_MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.Assign) or not isinstance(node.targets[0], ast.Name):
                continue
            text = _constant_text(node.value)
            if text and re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b", text):
                found[f"{path.relative_to(ROOT)}:{node.targets[0].id}"] = text
    return found


def _constant_text(value: ast.expr) -> str:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    if isinstance(value, ast.JoinedStr):  # f-strings: their literal parts are enough here
        return " ".join(
            part.value for part in value.values
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    return ""


def joins_across_polycules(sql: str) -> list[str]:
    """The joins in ``sql`` of a per-polycule table to another per-polycule table whose
    condition does not match their polycules."""
    unmatched = []
    per_polycule_from = any(
        match["table"] in PER_POLYCULE for match in _FROM.finditer(sql)
    )
    for join in _JOIN.finditer(sql):
        table = join["table"]
        if table not in PER_POLYCULE or not per_polycule_from:
            continue
        condition = join["condition"]
        if not re.search(r"\b(polycule_id|stream_id)\b", condition):
            unmatched.append(f"JOIN {table} {join['how']} {condition.strip()[:60]}")
    return unmatched


# "UPDATE <table>" or "DELETE FROM <table>", up to the end of its part of the statement (a
# common table expression ends at a line that starts with ")").
_WRITE = re.compile(
    r"\b(?:UPDATE|DELETE\s+FROM)\s+(?P<table>\w+)(?P<rest>.*?)(?=^\)|\Z)",
    re.IGNORECASE | re.DOTALL | re.MULTILINE,
)


def writes_without_their_polycule(sql: str) -> list[str]:
    """The updates and deletes in ``sql`` of per-polycule rows that do not name their
    polycule: Citus would send them to every shard instead of their polycule's."""
    return [
        f"{match['table']}: {' '.join(match['rest'].split())[:60]}"
        for match in _WRITE.finditer(sql)
        if match["table"] in PER_POLYCULE
        and not re.search(r"\b(polycule_id|stream_id)\b", match["rest"])
    ]


def test_every_write_of_a_polycules_rows_names_the_polycule() -> None:
    found = {
        name: unmatched for name, sql in _statements().items()
        if (unmatched := writes_without_their_polycule(sql))
    }

    assert found == {}


def test_the_write_check_sees_a_write_that_ignores_the_polycule() -> None:
    assert writes_without_their_polycule(
        "WITH closed AS (\n    UPDATE breaches SET x = 1 WHERE breach_id = $1\n)\n"
        "UPDATE commitments SET y = 2 WHERE breach_id = $1 AND polycule_id = $2"
    ) == ["breaches: SET x = 1 WHERE breach_id = $1"]


def test_every_join_of_two_polycules_tables_matches_their_polycules() -> None:
    statements = _statements()
    assert len(statements) > 100  # the scan found the queries

    found = {
        name: unmatched for name, sql in statements.items()
        if (unmatched := joins_across_polycules(sql))
    }

    assert found == {}


def test_the_join_check_sees_a_join_that_ignores_the_polycule() -> None:
    assert joins_across_polycules(
        "SELECT * FROM agreement_proposals p JOIN proposal_revisions r USING (proposal_id)"
    )
    assert joins_across_polycules(
        "SELECT * FROM breaches b JOIN commitments c ON c.breach_id = b.breach_id WHERE true"
    )
    assert not joins_across_polycules(
        "SELECT * FROM breaches b JOIN commitments c ON c.breach_id = b.breach_id"
        " AND c.polycule_id = b.polycule_id WHERE true"
    )


# --- The documentation ---------------------------------------------------------------------


def test_the_scaling_notes_distribute_exactly_these_tables() -> None:
    notes = (ROOT / "deploy" / "SCALING.md").read_text(encoding="utf-8")
    distributed = dict(re.findall(
        r"create_distributed_table\('(\w+)', '(\w+)'", notes
    ))
    documented_global = set(re.findall(r"^\| `(\w+)` \| global \|", notes, re.MULTILINE))

    assert distributed == PER_POLYCULE
    assert documented_global == set(GLOBAL_TABLES)


def test_the_citus_script_distributes_exactly_these_tables() -> None:
    script = (ROOT / "deploy" / "citus" / "distribute.sql").read_text(encoding="utf-8")
    distributed = dict(re.findall(r"create_distributed_table\('(\w+)', '(\w+)'", script))
    colocated = set(re.findall(r"create_distributed_table\('(\w+)', '\w+', colocate_with "
                               r"=> 'events'\)", script))

    assert distributed == PER_POLYCULE
    assert colocated == set(PER_POLYCULE) - {"events"}
