"""The mail fan-out: like the webhook fan-out, and on the same runner (projections/runner.py),
it follows each polycule's stream from a position of its own (``mail_fanout_positions``)
and turns each event into mail notices for the members it concerns.

Whom an event concerns is decided once, by the webhook catalogue's ``notices_for``
(every recipient checked against the authorization policy, never the actor). A member is
mailed only with a confirmed address, only of events recorded since they confirmed it, and
each kind as they chose: a notice to send at once, one waiting for their daily digest, or
none. The rows are inserted in the pass's transaction, with the polycules' positions: a
crash loses nothing, and the outbox's unique key (member, event, kind) holds even if a pass
were applied twice. Like the webhook fan-out it is never rebuilt: that would mail everything
again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ledger.following import PolyculesFollowed
from ledger.mail.kinds import choice_of, page_of
from ledger.mail.outbox import NoticeRow, confirmed_recipients, enqueue_notices
from ledger.service import ApplicationService
from ledger.store.records import RecordedEvent

if TYPE_CHECKING:
    from ledger.database import Connection


class MailFanout:
    name = "mail_fanout"

    def __init__(self, service: ApplicationService, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        # The polycules as they were after each event (kept as the worker stops: app.py).
        self.followed = PolyculesFollowed(service)

    async def apply(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        planned = await self.followed.notices(events)
        if not planned:
            return
        members = {member for _, notice in planned for member in notice.recipients}
        recipients = {
            row["account_id"]: row for row in await confirmed_recipients(connection, list(members))
        }
        rows = []
        for event, notice in planned:
            for member in notice.recipients:
                recipient = recipients.get(member)
                if recipient is None or event.recorded_at < recipient["confirmed_at"]:
                    continue
                choice = choice_of(notice.type, recipient["choices"])
                if choice == "never":
                    continue
                rows.append(NoticeRow(
                    member, notice.type, page_of(notice.link), event.event_id,
                    "pending" if choice == "now" else "for_digest",
                ))
        if rows:
            await enqueue_notices(connection, rows, self._clock())

    async def reset(self, connection: Connection) -> None:
        raise RuntimeError("the mail fan-out is never rebuilt: it would mail everything again")
