"""Breaches, and the repair that follows each one.

A breach names the agreement, the member who crossed it, when, and what happened; the
version in force at that moment is resolved from the agreement's history and kept with it.
It is self-reported (owning it matters) or reported by another party; the member named
acknowledges or disputes it, and both accounts stay. It is visible to the parties of that
version, and the reporter may widen that audience.

The repair is not a ticket workflow but the process people actually go through
(docs/domain.md#repair): its participants are the member who breached and the harmed
parties (the version's other parties), and its steps come in whatever order they need. Who may
take which step is a rule here: responsibility, apology and commitments are the breaching
member's; impact, the decision to rebuild, take space or end the relationship, marking a
commitment kept or missed, and forgiveness are each harmed party's. Any participant names
and addresses factors, links new boundaries (proposals made during the repair: one
definition, ``proposals_made_during``), checks in, invites a supporter (who may read
this repair and nothing else) and may close it as ended. It is closed as restored only
when every harmed party has chosen that.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from ledger.domain import Command
from ledger.domain.agreements import Agreements, ClosedProposal, Proposal
from ledger.domain.commitments import Mark, due_at
from ledger.errors import DomainError, NotFound, NotPermitted
from ledger.events import EVENTS, DomainEvent
from ledger.text_marks import PersonalText

Decision = Literal["rebuild", "take_space", "end_relationship"]
Factor = Literal[
    "fuzzy_agreement", "could_not_renegotiate", "communication_or_fear",
    "day_to_day_reliability", "substance_use", "other",
]
Outcome = Literal["restored", "ended"]

# --- Events: the breach ------------------------------------------------------------------


@EVENTS.register("BreachReported")
class BreachReported(DomainEvent):
    breach_id: UUID
    agreement_id: UUID
    # The version in force when it happened, and its parties.
    version: int
    parties: tuple[UUID, ...]
    breached_by: UUID
    reported_by: UUID
    happened_at: datetime
    what_happened: PersonalText


@EVENTS.register("BreachAcknowledged")
class BreachAcknowledged(DomainEvent):
    breach_id: UUID
    member_id: UUID
    account: PersonalText | None = None


@EVENTS.register("BreachDisputed")
class BreachDisputed(DomainEvent):
    breach_id: UUID
    member_id: UUID
    account: PersonalText


@EVENTS.register("BreachAudienceWidened")
class BreachAudienceWidened(DomainEvent):
    breach_id: UUID
    member_id: UUID
    added: tuple[UUID, ...]


# --- Events: the repair ------------------------------------------------------------------


@EVENTS.register("ResponsibilityTaken")
class ResponsibilityTaken(DomainEvent):
    breach_id: UUID
    member_id: UUID
    words: PersonalText


@EVENTS.register("ImpactShared")
class ImpactShared(DomainEvent):
    breach_id: UUID
    member_id: UUID
    words: PersonalText


@EVENTS.register("ApologyMade")
class ApologyMade(DomainEvent):
    breach_id: UUID
    member_id: UUID
    words: PersonalText


@EVENTS.register("RepairDecisionMade")
class RepairDecisionMade(DomainEvent):
    breach_id: UUID
    member_id: UUID
    decision: Decision
    note: PersonalText | None = None


@EVENTS.register("FactorNamed")
class FactorNamed(DomainEvent):
    breach_id: UUID
    factor_id: UUID
    factor: Factor
    member_id: UUID
    note: PersonalText | None = None


@EVENTS.register("FactorAddressed")
class FactorAddressed(DomainEvent):
    breach_id: UUID
    factor_id: UUID
    member_id: UUID
    note: PersonalText | None = None


@EVENTS.register("BoundaryLinked")
class BoundaryLinked(DomainEvent):
    """A proposal made during the repair, as one of its new boundaries."""

    breach_id: UUID
    proposal_id: UUID
    member_id: UUID


@EVENTS.register("CommitmentMade")
class CommitmentMade(DomainEvent):
    breach_id: UUID
    commitment_id: UUID
    member_id: UUID
    what: PersonalText
    # When the first (or only) occurrence is due; then every ``every_days``, if set.
    first_due_at: datetime
    every_days: int | None = None


@EVENTS.register("CommitmentMarked")
class CommitmentMarked(DomainEvent):
    breach_id: UUID
    commitment_id: UUID
    # 1 for the first occurrence.
    occurrence: int
    due_at: datetime
    mark: Mark
    member_id: UUID
    note: PersonalText | None = None


@EVENTS.register("CommitmentFellDue")
class CommitmentFellDue(DomainEvent):
    """The scheduler's: an occurrence of a commitment is due now (to keep, and to mark)."""

    breach_id: UUID
    commitment_id: UUID
    occurrence: int
    due_at: datetime


