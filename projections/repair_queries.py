"""Reading the repairs read model: what the breach and repair screens ask of it.

The breaches a member may see; one repair's whole history — its timeline, each
participant's trust over time, the commitments and how they are kept, the factors, the
decisions, the new boundaries, the days since and the earlier breaches of the same
agreement. Texts come back sealed, as the read model keeps them; whoever shows them opens
them for someone allowed to read them. What a member's inbox asks of this read model is in
projections/inbox.py, what the scheduler asks in projections/schedule.py.

Who may read which breach or repair is ledger/auth/policy.py's decision, never these
queries': every query that lists breaches or repairs takes the ids the policy allows the
reader (``policy.readable_by``) and shows those and no others. A query naming one breach
is asked only about a breach the policy has already let the reader at.

Kept, missed, the streak and what is due are worked out by ledger/domain/commitments.py
from the marks and the moment of asking, never stored: they change with time alone.

Each row names its fields once: the queries' columns carry the same names, so a record
becomes a row by name (``row_of``), and its view in the API is built from it by pydantic
(ledger/http/repair_shapes.py). A ``Sealed`` field keeps words as the event had them, for
whoever shows them to open.

The rows are written by projections/repairs.py; tables and indexes:
ledger/store/migrations/0007_disclosures_and_repair.sql.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

import asyncpg

from ledger.domain import commitments
from ledger.domain.repair import Decision, Factor
from ledger.store.records import JsonObject
from ledger.text_marks import Sealed
from projections.reading import row_of, snapshot

if TYPE_CHECKING:
    from ledger.database import Executor

BreachStatus = Literal["reported", "disputed", "acknowledged"]
RepairStatus = Literal["open", "restored", "ended"]
ProposalStatus = Literal["open", "ratified", "rejected", "withdrawn", "expired", "lapsed"]


@dataclass(frozen=True)
class BreachRow:
    polycule_id: UUID
    breach_id: UUID
    agreement_id: UUID
    # The version in force when it happened, and its parties.
    version: int
    parties: tuple[UUID, ...]
    harmed: tuple[UUID, ...]
    breached_by: UUID
    reported_by: UUID
    happened_at: datetime
    reported_at: datetime
    what_happened: Sealed
    status: BreachStatus
    # The named member's account on acknowledging (optional).
    acknowledgement: Sealed | None
    acknowledged_at: datetime | None
    # Their account on disputing it (the latest). Both stay once given.
    dispute: Sealed | None
    disputed_at: datetime | None
    audience: tuple[UUID, ...]
    supporters: tuple[UUID, ...]
    repair_status: RepairStatus
    closed_at: datetime | None
    # Who ended it; None when it closed as restored.
    closed_by: UUID | None
    close_note: Sealed | None
    restored_by: tuple[UUID, ...]

    @property
    def self_reported(self) -> bool:
        return self.reported_by == self.breached_by


@dataclass(frozen=True)
class RepairStep:
    stream_version: int
    at: datetime
    # The event type: BreachReported, ResponsibilityTaken, CheckInRecorded, …
    what: str
    # Who took the step (the supporter, for SupporterJoined); None for a repair that closed
    # as restored with the last harmed party's choice.
    member_id: UUID | None
    # Their words: what happened, an account, responsibility, impact, an apology, a
    # commitment, or a note.
    words: Sealed | None
    # The step's plain facts, as stored in the event (ids and moments as strings): the
    # decision, the factor, the trust level, the mark, the outcome, …
    detail: JsonObject | None


@dataclass(frozen=True)
class TrustPoint:
    # Whose feeling it is.
    member_id: UUID
    at: datetime
    trust: int
    setback: bool
    note: Sealed | None
    # Kept to its author: shown only to them (the policy's rule, asked by the query's caller).
    private: bool = False


@dataclass(frozen=True)
class TrustLine:
    """One participant's own feeling of trust over time, never a score of anyone else."""

    member_id: UUID
    points: tuple[TrustPoint, ...]


