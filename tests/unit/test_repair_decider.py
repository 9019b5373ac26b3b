"""Given events, when a command, then events or an error — breaches and their repair.

Every command goes through the polycule's decider, as the service sends it. Robin, Sam and
Alex agreed to tell each other before a date; Sam crossed it. Sam is the breaching member,
Robin and Alex the harmed parties; Kim is a member outside the agreement; Lee is a coach
who is not a member at all.
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
    AgreementText,
    ConsentGiven,
    Definition,
)
from ledger.domain.polycules import (
    PolyculeCommand,
)
from ledger.domain.repair import (
    AcceptSupporterInvitation,
    AcknowledgeBreach,
    AddressFactor,
    AnnounceCommitmentDue,
    Apologise,
    ApologyMade,
    BoundaryLinked,
    BreachAcknowledged,
    BreachAudienceWidened,
    BreachDisputed,
    BreachReported,
    CheckIn,
    CheckInRecorded,
    ChooseRestoration,
    Commit,
    CommitmentFellDue,
    CommitmentMade,
    CommitmentMarked,
    Decide,
    DisputeBreach,
    EndRepair,
    FactorAddressed,
    FactorNamed,
    ImpactShared,
    InviteSupporter,
    LinkBoundary,
    MarkCommitment,
    NameFactor,
    RepairClosed,
    RepairDecisionMade,
    ReportBreach,
    ResponsibilityTaken,
    RestorationChosen,
    ShareImpact,
    SupporterInvited,
    SupporterJoined,
    TakeResponsibility,
    WidenBreachAudience,
    boundaries_to_link,
)
from ledger.errors import NotPermitted
from ledger.events import DomainEvent
from tests.unit.deciders import (
    NOW,
    by,
    given,
    left,
    not_found,
    polycule_of,
    refusal,
    when,
)

AGREED, AMENDED = NOW - timedelta(days=40), NOW - timedelta(days=20)
HAPPENED = NOW - timedelta(days=1)
ROBIN, SAM, ALEX, KIM = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
LEE = uuid.uuid4()  # a coach, not a member
AGREEMENT, PAIR = uuid.uuid4(), uuid.uuid4()
BREACH, OTHER_BREACH = uuid.uuid4(), uuid.uuid4()
COMMITMENT, FACTOR, INVITATION = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
BOUNDARY = uuid.uuid4()
WEEKLY = 7


# --- Histories ---------------------------------------------------------------------------


TEXT = AgreementText(
    title="Telling before dates",
    terms="We tell each other before a date with someone new.",
    definitions=(
        Definition(word="tell", meaning="a message, at least a day ahead"),
        Definition(word="date", meaning="a planned romantic evening"),
    ),
    category="disclosure",
    if_broken="We talk about it within a week.",
)


def proposed(
    *parties: UUID,
    agreement_id: UUID = AGREEMENT,
    proposal_id: UUID | None = None,
    kind: str = "create",
    proposed_by: UUID | None = None,
    base_version: int | None = None,
) -> AgreementProposed:
    return AgreementProposed(
        proposal_id=proposal_id or uuid.uuid4(), agreement_id=agreement_id,
        kind=kind, proposed_by=proposed_by or parties[0], parties=parties,
        text=None if kind == "end" else TEXT, base_version=base_version,
    )


def ratified(
    *parties: UUID, at: datetime, agreement_id: UUID = AGREEMENT, version: int = 1
) -> list[DomainEvent]:
    """A proposal for this version, consented to by every party and ratified at ``at``."""
    proposal = proposed(*parties, agreement_id=agreement_id,
                        kind="create" if version == 1 else "amend",
                        base_version=None if version == 1 else version - 1)
    return [
        proposal,
        *(ConsentGiven(proposal_id=proposal.proposal_id, revision=1, member_id=p)
          for p in parties),
        AgreementRatified(agreement_id=agreement_id, proposal_id=proposal.proposal_id,
                          revision=1, version=version, parties=parties, at=at),
    ]


def reported(
    breached_by: UUID = SAM,
    reported_by: UUID = ROBIN,
    *,
    parties: tuple[UUID, ...] = (ROBIN, SAM, ALEX),
    version: int = 1,
    happened_at: datetime = HAPPENED,
    breach_id: UUID = BREACH,
    agreement_id: UUID = AGREEMENT,
) -> BreachReported:
    return BreachReported(
        breach_id=breach_id, agreement_id=agreement_id, version=version, parties=parties,
        breached_by=breached_by, reported_by=reported_by, happened_at=happened_at,
        what_happened="Sam went on a date without telling anyone.",
    )


def report(actor: UUID = ROBIN, at: datetime = NOW, **changes: object) -> ReportBreach:
    fields: dict[str, object] = {
        "breach_id": BREACH, "agreement_id": AGREEMENT, "breached_by": SAM,
        "happened_at": HAPPENED, "what_happened": "Sam went on a date without telling anyone.",
        **changes,
    }
    return ReportBreach(**by(actor, at), **fields)  # type: ignore[arg-type]


FOUR = polycule_of(ROBIN, SAM, ALEX, KIM)
IN_FORCE = [*FOUR, *ratified(ROBIN, SAM, ALEX, at=AGREED)]
# Kim became a party with version 2.
AMENDED_TO_KIM = [*IN_FORCE, *ratified(ROBIN, SAM, ALEX, KIM, at=AMENDED, version=2)]
BREACHED = [*IN_FORCE, reported()]
COMMITTED_WEEKLY = [
    *BREACHED,
    CommitmentMade(breach_id=BREACH, commitment_id=COMMITMENT, member_id=SAM,
                   what="A call every Sunday evening.", first_due_at=NOW, every_days=WEEKLY),
]


def closed(outcome: str = "ended") -> list[DomainEvent]:
    if outcome == "restored":
        return [
            *BREACHED,
            RestorationChosen(breach_id=BREACH, member_id=ROBIN),
            RestorationChosen(breach_id=BREACH, member_id=ALEX),
            RepairClosed(breach_id=BREACH, outcome="restored"),
        ]
    return [*BREACHED, RepairClosed(breach_id=BREACH, outcome="ended", member_id=ALEX)]


# --- Reporting ---------------------------------------------------------------------------


def test_a_breach_reported_by_another_party_keeps_the_version_in_force() -> None:
    events = when(IN_FORCE, report(ROBIN, what_happened="  Sam went on a date without "
                                                         "telling anyone.\n"))

    assert events == [reported()]
    breach = given(*IN_FORCE, *events).breaches.items[BREACH]
    assert not breach.self_reported
    assert breach.status == "reported"
    assert breach.harmed == (ROBIN, ALEX)
    assert breach.participants == (SAM, ROBIN, ALEX)


def test_a_self_reported_breach_shows_it_was_owned() -> None:
    events = when(IN_FORCE, report(SAM))

    assert events == [reported(SAM, SAM)]
    breach = given(*IN_FORCE, *events).breaches.items[BREACH]
    assert breach.self_reported
    assert breach.status == "acknowledged"


@pytest.mark.parametrize(
    ("happened_at", "version", "parties"),
    [
        (AGREED, 1, (ROBIN, SAM, ALEX)),
        (AMENDED - timedelta(microseconds=1), 1, (ROBIN, SAM, ALEX)),
        (AMENDED, 2, (ROBIN, SAM, ALEX, KIM)),
        (HAPPENED, 2, (ROBIN, SAM, ALEX, KIM)),
        (NOW, 2, (ROBIN, SAM, ALEX, KIM)),
    ],
)
def test_the_version_in_force_when_it_happened_is_resolved(
    happened_at: datetime, version: int, parties: tuple[UUID, ...]
) -> None:
    events = when(AMENDED_TO_KIM, report(ALEX, happened_at=happened_at))

    assert events == [reported(SAM, ALEX, parties=parties, version=version,
                               happened_at=happened_at)]


def test_a_party_added_later_cannot_report_what_happened_before_they_were_bound() -> None:
    before = AMENDED - timedelta(days=1)

    refused = refusal(AMENDED_TO_KIM, report(KIM, happened_at=before))
    named = refusal(AMENDED_TO_KIM, report(ROBIN, breached_by=KIM, happened_at=before))

    assert isinstance(refused, NotPermitted)
    assert refused.code == "not_a_party"
    assert named.code == "breached_by_not_a_party"
    assert when(AMENDED_TO_KIM, report(KIM)) == [
        reported(SAM, KIM, parties=(ROBIN, SAM, ALEX, KIM), version=2)
    ]


def test_a_breach_while_it_was_in_force_can_be_reported_after_it_ended() -> None:
    ended_at = NOW - timedelta(hours=12)
    history = [*IN_FORCE, AgreementEnded(agreement_id=AGREEMENT, version=1, reason="revoked",
                                         at=ended_at, member_id=ALEX)]

    assert when(history, report(ROBIN)) == [reported()]
    assert refusal(history, report(ROBIN, happened_at=ended_at)).code == "agreement_not_in_force"


@pytest.mark.parametrize(
    ("history", "command", "code"),
    [
        (IN_FORCE, report(ROBIN, happened_at=AGREED - timedelta(seconds=1)),
         "agreement_not_in_force"),
        (IN_FORCE, report(ROBIN, happened_at=NOW + timedelta(seconds=1)), "happened_in_future"),
        (BREACHED, report(ROBIN), "breach_exists"),
        (IN_FORCE, report(ROBIN, what_happened=" \n "), "text_required"),
        (IN_FORCE, report(LEE), "not_a_member"),
        ([*IN_FORCE, left(ALEX)], report(ALEX), "not_a_member"),
        (IN_FORCE, report(KIM), "not_a_party"),
        (IN_FORCE, report(ROBIN, breached_by=KIM), "breached_by_not_a_party"),
        (IN_FORCE, report(ROBIN, breached_by=LEE), "breached_by_not_a_party"),
        ([*FOUR, *ratified(SAM, at=AGREED, agreement_id=PAIR)],
         report(SAM, agreement_id=PAIR), "nobody_harmed"),
    ],
)
def test_reports_that_are_refused(
    history: list[DomainEvent], command: ReportBreach, code: str
) -> None:
    assert refusal(history, command).code == code


def test_a_breach_of_an_unknown_agreement_is_not_found() -> None:
    not_found(FOUR, report(ROBIN))


def test_a_breach_happening_as_it_is_reported_can_be_reported() -> None:
    assert when(IN_FORCE, report(ROBIN, happened_at=NOW)) == [reported(happened_at=NOW)]


# --- The member named answers ------------------------------------------------------------


def test_the_member_named_acknowledges_with_their_account() -> None:
    command = AcknowledgeBreach(**by(SAM), breach_id=BREACH, account="  I should have said. ")

    events = when(BREACHED, command)

    assert events == [BreachAcknowledged(breach_id=BREACH, member_id=SAM,
                                         account="I should have said.")]
    assert given(*BREACHED, *events).breaches.items[BREACH].status == "acknowledged"


def test_acknowledging_without_words_is_enough() -> None:
    command = AcknowledgeBreach(**by(SAM), breach_id=BREACH, account="  ")

    assert when(BREACHED, command) == [BreachAcknowledged(breach_id=BREACH, member_id=SAM)]


def test_the_member_named_may_dispute_with_their_account_and_both_accounts_stay() -> None:
    command = DisputeBreach(**by(SAM), breach_id=BREACH, account=" It was not a date. ")

    events = when(BREACHED, command)

    assert events == [BreachDisputed(breach_id=BREACH, member_id=SAM,
                                     account="It was not a date.")]
    assert given(*BREACHED, *events).breaches.items[BREACH].status == "disputed"


def test_a_disputed_breach_may_still_be_acknowledged_later() -> None:
    history = [*BREACHED, BreachDisputed(breach_id=BREACH, member_id=SAM, account="No.")]

    events = when(history, AcknowledgeBreach(**by(SAM), breach_id=BREACH))

    assert events == [BreachAcknowledged(breach_id=BREACH, member_id=SAM)]


@pytest.mark.parametrize(
    ("history", "command", "code"),
    [
        ([*BREACHED, BreachAcknowledged(breach_id=BREACH, member_id=SAM)],
         DisputeBreach(**by(SAM), breach_id=BREACH, account="On reflection, no."),
         "already_acknowledged"),
        ([*BREACHED, BreachAcknowledged(breach_id=BREACH, member_id=SAM)],
         AcknowledgeBreach(**by(SAM), breach_id=BREACH), "already_acknowledged"),
        ([*IN_FORCE, reported(SAM, SAM)], AcknowledgeBreach(**by(SAM), breach_id=BREACH),
         "already_acknowledged"),
        ([*IN_FORCE, reported(SAM, SAM)],
         DisputeBreach(**by(SAM), breach_id=BREACH, account="It was not a date."),
         "already_acknowledged"),
        (BREACHED, DisputeBreach(**by(SAM), breach_id=BREACH, account=" "), "account_required"),
    ],
)
def test_answers_that_are_refused(
    history: list[DomainEvent], command: PolyculeCommand, code: str
) -> None:
    assert refusal(history, command).code == code


@pytest.mark.parametrize("actor", [ROBIN, ALEX])
def test_only_the_member_named_answers_the_report(actor: UUID) -> None:
    acknowledged = refusal(BREACHED, AcknowledgeBreach(**by(actor), breach_id=BREACH))
    disputed = refusal(BREACHED, DisputeBreach(**by(actor), breach_id=BREACH, account="No."))

    for refused in (acknowledged, disputed):
        assert isinstance(refused, NotPermitted)
        assert refused.code == "not_the_member_named"


@pytest.mark.parametrize("breach_id", [BREACH, OTHER_BREACH])
def test_outside_its_audience_a_breach_is_not_found(breach_id: UUID) -> None:
    """The same answer whether it exists or not."""
    not_found(BREACHED, AcknowledgeBreach(**by(KIM), breach_id=breach_id))
    not_found(BREACHED, WidenBreachAudience(**by(KIM), breach_id=breach_id, members=(KIM,)))


# --- Widening the audience ---------------------------------------------------------------


def test_the_reporter_may_widen_the_audience() -> None:
    command = WidenBreachAudience(**by(ROBIN), breach_id=BREACH, members=(KIM, KIM))

    events = when(BREACHED, command)

    assert events == [BreachAudienceWidened(breach_id=BREACH, member_id=ROBIN, added=(KIM,))]
    assert given(*BREACHED, *events).breaches.items[BREACH].visible_to(KIM)


def test_the_whole_polycule_adds_whoever_could_not_see_it_yet() -> None:
    history = [*polycule_of(ROBIN, SAM, ALEX, KIM, LEE), *ratified(ROBIN, SAM, ALEX, at=AGREED),
               reported()]
    command = WidenBreachAudience(**by(ROBIN), breach_id=BREACH, whole_polycule=True)

    events = when(history, command)

    assert events == [BreachAudienceWidened(breach_id=BREACH, member_id=ROBIN, added=(KIM, LEE))]


def test_widening_to_those_who_already_see_it_changes_nothing() -> None:
    command = WidenBreachAudience(**by(ROBIN), breach_id=BREACH, members=(SAM, ALEX))

    assert when(BREACHED, command) == []


@pytest.mark.parametrize("actor", [SAM, ALEX])
def test_only_the_reporter_widens_the_audience(actor: UUID) -> None:
    refused = refusal(BREACHED, WidenBreachAudience(**by(actor), breach_id=BREACH,
                                                    members=(KIM,)))

    assert isinstance(refused, NotPermitted)
    assert refused.code == "not_the_reporter"


def test_a_breach_is_shown_only_to_current_members() -> None:
    command = WidenBreachAudience(**by(ROBIN), breach_id=BREACH, members=(KIM, LEE))

    refused = refusal(BREACHED, command)

    assert refused.code == "not_members"
    assert refused.details == {"not_members": [str(LEE)]}


def test_a_self_reported_breach_is_widened_by_the_one_who_owned_it() -> None:
    history = [*IN_FORCE, reported(SAM, SAM)]
    command = WidenBreachAudience(**by(SAM), breach_id=BREACH, members=(KIM,))

    assert when(history, command) == [
        BreachAudienceWidened(breach_id=BREACH, member_id=SAM, added=(KIM,))
    ]


# --- Who takes which step ----------------------------------------------------------------


def responsibility(actor: UUID, at: datetime = NOW) -> TakeResponsibility:
    return TakeResponsibility(**by(actor, at), breach_id=BREACH, words="I chose not to tell.")


def apology(actor: UUID) -> Apologise:
    return Apologise(**by(actor), breach_id=BREACH, words="I am sorry.")


def commit(actor: UUID, **changes: object) -> Commit:
    fields: dict[str, object] = {
        "breach_id": BREACH, "commitment_id": COMMITMENT, "what": "A call every Sunday evening.",
        "first_due_at": NOW, "every_days": WEEKLY, **changes,
    }
    return Commit(**by(actor), **fields)  # type: ignore[arg-type]


def impact(actor: UUID) -> ShareImpact:
    return ShareImpact(**by(actor), breach_id=BREACH, words="I felt left out.")


def decision(actor: UUID) -> Decide:
    return Decide(**by(actor), breach_id=BREACH, decision="rebuild", note=" slowly ")


def mark(actor: UUID, occurrence: int = 1, at: datetime = NOW, **changes: object) -> MarkCommitment:
    fields: dict[str, object] = {
        "breach_id": BREACH, "commitment_id": COMMITMENT, "occurrence": occurrence,
        "mark": "kept", **changes,
    }
    return MarkCommitment(**by(actor, at), **fields)  # type: ignore[arg-type]


def restoration(actor: UUID) -> ChooseRestoration:
    return ChooseRestoration(**by(actor), breach_id=BREACH)


def name_factor(actor: UUID) -> NameFactor:
    return NameFactor(**by(actor), breach_id=BREACH, factor_id=FACTOR,
                      factor="communication_or_fear", note="I was afraid of the answer.")


def address_factor(actor: UUID) -> AddressFactor:
    return AddressFactor(**by(actor), breach_id=BREACH, factor_id=FACTOR)


def check_in(actor: UUID, trust: int = 4) -> CheckIn:
    return CheckIn(**by(actor), breach_id=BREACH, trust=trust)


def invite_supporter(actor: UUID, **changes: object) -> InviteSupporter:
    fields: dict[str, object] = {
        "breach_id": BREACH, "invitation_id": INVITATION, "secret_hash": "coach-secret",
        "expires_at": NOW + timedelta(days=7), **changes,
    }
    return InviteSupporter(**by(actor), **fields)  # type: ignore[arg-type]


def end(actor: UUID) -> EndRepair:
    return EndRepair(**by(actor), breach_id=BREACH, note="We are done.")


def link(actor: UUID, proposal_id: UUID = BOUNDARY) -> LinkBoundary:
    return LinkBoundary(**by(actor), breach_id=BREACH, proposal_id=proposal_id)


def test_the_breaching_member_takes_responsibility_apologises_and_commits() -> None:
    assert when(BREACHED, responsibility(SAM)) == [
        ResponsibilityTaken(breach_id=BREACH, member_id=SAM, words="I chose not to tell.")
    ]
    assert when(BREACHED, apology(SAM)) == [
        ApologyMade(breach_id=BREACH, member_id=SAM, words="I am sorry.")
    ]
    assert when(BREACHED, commit(SAM)) == [
        CommitmentMade(breach_id=BREACH, commitment_id=COMMITMENT, member_id=SAM,
                       what="A call every Sunday evening.", first_due_at=NOW,
                       every_days=WEEKLY)
    ]


@pytest.mark.parametrize("step", [responsibility, apology, commit])
@pytest.mark.parametrize("actor", [ROBIN, ALEX])
def test_a_harmed_party_cannot_take_the_breaching_members_steps(step: object, actor: UUID) -> None:
    refused = refusal(BREACHED, step(actor))  # type: ignore[operator]

    assert isinstance(refused, NotPermitted)
    assert refused.code == "breaching_member_only"


@pytest.mark.parametrize("actor", [ROBIN, ALEX])
def test_each_harmed_party_shares_impact_and_decides(actor: UUID) -> None:
    assert when(BREACHED, impact(actor)) == [
        ImpactShared(breach_id=BREACH, member_id=actor, words="I felt left out.")
    ]
    assert when(BREACHED, decision(actor)) == [
        RepairDecisionMade(breach_id=BREACH, member_id=actor, decision="rebuild", note="slowly")
    ]


@pytest.mark.parametrize("choice", ["rebuild", "take_space", "end_relationship"])
def test_a_harmed_party_may_decide_not_to_rebuild(choice: str) -> None:
    command = Decide(**by(ALEX), breach_id=BREACH, decision=choice)  # type: ignore[arg-type]

    assert when(BREACHED, command) == [
        RepairDecisionMade(breach_id=BREACH, member_id=ALEX, decision=choice)
    ]


@pytest.mark.parametrize(
    ("step", "code"),
    [
        (impact, "harmed_party_only"),
        (decision, "harmed_party_only"),
        (restoration, "harmed_party_only"),
        (mark, "not_by_the_one_who_committed"),
    ],
)
def test_the_breaching_member_cannot_take_the_harmed_parties_steps(
    step: object, code: str
) -> None:
    refused = refusal(COMMITTED_WEEKLY, step(SAM))  # type: ignore[operator]

    assert isinstance(refused, NotPermitted)
    assert refused.code == code


@pytest.mark.parametrize(
    "step",
    [
        responsibility, apology, commit, impact, decision, mark, restoration, name_factor,
        address_factor, check_in, invite_supporter, end, link,
    ],
)
def test_members_outside_the_repair_find_no_repair(step: object) -> None:
    """Kim cannot see the breach; once the reporter shows it to her, she sees it but does
    not take part in its repair."""
    widened = [*COMMITTED_WEEKLY, BreachAudienceWidened(breach_id=BREACH, member_id=ROBIN,
                                                        added=(KIM,))]

    not_found(COMMITTED_WEEKLY, step(KIM))  # type: ignore[operator]
    not_found(widened, step(KIM))  # type: ignore[operator]


@pytest.mark.parametrize("step", [responsibility, impact, check_in, end])
def test_those_who_are_not_members_are_refused(step: object) -> None:
    history = [*BREACHED, SupporterInvited(breach_id=BREACH, invitation_id=INVITATION,
                                           member_id=ROBIN, secret_hash="coach-secret",
                                           expires_at=NOW + timedelta(days=7)),
               SupporterJoined(breach_id=BREACH, invitation_id=INVITATION, supporter_id=LEE)]

    assert refusal(history, step(LEE)).code == "not_a_member"  # type: ignore[operator]


def test_a_participant_who_left_can_no_longer_take_steps() -> None:
    assert refusal([*BREACHED, left(ALEX)], check_in(ALEX)).code == "not_a_member"


@pytest.mark.parametrize("step", [responsibility, apology, impact])
def test_a_step_in_words_needs_words(step: object) -> None:
    command = step(SAM if step is not impact else ROBIN)  # type: ignore[operator]

    refused = refusal(BREACHED, type(command)(**{**vars(command), "words": "  "}))

    assert refused.code == "text_required"


# --- Commitments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "command", "code"),
    [
        (COMMITTED_WEEKLY, commit(SAM), "commitment_exists"),
        (BREACHED, commit(SAM, every_days=0), "cadence"),
        (BREACHED, commit(SAM, every_days=366), "cadence"),
        (BREACHED, commit(SAM, what=""), "text_required"),
    ],
)
def test_commitments_that_are_refused(
    history: list[DomainEvent], command: Commit, code: str
) -> None:
    assert refusal(history, command).code == code


@pytest.mark.parametrize("every_days", [None, 1, 365])
def test_a_commitment_is_once_or_every_1_to_365_days(every_days: int | None) -> None:
    events = when(BREACHED, commit(SAM, every_days=every_days))

    assert isinstance(events[0], CommitmentMade)
    assert events[0].every_days == every_days


def test_a_harmed_party_marks_an_occurrence_with_its_due_time() -> None:
    command = mark(ALEX, 3, at=NOW + timedelta(days=2 * WEEKLY), mark="missed", note=" late ")

    events = when(COMMITTED_WEEKLY, command)

    assert events == [CommitmentMarked(
        breach_id=BREACH, commitment_id=COMMITMENT, occurrence=3,
        due_at=NOW + timedelta(days=2 * WEEKLY), mark="missed", member_id=ALEX, note="late",
    )]
    marks = given(*COMMITTED_WEEKLY, *events).breaches.items[BREACH].commitments[COMMITMENT].marks
    assert marks == {3: "missed"}


def test_an_occurrence_is_marked_missed_only_once_its_time_has_passed() -> None:
    early = mark(ALEX, 3, at=NOW + timedelta(days=2 * WEEKLY, seconds=-1), mark="missed")
    kept_early = mark(ALEX, 3, at=NOW + timedelta(days=2 * WEEKLY, seconds=-1))

    assert refusal(COMMITTED_WEEKLY, early).code == "not_missed_yet"
    assert [e.mark for e in when(COMMITTED_WEEKLY, kept_early)] == ["kept"]  # type: ignore[attr-defined]


def test_an_occurrence_is_not_marked_before_its_period_begins() -> None:
    early = NOW + timedelta(days=WEEKLY) - timedelta(seconds=1)

    assert refusal(COMMITTED_WEEKLY, mark(ROBIN, 3, at=early)).code == "occurrence_not_yet"


def test_an_occurrence_is_marked_once() -> None:
    history = [*COMMITTED_WEEKLY, *when(COMMITTED_WEEKLY, mark(ROBIN, 1))]

    assert refusal(history, mark(ALEX, 1, mark="missed")).code == "already_marked"


@pytest.mark.parametrize(("every_days", "occurrence"), [(None, 2), (None, 0), (WEEKLY, 0),
                                                        (WEEKLY, -1)])
def test_an_occurrence_that_does_not_exist_cannot_be_marked(
    every_days: int | None, occurrence: int
) -> None:
    history = [*BREACHED, *when(BREACHED, commit(SAM, every_days=every_days))]

    assert refusal(history, mark(ROBIN, occurrence)).code == "no_such_occurrence"


def test_a_one_off_commitment_is_marked_by_its_deadline() -> None:
    history = [*BREACHED, *when(BREACHED, commit(SAM, every_days=None,
                                                 first_due_at=NOW + timedelta(days=30)))]

    events = when(history, mark(ROBIN, 1))

    assert [(e.occurrence, e.due_at) for e in events if isinstance(e, CommitmentMarked)] == [
        (1, NOW + timedelta(days=30))
    ]


def test_an_unknown_commitment_cannot_be_marked() -> None:
    not_found(BREACHED, mark(ROBIN, 1))


# --- Factors, boundaries and check-ins: anyone taking part ------------------------------


@pytest.mark.parametrize("actor", [SAM, ROBIN, ALEX])
def test_any_participant_names_and_addresses_factors(actor: UUID) -> None:
    named = when(BREACHED, name_factor(actor))
    addressed = when([*BREACHED, *named], address_factor(actor))

    assert named == [FactorNamed(breach_id=BREACH, factor_id=FACTOR,
                                 factor="communication_or_fear", member_id=actor,
                                 note="I was afraid of the answer.")]
    assert addressed == [FactorAddressed(breach_id=BREACH, factor_id=FACTOR, member_id=actor)]
    breach = given(*BREACHED, *named, *addressed).breaches.items[BREACH]
    assert breach.factors == {FACTOR: True}


def test_factors_that_are_refused() -> None:
    named = [*BREACHED, *when(BREACHED, name_factor(ROBIN))]
    addressed = [*named, *when(named, address_factor(SAM))]

    assert refusal(named, name_factor(SAM)).code == "factor_exists"
    assert refusal(addressed, address_factor(ALEX)).code == "already_addressed"
    not_found(BREACHED, address_factor(ROBIN))


@pytest.mark.parametrize("actor", [SAM, ROBIN, ALEX])
@pytest.mark.parametrize("trust", [0, 7, 10])
def test_any_participant_checks_in_from_0_to_10(actor: UUID, trust: int) -> None:
    command = CheckIn(**by(actor), breach_id=BREACH, trust=trust, setback=True, note=" hard ")

    assert when(BREACHED, command) == [
        CheckInRecorded(breach_id=BREACH, member_id=actor, trust=trust, setback=True,
                        note="hard")
    ]


@pytest.mark.parametrize("trust", [-1, 11])
def test_trust_is_recorded_from_0_to_10(trust: int) -> None:
    assert refusal(BREACHED, check_in(ALEX, trust)).code == "trust_scale"


def boundary_proposed(proposed_by: UUID = SAM, kind: str = "create") -> AgreementProposed:
    if kind == "end":
        return proposed(ROBIN, SAM, ALEX, proposal_id=BOUNDARY, kind="end",
                        proposed_by=proposed_by, base_version=1)
    return proposed(ROBIN, SAM, proposal_id=BOUNDARY, agreement_id=PAIR,
                    proposed_by=proposed_by)


@pytest.mark.parametrize("actor", [SAM, ROBIN, ALEX])
def test_a_proposal_made_during_the_repair_becomes_a_boundary(actor: UUID) -> None:
    history = [*BREACHED, boundary_proposed(ALEX)]

    events = when(history, link(actor))

    assert events == [BoundaryLinked(breach_id=BREACH, proposal_id=BOUNDARY, member_id=actor)]
    assert given(*history, *events).breaches.items[BREACH].boundaries == (BOUNDARY,)
    assert when([*history, *events], link(ROBIN)) == []


def test_a_boundary_can_be_an_amendment_of_the_breached_agreement() -> None:
    amendment = proposed(ROBIN, SAM, ALEX, proposal_id=BOUNDARY, kind="amend",
                         proposed_by=SAM, base_version=1)

    assert when([*BREACHED, amendment], link(ROBIN)) == [
        BoundaryLinked(breach_id=BREACH, proposal_id=BOUNDARY, member_id=ROBIN)
    ]


@pytest.mark.parametrize(
    ("history", "code"),
    [
        ([*IN_FORCE, boundary_proposed(), reported()], "proposal_before_breach"),
        ([*BREACHED, boundary_proposed(kind="end")], "not_a_boundary"),
        ([*BREACHED, proposed(ROBIN, KIM, proposal_id=BOUNDARY, agreement_id=PAIR,
                              proposed_by=KIM)], "not_a_participants_proposal"),
    ],
)
def test_boundaries_that_are_refused(history: list[DomainEvent], code: str) -> None:
    assert refusal(history, link(ROBIN)).code == code


def test_an_unknown_proposal_is_no_boundary() -> None:
    not_found(BREACHED, link(ROBIN))


def offered(*history: DomainEvent) -> tuple[UUID, ...]:
    state = given(*history)
    return boundaries_to_link(state.breaches.items[BREACH], state.agreements)


def test_the_proposals_offered_as_boundaries_are_those_linking_accepts() -> None:
    before, ours, kims, ending = (uuid.uuid4() for _ in range(4))
    history = [
        *IN_FORCE,
        proposed(ROBIN, SAM, proposal_id=before, agreement_id=PAIR),
        reported(),
        proposed(ROBIN, SAM, proposal_id=ours, agreement_id=uuid.uuid4(), proposed_by=SAM),
        proposed(ROBIN, KIM, proposal_id=kims, agreement_id=uuid.uuid4(), proposed_by=KIM),
        proposed(ROBIN, SAM, ALEX, proposal_id=ending, kind="end", base_version=1),
    ]

    assert offered(*history) == (ours,)
    refused = {
        before: "proposal_before_breach",
        kims: "not_a_participants_proposal",
        ending: "not_a_boundary",
    }
    for proposal_id, code in refused.items():
        assert refusal(history, link(ALEX, proposal_id)).code == code
    linked = when(history, link(ALEX, ours))
    assert linked == [BoundaryLinked(breach_id=BREACH, proposal_id=ours, member_id=ALEX)]
    assert offered(*history, *linked) == ()
    later = proposed(ROBIN, ALEX, proposal_id=uuid.uuid4(), agreement_id=uuid.uuid4())
    assert offered(*history, *linked, later) == (later.proposal_id,)
    # A closed repair takes no more boundaries, so none is offered.
    ended = RepairClosed(breach_id=BREACH, outcome="ended", member_id=ALEX)
    assert offered(*history, *linked, later, ended) == ()


# --- Supporters --------------------------------------------------------------------------


def supporter_invited(expires_at: datetime = NOW + timedelta(days=7)) -> SupporterInvited:
    return SupporterInvited(breach_id=BREACH, invitation_id=INVITATION, member_id=ALEX,
                            secret_hash="coach-secret", expires_at=expires_at)


def accept(actor: UUID = LEE, at: datetime = NOW, secret: str = "coach-secret") -> PolyculeCommand:
    return AcceptSupporterInvitation(**by(actor, at), secret_hash=secret)


INVITED = [*BREACHED, supporter_invited()]


@pytest.mark.parametrize("actor", [SAM, ROBIN, ALEX])
def test_any_participant_invites_a_supporter(actor: UUID) -> None:
    events = when(BREACHED, invite_supporter(actor))

    assert events == [SupporterInvited(breach_id=BREACH, invitation_id=INVITATION,
                                       member_id=actor, secret_hash="coach-secret",
                                       expires_at=NOW + timedelta(days=7))]


def test_invitations_that_are_refused() -> None:
    assert refusal(BREACHED, invite_supporter(ROBIN, expires_at=NOW)).code == (
        "invitation_expiry_past"
    )
    assert refusal(INVITED, invite_supporter(ROBIN)).code == "invitation_exists"


def test_a_supporter_who_is_not_a_member_accepts_and_may_read_this_repair_only() -> None:
    history = [*INVITED, reported(ALEX, ROBIN, breach_id=OTHER_BREACH)]

    events = when(history, accept(LEE))

    assert events == [SupporterJoined(breach_id=BREACH, invitation_id=INVITATION,
                                      supporter_id=LEE)]
    supported = given(*history, *events).breaches.supported_by(LEE)
    assert [breach.breach_id for breach in supported] == [BREACH]


def test_a_member_outside_the_repair_may_be_its_supporter() -> None:
    assert when(INVITED, accept(KIM)) == [
        SupporterJoined(breach_id=BREACH, invitation_id=INVITATION, supporter_id=KIM)
    ]


@pytest.mark.parametrize(
    ("history", "command", "code"),
    [
        ([*INVITED, SupporterJoined(breach_id=BREACH, invitation_id=INVITATION,
                                    supporter_id=LEE)], accept(KIM), "invitation_used"),
        (INVITED, accept(LEE, at=NOW + timedelta(days=7)), "invitation_expired"),
        (INVITED, accept(SAM), "participant_cannot_support"),
        (INVITED, accept(ROBIN), "participant_cannot_support"),
    ],
)
def test_acceptances_that_are_refused(
    history: list[DomainEvent], command: PolyculeCommand, code: str
) -> None:
    assert refusal(history, command).code == code


def test_an_unknown_invitation_is_not_found() -> None:
    not_found(INVITED, accept(LEE, secret="guessed"))


def test_a_supporter_cannot_join_once_the_repair_has_closed() -> None:
    history = [*INVITED, RepairClosed(breach_id=BREACH, outcome="ended", member_id=ALEX)]

    assert refusal(history, accept(LEE)).code == "repair_closed"


# --- Closing -----------------------------------------------------------------------------


def test_one_harmed_partys_forgiveness_does_not_close_the_repair() -> None:
    events = when(BREACHED, restoration(ROBIN))

    assert events == [RestorationChosen(breach_id=BREACH, member_id=ROBIN)]
    assert given(*BREACHED, *events).breaches.items[BREACH].repair == "open"


def test_the_last_harmed_partys_choice_closes_it_as_restored_in_the_same_decision() -> None:
    history = [*BREACHED, RestorationChosen(breach_id=BREACH, member_id=ROBIN)]

    events = when(history, restoration(ALEX))

    assert events == [
        RestorationChosen(breach_id=BREACH, member_id=ALEX),
        RepairClosed(breach_id=BREACH, outcome="restored"),
    ]
    assert given(*history, *events).breaches.items[BREACH].repair == "restored"


def test_choosing_restoration_twice_changes_nothing() -> None:
    history = [*BREACHED, RestorationChosen(breach_id=BREACH, member_id=ROBIN)]

    assert when(history, restoration(ROBIN)) == []


def test_with_one_harmed_party_their_choice_closes_it_at_once() -> None:
    history = [*FOUR, *ratified(ROBIN, SAM, at=AGREED, agreement_id=PAIR),
               reported(parties=(ROBIN, SAM), agreement_id=PAIR)]

    assert when(history, restoration(ROBIN)) == [
        RestorationChosen(breach_id=BREACH, member_id=ROBIN),
        RepairClosed(breach_id=BREACH, outcome="restored"),
    ]


@pytest.mark.parametrize("actor", [SAM, ROBIN, ALEX])
def test_anyone_taking_part_may_end_the_repair(actor: UUID) -> None:
    events = when(BREACHED, end(actor))

    assert events == [RepairClosed(breach_id=BREACH, outcome="ended", member_id=actor,
                                   note="We are done.")]
    assert given(*BREACHED, *events).breaches.items[BREACH].repair == "ended"


@pytest.mark.parametrize("outcome", ["restored", "ended"])
@pytest.mark.parametrize(
    ("step", "actor"),
    [
        (responsibility, SAM), (apology, SAM), (commit, SAM), (impact, ROBIN),
        (decision, ALEX), (restoration, ROBIN), (name_factor, SAM), (check_in, ALEX),
        (invite_supporter, ROBIN), (end, SAM), (link, ROBIN),
    ],
)
def test_nothing_is_added_after_the_repair_closed(
    step: object, actor: UUID, outcome: str
) -> None:
    refused = refusal([*closed(outcome), boundary_proposed()], step(actor))  # type: ignore[operator]

    assert refused.code == "repair_closed"


def test_nothing_is_marked_after_the_repair_closed() -> None:
    history = [*COMMITTED_WEEKLY, RepairClosed(breach_id=BREACH, outcome="ended",
                                               member_id=SAM)]

    assert refusal(history, mark(ROBIN, 1)).code == "repair_closed"


def test_a_closed_repair_does_not_close_another_breachs_repair() -> None:
    history = [*closed("ended"), reported(ALEX, ROBIN, breach_id=OTHER_BREACH)]

    command = CheckIn(**by(ALEX), breach_id=OTHER_BREACH, trust=5)

    assert when(history, command) == [
        CheckInRecorded(breach_id=OTHER_BREACH, member_id=ALEX, trust=5)
    ]


# --- Occurrences falling due (the scheduler's) --------------------------------------------


def announce(occurrence: int, at: datetime) -> AnnounceCommitmentDue:
    return AnnounceCommitmentDue(
        actor=uuid.UUID(int=0), at=at, command_id=uuid.uuid4(), breach_id=BREACH,
        commitment_id=COMMITMENT, occurrence=occurrence,
    )


def test_an_occurrence_falls_due_once_in_order_and_only_when_its_time_has_come() -> None:
    first = when(COMMITTED_WEEKLY, announce(1, NOW))

    assert first == [CommitmentFellDue(
        breach_id=BREACH, commitment_id=COMMITMENT, occurrence=1, due_at=NOW
    )]
    announced = [*COMMITTED_WEEKLY, *first]
    assert when(announced, announce(1, NOW)) == []  # once
    assert when(announced, announce(3, NOW + timedelta(days=30))) == []  # in order
    assert when(announced, announce(2, NOW + timedelta(days=WEEKLY, seconds=-1))) == []
    assert [e.occurrence for e in when(  # type: ignore[attr-defined]
        announced, announce(2, NOW + timedelta(days=WEEKLY))
    )] == [2]


def test_nothing_falls_due_in_a_closed_repair_or_after_a_one_off() -> None:
    one_off = [
        *BREACHED,
        CommitmentMade(breach_id=BREACH, commitment_id=COMMITMENT, member_id=SAM,
                       what="Tell Robin first.", first_due_at=NOW),
    ]
    ended = [*COMMITTED_WEEKLY, RepairClosed(breach_id=BREACH, outcome="ended", member_id=ALEX)]

    assert when(ended, announce(1, NOW)) == []
    announced = [*one_off, *when(one_off, announce(1, NOW))]
    assert when(announced, announce(2, NOW + timedelta(days=365))) == []
