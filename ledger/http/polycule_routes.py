"""The polycule API: create, list mine, see one and its members, invite, accept, leave.

Views stay thin: parse the body (pydantic), build a command, hand it to the application
service, shape the answer. What a view reads is a typed query beside it (``polycules_of``,
``polycule_detail``, ``members_of``), which the web client's pages ask too. Who may call
each route is decided in ledger/auth/policy.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    LeavePolycule,
)
from ledger.http.authorization import PolyculeInView, caller_of, polycule_of
from ledger.http.commands import send, stamp
from ledger.http.context import QueryContext, query_context
from ledger.http.invitation_tokens import new_invitation, read_invitation
from ledger.http.keys import CLOCK, POOL
from ledger.http.names import UNNAMED, member_names, polycule_name
from ledger.http.parsing import parse_body
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
