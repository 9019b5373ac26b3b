"""My inbox: everything that awaits me across my polycules, each thing linking to the page
where it is done, and kept current by the live stream of all my polycules."""

from __future__ import annotations

from aiohttp import web

from ledger.http import inbox_routes, polycule_routes
from ledger.web.disclosure_pages import KIND_NAMES
from ledger.web.reading import Page, api_data
from ledger.web.rendering import render


async def inbox(request: web.Request) -> web.Response:
    waiting = await api_data(request, inbox_routes.my_inbox)
    polycules = await api_data(request, polycule_routes.my_polycules)
    return await render(request, "inbox.html", {
        "inbox": waiting,
        "nothing_waiting": not any(waiting.values()),
        "polycule_names": {polycule["id"]: polycule["name"] for polycule in polycules},
        "kinds": KIND_NAMES,
        "live_url": "/api/me/live",
    })


PAGES: tuple[Page, ...] = (
    ("GET", "/inbox", inbox),
)
