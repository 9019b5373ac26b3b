"""Agreements and the proposals that make, change and end them: the consent engine.

Everything happens on the polycule's stream (ledger/domain/polycules.py hands agreement
commands here together with the current members). The rules, told for the people who
use them in docs/domain.md#agreements:

* Agreements change only through proposals: create, amend (a new version) or end.
* Consent is unanimous and explicit, to the exact revision of the text. The proposer's own
  proposal is their consent. Ratification is decided together with the last consent, so
  it is appended in the same transaction. One objection rejects. A deadline expires a
  proposal; silence never ratifies it. Revising clears every consent to the old revision.
* A party may change their answer while the proposal is open: a yes that becomes a no
  rejects it (a no closes the proposal, so nothing follows it). Every answer is kept, in
  order; a member's current answer to a revision is the last one they gave it
  (``last_answers``), and who still has to answer is every party without one (``awaited``).
* While an amendment is pending, the current version stays in force; one proposal per
  agreement is open at a time, so two versions can never both be ratified from one base.
* Any party may revoke their consent at any moment: the agreement ends from then on.
* Any member may ask a question about an open proposal, or comment on it, before anyone
  answers it or after: the conversation is part of its history, and changes nothing that
  is decided (the state keeps none of it).
* A review cadence gives a review date; when it passes the agreement is review-due until
  every party has reaffirmed it (the clock then restarts) or an amendment is ratified.
  Any party may ask for a review at any time.

The state holds what these rules read, and no more, so it does not grow with the years:
an open ``Proposal`` keeps every answer to it, and a ``ClosedProposal`` only how it closed
and whom it concerned (its answers are the read models'); an ``Agreement`` in force keeps
its review clock and open proposal, and an ``EndedAgreement`` only when each version was
in force, and for whom.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, Literal, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ledger.domain import Command
from ledger.domain.clarity import fuzzy_words
from ledger.errors import DomainError, NotFound, NotPermitted
from ledger.events import EVENTS, DomainEvent
from ledger.text_marks import PersonalText, SharedText

Category = Literal["sexual_health", "disclosure", "time", "commitments", "other"]
CATEGORIES: tuple[Category, ...] = ("sexual_health", "disclosure", "time", "commitments", "other")
ProposalKind = Literal["create", "amend", "end"]
Answer = Literal["consented", "objected"]
ClosedStatus = Literal["ratified", "rejected", "withdrawn", "expired", "lapsed"]
ProposalStatus = Literal["open", "ratified", "rejected", "withdrawn", "expired", "lapsed"]
EndReason = Literal["revoked", "party_left", "ended_by_proposal"]
LapseReason = Literal["party_left", "agreement_ended"]
# What a member's words about a proposal are: something they ask, or something they say.
CommentKind = Literal["question", "comment"]


# --- The text members agree to -----------------------------------------------------------


class Definition(BaseModel):
    """What the parties mean by a word their agreement relies on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    word: SharedText
    meaning: SharedText


