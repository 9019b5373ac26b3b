"""The one path every command takes — from the API, the web client and the scheduler alike:
load the polycule's stream → decide → append at the version that was read, and on a
concurrency conflict read again and decide again, a bounded number of times.

Event ids are derived from the command id, so a command retried by its sender (a phone on
a flaky connection) is recognised and answered with the original outcome, never applied
twice.

Each instance keeps the states it folded (``StateCache``), so loading a polycule reads only
the events appended since; every request loads its polycule at least once (the
authorization middleware does), and a polycule's stream grows for years. The states hold
no one's words (sealed texts are folded unopened), so nothing about them changes when
someone is erased.
"""

from __future__ import annotations

import asyncio
import random
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

import structlog

from ledger import snapshots
from ledger.domain import Command, Decider
from ledger.errors import (
    ConcurrencyError,
    DuplicateEventError,
    IdempotencyKeyReused,
    LedgerError,
)
from ledger.events import EVENTS, DomainEvent, EventRegistry
from ledger.privacy import (
    KeyOwner,
    KeyRing,
    decrypt_event_fields,
    encrypt_event_fields,
    with_texts_unopened,
)
from ledger.snapshots import Snapshots
from ledger.store import together
from ledger.store.events import EventStore
from ledger.store.records import EventMetadata, NewEvent, RecordedEvent
from ledger.store.together import AppendsTogether

if TYPE_CHECKING:
    from ledger.database import Connection

log = structlog.get_logger(__name__)

State = TypeVar("State")
C = TypeVar("C", bound=Command)


@dataclass(frozen=True)
class CommandOutcome:
    stream_id: UUID
    version: int
    events: tuple[DomainEvent, ...]
    # True when this command had been handled before and nothing new was written.
    replayed: bool = False
    # False when the events are recorded but the polycule's read models do not show them
    # yet (its read side is parked): the answer is built from the events instead.
    views_current: bool = True


class InlineReadSide(Protocol):
    """The read models a command writes in its own transaction (projections/read_side.py)."""

    async def apply_inline(
        self, connection: Connection, events: Sequence[RecordedEvent]
    ) -> bool: ...

    async def apply_inline_together(
        self, connection: Connection, streams: Sequence[Sequence[RecordedEvent]]
    ) -> None: ...

    async def shows(self, polycule_id: UUID, version: int) -> bool: ...


def event_id_for(command_id: UUID, index: int) -> UUID:
    """The id of the ``index``-th event a command produces: the same on every retry."""
    return uuid.uuid5(command_id, str(index))