@EVENTS.register("CheckInRecorded")
class CheckInRecorded(DomainEvent):
    """How trust feels to this participant now: their own feeling, never a score of anyone.

    ``private``: kept to its author — nobody else in the repair, nor its supporters, reads
    it (ledger/auth/policy.py, ``may_read_check_in``). Shared unless the author says so."""

    breach_id: UUID
    member_id: UUID
    trust: int
    setback: bool = False
    note: PersonalText | None = None
    private: bool = False


@EVENTS.register("SupporterInvited")
class SupporterInvited(DomainEvent):
    breach_id: UUID
    invitation_id: UUID
    member_id: UUID
    # SHA-256 (hex) of the invitation's secret, which travels only to the supporter.
    secret_hash: str
    expires_at: datetime


@EVENTS.register("SupporterJoined")
class SupporterJoined(DomainEvent):
    breach_id: UUID
    invitation_id: UUID
    supporter_id: UUID


@EVENTS.register("RestorationChosen")
class RestorationChosen(DomainEvent):
    """A harmed party's forgiveness: from here the breach is not to be used as a trump card."""

    breach_id: UUID
    member_id: UUID


@EVENTS.register("RepairClosed")
class RepairClosed(DomainEvent):
    breach_id: UUID
    outcome: Outcome
    # Who ended it; None when it closed as restored with the last harmed party's choice.
    member_id: UUID | None = None
    note: PersonalText | None = None


# --- Commands ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReportBreach(Command):
    breach_id: UUID
    agreement_id: UUID
    breached_by: UUID
    happened_at: datetime
    what_happened: str


@dataclass(frozen=True, kw_only=True)
class AcknowledgeBreach(Command):
    breach_id: UUID
    account: str | None = None


@dataclass(frozen=True, kw_only=True)
class DisputeBreach(Command):
    breach_id: UUID
    account: str


@dataclass(frozen=True, kw_only=True)
class WidenBreachAudience(Command):
    breach_id: UUID
    # Members to add; empty with ``whole_polycule`` adds every current member.
    members: tuple[UUID, ...] = ()
    whole_polycule: bool = False


@dataclass(frozen=True, kw_only=True)
class TakeResponsibility(Command):
    breach_id: UUID
    words: str


@dataclass(frozen=True, kw_only=True)
class ShareImpact(Command):
    breach_id: UUID
    words: str


@dataclass(frozen=True, kw_only=True)
class Apologise(Command):
    breach_id: UUID
    words: str


@dataclass(frozen=True, kw_only=True)
class Decide(Command):
    breach_id: UUID
    decision: Decision
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class NameFactor(Command):
    breach_id: UUID
    factor_id: UUID
    factor: Factor
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class AddressFactor(Command):
    breach_id: UUID
    factor_id: UUID
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class LinkBoundary(Command):
    breach_id: UUID
    proposal_id: UUID


@dataclass(frozen=True, kw_only=True)
class Commit(Command):
    breach_id: UUID
    commitment_id: UUID
    what: str
    first_due_at: datetime
    every_days: int | None = None


@dataclass(frozen=True, kw_only=True)
class AnnounceCommitmentDue(Command):
    """The scheduler's: the next occurrence of this commitment has come due."""

    breach_id: UUID
    commitment_id: UUID
    occurrence: int


@dataclass(frozen=True, kw_only=True)
class MarkCommitment(Command):
    breach_id: UUID
    commitment_id: UUID
    occurrence: int
    mark: Mark
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckIn(Command):
    breach_id: UUID
    trust: int
    setback: bool = False
    note: str | None = None
    # Kept to the one checking in.
    private: bool = False


@dataclass(frozen=True, kw_only=True)
class InviteSupporter(Command):
    breach_id: UUID
    invitation_id: UUID
    secret_hash: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class AcceptSupporterInvitation(Command):
    """Sent by the supporter, who is not (and need not be) a member of the polycule."""

    secret_hash: str


