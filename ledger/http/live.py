"""Live updates: pages change when another member acts, without a reload.

Two Server-Sent Events streams, each guarded by its route's rule (ledger/auth/policy.py):

    GET /api/polycules/{polycule_id}/live   what changed in one polycule
    GET /api/me/live                        what changed in any of my polycules

A message says only that something the caller may read has changed, and its event types
(``data: {"types": ["ConsentGiven"]}``); never a text, a name or an id. Whether the caller
may read an event is ``policy.may_read_event``, the rule the audit view follows, asked
with the polycule's state after the event: a disclosure told to others, a breach kept
between its parties, never wakes anyone else's page. The read models are written with the
events, in the same transaction (projections/read_side.py), so the page that fetches itself
again on hearing of a change already shows it.
A member who leaves stops hearing from that polycule at once.

**Where a stream is.** Each change message carries an ``id:``, how far the stream has
read: on a polycule's stream, the polycule's version; on mine, every polycule's version
packed into one word (``versions_id``). The stream also says where it starts, in an
``id:`` without data, so a reconnection before any change loses nothing either. A browser
that reconnects sends the last id back as ``Last-Event-ID`` and the stream goes on from
there: what came after, and only that. A malformed one is refused (422), as is a malformed
``after``.

**What wakes a stream.** It follows only its own polycules in the wake-up hub
(ledger/store/wakeups.py): an append in another polycule costs it nothing, not even a
look. A quiet stream looks anyway at each keep-alive (``LEDGER_LIVE_KEEPALIVE_SECONDS``):
that catches a wake-up that never came, is when the stream of all mine finds a polycule
its member joined since (it also looks whenever it wakes) and when the caller's
credential is asked again (it is also asked before each message).

**How long it lasts.** Until the caller is no longer a member of a polycule it watches,
its session is signed out or its API token revoked, the page goes away or the service
stops; an account holds only so many open at once (ledger/http/live_streams.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, TypeVar
from uuid import UUID

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, BeforeValidator, Field

from ledger.auth import policy
from ledger.domain.polycules import polycule_decider
from ledger.events import EVENTS
from ledger.http.authorization import caller_of, polycule_of
from ledger.http.identity import (
    API_TOKENS,
    SESSIONS,
    require_identity,
    still_authenticated,
)
from ledger.http.keys import (
    EVENT_STORE,
    POOL,
    SERVICE,
    SETTINGS,
    WAKEUP_HUB,
)
from ledger.http.live_streams import LiveStream, OpenStreams
from ledger.http.parsing import parse_query
from ledger.http.protection import SECURITY_HEADERS
from ledger.http.shapes import Strict
from projections.memberships import MY_POLYCULES

log = structlog.get_logger(__name__)

OPEN_STREAMS = web.AppKey("open_live_streams", OpenStreams)
LAST_EVENT_ID = "Last-Event-ID"

# At most this many events of one polycule are read per wake-up (a page reconnecting
# after a long sleep needs to know only that things changed; the rest follow).
BACKLOG_LIMIT = 500

Model = TypeVar("Model", bound=BaseModel)
EventId = Callable[[dict[UUID, int]], str]


class LiveQuery(Strict):
    # The polycule's version the page was drawn at; left out: from now on.
    after: int | None = Field(default=None, ge=0)


# -- where a stream is, as an event id ---------------------------------------------------

# Per polycule: its id's 16 bytes, then its version as 8 (big-endian), in the order of ids.
_POLYCULE_AT = struct.Struct(">16sQ")


def versions_id(seen: dict[UUID, int]) -> str:
    """Each polycule's version, packed into one event id (32 characters a polycule)."""
    packed = b"".join(
        _POLYCULE_AT.pack(polycule_id.bytes, version)
        for polycule_id, version in sorted(seen.items())
    )
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def read_versions_id(text: object) -> dict[UUID, int]:
    """The versions a ``versions_id`` holds; ValueError when it is not one."""
    if not isinstance(text, str):
        raise ValueError("not an event id of this stream")
    try:
        packed = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not an event id of this stream") from None
    if len(packed) % _POLYCULE_AT.size:
        raise ValueError("not an event id of this stream")
    return {UUID(bytes=raw): version for raw, version in _POLYCULE_AT.iter_unpack(packed)}


class _PolyculeResumed(Strict):
    version: int = Field(alias=LAST_EVENT_ID, ge=0)


class _MineResumed(Strict):
    versions: Annotated[
        dict[UUID, Annotated[int, Field(ge=0)]], BeforeValidator(read_versions_id)
    ] = Field(alias=LAST_EVENT_ID)


def _resumed(request: web.Request, model: type[Model]) -> Model | None:
    """The ``Last-Event-ID`` a reconnecting browser sends, read as ``model`` (a malformed
    one is a 422); None when there is none."""
    sent = request.headers.get(LAST_EVENT_ID, "").strip()
    return model.model_validate({LAST_EVENT_ID: sent}) if sent else None


# -- wiring ------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    async def open_streams(app: web.Application) -> AsyncIterator[None]:
        streams = OpenStreams(
            app[WAKEUP_HUB], per_account=app[SETTINGS].live_streams_per_account
        )
        app[SESSIONS].when_ended(streams.end_session)
        app[API_TOKENS].when_revoked(streams.end_token)
        app[OPEN_STREAMS] = streams
        yield

    async def end_streams(app: web.Application) -> None:
        # Every open stream ends, so shutdown does not wait on them.
        streams = app.get(OPEN_STREAMS)
        if streams is not None:
            streams.end_all()

    app.cleanup_ctx.append(open_streams)
    app.on_shutdown.append(end_streams)


# -- views -------------------------------------------------------------------------------


