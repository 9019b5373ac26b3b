"""Erasing an account: the one place the ledger forgets a person, without rewriting history.

In order: the member leaves every polycule they belong to (the polycules' streams record
it, reason "account_erased"); their account stops authenticating anyone (sessions ended,
tokens revoked, webhook endpoints and their logs deleted, the mail address, choices and
every mail of theirs deleted, the device keys that witnessed checkpoints deleted (their
co-signatures stay, verifiable, linked to no one), name and password hash dropped —
the handle stays taken, so nobody can pass as them); and their data key is destroyed. From
then on every word they wrote reads as erased wherever it appears, while every stream's
hash chain still verifies, because the chain was computed over the sealed form.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import structlog

from ledger.auth.sessions import END_ALL_OF_ACCOUNT
from ledger.auth.tokens import REVOKE_ALL_OF_ACCOUNT
from ledger.domain.polycules import LeavePolycule, polycule_decider
from ledger.errors import DomainError, NotFound
from ledger.mail import addresses as mail_addresses
from ledger.privacy import KeyOwner, KeyRing
from ledger.service import ApplicationService
from ledger.transparency import devices
from ledger.webhooks import endpoints
from projections.memberships import MEMBER_OF

log = structlog.get_logger(__name__)

_FORGET_ACCOUNT = """
UPDATE accounts SET erased_at = now(), display_name = NULL, password_hash = NULL
 WHERE id = $1 AND erased_at IS NULL
"""


async def erase_account(
    account_id: UUID,
    *,
    pool: asyncpg.Pool,
    service: ApplicationService,
    keyring: KeyRing,
    request_id: str | None = None,
) -> int:
    """Erase the account; returns how many polycules it left. Safe to run again."""
    polycules = [row["polycule_id"] for row in await pool.fetch(MEMBER_OF, account_id)]
    for polycule_id in polycules:
        command = LeavePolycule(
            actor=account_id, at=datetime.now(UTC), command_id=uuid.uuid4(),
            reason="account_erased",
        )
        try:
            await service.handle(polycule_id, polycule_decider, command, request_id=request_id)
        except (DomainError, NotFound):
            pass  # already gone from that polycule: nothing left to do there
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(_FORGET_ACCOUNT, account_id)
        await connection.execute(END_ALL_OF_ACCOUNT, account_id, None)
        await connection.execute(REVOKE_ALL_OF_ACCOUNT, account_id)
        await endpoints.delete_all_of(connection, account_id)
        await mail_addresses.delete_all_of(connection, account_id)
        await devices.delete_all_of(connection, account_id)
    await keyring.destroy(KeyOwner("member", account_id))
    log.info("account_erased", account_id=str(account_id), polycules_left=len(polycules))
    return len(polycules)
