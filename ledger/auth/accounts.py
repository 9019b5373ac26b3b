"""Accounts: signing up and signing in, confirming and changing the password, signing out
everywhere.

An account is who a member is to the service: its id is the member id every event names,
its handle is how they sign in, its display name how they are shown. All of it is mutable
(a name changes, a password changes, an account is erased), so it lives in ordinary
tables, never in the event log.

Every check of a password, at sign-in or when it is typed again to confirm an act (minting
an API token, changing the password, erasing the account), goes through the sign-in
throttle; every sign-up through the sign-up throttle (ledger/auth/throttle.py).
"""

from __future__ import annotations

import dataclasses
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import cache
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
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ledger.auth.password_rules import (
    MIN_PASSWORD_LENGTH,
    context_problem,
    guessable_problem,
    length_problem,
)
from ledger.auth.passwords import Passwords
from ledger.auth.sessions import Sessions, StartedSession
from ledger.auth.throttle import SignInThrottle, SignUpThrottle
from ledger.auth.tokens import ApiTokens
from ledger.errors import DomainError, Forbidden, Unauthenticated

log = structlog.get_logger(__name__)

MAX_DISPLAY_NAME_LENGTH = 80
# The longest handle a sign-in may name: longer than any valid handle, so a mistyped one is
# answered like a wrong password rather than as malformed input.
MAX_OFFERED_HANDLE_LENGTH = 64
_HANDLE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


# -- the rules, as types the request models use ------------------------------------------


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _known_time_zone(name: str) -> str:
    if name not in known_time_zones():
        raise PydanticCustomError(
            "time_zone_unknown",
            "not a time zone this service knows: an IANA name, like Europe/Berlin",
        )
    return name


# The IANA name of a reader's time zone, as a browser tells it
# (``Intl.DateTimeFormat().resolvedOptions().timeZone``); the pages show times in it.
TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_time_zone)
]


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
        if isinstance(value, str) and (problem := length_problem(value, minimum)):
            raise problem
        return value

    return BeforeValidator(check)


def _not_guessable(password: SecretStr) -> SecretStr:
    if problem := guessable_problem(password.get_secret_value()):
        raise problem
    return password


Handle = Annotated[str, BeforeValidator(_lowercase), AfterValidator(_valid_handle)]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DISPLAY_NAME_LENGTH),
]
# SecretStr: a password shows as '**********' in any repr, traceback or log by mistake.
# A new one must also not be among the first a guesser tries (ledger/auth/password_rules.py).
NewPassword = Annotated[
    SecretStr, _password_length(MIN_PASSWORD_LENGTH), AfterValidator(_not_guessable)
]
OfferedPassword = Annotated[SecretStr, _password_length(1)]


class NewAccount(BaseModel):
    """What signing up takes."""

    # A password never shows in an error's text, should one be logged by mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    handle: Handle
    display_name: DisplayName
    password: NewPassword

    @field_validator("password")
    @classmethod
    def _not_the_persons_own_name(cls, password: SecretStr, info: ValidationInfo) -> SecretStr:
        # The fields before it, those that were valid: the handle and the name.
        context = [str(info.data[name]) for name in ("handle", "display_name") if name in info.data]
        if problem := context_problem(password.get_secret_value(), context):
            raise problem
        return password


class PasswordChange(BaseModel):
    """What changing the password takes: the current one, typed again, and the new one."""

    # A password never shows in an error's text, should one be logged by mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    current_password: OfferedPassword
    new_password: NewPassword


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


class PasswordNotConfirmed(Forbidden):
    """The password typed again to confirm an act is not the account's: nothing was done.
    (Not a 401: the caller is still signed in.)"""

    code = "password_incorrect"

    def __init__(self) -> None:
        super().__init__(
            "the password you typed is not this account's password",
            details={"field": "password"},
        )


def _refused(field: str, problem: PydanticCustomError) -> ValidationError:
    """A rule's refusal of one field, answered like any other invalid field (422)."""
    details: InitErrorDetails = {"type": problem, "loc": (field,), "input": "**********"}
    return ValidationError.from_exception_data("PasswordChange", [details])


# -- accounts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: UUID
    handle: str
    display_name: str
    created_at: datetime
    # Where the reader's pages show their times; None until their browser has said (UTC).
    time_zone: str | None = None


@dataclass(frozen=True)
class SignedIn:
    account: Account
    session: StartedSession


