"""The daily digest: at the configured hour (UTC), every notice waiting for a member's
digest is gathered into one mail for them; a member with nothing waiting gets nothing.

Each sender asks ``make_due`` on every pass with the app's clock (so a test that moves
the clock through a day sees the digest made). The day's digests are made once, whatever
the number of instances: the first to record the day in ``mail_digest_days`` gathers, in
the same transaction. An instance that was down at the hour makes that day's digests when
it comes back.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import asyncpg
import structlog

from ledger.mail import outbox

log = structlog.get_logger(__name__)


class Digests:
    def __init__(self, pool: asyncpg.Pool, hour: int) -> None:
        self._pool = pool
        self._hour = hour
        # The last day this instance knows the digests of were made (by it or another).
        self._made_for: date | None = None

    def day_due(self, now: datetime) -> date:
        """The latest day whose digest hour has come by ``now``."""
        today = now.date()
        at_the_hour = datetime.combine(today, time(self._hour), tzinfo=now.tzinfo)
        return today if now >= at_the_hour else today - timedelta(days=1)

    async def make_due(self, now: datetime) -> int:
        """Make the digests whose hour has come, unless made already; how many members
        get one now."""
        day = self.day_due(now)
        if self._made_for == day:
            return 0
        made = await outbox.gather_digests(self._pool, day, now)
        self._made_for = day
        if made:
            log.info("mail_digests_made", day=day.isoformat(), digests=made)
        return made or 0
