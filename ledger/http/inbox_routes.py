"""My inbox: everything that awaits me and everything that happened that concerns me,
across every polycule I belong to (and the repairs I support).

What awaits me: proposals to answer and reviews due (agreements), disclosures to
acknowledge; in the repairs I take part in, commitment occurrences to mark and check-ins
due; my webhook endpoints the ledger had to pause. What happened: a breach told that names
me, harms me or was shown to me; a dispute of a breach I told; an agreement I was a party
to that someone else ended; a review another party asked for; my own repair commitments
coming due; the repairs I support. The read models' part is asked of projections/inbox.py;
which breaches, disclosures and repairs I may read is the policy's decision, taken over
each polycule as loaded from its stream.

Every thing is also one **entry** of ``entries``, newest first, each with its key, who did
it and why it concerns me, the page where it is taken up, and whether I have read it.
Read and unread are mine alone (``inbox_reads``, ledger/store/migrations/0016_inbox_read.sql):
opening an entry from the inbox page marks it read, and so does "mark all read". The
inbox is a typed query (``inbox_of``), which the web client's inbox page asks too; the
header of every page asks ``unread_of``, which opens no one's words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.auth import policy
from ledger.domain.polycules import polycule_decider
from ledger.http import agreement_shapes
from ledger.http.authorization import caller_of
from ledger.http.context import QueryContext, query_context
from ledger.http.disclosure_routes import DisclosureView, opened_disclosure
from ledger.http.parsing import parse_body
from ledger.http.shapes import Strict, json_of
from ledger.privacy import KeyRing, opened_words
from ledger.webhooks import endpoints
from projections import inbox
from projections.agreement_queries import AgreementRow, ProposalRow
from projections.disclosures import DisclosureRow
from projections.memberships import MEMBER_OF

# What an entry is about. The first five are asked of me; the rest happened.
# What an entry is about: what is asked of me, then (projections/inbox.py's ``NewsKind``)
# what happened.
EntryKind = Literal[
    "proposal_to_answer", "review_due", "disclosure_to_acknowledge", "commitment_to_mark",
    "check_in_due", "webhook_paused",
    "breach_told", "report_disputed", "agreement_ended", "review_asked",
    "commitment_falling_due", "repair_supported",
]
# Why it concerns me (projections/inbox.py's ``Why``, and the reasons things are asked of me).
Why = Literal[
    "you_are_named", "you_are_harmed", "shown_to_you", "you_told_it", "you_were_a_party",
    "you_are_a_party", "you_made_it", "you_support_it",
    "you_were_told", "your_endpoint", "you_take_part",
]
_Title = Callable[[object], Awaitable[str | None]]


class MarkDue(Strict):
    polycule_id: UUID
    breach_id: UUID
    commitment_id: UUID
    occurrence: int
    due_at: datetime


class CheckInDue(Strict):
    polycule_id: UUID
    breach_id: UUID
    # None: no check-in yet in this repair.
    last_check_in_at: datetime | None


class EndpointDisabled(Strict):
    endpoint_id: UUID
    url: str
    # "gone" (the receiver answered 410) or "failing" (it failed for 5 days).
    reason: str
    since: datetime


class InboxEntry(Strict):
    # Stable while the thing is the same (ids and numbers, never words): what is marked read.
    key: str
    kind: EntryKind
    why: Why
    # None for what is mine outside any polycule (a webhook endpoint).
    polycule_id: UUID | None
    at: datetime
    # Whose act it is; None when it is the ledger's (a review or a commitment coming due).
    by: UUID | None
    # The web client's page where it is taken up.
    link: str
    read: bool
    # The title of the agreement or proposal it is about, opened for me.
    title: str | None = None
    agreement_id: UUID | None = None
    proposal_id: UUID | None = None
    breach_id: UUID | None = None
    disclosure_id: UUID | None = None
    commitment_id: UUID | None = None
    endpoint_id: UUID | None = None
    # The agreement's version; for a proposal to answer, its revision.
    version: int | None = None
    occurrence: int | None = None
    # How an agreement ended (revoked, party_left, ended_by_proposal); a breach's status
    # (reported, disputed, acknowledged); a proposal's kind (create, amend, end); why an
    # endpoint was paused (gone, failing).
    how: str | None = None
    # The note of a review asked for, which I, a party, may read. Never in a notification.
    note: str | None = None
    # A breach names me and waits for my account (acknowledge it, or dispute it).
    account_wanted: bool = False


class InboxView(Strict):
    awaiting_response: list[agreement_shapes.ProposalView]
    reviews_due: list[agreement_shapes.AgreementView]
    disclosures_to_acknowledge: list[DisclosureView]
    commitments_to_mark: list[MarkDue]
    check_ins_due: list[CheckInDue]
    # My webhook endpoints the ledger disabled, until I enable or delete them.
    webhooks_disabled: list[EndpointDisabled]
    # Everything above and everything that happened that concerns me, newest first.
    entries: list[InboxEntry]
    unread: int


class MarkRead(Strict):
    # The keys of the entries to mark read; with ``all``, every entry shown now.
    entries: list[str] = Field(default_factory=list, max_length=500)
    all: Literal["yes"] | None = None


class Unread(Strict):
    unread: int


async def my_inbox(request: web.Request) -> web.Response:
    return json_of(await inbox_of(query_context(request), caller_of(request)))


async def my_unread(request: web.Request) -> web.Response:
    return json_of(Unread(unread=await unread_of(query_context(request), caller_of(request))))


async def mark_read(request: web.Request) -> web.Response:
    """Only the keys of entries shown to the caller now are kept."""
    body = await parse_body(request, MarkRead)
    context, me = query_context(request), caller_of(request)
    shown = {entry.key for entry in await _entries(await _gather(context, me), None)}
    keys = shown if body.all else shown & set(body.entries)
    if keys:
        await context.pool.execute(_MARK_READ, me, sorted(keys), context.clock.now())
    return json_of(Unread(unread=len(shown - await _read_of(context, me, shown))))


async def inbox_of(context: QueryContext, member: UUID) -> InboxView:
    """Everything that awaits ``member`` and that concerns them, across their polycules."""
    keyring = context.keyring
    found = await _gather(context, member)
    entries = await _entries(found, keyring)
    read = await _read_of(context, member, [entry.key for entry in entries])
    entries = [entry.model_copy(update={"read": entry.key in read}) for entry in entries]
    return InboxView(
        awaiting_response=[
            await agreement_shapes.opened_proposal(row, keyring)
            for row in found.agreements.awaiting_response
        ],
        reviews_due=[
            await agreement_shapes.opened_agreement(row, keyring)
            for row in found.agreements.reviews_due
        ],
        disclosures_to_acknowledge=[await opened_disclosure(row, keyring) for row in found.told],
        commitments_to_mark=[
            MarkDue.model_validate(due, from_attributes=True)
            for due in found.repairs.commitments_to_mark
        ],
        check_ins_due=[
            CheckInDue.model_validate(due, from_attributes=True)
            for due in found.repairs.check_ins_due
        ],
        webhooks_disabled=[
            EndpointDisabled(
                endpoint_id=e.endpoint_id, url=e.url, reason=e.disabled_reason or "",
                since=e.updated_at,
            )
            for e in found.disabled
        ],
        entries=entries,
        unread=sum(1 for entry in entries if not entry.read),
    )


async def unread_of(context: QueryContext, member: UUID) -> int:
    """How many of ``member``'s inbox entries they have not read (no words are opened)."""
    keys = {entry.key for entry in await _entries(await _gather(context, member), None)}
    return len(keys - await _read_of(context, member, keys))


