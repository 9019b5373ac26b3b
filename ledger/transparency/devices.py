"""Members' devices as witnesses: the Ed25519 public keys they register, and revoke.

The private half of a device key never leaves the device (a browser keeps it
non-extractable in IndexedDB; a script keeps it where it likes). A device co-signs a
checkpoint it has verified (ledger/transparency/checkpoints.py ``cosign``); a revoked key
co-signs nothing more, but what it signed still verifies. Erasing an account deletes its
keys; its co-signatures stay, verifiable, no longer linked to anyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from ledger.database import Executor

# device_keys_of_account.
OF_ACCOUNT = """
SELECT device_key_id, name, public_key, created_at, revoked_at FROM device_keys
 WHERE account_id = $1
 ORDER BY created_at, device_key_id
"""

_REGISTER = """
INSERT INTO device_keys (device_key_id, account_id, name, public_key, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT device_keys_public_key_key DO NOTHING
"""

# The primary key; the account must be the caller's.
REVOKE = """
UPDATE device_keys SET revoked_at = coalesce(revoked_at, $3)
 WHERE device_key_id = $1 AND account_id = $2
"""

# The primary key: a key the caller may co-sign with now.
USABLE = """
SELECT public_key FROM device_keys
 WHERE device_key_id = $1 AND account_id = $2 AND revoked_at IS NULL
"""

DELETE_OF_ACCOUNT = "DELETE FROM device_keys WHERE account_id = $1"


@dataclass(frozen=True)
class DeviceKey:
    device_key_id: UUID
    name: str
    public_key: bytes
    created_at: datetime
    revoked_at: datetime | None


def _key(row: asyncpg.Record) -> DeviceKey:
    return DeviceKey(
        row["device_key_id"], row["name"], bytes(row["public_key"]), row["created_at"],
        row["revoked_at"],
    )


async def keys_of(executor: Executor, account_id: UUID) -> list[DeviceKey]:
    return [_key(row) for row in await executor.fetch(OF_ACCOUNT, account_id)]


async def register(
    executor: Executor, account_id: UUID, name: str, public_key: bytes, at: datetime
) -> DeviceKey | None:
    """The key registered; None if this public key is registered already (by anyone)."""
    device_key_id = uuid.uuid4()
    if await executor.execute(_REGISTER, device_key_id, account_id, name, public_key, at) == (
        "INSERT 0 0"
    ):
        return None
    return DeviceKey(device_key_id, name, public_key, at, None)


async def revoke(executor: Executor, account_id: UUID, device_key_id: UUID, at: datetime) -> bool:
    """Whether the caller had such a key (revoking one revoked already changes nothing)."""
    return bool(await executor.execute(REVOKE, device_key_id, account_id, at) != "UPDATE 0")


async def delete_all_of(executor: Executor, account_id: UUID) -> None:
    """On erasure: the account's keys (their co-signatures stay, unlinked)."""
    await executor.execute(DELETE_OF_ACCOUNT, account_id)
