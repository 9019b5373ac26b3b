"""A member's mail address, its confirmation, the unsubscribe link, and their choices.

* The address is sealed under the member's own data key (ledger/privacy.py): erasing the
  member destroys the key and makes it unreadable; erasure deletes these rows as well.
* Setting an address keeps it unconfirmed and puts a confirmation mail in the outbox, with
  a single-use token that expires; only the token's SHA-256 is kept for the look-up (as
  API tokens are, ledger/auth/tokens.py), and the mail's copy sealed under the member's
  key. Until the link is followed, nothing else is sent to the address.
* The unsubscribe token is random (256 bits), one per address, kept as SHA-256 for the
  look-up and sealed under the member's key for the mails that carry it. Whoever holds it
  may turn every notice of that member off, and nothing more.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from ledger.errors import TooMany
from ledger.mail import outbox
from ledger.mail.kinds import KINDS, Choice
from ledger.privacy import ERASED, KeyOwner, KeyRing

if TYPE_CHECKING:
    from ledger.database import Connection, Executor

# How long a confirmation link works: long enough to outlast a day of the SMTP server
# being away and a weekend of not reading mail.
CONFIRMATION_LIFETIME = timedelta(days=7)
# At most one confirmation mail a minute per member: setting an address must not become a
# way to flood someone else's inbox.
CONFIRMATIONS_APART = timedelta(minutes=1)
_TOKEN_BYTES = 32
# What new_link_token makes (base64url of 32 bytes): anything else names nothing.
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_link_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def link_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class AddressState:
    address: str
    confirmed_at: datetime | None
    awaiting_confirmation: bool


_STATE = """
SELECT sealed_address, confirmed_at,
       confirmation_hash IS NOT NULL AND confirmation_expires_at > $2 AS awaiting
  FROM mail_addresses WHERE account_id = $1
"""
_SET_ADDRESS = """
INSERT INTO mail_addresses (account_id, sealed_address, confirmed_at, confirmation_hash,
                            confirmation_expires_at, unsubscribe_hash, sealed_unsubscribe,
                            updated_at)
VALUES ($1, $2, NULL, $3, $4, $5, $6, $7)
ON CONFLICT (account_id) DO UPDATE
   SET sealed_address = excluded.sealed_address, confirmed_at = NULL,
       confirmation_hash = excluded.confirmation_hash,
       confirmation_expires_at = excluded.confirmation_expires_at,
       unsubscribe_hash = excluded.unsubscribe_hash,
       sealed_unsubscribe = excluded.sealed_unsubscribe, updated_at = excluded.updated_at
"""
# The same address again, not yet confirmed: a new link (the old one stops working).
_NEW_CONFIRMATION = """
UPDATE mail_addresses
   SET confirmation_hash = $2, confirmation_expires_at = $3, updated_at = $4
 WHERE account_id = $1
"""
# Through mail_addresses_confirmation_key; the token works once.
_CONFIRM = """
UPDATE mail_addresses
   SET confirmed_at = $2, confirmation_hash = NULL, confirmation_expires_at = NULL,
       updated_at = $2
 WHERE confirmation_hash = $1 AND confirmation_expires_at > $2
