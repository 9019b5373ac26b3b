"""My polycules, a polycule's home, and proposing (a proposal's own page, where it is
answered and talked about, is ledger/web/agreement_pages.py's).

Every page asks the API's own queries (ledger/web/reading.py); every form posts to the API.
"""

from __future__ import annotations

from aiohttp import web

from ledger.domain.agreements import CATEGORIES
from ledger.http import agreement_routes, past_routes, polycule_routes, repair_routes
from ledger.http.agreement_shapes import AgreementView, ProposalView
from ledger.http.authorization import caller_of, polycule_of
from ledger.http.context import query_context
from ledger.http.parsing import named_id
from ledger.web.reading import Page, everyone_named, polycule_context
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
    context, account_id = query_context(request), caller_of(request)
    polycules = await polycule_routes.polycules_of(context, account_id)
    return await render(request, "polycules.html", {
        "polycules": polycules, "live_url": "/api/me/live",
        # A supporter belongs to no polycule: this is their way back to what they read.
        "supported": await repair_routes.supported_repairs(context, account_id),
    })


async def home(request: web.Request) -> web.Response:
    common = await polycule_context(request)
    context, polycule_id = query_context(request), common.polycule.id
    agreements = await agreement_routes.agreements_in_force(context, polycule_id)
    proposals = await agreement_routes.open_proposals(context, polycule_id)
    past = await past_routes.past_of(context, polycule_id)
    me = common.me_id
    return await render(request, "polycule.html", {
        **common.template_values(),
        "agreements": agreements,
        "past": past,
        # What is past may name someone who has since left.
        "names": await everyone_named(request),
        "awaiting_me": [p for p in proposals if me in p.awaiting],
        "other_proposals": [p for p in proposals if me not in p.awaiting],
        "categories": CATEGORY_NAMES,
        "live_url": live_url(request),
    })


async def propose(request: web.Request) -> web.Response:
    """A new agreement; with ``?agreement=``, an amendment of it; with ``&end=1`` too,
    a proposal to end it; with ``?revise=``, a new wording of my own open proposal; with
    ``?again=``, a closed proposal (one that someone said no to) asked again, its wording
    and its people filled in to be changed."""
    common = await polycule_context(request)
    context, polycule_id = query_context(request), common.polycule.id
    agreement: AgreementView | None = None
    revising: ProposalView | None = None
    again: ProposalView | None = None
    if "revise" in request.query:
        revising = await agreement_routes.one_proposal(
            context, polycule_id, named_id(request.query["revise"], "proposal")
        )
    elif "again" in request.query:
        again = await agreement_routes.one_proposal(
            context, polycule_id, named_id(request.query["again"], "proposal")
        )
    earlier = revising or again
    if earlier is not None:
        agreement_id = earlier.agreement_id if earlier.kind != "create" else None
    else:
        asked = request.query.get("agreement")
        agreement_id = named_id(asked, "agreement") if asked else None
    if agreement_id is not None:
        agreement = await agreement_routes.one_agreement(context, polycule_id, agreement_id)
    kind = (
        "revise" if revising
        else "create" if agreement is None
        else "end" if request.query.get("end") or (again and again.kind == "end")
        else "amend"
    )
    return await render(request, "propose.html", {
        **common.template_values(),
        "kind": kind,
        "agreement": agreement,
        "revising": revising,
        "again": again,
        "categories": CATEGORY_NAMES,
        "category_order": CATEGORIES,
    })


PAGES: tuple[Page, ...] = (
    ("GET", "/polycules", my_polycules),
    ("GET", "/polycules/{polycule_id}", home),
    ("GET", "/polycules/{polycule_id}/propose", propose),
)
