"""Snapshots on real PostgreSQL: a polycule's folded state is kept every few events, a new
instance starts from the latest one instead of the first event, the state it gets is the
one a fold from the first event gives, and a snapshot of another shape is ignored and
replaced."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from ledger import following, snapshots
from ledger.domain.agreements import (
    Agreement,
    AgreementText,
    ClosedProposal,
    Consent,
    EndedAgreement,
    Proposal,
    ProposeAgreement,
    RevokeConsent,
)
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    polycule_decider,
)
from ledger.following import FOLLOWED, PolyculesFollowed
from ledger.privacy import KeyRing
from ledger.service import ApplicationService
from ledger.snapshots import Snapshots
from ledger.store.events import EventStore
from tests.integration.test_state_cache import ReadCountingStore

NOW = datetime.now(UTC)


def stamp(actor: uuid.UUID) -> dict[str, Any]:
    return {"actor": actor, "at": NOW, "command_id": uuid.uuid4()}


def instance(pool: asyncpg.Pool, keyring: KeyRing, store: EventStore | None = None) -> Any:
    return ApplicationService(
        store or EventStore(pool), keyring, snapshots=Snapshots.of(pool, polycule=polycule_decider)
    )


@pytest.fixture(autouse=True)
def every_ten_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "EVERY", 10)


async def lived_in(service: ApplicationService) -> uuid.UUID:
    """A polycule of four with an agreement among them: 17 events."""
    polycule, _ = await lived_in_by(service)
    return polycule


async def lived_in_by(service: ApplicationService) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """``lived_in``, and its members: Robin, who founded it, first."""
    polycule, robin = uuid.uuid4(), uuid.uuid4()
    await service.handle(polycule, polycule_decider, FoundPolycule(
        **stamp(robin), polycule_id=polycule, name="Pancakes", display_name="Robin"
    ))
    members = [robin]
    for index in range(3):
        member = uuid.uuid4()
        await service.handle(polycule, polycule_decider, InviteMember(
            **stamp(robin), invitation_id=uuid.uuid4(), secret_hash=f"s{index}",
            expires_at=NOW + timedelta(days=1),
        ))
        await service.handle(polycule, polycule_decider, AcceptInvitation(
            **stamp(member), secret_hash=f"s{index}", display_name=f"Member {index}"
        ))
        members.append(member)
    proposal = uuid.uuid4()
    await service.handle(polycule, polycule_decider, ProposeAgreement(
        **stamp(robin), proposal_id=proposal, agreement_id=uuid.uuid4(),
        parties=tuple(members), text=AgreementText(
            title="Sundays", terms="Sunday mornings are ours", review_every_days=30
        ),
    ))
    for member in members[1:]:
        await service.handle(polycule, polycule_decider, Consent(
            **stamp(member), proposal_id=proposal, revision=1
        ))
    return polycule, members


async def snapshot_row(pool: asyncpg.Pool, polycule: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT shape, version FROM decider_snapshots WHERE stream_id = $1", polycule
    )


async def test_a_new_instance_starts_from_the_latest_snapshot_with_the_same_state(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    polycule = await lived_in(instance(pool, keyring))
    head = await EventStore(pool).stream_version(polycule)
    kept = await snapshot_row(pool, polycule)
    assert kept is not None and kept["version"] == head - head % 10 > 0

    store = ReadCountingStore(pool)
    state, version = await instance(pool, keyring, store).load(polycule, polycule_decider)

    assert store.reads_after == [kept["version"]]  # not from the first event
    folded, _ = await ApplicationService(EventStore(pool), keyring).load(
        polycule, polycule_decider
    )
    assert (state, version) == (folded, head)
    assert state.agreements.agreements  # a state worth keeping: the agreement in force


async def test_a_snapshot_of_another_shape_is_ignored_and_replaced(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    polycule = await lived_in(instance(pool, keyring))
    current = await snapshot_row(pool, polycule)
    assert current is not None
    await pool.execute(
        "UPDATE decider_snapshots SET shape = 'an older state', state = '{\"founded\": 1}'"
    )

    store = ReadCountingStore(pool)
    state, _ = await instance(pool, keyring, store).load(polycule, polycule_decider)

    assert store.reads_after == [0]
    folded, _ = await ApplicationService(EventStore(pool), keyring).load(
        polycule, polycule_decider
    )
    assert state == folded
    replaced = await snapshot_row(pool, polycule)
    assert replaced is not None and replaced["shape"] == current["shape"]


async def test_a_snapshot_kept_before_the_fold_version_changed_is_ignored_and_replaced(
    pool: asyncpg.Pool, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    current_version = snapshots.FOLD_VERSION
    monkeypatch.setattr(snapshots, "FOLD_VERSION", current_version - 1)
    polycule = await lived_in(instance(pool, keyring))
    older = await snapshot_row(pool, polycule)
    assert older is not None
    monkeypatch.setattr(snapshots, "FOLD_VERSION", current_version)

    store = ReadCountingStore(pool)
    state, _ = await instance(pool, keyring, store).load(polycule, polycule_decider)

    assert store.reads_after == [0]  # folded from the first event, not from the older one
    folded, _ = await ApplicationService(EventStore(pool), keyring).load(
        polycule, polycule_decider
    )
    assert state == folded
    replaced = await snapshot_row(pool, polycule)
    assert replaced is not None and replaced["shape"] != older["shape"]


async def test_open_and_closed_proposals_and_ended_agreements_are_read_back_as_kept(
    pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    service = instance(pool, keyring)
    polycule, (robin, sam, *_) = await lived_in_by(service)
    calls, trips = uuid.uuid4(), uuid.uuid4()
    await service.handle(polycule, polycule_decider, ProposeAgreement(
        **stamp(robin), proposal_id=uuid.uuid4(), agreement_id=calls, parties=(robin, sam),
        text=AgreementText(title="Calls", terms="We call on Fridays"),
    ))
    [proposal] = [p for p in (await service.load(polycule, polycule_decider))[0]
                  .agreements.proposals.values() if p.agreement_id == calls]
    await service.handle(polycule, polycule_decider, Consent(
        **stamp(sam), proposal_id=proposal.proposal_id, revision=1
    ))
    await service.handle(polycule, polycule_decider, RevokeConsent(
        **stamp(sam), agreement_id=calls
    ))
    await service.handle(polycule, polycule_decider, ProposeAgreement(
        **stamp(robin), proposal_id=uuid.uuid4(), agreement_id=trips, parties=(robin, sam),
        text=AgreementText(title="Trips", terms="We plan trips together"),
    ))
    state, version = await service.load(polycule, polycule_decider)
    agreements = state.agreements
    assert {type(agreement) for agreement in agreements.agreements.values()} == {
        Agreement, EndedAgreement
    }
    assert {type(proposal) for proposal in agreements.proposals.values()} == {
        Proposal, ClosedProposal
    }

    await pool.execute("DELETE FROM decider_snapshots WHERE stream_id = $1", polycule)
    kept = Snapshots.of(pool, polycule=polycule_decider)
    await kept.keep(polycule, polycule_decider, state, version)
    assert await kept.latest(polycule, polycule_decider) == (state, version)


async def test_a_follower_started_again_folds_from_its_own_snapshot_not_the_first_event(
    pool: asyncpg.Pool, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook and mail fan-outs follow behind the head, where the service's snapshots
    do not serve them: they keep their own, and a worker started again begins there."""
    monkeypatch.setattr(following, "FOLLOWED_EVERY", 10)
    polycule = await lived_in(instance(pool, keyring))
    events = await EventStore(pool).read_stream(polycule)
    # A worker followed the stream a little behind the head, then stopped.
    await PolyculesFollowed(instance(pool, keyring)).notices(events[:-3])
    followed = await pool.fetchval(
        "SELECT version FROM decider_snapshots WHERE stream_id = $1 AND decider = $2",
        polycule, FOLLOWED,
    )
    assert followed is not None and 10 <= followed <= len(events) - 3

    store = ReadCountingStore(pool)
    state = await PolyculesFollowed(instance(pool, keyring, store)).just_after(events[-1])

    assert store.reads_after == [followed]  # not from the first event
    folded, _ = await ApplicationService(EventStore(pool), keyring).load(
        polycule, polycule_decider
    )
    assert state == folded


