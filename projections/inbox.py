"""Reading the read models for a member's inbox: what waits for them and what happened
that concerns them, across every polycule they belong to now (and the repairs they support).

From the agreements read model (projections/agreements.py), the open proposals that still
await their answer and the agreements whose review is due that they have not reaffirmed;
from the disclosures read model (projections/disclosures.py), what they were told and have
not acknowledged; from the repairs read model (projections/repairs.py), in the repairs
they take part in, the commitment occurrences waiting for their mark and the check-ins due.
Texts come back sealed, as the read models keep them; the HTTP layer opens them for the
member who asked.

What happened that concerns the member (``news``): a breach told that names them, harms
them or was shown to them; a dispute of a breach they told; an agreement they were a party
to that someone else ended; a review another party asked for; their own repair commitments
coming due; the repairs they support. Which member each of those concerns is said once,
here (``concerns``); whoever did it is never told of it, as with webhooks and mail
(ledger/webhooks/catalogue.py).

Each rule stays in its one home: who still has to answer a proposal is the domain's
(``awaited``, ledger/domain/agreements.py), asked here of the open proposals that bind the
member and never said again in SQL; what is overdue is ledger/domain/commitments.py's
arithmetic; which disclosures and repairs the member may read is the policy's
(``policy.readable_by``), whose ids these queries take.

Tables and indexes: ledger/store/migrations/0006_agreements.sql,
0007_disclosures_and_repair.sql, 0010_answers_may_change.sql and 0016_inbox_read.sql.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import asyncpg

from ledger.domain import commitments
from projections.agreement_queries import (
    AGREEMENT_COLUMNS,
    PROPOSALS_WITH_ANSWERS,
    AgreementRow,
    ProposalRow,
    agreement_row,
    proposal_row,
)
from projections.disclosures import DISCLOSURE_COLUMNS, DisclosureRow, with_acknowledgements
from projections.reading import row_of, snapshot

if TYPE_CHECKING:
    from ledger.database import Executor

# A participant with no check-in for this long is asked how trust feels now.
CHECK_IN_EVERY = timedelta(days=7)
# A commitment's occurrence is told to the one who made it this long before it is due.
FALLING_DUE_WITHIN = timedelta(days=1)


@dataclass(frozen=True)
class AgreementInbox:
    # Open proposals that bind the member and still await their answer to the current
    # revision.
    awaiting_response: list[ProposalRow]
    # Agreements under review that the member has not reaffirmed yet.
    reviews_due: list[AgreementRow]


@dataclass(frozen=True)
class DueMark:
    polycule_id: UUID
    breach_id: UUID
    commitment_id: UUID
    occurrence: int
    due_at: datetime


@dataclass(frozen=True)
class CheckInDue:
    polycule_id: UUID
    breach_id: UUID
    last_check_in_at: datetime | None
    # When the breach was told: since then the repair has asked for check-ins.
    repair_opened_at: datetime


@dataclass(frozen=True)
class RepairInbox:
    # Occurrences whose time has passed and that nobody has marked, on open repairs where
    # the member is a harmed party (a commitment is marked by a harmed party), oldest first.
    commitments_to_mark: list[DueMark]
    # Open repairs the member takes part in where they have not checked in for
    # CHECK_IN_EVERY (or ever).
    check_ins_due: list[CheckInDue]


# The open proposals that bind the member, in every polycule they belong to now; of those,
# ``awaited`` keeps the ones still waiting for their answer. Index: memberships_of_member,
# then agreement_proposals_open per polycule.
OPEN_PROPOSALS_BINDING = f"""
{PROPOSALS_WITH_ANSWERS}
  JOIN memberships m ON m.polycule_id = p.polycule_id
 WHERE m.member_id = $1 AND m.left_at IS NULL AND p.status = 'open'
   AND $1 = ANY (p.parties)
 ORDER BY p.opened_at, p.proposal_id
