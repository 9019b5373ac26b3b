"""Erasing one's own account, over the API. What it does: ledger/erasure.py.

Like minting an API token, it needs a signed-in browser session (an API token alone is
refused, 403 ``session_required``) and the password typed again (403
``password_incorrect``); typing one's handle confirms that erasing is meant.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from ledger.auth.accounts import OfferedPassword
from ledger.auth.sessions import SESSION_COOKIE
from ledger.erasure import erase_account
from ledger.errors import InvalidInput
from ledger.http.account_routes import ACCOUNTS, confirm_password
from ledger.http.identity import require_session
from ledger.http.keys import KEYRING, POOL, SERVICE
from ledger.http.middleware import current_request_id
from ledger.http.parsing import parse_body


class EraseAccount(BaseModel):
    """Typing one's handle again confirms it: erasure cannot be undone. The password
    proves it is the account's owner at the keyboard."""

    # A password never shows in an error's text, should one be logged by mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    handle: str
    password: OfferedPassword


class AccountErased(BaseModel):
    model_config = ConfigDict(frozen=True)
    erased: bool
    polycules_left: int


async def erase_my_account(request: web.Request) -> web.Response:
    identity = require_session(request)
    body = await parse_body(request, EraseAccount)
    account = await request.app[ACCOUNTS].by_id(identity.account_id)
    if account is None or account.handle != body.handle.strip().lower():
        raise InvalidInput(
            "type your own handle to confirm; erasing an account cannot be undone",
            details={"field": "handle"},
        )
    await confirm_password(request, identity, body.password)
    left = await erase_account(
        identity.account_id,
        pool=request.app[POOL],
        service=request.app[SERVICE],
        keyring=request.app[KEYRING],
        request_id=current_request_id(),
    )
    response = web.json_response(AccountErased(erased=True, polycules_left=left).model_dump())
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
