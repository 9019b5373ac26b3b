"""The asyncpg event store: append with an expected version, read a stream, read the log.

The statements themselves, and why they are shaped as they are, live in ``sql.py``.

Recorded time. Every event's ``recorded_at`` is the moment the ledger recorded it, and in
each stream it never goes back: an append is recorded at the moment it is given (the
moment its command was decided at, by the clock of the instance that decided it) or at the
stream's last recorded moment, whichever is later. Instances' clocks differ by a little; a
command decided on one whose clock is behind is recorded as happening no earlier than what
it follows, so "in the order recorded" and "in the order of recorded times" are the same
order in every polycule. The moment is part of each event's hash, so it is settled here,
as the rows are formed, and not by the database. Times an event names itself (when an
agreement came into force, a deadline, a due date) are facts the command stated and are
kept as they were decided.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from ledger.database import Connection, Executor
from ledger.errors import ConcurrencyError, DuplicateEventError
from ledger.store import sql
from ledger.store.chain import GENESIS_HASH, canonical_encoding, encode_json, link
from ledger.store.records import (
    AppendResult,
    NewEvent,
    RecordedEvent,
)

# Event types are names in code, never free text.
_EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,99}$")
_KNOWN_GOOD_TYPES: set[str] = set()


def _check_event_type(event_type: str) -> None:
    if not _EVENT_TYPE.match(event_type):
        raise ValueError(f"not an event type name: {event_type!r}")
    if len(_KNOWN_GOOD_TYPES) < 10_000:  # the ledger has a few dozen; never grow unbounded
        _KNOWN_GOOD_TYPES.add(event_type)


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


Applied = TypeVar("Applied")
# Work done in an append's own transaction, given the events as recorded: the polycule's
# read models (projections/read_side.py).
ApplyInline = Callable[["Connection", Sequence[RecordedEvent]], Awaitable[Applied]]


@dataclass(frozen=True)
class PendingAppend:
    """One stream's append, waiting to be made together with others' (``together.py``)."""

    stream_id: UUID
    expected_version: int
    events: Sequence[NewEvent]
    recorded_at: datetime | None = None


# Work done in the transaction of several streams' appends, given each append's events as
# recorded (in the order the appends were handed in).
ApplyTogether = Callable[["Connection", Sequence[Sequence[RecordedEvent]]], Awaitable[None]]


class _NotTheHead(Exception):
    """The expected version is not the stream's head: nothing may be written."""


class AppendListener(Protocol):
    def poke(self, stream_id: UUID | None = None) -> None:
        """``stream_id`` was appended to and committed (None: some stream, unnamed)."""


def recorded_event(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        position=row["position"],
        transaction_id=int(row["transaction_id"]),
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
        previous_hash=bytes(row["previous_hash"]),
        hash=bytes(row["hash"]),
    )


class Head(NamedTuple):
    """A stream's last event, as the next append needs it: its hash to link to, and its
    recorded moment, which the next events' may not precede."""

    hash: bytes
    recorded_at: datetime | None


GENESIS = Head(GENESIS_HASH, None)


class StreamHeads:
    """The last known head of recently used streams, to link the chain.

    Only committed events are remembered (read from the log, or appended outside any
    caller's transaction), and a committed event never changes or disappears, so an entry
    is never wrong, only possibly old: an old entry simply does not match the expected
    version and the head is read from the database instead. Keyed by the UUID's integer,
    which hashes far faster than the UUID object on this hot path.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._heads: OrderedDict[int, tuple[int, Head]] = OrderedDict()

    def get(self, stream_id: UUID, version: int) -> Head | None:
        head = self._heads.get(stream_id.int)
        return head[1] if head is not None and head[0] == version else None

    def remember(self, stream_id: UUID, version: int, head: Head) -> None:
        key = stream_id.int
        known = self._heads.get(key)
        if known is not None:
            if known[0] >= version:
                return
            self._heads.move_to_end(key)
        self._heads[key] = (version, head)
        if len(self._heads) > self._capacity:
            self._heads.popitem(last=False)


# The event store's own unique keys: an append that collides on either was refused (the
# stream moved) or was made before (a retry). On Citus the client is not told which key a
# collision was on: a shard's error reaches it without the constraint's name (and each
# shard's copy of a key carries the shard's number, "events_stream_version_key_102033"),
# and a collision met where Citus copies rows into the shards (an INSERT … SELECT: the
# appends of several events) arrives as an internal error, without its SQLSTATE either.
# Such an error may be a refusal, and the database is asked (``_explain_refused_append``).
_APPEND_KEYS = frozenset({"events_stream_version_key", "events_event_id_key"})
_SHARD_NUMBER = re.compile(r"_[0-9]+$")


def _is_append_key(error: asyncpg.PostgresError) -> bool:
    """Whether ``error`` is a collision known to be on one of the store's keys."""
    constraint = getattr(error, "constraint_name", None) or ""
    return isinstance(error, asyncpg.UniqueViolationError) and (
        _SHARD_NUMBER.sub("", constraint) in _APPEND_KEYS or constraint in _APPEND_KEYS
    )


