"""Given events, when a member asks again a proposal that was not agreed, then a new
proposal that names it, or a refusal: only a closed proposal of the polycule can be asked
again (an open one is reworded instead)."""

from __future__ import annotations

import uuid
from uuid import UUID

from hypothesis import given as for_any
from hypothesis import settings
from hypothesis import strategies as st

from ledger.domain.agreements import (
    AgreementProposed,
    AgreementText,
    Consent,
    ConsentGiven,
    Object,
    ProposeAgreement,
    Withdraw,
)
from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.errors import DomainError, NotFound
from ledger.events import DomainEvent
from tests.unit.deciders import by, polycule_of, refusal, when

ROBIN, SAM = uuid.uuid4(), uuid.uuid4()
FIRST, AGAIN, AGREEMENT, NEW_AGREEMENT = (uuid.uuid4() for _ in range(4))
TWO = polycule_of(ROBIN, SAM)
TEXT = AgreementText(title="Sundays", terms="We keep Sunday mornings for each other.")
REWORDED = TEXT.model_copy(update={"terms": "We keep Sunday mornings, when neither works."})
FIRST_PROPOSED: list[DomainEvent] = [
    AgreementProposed(proposal_id=FIRST, agreement_id=AGREEMENT, kind="create",
                      proposed_by=ROBIN, parties=(ROBIN, SAM), text=TEXT),
    ConsentGiven(proposal_id=FIRST, revision=1, member_id=ROBIN),
]


def ask_again(asked: UUID = FIRST) -> ProposeAgreement:
    return ProposeAgreement(**by(ROBIN), proposal_id=AGAIN, agreement_id=NEW_AGREEMENT,
                            parties=(ROBIN, SAM), text=REWORDED, asks_again=asked)


def test_a_proposal_someone_said_no_to_is_asked_again_and_named() -> None:
    history = [*TWO, *FIRST_PROPOSED, *when([*TWO, *FIRST_PROPOSED], Object(
        **by(SAM), proposal_id=FIRST, revision=1, reason="I work some Sundays"
    ))]

    proposed, consented = when(history, ask_again())

    assert isinstance(proposed, AgreementProposed) and proposed.asks_again == FIRST
    assert proposed.text == REWORDED
    assert consented == ConsentGiven(proposal_id=AGAIN, revision=1, member_id=ROBIN)


def test_an_open_proposal_is_reworded_not_asked_again() -> None:
    assert refusal([*TWO, *FIRST_PROPOSED], ask_again()).code == "asked_while_open"


def test_only_a_proposal_of_this_polycule_is_asked_again() -> None:
    assert refusal([*TWO, *FIRST_PROPOSED], ask_again(uuid.uuid4())).code == "not_asked_before"


closings = st.lists(
    st.sampled_from(["yes", "no", "withdraw", "again"]), min_size=1, max_size=6
)


@settings(max_examples=100, deadline=None)
@for_any(steps=closings)
def test_asking_again_is_accepted_exactly_when_the_proposal_is_closed(steps: list[str]) -> None:
    """Whatever happened to the first proposal, asking it again is accepted exactly when
    it is no longer open, and never changes it."""
    state = polycule_decider.fold([*TWO, *FIRST_PROPOSED])
    for step in steps:
        command: PolyculeCommand
        if step == "again":
            command = ProposeAgreement(
                **by(ROBIN), proposal_id=uuid.uuid4(), agreement_id=uuid.uuid4(),
                parties=(ROBIN, SAM), text=REWORDED, asks_again=FIRST,
            )
        elif step == "withdraw":
            command = Withdraw(**by(ROBIN), proposal_id=FIRST)
        elif step == "yes":
            command = Consent(**by(SAM), proposal_id=FIRST, revision=1)
        else:
            command = Object(**by(SAM), proposal_id=FIRST, revision=1, reason="not yet")
        first_open = state.agreements.proposals[FIRST].is_open
        try:
            events = list(polycule_decider.decide(state, command))
        except (DomainError, NotFound) as refused:
            if step == "again":
                assert first_open and getattr(refused, "code", "") == "asked_while_open"
            continue
        if step == "again":
            assert not first_open
            assert [e.asks_again for e in events if isinstance(e, AgreementProposed)] == [FIRST]
        for event in events:
            state = polycule_decider.evolve(state, event)
        if step == "again":
            assert state.agreements.proposals[FIRST].is_open == first_open