@dataclass(frozen=True, kw_only=True)
class ChooseRestoration(Command):
    breach_id: UUID


@dataclass(frozen=True, kw_only=True)
class EndRepair(Command):
    breach_id: UUID
    note: str | None = None


RepairCommand = (
    ReportBreach | AcknowledgeBreach | DisputeBreach | WidenBreachAudience
    | TakeResponsibility | ShareImpact | Apologise | Decide | NameFactor | AddressFactor
    | LinkBoundary | Commit | MarkCommitment | CheckIn | InviteSupporter
    | AcceptSupporterInvitation | ChooseRestoration | EndRepair | AnnounceCommitmentDue
)
REPAIR_COMMANDS = (
    ReportBreach, AcknowledgeBreach, DisputeBreach, WidenBreachAudience, TakeResponsibility,
    ShareImpact, Apologise, Decide, NameFactor, AddressFactor, LinkBoundary, Commit,
    MarkCommitment, CheckIn, InviteSupporter, AcceptSupporterInvitation, ChooseRestoration,
    EndRepair, AnnounceCommitmentDue,
)


# --- State -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commitment:
    commitment_id: UUID
    first_due_at: datetime
    every_days: int | None
    marks: Mapping[int, Mark] = field(default_factory=dict)
    # The last occurrence the scheduler announced as due (0: none yet).
    announced: int = 0

    def due_at(self, occurrence: int) -> datetime:
        return due_at(self.first_due_at, self.every_days, occurrence)

    def exists(self, occurrence: int) -> bool:
        return occurrence == 1 or (occurrence > 1 and self.every_days is not None)


@dataclass(frozen=True, slots=True)
class SupporterInvitation:
    invitation_id: UUID
    expires_at: datetime
    used: bool = False


@dataclass(frozen=True, slots=True)
class Breach:
    breach_id: UUID
    agreement_id: UUID
    version: int
    breached_by: UUID
    reported_by: UUID
    harmed: tuple[UUID, ...]
    # Who may see the breach: the version's parties and whoever the reporter added.
    audience: frozenset[UUID]
    # How many proposals the polycule had when it was reported: later ones were made
    # during the repair (``proposals_made_during``).
    proposals_before: int
    status: Literal["reported", "disputed", "acknowledged"] = "reported"
    repair: Literal["open", "restored", "ended"] = "open"
    restored_by: frozenset[UUID] = frozenset()
    factors: Mapping[UUID, bool] = field(default_factory=dict)  # factor id → addressed
    commitments: Mapping[UUID, Commitment] = field(default_factory=dict)
    boundaries: tuple[UUID, ...] = ()
    supporters: frozenset[UUID] = frozenset()
    invitations: Mapping[str, SupporterInvitation] = field(default_factory=dict)

    @property
    def participants(self) -> tuple[UUID, ...]:
        return (self.breached_by, *self.harmed)

    @property
    def self_reported(self) -> bool:
        return self.reported_by == self.breached_by

    def visible_to(self, member_id: UUID) -> bool:
        return member_id in self.audience


@dataclass(frozen=True, slots=True)
class Breaches:
    items: Mapping[UUID, Breach] = field(default_factory=dict)

    def supported_by(self, account_id: UUID) -> list[Breach]:
        return [breach for breach in self.items.values() if account_id in breach.supporters]


# --- Decide ------------------------------------------------------------------------------


def decide(
    state: Breaches, members: Sequence[UUID], agreements: Agreements, command: RepairCommand
) -> Sequence[DomainEvent]:
    if isinstance(command, AcceptSupporterInvitation):
        return _accept_supporter(state, members, command)
    if isinstance(command, AnnounceCommitmentDue):
        return _announce_due(state, command)
    if command.actor not in members:
        raise DomainError("not_a_member", "only current members can do this")
    if isinstance(command, ReportBreach):
        return _report(state, members, agreements, command)
    breach = _visible_breach(state, command.breach_id, command.actor)
    if isinstance(command, AcknowledgeBreach | DisputeBreach):
        return _answer_report(breach, command)
    if isinstance(command, WidenBreachAudience):
        return _widen(breach, members, command)
    _require_participant(breach, command.actor)
    if breach.repair != "open":
        raise DomainError(
            "repair_closed", f"this repair has closed ({breach.repair}); nothing more is added"
        )
    if isinstance(command, TakeResponsibility | Apologise | Commit):
        _require_breaching_member(breach, command.actor)
        return _breaching_members_step(breach, command)
    if isinstance(command, ShareImpact | Decide | MarkCommitment | ChooseRestoration):
        _require_harmed_party(breach, command)
        return _harmed_partys_step(breach, command)
    return _anyones_step(breach, agreements, command)


