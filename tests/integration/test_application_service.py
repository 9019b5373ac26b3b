"""The one command path on real PostgreSQL: load → decide → append, retried on conflict."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    LeavePolycule,
    MemberJoined,
    MemberLeft,
    PolyculeFounded,
    polycule_decider,
)
from ledger.errors import DomainError
from ledger.privacy import KeyRing, as_sealed
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent


def found(polycule: uuid.UUID, actor: uuid.UUID | None = None) -> FoundPolycule:
    return FoundPolycule(
        actor=actor or uuid.uuid4(), at=datetime.now(UTC), command_id=uuid.uuid4(),
        polycule_id=polycule, name="Sunday pancakes", display_name="Robin",
    )


async def test_a_command_is_decided_and_appended_with_its_metadata_and_sealed_words(
    service: ApplicationService, store: EventStore
) -> None:
    polycule, founder = uuid.uuid4(), uuid.uuid4()
    command = found(polycule, founder)

    outcome = await service.handle(polycule, polycule_decider, command, request_id="req-1")

    assert outcome.version == 2
    assert outcome.events == (
        PolyculeFounded(polycule_id=polycule, founder_id=founder, name="Sunday pancakes"),
        MemberJoined(member_id=founder, display_name="Robin"),
    )
    founded, joined = await store.read_stream(polycule)
    assert founded.metadata["actor"] == str(founder)
    assert founded.metadata["command_id"] == str(command.command_id)
    assert founded.metadata["request_id"] == "req-1"
    # Stored sealed, read back opened.
    assert as_sealed(founded.data["name"]) is not None
    assert as_sealed(joined.data["display_name"]) is not None
    assert "Robin" not in str(joined.data)
    state, version = await service.load(polycule, polycule_decider)
    assert state.members == (founder,)
    assert version == 2


async def test_a_retried_command_answers_the_original_outcome_and_writes_nothing(
    service: ApplicationService, store: EventStore
) -> None:
    polycule = uuid.uuid4()
    command = found(polycule)
    first = await service.handle(polycule, polycule_decider, command)

    again = await service.handle(polycule, polycule_decider, command)

    assert again.replayed
    assert again.events == first.events
    assert again.version == first.version
    assert len(await store.read_stream(polycule)) == 2


async def test_concurrent_commands_are_retried_and_decided_on_fresh_state(
    service: ApplicationService, store: EventStore
) -> None:
    polycule = uuid.uuid4()

    outcomes = await asyncio.gather(
        *(service.handle(polycule, polycule_decider, found(polycule)) for _ in range(12)),
        return_exceptions=True,
    )

    founded = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(founded) == 1
    assert len(refused) == 11
    assert all(error.code == "already_founded" for error in refused)
    assert len(await store.read_stream(polycule)) == 2


async def test_a_refused_command_writes_nothing(
    service: ApplicationService, store: EventStore
) -> None:
    polycule = uuid.uuid4()
    await service.handle(polycule, polycule_decider, found(polycule))

    with pytest.raises(DomainError):
        await service.handle(polycule, polycule_decider, found(polycule))

    assert await store.stream_version(polycule) == 2


async def test_an_instance_deciding_on_the_state_it_keeps_never_answers_for_an_old_stream(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    # Two instances, each keeping the states it folded; only one of them sees each write.
    here = ApplicationService(EventStore(pool), keyring)
    elsewhere = ApplicationService(EventStore(pool), keyring)
    polycule, robin, sam = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await here.handle(polycule, polycule_decider, found(polycule, robin), new_command_id=True)
    secret = uuid.uuid4().hex
    await here.handle(polycule, polycule_decider, InviteMember(
        actor=robin, at=datetime.now(UTC), command_id=uuid.uuid4(),
        invitation_id=uuid.uuid4(), secret_hash=secret,
        expires_at=datetime.now(UTC) + timedelta(days=7),
    ))
    await elsewhere.load(polycule, polycule_decider)
    # Sam joins through the other instance; this one still keeps the polycule without Sam.
    await elsewhere.handle(polycule, polycule_decider, AcceptInvitation(
        actor=sam, at=datetime.now(UTC), command_id=uuid.uuid4(), secret_hash=secret,
        display_name="Sam",
    ))

    # Refused on the kept state ("not a member"), decided again on the stream: Sam leaves.
    left = await here.handle(polycule, polycule_decider, LeavePolycule(
        actor=sam, at=datetime.now(UTC), command_id=uuid.uuid4(),
    ), new_command_id=True)

    assert [type(event) for event in left.events] == [MemberLeft]
    assert left.version == 5
    # Appended on the stream as it was, after Sam's joining, never beside it.
    types = [event.event_type for event in await EventStore(pool).read_stream(polycule)]
    assert types == [
        "PolyculeFounded", "MemberJoined", "MemberInvited", "MemberJoined", "MemberLeft"
    ]


class LooksUpThenWaits(EventStore):
    """The real store, except that its first look-up of a command's earlier events waits,
    after answering, until the test lets it go: the moment between "no copy of this command
    is recorded" and deciding, in which another instance records a copy."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.looked = asyncio.Event()
        self.go_on = asyncio.Event()

    async def events_by_id(self, event_ids: Sequence[uuid.UUID]) -> list[RecordedEvent]:
        found = await super().events_by_id(event_ids)
        if not self.looked.is_set():
            self.looked.set()
            await self.go_on.wait()
        return found


async def test_a_copy_recorded_elsewhere_meanwhile_is_the_answer_not_a_refusal(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    # A phone resends a command; the two copies reach two instances at once.
    here = ApplicationService(EventStore(pool), keyring)
    paused = LooksUpThenWaits(pool)
    elsewhere = ApplicationService(paused, keyring)
    polycule = uuid.uuid4()
    command = found(polycule)

    late = asyncio.create_task(elsewhere.handle(polycule, polycule_decider, command))
    await paused.looked.wait()  # elsewhere found no copy yet …
    first = await here.handle(polycule, polycule_decider, command)  # … and here records one
    paused.go_on.set()
    # Decided on the stream as it now is, the copy would be refused ("already founded").
    second = await late

    assert second.replayed
    assert second.events == first.events and second.version == first.version
    assert len(await EventStore(pool).read_stream(polycule)) == 2
