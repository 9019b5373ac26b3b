"""The shapes of the breaches and repair API: what participants send, what they read back.

The read models keep every word sealed; ``opened_*`` here show a row as its view, its
words opened for the person who asked (the policy has already decided they may read them).
A view names the fields it shares with its row (projections/repair_queries.py) and no code
copies them: pydantic does (ledger/http/shapes.py, ``opened``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from ledger.domain.commitments import Mark, Occurrence
from ledger.domain.repair import Decision, Factor
from ledger.http.shapes import Strict, opened
from ledger.privacy import KeyRing
from projections import repair_queries as rows

Words = Field(min_length=1, max_length=10_000)
Note = Field(default=None, max_length=5_000)

# --- What people send --------------------------------------------------------------------


class NewBreach(Strict):
    agreement_id: UUID
    # Who crossed it: yourself (self-reported) or another party.
    breached_by: UUID
    happened_at: AwareDatetime
    what_happened: str = Words


class Account(Strict):
    account: str | None = Note


class DisputedAccount(Strict):
    account: str = Words


class WiderAudience(Strict):
    members: list[UUID] = Field(default_factory=list, max_length=100)
    whole_polycule: bool = False


class StepWords(Strict):
    words: str = Words


class DecisionBody(Strict):
    decision: Decision
    note: str | None = Note


class NewFactor(Strict):
    factor: Factor
    note: str | None = Note


class NoteBody(Strict):
    note: str | None = Note


class BoundaryBody(Strict):
    proposal_id: UUID


class NewCommitment(Strict):
    what: str = Words
    first_due_at: AwareDatetime
    # Weekly is 7; left out for a one-off commitment.
    every_days: int | None = Field(default=None, ge=1, le=365)


class MarkBody(Strict):
    mark: Mark
    note: str | None = Note


class CheckInBody(Strict):
    # How trust feels to you now, from 0 to 10: your own feeling, not a score of anyone.
    trust: int = Field(ge=0, le=10)
    setback: bool = False
    note: str | None = Note
    # Kept to yourself: nobody else in the repair, nor its supporters, sees this check-in.
    private: bool = False


class SupporterInvitationBody(Strict):
    expires_in_hours: int = Field(default=168, ge=1, le=720)


# --- What people read --------------------------------------------------------------------


class BreachView(Strict):
    polycule_id: UUID
    breach_id: UUID
    agreement_id: UUID
    # The version in force when it happened.
    version: int
    parties: list[UUID]
    harmed: list[UUID]
    breached_by: UUID
    reported_by: UUID
    self_reported: bool
    happened_at: datetime
    reported_at: datetime
    what_happened: str
    status: Literal["reported", "disputed", "acknowledged"]
    # The named member's own accounts; both stay when a dispute is later acknowledged.
    acknowledgement: str | None
    acknowledged_at: datetime | None
    dispute: str | None
    disputed_at: datetime | None
    audience: list[UUID]
    repair_status: Literal["open", "restored", "ended"]
    closed_at: datetime | None


class StepView(Strict):
    stream_version: int
    at: datetime
    what: str
    member_id: UUID | None
    words: str | None
    detail: dict[str, Any] | None


class TrustPointView(Strict):
    at: datetime
    trust: int
    setback: bool
    note: str | None
    # Kept to its author: only they are shown it.
    private: bool = False


class TrustLineView(Strict):
    member_id: UUID
    points: list[TrustPointView]


class OccurrenceView(Strict):
    occurrence: int
    due_at: datetime


class MarkView(Strict):
    occurrence: int
    due_at: datetime
    mark: Mark
    marked_by: UUID
    marked_at: datetime
    note: str | None


class CommitmentView(Strict):
    commitment_id: UUID
    made_by: UUID
    what: str
    first_due_at: datetime
    every_days: int | None
    made_at: datetime
    marks: list[MarkView]
    kept: int
    missed: int
    streak: int
    next_due: OccurrenceView | None
    overdue: list[OccurrenceView]


class FactorView(Strict):
    factor_id: UUID
    factor: Factor
    named_by: UUID
    named_at: datetime
    note: str | None
    addressed: bool
    addressed_at: datetime | None
    addressed_by: UUID | None
    addressed_note: str | None


class DecisionView(Strict):
    member_id: UUID
    decision: Decision
    note: str | None
    at: datetime


class BoundaryView(Strict):
    proposal_id: UUID
    agreement_id: UUID | None
    status: str | None
    title: str | None
    if_broken: str | None
    linked_at: datetime


class EarlierBreachView(Strict):
    breach_id: UUID
    happened_at: datetime
    repair_status: str
    closed_at: datetime | None


class RepairHistoryView(Strict):
    breach: BreachView
    # The participants' names, so that a supporter (who cannot list members) reads them.
    names: dict[UUID, str]
    supporters: list[UUID]
    timeline: list[StepView]
    trust: list[TrustLineView]
    commitments: list[CommitmentView]
    kept: int
    missed: int
    factors: list[FactorView]
    factors_open: int
    factors_addressed: int
    decisions: list[DecisionView]
    # Each harmed party's decision as it stands now.
    current_decisions: dict[UUID, Decision]
    boundaries: list[BoundaryView]
    days_since_breach: int
    earlier_breaches: list[EarlierBreachView]


class RepairStepAnswer(RepairHistoryView):
    """What a step of the repair answers: the repair's history, and which step it recorded."""

    # The step's entry in ``timeline`` (its ``stream_version``); null when the step changed
    # nothing (it had been recorded before).
    step_version: int | None
    # The factor or commitment the step made (or was about).
    factor_id: UUID | None = None
    commitment_id: UUID | None = None


