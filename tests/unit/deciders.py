"""What the decider tests share: given these events, when this command, then these events
or this error — all through the polycule stream's decider."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypedDict
from uuid import UUID

import pytest

from ledger.domain.polycules import (
    MemberJoined,
    MemberLeft,
    Polycule,
    PolyculeCommand,
    PolyculeFounded,
    polycule_decider,
)
from ledger.errors import DomainError, NotFound
from ledger.events import DomainEvent

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


class Context(TypedDict):
    actor: UUID
    at: datetime
    command_id: UUID


def by(actor: UUID, at: datetime = NOW) -> Context:
    return {"actor": actor, "at": at, "command_id": uuid.uuid4()}


def given(*events: DomainEvent) -> Polycule:
    return polycule_decider.fold(events)


def when(history: Sequence[DomainEvent], command: PolyculeCommand) -> list[DomainEvent]:
    return list(polycule_decider.decide(given(*history), command))


def refusal(history: Sequence[DomainEvent], command: PolyculeCommand) -> DomainError:
    with pytest.raises(DomainError) as refused:
        polycule_decider.decide(given(*history), command)
    return refused.value


def not_found(history: Sequence[DomainEvent], command: PolyculeCommand) -> NotFound:
    with pytest.raises(NotFound) as refused:
        polycule_decider.decide(given(*history), command)
    return refused.value


def polycule_of(*members: UUID) -> list[DomainEvent]:
    """Founded by the first member; the others joined."""
    founder, *others = members
    return [
        PolyculeFounded(polycule_id=uuid.uuid4(), founder_id=founder, name="Pancakes"),
        MemberJoined(member_id=founder, display_name="founder"),
        *(MemberJoined(member_id=m, display_name="joined", invitation_id=uuid.uuid4())
          for m in others),
    ]


def joined(member: UUID) -> MemberJoined:
    return MemberJoined(member_id=member, display_name="late", invitation_id=uuid.uuid4())


def left(member: UUID) -> MemberLeft:
    return MemberLeft(member_id=member, reason="left")
