"""Given events, when a command, then events or an error — agreements and their proposals.

Every command goes through the polycule's decider, as the service sends it: the agreement
rules are decided against the polycule's current members.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from ledger.domain.agreements import (
    AgreementEnded,
    AgreementProposed,
    AgreementRatified,
    AgreementReaffirmed,
    AgreementText,
    Answered,
    Consent,
    ConsentGiven,
    Definition,
    ExpireProposal,
    MarkReviewDue,
    Object,
    ObjectionRaised,
    ProposalExpired,
    ProposalLapsed,
    ProposalRejected,
    ProposalRevised,
    ProposalWithdrawn,
    ProposeAgreement,
    ProposeAmendment,
    ProposeEnding,
    Reaffirm,
    RequestReview,
    ReviewBecameDue,
    ReviewCompleted,
    ReviewRequested,
    Revise,
    RevokeConsent,
    Withdraw,
    awaited,
)
from ledger.domain.polycules import (
    LeavePolycule,
    polycule_decider,
)
from ledger.errors import DomainError, NotFound, NotPermitted
from ledger.events import DomainEvent
from tests.unit.deciders import (
    NOW,
    by,
    given,
    left,
    polycule_of,
    refusal,
    when,
)

ROBIN, SAM, ALEX, KIM = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
STRANGER = uuid.uuid4()
AGREEMENT, OTHER_AGREEMENT = uuid.uuid4(), uuid.uuid4()
PROPOSAL, AMENDMENT, ENDING = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
CADENCE = 90


def dates_text(review_every_days: int | None = CADENCE) -> AgreementText:
    return AgreementText(
        title="Telling before dates",
        terms="We tell each other before a date with someone new.",
        definitions=(
            Definition(word="tell", meaning="a message, at least a day ahead"),
            Definition(word="date", meaning="a planned romantic evening"),
        ),
        category="disclosure",
        if_broken="We talk about it within a week.",
        review_every_days=review_every_days,
    )


def revised_text() -> AgreementText:
    return dates_text().model_copy(update={"terms": "We tell each other two days before."})


# --- Histories ---------------------------------------------------------------------------


def proposed(
    *parties: UUID,
    by_member: UUID = ROBIN,
    proposal_id: UUID = PROPOSAL,
    agreement_id: UUID = AGREEMENT,
    text: AgreementText | None = None,
    respond_by: datetime | None = None,
) -> AgreementProposed:
    return AgreementProposed(
        proposal_id=proposal_id,
        agreement_id=agreement_id,
        kind="create",
        proposed_by=by_member,
        parties=parties,
        text=text or dates_text(),
        respond_by=respond_by,
    )


def consented(member: UUID, proposal_id: UUID = PROPOSAL, revision: int = 1) -> ConsentGiven:
    return ConsentGiven(proposal_id=proposal_id, revision=revision, member_id=member)


def ratified(
    *parties: UUID,
    proposal_id: UUID = PROPOSAL,
    agreement_id: UUID = AGREEMENT,
    revision: int = 1,
    version: int = 1,
    at: datetime = NOW,
) -> AgreementRatified:
    return AgreementRatified(
        agreement_id=agreement_id,
        proposal_id=proposal_id,
        revision=revision,
        version=version,
        parties=parties,
        at=at,
        next_review_at=at + timedelta(days=CADENCE),
    )


def in_force(*parties: UUID, agreement_id: UUID = AGREEMENT) -> list[DomainEvent]:
    """A new agreement that every party consented to: version 1, in force since NOW."""
    proposal_id = uuid.uuid4()
    return [
        proposed(*parties, by_member=parties[0], proposal_id=proposal_id,
                 agreement_id=agreement_id),
        *(consented(party, proposal_id) for party in parties),
        ratified(*parties, proposal_id=proposal_id, agreement_id=agreement_id),
    ]


def amendment_proposed(
    *parties: UUID, by_member: UUID = ROBIN, base_version: int = 1
) -> AgreementProposed:
    return AgreementProposed(
        proposal_id=AMENDMENT,
        agreement_id=AGREEMENT,
        kind="amend",
        proposed_by=by_member,
        parties=parties,
        text=revised_text(),
        base_version=base_version,
    )


THREE = polycule_of(ROBIN, SAM, ALEX)


# --- Proposing ---------------------------------------------------------------------------


def test_a_proposal_is_its_proposers_consent() -> None:
    command = ProposeAgreement(**by(ROBIN), proposal_id=PROPOSAL, agreement_id=AGREEMENT,
                               parties=(ROBIN, SAM), text=dates_text())

    assert when(THREE, command) == [proposed(ROBIN, SAM), consented(ROBIN)]


def test_a_member_may_propose_an_agreement_between_others() -> None:
    command = ProposeAgreement(**by(ALEX), proposal_id=PROPOSAL, agreement_id=AGREEMENT,
                               parties=(ROBIN, SAM), text=dates_text())

    assert when(THREE, command) == [proposed(ROBIN, SAM, by_member=ALEX)]


def test_an_agreement_with_oneself_said_to_be_so_takes_effect_at_once() -> None:
    command = ProposeAgreement(**by(ROBIN), proposal_id=PROPOSAL, agreement_id=AGREEMENT,
                               parties=(ROBIN,), text=dates_text(), binds_only_proposer=True)

    assert when(THREE, command) == [proposed(ROBIN), consented(ROBIN), ratified(ROBIN)]


def test_an_agreement_naming_only_its_proposer_is_refused_unless_said_to_be_so() -> None:
    """Forgetting to name one's partners must not put an agreement in force with nobody
    else asked."""
    command = ProposeAgreement(**by(ROBIN), proposal_id=PROPOSAL, agreement_id=AGREEMENT,
                               parties=(ROBIN,), text=dates_text())

    with pytest.raises(DomainError) as refused:
        when(THREE, command)
    assert refused.value.code == "binds_only_you"
    # Naming one other member alone, or saying so of an agreement between others, is fine.
    between_others = ProposeAgreement(**by(ALEX), proposal_id=PROPOSAL,
                                      agreement_id=AGREEMENT, parties=(ROBIN,),
                                      text=dates_text())
    assert when(THREE, between_others) == [proposed(ROBIN, by_member=ALEX)]


def test_any_subset_of_the_polycule_can_be_bound() -> None:
    command = ProposeAgreement(**by(SAM), proposal_id=PROPOSAL, agreement_id=AGREEMENT,
                               parties=(ROBIN, SAM, ALEX), text=dates_text())

    events = when(THREE, command)

    assert events == [proposed(ROBIN, SAM, ALEX, by_member=SAM), consented(SAM)]


def test_a_fuzzy_proposal_is_flagged_but_not_forbidden() -> None:
    fuzzy = AgreementText(title="Exclusivity", terms="No sex with others without telling.")
    command = ProposeAgreement(**by(ROBIN), proposal_id=PROPOSAL, agreement_id=AGREEMENT,
                               parties=(ROBIN, SAM), text=fuzzy)

    assert fuzzy.fuzzy_words() == ("sex", "tell")
    assert dates_text().fuzzy_words() == ()
    assert when(THREE, command)[0] == proposed(ROBIN, SAM, text=fuzzy)


@pytest.mark.parametrize(
    ("history", "actor", "changes", "code"),
    [
        (THREE, STRANGER, {}, "not_a_member"),
        ([*THREE, left(ALEX)], ALEX, {}, "not_a_member"),
        (THREE, ROBIN, {"parties": ()}, "no_parties"),
        (THREE, ROBIN, {"parties": (ROBIN, STRANGER)}, "party_not_member"),
        ([*THREE, left(ALEX)], ROBIN, {"parties": (ROBIN, ALEX)}, "party_not_member"),
        (THREE, ROBIN, {"parties": (ROBIN, SAM, ROBIN)}, "party_repeated"),
        (THREE, ROBIN, {"respond_by": NOW}, "deadline_past"),
        (THREE, ROBIN, {"text": dates_text().model_copy(update={"title": "  "})},
         "text_required"),
        (THREE, ROBIN, {"text": dates_text().model_copy(update={"terms": ""})},
         "text_required"),
        (THREE, ROBIN, {"text": dates_text().model_copy(update={"definitions": (
            Definition(word="Date", meaning="a"), Definition(word="date ", meaning="b"))})},
         "definition_repeated"),
        (THREE, ROBIN, {"text": dates_text(review_every_days=0)}, "review_cadence"),
        ([*THREE, proposed(ROBIN, SAM)], ROBIN, {"agreement_id": OTHER_AGREEMENT},
         "proposal_exists"),
        ([*THREE, proposed(ROBIN, SAM)], ROBIN, {"proposal_id": uuid.uuid4()},
         "agreement_exists"),
    ],
)
def test_proposals_that_are_refused(
    history: list[DomainEvent], actor: UUID, changes: dict[str, object], code: str
) -> None:
    fields: dict[str, object] = {
        "proposal_id": PROPOSAL, "agreement_id": AGREEMENT, "parties": (ROBIN, SAM),
        "text": dates_text(), **changes,
    }
    command = ProposeAgreement(**by(actor), **fields)  # type: ignore[arg-type]

    assert refusal(history, command).code == code


# --- Consent -----------------------------------------------------------------------------


AWAITING_SAM_AND_ALEX = [*THREE, proposed(ROBIN, SAM, ALEX), consented(ROBIN)]


def test_consent_from_a_party_is_recorded_for_the_revision_they_read() -> None:
    command = Consent(**by(SAM), proposal_id=PROPOSAL, revision=1)

    assert when(AWAITING_SAM_AND_ALEX, command) == [consented(SAM)]


def test_the_last_consent_ratifies_in_the_same_decision() -> None:
    history = [*AWAITING_SAM_AND_ALEX, consented(SAM)]
    last = NOW + timedelta(days=2)

    events = when(history, Consent(**by(ALEX, last), proposal_id=PROPOSAL, revision=1))

    assert events == [consented(ALEX), ratified(ROBIN, SAM, ALEX, at=last)]


def test_a_member_who_is_not_a_party_cannot_consent() -> None:
    history = [*THREE, proposed(ROBIN, SAM), consented(ROBIN)]

    refused = refusal(history, Consent(**by(ALEX), proposal_id=PROPOSAL, revision=1))

    assert isinstance(refused, NotPermitted)
    assert refused.code == "not_a_party"


def test_a_proposer_who_is_not_a_party_cannot_consent_for_the_parties() -> None:
    history = [*THREE, proposed(ROBIN, SAM, by_member=ALEX)]

    refused = refusal(history, Consent(**by(ALEX), proposal_id=PROPOSAL, revision=1))

    assert refused.code == "not_a_party"


@pytest.mark.parametrize("revision", [0, 2])
def test_consent_names_the_exact_revision(revision: int) -> None:
    refused = refusal(
        AWAITING_SAM_AND_ALEX, Consent(**by(SAM), proposal_id=PROPOSAL, revision=revision)
    )

    assert refused.code == "revision_changed"
    assert refused.details == {"current_revision": 1}


def test_consenting_twice_changes_nothing() -> None:
    history = [*AWAITING_SAM_AND_ALEX, consented(SAM)]

    assert when(history, Consent(**by(SAM), proposal_id=PROPOSAL, revision=1)) == []
    assert when(history, Consent(**by(ROBIN), proposal_id=PROPOSAL, revision=1)) == []


def test_consent_to_an_unknown_proposal_is_not_found() -> None:
    with pytest.raises(NotFound):
        polycule_decider.decide(
            given(*THREE), Consent(**by(SAM), proposal_id=PROPOSAL, revision=1)
        )


def test_a_ratified_proposal_takes_no_more_answers() -> None:
    history = [*THREE, proposed(ROBIN, SAM), consented(ROBIN), consented(SAM),
               ratified(ROBIN, SAM)]

    refused = refusal(history, Consent(**by(SAM), proposal_id=PROPOSAL, revision=1))

    assert refused.code == "proposal_closed"
    assert refused.details == {"status": "ratified"}


def test_silence_is_not_consent() -> None:
    state = given(*AWAITING_SAM_AND_ALEX, consented(SAM))

    assert state.agreements.agreements == {}
    assert state.agreements.proposals[PROPOSAL].is_open


# --- Objection ---------------------------------------------------------------------------


def test_one_objection_rejects_the_proposal() -> None:
    history = [*AWAITING_SAM_AND_ALEX, consented(SAM)]
    command = Object(**by(ALEX), proposal_id=PROPOSAL, revision=1, reason="  too soon  ")

    assert when(history, command) == [
        ObjectionRaised(proposal_id=PROPOSAL, revision=1, member_id=ALEX, reason="too soon"),
        ProposalRejected(proposal_id=PROPOSAL, revision=1),
    ]


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_an_objection_needs_a_reason(reason: str) -> None:
    command = Object(**by(SAM), proposal_id=PROPOSAL, revision=1, reason=reason)

    assert refusal(AWAITING_SAM_AND_ALEX, command).code == "reason_required"


def test_only_a_party_may_object_and_only_to_the_current_revision() -> None:
    history = [*THREE, proposed(ROBIN, SAM), consented(ROBIN)]

    outsider = refusal(history, Object(**by(ALEX), proposal_id=PROPOSAL, revision=1,
                                       reason="I'd rather"))
    stale = refusal(history, Object(**by(SAM), proposal_id=PROPOSAL, revision=2,
                                    reason="no"))

    assert isinstance(outsider, NotPermitted)
    assert outsider.code == "not_a_party"
    assert stale.code == "revision_changed"


def test_a_rejected_proposal_can_no_longer_be_consented_to() -> None:
    history = [
        *AWAITING_SAM_AND_ALEX,
        ObjectionRaised(proposal_id=PROPOSAL, revision=1, member_id=ALEX, reason="no"),
        ProposalRejected(proposal_id=PROPOSAL, revision=1),
    ]

    refused = refusal(history, Consent(**by(SAM), proposal_id=PROPOSAL, revision=1))

    assert refused.code == "proposal_closed"
    assert refused.details == {"status": "rejected"}


# --- Answers that change -----------------------------------------------------------------


def objected(member: UUID, revision: int = 1, reason: str = "not any more") -> ObjectionRaised:
    return ObjectionRaised(proposal_id=PROPOSAL, revision=revision, member_id=member,
                           reason=reason)


def test_a_yes_that_becomes_a_no_rejects_the_proposal() -> None:
    history = [*AWAITING_SAM_AND_ALEX, consented(SAM)]
    command = Object(**by(SAM), proposal_id=PROPOSAL, revision=1, reason="not any more")

    assert when(history, command) == [
        objected(SAM), ProposalRejected(proposal_id=PROPOSAL, revision=1)
    ]


def test_the_proposer_may_turn_the_yes_their_proposal_gave_into_a_no() -> None:
    command = Object(**by(ROBIN), proposal_id=PROPOSAL, revision=1, reason="not any more")

    assert when(AWAITING_SAM_AND_ALEX, command) == [
        objected(ROBIN), ProposalRejected(proposal_id=PROPOSAL, revision=1)
    ]


def test_after_a_no_nothing_more_can_be_answered() -> None:
    history = [*AWAITING_SAM_AND_ALEX, consented(SAM), objected(SAM),
               ProposalRejected(proposal_id=PROPOSAL, revision=1)]

    yes_again = refusal(history, Consent(**by(SAM), proposal_id=PROPOSAL, revision=1))
    no_again = refusal(history, Object(**by(SAM), proposal_id=PROPOSAL, revision=1,
                                       reason="still no"))

    assert yes_again.code == no_again.code == "proposal_closed"


def test_every_answer_is_kept_in_order_and_the_last_one_counts() -> None:
    state = given(
        *AWAITING_SAM_AND_ALEX, consented(SAM), revision_two(ROBIN, SAM, ALEX),
        consented(ROBIN, revision=2), consented(ALEX, revision=2), objected(ALEX, revision=2),
    )

    proposal = state.agreements.proposals[PROPOSAL]
    assert proposal.answers == (
        Answered(1, ROBIN, "consented"), Answered(1, SAM, "consented"),
        Answered(2, ROBIN, "consented"), Answered(2, ALEX, "consented"),
        Answered(2, ALEX, "objected"),
    )
    # Sam's yes was to revision 1; Alex's yes to revision 2 became a no.
    assert proposal.current_answers() == {ROBIN: "consented", ALEX: "objected"}
    assert proposal.consents == {ROBIN}


def awaiting(*history: DomainEvent) -> tuple[UUID, ...]:
    return awaited(given(*history).agreements.proposals[PROPOSAL])


def test_who_still_has_to_answer_is_every_party_without_an_answer_to_this_revision() -> None:
    assert awaiting(*AWAITING_SAM_AND_ALEX) == (SAM, ALEX)  # in the parties' order
    assert awaiting(*AWAITING_SAM_AND_ALEX, consented(ALEX)) == (SAM,)
    # A new revision asks again everyone but its proposer, whose revision is their consent.
    revised = [*AWAITING_SAM_AND_ALEX, consented(ALEX), revision_two(ROBIN, SAM, ALEX),
               consented(ROBIN, revision=2)]
    assert awaiting(*revised) == (SAM, ALEX)
    # Once it is closed, nobody has anything left to answer.
    assert awaiting(*revised, objected(SAM, revision=2),
                    ProposalRejected(proposal_id=PROPOSAL, revision=2)) == ()


# --- Withdrawal --------------------------------------------------------------------------


def test_the_proposer_may_withdraw() -> None:
    assert when(AWAITING_SAM_AND_ALEX, Withdraw(**by(ROBIN), proposal_id=PROPOSAL)) == [
        ProposalWithdrawn(proposal_id=PROPOSAL, member_id=ROBIN)
    ]


def test_a_proposer_who_is_not_a_party_may_withdraw() -> None:
    history = [*THREE, proposed(ROBIN, SAM, by_member=ALEX)]

    assert when(history, Withdraw(**by(ALEX), proposal_id=PROPOSAL)) == [
        ProposalWithdrawn(proposal_id=PROPOSAL, member_id=ALEX)
    ]


def test_only_the_proposer_may_withdraw() -> None:
    refused = refusal(AWAITING_SAM_AND_ALEX, Withdraw(**by(SAM), proposal_id=PROPOSAL))

    assert isinstance(refused, NotPermitted)
    assert refused.code == "not_the_proposer"


def test_a_withdrawn_proposal_is_closed() -> None:
    history = [*AWAITING_SAM_AND_ALEX, ProposalWithdrawn(proposal_id=PROPOSAL, member_id=ROBIN)]

    consent = refusal(history, Consent(**by(SAM), proposal_id=PROPOSAL, revision=1))
    again = refusal(history, Withdraw(**by(ROBIN), proposal_id=PROPOSAL))

    assert consent.code == again.code == "proposal_closed"


# --- Revision ----------------------------------------------------------------------------


def revision_two(*parties: UUID, respond_by: datetime | None = None) -> ProposalRevised:
    return ProposalRevised(
        proposal_id=PROPOSAL, revision=2, parties=parties, text=revised_text(),
        respond_by=respond_by,
    )


def test_revising_makes_a_new_revision_that_the_proposer_consents_to() -> None:
    history = [*AWAITING_SAM_AND_ALEX, consented(SAM)]

    events = when(history, Revise(**by(ROBIN), proposal_id=PROPOSAL, text=revised_text()))

    assert events == [revision_two(ROBIN, SAM, ALEX), consented(ROBIN, revision=2)]


def test_revising_clears_every_consent_to_the_old_revision() -> None:
    history = [
        *AWAITING_SAM_AND_ALEX, consented(SAM), revision_two(ROBIN, SAM, ALEX),
        consented(ROBIN, revision=2),
    ]

    alex = when(history, Consent(**by(ALEX), proposal_id=PROPOSAL, revision=2))
    sam = when([*history, *alex], Consent(**by(SAM), proposal_id=PROPOSAL, revision=2))

    assert alex == [consented(ALEX, revision=2)]  # Sam's consent was to revision 1
    assert sam == [consented(SAM, revision=2), ratified(ROBIN, SAM, ALEX, revision=2)]
    assert refusal(history, Consent(**by(SAM), proposal_id=PROPOSAL, revision=1)).code == (
        "revision_changed"
    )


def test_a_revision_may_name_other_parties() -> None:
    command = Revise(**by(ROBIN), proposal_id=PROPOSAL, text=revised_text(),
                     parties=(ROBIN, SAM))

    assert when(AWAITING_SAM_AND_ALEX, command) == [
        revision_two(ROBIN, SAM), consented(ROBIN, revision=2)
    ]


def test_a_revision_that_leaves_only_the_proposer_takes_effect() -> None:
    command = Revise(**by(ROBIN), proposal_id=PROPOSAL, text=revised_text(), parties=(ROBIN,))

    assert when(AWAITING_SAM_AND_ALEX, command) == [
        revision_two(ROBIN), consented(ROBIN, revision=2), ratified(ROBIN, revision=2)
    ]


def test_a_proposer_who_is_not_a_party_gives_no_consent_by_revising() -> None:
    history = [*THREE, proposed(ROBIN, SAM, by_member=ALEX), consented(SAM)]

    events = when(history, Revise(**by(ALEX), proposal_id=PROPOSAL, text=revised_text()))

    assert events == [revision_two(ROBIN, SAM)]


def test_only_the_proposer_may_revise() -> None:
    refused = refusal(
        AWAITING_SAM_AND_ALEX, Revise(**by(SAM), proposal_id=PROPOSAL, text=revised_text())
    )

    assert isinstance(refused, NotPermitted)
    assert refused.code == "not_the_proposer"


@pytest.mark.parametrize(
    ("parties", "code"),
    [((), "no_parties"), ((ROBIN, STRANGER), "party_not_member")],
)
def test_a_revision_is_checked_like_a_proposal(parties: tuple[UUID, ...], code: str) -> None:
    command = Revise(**by(ROBIN), proposal_id=PROPOSAL, text=revised_text(), parties=parties)

    assert refusal(AWAITING_SAM_AND_ALEX, command).code == code


def test_a_revision_keeps_the_deadline_unless_it_names_a_new_one() -> None:
    deadline = NOW + timedelta(days=3)
    history = [*THREE, proposed(ROBIN, SAM, respond_by=deadline), consented(ROBIN)]
    later = NOW + timedelta(days=5)

    kept = when(history, Revise(**by(ROBIN), proposal_id=PROPOSAL, text=revised_text()))
    moved = when(history, Revise(**by(ROBIN), proposal_id=PROPOSAL, text=revised_text(),
                                 respond_by=later))

    assert kept[0] == revision_two(ROBIN, SAM, respond_by=deadline)
    assert moved[0] == revision_two(ROBIN, SAM, respond_by=later)


# --- Deadlines ---------------------------------------------------------------------------


DEADLINE = NOW + timedelta(days=3)
WITH_DEADLINE = [*THREE, proposed(ROBIN, SAM, ALEX, respond_by=DEADLINE), consented(ROBIN)]


def test_consent_before_the_deadline_counts() -> None:
    just_in_time = DEADLINE - timedelta(seconds=1)

    events = when(WITH_DEADLINE, Consent(**by(SAM, just_in_time), proposal_id=PROPOSAL,
                                         revision=1))

    assert events == [consented(SAM)]


@pytest.mark.parametrize("at", [DEADLINE, DEADLINE + timedelta(days=1)])
def test_nothing_can_be_answered_or_revised_after_the_deadline(at: datetime) -> None:
    history = [*WITH_DEADLINE, consented(SAM)]

    consent = refusal(history, Consent(**by(ALEX, at), proposal_id=PROPOSAL, revision=1))
    objection = refusal(history, Object(**by(ALEX, at), proposal_id=PROPOSAL, revision=1,
                                        reason="late"))
    revision = refusal(history, Revise(**by(ROBIN, at), proposal_id=PROPOSAL,
                                       text=revised_text(), respond_by=at + timedelta(days=9)))

    assert consent.code == objection.code == revision.code == "proposal_expired"


def test_a_deadline_expires_a_proposal_and_never_ratifies_it() -> None:
    history = [*WITH_DEADLINE, consented(SAM)]  # only Alex is silent

    before = when(history, ExpireProposal(**by(ROBIN, DEADLINE - timedelta(seconds=1)),
                                          proposal_id=PROPOSAL))
    after = when(history, ExpireProposal(**by(ROBIN, DEADLINE + timedelta(hours=1)),
                                         proposal_id=PROPOSAL))

    assert before == []
    assert after == [ProposalExpired(proposal_id=PROPOSAL, respond_by=DEADLINE)]
    expired = given(*history, *after)
    assert expired.agreements.agreements == {}
    assert expired.agreements.proposals[PROPOSAL].status == "expired"
    assert refusal([*history, *after], Consent(**by(ALEX), proposal_id=PROPOSAL,
                                               revision=1)).code == "proposal_closed"


def test_expiring_is_a_no_op_for_proposals_without_a_live_deadline() -> None:
    late = NOW + timedelta(days=30)
    expired = [*WITH_DEADLINE, ProposalExpired(proposal_id=PROPOSAL, respond_by=DEADLINE)]

    assert when(AWAITING_SAM_AND_ALEX, ExpireProposal(**by(ROBIN, late),
                                                      proposal_id=PROPOSAL)) == []
    assert when(expired, ExpireProposal(**by(ROBIN, late), proposal_id=PROPOSAL)) == []
    assert when(THREE, ExpireProposal(**by(ROBIN, late), proposal_id=PROPOSAL)) == []


# --- Amendments --------------------------------------------------------------------------


ROBIN_AND_SAM_AGREED = [*THREE, *in_force(ROBIN, SAM)]


def test_an_amendment_binds_the_current_parties_and_those_added() -> None:
    command = ProposeAmendment(**by(SAM), proposal_id=AMENDMENT, agreement_id=AGREEMENT,
                               text=revised_text(), added_parties=(ALEX, ROBIN))

    assert when(ROBIN_AND_SAM_AGREED, command) == [
        amendment_proposed(ROBIN, SAM, ALEX, by_member=SAM),
        consented(SAM, AMENDMENT),
    ]


def test_the_current_version_stays_in_force_while_an_amendment_is_pending() -> None:
    state = given(*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM),
                  consented(ROBIN, AMENDMENT))

    agreement = state.agreements.agreements[AGREEMENT]
    assert agreement.active
    assert agreement.version == 1
    # The words in force are the read models' (tested there); the state keeps the cadence.
    assert agreement.review_every_days == dates_text().review_every_days
    assert agreement.open_proposal == AMENDMENT


def test_a_ratified_amendment_becomes_version_two() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM, ALEX),
               consented(ROBIN, AMENDMENT), consented(ALEX, AMENDMENT)]
    at = NOW + timedelta(days=10)

    events = when(history, Consent(**by(SAM, at), proposal_id=AMENDMENT, revision=1))

    assert events == [
        consented(SAM, AMENDMENT),
        ratified(ROBIN, SAM, ALEX, proposal_id=AMENDMENT, version=2, at=at),
    ]
    agreement = given(*history, *events).agreements.agreements[AGREEMENT]
    assert (agreement.version, agreement.parties) == (2, (ROBIN, SAM, ALEX))
    assert agreement.review_every_days == revised_text().review_every_days
    assert agreement.open_proposal is None


def test_an_amendment_of_version_two_is_based_on_it() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM),
               consented(ROBIN, AMENDMENT), consented(SAM, AMENDMENT),
               ratified(ROBIN, SAM, proposal_id=AMENDMENT, version=2)]
    third = uuid.uuid4()

    [proposal, _] = when(history, ProposeAmendment(**by(ROBIN), proposal_id=third,
                                                   agreement_id=AGREEMENT, text=dates_text()))

    assert isinstance(proposal, AgreementProposed)
    assert (proposal.kind, proposal.base_version) == ("amend", 2)


def test_one_open_proposal_per_agreement() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM)]

    amend = refusal(history, ProposeAmendment(**by(SAM), proposal_id=uuid.uuid4(),
                                              agreement_id=AGREEMENT, text=revised_text()))
    end = refusal(history, ProposeEnding(**by(SAM), proposal_id=uuid.uuid4(),
                                         agreement_id=AGREEMENT))

    assert amend.code == end.code == "proposal_pending"
    assert amend.details == {"proposal_id": str(AMENDMENT)}


def test_once_an_amendment_is_closed_another_may_be_proposed() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM),
               ObjectionRaised(proposal_id=AMENDMENT, revision=1, member_id=SAM, reason="no"),
               ProposalRejected(proposal_id=AMENDMENT, revision=1)]
    command = ProposeAmendment(**by(SAM), proposal_id=ENDING, agreement_id=AGREEMENT,
                               text=revised_text())

    [proposal, _] = when(history, command)

    assert isinstance(proposal, AgreementProposed)
    assert given(*history).agreements.agreements[AGREEMENT].version == 1


@pytest.mark.parametrize(
    ("actor", "agreement_id", "added", "error"),
    [
        (ALEX, AGREEMENT, (), "not_a_party"),
        (ROBIN, AGREEMENT, (STRANGER,), "party_not_member"),
        (ROBIN, AGREEMENT, (ALEX, ALEX), "party_repeated"),
        (ROBIN, OTHER_AGREEMENT, (), "not_found"),
    ],
)
def test_amendments_that_are_refused(
    actor: UUID, agreement_id: UUID, added: tuple[UUID, ...], error: str
) -> None:
    command = ProposeAmendment(**by(actor), proposal_id=AMENDMENT, agreement_id=agreement_id,
                               text=revised_text(), added_parties=added)

    with pytest.raises((DomainError, NotFound)) as refused:
        polycule_decider.decide(given(*ROBIN_AND_SAM_AGREED), command)

    assert refused.value.code == error


def test_revising_an_amendment_adds_to_the_current_parties() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM, ALEX),
               consented(ROBIN, AMENDMENT), consented(SAM, AMENDMENT)]
    command = Revise(**by(ROBIN), proposal_id=AMENDMENT, text=dates_text(), parties=())

    events = when(history, command)

    assert events == [
        ProposalRevised(proposal_id=AMENDMENT, revision=2, parties=(ROBIN, SAM),
                        text=dates_text()),
        consented(ROBIN, AMENDMENT, revision=2),
    ]


# --- Ending by proposal ------------------------------------------------------------------


def ending_proposed(*parties: UUID, by_member: UUID = ROBIN) -> AgreementProposed:
    return AgreementProposed(
        proposal_id=ENDING, agreement_id=AGREEMENT, kind="end", proposed_by=by_member,
        parties=parties, text=None, base_version=1, note="we have moved on",
    )


def test_a_proposal_to_end_binds_the_parties_and_carries_no_text() -> None:
    command = ProposeEnding(**by(ROBIN), proposal_id=ENDING, agreement_id=AGREEMENT,
                            note=" we have moved on ")

    assert when(ROBIN_AND_SAM_AGREED, command) == [
        ending_proposed(ROBIN, SAM), consented(ROBIN, ENDING)
    ]


def test_the_agreement_ends_when_every_party_consents_to_ending_it() -> None:
    history = [*ROBIN_AND_SAM_AGREED, ending_proposed(ROBIN, SAM), consented(ROBIN, ENDING)]

    events = when(history, Consent(**by(SAM), proposal_id=ENDING, revision=1))

    assert events == [
        consented(SAM, ENDING),
        AgreementEnded(agreement_id=AGREEMENT, version=1, reason="ended_by_proposal", at=NOW,
                       proposal_id=ENDING),
    ]
    after = given(*history, *events).agreements
    assert not after.agreements[AGREEMENT].active
    assert after.proposals[ENDING].status == "ratified"


def test_an_ending_has_no_text_to_revise() -> None:
    history = [*ROBIN_AND_SAM_AGREED, ending_proposed(ROBIN, SAM), consented(ROBIN, ENDING)]

    refused = refusal(history, Revise(**by(ROBIN), proposal_id=ENDING, text=revised_text()))

    assert refused.code == "nothing_to_revise"


def test_an_objection_keeps_the_agreement_in_force() -> None:
    history = [*ROBIN_AND_SAM_AGREED, ending_proposed(ROBIN, SAM), consented(ROBIN, ENDING)]
    objection = when(history, Object(**by(SAM), proposal_id=ENDING, revision=1,
                                     reason="let's talk first"))

    agreement = given(*history, *objection).agreements.agreements[AGREEMENT]

    assert agreement.active
    assert agreement.open_proposal is None


# --- Revoking consent --------------------------------------------------------------------


def test_any_party_may_revoke_alone_and_the_agreement_ends() -> None:
    command = RevokeConsent(**by(SAM), agreement_id=AGREEMENT, note=" it hurts now ")

    events = when(ROBIN_AND_SAM_AGREED, command)

    assert events == [
        AgreementEnded(agreement_id=AGREEMENT, version=1, reason="revoked", at=NOW, member_id=SAM,
                       note="it hurts now")
    ]
    assert not given(*ROBIN_AND_SAM_AGREED, *events).agreements.agreements[AGREEMENT].active


def test_revoking_lapses_a_pending_proposal() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM),
               consented(ROBIN, AMENDMENT)]

    events = when(history, RevokeConsent(**by(SAM), agreement_id=AGREEMENT))

    assert events == [
        AgreementEnded(agreement_id=AGREEMENT, version=1, reason="revoked", at=NOW, member_id=SAM),
        ProposalLapsed(proposal_id=AMENDMENT, reason="agreement_ended"),
    ]
    after = [*history, *events]
    assert given(*after).agreements.proposals[AMENDMENT].status == "lapsed"
    assert refusal(after, Consent(**by(SAM), proposal_id=AMENDMENT, revision=1)).code == (
        "proposal_closed"
    )


def test_revoking_ends_the_version_in_force() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM),
               consented(ROBIN, AMENDMENT), consented(SAM, AMENDMENT),
               ratified(ROBIN, SAM, proposal_id=AMENDMENT, version=2)]

    [ended] = when(history, RevokeConsent(**by(ROBIN), agreement_id=AGREEMENT))

    assert ended == AgreementEnded(agreement_id=AGREEMENT, version=2, reason="revoked", at=NOW,
                                   member_id=ROBIN)


def test_only_a_party_may_revoke_and_only_once() -> None:
    ended = [*ROBIN_AND_SAM_AGREED,
             AgreementEnded(agreement_id=AGREEMENT, version=1, reason="revoked", at=NOW,
                            member_id=SAM)]

    outsider = refusal(ROBIN_AND_SAM_AGREED, RevokeConsent(**by(ALEX), agreement_id=AGREEMENT))
    again = refusal(ended, RevokeConsent(**by(ROBIN), agreement_id=AGREEMENT))
    amend = refusal(ended, ProposeAmendment(**by(ROBIN), proposal_id=AMENDMENT,
                                            agreement_id=AGREEMENT, text=revised_text()))

    assert isinstance(outsider, NotPermitted)
    assert outsider.code == "not_a_party"
    assert again.code == amend.code == "agreement_ended"
    with pytest.raises(NotFound):
        polycule_decider.decide(given(*THREE), RevokeConsent(**by(ROBIN),
                                                             agreement_id=AGREEMENT))


# --- Reviews -----------------------------------------------------------------------------


REVIEW_DATE = NOW + timedelta(days=CADENCE)
DUE = ReviewBecameDue(agreement_id=AGREEMENT, version=1, due_at=REVIEW_DATE)


def mark_due(at: datetime, version: int = 1) -> MarkReviewDue:
    return MarkReviewDue(**by(ROBIN, at), agreement_id=AGREEMENT, version=version)


def test_a_review_becomes_due_on_its_date_and_only_once() -> None:
    assert when(ROBIN_AND_SAM_AGREED, mark_due(REVIEW_DATE - timedelta(seconds=1))) == []
    assert when(ROBIN_AND_SAM_AGREED, mark_due(REVIEW_DATE)) == [DUE]
    assert when(ROBIN_AND_SAM_AGREED, mark_due(REVIEW_DATE + timedelta(days=2))) == [DUE]
    assert when([*ROBIN_AND_SAM_AGREED, DUE], mark_due(REVIEW_DATE + timedelta(days=3))) == []


def test_no_review_is_due_for_another_version_an_ended_agreement_or_no_cadence() -> None:
    ended = [*ROBIN_AND_SAM_AGREED,
             AgreementEnded(agreement_id=AGREEMENT, version=1, reason="revoked", at=NOW,
                            member_id=SAM)]
    no_cadence = [*THREE, proposed(ROBIN, text=dates_text(review_every_days=None)),
                  consented(ROBIN),
                  AgreementRatified(agreement_id=AGREEMENT, proposal_id=PROPOSAL, revision=1,
                                    version=1, parties=(ROBIN,), at=NOW)]
    late = REVIEW_DATE + timedelta(days=1)

    assert when(ROBIN_AND_SAM_AGREED, mark_due(late, version=2)) == []
    assert when(ended, mark_due(late)) == []
    assert when(no_cadence, mark_due(late)) == []
    assert when(THREE, mark_due(late)) == []


def test_reaffirming_needs_a_review_to_be_due() -> None:
    refused = refusal(ROBIN_AND_SAM_AGREED, Reaffirm(**by(ROBIN), agreement_id=AGREEMENT))

    assert refused.code == "no_review_due"


def test_every_party_reaffirming_completes_the_review_and_restarts_the_clock() -> None:
    history = [*ROBIN_AND_SAM_AGREED, DUE]
    at = REVIEW_DATE + timedelta(days=4)

    robin = when(history, Reaffirm(**by(ROBIN, at), agreement_id=AGREEMENT))
    twice = when([*history, *robin], Reaffirm(**by(ROBIN, at), agreement_id=AGREEMENT))
    sam = when([*history, *robin], Reaffirm(**by(SAM, at), agreement_id=AGREEMENT))

    assert robin == [AgreementReaffirmed(agreement_id=AGREEMENT, version=1, member_id=ROBIN)]
    assert twice == []
    assert sam == [
        AgreementReaffirmed(agreement_id=AGREEMENT, version=1, member_id=SAM),
        ReviewCompleted(agreement_id=AGREEMENT, version=1,
                        next_review_at=at + timedelta(days=CADENCE)),
    ]
    after = [*history, *robin, *sam]
    assert refusal(after, Reaffirm(**by(SAM, at), agreement_id=AGREEMENT)).code == (
        "no_review_due"
    )
    assert when(after, mark_due(REVIEW_DATE + timedelta(days=5))) == []
    assert when(after, mark_due(at + timedelta(days=CADENCE))) == [
        ReviewBecameDue(agreement_id=AGREEMENT, version=1,
                        due_at=at + timedelta(days=CADENCE))
    ]


def test_only_parties_reaffirm() -> None:
    refused = refusal([*ROBIN_AND_SAM_AGREED, DUE], Reaffirm(**by(ALEX),
                                                             agreement_id=AGREEMENT))

    assert refused.code == "not_a_party"


def test_any_party_may_ask_for_a_review_with_a_note() -> None:
    command = RequestReview(**by(SAM), agreement_id=AGREEMENT,
                            note=" this no longer works for me ")

    events = when(ROBIN_AND_SAM_AGREED, command)

    assert events == [ReviewRequested(agreement_id=AGREEMENT, version=1, member_id=SAM,
                                      note="this no longer works for me")]
    assert when([*ROBIN_AND_SAM_AGREED, *events],
                Reaffirm(**by(ROBIN), agreement_id=AGREEMENT)) == [
        AgreementReaffirmed(agreement_id=AGREEMENT, version=1, member_id=ROBIN)
    ]


@pytest.mark.parametrize(
    ("actor", "note", "code"),
    [(SAM, "", "note_required"), (SAM, "  ", "note_required"), (ALEX, "hm", "not_a_party")],
)
def test_review_requests_that_are_refused(actor: UUID, note: str, code: str) -> None:
    command = RequestReview(**by(actor), agreement_id=AGREEMENT, note=note)

    assert refusal(ROBIN_AND_SAM_AGREED, command).code == code


def test_a_ratified_amendment_answers_the_review() -> None:
    history = [*ROBIN_AND_SAM_AGREED, DUE, amendment_proposed(ROBIN, SAM),
               consented(ROBIN, AMENDMENT), consented(SAM, AMENDMENT),
               ratified(ROBIN, SAM, proposal_id=AMENDMENT, version=2)]

    refused = refusal(history, Reaffirm(**by(ROBIN), agreement_id=AGREEMENT))

    assert refused.code == "no_review_due"


# --- Leaving -----------------------------------------------------------------------------


def test_leaving_ends_ones_agreements_and_lapses_ones_proposals() -> None:
    new_agreement, other_proposal = uuid.uuid4(), uuid.uuid4()
    history = [
        *polycule_of(ROBIN, SAM, ALEX, KIM),
        *in_force(ROBIN, SAM),                                    # Sam is a party
        *in_force(ROBIN, ALEX, agreement_id=OTHER_AGREEMENT),     # Sam is not
        amendment_proposed(ROBIN, SAM),                           # pending on Sam's agreement
        proposed(ALEX, SAM, by_member=ALEX, proposal_id=PROPOSAL,  # Sam would have to answer
                 agreement_id=new_agreement),
        proposed(ROBIN, ALEX, by_member=KIM, proposal_id=other_proposal,
                 agreement_id=uuid.uuid4()),                      # nothing to do with Sam
    ]

    [member_left, *consequences] = when(history, LeavePolycule(**by(SAM)))

    assert member_left == left(SAM)
    assert sorted(consequences, key=repr) == sorted([
        AgreementEnded(agreement_id=AGREEMENT, version=1, reason="party_left", at=NOW,
                       member_id=SAM),
        ProposalLapsed(proposal_id=AMENDMENT, reason="party_left"),
        ProposalLapsed(proposal_id=PROPOSAL, reason="party_left"),
    ], key=repr)
    after = given(*history, member_left, *consequences).agreements
    assert [a.agreement_id for a in after.active()] == [OTHER_AGREEMENT]
    assert [p.proposal_id for p in after.open_proposals()] == [other_proposal]


def test_a_pending_amendment_lapses_when_a_party_of_the_agreement_leaves() -> None:
    history = [*THREE, *in_force(ROBIN, SAM, ALEX), amendment_proposed(ROBIN, SAM, ALEX)]

    [_, *consequences] = when(history, LeavePolycule(**by(ALEX)))

    assert sorted(consequences, key=repr) == sorted([
        AgreementEnded(agreement_id=AGREEMENT, version=1, reason="party_left", at=NOW,
                       member_id=ALEX),
        ProposalLapsed(proposal_id=AMENDMENT, reason="party_left"),
    ], key=repr)


def test_an_amendment_lapses_but_the_agreement_stands_when_an_added_party_leaves() -> None:
    history = [*ROBIN_AND_SAM_AGREED, amendment_proposed(ROBIN, SAM, ALEX)]

    events = when(history, LeavePolycule(**by(ALEX)))

    assert events == [left(ALEX), ProposalLapsed(proposal_id=AMENDMENT, reason="party_left")]
    agreement = given(*history, *events).agreements.agreements[AGREEMENT]
    assert agreement.active
    assert agreement.open_proposal is None


def test_a_proposal_lapses_when_its_proposer_leaves() -> None:
    history = [*THREE, proposed(ROBIN, SAM, by_member=ALEX)]

    events = when(history, LeavePolycule(**by(ALEX)))

    assert events == [left(ALEX), ProposalLapsed(proposal_id=PROPOSAL, reason="party_left")]


def test_a_member_who_left_answers_nothing_more() -> None:
    leaving = when(AWAITING_SAM_AND_ALEX, LeavePolycule(**by(ALEX)))

    refused = refusal([*AWAITING_SAM_AND_ALEX, *leaving],
                      Consent(**by(ALEX), proposal_id=PROPOSAL, revision=1))

    assert refused.code == "not_a_member"