"""
# Index: memberships_of_member, then agreements_active per polycule.
REVIEWS_DUE = f"""
SELECT {AGREEMENT_COLUMNS}
  FROM memberships m
  JOIN agreements a ON a.polycule_id = m.polycule_id AND a.status = 'active'
 WHERE m.member_id = $1 AND m.left_at IS NULL
   AND a.review_due AND $1 = ANY (a.parties) AND NOT $1 = ANY (a.reaffirmed_by)
 ORDER BY a.review_due_since, a.agreement_id
"""
# $2: the disclosures the member may read (the policy's answer), across their polycules;
# of those, the ones they were told (the discloser has nothing to acknowledge).
# Index: disclosures_pkey per disclosure, then disclosure_acknowledgements_pkey.
TO_ACKNOWLEDGE = f"""
SELECT {DISCLOSURE_COLUMNS}
  FROM disclosures d
 WHERE d.disclosure_id = ANY ($2::uuid[])
   AND $1 = ANY (d.recipients)
   AND NOT EXISTS (SELECT FROM disclosure_acknowledgements a
                    WHERE a.disclosure_id = d.disclosure_id AND a.member_id = $1
                      AND a.polycule_id = d.polycule_id)
 ORDER BY d.made_at, d.disclosure_id
"""
# $2: the repairs the member may read (the policy's answer), across their polycules; of
# those, the ones where they are a harmed party, who marks a commitment.
# Index: breaches_pkey per repair, then commitments_of_breach.
COMMITMENTS_TO_MARK = """
SELECT b.polycule_id, b.breach_id, c.commitment_id, c.first_due_at, c.every_days
  FROM breaches b
  JOIN commitments c ON c.breach_id = b.breach_id AND c.polycule_id = b.polycule_id
 WHERE b.breach_id = ANY ($2::uuid[]) AND b.repair_status = 'open' AND $1 = ANY (b.harmed)
 ORDER BY b.reported_at, c.made_in
"""
# The marks of many commitments at once. Index: commitment_marks_pkey.
MARKS_OF_COMMITMENTS = """
SELECT k.commitment_id, k.occurrence, k.mark
  FROM commitment_marks k
 WHERE k.commitment_id = ANY ($1::uuid[])
 ORDER BY k.commitment_id, k.occurrence
"""
# $2: the moment before which the last check-in is too old; $3: the repairs the member
# may read (the policy's answer), across their polycules; of those, the ones they take
# part in (a supporter reads along, and never checks in).
# Index: breaches_pkey per repair, then check_ins_of_member.
CHECK_INS_DUE = """
SELECT b.polycule_id, b.breach_id, latest.at AS last_check_in_at,
       b.reported_at AS repair_opened_at
  FROM breaches b
  LEFT JOIN LATERAL (SELECT max(ci.at) AS at FROM check_ins ci
                      WHERE ci.breach_id = b.breach_id AND ci.member_id = $1
                        AND ci.polycule_id = b.polycule_id) latest ON true
 WHERE b.breach_id = ANY ($3::uuid[]) AND b.repair_status = 'open'
   AND ($1 = b.breached_by OR $1 = ANY (b.harmed))
   AND (latest.at IS NULL OR latest.at <= $2)
 ORDER BY b.reported_at, b.breach_id
