"""The agreements read model on real PostgreSQL: every event made by a command through the
application service, folded by the projection, read back the way the screens read it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.domain import Command
from ledger.domain.agreements import (
    AgreementText,
    Consent,
    Definition,
    ExpireProposal,
    MakeComment,
    MarkReviewDue,
    Object,
    Proposal,
    ProposeAgreement,
    ProposeAmendment,
    ProposeEnding,
    Reaffirm,
    RequestReview,
    Revise,
    RevokeConsent,
)
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    LeavePolycule,
    PolyculeCommand,
    polycule_decider,
)
from ledger.errors import DomainError, NotFound
from ledger.events import EVENTS
from ledger.privacy import KeyRing, as_sealed, decrypt_event_fields
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from projections import agreement_queries as read_model
from projections import inbox, member_read_models, read_side, schedule
from projections.agreement_queries import ResponseRow
from projections.agreements import Agreements
from projections.rebuild import rebuild
from tests.support import read_models_caught_up, sequential_scans_last

C = TypeVar("C", bound=Command)
MICROSECOND = timedelta(microseconds=1)
TABLES = (
    "agreement_proposals", "proposal_revisions", "proposal_responses", "proposal_comments",
    "agreements", "agreement_versions", "agreement_timeline",
)


def command(kind: type[C], actor: UUID, *, at: datetime | None = None, **fields: Any) -> C:
    return kind(actor=actor, at=at or datetime.now(UTC), command_id=uuid.uuid4(), **fields)


def wording(
    title: str, terms: str, *, category: Any = "other", review_every_days: int | None = None,
    definitions: dict[str, str] | None = None, if_broken: str = "",
) -> AgreementText:
    return AgreementText(
        title=title, terms=terms, category=category, review_every_days=review_every_days,
        if_broken=if_broken,
        definitions=tuple(Definition(word=w, meaning=m) for w, m in (definitions or {}).items()),
    )


@dataclass
class Polycule:
    service: ApplicationService
    store: EventStore
    id: UUID = field(default_factory=uuid.uuid4)
    members: dict[str, UUID] = field(default_factory=dict)

    async def do(self, done: PolyculeCommand) -> datetime:
        """Handle the command; the moment its events were recorded."""
        outcome = await self.service.handle(self.id, polycule_decider, done)
        assert outcome.events, f"{type(done).__name__} changed nothing"
        written = await self.store.read_stream(self.id, outcome.version - len(outcome.events))
        assert len({event.recorded_at for event in written}) == 1
        return written[0].recorded_at

    async def by(self, member: str, kind: type[C], /, **fields: Any) -> datetime:
        return await self.do(command(kind, self.members[member], **fields))  # type: ignore[arg-type]


async def polycule_of(
    service: ApplicationService, store: EventStore, founder: str, *others: str
) -> Polycule:
    polycule = Polycule(service, store)
    polycule.members[founder] = uuid.uuid4()
    await polycule.by(founder, FoundPolycule, polycule_id=polycule.id, name="Pancakes",
                      display_name=founder)
    for name in others:
        secret = uuid.uuid4().hex
        await polycule.by(founder, InviteMember, invitation_id=uuid.uuid4(), secret_hash=secret,
                          expires_at=datetime.now(UTC) + timedelta(days=7))
        polycule.members[name] = uuid.uuid4()
        await polycule.by(name, AcceptInvitation, secret_hash=secret, display_name=name)
    return polycule


@dataclass
class Story:
    """A polycule's agreements so far (see ``tell_the_story``), and when each thing happened."""

    polycule: Polycule
    ids: dict[str, UUID] = field(default_factory=dict)
    at: dict[str, datetime] = field(default_factory=dict)

    def member(self, name: str) -> UUID:
        return self.polycule.members[name]

    def members(self, *names: str) -> tuple[UUID, ...]:
        return tuple(self.member(name) for name in names)


TOLD_BEFORE_A_DATE = "Tell each other before a date with someone new"
NO_PHONES = "No phones at dinner, even on call"
THE_OBJECTION = "Too strict: I am on call for work"
THE_QUESTION = "Does a call from work count as a phone at dinner?"
THE_ANSWER = "Only if you pick it up"


