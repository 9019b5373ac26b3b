"""Read model: which polycules each member currently belongs to (for "my polycules"), and
the names of polycules and of their members.

Names are kept as stored, sealed (a polycule's under its key, a member's under their own),
and opened only when shown to a member; a read model never holds anyone's words in the
clear. Deciders keep no names at all: this is where every view reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from ledger.store.records import RecordedEvent
from projections.batching import Statements
from projections.in_memory import Keyed, Rows, Session

if TYPE_CHECKING:
    from ledger.database import Connection, Executor

_FOUNDED = """
INSERT INTO polycule_directory (polycule_id, sealed_name, founded_at) VALUES ($1, $2, $3)
ON CONFLICT (polycule_id) DO NOTHING
"""
_JOINED = """
INSERT INTO memberships (polycule_id, member_id, joined_at, sealed_display_name)
VALUES ($1, $2, $3, $4)
ON CONFLICT (polycule_id, member_id) DO UPDATE
   SET joined_at = excluded.joined_at, left_at = NULL,
       sealed_display_name = excluded.sealed_display_name
"""
_LEFT = "UPDATE memberships SET left_at = $3 WHERE polycule_id = $1 AND member_id = $2"

_FORGET = """
WITH members AS (DELETE FROM memberships WHERE polycule_id = ANY ($1::uuid[]))
DELETE FROM polycule_directory WHERE polycule_id = ANY ($1::uuid[])
"""

MY_POLYCULES = """
SELECT d.polycule_id, d.sealed_name, m.joined_at
  FROM memberships m JOIN polycule_directory d USING (polycule_id)
 WHERE m.member_id = $1 AND m.left_at IS NULL
 ORDER BY m.joined_at, d.polycule_id
"""

# Everyone who ever joined (current members and former ones), with the name they last
# joined under, sealed under their own key: the order they joined in.
NAMES = """
SELECT member_id, sealed_display_name FROM memberships
 WHERE polycule_id = $1 AND sealed_display_name IS NOT NULL
 ORDER BY joined_at, member_id
"""

POLYCULE_NAME = "SELECT sealed_name FROM polycule_directory WHERE polycule_id = $1"

MEMBER_OF = """
SELECT polycule_id FROM memberships WHERE member_id = $1 AND left_at IS NULL
"""


# --- The same rows, folded in memory for a rebuild (projections/in_memory.py) -------------


class _Directory(NamedTuple):
    polycule_id: UUID
    sealed_name: Any
    founded_at: datetime


@dataclass(slots=True)
class _Membership:
    polycule_id: UUID
    member_id: UUID
    joined_at: datetime
    left_at: datetime | None
    sealed_display_name: Any


def _fold_in_memory(events: Sequence[RecordedEvent]) -> Rows:
    """What ``Memberships.apply`` leaves in empty tables after ``events``."""
    directory: list[_Directory] = []
    members: Keyed[UUID, _Membership] = Keyed()
    for event in events:
        if event.event_type == "PolyculeFounded":
            if not directory:  # ON CONFLICT DO NOTHING
                directory.append(
                    _Directory(event.stream_id, event.data["name"], event.recorded_at)
                )
        elif event.event_type == "MemberJoined":
            member_id = UUID(event.data["member_id"])
            members.put(member_id, _Membership(
                event.stream_id, member_id, event.recorded_at, None,
                event.data["display_name"],
            ))
        elif event.event_type == "MemberLeft":
            left = members.get(UUID(event.data["member_id"]))
            if left is not None:
                left.left_at = event.recorded_at
    return {"polycule_directory": directory, "memberships": list(members)}


class Memberships:
    name = "memberships"
    tables = ("polycule_directory", "memberships")
    folds_in_steps = True

    async def apply(self, connection: Statements, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            if event.event_type == "PolyculeFounded":
                await connection.execute(
                    _FOUNDED, event.stream_id, event.data["name"], event.recorded_at
                )
            elif event.event_type == "MemberJoined":
                await connection.execute(
                    _JOINED, event.stream_id, UUID(event.data["member_id"]), event.recorded_at,
                    event.data["display_name"],
                )
            elif event.event_type == "MemberLeft":
                await connection.execute(
                    _LEFT, event.stream_id, UUID(event.data["member_id"]), event.recorded_at
                )

    def fold_in_memory(self, events: Sequence[RecordedEvent], session: Session) -> Rows:
        return _fold_in_memory(events)

    async def forget(self, connection: Connection, polycule_ids: Sequence[UUID]) -> None:
        await connection.execute(_FORGET, list(polycule_ids))


async def sealed_member_names(executor: Executor, polycule_id: UUID) -> dict[UUID, Any]:
    """Everyone who ever joined the polycule, in the order they joined: the name each last
    joined under, sealed under their own key."""
    rows = await executor.fetch(NAMES, polycule_id)
    return {row["member_id"]: row["sealed_display_name"] for row in rows}


async def sealed_polycule_name(executor: Executor, polycule_id: UUID) -> Any:
    """The polycule's name, sealed under its key; None before its founding is shown."""
    return await executor.fetchval(POLYCULE_NAME, polycule_id)
