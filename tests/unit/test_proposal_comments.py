"""Given events, when a member asks a question or comments on a proposal, then a comment or
a refusal: the conversation about a proposal, and that it decides nothing.

Any current member may ask or comment, party or not, while the proposal can still be
answered; a comment needs words; and whatever members say about a proposal, every decision
about it comes out exactly as it would have without a word said.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given as for_any
from hypothesis import settings
from hypothesis import strategies as st

from ledger.domain.agreements import (
    AgreementProposed,
    AgreementText,
    CommentMade,
    Consent,
    ConsentGiven,
    MakeComment,
    Object,
    ProposalRevised,
    Revise,
    Withdraw,
)
from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.errors import DomainError, NotFound
from ledger.events import DomainEvent
from tests.unit.deciders import NOW, by, left, polycule_of, refusal, when

ROBIN, SAM, ALEX, STRANGER = (uuid.uuid4() for _ in range(4))
PROPOSAL, AGREEMENT, COMMENT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
THREE = polycule_of(ROBIN, SAM, ALEX)
TEXT = AgreementText(title="Sundays", terms="We keep Sunday mornings for each other.")


def proposed(respond_by: timedelta | None = None) -> list[DomainEvent]:
    """Robin proposes an agreement between Robin and Sam (their proposal is their yes)."""
    return [
        AgreementProposed(
            proposal_id=PROPOSAL, agreement_id=AGREEMENT, kind="create", proposed_by=ROBIN,
            parties=(ROBIN, SAM), text=TEXT,
            respond_by=NOW + respond_by if respond_by is not None else None,
        ),
        ConsentGiven(proposal_id=PROPOSAL, revision=1, member_id=ROBIN),
    ]


def comment(actor: UUID, text: str = "Does this include brunch?", **more: object) -> MakeComment:
    fields: dict[str, object] = {
        "proposal_id": PROPOSAL, "comment_id": COMMENT, "kind": "question", "text": text,
        **by(actor), **more,
    }
    return MakeComment(**fields)  # type: ignore[arg-type]


def test_a_party_asks_a_question_about_the_revision_they_read() -> None:
    assert when([*THREE, *proposed()], comment(SAM)) == [CommentMade(
        proposal_id=PROPOSAL, comment_id=COMMENT, member_id=SAM, revision=1,
        kind="question", text="Does this include brunch?",
    )]


def test_a_member_who_is_not_a_party_may_comment_too() -> None:
    history = [*THREE, *proposed(), ProposalRevised(
        proposal_id=PROPOSAL, revision=2, parties=(ROBIN, SAM), text=TEXT,
    )]

    [made] = when(history, comment(ALEX, "  Sounds lovely.  ", kind="comment"))

    assert made == CommentMade(
        proposal_id=PROPOSAL, comment_id=COMMENT, member_id=ALEX, revision=2,
        kind="comment", text="Sounds lovely.",
    )


def test_a_comment_needs_words() -> None:
    assert refusal([*THREE, *proposed()], comment(SAM, " \n ")).code == "words_required"


def test_only_current_members_comment() -> None:
    assert refusal([*THREE, *proposed()], comment(STRANGER)).code == "not_a_member"
    assert refusal([*THREE, *proposed(), left(ALEX)], comment(ALEX)).code == "not_a_member"


def test_there_is_no_talking_about_a_proposal_that_does_not_exist() -> None:
    with pytest.raises(NotFound):
        when(THREE, comment(SAM))


def test_a_closed_proposal_takes_no_more_comments() -> None:
    withdrawn = [*THREE, *proposed(), *when([*THREE, *proposed()], Withdraw(
        **by(ROBIN), proposal_id=PROPOSAL
    ))]

    refused = refusal(withdrawn, comment(SAM))

    assert refused.code == "proposal_closed"
    assert refused.details == {"status": "withdrawn"}


def test_a_proposal_past_its_deadline_takes_no_more_comments() -> None:
    history = [*THREE, *proposed(respond_by=timedelta(hours=1))]
    late = comment(SAM, **{"at": NOW + timedelta(hours=1)})

    assert refusal(history, late).code == "proposal_expired"
    assert when(history, comment(SAM, **{"at": NOW + timedelta(minutes=59)}))


# --- Whatever is said, nothing is decided by it --------------------------------------------

MEMBERS = (ROBIN, SAM, ALEX, STRANGER)


def _answer(actor: UUID, revision: int, yes: bool) -> PolyculeCommand:
    if yes:
        return Consent(**by(actor), proposal_id=PROPOSAL, revision=revision)
    return Object(**by(actor), proposal_id=PROPOSAL, revision=revision, reason="not yet")


steps = st.lists(
    st.one_of(
        st.tuples(st.just("answer"), st.sampled_from(MEMBERS), st.integers(1, 3), st.booleans()),
        st.tuples(st.just("revise"), st.sampled_from(MEMBERS), st.just(0), st.just(False)),
        st.tuples(st.just("comment"), st.sampled_from(MEMBERS), st.just(0), st.booleans()),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@for_any(steps=steps)
def test_comments_change_no_decision(steps: list[tuple[str, UUID, int, bool]]) -> None:
    """Played with the comments and without them, the same commands are refused or decide
    the same events, and the state comes out the same: the conversation is words for
    people, never a vote."""
    talking = silent = polycule_decider.fold([*THREE, *proposed()])
    for what, actor, revision, flag in steps:
        command: PolyculeCommand
        if what == "comment":
            command = comment(actor, "Can we talk first?" if flag else "   ")
            proposal = talking.agreements.proposals.get(PROPOSAL)
            may_comment = (
                flag and actor in talking.members and proposal is not None and proposal.is_open
            )
            try:
                made = list(polycule_decider.decide(talking, command))
            except (DomainError, NotFound):
                assert not may_comment
                continue
            assert may_comment
            assert [type(event) for event in made] == [CommentMade]
            for event in made:
                talking = polycule_decider.evolve(talking, event)
            assert talking == silent
            continue
        if what == "revise":
            command = Revise(**by(actor), proposal_id=PROPOSAL, text=TEXT)
        else:
            command = _answer(actor, revision, flag)
        outcomes = []
        for state in (talking, silent):
            try:
                outcomes.append(list(polycule_decider.decide(state, command)))
            except (DomainError, NotFound) as refused:
                outcomes.append([type(refused).__name__, getattr(refused, "code", "")])
        assert outcomes[0] == outcomes[1]
        if outcomes[0] and isinstance(outcomes[0][0], DomainEvent):
            for event in outcomes[0]:
                assert isinstance(event, DomainEvent)
                talking = polycule_decider.evolve(talking, event)
                silent = polycule_decider.evolve(silent, event)