def _may_be_refused(error: asyncpg.PostgresError) -> bool:
    """Whether an append that met ``error`` may have been refused by the store's keys."""
    if isinstance(error, asyncpg.UniqueViolationError):
        return not getattr(error, "constraint_name", None) or _is_append_key(error)
    return type(error) is asyncpg.InternalServerError


class EventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock = utc_now,
        on_append: AppendListener | None = None,
        heads: StreamHeads | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._on_append = on_append
        self._heads = heads if heads is not None else StreamHeads()

    async def append(
        self,
        stream_id: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        connection: Connection | None = None,
        recorded_at: datetime | None = None,
    ) -> AppendResult:
        """Append ``events`` after ``expected_version``, all or nothing.

        Raises ConcurrencyError (nothing written) when the stream is elsewhere. Retrying an
        append whose events were already written returns the original result. Given a
        ``connection``, the append joins that connection's open transaction; subscribers are
        then not woken (the events are not visible before that transaction commits) and
        find them at their next poll, or when the caller calls ``announce``.
        ``recorded_at``: the moment the events record (the application service passes the
        moment its command was decided at); the store's clock when left out; the stream's
        last recorded moment if that is later (see "Recorded time" above).
        """
        _check(expected_version, events)
        executor: Executor = connection or self._pool
        head = (
            GENESIS if expected_version == 0
            else self._heads.get(stream_id, expected_version)
        )
        if head is None:
            head = await self._head(executor, stream_id, expected_version)
            if head is None:
                return await self._explain_refused_append(
                    stream_id, expected_version, events, None
                )
        recorded_at = _not_before(head, recorded_at or self._clock())
        try:
            if len(events) == 1:  # the common case, kept lean: appends are the hot path
                event = events[0]
                last_hash = _chained(
                    head.hash, stream_id, expected_version + 1, event, recorded_at
                )
                await executor.execute(
                    sql.APPEND_ONE, stream_id, expected_version + 1, event.event_id,
                    event.event_type, event.schema_version, encode_json(event.data),
                    encode_json(event.metadata), recorded_at, head.hash, last_hash,
                )
            else:
                chained = _chain(head.hash, stream_id, expected_version, events, recorded_at)
                await executor.execute(sql.APPEND_MANY, *_many_arguments(stream_id, chained))
                last_hash = chained[-1].hash
        except asyncpg.PostgresError as error:
            if not _may_be_refused(error):
                raise
            return await self._explain_refused_append(stream_id, expected_version, events, error)
        version = expected_version + len(events)
        if connection is None:  # committed: the new head can be trusted, and seen
            self._heads.remember(stream_id, version, Head(last_hash, recorded_at))
            self.announce(stream_id)
        return AppendResult(stream_id, version)

    async def append_applying(
        self,
        stream_id: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        apply: ApplyInline[Applied],
        *,
        recorded_at: datetime | None = None,
    ) -> tuple[AppendResult, Applied | None]:
        """Append ``events`` and, in the same transaction, ``apply`` them: one commit.

        This is how a command writes its polycule's read models with its events (read your
        writes by construction). If ``apply`` raises, nothing at all is written and its
        error propagates. The expected version is checked as ``append`` checks it. A retry
        of an append that was already written returns its original result and None: what
        it changed was applied when it was written.
        """
        _check(expected_version, events)
        head = (
            GENESIS if expected_version == 0
            else self._heads.get(stream_id, expected_version)
        )
        moment = recorded_at or self._clock()
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                if head is None:
                    head = await self._head(connection, stream_id, expected_version)
                    if head is None:
                        raise _NotTheHead
                recorded_at = _not_before(head, moment)
                chained = _chain(head.hash, stream_id, expected_version, events, recorded_at)
                places: Sequence[asyncpg.Record]
                if len(chained) == 1:
                    event = chained[0]
                    place = await connection.fetchrow(
                        sql.APPEND_ONE_RETURNING, stream_id, event.stream_version,
                        event.event_id, event.event_type, event.schema_version,
                        encode_json(event.data), encode_json(event.metadata), recorded_at,
                        event.previous_hash, event.hash,
                    )
                    assert place is not None  # an INSERT … RETURNING that did not raise
                    places = [place]
                else:
                    places = await connection.fetch(
                        sql.APPEND_MANY_RETURNING, *_many_arguments(stream_id, chained)
                    )
                by_version = {row["stream_version"]: row for row in places}
                recorded = [
                    _placed(event, by_version[event.stream_version]) for event in chained
                ]
                applied = await apply(connection, recorded)
        except _NotTheHead:
            refused = await self._explain_refused_append(stream_id, expected_version, events, None)
            return refused, None
        except asyncpg.PostgresError as error:
            if not _may_be_refused(error):
                raise
            return await self._explain_refused_append(
                stream_id, expected_version, events, error
            ), None
        version = recorded[-1].stream_version
        self._heads.remember(stream_id, version, _head_of(recorded[-1]))
        self.announce(stream_id)
        return AppendResult(stream_id, version), applied

    async def append_applying_together(
        self,
        appends: Sequence[PendingAppend],
        apply: ApplyTogether,
    ) -> list[AppendResult]:
        """Append several streams' events and ``apply`` them, all in one transaction.

        The appends of ``appends`` are of distinct streams. All of them are written, or none:
        any refusal (an expected version that is not the head, an event id used before) or
        any error of ``apply`` raises and writes nothing, and the caller then makes each
        append alone with ``append_applying``, which says which one was refused and why.
        """
        if len({append.stream_id for append in appends}) != len(appends):
            raise ValueError("appends made together must be of distinct streams")
        for append in appends:
            _check(append.expected_version, append.events)
        async with self._pool.acquire() as connection, connection.transaction():
            chained: list[list[RecordedEvent]] = []
            for append in appends:
                head = (
                    GENESIS if append.expected_version == 0
                    else self._heads.get(append.stream_id, append.expected_version)
                    or await self._head(
                        connection, append.stream_id, append.expected_version
                    )
                )
                if head is None:
                    raise _NotTheHead
                chained.append(_chain(
                    head.hash, append.stream_id, append.expected_version, append.events,
                    _not_before(head, append.recorded_at or self._clock()),
                ))
            every = [event for events in chained for event in events]
            places = await connection.fetch(sql.APPEND_TOGETHER_RETURNING, *_together_arguments(
                every
            ))
            by_event = {(row["stream_id"], row["stream_version"]): row for row in places}
            recorded = [
                [_placed(event, by_event[event.stream_id, event.stream_version])
                 for event in events]
                for events in chained
            ]
            await apply(connection, recorded)
        heads = [events[-1] for events in recorded]
        for last in heads:
            self._heads.remember(last.stream_id, last.stream_version, _head_of(last))
        self.announce(*(head.stream_id for head in heads))
        return [AppendResult(head.stream_id, head.stream_version) for head in heads]

    def announce(self, *stream_ids: UUID) -> None:
        """Wake the subscribers of these streams: new events of theirs are committed. With
        no stream named, every subscriber is woken."""
        if self._on_append is None:
            return
        if not stream_ids:
            self._on_append.poke()
        for stream_id in stream_ids:
            self._on_append.poke(stream_id)

    async def _head(self, executor: Executor, stream_id: UUID, version: int) -> Head | None:
        """The stream's event at ``version``, if that is the stream's head."""
        head = await executor.fetchrow(sql.STREAM_HEAD, stream_id)
        if head is None or head["stream_version"] != version:
            return None
        return Head(bytes(head["hash"]), head["recorded_at"])

    async def _explain_refused_append(
        self,
        stream_id: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        error: asyncpg.PostgresError | None,
    ) -> AppendResult:
        """Nothing was written: was it written before (a retry), or did the stream move?
        ``error`` (what the append met, if it met one) is one ``_may_be_refused`` let
        through; one that is not known to be a collision on the store's keys is raised as
        it came when the database shows neither."""
        original = await self._pool.fetch(sql.FIND_BY_EVENT_IDS, [e.event_id for e in events])
        if original:
            if _same_append(stream_id, events, [recorded_event(row) for row in original]):
                return AppendResult(stream_id, max(row["stream_version"] for row in original))
            raise DuplicateEventError(
                "these event ids were already used for other events",
                details={"event_ids": [str(row["event_id"]) for row in original]},
            )
        actual = await self.stream_version(stream_id)
        if actual == expected_version and error is not None and not _is_append_key(error):
            raise error  # not a refusal after all: the stream is where it was expected
        raise ConcurrencyError(stream_id, expected_version, actual) from None

    async def events_by_id(self, event_ids: Sequence[UUID]) -> list[RecordedEvent]:
        rows = await self._pool.fetch(sql.FIND_BY_EVENT_IDS, list(event_ids))
        return [recorded_event(row) for row in rows]

    async def events_of_command(
        self, stream_id: UUID, command_id: UUID, first_event_id: UUID
    ) -> list[RecordedEvent]:
        """The events one command wrote to a stream, in order, from the first one's id."""
        rows = await self._pool.fetch(
            sql.EVENTS_OF_COMMAND, stream_id, str(command_id), first_event_id
        )
        return [recorded_event(row) for row in rows]

    async def stream_version(self, stream_id: UUID) -> int:
        version: int = await self._pool.fetchval(sql.STREAM_VERSION, stream_id)
        return version

    async def read_stream(
        self, stream_id: UUID, after_version: int = 0, *, limit: int | None = None
    ) -> list[RecordedEvent]:
        """The stream's events after ``after_version``, in order; at most ``limit``."""
        if limit is not None:
            rows = await self._pool.fetch(sql.READ_STREAM_PAGE, stream_id, after_version, limit)
            return [recorded_event(row) for row in rows]
        rows = await self._pool.fetch(sql.READ_STREAM, stream_id, after_version)
        events = [recorded_event(row) for row in rows]
        if events:
            self._heads.remember(stream_id, events[-1].stream_version, _head_of(events[-1]))
        return events

    async def horizon_lag_seconds(self) -> float:
        lag: float = await self._pool.fetchval(sql.HORIZON_LAG)
        return lag


