"""The audit view: a member pages through their polycule's chain and has it verified.

Each event is shown in full when the policy lets the member read it, with its stored
(sealed) data beside the opened data so that anyone can recompute its hash
(ledger/store/chain.py); otherwise it is an opaque entry with only its place, time and
hashes, which is still enough to check that every link of the chain holds.

The export gives the same entries for the whole chain in one download, one JSON line each,
read from the store a page at a time and sent as it is read, so a long history is never
held in memory. A first line names the polycule and the service's public keys, and a last
line carries the signed checkpoint of the tree over every entry sent (with its
co-signatures): all that ``ledger/verify_export.py`` needs to check it offline
(docs/verification.md).

What the views read is a typed query beside them (``events_page``, ``verification``), which
the web client's record page asks too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.auth.policy import may_read_event
from ledger.events import EVENTS
from ledger.http.authorization import PolyculeInView, polycule_of
from ledger.http.checkpoint_routes import (
    CheckpointView,
    PublishedKeyView,
    checkpoint_view,
    published_keys,
)
from ledger.http.context import QueryContext, query_context
from ledger.http.keys import CHECKPOINTS, EVENT_STORE, SERVICE
from ledger.http.parsing import BIGINT_MAX, parse_query
from ledger.http.shapes import Strict, json_of
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent
from ledger.store.verify import verify
from ledger.transparency.checkpoints import Checkpoints
from ledger.verify_export import EXPORT_FORMAT

# Events read from the store at a time while an export is being sent.
EXPORT_PAGE_SIZE = 500


class EventsQuery(Strict):
    # The stream version to continue after (0: from the first event).
    after: int = Field(default=0, ge=0, le=BIGINT_MAX)
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


async def events_page(
    context: QueryContext, found: PolyculeInView, asked: EventsQuery
) -> AuditPage:
    """The entries after ``asked.after``, at most ``asked.limit``, as the caller may see them."""
    recorded = await context.events.read_stream(found.polycule_id, asked.after, limit=asked.limit)
    entries = [await audit_entry(context.service, found, event) for event in recorded]
    full_page = len(recorded) == asked.limit
    return AuditPage(
        events=entries, next_after=recorded[-1].stream_version if full_page else None
    )


async def polycule_events(request: web.Request) -> web.Response:
    asked = parse_query(request, EventsQuery)
    return json_of(await events_page(query_context(request), polycule_of(request), asked))


async def audit_entry(
    service: ApplicationService, found: PolyculeInView, event: RecordedEvent
) -> AuditEntry:
    """One event of the chain as this member may see it: in full, or opaque."""
    common = {
        "stream_version": event.stream_version,
        "recorded_at": event.recorded_at,
        "previous_hash": event.previous_hash.hex(),
        "hash": event.hash.hex(),
    }
    current = EVENTS.in_current_shape(event)  # the policy reads the shape it knows
    if not may_read_event(found.member_id, found.state, event.event_type, current.data):
        return AuditEntry(**common, readable=False)
    opened = await service.decode(event)
    return AuditEntry(
        **common,
        readable=True,
        event_id=event.event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=opened.model_dump(mode="json"),
        stored_data=event.data,
        metadata=event.metadata,
    )


class ExportHeader(Strict):
    """The export's first line."""

    format: str
    stream_id: UUID
    checkpoint_keys: list[PublishedKeyView]


class ExportTrailer(Strict):
    """The export's last line: the signed checkpoint of every entry sent."""

    checkpoint: CheckpointView


async def export_polycule(request: web.Request) -> web.Response:
    """The whole chain as the member may see it, as a download: a line naming it, the
    entries the events view gives over all its pages, in chain order, one JSON line each,
    and a line with the signed checkpoint of them all."""
    found = polycule_of(request)
    header = ExportHeader(
        format=EXPORT_FORMAT, stream_id=found.polycule_id,
        checkpoint_keys=published_keys(request).keys,
    )
    return web.Response(
        body=_export_lines(
            request.app[EVENT_STORE], request.app[SERVICE], request.app[CHECKPOINTS], found,
            header,
        ),
        content_type="application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="polycule-{found.polycule_id}.jsonl"',
            "Cache-Control": "no-store",
        },
    )


async def _export_lines(
    store: EventStore, service: ApplicationService, checkpoints: Checkpoints,
    found: PolyculeInView, header: ExportHeader,
) -> AsyncIterator[bytes]:
    yield header.model_dump_json().encode() + b"\n"
    # Up to the version the member's rights were judged at: a later event would be judged
    # by a state that does not know it yet.
    after = 0
    hashes: list[bytes] = []
    while after < found.version:
        recorded = await store.read_stream(
            found.polycule_id, after, limit=min(EXPORT_PAGE_SIZE, found.version - after)
        )
        if not recorded:
            break
        for event in recorded:
            entry = await audit_entry(service, found, event)
            hashes.append(event.hash)
            yield entry.model_dump_json().encode() + b"\n"
        after = recorded[-1].stream_version
    # The tree over exactly the hashes sent (32 bytes an entry, the only thing kept).
    checkpoint = await checkpoints.of_leaves(found.polycule_id, hashes)
    yield ExportTrailer(checkpoint=checkpoint_view(checkpoint)).model_dump_json().encode() + b"\n"


async def verification(context: QueryContext, polycule_id: UUID) -> VerificationView:
    """Whether every link of the polycule's chain holds, and the first that does not."""
    async with context.pool.acquire() as connection:
        report = await verify(connection, polycule_id)
    first = report.breaks[0] if report.breaks else None
    return VerificationView(
        verified=report.ok,
        events_checked=report.events_checked,
        first_break=None if first is None else ChainBreakView(
            stream_version=first.stream_version, event_id=first.event_id, reason=first.reason
        ),
    )


async def verify_polycule(request: web.Request) -> web.Response:
    return json_of(await verification(query_context(request), polycule_of(request).polycule_id))
