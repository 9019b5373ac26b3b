"""Stopping the scheduler stops it, even when the tick it interrupts ends with an error of
its own rather than the cancellation (asyncpg does so when cut off mid-query)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ledger.scheduler import Scheduler


class CutOffMidQuery(Scheduler):
    """A tick that is waiting on the database when the service stops."""

    def __init__(self) -> None:
        none: Any = None
        super().__init__(none, none, lambda: datetime.now(UTC))
        self.ticking = asyncio.Event()

    async def tick(self) -> int:
        self.ticking.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cannot switch to state 12; another operation") from None
        return 0


async def test_stop_returns_when_the_interrupted_tick_fails_instead_of_cancelling() -> None:
    scheduler = CutOffMidQuery()
    scheduler.start()
    await scheduler.ticking.wait()

    await asyncio.wait_for(scheduler.stop(), timeout=5)
