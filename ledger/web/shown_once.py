"""Secrets shown once, after a redirect: a form that makes a secret (an invitation's link,
a supporter's link, an API token, a webhook signing secret) is answered with a redirect to
``/shown/{id}``, and that page shows the secret, once.

So reloading the page, or going back to it, never posts the form again and never makes a
second secret; the secret is never in an address nor in a log. Between the form's answer
and the page, the API's answer waits in ``shown_once`` (migration 0018), sealed under the
account's own data key, for a few minutes at most; showing it deletes it, and only the
account that made it may see it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import orjson
from aiohttp import web

from ledger.http.authorization import caller_of
from ledger.http.keys import CLOCK, KEYRING, POOL
from ledger.http.parsing import named_id
from ledger.privacy import ERASED, KeyOwner
from ledger.web.reading import Page
from ledger.web.rendering import render

# Long enough for a slow phone to follow the redirect; a secret never shown is then useless.
KEPT_FOR = timedelta(minutes=10)

# Through shown_once_expires_at; then the primary key.
_KEEP = """
WITH cleared AS (DELETE FROM shown_once WHERE expires_at <= $5)
INSERT INTO shown_once (id, account_id, sealed, return_to, expires_at)
VALUES ($1, $2, $3, $4, $5 + $6::interval)
"""
# Through the primary key: the row goes as it is read, so it is shown at most once.
_TAKE = """
DELETE FROM shown_once WHERE id = $1 AND account_id = $2 AND expires_at > $3
RETURNING sealed, return_to
"""


async def keep(request: web.Request, answer: Any, return_to: str) -> str:
    """Keep the API's ``answer`` for the page that shows it; that page's address."""
    account_id = caller_of(request)
    sealed = await request.app[KEYRING].seal(
        orjson.dumps(answer).decode(), KeyOwner("member", account_id)
    )
    shown_id = uuid.uuid4()
    await request.app[POOL].execute(
        _KEEP, shown_id, account_id, sealed, return_to, request.app[CLOCK].now(), KEPT_FOR
    )
    return f"/shown/{shown_id}"


async def shown(request: web.Request) -> web.Response:
    """The secret, once; asked again (a reload, the Back button), a page that says so."""
    shown_id = named_id(request.match_info["shown_id"], "secret")
    row = await request.app[POOL].fetchrow(
        _TAKE, shown_id, caller_of(request), request.app[CLOCK].now()
    )
    opened = None if row is None else await request.app[KEYRING].open_sealed(row["sealed"])
    if row is None or opened is None or opened == ERASED:
        return await render(request, "shown_already.html", {}, status=410)
    return await render(request, "shown_once.html", {
        "data": orjson.loads(opened), "return_to": row["return_to"],
    })


PAGES: tuple[Page, ...] = (
    ("GET", "/shown/{shown_id}", shown),
)
