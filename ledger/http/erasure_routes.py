"""Erasing one's own account, over the API. What it does: ledger/auth/erasure.py."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from ledger.auth.erasure import erase_account
from ledger.auth.sessions import SESSION_COOKIE
from ledger.errors import InvalidInput
from ledger.http.account_routes import ACCOUNTS
from ledger.http.authorization import caller_of
from ledger.http.keys import KEYRING, POOL, SERVICE
from ledger.http.middleware import current_request_id
from ledger.http.parsing import parse_body


class EraseAccount(BaseModel):
    """Typing one's handle again confirms it: erasure cannot be undone."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    handle: str


class AccountErased(BaseModel):
    model_config = ConfigDict(frozen=True)
    erased: bool
    polycules_left: int


async def erase_my_account(request: web.Request) -> web.Response:
    body = await parse_body(request, EraseAccount)
    caller = caller_of(request)
    account = await request.app[ACCOUNTS].by_id(caller)
    if account is None or account.handle != body.handle.strip().lower():
        raise InvalidInput(
            "type your own handle to confirm; erasing an account cannot be undone",
            details={"field": "handle"},
        )
    left = await erase_account(
        caller,
        pool=request.app[POOL],
        service=request.app[SERVICE],
        keyring=request.app[KEYRING],
        request_id=current_request_id(),
    )
    response = web.json_response(AccountErased(erased=True, polycules_left=left).model_dump())
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
