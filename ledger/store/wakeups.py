"""Wake-ups after appends: subscribers react within milliseconds, and poll as a fallback.

Within one process an append wakes the subscribers directly. Other instances learn of it
through PostgreSQL's LISTEN/NOTIFY:

* NOTIFY is not sent inside the append's transaction. PostgreSQL serialises the commits of
  notifying transactions behind one lock held until their commit record is flushed, which
  would undo group commit and cap append throughput. Instead a single background task per
  process sends one NOTIFY for however many appends happened since its last one, on its
  own connection with ``synchronous_commit = off`` (a wake-up is a hint; the events are
  already durable), and then rests 25 ms, so a busy instance sends at most forty wake-ups
  a second however fast it appends (an idle one announces its next append at once).
* LISTEN needs a dedicated connection: a pooled connection drops its listeners when it is
  released. If that connection is lost, it is reopened, and subscribers keep polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from ledger.database import connect

log = structlog.get_logger(__name__)

CHANNEL = "ledger_events"


class WakeupHub:
    """Fans a wake-up out to every subscriber of this process."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Event] = set()

    def subscribe(self) -> asyncio.Event:
        signal = asyncio.Event()
        self._subscribers.add(signal)
        return signal

    def unsubscribe(self, signal: asyncio.Event) -> None:
        self._subscribers.discard(signal)

    def wake_all(self) -> None:
        for signal in self._subscribers:
            signal.set()


async def wait_for_wakeup(signal: asyncio.Event, poll_seconds: float) -> None:
    """Return when woken or when ``poll_seconds`` pass (the polling fallback)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(poll_seconds):
            await signal.wait()
    signal.clear()


class AppendAnnouncer:
    """Called after each committed append: wakes local subscribers, tells other instances."""

    def __init__(
        self, url: str, hub: WakeupHub, *, min_interval_seconds: float = 0.025
    ) -> None:
        self._url = url
        self._hub = hub
        self._min_interval = min_interval_seconds
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None

    def poke(self, stream_id: UUID | None = None) -> None:
        self._hub.wake_all()
        self._pending.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._announce_forever(), name="append-announcer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()

    async def _announce_forever(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                if self._connection is None or self._connection.is_closed():
                    # Its own connection: one round trip per wake-up, no pool contention,
                    # and asynchronous commit for these (and only these) transactions.
                    self._connection = await connect(
                        self._url, server_settings={"synchronous_commit": "off"}
                    )
                await self._connection.execute("SELECT pg_notify($1, '')", CHANNEL)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                # Other instances fall back to polling; nothing is lost, only later.
                log.warning("append_announcement_failed", error=str(error))
                await asyncio.sleep(1)
            await asyncio.sleep(self._min_interval)


class AppendListenerConnection:
    """Holds the dedicated LISTEN connection and reopens it if it drops.

    ``also_listen`` are called with the connection each time it is (re)opened, so other
    channels (a destroyed data key, for one) share it.
    """

    def __init__(
        self,
        url: str,
        hub: WakeupHub,
        *,
        retry_seconds: float = 1.0,
        also_listen: Sequence[Callable[[asyncpg.Connection], Awaitable[None]]] = (),
    ) -> None:
        self._url = url
        self._hub = hub
        self._retry_seconds = retry_seconds
        self._also_listen = list(also_listen)
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="append-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()

    def _on_notification(self, *_: Any) -> None:
        self._hub.wake_all()

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
