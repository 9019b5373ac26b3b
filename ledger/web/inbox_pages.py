"""My inbox: everything that awaits me across my polycules, each thing linking to the page
where it is done, and kept current by the live stream of all my polycules."""

from __future__ import annotations

from aiohttp import web

from ledger.http import inbox_routes, polycule_routes
from ledger.http.authorization import caller_of
from ledger.http.context import query_context
from ledger.web.disclosure_pages import KIND_NAMES
from ledger.web.reading import Page
from ledger.web.rendering import render


async def inbox(request: web.Request) -> web.Response:
    context, me = query_context(request), caller_of(request)
    waiting = await inbox_routes.inbox_of(context, me)
    polycules = await polycule_routes.polycules_of(context, me)
    return await render(request, "inbox.html", {
        "inbox": waiting,
        "nothing_waiting": not any(things for _, things in waiting),
        "polycule_names": {polycule.id: polycule.name for polycule in polycules},
        "kinds": KIND_NAMES,
        "live_url": "/api/me/live",
    })


PAGES: tuple[Page, ...] = (
    ("GET", "/inbox", inbox),
)
