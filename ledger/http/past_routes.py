"""What is past in a polycule: agreements that ended (how and when) and proposals that
closed without taking effect (rejected, withdrawn, expired, lapsed), the most recent
first. Every member reads them, as they read what is in force.

The read is a typed query (``past_of``), which the home page asks too. Who may call the
route: ledger/auth/policy.py.
"""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from ledger.http import agreement_shapes as shapes
from ledger.http.authorization import polycule_of
from ledger.http.context import QueryContext, query_context
from ledger.http.shapes import Strict, json_of
from projections import past_agreements as read_model


class PastView(Strict):
    # Each as its last version stood, with ``ended_at``, ``end_reason`` and ``ended_by``;
    # the most recently ended first.
    ended_agreements: list[shapes.AgreementView]
    # Each with every answer it was given and its ``status`` (why it closed); the most
    # recently closed first.
    closed_proposals: list[shapes.ProposalView]


async def past_of(context: QueryContext, polycule_id: UUID) -> PastView:
    """The polycule's recent past: what ended, and what never took effect."""
    past = await read_model.past_of(context.pool, polycule_id)
    keyring = context.keyring
    return PastView(
        ended_agreements=[
            await shapes.opened_agreement(row, keyring) for row in past.ended_agreements
        ],
        closed_proposals=[
            await shapes.opened_proposal(row, keyring) for row in past.closed_proposals
        ],
    )


async def show_past(request: web.Request) -> web.Response:
    return json_of(await past_of(query_context(request), polycule_of(request).polycule_id))
