"""What happens when time passes: reviews fall due, deadlines to respond pass, and the
occurrences of repair commitments fall due.

Every service instance runs a scheduler. Each tick it asks the read models what is due
(projections/schedule.py) and sends the matching command through the application service,
like any member's command: the decider checks the agreement's actual state and appends the
event only if it is still due.

Each command's id is made from what fell due — the agreement, its version and its review
date; the proposal and its deadline; the commitment, the occurrence and its due moment —
never drawn at random. The events' ids are made from the command's (ledger/service.py), so
when several instances find the same thing due at once, they send the very same command:
the first append records it, and every other one meets its event ids already recorded and
is answered with that outcome, as a retried request is. So each event is appended once, by
construction, whatever the number of instances and whatever their timing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import structlog

from ledger.domain.agreements import ExpireProposal, MarkReviewDue
from ledger.domain.polycules import polycule_decider
from ledger.domain.repair import AnnounceCommitmentDue
from ledger.errors import ConcurrencyError
from ledger.service import ApplicationService
from ledger.supervisor import Supervisor
from projections.schedule import commitments_falling_due, due_reviews, expired_proposals

log = structlog.get_logger(__name__)

# The actor recorded on what the ledger does by itself, on nobody's behalf.
SCHEDULER_ACTOR = UUID(int=0)

# The namespace of the scheduler's command ids (a fixed, arbitrary UUID: changing it would
# let a scheduler of the new code announce again what one of the old code announced).
_DUE_NAMESPACE = UUID("5c4e0d1e-7a39-4c57-9d0e-2f1f6a3b8c11")


def due_command_id(what: str, subject: UUID, *facts: int | datetime) -> UUID:
    """The id of the command announcing that ``what`` fell due for ``subject``: the same
    for every instance that finds it, different for anything else that falls due."""
    named = ":".join([what, str(subject), *(
        fact.astimezone(UTC).isoformat() if isinstance(fact, datetime) else str(fact)
        for fact in facts
    )])
    return uuid.uuid5(_DUE_NAMESPACE, named)


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        service: ApplicationService,
        clock: Callable[[], datetime],
        *,
        interval_seconds: float = 30.0,
    ) -> None:
        self._pool = pool
        self._service = service
        self._clock = clock
        self._interval = interval_seconds
        self._supervisor: Supervisor | None = None

    async def tick(self) -> int:
        """Send every command that is due now; how many changed something."""
        now = self._clock()
        changed = 0
        for polycule_id, agreement_id, version, review_date in await due_reviews(
            self._pool, now
        ):
            changed += await self._send(polycule_id, MarkReviewDue(
                actor=SCHEDULER_ACTOR, at=now,
                command_id=due_command_id("review", agreement_id, version, review_date),
                agreement_id=agreement_id, version=version,
            ))
        for polycule_id, proposal_id, deadline in await expired_proposals(self._pool, now):
            changed += await self._send(polycule_id, ExpireProposal(
                actor=SCHEDULER_ACTOR, at=now,
                command_id=due_command_id("deadline", proposal_id, deadline),
                proposal_id=proposal_id,
            ))
        for (
            polycule_id, breach_id, commitment_id, occurrence, due_at
        ) in await commitments_falling_due(self._pool, now):
            changed += await self._send(polycule_id, AnnounceCommitmentDue(
                actor=SCHEDULER_ACTOR, at=now,
                command_id=due_command_id("commitment", commitment_id, occurrence, due_at),
                breach_id=breach_id, commitment_id=commitment_id, occurrence=occurrence,
            ))
        return changed

    async def _send(
        self, polycule_id: UUID, command: MarkReviewDue | ExpireProposal | AnnounceCommitmentDue
    ) -> int:
        try:
            outcome = await self._service.handle(polycule_id, polycule_decider, command)
        except ConcurrencyError:
            # The polycule is busy; whatever is still due is found again next tick.
            return 0
        return 1 if outcome.events else 0

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._supervisor = supervisor or Supervisor()
        self._supervisor.run("scheduler", self._run)

    async def stop(self) -> None:
        # Cancelled in the middle of a query, asyncpg may end the tick with an error of its
        # own instead (seen when the database was going away): stopping still stops.
        if self._supervisor is not None:
            await self._supervisor.stop("scheduler")

    async def _run(self) -> None:
        while True:
            try:
                changed = await self.tick()
                if changed:
                    log.info("scheduler_tick", changed=changed)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                log.error("scheduler_tick_failed", error=str(error))
            await asyncio.sleep(self._interval)
