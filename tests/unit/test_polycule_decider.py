"""Given events, when a command, then events or an error — the founding of a polycule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ledger.domain.polycules import FoundPolycule, PolyculeFounded, polycule_decider
from ledger.errors import DomainError

FOUNDER = uuid.uuid4()
POLYCULE = uuid.uuid4()


def found(actor: uuid.UUID = FOUNDER) -> FoundPolycule:
    return FoundPolycule(
        actor=actor, at=datetime(2026, 11, 23, tzinfo=UTC), command_id=uuid.uuid4(),
        polycule_id=POLYCULE,
    )


def test_founding_records_the_founder() -> None:
    state = polycule_decider.fold([])

    assert polycule_decider.decide(state, found()) == [
        PolyculeFounded(polycule_id=POLYCULE, founder_id=FOUNDER)
    ]


def test_a_polycule_is_founded_once() -> None:
    state = polycule_decider.fold([PolyculeFounded(polycule_id=POLYCULE, founder_id=FOUNDER)])

    with pytest.raises(DomainError) as refused:
        polycule_decider.decide(state, found(actor=uuid.uuid4()))

    assert refused.value.code == "already_founded"
    assert state.founder_id == FOUNDER
