"""The polycule API: create, list mine, see one and its members, invite (and list and revoke
the invitations not yet used), read and accept an invitation, leave.

Views stay thin: parse the body (pydantic), build a command, hand it to the application
service, shape the answer. What a view reads is a typed query beside it (``polycules_of``,
``polycule_detail``, ``members_of``), which the web client's pages ask too. Who may call
each route is decided in ledger/auth/policy.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.auth import policy
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    LeavePolycule,
    RevokeInvitation,
    polycule_decider,
)
from ledger.http.authorization import PolyculeInView, caller_of, polycule_of
from ledger.http.commands import send, stamp
from ledger.http.context import QueryContext, query_context
from ledger.http.invitation_tokens import new_invitation, read_invitation
from ledger.http.kept_answers import kept_per_version
from ledger.http.keys import CLOCK, POOL
from ledger.http.names import UNNAMED, member_names, polycule_name
from ledger.http.parsing import parse_body, path_id
from ledger.http.shapes import Strict, json_of, json_of_many
from projections.memberships import MY_POLYCULES

Name = Field(min_length=1, max_length=80)


class CreatePolycule(Strict):
    name: str = Name
    # How the founder appears to the others; their account's display name if left out.
    display_name: str | None = Field(default=None, min_length=1, max_length=80)


class PolyculeSummary(Strict):
    id: UUID
    name: str


class PolyculeDetail(PolyculeSummary):
    members: int


class Member(Strict):
    member_id: UUID
    # As they joined; "[erased]" once their account is erased.
    display_name: str
    # False for someone who has left: they stay in the polycule's history.
    current: bool = True


class Invite(Strict):
    note: str | None = Field(default=None, max_length=500)
    expires_in_hours: int = Field(default=168, ge=1, le=720)


class InvitationMade(Strict):
    invitation_id: UUID
    polycule_id: UUID
    # Shown once: only its hash is kept. Whoever holds it may join, once, until it expires.
    token: str
    expires_at: datetime


class OutstandingInvitation(Strict):
    """An invitation not yet used, revoked nor expired; never its secret."""

    invitation_id: UUID
    invited_by: UUID
    # The inviter's name in the polycule.
    invited_by_name: str
    # None for an invitation made before the ledger recorded when.
    invited_at: datetime | None
    expires_at: datetime


class InvitationRevokedView(Strict):
    revoked: UUID


class InvitationShown(Strict):
    """What the holder of an invitation's link may read before joining: whose polycule,
    and who invited them; or, for one that can no longer be used, only why not."""

    status: Literal["open", "used", "revoked", "expired"]
    polycule_id: UUID | None = None
    polycule_name: str | None = None
    invited_by_name: str | None = None
    expires_at: datetime | None = None


class Accept(Strict):
    display_name: str | None = Field(default=None, min_length=1, max_length=80)


async def _display_name(request: web.Request, chosen: str | None) -> str:
    if chosen is not None:
        return chosen
    name: str | None = await request.app[POOL].fetchval(
        "SELECT display_name FROM accounts WHERE id = $1", caller_of(request)
    )
    return name or "member"


async def create_polycule(request: web.Request) -> web.Response:
    body = await parse_body(request, CreatePolycule)
    stamped = stamp(request)
    # Derived from the command id, so a retried request names the same polycule.
    polycule_id = uuid.uuid5(stamped["command_id"], "polycule")
    command = FoundPolycule(
        **stamped,
        polycule_id=polycule_id,
        name=body.name,
        display_name=await _display_name(request, body.display_name),
    )
    await send(request, polycule_id, command)
    return json_of(PolyculeSummary(id=polycule_id, name=body.name), status=201)


async def polycules_of(context: QueryContext, account_id: UUID) -> list[PolyculeSummary]:
    """The polycules the account belongs to, by their names."""
    rows = await context.pool.fetch(MY_POLYCULES, account_id)
    keyring = context.keyring
    return [
        PolyculeSummary(id=row["polycule_id"], name=await keyring.open_sealed(row["sealed_name"]))
        for row in rows
    ]


async def my_polycules(request: web.Request) -> web.Response:
    return json_of_many(await polycules_of(query_context(request), caller_of(request)))


async def polycule_detail(context: QueryContext, found: PolyculeInView) -> PolyculeDetail:
    return PolyculeDetail(
        id=found.polycule_id, name=await polycule_name(context, found.polycule_id),
        members=len(found.state.members),
    )


@kept_per_version
async def show_polycule(request: web.Request) -> web.Response:
    return json_of(await polycule_detail(query_context(request), polycule_of(request)))


async def members_of(
    context: QueryContext, found: PolyculeInView, *, former: bool = False
) -> list[Member]:
    """Current members in the order they joined; with ``former``, also those who left."""
    state = found.state
    names = await member_names(context, found.polycule_id)
    members = [
        Member(member_id=member, display_name=names.get(member, UNNAMED))
        for member in state.members
    ]
    if former:
        members += [
            Member(member_id=member, display_name=name, current=False)
            for member, name in names.items()
            if member not in state.members
        ]
    return members


@kept_per_version
async def list_members(request: web.Request) -> web.Response:
    """Current members in the order they joined; with ``?former=true`` also those who left."""
    return json_of_many(await members_of(
        query_context(request), polycule_of(request), former=request.query.get("former") == "true"
    ))


async def invite(request: web.Request) -> web.Response:
    found = polycule_of(request)
    body = await parse_body(request, Invite)
    token, hashed = new_invitation(found.polycule_id)
    invitation_id = uuid.uuid4()
    now = request.app[CLOCK].now()
    expires_at = now + timedelta(hours=body.expires_in_hours)
    # Never idempotent by key: only the secret's hash is kept, so a retry could not be
    # answered with the secret of the first attempt. A retry makes a second invitation.
    command = InviteMember(
        actor=found.member_id,
        at=now,
        command_id=uuid.uuid4(),
        invitation_id=invitation_id,
        secret_hash=hashed,
        expires_at=expires_at,
        note=body.note,
    )
    # The secret is shown now or never: answered even while the polycule's views are behind.
    await send(request, found.polycule_id, command, answer_reads_views=False)
    return json_of(InvitationMade(
        invitation_id=invitation_id,
        polycule_id=found.polycule_id,
        token=token,
        expires_at=expires_at,
    ), status=201)


async def outstanding_invitations(
    context: QueryContext, found: PolyculeInView
) -> list[OutstandingInvitation]:
    """The invitations that could still admit someone, oldest first."""
    now = context.clock.now()
    names = await member_names(context, found.polycule_id)
    outstanding = [
        invitation for invitation in found.state.invitations.values()
        if invitation.outstanding(now) and invitation.invited_by is not None
    ]
    return [
        OutstandingInvitation(
            invitation_id=invitation.invitation_id,
            invited_by=invitation.invited_by,
            invited_by_name=names.get(invitation.invited_by, UNNAMED),
            invited_at=invitation.invited_at,
            expires_at=invitation.expires_at,
        )
        for invitation in sorted(outstanding, key=lambda one: one.expires_at)
        if invitation.invited_by is not None
    ]


async def list_invitations(request: web.Request) -> web.Response:
    return json_of_many(await outstanding_invitations(query_context(request), polycule_of(request)))


async def revoke_invitation(request: web.Request) -> web.Response:
    found = polycule_of(request)
    invitation_id = path_id(request, "invitation_id", "invitation")
    await send(request, found.polycule_id, RevokeInvitation(
        **stamp(request), invitation_id=invitation_id
    ))
    return json_of(InvitationRevokedView(revoked=invitation_id))


async def invitation_shown(context: QueryContext, token: str) -> InvitationShown:
    """What the token's holder may read of its invitation (ledger/auth/policy.py decides)."""
    polycule_id, hashed = read_invitation(token)
    state, _ = await context.service.load(polycule_id, polycule_decider)
    invitation = policy.invitation_held(state, hashed)
    now = context.clock.now()
    if invitation.accepted_by is not None:
        return InvitationShown(status="used")
    if invitation.revoked:
        return InvitationShown(status="revoked")
    if not invitation.outstanding(now):
        return InvitationShown(status="expired")
    names = await member_names(context, polycule_id)
    inviter = invitation.invited_by
    return InvitationShown(
        status="open",
        polycule_id=polycule_id,
        polycule_name=await polycule_name(context, polycule_id),
        invited_by_name=names.get(inviter, UNNAMED) if inviter else None,
        expires_at=invitation.expires_at,
    )


async def show_invitation(request: web.Request) -> web.Response:
    return json_of(await invitation_shown(query_context(request), request.match_info["token"]))


async def accept_invitation(request: web.Request) -> web.Response:
    polycule_id, hashed = read_invitation(request.match_info["token"])
    body = await parse_body(request, Accept)
    command = AcceptInvitation(
        **stamp(request),
        secret_hash=hashed,
        display_name=await _display_name(request, body.display_name),
    )
    await send(request, polycule_id, command)
    name = await polycule_name(query_context(request), polycule_id)
    return json_of(PolyculeSummary(id=polycule_id, name=name))


async def leave(request: web.Request) -> web.Response:
    found = polycule_of(request)
    await send(request, found.polycule_id, LeavePolycule(**stamp(request)))
    return web.json_response({"left": str(found.polycule_id)})