def _check(expected_version: int, events: Sequence[NewEvent]) -> None:
    if not events:
        raise ValueError("an append needs at least one event")
    if expected_version < 0:
        raise ValueError("expected_version cannot be negative")
    for event in events:
        if event.event_type not in _KNOWN_GOOD_TYPES:
            _check_event_type(event.event_type)


def _head_of(event: RecordedEvent) -> Head:
    return Head(event.hash, event.recorded_at)


def _not_before(head: Head, moment: datetime) -> datetime:
    """The moment an append after ``head`` is recorded at: ``moment``, unless the stream's
    last event was recorded later (another instance, its clock ahead of this one's)."""
    if head.recorded_at is not None and head.recorded_at > moment:
        return head.recorded_at
    return moment


def _chain(
    previous: bytes,
    stream_id: UUID,
    expected_version: int,
    events: Sequence[NewEvent],
    recorded_at: datetime,
) -> list[RecordedEvent]:
    """The events as they will be recorded, each linked to the one before; their places in
    the global log (position, transaction) are the database's to give, and 0 until then."""
    chained = []
    for version, event in enumerate(events, start=expected_version + 1):
        event_hash = _chained(previous, stream_id, version, event, recorded_at)
        chained.append(RecordedEvent(
            position=0, transaction_id=0, stream_id=stream_id, stream_version=version,
            event_id=event.event_id, event_type=event.event_type,
            schema_version=event.schema_version, data=event.data, metadata=event.metadata,
            recorded_at=recorded_at, previous_hash=previous, hash=event_hash,
        ))
        previous = event_hash
    return chained