def _report(
    state: Breaches, members: Sequence[UUID], agreements: Agreements, command: ReportBreach
) -> Sequence[DomainEvent]:
    if command.breach_id in state.items:
        raise DomainError("breach_exists", "a breach with this id already exists")
    agreement = agreements.agreements.get(command.agreement_id)
    if agreement is None:
        raise NotFound("no such agreement")
    if command.happened_at > command.at:
        raise DomainError("happened_in_future", "a breach can only be reported once it happened")
    span = agreement.version_in_force_at(command.happened_at)
    if span is None:
        raise DomainError(
            "agreement_not_in_force",
            "this agreement was not in force at that moment, so it could not be crossed then",
        )
    if command.actor not in span.parties:
        raise NotPermitted(
            "not_a_party", "a breach is reported by a party of the agreement it crossed"
        )
    if command.breached_by not in span.parties:
        raise DomainError(
            "breached_by_not_a_party",
            "only a party of the agreement, as it stood then, can have crossed it",
        )
    if len(span.parties) < 2:
        raise DomainError(
            "nobody_harmed", "an agreement with a single party binds nobody else to harm"
        )
    if not command.what_happened.strip():
        raise DomainError("text_required", "say what happened")
    reported = BreachReported(
        breach_id=command.breach_id,
        agreement_id=agreement.agreement_id,
        version=span.version,
        parties=span.parties,
        breached_by=command.breached_by,
        reported_by=command.actor,
        happened_at=command.happened_at,
        what_happened=command.what_happened.strip(),
    )
    return [reported]


def _answer_report(
    breach: Breach, command: AcknowledgeBreach | DisputeBreach
) -> Sequence[DomainEvent]:
    if command.actor != breach.breached_by:
        raise NotPermitted(
            "not_the_member_named",
            "only the member named in a breach can acknowledge or dispute it",
        )
    if breach.status == "acknowledged":
        raise DomainError("already_acknowledged", "this breach has already been acknowledged")
    if isinstance(command, AcknowledgeBreach):
        return [BreachAcknowledged(
            breach_id=breach.breach_id, member_id=command.actor, account=_note(command.account)
        )]
    if not command.account.strip():
        raise DomainError("account_required", "give your account of what happened")
    return [BreachDisputed(
        breach_id=breach.breach_id, member_id=command.actor, account=command.account.strip()
    )]


def _widen(
    breach: Breach, members: Sequence[UUID], command: WidenBreachAudience
) -> Sequence[DomainEvent]:
    if command.actor != breach.reported_by:
        raise NotPermitted(
            "not_the_reporter", "only the member who reported it can widen who sees it"
        )
    wanted = members if command.whole_polycule else command.members
    outsiders = [str(member) for member in wanted if member not in members]
    if outsiders:
        raise DomainError(
            "not_members", "a breach can be shown only to current members",
            details={"not_members": outsiders},
        )
    added = tuple(member for member in dict.fromkeys(wanted) if member not in breach.audience)
    if not added:
        return []
    return [BreachAudienceWidened(breach_id=breach.breach_id, member_id=command.actor, added=added)]


def _breaching_members_step(
    breach: Breach, command: TakeResponsibility | Apologise | Commit
) -> Sequence[DomainEvent]:
    if isinstance(command, TakeResponsibility):
        return [ResponsibilityTaken(
            breach_id=breach.breach_id, member_id=command.actor, words=_words(command.words)
        )]
    if isinstance(command, Apologise):
        return [ApologyMade(
            breach_id=breach.breach_id, member_id=command.actor, words=_words(command.words)
        )]
    if command.commitment_id in breach.commitments:
        raise DomainError("commitment_exists", "a commitment with this id already exists")
    if command.every_days is not None and not 1 <= command.every_days <= 365:
        raise DomainError("cadence", "a commitment repeats every 1 to 365 days")
    return [CommitmentMade(
        breach_id=breach.breach_id,
        commitment_id=command.commitment_id,
        member_id=command.actor,
        what=_words(command.what),
        first_due_at=command.first_due_at,
        every_days=command.every_days,
    )]