class StateCache:
    """The latest state folded per (stream, decider), least recently used evicted first.

    States hold no one's words (``decode_for_deciding``), so a state is kept as long as it
    is used: an erasure changes nothing in it, and a polycule is never folded again from
    its first event while its state is kept.
    """

    def __init__(self, *, capacity: int = 2_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[UUID, int], tuple[int, Any]] = OrderedDict()

    def get(self, stream_id: UUID, decider: Decider[Any, State]) -> tuple[State, int] | None:
        """The state and its version."""
        key = (stream_id, id(decider))
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        version, state = entry
        return state, version

    def held(self, decider: Decider[Any, State]) -> list[tuple[UUID, State, int]]:
        """Every stream's state kept for ``decider``, with its version."""
        wanted = id(decider)
        return [
            (stream_id, state, version)
            for (stream_id, decider_id), (version, state) in self._entries.items()
            if decider_id == wanted
        ]

    def put(
        self, stream_id: UUID, decider: Decider[Any, State], state: State, version: int
    ) -> None:
        key = (stream_id, id(decider))
        current = self._entries.get(key)
        if current is not None and current[0] > version:
            return  # a concurrent load already kept a later state
        self._entries[key] = (version, state)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class Turns:
    """One command at a time per stream, within this instance.

    The writers of one polycule would otherwise decide on the same version together and
    all but one be refused at the append, again and again while they keep coming; waiting
    for one's turn here costs nothing and refuses nobody. Instances do not share turns:
    between them the append's expected version decides, and the loser decides again.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[UUID, asyncio.Lock]
        self._locks = weakref.WeakValueDictionary()

    def of(self, stream_id: UUID) -> asyncio.Lock:
        lock = self._locks.get(stream_id)
        if lock is None:
            lock = self._locks[stream_id] = asyncio.Lock()
        return lock


class ApplicationService:
    def __init__(
        self,
        store: EventStore,
        keyring: KeyRing,
        *,
        registry: EventRegistry = EVENTS,
        max_attempts: int = 5,
        states: StateCache | None = None,
        read_side: InlineReadSide | None = None,
        snapshots: Snapshots | None = None,
        commits_at_once: int = together.AT_ONCE,
    ) -> None:
        self._store = store
        self._snapshots = snapshots
        self._read_side = read_side
        # Commands of several polycules arriving at once are committed together.
        self._appends = None if read_side is None else AppendsTogether(
            store, read_side.apply_inline, read_side.apply_inline_together, True,
            at_once=commits_at_once,
        )
        self._keyring = keyring
        self._registry = registry
        self._max_attempts = max_attempts
        self._states = states if states is not None else StateCache()
        self._turns = Turns()

    @property
    def snapshots(self) -> Snapshots | None:
        """Where folded states are kept between processes, if anywhere."""
        return self._snapshots

    @property
    def commands_waiting(self) -> int:
        """How many commands wait for the transactions in flight to be committed."""
        return 0 if self._appends is None else self._appends.waiting

    async def close(self) -> None:
        """Let the commands being committed finish (at shutdown)."""
        if self._appends is not None:
            await self._appends.close()

    async def decode(self, recorded: RecordedEvent) -> DomainEvent:
        """The event as the domain knows it, its sealed texts opened (or read as erased)."""
        data = await decrypt_event_fields(recorded.data, self._keyring)
        return self._registry.decode(recorded.event_type, recorded.schema_version, data)

    def decode_for_deciding(self, recorded: RecordedEvent) -> DomainEvent:
        """The event as deciders fold it: its sealed texts left unopened (``UNOPENED``). A
        folded state holds no one's words, so it needs no key, outlives any erasure
        unchanged, and can be kept as a snapshot."""
        data = with_texts_unopened(recorded.data)
        return self._registry.decode(recorded.event_type, recorded.schema_version, data)

    async def load(
        self, stream_id: UUID, decider: Decider[Any, State], *, known_version: int | None = None
    ) -> tuple[State, int]:
        """The stream's current state and version: the cached state, brought up to date.

        ``known_version``: the stream's version as the caller has just read it (with the
        request's credential, in the same round trip). A kept state already at it is
        current and is answered without reading the stream."""
        if known_version is not None:
            kept = self._states.get(stream_id, decider)
            if kept is not None and kept[1] >= known_version:
                return kept
        return await self._load(stream_id, decider)

    async def read_between(
        self, stream_id: UUID, after_version: int, up_to_version: int
    ) -> list[RecordedEvent]:
        """The stream's recorded events after one version, up to and including another."""
        return await self._store.read_stream(
            stream_id, after_version, limit=up_to_version - after_version
        )

    async def load_until(
        self, stream_id: UUID, decider: Decider[Any, State], version: int
    ) -> State:
        """The stream's state as it was at ``version`` (folded afresh, never cached)."""
        state = decider.initial_state
        if version > 0:
            for event in await self._store.read_stream(stream_id, 0, limit=version):
                state = decider.evolve(state, self.decode_for_deciding(event))
        return state

    async def _load(
        self, stream_id: UUID, decider: Decider[Any, State]
    ) -> tuple[State, int]:
        cached = self._states.get(stream_id, decider)
        if cached is None and self._snapshots is not None:
            cached = await self._snapshots.latest(stream_id, decider)
        state, version = cached or (decider.initial_state, 0)
        started_at = version
        for event in await self._store.read_stream(stream_id, version):
            state = decider.evolve(state, self.decode_for_deciding(event))
            version = event.stream_version
        if version:
            self._states.put(stream_id, decider, state, version)
        await self._keep_snapshot(stream_id, decider, state, started_at, version)
        return state, version

    async def handle(
        self,
        stream_id: UUID,
        decider: Decider[C, State],
        command: C,
        *,
        request_id: str | None = None,
        correlation_id: UUID | None = None,
        new_command_id: bool = False,
        request_fingerprint: str | None = None,
    ) -> CommandOutcome:
        """Decide ``command`` on the stream's state and append what it causes.

        ``new_command_id``: the caller has just made the command's id up (no sender can be
        retrying it), so there is no earlier outcome to look for.

        ``request_fingerprint``: what the request that carried the command's id was (its
        method, path and body, digested). It is kept, sealed, with the events; a later
        command under the same id must come with the same fingerprint, or it is refused
        (``IdempotencyKeyReused``), as is the same id sent for another stream.

        Copies of one command sent at once (a phone resending on a flaky network), here or
        to another instance, all get the first one's outcome: whenever deciding or appending
        fails, the command's own events are looked for again before answering.

        The first attempt decides on the state this instance keeps, without reading the
        stream, when it has one: the append's expected version is the check. If another
        instance appended meanwhile, the append is refused and the stream is read; a
        refusal or "nothing to do" decided on a kept state is decided again on the stream
        read afresh, so an old state never answers for the stream.
        """
        async with self._turns.of(stream_id):
            return await self._handle_in_turn(
                stream_id, decider, command, request_id=request_id,
                correlation_id=correlation_id, new_command_id=new_command_id,
                request_fingerprint=request_fingerprint,
            )

    async def _handle_in_turn(
        self,
        stream_id: UUID,
        decider: Decider[C, State],
        command: C,
        *,
        request_id: str | None,
        correlation_id: UUID | None,
        new_command_id: bool,
        request_fingerprint: str | None,
    ) -> CommandOutcome:
        async def earlier() -> CommandOutcome | None:
            if new_command_id:
                return None
            return await self._outcome_of_earlier(stream_id, command, request_fingerprint)

        if (outcome := await earlier()) is not None:
            return outcome
        metadata = EventMetadata(
            actor=str(command.actor),
            command_id=command.command_id,
            correlation_id=correlation_id or command.command_id,
            request_id=request_id,
            request_fingerprint=(
                None if request_fingerprint is None else dict(await self._keyring.seal(
                    request_fingerprint, KeyOwner("member", command.actor)
                ))
            ),
        ).to_json()
        for attempt in range(1, self._max_attempts + 1):
            kept = self._states.get(stream_id, decider) if attempt == 1 else None
            if kept is not None:
                state, version = kept
            else:
                state, version = await self._load(stream_id, decider)
            try:
                decided = decider.decide(state, command)
            except LedgerError:
                if kept is None:
                    # A copy of this command may have been recorded meanwhile (it would
                    # explain the refusal): its outcome is the answer.
                    if (outcome := await earlier()) is not None:
                        return outcome
                    raise
                continue  # refused on the kept state: decide again on the stream as it is
            if not decided:
                if kept is not None:
                    continue
                return await earlier() or CommandOutcome(stream_id, version, ())
            new_events = await self._to_new_events(stream_id, command, decided, metadata)
            try:
                # Recorded at the moment it was decided at, which the events themselves
                # name where time matters (a ratification, an ending).
                if self._appends is None or self._read_side is None:
                    result = await self._store.append(
                        stream_id, version, new_events, recorded_at=command.at
                    )
                    views_current = True
                else:
                    # The polycule's read models are written in the same transaction.
                    result, shown = await self._appends.append_applying(
                        stream_id, version, new_events, recorded_at=command.at
                    )
                    views_current = (
                        shown if shown is not None
                        else await self._read_side.shows(stream_id, result.version)
                    )
            except (ConcurrencyError, DuplicateEventError):
                # Another instance wrote first, perhaps a copy of this very command.
                if (outcome := await earlier()) is not None:
                    return outcome
                log.info("command_retried_after_conflict", attempt=attempt)
                # Another instance wrote first; a moment's random pause keeps several
                # losers from colliding again on the next version.
                await asyncio.sleep(random.uniform(0, 0.005 * attempt))  # noqa: S311
                continue
            # What was just written is the next state: the next load need not read it.
            state = decider.fold_onto(state, decided)
            self._states.put(stream_id, decider, state, result.version)
            await self._keep_snapshot(stream_id, decider, state, version, result.version)
            return CommandOutcome(
                stream_id, result.version, tuple(decided), views_current=views_current
            )
        raise ConcurrencyError(stream_id, version, await self._store.stream_version(stream_id))

    async def _to_new_events(
        self,
        stream_id: UUID,
        command: Command,
        decided: Sequence[DomainEvent],
        metadata: dict[str, Any],
    ) -> list[NewEvent]:
        new_events = []
        for index, event in enumerate(decided):
            # The command's actor wrote the event's personal words; shared text goes under
            # the polycule's key (the stream is the polycule).
            data = await encrypt_event_fields(
                event, author_id=command.actor, polycule_id=stream_id, keyring=self._keyring
            )
            new_events.append(NewEvent(
                event_id=event_id_for(command.command_id, index),
                event_type=event.event_type,
                schema_version=event.schema_version,
                data=data,
                metadata=metadata,
            ))
        return new_events

    async def _outcome_of_earlier(
        self, stream_id: UUID, command: Command, request_fingerprint: str | None
    ) -> CommandOutcome | None:
        """The outcome of the command recorded under ``command``'s id, if there is one."""
        first = await self._store.events_by_id([event_id_for(command.command_id, 0)])
        if not first:
            return None
        if first[0].stream_id != stream_id or not await self._same_request(
            first[0], request_fingerprint
        ):
            raise IdempotencyKeyReused()
        written = await self._store.events_of_command(
            stream_id, command.command_id, first[0].event_id
        )
        version = written[-1].stream_version
        return CommandOutcome(
            stream_id,
            version,
            tuple([await self.decode(event) for event in written]),
            replayed=True,
            views_current=(
                self._read_side is None or await self._read_side.shows(stream_id, version)
            ),
        )

    async def _keep_snapshot(
        self, stream_id: UUID, decider: Decider[Any, State], state: State, before: int,
        after: int,
    ) -> None:
        """Keep ``state`` (at ``after``) as a snapshot when the stream has grown past one since
        ``before``: the next instance to fold it starts there."""
        if self._snapshots is not None and snapshots.due(before, after):
            await self._snapshots.keep(stream_id, decider, state, after)

    async def _same_request(self, first: RecordedEvent, request_fingerprint: str | None) -> bool:
        """Whether the request recorded with ``first`` is the one now fingerprinted. A command
        recorded without a fingerprint (sent without a key, or before keys were checked)
        matches any."""
        kept = first.metadata.get("request_fingerprint")
        if kept is None or request_fingerprint is None:
            return True
        return await self._keyring.open_sealed(kept) == request_fingerprint