class AgreementText(BaseModel):
    """One revision of an agreement's wording, sealed under the polycule's key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: SharedText
    terms: SharedText
    definitions: tuple[Definition, ...] = ()
    category: Category = "other"
    # What the parties agreed will happen if it is crossed.
    if_broken: SharedText = ""
    # Days between reviews; None when the parties want no scheduled review.
    review_every_days: int | None = None

    def fuzzy_words(self) -> tuple[str, ...]:
        """Words known to be read differently that this text uses without defining."""
        return _fuzzy_words_of(
            self.title, self.terms, self.if_broken,
            tuple(definition.word for definition in self.definitions),
        )


# Every reading of an agreement shows its clarity check; a wording is checked once.
@functools.lru_cache(maxsize=4096)
def _fuzzy_words_of(
    title: str, terms: str, if_broken: str, defined: tuple[str, ...]
) -> tuple[str, ...]:
    return fuzzy_words((title, terms, if_broken), defined)


# --- Events ------------------------------------------------------------------------------


@EVENTS.register("AgreementProposed")
class AgreementProposed(DomainEvent):
    proposal_id: UUID
    agreement_id: UUID
    kind: ProposalKind
    proposed_by: UUID
    parties: tuple[UUID, ...]
    # None for a proposal to end an agreement: it has no wording of its own.
    text: AgreementText | None
    # The version an amendment or ending would replace; None for a new agreement.
    base_version: int | None = None
    respond_by: datetime | None = None
    # Why the proposer wants an ending (their words).
    note: PersonalText | None = None
    # The closed proposal (one not agreed) that this one asks again, reworded or not.
    asks_again: UUID | None = None


@EVENTS.register("ProposalRevised")
class ProposalRevised(DomainEvent):
    proposal_id: UUID
    revision: int
    parties: tuple[UUID, ...]
    text: AgreementText
    respond_by: datetime | None = None


@EVENTS.register("ConsentGiven")
class ConsentGiven(DomainEvent):
    proposal_id: UUID
    revision: int
    member_id: UUID


@EVENTS.register("ObjectionRaised")
class ObjectionRaised(DomainEvent):
    proposal_id: UUID
    revision: int
    member_id: UUID
    reason: PersonalText


@EVENTS.register("CommentMade")
class CommentMade(DomainEvent):
    """A member asked a question about a proposal, or commented on it (their words)."""

    proposal_id: UUID
    comment_id: UUID
    member_id: UUID
    # The revision the member was reading when they wrote it.
    revision: int
    kind: CommentKind
    text: PersonalText


@EVENTS.register("ProposalRejected")
class ProposalRejected(DomainEvent):
    proposal_id: UUID
    revision: int


@EVENTS.register("ProposalWithdrawn")
class ProposalWithdrawn(DomainEvent):
    proposal_id: UUID
    member_id: UUID


@EVENTS.register("ProposalExpired")
class ProposalExpired(DomainEvent):
    proposal_id: UUID
    respond_by: datetime


@EVENTS.register("ProposalLapsed")
class ProposalLapsed(DomainEvent):
    """Closed without an answer because it could no longer be answered."""

    proposal_id: UUID
    reason: LapseReason


@EVENTS.register("AgreementRatified")
class AgreementRatified(DomainEvent):
    """A version comes into force: every party consented to this revision."""

    agreement_id: UUID
    proposal_id: UUID
    revision: int
    version: int
    parties: tuple[UUID, ...]
    # From this moment (the last consent's), exact to the event: what was in force when
    # is answered from it (a breach resolves the version it crossed with it).
    at: datetime
    next_review_at: datetime | None = None


@EVENTS.register("AgreementEnded")
class AgreementEnded(DomainEvent):
    agreement_id: UUID
    version: int
    reason: EndReason
    # Until this moment; from it on, the agreement binds nobody.
    at: datetime
    # Who revoked, or who left; None when the parties ended it together by a proposal.
    member_id: UUID | None = None
    proposal_id: UUID | None = None
    note: PersonalText | None = None


@EVENTS.register("ReviewBecameDue")
class ReviewBecameDue(DomainEvent):
    agreement_id: UUID
    version: int
    due_at: datetime


@EVENTS.register("ReviewRequested")
class ReviewRequested(DomainEvent):
    agreement_id: UUID
    version: int
    member_id: UUID
    note: PersonalText


@EVENTS.register("AgreementReaffirmed")
class AgreementReaffirmed(DomainEvent):
    agreement_id: UUID
    version: int
    member_id: UUID


@EVENTS.register("ReviewCompleted")
class ReviewCompleted(DomainEvent):
    """Every party reaffirmed the version under review; the review clock starts again."""

    agreement_id: UUID
    version: int
    next_review_at: datetime | None = None


# --- Commands ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProposeAgreement(Command):
    proposal_id: UUID
    agreement_id: UUID
    parties: tuple[UUID, ...]
    text: AgreementText
    respond_by: datetime | None = None
    # An agreement whose one party is its proposer is in force the moment it is proposed;
    # proposing one must say so, so that forgetting to name the others never does it.
    binds_only_proposer: bool = False
    # A closed proposal this one asks again.
    asks_again: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ProposeAmendment(Command):
    proposal_id: UUID
    agreement_id: UUID
    text: AgreementText
    # Members to bind in addition to the current parties.
    added_parties: tuple[UUID, ...] = ()
    respond_by: datetime | None = None
    asks_again: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ProposeEnding(Command):
    proposal_id: UUID
    agreement_id: UUID
    note: str | None = None
    respond_by: datetime | None = None
    asks_again: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class Consent(Command):
    proposal_id: UUID
    # The revision the member read and consents to: consent is to an exact text.
    revision: int


@dataclass(frozen=True, kw_only=True)
class Object(Command):
    proposal_id: UUID
    revision: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class MakeComment(Command):
    proposal_id: UUID
    comment_id: UUID
    kind: CommentKind
    text: str


@dataclass(frozen=True, kw_only=True)
class Withdraw(Command):
    proposal_id: UUID


@dataclass(frozen=True, kw_only=True)
class Revise(Command):
    proposal_id: UUID
    text: AgreementText
    # For a new agreement: all its parties. For an amendment: those added to the current
    # parties. None keeps the parties of the previous revision.
    parties: tuple[UUID, ...] | None = None
    respond_by: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RevokeConsent(Command):
    agreement_id: UUID
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Reaffirm(Command):
    agreement_id: UUID


@dataclass(frozen=True, kw_only=True)
class RequestReview(Command):
    agreement_id: UUID
    note: str


@dataclass(frozen=True, kw_only=True)
class MarkReviewDue(Command):
    """The scheduler's: the review date of this version has passed."""

    agreement_id: UUID
    version: int


@dataclass(frozen=True, kw_only=True)
class ExpireProposal(Command):
    """The scheduler's: this proposal's deadline has passed."""

    proposal_id: UUID


