"""My inbox: everything that awaits me, across every polycule I belong to.

Proposals to answer and reviews due (agreements), disclosures to acknowledge; in the
repairs I take part in, commitment occurrences to mark and check-ins due; and my webhook
endpoints the ledger had to disable (the read models' part is asked of
projections/inbox.py). Which disclosures and repairs I may read is the policy's decision,
taken over each of my polycules as loaded from its stream. The inbox is a typed query
(``inbox_of``), which the web client's inbox page asks too.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from aiohttp import web

from ledger.auth import policy
from ledger.domain.polycules import polycule_decider
from ledger.http import agreement_shapes
from ledger.http.authorization import caller_of
from ledger.http.context import QueryContext, query_context
from ledger.http.disclosure_routes import DisclosureView, opened_disclosure
from ledger.http.shapes import Strict, json_of
from ledger.webhooks import endpoints
from projections import inbox
from projections.memberships import MEMBER_OF


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


class InboxView(Strict):
    awaiting_response: list[agreement_shapes.ProposalView]
    reviews_due: list[agreement_shapes.AgreementView]
    disclosures_to_acknowledge: list[DisclosureView]
    commitments_to_mark: list[MarkDue]
    check_ins_due: list[CheckInDue]
    # My webhook endpoints the ledger disabled, until I enable or delete them.
    webhooks_disabled: list[EndpointDisabled]


async def my_inbox(request: web.Request) -> web.Response:
    return json_of(await inbox_of(query_context(request), caller_of(request)))


async def inbox_of(context: QueryContext, member: UUID) -> InboxView:
    """Everything that awaits ``member`` across their polycules."""
    pool, keyring = context.pool, context.keyring
    readable = await _readable_in_my_polycules(context, member)
    agreements = await inbox.agreement_inbox(pool, member)
    told = await inbox.disclosures_to_acknowledge(pool, member, readable.disclosures)
    repairs = await inbox.repair_inbox(pool, member, context.clock.now(), readable.repairs)
    disabled = [e for e in await endpoints.of_account(pool, member) if e.disabled_reason]
    return InboxView(
        awaiting_response=[
            await agreement_shapes.opened_proposal(row, keyring)
            for row in agreements.awaiting_response
        ],
        reviews_due=[
            await agreement_shapes.opened_agreement(row, keyring) for row in agreements.reviews_due
        ],
        disclosures_to_acknowledge=[await opened_disclosure(row, keyring) for row in told],
        commitments_to_mark=[
            MarkDue.model_validate(due, from_attributes=True)
            for due in repairs.commitments_to_mark
        ],
        check_ins_due=[
            CheckInDue.model_validate(due, from_attributes=True) for due in repairs.check_ins_due
        ],
        webhooks_disabled=[
            EndpointDisabled(
                endpoint_id=e.endpoint_id, url=e.url, reason=e.disabled_reason or "",
                since=e.updated_at,
            )
            for e in disabled
        ],
    )


async def _readable_in_my_polycules(context: QueryContext, member: UUID) -> policy.Readable:
    polycules = [
        (await context.service.load(row["polycule_id"], polycule_decider))[0]
        for row in await context.pool.fetch(MEMBER_OF, member)
    ]
    return policy.readable_by(member, *polycules)
