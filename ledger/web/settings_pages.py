"""A member's own account: who they are, their API tokens, their password, signing out
everywhere, their webhook endpoints and the messages sent to them, erasing the account;
and the page a supporter opens from the invitation to read a repair.

Like every page, these ask the API's own queries and their forms post to the API's own
routes (changing the password, signing out everywhere, making a token). Revoking a token,
deleting an endpoint and erasing the account are DELETEs in the API: their forms post to an
address of their own here, served by the API's very view.
"""

from __future__ import annotations

from aiohttp import web

from ledger.auth.accounts import known_time_zones
from ledger.auth.password_rules import MIN_PASSWORD_LENGTH
from ledger.http import account_routes, erasure_routes, webhook_routes
from ledger.http.authorization import caller_of, endpoint_of
from ledger.http.context import query_context
from ledger.http.identity import API_TOKENS
from ledger.web.reading import Page
from ledger.web.rendering import render


async def account(request: web.Request) -> web.Response:
    tokens = await account_routes.tokens_of(request.app[API_TOKENS], caller_of(request))
    return await render(request, "account.html", {
        "tokens": tokens,
        "min_password": MIN_PASSWORD_LENGTH,
        "password_changed": request.query.get("password") == "changed",
        "time_zone_changed": request.query.get("time-zone") == "changed",
        "time_zones": sorted(known_time_zones()),
    })


async def erase(request: web.Request) -> web.Response:
    return await render(request, "erase.html", {})


async def webhooks(request: web.Request) -> web.Response:
    endpoints = await webhook_routes.endpoints_of(query_context(request), caller_of(request))
    return await render(request, "webhooks.html", {
        "endpoints": endpoints, "types": _webhook_types(),
    })


async def webhook(request: web.Request) -> web.Response:
    """One endpoint and its delivery log, newest message first, every attempt shown."""
    found = endpoint_of(request)
    messages = await webhook_routes.messages_to(
        query_context(request), found, webhook_routes.LogQuery()
    )
    return await render(request, "webhook.html", {
        "endpoint": webhook_routes.endpoint_view(found), "messages": messages,
        "types": _webhook_types(),
    })


async def supporter_invitation(request: web.Request) -> web.Response:
    return await render(request, "supporter_invitation.html", {
        "token": request.match_info["token"],
    })


def _webhook_types() -> dict[str, str]:
    """Each webhook type and what it means, in the catalogue's order."""
    return {entry.type: entry.meaning for entry in webhook_routes.catalogue()}


PAGES: tuple[Page, ...] = (
    ("GET", "/account", account),
    ("POST", "/account/tokens/{token_id}/revoke", account_routes.revoke_token),
    # The API's PUT, for a form: choosing the time zone the pages show times in.
    ("POST", "/account/time-zone", account_routes.set_time_zone),
    ("GET", "/account/erase", erase),
    ("POST", "/account/erase", erasure_routes.erase_my_account),
    ("GET", "/account/webhooks", webhooks),
    ("GET", "/account/webhooks/{endpoint_id}", webhook),
    ("POST", "/account/webhooks/{endpoint_id}/delete", webhook_routes.delete_endpoint),
    # The API's PATCH, for a form: turning a paused endpoint on again (``enabled=true``).
    ("POST", "/account/webhooks/{endpoint_id}/change", webhook_routes.change_endpoint),
    ("GET", "/supporter-invitations/{token}", supporter_invitation),
)