async def tell_the_story(service: ApplicationService, store: EventStore) -> Story:
    """ash, blue, cedar and dune.

    * "dates" (ash, blue, cedar): proposed by ash, consented by blue, revised by ash (which
      clears blue's consent), consented again by blue, then by cedar: version 1.
    * "weekends" (blue, dune): proposed by blue, consented by dune: version 1.
    * An amendment of "dates" by blue: cedar objects, so it is rejected.
    * An amendment of "dates" by cedar that adds dune: everyone consents, version 2.
    * "dinner" (ash, cedar, dune), with a deadline: cedar consented, dune has not answered.
    * dune asks for a review of "weekends"; blue reaffirms it; dune has not.
    * dune proposes to end "weekends"; blue has not answered.
    * blue, who is no party to "dinner", asks a question about it; ash answers it.
    """
    polycule = await polycule_of(service, store, "ash", "blue", "cedar", "dune")
    story = Story(polycule)
    ids, at = story.ids, story.at
    ids |= {name: uuid.uuid4() for name in (
        "dates", "dates/create", "weekends", "weekends/create", "dates/strict",
        "dates/with dune", "dinner", "dinner/create", "weekends/end",
    )}

    at["dates proposed"] = await polycule.by(
        "ash", ProposeAgreement, proposal_id=ids["dates/create"], agreement_id=ids["dates"],
        parties=story.members("ash", "blue", "cedar"),
        text=wording("Dates", "Tell before a date", category="disclosure",
                     definitions={"date": "a planned romantic evening"}),
    )
    await polycule.by("blue", Consent, proposal_id=ids["dates/create"], revision=1)
    at["dates revised"] = await polycule.by(
        "ash", Revise, proposal_id=ids["dates/create"],
        text=wording("Dates", TOLD_BEFORE_A_DATE, category="disclosure", review_every_days=30,
                     definitions={"date": "a planned romantic evening"},
                     if_broken="We talk it through within a week"),
    )
    await polycule.by("blue", Consent, proposal_id=ids["dates/create"], revision=2)
    at["dates v1"] = await polycule.by(
        "cedar", Consent, proposal_id=ids["dates/create"], revision=2
    )

    await polycule.by(
        "blue", ProposeAgreement, proposal_id=ids["weekends/create"],
        agreement_id=ids["weekends"], parties=story.members("blue", "dune"),
        text=wording("Weekends", "Overnights are on weekends", category="time"),
    )
    at["weekends v1"] = await polycule.by(
        "dune", Consent, proposal_id=ids["weekends/create"], revision=1
    )

    await polycule.by(
        "blue", ProposeAmendment, proposal_id=ids["dates/strict"], agreement_id=ids["dates"],
        text=wording("Dates", "Tell a week before a date", category="disclosure"),
    )
    at["strict rejected"] = await polycule.by(
        "cedar", Object, proposal_id=ids["dates/strict"], revision=1, reason=THE_OBJECTION
    )

    await polycule.by(
        "cedar", ProposeAmendment, proposal_id=ids["dates/with dune"], agreement_id=ids["dates"],
        added_parties=story.members("dune"),
        text=wording("Dates", "Tell before a date, dune too", category="disclosure",
                     review_every_days=30),
    )
    for name in ("ash", "blue"):
        await polycule.by(name, Consent, proposal_id=ids["dates/with dune"], revision=1)
    at["dates v2"] = await polycule.by(
        "dune", Consent, proposal_id=ids["dates/with dune"], revision=1
    )

    at["dinner respond by"] = datetime.now(UTC) + timedelta(days=1)
    at["dinner proposed"] = await polycule.by(
        "ash", ProposeAgreement, proposal_id=ids["dinner/create"], agreement_id=ids["dinner"],
        parties=story.members("ash", "cedar", "dune"), respond_by=at["dinner respond by"],
        text=wording("Dinner", NO_PHONES),
    )
    await polycule.by("cedar", Consent, proposal_id=ids["dinner/create"], revision=1)

    at["weekends review"] = await polycule.by(
        "dune", RequestReview, agreement_id=ids["weekends"], note="My weekends changed"
    )
    await polycule.by("blue", Reaffirm, agreement_id=ids["weekends"])
    at["weekends end proposed"] = await polycule.by(
        "dune", ProposeEnding, proposal_id=ids["weekends/end"], agreement_id=ids["weekends"],
        note="Let us find a new rhythm",
    )
    at["dinner asked about"] = await polycule.do(MakeComment(
        actor=story.member("blue"), at=datetime.now(UTC), command_id=uuid.uuid4(),
        proposal_id=ids["dinner/create"], comment_id=uuid.uuid4(), kind="question",
        text=THE_QUESTION,
    ))
    await polycule.do(MakeComment(
        actor=story.member("ash"), at=datetime.now(UTC), command_id=uuid.uuid4(),
        proposal_id=ids["dinner/create"], comment_id=uuid.uuid4(), kind="comment",
        text=THE_ANSWER,
    ))
    return story


async def caught_up(pool: asyncpg.Pool) -> None:
    await read_models_caught_up(pool)


def who(responses: tuple[ResponseRow, ...], story: Story) -> list[tuple[str, str]]:
    names = {member: name for name, member in story.polycule.members.items()}
    return [(names[r.member_id], r.response) for r in responses]


async def table_rows(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(row) for row in await pool.fetch(
            f"SELECT * FROM {table} ORDER BY row_to_json({table})::text"
        )]
        for table in TABLES
    }


# --- Now: agreements in force, proposals waiting -----------------------------------------


