"""Read model: disclosures, who was told, and who has acknowledged them.

What a member made or was told, newest first; and one disclosure with its
acknowledgements (the discloser sees who has). What a member was told and has not
acknowledged yet, across their polycules, is their inbox's question (projections/inbox.py).
Whether someone may see a disclosure at all is ledger/auth/policy.py's question, never
these queries': every query that lists disclosures takes the ids the policy allows the
reader (``policy.readable_by``) and shows those and no others.

The words stay sealed, exactly as in the event (ledger/privacy.py); whoever shows them to a
member opens them. Tables and indexes: ledger/store/migrations/0007_disclosures_and_repair.sql.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import asyncpg

from ledger.domain.disclosures import Audience, DisclosureKind
from ledger.store.records import JsonObject, RecordedEvent
from projections.batching import Statements
from projections.in_memory import Keyed, Rows, Session

if TYPE_CHECKING:
    from ledger.database import Connection, Executor

# --- Folding events into rows ------------------------------------------------------------

_MADE = """
INSERT INTO disclosures (disclosure_id, polycule_id, discloser, kind, text, audience,
                         recipients, fulfils_agreement_id, corrects_disclosure_id, made_at,
                         made_in)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""
_ACKNOWLEDGED = """
INSERT INTO disclosure_acknowledgements (disclosure_id, member_id, acknowledged_at,
                                         acknowledged_in, polycule_id)
VALUES ($1, $2, $3, $4, $5)
"""
_FORGET = """
WITH acknowledgements AS (
    DELETE FROM disclosure_acknowledgements WHERE polycule_id = ANY ($1::uuid[])
)
DELETE FROM disclosures WHERE polycule_id = ANY ($1::uuid[])
"""


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value is not None else None


async def _made(connection: Statements, event: RecordedEvent) -> None:
    data = event.data
    await connection.execute(
        _MADE, UUID(data["disclosure_id"]), event.stream_id, UUID(data["discloser"]),
        data["kind"], data["text"], data["audience"],
        [UUID(member) for member in data["recipients"]],
        _uuid(data.get("fulfils_agreement_id")), _uuid(data.get("corrects_disclosure_id")),
        event.recorded_at, event.stream_version,
    )


async def _acknowledged(connection: Statements, event: RecordedEvent) -> None:
    data = event.data
    await connection.execute(
        _ACKNOWLEDGED, UUID(data["disclosure_id"]), UUID(data["member_id"]),
        event.recorded_at, event.stream_version, event.stream_id,
    )


_FOLDS: dict[str, Callable[[Statements, RecordedEvent], Awaitable[None]]] = {
    "DisclosureMade": _made,
    "DisclosureAcknowledged": _acknowledged,
}


# --- The same rows, folded in memory for a rebuild (projections/in_memory.py) -------------


class _Disclosure(NamedTuple):
    disclosure_id: UUID
    polycule_id: UUID
    discloser: UUID
    kind: str
    text: Any
    audience: str
    recipients: list[UUID]
    fulfils_agreement_id: UUID | None
    corrects_disclosure_id: UUID | None
    made_at: datetime
    made_in: int


class _Acknowledgement(NamedTuple):
    disclosure_id: UUID
    member_id: UUID
    acknowledged_at: datetime
    acknowledged_in: int
    polycule_id: UUID


def _fold_in_memory(events: Sequence[RecordedEvent]) -> Rows:
    """What ``Disclosures.apply`` leaves in empty tables after ``events``."""
    made: Keyed[UUID, _Disclosure] = Keyed()
    acknowledged: Keyed[tuple[UUID, UUID], _Acknowledgement] = Keyed()
    for event in events:
        data = event.data
        if event.event_type == "DisclosureMade":
            disclosure_id = UUID(data["disclosure_id"])
            made.insert(disclosure_id, _Disclosure(
                disclosure_id, event.stream_id, UUID(data["discloser"]), data["kind"],
                data["text"], data["audience"], [UUID(member) for member in data["recipients"]],
                _uuid(data.get("fulfils_agreement_id")), _uuid(data.get("corrects_disclosure_id")),
                event.recorded_at, event.stream_version,
            ))
        elif event.event_type == "DisclosureAcknowledged":
            disclosure_id, member_id = UUID(data["disclosure_id"]), UUID(data["member_id"])
            acknowledged.insert((disclosure_id, member_id), _Acknowledgement(
                disclosure_id, member_id, event.recorded_at, event.stream_version,
                event.stream_id,
            ))
    return {"disclosures": list(made), "disclosure_acknowledgements": list(acknowledged)}