def _harmed_partys_step(
    breach: Breach, command: ShareImpact | Decide | MarkCommitment | ChooseRestoration
) -> Sequence[DomainEvent]:
    if isinstance(command, ShareImpact):
        return [ImpactShared(
            breach_id=breach.breach_id, member_id=command.actor, words=_words(command.words)
        )]
    if isinstance(command, Decide):
        return [RepairDecisionMade(
            breach_id=breach.breach_id, member_id=command.actor, decision=command.decision,
            note=_note(command.note),
        )]
    if isinstance(command, MarkCommitment):
        return [_marked(breach, command)]
    if command.actor in breach.restored_by:
        return []
    chosen = RestorationChosen(breach_id=breach.breach_id, member_id=command.actor)
    if set(breach.harmed) <= breach.restored_by | {command.actor}:
        return [chosen, RepairClosed(breach_id=breach.breach_id, outcome="restored")]
    return [chosen]


def _marked(breach: Breach, command: MarkCommitment) -> CommitmentMarked:
    commitment = breach.commitments.get(command.commitment_id)
    if commitment is None:
        raise NotFound("no such commitment")
    if not commitment.exists(command.occurrence):
        raise DomainError("no_such_occurrence", "this commitment has no such occurrence")
    if command.occurrence in commitment.marks:
        raise DomainError("already_marked", "this occurrence has already been marked")
    due_at = commitment.due_at(command.occurrence)
    # An occurrence can be marked once its period has begun (a weekly call made a day
    # early still counts), never ahead of that.
    opens_at = due_at - timedelta(days=commitment.every_days or 0)
    if commitment.every_days is not None and command.at < opens_at:
        raise DomainError("occurrence_not_yet", "this occurrence's time has not come yet")
    if command.mark == "missed" and command.at < due_at:
        raise DomainError(
            "not_missed_yet", "an occurrence can be marked missed only once its time has passed"
        )
    return CommitmentMarked(
        breach_id=breach.breach_id,
        commitment_id=commitment.commitment_id,
        occurrence=command.occurrence,
        due_at=due_at,
        mark=command.mark,
        member_id=command.actor,
        note=_note(command.note),
    )


def _anyones_step(
    breach: Breach, agreements: Agreements, command: RepairCommand
) -> Sequence[DomainEvent]:
    if isinstance(command, NameFactor):
        if command.factor_id in breach.factors:
            raise DomainError("factor_exists", "a factor with this id already exists")
        return [FactorNamed(
            breach_id=breach.breach_id, factor_id=command.factor_id, factor=command.factor,
            member_id=command.actor, note=_note(command.note),
        )]
    if isinstance(command, AddressFactor):
        addressed = breach.factors.get(command.factor_id)
        if addressed is None:
            raise NotFound("no such factor")
        if addressed:
            raise DomainError("already_addressed", "this factor is already marked addressed")
        return [FactorAddressed(
            breach_id=breach.breach_id, factor_id=command.factor_id, member_id=command.actor,
            note=_note(command.note),
        )]
    if isinstance(command, LinkBoundary):
        return _link_boundary(breach, agreements, command)
    if isinstance(command, CheckIn):
        if not 0 <= command.trust <= 10:
            raise DomainError("trust_scale", "trust is recorded from 0 to 10")
        return [CheckInRecorded(
            breach_id=breach.breach_id, member_id=command.actor, trust=command.trust,
            setback=command.setback, note=_note(command.note), private=command.private,
        )]
    if isinstance(command, InviteSupporter):
        if command.expires_at <= command.at:
            raise DomainError("invitation_expiry_past", "an invitation must expire in the future")
        if command.secret_hash in breach.invitations:
            raise DomainError("invitation_exists", "this invitation was already made")
        return [SupporterInvited(
            breach_id=breach.breach_id, invitation_id=command.invitation_id,
            member_id=command.actor, secret_hash=command.secret_hash,
            expires_at=command.expires_at,
        )]
    if isinstance(command, EndRepair):
        return [RepairClosed(
            breach_id=breach.breach_id, outcome="ended", member_id=command.actor,
            note=_note(command.note),
        )]
    raise TypeError(f"{type(command).__name__} is not a step of a repair")


