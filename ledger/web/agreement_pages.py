"""An agreement's page: what it says and where it stands, what its parties can do about it
now (reaffirm it, ask to look at it again, propose a change, withdraw their consent), its
whole history, and which version was in force at a moment a member asks about (in their
own time zone). And a proposal's page: its wording, what that changes word by word where
people answer it, the answers and the questions and comments about it in the order they
came, and a word to say that what someone just did went through.

Everything shown is the API's answer to the same member (ledger/web/reading.py); every
form posts to the API's own route for that action.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from uuid import UUID
from zoneinfo import ZoneInfo

from aiohttp import web

from ledger.http import agreement_routes
from ledger.http.agreement_shapes import (
    CommentView,
    DiffView,
    ProposalHistoryView,
    ProposalView,
    ResponseView,
    TextChanges,
    TimelineView,
    VersionView,
    version_diff,
)
from ledger.http.authorization import polycule_of
from ledger.http.context import query_context
from ledger.http.keys import CLOCK
from ledger.http.parsing import path_id
from ledger.privacy import ERASED
from ledger.web import polycule_pages
from ledger.web.reading import Page, everyone_named, polycule_context
from ledger.web.rendering import reader_zone, render

# The date-and-time field's value, or a day alone (then its end); anything else typed into
# ?on= is not read as a moment at all.
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?")
# What settles a review: every party reaffirmed it, or a new version came into force.
_REVIEW_SETTLED = frozenset({"ReviewCompleted", "AgreementRatified"})


AGREEMENT_DONE = {
    "reaffirmed": "Your reaffirmation is recorded: it still works for you.",
    "review": "Your request to look at it again is recorded, and everyone it binds is told.",
    "revoked": "Your consent is withdrawn: the agreement has ended from this moment.",
}


@dataclass(frozen=True)
class MomentAsked:
    """The answer to "what was in force at…": the moment as typed (read in the reader's
    time zone; a day alone means its end), and what held then."""

    typed: str
    moment: datetime | None = None
    problem: str | None = None
    still_to_come: bool = False
    # This agreement's version in force at that moment, if it was in force.
    version: VersionView | None = None


async def agreement(request: web.Request) -> web.Response:
    common = await polycule_context(request)
    history = await agreement_routes.history_of(
        query_context(request), common.polycule.id,
        path_id(request, "agreement_id", "agreement"),
    )
    shown = history.agreement
    versions = history.versions
    return await render(request, "agreement.html", {
        **common.template_values(),
        # The history names people who have since left: they keep their names there.
        "names": await everyone_named(request),
        "agreement": shown,
        "is_party": common.me_id in shown.parties,
        "versions": versions,
        "changes_to": _changes_from_previous(shown.agreement_id, versions),
        "revision_changes": _revision_changes(history.proposals),
        "timeline": history.timeline,
        "open_proposal": _open_proposal(history.proposals, shown.open_proposal_id),
        "review_requests": _review_requests(history.timeline) if shown.review_due else [],
        "in_force_at": await _in_force_at(request, shown.agreement_id),
        "done": AGREEMENT_DONE.get(request.query.get("done", "")),
        "categories": polycule_pages.CATEGORY_NAMES,
        "live_url": polycule_pages.live_url(request),
    })


def _changes_from_previous(agreement_id: UUID, versions: list[VersionView]) -> dict[int, DiffView]:
    """For every version after the first, how it differs from the one before, by the later
    version's number: the API's own difference (``version_diff``), drawn from the versions
    the history already opened rather than read again."""
    return {
        later.version: version_diff(
            agreement_id,
            (earlier.version, earlier.parties, earlier.text),
            (later.version, later.parties, later.text),
        )
        for earlier, later in itertools.pairwise(versions)
    }


def _revision_changes(proposals: list[ProposalHistoryView]) -> dict[str, TextChanges]:
    """What each proposed wording would change, by ``proposal_id/revision`` (the timeline
    names the revisions it tells of that way)."""
    return {
        f"{item.proposal.proposal_id}/{revision.revision}": revision.changes
        for item in proposals
        for revision in item.revisions
        if revision.changes is not None
    }


def _open_proposal(
    proposals: list[ProposalHistoryView], open_proposal_id: UUID | None
) -> ProposalView | None:
    return next(
        (item.proposal for item in proposals if item.proposal.proposal_id == open_proposal_id),
        None,
    )


def _review_requests(timeline: list[TimelineView]) -> list[TimelineView]:
    """The requests to look at it again made since the current review began (the words
    that explain why it is due now)."""
    requests: list[TimelineView] = []
    for entry in reversed(timeline):
        if entry.what in _REVIEW_SETTLED:
            break
        if entry.what == "ReviewRequested":
            requests.insert(0, entry)
    return requests


async def _in_force_at(request: web.Request, agreement_id: UUID) -> MomentAsked:
    typed = request.query.get("on", "").strip()
    if not typed:
        return MomentAsked(typed="")
    zone = await reader_zone(request)
    moment = _moment_of(typed, zone)
    if moment is None:
        return MomentAsked(typed=typed, problem=(
            f"“{typed}” is not a day and time we can read. Please pick them with the "
            "calendar, or write them as year-month-day and hours:minutes, like "
            "2026-11-29T18:30."
        ))
    now = request.app[CLOCK].now()
    if "T" not in typed and moment > now and moment.date() == now.astimezone(zone).date():
        moment = now  # today, asked as a day: what holds so far
    if moment > now:
        return MomentAsked(typed=typed, moment=moment, still_to_come=True)
    then = await agreement_routes.in_force_at(
        query_context(request), polycule_of(request).polycule_id, moment
    )
    version = next((held for held in then.agreements if held.agreement_id == agreement_id), None)
    return MomentAsked(typed=typed, moment=moment, version=version)


def _moment_of(typed: str, zone: ZoneInfo) -> datetime | None:
    """The moment typed, in the reader's zone; a day alone, the last moment of that day."""
    if not _MOMENT.fullmatch(typed):
        return None
    try:
        if "T" in typed:
            return datetime.fromisoformat(typed).replace(tzinfo=zone)
        return datetime.combine(date.fromisoformat(typed), time.max, tzinfo=zone)
    except ValueError:  # the 30th of February, month 13, hour 25
        return None


