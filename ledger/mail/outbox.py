"""The outbox: every mail the ledger means to send, as rows, and every statement on them.

Rows are written in the transaction of what causes them — a notice with the fan-out's
batch and its checkpoint, a confirmation with the address it confirms — so none is lost
and none made twice. The sender claims due rows with ``FOR UPDATE SKIP LOCKED`` under a
lease longer than one SMTP conversation, so any number of instances send together and a
row is in one sender's hands at a time; ``attempts`` is the claim's fence, as in webhook
delivery: only the latest claim of a row may settle it. A row is marked sent only after
the SMTP server accepted it, so a sender that dies in between leaves the row to be sent
again when the lease runs out, with the same Message-ID (made from ``mail_id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from ledger.database import Connection


_ENQUEUE_CONFIRMATION = """
INSERT INTO mail_outbox (mail_id, account_id, what, sealed_token, status, created_at,
                         next_attempt_at)
VALUES ($1, $2, 'confirmation', $3, 'pending', $4, $4)
"""
# A notice is written once per member, event and kind, whatever replays the fan-out.
_ENQUEUE_NOTICE = """
INSERT INTO mail_outbox (mail_id, account_id, what, kind, link, event_id, status, created_at,
                         next_attempt_at)
VALUES ($1, $2, 'notice', $3, $4, $5, $6::text, $7::timestamptz,
        CASE WHEN $6::text = 'pending' THEN $7::timestamptz END)
ON CONFLICT ON CONSTRAINT mail_outbox_one_per_event DO NOTHING
"""
# mail_outbox_of_account
_DROP_UNSENT = """
UPDATE mail_outbox SET status = 'dropped', leased_until = NULL
 WHERE account_id = $1 AND status IN ('pending', 'for_digest')
"""
_DELETE_ALL = "DELETE FROM mail_outbox WHERE account_id = $1"

# mail_outbox_due. Only the outbox's rows are locked; what a mail needs besides is read
# after, and only for the rows this sender holds.
_CLAIM = """
WITH due AS (
    SELECT mail_id FROM mail_outbox
     WHERE status = 'pending' AND next_attempt_at <= $1
       AND (leased_until IS NULL OR leased_until < $1)
     ORDER BY next_attempt_at
     LIMIT $3
       FOR UPDATE SKIP LOCKED
)
UPDATE mail_outbox m SET leased_until = $2, attempts = m.attempts + 1
  FROM due
 WHERE m.mail_id = due.mail_id
RETURNING m.mail_id, m.account_id, m.what, m.kind, m.link, m.sealed_token, m.attempts,
          m.created_at
"""
# The recipient as they are now: an address changed, confirmed, unsubscribed or erased
# since the mail was queued decides whether it still goes.
_RECIPIENT = """
SELECT a.sealed_address, a.confirmed_at, a.confirmation_hash, a.confirmation_expires_at,
       a.sealed_unsubscribe,
       coalesce((SELECT jsonb_object_agg(c.kind, c.choice) FROM mail_choices c
                  WHERE c.account_id = a.account_id), '{}'::jsonb) AS choices
  FROM mail_addresses a
 WHERE a.account_id = $1
"""
# mail_outbox_of_digest
_DIGEST_ITEMS = """
SELECT kind, link FROM mail_outbox WHERE digest_id = $1 ORDER BY created_at, mail_id
"""
# The fence ``attempts = $2``: only the latest claim of a row may settle it.
_SENT = """
UPDATE mail_outbox SET status = 'sent', sent_at = $3, leased_until = NULL, last_error = NULL
 WHERE mail_id = $1 AND attempts = $2 AND status = 'pending'
"""
_RETRY_AT = """
UPDATE mail_outbox SET next_attempt_at = $3, leased_until = NULL, last_error = $4
 WHERE mail_id = $1 AND attempts = $2 AND status = 'pending'
"""
_SETTLE = """
UPDATE mail_outbox SET status = $3, leased_until = NULL, last_error = $4
 WHERE mail_id = $1 AND attempts = $2 AND status = 'pending'
"""

# The members who hear of notices by mail at all: a confirmed address (the fan-out's
# look-up, by the primary key).
_RECIPIENTS_CONFIRMED = """
SELECT a.account_id, a.confirmed_at,
       coalesce((SELECT jsonb_object_agg(c.kind, c.choice) FROM mail_choices c
                  WHERE c.account_id = a.account_id), '{}'::jsonb) AS choices
  FROM mail_addresses a
 WHERE a.account_id = ANY($1::uuid[]) AND a.confirmed_at IS NOT NULL
