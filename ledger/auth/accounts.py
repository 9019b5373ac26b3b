"""Accounts: signing up and signing in.

An account is who a member is to the service: its id is the member id every event names,
its handle is how they sign in, its display name how they are shown. All of it is mutable
(a name changes, a password changes, an account is erased), so it lives in ordinary
tables, never in the event log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from ledger.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Passwords
from ledger.auth.sessions import Sessions, StartedSession
from ledger.auth.throttle import SignInThrottle
from ledger.errors import DomainError, Unauthenticated

log = structlog.get_logger(__name__)

MAX_DISPLAY_NAME_LENGTH = 80
# The longest handle a sign-in may name: longer than any valid handle, so a mistyped one is
# answered like a wrong password rather than as malformed input.
MAX_OFFERED_HANDLE_LENGTH = 64
_HANDLE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


# -- the rules, as types the request models use ------------------------------------------


def _lowercase(value: Any) -> Any:
    # Handles are case-insensitive: "Robin" and "robin" are one handle, kept as "robin".
    return value.lower() if isinstance(value, str) else value


def _valid_handle(handle: str) -> str:
    if not 3 <= len(handle) <= 32 or not set(handle) <= _HANDLE_CHARACTERS:
        raise PydanticCustomError(
            "handle_invalid",
            "a handle is 3 to 32 characters, each a letter a-z, a digit, '_', '.' or '-'",
        )
    return handle


def _password_length(minimum: int) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, str) and not minimum <= len(value) <= MAX_PASSWORD_LENGTH:
            raise PydanticCustomError(
                "password_length",
                "a password has {minimum} to {maximum} characters",
                {"minimum": minimum, "maximum": MAX_PASSWORD_LENGTH},
            )
        return value

    return BeforeValidator(check)


Handle = Annotated[str, BeforeValidator(_lowercase), AfterValidator(_valid_handle)]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DISPLAY_NAME_LENGTH),
]
# SecretStr: a password shows as '**********' in any repr, traceback or log by mistake.
NewPassword = Annotated[SecretStr, _password_length(MIN_PASSWORD_LENGTH)]
OfferedPassword = Annotated[SecretStr, _password_length(1)]


class NewAccount(BaseModel):
    """What signing up takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handle: Handle
    display_name: DisplayName
    password: NewPassword


# -- errors ------------------------------------------------------------------------------


class HandleTaken(DomainError):
    def __init__(self, handle: str) -> None:
        super().__init__(
            "handle_taken", "this handle is already taken", details={"handle": handle}
        )


class InvalidCredentials(Unauthenticated):
    """The same answer whether the handle exists or not: it reveals no account."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("the handle or the password is wrong")


# -- accounts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: UUID
    handle: str
    display_name: str
    created_at: datetime


@dataclass(frozen=True)
class SignedIn:
    account: Account
    session: StartedSession


_COLUMNS = "id, handle, display_name, created_at"
_CREATE = f"""
INSERT INTO accounts (id, handle, display_name, password_hash)
VALUES ($1, $2, $3, $4)
RETURNING {_COLUMNS}
"""
# Through accounts_handle_key (on lower(handle)).
_FOR_SIGN_IN = f"""
SELECT {_COLUMNS}, password_hash FROM accounts
WHERE lower(handle) = $1 AND erased_at IS NULL
"""
_BY_ID = f"SELECT {_COLUMNS} FROM accounts WHERE id = $1 AND erased_at IS NULL"
_REHASH = "UPDATE accounts SET password_hash = $2 WHERE id = $1 AND erased_at IS NULL"


def _account(row: asyncpg.Record) -> Account:
    return Account(row["id"], row["handle"], row["display_name"], row["created_at"])


class Accounts:
    def __init__(
        self,
        pool: asyncpg.Pool,
        passwords: Passwords,
        sessions: Sessions,
        throttle: SignInThrottle,
    ) -> None:
        self._pool = pool
        self._passwords = passwords
        self._sessions = sessions
        self._throttle = throttle

    async def sign_up(self, new: NewAccount) -> Account:
        password_hash = await self._passwords.hash(new.password.get_secret_value())
        try:
            row = await self._pool.fetchrow(
                _CREATE, uuid.uuid4(), new.handle, new.display_name, password_hash
            )
        except asyncpg.UniqueViolationError:
            # The unique index decides, so two people racing for one handle cannot both win.
            raise HandleTaken(new.handle) from None
        if row is None:  # INSERT … RETURNING always returns its row
            raise RuntimeError("the account was not created")
        account = _account(row)
        log.info("account_created", account_id=str(account.id))
        return account

    async def sign_in(self, handle: str, password: SecretStr, remote: str | None) -> SignedIn:
        """A new session for the account, if the password is right. Raises
        InvalidCredentials, or SignInRefused while the handle or address is throttled."""
        attempt = await self._throttle.begin(handle, remote)
        row = await self._pool.fetchrow(_FOR_SIGN_IN, handle.lower())
        stored_hash: str | None = row["password_hash"] if row is not None else None
        offered = password.get_secret_value()
        # Checked even without an account (against a stand-in): the same work, the same time.
        matches = await self._passwords.verify(stored_hash, offered)
        if row is None or stored_hash is None or not matches:
            # Not even the handle is logged: people type their password into it by mistake.
            log.info("sign_in_failed")
            raise InvalidCredentials()
        await self._throttle.succeeded(attempt)
        account = _account(row)
        if self._passwords.needs_rehash(stored_hash):
            await self._pool.execute(_REHASH, account.id, await self._passwords.hash(offered))
        session = await self._sessions.start(account.id)
        log.info("signed_in", account_id=str(account.id), session_id=str(session.id))
        return SignedIn(account, session)

    async def by_id(self, account_id: UUID) -> Account | None:
        row = await self._pool.fetchrow(_BY_ID, account_id)
        return None if row is None else _account(row)