def _link_boundary(
    breach: Breach, agreements: Agreements, command: LinkBoundary
) -> Sequence[DomainEvent]:
    proposal = agreements.proposals.get(command.proposal_id)
    if proposal is None:
        raise NotFound("no such proposal")
    made_during = {made.proposal_id for made in proposals_made_during(breach, agreements)}
    if proposal.proposal_id not in made_during:
        raise DomainError(
            "proposal_before_breach", "a new boundary is a proposal made during the repair"
        )
    refusal = _not_a_boundary(breach, proposal)
    if refusal is not None:
        raise refusal
    if command.proposal_id in breach.boundaries:
        return []
    return [BoundaryLinked(
        breach_id=breach.breach_id, proposal_id=command.proposal_id, member_id=command.actor
    )]


def proposals_made_during(
    breach: Breach, agreements: Agreements
) -> tuple[Proposal | ClosedProposal, ...]:
    """The proposals made during the breach's repair, in the order they were made: every
    one made since the breach was reported, for a repair begins with its report.

    The one definition of "made during the repair": linking a boundary asks it, and so
    does the page that offers the proposals to link (through ``boundaries_to_link``).
    """
    return tuple(itertools.islice(agreements.proposals.values(), breach.proposals_before, None))


def boundaries_to_link(breach: Breach, agreements: Agreements) -> tuple[UUID, ...]:
    """The proposals the repair's participants may link as its new boundaries now, in the
    order they were made: those ``LinkBoundary`` would record, and not linked yet."""
    if breach.repair != "open":
        return ()
    return tuple(
        proposal.proposal_id for proposal in proposals_made_during(breach, agreements)
        if _not_a_boundary(breach, proposal) is None
        and proposal.proposal_id not in breach.boundaries
    )


def _not_a_boundary(breach: Breach, proposal: Proposal | ClosedProposal) -> DomainError | None:
    """Why a proposal made during the repair cannot be one of its boundaries, if it cannot."""
    if proposal.kind == "end":
        return DomainError("not_a_boundary", "a proposal to end an agreement is not a boundary")
    if proposal.proposed_by not in breach.participants:
        return DomainError(
            "not_a_participants_proposal", "a boundary is proposed by one of the participants"
        )
    return None


def _announce_due(state: Breaches, command: AnnounceCommitmentDue) -> Sequence[DomainEvent]:
    breach = state.items.get(command.breach_id)
    commitment = breach.commitments.get(command.commitment_id) if breach else None
    if (
        breach is None
        or commitment is None
        or breach.repair != "open"
        or command.occurrence != commitment.announced + 1
        or not commitment.exists(command.occurrence)
        or commitment.due_at(command.occurrence) > command.at
    ):
        return []  # not (or no longer) due: the scheduler may ask more than once
    return [CommitmentFellDue(
        breach_id=breach.breach_id,
        commitment_id=commitment.commitment_id,
        occurrence=command.occurrence,
        due_at=commitment.due_at(command.occurrence),
    )]


def _accept_supporter(
    state: Breaches, members: Sequence[UUID], command: AcceptSupporterInvitation
) -> Sequence[DomainEvent]:
    for breach in state.items.values():
        invitation = breach.invitations.get(command.secret_hash)
        if invitation is None:
            continue
        if invitation.used:
            raise DomainError("invitation_used", "this invitation has already been used")
        if breach.repair != "open":
            raise DomainError(
                "repair_closed", f"this repair has closed ({breach.repair}); nobody joins it now"
            )
        if invitation.expires_at <= command.at:
            raise DomainError("invitation_expired", "this invitation has expired")
        if command.actor in breach.participants:
            raise DomainError(
                "participant_cannot_support", "a participant cannot also be a supporter"
            )
        return [SupporterJoined(
            breach_id=breach.breach_id, invitation_id=invitation.invitation_id,
            supporter_id=command.actor,
        )]
    raise NotFound("no such invitation")


def _visible_breach(state: Breaches, breach_id: UUID, actor: UUID) -> Breach:
    breach = state.items.get(breach_id)
    if breach is None or not breach.visible_to(actor):
        raise NotFound("no such breach")
    return breach


def _require_participant(breach: Breach, actor: UUID) -> None:
    if actor not in breach.participants:
        # Seeing the breach (a widened audience) is not taking part in its repair.
        raise NotFound("no such repair")