AgreementCommand = (
    ProposeAgreement | ProposeAmendment | ProposeEnding | Consent | Object | Withdraw | Revise
    | RevokeConsent | Reaffirm | RequestReview | MarkReviewDue | ExpireProposal | MakeComment
)
AGREEMENT_COMMANDS = (
    ProposeAgreement, ProposeAmendment, ProposeEnding, Consent, Object, Withdraw, Revise,
    RevokeConsent, Reaffirm, RequestReview, MarkReviewDue, ExpireProposal, MakeComment,
)


# --- State -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answered:
    """One answer as the history keeps it: who gave it, to which revision, and which."""

    revision: int
    member_id: UUID
    answer: Answer


class _AnAnswer(Protocol):
    """What ``last_answers`` needs of an answer: the decider's and the read model's alike."""

    @property
    def revision(self) -> int: ...

    @property
    def member_id(self) -> UUID: ...


AnswerT = TypeVar("AnswerT", bound=_AnAnswer)


def last_answers(answers: Iterable[AnswerT], revision: int) -> tuple[AnswerT, ...]:
    """Each member's current answer to ``revision``: the last one they gave it, from
    ``answers`` in the order given; in the order those last answers were given. The one
    rule for "current answer", which the decider and every reader of answers share."""
    latest: dict[UUID, AnswerT] = {}
    for answer in answers:
        if answer.revision == revision:
            latest.pop(answer.member_id, None)  # a changed answer counts from when it changed
            latest[answer.member_id] = answer
    return tuple(latest.values())


class _AQuestion(Protocol):
    """What ``awaited`` needs of a proposal: the decider's and the read model's alike."""

    @property
    def parties(self) -> Sequence[UUID]: ...

    @property
    def revision(self) -> int: ...

    @property
    def answers(self) -> Sequence[_AnAnswer]: ...

    @property
    def status(self) -> str: ...


def awaited(proposal: _AQuestion) -> tuple[UUID, ...]:
    """Who still has to answer the proposal: while it is open, its parties (in their order)
    who have given its current revision no answer; once it is closed, nobody. The one rule
    for "who still has to answer", which the proposal's view and the inbox share."""
    if proposal.status != "open":
        return ()
    answered = {answer.member_id for answer in last_answers(proposal.answers, proposal.revision)}
    return tuple(party for party in proposal.parties if party not in answered)


@dataclass(frozen=True, slots=True)
class Proposal:
    """An open proposal: everything its answers are decided against."""

    proposal_id: UUID
    agreement_id: UUID
    kind: ProposalKind
    proposed_by: UUID
    parties: tuple[UUID, ...]
    # Of its wording the decider needs only this number (the words are read models');
    # None for an ending, or when the parties want no scheduled review.
    review_every_days: int | None
    base_version: int | None
    respond_by: datetime | None
    revision: int = 1
    # Every answer to every revision, in the order given; none is ever taken back.
    answers: tuple[Answered, ...] = ()
    status: Literal["open"] = "open"

    @property
    def is_open(self) -> bool:
        return True

    def current_answers(self) -> dict[UUID, Answer]:
        """Each member's answer to the current revision: the last one they gave it."""
        return {
            answered.member_id: answered.answer
            for answered in last_answers(self.answers, self.revision)
        }

    @property
    def consents(self) -> frozenset[UUID]:
        """Who consented to the current revision, and has not changed that answer since."""
        return frozenset(
            member for member, answer in self.current_answers().items() if answer == "consented"
        )


@dataclass(frozen=True, slots=True)
class ClosedProposal:
    """A proposal no longer open, as far as deciding still reads it: a late answer is
    refused with how it closed; a new agreement's id stays taken by the proposal that
    named it; a repair's boundary may be a proposal made during it, whatever became of
    it (its kind and proposer); and its parties are told that it closed. Its answers,
    revisions and deadline are the read models' (the history shows them): no rule reads
    them once it has closed, so a state does not grow with them."""

    proposal_id: UUID
    agreement_id: UUID
    kind: ProposalKind
    proposed_by: UUID
    parties: tuple[UUID, ...]
    status: ClosedStatus

    @property
    def is_open(self) -> bool:
        return False


# A proposal as the state knows it: open (all of it), or closed (what is left to read).
AnyProposal = Annotated[Proposal | ClosedProposal, Field(discriminator="status")]


@dataclass(frozen=True, slots=True)
class VersionSpan:
    """When one version was in force: from ``since`` until ``until`` (excluded), or still."""

    version: int
    parties: tuple[UUID, ...]
    since: datetime
    until: datetime | None = None

    def covers(self, moment: datetime) -> bool:
        return self.since <= moment and (self.until is None or moment < self.until)


@dataclass(frozen=True, slots=True)
class Agreement:
    """An agreement in force: a version binds its parties now."""

    agreement_id: UUID
    version: int
    parties: tuple[UUID, ...]
    review_every_days: int | None
    next_review_at: datetime | None = None
    review_due: bool = False
    # Parties who reaffirmed since the review became due.
    reaffirmed_by: frozenset[UUID] = frozenset()
    # The one open proposal to amend or end it, if any.
    open_proposal: UUID | None = None
    # Every version's time in force, oldest first.
    spans: tuple[VersionSpan, ...] = ()
    active: Literal[True] = True

    def version_in_force_at(self, moment: datetime) -> VersionSpan | None:
        return _span_covering(self.spans, moment)


