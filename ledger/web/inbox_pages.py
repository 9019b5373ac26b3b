"""My inbox: everything that awaits me and that concerns me across my polycules, newest
first, each entry saying who and why and opening (and so marking read) the page where it is
taken up; kept current by the live stream of all my polycules.

The unread count in every page's header is asked by ledger/web/rendering.py
(``inbox_routes.unread_of``, which opens nobody's words).
"""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from ledger.http import inbox_routes, names, polycule_routes
from ledger.http.authorization import caller_of
from ledger.http.context import query_context
from ledger.web.disclosure_pages import KIND_NAMES
from ledger.web.reading import Page
from ledger.web.rendering import render

# How an agreement ended, after "ended it: ".
ENDED_HOW = {
    "revoked": "they took back their consent",
    "party_left": "they left the polycule",
    "ended_by_proposal": "they proposed ending it and every party agreed",
}
# Why an entry concerns me, as a sentence.
WHY = {
    "you_are_named": "It names you as the one who crossed it.",
    "you_are_harmed": "You are among those it harmed.",
    "shown_to_you": "It was shown to you.",
    "you_told_it": "You told of this breach.",
    "you_were_a_party": "You were a party to it.",
    "you_are_a_party": "You are a party to it.",
    "you_made_it": "You made this commitment.",
    "you_support_it": "You support this repair.",
    "you_were_told": "It was told to you.",
    "your_endpoint": "It is your webhook endpoint.",
    "you_take_part": "You take part in this repair.",
}


async def inbox(request: web.Request) -> web.Response:
    context, me = query_context(request), caller_of(request)
    waiting = await inbox_routes.inbox_of(context, me)
    polycules = await polycule_routes.polycules_of(context, me)
    people: dict[UUID, dict[UUID, str]] = {}
    for polycule_id in {entry.polycule_id for entry in waiting.entries}:
        if polycule_id is not None:
            people[polycule_id] = await names.member_names(context, polycule_id)
    return await render(request, "inbox.html", {
        "inbox": waiting,
        "people": people,
        "unnamed": names.UNNAMED,
        "polycule_names": {polycule.id: polycule.name for polycule in polycules},
        "kinds": KIND_NAMES,
        "ended_how": ENDED_HOW,
        "why": WHY,
        "live_url": "/api/me/live",
    })


PAGES: tuple[Page, ...] = (
    ("GET", "/inbox", inbox),
)