async def test_a_follower_stopping_keeps_where_each_polycule_stands_for_the_next_worker(
    pool: asyncpg.Pool, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a worker stops in good order (a deploy), the states it holds are kept where they
    stand, so the worker started after it folds nothing from the stream; a state that has
    not moved far enough since its last snapshot is not written again."""
    monkeypatch.setattr(following, "FOLLOWED_EVERY", 1_000)  # no snapshot while following
    monkeypatch.setattr(following, "KEEP_AT_STOP_AFTER", 5)
    polycule = await lived_in(instance(pool, keyring))
    events = await EventStore(pool).read_stream(polycule)
    stopping = PolyculesFollowed(instance(pool, keyring))
    await stopping.notices(events[:-1])

    assert await stopping.keep_latest() == 1
    assert await stopping.keep_latest() == 0  # nothing moved since
    kept_at = await pool.fetchval(
        "SELECT version FROM decider_snapshots WHERE stream_id = $1 AND decider = $2",
        polycule, FOLLOWED,
    )
    assert kept_at == events[-2].stream_version

    store = ReadCountingStore(pool)
    state = await PolyculesFollowed(instance(pool, keyring, store)).just_after(events[-1])
    assert store.reads_after == []  # nothing folded from the stream
    folded, _ = await ApplicationService(EventStore(pool), keyring).load(
        polycule, polycule_decider
    )
    assert state == folded