@dataclass(frozen=True)
class MarkRow:
    commitment_id: UUID
    occurrence: int
    due_at: datetime
    mark: commitments.Mark
    marked_by: UUID
    marked_at: datetime
    note: Sealed | None


@dataclass(frozen=True)
class CommitmentRow:
    commitment_id: UUID
    made_by: UUID
    what: Sealed
    first_due_at: datetime
    every_days: int | None
    made_at: datetime
    marks: tuple[MarkRow, ...]
    # Kept, missed, the streak, next due and overdue at the moment asked about.
    progress: commitments.Progress


@dataclass(frozen=True)
class FactorRow:
    factor_id: UUID
    factor: Factor
    named_by: UUID
    named_at: datetime
    note: Sealed | None
    addressed_at: datetime | None
    addressed_by: UUID | None
    addressed_note: Sealed | None

    @property
    def addressed(self) -> bool:
        return self.addressed_at is not None


@dataclass(frozen=True)
class DecisionRow:
    member_id: UUID
    decision: Decision
    note: Sealed | None
    at: datetime


@dataclass(frozen=True)
class BoundaryRow:
    proposal_id: UUID
    linked_by: UUID
    linked_at: datetime
    # From the agreements read model; None (and status None) in the moment it has not yet
    # folded the proposal, since each read model keeps its own pace.
    agreement_id: UUID | None
    status: ProposalStatus | None
    # The proposal's current wording.
    title: Sealed | None
    if_broken: Sealed | None


@dataclass(frozen=True)
class EarlierBreach:
    breach_id: UUID
    happened_at: datetime
    repair_status: RepairStatus
    closed_at: datetime | None


@dataclass(frozen=True)
class RepairHistory:
    breach: BreachRow
    # Every breach and repair event, in the order it happened.
    timeline: tuple[RepairStep, ...]
    # One line per participant who checked in, the breaching member first, then the harmed
    # parties in the agreement's order.
    trust: tuple[TrustLine, ...]
    commitments: tuple[CommitmentRow, ...]
    kept: int
    missed: int
    factors: tuple[FactorRow, ...]
    factors_open: int
    factors_addressed: int
    # Every decision, in order: each harmed party's latest is theirs now.
    decisions: tuple[DecisionRow, ...]
    boundaries: tuple[BoundaryRow, ...]
    days_since_breach: int
    # Breaches of the same agreement in the same polycule that happened before this one,
    # those the reader may read.
    earlier_breaches: tuple[EarlierBreach, ...]


_BREACH_COLUMNS = """
b.polycule_id, b.breach_id, b.agreement_id, b.version, b.parties, b.harmed, b.breached_by,
b.reported_by, b.happened_at, b.reported_at, b.what_happened, b.status, b.acknowledgement,
b.acknowledged_at, b.dispute, b.disputed_at, b.audience, b.supporters, b.repair_status,
b.closed_at, b.closed_by, b.close_note, b.restored_by
"""
_COMMITMENT_COLUMNS = """
c.commitment_id, c.made_by, c.what, c.first_due_at, c.every_days, c.made_at
"""