@dataclass(frozen=True, slots=True)
class EndedAgreement:
    """An agreement that ended, as far as deciding still reads it: nothing more can change
    it (it is refused as ended), its id stays taken, and a breach of a moment it was in
    force is resolved against the version, and the parties, of that moment. Its last
    version's parties are told that it ended, and may still say that a disclosure
    fulfils it. Its review clock and open proposal ended with it."""

    agreement_id: UUID
    # Every version's time in force, oldest first; the last one ended with the agreement.
    spans: tuple[VersionSpan, ...]
    active: Literal[False] = False

    @property
    def version(self) -> int:
        return self.spans[-1].version

    @property
    def parties(self) -> tuple[UUID, ...]:
        return self.spans[-1].parties

    def version_in_force_at(self, moment: datetime) -> VersionSpan | None:
        return _span_covering(self.spans, moment)


def _span_covering(spans: Sequence[VersionSpan], moment: datetime) -> VersionSpan | None:
    return next((span for span in spans if span.covers(moment)), None)


# An agreement as the state knows it: in force (all of it), or ended (what is left to read).
AnyAgreement = Annotated[Agreement | EndedAgreement, Field(discriminator="active")]


@dataclass(frozen=True, slots=True)
class Agreements:
    agreements: Mapping[UUID, AnyAgreement] = field(default_factory=dict)
    # In the order they were made (a repair's boundaries are those made during it).
    proposals: Mapping[UUID, AnyProposal] = field(default_factory=dict)

    def active(self) -> list[Agreement]:
        return [
            agreement for agreement in self.agreements.values()
            if isinstance(agreement, Agreement)
        ]

    def open_proposals(self) -> list[Proposal]:
        return [
            proposal for proposal in self.proposals.values() if isinstance(proposal, Proposal)
        ]


# --- Decide ------------------------------------------------------------------------------


def decide(
    state: Agreements, members: Sequence[UUID], command: AgreementCommand
) -> Sequence[DomainEvent]:
    """The events ``command`` causes, given the agreements and the current members."""
    if isinstance(command, MarkReviewDue):
        return _mark_review_due(state, command)
    if isinstance(command, ExpireProposal):
        return _expire(state, command)
    if command.actor not in members:
        raise DomainError("not_a_member", "only current members can do this")
    if isinstance(command, ProposeAgreement):
        return _propose_agreement(state, members, command)
    if isinstance(command, ProposeAmendment):
        return _propose_amendment(state, members, command)
    if isinstance(command, ProposeEnding):
        return _propose_ending(state, command)
    if isinstance(command, Consent):
        return _consent(state, command)
    if isinstance(command, Object):
        return _object(state, command)
    if isinstance(command, Withdraw):
        return _withdraw(state, command)
    if isinstance(command, Revise):
        return _revise(state, members, command)
    if isinstance(command, RevokeConsent):
        return _revoke(state, command)
    if isinstance(command, Reaffirm):
        return _reaffirm(state, command)
    if isinstance(command, MakeComment):
        return _comment(state, command)
    return _request_review(state, command)


def when_member_leaves(state: Agreements, member_id: UUID, at: datetime) -> list[DomainEvent]:
    """What a member's leaving does: every agreement they were a party to ends, and every
    proposal they would have had to answer (or could withdraw) lapses."""
    events: list[DomainEvent] = []
    lapsed: set[UUID] = set()
    for proposal in state.open_proposals():
        if member_id in proposal.parties or member_id == proposal.proposed_by:
            events.append(ProposalLapsed(proposal_id=proposal.proposal_id, reason="party_left"))
            lapsed.add(proposal.proposal_id)
    for agreement in state.active():
        if member_id in agreement.parties:
            events.append(AgreementEnded(
                agreement_id=agreement.agreement_id,
                version=agreement.version,
                reason="party_left",
                at=at,
                member_id=member_id,
            ))
            events += _lapse_pending(agreement, exclude=lapsed)
    return events


def _propose_agreement(
    state: Agreements, members: Sequence[UUID], command: ProposeAgreement
) -> Sequence[DomainEvent]:
    _require_new_proposal(state, command.proposal_id)
    if command.agreement_id in state.agreements or any(
        proposal.agreement_id == command.agreement_id for proposal in state.proposals.values()
    ):
        raise DomainError("agreement_exists", "an agreement with this id already exists")
    parties = _checked_parties(command.parties, members)
    if parties == (command.actor,) and not command.binds_only_proposer:
        raise DomainError(
            "binds_only_you",
            "this agreement names only you, so it would be in force at once with nobody "
            "else asked: name the others it concerns, or say that it binds only you",
        )
    _check_text(command.text)
    _check_respond_by(command.respond_by, command.at)
    _check_asked_again(state, command.asks_again)
    proposed = AgreementProposed(
        proposal_id=command.proposal_id,
        agreement_id=command.agreement_id,
        kind="create",
        proposed_by=command.actor,
        parties=parties,
        text=command.text,
        respond_by=command.respond_by,
        asks_again=command.asks_again,
    )
    return [proposed, *_proposers_consent(state, _proposal_of(proposed), command.at)]


