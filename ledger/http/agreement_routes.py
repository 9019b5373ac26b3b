"""The agreements API: proposals, the answers to them and the conversation about them,
agreements in force now and at any past moment, their history and the differences between
versions, and my inbox.

Views stay thin: parse, build a command, send it (ledger/http/commands.py waits for the
read models, so the answer already shows the write), read the read model, open its sealed
texts for the member. Each read is a typed query, ``(context, ids) -> view model``, that
the web client's pages ask too (``open_proposals``, ``one_proposal``, ``proposal_changes``,
``agreements_in_force``, ``in_force_at``, ``one_agreement``, ``history_of``). Who may call
each route: ledger/auth/policy.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from ledger.domain import agreements as domain
from ledger.domain.clarity import forms_used, fuzzy_words
from ledger.errors import NotFound
from ledger.http import agreement_shapes as shapes
from ledger.http.authorization import polycule_of
from ledger.http.commands import send, stamp
from ledger.http.context import QueryContext, query_context
from ledger.http.kept_answers import kept_per_version
from ledger.http.parsing import parse_body, parse_query, path_id
from ledger.http.shapes import Nothing, json_of, json_of_many
from projections import agreement_queries as read_model

# A command built from the stamped fields and the agreement named in the path.
_Build = Callable[[dict[str, Any], UUID], domain.AgreementCommand]


# --- Proposals ---------------------------------------------------------------------------


async def propose(request: web.Request) -> web.Response:
    found = polycule_of(request)
    body = (await parse_body(request, shapes.NewProposal)).root
    stamped = stamp(request)
    # Derived from the command id, so a retried request (same Idempotency-Key) names the
    # same proposal and agreement.
    proposal_id = uuid.uuid5(stamped["command_id"], "proposal")
    command: domain.AgreementCommand
    if isinstance(body, shapes.ProposeNewAgreement):
        command = domain.ProposeAgreement(
            **stamped,
            proposal_id=proposal_id,
            agreement_id=uuid.uuid5(stamped["command_id"], "agreement"),
            parties=tuple(body.parties),
            text=body.agreement_text(),
            respond_by=body.respond_by,
            binds_only_proposer=body.binds_only_me,
            asks_again=body.asks_again,
        )
    elif isinstance(body, shapes.ProposeAmendment):
        command = domain.ProposeAmendment(
            **stamped,
            proposal_id=proposal_id,
            agreement_id=body.agreement_id,
            added_parties=tuple(body.added_parties),
            text=body.agreement_text(),
            respond_by=body.respond_by,
            asks_again=body.asks_again,
        )
    else:
        command = domain.ProposeEnding(
            **stamped,
            proposal_id=proposal_id,
            agreement_id=body.agreement_id,
            note=body.note,
            respond_by=body.respond_by,
            asks_again=body.asks_again,
        )
    await send(request, found.polycule_id, command)
    return await _proposal_answer(request, proposal_id, status=201)


async def open_proposals(context: QueryContext, polycule_id: UUID) -> list[shapes.ProposalView]:
    """Open proposals, with each party's answer to the current revision."""
    rows = await read_model.open_proposals(context.pool, polycule_id)
    return [await shapes.opened_proposal(row, context.keyring) for row in rows]


async def list_proposals(request: web.Request) -> web.Response:
    return json_of_many(
        await open_proposals(query_context(request), polycule_of(request).polycule_id)
    )


async def show_proposal(request: web.Request) -> web.Response:
    return await _proposal_answer(request, path_id(request, "proposal_id", "proposal"))


async def consent(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.ConsentBody)
    proposal_id = path_id(request, "proposal_id", "proposal")
    await send(request, polycule_of(request).polycule_id, domain.Consent(
        **stamp(request), proposal_id=proposal_id, revision=body.revision
    ))
    return await _proposal_answer(request, proposal_id)


async def object_to(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.ObjectionBody)
    proposal_id = path_id(request, "proposal_id", "proposal")
    await send(request, polycule_of(request).polycule_id, domain.Object(
        **stamp(request), proposal_id=proposal_id, revision=body.revision, reason=body.reason
    ))
    return await _proposal_answer(request, proposal_id)


async def comment(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.CommentBody)
    proposal_id = path_id(request, "proposal_id", "proposal")
    stamped = stamp(request)
    await send(request, polycule_of(request).polycule_id, domain.MakeComment(
        **stamped,
        proposal_id=proposal_id,
        # From the command id, so a retried request (same Idempotency-Key) names the same one.
        comment_id=uuid.uuid5(stamped["command_id"], "comment"),
        kind=body.kind,
        text=body.text,
    ))
    return await _proposal_answer(request, proposal_id, status=201)


async def withdraw(request: web.Request) -> web.Response:
    await parse_body(request, Nothing)
    proposal_id = path_id(request, "proposal_id", "proposal")
    await send(request, polycule_of(request).polycule_id, domain.Withdraw(
        **stamp(request), proposal_id=proposal_id
    ))
    return await _proposal_answer(request, proposal_id)


