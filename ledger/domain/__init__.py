"""The domain: pure deciders, one module per concern. No I/O, no clock, no randomness.

A decider is three things (Jérémie Chassaing's "functional event sourcing decider"):
an initial state, ``decide(state, command) -> events`` which checks every rule and raises
a DomainError with a stable code when one is broken, and ``evolve(state, event) -> state``
which only applies what was decided and never raises on replay. Time, ids and the actor
arrive inside the command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from ledger.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class Command:
    """What every command carries besides its own fields."""

    actor: UUID
    at: datetime
    # The caller's id for this command: retrying it with the same id is idempotent.
    command_id: UUID


State = TypeVar("State")
C = TypeVar("C", bound=Command)


@dataclass(frozen=True)
class Decider(Generic[C, State]):
    initial_state: State
    decide: Callable[[State, C], Sequence[DomainEvent]]
    evolve: Callable[[State, DomainEvent], State]

    def fold(self, events: Iterable[DomainEvent]) -> State:
        return self.fold_onto(self.initial_state, events)

    def fold_onto(self, state: State, events: Iterable[DomainEvent]) -> State:
        for event in events:
            state = self.evolve(state, event)
        return state
