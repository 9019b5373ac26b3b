"""The read side per polycule: commands write their polycule's read models in their own
transaction; a failing event stays in its polycule; rebuilds go polycule by polycule."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
import structlog

from ledger.database import create_pool
from ledger.domain.agreements import ConsentGiven, ProposeAgreement
from ledger.domain.polycules import polycule_decider
from ledger.privacy import KeyRing
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.records import NewEvent
from projections import read_side
from projections.read_side import ReadModelRefused, ReadSide, parked_polycules
from projections.rebuild import catch_up_all, rebuild
from tests.integration.test_agreement_projections import (
    TABLES,
    Polycule,
    command,
    polycule_of,
    table_rows,
    tell_the_story,
    wording,
)


@pytest.fixture
def reads(pool: asyncpg.Pool) -> ReadSide:
    return read_side(pool)


@pytest.fixture
def inline(store: EventStore, keyring: KeyRing, reads: ReadSide) -> ApplicationService:
    """The service as the app builds it: its commands write the read models."""
    return ApplicationService(store, keyring, read_side=reads)


async def a_rebuild_changes_nothing(pool: asyncpg.Pool, reads: ReadSide) -> bool:
    """Whether folding every polycule again from its first event gives the very same rows."""
    before = await table_rows(pool)
    await rebuild(reads)
    return await table_rows(pool) == before


async def versions(pool: asyncpg.Pool) -> dict[uuid.UUID, int]:
    rows = await pool.fetch("SELECT polycule_id, version FROM polycule_read_models")
    return {row["polycule_id"]: row["version"] for row in rows}


async def heads(pool: asyncpg.Pool) -> dict[uuid.UUID, int]:
    rows = await pool.fetch("SELECT stream_id, max(stream_version) FROM events GROUP BY 1")
    return {row[0]: row[1] for row in rows}


async def propose(polycule: Polycule, member: str, title: str, **fields: Any) -> Any:
    return await polycule.service.handle(polycule.id, polycule_decider, command(
        ProposeAgreement, polycule.members[member], proposal_id=fields.pop(
            "proposal_id", uuid.uuid4()
        ), agreement_id=uuid.uuid4(), parties=tuple(polycule.members.values()),
        text=wording(title, "Tell each other first."),
        binds_only_proposer=len(polycule.members) == 1,
    ))


async def poison_recorded(
    pool: asyncpg.Pool, store: EventStore, polycule: Polycule, proposal_id: uuid.UUID,
    member: str,
) -> NewEvent:
    """Record an event the polycule's read models cannot apply: something they hold already
    stands where its row goes, and it is recorded by the store alone (as a service of an
    older version would). The polycule's next command parks its read side on it."""
    version = await store.stream_version(polycule.id)
    await pool.execute(
        "INSERT INTO agreement_timeline (polycule_id, stream_version, agreement_id, at, what) "
        "VALUES ($1, $2, $3, now(), 'Planted')",
        polycule.id, version + 1, uuid.uuid4(),
    )
    poison = NewEvent(
        event_id=uuid.uuid4(), event_type="ConsentGiven",
        schema_version=ConsentGiven.schema_version,
        data={"proposal_id": str(proposal_id), "revision": 1,
              "member_id": str(polycule.members[member])},
    )
    await store.append(polycule.id, version, [poison])
    return poison


