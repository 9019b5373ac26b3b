"""Wake-ups after appends: subscribers react within milliseconds, and poll as a fallback.

A wake-up names the stream appended to (a polycule's stream id is the polycule's id), and
a subscriber follows either some streams — a live page follows its own polycules — or all
of them (the projection runner, the webhook fan-out). So an append in one polycule wakes
that polycule's pages and nobody else's: one member's busy polycule costs other members
nothing.

Within one process an append wakes the subscribers directly. Other instances learn of it
through PostgreSQL's LISTEN/NOTIFY:

* NOTIFY is not sent inside the append's transaction. PostgreSQL serialises the commits of
  notifying transactions behind one lock held until their commit record is flushed, which
  would undo group commit and cap append throughput. Instead a single background task per
  process sends one round of NOTIFY for however many appends happened since its last one,
  on its own connection with ``synchronous_commit = off`` (a wake-up is a hint; the events
  are already durable), and then rests 25 ms, so a busy instance sends at most forty rounds
  a second however fast it appends (an idle one announces its next append at once).
* A round names the streams appended to since the last one, space-separated in the payload.
  A payload must stay under 8000 bytes, so a round that names many streams is split over
  several NOTIFYs (``STREAMS_PER_NOTIFICATION`` each), all sent in one statement. An empty
  payload means "any stream": it is what an announcer sends when it cannot say which
  (``poke()`` without a stream), and what instances of an earlier release send, so a
  rolling deploy wakes too many subscribers for a while, never too few.
* LISTEN needs a dedicated connection: a pooled connection drops its listeners when it is
  released. If that connection is lost, it is reopened, every subscriber is woken (what
  was appended meanwhile was not heard), and subscribers keep polling. A notification sent
  by this process's own announcer is ignored: its appends woke this process already.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from uuid import UUID

import asyncpg
import structlog

from ledger.database import connect
from ledger.supervisor import Supervisor

log = structlog.get_logger(__name__)

CHANNEL = "ledger_events"
# 36 characters and a space each: 7,400 bytes, under PostgreSQL's 8000-byte payload limit.
STREAMS_PER_NOTIFICATION = 200

# One round trip for a whole round, however many notifications it takes.
_NOTIFY_EACH = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"


class Wakeup(asyncio.Event):
    """One subscriber's signal: set when a stream it follows is appended to.

    A subscriber of some streams can also ask which of them woke it (``woken_for``), so a
    page following several polycules reads only those that changed.
    """

    def __init__(self, streams: frozenset[UUID] | None, *, naming: bool = False) -> None:
        super().__init__()
        # None: every stream.
        self.streams = streams
        # Whether one who follows every stream is told which woke it (the webhook fan-out,
        # which goes polycule by polycule); others following everything are not.
        self.naming = naming
        self._named: set[UUID] = set()
        self._any = False

    def woken_for(self) -> frozenset[UUID] | None:
        """The followed streams appended to since the last call, or None when any of them
        may have been (a wake-up that named no stream). Forgets them."""
        named, any_stream = frozenset(self._named), self._any
        self._named.clear()
        self._any = False
        return None if any_stream else named

    def _wake(self, stream_id: UUID | None) -> None:
        if stream_id is None:
            self._any = True
        elif self.streams is not None or self.naming:
            self._named.add(stream_id)
        self.set()


class WakeupHub:
    """Fans a wake-up out to the subscribers of this process that follow its stream."""

    def __init__(self) -> None:
        self._of_every_stream: set[Wakeup] = set()
        self._by_stream: dict[UUID, set[Wakeup]] = {}

    def subscribe(
        self, streams: Iterable[UUID] | None = None, *, naming: bool = False
    ) -> Wakeup:
        """A signal for appends to ``streams``; left out: to any stream (``naming``: and
        ``woken_for`` says which)."""
        wakeup = Wakeup(None, naming=naming)
        if streams is None:
            self._of_every_stream.add(wakeup)
        else:
            self.follow(wakeup, streams)
        return wakeup

    def follow(self, wakeup: Wakeup, streams: Iterable[UUID]) -> None:
        """From now on ``wakeup`` follows exactly ``streams`` (a member joined a polycule)."""
        self._forget(wakeup)
        wakeup.streams = frozenset(streams)
        for stream_id in wakeup.streams:
            self._by_stream.setdefault(stream_id, set()).add(wakeup)

    def unsubscribe(self, wakeup: Wakeup) -> None:
        self._forget(wakeup)

    def wake(self, stream_id: UUID) -> None:
        """``stream_id`` was appended to: wake its followers and those of every stream."""
        for wakeup in self._by_stream.get(stream_id, ()):
            wakeup._wake(stream_id)
        for wakeup in self._of_every_stream:
            wakeup._wake(stream_id)

    def wake_all(self) -> None:
        """Something may have been appended anywhere: wake every subscriber."""
        for wakeup in self._of_every_stream:
            wakeup._wake(None)
        for followers in self._by_stream.values():
            for wakeup in followers:
                wakeup._wake(None)

    def _forget(self, wakeup: Wakeup) -> None:
        self._of_every_stream.discard(wakeup)
        for stream_id in wakeup.streams or ():
            followers = self._by_stream.get(stream_id)
            if followers is not None:
                followers.discard(wakeup)
                if not followers:
                    del self._by_stream[stream_id]
        wakeup.streams = None


async def wait_for_wakeup(signal: asyncio.Event, poll_seconds: float) -> None:
    """Return when woken or when ``poll_seconds`` pass (the polling fallback)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(poll_seconds):
            await signal.wait()
    signal.clear()