def _many_arguments(stream_id: UUID, chained: Sequence[RecordedEvent]) -> tuple[object, ...]:
    """APPEND_MANY's parameters, in order."""
    return (
        stream_id,
        [event.stream_version for event in chained],
        [event.event_id for event in chained],
        [event.event_type for event in chained],
        [event.schema_version for event in chained],
        [encode_json(event.data) for event in chained],
        [encode_json(event.metadata) for event in chained],
        chained[0].recorded_at,
        [event.previous_hash for event in chained],
        [event.hash for event in chained],
    )


def _together_arguments(chained: Sequence[RecordedEvent]) -> tuple[object, ...]:
    """APPEND_TOGETHER_RETURNING's parameters, in order."""
    return (
        [event.stream_id for event in chained],
        [event.stream_version for event in chained],
        [event.event_id for event in chained],
        [event.event_type for event in chained],
        [event.schema_version for event in chained],
        [encode_json(event.data) for event in chained],
        [encode_json(event.metadata) for event in chained],
        [event.recorded_at for event in chained],
        [event.previous_hash for event in chained],
        [event.hash for event in chained],
    )


def _placed(event: RecordedEvent, place: asyncpg.Record) -> RecordedEvent:
    """``event`` at the place the database gave it in the global log."""
    return replace(
        event, position=place["position"], transaction_id=int(place["transaction_id"])
    )


def _chained(
    previous: bytes, stream_id: UUID, version: int, event: NewEvent, recorded_at: datetime
) -> bytes:
    """The hash of ``event`` at ``version``, linked to the event before it."""
    return link(previous, canonical_encoding(
        stream_id=stream_id,
        stream_version=version,
        event_id=event.event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.data,
        metadata=event.metadata,
        recorded_at=recorded_at,
    ))


def _same_append(
    stream_id: UUID, requested: Sequence[NewEvent], stored: Sequence[RecordedEvent]
) -> bool:
    """Whether ``stored`` is this very append, written before (a retry).

    Ids, stream and types must match; data is not compared, because personal fields are
    sealed with a fresh nonce each time a command is encoded.
    """
    by_id = {event.event_id: event for event in stored}
    if len(by_id) != len(requested):
        return False
    return all(
        (found := by_id.get(event.event_id)) is not None
        and found.stream_id == stream_id
        and found.event_type == event.event_type
        for event in requested
    )