# -- gathering ---------------------------------------------------------------------------

_MARK_READ = """
INSERT INTO inbox_reads (account_id, entry, read_at)
SELECT $1, entry, $3 FROM unnest($2::text[]) AS entry
ON CONFLICT (account_id, entry) DO NOTHING
"""
# Index: inbox_reads_pkey.
_READ = """
SELECT entry FROM inbox_reads WHERE account_id = $1 AND entry = ANY ($2::text[])
"""


@dataclass(frozen=True)
class _Found:
    agreements: inbox.AgreementInbox
    told: list[DisclosureRow]
    repairs: inbox.RepairInbox
    news: list[inbox.News]
    disabled: list[endpoints.Endpoint]


async def _gather(context: QueryContext, member: UUID) -> _Found:
    pool = context.pool
    now = context.clock.now()
    readable = await _readable_by(context, member)
    return _Found(
        agreements=await inbox.agreement_inbox(pool, member),
        told=await inbox.disclosures_to_acknowledge(pool, member, readable.disclosures),
        repairs=await inbox.repair_inbox(pool, member, now, readable.repairs),
        news=await inbox.news(pool, member, now, readable.breaches, readable.repairs),
        disabled=[e for e in await endpoints.of_account(pool, member) if e.disabled_reason],
    )


async def _readable_by(context: QueryContext, member: UUID) -> policy.Readable:
    """What ``member`` may read in their polycules and in those whose repairs they support
    (the policy decides, over each polycule as loaded from its stream)."""
    mine = [row["polycule_id"] for row in await context.pool.fetch(MEMBER_OF, member)]
    supported = await inbox.supported_polycules(context.pool, member)
    polycules = [
        (await context.service.load(polycule_id, polycule_decider))[0]
        for polycule_id in dict.fromkeys([*mine, *supported])
    ]
    return policy.readable_by(member, *polycules)


async def _read_of(context: QueryContext, member: UUID, keys: Collection[str]) -> set[str]:
    """Which of ``keys`` the member has read."""
    rows = await context.pool.fetch(_READ, member, list(keys)) if keys else []
    return {row["entry"] for row in rows}


# -- entries -----------------------------------------------------------------------------