"""


async def agreement_inbox(executor: Executor, member_id: UUID) -> AgreementInbox:
    """The proposals awaiting the member's answer and the reviews due to them, in every
    polycule they belong to now."""
    binding = [
        proposal_row(row) for row in await executor.fetch(OPEN_PROPOSALS_BINDING, member_id)
    ]
    reviews = await executor.fetch(REVIEWS_DUE, member_id)
    return AgreementInbox(
        awaiting_response=[proposal for proposal in binding if member_id in proposal.awaiting],
        reviews_due=[agreement_row(row) for row in reviews],
    )


async def disclosures_to_acknowledge(
    executor: Executor, member_id: UUID, readable: Collection[UUID]
) -> list[DisclosureRow]:
    """Of ``readable`` (the disclosures the policy lets the member see, across their
    polycules), what they were told and have not acknowledged, oldest first."""
    rows = await executor.fetch(TO_ACKNOWLEDGE, member_id, list(readable))
    return await with_acknowledgements(executor, rows)


async def repair_inbox(
    executor: Executor, member_id: UUID, now: datetime, readable: Collection[UUID]
) -> RepairInbox:
    """What the member's open repairs among ``readable`` (the repairs the policy lets them
    read, across their polycules) ask of them at ``now``."""
    repairs = list(readable)
    async with snapshot(executor) as connection:
        made = await connection.fetch(COMMITMENTS_TO_MARK, member_id, repairs)
        marks: dict[UUID, dict[int, commitments.Mark]] = {}
        if made:
            for mark in await connection.fetch(
                MARKS_OF_COMMITMENTS, [row["commitment_id"] for row in made]
            ):
                marks.setdefault(mark["commitment_id"], {})[mark["occurrence"]] = mark["mark"]
        check_ins = await connection.fetch(
            CHECK_INS_DUE, member_id, now - CHECK_IN_EVERY, repairs
        )
    to_mark = [
        DueMark(
            polycule_id=row["polycule_id"],
            breach_id=row["breach_id"],
            commitment_id=row["commitment_id"],
            occurrence=occurrence.number,
            due_at=occurrence.due_at,
        )
        for row in made
        for occurrence in commitments.progress(
            row["first_due_at"], row["every_days"], marks.get(row["commitment_id"], {}), now
        ).overdue
    ]
    return RepairInbox(
        commitments_to_mark=sorted(to_mark, key=lambda due: due.due_at),
        check_ins_due=[row_of(CheckInDue, row) for row in check_ins],
    )


# -- what happened that concerns the member ----------------------------------------------

NewsKind = Literal[
    "breach_told", "report_disputed", "agreement_ended", "review_asked",
    "commitment_falling_due", "repair_supported",
]
# Why it concerns the member.
Why = Literal[
    "you_are_named", "you_are_harmed", "shown_to_you", "you_told_it", "you_were_a_party",
    "you_are_a_party", "you_made_it", "you_support_it",
]


@dataclass(frozen=True)
class News:
    kind: NewsKind
    why: Why
    polycule_id: UUID
    at: datetime
    # Whose act it is (None: the ledger's own, such as a commitment coming due).
    by: UUID | None
    agreement_id: UUID | None
    # The agreement's current wording as the read model keeps it (sealed), for its title.
    agreement_text: Mapping[str, Any] | None
    breach_id: UUID | None = None
    version: int | None = None
    # How an agreement ended (revoked, party_left, ended_by_proposal).
    how: str | None = None
    # A review request's note, sealed under its author's key.
    note: Mapping[str, Any] | None = None
    commitment_id: UUID | None = None
    occurrence: int | None = None
    # A breach names the member, who has neither acknowledged nor disputed it yet.
    account_wanted: bool = False

    @property
    def key(self) -> str:
        """The entry's key for read and unread: kind, ids and numbers, never words."""
        about: tuple[object, ...] = {
            "breach_told": (self.breach_id,),
            "report_disputed": (self.breach_id,),
            "agreement_ended": (self.agreement_id, self.version),
            "review_asked": (self.agreement_id, self.version, self.by, self.at.isoformat()),
            "commitment_falling_due": (self.commitment_id, self.occurrence),
            "repair_supported": (self.breach_id,),
        }[self.kind]
        return ":".join((self.kind, *(str(part) for part in about)))