async def polycule_changes(request: web.Request) -> web.StreamResponse:
    """``?after=N``: the polycule's version the page was drawn at (a change between drawing
    the page and opening the stream is not missed). A ``Last-Event-ID`` is later still."""
    found = polycule_of(request)
    asked = parse_query(request, LiveQuery)
    resumed = _resumed(request, _PolyculeResumed)
    start = (
        resumed.version if resumed is not None
        else found.version if asked.after is None
        else asked.after
    )

    def event_id(seen: dict[UUID, int]) -> str:
        return str(seen[found.polycule_id])

    with _opened(request) as stream:
        seen = {found.polycule_id: min(start, found.version)}
        return await _stream(request, stream, seen, event_id, joined=None)


async def my_changes(request: web.Request) -> web.StreamResponse:
    member = caller_of(request)
    resumed = _resumed(request, _MineResumed)
    store = request.app[EVENT_STORE]

    async def mine() -> set[UUID]:
        rows = await request.app[POOL].fetch(MY_POLYCULES, member)
        return {row["polycule_id"] for row in rows}

    with _opened(request) as stream:
        seen: dict[UUID, int] = {}
        for polycule_id in await mine():
            version = await store.stream_version(polycule_id)
            if resumed is None:
                seen[polycule_id] = version
            elif polycule_id in resumed.versions:
                seen[polycule_id] = min(resumed.versions[polycule_id], version)
            else:  # joined while the page was away
                seen[polycule_id] = _from_joining(version)
        return await _stream(request, stream, seen, versions_id, joined=mine)


@contextlib.contextmanager
def _opened(request: web.Request) -> Iterator[LiveStream]:
    """A place among the caller's open streams (TooManyLiveStreams: none left), given up
    when the stream ends."""
    streams = request.app[OPEN_STREAMS]
    stream = streams.open(
        require_identity(request), (), connected=lambda: request.transport is not None
    )
    try:
        yield stream
    finally:
        streams.close(stream)
        log.info("live_stream_closed", rounds=stream.rounds, reads=stream.reads)


def _from_joining(version: int) -> int:
    """Where a stream starts in a polycule its member joined since it opened: before the
    polycule's last event (their joining, when it is found at once)."""
    return max(version - 1, 0)


async def _stream(
    request: web.Request,
    stream: LiveStream,
    seen: dict[UUID, int],
    event_id: EventId,
    *,
    joined: Callable[[], Awaitable[set[UUID]]] | None,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
        **SECURITY_HEADERS,
    })
    await response.prepare(request)
    # Where the stream starts: a browser that reconnects before any change goes on from here.
    await response.write(b"retry: 2000\nid: " + event_id(seen).encode() + b"\n\n")
    try:
        async with contextlib.aclosing(_changes(request, stream, seen, joined)) as changes:
            async for types in changes:
                if types:
                    payload = orjson.dumps({"types": types})
                    await response.write(
                        b"id: " + event_id(seen).encode()
                        + b"\nevent: change\ndata: " + payload + b"\n\n"
                    )
                else:
                    await response.write(b": still here\n\n")
    except ConnectionResetError:
        pass  # the page went away
    return response


async def _changes(
    request: web.Request,
    stream: LiveStream,
    seen: dict[UUID, int],
    joined: Callable[[], Awaitable[set[UUID]]] | None,
) -> AsyncGenerator[list[str], None]:
    """After each wake-up (or quiet while): the types of the events the caller may read
    that were appended since ``seen`` (polycule → version, kept current here), often none.
    ``joined``: the polycules the caller belongs to now, for a stream that follows them
    all. Ends when the caller is no longer a member of a polycule it watches, when their
    credential ends, when the page goes away or the service stops."""
    app = request.app
    member = stream.identity.account_id
    store = app[EVENT_STORE]
    keepalive = app[SETTINGS].live_keepalive_seconds
    streams = app[OPEN_STREAMS]
    streams.follow(stream, seen)
    # A first round at once: whatever happened since ``seen`` (drawing the page, the last
    # id the browser had) is not missed.
    to_read, first_round = set(seen), True
    while True:
        woken = True
        if not to_read:
            woken = await _woken(stream.wakeup, keepalive)
            named = stream.wakeup.woken_for()
            to_read = set(seen) if not woken or named is None else set(named)
        if stream.ended or not stream.connected():
            return
        if not woken and not await still_authenticated(request):
            return
        if joined is not None and not first_round:
            found = await joined() - seen.keys()
            for polycule_id in found:
                seen[polycule_id] = _from_joining(await store.stream_version(polycule_id))
            if found:
                streams.follow(stream, seen)
                to_read |= found
        first_round = False
        stream.rounds += 1
        types: list[str] = []
        backlog: set[UUID] = set()
        for polycule_id in sorted(to_read & seen.keys()):
            events = await store.read_stream(
                polycule_id, seen[polycule_id], limit=BACKLOG_LIMIT
            )
            stream.reads += 1
            if not events:
                continue
            seen[polycule_id] = events[-1].stream_version
            if len(events) == BACKLOG_LIMIT:
                backlog.add(polycule_id)  # more to read: round again at once
            state, _ = await app[SERVICE].load(polycule_id, polycule_decider)
            if not state.is_member(member):
                return
            types += [
                event.event_type for event in events
                if policy.may_read_event(
                    member, state, event.event_type, EVENTS.in_current_shape(event).data
                )
            ]
        to_read = backlog
        if types and woken and not await still_authenticated(request):
            return  # signed out elsewhere: told nothing more
        if types or not woken:
            # Quiet for a while: a comment keeps the connection open. Never after a
            # wake-up that brought nothing readable: when others are busy must not show.
            yield sorted(set(types))


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
