"""The polycule's record: its chain of events as this member may read it, a page at a
time, whether every link of the chain still verifies, and the whole of it to download.

An entry the member may not read is shown as the API gives it: a place, a time and a
hash, and nothing more (ledger/http/audit_routes.py decides, by the policy's rule).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ledger import verify_export
from ledger.http import audit_routes
from ledger.http.authorization import polycule_of
from ledger.http.context import query_context
from ledger.scheduler import SCHEDULER_ACTOR
from ledger.web import polycule_pages
from ledger.web.reading import Page, everyone_named, polycule_context
from ledger.web.rendering import render

PAGE_SIZE = 50


async def record(request: web.Request) -> web.Response:
    """``?after=N`` shows the entries after entry N, as the API's events view does;
    ``?before=N`` the page of entries just before entry N; neither, the most recent."""
    common = await polycule_context(request)
    found = polycule_of(request)
    head = found.version
    after, limit = page_window(request.query.get("after"), request.query.get("before"), head)
    context = query_context(request)
    page = await audit_routes.events_page(
        context, found, audit_routes.EventsQuery(after=after, limit=limit)
    )
    verification = await audit_routes.verification(context, found.polycule_id)
    # Named as an event's metadata names its actor.
    names = {str(member): name for member, name in (await everyone_named(request)).items()}
    entries = page.events
    first = entries[0].stream_version if entries else None
    newer = page.next_after
    return await render(request, "audit.html", {
        **common.template_values(),
        "entries": [
            _described(entry, names, str(common.me_id), str(found.polycule_id))
            for entry in entries
        ],
        "older_before": first if first is not None and first > 1 else None,
        "newer_after": newer if newer is not None and newer < head else None,
        "verification": verification,
        "live_url": polycule_pages.live_url(request),
    })


def page_window(after: str | None, before: str | None, head: int) -> tuple[int, int]:
    """(after, limit) of the page asked for: whole pages that neither overlap nor skip."""
    if after is not None and after.isdigit():
        return int(after), PAGE_SIZE
    end = int(before) - 1 if before is not None and before.isdigit() else head
    end = min(max(end, 0), head)
    start = max(0, end - PAGE_SIZE)
    return start, max(1, end - start)


# What each kind of entry says, in the app's own words, after the name of who did it
# ("Ash said yes"); an outcome (OUTCOMES) says what came of it, on its own ("Agreed by
# everyone"). An entry whose kind is not here says "recorded a step" (never the raw event
# type): a new kind of event reads plainly until it is worded here.
WORDING: dict[str, str] = {
    "PolyculeFounded": "founded the polycule",
    "MemberInvited": "made an invitation",
    "MemberJoined": "joined",
    "MemberLeft": "left the polycule",
    "AgreementProposed": "proposed",
    "ProposalRevised": "reworded a proposal",
    "ConsentGiven": "said yes",
    "ObjectionRaised": "said no",
    "ProposalRejected": "Not agreed: someone said no",
    "ProposalWithdrawn": "withdrew a proposal",
    "ProposalExpired": "Expired: its deadline passed before everyone said yes",
    "ProposalLapsed": "Closed unanswered: it could no longer be answered",
    "AgreementRatified": "Agreed by everyone, and in force from then",
    "AgreementEnded": "An agreement ended",
    "ReviewBecameDue": "An agreement came due for a review",
    "ReviewRequested": "asked for a review",
    "AgreementReaffirmed": "said an agreement still works for them",
    "ReviewCompleted": "Reviewed: everyone said it still works for them",
    "DisclosureMade": "told something",
    "DisclosureAcknowledged": "acknowledged what they were told",
    "BreachReported": "told of a crossed agreement",
    "BreachAcknowledged": "acknowledged crossing an agreement",
    "BreachDisputed": "gave a different account of a crossed agreement",
    "BreachAudienceWidened": "let more members see a crossed agreement",
    "ResponsibilityTaken": "took responsibility, in a repair",
    "ImpactShared": "shared how it landed, in a repair",
    "ApologyMade": "apologised, in a repair",
    "RepairDecisionMade": "said what they want now, in a repair",
    "FactorNamed": "named something that led to a breach",
    "FactorAddressed": "marked something that led to a breach as addressed",
    "BoundaryLinked": "linked a new boundary to a repair",
    "CommitmentMade": "made a commitment, in a repair",
    "CommitmentFellDue": "A commitment came due",
    "CommitmentMarked": "marked a commitment kept or missed",
    "CheckInRecorded": "checked in on how trust feels",
    "SupporterInvited": "invited a supporter to a repair",
    "SupporterJoined": "joined a repair as its supporter",
    "RestorationChosen": "chose restoration",
    "RepairClosed": "closed a repair",
}
# What follows from someone's act rather than being one: said without a "who".
OUTCOMES = frozenset({
    "ProposalRejected", "ProposalExpired", "ProposalLapsed", "AgreementRatified",
    "AgreementEnded", "ReviewBecameDue", "ReviewCompleted", "CommitmentFellDue",
})
# What kind of proposal was made, after "Ash proposed".
PROPOSALS = {"create": "proposed", "amend": "proposed a change", "end": "proposed an ending"}
# How an ended agreement ended, after "An agreement ended".
ENDINGS = {
    "revoked": "someone withdrew their yes",
    "party_left": "someone it bound left",
    "ended_by_proposal": "everyone agreed to end it",
}


@dataclass(frozen=True)
class Described:
    """An entry of the record as the page words it."""

    stream_version: int
    recorded_at: datetime
    hash: str
    readable: bool
    # What happened, who did it, and what it is about (the words of the link and where
    # it goes); None for an entry the member may not read.
    # The sentence, without its link: "You said yes", "Agreed by everyone, …".
    what: str | None
    about: str | None = None
    link: str | None = None


def _described(
    entry: audit_routes.AuditEntry, names: dict[str, str], me_id: str, polycule_id: str
) -> Described:
    """An entry as the page words it: who did what, and a link to what it is about, for
    one the member may read; for any other, nothing beyond its place, time and hash."""
    described = Described(
        stream_version=entry.stream_version, recorded_at=entry.recorded_at, hash=entry.hash,
        readable=entry.readable, what=None,
    )
    if not entry.readable:
        return described
    actor = str((entry.metadata or {}).get("actor", ""))
    if actor == str(SCHEDULER_ACTOR):
        by = "The ledger, on schedule,"
    elif actor == me_id:
        by = "You"
    else:
        # Members past and present are named; anyone else acted from outside (a supporter).
        by = names.get(actor, "Someone outside the polycule")
    kind = entry.event_type or ""
    data = entry.data or {}
    what = WORDING.get(kind, "recorded a step")
    if kind == "AgreementProposed":
        what = PROPOSALS.get(str(data.get("kind")), what)
    if kind == "AgreementEnded" and data.get("reason") in ENDINGS:
        what = f"{what}: {ENDINGS[data['reason']]}"
    sentence = what if kind in OUTCOMES else f"{by} {what}"
    about, link = _about(kind, data, polycule_id)
    return replace(described, what=sentence, about=about, link=link)


def _about(kind: str, data: dict[str, Any], polycule_id: str) -> tuple[str | None, str | None]:
    """The words and address of what an entry is about: the agreement, proposal,
    disclosure or breach it names (the page of each asks its own rule of who may see it)."""
    home = f"/polycules/{polycule_id}"
    text = data.get("text")
    title = text.get("title") if isinstance(text, dict) else None
    if data.get("breach_id"):
        return "the breach and its repair", f"{home}/breaches/{data['breach_id']}"
    if data.get("disclosure_id"):
        return "what was told", f"{home}/disclosures/{data['disclosure_id']}"
    if data.get("agreement_id") and kind != "AgreementProposed":
        return "the agreement", f"{home}/agreements/{data['agreement_id']}"
    if data.get("proposal_id"):
        words = f"“{title}”" if title else "the proposal"
        return words, f"{home}/proposals/{data['proposal_id']}"
    return None, None


@functools.cache
def _verifier_source() -> bytes:
    return Path(verify_export.__file__).read_bytes()  # a few kilobytes, read once


async def offline_verifier(request: web.Request) -> web.Response:
    """The single-file verifier, to run on one's own computer (it needs only Python and the
    ``cryptography`` package): the very file the service's own command runs."""
    return web.Response(
        body=_verifier_source(),
        content_type="text/x-python",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="verify_export.py"'},
    )


PAGES: tuple[Page, ...] = (
    ("GET", "/polycules/{polycule_id}/audit", record),
    ("GET", "/verify_export.py", offline_verifier),
)
