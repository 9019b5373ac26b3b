"""The hash chain as stored: verification passes on honest history and names tampering."""

from __future__ import annotations

import uuid

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.store.events import EventStore
from ledger.store.verify import verify
from tests.support import new_event, tamper

AWKWARD_TEXT = [
    'she said "tell me first"',
    "back\\slash and a / slash",
    "tab\there, newline\nthere, bell\u0007",
    "emoji 💜🫶, accents: Zoë, Ærø; scripts: 日本語, עברית, العربية",
    "\u2028 line separator and \u00a0 no-break space",
    "",
]


async def test_honest_history_with_awkward_text_verifies(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event(text=text) for text in AWKWARD_TEXT])
    for version, text in enumerate(AWKWARD_TEXT, start=len(AWKWARD_TEXT)):
        await store.append(stream, version, [new_event(text=text, nested={"list": [1, True]})])
    await store.append(uuid.uuid4(), 0, [new_event("FactConfirmed", who="x")])

    async with pool.acquire() as connection:
        report = await verify(connection)

    assert report.ok, [b.describe() for b in report.breaks]
    assert report.streams_checked == 2
    assert report.events_checked == 2 * len(AWKWARD_TEXT) + 1


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payloads=st.lists(
        st.dictionaries(
            st.text(min_size=1, max_size=8).filter(lambda key: "\x00" not in key),
            st.one_of(
                st.text(max_size=30).filter(lambda text: "\x00" not in text),
                st.integers(min_value=-(2**53), max_value=2**53),
                st.booleans(),
                st.none(),
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    )
)
async def test_any_appended_data_verifies(
    store: EventStore, pool: asyncpg.Pool, payloads: list[dict[str, object]]
) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event(**payload) if payload else new_event()
                                   for payload in payloads])
    await store.append(stream, len(payloads), [new_event(last=True)])

    async with pool.acquire() as connection:
        report = await verify(connection, stream)

    assert report.ok, [b.describe() for b in report.breaks]
    assert report.events_checked == len(payloads) + 1


async def test_altered_data_is_found_and_the_event_named(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    stream, other = uuid.uuid4(), uuid.uuid4()
    await store.append(stream, 0, [new_event(n=1), new_event(n=2), new_event(n=3)])
    await store.append(other, 0, [new_event(n=1)])
    altered = (await store.read_stream(stream))[1]

    await tamper(
        pool, "UPDATE events SET data = '{\"n\": 20}' WHERE event_id = $1", altered.event_id
    )
    async with pool.acquire() as connection:
        report = await verify(connection)
        only_other = await verify(connection, other)

    assert [b.event_id for b in report.breaks] == [altered.event_id]
    assert report.breaks[0].stream_version == 2
    assert "altered" in report.breaks[0].reason
    assert str(altered.event_id) in report.breaks[0].describe()
    assert only_other.ok


async def test_a_removed_event_is_found(store: EventStore, pool: asyncpg.Pool) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event(n=1), new_event(n=2), new_event(n=3)])
    removed = (await store.read_stream(stream))[1]

    await tamper(pool, "DELETE FROM events WHERE event_id = $1", removed.event_id)
    async with pool.acquire() as connection:
        report = await verify(connection, stream)

    assert len(report.breaks) == 1
    assert report.breaks[0].stream_version == 3
    assert "missing" in report.breaks[0].reason


async def test_a_rewritten_link_is_found(store: EventStore, pool: asyncpg.Pool) -> None:
    stream = uuid.uuid4()
    await store.append(stream, 0, [new_event(n=1), new_event(n=2)])
    second = (await store.read_stream(stream))[1]

    await tamper(
        pool,
        "UPDATE events SET previous_hash = sha256(previous_hash) WHERE event_id = $1",
        second.event_id,
    )
    async with pool.acquire() as connection:
        report = await verify(connection, stream)

    assert [b.event_id for b in report.breaks] == [second.event_id]
    assert "previous_hash" in report.breaks[0].reason
