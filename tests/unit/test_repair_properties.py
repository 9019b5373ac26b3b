"""Whoever tries whichever repair step, in whatever order, the repair keeps its promises.

Random sequences of breach and repair commands — from the breaching member, harmed
parties, members outside the repair, a coach who is no member, a stranger — at advancing
times go through the polycule's decider, with now and then a proposal (a candidate
boundary) or a revocation (an agreement that stops being in force). A refused command
changes nothing; an accepted one is evolved into the state. A witness that reads only the
events checks the rules of docs/domain.md#repair: the version in force is the one kept with a
breach, each step comes from whom it belongs to, trust stays on its scale, restoration is
every harmed party's choice, nothing is added once a repair closed, and replaying the
history gives the same state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from ledger.domain.agreements import (
    AgreementEnded,
    AgreementProposed,
    AgreementRatified,
    AgreementText,
    ConsentGiven,
    Definition,
    ProposeAgreement,
    ProposeEnding,
    RevokeConsent,
)
from ledger.domain.polycules import (
    MemberJoined,
    Polycule,
    PolyculeCommand,
    PolyculeFounded,
    polycule_decider,
)
from ledger.domain.repair import (
    AcceptSupporterInvitation,
    AcknowledgeBreach,
    AddressFactor,
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
from ledger.errors import DomainError, NotFound
from ledger.events import DomainEvent

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ROBIN, SAM, ALEX, KIM = (uuid.uuid4() for _ in range(4))
LEE, NOA = uuid.uuid4(), uuid.uuid4()  # a coach and a stranger: neither is a member
PEOPLE = (ROBIN, SAM, ALEX, KIM, LEE, NOA)
OUTSIDERS = (KIM, LEE, NOA)
# Robin, Sam and Alex's agreement (Kim bound since version 2), and Robin and Kim's.
TRIO, PAIR = uuid.uuid4(), uuid.uuid4()
AGREEMENTS = (TRIO, PAIR, uuid.uuid4())  # the last one never exists
BREACHES = tuple(uuid.uuid4() for _ in range(3))
COMMITMENTS = tuple(uuid.uuid4() for _ in range(3))
FACTORS = tuple(uuid.uuid4() for _ in range(3))
PROPOSALS = tuple(uuid.uuid4() for _ in range(4))
SECRETS = ("first", "second", "third")
T = TypeVar("T")

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


def ratified(
    agreement_id: UUID, version: int, parties: tuple[UUID, ...], at: datetime
) -> list[DomainEvent]:
    proposal_id = uuid.uuid4()
    return [
        AgreementProposed(proposal_id=proposal_id, agreement_id=agreement_id,
                          kind="create" if version == 1 else "amend", proposed_by=parties[0],
                          parties=parties, text=TEXT,
                          base_version=None if version == 1 else version - 1),
        *(ConsentGiven(proposal_id=proposal_id, revision=1, member_id=p) for p in parties),
        AgreementRatified(agreement_id=agreement_id, proposal_id=proposal_id, revision=1,
                          version=version, parties=parties, at=at),
    ]


HISTORY: list[DomainEvent] = [
    PolyculeFounded(polycule_id=uuid.uuid4(), founder_id=ROBIN, name="Pancakes"),
    MemberJoined(member_id=ROBIN, display_name="Robin"),
    *(MemberJoined(member_id=member, display_name="joined", invitation_id=uuid.uuid4())
      for member in (SAM, ALEX, KIM)),
    *ratified(TRIO, 1, (ROBIN, SAM, ALEX), NOW - timedelta(days=40)),
    *ratified(PAIR, 1, (ROBIN, KIM), NOW - timedelta(days=30)),
    *ratified(TRIO, 2, (ROBIN, SAM, ALEX, KIM), NOW - timedelta(days=20)),
    # Sam crossed the first version, before Kim was bound: Robin and Alex are harmed.
    BreachReported(breach_id=BREACHES[0], agreement_id=TRIO, version=1,
                   parties=(ROBIN, SAM, ALEX), breached_by=SAM, reported_by=ROBIN,
                   happened_at=NOW - timedelta(days=25), what_happened="Sam did not tell."),
    # Sam has committed to a daily message, and Alex has invited a coach.
    CommitmentMade(breach_id=BREACHES[0], commitment_id=COMMITMENTS[0], member_id=SAM,
                   what="A message every evening.", first_due_at=NOW - timedelta(days=2),
                   every_days=1),
    SupporterInvited(breach_id=BREACHES[0], invitation_id=uuid.uuid4(), member_id=ALEX,
                     secret_hash=SECRETS[0], expires_at=NOW + timedelta(days=60)),
]

REPAIR_EVENTS = (
    ResponsibilityTaken, ImpactShared, ApologyMade, RepairDecisionMade, FactorNamed,
    FactorAddressed, BoundaryLinked, CommitmentMade, CommitmentMarked, CheckInRecorded,
    SupporterInvited, SupporterJoined, RestorationChosen, RepairClosed,
)
BREACHING_MEMBERS_EVENTS = (ResponsibilityTaken, ApologyMade, CommitmentMade)
HARMED_PARTIES_EVENTS = (ImpactShared, RepairDecisionMade, CommitmentMarked, RestorationChosen)


# --- The witness: what the events alone say --------------------------------------------


@dataclass
class Span:
    version: int
    parties: tuple[UUID, ...]
    since: datetime
    until: datetime | None = None


@dataclass
class SeenBreach:
    breached_by: UUID
    reported_by: UUID
    harmed: frozenset[UUID]
    proposals_before: int
    restored_by: set[UUID] = field(default_factory=set)
    closed: str | None = None
    commitments: set[UUID] = field(default_factory=set)
    factors: set[UUID] = field(default_factory=set)
    boundaries: set[UUID] = field(default_factory=set)

    @property
    def participants(self) -> tuple[UUID, ...]:
        return (self.breached_by, *self.harmed)


@dataclass
class Witness:
    spans: dict[UUID, list[Span]] = field(default_factory=dict)
    # Every proposal, in the order it was made: (id, kind, proposed by).
    proposals: list[tuple[UUID, str, UUID]] = field(default_factory=list)
    breaches: dict[UUID, SeenBreach] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def see(self, event: DomainEvent) -> None:
        if isinstance(event, AgreementProposed):
            self.proposals.append((event.proposal_id, event.kind, event.proposed_by))
        elif isinstance(event, AgreementRatified):
            spans = self.spans.setdefault(event.agreement_id, [])
            for span in spans:
                span.until = span.until or event.at
            spans.append(Span(event.version, event.parties, event.at))
        elif isinstance(event, AgreementEnded):
            for span in self.spans[event.agreement_id]:
                span.until = span.until or event.at
        elif isinstance(event, BreachReported):
            self.reported(event)
        elif isinstance(event, BreachAcknowledged | BreachDisputed):
            assert event.member_id == self.breaches[event.breach_id].breached_by, (
                "only the member named answers a report"
            )
        elif isinstance(event, BreachAudienceWidened):
            assert event.member_id == self.breaches[event.breach_id].reported_by, (
                "only the reporter widens who sees a breach"
            )
        elif isinstance(event, REPAIR_EVENTS):
            self.repair_step(event)

    def reported(self, event: BreachReported) -> None:
        assert event.breach_id not in self.breaches, "a breach id names one breach"
        in_force = [span for span in self.spans.get(event.agreement_id, [])
                    if span.since <= event.happened_at
                    and (span.until is None or event.happened_at < span.until)]
        assert len(in_force) == 1, "a breach crossed a version that was in force then"
        assert (event.version, event.parties) == (in_force[0].version, in_force[0].parties), (
            "the breach keeps the version in force when it happened"
        )
        assert {event.breached_by, event.reported_by} <= set(event.parties)
        self.breaches[event.breach_id] = SeenBreach(
            breached_by=event.breached_by,
            reported_by=event.reported_by,
            harmed=frozenset(event.parties) - {event.breached_by},
            proposals_before=len(self.proposals),
        )

    def repair_step(self, event: DomainEvent) -> None:
        breach_id = getattr(event, "breach_id", None)
        assert isinstance(breach_id, UUID)
        breach = self.breaches[breach_id]
        assert breach.closed is None, (
            f"{type(event).__name__} after the repair closed ({breach.closed})"
        )
        member = getattr(event, "member_id", None)
        if isinstance(event, BREACHING_MEMBERS_EVENTS):
            assert member == breach.breached_by, f"{type(event).__name__} by someone else"
        if isinstance(event, HARMED_PARTIES_EVENTS):
            assert member in breach.harmed, f"{type(event).__name__} by a non-harmed party"
        if isinstance(event, CommitmentMarked):
            assert member != breach.breached_by, "never marked by the one who committed"
            assert event.commitment_id in breach.commitments
        if isinstance(event, CheckInRecorded):
            assert 0 <= event.trust <= 10, "trust is felt from 0 to 10"
        if isinstance(event, FactorNamed | FactorAddressed | BoundaryLinked | CheckInRecorded
                      | SupporterInvited):
            assert member in breach.participants, "these steps are the participants'"
        if isinstance(event, CommitmentMade):
            breach.commitments.add(event.commitment_id)
        elif isinstance(event, FactorNamed):
            breach.factors.add(event.factor_id)
        elif isinstance(event, BoundaryLinked):
            made = [p for p in self.proposals if p[0] == event.proposal_id]
            assert len(made) == 1
            _, kind, proposed_by = made[0]
            assert self.proposals.index(made[0]) >= breach.proposals_before, (
                "a boundary is a proposal made during the repair"
            )
            assert kind != "end" and proposed_by in breach.participants
            breach.boundaries.add(event.proposal_id)
        elif isinstance(event, SupporterInvited):
            self.secrets.append(event.secret_hash)
        elif isinstance(event, SupporterJoined):
            assert event.supporter_id not in breach.participants, "a supporter stands outside"
        elif isinstance(event, RestorationChosen):
            assert event.member_id not in breach.restored_by, "forgiveness is chosen once"
            breach.restored_by.add(event.member_id)
        elif isinstance(event, RepairClosed):
            if event.outcome == "restored":
                assert breach.restored_by == breach.harmed, (
                    "closed as restored only when every harmed party chose it"
                )
                assert event.member_id is None
            else:
                assert event.member_id in breach.participants, "ended by a participant"
            breach.closed = event.outcome

    def check_between_decisions(self) -> None:
        for breach in self.breaches.values():
            if breach.restored_by == breach.harmed:
                assert breach.closed == "restored", (
                    "the last harmed party's choice closes the repair in the same decision"
                )

    def check_boundaries_offered(self, state: Polycule, at: datetime) -> None:
        """What a repair offers to link as its new boundaries (its page's choice) is what
        linking would accept and record: a participant's proposal made since the report,
        not one to end an agreement, not linked yet, while the repair is open."""
        for breach_id, breach in self.breaches.items():
            offered = boundaries_to_link(state.breaches.items[breach_id], state.agreements)
            expected = [
                proposal_id
                for proposal_id, kind, proposed_by in self.proposals[breach.proposals_before:]
                if kind != "end" and proposed_by in breach.participants
                and proposal_id not in breach.boundaries
            ] if breach.closed is None else []
            assert list(offered) == expected
            for proposal_id in offered:
                linking = LinkBoundary(actor=breach.breached_by, at=at, command_id=uuid.uuid4(),
                                       breach_id=breach_id, proposal_id=proposal_id)
                assert polycule_decider.decide(state, linking) == [BoundaryLinked(
                    breach_id=breach_id, proposal_id=proposal_id, member_id=breach.breached_by
                )]


# --- What people try ---------------------------------------------------------------------
# Each step is mostly about a known breach whose repair is open, and mostly tried by whom
# it belongs to; often by another participant (who may not take it), now and then by
# anyone at all — members outside the repair, the coach, a stranger.


def usually(
    likely: st.SearchStrategy[T], otherwise: st.SearchStrategy[T], odds: int = 4
) -> st.SearchStrategy[T]:
    """``likely`` ``odds`` times out of ``odds + 1``, else ``otherwise``."""
    return st.sampled_from([True] * odds + [False]).flatmap(
        lambda likely_now: likely if likely_now else otherwise
    )


def mostly(likely: Sequence[T], anything: Sequence[T]) -> st.SearchStrategy[T]:
    if not likely:
        return st.sampled_from(anything)
    return usually(st.sampled_from(likely), st.sampled_from(anything))


Try = st.SearchStrategy[PolyculeCommand]
Fields = st.SearchStrategy[object]
Role = Callable[[SeenBreach], Sequence[UUID]]
words = usually(st.just("I hear you."), st.sampled_from(("", "  ")))
notes = st.none() | words


def breaching(breach: SeenBreach) -> Sequence[UUID]:
    return [breach.breached_by]


def harmed(breach: SeenBreach) -> Sequence[UUID]:
    return sorted(breach.harmed)


def taking_part(breach: SeenBreach) -> Sequence[UUID]:
    return breach.participants


def actor(breach: SeenBreach | None, role: Role) -> st.SearchStrategy[UUID]:
    if breach is None:
        return st.sampled_from(PEOPLE)
    return st.sampled_from(("role",) * 5 + ("taking part",) * 3 + ("anyone",) * 2).flatmap(
        lambda who: st.sampled_from(
            role(breach) if who == "role"
            else breach.participants if who == "taking part" else PEOPLE
        )
    )


def command(
    kind: type[PolyculeCommand], who: st.SearchStrategy[UUID], at: datetime, **fields: Fields
) -> Try:
    return st.builds(kind, actor=who, at=st.just(at), command_id=st.uuids(), **fields)


def about_a_breach(
    seen: Witness, kind: type[PolyculeCommand], at: datetime, role: Role = taking_part,
    more: Callable[[SeenBreach | None], dict[str, Fields]] = lambda breach: {},
    **fields: Fields,
) -> Try:
    def on(breach_id: UUID) -> Try:
        breach = seen.breaches.get(breach_id)
        return command(kind, actor(breach, role), at, breach_id=st.just(breach_id),
                       **fields, **more(breach))

    open_ones = [b for b, breach in seen.breaches.items() if breach.closed is None]
    return mostly(open_ones, BREACHES).flatmap(on)


def report(seen: Witness, at: datetime) -> Try:
    def of(agreement_id: UUID) -> Try:
        parties = sorted({p for span in seen.spans.get(agreement_id, []) for p in span.parties})
        return command(
            ReportBreach, mostly(parties, PEOPLE), at,
            breach_id=mostly([b for b in BREACHES if b not in seen.breaches], BREACHES),
            agreement_id=st.just(agreement_id), breached_by=mostly(parties, PEOPLE),
            happened_at=st.integers(-24, 24 * 45).map(lambda hours: at - timedelta(hours=hours)),
            what_happened=words,
        )

    return st.sampled_from(AGREEMENTS).flatmap(of)


def acknowledge(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, AcknowledgeBreach, at, breaching, account=notes)


def dispute(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, DisputeBreach, at, breaching, account=words)


def widen(seen: Witness, at: datetime) -> Try:
    return about_a_breach(
        seen, WidenBreachAudience, at, lambda breach: [breach.reported_by],
        members=st.lists(st.sampled_from(PEOPLE), max_size=3).map(tuple),
        whole_polycule=st.booleans(),
    )


def take_responsibility(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, TakeResponsibility, at, breaching, words=words)


def apologise(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, Apologise, at, breaching, words=words)


def commit(seen: Witness, at: datetime) -> Try:
    return about_a_breach(
        seen, Commit, at, breaching, commitment_id=st.sampled_from(COMMITMENTS), what=words,
        first_due_at=st.integers(-3, 7).map(lambda days: at + timedelta(days=days)),
        every_days=usually(st.sampled_from((None, 1, 7)), st.sampled_from((0, 366))),
    )


def share_impact(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, ShareImpact, at, harmed, words=words)


def decide(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, Decide, at, harmed, note=notes, decision=st.sampled_from(
        ("rebuild", "take_space", "end_relationship")))


def mark(seen: Witness, at: datetime) -> Try:
    def made(breach: SeenBreach | None) -> dict[str, Fields]:
        return {"commitment_id": mostly(sorted(breach.commitments) if breach else [],
                                        COMMITMENTS)}

    return about_a_breach(
        seen, MarkCommitment, at, harmed, made,
        occurrence=usually(st.integers(1, 3), st.integers(-1, 9)),
        mark=st.sampled_from(("kept", "missed")), note=notes,
    )


def choose_restoration(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, ChooseRestoration, at, harmed)


def name_factor(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, NameFactor, at, factor_id=st.sampled_from(FACTORS), note=notes,
                          factor=st.sampled_from(("fuzzy_agreement", "substance_use", "other")))


def address_factor(seen: Witness, at: datetime) -> Try:
    def named(breach: SeenBreach | None) -> dict[str, Fields]:
        return {"factor_id": mostly(sorted(breach.factors) if breach else [], FACTORS)}

    return about_a_breach(seen, AddressFactor, at, taking_part, named, note=notes)


def link_boundary(seen: Witness, at: datetime) -> Try:
    recent = [proposal_id for proposal_id, _, _ in seen.proposals[-3:]]
    return about_a_breach(seen, LinkBoundary, at, proposal_id=mostly(recent, PROPOSALS))


def check_in(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, CheckIn, at, trust=st.integers(-2, 12),
                          setback=st.booleans(), note=notes, private=st.booleans())


def invite_supporter(seen: Witness, at: datetime) -> Try:
    return about_a_breach(
        seen, InviteSupporter, at, invitation_id=st.uuids(),
        secret_hash=st.sampled_from(SECRETS),
        expires_at=st.integers(-2, 24 * 14).map(lambda hours: at + timedelta(hours=hours)),
    )


def accept_supporter(seen: Witness, at: datetime) -> Try:
    return command(AcceptSupporterInvitation, mostly(OUTSIDERS, PEOPLE), at,
                   secret_hash=mostly(seen.secrets, SECRETS))


def end_repair(seen: Witness, at: datetime) -> Try:
    return about_a_breach(seen, EndRepair, at, note=notes)


MEMBERS = (ROBIN, SAM, ALEX, KIM)


def propose(seen: Witness, at: datetime) -> Try:
    """A new agreement, which may become a boundary of a repair under way."""
    parties = st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=3, unique=True)
    return command(ProposeAgreement, mostly(MEMBERS, PEOPLE), at,
                   proposal_id=mostly([p for p in PROPOSALS
                                       if p not in {q for q, _, _ in seen.proposals}],
                                      PROPOSALS),
                   agreement_id=st.uuids(), parties=parties.map(tuple), text=st.just(TEXT))


def propose_ending(seen: Witness, at: datetime) -> Try:
    return command(ProposeEnding, mostly(MEMBERS, PEOPLE), at,
                   proposal_id=st.sampled_from(PROPOSALS),
                   agreement_id=st.sampled_from((TRIO, PAIR)))


def revoke(seen: Witness, at: datetime) -> Try:
    return command(RevokeConsent, st.sampled_from(PEOPLE), at,
                   agreement_id=st.sampled_from((TRIO, PAIR)))


Tries = Callable[[Witness, datetime], Try]
TRIES: tuple[Tries, ...] = tuple(
    what
    for what, weight in (
        (report, 4), (acknowledge, 1), (dispute, 1), (widen, 1), (take_responsibility, 2),
        (apologise, 2), (commit, 3), (share_impact, 2), (decide, 2), (mark, 5),
        (choose_restoration, 2), (name_factor, 2), (address_factor, 2), (link_boundary, 2),
        (check_in, 3), (invite_supporter, 2), (accept_supporter, 2), (end_repair, 1),
        (propose, 2), (propose_ending, 1), (revoke, 1),
    )
    for _ in range(weight)
)


# --- Playing it out ----------------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_repair_rules_hold_whoever_tries_whatever(data: st.DataObject) -> None:
    history = list(HISTORY)
    state = polycule_decider.fold(history)
    witness = Witness()
    for earlier in history:
        witness.see(earlier)
    clock = NOW
    for _ in range(30):
        clock += timedelta(hours=data.draw(st.integers(0, 48), label="hours pass"))
        what = data.draw(st.sampled_from(TRIES), label="what")
        tried = data.draw(what(witness, clock), label="command")
        try:
            events = polycule_decider.decide(state, tried)
        except (DomainError, NotFound):
            continue  # refused (NotPermitted is a DomainError): nothing happened
        for decided in events:
            if isinstance(tried, CheckIn):
                # Kept private exactly when its author asked, and by its author.
                assert isinstance(decided, CheckInRecorded)
                assert (decided.private, decided.member_id) == (tried.private, tried.actor)
            witness.see(decided)
            state = polycule_decider.evolve(state, decided)
        history.extend(events)
        witness.check_between_decisions()
        witness.check_boundaries_offered(state, clock)
        assert polycule_decider.fold(history) == state, "replaying gives the same state"

    for kind in sorted({type(e).__name__ for e in history[len(HISTORY):]}):
        tally(f"produced {kind}")

