"""Whatever members try, in whatever order, consent keeps its promises.

Random sequences of agreement and membership commands, from random members at advancing
times, go through the polycule's decider. A refused command changes nothing; an accepted
one is evolved into the state. After every step a witness that reads only the events
checks the rules of docs/domain.md#consent: nothing takes effect without every party's consent to
that exact revision, no objection or deadline is overridden, versions follow one another,
and replaying the history gives the same state. Answers may change while a proposal is
open: the witness knows from the events alone what each answer must do (a yes that
becomes a no rejects), and the state keeps every answer, in order.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from ledger.domain.agreements import (
    Agreement,
    AgreementEnded,
    AgreementProposed,
    AgreementRatified,
    AgreementText,
    Answered,
    ClosedProposal,
    Consent,
    ConsentGiven,
    Definition,
    EndedAgreement,
    ExpireProposal,
    MarkReviewDue,
    Object,
    ObjectionRaised,
    Proposal,
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
    Revise,
    RevokeConsent,
    Withdraw,
)
from ledger.domain.polycules import (
    AcceptInvitation,
    InviteMember,
    LeavePolycule,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    PolyculeCommand,
    PolyculeFounded,
    polycule_decider,
)
from ledger.errors import DomainError, NotFound
from ledger.events import DomainEvent

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ROBIN, SAM, ALEX, KIM, LEE = (uuid.uuid4() for _ in range(5))
PEOPLE = (ROBIN, SAM, ALEX, KIM, LEE)  # Lee is not a member until invited
PROPOSALS = tuple(uuid.uuid4() for _ in range(10))
AGREEMENTS = tuple(uuid.uuid4() for _ in range(5))
SECRETS = ("first", "second", "third")
T = TypeVar("T")

FOUNDED: list[DomainEvent] = [
    PolyculeFounded(polycule_id=uuid.uuid4(), founder_id=ROBIN, name="Pancakes"),
    MemberJoined(member_id=ROBIN, display_name="Robin"),
    MemberJoined(member_id=SAM, display_name="Sam", invitation_id=uuid.uuid4()),
    MemberJoined(member_id=ALEX, display_name="Alex", invitation_id=uuid.uuid4()),
    MemberJoined(member_id=KIM, display_name="Kim", invitation_id=uuid.uuid4()),
]


def text(terms: str, review_every_days: int | None) -> AgreementText:
    return AgreementText(
        title="Evenings", terms=terms,
        definitions=(Definition(word="date", meaning="a planned evening out"),),
        review_every_days=review_every_days,
    )


TEXTS = (
    text("We tell each other before a date.", None),
    text("We tell each other a day before a date.", 1),
    text("We check in on Sundays.", 3),
)


# --- What people try ---------------------------------------------------------------------
# Commands are built at NOW; each step moves the clock on and stamps the command with it.
# Ids, actors and revisions come from small pools, but lean towards what the events so far
# make plausible (a party answering an open proposal at its current revision), so that
# long histories of amendments, endings and reviews are reached, not only refusals.

revisions = st.integers(1, 3)
texts = st.sampled_from(TEXTS)
# Deadlines are drawn as if the command came at NOW, and move with it (see `stamped`).
deadlines = st.one_of(
    st.none(), st.integers(0, 24 * 6).map(lambda hours: NOW + timedelta(hours=hours))
)
notes = st.sampled_from(("", "this no longer works for me"))


def usually(
    likely: st.SearchStrategy[T], otherwise: st.SearchStrategy[T], odds: int = 4
) -> st.SearchStrategy[T]:
    """``likely`` ``odds`` times out of ``odds + 1``, else ``otherwise``. (Repeating a
    branch of ``st.one_of`` was measured not to weigh it as much as it seems to.)"""
    return st.sampled_from([True] * odds + [False]).flatmap(
        lambda likely_now: likely if likely_now else otherwise
    )


def mostly(likely: Sequence[T], anything: Sequence[T]) -> st.SearchStrategy[T]:
    """One of ``likely`` four times in five, when there are any; else one of ``anything``."""
    if not likely:
        return st.sampled_from(anything)
    return usually(st.sampled_from(likely), st.sampled_from(anything))


Fields = st.SearchStrategy[object]
Try = st.SearchStrategy[PolyculeCommand]


def command(kind: type[PolyculeCommand], actor: st.SearchStrategy[UUID], **fields: Fields) -> Try:
    return st.builds(kind, actor=actor, at=st.just(NOW), command_id=st.uuids(), **fields)


def actors(seen: Witness) -> st.SearchStrategy[UUID]:
    return mostly(seen.members, PEOPLE)


def parties(seen: Witness) -> st.SearchStrategy[tuple[UUID, ...]]:
    some = st.lists(actors(seen), min_size=1, max_size=3, unique=True).map(tuple)
    return usually(some, st.just(()), odds=5)


def new_proposal(seen: Witness) -> st.SearchStrategy[UUID]:
    return mostly([p for p in PROPOSALS if p not in seen.proposals], PROPOSALS)


def answer(
    seen: Witness, kind: type[PolyculeCommand], by_proposer: bool = False,
    again: bool = False, **fields: Fields
) -> Try:
    """A command about a proposal: mostly an open one, by a party who has not answered it
    yet (or by its proposer; or, ``again``, by a party who has already said yes to it)."""
    def to(proposal_id: UUID) -> Try:
        proposal = seen.proposals.get(proposal_id)
        if proposal is None:
            return command(kind, actors(seen), proposal_id=st.just(proposal_id), **fields)
        plausible = dict(fields)
        if "revision" in fields:
            plausible["revision"] = usually(st.just(proposal.revision), revisions, odds=3)
        said_yes = seen.consented(proposal_id, proposal.revision)
        waiting = [party for party in proposal.parties if party not in said_yes]
        who = (
            [proposal.proposed_by] if by_proposer
            else [party for party in proposal.parties if party in said_yes] if again
            else waiting or list(proposal.parties)
        )
        return command(kind, mostly(who, PEOPLE), proposal_id=st.just(proposal_id),
                       **plausible)

    open_ones = [p for p, proposal in seen.proposals.items() if proposal.status == "open"]
    return mostly(open_ones, PROPOSALS).flatmap(to)


def by_a_party(seen: Witness, kind: type[PolyculeCommand], **fields: Fields) -> Try:
    """A command about an agreement: mostly one in force, by one of its parties."""
    def of(agreement_id: UUID) -> Try:
        plausible = dict(fields)
        version = seen.in_force.get(agreement_id)
        if "version" in fields and version is not None:
            plausible["version"] = usually(st.just(version), fields["version"], odds=3)
        return command(kind, mostly(seen.parties.get(agreement_id, ()), PEOPLE),
                       agreement_id=st.just(agreement_id), **plausible)

    in_force = [a for a, version in seen.in_force.items() if version is not None]
    return mostly(in_force, AGREEMENTS).flatmap(of)


def propose(seen: Witness) -> Try:
    return command(
        ProposeAgreement, actors(seen), proposal_id=new_proposal(seen),
        agreement_id=mostly([a for a in AGREEMENTS if a not in seen.versions], AGREEMENTS),
        parties=parties(seen), text=texts, respond_by=deadlines,
    )


def amend(seen: Witness) -> Try:
    added = st.lists(actors(seen), max_size=2, unique=True).map(tuple)
    return by_a_party(seen, ProposeAmendment, proposal_id=new_proposal(seen), text=texts,
                      respond_by=deadlines, added_parties=added)


def propose_ending(seen: Witness) -> Try:
    return by_a_party(seen, ProposeEnding, proposal_id=new_proposal(seen),
                      note=st.none() | notes, respond_by=deadlines)


def consent(seen: Witness) -> Try:
    return answer(seen, Consent, revision=revisions)


reasons = st.sampled_from(("", "not like this", "I need more time"))


def object_(seen: Witness) -> Try:
    return answer(seen, Object, revision=revisions, reason=reasons)


def consent_again(seen: Witness) -> Try:
    """A yes from someone who already said yes."""
    return answer(seen, Consent, again=True, revision=revisions)


def change_mind(seen: Witness) -> Try:
    """A no from someone who already said yes."""
    return answer(seen, Object, again=True, revision=revisions, reason=reasons)


def withdraw(seen: Witness) -> Try:
    return answer(seen, Withdraw, by_proposer=True)


def revise(seen: Witness) -> Try:
    return answer(seen, Revise, by_proposer=True, text=texts, respond_by=deadlines,
                  parties=st.none() | parties(seen))


def revoke(seen: Witness) -> Try:
    return by_a_party(seen, RevokeConsent, note=st.none() | notes)


def reaffirm(seen: Witness) -> Try:
    return by_a_party(seen, Reaffirm)


def request_review(seen: Witness) -> Try:
    return by_a_party(seen, RequestReview, note=notes)


def mark_review_due(seen: Witness) -> Try:
    return by_a_party(seen, MarkReviewDue, version=st.integers(1, 3))


def expire(seen: Witness) -> Try:
    return answer(seen, ExpireProposal)


def invite(seen: Witness) -> Try:
    return command(InviteMember, actors(seen), invitation_id=st.uuids(),
                   secret_hash=st.sampled_from(SECRETS),
                   expires_at=st.just(NOW + timedelta(days=365)))


def accept(seen: Witness) -> Try:
    outside = [person for person in PEOPLE if person not in seen.members]
    return command(AcceptInvitation, mostly(outside, PEOPLE),
                   secret_hash=mostly(seen.invitations, SECRETS),
                   display_name=st.just("someone"))


def leave(seen: Witness) -> Try:
    return command(LeavePolycule, actors(seen))


# What is tried, and how often: consenting most of all; leaving, which ends so much, rarely.
TRIES = tuple(
    what
    for what, weight in (
        (propose, 4), (amend, 2), (propose_ending, 1), (consent, 6), (object_, 1),
        (withdraw, 1), (revise, 2), (revoke, 1), (reaffirm, 3), (request_review, 1),
        (mark_review_due, 2), (expire, 2), (invite, 1), (accept, 1), (leave, 1),
    )
    for _ in range(weight)
)
ABOUT_A_PROPOSAL = (consent, object_, consent_again, change_mind, withdraw, revise, expire)
ABOUT_AN_AGREEMENT = (amend, propose_ending, revoke, reaffirm, request_review, mark_review_due)


def worth_trying(seen: Witness) -> st.SearchStrategy[Callable[[Witness], Try]]:
    """Every kind of command, except answers while nothing is open and changes while no
    agreement is in force (they could only be refused as not found)."""
    anything_open = any(proposal.status == "open" for proposal in seen.proposals.values())
    anything_in_force = any(version is not None for version in seen.in_force.values())
    return st.sampled_from([
        what for what in TRIES
        if (anything_open or what not in ABOUT_A_PROPOSAL)
        and (anything_in_force or what not in ABOUT_AN_AGREEMENT)
    ])


def stamped(command: PolyculeCommand, at: datetime) -> PolyculeCommand:
    """The command as sent at ``at``: its deadline, if it names one, as far ahead as drawn."""
    respond_by = getattr(command, "respond_by", None)
    if respond_by is not None:
        command = replace(command, respond_by=respond_by + (at - NOW))
    return replace(command, at=at)


# --- The witness: what the events alone say --------------------------------------------


@dataclass
class SeenProposal:
    kind: str
    agreement_id: UUID
    proposed_by: UUID
    parties: tuple[UUID, ...]
    respond_by: datetime | None
    base_version: int | None
    revision: int = 1
    status: str = "open"


@dataclass
class Witness:
    """Follows the events as they are decided and checks each against the promises."""

    members: list[UUID] = field(default_factory=list)
    invitations: list[str] = field(default_factory=list)
    proposals: dict[UUID, SeenProposal] = field(default_factory=dict)
    # Every answer to each proposal, in the order the events gave them.
    answers: defaultdict[UUID, list[Answered]] = field(default_factory=lambda: defaultdict(list))
    objections: set[tuple[UUID, int]] = field(default_factory=set)
    # Every version of each agreement that came into force, in order.
    versions: dict[UUID, list[int]] = field(default_factory=dict)
    # The version in force now; None once the agreement has ended.
    in_force: dict[UUID, int | None] = field(default_factory=dict)
    parties: dict[UUID, tuple[UUID, ...]] = field(default_factory=dict)

    def see(self, event: DomainEvent, at: datetime) -> None:
        if isinstance(event, MemberJoined):
            self.members.append(event.member_id)
        elif isinstance(event, MemberLeft):
            self.members.remove(event.member_id)
        elif isinstance(event, MemberInvited):
            self.invitations.append(event.secret_hash)
        elif isinstance(event, AgreementProposed):
            assert event.proposal_id not in self.proposals, "a proposal id names one proposal"
            self.proposals[event.proposal_id] = SeenProposal(
                event.kind, event.agreement_id, event.proposed_by, event.parties,
                event.respond_by, event.base_version,
            )
        elif isinstance(event, ProposalRevised):
            proposal = self.open(event.proposal_id)
            assert event.revision == proposal.revision + 1, "revisions count up by one"
            proposal.revision, proposal.parties = event.revision, event.parties
            proposal.respond_by = event.respond_by
        elif isinstance(event, ConsentGiven | ObjectionRaised):
            proposal = self.open(event.proposal_id)
            assert event.revision == proposal.revision, "an answer is to the current revision"
            assert event.member_id in proposal.parties, "only parties answer"
            assert self.before_deadline(proposal, at), "no answer after the deadline"
            objected = isinstance(event, ObjectionRaised)
            if objected and event.member_id in self.consented(event.proposal_id, event.revision):
                tally("a yes became a no")
            self.answers[event.proposal_id].append(Answered(
                event.revision, event.member_id, "objected" if objected else "consented"
            ))
            if objected:
                self.objections.add((event.proposal_id, event.revision))
        elif isinstance(event, ProposalRejected | ProposalWithdrawn | ProposalExpired
                        | ProposalLapsed):
            self.open(event.proposal_id).status = type(event).__name__
        elif isinstance(event, AgreementRatified):
            self.ratified(event, at)
        elif isinstance(event, AgreementEnded):
            assert self.in_force.get(event.agreement_id) == event.version, (
                "only the version in force can end, and only once"
            )
            self.in_force[event.agreement_id] = None
            if event.proposal_id is not None:
                proposal = self.unanimous(event.proposal_id, at)
                assert proposal.kind == "end"
                assert proposal.agreement_id == event.agreement_id
                proposal.status = "ended the agreement"

    def ratified(self, event: AgreementRatified, at: datetime) -> None:
        proposal = self.unanimous(event.proposal_id, at)
        assert event.revision == proposal.revision
        assert event.parties == proposal.parties
        assert event.agreement_id == proposal.agreement_id
        agreement = event.agreement_id
        if proposal.kind == "create":
            assert agreement not in self.versions, "a new agreement is new"
            self.versions[agreement] = []
        else:
            assert proposal.kind == "amend"
            assert self.in_force[agreement] is not None, "an ended agreement stays ended"
            assert self.in_force[agreement] == proposal.base_version, (
                "an amendment replaces the version it was proposed against"
            )
        self.versions[agreement].append(event.version)
        assert self.versions[agreement] == list(range(1, event.version + 1)), (
            "versions are 1, 2, 3, … without gaps"
        )
        self.in_force[agreement] = event.version  # and the version it replaces no longer is
        self.parties[agreement] = event.parties
        proposal.status = "ratified"

    def unanimous(self, proposal_id: UUID, at: datetime) -> SeenProposal:
        """The proposal that just took effect, having checked that it could."""
        proposal = self.open(proposal_id)
        assert self.before_deadline(proposal, at), "silence never ratifies"
        assert set(proposal.parties) <= self.consented(proposal_id, proposal.revision), (
            "every party consented to exactly this revision"
        )
        assert (proposal_id, proposal.revision) not in self.objections, "one objection blocks"
        return proposal

    def consented(self, proposal_id: UUID, revision: int) -> set[UUID]:
        """Whose answer to the revision is yes: the last answer each member gave it."""
        last = {a.member_id: a.answer for a in self.answers[proposal_id] if a.revision == revision}
        return {member for member, answer in last.items() if answer == "consented"}

    def must_do(self, command: Consent | Object) -> list[type[DomainEvent]] | None:
        """What an answer must do, from the events alone: the kinds of event it makes, or
        None if it must be refused. Whatever the member said before, a no rejects."""
        proposal = self.proposals.get(command.proposal_id)
        if (
            command.actor not in self.members
            or proposal is None
            or proposal.status != "open"
            or not self.before_deadline(proposal, command.at)
            or command.actor not in proposal.parties
            or command.revision != proposal.revision
        ):
            return None
        if isinstance(command, Object):
            if not command.reason.strip():
                return None
            return [ObjectionRaised, ProposalRejected]
        said_yes = self.consented(command.proposal_id, proposal.revision)
        if command.actor in said_yes:
            return []  # a second yes changes nothing
        if set(proposal.parties) <= said_yes | {command.actor}:
            return [ConsentGiven, AgreementEnded if proposal.kind == "end" else AgreementRatified]
        return [ConsentGiven]

    def open(self, proposal_id: UUID) -> SeenProposal:
        proposal = self.proposals[proposal_id]
        assert proposal.status == "open", f"the proposal was already {proposal.status}"
        return proposal

    @staticmethod
    def before_deadline(proposal: SeenProposal, at: datetime) -> bool:
        return proposal.respond_by is None or at < proposal.respond_by

    def check_between_decisions(self) -> None:
        pending: dict[UUID, int] = defaultdict(int)
        for proposal_id, proposal in self.proposals.items():
            if proposal.status != "open":
                continue
            assert not set(proposal.parties) <= self.consented(proposal_id, proposal.revision), (
                "a proposal every party consented to took effect in that same decision"
            )
            assert {*proposal.parties, proposal.proposed_by} <= set(self.members), (
                "a proposal stays open only while everyone it involves is still a member"
            )
            if proposal.kind != "create":
                assert self.in_force[proposal.agreement_id] is not None, (
                    "nothing stays pending on an ended agreement"
                )
                pending[proposal.agreement_id] += 1
        assert all(count == 1 for count in pending.values()), "one open proposal per agreement"
        for agreement_id, version in self.in_force.items():
            if version is not None:
                assert set(self.parties[agreement_id]) <= set(self.members), (
                    "an agreement binds only current members"
                )

    def check_decision(self, command: PolyculeCommand, events: Sequence[DomainEvent]) -> None:
        """What a single decision promises, whatever came before it."""
        if isinstance(command, ExpireProposal):
            assert all(isinstance(e, ProposalExpired) for e in events), "deadlines only expire"
        if isinstance(command, Consent | Object):
            assert all(
                e.revision == command.revision
                for e in events if isinstance(e, ConsentGiven | ObjectionRaised)
            ), "an answer is to the revision the member names"
        for decided in events:
            if not isinstance(decided, AgreementProposed | ProposalRevised):
                continue
            proposal = self.proposals[decided.proposal_id]
            proposers_consent = ConsentGiven(proposal_id=decided.proposal_id,
                                             revision=proposal.revision,
                                             member_id=proposal.proposed_by)
            assert (proposers_consent in events) == (proposal.proposed_by in proposal.parties), (
                "a proposal is its proposer's consent, when they are a party"
            )
            if proposal.kind != "create":
                assert set(self.parties[proposal.agreement_id]) <= set(proposal.parties), (
                    "a change binds at least the current parties"
                )


Choice = Callable[[Witness], st.SearchStrategy[Callable[[Witness], Try]]]


def play(data: st.DataObject, history: list[DomainEvent], choose: Choice, steps: int) -> None:
    """Try ``steps`` commands after ``history``, checking every promise after each one."""
    state = polycule_decider.fold(history)
    witness = Witness()
    for earlier in history:
        witness.see(earlier, NOW)
    clock = NOW
    for _ in range(steps):
        clock += timedelta(hours=data.draw(st.integers(0, 36), label="hours pass"))
        what = data.draw(choose(witness), label="what")
        command = stamped(data.draw(what(witness), label="command"), clock)
        answering = isinstance(command, Consent | Object)
        must_do = witness.must_do(command) if isinstance(command, Consent | Object) else None
        try:
            events = polycule_decider.decide(state, command)
        except (DomainError, NotFound):
            assert not answering or must_do is None, f"{command} was refused"
            continue  # refused: nothing happened
        if answering:
            assert must_do is not None, f"{command} should have been refused"
            assert [type(e) for e in events] == must_do, "an answer does what its rules say"
        for decided in events:
            witness.see(decided, clock)
            state = polycule_decider.evolve(state, decided)
        witness.check_decision(command, events)
        history = [*history, *events]
        witness.check_between_decisions()

        proposals = state.agreements.proposals
        assert proposals.keys() == witness.proposals.keys()
        for proposal_id, proposal in proposals.items():
            seen = witness.proposals[proposal_id]
            assert (proposal.kind, proposal.agreement_id, proposal.proposed_by) == (
                seen.kind, seen.agreement_id, seen.proposed_by
            )
            assert proposal.parties == seen.parties
            if seen.status != "open":
                assert isinstance(proposal, ClosedProposal), (
                    "a closed proposal keeps only what rules still read: no answers"
                )
                continue
            assert isinstance(proposal, Proposal)
            assert list(proposal.answers) == witness.answers[proposal_id], (
                "the state keeps every answer given to an open proposal, in order"
            )
            assert proposal.consents == witness.consented(proposal_id, proposal.revision), (
                "a member's current answer is the last one they gave"
            )

        agreements = state.agreements.agreements
        assert agreements.keys() == witness.versions.keys()
        for agreement_id, versions in witness.versions.items():
            agreement = agreements[agreement_id]
            assert agreement.version == versions[-1], "the state holds the latest version"
            assert agreement.active == (witness.in_force[agreement_id] is not None)
            assert isinstance(agreement, Agreement if agreement.active else EndedAgreement)
            assert [span.version for span in agreement.spans] == versions, (
                "an agreement, ended or not, knows when each of its versions was in force"
            )
        assert polycule_decider.fold(history) == state, "replaying gives the same state"

    # What was reached, for `pytest --hypothesis-show-statistics`.
    for kind in sorted({type(e).__name__ for e in history}):
        tally(f"produced {kind}")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_consent_rules_hold_whatever_members_try(data: st.DataObject) -> None:
    play(data, list(FOUNDED), worth_trying, steps=30)


# Robin, Sam and Alex agreed; Robin has proposed to amend it, and to bind Kim as well.
AMENDING: list[DomainEvent] = [
    AgreementProposed(proposal_id=PROPOSALS[0], agreement_id=AGREEMENTS[0], kind="create",
                      proposed_by=ROBIN, parties=(ROBIN, SAM, ALEX), text=TEXTS[0]),
    *(ConsentGiven(proposal_id=PROPOSALS[0], revision=1, member_id=member)
      for member in (ROBIN, SAM, ALEX)),
    AgreementRatified(agreement_id=AGREEMENTS[0], proposal_id=PROPOSALS[0], revision=1,
                      version=1, parties=(ROBIN, SAM, ALEX), at=NOW),
    AgreementProposed(proposal_id=PROPOSALS[1], agreement_id=AGREEMENTS[0], kind="amend",
                      proposed_by=ROBIN, parties=(ROBIN, SAM, ALEX, KIM), text=TEXTS[1],
                      base_version=1),
    ConsentGiven(proposal_id=PROPOSALS[1], revision=1, member_id=ROBIN),
]
ANSWERS = (
    *[consent] * 6, object_, consent_again, change_mind, revise, revise, withdraw, expire,
    revoke, propose, amend, propose_ending,
)


def answer_or_propose(seen: Witness) -> st.SearchStrategy[Callable[[Witness], Try]]:
    if any(proposal.status == "open" for proposal in seen.proposals.values()):
        return st.sampled_from(ANSWERS)
    return st.sampled_from((propose, amend, amend, propose_ending))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_proposals_answered_in_any_order_keep_the_rules(data: st.DataObject) -> None:
    """The same promises, looked at closely: a pending amendment, and whatever is proposed
    after it, answered, revised, objected to, withdrawn, revoked or left to expire."""
    play(data, [*FOUNDED, *AMENDING], answer_or_propose, steps=20)


# Answers that change: parties say yes, yes again, then no (or no at once), while the
# proposer rewords it; when nothing is open any more, someone proposes something new.
CHANGING_ANSWERS = (
    consent, consent, consent_again, change_mind, change_mind, object_, revise, withdraw,
)


def answers_that_change(seen: Witness) -> st.SearchStrategy[Callable[[Witness], Try]]:
    if any(proposal.status == "open" for proposal in seen.proposals.values()):
        return st.sampled_from(CHANGING_ANSWERS)
    return st.sampled_from((propose, amend))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_answers_may_change_and_every_one_is_kept(data: st.DataObject) -> None:
    """Arbitrary answers by arbitrary parties, repeated, changed, between rewordings: a
    proposal takes effect exactly when every party's last answer to its current revision is
    yes, a no (after a yes too) rejects it, and the state keeps every answer in order."""
    play(data, [*FOUNDED, *AMENDING], answers_that_change, steps=25)
