"""What happens when time passes: reviews fall due, deadlines to respond pass, and the
occurrences of repair commitments fall due.

Every service instance runs a scheduler. Each tick it asks the read models what is due
(projections/schedule.py) and sends the matching command through the application service,
like any member's command: the decider checks the agreement's actual state and appends the
event only if it is still due. When several instances find the same due review at once,
both decide against the same stream version; one append wins and the other is refused on
the version, reads again, and finds nothing left to do. So each event is appended once,
whatever the number of instances.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
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
        for polycule_id, agreement_id, version in await due_reviews(self._pool, now):
            changed += await self._send(polycule_id, MarkReviewDue(
                actor=SCHEDULER_ACTOR, at=now, command_id=uuid.uuid4(),
                agreement_id=agreement_id, version=version,
            ))
        for polycule_id, proposal_id in await expired_proposals(self._pool, now):
            changed += await self._send(polycule_id, ExpireProposal(
                actor=SCHEDULER_ACTOR, at=now, command_id=uuid.uuid4(), proposal_id=proposal_id,
            ))
        for polycule_id, breach_id, commitment_id, occurrence in await commitments_falling_due(
            self._pool, now
        ):
            changed += await self._send(polycule_id, AnnounceCommitmentDue(
                actor=SCHEDULER_ACTOR, at=now, command_id=uuid.uuid4(), breach_id=breach_id,
                commitment_id=commitment_id, occurrence=occurrence,
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
