"""Consent and time under real concurrency on PostgreSQL: two service instances, each with
its own pool (its own connections), deciding on the same polycule at the same moment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from ledger.database import create_pool
from ledger.domain.agreements import AgreementText, Consent, ProposeAgreement
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    PolyculeCommand,
    polycule_decider,
)
from ledger.errors import ConcurrencyError
from ledger.privacy import KeyRing
from ledger.scheduler import Scheduler, due_command_id
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.records import AppendResult
from projections.schedule import due_reviews, expired_proposals
from tests.support import read_models_caught_up

NOW = datetime.now(UTC)


def stamp(actor: uuid.UUID, at: datetime = NOW) -> dict[str, object]:
    return {"actor": actor, "at": at, "command_id": uuid.uuid4()}


@pytest.fixture
async def second_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


class CountingStore(EventStore):
    """The real store, counting the appends it refused because the stream had moved on."""

    refused = 0

    async def append(self, *args: Any, **kwargs: Any) -> AppendResult:
        try:
            return await super().append(*args, **kwargs)
        except ConcurrencyError:
            CountingStore.refused += 1
            raise


def instance(pool: asyncpg.Pool, keyring: KeyRing) -> ApplicationService:
    """A service instance of its own: own pool, own cache of stream heads."""
    return ApplicationService(CountingStore(pool), keyring)


async def polycule_with(
    service: ApplicationService, *members: uuid.UUID
) -> uuid.UUID:
    polycule = uuid.uuid4()
    founder, *others = members
    commands: list[PolyculeCommand] = [FoundPolycule(
        **stamp(founder), polycule_id=polycule, name="Kitchen table", display_name="F"
    )]
    for index, other in enumerate(others):
        secret = f"secret-{index}"
        commands += [
            InviteMember(**stamp(founder), invitation_id=uuid.uuid4(), secret_hash=secret,
                         expires_at=NOW + timedelta(days=1)),
            AcceptInvitation(**stamp(other), secret_hash=secret, display_name="M"),
        ]
    for command in commands:
        await service.handle(polycule, polycule_decider, command)
    return polycule


def text(review_every_days: int | None = None) -> AgreementText:
    return AgreementText(
        title="Weeknights", terms="We sleep at home on weeknights.", category="time",
        review_every_days=review_every_days,
    )


async def test_the_last_two_consents_at_once_make_one_ratification_and_lose_nothing(
    pool: asyncpg.Pool, second_pool: asyncpg.Pool, keyring: KeyRing, store: EventStore
) -> None:
    CountingStore.refused = 0
    for _ in range(10):
        await last_two_consents_at_once(
            instance(pool, keyring), instance(second_pool, keyring), store
        )
    # The race was real: at least once both decided on the same version and one append
    # was refused (then read again, decided again, and recorded its consent).
    assert CountingStore.refused >= 1


async def last_two_consents_at_once(
    first: ApplicationService, second: ApplicationService, store: EventStore
) -> None:
    ash, bo, cy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    polycule = await polycule_with(first, ash, bo, cy)
    proposal = uuid.uuid4()
    await first.handle(polycule, polycule_decider, ProposeAgreement(
        **stamp(ash), proposal_id=proposal, agreement_id=uuid.uuid4(),
        parties=(ash, bo, cy), text=text(),
    ))
    # Both instances have read the stream at this version before either consents.
    await first.load(polycule, polycule_decider)
    await second.load(polycule, polycule_decider)

    await asyncio.gather(
        first.handle(polycule, polycule_decider, Consent(
            **stamp(bo), proposal_id=proposal, revision=1
        )),
        second.handle(polycule, polycule_decider, Consent(
            **stamp(cy), proposal_id=proposal, revision=1
        )),
    )

    events = await store.read_stream(polycule)
    kinds = [event.event_type for event in events]
    consents = {
        event.data["member_id"] for event in events if event.event_type == "ConsentGiven"
    }
    assert kinds.count("AgreementRatified") == 1
    assert consents == {str(ash), str(bo), str(cy)}
    # Ratified in the same append as the last consent: nothing between them.
    assert kinds[-2:] == ["ConsentGiven", "AgreementRatified"]
    assert [event.stream_version for event in events] == list(range(1, len(events) + 1))


async def test_two_schedulers_mark_a_review_due_once(
    pool: asyncpg.Pool, second_pool: asyncpg.Pool, keyring: KeyRing, store: EventStore
) -> None:
    first, second = instance(pool, keyring), instance(second_pool, keyring)
    ash = uuid.uuid4()
    polycule = await polycule_with(first, ash)
    await first.handle(polycule, polycule_decider, ProposeAgreement(
        **stamp(ash), proposal_id=uuid.uuid4(), agreement_id=uuid.uuid4(),
        parties=(ash,), text=text(review_every_days=30), binds_only_proposer=True,
    ))
    await read_models_caught_up(pool)
    month_later = NOW + timedelta(days=31)
    schedulers = [
        Scheduler(pool, first, lambda: month_later),
        Scheduler(second_pool, second, lambda: month_later),
    ]
    early = Scheduler(pool, first, lambda: NOW + timedelta(days=29))

    assert await early.tick() == 0
    changed = await asyncio.gather(*(scheduler.tick() for scheduler in schedulers))
    await read_models_caught_up(pool)
    again = await schedulers[0].tick()

    kinds = [event.event_type for event in await store.read_stream(polycule)]
    assert kinds.count("ReviewBecameDue") == 1
    # Each found it due (the one that came second is answered with the first's outcome).
    assert 1 <= sum(changed) <= 2 and again == 0


async def test_two_schedulers_finding_the_same_things_due_send_the_same_commands(
    pool: asyncpg.Pool, second_pool: asyncpg.Pool, keyring: KeyRing, store: EventStore
) -> None:
    """Two workers over one database, each with its own connections and its own view of
    the streams, tick at once, again and again: every review falls due once and every
    deadline passes once, and what each recorded is the command made from what fell due
    (the agreement, its version and its review date; the proposal and its deadline)."""
    first, second = instance(pool, keyring), instance(second_pool, keyring)
    ash, bo = uuid.uuid4(), uuid.uuid4()
    polycules = [await polycule_with(first, ash, bo) for _ in range(4)]
    reviewed: dict[uuid.UUID, uuid.UUID] = {}
    expiring: dict[uuid.UUID, uuid.UUID] = {}
    for polycule in polycules:
        reviewed[polycule] = uuid.uuid4()
        await first.handle(polycule, polycule_decider, ProposeAgreement(
            **stamp(ash), proposal_id=uuid.uuid4(), agreement_id=reviewed[polycule],
            parties=(ash,), text=text(review_every_days=30), binds_only_proposer=True,
        ))
        expiring[polycule] = uuid.uuid4()
        await first.handle(polycule, polycule_decider, ProposeAgreement(
            **stamp(ash), proposal_id=expiring[polycule], agreement_id=uuid.uuid4(),
            parties=(ash, bo), text=text(), respond_by=NOW + timedelta(days=7),
        ))
    await read_models_caught_up(pool)
    month_later = NOW + timedelta(days=31)
    both = [
        Scheduler(pool, first, lambda: month_later),
        Scheduler(second_pool, second, lambda: month_later),
    ]
    reviews = {row[1]: row[3] for row in await due_reviews(pool, month_later)}
    deadlines = {row[1]: row[2] for row in await expired_proposals(pool, month_later)}
    assert set(reviews) == set(reviewed.values())
    assert set(deadlines) == set(expiring.values())

    for _ in range(3):
        await asyncio.gather(*(scheduler.tick() for scheduler in both))
    await read_models_caught_up(pool)

    for polycule in polycules:
        events = await store.read_stream(polycule)
        due = [event for event in events if event.event_type == "ReviewBecameDue"]
        expired = [event for event in events if event.event_type == "ProposalExpired"]
        assert len(due) == 1 and len(expired) == 1
        agreement, proposal = reviewed[polycule], expiring[polycule]
        assert due[0].metadata["command_id"] == str(
            due_command_id("review", agreement, 1, reviews[agreement])
        )
        assert expired[0].metadata["command_id"] == str(
            due_command_id("deadline", proposal, deadlines[proposal])
        )

