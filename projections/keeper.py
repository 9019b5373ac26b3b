"""The keeper of the read side: at start, catches up the polycules that are behind their
streams (a database migrated from the older, global read side; events written with the
store alone), and from then on tries parked polycules again when their back-off runs out.
Commands never wait for it: they write their own polycule's read models themselves, and
nothing else writes events, so a polycule falls behind only by being parked.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from ledger.supervisor import Supervisor
from projections.read_side import ReadSide, described
from projections.rebuild import catch_up_all

log = structlog.get_logger(__name__)


class ReadSideKeeper:
    def __init__(self, read_side: ReadSide, *, poll_seconds: float = 1.0) -> None:
        self._read_side = read_side
        self._poll_seconds = poll_seconds
        self._supervisor: Supervisor | None = None

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._supervisor = supervisor or Supervisor()
        self._supervisor.run("read-side-keeper", self._keep)

    async def stop(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop("read-side-keeper")

    async def _keep(self) -> None:
        swept = False
        while True:
            try:
                if not swept:
                    applied = await catch_up_all(self._read_side)
                    if applied:
                        log.info("read_models_caught_up", events=applied)
                    swept = True
                await self._read_side.retry_due()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                # Policy: the database is away or a transaction failed whole; try again
                # at the next tick. Commands are unaffected either way.
                log.warning("read_side_keeper_failed", error=described(error))
            # Anything else is a fault in this code: the supervisor logs it and starts the
            # keeper again, so parked polycules are still tried again.
            await asyncio.sleep(self._poll_seconds)
