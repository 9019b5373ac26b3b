"""A member's webhook endpoints: registered, listed, edited, deleted; their signing secrets,
shown once and rotated with an overlap; their delivery log.

Endpoints are a member's own settings, like their API tokens: rows, not events. Who may
touch one is the policy's (Rule.ENDPOINT_OWNER in ledger/auth/policy.py): its owner, and
for anyone else it does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from ledger.privacy import KeyOwner, KeyRing
from ledger.webhooks.signing import new_secret

if TYPE_CHECKING:
    from ledger.database import Executor

_COLUMNS = """
endpoint_id, account_id, url, description, event_types, enabled, disabled_reason,
failing_since, created_at, updated_at
"""
_CREATE = f"""
INSERT INTO webhook_endpoints ({_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7, $7)
RETURNING {_COLUMNS}
"""
_STORE_SIGNING_KEY = """
INSERT INTO webhook_secrets (secret_id, endpoint_id, sealed_secret, created_at)
VALUES ($1, $2, $3::text::jsonb, $4)
"""
# The current secret starts to expire: it keeps signing for the overlap.
_RETIRE_SECRETS = """
UPDATE webhook_secrets SET expires_at = $2
 WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)
"""
# webhook_endpoints_of_account
_OF_ACCOUNT = f"""
SELECT {_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 ORDER BY created_at
"""
_ONE = f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE endpoint_id = $1"
_UPDATE = f"""
UPDATE webhook_endpoints
   SET url = $2, description = $3, event_types = $4, enabled = $5,
       disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END,
       failing_since = CASE WHEN $5 AND NOT enabled THEN NULL ELSE failing_since END,
       updated_at = $6
 WHERE endpoint_id = $1
RETURNING {_COLUMNS}
"""
_DELETE = "DELETE FROM webhook_endpoints WHERE endpoint_id = $1"
_DELETE_OF_ACCOUNT = "DELETE FROM webhook_endpoints WHERE account_id = $1"
# webhook_messages_of_endpoint
_MESSAGES = """
SELECT message_id, event_id, polycule_id, type, payload, created_at, status, attempts,
       next_attempt_at
  FROM webhook_messages
 WHERE endpoint_id = $1
 ORDER BY created_at DESC, message_id
 LIMIT $2
"""
_ATTEMPTS = """
SELECT message_id, attempt, attempted_at, status_code, duration_ms, error, response_snippet
  FROM webhook_attempts
 WHERE message_id = ANY($1::text[])
 ORDER BY message_id, attempt
"""
_MESSAGE_OF_ENDPOINT = "SELECT 1 FROM webhook_messages WHERE message_id = $1 AND endpoint_id = $2"


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: UUID
    account_id: UUID
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Attempt:
    attempt: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_snippet: str | None


@dataclass(frozen=True)
class Message:
    message_id: str
    event_id: UUID
    polycule_id: UUID
    type: str
    payload: dict[str, Any]
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    log: tuple[Attempt, ...]


async def create(
    executor: Executor,
    keyring: KeyRing,
    *,
    account_id: UUID,
    url: str,
    description: str,
    event_types: Sequence[str],
    enabled: bool,
    now: datetime,
) -> tuple[Endpoint, str]:
    """The new endpoint and its signing secret, which is shown this once."""
    row = await executor.fetchrow(
        _CREATE, uuid.uuid4(), account_id, url, description, list(event_types), enabled, now
    )
    endpoint = _endpoint(row)
    secret = await _add_secret(executor, keyring, endpoint, now)
    return endpoint, secret


async def rotate_secret(
    executor: Executor, keyring: KeyRing, endpoint: Endpoint, *, now: datetime, overlap: timedelta
) -> str:
    """A new secret; the old one keeps signing for ``overlap`` so receivers can switch."""
    await executor.execute(_RETIRE_SECRETS, endpoint.endpoint_id, now + overlap)
    return await _add_secret(executor, keyring, endpoint, now)


async def _add_secret(
    executor: Executor, keyring: KeyRing, endpoint: Endpoint, now: datetime
) -> str:
    secret = new_secret()
    sealed = await keyring.seal(secret, KeyOwner("member", endpoint.account_id))
    await executor.execute(
        _STORE_SIGNING_KEY, uuid.uuid4(), endpoint.endpoint_id, orjson.dumps(sealed).decode(), now
    )
    return secret


async def of_account(executor: Executor, account_id: UUID) -> list[Endpoint]:
    return [_endpoint(row) for row in await executor.fetch(_OF_ACCOUNT, account_id)]


async def one(executor: Executor, endpoint_id: UUID) -> Endpoint | None:
    row = await executor.fetchrow(_ONE, endpoint_id)
    return None if row is None else _endpoint(row)


async def update(
    executor: Executor,
    endpoint: Endpoint,
    *,
    url: str,
    description: str,
    event_types: Sequence[str],
    enabled: bool,
    now: datetime,
) -> Endpoint:
    row = await executor.fetchrow(
        _UPDATE, endpoint.endpoint_id, url, description, list(event_types), enabled, now
    )
    return _endpoint(row)


async def delete(executor: Executor, endpoint_id: UUID) -> None:
    await executor.execute(_DELETE, endpoint_id)


async def delete_all_of(executor: Executor, account_id: UUID) -> None:
    """On erasure: the member's endpoints and everything sent to them."""
    await executor.execute(_DELETE_OF_ACCOUNT, account_id)


async def delivery_log(executor: Executor, endpoint_id: UUID, limit: int) -> list[Message]:
    """The endpoint's latest messages, each with every attempt made to deliver it."""
    rows = await executor.fetch(_MESSAGES, endpoint_id, limit)
    attempts: dict[str, list[Attempt]] = {}
    for row in await executor.fetch(_ATTEMPTS, [row["message_id"] for row in rows]):
        attempts.setdefault(row["message_id"], []).append(Attempt(
            attempt=row["attempt"], attempted_at=row["attempted_at"],
            status_code=row["status_code"], duration_ms=row["duration_ms"],
            error=row["error"], response_snippet=row["response_snippet"],
        ))
    return [
        Message(
            message_id=row["message_id"], event_id=row["event_id"],
            polycule_id=row["polycule_id"], type=row["type"], payload=row["payload"],
            created_at=row["created_at"], status=row["status"], attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            log=tuple(attempts.get(row["message_id"], ())),
        )
        for row in rows
    ]


async def has_message(executor: Executor, endpoint_id: UUID, message_id: str) -> bool:
    return bool(await executor.fetchval(_MESSAGE_OF_ENDPOINT, message_id, endpoint_id))


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        endpoint_id=row["endpoint_id"], account_id=row["account_id"], url=row["url"],
        description=row["description"], event_types=tuple(row["event_types"]),
        enabled=row["enabled"], disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"], created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