async def _entries(found: _Found, keyring: KeyRing | None) -> list[InboxEntry]:
    """Every entry, newest first, as not read yet; with ``keyring``, titles and notes
    opened (without, nobody's words are opened: only the keys are wanted)."""

    async def title(text: object) -> str | None:
        if keyring is None or not isinstance(text, dict) or "title" not in text:
            return None
        return str(await opened_words(text["title"], keyring))

    async def words(sealed: object) -> str | None:
        if keyring is None or sealed is None:
            return None
        return str(await opened_words(sealed, keyring))

    made: list[InboxEntry] = []

    def add(key: str, **fields: object) -> None:
        made.append(InboxEntry.model_validate({"key": key, "read": False, **fields}))

    for proposal in found.agreements.awaiting_response:
        key, fields = await _proposal(proposal, title)
        add(key, **fields)
    for agreement in found.agreements.reviews_due:
        key, fields = await _review_due(agreement, title)
        add(key, **fields)
    for disclosure in found.told:
        add(f"disclosure:{disclosure.disclosure_id}", kind="disclosure_to_acknowledge",
            why="you_were_told", polycule_id=disclosure.polycule_id, at=disclosure.made_at,
            by=disclosure.discloser, disclosure_id=disclosure.disclosure_id,
            link=_page(disclosure.polycule_id, "disclosures", disclosure.disclosure_id))
    for due in found.repairs.commitments_to_mark:
        add(f"commitment_to_mark:{due.commitment_id}:{due.occurrence}",
            kind="commitment_to_mark", why="you_are_harmed", polycule_id=due.polycule_id,
            at=due.due_at, by=None, breach_id=due.breach_id, commitment_id=due.commitment_id,
            occurrence=due.occurrence, link=_page(due.polycule_id, "breaches", due.breach_id))
    for check_in in found.repairs.check_ins_due:
        last = check_in.last_check_in_at
        add(f"check_in_due:{check_in.breach_id}:{last.isoformat() if last else 'never'}",
            kind="check_in_due", why="you_take_part", polycule_id=check_in.polycule_id,
            at=last + inbox.CHECK_IN_EVERY if last else check_in.repair_opened_at, by=None,
            breach_id=check_in.breach_id,
            link=_page(check_in.polycule_id, "breaches", check_in.breach_id))
    for endpoint in found.disabled:
        add(f"webhook_paused:{endpoint.endpoint_id}:{endpoint.updated_at.isoformat()}",
            kind="webhook_paused", why="your_endpoint", polycule_id=None,
            at=endpoint.updated_at, by=None, endpoint_id=endpoint.endpoint_id,
            how=endpoint.disabled_reason, link=f"/account/webhooks/{endpoint.endpoint_id}")
    for told in found.news:
        add(told.key, kind=told.kind, why=told.why, polycule_id=told.polycule_id, at=told.at,
            by=told.by, title=await title(told.agreement_text), agreement_id=told.agreement_id,
            breach_id=told.breach_id, commitment_id=told.commitment_id, version=told.version,
            occurrence=told.occurrence, how=told.how, note=await words(told.note),
            account_wanted=told.account_wanted, link=_news_page(told))
    return sorted(made, key=lambda entry: entry.at, reverse=True)


async def _proposal(proposal: ProposalRow, title: _Title) -> tuple[str, dict[str, object]]:
    return f"proposal_to_answer:{proposal.proposal_id}:{proposal.revision}", {
        "kind": "proposal_to_answer", "why": "you_are_a_party",
        "polycule_id": proposal.polycule_id, "at": proposal.opened_at,
        "by": proposal.proposed_by, "proposal_id": proposal.proposal_id,
        "agreement_id": proposal.agreement_id, "version": proposal.revision,
        "how": proposal.kind, "title": await title(proposal.text),
        "link": _page(proposal.polycule_id, "proposals", proposal.proposal_id),
    }


async def _review_due(agreement: AgreementRow, title: _Title) -> tuple[str, dict[str, object]]:
    since = agreement.review_due_since or agreement.in_force_since
    return f"review_due:{agreement.agreement_id}:{agreement.version}:{since.isoformat()}", {
        "kind": "review_due", "why": "you_are_a_party", "polycule_id": agreement.polycule_id,
        "at": since, "by": None, "agreement_id": agreement.agreement_id,
        "version": agreement.version, "title": await title(agreement.text),
        "link": _page(agreement.polycule_id, "agreements", agreement.agreement_id),
    }


def _page(polycule_id: UUID, part: str, thing_id: UUID) -> str:
    return f"/polycules/{polycule_id}/{part}/{thing_id}"


def _news_page(told: inbox.News) -> str:
    """A breach's and a repair's page is the breach's; an agreement's its own."""
    if told.breach_id is not None:
        return _page(told.polycule_id, "breaches", told.breach_id)
    if told.agreement_id is None:
        return f"/polycules/{told.polycule_id}"
    return _page(told.polycule_id, "agreements", told.agreement_id)