# $2: the breaches the reader may read (the policy's answer).
# Index: breaches_pkey, one probe per breach the reader may read.
BREACHES_FOR = f"""
SELECT {_BREACH_COLUMNS} FROM breaches b
 WHERE b.breach_id = ANY ($2::uuid[]) AND b.polycule_id = $1
 ORDER BY b.reported_in DESC
"""
# $1: a supporter's account. Every breach whose repair they were let into, across
# polycules, newest report first; the caller keeps those the policy still lets them read.
# Index: breaches_supported_by.
SUPPORTED_BY = f"""
SELECT {_BREACH_COLUMNS} FROM breaches b
 WHERE b.supporters @> ARRAY[$1::uuid]
 ORDER BY b.reported_at DESC, b.breach_id
"""
# Index: breaches_pkey.
BREACH = f"""
SELECT {_BREACH_COLUMNS} FROM breaches b WHERE b.breach_id = $2 AND b.polycule_id = $1
"""
# The history's other queries name only the breach: BREACH, in the same snapshot, has
# already placed it in the polycule.
# $2: whose private check-ins the reader may read (the policy's answer,
# ``private_check_ins_readable``): every other private one is left out.
# Index: repair_timeline_of_breach.
TIMELINE_OF_BREACH = """
SELECT t.stream_version, t.at, t.what, t.member_id, t.words, t.detail
  FROM repair_timeline t
 WHERE t.breach_id = $1
   AND (t.what <> 'CheckInRecorded' OR NOT coalesce((t.detail ->> 'private')::boolean, false)
        OR t.member_id = ANY ($2::uuid[]))
 ORDER BY t.stream_version
"""
# $2: as above. Index: check_ins_pkey.
CHECK_INS_OF_BREACH = """
SELECT ci.member_id, ci.at, ci.trust, ci.setback, ci.note, ci.private
  FROM check_ins ci
 WHERE ci.breach_id = $1 AND (NOT ci.private OR ci.member_id = ANY ($2::uuid[]))
 ORDER BY ci.stream_version
"""
# Index: commitments_of_breach.
COMMITMENTS_OF_BREACH = f"""
SELECT {_COMMITMENT_COLUMNS} FROM commitments c
 WHERE c.breach_id = $1
 ORDER BY c.made_in
"""
# Index: commitments_of_breach, then commitment_marks_pkey.
MARKS_OF_BREACH = """
SELECT k.commitment_id, k.occurrence, k.due_at, k.mark, k.marked_by, k.marked_at, k.note
  FROM commitments c JOIN commitment_marks k USING (polycule_id, commitment_id)
 WHERE c.breach_id = $1
 ORDER BY k.commitment_id, k.occurrence
"""
# Index: repair_factors_of_breach.
FACTORS_OF_BREACH = """
SELECT f.factor_id, f.factor, f.named_by, f.named_at, f.note, f.addressed_at,
       f.addressed_by, f.addressed_note
  FROM repair_factors f
 WHERE f.breach_id = $1
 ORDER BY f.named_in
"""
# Index: repair_decisions_pkey.
DECISIONS_OF_BREACH = """
SELECT d.member_id, d.decision, d.note, d.at
  FROM repair_decisions d
 WHERE d.breach_id = $1
 ORDER BY d.stream_version
"""
# Index: repair_boundaries_pkey, then agreement_proposals_pkey.
BOUNDARIES_OF_BREACH = """
SELECT r.proposal_id, r.linked_by, r.linked_at, p.agreement_id, p.status,
       p.text -> 'title' AS title, p.text -> 'if_broken' AS if_broken
  FROM repair_boundaries r
  LEFT JOIN agreement_proposals p ON p.proposal_id = r.proposal_id
                                 AND p.polycule_id = r.polycule_id
 WHERE r.breach_id = $1
 ORDER BY r.linked_in
"""
# $3: when the breach asked about happened; $4: the breaches the reader may read (the
# policy's answer): a member who became a party later, or a supporter of this repair, is
# not shown the breaches they were not told of. Index: breaches_of_agreement.
EARLIER_BREACHES = """
SELECT e.breach_id, e.happened_at, e.repair_status, e.closed_at
  FROM breaches e
 WHERE e.polycule_id = $1 AND e.agreement_id = $2 AND e.happened_at < $3
   AND e.breach_id = ANY ($4::uuid[])
 ORDER BY e.happened_at, e.breach_id
"""


async def breaches_for(
    executor: Executor, polycule_id: UUID, readable: Collection[UUID]
) -> list[BreachRow]:
    """The polycule's breaches among ``readable`` (those the policy lets the reader see),
    newest report first."""
    rows = await executor.fetch(BREACHES_FOR, polycule_id, list(readable))
    return [row_of(BreachRow, row) for row in rows]


async def supported_by(executor: Executor, account_id: UUID) -> list[BreachRow]:
    """The breaches whose repair ``account_id`` joined as a supporter, newest first (which
    of them they may read is still the policy's to say)."""
    return [row_of(BreachRow, row) for row in await executor.fetch(SUPPORTED_BY, account_id)]