def _propose_amendment(
    state: Agreements, members: Sequence[UUID], command: ProposeAmendment
) -> Sequence[DomainEvent]:
    _require_new_proposal(state, command.proposal_id)
    agreement = _changeable_agreement(state, command.agreement_id, command.actor)
    parties = _checked_parties(
        (*agreement.parties, *(p for p in command.added_parties if p not in agreement.parties)),
        members,
    )
    _check_text(command.text)
    _check_respond_by(command.respond_by, command.at)
    _check_asked_again(state, command.asks_again)
    proposed = AgreementProposed(
        proposal_id=command.proposal_id,
        agreement_id=agreement.agreement_id,
        kind="amend",
        proposed_by=command.actor,
        parties=parties,
        text=command.text,
        base_version=agreement.version,
        respond_by=command.respond_by,
        asks_again=command.asks_again,
    )
    return [proposed, *_proposers_consent(state, _proposal_of(proposed), command.at)]


def _propose_ending(state: Agreements, command: ProposeEnding) -> Sequence[DomainEvent]:
    _require_new_proposal(state, command.proposal_id)
    agreement = _changeable_agreement(state, command.agreement_id, command.actor)
    _check_respond_by(command.respond_by, command.at)
    _check_asked_again(state, command.asks_again)
    proposed = AgreementProposed(
        proposal_id=command.proposal_id,
        agreement_id=agreement.agreement_id,
        kind="end",
        proposed_by=command.actor,
        parties=agreement.parties,
        text=None,
        base_version=agreement.version,
        respond_by=command.respond_by,
        note=_optional_note(command.note),
        asks_again=command.asks_again,
    )
    return [proposed, *_proposers_consent(state, _proposal_of(proposed), command.at)]


def _consent(state: Agreements, command: Consent) -> Sequence[DomainEvent]:
    proposal = _answerable(state, command.proposal_id, command.actor, command.at)
    _require_revision(proposal, command.revision)
    if command.actor in proposal.consents:
        return []  # consenting again changes nothing, and adds nothing to the history
    consented = ConsentGiven(
        proposal_id=proposal.proposal_id, revision=proposal.revision, member_id=command.actor
    )
    consents = proposal.consents | {command.actor}
    return [consented, *_ratification_if_unanimous(state, proposal, consents, command.at)]


def _object(state: Agreements, command: Object) -> Sequence[DomainEvent]:
    # Whatever the member answered before (a yes included), a no rejects: answers may
    # change while the proposal is open, and one objection blocks.
    proposal = _answerable(state, command.proposal_id, command.actor, command.at)
    _require_revision(proposal, command.revision)
    if not command.reason.strip():
        raise DomainError(
            "reason_required", "an objection needs a reason, so the others can understand it"
        )
    return [
        ObjectionRaised(
            proposal_id=proposal.proposal_id,
            revision=proposal.revision,
            member_id=command.actor,
            reason=command.reason.strip(),
        ),
        ProposalRejected(proposal_id=proposal.proposal_id, revision=proposal.revision),
    ]


def _comment(state: Agreements, command: MakeComment) -> Sequence[DomainEvent]:
    # Any member, party or not: every member reads the proposal, so every member may ask
    # about it. Only while it can still be answered: once it is closed, rewording it and
    # asking again starts a new conversation.
    proposal = _open_proposal(state, command.proposal_id)
    _require_before_deadline(proposal, command.at)
    if not command.text.strip():
        raise DomainError(
            "words_required", "a question or a comment needs a few words of yours"
        )
    return [CommentMade(
        proposal_id=proposal.proposal_id,
        comment_id=command.comment_id,
        member_id=command.actor,
        revision=proposal.revision,
        kind=command.kind,
        text=command.text.strip(),
    )]


def _withdraw(state: Agreements, command: Withdraw) -> Sequence[DomainEvent]:
    proposal = _open_proposal(state, command.proposal_id)
    if command.actor != proposal.proposed_by:
        raise NotPermitted("not_the_proposer", "only the member who proposed it can withdraw it")
    return [ProposalWithdrawn(proposal_id=proposal.proposal_id, member_id=command.actor)]


def _revise(
    state: Agreements, members: Sequence[UUID], command: Revise
) -> Sequence[DomainEvent]:
    proposal = _open_proposal(state, command.proposal_id)
    if command.actor != proposal.proposed_by:
        raise NotPermitted("not_the_proposer", "only the member who proposed it can revise it")
    _require_before_deadline(proposal, command.at)
    if proposal.kind == "end":
        raise DomainError(
            "nothing_to_revise", "a proposal to end an agreement has no text to revise"
        )
    if command.parties is None:
        parties = proposal.parties
    elif proposal.kind == "amend":
        current = state.agreements[proposal.agreement_id].parties
        parties = (*current, *(p for p in command.parties if p not in current))
    else:
        parties = command.parties
    parties = _checked_parties(parties, members)
    _check_text(command.text)
    respond_by = command.respond_by if command.respond_by is not None else proposal.respond_by
    _check_respond_by(respond_by, command.at)
    revised = replace(
        proposal,
        revision=proposal.revision + 1,
        parties=parties,
        review_every_days=command.text.review_every_days,
        respond_by=respond_by,
    )
    return [
        ProposalRevised(
            proposal_id=proposal.proposal_id,
            revision=revised.revision,
            parties=parties,
            text=command.text,
            respond_by=respond_by,
        ),
        *_proposers_consent(state, revised, command.at),
    ]