async def test_agreements_in_force_and_open_proposals_show_each_partys_answer(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    polycule, ids, at = story.polycule, story.ids, story.at

    await caught_up(pool)

    dates, weekends = await read_model.current_agreements(pool, polycule.id)
    assert (dates.agreement_id, dates.version, dates.status) == (ids["dates"], 2, "active")
    assert dates.parties == story.members("ash", "blue", "cedar", "dune")
    assert dates.category == "disclosure"
    assert dates.in_force_since == at["dates v2"]
    assert dates.next_review_at is not None and dates.next_review_at > at["dates v2"]
    assert (dates.review_due, dates.open_proposal_id, dates.ended_at) == (False, None, None)
    assert (weekends.agreement_id, weekends.version) == (ids["weekends"], 1)
    assert weekends.review_due and weekends.review_due_since == at["weekends review"]
    assert weekends.reaffirmed_by == story.members("blue")
    assert weekends.open_proposal_id == ids["weekends/end"]
    assert weekends.next_review_at is None

    dinner, ending = await read_model.open_proposals(pool, polycule.id)
    assert (dinner.proposal_id, dinner.kind, dinner.revision) == (ids["dinner/create"], "create", 1)
    assert dinner.parties == story.members("ash", "cedar", "dune")
    assert dinner.respond_by == at["dinner respond by"]
    assert dinner.opened_at == at["dinner proposed"]
    assert who(dinner.responses, story) == [("ash", "consented"), ("cedar", "consented")]
    assert (ending.proposal_id, ending.kind, ending.base_version) == (
        ids["weekends/end"], "end", 1
    )
    assert ending.text is None and as_sealed(ending.note) is not None
    assert who(ending.responses, story) == [("dune", "consented")]

    # The create proposal of "dates" kept its last revision, and only that revision's answers.
    created = await read_model.proposal(pool, polycule.id, ids["dates/create"])
    assert created is not None
    assert (created.status, created.revision, created.closed_at) == (
        "ratified", 2, at["dates v1"]
    )
    assert who(created.responses, story) == [
        ("ash", "consented"), ("blue", "consented"), ("cedar", "consented")
    ]
    assert await read_model.agreement(pool, polycule.id, ids["dates"]) == dates
    # Nothing is ever read across polycules.
    elsewhere = uuid.uuid4()
    assert await read_model.agreement(pool, elsewhere, ids["dates"]) is None
    assert await read_model.proposal(pool, elsewhere, ids["dinner/create"]) is None
    assert await read_model.agreement_history(pool, elsewhere, ids["dates"]) is None
    assert await read_model.version(pool, elsewhere, ids["dates"], 1) is None
    assert await read_model.current_agreements(pool, elsewhere) == []
    assert await read_model.open_proposals(pool, elsewhere) == []


# --- The history of an agreement ---------------------------------------------------------


async def test_history_keeps_every_version_with_its_consents_and_how_it_ended(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    polycule, ids, at = story.polycule, story.ids, story.at
    at["dates revoked"] = await polycule.by(
        "cedar", RevokeConsent, agreement_id=ids["dates"], note="I need to step back"
    )

    await caught_up(pool)
    history = await read_model.agreement_history(pool, polycule.id, ids["dates"])

    assert history is not None
    assert history.agreement.status == "ended"
    assert history.agreement.end_reason == "revoked"
    assert history.agreement.ended_by == story.member("cedar")
    assert history.agreement.ended_at == at["dates revoked"]
    first, second = history.versions
    assert (first.version, first.proposal_id, first.revision) == (1, ids["dates/create"], 2)
    assert (first.in_force_from, first.in_force_until) == (at["dates v1"], at["dates v2"])
    assert (first.ended_how, first.ended_by, first.end_note) == ("amended", None, None)
    assert who(first.consents, story) == [
        ("ash", "consented"), ("blue", "consented"), ("cedar", "consented")
    ]
    assert (second.version, second.proposal_id) == (2, ids["dates/with dune"])
    assert (second.in_force_from, second.in_force_until) == (at["dates v2"], at["dates revoked"])
    assert (second.ended_how, second.ended_by) == ("revoked", story.member("cedar"))
    assert as_sealed(second.end_note) is not None
    assert who(second.consents, story) == [
        ("cedar", "consented"), ("ash", "consented"), ("blue", "consented"),
        ("dune", "consented"),
    ]
    assert await read_model.version(pool, polycule.id, ids["dates"], 1) == first

    created, strict, with_dune = history.proposals
    assert [(p.proposal.proposal_id, p.proposal.kind, p.proposal.status) for p in (
        created, strict, with_dune
    )] == [
        (ids["dates/create"], "create", "ratified"),
        (ids["dates/strict"], "amend", "rejected"),
        (ids["dates/with dune"], "amend", "ratified"),
    ]
    one, two = created.revisions
    assert (one.revision, one.at, two.revision, two.at) == (
        1, at["dates proposed"], 2, at["dates revised"]
    )
    # Revising cleared blue's consent to revision 1: it is history, not consent to 2.
    assert who(one.responses, story) == [("ash", "consented"), ("blue", "consented")]
    assert who(two.responses, story) == [
        ("ash", "consented"), ("blue", "consented"), ("cedar", "consented")
    ]
    [only] = strict.revisions
    assert who(only.responses, story) == [("blue", "consented"), ("cedar", "objected")]
    assert strict.proposal.closed_at == at["strict rejected"]
    assert as_sealed(only.responses[1].reason) is not None
    assert with_dune.proposal.base_version == 1
    assert with_dune.proposal.parties == story.members("ash", "blue", "cedar", "dune")

    timeline = history.timeline
    assert [entry.stream_version for entry in timeline] == sorted(
        entry.stream_version for entry in timeline
    )
    assert [(entry.what, entry.revision, entry.version) for entry in timeline] == [
        ("AgreementProposed", 1, None),
        ("ConsentGiven", 1, None),
        ("ConsentGiven", 1, None),
        ("ProposalRevised", 2, None),
        ("ConsentGiven", 2, None),
        ("ConsentGiven", 2, None),
        ("ConsentGiven", 2, None),
        ("AgreementRatified", 2, 1),
        ("AgreementProposed", 1, 1),
        ("ConsentGiven", 1, None),
        ("ObjectionRaised", 1, None),
        ("ProposalRejected", 1, None),
        ("AgreementProposed", 1, 1),
        ("ConsentGiven", 1, None),
        ("ConsentGiven", 1, None),
        ("ConsentGiven", 1, None),
        ("ConsentGiven", 1, None),
        ("AgreementRatified", 1, 2),
        ("AgreementEnded", None, 2),
    ]
    assert timeline[3].member_id == story.member("ash")  # the proposer revised it
    assert timeline[0].at == at["dates proposed"] and timeline[-1].at == at["dates revoked"]
    assert [entry.detail for entry in timeline if entry.detail] == [
        "create", "amend", "amend", "revoked"
    ]
    assert as_sealed(timeline[10].note) is not None  # the objection's reason
    assert timeline[-1].note == second.end_note


# --- What was in force when --------------------------------------------------------------


async def test_what_was_in_force_at_any_moment_exactly_to_the_event(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    polycule, ids, at = story.polycule, story.ids, story.at
    at["dates revoked"] = await polycule.by("cedar", RevokeConsent, agreement_id=ids["dates"])
    await caught_up(pool)

    async def in_force(moment: datetime, *between: str) -> list[tuple[str, int]]:
        names = {agreement_id: name for name, agreement_id in ids.items()}
        versions = await read_model.in_force_at(
            pool, polycule.id, moment, story.members(*between)
        )
        return [(names[v.agreement_id], v.version) for v in versions]

    assert await in_force(at["dates v1"] - MICROSECOND) == []
    assert await in_force(at["dates v1"]) == [("dates", 1)]
    assert await in_force(at["weekends v1"] - MICROSECOND) == [("dates", 1)]
    assert await in_force(at["weekends v1"]) == [("dates", 1), ("weekends", 1)]
    # The rejected amendment changed nothing; the pending one neither, until ratified.
    assert await in_force(at["strict rejected"]) == [("dates", 1), ("weekends", 1)]
    assert await in_force(at["dates v2"] - MICROSECOND) == [("dates", 1), ("weekends", 1)]
    assert await in_force(at["dates v2"]) == [("weekends", 1), ("dates", 2)]
    assert await in_force(at["dates revoked"] - MICROSECOND) == [("weekends", 1), ("dates", 2)]
    assert await in_force(at["dates revoked"]) == [("weekends", 1)]
    assert await in_force(datetime.now(UTC)) == [("weekends", 1)]

    # Between members: only versions that bind all of them.
    assert await in_force(at["dates v2"] - MICROSECOND, "ash", "dune") == []
    assert await in_force(at["dates v2"], "ash", "dune") == [("dates", 2)]
    assert await in_force(at["dates v2"], "blue", "dune") == [("weekends", 1), ("dates", 2)]
    assert await in_force(at["dates v2"], "blue") == [("weekends", 1), ("dates", 2)]
    assert await in_force(at["weekends v1"], "ash", "blue", "cedar") == [("dates", 1)]

    [version] = await read_model.in_force_at(pool, polycule.id, at["dates v1"])
    assert who(version.consents, story) == [
        ("ash", "consented"), ("blue", "consented"), ("cedar", "consented")
    ]
    assert version.category == "disclosure"


# --- What waits for each member ----------------------------------------------------------


async def test_each_members_inbox_across_their_polycules(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    ids = story.ids
    # ash also belongs to another polycule, where a proposal waits for them.
    other = await polycule_of(service, store, "erin")
    secret = uuid.uuid4().hex
    await other.by("erin", InviteMember, invitation_id=uuid.uuid4(), secret_hash=secret,
                   expires_at=datetime.now(UTC) + timedelta(days=1))
    other.members["ash"] = story.member("ash")
    await other.by("ash", AcceptInvitation, secret_hash=secret, display_name="ash")
    elsewhere = uuid.uuid4()
    await other.by("erin", ProposeAgreement, proposal_id=elsewhere, agreement_id=uuid.uuid4(),
                   parties=(other.members["erin"], story.member("ash")),
                   text=wording("Tea", "Tea on Sundays"))
    await caught_up(pool)

    async def waiting(name: str) -> tuple[list[UUID], list[UUID]]:
        box = await inbox.agreement_inbox(pool, story.member(name))
        return (
            [proposal.proposal_id for proposal in box.awaiting_response],
            [agreement.agreement_id for agreement in box.reviews_due],
        )

    assert await waiting("ash") == ([elsewhere], [])
    assert await waiting("blue") == ([ids["weekends/end"]], [])  # blue reaffirmed already
    assert await waiting("cedar") == ([], [])
    assert await waiting("dune") == ([ids["dinner/create"]], [ids["weekends"]])
    box = await inbox.agreement_inbox(pool, story.member("dune"))
    assert who(box.awaiting_response[0].responses, story) == [
        ("ash", "consented"), ("cedar", "consented")
    ]

    # Once dune leaves, nothing waits for them (and what waited on them is gone too).
    await story.polycule.by("dune", LeavePolycule)
    await caught_up(pool)
    assert await waiting("dune") == ([], [])
    assert await waiting("blue") == ([], [])


# --- The scheduler's questions -----------------------------------------------------------


async def test_the_scheduler_finds_reviews_come_due_and_deadlines_passed(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    polycule, ids, at = story.polycule, story.ids, story.at
    await caught_up(pool)
    dates = await read_model.agreement(pool, polycule.id, ids["dates"])
    assert dates is not None and dates.next_review_at is not None
    review_date, deadline = dates.next_review_at, at["dinner respond by"]

    assert await schedule.due_reviews(pool, review_date - MICROSECOND) == []
    assert await schedule.due_reviews(pool, review_date) == [
        (polycule.id, ids["dates"], 2, review_date)
    ]
    assert await schedule.expired_proposals(pool, deadline - MICROSECOND) == []
    assert await schedule.expired_proposals(pool, deadline) == [
        (polycule.id, ids["dinner/create"], deadline)
    ]

    await polycule.do(command(
        MarkReviewDue, story.member("ash"), at=review_date, agreement_id=ids["dates"], version=2
    ))
    await polycule.do(command(
        ExpireProposal, story.member("ash"), at=deadline, proposal_id=ids["dinner/create"]
    ))
    await caught_up(pool)

    assert await schedule.due_reviews(pool, review_date) == []
    assert await schedule.expired_proposals(pool, deadline) == []
    dates = await read_model.agreement(pool, polycule.id, ids["dates"])
    assert dates is not None
    assert (dates.review_due, dates.review_due_since, dates.reaffirmed_by) == (
        True, review_date, ()
    )
    expired = await read_model.proposal(pool, polycule.id, ids["dinner/create"])
    assert expired is not None and expired.status == "expired"
    assert [p.proposal_id for p in await read_model.open_proposals(pool, polycule.id)] == [
        ids["weekends/end"]
    ]
    ash = await inbox.agreement_inbox(pool, story.member("ash"))
    assert [agreement.agreement_id for agreement in ash.reviews_due] == [ids["dates"]]

    # Every party reaffirms; the review is complete and the clock starts again.
    for name in ("ash", "blue", "cedar"):
        await polycule.by(name, Reaffirm, agreement_id=ids["dates"])
    await caught_up(pool)
    dates = await read_model.agreement(pool, polycule.id, ids["dates"])
    assert dates is not None
    assert dates.reaffirmed_by == story.members("ash", "blue", "cedar")
    assert (await inbox.agreement_inbox(pool, story.member("ash"))).reviews_due == []
    at["completed"] = await polycule.by("dune", Reaffirm, agreement_id=ids["dates"])
    await caught_up(pool)
    dates = await read_model.agreement(pool, polycule.id, ids["dates"])
    assert dates is not None and dates.next_review_at is not None
    assert (dates.review_due, dates.review_due_since, dates.reaffirmed_by) == (False, None, ())
    assert dates.next_review_at > review_date
    assert await schedule.due_reviews(pool, dates.next_review_at) == [
        (polycule.id, ids["dates"], 2, dates.next_review_at)
    ]
    history = await read_model.agreement_history(pool, polycule.id, ids["dates"])
    assert history is not None
    assert [entry.what for entry in history.timeline][-6:] == [
        "ReviewBecameDue", "AgreementReaffirmed", "AgreementReaffirmed",
        "AgreementReaffirmed", "AgreementReaffirmed", "ReviewCompleted",
    ]
    assert history.timeline[-1].at == at["completed"]


# --- Endings -----------------------------------------------------------------------------


async def test_an_agreed_ending_and_a_member_leaving_end_agreements_and_lapse_proposals(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    polycule, ids, at = story.polycule, story.ids, story.at
    await caught_up(pool)
    at["weekends ended"] = await polycule.by(
        "blue", Consent, proposal_id=ids["weekends/end"], revision=1
    )
    at["dune left"] = await polycule.by("dune", LeavePolycule)

    await caught_up(pool)

    assert await read_model.current_agreements(pool, polycule.id) == []
    assert await read_model.open_proposals(pool, polycule.id) == []
    weekends = await read_model.agreement(pool, polycule.id, ids["weekends"])
    assert weekends is not None
    assert (weekends.status, weekends.end_reason, weekends.ended_by, weekends.ended_at) == (
        "ended", "ended_by_proposal", None, at["weekends ended"]
    )
    assert weekends.open_proposal_id is None
    ending = await read_model.proposal(pool, polycule.id, ids["weekends/end"])
    assert ending is not None and (ending.status, ending.closed_at) == (
        "ratified", at["weekends ended"]
    )
    dates = await read_model.agreement(pool, polycule.id, ids["dates"])
    assert dates is not None
    assert (dates.end_reason, dates.ended_by) == ("party_left", story.member("dune"))
    dinner = await read_model.proposal(pool, polycule.id, ids["dinner/create"])
    assert dinner is not None and (dinner.status, dinner.closed_at) == ("lapsed", at["dune left"])
    version = await read_model.version(pool, polycule.id, ids["dates"], 2)
    assert version is not None
    assert (version.ended_how, version.ended_by, version.in_force_until) == (
        "party_left", story.member("dune"), at["dune left"]
    )
    assert await read_model.in_force_at(pool, polycule.id, at["dune left"]) == []
    history = await read_model.agreement_history(pool, polycule.id, ids["weekends"])
    assert history is not None
    [last] = [entry for entry in history.timeline if entry.what == "AgreementEnded"]
    assert (last.proposal_id, last.detail, last.member_id) == (
        ids["weekends/end"], "ended_by_proposal", None
    )
    dinner_timeline = await pool.fetch(
        "SELECT what, detail FROM agreement_timeline WHERE proposal_id = $1 "
        "ORDER BY stream_version", ids["dinner/create"]
    )
    assert [tuple(row) for row in dinner_timeline][-1] == ("ProposalLapsed", "party_left")


# --- Answers that change -----------------------------------------------------------------

THE_CHANGE = "I said yes too soon: Sunday mornings are my only time alone"


def answered(answers: tuple[ResponseRow, ...], story: Story) -> list[tuple[str, str, int]]:
    names = {member: name for name, member in story.polycule.members.items()}
    return [(names[a.member_id], a.response, a.revision) for a in answers]


async def test_a_yes_that_becomes_a_no_is_kept_and_the_no_rejects(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    """ash and blue agreed "sundays"; ash proposes to bind cedar too; blue says yes, then,
    before cedar answers, no."""
    polycule = await polycule_of(service, store, "ash", "blue", "cedar")
    story = Story(polycule)
    ids, at = story.ids, story.at
    ids |= {name: uuid.uuid4() for name in ("sundays", "sundays/create", "sundays/cedar")}
    await polycule.by(
        "ash", ProposeAgreement, proposal_id=ids["sundays/create"], agreement_id=ids["sundays"],
        parties=story.members("ash", "blue"), text=wording("Sundays", "Sunday mornings are ours"),
    )
    await polycule.by("blue", Consent, proposal_id=ids["sundays/create"], revision=1)
    at["proposed"] = await polycule.by(
        "ash", ProposeAmendment, proposal_id=ids["sundays/cedar"], agreement_id=ids["sundays"],
        added_parties=story.members("cedar"),
        text=wording("Sundays", "Sunday mornings are for the three of us"),
    )
    at["blue said yes"] = await polycule.by(
        "blue", Consent, proposal_id=ids["sundays/cedar"], revision=1
    )
    await caught_up(pool)  # the yes is in the read model before the no comes
    at["blue said no"] = await polycule.by(
        "blue", Object, proposal_id=ids["sundays/cedar"], revision=1, reason=THE_CHANGE
    )
    await caught_up(pool)

    proposal = await read_model.proposal(pool, polycule.id, ids["sundays/cedar"])
    assert proposal is not None
    assert (proposal.status, proposal.closed_at) == ("rejected", at["blue said no"])
    # Each member's answer now: blue's is the no.
    assert answered(proposal.responses, story) == [("ash", "consented", 1), ("blue", "objected", 1)]
    # Every answer, in the order given, with when.
    assert answered(proposal.answers, story) == [
        ("ash", "consented", 1), ("blue", "consented", 1), ("blue", "objected", 1)
    ]
    assert [a.at for a in proposal.answers] == [
        at["proposed"], at["blue said yes"], at["blue said no"]
    ]
    assert proposal.answers[1].reason is None
    assert await decrypt_event_fields({"reason": proposal.answers[2].reason}, keyring) == {
        "reason": THE_CHANGE
    }

    history = await read_model.agreement_history(pool, polycule.id, ids["sundays"])
    assert history is not None and history.agreement.version == 1
    _, changed = history.proposals
    assert changed.proposal == proposal
    [revision] = changed.revisions
    assert revision.responses == proposal.answers
    assert [e.what for e in history.timeline if e.proposal_id == ids["sundays/cedar"]] == [
        "AgreementProposed", "ConsentGiven", "ConsentGiven", "ObjectionRaised",
        "ProposalRejected",
    ]
    assert await read_model.open_proposals(pool, polycule.id) == []
    for name in ("ash", "blue", "cedar"):
        assert (await inbox.agreement_inbox(pool, story.member(name))).awaiting_response == []

    # Rebuilt from the events, the read model is the same, row for row.
    applied_one_by_one = await table_rows(pool)
    await rebuild(read_side(pool), ["agreements"])
    assert await table_rows(pool) == applied_one_by_one


NAMES = ("ash", "blue", "cedar")
# Who tries what: a yes, a no, or (only ash, the proposer, may) a new wording.
TRIES = st.lists(
    st.tuples(st.sampled_from(NAMES), st.sampled_from(("yes", "yes", "no", "reword"))),
    max_size=8,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parties=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
       tries=TRIES)
@example(parties=["ash", "blue", "cedar"], tries=[("blue", "yes"), ("blue", "no")])
@example(parties=["blue", "cedar"], tries=[
    ("blue", "yes"), ("ash", "reword"), ("blue", "yes"), ("blue", "yes"), ("blue", "no"),
])
@example(parties=["ash", "blue"], tries=[("blue", "yes"), ("ash", "no")])
async def test_after_any_answers_the_read_model_agrees_with_the_decider(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool,
    parties: list[str], tries: list[tuple[str, str]],
) -> None:
    """ash proposes an agreement between ``parties``; then each try, in order, is sent as
    a command (refused ones change nothing). The read model then says what the decider's
    state says: the status, each member's last answer, every answer in order, who waits.

    A closed proposal's state keeps only how it closed (no rule reads its answers again),
    so its answers are compared with the decider's as they stood when it closed: the state
    just before the event that closed it, every answer given by then."""
    polycule = await polycule_of(service, store, *NAMES)
    story = Story(polycule)
    proposal_id, agreement_id = uuid.uuid4(), uuid.uuid4()
    await polycule.by("ash", ProposeAgreement, proposal_id=proposal_id,
                      agreement_id=agreement_id, parties=story.members(*parties),
                      text=wording("Sundays", "Sunday mornings are ours"),
                      binds_only_proposer=parties == ["ash"])
    revision = 1
    for number, (name, what) in enumerate(tries):
        state, _ = await service.load(polycule.id, polycule_decider)
        proposal = state.agreements.proposals[proposal_id]
        if isinstance(proposal, Proposal):
            revision = proposal.revision  # once closed, an answer to its last one is refused
        actor = story.member(name)
        tried: PolyculeCommand = (
            command(Consent, actor, proposal_id=proposal_id, revision=revision) if what == "yes"
            else command(Object, actor, proposal_id=proposal_id, revision=revision,
                         reason=f"not as it is ({number})") if what == "no"
            else command(Revise, actor, proposal_id=proposal_id,
                         text=wording("Sundays", f"Sunday mornings are ours ({number})"))
        )
        try:
            await service.handle(polycule.id, polycule_decider, tried)
        except (DomainError, NotFound):
            pass  # refused: nothing happened
    await caught_up(pool)

    state, _ = await service.load(polycule.id, polycule_decider)
    decided = state.agreements.proposals[proposal_id]
    last_open = decided
    if not decided.is_open:
        closing = await closed_at(store, polycule.id, proposal_id)
        before = await service.load_until(polycule.id, polycule_decider, closing - 1)
        last_open = before.agreements.proposals[proposal_id]
    assert isinstance(last_open, Proposal)
    shown = await read_model.proposal(pool, polycule.id, proposal_id)
    assert shown is not None
    assert (shown.status, shown.revision, shown.parties) == (
        decided.status, last_open.revision, decided.parties
    )
    assert [(a.revision, a.member_id, a.response) for a in shown.answers] == [
        (a.revision, a.member_id, a.answer) for a in last_open.answers
    ], "every answer, in the order given"
    assert [a.at for a in shown.answers] == sorted(a.at for a in shown.answers)
    assert {r.member_id: r.response for r in shown.responses} == last_open.current_answers()
    positions = [shown.answers.index(response) for response in shown.responses]
    assert positions == sorted(positions), "current answers, in the order they were given"
    for position, response in zip(positions, shown.responses, strict=True):
        assert not any(
            later.member_id == response.member_id and later.revision == shown.revision
            for later in shown.answers[position + 1:]
        ), "a member's current answer is the last one they gave"

    is_open = [p.proposal_id for p in await read_model.open_proposals(pool, polycule.id)]
    assert is_open == ([proposal_id] if decided.is_open else [])
    for member in story.members(*NAMES):
        waiting = await inbox.agreement_inbox(pool, member)
        awaits = decided.is_open and member in decided.parties and (
            member not in last_open.current_answers()
        )
        assert [p.proposal_id for p in waiting.awaiting_response] == (
            [proposal_id] if awaits else []
        )

    if decided.status == "ratified":
        version = await read_model.version(pool, polycule.id, agreement_id, 1)
        assert version is not None and version.revision == last_open.revision
        assert sorted(c.member_id for c in version.consents) == sorted(decided.parties)
        assert {c.response for c in version.consents} == {"consented"}
        history = await read_model.agreement_history(pool, polycule.id, agreement_id)
        assert history is not None
        [created] = history.proposals
        assert created.proposal == shown
        assert [r.responses for r in created.revisions] == [
            tuple(a for a in shown.answers if a.revision == r.revision)
            for r in created.revisions
        ]


CLOSING = {
    "ProposalRejected", "ProposalWithdrawn", "ProposalExpired", "ProposalLapsed",
    "AgreementRatified", "AgreementEnded",
}


async def closed_at(store: EventStore, polycule_id: UUID, proposal_id: UUID) -> int:
    """The version of the event that closed the proposal."""
    # Read through the registry, as every reader does (the events may be stored in an
    # older shape that an upcaster reads).
    [closing] = [
        event.stream_version for event in map(
            EVENTS.in_current_shape, await store.read_stream(polycule_id)
        )
        if event.event_type in CLOSING and event.data.get("proposal_id") == str(proposal_id)
    ]
    return closing


# --- Rebuilding, and the words kept sealed -----------------------------------------------


async def test_a_rebuild_gives_exactly_the_rows_applied_one_command_at_a_time(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    projection = Agreements()
    await polycule_of(service, store, "erin", "fox")  # events that are no agreement's
    story = await tell_the_story(service, store)
    await read_models_caught_up(pool)
    # Then as a running service would: after each command, whatever batches come.
    for name, kind, fields in (
        ("cedar", RevokeConsent, {"agreement_id": story.ids["dates"]}),
        ("blue", Consent, {"proposal_id": story.ids["weekends/end"], "revision": 1}),
        ("dune", LeavePolycule, {}),
    ):
        await story.polycule.by(name, kind, **fields)
        await read_models_caught_up(pool)
    incremental = await table_rows(pool)

    applied = await rebuild(read_side(pool), [projection.name])

    assert await table_rows(pool) == incremental
    assert applied == await pool.fetchval("SELECT count(*) FROM events")
    # One timeline row for each agreement or proposal event, and none for the others.
    assert len(incremental["agreement_timeline"]) == await pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type <> ALL ($1::text[])",
        ["PolyculeFounded", "MemberInvited", "MemberJoined", "MemberLeft"],
    )
    assert all(incremental.values())
    await rebuild(read_side(pool), [projection.name], concurrency=1)
    assert await table_rows(pool) == incremental


async def test_words_are_kept_sealed_and_open_for_members(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    story = await tell_the_story(service, store)
    await caught_up(pool)

    everything = "\n".join([
        await pool.fetchval(f"SELECT coalesce(json_agg({table})::text, '') FROM {table}")
        for table in TABLES
    ])
    assert len(everything) > 10_000
    for words in (TOLD_BEFORE_A_DATE, NO_PHONES, THE_OBJECTION, THE_QUESTION, THE_ANSWER,
                  "planned romantic",
                  "within a week", "My weekends changed", "new rhythm", "Dates", "Dinner"):
        assert words not in everything

    dates, _ = await read_model.current_agreements(pool, story.polycule.id)
    [v1] = await read_model.in_force_at(pool, story.polycule.id, story.at["dates v1"])
    opened = await decrypt_event_fields(v1.text, keyring)
    assert opened == {
        "title": "Dates",
        "terms": TOLD_BEFORE_A_DATE,
        "definitions": [{"word": "date", "meaning": "a planned romantic evening"}],
        "category": "disclosure",
        "if_broken": "We talk it through within a week",
        "review_every_days": 30,
    }
    assert (await decrypt_event_fields(dates.text, keyring))["terms"] == (
        "Tell before a date, dune too"
    )
    history = await read_model.agreement_history(pool, story.polycule.id, story.ids["dates"])
    assert history is not None
    [objection] = [e for e in history.timeline if e.what == "ObjectionRaised"]
    assert objection.note is not None
    assert await decrypt_event_fields({"reason": objection.note}, keyring) == {
        "reason": THE_OBJECTION
    }
    # The conversation about a proposal: in the order made, each under its author's key.
    dinner = await read_model.proposal(pool, story.polycule.id, story.ids["dinner/create"])
    assert dinner is not None
    assert [(c.member_id, c.kind, c.revision) for c in dinner.comments] == [
        (story.member("blue"), "question", 1), (story.member("ash"), "comment", 1),
    ]
    assert dinner.comments[0].at == story.at["dinner asked about"]
    assert [
        (await decrypt_event_fields({"text": c.text}, keyring))["text"] for c in dinner.comments
    ] == [THE_QUESTION, THE_ANSWER]


# --- Indexes and registration ------------------------------------------------------------


async def test_every_read_uses_an_index(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    await caught_up(pool)
    polycule, agreement_id, member = story.polycule.id, story.ids["dates"], story.member("ash")
    now = datetime.now(UTC)
    reads: dict[str, tuple[Any, ...]] = {
        "CURRENT_AGREEMENTS": (polycule,),
        "AGREEMENT": (polycule, agreement_id),
        "OPEN_PROPOSALS": (polycule,),
        "PROPOSAL": (polycule, story.ids["dinner/create"]),
        "RESPONSES_TO": ([story.ids["dinner/create"]], [1]),
        "VERSIONS_OF_AGREEMENT": (polycule, agreement_id),
        "VERSION": (polycule, agreement_id, 1),
        "PROPOSALS_OF_AGREEMENT": (polycule, agreement_id),
        "REVISIONS_OF_AGREEMENT": (polycule, agreement_id),
        "TIMELINE_OF_AGREEMENT": (polycule, agreement_id),
        "REVISION": (polycule, story.ids["dates/create"], 2),
        "IN_FORCE_AT": (polycule, now, [member]),
        "OPEN_PROPOSALS_BINDING": (member,),
        "REVIEWS_DUE": (member,),
        "DUE_REVIEWS": (now,),
        "EXPIRED_PROPOSALS": (now,),
    }
    async with pool.acquire() as connection, connection.transaction():
        await sequential_scans_last(connection)
        for name, arguments in reads.items():
            plan = "\n".join(
                row[0] for row in await connection.fetch(
                    f"EXPLAIN {statement(name, read_model, inbox, schedule)}", *arguments
                )
            )
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"


def statement(name: str, *modules: ModuleType) -> str:
    """The query named ``name`` in whichever of ``modules`` keeps it."""
    [found] = [getattr(module, name) for module in modules if hasattr(module, name)]
    return str(found)


def test_the_service_keeps_the_agreements_current() -> None:
    assert "agreements" in [projection.name for projection in member_read_models()]
