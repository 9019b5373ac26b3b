"""Disclosures: telling chosen members (or the whole polycule) something they should know.

Private by default: a disclosure names its audience, and outside it nothing of it is
visible — not its kind, not whom it concerns (ledger/auth/policy.py; the audit view shows
its event as an opaque entry). "The whole polycule" means everyone who is a member when it
is made: someone who joins later was not told. A disclosure is never edited; a correction
is a new disclosure that refers to the one it corrects, told only to people who were told
that one (to anyone else, the reference would reveal what they were not told). Recipients
acknowledge it, and the discloser sees who has. The rules in words:
docs/domain.md#disclosures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from uuid import UUID

from ledger.domain import Command
from ledger.domain.agreements import Agreements
from ledger.errors import DomainError, NotFound, NotPermitted
from ledger.events import EVENTS, DomainEvent
from ledger.text_marks import PersonalText

DisclosureKind = Literal[
    "new_connection", "sexual_health_result", "feelings", "boundary_change", "other"
]
Audience = Literal["chosen", "polycule"]


# --- Events ------------------------------------------------------------------------------


@EVENTS.register("DisclosureMade")
class DisclosureMade(DomainEvent):
    disclosure_id: UUID
    discloser: UUID
    kind: DisclosureKind
    text: PersonalText
    audience: Audience
    # Who was told: the chosen members, or every other member at that moment.
    recipients: tuple[UUID, ...]
    # The agreement this disclosure keeps ("we agreed I'd tell you before a date").
    fulfils_agreement_id: UUID | None = None
    # The earlier disclosure this one corrects.
    corrects_disclosure_id: UUID | None = None


@EVENTS.register("DisclosureAcknowledged")
class DisclosureAcknowledged(DomainEvent):
    disclosure_id: UUID
    member_id: UUID


# --- Commands ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Disclose(Command):
    disclosure_id: UUID
    kind: DisclosureKind
    text: str
    audience: Audience
    # For a chosen audience: who. Ignored for the whole polycule.
    recipients: tuple[UUID, ...] = ()
    fulfils_agreement_id: UUID | None = None
    corrects_disclosure_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class AcknowledgeDisclosure(Command):
    disclosure_id: UUID


DisclosureCommand = Disclose | AcknowledgeDisclosure
DISCLOSURE_COMMANDS = (Disclose, AcknowledgeDisclosure)


# --- State -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disclosure:
    disclosure_id: UUID
    discloser: UUID
    kind: DisclosureKind
    recipients: tuple[UUID, ...]
    acknowledged_by: frozenset[UUID] = frozenset()

    def visible_to(self, member_id: UUID) -> bool:
        return member_id == self.discloser or member_id in self.recipients


@dataclass(frozen=True, slots=True)
class Disclosures:
    items: Mapping[UUID, Disclosure] = field(default_factory=dict)


# --- Decide ------------------------------------------------------------------------------


def decide(
    state: Disclosures,
    members: Sequence[UUID],
    agreements: Agreements,
    command: DisclosureCommand,
) -> Sequence[DomainEvent]:
    if command.actor not in members:
        raise DomainError("not_a_member", "only current members can do this")
    if isinstance(command, Disclose):
        return _disclose(state, members, agreements, command)
    return _acknowledge(state, command)


def _disclose(
    state: Disclosures, members: Sequence[UUID], agreements: Agreements, command: Disclose
) -> Sequence[DomainEvent]:
    if command.disclosure_id in state.items:
        raise DomainError("disclosure_exists", "a disclosure with this id already exists")
    if not command.text.strip():
        raise DomainError("text_required", "say what you are disclosing")
    if command.audience == "polycule":
        recipients = tuple(member for member in members if member != command.actor)
    else:
        recipients = _chosen(command.recipients, command.actor, members)
    if not recipients:
        raise DomainError("no_audience", "there is nobody else in the polycule to tell")
    if command.fulfils_agreement_id is not None:
        agreement = agreements.agreements.get(command.fulfils_agreement_id)
        if agreement is None:
            raise NotFound("no such agreement")
        if command.actor not in agreement.parties:
            raise DomainError(
                "not_a_party", "a disclosure can fulfil only an agreement you are a party to"
            )
    if command.corrects_disclosure_id is not None:
        corrected = state.items.get(command.corrects_disclosure_id)
        if corrected is None or not corrected.visible_to(command.actor):
            raise NotFound("no such disclosure")
        if corrected.discloser != command.actor:
            raise NotPermitted(
                "not_the_discloser", "only the member who made a disclosure can correct it"
            )
        # A correction names what it corrects: told to anyone who was not told that, it
        # would show them that something was kept from them, and which.
        untold = [str(member) for member in recipients if not corrected.visible_to(member)]
        if untold:
            raise DomainError(
                "correction_beyond_audience",
                "a correction can be told only to those who were told what it corrects; "
                "tell anyone else in a new disclosure",
                details={"not_told_before": untold},
            )
    return [DisclosureMade(
        disclosure_id=command.disclosure_id,
        discloser=command.actor,
        kind=command.kind,
        text=command.text.strip(),
        audience=command.audience,
        recipients=recipients,
        fulfils_agreement_id=command.fulfils_agreement_id,
        corrects_disclosure_id=command.corrects_disclosure_id,
    )]


def _chosen(
    chosen: Sequence[UUID], discloser: UUID, members: Sequence[UUID]
) -> tuple[UUID, ...]:
    if len(set(chosen)) != len(chosen):
        raise DomainError("recipient_repeated", "each member is chosen once")
    if discloser in chosen:
        raise DomainError("recipient_is_discloser", "choose the members you are telling")
    outsiders = [str(member) for member in chosen if member not in members]
    if outsiders:
        raise DomainError(
            "recipient_not_member",
            "a disclosure can be shared only with current members",
            details={"not_members": outsiders},
        )
    return tuple(chosen)


def _acknowledge(state: Disclosures, command: AcknowledgeDisclosure) -> Sequence[DomainEvent]:
    disclosure = state.items.get(command.disclosure_id)
    if disclosure is None or not disclosure.visible_to(command.actor):
        raise NotFound("no such disclosure")
    if command.actor not in disclosure.recipients:
        raise DomainError(
            "not_a_recipient", "only the members who were told can acknowledge a disclosure"
        )
    if command.actor in disclosure.acknowledged_by:
        return []
    return [DisclosureAcknowledged(disclosure_id=disclosure.disclosure_id, member_id=command.actor)]


# --- Evolve ------------------------------------------------------------------------------


def evolve(state: Disclosures, event: DomainEvent) -> Disclosures:
    if isinstance(event, DisclosureMade):
        disclosure = Disclosure(
            disclosure_id=event.disclosure_id,
            discloser=event.discloser,
            kind=event.kind,
            recipients=event.recipients,
        )
        return replace(state, items={**state.items, event.disclosure_id: disclosure})
    if isinstance(event, DisclosureAcknowledged):
        disclosure = state.items[event.disclosure_id]
        acknowledged = replace(
            disclosure, acknowledged_by=disclosure.acknowledged_by | {event.member_id}
        )
        return replace(state, items={**state.items, event.disclosure_id: acknowledged})
    return state
