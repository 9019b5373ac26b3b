"""Disclosures: what I told and what I was told, telling something to the people I choose
(seeing exactly who will read it before I send it), and one disclosure with who has
acknowledged it.

Who would read a disclosure is the API's answer (``disclosure_routes.audience_preview``),
never the page's own sum: with script, audience.js asks the API's preview route as the
picker changes; without, the picker's second button posts the draft back to this page
(never into its address: a draft is private), which asks the same function and shows the
draft again with the answer. Nothing is sent until the form's own button is pressed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from pydantic import ValidationError

from ledger.auth import policy
from ledger.errors import InvalidInput
from ledger.http import agreement_routes, disclosure_routes
from ledger.http.authorization import polycule_of
from ledger.http.context import query_context
from ledger.http.names import member_names
from ledger.http.parsing import named_id, path_id
from ledger.web import polycule_pages
from ledger.web.reading import Page, everyone_named, polycule_context
from ledger.web.rendering import render

KIND_NAMES = {
    "new_connection": "A new connection",
    "sexual_health_result": "A sexual health result",
    "feelings": "Feelings",
    "boundary_change": "A change of boundary",
    "other": "Something else",
}
# The fields of the form to write one, as its preview button posts them back.
_DRAFT_FIELDS = ("kind", "text", "fulfils_agreement_id", "corrects_disclosure_id")


async def disclosures(request: web.Request) -> web.Response:
    common = await polycule_context(request)
    me = common.me_id
    context, found = query_context(request), polycule_of(request)
    shown = await disclosure_routes.readable_disclosures(context, found)
    agreements = await agreement_routes.agreements_in_force(context, found.polycule_id)
    draft = await _draft(request)
    return await render(request, "disclosures.html", {
        **common.template_values(),
        "names": await everyone_named(request),
        "disclosures": shown,
        "kinds": KIND_NAMES,
        "my_agreements": [a for a in agreements if me in a.parties],
        "others": [m for m in common.members if m.member_id != me],
        "draft": draft,
        "preview": await _preview(request, draft) if draft["previewing"] else None,
        "live_url": polycule_pages.live_url(request),
    })


async def disclosure(request: web.Request) -> web.Response:
    common = await polycule_context(request)
    context, polycule_id = query_context(request), common.polycule.id
    shown = await disclosure_routes.one_disclosure(
        context, polycule_id, path_id(request, "disclosure_id", "disclosure")
    )
    agreement = None
    if shown.fulfils_agreement_id:
        agreement = await agreement_routes.one_agreement(
            context, polycule_id, shown.fulfils_agreement_id
        )
    corrected = shown.corrects_disclosure_id
    return await render(request, "disclosure.html", {
        **common.template_values(),
        "names": await everyone_named(request),
        "disclosure": shown,
        "kinds": KIND_NAMES,
        "acknowledged": {item.member_id: item.at for item in shown.acknowledgements},
        "agreement": agreement,
        "may_read_corrected": corrected is not None and _may_read(request, str(corrected)),
        "live_url": polycule_pages.live_url(request),
    })


async def _draft(request: web.Request) -> dict[str, Any]:
    """What the form holds: as the preview button posted it back, or, for a correction
    (``?corrects_disclosure_id=``), the audience of the disclosure it corrects."""
    previewing = request.method == "POST"
    posted = await request.post() if previewing else MultiDictProxy(MultiDict[str]())
    draft: dict[str, Any] = {name: str(posted.get(name, "")) for name in _DRAFT_FIELDS}
    draft["previewing"] = previewing
    draft["audience"] = str(posted.get("audience", "")) or "chosen"
    draft["recipients"] = [str(value) for value in posted.getall("recipients[]", [])]
    corrects = draft["corrects_disclosure_id"] or request.query.get("corrects_disclosure_id", "")
    draft["corrects_disclosure_id"] = corrects
    draft["corrects"] = None
    if corrects and _may_read(request, corrects):
        corrected = await disclosure_routes.one_disclosure(
            query_context(request), polycule_of(request).polycule_id,
            named_id(corrects, "disclosure"),
        )
        draft["corrects"] = corrected
        if not draft["previewing"]:
            draft["audience"] = corrected.audience
            # As the form would post them back.
            draft["recipients"] = [str(member) for member in corrected.recipients]
    return draft


async def _preview(request: web.Request, draft: dict[str, Any]) -> dict[str, Any]:
    """Who would read it, as the API answers: exactly them, or why it cannot say."""
    picker = {"audience": draft["audience"], "recipients": draft["recipients"]}
    try:
        question = disclosure_routes.AudienceQuestion.model_validate(picker)
        found = polycule_of(request)
        answer = disclosure_routes.audience_preview(
            found, question, await member_names(query_context(request), found.polycule_id)
        )
    except InvalidInput as refused:
        return {"problem": refused.message, "who_will_see": []}
    except ValidationError:
        return {"problem": "choose who to tell", "who_will_see": []}
    return {"problem": None, "who_will_see": answer.who_will_see}


def _may_read(request: web.Request, disclosure_id: str) -> bool:
    """Whether the member looking is in that disclosure's audience (the policy's rule)."""
    found = polycule_of(request)
    path = {"polycule_id": str(found.polycule_id), "disclosure_id": disclosure_id}
    return policy.may(
        policy.Rule.DISCLOSURE_AUDIENCE, "GET", found.member_id, found.state, path
    )


PAGES: tuple[Page, ...] = (
    ("GET", "/polycules/{polycule_id}/disclosures", disclosures),
    # The preview without script: the draft comes back in the body, and nothing is sent.
    ("POST", "/polycules/{polycule_id}/disclosures", disclosures),
    ("GET", "/polycules/{polycule_id}/disclosures/{disclosure_id}", disclosure),
)
