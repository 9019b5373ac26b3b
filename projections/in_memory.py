"""A read model's rows, folded in memory from a polycule's whole stream, for a rebuild.

Inline, a read model's fold (``apply``) sends its statements event by event, each reading
what the one before wrote: right for the few events of a command, and far too slow for a
rebuild of millions, where PostgreSQL would run one statement per event and read model. A
rebuild instead folds each polycule's stream in memory, from its first event, into the
very rows ``apply`` leaves in empty tables, and copies them in (``COPY``): one statement
per table for thousands of polycules.

So each read model has two folds, side by side in its module, and they must never drift
apart: tests/integration/test_rebuild_in_memory.py folds arbitrary histories of each both
ways and compares the rows. Where the fold in memory meets something it cannot answer
exactly as the statements would (a row an event names that is not there, a key already
taken), it raises ``NotFoldedInMemory`` and the rebuild folds that polycule with ``apply``
instead, where a failing event parks it.

A table's rows are dataclasses (or named tuples) whose fields are the table's columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from ledger.database import Connection

K = TypeVar("K")
R = TypeVar("R")

# PostgreSQL's names for UTC, in which a day is always 24 hours (see ``Session.plus_days``).
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Zulu"})


class NotFoldedInMemory(Exception):
    """The fold in memory cannot say what the statements would write: the polycule is to
    be folded by them."""


@dataclass(frozen=True)
class Session:
    """What the folds' statements would depend on in the session they run in."""

    time_zone: str

    def plus_days(self, moment: datetime, days: int) -> datetime:
        """``moment + make_interval(days => days)``, as PostgreSQL reckons it: a day is 24
        hours only in UTC (elsewhere it keeps the wall-clock time across a change of
        clocks), and only there is it reckoned here."""
        if self.time_zone not in _UTC_NAMES:
            raise NotFoldedInMemory(f"days reckoned in the time zone {self.time_zone}")
        return moment + timedelta(days=days)


UTC_SESSION = Session("UTC")


class Keyed(Generic[K, R]):
    """One table's rows of one polycule, by their primary key (less the polycule's id)."""

    def __init__(self) -> None:
        self._rows: dict[K, R] = {}

    def insert(self, key: K, row: R) -> None:
        """An INSERT: the key taken already fails, as it would there."""
        if key in self._rows:
            raise NotFoldedInMemory(f"{type(row).__name__} {key} is there already")
        self._rows[key] = row

    def put(self, key: K, row: R) -> None:
        """An INSERT ... ON CONFLICT DO UPDATE that replaces the whole row."""
        self._rows[key] = row

    def get(self, key: K) -> R | None:
        return self._rows.get(key)

    def named(self, key: K) -> R:
        """The row an event names; one that is not there the statements would answer
        with a NULL that a NOT NULL column refuses."""
        row = self._rows.get(key)
        if row is None:
            raise NotFoldedInMemory(f"no row {key}")
        return row

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[R]:
        return iter(self._rows.values())


Rows = Mapping[str, Sequence[Any]]


def columns_of(row_type: type) -> tuple[str, ...]:
    """A row type's fields, which are its table's columns."""
    if dataclasses.is_dataclass(row_type):
        return tuple(field.name for field in dataclasses.fields(row_type))
    fields: tuple[str, ...] = row_type._fields  # type: ignore[attr-defined]
    return fields


def records(rows: Sequence[Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The columns of ``rows`` (all of one type) and their values, row by row."""
    if not rows:
        return (), []
    columns = columns_of(type(rows[0]))
    if isinstance(rows[0], tuple):
        return columns, list(rows)
    values = attrgetter(*columns)
    return columns, [values(row) for row in rows]


async def copy_rows(
    connection: Connection, schema: str, tables: Sequence[str], folded: Sequence[Rows]
) -> None:
    """Copy the rows of several polycules (``folded``: each one's, table by table) into
    ``schema``'s ``tables``, one COPY per table."""
    for table in tables:
        columns, values = records([row for rows in folded for row in rows.get(table, ())])
        if values:
            await connection.copy_records_to_table(
                table, records=values, columns=list(columns), schema_name=schema
            )