def _require_breaching_member(breach: Breach, actor: UUID) -> None:
    if actor != breach.breached_by:
        raise NotPermitted(
            "breaching_member_only",
            "responsibility, the apology and commitments come from the member who breached",
        )


def _require_harmed_party(
    breach: Breach, command: ShareImpact | Decide | MarkCommitment | ChooseRestoration
) -> None:
    if command.actor in breach.harmed:
        return
    if isinstance(command, MarkCommitment):
        raise NotPermitted(
            "not_by_the_one_who_committed",
            "a commitment is marked kept or missed by a harmed party, not by the one who made it",
        )
    if isinstance(command, ChooseRestoration):
        raise NotPermitted(
            "harmed_party_only",
            "only the harmed parties can close a repair as restored: forgiveness is theirs",
        )
    raise NotPermitted("harmed_party_only", "this step is taken by a harmed party")


def _words(text: str) -> str:
    if not text.strip():
        raise DomainError("text_required", "this step needs a few words")
    return text.strip()


def _note(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


# --- Evolve ------------------------------------------------------------------------------


def evolve(state: Breaches, event: DomainEvent, agreements: Agreements) -> Breaches:
    """``agreements`` is the polycule's agreements before this event (proposals counted)."""
    if isinstance(event, BreachReported):
        breach = Breach(
            breach_id=event.breach_id,
            agreement_id=event.agreement_id,
            version=event.version,
            breached_by=event.breached_by,
            reported_by=event.reported_by,
            harmed=tuple(party for party in event.parties if party != event.breached_by),
            audience=frozenset(event.parties),
            proposals_before=len(agreements.proposals),
            status="acknowledged" if event.reported_by == event.breached_by else "reported",
        )
        return _with(state, breach)
    breach_id = getattr(event, "breach_id", None)
    if not isinstance(breach_id, UUID) or breach_id not in state.items:
        return state
    breach = state.items[breach_id]
    if isinstance(event, BreachAcknowledged):
        return _with(state, replace(breach, status="acknowledged"))
    if isinstance(event, BreachDisputed):
        return _with(state, replace(breach, status="disputed"))
    if isinstance(event, BreachAudienceWidened):
        return _with(state, replace(breach, audience=breach.audience | set(event.added)))
    if isinstance(event, FactorNamed):
        return _with(state, replace(breach, factors={**breach.factors, event.factor_id: False}))
    if isinstance(event, FactorAddressed):
        return _with(state, replace(breach, factors={**breach.factors, event.factor_id: True}))
    if isinstance(event, BoundaryLinked):
        return _with(state, replace(breach, boundaries=(*breach.boundaries, event.proposal_id)))
    if isinstance(event, CommitmentMade):
        commitment = Commitment(event.commitment_id, event.first_due_at, event.every_days)
        return _with(state, replace(
            breach, commitments={**breach.commitments, event.commitment_id: commitment}
        ))
    if isinstance(event, CommitmentFellDue):
        commitment = breach.commitments[event.commitment_id]
        announced = replace(commitment, announced=max(commitment.announced, event.occurrence))
        return _with(state, replace(
            breach, commitments={**breach.commitments, event.commitment_id: announced}
        ))
    if isinstance(event, CommitmentMarked):
        commitment = breach.commitments[event.commitment_id]
        marked = replace(commitment, marks={**commitment.marks, event.occurrence: event.mark})
        return _with(state, replace(
            breach, commitments={**breach.commitments, event.commitment_id: marked}
        ))
    if isinstance(event, SupporterInvited):
        invitation = SupporterInvitation(event.invitation_id, event.expires_at)
        return _with(state, replace(
            breach, invitations={**breach.invitations, event.secret_hash: invitation}
        ))
    if isinstance(event, SupporterJoined):
        invitations = {
            secret: replace(invitation, used=True)
            if invitation.invitation_id == event.invitation_id else invitation
            for secret, invitation in breach.invitations.items()
        }
        return _with(state, replace(
            breach, invitations=invitations, supporters=breach.supporters | {event.supporter_id}
        ))
    if isinstance(event, RestorationChosen):
        return _with(state, replace(breach, restored_by=breach.restored_by | {event.member_id}))
    if isinstance(event, RepairClosed):
        return _with(state, replace(breach, repair=event.outcome))
    return state


def _with(state: Breaches, breach: Breach) -> Breaches:
    return replace(state, items={**state.items, breach.breach_id: breach})