# The polycules whose repairs the member supports (a supporter need not be a member).
# Index: breaches_supported_by.
SUPPORTED_POLYCULES = """
SELECT DISTINCT b.polycule_id FROM breaches b WHERE b.supporters @> ARRAY[$1::uuid]
"""
# $2: the breaches the member may read (the policy's answer); of those, the ones they may
# be concerned by (``concerns`` decides). Index: breaches_pkey per breach, agreements_pkey.
BREACHES_TOUCHING = """
SELECT b.polycule_id, b.breach_id, b.agreement_id, a.text AS agreement_text, b.version,
       b.reported_by, b.breached_by, b.harmed, b.audience, b.status, b.reported_at,
       b.disputed_at
  FROM breaches b
  LEFT JOIN agreements a ON a.agreement_id = b.agreement_id AND a.polycule_id = b.polycule_id
 WHERE b.breach_id = ANY ($2::uuid[])
   AND ($1 = ANY (b.audience) OR $1 = b.breached_by OR $1 = ANY (b.harmed)
        OR $1 = b.reported_by)
 ORDER BY b.reported_at, b.breach_id
"""
# The ended agreements the member was a party to, in the polycules they belong to now, and
# who ended them (an agreed ending: whoever proposed it). Index: memberships_of_member,
# then agreements_ended per polycule and agreement_proposals_of_agreement.
AGREEMENTS_ENDED = """
SELECT a.polycule_id, a.agreement_id, a.text AS agreement_text, a.version, a.ended_at,
       a.end_reason, COALESCE(a.ended_by, ending.proposed_by) AS ended_by
  FROM memberships m
  JOIN agreements a ON a.polycule_id = m.polycule_id AND a.status = 'ended'
  LEFT JOIN LATERAL (SELECT p.proposed_by FROM agreement_proposals p
                      WHERE p.agreement_id = a.agreement_id AND p.kind = 'end'
                        AND p.polycule_id = a.polycule_id
                        AND p.status = 'ratified'
                      LIMIT 1) ending ON true
 WHERE m.member_id = $1 AND m.left_at IS NULL AND $1 = ANY (a.parties)
 ORDER BY a.ended_at, a.agreement_id
"""
# The reviews asked for, of the version in force, on the agreements the member is a party
# to. Index: memberships_of_member, agreements_active per polycule, then
# agreement_timeline_of_agreement.
REVIEWS_ASKED = """
SELECT a.polycule_id, a.agreement_id, a.text AS agreement_text, t.version, t.at,
       t.member_id, t.note
  FROM memberships m
  JOIN agreements a ON a.polycule_id = m.polycule_id AND a.status = 'active'
  JOIN agreement_timeline t ON t.agreement_id = a.agreement_id
                           AND t.polycule_id = a.polycule_id
                           AND t.what = 'ReviewRequested' AND t.version = a.version
 WHERE m.member_id = $1 AND m.left_at IS NULL AND $1 = ANY (a.parties)
 ORDER BY t.at, t.stream_version
"""
# $2: the repairs the member may read; of those, the open ones where they made commitments.
# Index: breaches_pkey per repair, then commitments_of_breach.
MY_COMMITMENTS = """
SELECT b.polycule_id, b.breach_id, b.agreement_id, a.text AS agreement_text,
       c.commitment_id, c.first_due_at, c.every_days
  FROM breaches b
  JOIN commitments c ON c.breach_id = b.breach_id AND c.polycule_id = b.polycule_id
                   AND c.made_by = $1
  LEFT JOIN agreements a ON a.agreement_id = b.agreement_id AND a.polycule_id = b.polycule_id
 WHERE b.breach_id = ANY ($2::uuid[]) AND b.repair_status = 'open'
 ORDER BY b.reported_at, c.made_in
"""
# $2: the repairs the member may read; of those, the open ones they support.
# Index: breaches_pkey per repair.
REPAIRS_SUPPORTED = """
SELECT b.polycule_id, b.breach_id, b.agreement_id, a.text AS agreement_text, b.breached_by,
       b.reported_at
  FROM breaches b
  LEFT JOIN agreements a ON a.agreement_id = b.agreement_id AND a.polycule_id = b.polycule_id
 WHERE b.breach_id = ANY ($2::uuid[]) AND b.repair_status = 'open'
   AND $1 = ANY (b.supporters)
 ORDER BY b.reported_at, b.breach_id
"""


async def supported_polycules(executor: Executor, member_id: UUID) -> list[UUID]:
    """The polycules where ``member_id`` supports a repair."""
    return [row["polycule_id"] for row in await executor.fetch(SUPPORTED_POLYCULES, member_id)]