RETURNING account_id
"""
# mail_outbox_of_account
_LAST_CONFIRMATION = """
SELECT max(created_at) FROM mail_outbox WHERE account_id = $1 AND what = 'confirmation'
"""
_FORGET = "DELETE FROM mail_addresses WHERE account_id = $1"
# Through mail_addresses_unsubscribe_key.
_UNSUBSCRIBER = "SELECT account_id FROM mail_addresses WHERE unsubscribe_hash = $1"
_CHOICES = "SELECT kind, choice FROM mail_choices WHERE account_id = $1"
_CHOOSE = """
INSERT INTO mail_choices (account_id, kind, choice) VALUES ($1, $2, $3)
ON CONFLICT (account_id, kind) DO UPDATE SET choice = excluded.choice
"""
_DELETE_CHOICES = "DELETE FROM mail_choices WHERE account_id = $1"


async def state_of(
    pool: asyncpg.Pool, keyring: KeyRing, account_id: UUID, now: datetime
) -> AddressState | None:
    row = await pool.fetchrow(_STATE, account_id, now)
    if row is None:
        return None
    address = await keyring.open_sealed(row["sealed_address"])
    if address == ERASED:
        return None
    return AddressState(address, row["confirmed_at"], bool(row["awaiting"]))


async def set_address(
    pool: asyncpg.Pool, keyring: KeyRing, account_id: UUID, address: str, now: datetime
) -> None:
    """Keep ``address`` for the member, unconfirmed, and put a confirmation mail in the
    outbox. The address they already confirmed changes nothing; the one awaiting
    confirmation gets a new link. Raises TooMany within a minute of the last one."""
    current = await state_of(pool, keyring, account_id, now)
    if current is not None and current.address == address and current.confirmed_at:
        return
    last: datetime | None = await pool.fetchval(_LAST_CONFIRMATION, account_id)
    if last is not None and now - last < CONFIRMATIONS_APART:
        wait = int((CONFIRMATIONS_APART - (now - last)).total_seconds()) + 1
        raise TooMany(
            "a confirmation mail was sent for you less than a minute ago: wait a moment "
            "before asking for another", details={"retry_after_seconds": wait},
        )
    owner = KeyOwner("member", account_id)
    confirmation = new_link_token()
    expires_at = now + CONFIRMATION_LIFETIME
    async with pool.acquire() as connection, connection.transaction():
        if current is not None and current.address == address:
            await connection.execute(
                _NEW_CONFIRMATION, account_id, link_token_hash(confirmation), expires_at, now
            )
        else:
            unsubscribe = new_link_token()
            await connection.execute(
                _SET_ADDRESS, account_id, (await keyring.seal(address, owner)),
                link_token_hash(confirmation), expires_at, link_token_hash(unsubscribe),
                (await keyring.seal(unsubscribe, owner)), now,
            )
            # Whatever waited for the address that was is not for this one.
            await outbox.drop_unsent_of(connection, account_id)
        await outbox.enqueue_confirmation(
            connection, account_id, (await keyring.seal(confirmation, owner)), now
        )


async def forget_address(pool: asyncpg.Pool, account_id: UUID) -> None:
    """No address any more: nothing waiting is sent, nothing new is queued."""
    async with pool.acquire() as connection, connection.transaction():
        await outbox.drop_unsent_of(connection, account_id)
        await connection.execute(_FORGET, account_id)


async def confirm(pool: asyncpg.Pool, token: str, now: datetime) -> bool:
    """Confirm the address the token was mailed to; False if it names nothing (never made,
    used already, expired, or replaced by a newer link)."""
    if not LINK_TOKEN.fullmatch(token):
        return False
    return await pool.fetchval(_CONFIRM, link_token_hash(token), now) is not None


async def unsubscribe(pool: asyncpg.Pool, token: str) -> bool:
    """Turn every kind of notice off for the member the token belongs to; False if it
    names nobody."""
    if not LINK_TOKEN.fullmatch(token):
        return False
    account_id = await pool.fetchval(_UNSUBSCRIBER, link_token_hash(token))
    if account_id is None:
        return False
    await set_choices(pool, account_id, dict.fromkeys(KINDS, "never"))
    return True


async def chosen(connection: Executor, account_id: UUID) -> dict[str, Choice]:
    """The member's own choices (a kind missing has its default)."""
    return {row["kind"]: row["choice"] for row in await connection.fetch(_CHOICES, account_id)}


async def set_choices(
    pool: asyncpg.Pool, account_id: UUID, choices: Mapping[str, Choice]
) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.executemany(
            _CHOOSE, [(account_id, kind, choice) for kind, choice in choices.items()]
        )


async def delete_all_of(connection: Connection, account_id: UUID) -> None:
    """Erasure: the address, the choices and every mail of the member."""
    await outbox.delete_all_of(connection, account_id)
    await connection.execute(_FORGET, account_id)
    await connection.execute(_DELETE_CHOICES, account_id)
