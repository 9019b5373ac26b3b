"""Disclosures: what I told and what I was told, telling something to the people I choose
(seeing exactly who will read it before I send it), and one disclosure with who has
acknowledged it.

Who would read a disclosure is the API's answer (its preview view), never the page's own
sum: with script, audience.js asks the API as the picker changes; without, the picker's
second button sends it here as a query and this page asks the same view.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from aiohttp.streams import StreamReader

from ledger.auth import policy
from ledger.errors import InvalidInput
from ledger.http import agreement_routes, disclosure_routes, polycule_routes
from ledger.http.authorization import polycule_of
from ledger.web import polycule_pages
from ledger.web.reading import Page, api_data, polycule_context
from ledger.web.rendering import render

KIND_NAMES = {
    "new_connection": "A new connection",
    "sexual_health_result": "A sexual health result",
    "feelings": "Feelings",
    "boundary_change": "A change of boundary",
    "other": "Something else",
}
# The fields of the form to write one, as its preview sends them back in the query.
_DRAFT_FIELDS = ("kind", "text", "fulfils_agreement_id", "corrects_disclosure_id")


async def disclosures(request: web.Request) -> web.Response:
    context = await polycule_context(request)
    me = context["me_id"]
    # The page's own query is the form's draft, not a question for these views.
    shown = await api_data(request, disclosure_routes.list_disclosures, {})
    agreements = await api_data(request, agreement_routes.list_agreements, {})
    draft = await _draft(request)
    return await render(request, "disclosures.html", {
        **context,
        "names": await everyone_named(request),
        "disclosures": shown,
        "kinds": KIND_NAMES,
        "my_agreements": [a for a in agreements if me in a["parties"]],
        "others": [m for m in context["members"] if m["member_id"] != me],
        "draft": draft,
        "preview": await _preview(request, draft) if draft["previewing"] else None,
        "live_url": polycule_pages.live_url(request),
    })


async def disclosure(request: web.Request) -> web.Response:
    context = await polycule_context(request)
    shown = await api_data(request, disclosure_routes.show_disclosure)
    agreement = None
    if shown["fulfils_agreement_id"]:
        agreement = await api_data(
            request, agreement_routes.show_agreement,
            path={"agreement_id": shown["fulfils_agreement_id"]},
        )
    corrected = shown["corrects_disclosure_id"]
    return await render(request, "disclosure.html", {
        **context,
        "names": await everyone_named(request),
        "disclosure": shown,
        "kinds": KIND_NAMES,
        "acknowledged": {item["member_id"]: item["at"] for item in shown["acknowledgements"]},
        "agreement": agreement,
        "may_read_corrected": bool(corrected) and _may_read(request, corrected),
        "live_url": polycule_pages.live_url(request),
    })


async def _draft(request: web.Request) -> dict[str, Any]:
    """What the form holds: as the preview button sent it back, or, for a correction, the
    audience of the disclosure it corrects."""
    query = request.query
    draft: dict[str, Any] = {name: query.get(name, "") for name in _DRAFT_FIELDS}
    draft["previewing"] = "audience" in query
    draft["audience"] = query.get("audience", "chosen")
    draft["recipients"] = query.getall("recipients[]", [])
    corrects = draft["corrects_disclosure_id"]
    draft["corrects"] = None
    if corrects and _may_read(request, corrects):
        draft["corrects"] = await api_data(
            request, disclosure_routes.show_disclosure, {}, path={"disclosure_id": corrects}
        )
        if not draft["previewing"]:
            draft["audience"] = draft["corrects"]["audience"]
            draft["recipients"] = draft["corrects"]["recipients"]
    return draft


async def _preview(request: web.Request, draft: dict[str, Any]) -> dict[str, Any]:
    """Who would read it, as the API's preview answers: exactly them, or why it cannot say."""
    picker = {"audience": draft["audience"], "recipients": draft["recipients"]}
    try:
        answer = await api_data(_asking_with_body(request, picker), disclosure_routes.preview_audience)
    except InvalidInput as refused:
        return {"problem": refused.message, "who_will_see": []}
    return {"problem": None, "who_will_see": answer["who_will_see"]}


def _asking_with_body(request: web.Request, document: dict[str, Any]) -> web.Request:
    """This request as the script's would reach the API's view: a POST with ``document``
    as its JSON body (a page is a GET, with no body of its own to give the view)."""
    asked = request.clone(method="POST", headers={"Content-Type": "application/json"})
    body = StreamReader(request.protocol, limit=2**16, loop=asyncio.get_running_loop())
    body.feed_data(orjson.dumps(document))
    body.feed_eof()
    asked._payload = body  # aiohttp has no public way
    return asked


def _may_read(request: web.Request, disclosure_id: str) -> bool:
    """Whether the member looking is in that disclosure's audience (the policy's rule)."""
    found = polycule_of(request)
    path = {"polycule_id": str(found.polycule_id), "disclosure_id": disclosure_id}
    return policy.may(
        policy.Rule.DISCLOSURE_AUDIENCE, "GET", found.member_id, found.state, path
    )


async def everyone_named(request: web.Request) -> dict[str, str]:
    """Names of members past and present: a disclosure keeps naming who was told."""
    members = await api_data(request, polycule_routes.list_members, {"former": "true"})
    return {member["member_id"]: member["display_name"] for member in members}


PAGES: tuple[Page, ...] = (
    ("GET", "/polycules/{polycule_id}/disclosures", disclosures),
    ("GET", "/polycules/{polycule_id}/disclosures/{disclosure_id}", disclosure),
)
