"""A polycule's own life: founded, members joining and leaving.

The foundation ships only the founding; membership arrives with the members issue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from ledger.domain import Command, Decider
from ledger.errors import DomainError
from ledger.events import EVENTS, DomainEvent


@EVENTS.register("PolyculeFounded")
class PolyculeFounded(DomainEvent):
    polycule_id: UUID
    founder_id: UUID


@dataclass(frozen=True, kw_only=True)
class FoundPolycule(Command):
    polycule_id: UUID


@dataclass(frozen=True)
class Polycule:
    founded: bool = False
    founder_id: UUID | None = None


def decide(state: Polycule, command: FoundPolycule) -> Sequence[DomainEvent]:
    if state.founded:
        raise DomainError("already_founded", "this polycule already exists")
    return [PolyculeFounded(polycule_id=command.polycule_id, founder_id=command.actor)]


def evolve(state: Polycule, event: DomainEvent) -> Polycule:
    if isinstance(event, PolyculeFounded):
        return Polycule(founded=True, founder_id=event.founder_id)
    return state


polycule_decider: Decider[FoundPolycule, Polycule] = Decider(Polycule(), decide, evolve)
