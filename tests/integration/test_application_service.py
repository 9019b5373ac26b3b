"""The one command path on real PostgreSQL: load → decide → append, retried on conflict."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from ledger.domain.polycules import FoundPolycule, MemberJoined, PolyculeFounded, polycule_decider
from ledger.errors import DomainError
from ledger.privacy import as_sealed
from ledger.service import ApplicationService
from ledger.store.events import EventStore


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
