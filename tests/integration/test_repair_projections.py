"""The repairs read model on real PostgreSQL: breaches reported and repaired through the
application service, folded by the projection, read back the way the screens read it.

The commands carry their own moments, spread over weeks: when a breach happened, when a
commitment falls due and when it may be marked. Events are recorded at the moment their
command was decided at, so the read model's moments are those days too, and what is due is
asked of it at days chosen relative to the commitments' due dates and the check-ins.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from ledger.domain.agreements import Consent, ProposeAgreement, ProposeAmendment
from ledger.domain.polycules import AcceptInvitation, FoundPolycule, InviteMember
from ledger.domain.repair import (
    AcceptSupporterInvitation,
    AcknowledgeBreach,
    AddressFactor,
    Apologise,
    CheckIn,
    ChooseRestoration,
    Commit,
    Decide,
    DisputeBreach,
    EndRepair,
    InviteSupporter,
    LinkBoundary,
    MarkCommitment,
    NameFactor,
    ReportBreach,
    ShareImpact,
    TakeResponsibility,
    WidenBreachAudience,
)
from ledger.events import EVENTS
from ledger.privacy import KeyRing, as_sealed, decrypt_event_fields
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from projections import inbox as inbox_read_model
from projections import member_read_models, read_side, schedule
from projections import repair_queries as read_model
from projections.inbox import CheckInDue, DueMark, RepairInbox, repair_inbox
from projections.rebuild import rebuild
from projections.repair_queries import RepairHistory
from projections.repairs import Repairs
from tests.integration.test_agreement_projections import (
    Polycule,
    command,
    polycule_of,
    statement,
    wording,
)
from tests.integration.test_disclosure_projections import by, readable
from tests.support import read_models_caught_up, sequential_scans_last

TABLES = (
    "breaches", "repair_timeline", "check_ins", "commitments", "commitment_marks",
    "repair_factors", "repair_decisions", "repair_boundaries",
)
WHAT_HAPPENED = "Ash went on a date with Sam and did not tell us"
NOT_A_DATE = "It was dinner with a friend, not a date"
OWNING_IT = "By the definition we share it was a date, and I hid it"
RESPONSIBILITY = "I chose not to tell you; that choice was mine"
IMPACT = "I felt lied to, and foolish for trusting the agreement"
APOLOGY = "I am sorry I hid it and made you doubt yourselves"
WEEKLY_CALL = "A call every Sunday evening about how we are"
TELL_FIRST = "Tell you before I see Sam again"
IT_HURT_AGAIN = "It hurt again when the call was skipped"
DEFINED = "We pause and talk within a day"
FUZZY = "date meant different things to each of us"
SECRET = "the supporter's secret"
DAY_0 = datetime(2025, 3, 3, 18, 30, tzinfo=UTC)


@dataclass
class Story:
    """One agreement crossed twice, and the first repair under way (see ``tell_the_story``)."""

    polycule: Polycule
    start: datetime
    ids: dict[str, UUID] = field(default_factory=dict)
    at: dict[str, datetime] = field(default_factory=dict)

    def day(self, number: int) -> datetime:
        return self.start + timedelta(days=number)

    def member(self, name: str) -> UUID:
        return self.polycule.members[name]

    def members(self, *names: str) -> tuple[UUID, ...]:
        return tuple(self.member(name) for name in names)

    async def on(self, number: int, member: str, kind: type[Any], /, **fields: Any) -> datetime:
        """``member`` does ``kind`` on day ``number`` of the story."""
        return await by(self.polycule, member, kind, at=self.day(number), **fields)


async def tell_the_story(service: ApplicationService, store: EventStore) -> Story:
    """ash, blue, cedar and dune; "dates" binds ash, blue and cedar from day 0.

    * "first": on day 1 ash went on a date untold; blue reports it on day 2. ash disputes
      it, blue shows it to dune too, then ash acknowledges it. Responsibility, impact and
      an apology; blue takes space, cedar will rebuild, later blue too. Two factors, one
      addressed on day 30. Two new boundaries: an amendment of "dates" (ratified on day 30)
      and a weekly-call agreement (open). Commitments: a weekly call from day 7 (kept,
      kept, missed, kept, kept) and telling first, due once on day 10 (kept). Check-ins:
      ash 6; blue 3, 2 with a setback, 5; cedar none. A supporter joins.
    * "second": on day 40 ash crossed "dates" (version 2 by then) again and reports it
      themself on day 41; blue and cedar both choose restoration, which closes it.

    The polycule was founded the day before day 0.
    """
    story = Story(Polycule(service, store), start=DAY_0)
    ids, at, on = story.ids, story.at, story.on
    founder = {"ash": uuid.uuid4()}
    story.polycule.members |= founder
    await on(-1, "ash", FoundPolycule, polycule_id=story.polycule.id, name="Pancakes",
             display_name="ash")
    for name in ("blue", "cedar", "dune"):
        secret = uuid.uuid4().hex
        await on(-1, "ash", InviteMember, invitation_id=uuid.uuid4(), secret_hash=secret,
                 expires_at=story.day(6))
        story.polycule.members[name] = uuid.uuid4()
        await on(-1, name, AcceptInvitation, secret_hash=secret, display_name=name)
    ids |= {name: uuid.uuid4() for name in (
        "dates", "dates/create", "dates/defined", "calls", "calls/create", "first", "second",
        "fuzzy", "fear", "weekly", "once", "invitation",
    )}
    ids["supporter"] = uuid.uuid4()

    await on(0, "ash", ProposeAgreement, proposal_id=ids["dates/create"],
             agreement_id=ids["dates"], parties=story.members("ash", "blue", "cedar"),
             text=wording("Dates", "Tell each other before a date", category="disclosure",
                          definitions={"date": "a planned romantic evening"}))
    for name in ("blue", "cedar"):
        await on(0, name, Consent, proposal_id=ids["dates/create"], revision=1)

    first = {"breach_id": ids["first"]}
    at["first reported"] = await on(
        2, "blue", ReportBreach, **first, agreement_id=ids["dates"],
        breached_by=story.member("ash"), happened_at=story.day(1), what_happened=WHAT_HAPPENED,
    )
    at["first disputed"] = await on(3, "ash", DisputeBreach, **first, account=NOT_A_DATE)
    await on(3, "blue", WidenBreachAudience, **first, members=story.members("dune"))
    at["first acknowledged"] = await on(4, "ash", AcknowledgeBreach, **first, account=OWNING_IT)
    await on(4, "ash", TakeResponsibility, **first, words=RESPONSIBILITY)
    await on(5, "blue", ShareImpact, **first, words=IMPACT)
    await on(5, "ash", Apologise, **first, words=APOLOGY)
    await on(5, "blue", Decide, **first, decision="take_space", note="I need a week")
    await on(6, "cedar", Decide, **first, decision="rebuild")
    await on(6, "blue", NameFactor, **first, factor_id=ids["fuzzy"], factor="fuzzy_agreement",
             note=FUZZY)
    await on(6, "ash", NameFactor, **first, factor_id=ids["fear"],
             factor="communication_or_fear")
    await on(6, "ash", Commit, **first, commitment_id=ids["weekly"], what=WEEKLY_CALL,
             first_due_at=story.day(7), every_days=7)
    await on(6, "ash", Commit, **first, commitment_id=ids["once"], what=TELL_FIRST,
             first_due_at=story.day(10))
    await on(7, "ash", ProposeAmendment, proposal_id=ids["dates/defined"],
             agreement_id=ids["dates"],
             text=wording("Dates", "Tell each other before a date", category="disclosure",
                          definitions={"date": "any planned time alone with someone new"},
                          if_broken=DEFINED))
    at["defined linked"] = await on(7, "blue", LinkBoundary, **first,
                                    proposal_id=ids["dates/defined"])
    await on(7, "blue", MarkCommitment, **first, commitment_id=ids["weekly"], occurrence=1,
             mark="kept")
    await on(8, "blue", ProposeAgreement, proposal_id=ids["calls/create"],
             agreement_id=ids["calls"], parties=story.members("ash", "blue"),
             text=wording("Calls", "A call on Sundays", if_broken="We reschedule that week"))
    await on(8, "ash", LinkBoundary, **first, proposal_id=ids["calls/create"])
    await on(10, "cedar", MarkCommitment, **first, commitment_id=ids["once"], occurrence=1,
             mark="kept", note="Ash told me first")
    at["ash trusts"] = await on(10, "ash", CheckIn, **first, trust=6)
    at["blue trusts"] = await on(10, "blue", CheckIn, **first, trust=3)
    await on(12, "ash", InviteSupporter, **first, invitation_id=ids["invitation"],
             secret_hash=hashlib.sha256(SECRET.encode()).hexdigest(),
             expires_at=story.day(40))
    await story.polycule.do(command(
        AcceptSupporterInvitation, ids["supporter"], at=story.day(13),
        secret_hash=hashlib.sha256(SECRET.encode()).hexdigest(),
    ))
    await on(14, "cedar", MarkCommitment, **first, commitment_id=ids["weekly"], occurrence=2,
             mark="kept")
    await on(20, "blue", Decide, **first, decision="rebuild")
    await on(21, "blue", MarkCommitment, **first, commitment_id=ids["weekly"], occurrence=3,
             mark="missed")
    at["blue setback"] = await on(21, "blue", CheckIn, **first, trust=2, setback=True,
                                  note=IT_HURT_AGAIN)
    await on(28, "blue", MarkCommitment, **first, commitment_id=ids["weekly"], occurrence=4,
             mark="kept")
    for name in ("blue", "cedar"):
        await on(30, name, Consent, proposal_id=ids["dates/defined"], revision=1)
    at["fuzzy addressed"] = await on(30, "ash", AddressFactor, **first, factor_id=ids["fuzzy"],
                                     note="We defined it together")
    await on(35, "blue", MarkCommitment, **first, commitment_id=ids["weekly"], occurrence=5,
             mark="kept")
    at["blue trusts again"] = await on(35, "blue", CheckIn, **first, trust=5)

    second = {"breach_id": ids["second"]}
    at["second reported"] = await on(
        41, "ash", ReportBreach, **second, agreement_id=ids["dates"],
        breached_by=story.member("ash"), happened_at=story.day(40),
        what_happened="I did it again and I am telling you myself",
    )
    await on(45, "blue", ChooseRestoration, **second)
    at["second restored"] = await on(46, "cedar", ChooseRestoration, **second)
    return story


async def caught_up(pool: asyncpg.Pool) -> None:
    await read_models_caught_up(pool)


async def history_of(
    pool: asyncpg.Pool, story: Story, breach: str, day: int, reader: str = "ash"
) -> RepairHistory:
    allowed = await readable(story.member(reader), story.polycule)
    found = await read_model.repair_history(
        pool, story.polycule.id, story.ids[breach], story.day(day), allowed.breaches
    )
    assert found is not None
    return found


async def table_rows(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(row) for row in await pool.fetch(
            f"SELECT * FROM {table} ORDER BY row_to_json({table})::text"
        )]
        for table in TABLES
    }


async def opened(value: Any, keyring: KeyRing) -> Any:
    return (await decrypt_event_fields({"text": value}, keyring))["text"]


# --- The breaches a member may see -------------------------------------------------------


async def test_breaches_keep_both_accounts_and_show_only_to_their_audience(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    story = await tell_the_story(service, store)
    polycule, ids, at = story.polycule, story.ids, story.at

    await caught_up(pool)

    async def seen_by(member: UUID) -> list[read_model.BreachRow]:
        allowed = await readable(member, polycule)
        return await read_model.breaches_for(pool, polycule.id, allowed.breaches)

    second, first = await seen_by(story.member("ash"))
    assert (first.breach_id, first.agreement_id, first.version) == (ids["first"], ids["dates"], 1)
    assert first.parties == story.members("ash", "blue", "cedar")
    assert first.harmed == story.members("blue", "cedar")
    assert (first.breached_by, first.reported_by, first.self_reported) == (
        story.member("ash"), story.member("blue"), False
    )
    assert (first.happened_at, first.reported_at) == (story.day(1), at["first reported"])
    assert await opened(first.what_happened, keyring) == WHAT_HAPPENED
    # Disputed, then acknowledged: both accounts stay.
    assert first.status == "acknowledged"
    assert first.acknowledged_at == at["first acknowledged"]
    assert first.disputed_at == at["first disputed"]
    assert await opened(first.acknowledgement, keyring) == OWNING_IT
    assert await opened(first.dispute, keyring) == NOT_A_DATE
    assert first.audience == story.members("ash", "blue", "cedar", "dune")
    assert first.supporters == (ids["supporter"],)
    assert (first.repair_status, first.closed_at, first.closed_by, first.restored_by) == (
        "open", None, None, ()
    )

    # Reported by the member who crossed it: owned, so acknowledged from the start.
    assert (second.breach_id, second.version, second.happened_at) == (
        ids["second"], 2, story.day(40)
    )
    assert (second.self_reported, second.status, second.acknowledgement) == (
        True, "acknowledged", None
    )
    assert second.acknowledged_at == second.reported_at == at["second reported"]
    assert second.audience == story.members("ash", "blue", "cedar")
    assert (second.repair_status, second.closed_at, second.closed_by) == (
        "restored", at["second restored"], None
    )
    assert second.restored_by == story.members("blue", "cedar")

    # dune was shown the first, and is no party to the second.
    assert await seen_by(story.member("dune")) == [first]
    assert await seen_by(uuid.uuid4()) == []
    assert await read_model.breach(pool, polycule.id, ids["second"]) == second
    # Nothing is ever read across polycules.
    elsewhere = uuid.uuid4()
    everything = (await readable(story.member("ash"), polycule)).breaches
    assert await read_model.breaches_for(pool, elsewhere, everything) == []
    assert await read_model.breach(pool, elsewhere, ids["first"]) is None
    assert await read_model.repair_history(
        pool, elsewhere, ids["first"], story.day(50), everything
    ) is None


# --- A repair's history ------------------------------------------------------------------


async def test_the_timeline_tells_every_step_in_order_with_its_words_sealed(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    story = await tell_the_story(service, store)
    await caught_up(pool)

    history = await history_of(pool, story, "first", 50)

    assert [step.what for step in history.timeline] == [
        "BreachReported", "BreachDisputed", "BreachAudienceWidened", "BreachAcknowledged",
        "ResponsibilityTaken", "ImpactShared", "ApologyMade", "RepairDecisionMade",
        "RepairDecisionMade", "FactorNamed", "FactorNamed", "CommitmentMade",
        "CommitmentMade", "BoundaryLinked", "CommitmentMarked", "BoundaryLinked",
        "CommitmentMarked", "CheckInRecorded", "CheckInRecorded", "SupporterInvited",
        "SupporterJoined", "CommitmentMarked", "RepairDecisionMade", "CommitmentMarked",
        "CheckInRecorded", "CommitmentMarked", "FactorAddressed", "CommitmentMarked",
        "CheckInRecorded",
    ]
    versions = [step.stream_version for step in history.timeline]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    reported, disputed, widened, acknowledged, responsibility, impact, apology, *_ = (
        history.timeline
    )
    assert reported.at == story.at["first reported"]
    assert reported.member_id == story.member("blue")
    assert reported.detail is not None
    assert datetime.fromisoformat(reported.detail.pop("happened_at")) == story.day(1)
    assert reported.detail == {
        "agreement_id": str(story.ids["dates"]), "version": 1,
        "breached_by": str(story.member("ash")),
    }
    assert widened.detail == {"added": [str(story.member("dune"))]}
    assert widened.words is None
    for step, words in (
        (reported, WHAT_HAPPENED), (disputed, NOT_A_DATE), (acknowledged, OWNING_IT),
        (responsibility, RESPONSIBILITY), (impact, IMPACT), (apology, APOLOGY),
    ):
        assert as_sealed(step.words) is not None
        assert await opened(step.words, keyring) == words
    by_what = {step.what: step for step in history.timeline}
    assert by_what["CheckInRecorded"].detail == {"trust": 5, "setback": False, "private": False}
    assert by_what["FactorAddressed"].detail == {
        "factor_id": str(story.ids["fuzzy"]), "factor": "fuzzy_agreement"
    }
    assert by_what["FactorAddressed"].at == story.at["fuzzy addressed"]
    invited, joined = by_what["SupporterInvited"], by_what["SupporterJoined"]
    assert invited.detail is not None
    assert datetime.fromisoformat(invited.detail.pop("expires_at")) == story.day(40)
    assert invited.detail == {"invitation_id": str(story.ids["invitation"])}
    assert (joined.member_id, joined.detail) == (
        story.ids["supporter"], {"invitation_id": str(story.ids["invitation"])}
    )

    second = await history_of(pool, story, "second", 50)
    assert [(step.what, step.member_id) for step in second.timeline] == [
        ("BreachReported", story.member("ash")),
        ("RestorationChosen", story.member("blue")),
        ("RestorationChosen", story.member("cedar")),
        ("RepairClosed", None),
    ]
    assert second.timeline[-1].detail == {"outcome": "restored"}


async def test_history_shows_trust_commitments_factors_decisions_and_boundaries(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    story = await tell_the_story(service, store)
    ids, at = story.ids, story.at
    await caught_up(pool)

    history = await history_of(pool, story, "first", 50)

    assert history.breach == await read_model.breach(pool, story.polycule.id, ids["first"])
    # Each participant's own line, the breaching member's first; cedar never checked in.
    ash, blue = history.trust
    assert ash.member_id == story.member("ash")
    assert [(p.at, p.trust, p.setback) for p in ash.points] == [(at["ash trusts"], 6, False)]
    assert blue.member_id == story.member("blue")
    assert [(p.at, p.trust, p.setback) for p in blue.points] == [
        (at["blue trusts"], 3, False), (at["blue setback"], 2, True),
        (at["blue trusts again"], 5, False),
    ]
    assert await opened(blue.points[1].note, keyring) == IT_HURT_AGAIN
    assert blue.points[0].note is None

    weekly, once = history.commitments
    assert (weekly.commitment_id, weekly.made_by) == (ids["weekly"], story.member("ash"))
    assert (weekly.first_due_at, weekly.every_days) == (story.day(7), 7)
    assert await opened(weekly.what, keyring) == WEEKLY_CALL
    assert [(m.occurrence, m.due_at, m.mark) for m in weekly.marks] == [
        (1, story.day(7), "kept"), (2, story.day(14), "kept"), (3, story.day(21), "missed"),
        (4, story.day(28), "kept"), (5, story.day(35), "kept"),
    ]
    assert tuple(m.marked_by for m in weekly.marks) == story.members(
        "blue", "cedar", "blue", "blue", "blue"
    )
    # Kept, kept, missed, kept, kept: a streak of two; days 42 and 49 passed unmarked.
    progress = weekly.progress
    assert (progress.kept, progress.missed, progress.streak) == (4, 1, 2)
    assert [(o.number, o.due_at) for o in progress.overdue] == [
        (6, story.day(42)), (7, story.day(49))
    ]
    assert progress.next_due is not None
    assert (progress.next_due.number, progress.next_due.due_at) == (8, story.day(56))
    assert (once.every_days, once.progress.kept, once.progress.streak) == (None, 1, 1)
    assert (once.progress.next_due, once.progress.overdue) == (None, ())
    assert await opened(once.marks[0].note, keyring) == "Ash told me first"
    assert (history.kept, history.missed) == (5, 1)
    # Progress is the moment's: on day 36 nothing was overdue yet, the sixth call was next.
    earlier = (await history_of(pool, story, "first", 36)).commitments[0].progress
    assert earlier.overdue == ()
    assert earlier.next_due is not None and earlier.next_due.number == 6

    fuzzy, fear = history.factors
    assert (fuzzy.factor, fuzzy.named_by, fuzzy.addressed) == (
        "fuzzy_agreement", story.member("blue"), True
    )
    assert (fuzzy.addressed_at, fuzzy.addressed_by) == (
        at["fuzzy addressed"], story.member("ash")
    )
    assert await opened(fuzzy.note, keyring) == FUZZY
    assert await opened(fuzzy.addressed_note, keyring) == "We defined it together"
    assert (fear.factor, fear.addressed, fear.addressed_at, fear.note) == (
        "communication_or_fear", False, None, None
    )
    assert (history.factors_open, history.factors_addressed) == (1, 1)

    assert [(d.member_id, d.decision) for d in history.decisions] == [
        (story.member("blue"), "take_space"), (story.member("cedar"), "rebuild"),
        (story.member("blue"), "rebuild"),
    ]
    assert await opened(history.decisions[0].note, keyring) == "I need a week"

    defined, calls = history.boundaries
    assert (defined.proposal_id, defined.agreement_id, defined.status) == (
        ids["dates/defined"], ids["dates"], "ratified"
    )
    assert (defined.linked_by, defined.linked_at) == (story.member("blue"), at["defined linked"])
    assert await opened(defined.title, keyring) == "Dates"
    assert await opened(defined.if_broken, keyring) == DEFINED
    assert (calls.proposal_id, calls.agreement_id, calls.status) == (
        ids["calls/create"], ids["calls"], "open"
    )
    assert await opened(calls.if_broken, keyring) == "We reschedule that week"

    assert history.days_since_breach == 49
    assert history.earlier_breaches == ()
    second = await history_of(pool, story, "second", 50)
    assert second.days_since_breach == 10
    [earlier_breach] = second.earlier_breaches
    assert (earlier_breach.breach_id, earlier_breach.happened_at) == (ids["first"], story.day(1))
    assert (earlier_breach.repair_status, earlier_breach.closed_at) == ("open", None)
    # Of the earlier breaches, only those the policy lets the reader see are shown.
    kept_from_reader = await read_model.repair_history(
        pool, story.polycule.id, ids["second"], story.day(50), {ids["second"]}
    )
    assert kept_from_reader is not None and kept_from_reader.earlier_breaches == ()
    assert (second.trust, second.commitments, second.factors, second.boundaries) == (
        (), (), (), ()
    )
    assert (second.kept, second.missed, second.factors_open) == (0, 0, 0)


# --- What a repair asks of its participants now ------------------------------------------


async def test_the_repair_inbox_asks_harmed_parties_to_mark_and_participants_to_check_in(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    polycule, ids, day = story.polycule.id, story.ids, story.day
    await caught_up(pool)

    def due(*numbers: int) -> list[DueMark]:
        return [
            DueMark(polycule, ids["first"], ids["weekly"], number, day(7 * number))
            for number in numbers
        ]

    def check_in_due(last: datetime | None) -> list[CheckInDue]:
        return [CheckInDue(polycule, ids["first"], last, story.at["first reported"])]

    async def inbox(name: str, on_day: int) -> RepairInbox:
        allowed = await readable(story.member(name), story.polycule)
        return await repair_inbox(
            pool, story.member(name), day(on_day), allowed.repairs
        )

    # Day 40: every call so far is marked. blue checked in on day 35, ash on day 10, cedar
    # never.
    blue, cedar, ash = await inbox("blue", 40), await inbox("cedar", 40), await inbox("ash", 40)
    assert blue == RepairInbox([], [])
    assert cedar.commitments_to_mark == [] and cedar.check_ins_due == check_in_due(None)
    assert ash.check_ins_due == check_in_due(day(10))
    assert (await inbox("blue", 42)).check_ins_due == check_in_due(day(35))  # a week on

    # Day 50: the calls of days 42 and 49 wait for a harmed party's mark.
    blue, cedar = await inbox("blue", 50), await inbox("cedar", 50)
    assert blue.commitments_to_mark == cedar.commitments_to_mark == due(6, 7)
    # ash made the commitments: marking them is not theirs to do.
    assert (await inbox("ash", 50)).commitments_to_mark == []
    # dune sees the breach but takes no part in its repair.
    assert await inbox("dune", 50) == RepairInbox([], [])
    assert (await inbox("blue", 57)).commitments_to_mark == due(6, 7, 8)

    # blue checks in and marks the sixth call: due no more, for cedar either.
    first = {"breach_id": ids["first"]}
    await story.on(50, "blue", CheckIn, **first, trust=6)
    await story.on(50, "blue", MarkCommitment, **first, commitment_id=ids["weekly"],
                   occurrence=6, mark="missed")
    await caught_up(pool)
    blue = await inbox("blue", 50)
    assert (blue.commitments_to_mark, blue.check_ins_due) == (due(7), [])
    assert (await inbox("cedar", 50)).commitments_to_mark == due(7)
    assert (await inbox("blue", 57)).check_ins_due == check_in_due(day(50))

    # Once the repair has ended, it asks nothing of anyone.
    await story.on(51, "cedar", EndRepair, **first, note="We stop here")
    await caught_up(pool)
    for name in ("ash", "blue", "cedar"):
        assert await inbox(name, 60) == RepairInbox([], [])
    ended = await read_model.breach(pool, polycule, ids["first"])
    assert ended is not None
    assert (ended.repair_status, ended.closed_by) == ("ended", story.member("cedar"))
    assert as_sealed(ended.close_note) is not None


# --- Rebuilding, and the words kept sealed -----------------------------------------------


async def test_a_rebuild_gives_exactly_the_rows_applied_one_command_at_a_time(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    projection = Repairs()
    await polycule_of(service, store, "erin", "fox")  # events that are no repair's
    story = await tell_the_story(service, store)
    await read_models_caught_up(pool)
    first = {"breach_id": story.ids["first"]}
    for name, kind, fields in (
        ("cedar", CheckIn, {"trust": 4, "note": "slowly"}),
        ("ash", AddressFactor, {"factor_id": story.ids["fear"]}),
        ("blue", EndRepair, {}),
    ):
        await story.on(50, name, kind, **first, **fields)
        await read_models_caught_up(pool)
    incremental = await table_rows(pool)

    applied = await rebuild(read_side(pool), [projection.name])

    assert await table_rows(pool) == incremental
    assert applied == await pool.fetchval("SELECT count(*) FROM events")
    assert all(incremental.values())
    # One timeline row for each breach or repair event, and none for the others.
    about_breaches = [
        name for name in EVENTS.names() if "breach_id" in EVENTS.model_of(name).model_fields
    ]
    assert len(incremental["repair_timeline"]) == await pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type = ANY($1)", about_breaches
    )


async def test_no_words_and_no_invitation_secret_are_kept_in_the_clear(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    await tell_the_story(service, store)
    await caught_up(pool)

    everything = "\n".join([
        await pool.fetchval(f"SELECT coalesce(json_agg({table})::text, '') FROM {table}")
        for table in TABLES
    ])
    assert len(everything) > 10_000
    for words in (
        WHAT_HAPPENED, NOT_A_DATE, OWNING_IT, RESPONSIBILITY, IMPACT, APOLOGY, WEEKLY_CALL,
        TELL_FIRST, IT_HURT_AGAIN, FUZZY, "I need a week", "Ash told me first",
        "We defined it together", "telling you myself", "Sam",
        hashlib.sha256(SECRET.encode()).hexdigest(),
    ):
        # As words of their own: a sealed text's base64 may hold "Sam" by chance, amid
        # other letters of its alphabet, as one run in a few thousand does.
        assert not re.search(
            rf"(?<![A-Za-z0-9+/]){re.escape(words)}(?![A-Za-z0-9+/=])", everything
        ), words


# --- Indexes and registration ------------------------------------------------------------


async def test_every_read_uses_an_index(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    await caught_up(pool)
    polycule, breach_id, member = story.polycule.id, story.ids["first"], story.member("blue")
    reads: dict[str, tuple[Any, ...]] = {
        "BREACHES_FOR": (polycule, [breach_id, story.ids["second"]]),
        "BREACH": (polycule, breach_id),
        "TIMELINE_OF_BREACH": (breach_id, [member]),
        "CHECK_INS_OF_BREACH": (breach_id, [member]),
        "SUPPORTED_BY": (member,),
        "COMMITMENTS_OF_BREACH": (breach_id,),
        "MARKS_OF_BREACH": (breach_id,),
        "FACTORS_OF_BREACH": (breach_id,),
        "DECISIONS_OF_BREACH": (breach_id,),
        "BOUNDARIES_OF_BREACH": (breach_id,),
        "EARLIER_BREACHES": (polycule, story.ids["dates"], story.day(40), [breach_id]),
        "COMMITMENTS_TO_MARK": (member, [breach_id, story.ids["second"]]),
        "MARKS_OF_COMMITMENTS": ([story.ids["weekly"], story.ids["once"]],),
        "CHECK_INS_DUE": (member, datetime.now(UTC), [breach_id, story.ids["second"]]),
        "COMMITMENTS_FALLING_DUE": (datetime.now(UTC),),
    }
    async with pool.acquire() as connection, connection.transaction():
        await sequential_scans_last(connection)
        for name, arguments in reads.items():
            plan = "\n".join(
                row[0] for row in await connection.fetch(
                    f"EXPLAIN {statement(name, read_model, inbox_read_model, schedule)}",
                    *arguments,
                )
            )
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"


def test_the_service_keeps_the_repairs_current() -> None:
    assert "repairs" in [projection.name for projection in member_read_models()]