async def test_each_command_leaves_the_read_models_at_its_polycules_version(
    inline: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    await tell_the_story(inline, store)
    await tell_the_story(inline, store)

    assert await versions(pool) == await heads(pool)
    rows = await table_rows(pool)
    assert all(rows[table] for table in TABLES)
    assert await a_rebuild_changes_nothing(pool, reads)


async def test_a_command_whose_events_cannot_be_shown_is_refused_whole(
    inline: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    polycule = await polycule_of(inline, store, "ash", "blue")
    other = await polycule_of(inline, store, "cedar")
    planted = uuid.uuid4()
    # A row in the way of the proposal the next command makes.
    await pool.execute(
        "INSERT INTO agreement_proposals (proposal_id, polycule_id, agreement_id, kind, "
        "proposed_by, parties, revision, opened_at, opened_in) "
        "VALUES ($1, $2, $3, 'create', $4, '{}', 1, now(), 0)",
        planted, polycule.id, uuid.uuid4(), uuid.uuid4(),
    )
    before = await store.stream_version(polycule.id)

    with pytest.raises(ReadModelRefused) as refused:
        await propose(polycule, "ash", "Dates", proposal_id=planted)

    assert refused.value.code == "not_recorded"
    assert await store.stream_version(polycule.id) == before  # nothing was written
    assert (await versions(pool))[polycule.id] == before
    # Every other polycule, and this one's other commands, go on.
    assert (await propose(other, "cedar", "Sleep")).views_current
    assert (await propose(polycule, "blue", "Sundays")).views_current
    assert await versions(pool) == await heads(pool)


async def test_an_event_that_cannot_be_applied_parks_its_polycule_alone(
    inline: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    polycule = await polycule_of(inline, store, "ash", "blue")
    other = await polycule_of(inline, store, "cedar")
    first = await propose(polycule, "ash", "Dates")
    version = await store.stream_version(polycule.id)
    poison = await poison_recorded(pool, store, polycule, first.events[0].proposal_id, "blue")

    with structlog.testing.capture_logs() as logs:
        answered = await propose(polycule, "blue", "Sundays")
        again = await propose(polycule, "ash", "Mondays")

    # Recorded and answered with what was decided, its views behind.
    assert not answered.views_current and not again.views_current
    assert await store.stream_version(polycule.id) == again.version > version + 1
    [parked] = await parked_polycules(pool)
    assert (parked.polycule_id, parked.version) == (polycule.id, version)
    assert (parked.event_id, parked.event_type) == (poison.event_id, "ConsentGiven")
    assert "agreement_timeline" in parked.error
    named = [entry for entry in logs if entry["event"] == "polycule_read_models_parked"]
    assert len(named) == 1
    assert named[0]["polycule_id"] == str(polycule.id)
    assert named[0]["event_id"] == str(poison.event_id)
    # Every other polycule goes on as if nothing happened.
    assert (await propose(other, "cedar", "Sleep")).views_current
    assert (await versions(pool))[other.id] == (await heads(pool))[other.id]

    # Still in the way: trying again changes nothing.
    [still] = await reads.retry()
    assert still.parked is not None and still.version == version
    await pool.execute("DELETE FROM agreement_timeline WHERE what = 'Planted'")
    [caught] = await reads.retry()

    assert caught.parked is None and caught.applied == again.version - version
    assert await parked_polycules(pool) == []
    assert await versions(pool) == await heads(pool)
    assert await reads.shows(polycule.id, again.version)
    # The answers given while it was parked are now in its views, as if never parked.
    assert await a_rebuild_changes_nothing(pool, reads)


async def test_a_rebuild_under_writes_loses_nothing_and_never_shows_an_empty_polycule(
    inline: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    polycules = [await polycule_of(inline, store, "ash", "blue") for _ in range(4)]
    for polycule in polycules:
        for title in ("Dates", "Sleep"):
            await propose(polycule, "ash", title)
    stop = asyncio.Event()
    seen: list[int] = []

    async def write(polycule: Polycule) -> int:
        written = 0
        while not stop.is_set():
            assert (await propose(polycule, "blue", f"Rule {written}")).views_current
            written += 1
        return written

    async def read(polycule: Polycule) -> None:
        while not stop.is_set():
            seen.append(await pool.fetchval(
                "SELECT count(*) FROM agreement_proposals WHERE polycule_id = $1", polycule.id
            ))
            await asyncio.sleep(0)

    writers = [asyncio.create_task(write(polycule)) for polycule in polycules]
    readers = [asyncio.create_task(read(polycule)) for polycule in polycules]
    await rebuild(reads, concurrency=2)
    await rebuild(reads, concurrency=3)
    stop.set()
    written = await asyncio.gather(*writers)
    await asyncio.gather(*readers)

    assert sum(written) > 0
    assert min(seen) >= 2  # never an empty or partial polycule
    assert await versions(pool) == await heads(pool)
    assert await a_rebuild_changes_nothing(pool, reads)


async def test_a_polycule_migrated_behind_catches_up_by_its_own_events(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    # Written by the store alone: nothing applied them yet.
    polycule = await polycule_of(service, store, "ash", "blue")
    await propose(polycule, "ash", "Dates")
    untouched = await polycule_of(service, store, "cedar")
    await pool.execute(
        "INSERT INTO polycule_read_models (polycule_id, version) VALUES ($1, -1)",
        untouched.id,
    )

    applied = await catch_up_all(reads)

    assert applied == sum((await heads(pool)).values())
    assert await versions(pool) == await heads(pool)
    assert await pool.fetchval(
        "SELECT count(*) FROM agreement_proposals WHERE polycule_id = $1", polycule.id
    ) == 1


async def test_rebuilds_on_a_connection_that_also_serves_commands_write_the_live_rows(
    database_url: str, store: EventStore, keyring: KeyRing
) -> None:
    # One connection for everything: the statements the commands prepared on it, and
    # those a rebuild prepared beside the live tables, must each keep to their own tables.
    one = await create_pool(database_url, min_size=1, max_size=1)
    try:
        reads = read_side(one)
        inline = ApplicationService(EventStore(one), keyring, read_side=reads)
        await tell_the_story(inline, store)
        written = await table_rows(one)
        for _ in range(2):
            await rebuild(reads)
            assert await table_rows(one) == written
            polycule = await polycule_of(inline, store, "ash", "blue")
            await propose(polycule, "ash", "Dates")
            written = await table_rows(one)
            assert await versions(one) == await heads(one)
        await rebuild(reads, ["agreements"])
        assert await table_rows(one) == written
    finally:
        await one.close()


async def test_a_command_in_a_polycule_marked_for_a_rebuild_rebuilds_it_first(
    inline: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    story = await tell_the_story(inline, store)
    written = await table_rows(pool)
    # As migration 0011 marks a polycule its read models had applied unevenly.
    await pool.execute(
        "UPDATE polycule_read_models SET version = -1 WHERE polycule_id = $1", story.polycule.id
    )

    answered = await propose(story.polycule, "ash", "Sundays")

    assert answered.views_current
    assert await versions(pool) == await heads(pool)
    assert await parked_polycules(pool) == []
    shown = await table_rows(pool)
    assert len(shown["agreement_proposals"]) == len(written["agreement_proposals"]) + 1
    assert await a_rebuild_changes_nothing(pool, reads)
