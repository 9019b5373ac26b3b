"""Server-side sessions: what a signed-in browser's cookie stands for.

The cookie carries a random token; the database keeps only its SHA-256, so a copy of the
table lets nobody in. A session authenticates until it expires or is ended (sign-out,
signing out everywhere, a changed password), whichever comes first, and never for an
erased account.

The CSRF token of a session is derived from the session token (see ``csrf_token_for``):
a page can be given it to echo in ``X-CSRF-Token``, a cross-site page can neither read the
HttpOnly cookie nor compute it, and nothing more needs to be stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from ledger.store.sql import POLYCULE_POSITION
from ledger.store.together import LookupsTogether, by_place

SESSION_COOKIE = "ledger_session"
DEFAULT_SESSION_LIFETIME = timedelta(days=14)

_TOKEN_BYTES = 32


def session_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_token_for(session_token: str) -> str:
    # Domain-separated from session_token_hash: the stored hash does not reveal it either.
    digest = hashlib.sha256(b"ledger csrf token v1\0" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class StartedSession:
    id: UUID
    account_id: UUID
    expires_at: datetime
    # For the cookie, once; never stored, never logged.
    token: str = field(repr=False)

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.token)


@dataclass(frozen=True)
class LiveSession:
    id: UUID
    account_id: UUID
    # Where the polycule asked about with the session stands (``live(…, stream_id=)``),
    # read in the same round trip (POLYCULE_POSITION); 0 for a stream that does not exist.
    stream_version: int | None = None
    views_version: int | None = None


# Ended and expired sessions of the account are dropped as it signs in again, so the table
# holds about one row per device per member (through sessions_of_account).
_START = """
WITH stale AS (
    DELETE FROM sessions
    WHERE account_id = $3 AND (ended_at IS NOT NULL OR expires_at <= now())
)
INSERT INTO sessions (token_hash, id, account_id, expires_at)
VALUES ($1, $2, $3, now() + $4::interval)
RETURNING expires_at
"""
# By the primary key; the join (accounts' primary key) refuses erased accounts. In the same
# round trip, where the polycule the request is about stands (``$2``, null for none).
_LIVE = f"""
SELECT s.id, s.account_id, {POLYCULE_POSITION.format(stream="$2::uuid")}
FROM sessions s JOIN accounts a ON a.id = s.account_id
WHERE s.token_hash = $1
  AND s.ended_at IS NULL
  AND s.expires_at > now()
  AND a.erased_at IS NULL
"""
# The same for several requests at once (``LookupsTogether``): each session token's hash
# with the stream its request is about, numbered by its place among them.
_LIVE_SEVERAL = f"""
SELECT asked.place, s.id, s.account_id, {POLYCULE_POSITION.format(stream="asked.stream_id")}
  FROM unnest($1::bytea[], $2::uuid[]) WITH ORDINALITY AS asked(token_hash, stream_id, place)
  JOIN sessions s ON s.token_hash = asked.token_hash
  JOIN accounts a ON a.id = s.account_id
 WHERE s.ended_at IS NULL
   AND s.expires_at > now()
   AND a.erased_at IS NULL
"""
_END = "UPDATE sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL"
# Every live session of the account but ``$2`` (none when null), through sessions_of_account:
# signing out everywhere, a changed password, erasure.
END_ALL_OF_ACCOUNT = """
UPDATE sessions SET ended_at = now()
WHERE account_id = $1 AND ended_at IS NULL AND id IS DISTINCT FROM $2
RETURNING id
"""


class Sessions:
    def __init__(
        self, pool: asyncpg.Pool, *, lifetime: timedelta = DEFAULT_SESSION_LIFETIME
    ) -> None:
        self._pool = pool
        self.lifetime = lifetime
        self._when_ended: list[Callable[[UUID], None]] = []
        # Every request from a signed-in browser looks its session up first: those arriving
        # while others are in flight are looked up together, in one statement.
        self.lookups: LookupsTogether[tuple[bytes, UUID | None], asyncpg.Record | None]
        self.lookups = LookupsTogether(
            lambda asked: by_place(self._pool, _LIVE_SEVERAL, asked),
            lambda asked: self._pool.fetchrow(_LIVE, *asked),
            name="session_lookups",
        )

    def when_ended(self, listener: Callable[[UUID], None]) -> None:
        """Call ``listener`` with the id of each session this process ends, once ended (what
        the session holds open, a live stream, ends with it)."""
        self._when_ended.append(listener)

    async def start(self, account_id: UUID) -> StartedSession:
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        session_id = uuid.uuid4()
        expires_at: datetime = await self._pool.fetchval(
            _START, session_token_hash(token), session_id, account_id, self.lifetime
        )
        return StartedSession(session_id, account_id, expires_at, token)

    async def live(self, token: str, *, stream_id: UUID | None = None) -> LiveSession | None:
        """The session this token opens, if it is still live. With ``stream_id``, also that
        stream's version (see ``LiveSession``)."""
        row = await self.lookups.ask((session_token_hash(token), stream_id))
        if row is None:
            return None
        if stream_id is None:
            return LiveSession(row["id"], row["account_id"])
        return LiveSession(
            row["id"], row["account_id"], row["stream_version"], row["views_version"]
        )

    async def end(self, session_id: UUID) -> None:
        await self._pool.execute(_END, session_id)
        self._announce([session_id])

    async def end_all(self, account_id: UUID, *, keep: UUID | None = None) -> int:
        """End every session of the account (but ``keep``, if given); how many ended."""
        ended = [row["id"] for row in await self._pool.fetch(END_ALL_OF_ACCOUNT, account_id, keep)]
        self._announce(ended)
        return len(ended)

    def _announce(self, session_ids: list[UUID]) -> None:
        for session_id in session_ids:
            for listener in self._when_ended:
                listener(session_id)