def _revoke(state: Agreements, command: RevokeConsent) -> Sequence[DomainEvent]:
    agreement = _party_to_active(state, command.agreement_id, command.actor)
    ended = AgreementEnded(
        agreement_id=agreement.agreement_id,
        version=agreement.version,
        reason="revoked",
        at=command.at,
        member_id=command.actor,
        note=_optional_note(command.note),
    )
    return [ended, *_lapse_pending(agreement)]


def _reaffirm(state: Agreements, command: Reaffirm) -> Sequence[DomainEvent]:
    agreement = _party_to_active(state, command.agreement_id, command.actor)
    if not agreement.review_due:
        raise DomainError("no_review_due", "this agreement is not waiting for a review")
    if command.actor in agreement.reaffirmed_by:
        return []
    reaffirmed = AgreementReaffirmed(
        agreement_id=agreement.agreement_id, version=agreement.version, member_id=command.actor
    )
    if set(agreement.parties) <= agreement.reaffirmed_by | {command.actor}:
        completed = ReviewCompleted(
            agreement_id=agreement.agreement_id,
            version=agreement.version,
            next_review_at=_next_review(agreement.review_every_days, command.at),
        )
        return [reaffirmed, completed]
    return [reaffirmed]


def _request_review(state: Agreements, command: RequestReview) -> Sequence[DomainEvent]:
    agreement = _party_to_active(state, command.agreement_id, command.actor)
    if not command.note.strip():
        raise DomainError(
            "note_required", "say in a few words what no longer works, so the others know"
        )
    return [ReviewRequested(
        agreement_id=agreement.agreement_id,
        version=agreement.version,
        member_id=command.actor,
        note=command.note.strip(),
    )]


def _mark_review_due(state: Agreements, command: MarkReviewDue) -> Sequence[DomainEvent]:
    agreement = state.agreements.get(command.agreement_id)
    if (
        not isinstance(agreement, Agreement)  # none, or ended already
        or agreement.version != command.version
        or agreement.review_due
        or agreement.next_review_at is None
        or command.at < agreement.next_review_at
    ):
        return []  # nothing is due (any more): the scheduler may ask more than once
    return [ReviewBecameDue(
        agreement_id=agreement.agreement_id,
        version=agreement.version,
        due_at=agreement.next_review_at,
    )]


def _expire(state: Agreements, command: ExpireProposal) -> Sequence[DomainEvent]:
    proposal = state.proposals.get(command.proposal_id)
    if (
        not isinstance(proposal, Proposal)  # none, or closed already
        or proposal.respond_by is None
        or command.at < proposal.respond_by
    ):
        return []
    return [ProposalExpired(proposal_id=proposal.proposal_id, respond_by=proposal.respond_by)]


# --- Rules shared by several commands ----------------------------------------------------


def _proposers_consent(
    state: Agreements, proposal: Proposal, at: datetime
) -> list[DomainEvent]:
    """A proposal is its proposer's consent, when they are one of its parties."""
    if proposal.proposed_by not in proposal.parties:
        return []
    consented = ConsentGiven(
        proposal_id=proposal.proposal_id, revision=proposal.revision, member_id=proposal.proposed_by
    )
    consents = proposal.consents | {proposal.proposed_by}
    return [consented, *_ratification_if_unanimous(state, proposal, consents, at)]


def _ratification_if_unanimous(
    state: Agreements, proposal: Proposal, consents: frozenset[UUID], at: datetime
) -> list[DomainEvent]:
    if not set(proposal.parties) <= consents:
        return []
    if proposal.kind == "end":
        agreement = state.agreements[proposal.agreement_id]
        return [AgreementEnded(
            agreement_id=agreement.agreement_id,
            version=agreement.version,
            reason="ended_by_proposal",
            at=at,
            proposal_id=proposal.proposal_id,
        )]
    current = state.agreements.get(proposal.agreement_id)
    return [AgreementRatified(
        agreement_id=proposal.agreement_id,
        proposal_id=proposal.proposal_id,
        revision=proposal.revision,
        version=current.version + 1 if current else 1,
        parties=proposal.parties,
        at=at,
        next_review_at=_next_review(proposal.review_every_days, at),
    )]


def _lapse_pending(agreement: Agreement, exclude: set[UUID] | None = None) -> list[DomainEvent]:
    if agreement.open_proposal is None or agreement.open_proposal in (exclude or set()):
        return []
    return [ProposalLapsed(proposal_id=agreement.open_proposal, reason="agreement_ended")]


