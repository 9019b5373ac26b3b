"""The accounts API: sign up, sign in and out, who am I, the password, personal API tokens.

    POST   /api/accounts                      sign up                        → 201 account
    POST   /api/session                       sign in (sets the cookie)      → 200 account
                                                                               + csrf_token
    GET    /api/session                       who am I                       → 200 account
                                                                               + csrf_token
    DELETE /api/session                       sign out (clears the cookie)   → 204
    POST   /api/account/password              change the password            → 200
    POST   /api/account/sign-out-everywhere   end every session, revoke every
                                              token (clears the cookie)      → 200
    GET    /api/tokens                        my API tokens, without secrets → 200
    POST   /api/tokens                        a new API token, shown once    → 201
    DELETE /api/tokens/{token_id}             revoke one of mine             → 204

What an API token must never do for its holder, because a leaked token would then
outlive its revocation or take the account with it, needs a signed-in browser session
(403 ``session_required`` otherwise) *and* the password typed again (403
``password_incorrect`` when it is wrong): minting a token, changing the password, and
erasing the account (ledger/http/erasure_routes.py). Signing out everywhere needs the
session only: it is what someone does in a hurry, and it gives nobody anything.

``accounts_context`` (after the pool's, see ledger/app.py) builds the services from
the app's ``AuthPolicy``; the routes are registered with the others (ledger/http/routes.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from aiohttp import web
from argon2 import Parameters
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from ledger.auth.accounts import (
    MAX_OFFERED_HANDLE_LENGTH,
    Account,
    Accounts,
    NewAccount,
    OfferedPassword,
    PasswordChange,
    TimeZoneName,
)
from ledger.auth.password_rules import common_passwords
from ledger.auth.passwords import DEFAULT_HASHING, Passwords
from ledger.auth.sessions import DEFAULT_SESSION_LIFETIME, SESSION_COOKIE, Sessions
from ledger.auth.throttle import (
    SignInRefused,
    SignInThrottle,
    SignUpPolicy,
    SignUpRefused,
    SignUpThrottle,
    ThrottlePolicy,
)
from ledger.auth.tokens import MAX_TOKEN_NAME_LENGTH, ApiTokens
from ledger.config import Settings
from ledger.errors import NotFound
from ledger.http.identity import (
    API_TOKENS,
    SESSIONS,
    Identity,
    identity_of,
    require_identity,
    require_session,
)
from ledger.http.keys import POOL
from ledger.http.parsing import parse_body
from ledger.http.shapes import Nothing

# -- wiring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthPolicy:
    session_lifetime: timedelta = DEFAULT_SESSION_LIFETIME
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    sign_up: SignUpPolicy = field(default_factory=SignUpPolicy)
    password_hashing: Parameters = field(default_factory=lambda: DEFAULT_HASHING)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthPolicy:
        return cls(sign_up=SignUpPolicy(per_address=settings.sign_ups_per_address_per_hour))


AUTH_POLICY = web.AppKey("auth_policy", AuthPolicy)
ACCOUNTS = web.AppKey("accounts", Accounts)


async def accounts_context(app: web.Application) -> AsyncIterator[None]:
    policy = app[AUTH_POLICY]
    pool = app[POOL]
    sessions = Sessions(pool, lifetime=policy.session_lifetime)
    tokens = ApiTokens(pool)
    app[SESSIONS] = sessions
    app[API_TOKENS] = tokens
    app[ACCOUNTS] = Accounts(
        pool,
        Passwords(policy.password_hashing),
        sessions,
        tokens,
        SignInThrottle(pool, policy.throttle),
        SignUpThrottle(pool, policy.sign_up),
    )
    # Read once, off the event loop, before the first sign-up needs it.
    await asyncio.to_thread(common_passwords)
    yield


# -- request and response bodies ---------------------------------------------------------


class Strict(BaseModel):
    # A password never shows in an error's text, should one be logged by mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class SignIn(Strict):
    # Not checked against the handle rules: a mistyped handle is a wrong credential.
    handle: str = Field(min_length=1, max_length=MAX_OFFERED_HANDLE_LENGTH)
    password: OfferedPassword
    # The browser's time zone (the sign-in page's script fills it in): kept in the account.
    time_zone: TimeZoneName | None = None


class TimeZoneBody(Strict):
    time_zone: TimeZoneName


class NewToken(Strict):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TOKEN_NAME_LENGTH),
    ]
    # Typed again: a token acts as its member until revoked.
    password: OfferedPassword


class PasswordChanged(Strict):
    # Every session but the one that changed it ended: whoever knew the old password is out.
    other_sessions_ended: int


class SignedOutEverywhere(Strict):
    sessions_ended: int
    tokens_revoked: int


class AccountBody(Strict):
    id: UUID
    handle: str
    display_name: str
    # Where the web client shows this account's times (an IANA name); null: UTC, until
    # the browser says.
    time_zone: str | None = None

    @classmethod
    def of(cls, account: Account) -> AccountBody:
        return cls(
            id=account.id, handle=account.handle, display_name=account.display_name,
            time_zone=account.time_zone,
        )


class SessionBody(Strict):
    account: AccountBody
    # Echo it in X-CSRF-Token on every change made with the cookie; null for API tokens.
    csrf_token: str | None


class TokenBody(Strict):
    id: UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


class IssuedTokenBody(Strict):
    id: UUID
    name: str
    created_at: datetime
    token: str


def _json(body: BaseModel, *, status: int = 200, secret: bool = False) -> web.Response:
    response = web.json_response(body.model_dump(mode="json"), status=status)
    if secret:  # a token or CSRF token: no cache along the way may keep it
        response.headers["Cache-Control"] = "no-store"
    return response


def _cookie_attributes(request: web.Request) -> dict[str, Any]:
    # Secure when the browser reached us over HTTPS: directly, or through a proxy the
    # service trusts (LEDGER_TRUSTED_PROXIES, see ledger/http/middleware.py).
    return {"path": "/", "httponly": True, "samesite": "Lax", "secure": request.secure}


def _too_many(refused: SignInRefused | SignUpRefused) -> web.HTTPTooManyRequests:
    return web.HTTPTooManyRequests(headers={"Retry-After": str(refused.retry_after_seconds)})


# -- views -------------------------------------------------------------------------------


async def sign_up(request: web.Request) -> web.Response:
    new_account = await parse_body(request, NewAccount)
    try:
        account = await request.app[ACCOUNTS].sign_up(new_account, request.remote)
    except SignUpRefused as refused:
        raise _too_many(refused) from None
    return _json(AccountBody.of(account), status=201)


async def sign_in(request: web.Request) -> web.Response:
    body = await parse_body(request, SignIn)
    try:
        signed_in = await request.app[ACCOUNTS].sign_in(
            body.handle, body.password, request.remote, time_zone=body.time_zone
        )
    except SignInRefused as refused:
        raise _too_many(refused) from None
    previous = identity_of(request)
    if previous is not None and previous.session_id is not None:
        # The browser's cookie is about to be replaced: its old session must not linger.
        await request.app[SESSIONS].end(previous.session_id)
    session = signed_in.session
    response = _json(
        SessionBody(account=AccountBody.of(signed_in.account), csrf_token=session.csrf_token),
        secret=True,
    )
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(request.app[SESSIONS].lifetime.total_seconds()),
        **_cookie_attributes(request),
    )
    return response


async def who_am_i(request: web.Request) -> web.Response:
    identity = require_identity(request)
    account = await request.app[ACCOUNTS].by_id(identity.account_id)
    if account is None:  # erased between the middleware's look-up and this one
        raise NotFound("no such account")
    return _json(
        SessionBody(account=AccountBody.of(account), csrf_token=identity.csrf_token),
        secret=True,
    )


async def set_time_zone(request: web.Request) -> web.Response:
    identity = require_identity(request)
    body = await parse_body(request, TimeZoneBody)
    await request.app[ACCOUNTS].set_time_zone(identity.account_id, body.time_zone)
    return _json(body)


async def sign_out(request: web.Request) -> web.Response:
    identity = require_session(request)
    if identity.session_id is not None:
        await request.app[SESSIONS].end(identity.session_id)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, **_cookie_attributes(request))
    return response


async def tokens_of(tokens: ApiTokens, account_id: UUID) -> list[TokenBody]:
    """The account's API tokens, without their secrets (the web client's account page asks
    this too)."""
    return [
        TokenBody(
            id=token.id,
            name=token.name,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
        )
        for token in await tokens.of_account(account_id)
    ]


async def list_tokens(request: web.Request) -> web.Response:
    identity = require_identity(request)
    mine = await tokens_of(request.app[API_TOKENS], identity.account_id)
    return web.json_response({"tokens": [token.model_dump(mode="json") for token in mine]})


async def create_token(request: web.Request) -> web.Response:
    # Only a signed-in member who types the password again makes tokens: a leaked token
    # must not mint others that outlive its revocation, nor may a browser left signed in.
    identity = require_session(request)
    body = await parse_body(request, NewToken)
    await confirm_password(request, identity, body.password)
    issued = await request.app[API_TOKENS].issue(identity.account_id, body.name)
    return _json(
        IssuedTokenBody(
            id=issued.id, name=issued.name, created_at=issued.created_at, token=issued.token
        ),
        status=201,
        secret=True,
    )


async def change_password(request: web.Request) -> web.Response:
    identity = require_session(request)
    change = await parse_body(request, PasswordChange)
    try:
        ended = await request.app[ACCOUNTS].change_password(
            identity.account_id, change, request.remote, keep_session=identity.session_id
        )
    except SignInRefused as refused:
        raise _too_many(refused) from None
    return _json(PasswordChanged(other_sessions_ended=ended))


async def sign_out_everywhere(request: web.Request) -> web.Response:
    identity = require_session(request)
    await parse_body(request, Nothing)
    sessions, tokens = await request.app[ACCOUNTS].sign_out_everywhere(identity.account_id)
    response = _json(SignedOutEverywhere(sessions_ended=sessions, tokens_revoked=tokens))
    response.del_cookie(SESSION_COOKIE, **_cookie_attributes(request))
    return response


async def confirm_password(
    request: web.Request, identity: Identity, password: SecretStr
) -> Account:
    """The caller's account once the password typed again is theirs (for acts an API
    token must not do; see the module's text)."""
    try:
        return await request.app[ACCOUNTS].confirm_password(
            identity.account_id, password, request.remote
        )
    except SignInRefused as refused:
        raise _too_many(refused) from None


async def revoke_token(request: web.Request) -> web.Response:
    identity = require_identity(request)
    try:
        token_id = UUID(request.match_info["token_id"])
    except ValueError:
        raise NotFound("no such token") from None
    if not await request.app[API_TOKENS].revoke(identity.account_id, token_id):
        raise NotFound("no such token")  # someone else's is "no such token" too
    return web.Response(status=204)