class SupporterInvitationMade(Strict):
    invitation_id: UUID
    # Shown once; whoever holds it may read this repair (and nothing else), until it expires.
    token: str
    expires_at: datetime


class SupportingView(Strict):
    polycule_id: UUID
    breach_id: UUID


class SupportedRepairView(Strict):
    """A repair I support, as its list shows it: whose it is, since when, how it stands."""

    polycule_id: UUID
    breach_id: UUID
    breached_by: UUID
    harmed: list[UUID]
    happened_at: datetime
    reported_at: datetime
    repair_status: Literal["open", "restored", "ended"]
    closed_at: datetime | None
    # The participants' names (a supporter knows nobody else of the polycule).
    names: dict[UUID, str]


# --- Opening what the read models keep sealed ----------------------------------------------
# Each view is its row's (projections/repair_queries.py) with the words opened (``opened``,
# ledger/http/shapes.py); only what a view shows otherwise is named here.


async def opened_breach(row: rows.BreachRow, keyring: KeyRing) -> BreachView:
    return await opened(BreachView, row, keyring)


async def opened_history(
    history: rows.RepairHistory, names: Mapping[UUID, str], keyring: KeyRing
) -> RepairHistoryView:
    breach = history.breach
    return await opened(
        RepairHistoryView, history, keyring,
        names={member: names.get(member, "former member") for member in breach.parties},
        supporters=breach.supporters,
        commitments=[await _opened_commitment(item, keyring) for item in history.commitments],
        # Each harmed party's latest decision.
        current_decisions={item.member_id: item.decision for item in history.decisions},
    )


async def _opened_commitment(item: rows.CommitmentRow, keyring: KeyRing) -> CommitmentView:
    progress = item.progress
    return await opened(
        CommitmentView, item, keyring,
        kept=progress.kept, missed=progress.missed, streak=progress.streak,
        next_due=None if progress.next_due is None else _occurrence(progress.next_due),
        overdue=[_occurrence(occurrence) for occurrence in progress.overdue],
    )


def _occurrence(occurrence: Occurrence) -> OccurrenceView:
    return OccurrenceView(occurrence=occurrence.number, due_at=occurrence.due_at)
