"""Wake-ups name their stream, in this process and through NOTIFY to other instances, so
an append wakes only the subscribers of its own polycule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from ledger.store.events import EventStore
from ledger.store.wakeups import (
    CHANNEL,
    STREAMS_PER_NOTIFICATION,
    AppendAnnouncer,
    AppendListenerConnection,
    Wakeup,
    WakeupHub,
)
from tests.support import new_event

PAYLOAD_LIMIT_BYTES = 8000


async def woken(wakeup: asyncio.Event, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        await wakeup.wait()


def forget(*wakeups: Wakeup) -> None:
    """As if each subscriber had just looked (past the wake-up a listener gives as it starts)."""
    for wakeup in wakeups:
        wakeup.clear()
        wakeup.woken_for()


@asynccontextmanager
async def listening(
    database_url: str, hub: WakeupHub, own_announcer: AppendAnnouncer | None = None
) -> AsyncIterator[AppendListenerConnection]:
    """An instance's listener, once it listens (it wakes everyone when it starts)."""
    listener = AppendListenerConnection(database_url, hub, own_announcer=own_announcer)
    started = hub.subscribe()
    listener.start()
    try:
        await woken(started)
        hub.unsubscribe(started)
        yield listener
    finally:
        await listener.stop()


@asynccontextmanager
async def announcing(database_url: str, hub: WakeupHub) -> AsyncIterator[AppendAnnouncer]:
    announcer = AppendAnnouncer(database_url, hub)
    announcer.start()
    try:
        yield announcer
    finally:
        await announcer.stop()


async def notify(database_url: str, payload: str) -> None:
    """A notification as another instance's announcer sends it."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
    finally:
        await connection.close()


async def test_an_append_wakes_only_the_subscribers_of_its_stream(
    pool: asyncpg.Pool, database_url: str
) -> None:
    hub = WakeupHub()
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    mine, yours, everything = hub.subscribe([ours]), hub.subscribe([theirs]), hub.subscribe()
    async with announcing(database_url, hub) as announcer:
        store = EventStore(pool, on_append=announcer)

        await store.append(ours, 0, [new_event()])

        assert mine.woken_for() == {ours}
        assert not yours.is_set()
        assert everything.is_set()


async def test_announcing_without_naming_a_stream_wakes_everyone(
    pool: asyncpg.Pool, database_url: str
) -> None:
    """A caller that appended inside its own transaction announces once it committed;
    one that cannot say where wakes everyone, never no one."""
    hub = WakeupHub()
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    mine, yours = hub.subscribe([ours]), hub.subscribe([theirs])
    async with announcing(database_url, hub) as announcer:
        store = EventStore(pool, on_append=announcer)

        store.announce(ours)
        assert mine.woken_for() == {ours} and not yours.is_set()
        store.announce()
        assert mine.woken_for() is None and yours.woken_for() is None


async def test_a_notify_from_another_instance_wakes_only_the_polycule_it_names(
    pool: asyncpg.Pool, database_url: str
) -> None:
    hub_a, hub_b = WakeupHub(), WakeupHub()
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    mine, yours, everything = (
        hub_b.subscribe([ours]), hub_b.subscribe([theirs]), hub_b.subscribe()
    )
    async with announcing(database_url, hub_a) as announcer_a, listening(database_url, hub_b):
        store_a = EventStore(pool, on_append=announcer_a)
        forget(mine, yours, everything)

        await store_a.append(ours, 0, [new_event()])

        await woken(mine)
        assert mine.woken_for() == {ours}
        assert not yours.is_set()  # the same notification: nothing else was sent
        assert everything.is_set()


async def test_a_round_naming_many_polycules_is_split_and_each_is_woken(
    database_url: str,
) -> None:
    hub_a, hub_b = WakeupHub(), WakeupHub()
    appended = {uuid.uuid4() for _ in range(3 * STREAMS_PER_NOTIFICATION + 7)}
    quiet = uuid.uuid4()
    following = hub_b.subscribe([*appended, quiet])
    payloads: list[str] = []
    observer = await asyncpg.connect(database_url)
    await observer.add_listener(CHANNEL, lambda *args: payloads.append(args[3]))
    try:
        async with announcing(database_url, hub_a) as announcer_a, listening(
            database_url, hub_b
        ):
            forget(following)
            # All before the announcer runs again: one round.
            for stream_id in appended:
                announcer_a.poke(stream_id)

            heard: set[uuid.UUID] = set()
            async with asyncio.timeout(5):
                while heard != appended:
                    await following.wait()
                    following.clear()
                    heard |= following.woken_for() or set()
    finally:
        await observer.close()

    assert quiet not in heard
    assert len(payloads) == 4
    assert all(len(payload.encode()) < PAYLOAD_LIMIT_BYTES for payload in payloads)


async def test_an_instance_ignores_its_own_announcements(database_url: str) -> None:
    """Its appends woke its subscribers already; the echo through NOTIFY would wake them
    a second time for nothing."""
    hub_a, hub_b = WakeupHub(), WakeupHub()
    ours, later = uuid.uuid4(), uuid.uuid4()
    mine, mine_later = hub_a.subscribe([ours]), hub_a.subscribe([later])
    elsewhere = hub_b.subscribe([ours])
    async with announcing(database_url, hub_a) as announcer_a, listening(
        database_url, hub_a, own_announcer=announcer_a
    ), listening(database_url, hub_b):
        forget(mine, mine_later, elsewhere)
        announcer_a.poke(ours)
        assert mine.woken_for() == {ours}  # at once, in this process
        mine.clear()
        await woken(elsewhere)  # its NOTIFY is committed and on its way to every listener

        # Notifications reach a listener in the order they were committed: once this
        # later one is heard, the echo of the first has been heard too.
        await notify(database_url, str(later))
        await woken(mine_later)

        assert not mine.is_set()


async def test_an_empty_notification_from_an_earlier_release_wakes_everyone(
    database_url: str,
) -> None:
    hub = WakeupHub()
    mine, yours = hub.subscribe([uuid.uuid4()]), hub.subscribe([uuid.uuid4()])
    async with listening(database_url, hub):
        forget(mine, yours)

        await notify(database_url, "")

        await woken(mine)
        await woken(yours)
        assert mine.woken_for() is None and yours.woken_for() is None
