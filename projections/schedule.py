"""Reading the read models for the scheduler (ledger/scheduler.py): what has come due
while time passed, across every polycule.

Agreements in force whose review date has come, open proposals whose deadline to respond
has passed (the agreements read model, projections/agreements.py), and repair commitments
whose next occurrence has fallen due and was not announced yet (the repairs read model,
projections/repairs.py). Each answer is only a hint: the scheduler sends the matching
command, and the decider appends an event only if it is still due.

Tables and indexes: ledger/store/migrations/0006_agreements.sql and
0009_commitments_falling_due.sql.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from ledger.database import Executor

# Index: agreements_review_clock.
DUE_REVIEWS = """
SELECT polycule_id, agreement_id, version, next_review_at FROM agreements
 WHERE status = 'active' AND NOT review_due AND next_review_at <= $1
 ORDER BY next_review_at
"""
# Index: agreement_proposals_deadline.
EXPIRED_PROPOSALS = """
SELECT polycule_id, proposal_id, respond_by FROM agreement_proposals
 WHERE status = 'open' AND respond_by <= $1
 ORDER BY respond_by
"""
# Commitments whose next occurrence has fallen due and was not announced yet (closed
# repairs have none).
COMMITMENTS_FALLING_DUE = """
SELECT b.polycule_id, c.breach_id, c.commitment_id, c.announced_through + 1 AS occurrence,
       c.next_due_at
  FROM commitments c JOIN breaches b USING (polycule_id, breach_id)
 WHERE c.next_due_at IS NOT NULL AND c.next_due_at <= $1
 ORDER BY c.next_due_at
 LIMIT 1000
"""


async def due_reviews(
    executor: Executor, now: datetime
) -> list[tuple[UUID, UUID, int, datetime]]:
    """(polycule, agreement, version, review date) of agreements in force whose review date
    has come."""
    rows = await executor.fetch(DUE_REVIEWS, now)
    return [
        (row["polycule_id"], row["agreement_id"], row["version"], row["next_review_at"])
        for row in rows
    ]


async def expired_proposals(
    executor: Executor, now: datetime
) -> list[tuple[UUID, UUID, datetime]]:
    """(polycule, proposal, deadline) of open proposals whose deadline to respond has
    passed."""
    rows = await executor.fetch(EXPIRED_PROPOSALS, now)
    return [(row["polycule_id"], row["proposal_id"], row["respond_by"]) for row in rows]


async def commitments_falling_due(
    executor: Executor, now: datetime
) -> list[tuple[UUID, UUID, UUID, int, datetime]]:
    """(polycule, breach, commitment, occurrence, due moment) of each occurrence due to be
    announced."""
    return [
        (row["polycule_id"], row["breach_id"], row["commitment_id"], row["occurrence"],
         row["next_due_at"])
        for row in await executor.fetch(COMMITMENTS_FALLING_DUE, now)
    ]
