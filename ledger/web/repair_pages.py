"""Breaches and their repair: the breaches I may see with a form to tell of one, and one
breach's page with its repair — the timeline, the steps each person may take in their role,
the commitments and how they are kept, and each participant's trust over time as a chart.

Every page asks the API's own queries (ledger/web/reading.py); every form posts to the API.
Who sees the repair on a breach's page is the policy's REPAIR_READER rule, asked here and
decided there; which proposals its form offers to link as new boundaries is the domain's
answer (``boundaries_to_link``, ledger/domain/repair.py), asked the same way. A supporter
reads the breach and its repair and nothing else of the polycule: their page is drawn from
those two answers alone, with no form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from aiohttp import web

from ledger.auth import policy
from ledger.domain.repair import boundaries_to_link
from ledger.http import agreement_routes, repair_routes
from ledger.http.agreement_shapes import AgreementView, ProposalView
from ledger.http.authorization import caller_of, polycule_of
from ledger.http.context import query_context
from ledger.http.identity import identity_of
from ledger.http.keys import CLOCK
from ledger.http.parsing import path_id
from ledger.http.repair_shapes import BreachView, RepairHistoryView
from ledger.web import polycule_pages
from ledger.web.reading import Page, polycule_context
from ledger.web.rendering import reader_zone, render
from ledger.web.trust_chart import Chart, CheckIn, Line, Setback, day_label, trust_chart

# What the ledger records on its own, as time passes: folded under the people's own steps.
LEDGER_STEPS = frozenset({"CommitmentFellDue"})
DECISIONS = {
    "rebuild": "rebuild",
    "take_space": "take some space",
    "end_relationship": "end the relationship",
}
FACTORS = {
    "fuzzy_agreement": "The agreement was fuzzy",
    "could_not_renegotiate": "We could not renegotiate it in time",
    "communication_or_fear": "Communication, or fear",
    "day_to_day_reliability": "Day-to-day reliability",
    "substance_use": "Substance use",
    "other": "Something else",
}
# How often a commitment comes round: days between occurrences ("" for once).
CADENCES = (("", "Once"), ("1", "Every day"), ("7", "Every week"), ("14", "Every two weeks"),
            ("30", "Every month"))
# How far ahead a commitment's first occurrence may be chosen, in days.
FIRST_DUE_WITHIN = 28
FIRST_DUE_DEFAULT = 7


async def breaches(request: web.Request) -> web.Response:
    common = await polycule_context(request)
    me = common.me_id
    found = polycule_of(request)
    shown = await repair_routes.readable_breaches(query_context(request), found)
    in_force = await agreement_routes.agreements_in_force(query_context(request), found.polycule_id)
    mine = [agreement for agreement in in_force if me in agreement.parties]
    sharing = {party for agreement in mine for party in agreement.parties} - {me}
    return await render(request, "breaches.html", {
        **common.template_values(),
        "breaches": shown,
        "titles": await _titles(request, in_force, {b.agreement_id for b in shown}),
        "agreements": mine,
        "others": [m for m in common.members if m.member_id in sharing],
        "live_url": polycule_pages.live_url(request),
    })


async def breach(request: web.Request) -> web.Response:
    found = polycule_of(request)
    identity = identity_of(request)
    account_id = identity.account_id if identity else None
    breach_id = path_id(request, "breach_id", "breach")
    shown = await repair_routes.one_breach(query_context(request), found.polycule_id, breach_id)
    repair = None
    if policy.may(policy.Rule.REPAIR_READER, "GET", account_id, found.state, request.match_info):
        repair = await repair_routes.repair_history(query_context(request), found, breach_id)
    member = policy.may(
        policy.Rule.POLYCULE_MEMBER, "GET", account_id, found.state, request.match_info
    )
    page: dict[str, Any] = {
        "breach": shown,
        "repair": repair,
        "polycule_id": found.polycule_id,
        "supporting": not member,
        "decisions": DECISIONS,
        "factors": FACTORS,
    }
    if member:
        page |= await _as_member(request, shown, repair)
    else:
        page |= {
            "polycule": None, "agreement": None, "crossed": None, "names": {},
            "me_id": found.member_id,
        }
    page["names"] = {**(repair.names if repair else {}), **page["names"]}
    if repair is not None:
        page |= _repair_parts(repair, page["names"], page["me_id"])
    return await render(request, "breach.html", page)


async def _as_member(
    request: web.Request, shown: BreachView, repair: RepairHistoryView | None
) -> dict[str, Any]:
    """What a member's page adds to a supporter's: the polycule, the agreement, the forms'
    choices, and the live stream (which is for members only)."""
    common = await polycule_context(request)
    polycule_id = common.polycule.id
    agreement = await agreement_routes.one_agreement(
        query_context(request), polycule_id, shown.agreement_id
    )
    proposals: list[ProposalView] = []
    if repair is not None:
        linkable = _boundaries_to_link(request, shown.breach_id)
        open_now = await agreement_routes.open_proposals(query_context(request), polycule_id)
        proposals = [
            proposal for proposal in open_now if proposal.proposal_id in linkable
        ]
    history = await agreement_routes.history_of(
        query_context(request), polycule_id, shown.agreement_id
    )
    crossed = next((v for v in history.versions if v.version == shown.version), None)
    return {
        **common.template_values(),
        "agreement": agreement,
        # The words as they stood when it happened, shown beside each account of it.
        "crossed": crossed,
        "not_yet_told": [m for m in common.members if m.member_id not in shown.audience],
        "proposals": proposals,
        "cadences": CADENCES,
        "due_days": _days_ahead(request.app[CLOCK].now(), await reader_zone(request)),
        "live_url": polycule_pages.live_url(request),
    }


def _boundaries_to_link(request: web.Request, breach_id: UUID) -> set[UUID]:
    """The proposals the domain would link as this repair's new boundaries (made during
    it, by a participant, not to end an agreement, not linked yet): its answer, not ours."""
    state = polycule_of(request).state
    breach = state.breaches.items[breach_id]
    return set(boundaries_to_link(breach, state.agreements))


def _repair_parts(
    repair: RepairHistoryView, names: Mapping[UUID, str], me: UUID
) -> dict[str, Any]:
    breach = repair.breach
    restored_by = {step.member_id for step in repair.timeline if step.what == "RestorationChosen"}
    return {
        "chart": _chart(repair, names),
        "is_breaching": me == breach.breached_by,
        "is_harmed": me in breach.harmed,
        "restoration_chosen": me in restored_by,
        "repair_path": repair_path(repair, names, me),
        "people_steps": [s for s in repair.timeline if s.what not in LEDGER_STEPS],
        "ledger_steps": [s for s in repair.timeline if s.what in LEDGER_STEPS],
    }


@dataclass(frozen=True)
class PathStep:
    """A step of the suggested path through a repair, done or not yet."""

    what: str
    # Whose step it is, as the page says it ("you", "Robin", "anyone in the repair").
    whose: str
    done: bool


def repair_path(repair: RepairHistoryView, names: Mapping[UUID, str], me: UUID) -> list[PathStep]:
    """The repair's steps in a gentle suggested order — the order repair often takes, never
    a rule — each marked done or not yet from what the history holds."""
    breach = repair.breach
    taken: dict[str, set[UUID | None]] = {}
    for step in repair.timeline:
        taken.setdefault(step.what, set()).add(step.member_id)

    def name(member: UUID) -> str:
        return "you" if member == me else names.get(member, "a former member")

    breaching = name(breach.breached_by)
    path = [
        PathStep("Saying how they see it: acknowledged, or another account", breaching,
                 breach.status != "reported" or breach.self_reported),
        PathStep("Taking responsibility, without excuses", breaching,
                 "ResponsibilityTaken" in taken),
    ]
    path += [
        PathStep("Sharing how it landed", name(member),
                 member in taken.get("ImpactShared", set()))
        for member in breach.harmed
    ]
    path.append(PathStep("Apologising", breaching, "ApologyMade" in taken))
    path += [
        PathStep("Saying what they want now: rebuild, take space, or end it", name(member),
                 member in repair.current_decisions)
        for member in breach.harmed
    ]
    path += [
        PathStep("Naming what led here", "anyone in the repair", bool(repair.factors)),
        PathStep("Addressing what was named", "anyone in the repair",
                 bool(repair.factors) and repair.factors_open == 0),
        PathStep("Agreeing a new boundary, with what happens if it is crossed",
                 "anyone in the repair", bool(repair.boundaries)),
        PathStep("Making commitments, and keeping them", breaching, bool(repair.commitments)),
        PathStep("Checking in on how trust feels, again and again", "each person",
                 "CheckInRecorded" in taken),
    ]
    return path


def _chart(repair: RepairHistoryView, names: Mapping[UUID, str]) -> Chart:
    """Each participant's check-ins, with the repair's setbacks: check-ins marked as one and
    commitment occurrences missed (at the moment each was due)."""
    lines = [
        Line(names.get(line.member_id, "a former member"), [
            CheckIn(point.at, point.trust, point.setback, point.private)
            for point in line.points
        ])
        for line in repair.trust
    ]
    setbacks = [
        Setback(check_in.at, "setback", f"{line.name} noted a setback on "
                f"{day_label(check_in.at)}")
        for line in lines for check_in in line.check_ins if check_in.setback
    ] + [
        Setback(mark.due_at, "missed", f"Missed on {day_label(mark.due_at)}"
                f": “{commitment.what}”")
        for commitment in repair.commitments for mark in commitment.marks
        if mark.mark == "missed"
    ]
    return trust_chart(lines, setbacks)


async def _titles(
    request: web.Request, in_force: list[AgreementView], named: set[UUID]
) -> dict[UUID, str]:
    """The title of each agreement a breach names, ended ones included."""
    titles = {a.agreement_id: a.text.title for a in in_force}
    polycule_id = polycule_of(request).polycule_id
    for agreement_id in named - titles.keys():
        ended = await agreement_routes.one_agreement(
            query_context(request), polycule_id, agreement_id
        )
        titles[agreement_id] = ended.text.title
    return titles


def _days_ahead(now: datetime, zone: ZoneInfo) -> list[tuple[str, str, bool]]:
    """When a commitment is first due: (value, label, chosen), each day of the next four
    weeks, due by the end of that day where the reader is (their time zone)."""
    today = now.astimezone(zone).date()
    choices = []
    for ahead in range(FIRST_DUE_WITHIN + 1):
        day = today + timedelta(days=ahead)
        due = datetime.combine(day, time(23, 59), zone)
        named = f"{day:%A} {day.day} {day:%B}"
        label = {0: f"Today ({named})", 1: f"Tomorrow ({named})"}.get(ahead, named)
        choices.append((due.isoformat(), label, ahead == FIRST_DUE_DEFAULT))
    return choices


async def supporting(request: web.Request) -> web.Response:
    """The repairs I support: a supporter belongs to no polycule, and comes back here."""
    supported = await repair_routes.supported_repairs(query_context(request), caller_of(request))
    return await render(request, "supporting.html", {"supported": supported})


PAGES: tuple[Page, ...] = (
    ("GET", "/supporting", supporting),
    ("GET", "/polycules/{polycule_id}/breaches", breaches),
    ("GET", "/polycules/{polycule_id}/breaches/{breach_id}", breach),
)