async def revise(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.Revision)
    proposal_id = path_id(request, "proposal_id", "proposal")
    await send(request, polycule_of(request).polycule_id, domain.Revise(
        **stamp(request),
        proposal_id=proposal_id,
        text=body.agreement_text(),
        parties=tuple(body.parties) if body.parties is not None else None,
        respond_by=body.respond_by,
    ))
    return await _proposal_answer(request, proposal_id)


async def one_proposal(
    context: QueryContext, polycule_id: UUID, proposal_id: UUID
) -> shapes.ProposalView:
    row = await read_model.proposal(context.pool, polycule_id, proposal_id)
    if row is None:
        raise NotFound("no such proposal")
    return await shapes.opened_proposal(row, context.keyring)


async def proposal_changes(
    context: QueryContext, polycule_id: UUID, proposal: shapes.ProposalView
) -> shapes.ProposalChangesView:
    """What the proposal's current wording changes, word by word (the same difference the
    agreement's history shows): from the version an amendment amends, from the proposal
    not agreed that it asks again, and from the revision before it once it was reworded."""
    compared: list[shapes.ChangesSeen] = []
    if proposal.text is not None:
        wording = (list(proposal.parties), proposal.text)
        if proposal.kind == "amend" and proposal.base_version is not None:
            amended = await read_model.version(
                context.pool, polycule_id, proposal.agreement_id, proposal.base_version
            )
            if amended is not None:
                compared.append(shapes.changes_seen("version", (
                    amended.version, list(amended.parties),
                    await shapes.opened_text(amended.text, context.keyring),
                ), wording))
        earlier_proposal = await _asked_again(context, polycule_id, proposal)
        if earlier_proposal is not None and earlier_proposal.text is not None:
            compared.append(shapes.changes_seen("asked_again", (
                earlier_proposal.revision, list(earlier_proposal.parties),
                earlier_proposal.text,
            ), wording, proposal_id=earlier_proposal.proposal_id))
        if proposal.revision > 1:
            earlier = await read_model.revision(
                context.pool, polycule_id, proposal.proposal_id, proposal.revision - 1
            )
            if earlier is not None and earlier.text is not None:
                compared.append(shapes.changes_seen("revision", (
                    earlier.revision, list(earlier.parties),
                    await shapes.opened_text(earlier.text, context.keyring),
                ), wording))
    return shapes.ProposalChangesView(
        proposal_id=proposal.proposal_id, revision=proposal.revision, compared=compared
    )


async def _asked_again(
    context: QueryContext, polycule_id: UUID, proposal: shapes.ProposalView
) -> shapes.ProposalView | None:
    """The proposal this one asks again, when its first wording is the one to answer: what
    changed since then is what the people who said no need to see. Only a proposal of the
    same kind, about the same agreement (or, for a new one, none yet) is compared."""
    if proposal.asks_again is None or proposal.revision != 1:
        return None
    row = await read_model.proposal(context.pool, polycule_id, proposal.asks_again)
    if row is None or row.kind != proposal.kind or (
        proposal.kind != "create" and row.agreement_id != proposal.agreement_id
    ):
        return None
    return await shapes.opened_proposal(row, context.keyring)


async def show_proposal_changes(request: web.Request) -> web.Response:
    context, polycule_id = query_context(request), polycule_of(request).polycule_id
    shown = await one_proposal(
        context, polycule_id, path_id(request, "proposal_id", "proposal")
    )
    return json_of(await proposal_changes(context, polycule_id, shown))


async def draft_changes(request: web.Request) -> web.Response:
    """What a draft changes in a proposal's wording, word by word, while it is reworded or
    asked again (the web client asks as you type)."""
    body = await parse_body(request, shapes.DraftBody)
    shown = await one_proposal(
        query_context(request), polycule_of(request).polycule_id,
        path_id(request, "proposal_id", "proposal"),
    )
    changes = shapes.draft_changes(shown, body)
    if changes is None:
        raise NotFound("this proposal has no wording of its own to compare with")
    return json_of(changes)


async def _proposal_answer(
    request: web.Request, proposal_id: UUID, status: int = 200
) -> web.Response:
    shown = await one_proposal(
        query_context(request), polycule_of(request).polycule_id, proposal_id
    )
    return json_of(shown, status=status)


# --- Agreements --------------------------------------------------------------------------


async def agreements_in_force(
    context: QueryContext, polycule_id: UUID, between: Sequence[UUID] = ()
) -> list[shapes.AgreementView]:
    """What is in force now (only what binds all of ``between``, if named)."""
    rows = await read_model.current_agreements(context.pool, polycule_id)
    return [
        await shapes.opened_agreement(row, context.keyring)
        for row in rows if set(between) <= set(row.parties)
    ]


async def in_force_at(
    context: QueryContext, polycule_id: UUID, as_of: datetime, between: Sequence[UUID] = ()
) -> shapes.InForceView:
    """The versions in force at that moment (only those binding all of ``between``)."""
    versions = await read_model.in_force_at(context.pool, polycule_id, as_of, list(between))
    return shapes.InForceView(
        as_of=as_of,
        between=list(between),
        agreements=[await shapes.opened_version(row, context.keyring) for row in versions],
    )


