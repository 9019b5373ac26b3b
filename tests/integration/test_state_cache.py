"""The application service's cache of folded states, on real PostgreSQL: it reads only what
was appended since, however long it has been kept; a state holds no one's words, so an
erasure changes nothing in it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ledger.domain.agreements import Agreement, AgreementText, ProposeAgreement
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    LeavePolycule,
    polycule_decider,
)
from ledger.privacy import KeyOwner, KeyRing
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent

NOW = datetime.now(UTC)


class ReadCountingStore(EventStore):
    """The real store, remembering from which version each stream read started."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.reads_after: list[int] = []

    async def read_stream(
        self, stream_id: uuid.UUID, after_version: int = 0, **kwargs: Any
    ) -> list[RecordedEvent]:
        self.reads_after.append(after_version)
        return await super().read_stream(stream_id, after_version, **kwargs)


def stamp(actor: uuid.UUID) -> dict[str, Any]:
    return {"actor": actor, "at": NOW, "command_id": uuid.uuid4()}


async def two_member_polycule(service: ApplicationService) -> tuple[uuid.UUID, uuid.UUID]:
    polycule, robin, sam = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await service.handle(polycule, polycule_decider, FoundPolycule(
        **stamp(robin), polycule_id=polycule, name="Pancakes", display_name="Robin"
    ))
    await service.handle(polycule, polycule_decider, InviteMember(
        **stamp(robin), invitation_id=uuid.uuid4(), secret_hash="s",
        expires_at=NOW + timedelta(days=1),
    ))
    await service.handle(polycule, polycule_decider, AcceptInvitation(
        **stamp(sam), secret_hash="s", display_name="Sam"
    ))
    return polycule, sam


async def test_a_second_load_reads_only_what_was_appended_since(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    store = ReadCountingStore(pool)
    service = ApplicationService(store, keyring)
    polycule, sam = await two_member_polycule(service)
    store.reads_after.clear()

    first, version = await service.load(polycule, polycule_decider)
    # Another instance (its own store and cache) appends; this one has not seen it.
    other = ApplicationService(EventStore(pool), keyring)
    await other.handle(polycule, polycule_decider, LeavePolycule(**stamp(sam)))
    after, new_version = await service.load(polycule, polycule_decider)

    # The state kept after its own last write was current: read from there, nothing new.
    assert store.reads_after[0] == version == 4
    # Then only the event appended elsewhere is read.
    assert store.reads_after[-1] == version and new_version == version + 1
    assert sam in first.members and sam not in after.members
    fresh, _ = await ApplicationService(EventStore(pool), keyring).load(polycule, polycule_decider)
    assert fresh == after


async def test_a_folded_state_holds_no_ones_words_and_outlives_an_erasure(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    store = ReadCountingStore(pool)
    service = ApplicationService(store, keyring)
    polycule, sam = await two_member_polycule(service)
    await service.handle(polycule, polycule_decider, ProposeAgreement(
        **stamp(sam), proposal_id=uuid.uuid4(), agreement_id=uuid.uuid4(),
        parties=(sam,), text=AgreementText(
            title="Quiet Sundays", terms="Sunday mornings are for pancakes", review_every_days=30,
        ), binds_only_proposer=True,
    ))
    folded, version = await ApplicationService(EventStore(pool), keyring).load(
        polycule, polycule_decider
    )

    # Names, titles, terms: none of them is in the state, opened or sealed.
    for words in ("Pancakes", "Robin", "Sam", "Quiet Sundays", "pancakes", "'ct'"):
        assert words not in repr(folded)
    # The cadence it decides with is kept (by the agreement in force, its proposal closed).
    [agreement] = folded.agreements.agreements.values()
    assert isinstance(agreement, Agreement)
    assert agreement.review_every_days == 30

    # An erasure changes nothing in a state: it is used on, not folded again.
    await keyring.destroy(KeyOwner("member", sam))
    store.reads_after.clear()
    kept, _ = await service.load(polycule, polycule_decider)
    assert store.reads_after == [version]
    assert kept == folded


async def test_a_kept_state_is_used_load_after_load_and_never_folded_again(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    # It has no time limit: nothing in a state is opened text that must not outlive a key.
    store = ReadCountingStore(pool)
    service = ApplicationService(store, keyring)
    polycule, sam = await two_member_polycule(service)
    _, version = await service.load(polycule, polycule_decider)

    store.reads_after.clear()
    for _ in range(3):
        state, _ = await service.load(polycule, polycule_decider)

    # Each load read on from the version it kept, never from the first event.
    assert store.reads_after == [version] * 3
    assert sam in state.members