async def breach(executor: Executor, polycule_id: UUID, breach_id: UUID) -> BreachRow | None:
    row = await executor.fetchrow(BREACH, polycule_id, breach_id)
    return row_of(BreachRow, row) if row is not None else None


async def repair_history(
    executor: Executor, polycule_id: UUID, breach_id: UUID, now: datetime,
    readable: Collection[UUID], private_readable: Collection[UUID] = (),
) -> RepairHistory | None:
    """Everything about a breach's repair, with commitments' progress as of ``now``; of
    the earlier breaches of its agreement, those among ``readable`` (the breaches the
    policy lets the reader see); of the check-ins kept private, those of the authors in
    ``private_readable`` (the policy's answer: the reader's own)."""
    private_of = list(private_readable)
    async with snapshot(executor) as connection:
        row = await connection.fetchrow(BREACH, polycule_id, breach_id)
        if row is None:
            return None
        timeline = await connection.fetch(TIMELINE_OF_BREACH, breach_id, private_of)
        check_ins = await connection.fetch(CHECK_INS_OF_BREACH, breach_id, private_of)
        made = await connection.fetch(COMMITMENTS_OF_BREACH, breach_id)
        marks = _marks_by_commitment(await connection.fetch(MARKS_OF_BREACH, breach_id))
        factors = [
            row_of(FactorRow, f) for f in await connection.fetch(FACTORS_OF_BREACH, breach_id)
        ]
        decisions = await connection.fetch(DECISIONS_OF_BREACH, breach_id)
        boundaries = await connection.fetch(BOUNDARIES_OF_BREACH, breach_id)
        earlier = await connection.fetch(
            EARLIER_BREACHES, polycule_id, row["agreement_id"], row["happened_at"],
            list(readable),
        )
    found = row_of(BreachRow, row)
    promised = [_commitment(c, marks.get(c["commitment_id"], ()), now) for c in made]
    addressed = sum(1 for factor in factors if factor.addressed)
    return RepairHistory(
        breach=found,
        timeline=tuple(row_of(RepairStep, t) for t in timeline),
        trust=_trust_lines(found, check_ins),
        commitments=tuple(promised),
        kept=sum(commitment.progress.kept for commitment in promised),
        missed=sum(commitment.progress.missed for commitment in promised),
        factors=tuple(factors),
        factors_open=len(factors) - addressed,
        factors_addressed=addressed,
        decisions=tuple(row_of(DecisionRow, d) for d in decisions),
        boundaries=tuple(row_of(BoundaryRow, b) for b in boundaries),
        days_since_breach=max(0, (now - found.happened_at) // timedelta(days=1)),
        earlier_breaches=tuple(row_of(EarlierBreach, e) for e in earlier),
    )


# --- From rows to answers ----------------------------------------------------------------


def _marks_by_commitment(rows: Iterable[asyncpg.Record]) -> dict[UUID, tuple[MarkRow, ...]]:
    grouped: dict[UUID, list[MarkRow]] = {}
    for row in rows:
        grouped.setdefault(row["commitment_id"], []).append(row_of(MarkRow, row))
    return {commitment_id: tuple(marks) for commitment_id, marks in grouped.items()}


def _commitment(row: asyncpg.Record, marks: tuple[MarkRow, ...], now: datetime) -> CommitmentRow:
    return row_of(CommitmentRow, row, marks=marks, progress=commitments.progress(
        row["first_due_at"], row["every_days"], {mark.occurrence: mark.mark for mark in marks},
        now,
    ))


def _trust_lines(breach: BreachRow, rows: Iterable[asyncpg.Record]) -> tuple[TrustLine, ...]:
    points: dict[UUID, list[TrustPoint]] = {}
    for row in rows:
        points.setdefault(row["member_id"], []).append(row_of(TrustPoint, row))
    participants = (breach.breached_by, *breach.harmed)
    return tuple(
        TrustLine(member_id=member, points=tuple(points[member]))
        for member in participants
        if member in points
    )