class Disclosures:
    name = "disclosures"
    tables = ("disclosures", "disclosure_acknowledgements")
    folds_in_steps = True

    async def apply(self, connection: Statements, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            fold = _FOLDS.get(event.event_type)
            if fold is not None:
                await fold(connection, event)

    def fold_in_memory(self, events: Sequence[RecordedEvent], session: Session) -> Rows:
        return _fold_in_memory(events)

    async def forget(self, connection: Connection, polycule_ids: Sequence[UUID]) -> None:
        await connection.execute(_FORGET, list(polycule_ids))


# --- Reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Acknowledgement:
    member_id: UUID
    at: datetime


@dataclass(frozen=True)
class DisclosureRow:
    polycule_id: UUID
    disclosure_id: UUID
    discloser: UUID
    kind: DisclosureKind
    # Sealed, as in the event.
    text: JsonObject
    audience: Audience
    recipients: tuple[UUID, ...]
    fulfils_agreement_id: UUID | None
    corrects_disclosure_id: UUID | None
    made_at: datetime
    # In the order the recipients gave them.
    acknowledgements: tuple[Acknowledgement, ...]


DISCLOSURE_COLUMNS = """
d.polycule_id, d.disclosure_id, d.discloser, d.kind, d.text, d.audience, d.recipients,
d.fulfils_agreement_id, d.corrects_disclosure_id, d.made_at
"""

# $2: the disclosures the reader may read (the policy's answer).
# Index: disclosures_pkey, one probe per disclosure the reader may read.
DISCLOSURES_FOR = f"""
SELECT {DISCLOSURE_COLUMNS} FROM disclosures d
 WHERE d.disclosure_id = ANY ($2::uuid[]) AND d.polycule_id = $1
 ORDER BY d.made_in DESC
"""
# Index: disclosures_pkey.
DISCLOSURE = f"""
SELECT {DISCLOSURE_COLUMNS} FROM disclosures d
 WHERE d.disclosure_id = $2 AND d.polycule_id = $1
"""
# The acknowledgements of many disclosures at once, so a list costs one more query, not one
# per disclosure. Index: disclosure_acknowledgements_pkey.
ACKNOWLEDGEMENTS_OF = """
SELECT a.disclosure_id, a.member_id, a.acknowledged_at
  FROM disclosure_acknowledgements a
 WHERE a.disclosure_id = ANY ($1::uuid[])
 ORDER BY a.acknowledged_in
"""


async def disclosures_for(
    executor: Executor, polycule_id: UUID, readable: Collection[UUID]
) -> list[DisclosureRow]:
    """The disclosures of the polycule among ``readable`` (those the policy lets the reader
    see: what they made or were told), newest first."""
    rows = await executor.fetch(DISCLOSURES_FOR, polycule_id, list(readable))
    return await with_acknowledgements(executor, rows)


async def disclosure(
    executor: Executor, polycule_id: UUID, disclosure_id: UUID
) -> DisclosureRow | None:
    row = await executor.fetchrow(DISCLOSURE, polycule_id, disclosure_id)
    if row is None:
        return None
    [found] = await with_acknowledgements(executor, [row])
    return found


async def with_acknowledgements(
    executor: Executor, rows: Sequence[asyncpg.Record]
) -> list[DisclosureRow]:
    """The disclosures of ``rows`` (read with DISCLOSURE_COLUMNS), each with who has
    acknowledged it."""
    # Acknowledgements are never removed, so reading them after the disclosures (outside
    # one snapshot) gives at least those there were, perhaps one more.
    if not rows:
        return []
    acknowledged: dict[UUID, list[Acknowledgement]] = {}
    for row in await executor.fetch(
        ACKNOWLEDGEMENTS_OF, [row["disclosure_id"] for row in rows]
    ):
        acknowledged.setdefault(row["disclosure_id"], []).append(
            Acknowledgement(member_id=row["member_id"], at=row["acknowledged_at"])
        )
    return [_disclosure(row, tuple(acknowledged.get(row["disclosure_id"], ()))) for row in rows]


def _disclosure(
    row: asyncpg.Record, acknowledgements: tuple[Acknowledgement, ...]
) -> DisclosureRow:
    return DisclosureRow(
        polycule_id=row["polycule_id"],
        disclosure_id=row["disclosure_id"],
        discloser=row["discloser"],
        kind=row["kind"],
        text=row["text"],
        audience=row["audience"],
        recipients=tuple(row["recipients"]),
        fulfils_agreement_id=row["fulfils_agreement_id"],
        corrects_disclosure_id=row["corrects_disclosure_id"],
        made_at=row["made_at"],
        acknowledgements=acknowledgements,
    )
