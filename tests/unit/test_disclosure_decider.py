"""Given events, when a command, then events or an error — disclosures and their audience.

Every command goes through the polycule's decider, as the service sends it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given as given_hypothesis
from hypothesis import strategies as st

from ledger.domain.agreements import (
    AgreementProposed,
    AgreementRatified,
    AgreementText,
    ConsentGiven,
    Definition,
)
from ledger.domain.disclosures import (
    AcknowledgeDisclosure,
    Disclose,
    DisclosureAcknowledged,
    DisclosureMade,
)
from ledger.domain.polycules import (
    polycule_decider,
)
from ledger.errors import NotFound, NotPermitted
from ledger.events import DomainEvent
from tests.unit.deciders import (
    NOW,
    by,
    given,
    joined,
    left,
    not_found,
    polycule_of,
    refusal,
    when,
)

ROBIN, SAM, ALEX, KIM = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
STRANGER = uuid.uuid4()
DISCLOSURE, CORRECTION = uuid.uuid4(), uuid.uuid4()
AGREEMENT = uuid.uuid4()


# --- Histories ---------------------------------------------------------------------------


def in_force(*parties: UUID) -> list[DomainEvent]:
    """Telling before dates, agreed by every party: version 1, in force since a week ago."""
    proposal = uuid.uuid4()
    text = AgreementText(
        title="Telling before dates",
        terms="We tell each other before a date with someone new.",
        definitions=(
            Definition(word="tell", meaning="a message, at least a day ahead"),
            Definition(word="date", meaning="a planned romantic evening"),
        ),
        category="disclosure",
    )
    return [
        AgreementProposed(proposal_id=proposal, agreement_id=AGREEMENT, kind="create",
                          proposed_by=parties[0], parties=parties, text=text),
        *(ConsentGiven(proposal_id=proposal, revision=1, member_id=p) for p in parties),
        AgreementRatified(agreement_id=AGREEMENT, proposal_id=proposal, revision=1,
                          version=1, parties=parties, at=NOW - timedelta(days=7)),
    ]


def disclose(
    actor: UUID = ROBIN,
    *recipients: UUID,
    audience: str = "chosen",
    **changes: object,
) -> Disclose:
    fields: dict[str, object] = {
        "disclosure_id": DISCLOSURE, "kind": "new_connection",
        "text": "I met someone at the climbing gym.", "audience": audience,
        "recipients": recipients, **changes,
    }
    return Disclose(**by(actor), **fields)  # type: ignore[arg-type]


def made(
    *recipients: UUID,
    discloser: UUID = ROBIN,
    audience: str = "chosen",
    disclosure_id: UUID = DISCLOSURE,
    **changes: object,
) -> DisclosureMade:
    fields: dict[str, object] = {
        "disclosure_id": disclosure_id, "discloser": discloser, "kind": "new_connection",
        "text": "I met someone at the climbing gym.", "audience": audience,
        "recipients": recipients, **changes,
    }
    return DisclosureMade(**fields)


def acknowledge(actor: UUID, disclosure_id: UUID = DISCLOSURE) -> AcknowledgeDisclosure:
    return AcknowledgeDisclosure(**by(actor), disclosure_id=disclosure_id)


FOUR_MEMBERS = (ROBIN, SAM, ALEX, KIM)
FOUR = polycule_of(*FOUR_MEMBERS)
TOLD_SAM = [*FOUR, made(SAM)]


# --- Choosing the audience ---------------------------------------------------------------


def test_a_disclosure_to_chosen_members_tells_only_them() -> None:
    command = disclose(ROBIN, SAM, ALEX, text="  I met someone at the climbing gym.\n")

    assert when(FOUR, command) == [made(SAM, ALEX)]


def test_a_disclosure_to_the_whole_polycule_tells_every_other_current_member() -> None:
    history = [*FOUR, left(ALEX)]

    events = when(history, disclose(SAM, audience="polycule"))

    assert events == [made(ROBIN, KIM, discloser=SAM, audience="polycule")]


def test_the_whole_polycule_means_everyone_whatever_was_chosen() -> None:
    events = when(FOUR, disclose(ROBIN, SAM, audience="polycule"))

    assert events == [made(SAM, ALEX, KIM, audience="polycule")]


def test_someone_who_joins_later_was_not_told() -> None:
    history = [*FOUR, made(SAM, ALEX, KIM, audience="polycule"), joined(STRANGER)]

    assert given(*history).disclosures.items[DISCLOSURE].recipients == (SAM, ALEX, KIM)
    assert isinstance(not_found(history, acknowledge(STRANGER)), NotFound)


@pytest.mark.parametrize(
    "kind", ["new_connection", "sexual_health_result", "feelings", "boundary_change", "other"]
)
def test_every_kind_of_disclosure_can_be_made(kind: str) -> None:
    assert when(FOUR, disclose(ROBIN, SAM, kind=kind)) == [made(SAM, kind=kind)]


@pytest.mark.parametrize(
    ("history", "command", "code"),
    [
        (FOUR, disclose(STRANGER, SAM), "not_a_member"),
        ([*FOUR, left(ALEX)], disclose(ALEX, SAM), "not_a_member"),
        (TOLD_SAM, disclose(ROBIN, ALEX), "disclosure_exists"),
        (FOUR, disclose(ROBIN, SAM, text=""), "text_required"),
        (FOUR, disclose(ROBIN, SAM, text="  \n\t"), "text_required"),
        (FOUR, disclose(ROBIN), "no_audience"),
        (polycule_of(ROBIN), disclose(ROBIN, audience="polycule"), "no_audience"),
        (FOUR, disclose(ROBIN, SAM, ALEX, SAM), "recipient_repeated"),
        (FOUR, disclose(ROBIN, SAM, ROBIN), "recipient_is_discloser"),
        (FOUR, disclose(ROBIN, SAM, STRANGER), "recipient_not_member"),
        ([*FOUR, left(ALEX)], disclose(ROBIN, ALEX), "recipient_not_member"),
    ],
)
def test_disclosures_that_are_refused(
    history: list[DomainEvent], command: Disclose, code: str
) -> None:
    assert refusal(history, command).code == code


def test_a_refusal_names_the_recipients_who_are_not_members() -> None:
    refused = refusal(FOUR, disclose(ROBIN, SAM, STRANGER))

    assert refused.details == {"not_members": [str(STRANGER)]}


def test_nothing_is_disclosed_in_a_polycule_that_does_not_exist() -> None:
    with pytest.raises(NotFound):
        polycule_decider.decide(given(), disclose(ROBIN, SAM))


# --- Fulfilling an agreement -------------------------------------------------------------


def test_a_disclosure_may_say_which_agreement_it_fulfils() -> None:
    history = [*FOUR, *in_force(ROBIN, SAM)]

    events = when(history, disclose(ROBIN, SAM, fulfils_agreement_id=AGREEMENT))

    assert events == [made(SAM, fulfils_agreement_id=AGREEMENT)]


def test_only_a_party_can_fulfil_an_agreement() -> None:
    history = [*FOUR, *in_force(ROBIN, SAM)]

    refused = refusal(history, disclose(ALEX, SAM, fulfils_agreement_id=AGREEMENT))

    assert refused.code == "not_a_party"


def test_an_unknown_agreement_cannot_be_fulfilled() -> None:
    not_found(FOUR, disclose(ROBIN, SAM, fulfils_agreement_id=AGREEMENT))


# --- Corrections -------------------------------------------------------------------------


def test_a_correction_is_a_new_disclosure_that_refers_to_the_old_one() -> None:
    told = [*FOUR, made(SAM, ALEX)]
    command = disclose(ROBIN, SAM, ALEX, disclosure_id=CORRECTION, text="It was last Tuesday.",
                       corrects_disclosure_id=DISCLOSURE)

    events = when(told, command)

    assert events == [made(SAM, ALEX, disclosure_id=CORRECTION, text="It was last Tuesday.",
                           corrects_disclosure_id=DISCLOSURE)]
    state = given(*told, *events)
    assert state.disclosures.items[DISCLOSURE] == given(*told).disclosures.items[DISCLOSURE]
    assert state.disclosures.items.keys() == {DISCLOSURE, CORRECTION}


def test_a_correction_may_be_told_to_fewer_of_those_told_before() -> None:
    told = [*FOUR, made(SAM, ALEX)]
    command = disclose(ROBIN, ALEX, disclosure_id=CORRECTION, corrects_disclosure_id=DISCLOSURE)

    assert when(told, command) == [
        made(ALEX, disclosure_id=CORRECTION, corrects_disclosure_id=DISCLOSURE)
    ]


@pytest.mark.parametrize(
    ("history", "audience", "chosen", "untold"),
    [
        # Alex was not told; naming the correction's subject would tell them it exists.
        (TOLD_SAM, "chosen", (SAM, ALEX), (ALEX,)),
        (TOLD_SAM, "polycule", (), (ALEX, KIM)),
        # Told to the whole polycule as it was: someone who joined since was not told.
        ([*FOUR, made(SAM, ALEX, KIM, audience="polycule"), joined(STRANGER)], "polycule", (),
         (STRANGER,)),
    ],
)
def test_a_correction_is_not_told_to_anyone_who_was_not_told_what_it_corrects(
    history: list[DomainEvent], audience: str, chosen: tuple[UUID, ...],
    untold: tuple[UUID, ...],
) -> None:
    command = disclose(ROBIN, *chosen, audience=audience, disclosure_id=CORRECTION,
                       corrects_disclosure_id=DISCLOSURE)

    refused = refusal(history, command)

    assert refused.code == "correction_beyond_audience"
    assert refused.details == {"not_told_before": [str(member) for member in untold]}


@given_hypothesis(
    told=st.sets(st.sampled_from((SAM, ALEX, KIM)), min_size=1),
    correction=st.sets(st.sampled_from((SAM, ALEX, KIM)), min_size=1),
)
def test_whoever_reads_a_correction_may_read_what_it_corrects(
    told: set[UUID], correction: set[UUID]
) -> None:
    history = [*FOUR, made(*sorted(told))]
    command = disclose(ROBIN, *sorted(correction), disclosure_id=CORRECTION,
                       corrects_disclosure_id=DISCLOSURE)

    if correction <= told:
        state = given(*history, *when(history, command))
        original, corrected = (state.disclosures.items[i] for i in (DISCLOSURE, CORRECTION))
        assert all(original.visible_to(m) for m in FOUR_MEMBERS if corrected.visible_to(m))
    else:
        assert refusal(history, command).code == "correction_beyond_audience"


def test_a_recipient_cannot_correct_what_someone_else_disclosed() -> None:
    command = disclose(SAM, ROBIN, disclosure_id=CORRECTION, corrects_disclosure_id=DISCLOSURE)

    refused = refusal(TOLD_SAM, command)

    assert isinstance(refused, NotPermitted)
    assert refused.code == "not_the_discloser"


@pytest.mark.parametrize("corrected", [DISCLOSURE, uuid.uuid4()])
def test_outside_the_audience_a_disclosure_to_correct_is_not_found(corrected: UUID) -> None:
    command = disclose(ALEX, ROBIN, disclosure_id=CORRECTION, corrects_disclosure_id=corrected)

    not_found(TOLD_SAM, command)


# --- Acknowledging -----------------------------------------------------------------------


def test_a_recipient_acknowledges_a_disclosure() -> None:
    events = when(TOLD_SAM, acknowledge(SAM))

    assert events == [DisclosureAcknowledged(disclosure_id=DISCLOSURE, member_id=SAM)]
    assert given(*TOLD_SAM, *events).disclosures.items[DISCLOSURE].acknowledged_by == {SAM}


def test_acknowledging_twice_changes_nothing() -> None:
    history = [*TOLD_SAM, DisclosureAcknowledged(disclosure_id=DISCLOSURE, member_id=SAM)]

    assert when(history, acknowledge(SAM)) == []


def test_each_recipient_acknowledges_for_themselves() -> None:
    history = [
        *FOUR, made(SAM, ALEX), DisclosureAcknowledged(disclosure_id=DISCLOSURE, member_id=SAM)
    ]

    events = when(history, acknowledge(ALEX))

    assert events == [DisclosureAcknowledged(disclosure_id=DISCLOSURE, member_id=ALEX)]
    assert given(*history, *events).disclosures.items[DISCLOSURE].acknowledged_by == {SAM, ALEX}


def test_the_discloser_does_not_acknowledge_their_own_disclosure() -> None:
    assert refusal(TOLD_SAM, acknowledge(ROBIN)).code == "not_a_recipient"


@pytest.mark.parametrize("disclosure_id", [DISCLOSURE, uuid.uuid4()])
def test_outside_the_audience_a_disclosure_is_not_found(disclosure_id: UUID) -> None:
    """The same answer whether it exists or not: its existence is not disclosed either."""
    not_found(TOLD_SAM, acknowledge(ALEX, disclosure_id))


def test_a_recipient_who_left_can_no_longer_acknowledge() -> None:
    assert refusal([*TOLD_SAM, left(SAM)], acknowledge(SAM)).code == "not_a_member"


def test_a_correction_is_acknowledged_on_its_own() -> None:
    history = [
        *TOLD_SAM,
        DisclosureAcknowledged(disclosure_id=DISCLOSURE, member_id=SAM),
        made(SAM, disclosure_id=CORRECTION, text="It was last Tuesday.",
             corrects_disclosure_id=DISCLOSURE),
    ]

    assert given(*history).disclosures.items[CORRECTION].acknowledged_by == frozenset()
    assert when(history, acknowledge(SAM, CORRECTION)) == [
        DisclosureAcknowledged(disclosure_id=CORRECTION, member_id=SAM)
    ]