def concerns(member_id: UUID, breach: asyncpg.Record | Mapping[str, Any]) -> list[News]:
    """What a breach (a row of BREACHES_TOUCHING) tells ``member_id``: that it was told,
    when someone else told it and it names them, harms them or was shown to them; that it
    was disputed, when they told it of someone else."""
    told_by, named = breach["reported_by"], breach["breached_by"]
    about = {
        "polycule_id": breach["polycule_id"], "agreement_id": breach["agreement_id"],
        "agreement_text": breach["agreement_text"], "breach_id": breach["breach_id"],
        "version": breach["version"], "how": breach["status"],
    }
    if told_by != member_id:
        why: Why = (
            "you_are_named" if named == member_id
            else "you_are_harmed" if member_id in breach["harmed"]
            else "shown_to_you"
        )
        return [News(
            "breach_told", why, at=breach["reported_at"], by=told_by,
            account_wanted=named == member_id and breach["status"] == "reported", **about,
        )]
    if breach["status"] == "disputed" and named != member_id:
        return [News("report_disputed", "you_told_it", at=breach["disputed_at"], by=named,
                     **about)]
    return []


async def news(
    executor: Executor, member_id: UUID, now: datetime, readable_breaches: Collection[UUID],
    readable_repairs: Collection[UUID],
) -> list[News]:
    """What happened that concerns the member, among what the policy lets them read
    (``readable_breaches``, ``readable_repairs``), newest first."""
    breaches, repairs = list(readable_breaches), list(readable_repairs)
    async with snapshot(executor) as connection:
        touching = await connection.fetch(BREACHES_TOUCHING, member_id, breaches)
        ended = await connection.fetch(AGREEMENTS_ENDED, member_id)
        asked = await connection.fetch(REVIEWS_ASKED, member_id)
        mine = await connection.fetch(MY_COMMITMENTS, member_id, repairs)
        marks: dict[UUID, dict[int, commitments.Mark]] = {}
        if mine:
            for mark in await connection.fetch(
                MARKS_OF_COMMITMENTS, [row["commitment_id"] for row in mine]
            ):
                marks.setdefault(mark["commitment_id"], {})[mark["occurrence"]] = mark["mark"]
        supported = await connection.fetch(REPAIRS_SUPPORTED, member_id, repairs)
    found = [told for breach in touching for told in concerns(member_id, breach)]
    found += [
        News("agreement_ended", "you_were_a_party", row["polycule_id"], row["ended_at"],
             row["ended_by"], row["agreement_id"], row["agreement_text"],
             version=row["version"], how=row["end_reason"])
        for row in ended if row["ended_by"] != member_id
    ]
    found += [
        News("review_asked", "you_are_a_party", row["polycule_id"], row["at"],
             row["member_id"], row["agreement_id"], row["agreement_text"],
             version=row["version"], note=row["note"])
        for row in asked if row["member_id"] != member_id
    ]
    for row in mine:
        coming = _falling_due(row, marks.get(row["commitment_id"], {}), now)
        if coming is not None:
            found.append(News(
                "commitment_falling_due", "you_made_it", row["polycule_id"], coming.due_at,
                None, row["agreement_id"], row["agreement_text"], breach_id=row["breach_id"],
                commitment_id=row["commitment_id"], occurrence=coming.number,
            ))
    found += [
        News("repair_supported", "you_support_it", row["polycule_id"], row["reported_at"],
             row["breached_by"], row["agreement_id"], row["agreement_text"],
             breach_id=row["breach_id"])
        for row in supported
    ]
    return sorted(found, key=lambda told: told.at, reverse=True)


def _falling_due(
    commitment: asyncpg.Record, marks: Mapping[int, commitments.Mark], now: datetime
) -> commitments.Occurrence | None:
    """The latest occurrence of one's own commitment that is due, or falls due within
    FALLING_DUE_WITHIN, and that nobody has marked yet; None when there is none."""
    going = commitments.progress(
        commitment["first_due_at"], commitment["every_days"], marks, now
    )
    if going.next_due is not None and going.next_due.due_at <= now + FALLING_DUE_WITHIN:
        return going.next_due
    return going.overdue[-1] if going.overdue else None
