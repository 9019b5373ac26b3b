"""Reading what is past in a polycule: the agreements that ended and the proposals that
closed without taking effect, the most recent first — what the home lists under "past",
so that an agreement that ended, or a proposal someone said no to, never just vanishes.

Rows and columns are the agreements read model's own (projections/agreement_queries.py):
an ended agreement is its last version with how and when it ended; a closed proposal is
the proposal with every answer it was given. Both are shown to every member, as the
agreements and proposals in force are.

Indexes: ledger/store/migrations/0019_repair_pages.sql.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from projections.agreement_queries import (
    AGREEMENT_COLUMNS,
    PROPOSALS_WITH_ANSWERS,
    AgreementRow,
    ProposalRow,
    agreement_row,
    proposal_row,
)
from projections.reading import snapshot

if TYPE_CHECKING:
    from ledger.database import Executor

# How many of each the home shows: a polycule's recent past, not its archive (every
# agreement's whole history stays on its own page, and in the record).
PAST_LIMIT = 50

# Index: agreements_ended.
ENDED_AGREEMENTS = f"""
SELECT {AGREEMENT_COLUMNS} FROM agreements a
 WHERE a.polycule_id = $1 AND a.status = 'ended'
 ORDER BY a.ended_at DESC, a.agreement_id
 LIMIT $2
"""
# Index: agreement_proposals_closed, then proposal_responses_pkey once per proposal.
CLOSED_PROPOSALS = f"""
{PROPOSALS_WITH_ANSWERS}
 WHERE p.polycule_id = $1 AND p.status IN ('rejected', 'withdrawn', 'expired', 'lapsed')
 ORDER BY p.closed_at DESC, p.proposal_id
 LIMIT $2
"""


@dataclass(frozen=True)
class Past:
    # Ended agreements, each as its last version stood, the most recently ended first.
    ended_agreements: tuple[AgreementRow, ...]
    # Proposals rejected, withdrawn, expired or lapsed, the most recently closed first.
    closed_proposals: tuple[ProposalRow, ...]


async def past_of(executor: Executor, polycule_id: UUID, limit: int = PAST_LIMIT) -> Past:
    """What has ended in the polycule, read in one snapshot."""
    async with snapshot(executor) as connection:
        ended = await connection.fetch(ENDED_AGREEMENTS, polycule_id, limit)
        closed = await connection.fetch(CLOSED_PROPOSALS, polycule_id, limit)
    return Past(
        ended_agreements=tuple(agreement_row(row) for row in ended),
        closed_proposals=tuple(proposal_row(row) for row in closed),
    )
