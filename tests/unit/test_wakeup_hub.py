"""The wake-up hub: an append wakes the followers of its stream and those of every stream,
nobody else; and a round of wake-ups fits PostgreSQL's NOTIFY payloads."""

from __future__ import annotations

import uuid

from ledger.store.wakeups import (
    STREAMS_PER_NOTIFICATION,
    WakeupHub,
    notification_payloads,
    streams_named,
)

# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
PAYLOAD_LIMIT_BYTES = 8000


def test_an_append_wakes_the_followers_of_its_stream_and_nobody_else() -> None:
    hub = WakeupHub()
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    mine, yours, everything = hub.subscribe([ours]), hub.subscribe([theirs]), hub.subscribe()

    hub.wake(ours)

    assert mine.is_set() and mine.woken_for() == {ours}
    assert not yours.is_set()
    assert everything.is_set()
    assert mine.woken_for() == frozenset()  # told once


def test_a_follower_of_several_streams_is_told_which_woke_it() -> None:
    hub = WakeupHub()
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    mine = hub.subscribe([first, second, third])

    hub.wake(first)
    hub.wake(third)
    hub.wake(first)

    assert mine.woken_for() == {first, third}


def test_following_other_streams_replaces_the_ones_followed() -> None:
    hub = WakeupHub()
    before, after = uuid.uuid4(), uuid.uuid4()
    mine = hub.subscribe([before])

    hub.follow(mine, [after])
    hub.wake(before)
    assert not mine.is_set()
    hub.wake(after)
    assert mine.woken_for() == {after}


def test_a_wake_up_for_everything_wakes_every_subscriber_without_naming_a_stream() -> None:
    hub = WakeupHub()
    mine, everything = hub.subscribe([uuid.uuid4()]), hub.subscribe()

    hub.wake_all()

    assert mine.is_set() and mine.woken_for() is None
    assert everything.is_set()


def test_an_unsubscribed_signal_is_not_woken() -> None:
    hub = WakeupHub()
    stream = uuid.uuid4()
    mine, everything = hub.subscribe([stream]), hub.subscribe()

    hub.unsubscribe(mine)
    hub.unsubscribe(everything)
    hub.wake(stream)
    hub.wake_all()

    assert not mine.is_set() and not everything.is_set()


def test_a_round_naming_many_streams_is_split_into_payloads_postgresql_accepts() -> None:
    streams = {uuid.uuid4() for _ in range(5 * STREAMS_PER_NOTIFICATION + 1)}

    payloads = notification_payloads(streams)

    assert len(payloads) == 6
    assert all(len(payload.encode()) < PAYLOAD_LIMIT_BYTES for payload in payloads)
    named: set[uuid.UUID] = set()
    for payload in payloads:
        named |= streams_named(payload) or set()
    assert named == streams
    assert notification_payloads(set()) == []


def test_a_payload_that_names_nothing_readable_means_any_stream() -> None:
    assert streams_named("") is None  # what an earlier release sends
    assert streams_named("not-a-stream") is None
    assert streams_named(f"{uuid.uuid4()} garbage") is None
