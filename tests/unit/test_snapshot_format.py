"""How a decider's state is written as a snapshot and read back: exactly as it was, and
without Python's cycle collector walking the state again and again while it is made."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.domain.agreements import (
    AgreementEnded,
    AgreementProposed,
    AgreementRatified,
    AgreementText,
    ConsentGiven,
    ProposalWithdrawn,
)
from ledger.domain.polycules import Polycule, polycule_decider
from ledger.events import DomainEvent
from ledger.snapshots import SnapshotFormat
from tests.unit.deciders import NOW, given, polycule_of

ROBIN, SAM = uuid.uuid4(), uuid.uuid4()


def years_of(agreements: int) -> Polycule:
    """Robin and Sam, who made ``agreements`` agreements and ended each, and withdrew as
    many proposals: a state of thousands of objects."""
    events: list[DomainEvent] = list(polycule_of(ROBIN, SAM))
    text = AgreementText(title="Sundays", terms="Sunday mornings are ours")
    for _ in range(agreements):
        made, withdrawn, agreement = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        events += [
            AgreementProposed(proposal_id=made, agreement_id=agreement, kind="create",
                              proposed_by=ROBIN, parties=(ROBIN, SAM), text=text),
            ConsentGiven(proposal_id=made, revision=1, member_id=ROBIN),
            ConsentGiven(proposal_id=made, revision=1, member_id=SAM),
            AgreementRatified(agreement_id=agreement, proposal_id=made, revision=1, version=1,
                              parties=(ROBIN, SAM), at=NOW),
            AgreementProposed(proposal_id=withdrawn, agreement_id=agreement, kind="end",
                              proposed_by=SAM, parties=(ROBIN, SAM), text=None,
                              base_version=1),
            ProposalWithdrawn(proposal_id=withdrawn, member_id=SAM),
            AgreementEnded(agreement_id=agreement, version=1, reason="revoked", at=NOW,
                           member_id=SAM),
        ]
    return given(*events)


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations the cycle collector walks while the test runs."""
    walked: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            walked.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        yield walked
    finally:
        gc.callbacks.remove(seen)


def test_a_state_is_read_back_as_it_was_written() -> None:
    state = years_of(50)
    written = SnapshotFormat("polycule", polycule_decider)

    assert written.load(written.dump(state)) == state


def test_reading_a_state_of_years_makes_the_collector_walk_it_once_at_most(
    collections: list[int],
) -> None:
    """Not every few hundred objects while they are made (a dozen times for this one):
    once, when the collector runs again after the read (its young generations, or all of
    them if its own schedule says so then)."""
    written = SnapshotFormat("polycule", polycule_decider)
    data = written.dump(years_of(500))
    assert gc.isenabled()
    collections.clear()

    written.load(data)

    assert len(collections) <= 1
    assert gc.isenabled()


def test_a_collector_turned_off_stays_off(collections: list[int]) -> None:
    written = SnapshotFormat("polycule", polycule_decider)
    data = written.dump(years_of(5))
    gc.disable()
    try:
        written.load(data)
        assert not gc.isenabled()
    finally:
        gc.enable()
