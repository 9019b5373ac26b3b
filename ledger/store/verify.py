"""Walk one stream or every stream and name the first event whose chain does not match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from ledger.database import Connection

from ledger.store.chain import ChainBreak, StreamVerifier
from ledger.store.events import recorded_event
from ledger.store.sql import ALL_STREAMS_IN_ORDER, ONE_STREAM_IN_ORDER


@dataclass
class VerificationReport:
    streams_checked: int = 0
    events_checked: int = 0
    # The first break of each broken stream, in stream order.
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks




async def verify(
    connection: Connection,
    stream_id: UUID | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> VerificationReport:
    """Recompute every hash; streams the rows through a cursor, one stream in memory at most.

    ``on_progress`` is called with the number of events checked since its last call.
    """
    report = VerificationReport()
    current: UUID | None = None
    verifier = StreamVerifier()
    broken_stream = False
    query, args = (
        (ALL_STREAMS_IN_ORDER, ()) if stream_id is None else (ONE_STREAM_IN_ORDER, (stream_id,))
    )
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        async for row in connection.cursor(query, *args, prefetch=1000):
            event = recorded_event(row)
            if event.stream_id != current:
                current = event.stream_id
                verifier = StreamVerifier()
                broken_stream = False
                report.streams_checked += 1
            report.events_checked += 1
            if on_progress is not None:
                on_progress(1)
            if broken_stream:
                continue
            found = verifier.check(event)
            if found is not None:
                report.breaks.append(found)
                broken_stream = True
    return report