@kept_per_version
async def list_agreements(request: web.Request) -> web.Response:
    """What is in force now; with ``as_of``, what was in force at that moment."""
    query = parse_query(request, shapes.AgreementsQuery)
    polycule_id = polycule_of(request).polycule_id
    between = query.between_members()
    if query.as_of is None:
        return json_of_many(await agreements_in_force(query_context(request), polycule_id, between))
    return json_of(await in_force_at(query_context(request), polycule_id, query.as_of, between))


async def one_agreement(
    context: QueryContext, polycule_id: UUID, agreement_id: UUID
) -> shapes.AgreementView:
    row = await read_model.agreement(context.pool, polycule_id, agreement_id)
    if row is None:
        raise NotFound("no such agreement")
    return await shapes.opened_agreement(row, context.keyring)


@kept_per_version
async def show_agreement(request: web.Request) -> web.Response:
    return json_of(await one_agreement(
        query_context(request), polycule_of(request).polycule_id, _agreement_id(request)
    ))


@kept_per_version
async def agreement_history(request: web.Request) -> web.Response:
    return json_of(await history_of(
        query_context(request), polycule_of(request).polycule_id, _agreement_id(request)
    ))


async def history_of(
    context: QueryContext, polycule_id: UUID, agreement_id: UUID
) -> shapes.HistoryView:
    """The agreement, every version of it, every proposal about it with each revision's
    changes, and its timeline."""
    history = await read_model.agreement_history(context.pool, polycule_id, agreement_id)
    if history is None:
        raise NotFound("no such agreement")
    keyring = context.keyring
    versions = [await shapes.opened_version(row, keyring) for row in history.versions]
    texts_by_version = {version.version: version.text for version in versions}
    proposals = []
    for item in history.proposals:
        # Each revision is shown with what it changed, starting from the amended version.
        base = item.proposal.base_version
        previous = texts_by_version.get(base) if base is not None else None
        revisions = []
        for row in item.revisions:
            revision = await shapes.opened_revision(row, keyring)
            if previous is not None and revision.text is not None:
                revision = revision.model_copy(
                    update={"changes": shapes.text_changes(previous, revision.text)}
                )
            previous = revision.text or previous
            revisions.append(revision)
        proposals.append(shapes.ProposalHistoryView(
            proposal=await shapes.opened_proposal(item.proposal, keyring), revisions=revisions
        ))
    return shapes.HistoryView(
        agreement=await shapes.opened_agreement(history.agreement, keyring),
        versions=versions,
        proposals=proposals,
        timeline=[await shapes.opened_entry(row, keyring) for row in history.timeline],
    )


@kept_per_version
async def agreement_diff(request: web.Request) -> web.Response:
    """The word-level difference between two versions of an agreement."""
    query = parse_query(request, shapes.DiffQuery)
    polycule_id = polycule_of(request).polycule_id
    agreement_id = _agreement_id(request)
    context = query_context(request)
    keyring = context.keyring
    compared = []
    for number in (query.from_, query.to):
        row = await read_model.version(context.pool, polycule_id, agreement_id, number)
        if row is None:
            raise NotFound(f"this agreement has no version {number}")
        compared.append((number, list(row.parties), await shapes.opened_text(row.text, keyring)))
    before, after = compared
    return json_of(shapes.version_diff(agreement_id, before, after))


async def revoke(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.RevokeBody)
    return await _act_on_agreement(request, lambda stamped, agreement_id: domain.RevokeConsent(
        **stamped, agreement_id=agreement_id, note=body.note
    ))


async def reaffirm(request: web.Request) -> web.Response:
    await parse_body(request, Nothing)
    return await _act_on_agreement(request, lambda stamped, agreement_id: domain.Reaffirm(
        **stamped, agreement_id=agreement_id
    ))


async def request_review(request: web.Request) -> web.Response:
    body = await parse_body(request, shapes.ReviewRequestBody)
    return await _act_on_agreement(request, lambda stamped, agreement_id: domain.RequestReview(
        **stamped, agreement_id=agreement_id, note=body.note
    ))


async def _act_on_agreement(request: web.Request, build: _Build) -> web.Response:
    agreement_id = _agreement_id(request)
    await send(request, polycule_of(request).polycule_id, build(stamp(request), agreement_id))
    return await show_agreement(request)


def _agreement_id(request: web.Request) -> UUID:
    return path_id(request, "agreement_id", "agreement")


# --- Drafts -----------------------------------------------------------------------------


async def clarity_check(request: web.Request) -> web.Response:
    """The clarity check on a draft, before it is proposed (the web client asks as you type)."""
    body = await parse_body(request, shapes.ClarityBody)
    drafted = (body.title, body.terms, body.if_broken)
    found = fuzzy_words(drafted, body.definitions)
    forms = forms_used(drafted, found)
    return json_of(shapes.ClarityView(
        fuzzy_words=list(found), forms={word: list(forms[word]) for word in found}
    ))