# What a form said went through, by the ``done`` its return address names: only these
# words are ever shown, whatever an address asks for.
PROPOSAL_DONE = {
    "proposed": "Your proposal is made. Everyone it concerns is asked to answer it.",
    "reworded": "Your new wording is proposed. Every earlier yes was cleared: each person "
                "answers the words they read.",
    "yes": "Your yes is recorded.",
    "no": "Your no is recorded, with your reason: the proposal goes back for another try.",
    "said": "Your words are added to the conversation below.",
    "withdrawn": "Your proposal is withdrawn.",
}


async def proposal(request: web.Request) -> web.Response:
    common = await polycule_context(request)
    context, polycule_id = query_context(request), common.polycule.id
    asked = await agreement_routes.one_proposal(
        context, polycule_id, path_id(request, "proposal_id", "proposal")
    )
    agreement = None
    if asked.kind != "create":
        agreement = await agreement_routes.one_agreement(context, polycule_id, asked.agreement_id)
    changes = await agreement_routes.proposal_changes(context, polycule_id, asked)
    return await render(request, "proposal.html", {
        **common.template_values(),
        # The conversation names whoever spoke, after they leave too.
        "names": await everyone_named(request),
        "proposal": asked,
        "agreement": agreement,
        "compared": changes.compared,
        "conversation": _in_order(asked.answers, asked.comments),
        "done": _proposal_done(request.query.get("done", ""), asked),
        "erased": ERASED,
        "categories": polycule_pages.CATEGORY_NAMES,
        "live_url": polycule_pages.live_url(request),
    })


def _proposal_done(done: str, shown: ProposalView) -> str | None:
    said = PROPOSAL_DONE.get(done)
    if said is not None and done == "yes" and shown.status == "ratified":
        said += " Everyone it concerns has said yes: it is in force now."
    return said


def _in_order(
    answers: list[ResponseView], comments: list[CommentView]
) -> list[ResponseView | CommentView]:
    """Answers and comments as they came (each list is in order already; an answer and a
    comment are never made by one command, so their moments tell them apart)."""
    return sorted([*answers, *comments], key=lambda said: said.at)


PAGES: tuple[Page, ...] = (
    ("GET", "/polycules/{polycule_id}/agreements/{agreement_id}", agreement),
    ("GET", "/polycules/{polycule_id}/proposals/{proposal_id}", proposal),
)
