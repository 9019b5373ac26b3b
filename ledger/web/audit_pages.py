"""The polycule's record: its chain of events as this member may read it, a page at a
time, whether every link of the chain still verifies, and the whole of it to download.

An entry the member may not read is shown as the API gives it: a place, a time and a
hash, and nothing more (ledger/http/audit_routes.py decides, by the policy's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from aiohttp import web

from ledger.http import audit_routes
from ledger.http.authorization import polycule_of
from ledger.http.context import query_context
from ledger.scheduler import SCHEDULER_ACTOR
from ledger.web import polycule_pages
from ledger.web.reading import Page, everyone_named, polycule_context
from ledger.web.rendering import render

PAGE_SIZE = 50
_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


async def record(request: web.Request) -> web.Response:
    """``?after=N`` shows the entries after entry N, as the API's events view does;
    ``?before=N`` the page of entries just before entry N; neither, the most recent."""
    common = await polycule_context(request)
    found = polycule_of(request)
    head = found.version
    after, limit = page_window(request.query.get("after"), request.query.get("before"), head)
    context = query_context(request)
    page = await audit_routes.events_page(
        context, found, audit_routes.EventsQuery(after=after, limit=limit)
    )
    verification = await audit_routes.verification(context, found.polycule_id)
    # Named as an event's metadata names its actor.
    names = {str(member): name for member, name in (await everyone_named(request)).items()}
    entries = page.events
    first = entries[0].stream_version if entries else None
    newer = page.next_after
    return await render(request, "audit.html", {
        **common.template_values(),
        "entries": [_described(entry, names, str(common.me_id)) for entry in entries],
        "older_before": first if first is not None and first > 1 else None,
        "newer_after": newer if newer is not None and newer < head else None,
        "verification": verification,
        "live_url": polycule_pages.live_url(request),
    })


def page_window(after: str | None, before: str | None, head: int) -> tuple[int, int]:
    """(after, limit) of the page asked for: whole pages that neither overlap nor skip."""
    if after is not None and after.isdigit():
        return int(after), PAGE_SIZE
    end = int(before) - 1 if before is not None and before.isdigit() else head
    end = min(max(end, 0), head)
    start = max(0, end - PAGE_SIZE)
    return start, max(1, end - start)


@dataclass(frozen=True)
class Described:
    """An entry of the record as the page words it."""

    stream_version: int
    recorded_at: datetime
    hash: str
    readable: bool
    # What happened and who did it; None for an entry the member may not read.
    what: str | None
    by: str | None


def _described(entry: audit_routes.AuditEntry, names: dict[str, str], me_id: str) -> Described:
    """An entry as the page words it: what happened and who did it, for one the member
    may read; for any other, nothing beyond its place, time and hash."""
    described = Described(
        stream_version=entry.stream_version, recorded_at=entry.recorded_at, hash=entry.hash,
        readable=entry.readable, what=None, by=None,
    )
    if not entry.readable:
        return described
    actor = str((entry.metadata or {}).get("actor", ""))
    if actor == str(SCHEDULER_ACTOR):
        by = "the ledger, on schedule"
    elif actor == me_id:
        by = "you"
    else:
        # Members past and present are named; anyone else acted from outside (a supporter).
        by = names.get(actor, "someone outside the polycule")
    what = _WORD_START.sub(" ", entry.event_type or "").capitalize()
    return replace(described, what=what, by=by)


PAGES: tuple[Page, ...] = (
    ("GET", "/polycules/{polycule_id}/audit", record),
)