_COLUMNS = "id, handle, display_name, created_at, time_zone"
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
_FOR_CONFIRMING = f"""
SELECT {_COLUMNS}, password_hash FROM accounts WHERE id = $1 AND erased_at IS NULL
"""
_REHASH = "UPDATE accounts SET password_hash = $2 WHERE id = $1 AND erased_at IS NULL"
_SET_TIME_ZONE = "UPDATE accounts SET time_zone = $2 WHERE id = $1 AND erased_at IS NULL"


def _account(row: asyncpg.Record) -> Account:
    return Account(
        row["id"], row["handle"], row["display_name"], row["created_at"], row["time_zone"]
    )


class Accounts:
    def __init__(
        self,
        pool: asyncpg.Pool,
        passwords: Passwords,
        sessions: Sessions,
        tokens: ApiTokens,
        throttle: SignInThrottle,
        sign_up_throttle: SignUpThrottle,
    ) -> None:
        self._pool = pool
        self._passwords = passwords
        self._sessions = sessions
        self._tokens = tokens
        self._throttle = throttle
        self._sign_up_throttle = sign_up_throttle

    async def sign_up(self, new: NewAccount, remote: str | None) -> Account:
        """Raises SignUpRefused while the address has had its share of sign-ups."""
        await self._sign_up_throttle.begin(remote)
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

    async def sign_in(
        self, handle: str, password: SecretStr, remote: str | None,
        *, time_zone: str | None = None,
    ) -> SignedIn:
        """A new session for the account, if the password is right; the browser's
        ``time_zone``, if it said, kept as the account's. Raises InvalidCredentials, or
        SignInRefused while the address is throttled."""
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
        if time_zone is not None and time_zone != account.time_zone:
            await self.set_time_zone(account.id, time_zone)
            account = dataclasses.replace(account, time_zone=time_zone)
        if self._passwords.needs_rehash(stored_hash):
            await self._pool.execute(_REHASH, account.id, await self._passwords.hash(offered))
        session = await self._sessions.start(account.id)
        log.info("signed_in", account_id=str(account.id), session_id=str(session.id))
        return SignedIn(account, session)

    async def confirm_password(
        self, account_id: UUID, password: SecretStr, remote: str | None
    ) -> Account:
        """The account, once the password typed again is its own. Counted like a sign-in
        (a stolen session must not become a way to guess the password); raises
        PasswordNotConfirmed, or SignInRefused while the address is throttled."""
        row = await self._pool.fetchrow(_FOR_CONFIRMING, account_id)
        if row is None:  # erased meanwhile
            raise Unauthenticated("sign in first")
        attempt = await self._throttle.begin(row["handle"], remote)
        if not await self._passwords.verify(row["password_hash"], password.get_secret_value()):
            log.info("password_not_confirmed", account_id=str(account_id))
            raise PasswordNotConfirmed()
        await self._throttle.succeeded(attempt)
        return _account(row)

    async def change_password(
        self,
        account_id: UUID,
        change: PasswordChange,
        remote: str | None,
        *,
        keep_session: UUID | None,
    ) -> int:
        """Set a new password once the current one is confirmed, and end every other
        session of the account (whoever knew the old password is signed out); the caller's
        session stays. Returns how many sessions ended. API tokens stay: each is listed,
        and signing out everywhere revokes them."""
        account = await self.confirm_password(account_id, change.current_password, remote)
        new_password = change.new_password.get_secret_value()
        if problem := context_problem(new_password, [account.handle, account.display_name]):
            raise _refused("new_password", problem)
        await self._pool.execute(_REHASH, account_id, await self._passwords.hash(new_password))
        ended = await self._sessions.end_all(account_id, keep=keep_session)
        log.info("password_changed", account_id=str(account_id), other_sessions_ended=ended)
        return ended

    async def sign_out_everywhere(self, account_id: UUID) -> tuple[int, int]:
        """End every session and revoke every API token of the account, wherever they are
        (what they hold open, a live stream, ends with them). How many of each."""
        sessions = await self._sessions.end_all(account_id)
        tokens = await self._tokens.revoke_all(account_id)
        log.info(
            "signed_out_everywhere", account_id=str(account_id),
            sessions_ended=sessions, tokens_revoked=tokens,
        )
        return sessions, tokens

    async def set_time_zone(self, account_id: UUID, time_zone: str) -> None:
        """Show the account's pages in ``time_zone`` (a known IANA name: TimeZoneName)."""
        await self._pool.execute(_SET_TIME_ZONE, account_id, time_zone)

    async def by_id(self, account_id: UUID) -> Account | None:
        row = await self._pool.fetchrow(_BY_ID, account_id)
        return None if row is None else _account(row)