def _next_review(review_every_days: int | None, at: datetime) -> datetime | None:
    if review_every_days is None:
        return None
    return at + timedelta(days=review_every_days)


def _require_new_proposal(state: Agreements, proposal_id: UUID) -> None:
    if proposal_id in state.proposals:
        raise DomainError("proposal_exists", "a proposal with this id already exists")


def _checked_parties(parties: Sequence[UUID], members: Sequence[UUID]) -> tuple[UUID, ...]:
    if not parties:
        raise DomainError("no_parties", "an agreement binds at least one member")
    if len(set(parties)) != len(parties):
        raise DomainError("party_repeated", "each party is named once")
    outsiders = [str(party) for party in parties if party not in members]
    if outsiders:
        raise DomainError(
            "party_not_member",
            "every party must be a current member of the polycule",
            details={"not_members": outsiders},
        )
    return tuple(parties)


def _check_text(text: AgreementText) -> None:
    if not text.title.strip() or not text.terms.strip():
        raise DomainError("text_required", "an agreement needs a title and terms")
    words = [definition.word.strip().lower() for definition in text.definitions]
    if any(not word for word in words) or len(set(words)) != len(words):
        raise DomainError(
            "definition_repeated", "each defined word appears once and is not blank"
        )
    if text.review_every_days is not None and not 1 <= text.review_every_days <= 3650:
        raise DomainError("review_cadence", "a review cadence is between 1 and 3650 days")


def _check_respond_by(respond_by: datetime | None, at: datetime) -> None:
    if respond_by is not None and respond_by <= at:
        raise DomainError("deadline_past", "a deadline to respond must be in the future")


def _check_asked_again(state: Agreements, asked_again: UUID | None) -> None:
    """A proposal asked again is one of this polycule's that is closed (an open one is
    reworded instead). Only its id and whether it is open are looked at."""
    if asked_again is None:
        return
    if asked_again not in state.proposals:
        raise DomainError(
            "not_asked_before", "the proposal this asks again is not one of this polycule's"
        )
    if state.proposals[asked_again].is_open:
        raise DomainError(
            "asked_while_open",
            "the proposal this asks again is still open: reword it rather than ask again",
        )


def _optional_note(note: str | None) -> str | None:
    return note.strip() if note and note.strip() else None


def _open_proposal(state: Agreements, proposal_id: UUID) -> Proposal:
    proposal = state.proposals.get(proposal_id)
    if proposal is None:
        raise NotFound("no such proposal")
    if not isinstance(proposal, Proposal):
        raise DomainError(
            "proposal_closed",
            f"this proposal is no longer open: it was {proposal.status}",
            details={"status": proposal.status},
        )
    return proposal


def _require_before_deadline(proposal: Proposal, at: datetime) -> None:
    if proposal.respond_by is not None and at >= proposal.respond_by:
        raise DomainError(
            "proposal_expired",
            "the deadline to respond to this proposal has passed; it cannot take effect",
        )


def _answerable(state: Agreements, proposal_id: UUID, actor: UUID, at: datetime) -> Proposal:
    proposal = _open_proposal(state, proposal_id)
    _require_before_deadline(proposal, at)
    if actor not in proposal.parties:
        raise NotPermitted(
            "not_a_party",
            "only the members this proposal would bind can consent to it or object",
        )
    return proposal


def _require_revision(proposal: Proposal, revision: int) -> None:
    if revision != proposal.revision:
        raise DomainError(
            "revision_changed",
            f"this proposal is now at revision {proposal.revision}; "
            "read that revision and answer it",
            details={"current_revision": proposal.revision},
        )


def _party_to_active(state: Agreements, agreement_id: UUID, actor: UUID) -> Agreement:
    agreement = state.agreements.get(agreement_id)
    if agreement is None:
        raise NotFound("no such agreement")
    if not isinstance(agreement, Agreement):
        raise DomainError("agreement_ended", "this agreement has already ended")
    if actor not in agreement.parties:
        raise NotPermitted("not_a_party", "only the parties of this agreement can do this")
    return agreement


def _changeable_agreement(state: Agreements, agreement_id: UUID, actor: UUID) -> Agreement:
    agreement = _party_to_active(state, agreement_id, actor)
    if agreement.open_proposal is not None:
        raise DomainError(
            "proposal_pending",
            "a proposal to change this agreement is already open: answer or withdraw it first",
            details={"proposal_id": str(agreement.open_proposal)},
        )
    return agreement


# --- Evolve ------------------------------------------------------------------------------


