"""The application service's cache of folded states, on real PostgreSQL: it reads only what
was appended since, however long it has been kept; it never outlives an erasure it has
heard of, and it looks for the erasures it was not told of every key recheck."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    LeavePolycule,
    polycule_decider,
)
from ledger.privacy import ERASED, KeyOwner, KeyRing, MasterKey
from ledger.service import ApplicationService, StateCache
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


async def test_an_erasure_this_instance_hears_of_drops_every_cached_state(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    service = ApplicationService(EventStore(pool), keyring)
    polycule, sam = await two_member_polycule(service)
    cached, _ = await service.load(polycule, polycule_decider)
    assert cached.display_names[sam] == "Sam"

    await keyring.destroy(KeyOwner("member", sam))
    state, _ = await service.load(polycule, polycule_decider)

    assert state.display_names[sam] == ERASED


async def test_a_cached_state_lives_no_longer_than_a_key_between_rechecks(
    pool: asyncpg.Pool,
) -> None:
    now = [0.0]
    master = MasterKey.generate()
    erasing = KeyRing(pool, master)
    unaware = KeyRing(pool, master, recheck_seconds=60, clock=lambda: now[0])
    service = ApplicationService(
        EventStore(pool), unaware, states=StateCache(unaware)
    )
    polycule, sam = await two_member_polycule(service)
    await service.load(polycule, polycule_decider)

    # Another instance erases Sam, and this one never hears of it.
    await erasing.destroy(KeyOwner("member", sam))
    now[0] = 59.0
    still, _ = await service.load(polycule, polycule_decider)
    now[0] = 60.0
    later, _ = await service.load(polycule, polycule_decider)

    assert still.display_names[sam] == "Sam"
    assert later.display_names[sam] == ERASED


async def test_a_state_kept_for_hours_with_nobody_erased_is_not_folded_again(
    pool: asyncpg.Pool,
) -> None:
    now = [0.0]
    keyring = KeyRing(pool, MasterKey.generate(), recheck_seconds=60, clock=lambda: now[0])
    store = ReadCountingStore(pool)
    service = ApplicationService(store, keyring)
    polycule, sam = await two_member_polycule(service)
    _, version = await service.load(polycule, polycule_decider)

    store.reads_after.clear()
    for hours in range(1, 4):
        now[0] = hours * 3600.0
        state, _ = await service.load(polycule, polycule_decider)

    # Each load read on from the version it kept, never from the first event.
    assert store.reads_after == [version] * 3
    assert state.display_names[sam] == "Sam"


async def test_an_erasure_elsewhere_is_looked_for_once_per_recheck_by_every_load(
    pool: asyncpg.Pool,
) -> None:
    now = [0.0]
    master = MasterKey.generate()
    erasing = KeyRing(pool, master)
    unaware = KeyRing(pool, master, recheck_seconds=60, clock=lambda: now[0])
    service = ApplicationService(EventStore(pool), unaware)
    polycule, sam = await two_member_polycule(service)
    await service.load(polycule, polycule_decider)
    erased_before = unaware.erasures_seen

    await erasing.destroy(KeyOwner("member", sam))
    now[0] = 3600.0  # long after: the first load looks, and finds it
    state, _ = await service.load(polycule, polycule_decider)

    assert unaware.erasures_seen == erased_before + 1
    assert state.display_names[sam] == ERASED
