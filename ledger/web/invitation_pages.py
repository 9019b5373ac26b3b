"""Invitations in the web client: the invitations of a polycule not yet used (who made each,
when, until when), each of which a member may revoke, and the page a link opens for the
person invited, naming whose polycule it is and who sent it.

Making one posts to the API (``answer=shown-once``) and is answered with a redirect to the
page that shows its link once (ledger/web/shown_once.py).
"""

from __future__ import annotations

from aiohttp import web

from ledger.http import polycule_routes
from ledger.http.authorization import polycule_of
from ledger.http.context import query_context
from ledger.web.reading import Page, polycule_context
from ledger.web.rendering import render


async def invitations(request: web.Request) -> web.Response:
    common = await polycule_context(request)
    outstanding = await polycule_routes.outstanding_invitations(
        query_context(request), polycule_of(request)
    )
    return await render(request, "invitations.html", {
        **common.template_values(), "invitations": outstanding,
    })


async def invitation(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    shown = await polycule_routes.invitation_shown(query_context(request), token)
    return await render(request, "invitation.html", {"token": token, "invitation": shown})


PAGES: tuple[Page, ...] = (
    ("GET", "/invitations/{token}", invitation),
    ("GET", "/polycules/{polycule_id}/invitations", invitations),
)
