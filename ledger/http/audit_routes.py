"""The audit view: a member pages through their polycule's chain and has it verified.

Each event is shown in full when the policy lets the member read it, with its stored
(sealed) data beside the opened data so that anyone can recompute its hash
(ledger/store/chain.py); otherwise it is an opaque entry with only its place, time and
hashes, which is still enough to check that every link of the chain holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.auth.policy import may_read_event
from ledger.http.authorization import polycule_of
from ledger.http.keys import EVENT_STORE, POOL, SERVICE
from ledger.http.parsing import parse_query
from ledger.http.shapes import Strict, json_of
from ledger.store.verify import verify


class EventsQuery(Strict):
    # The stream version to continue after (0: from the first event).
    after: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


class AuditEntry(Strict):
    stream_version: int
    recorded_at: datetime
    previous_hash: str
    hash: str
    # False: an event this member may not read; nothing of it but the above is shown.
    readable: bool
    event_id: UUID | None = None
    event_type: str | None = None
    schema_version: int | None = None
    # The event as the member reads it (texts opened, or "[erased]").
    data: dict[str, Any] | None = None
    # The event as stored and hashed (texts sealed), with its metadata.
    stored_data: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class AuditPage(Strict):
    events: list[AuditEntry]
    # Pass as ``after`` for the next page; None at the end of the chain.
    next_after: int | None


class ChainBreakView(Strict):
    stream_version: int
    event_id: UUID
    reason: str


class VerificationView(Strict):
    verified: bool
    events_checked: int
    first_break: ChainBreakView | None


async def polycule_events(request: web.Request) -> web.Response:
    found = polycule_of(request)
    query = parse_query(request, EventsQuery)
    recorded = await request.app[EVENT_STORE].read_stream(
        found.polycule_id, query.after, limit=query.limit
    )
    entries = []
    for event in recorded:
        common = {
            "stream_version": event.stream_version,
            "recorded_at": event.recorded_at,
            "previous_hash": event.previous_hash.hex(),
            "hash": event.hash.hex(),
        }
        if not may_read_event(found.member_id, found.state, event.event_type, event.data):
            entries.append(AuditEntry(**common, readable=False))
            continue
        opened = await request.app[SERVICE].decode(event)
        entries.append(AuditEntry(
            **common,
            readable=True,
            event_id=event.event_id,
            event_type=event.event_type,
            schema_version=event.schema_version,
            data=opened.model_dump(mode="json"),
            stored_data=event.data,
            metadata=event.metadata,
        ))
    full_page = len(recorded) == query.limit
    return json_of(AuditPage(
        events=entries, next_after=recorded[-1].stream_version if full_page else None
    ))


async def verify_polycule(request: web.Request) -> web.Response:
    found = polycule_of(request)
    async with request.app[POOL].acquire() as connection:
        report = await verify(connection, found.polycule_id)
    first = report.breaks[0] if report.breaks else None
    return json_of(VerificationView(
        verified=report.ok,
        events_checked=report.events_checked,
        first_break=None if first is None else ChainBreakView(
            stream_version=first.stream_version, event_id=first.event_id, reason=first.reason
        ),
    ))
