"""Live updates: pages change when another member acts, without a reload.

Two Server-Sent Events streams, each guarded by its route's rule (ledger/auth/policy.py):

    GET /api/polycules/{polycule_id}/live   what changed in one polycule
    GET /api/me/live                        what changed in any of my polycules

A message says only that something the caller may read has changed, and its event types
(``data: {"types": ["ConsentGiven"]}``); never a text, a name or an id. Whether the caller
may read an event is ``policy.may_read_event``, the rule the audit view follows, asked
with the polycule's state after the event: a disclosure told to others, a breach kept
between its parties, never wakes anyone else's page. The read models are written with the
events (projections/read_side.py), so the page that fetches itself again already shows
the change.
A member who leaves stops hearing from that polycule at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from uuid import UUID

import orjson
import structlog
from aiohttp import web
from pydantic import Field

from ledger.auth import policy
from ledger.domain.polycules import polycule_decider
from ledger.http.authorization import caller_of, polycule_of
from ledger.http.keys import EVENT_STORE, POOL, SERVICE, WAKEUP_HUB
from ledger.http.parsing import parse_query
from ledger.http.shapes import Strict
from ledger.web.browser import SECURITY_HEADERS
from projections.memberships import MY_POLYCULES

log = structlog.get_logger(__name__)

# A comment line this often keeps proxies from closing a quiet stream; it is also how
# often a stream looks again without being woken (another instance's append).
KEEPALIVE_SECONDS = 15.0
# Set when the service stops: every open stream ends, so shutdown does not wait on them.
_CLOSING = web.AppKey("live_streams_closing", asyncio.Event)

# At most this many events of one polycule are read per wake-up (a page reconnecting
# after a long sleep needs to know only that things changed; the rest follow).
BACKLOG_LIMIT = 500

PolyculeIds = Callable[[], Awaitable[set[UUID]]]


class LiveQuery(Strict):
    # The polycule's version the page was drawn at; left out: from now on.
    after: int | None = Field(default=None, ge=0)


async def _woken(signal: asyncio.Event, within: float) -> bool:
    """Wait for a wake-up at most ``within`` seconds: whether one came."""
    try:
        async with asyncio.timeout(within):
            await signal.wait()
    except TimeoutError:
        return False
    finally:
        signal.clear()
    return True


def setup(app: web.Application) -> None:
    app[_CLOSING] = asyncio.Event()

    async def close_streams(app: web.Application) -> None:
        app[_CLOSING].set()
        app[WAKEUP_HUB].wake_all()

    app.on_shutdown.append(close_streams)


async def polycule_changes(request: web.Request) -> web.StreamResponse:
    """``?after=N``: the polycule's version the page was drawn at (a change between drawing
    the page and opening the stream is not missed)."""
    found = polycule_of(request)
    asked = parse_query(request, LiveQuery)
    after = found.version if asked.after is None else asked.after

    async def just_this() -> set[UUID]:
        return {found.polycule_id}

    return await _stream(request, just_this, {found.polycule_id: min(after, found.version)})


async def my_changes(request: web.Request) -> web.StreamResponse:
    member = caller_of(request)

    async def mine() -> set[UUID]:
        rows = await request.app[POOL].fetch(MY_POLYCULES, member)
        return {row["polycule_id"] for row in rows}

    store = request.app[EVENT_STORE]
    seen = {stream: await store.stream_version(stream) for stream in await mine()}
    return await _stream(request, mine, seen)


async def _stream(
    request: web.Request, polycule_ids: PolyculeIds, seen: dict[UUID, int]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
        **SECURITY_HEADERS,
    })
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    try:
        async with contextlib.aclosing(_changes(request, polycule_ids, seen)) as changes:
            async for types in changes:
                if types:
                    payload = orjson.dumps({"types": types})
                    await response.write(b"event: change\ndata: " + payload + b"\n\n")
                else:
                    await response.write(b": still here\n\n")
    except ConnectionResetError:
        pass  # the page went away
    return response


async def _changes(
    request: web.Request, polycule_ids: PolyculeIds, seen: dict[UUID, int]
) -> AsyncGenerator[list[str], None]:
    """After each wake-up (or quiet while): the types of the events the caller may read
    that were appended since ``seen`` (stream → version), often none. Ends when the caller
    is no longer a member of a polycule it watches, or the service stops."""
    app = request.app
    member = caller_of(request)
    store = app[EVENT_STORE]
    signal = app[WAKEUP_HUB].subscribe()
    try:
        # A first round at once: whatever happened between drawing the page (or reading
        # ``seen``) and subscribing is not missed.
        signal.set()
        while not app[_CLOSING].is_set():
            woken = await _woken(signal, KEEPALIVE_SECONDS)
            if app[_CLOSING].is_set():
                return
            types: list[str] = []
            for stream in await polycule_ids():
                if stream not in seen:  # joined since: from the joining on
                    seen[stream] = await store.stream_version(stream) - 1
                events = await store.read_stream(
                    stream, max(seen[stream], 0), limit=BACKLOG_LIMIT
                )
                if not events:
                    continue
                seen[stream] = events[-1].stream_version
                if len(events) == BACKLOG_LIMIT:
                    signal.set()  # more to read: round again at once
                state, _ = await app[SERVICE].load(stream, polycule_decider)
                if not state.is_member(member):
                    return
                types += [
                    event.event_type for event in events
                    if policy.may_read_event(member, state, event.event_type, event.data)
                ]
            if types or not woken:
                # Quiet for a while: a comment keeps the connection open. Never after a
                # wake-up that brought nothing readable: when others' polycules are busy
                # must not show on this stream.
                yield sorted(set(types))
    finally:
        app[WAKEUP_HUB].unsubscribe(signal)
