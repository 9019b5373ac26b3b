"""Commands of several polycules that arrive while others are being committed are
committed together, in one transaction; when that transaction cannot be made, each command
is made alone, and one polycule's trouble stays in that polycule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from ledger.privacy import KeyRing
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from projections.read_side import ReadModelRefused, ReadSide
from tests.integration.test_agreement_projections import Polycule, polycule_of
from tests.integration.test_read_side import (
    a_rebuild_changes_nothing,
    heads,
    poison_recorded,
    propose,
    versions,
)


@pytest.fixture
def one_at_a_time(store: EventStore, keyring: KeyRing, reads: ReadSide) -> ApplicationService:
    """The service as the app builds it, committing one transaction at a time."""
    return ApplicationService(store, keyring, read_side=reads, commits_at_once=1)


@pytest.fixture
def reads(pool: asyncpg.Pool) -> ReadSide:
    from projections import read_side

    return read_side(pool)


@asynccontextmanager
async def first_command_held(
    pool: asyncpg.Pool, polycule: Polycule
) -> AsyncIterator[None]:
    """Hold ``polycule``'s read-model row: its next command stays in flight, uncommitted,
    until the block ends."""
    holder = await pool.acquire()
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute(
        "SELECT 1 FROM polycule_read_models WHERE polycule_id = $1 FOR UPDATE", polycule.id
    )
    try:
        yield
    finally:
        await transaction.rollback()
        await pool.release(holder)


async def until(condition: Any) -> None:
    """Until ``condition()`` holds (what it watches is another connection's state, which no
    event of ours announces); a generous bound turns a hang into a failure."""
    async with asyncio.timeout(120):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def commands_behind_a_held_one(
    pool: asyncpg.Pool,
    service: ApplicationService,
    held: Polycule,
    others: list[Polycule],
    each: Any,
) -> tuple[Any, list[Any]]:
    """Send ``held``'s command, and while it waits in flight, every other polycule's; then
    let them all go. The outcomes (or errors) of the held one and of the others."""

    # On Citus the held command waits on its polycule's worker, seen in the cluster's view.
    on_citus = await pool.fetchval("SELECT to_regclass('citus_stat_activity') IS NOT NULL")
    activity = "citus_stat_activity" if on_citus else "pg_stat_activity"

    async def blocked() -> bool:
        return bool(await pool.fetchval(
            f"SELECT count(*) FROM {activity} WHERE wait_event_type = 'Lock'"
        ))

    async with first_command_held(pool, held):
        first = asyncio.create_task(each(held))
        await until(blocked)
        rest: list[Awaitable[Any]] = [asyncio.create_task(each(polycule)) for polycule in others]

        async def all_waiting() -> bool:
            return service.commands_waiting == len(others)

        await until(all_waiting)
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    return results[0], list(results[1:])


async def two_member_polycules(
    service: ApplicationService, store: EventStore, count: int
) -> list[Polycule]:
    """``count`` polycules, the n-th of members ``ash{n}`` and ``blue{n}``."""
    return [await polycule_of(service, store, f"ash{n}", f"blue{n}") for n in range(count)]


async def together_in_transactions(pool: asyncpg.Pool) -> list[set[uuid.UUID]]:
    """The polycules of each transaction that proposed agreements in more than one."""
    transactions = await pool.fetch(
        "SELECT transaction_id, array_agg(DISTINCT stream_id) AS streams FROM events "
        "WHERE event_type = 'AgreementProposed' GROUP BY transaction_id"
    )
    return [set(row["streams"]) for row in transactions if len(row["streams"]) > 1]


async def test_commands_arriving_together_are_committed_in_one_transaction(
    one_at_a_time: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    polycules = await two_member_polycules(one_at_a_time, store, 6)

    first, rest = await commands_behind_a_held_one(
        pool, one_at_a_time, polycules[0], polycules[1:],
        lambda polycule: propose(polycule, next(iter(polycule.members)), "Sundays"),
    )

    assert first.views_current and all(outcome.views_current for outcome in rest)
    # The five that waited share one transaction; the held one had its own.
    assert await together_in_transactions(pool) == [{polycule.id for polycule in polycules[1:]}]
    # Each polycule's read models show exactly its own command, as if it had come alone.
    assert await versions(pool) == await heads(pool)
    for polycule, outcome in zip(polycules, [first, *rest], strict=True):
        assert await reads.shows(polycule.id, outcome.version)
    assert await a_rebuild_changes_nothing(pool, reads)


async def test_a_command_that_cannot_be_shown_is_refused_alone_and_the_others_go_on(
    one_at_a_time: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    polycules = await two_member_polycules(one_at_a_time, store, 5)
    poisoned = polycules[2]
    planted = uuid.uuid4()
    # A row in the way of the proposal the poisoned polycule's command makes.
    await pool.execute(
        "INSERT INTO agreement_proposals (proposal_id, polycule_id, agreement_id, kind, "
        "proposed_by, parties, revision, opened_at, opened_in) "
        "VALUES ($1, $2, $3, 'create', $4, '{}', 1, now(), 0)",
        planted, poisoned.id, uuid.uuid4(), uuid.uuid4(),
    )
    before = await store.stream_version(poisoned.id)

    async def proposal(polycule: Polycule) -> Any:
        fields = {"proposal_id": planted} if polycule is poisoned else {}
        return await propose(polycule, next(iter(polycule.members)), "Sundays", **fields)

    _, rest = await commands_behind_a_held_one(
        pool, one_at_a_time, polycules[0], polycules[1:], proposal
    )

    refused = rest[polycules.index(poisoned) - 1]
    assert isinstance(refused, ReadModelRefused)
    assert await store.stream_version(poisoned.id) == before  # nothing of it was written
    for polycule, outcome in zip(polycules[1:], rest, strict=True):
        if polycule is not poisoned:
            assert outcome.views_current
            assert await reads.shows(polycule.id, outcome.version)
    assert await versions(pool) == await heads(pool)


async def test_a_parked_polycule_goes_alone_until_shown_again_and_the_others_stay_together(
    one_at_a_time: ApplicationService, store: EventStore, pool: asyncpg.Pool, reads: ReadSide
) -> None:
    polycules = await two_member_polycules(one_at_a_time, store, 6)
    parked = polycules[2]
    first = await propose(parked, "ash2", "Dates")
    await poison_recorded(pool, store, parked, first.events[0].proposal_id, "blue2")
    healthy = {polycule.id for polycule in polycules[1:] if polycule is not parked}

    def each(polycule: Polycule) -> Any:
        return propose(polycule, next(iter(polycule.members)), "Sundays")

    # The parked polycule's first command spoils the transaction it is put in: everyone's
    # is made again alone, and it is recorded with its views behind.
    _, spoiled = await commands_behind_a_held_one(
        pool, one_at_a_time, polycules[0], polycules[1:], each
    )
    assert await together_in_transactions(pool) == []
    # From then on it goes alone, and the others are committed together without it.
    _, rest = await commands_behind_a_held_one(
        pool, one_at_a_time, polycules[0], polycules[1:], each
    )

    assert await together_in_transactions(pool) == [healthy]
    for polycule, before, after in zip(polycules[1:], spoiled, rest, strict=True):
        assert before.views_current == after.views_current == (polycule is not parked)
    assert await store.stream_version(parked.id) == rest[polycules.index(parked) - 1].version
    for polycule in polycules:
        if polycule is not parked:
            assert await reads.shows(polycule.id, await store.stream_version(polycule.id))

    # Its cause removed and its read side caught up, its next command (still alone) is
    # shown, and the one after that joins the others' transaction again.
    await pool.execute("DELETE FROM agreement_timeline WHERE what = 'Planted'")
    await reads.retry()
    _, healed = await commands_behind_a_held_one(
        pool, one_at_a_time, polycules[0], polycules[1:], each
    )
    _, joined = await commands_behind_a_held_one(
        pool, one_at_a_time, polycules[0], polycules[1:], each
    )

    assert all(outcome.views_current for outcome in [*healed, *joined])
    everyone = {polycule.id for polycule in polycules[1:]}
    assert sorted(map(len, await together_in_transactions(pool))) == [4, 4, 5]
    assert everyone in await together_in_transactions(pool)
    assert await versions(pool) == await heads(pool)
