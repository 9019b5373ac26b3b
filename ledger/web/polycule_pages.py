"""My polycules, a polycule's home, joining by invitation, proposing and answering.

Every page reads the API's own views (ledger/web/reading.py); every form posts to the API.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ledger.domain.agreements import CATEGORIES
from ledger.http import agreement_routes, polycule_routes
from ledger.http.authorization import polycule_of
from ledger.web.reading import Page, api_data, polycule_context
from ledger.web.rendering import render

CATEGORY_NAMES = {
    "sexual_health": "Sexual health",
    "disclosure": "Disclosure",
    "time": "Time together",
    "commitments": "Commitments",
    "other": "Other",
}


def live_url(request: web.Request) -> str:
    """The stream that keeps a polycule's page current, from the version it was drawn at."""
    found = polycule_of(request)
    return f"/api/polycules/{found.polycule_id}/live?after={found.version}"


async def my_polycules(request: web.Request) -> web.Response:
    polycules = await api_data(request, polycule_routes.my_polycules)
    return await render(request, "polycules.html", {
        "polycules": polycules, "live_url": "/api/me/live",
    })


async def invitation(request: web.Request) -> web.Response:
    return await render(request, "invitation.html", {"token": request.match_info["token"]})


async def home(request: web.Request) -> web.Response:
    context = await polycule_context(request)
    agreements = await api_data(request, agreement_routes.list_agreements, {})
    proposals = [answered(p) for p in await api_data(request, agreement_routes.list_proposals)]
    me = context["me_id"]
    return await render(request, "polycule.html", {
        **context,
        "agreements": agreements,
        "awaiting_me": [p for p in proposals if me in p["awaiting"]],
        "other_proposals": [p for p in proposals if me not in p["awaiting"]],
        "categories": CATEGORY_NAMES,
        "live_url": live_url(request),
    })


def answered(proposal: dict[str, Any]) -> dict[str, Any]:
    """The proposal with each member's current answer, by member, as its card shows them."""
    by_member = {response["member_id"]: response for response in proposal["responses"]}
    return {**proposal, "answered": by_member}


async def propose(request: web.Request) -> web.Response:
    """A new agreement; with ``?agreement=``, an amendment of it; with ``&end=1`` too,
    a proposal to end it; with ``?revise=``, a new wording of my own open proposal."""
    context = await polycule_context(request)
    agreement: dict[str, Any] | None = None
    revising: dict[str, Any] | None = None
    if "revise" in request.query:
        named = {"proposal_id": request.query["revise"]}
        revising = await api_data(request, agreement_routes.show_proposal, path=named)
    agreement_id = revising["agreement_id"] if revising else request.query.get("agreement")
    if agreement_id and (revising is None or revising["kind"] == "amend"):
        named = {"agreement_id": agreement_id}
        agreement = await api_data(request, agreement_routes.show_agreement, path=named)
    kind = (
        "revise" if revising
        else "create" if agreement is None
        else "end" if request.query.get("end")
        else "amend"
    )
    return await render(request, "propose.html", {
        **context,
        "kind": kind,
        "agreement": agreement,
        "revising": revising,
        "categories": CATEGORY_NAMES,
        "category_order": CATEGORIES,
    })


async def proposal(request: web.Request) -> web.Response:
    context = await polycule_context(request)
    shown = await api_data(request, agreement_routes.show_proposal)
    agreement = None
    if shown["kind"] != "create":
        agreement = await api_data(
            request, agreement_routes.show_agreement, path={"agreement_id": shown["agreement_id"]}
        )
    return await render(request, "proposal.html", {
        **context,
        "proposal": answered(shown),
        "agreement": agreement,
        "categories": CATEGORY_NAMES,
        "live_url": live_url(request),
    })


PAGES: tuple[Page, ...] = (
    ("GET", "/polycules", my_polycules),
    ("GET", "/invitations/{token}", invitation),
    ("GET", "/polycules/{polycule_id}", home),
    ("GET", "/polycules/{polycule_id}/propose", propose),
    ("GET", "/polycules/{polycule_id}/proposals/{proposal_id}", proposal),
)
