"""The breaches and repair API: report a breach, acknowledge or dispute it, widen who sees
it; and each step of the repair that follows, answered with the repair's history.

Who reaches what is the policy's (ledger/auth/policy.py): the breach's audience reads the
breach, the repair's participants read and act in the repair, its supporters read it and
nothing else, everyone else gets 404. A list (the breaches, a repair's earlier breaches)
shows only the breaches the policy lets the caller read: it hands the read model their ids.
Who may take which step (the breaching member, a harmed party, any participant) is a rule
of the domain (ledger/domain/repair.py): 403 with the rule's code. What a view reads is a
typed query beside it (``readable_breaches``, ``one_breach``, ``repair_history``,
``supported_repairs``), which the web client's pages ask too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from aiohttp import web

from ledger.auth import policy
from ledger.domain import repair as domain
from ledger.domain.polycules import polycule_decider
from ledger.errors import NotFound
from ledger.http import repair_shapes as shapes
from ledger.http.authorization import PolyculeInView, caller_of, polycule_of
from ledger.http.commands import send, stamp
from ledger.http.context import QueryContext, query_context
from ledger.http.invitation_tokens import new_invitation, read_invitation
from ledger.http.keys import CLOCK
from ledger.http.names import member_names
from ledger.http.parsing import parse_body, path_id, path_number
from ledger.http.shapes import Nothing, json_of, json_of_many
from projections import repair_queries as read_model

# A repair command built from the stamped fields and the breach named in the path.
_Build = Callable[[dict[str, Any], UUID], domain.RepairCommand]


# --- Breaches ----------------------------------------------------------------------------


async def readable_breaches(
    context: QueryContext, found: PolyculeInView
) -> list[shapes.BreachView]:
    """The breaches the caller may see in this polycule, newest first."""
    readable = policy.readable_by(found.member_id, found.state)
    rows = await read_model.breaches_for(context.pool, found.polycule_id, readable.breaches)
    return [await shapes.opened_breach(row, context.keyring) for row in rows]


async def list_breaches(request: web.Request) -> web.Response:
    """The breaches I may see in this polycule, newest first."""
    return json_of_many(await readable_breaches(query_context(request), polycule_of(request)))


async def report_breach(request: web.Request) -> web.Response:
    found = polycule_of(request)
    body = await parse_body(request, shapes.NewBreach)
    stamped = stamp(request)
    breach_id = uuid.uuid5(stamped["command_id"], "breach")
    await send(request, found.polycule_id, domain.ReportBreach(
        **stamped,
        breach_id=breach_id,
        agreement_id=body.agreement_id,
        breached_by=body.breached_by,
        happened_at=body.happened_at,
        what_happened=body.what_happened,
    ))
    return await _breach_answer(request, breach_id, status=201)


async def show_breach(request: web.Request) -> web.Response:
    return await _breach_answer(request, _breach_id(request))


async def acknowledge_breach(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.Account)
    return await _breach_step(request, lambda stamped, breach_id: domain.AcknowledgeBreach(
        **stamped, breach_id=breach_id, account=body.account
    ))


async def dispute_breach(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.DisputedAccount)
    return await _breach_step(request, lambda stamped, breach_id: domain.DisputeBreach(
        **stamped, breach_id=breach_id, account=body.account
    ))


async def widen_audience(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.WiderAudience)
    return await _breach_step(request, lambda stamped, breach_id: domain.WidenBreachAudience(
        **stamped, breach_id=breach_id, members=tuple(body.members),
        whole_polycule=body.whole_polycule,
    ))


async def _breach_step(request: web.Request, build: _Build) -> web.Response:
    breach_id = _breach_id(request)
    await send(request, polycule_of(request).polycule_id, build(stamp(request), breach_id))
    return await _breach_answer(request, breach_id)


async def one_breach(
    context: QueryContext, polycule_id: UUID, breach_id: UUID
) -> shapes.BreachView:
    row = await read_model.breach(context.pool, polycule_id, breach_id)
    if row is None:
        raise NotFound("no such breach")
    return await shapes.opened_breach(row, context.keyring)


async def _breach_answer(
    request: web.Request, breach_id: UUID, status: int = 200
) -> web.Response:
    shown = await one_breach(query_context(request), polycule_of(request).polycule_id, breach_id)
    return json_of(shown, status=status)


# --- The repair --------------------------------------------------------------------------


async def show_repair(request: web.Request) -> web.Response:
    return await _repair_answer(request, _breach_id(request))


async def take_responsibility(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.StepWords)
    return await _repair_step(request, lambda stamped, breach_id: domain.TakeResponsibility(
        **stamped, breach_id=breach_id, words=body.words
    ))


async def share_impact(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.StepWords)
    return await _repair_step(request, lambda stamped, breach_id: domain.ShareImpact(
        **stamped, breach_id=breach_id, words=body.words
    ))


async def apologise(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.StepWords)
    return await _repair_step(request, lambda stamped, breach_id: domain.Apologise(
        **stamped, breach_id=breach_id, words=body.words
    ))


async def decide(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.DecisionBody)
    return await _repair_step(request, lambda stamped, breach_id: domain.Decide(
        **stamped, breach_id=breach_id, decision=body.decision, note=body.note
    ))


async def name_factor(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.NewFactor)
    return await _repair_step(request, lambda stamped, breach_id: domain.NameFactor(
        **stamped, breach_id=breach_id, factor_id=uuid.uuid5(stamped["command_id"], "factor"),
        factor=body.factor, note=body.note,
    ), status=201)


async def address_factor(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.NoteBody)
    factor_id = path_id(request, "factor_id", "factor")
    return await _repair_step(request, lambda stamped, breach_id: domain.AddressFactor(
        **stamped, breach_id=breach_id, factor_id=factor_id, note=body.note
    ))


async def link_boundary(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.BoundaryBody)
    return await _repair_step(request, lambda stamped, breach_id: domain.LinkBoundary(
        **stamped, breach_id=breach_id, proposal_id=body.proposal_id
    ))


async def commit(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.NewCommitment)
    return await _repair_step(request, lambda stamped, breach_id: domain.Commit(
        **stamped, breach_id=breach_id,
        commitment_id=uuid.uuid5(stamped["command_id"], "commitment"), what=body.what,
        first_due_at=body.first_due_at, every_days=body.every_days,
    ), status=201)


async def mark_occurrence(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.MarkBody)
    commitment_id = path_id(request, "commitment_id", "commitment")
    occurrence = path_number(request, "occurrence", "occurrence")
    return await _repair_step(request, lambda stamped, breach_id: domain.MarkCommitment(
        **stamped, breach_id=breach_id, commitment_id=commitment_id, occurrence=occurrence,
        mark=body.mark, note=body.note,
    ))


async def check_in(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.CheckInBody)
    return await _repair_step(request, lambda stamped, breach_id: domain.CheckIn(
        **stamped, breach_id=breach_id, trust=body.trust, setback=body.setback, note=body.note,
        private=body.private,
    ), status=201)


async def choose_restoration(request: web.Request) -> web.Response:
    await parse_body(request, Nothing)
    return await _repair_step(request, lambda stamped, breach_id: domain.ChooseRestoration(
        **stamped, breach_id=breach_id
    ))


async def end_repair(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.NoteBody)
    return await _repair_step(request, lambda stamped, breach_id: domain.EndRepair(
        **stamped, breach_id=breach_id, note=body.note
    ))


async def invite_supporter(request: web.Request) -> web.Response:
    found = polycule_of(request)
    body = await parse_body(request, shapes.SupporterInvitationBody)
    token, hashed = new_invitation(found.polycule_id)
    now = request.app[CLOCK].now()
    expires_at = now + timedelta(hours=body.expires_in_hours)
    invitation_id = uuid.uuid4()
    # Never idempotent by key: only the secret's hash is kept (see polycule invitations).
    # The secret is shown now or never: answered even while the polycule's views are behind.
    await send(request, found.polycule_id, domain.InviteSupporter(
        actor=found.member_id, at=now, command_id=uuid.uuid4(), breach_id=_breach_id(request),
        invitation_id=invitation_id, secret_hash=hashed, expires_at=expires_at,
    ), answer_reads_views=False)
    return json_of(shapes.SupporterInvitationMade(
        invitation_id=invitation_id, token=token, expires_at=expires_at
    ), status=201)


async def accept_supporter_invitation(request: web.Request) -> web.Response:
    """A coach or therapist, signed in with their own account, accepts; they are not (and do
    not become) a member of the polycule."""
    polycule_id, hashed = read_invitation(request.match_info["token"])
    outcome = await send(request, polycule_id, domain.AcceptSupporterInvitation(
        **stamp(request), secret_hash=hashed
    ))
    joined = next(e for e in outcome.events if isinstance(e, domain.SupporterJoined))
    return json_of(shapes.SupportingView(polycule_id=polycule_id, breach_id=joined.breach_id))


async def supported_repairs(
    context: QueryContext, account_id: UUID
) -> list[shapes.SupportedRepairView]:
    """The repairs ``account_id`` supports and may still read, across polycules, newest
    first: what a supporter comes back to."""
    candidates = await read_model.supported_by(context.pool, account_id)
    shown = []
    for polycule_id in dict.fromkeys(row.polycule_id for row in candidates):
        state = (await context.service.load(polycule_id, polycule_decider))[0]
        readable = policy.readable_by(account_id, state).repairs
        names = await member_names(context, polycule_id)
        shown += [
            shapes.SupportedRepairView(
                polycule_id=row.polycule_id, breach_id=row.breach_id,
                breached_by=row.breached_by, harmed=list(row.harmed),
                happened_at=row.happened_at, reported_at=row.reported_at,
                repair_status=row.repair_status, closed_at=row.closed_at,
                names={
                    member: names.get(member, "former member")
                    for member in (row.breached_by, *row.harmed)
                },
            )
            for row in candidates
            if row.polycule_id == polycule_id and row.breach_id in readable
        ]
    return sorted(shown, key=lambda item: item.reported_at, reverse=True)


async def my_supported_repairs(request: web.Request) -> web.Response:
    """The repairs I support, across polycules, newest first."""
    return json_of_many(await supported_repairs(query_context(request), caller_of(request)))


async def _repair_step(request: web.Request, build: _Build, status: int = 200) -> web.Response:
    """Record the step, and answer with the repair's history and the step it recorded."""
    breach_id = _breach_id(request)
    command = build(stamp(request), breach_id)
    outcome = await send(request, polycule_of(request).polycule_id, command)
    history = await repair_history(query_context(request), polycule_of(request), breach_id)
    return json_of(shapes.RepairStepAnswer(
        **dict(history),
        step_version=outcome.version - len(outcome.events) + 1 if outcome.events else None,
        factor_id=getattr(command, "factor_id", None),
        commitment_id=getattr(command, "commitment_id", None),
    ), status=status)


async def _repair_answer(request: web.Request, breach_id: UUID) -> web.Response:
    return json_of(await repair_history(query_context(request), polycule_of(request), breach_id))


async def repair_history(
    context: QueryContext, found: PolyculeInView, breach_id: UUID
) -> shapes.RepairHistoryView:
    """The breach's repair as the caller may read it (its earlier breaches: those they may
    see), every name of its participants opened."""
    readable = policy.readable_by(found.member_id, found.state)
    breach = found.state.breaches.items.get(breach_id)
    private_readable = (
        policy.private_check_ins_readable(found.member_id, found.state, breach)
        if breach is not None else frozenset()
    )
    history = await read_model.repair_history(
        context.pool, found.polycule_id, breach_id, context.clock.now(), readable.breaches,
        private_readable,
    )
    if history is None:
        raise NotFound("no such repair")
    names = await member_names(context, found.polycule_id)
    return await shapes.opened_history(history, names, context.keyring)


def _breach_id(request: web.Request) -> UUID:
    return path_id(request, "breach_id", "breach")
