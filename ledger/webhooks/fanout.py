"""The fan-out: turns events into webhook messages for the endpoints of the members they
concern.

The service runs it polycule by polycule (ledger/webhooks/fanout_runner.py): the messages
of a pass are inserted in the same transaction that moves each polycule's position on, so
a crash loses nothing, and no event is fanned out twice (the primary key on messages holds
even if it were: a message's id is made from its endpoint, event and type). It is not
among the read models ``projections rebuild`` knows: rebuilding it would send everything
again. Delivery workers are woken by a NOTIFY sent with the pass's commit.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from ledger.following import PolyculesFollowed
from ledger.service import ApplicationService
from ledger.store.records import RecordedEvent
from ledger.webhooks.catalogue import Notice

if TYPE_CHECKING:
    from ledger.database import Connection

WAKE_CHANNEL = "ledger_webhooks"

# The enabled endpoints of these accounts (webhook_endpoints_of_account).
_ENDPOINTS_WANTING = """
SELECT endpoint_id, account_id, event_types, created_at FROM webhook_endpoints
 WHERE account_id = ANY($1::uuid[]) AND enabled
"""
# Every message of a batch in one statement.
_ENQUEUE = """
INSERT INTO webhook_messages (message_id, endpoint_id, event_id, polycule_id, type, payload,
                              created_at, next_attempt_at)
SELECT message_id, endpoint_id, event_id, polycule_id, type, payload::jsonb, $7, $7
  FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])
       AS m(message_id, endpoint_id, event_id, polycule_id, type, payload)
ON CONFLICT (message_id) DO NOTHING
"""


# What message_id_for makes: anything else names no message.
MESSAGE_ID = re.compile(r"msg_[0-9a-f]{32}")


def message_id_for(endpoint_id: UUID, event_id: UUID, type_: str) -> str:
    """The webhook-id: stable for this endpoint, event and type, whatever happens.

    It is the name-based UUID (version 5, RFC 9562) of ``event_id/type`` in the endpoint's
    namespace, as hex — made here from its SHA-1 directly rather than through
    ``uuid.uuid5``, which builds a UUID object for every message fanned out."""
    digest = bytearray(
        hashlib.sha1(  # what version 5 is made of; it guards nothing
            endpoint_id.bytes + f"{event_id}/{type_}".encode(), usedforsecurity=False
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC's variant
    return "msg_" + digest.hex()


def payload_of(notice: Notice, event: RecordedEvent) -> dict[str, Any]:
    """The thin body: type, time, ids and a link — never anyone's words."""
    return {
        "type": notice.type,
        "timestamp": event.recorded_at.isoformat(),
        "data": {"event_id": str(event.event_id), **notice.ids, "link": notice.link},
    }


class WebhookFanout:
    name = "webhook_fanout"

    def __init__(self, service: ApplicationService, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        # The polycules as they were after each event (kept as the worker stops: app.py).
        self.followed = PolyculesFollowed(service)

    async def apply(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        # Each event is judged by the polycule as it was just after it: who was a member
        # then, who could read it then.
        planned = await self.followed.notices(events)
        if not planned:
            return
        recipients = {member for _, notice in planned for member in notice.recipients}
        # Per account: (endpoint id, the types it wants, when it was made) of each endpoint.
        wanting: dict[UUID, list[tuple[UUID, list[str], datetime]]] = {}
        for endpoint in await connection.fetch(_ENDPOINTS_WANTING, list(recipients)):
            wanting.setdefault(endpoint["account_id"], []).append(
                (endpoint["endpoint_id"], endpoint["event_types"], endpoint["created_at"])
            )
        rows = []
        now = self._clock()
        for event, notice in planned:
            body: str | None = None  # the same for every endpoint told of this notice
            for member in notice.recipients:
                for endpoint_id, wanted, created_at in wanting.get(member, ()):
                    # An endpoint hears of what happens from its creation on (an empty list
                    # of types: every type); what came before is asked for by a replay.
                    if (
                        (not wanted or notice.type in wanted)
                        and event.recorded_at >= created_at
                    ):
                        if body is None:
                            body = orjson.dumps(payload_of(notice, event)).decode()
                        rows.append((
                            message_id_for(endpoint_id, event.event_id, notice.type),
                            endpoint_id, event.event_id, event.stream_id, notice.type, body,
                        ))
        if rows:
            columns = [[row[index] for row in rows] for index in range(6)]
            await connection.execute(_ENQUEUE, *columns, now)
            await connection.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)

    async def reset(self, connection: Connection) -> None:
        raise RuntimeError("the webhook fan-out is never rebuilt: it would send everything again")