def evolve(state: Agreements, event: DomainEvent) -> Agreements:
    if isinstance(event, AgreementProposed):
        state = _with_proposal(state, _proposal_of(event))
        if event.kind != "create":
            state = _with_agreement(
                state, event.agreement_id, open_proposal=event.proposal_id
            )
        return state
    if isinstance(event, ProposalRevised):
        proposal = state.proposals[event.proposal_id]
        if not isinstance(proposal, Proposal):
            return state  # a closed proposal is never revised
        # Answers to the earlier revision stay in the history; none of them is an answer
        # to the new one.
        return _with_proposal(state, replace(
            proposal,
            revision=event.revision,
            parties=event.parties,
            review_every_days=event.text.review_every_days,
            respond_by=event.respond_by,
        ))
    if isinstance(event, ConsentGiven | ObjectionRaised):
        proposal = state.proposals[event.proposal_id]
        if not isinstance(proposal, Proposal):
            return state  # a closed proposal is never answered
        answered = Answered(
            revision=event.revision,
            member_id=event.member_id,
            answer="consented" if isinstance(event, ConsentGiven) else "objected",
        )
        return _with_proposal(state, replace(proposal, answers=(*proposal.answers, answered)))
    if isinstance(event, ProposalRejected):
        return _closed(state, event.proposal_id, "rejected")
    if isinstance(event, ProposalWithdrawn):
        return _closed(state, event.proposal_id, "withdrawn")
    if isinstance(event, ProposalExpired):
        return _closed(state, event.proposal_id, "expired")
    if isinstance(event, ProposalLapsed):
        return _closed(state, event.proposal_id, "lapsed")
    if isinstance(event, AgreementRatified):
        ratified = state.proposals[event.proposal_id]
        review_every_days = (
            ratified.review_every_days if isinstance(ratified, Proposal) else None
        )
        state = _closed(state, event.proposal_id, "ratified")
        previous = state.agreements.get(event.agreement_id)
        spans = _spans_ended(previous, event.at) if previous else ()
        return _with(state, Agreement(
            agreement_id=event.agreement_id,
            version=event.version,
            parties=event.parties,
            review_every_days=review_every_days,
            next_review_at=event.next_review_at,
            spans=(*spans, VersionSpan(event.version, event.parties, event.at)),
        ))
    if isinstance(event, AgreementEnded):
        if event.proposal_id is not None:
            state = _closed(state, event.proposal_id, "ratified")
        agreement = state.agreements.get(event.agreement_id)
        if not isinstance(agreement, Agreement):
            return state
        return _with(state, EndedAgreement(
            agreement_id=agreement.agreement_id, spans=_spans_ended(agreement, event.at)
        ))
    if isinstance(event, ReviewBecameDue | ReviewRequested):
        return _with_agreement(
            state, event.agreement_id, review_due=True, reaffirmed_by=frozenset()
        )
    if isinstance(event, AgreementReaffirmed):
        agreement = state.agreements[event.agreement_id]
        if not isinstance(agreement, Agreement):
            return state  # an ended agreement is never reaffirmed
        return _with_agreement(
            state, event.agreement_id, reaffirmed_by=agreement.reaffirmed_by | {event.member_id}
        )
    if isinstance(event, ReviewCompleted):
        return _with_agreement(
            state,
            event.agreement_id,
            review_due=False,
            reaffirmed_by=frozenset(),
            next_review_at=event.next_review_at,
        )
    return state


def _spans_ended(agreement: Agreement | EndedAgreement, at: datetime) -> tuple[VersionSpan, ...]:
    """The agreement's spans with the one still open (if any) ended at ``at``."""
    return tuple(
        replace(span, until=at) if span.until is None else span for span in agreement.spans
    )


def _proposal_of(proposed: AgreementProposed) -> Proposal:
    """A proposal as it stands when made (the decider asks what it would ratify)."""
    return Proposal(
        proposal_id=proposed.proposal_id,
        agreement_id=proposed.agreement_id,
        kind=proposed.kind,
        proposed_by=proposed.proposed_by,
        parties=proposed.parties,
        review_every_days=None if proposed.text is None else proposed.text.review_every_days,
        base_version=proposed.base_version,
        respond_by=proposed.respond_by,
    )


def _with_proposal(state: Agreements, proposal: Proposal | ClosedProposal) -> Agreements:
    return replace(state, proposals={**state.proposals, proposal.proposal_id: proposal})


def _with(state: Agreements, agreement: Agreement | EndedAgreement) -> Agreements:
    return replace(state, agreements={**state.agreements, agreement.agreement_id: agreement})


def _with_agreement(state: Agreements, agreement_id: UUID, **changes: object) -> Agreements:
    agreement = state.agreements.get(agreement_id)
    if not isinstance(agreement, Agreement):
        return state  # none, or ended: its review clock and open proposal ended with it
    return _with(state, replace(agreement, **changes))  # type: ignore[arg-type]


def _closed(state: Agreements, proposal_id: UUID, status: ClosedStatus) -> Agreements:
    """The proposal closed: of it, the state keeps only what rules still read."""
    proposal = state.proposals[proposal_id]
    state = _with_proposal(state, ClosedProposal(
        proposal_id=proposal.proposal_id,
        agreement_id=proposal.agreement_id,
        kind=proposal.kind,
        proposed_by=proposal.proposed_by,
        parties=proposal.parties,
        status=status,
    ))
    agreement = state.agreements.get(proposal.agreement_id)
    if isinstance(agreement, Agreement) and agreement.open_proposal == proposal_id:
        state = _with(state, replace(agreement, open_proposal=None))
    return state
