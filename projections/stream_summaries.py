"""Read model: for each polycule stream, its version, how many events, and when the last was."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

if TYPE_CHECKING:
    from ledger.database import Connection

from ledger.store.records import RecordedEvent
from projections.batching import Statements
from projections.in_memory import Rows, Session

_UPSERT = """
INSERT INTO stream_summaries AS s (stream_id, version, event_count, last_event_at)
SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[])
ON CONFLICT (stream_id) DO UPDATE
   SET version = greatest(s.version, excluded.version),
       event_count = s.event_count + excluded.event_count,
       last_event_at = greatest(s.last_event_at, excluded.last_event_at)
"""


class _Summary(NamedTuple):
    stream_id: UUID
    version: int
    event_count: int
    last_event_at: datetime


class StreamSummaries:
    name = "stream_summaries"
    tables = ("stream_summaries",)
    # One row per polycule, from any events of any polycules: see ``apply``.
    folds_in_steps = False

    async def apply(self, connection: Statements, events: Sequence[RecordedEvent]) -> None:
        # Fold the batch in memory first: one row per stream, one statement per batch.
        folded: dict[UUID, tuple[int, int, datetime]] = {}
        for event in events:
            version, count, last_at = folded.get(
                event.stream_id, (0, 0, event.recorded_at)
            )
            folded[event.stream_id] = (
                max(version, event.stream_version),
                count + 1,
                max(last_at, event.recorded_at),
            )
        streams = list(folded)
        await connection.execute(
            _UPSERT,
            streams,
            [folded[s][0] for s in streams],
            [folded[s][1] for s in streams],
            [folded[s][2] for s in streams],
        )

    def fold_in_memory(self, events: Sequence[RecordedEvent], session: Session) -> Rows:
        """The row ``apply`` leaves for a polycule's whole stream (``events``, from its
        first)."""
        return {"stream_summaries": [_Summary(
            events[0].stream_id, max(event.stream_version for event in events), len(events),
            max(event.recorded_at for event in events),
        )]} if events else {}

    async def forget(self, connection: Connection, polycule_ids: Sequence[UUID]) -> None:
        await connection.execute(
            "DELETE FROM stream_summaries WHERE stream_id = ANY($1::uuid[])", list(polycule_ids)
        )