def notification_payloads(streams: Iterable[UUID]) -> list[str]:
    """The payloads that name ``streams``, each small enough for one NOTIFY."""
    named = sorted(str(stream_id) for stream_id in streams)
    return [
        " ".join(named[start:start + STREAMS_PER_NOTIFICATION])
        for start in range(0, len(named), STREAMS_PER_NOTIFICATION)
    ]


def streams_named(payload: str) -> set[UUID] | None:
    """The streams a notification names; None for any stream (empty, or not ours to read)."""
    try:
        return {UUID(word) for word in payload.split()} or None
    except ValueError:
        log.warning("append_notification_unreadable", length=len(payload))
        return None


class AppendAnnouncer:
    """Called after each committed append: wakes local subscribers, tells other instances."""

    def __init__(
        self, url: str, hub: WakeupHub, *, min_interval_seconds: float = 0.025
    ) -> None:
        self._url = url
        self._hub = hub
        self._min_interval = min_interval_seconds
        self._pending = asyncio.Event()
        # Appended to since the last round; ``_any_stream``: some append did not say where.
        self._appended: set[UUID] = set()
        self._any_stream = False
        self._supervisor: Supervisor | None = None
        self._connection: asyncpg.Connection | None = None

    def poke(self, stream_id: UUID | None = None) -> None:
        """``stream_id`` was appended to and committed; None: some stream, not said which."""
        if stream_id is None:
            self._hub.wake_all()
            self._any_stream = True
        else:
            self._hub.wake(stream_id)
            self._appended.add(stream_id)
        self._pending.set()

    @property
    def backend_pid(self) -> int | None:
        """The server process that sends this announcer's notifications, once connected."""
        if self._connection is None or self._connection.is_closed():
            return None
        pid: int = self._connection.get_server_pid()
        return pid

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._supervisor = supervisor or Supervisor()
        self._supervisor.run("append-announcer", self._announce_forever)

    async def stop(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop("append-announcer")
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()

    async def _announce_forever(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            appended, any_stream = self._appended, self._any_stream
            self._appended, self._any_stream = set(), False
            payloads = [""] if any_stream else notification_payloads(appended)
            try:
                if self._connection is None or self._connection.is_closed():
                    # Its own connection: one round trip per wake-up, no pool contention,
                    # and asynchronous commit for these (and only these) transactions.
                    self._connection = await connect(
                        self._url, server_settings={"synchronous_commit": "off"}
                    )
                await self._connection.execute(_NOTIFY_EACH, CHANNEL, payloads)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                # Other instances poll meanwhile. The next round, a second later, wakes
                # everyone there: an empty payload cannot fail the way this one might have.
                log.warning("append_announcement_failed", error=str(error))
                self._any_stream = True
                self._pending.set()
                await asyncio.sleep(1)
            await asyncio.sleep(self._min_interval)


class AppendListenerConnection:
    """Holds the dedicated LISTEN connection and reopens it if it drops.

    ``also_listen`` are called with the connection each time it is (re)opened, so other
    channels (a destroyed data key, for one) share it. ``own_announcer``: this process's
    announcer, whose notifications are ignored here (its appends woke this process at once).
    """

    def __init__(
        self,
        url: str,
        hub: WakeupHub,
        *,
        retry_seconds: float = 1.0,
        also_listen: Sequence[Callable[[asyncpg.Connection], Awaitable[None]]] = (),
        own_announcer: AppendAnnouncer | None = None,
    ) -> None:
        self._url = url
        self._hub = hub
        self._retry_seconds = retry_seconds
        self._also_listen = list(also_listen)
        self._own_announcer = own_announcer
        self._supervisor: Supervisor | None = None
        self._connection: asyncpg.Connection | None = None

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._supervisor = supervisor or Supervisor()
        self._supervisor.run("append-listener", self._listen_forever)

    async def stop(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop("append-listener")
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()

    def _on_notification(
        self, _connection: object, sender_pid: int, _channel: str, payload: object
    ) -> None:
        if self._own_announcer is not None and sender_pid == self._own_announcer.backend_pid:
            return
        streams = streams_named(str(payload))
        if streams is None:
            self._hub.wake_all()
            return
        for stream_id in streams:
            self._hub.wake(stream_id)

    async def _listen_forever(self) -> None:
        while True:
            lost = asyncio.Event()
            try:
                self._connection = await connect(self._url)
                self._connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await self._connection.add_listener(CHANNEL, self._on_notification)
                for listen in self._also_listen:
                    await listen(self._connection)
                # Anything appended while we were not listening is picked up by this wake.
                self._hub.wake_all()
                await lost.wait()
                log.warning("append_listener_connection_lost")
            except (asyncpg.PostgresError, OSError) as error:
                log.warning("append_listener_unavailable", error=str(error))
            await asyncio.sleep(self._retry_seconds)
