"""Reading the read models for a member's inbox: what waits for them, across every
polycule they belong to now.

From the agreements read model (projections/agreements.py), the open proposals that still
await their answer and the agreements whose review is due that they have not reaffirmed;
from the disclosures read model (projections/disclosures.py), what they were told and have
not acknowledged; from the repairs read model (projections/repairs.py), in the repairs
they take part in, the commitment occurrences waiting for their mark and the check-ins due.
Texts come back sealed, as the read models keep them; the HTTP layer opens them for the
member who asked.

Each rule stays in its one home: who still has to answer a proposal is the domain's
(``awaited``, ledger/domain/agreements.py), asked here of the open proposals that bind the
member and never said again in SQL; what is overdue is ledger/domain/commitments.py's
arithmetic; which disclosures and repairs the member may read is the policy's
(``policy.readable_by``), whose ids these queries take.

Tables and indexes: ledger/store/migrations/0006_agreements.sql,
0007_disclosures_and_repair.sql and 0010_answers_may_change.sql.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

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
                    WHERE a.disclosure_id = d.disclosure_id AND a.member_id = $1)
 ORDER BY d.made_at, d.disclosure_id
"""
# $2: the repairs the member may read (the policy's answer), across their polycules; of
# those, the ones where they are a harmed party, who marks a commitment.
# Index: breaches_pkey per repair, then commitments_of_breach.
COMMITMENTS_TO_MARK = """
SELECT b.polycule_id, b.breach_id, c.commitment_id, c.first_due_at, c.every_days
  FROM breaches b
  JOIN commitments c ON c.breach_id = b.breach_id
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
SELECT b.polycule_id, b.breach_id, latest.at AS last_check_in_at
  FROM breaches b
  LEFT JOIN LATERAL (SELECT max(ci.at) AS at FROM check_ins ci
                      WHERE ci.breach_id = b.breach_id AND ci.member_id = $1) latest ON true
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
