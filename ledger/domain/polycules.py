"""A polycule's stream: founded, members invited, joining and leaving — and its agreements.

The polycule is the consistency boundary: one stream, one hash chain, one version that
every command is decided against. Agreement commands are decided in
ledger/domain/agreements.py, disclosures in disclosures.py, breaches and repair in
repair.py, each given the current members (and what else its rules need).

A member who leaves stays in the history (their events remain); they are simply no longer
a current member. Invitations are single-use, expire, and any member may revoke one not
yet used; the stream keeps only the hash of an invitation's secret, never the secret
itself. The rules in words: docs/domain.md#polycules-and-membership.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from ledger.domain import Command, Decider, agreements, disclosures, repair
from ledger.domain.agreements import AGREEMENT_COMMANDS, AgreementCommand, Agreements
from ledger.domain.disclosures import DISCLOSURE_COMMANDS, DisclosureCommand, Disclosures
from ledger.domain.repair import REPAIR_COMMANDS, Breaches, RepairCommand
from ledger.errors import DomainError, NotFound
from ledger.events import EVENTS, DomainEvent
from ledger.text_marks import PersonalText, SharedText

# --- Events ------------------------------------------------------------------------------


@EVENTS.register("PolyculeFounded")
class PolyculeFounded(DomainEvent):
    polycule_id: UUID
    founder_id: UUID
    name: SharedText


@EVENTS.register("MemberJoined")
class MemberJoined(DomainEvent):
    member_id: UUID
    display_name: PersonalText
    # None for the founder, who joins by founding.
    invitation_id: UUID | None = None


@EVENTS.register("MemberInvited")
class MemberInvited(DomainEvent):
    invitation_id: UUID
    invited_by: UUID
    # SHA-256 (hex) of the invitation's secret; the secret travels only to the invitee.
    secret_hash: str
    expires_at: datetime
    note: PersonalText | None = None
    # When it was made (absent from invitations made before it was recorded).
    invited_at: datetime | None = None


@EVENTS.register("InvitationRevoked")
class InvitationRevoked(DomainEvent):
    invitation_id: UUID
    revoked_by: UUID


@EVENTS.register("MemberLeft")
class MemberLeft(DomainEvent):
    member_id: UUID
    reason: Literal["left", "account_erased"]


# --- Commands ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FoundPolycule(Command):
    polycule_id: UUID
    name: str
    display_name: str


@dataclass(frozen=True, kw_only=True)
class InviteMember(Command):
    invitation_id: UUID
    secret_hash: str
    expires_at: datetime
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class RevokeInvitation(Command):
    invitation_id: UUID


@dataclass(frozen=True, kw_only=True)
class AcceptInvitation(Command):
    secret_hash: str
    display_name: str


@dataclass(frozen=True, kw_only=True)
class LeavePolycule(Command):
    reason: Literal["left", "account_erased"] = "left"


PolyculeCommand = (
    FoundPolycule | InviteMember | RevokeInvitation | AcceptInvitation | LeavePolycule
    | AgreementCommand
    | DisclosureCommand | RepairCommand
)


# --- State -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invitation:
    invitation_id: UUID
    expires_at: datetime
    accepted_by: UUID | None = None
    invited_by: UUID | None = None
    invited_at: datetime | None = None
    revoked: bool = False

    def outstanding(self, now: datetime) -> bool:
        """Still able to admit someone: neither used, nor revoked, nor expired."""
        return self.accepted_by is None and not self.revoked and self.expires_at > now


@dataclass(frozen=True, slots=True)
class Polycule:
    founded: bool = False
    founder_id: UUID | None = None
    # Current members, in the order they joined. Their names, like every word, are the
    # read models' (projections/memberships.py): a state holds no one's words.
    members: tuple[UUID, ...] = ()
    invitations: Mapping[str, Invitation] = field(default_factory=dict)
    agreements: Agreements = field(default_factory=Agreements)
    disclosures: Disclosures = field(default_factory=Disclosures)
    breaches: Breaches = field(default_factory=Breaches)

    def is_member(self, member_id: UUID) -> bool:
        return member_id in self.members


# --- Decide ------------------------------------------------------------------------------


def decide(state: Polycule, command: PolyculeCommand) -> Sequence[DomainEvent]:
    if isinstance(command, FoundPolycule):
        return _found(state, command)
    if not state.founded:
        raise NotFound("no such polycule")
    if isinstance(command, DISCLOSURE_COMMANDS):
        return disclosures.decide(state.disclosures, state.members, state.agreements, command)
    if isinstance(command, REPAIR_COMMANDS):
        return repair.decide(state.breaches, state.members, state.agreements, command)
    if isinstance(command, InviteMember):
        return _invite(state, command)
    if isinstance(command, RevokeInvitation):
        return _revoke(state, command)
    if isinstance(command, AcceptInvitation):
        return _accept(state, command)
    if isinstance(command, LeavePolycule):
        return _leave(state, command)
    assert isinstance(command, AGREEMENT_COMMANDS)
    return agreements.decide(state.agreements, state.members, command)


def _found(state: Polycule, command: FoundPolycule) -> Sequence[DomainEvent]:
    if state.founded:
        raise DomainError("already_founded", "this polycule already exists")
    return [
        PolyculeFounded(
            polycule_id=command.polycule_id, founder_id=command.actor, name=command.name
        ),
        MemberJoined(member_id=command.actor, display_name=command.display_name),
    ]


def _invite(state: Polycule, command: InviteMember) -> Sequence[DomainEvent]:
    _require_member(state, command.actor)
    if command.expires_at <= command.at:
        raise DomainError("invitation_expiry_past", "an invitation must expire in the future")
    if command.secret_hash in state.invitations:
        raise DomainError("invitation_exists", "this invitation was already made")
    return [
        MemberInvited(
            invitation_id=command.invitation_id,
            invited_by=command.actor,
            secret_hash=command.secret_hash,
            expires_at=command.expires_at,
            note=command.note,
            invited_at=command.at,
        )
    ]


def _revoke(state: Polycule, command: RevokeInvitation) -> Sequence[DomainEvent]:
    # Any current member may: an invitation lets someone into everyone's polycule.
    _require_member(state, command.actor)
    invitation = next(
        (found for found in state.invitations.values()
         if found.invitation_id == command.invitation_id),
        None,
    )
    if invitation is None:
        raise NotFound("no such invitation")
    if invitation.accepted_by is not None:
        raise DomainError("invitation_used", "this invitation has already been used")
    if invitation.revoked:
        raise DomainError("invitation_revoked", "this invitation was revoked")
    return [InvitationRevoked(invitation_id=command.invitation_id, revoked_by=command.actor)]


def _accept(state: Polycule, command: AcceptInvitation) -> Sequence[DomainEvent]:
    invitation = state.invitations.get(command.secret_hash)
    if invitation is None:
        raise NotFound("no such invitation")
    if invitation.accepted_by is not None:
        raise DomainError("invitation_used", "this invitation has already been used")
    if invitation.revoked:
        raise DomainError("invitation_revoked", "this invitation was revoked")
    if invitation.expires_at <= command.at:
        raise DomainError("invitation_expired", "this invitation has expired")
    if state.is_member(command.actor):
        raise DomainError("already_member", "you are already a member of this polycule")
    return [
        MemberJoined(
            member_id=command.actor,
            display_name=command.display_name,
            invitation_id=invitation.invitation_id,
        )
    ]


def _leave(state: Polycule, command: LeavePolycule) -> Sequence[DomainEvent]:
    _require_member(state, command.actor)
    return [
        MemberLeft(member_id=command.actor, reason=command.reason),
        *agreements.when_member_leaves(state.agreements, command.actor, command.at),
    ]


def _require_member(state: Polycule, member_id: UUID) -> None:
    if not state.is_member(member_id):
        raise DomainError("not_a_member", "only current members can do this")


# --- Evolve ------------------------------------------------------------------------------


def evolve(state: Polycule, event: DomainEvent) -> Polycule:
    if isinstance(event, PolyculeFounded):
        return replace(state, founded=True, founder_id=event.founder_id)
    if isinstance(event, MemberJoined):
        invitations = dict(state.invitations)
        for secret_hash, invitation in invitations.items():
            if invitation.invitation_id == event.invitation_id:
                invitations[secret_hash] = replace(invitation, accepted_by=event.member_id)
        return replace(
            state,
            members=(*state.members, event.member_id),
            invitations=invitations,
        )
    if isinstance(event, MemberInvited):
        invitation = Invitation(
            event.invitation_id, event.expires_at,
            invited_by=event.invited_by, invited_at=event.invited_at,
        )
        return replace(state, invitations={**state.invitations, event.secret_hash: invitation})
    if isinstance(event, InvitationRevoked):
        return replace(state, invitations={
            secret_hash: replace(invitation, revoked=True)
            if invitation.invitation_id == event.invitation_id else invitation
            for secret_hash, invitation in state.invitations.items()
        })
    if isinstance(event, MemberLeft):
        return replace(state, members=tuple(m for m in state.members if m != event.member_id))
    return replace(
        state,
        agreements=agreements.evolve(state.agreements, event),
        disclosures=disclosures.evolve(state.disclosures, event),
        breaches=repair.evolve(state.breaches, event, state.agreements),
    )


polycule_decider: Decider[PolyculeCommand, Polycule] = Decider(Polycule(), decide, evolve)
