"""Read model: which polycules each member currently belongs to (for "my polycules").

Names are kept as stored, sealed under the polycule's key, and opened only when shown to a
member; a read model never holds anyone's words in the clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from ledger.store.records import RecordedEvent
from projections.batching import Statements

if TYPE_CHECKING:
    from ledger.database import Connection

_FOUNDED = """
INSERT INTO polycule_directory (polycule_id, sealed_name, founded_at) VALUES ($1, $2, $3)
ON CONFLICT (polycule_id) DO NOTHING
"""
_JOINED = """
INSERT INTO memberships (polycule_id, member_id, joined_at) VALUES ($1, $2, $3)
ON CONFLICT (polycule_id, member_id) DO UPDATE SET joined_at = excluded.joined_at, left_at = NULL
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

MEMBER_OF = """
SELECT polycule_id FROM memberships WHERE member_id = $1 AND left_at IS NULL
"""


class Memberships:
    name = "memberships"
    tables = ("polycule_directory", "memberships")

    async def apply(self, connection: Statements, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            if event.event_type == "PolyculeFounded":
                await connection.execute(
                    _FOUNDED, event.stream_id, event.data["name"], event.recorded_at
                )
            elif event.event_type == "MemberJoined":
                await connection.execute(
                    _JOINED, event.stream_id, UUID(event.data["member_id"]), event.recorded_at
                )
            elif event.event_type == "MemberLeft":
                await connection.execute(
                    _LEFT, event.stream_id, UUID(event.data["member_id"]), event.recorded_at
                )

    async def forget(self, connection: Connection, polycule_ids: Sequence[UUID]) -> None:
        await connection.execute(_FORGET, list(polycule_ids))