"""

# A day's digests, in one statement: every notice waiting for one (mail_outbox_for_digest)
# is gathered into one new pending digest per member. The notices are locked first, so a
# notice the fan-out writes meanwhile waits for the next day rather than being lost.
_GATHER_DIGESTS = """
WITH waiting AS (
    SELECT mail_id, account_id FROM mail_outbox
     WHERE status = 'for_digest' AND created_at <= $1
       FOR UPDATE
), digests AS (
    INSERT INTO mail_outbox (mail_id, account_id, what, status, created_at, next_attempt_at)
    SELECT gen_random_uuid(), account_id, 'digest', 'pending', $1, $1
      FROM waiting GROUP BY account_id
    RETURNING mail_id, account_id
)
UPDATE mail_outbox m SET status = 'in_digest', digest_id = d.mail_id
  FROM waiting w JOIN digests d ON d.account_id = w.account_id
 WHERE m.mail_id = w.mail_id
RETURNING d.mail_id
"""
_CLAIM_DAY = """
INSERT INTO mail_digest_days (day, made_at) VALUES ($1, $2)
ON CONFLICT (day) DO NOTHING
RETURNING day
"""


@dataclass(frozen=True)
class Claim:
    mail_id: UUID
    account_id: UUID
    what: str  # confirmation, notice, digest
    kind: str | None
    link: str | None
    sealed_token: Mapping[str, Any] | None
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Recipient:
    sealed_address: Mapping[str, Any]
    confirmed_at: datetime | None
    confirmation_hash: bytes | None
    confirmation_expires_at: datetime | None
    sealed_unsubscribe: Mapping[str, Any]
    choices: Mapping[str, str]


@dataclass(frozen=True)
class NoticeRow:
    account_id: UUID
    kind: str
    link: str
    event_id: UUID
    # pending (sent at once) or for_digest.
    status: str


async def enqueue_confirmation(
    connection: Connection, account_id: UUID, sealed_token: Mapping[str, Any], now: datetime
) -> None:
    await connection.execute(_ENQUEUE_CONFIRMATION, uuid.uuid4(), account_id, sealed_token, now)


async def enqueue_notices(
    connection: Connection, notices: Sequence[NoticeRow], now: datetime
) -> None:
    await connection.executemany(_ENQUEUE_NOTICE, [
        (uuid.uuid4(), n.account_id, n.kind, n.link, n.event_id, n.status, now)
        for n in notices
    ])


async def confirmed_recipients(
    connection: Connection, account_ids: Sequence[UUID]
) -> list[asyncpg.Record]:
    return list(await connection.fetch(_RECIPIENTS_CONFIRMED, list(account_ids)))


async def drop_unsent_of(connection: Connection, account_id: UUID) -> None:
    await connection.execute(_DROP_UNSENT, account_id)


async def delete_all_of(connection: Connection, account_id: UUID) -> None:
    await connection.execute(_DELETE_ALL, account_id)


async def claim(
    pool: asyncpg.Pool, now: datetime, leased_until: datetime, limit: int
) -> list[Claim]:
    rows = await pool.fetch(_CLAIM, now, leased_until, limit)
    return [
        Claim(row["mail_id"], row["account_id"], row["what"], row["kind"], row["link"],
              row["sealed_token"], row["attempts"], row["created_at"])
        for row in rows
    ]


async def recipient(pool: asyncpg.Pool, account_id: UUID) -> Recipient | None:
    row = await pool.fetchrow(_RECIPIENT, account_id)
    if row is None:
        return None
    return Recipient(
        row["sealed_address"], row["confirmed_at"],
        bytes(row["confirmation_hash"]) if row["confirmation_hash"] is not None else None,
        row["confirmation_expires_at"], row["sealed_unsubscribe"], row["choices"],
    )


async def digest_items(pool: asyncpg.Pool, digest_id: UUID) -> list[tuple[str, str]]:
    return [(row["kind"], row["link"]) for row in await pool.fetch(_DIGEST_ITEMS, digest_id)]


async def mark_sent(pool: asyncpg.Pool, claimed: Claim, now: datetime) -> None:
    await pool.execute(_SENT, claimed.mail_id, claimed.attempts, now)


async def retry_at(pool: asyncpg.Pool, claimed: Claim, when: datetime, error: str) -> None:
    await pool.execute(_RETRY_AT, claimed.mail_id, claimed.attempts, when, error)


async def settle(pool: asyncpg.Pool, claimed: Claim, status: str, error: str | None) -> None:
    """``failed`` or ``dropped``: the row is done with, unsent."""
    await pool.execute(_SETTLE, claimed.mail_id, claimed.attempts, status, error)


async def gather_digests(pool: asyncpg.Pool, day: date, now: datetime) -> int | None:
    """Make the digests of ``day`` unless some instance made them already (None then);
    how many members get one."""
    async with pool.acquire() as connection, connection.transaction():
        if await connection.fetchval(_CLAIM_DAY, day, now) is None:
            return None
        gathered = await connection.fetch(_GATHER_DIGESTS, now)
        return len({row["mail_id"] for row in gathered})
