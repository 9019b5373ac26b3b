"""Personal API tokens: how a member's own scripts and bots call the API (Bearer).

A token is shown once, when it is made; only its SHA-256 is kept. The ``pal_`` prefix
makes a leaked token recognisable to secret scanners and to people. A token is listed
with when it was made and last used, and works until its owner revokes it (or signs out
everywhere). Only a signed-in browser that types the password again makes one, so a leaked
token cannot mint others that outlive its revocation (ledger/http/account_routes.py).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

from ledger.store.sql import POLYCULE_POSITION
from ledger.store.together import LookupsTogether, by_place

TOKEN_PREFIX = "pal_"  # noqa: S105 (a public marker, not a secret)
MAX_TOKEN_NAME_LENGTH = 80

_TOKEN_BYTES = 32
# Recording every use would be a write per request; once a minute is precise enough.
_LAST_USE_RESOLUTION = "1 minute"


def api_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def looks_like_api_token(text: str) -> bool:
    """Cheap check before any query: anything else cannot be one of our tokens."""
    return text.startswith(TOKEN_PREFIX) and len(text) < 200


@dataclass(frozen=True)
class IssuedToken:
    id: UUID
    name: str
    created_at: datetime
    # Shown to the member once, in the answer that creates it; never stored or logged.
    token: str = field(repr=False)


@dataclass(frozen=True)
class TokenListing:
    id: UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenBearer:
    token_id: UUID
    account_id: UUID
    # Where the polycule asked about with the token stands (``bearer(…, stream_id=)``),
    # read in the same round trip (POLYCULE_POSITION); 0 for a stream that does not exist.
    stream_version: int | None = None
    views_version: int | None = None


_CREATE = """
INSERT INTO api_tokens (id, account_id, name, token_hash)
VALUES ($1, $2, $3, $4)
RETURNING created_at
"""
# Through api_tokens_of_account.
_LIST = """
SELECT id, name, created_at, last_used_at
FROM api_tokens
WHERE account_id = $1 AND revoked_at IS NULL
ORDER BY created_at, id
"""
# Through api_tokens_token_hash_key, then the accounts primary key (erased accounts are
# refused); whether its last use is stale; and in that round trip too, the version of the
# stream the request is about (``$2``, null for none) and of its read models
# (POLYCULE_POSITION).
_STALE = f"(t.last_used_at IS NULL OR t.last_used_at < now() - interval '{_LAST_USE_RESOLUTION}')"
_BEARER = f"""
SELECT t.id, t.account_id, {_STALE} AS stale, {POLYCULE_POSITION.format(stream="$2::uuid")}
  FROM api_tokens t JOIN accounts a ON a.id = t.account_id
 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND a.erased_at IS NULL
"""
# The same for several requests at once (``LookupsTogether``): each token's hash with the
# stream its request is about, numbered by its place among them.
_BEARERS = f"""
SELECT asked.place, t.id, t.account_id, {_STALE} AS stale,
       {POLYCULE_POSITION.format(stream="asked.stream_id")}
  FROM unnest($1::bytea[], $2::uuid[]) WITH ORDINALITY AS asked(token_hash, stream_id, place)
  JOIN api_tokens t ON t.token_hash = asked.token_hash
  JOIN accounts a ON a.id = t.account_id
 WHERE t.revoked_at IS NULL AND a.erased_at IS NULL
"""
# The last use of these tokens, once it is stale (a statement of its own: Citus runs no
# statement that writes a coordinator's table and reads its distributed ones). A token
# another statement is touching or revoking just then is left to it: its row lock is never
# waited for, so touches of several tokens in different orders cannot deadlock.
_TOUCH = """
UPDATE api_tokens SET last_used_at = now()
 WHERE id IN (SELECT id FROM api_tokens WHERE id = ANY($1::uuid[])
              FOR NO KEY UPDATE SKIP LOCKED)
"""
# Through the primary key; naming the owner makes someone else's token "not found".
_REVOKE = """
UPDATE api_tokens SET revoked_at = now()
WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL
RETURNING id
"""
# Every live token of the account, through api_tokens_of_account: signing out everywhere,
# erasure.
REVOKE_ALL_OF_ACCOUNT = """
UPDATE api_tokens SET revoked_at = now()
WHERE account_id = $1 AND revoked_at IS NULL
RETURNING id
"""


class ApiTokens:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._when_revoked: list[Callable[[UUID], None]] = []
        # Every request that carries a token looks it up first: those arriving while
        # others are in flight are looked up together, in one statement.
        self.lookups: LookupsTogether[tuple[bytes, UUID | None], asyncpg.Record | None]
        self.lookups = LookupsTogether(
            self._look_up, self._look_up_one, name="api_token_lookups"
        )

    def when_revoked(self, listener: Callable[[UUID], None]) -> None:
        """Call ``listener`` with the id of each token this process revokes, once revoked
        (what the token holds open, a live stream, ends with it)."""
        self._when_revoked.append(listener)

    async def issue(self, account_id: UUID, name: str) -> IssuedToken:
        token = new_api_token()
        token_id = uuid.uuid4()
        created_at: datetime = await self._pool.fetchval(
            _CREATE, token_id, account_id, name, api_token_hash(token)
        )
        return IssuedToken(token_id, name, created_at, token)

    async def of_account(self, account_id: UUID) -> list[TokenListing]:
        rows = await self._pool.fetch(_LIST, account_id)
        return [
            TokenListing(row["id"], row["name"], row["created_at"], row["last_used_at"])
            for row in rows
        ]

    async def bearer(self, token: str, *, stream_id: UUID | None = None) -> TokenBearer | None:
        """Who this token speaks for, if it is live; records its use. With ``stream_id``,
        also that stream's version (see ``TokenBearer``)."""
        if not looks_like_api_token(token):
            return None
        row = await self.lookups.ask((api_token_hash(token), stream_id))
        if row is None:
            return None
        if stream_id is None:
            return TokenBearer(row["id"], row["account_id"])
        return TokenBearer(
            row["id"], row["account_id"], row["stream_version"], row["views_version"]
        )

    async def _look_up(
        self, asked: Sequence[tuple[bytes, UUID | None]]
    ) -> list[asyncpg.Record | None]:
        found = await by_place(self._pool, _BEARERS, asked)
        await self._touch([row for row in found if row is not None])
        return found

    async def _look_up_one(self, asked: tuple[bytes, UUID | None]) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._pool.fetchrow(_BEARER, *asked)
        if row is not None:
            await self._touch([row])
        return row

    async def _touch(self, rows: Sequence[asyncpg.Record]) -> None:
        """Record the use of the tokens found whose last use is stale (once a minute)."""
        stale = list({row["id"] for row in rows if row["stale"]})
        if stale:
            await self._pool.execute(_TOUCH, stale)

    async def revoke(self, account_id: UUID, token_id: UUID) -> bool:
        """False when the account has no such live token."""
        if await self._pool.fetchval(_REVOKE, token_id, account_id) is None:
            return False
        self._announce([token_id])
        return True

    async def revoke_all(self, account_id: UUID) -> int:
        """Revoke every token of the account; how many were live."""
        revoked = [row["id"] for row in await self._pool.fetch(REVOKE_ALL_OF_ACCOUNT, account_id)]
        self._announce(revoked)
        return len(revoked)

    def _announce(self, token_ids: list[UUID]) -> None:
        for token_id in token_ids:
            for listener in self._when_revoked:
                listener(token_id)
